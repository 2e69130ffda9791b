"""Tiny TAL-Net configs and synthetic videos shared by the model tests."""
import numpy as np
from google.protobuf import text_format

from tal_detection.protos import model_pb2

_TINY_MODEL = """
tal_net {
  num_classes: %(num_classes)d
  %(streams)s
  fusion: %(fusion)s
  feature_reduction_depth: 16
  segment_proposal_network {
    tower_type: %(tower_type)s
    use_context: true
    depth: 16
  }
  first_stage_anchor_generator {
    multiscale_temporal_anchor_generator { %(scales)s }
  }
  first_stage_minibatch_size: 64
  first_stage_max_proposals: 48
  initial_crop_size: 8
  maxpool_kernel_size: 2
  maxpool_stride: 2
  soi_context_ratio: 0.5
  second_stage_fc_depth: 32
  second_stage_batch_size: 32
  second_stage_post_processing {
    batch_non_max_suppression {
      score_threshold: 0.0 iou_threshold: 0.7
      max_detections_per_class: 20 max_total_detections: 40
    }
  }
}
"""


def tiny_model_config(streams=(('rgb', 6), ('flow', 5)), fusion='LATE',
                      num_classes=3, tower_type='MULTI_DILATED',
                      scales=(1, 2, 4, 8)):
  """A small DetectionModel proto (fast to build and run)."""
  text = _TINY_MODEL % {
      'num_classes': num_classes,
      'streams': ' '.join('streams { name: "%s" feature_dim: %d }' % s
                          for s in streams),
      'fusion': fusion,
      'tower_type': tower_type,
      'scales': ' '.join('scales: %g' % s for s in scales),
  }
  return text_format.Parse(text, model_pb2.DetectionModel())


def synthetic_video(num_steps, dims, actions, seed=0, noise=0.3):
  """Features per stream where each action class leaves a distinct pattern.

  Args:
    num_steps: T.
    dims: {stream: D}.
    actions: list of (start_step, end_step, class_id 1-based).
    seed: numpy seed.
    noise: std of the Gaussian noise.

  Returns:
    {stream: [T, D] float32}.
  """
  rng = np.random.RandomState(seed)
  features = {}
  for name, dim in dims.items():
    x = noise * rng.randn(num_steps, dim).astype(np.float32)
    prototypes = rng.randn(8, dim).astype(np.float32)
    for start, end, cls in actions:
      x[start:end] += 2.0 * prototypes[cls]
      # Distinct cues just before and after the action (temporal context).
      x[max(start - 1, 0):start] += 1.5 * prototypes[0]
      x[end:end + 1] -= 1.5 * prototypes[0]
    features[name] = x
  return features


def softmax_cross_entropy(logits, label):
  """numpy reference of the weighted softmax loss of one element (weight 1)."""
  logits = np.asarray(logits, np.float64)
  return np.log(np.sum(np.exp(logits))) - logits[label]


def smooth_l1(difference):
  """numpy reference of the smooth L1 loss (delta 1) of one element's code."""
  difference = np.abs(np.asarray(difference, np.float64))
  return np.sum(np.where(difference <= 1.0, 0.5 * difference ** 2,
                         difference - 0.5))
