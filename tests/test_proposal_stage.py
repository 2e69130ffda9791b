"""ProposalStage alone: proposals from given logits, losses of known targets."""
import functools

import numpy as np
import pytest
import tensorflow as tf

from tal_detection.anchor_generators import multiscale_temporal_anchor_generator
from tal_detection.box_coders import center_length_box_coder
from tal_detection.builders import hyperparams_builder
from tal_detection.core import balanced_positive_negative_sampler
from tal_detection.core import losses
from tal_detection.core import post_processing
from tal_detection.core import target_assigner
from tal_detection.matchers import argmax_matcher
from tal_detection.meta_architectures import proposal_stage
from tal_detection.meta_architectures import stage_ops
from tal_detection.meta_architectures import tal_net_defaults
from tal_detection.models import feature_reduction
from tal_detection.models import spn_towers
from tal_detection.protos import hyperparams_pb2
from tal_detection.protos import tal_net_pb2

import tal_net_test_util as util

# Two anchors per step, lengths 2 and 4, centred on the steps: the anchors of
# step i are [i - 0.5, i + 1.5] and [i - 1.5, i + 2.5] (step-major).
SCALES = (2.0, 4.0)
NUM_STEPS = 4
ANCHORS = np.array([[i + 0.5 - s / 2, i + 0.5 + s / 2]
                    for i in range(NUM_STEPS) for s in SCALES], np.float32)


def _stage(pipeline_names=('rgb',), max_proposals=6, minibatch_size=64,
           localization_weight=2.0, depth=4):
  conv_fn = hyperparams_builder.build(
      hyperparams_pb2.Hyperparams(op=hyperparams_pb2.Hyperparams.CONV),
      is_training=False)
  return proposal_stage.ProposalStage(
      pipeline_names=list(pipeline_names),
      reduce_features_fn=functools.partial(
          feature_reduction.reduce_features, depth=depth,
          hyperparams_fn=conv_fn),
      spn_factory=functools.partial(
          spn_towers.SegmentProposalNetwork,
          tower_type=tal_net_pb2.SegmentProposalNetwork.MULTI_DILATED,
          use_context=True, anchor_scales=list(SCALES), depth=depth,
          conv_hyperparams_fn=conv_fn, is_training=False),
      anchor_generator=(
          multiscale_temporal_anchor_generator
          .MultiscaleTemporalAnchorGenerator(SCALES)),
      box_coder=center_length_box_coder.CenterLengthBoxCoder(),
      target_assigner=target_assigner.TargetAssigner(
          argmax_matcher.ArgMaxMatcher(**tal_net_defaults.FIRST_STAGE_MATCHER),
          center_length_box_coder.CenterLengthBoxCoder()),
      sampler=balanced_positive_negative_sampler
      .BalancedPositiveNegativeSampler(0.5),
      minibatch_size=minibatch_size,
      proposal_nms_fn=functools.partial(
          post_processing.batch_multiclass_non_max_suppression,
          score_thresh=0.0, iou_thresh=0.7, max_size_per_class=max_proposals,
          max_total_size=max_proposals),
      losses=stage_ops.StageLosses(
          losses.WeightedSoftmaxClassificationLoss(),
          losses.WeightedSmoothL1LocalizationLoss(), 1.0,
          localization_weight))


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def test_proposals_are_clipped_suppressed_and_sorted():
  # Objectness logits (background 0, action x): p(action) = sigmoid(x).
  action = np.array([[1.0, 0.2, 3.0, -1.0, 2.0, 0.5, 4.0, 1.5],
                     [1.0, 0.2, 3.0, -1.0, 9.0, 9.0, 9.0, 9.0]], np.float32)
  logits = np.stack([np.zeros_like(action), action], axis=-1)
  encodings = np.zeros([2, 8, 2], np.float32)
  # Anchor 6 ([2.5, 4.5]) moved 3 lengths right: past the end, clipped empty,
  # so it never becomes a proposal although it scores best.
  encodings[0, 6] = [30.0, 0.0]
  segments, scores, count = _stage().proposals(
      tf.constant(logits), tf.constant(encodings), tf.constant(ANCHORS),
      tf.constant([4, 2]))
  segments, scores, count = segments.numpy(), scores.numpy(), count.numpy()

  # Video 0 (4 steps), by score: a2 [0.5, 2.5] kept; a4 [1.5, 3.5] kept
  # (tIoU 1/3); a7 [1.5, 4] suppressed by a4 (tIoU 0.8); a0 [0, 1.5] kept;
  # a5 [0.5, 4] kept (best tIoU 4/7); a1 [0, 2.5] suppressed by a2 (0.8);
  # a3 [0, 3.5] suppressed by a5 (0.75).
  # Video 1 (2 steps): anchors of steps 2 and 3 do not exist, whatever they
  # score; a2 [0.5, 2] kept, a0 [0, 1.5] kept (0.5), a1 and a3 (both [0, 2])
  # suppressed by a2 (0.75).
  assert count.tolist() == [4, 2]
  np.testing.assert_allclose(
      segments[0], [[0.5, 2.5], [1.5, 3.5], [0.0, 1.5], [0.5, 4.0], [0, 0],
                    [0, 0]], atol=1e-5)
  np.testing.assert_allclose(scores[0], list(_sigmoid([3.0, 2.0, 1.0, 0.5]))
                             + [0.0, 0.0], rtol=1e-5)
  np.testing.assert_allclose(segments[1][:2], [[0.5, 2.0], [0.0, 1.5]],
                             atol=1e-5)
  np.testing.assert_allclose(scores[1][:2], _sigmoid([3.0, 1.0]), rtol=1e-5)
  np.testing.assert_array_equal(segments[1][2:], 0.0)


def test_loss_of_a_known_anchor_and_groundtruth_setup():
  rng = np.random.RandomState(0)
  logits = rng.randn(2, 8, 2).astype(np.float32)
  encodings = rng.randn(2, 8, 2).astype(np.float32)
  # Video 0 (4 steps), ground truth [0.6, 2.6]; tIoU with the anchors:
  #   a0 .29 a1 .46 a2 .90 a3 .50 a4 .38 a5 .50 a6 .03 a7 .22
  # -> a2 positive (>= 0.7), a0 a6 a7 negative (< 0.3), the rest ignored.
  # a2's target: tc = 10 (1.6 - 1.5) / 2 = 0.5, tl = 5 log(2 / 2) = 0.
  # Video 1 (2 steps: anchors a0..a3 only), ground truth [0.5, 1.5]:
  #   a0 .5 a1 .25 a2 .5 a3 .25 -> nothing reaches 0.7, so the ground truth
  # claims its best anchor (a0, the first of the tie): a0 positive with
  # tc = 10 (1 - 0.5) / 2 = 2.5, tl = 5 log(1 / 2); a1 a3 negative.
  groundtruth = np.array([[[0.6, 2.6]], [[0.5, 1.5]]], np.float32)
  result = _stage(minibatch_size=64, localization_weight=2.0).loss(
      tf.constant(logits), tf.constant(encodings), tf.constant(ANCHORS),
      tf.constant([4, 2]), tf.constant(groundtruth), tf.constant([1, 1]))

  sampled = {0: {0: 0, 2: 1, 6: 0, 7: 0}, 1: {0: 1, 1: 0, 3: 0}}
  targets = {0: (2, [0.5, 0.0]), 1: (0, [2.5, 5.0 * np.log(0.5)])}
  objectness, localization = [], []
  for video, labels in sampled.items():
    objectness.append(sum(util.softmax_cross_entropy(logits[video, a], label)
                          for a, label in labels.items()) / len(labels))
    anchor, target = targets[video]
    localization.append(util.smooth_l1(encodings[video, anchor] - target) /
                        len(labels))
  assert set(result) == {'objectness_loss', 'localization_loss'}
  np.testing.assert_allclose(result['objectness_loss'].numpy(),
                             np.mean(objectness), rtol=1e-5)
  np.testing.assert_allclose(result['localization_loss'].numpy(),
                             2.0 * np.mean(localization), rtol=1e-5)


def test_loss_samples_a_balanced_minibatch_of_anchors():
  # 16 steps x 2 anchors; ground truth [2.6, 4.6] and [10.6, 12.6] make 2
  # positives; a minibatch of 4 at fraction 0.5 takes both and 2 negatives,
  # so a loss that is 1 per negative and 0 per positive averages 2 / 4.
  anchors = np.array([[i + 0.5 - s / 2, i + 0.5 + s / 2]
                      for i in range(16) for s in SCALES], np.float32)
  logits = np.zeros([1, 32, 2], np.float32)
  # The cross-entropy of logits [0, b] for background is log(1 + e^b): 1 for
  # b = log(e - 1).
  logits[..., 1] = np.log(np.e - 1.0)
  positives = [2 * 3, 2 * 11]  # scale-2 anchors of steps 3 and 11
  logits[0, positives, 1] = 50.0  # CE of class 1 ~ 0
  result = _stage(minibatch_size=4).loss(
      tf.constant(logits), tf.zeros([1, 32, 2]), tf.constant(anchors),
      tf.constant([16]), tf.constant([[[2.6, 4.6], [10.6, 12.6]]]),
      tf.constant([2]))
  np.testing.assert_allclose(result['objectness_loss'].numpy(), 2.0 / 4.0,
                             rtol=1e-5)


def test_predict_fuses_the_pipelines_and_proposes_from_the_mean():
  stage = _stage(pipeline_names=('rgb', 'flow'))
  rng = np.random.RandomState(1)
  inputs = {'rgb': rng.randn(2, NUM_STEPS, 3).astype(np.float32),
            'flow': rng.randn(2, NUM_STEPS, 5).astype(np.float32)}
  with tf.Graph().as_default():
    outputs = stage.predict({k: tf.constant(v) for k, v in inputs.items()},
                            tf.constant([4, 3]))
    again = stage.proposals(outputs['rpn_objectness_logits'],
                            outputs['rpn_box_encodings'], outputs['anchors'],
                            tf.constant([4, 3]))
    names = sorted(v.op.name for v in tf.compat.v1.global_variables())
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      result, (segments, scores, count) = sess.run([outputs, again])
  assert names and all(
      n.startswith(('rgb/FirstStageFeatureReduction/',
                    'rgb/SegmentProposalNetwork/',
                    'flow/FirstStageFeatureReduction/',
                    'flow/SegmentProposalNetwork/')) for n in names)
  np.testing.assert_allclose(result['anchors'], ANCHORS)
  per = result['per_pipeline']
  for key in ('rpn_objectness_logits', 'rpn_box_encodings'):
    assert result[key].shape == (2, 8, 2)
    np.testing.assert_allclose(result[key],
                               (per['rgb'][key] + per['flow'][key]) / 2.0,
                               rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(result['proposal_segments'], segments)
  np.testing.assert_allclose(result['proposal_scores'], scores)
  np.testing.assert_array_equal(result['num_proposals'], count)
  assert result['proposal_segments'].shape == (2, 6, 2)
  assert (result['num_proposals'] >= 1).all()


def test_spn_and_anchor_generator_must_agree_on_anchors_per_step():
  good = _stage()
  assert good.segment_proposal_network('rgb').num_anchors_per_location == 2
  with pytest.raises(ValueError, match='anchors per step'):
    proposal_stage.ProposalStage(
        pipeline_names=['rgb'], reduce_features_fn=None,
        spn_factory=lambda: good.segment_proposal_network('rgb'),
        anchor_generator=(multiscale_temporal_anchor_generator
                          .MultiscaleTemporalAnchorGenerator([1.0, 2.0, 4.0])),
        box_coder=None, target_assigner=None, sampler=None, minibatch_size=1,
        proposal_nms_fn=None, losses=None)
