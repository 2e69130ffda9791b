"""ClassifierStage alone: SoI pooling, minibatch, loss and post-processing."""
import functools

import numpy as np
import tensorflow as tf

from tal_detection.box_coders import center_length_box_coder
from tal_detection.builders import hyperparams_builder
from tal_detection.core import balanced_positive_negative_sampler
from tal_detection.core import losses
from tal_detection.core import post_processing
from tal_detection.core import standard_fields as fields
from tal_detection.core import target_assigner
from tal_detection.matchers import argmax_matcher
from tal_detection.models import box_classifier
from tal_detection.meta_architectures import classifier_stage
from tal_detection.meta_architectures import stage_ops
from tal_detection.meta_architectures import tal_net_defaults
from tal_detection.ops import soi_pooling
from tal_detection.protos import hyperparams_pb2

import tal_net_test_util as util

RESULT = fields.DetectionResultFields
NUM_CLASSES = 2
# Crop 4 bins of the proposal extended by half its length on each side, then
# max-pool pairs: 2 bins.
CROP_SIZE, CONTEXT, KERNEL, STRIDE = 4, 0.5, 2, 2


class _ReadoutClassifier(object):
  """Box classifier double whose outputs are a fixed readout of its input.

  class logits = the pooled bins summed, channels 0..C; box encodings = bins
  0..C-1, channels 0..1. So the stage's logits show exactly which pooled
  values reached which proposal.
  """

  num_classes = NUM_CLASSES

  def __init__(self):
    self.inputs = []

  def predict(self, pooled, scope=None):
    del scope  # A real classifier names its variables with it; this has none.
    self.inputs.append(pooled)
    class_logits = tf.reduce_sum(pooled, axis=1)[:, :NUM_CLASSES + 1]
    box_encodings = pooled[:, :NUM_CLASSES, :2]
    return class_logits, box_encodings


def _stage(pipeline_names=('rgb',), matcher_settings=None, batch_size=4,
           balance_fraction=0.25, localization_weight=0.5,
           classifier_factory=_ReadoutClassifier, proposals_per_chunk_fn=None,
           implementation=soi_pooling.GATHER):
  coder = center_length_box_coder.CenterLengthBoxCoder()
  matcher = argmax_matcher.ArgMaxMatcher(
      **(matcher_settings or tal_net_defaults.SECOND_STAGE_MATCHER))
  return classifier_stage.ClassifierStage(
      pipeline_names=list(pipeline_names),
      num_classes=NUM_CLASSES,
      soi_pooling_fn=functools.partial(
          soi_pooling.soi_pooling, crop_size=CROP_SIZE, context_ratio=CONTEXT,
          maxpool_kernel_size=KERNEL, maxpool_stride=STRIDE,
          implementation=implementation),
      box_classifier_factory=classifier_factory,
      box_coder=coder,
      target_assigner=target_assigner.TargetAssigner(matcher, coder),
      sampler=balanced_positive_negative_sampler
      .BalancedPositiveNegativeSampler(balance_fraction),
      batch_size=batch_size,
      non_max_suppression_fn=functools.partial(
          post_processing.batch_multiclass_non_max_suppression,
          score_thresh=0.0, iou_thresh=0.5, max_size_per_class=3,
          max_total_size=4),
      score_conversion_fn=tf.nn.softmax,
      losses=stage_ops.StageLosses(
          losses.WeightedSoftmaxClassificationLoss(),
          losses.WeightedSmoothL1LocalizationLoss(), 1.0,
          localization_weight),
      proposals_per_chunk_fn=proposals_per_chunk_fn)


def _numpy_soi(features, proposals, num_steps):
  """SoI pooling with np.interp: features are zero outside [0, num_steps)."""
  batch, num_proposals = proposals.shape[:2]
  depth = features.shape[2]
  bins = (CROP_SIZE - KERNEL) // STRIDE + 1
  out = np.zeros([batch, num_proposals, bins, depth])
  for b in range(batch):
    n = num_steps[b]
    # Feature i sits at i + 0.5; zeros one step beyond each end.
    positions = np.arange(-1, n + 1) + 0.5
    for p in range(num_proposals):
      start, end = proposals[b, p]
      extension = CONTEXT * (end - start)
      low, high = start - extension, end + extension
      points = low + (np.arange(CROP_SIZE) + 0.5) * (high - low) / CROP_SIZE
      crop = np.stack([
          np.interp(points, positions,
                    np.concatenate([[0.0], features[b, :n, d], [0.0]]),
                    left=0.0, right=0.0) for d in range(depth)], axis=-1)
      out[b, p] = np.stack([crop[j * STRIDE:j * STRIDE + KERNEL].max(axis=0)
                            for j in range(bins)])
  return out


def test_predict_pools_every_pipeline_with_context_and_averages():
  rng = np.random.RandomState(0)
  features = {'rgb': rng.randn(2, 6, 3).astype(np.float32),
              'flow': rng.randn(2, 6, 4).astype(np.float32)}
  # Video 1 has 3 valid steps: its second proposal reaches past its end,
  # the first one of video 0 before the start (context included).
  proposals = np.array([[[0.5, 2.5], [1.0, 5.0], [3.0, 4.0]],
                        [[0.0, 1.0], [1.5, 3.5], [2.0, 2.5]]], np.float32)
  num_steps = np.array([5, 3])
  classifiers = []

  def factory():
    classifiers.append(_ReadoutClassifier())
    return classifiers[-1]

  stage = _stage(pipeline_names=('rgb', 'flow'), classifier_factory=factory)
  with tf.Graph().as_default():
    outputs = stage.predict({k: tf.constant(v) for k, v in features.items()},
                            tf.constant(proposals), tf.constant(num_steps))
    with tf.compat.v1.Session() as sess:
      result, pooled = sess.run([outputs, [c.inputs[0] for c in classifiers]])

  expected_logits, expected_encodings = [], []
  for name, classifier_input in zip(('rgb', 'flow'), pooled):
    reference = _numpy_soi(features[name], proposals, num_steps)
    # The classifier sees every proposal of every video, video-major.
    np.testing.assert_allclose(classifier_input,
                               reference.reshape([6, 2, -1]), atol=1e-5)
    expected_logits.append(reference.sum(axis=2)[..., :NUM_CLASSES + 1])
    expected_encodings.append(reference[:, :, :NUM_CLASSES, :2])
    np.testing.assert_allclose(result['per_pipeline'][name]['class_logits'],
                               expected_logits[-1], atol=1e-5)
  np.testing.assert_allclose(result['class_logits'],
                             np.mean(expected_logits, axis=0), atol=1e-5)
  np.testing.assert_allclose(result['refined_box_encodings'],
                             np.mean(expected_encodings, axis=0), atol=1e-5)
  assert result['refined_box_encodings'].shape == (2, 3, NUM_CLASSES, 2)


def test_classifiers_see_the_float32_pooled_features_rounded_once():
  """compute_dtype=bfloat16 on float32 inputs: SoI pooling reads the float32
  features and the classifier gets its output cast once, not a pooling of
  features already rounded to bfloat16."""
  rng = np.random.RandomState(3)
  features = rng.randn(1, 7, 5).astype(np.float32)
  proposals = np.array([[[0.3, 2.9], [1.1, 6.2], [4.0, 4.7]]], np.float32)
  num_steps = np.array([7])
  classifiers = []

  def factory():
    classifiers.append(_ReadoutClassifier())
    return classifiers[-1]

  stage = _stage(classifier_factory=factory)
  with tf.Graph().as_default():
    stage.predict({'rgb': tf.constant(features)}, tf.constant(proposals),
                  tf.constant(num_steps), compute_dtype=tf.bfloat16)
    seen = classifiers[0].inputs[0]
    assert seen.dtype == tf.bfloat16
    with tf.compat.v1.Session() as sess:
      seen = sess.run(tf.cast(seen, tf.float32))
  pooled = _numpy_soi(features, proposals, num_steps).reshape(
      [3, 2, -1]).astype(np.float32)
  rounded_once = tf.cast(tf.cast(pooled, tf.bfloat16), tf.float32).numpy()
  np.testing.assert_array_equal(seen, rounded_once)


def _real_classifier():
  def hyperparams_fn(op):
    return hyperparams_builder.build(hyperparams_pb2.Hyperparams(op=op),
                                     is_training=False)
  return box_classifier.BoxClassifier(
      num_classes=NUM_CLASSES, reduction_depth=5, fc_depth=6,
      reduction_hyperparams_fn=hyperparams_fn(hyperparams_pb2.Hyperparams.CONV),
      fc_hyperparams_fn=hyperparams_fn(hyperparams_pb2.Hyperparams.FC),
      is_training=False)


def test_predict_in_proposal_chunks_gives_the_same_outputs_and_variables():
  rng = np.random.RandomState(1)
  features = {'rgb': rng.randn(2, 9, 3).astype(np.float32),
              'flow': rng.randn(2, 9, 4).astype(np.float32)}
  starts = rng.uniform(-1, 8, [2, 7, 1])
  proposals = np.concatenate([starts, starts + rng.uniform(0.2, 4, [2, 7, 1])],
                             axis=2).astype(np.float32)
  num_steps = np.array([9, 6])
  calls = []

  def three_per_chunk(num_proposals, depth):
    calls.append((num_proposals, depth))
    return 3

  results = {}
  for chunked in (False, True):
    stage = _stage(pipeline_names=('rgb', 'flow'),
                   classifier_factory=_real_classifier,
                   implementation=soi_pooling.CROP_AND_RESIZE,
                   proposals_per_chunk_fn=three_per_chunk if chunked else None)
    with tf.Graph().as_default():
      tf.compat.v1.set_random_seed(7)
      outputs = stage.predict({k: tf.constant(v) for k, v in features.items()},
                              tf.constant(proposals), tf.constant(num_steps))
      variables = sorted(v.op.name for v in tf.compat.v1.global_variables())
      ops = tf.compat.v1.get_default_graph().get_operations()
      soi_scopes = {op.name.split('/SoIPooling/')[0] for op in ops
                    if '/SoIPooling/' in op.name}
      crops = sum(op.type == 'CropAndResize' for op in ops)
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        results[chunked] = (sess.run(outputs), variables, soi_scopes, crops)
  # 7 proposals, 3 at a time: chunks of 3, 3 and 1, on the same variables;
  # one SoI pooling call per pipeline, one crop per chunk and pooling tap.
  assert calls == [(7, 3), (7, 4)]
  assert len(results[False][2]) == 2 and len(results[True][2]) == 2
  assert results[False][3] == 2 * KERNEL and results[True][3] == 2 * 3 * KERNEL
  assert results[True][1] == results[False][1]
  for key in ('class_logits', 'refined_box_encodings'):
    assert results[True][0][key].shape == results[False][0][key].shape
    np.testing.assert_allclose(results[True][0][key], results[False][0][key],
                               rtol=0, atol=1e-6, err_msg=key)


def test_loss_of_known_targets():
  rng = np.random.RandomState(1)
  class_logits = rng.randn(2, 5, NUM_CLASSES + 1).astype(np.float32)
  encodings = rng.randn(2, 5, NUM_CLASSES, 2).astype(np.float32)
  proposals = np.array([[[0, 4], [1, 5], [6, 8], [2, 3], [0, 0]],
                        [[1, 2], [5, 6], [0, 0], [0, 0], [0, 0]]], np.float32)
  groundtruth = np.array([[[0, 4], [6, 9]], [[1, 2], [0, 0]]], np.float32)
  # One-hot over actions: video 0 has label 2 then label 1, video 1 label 2.
  classes = np.array([[[0, 1], [1, 0]], [[0, 1], [0, 0]]], np.float32)
  result = _stage(localization_weight=0.5).loss(
      tf.constant(class_logits), tf.constant(encodings),
      tf.constant(proposals), tf.constant([4, 2]), tf.constant(groundtruth),
      tf.constant(classes), tf.constant([2, 1]))

  # Second-stage matching (tIoU >= 0.5 foreground, else background):
  # video 0: p0 = gt0 (label 2, target 0); p1 vs gt0 tIoU 0.6 (label 2,
  # tc = 10 (2 - 3) / 4); p2 vs gt1 tIoU 2/3 (label 1, tc = 10 (7.5 - 7) / 2,
  # tl = 5 log(3 / 2)); p3 vs gt0 0.25: background. p4 is padding.
  # video 1: p0 = gt (label 2), p1 background.
  labels = {0: [2, 2, 1, 0], 1: [2, 0]}
  targets = {0: {0: [0.0, 0.0], 1: [-2.5, 0.0], 2: [2.5, 5.0 * np.log(1.5)]},
             1: {0: [0.0, 0.0]}}
  classification, localization = [], []
  for video, video_labels in labels.items():
    count = len(video_labels)
    classification.append(sum(
        util.softmax_cross_entropy(class_logits[video, p], label)
        for p, label in enumerate(video_labels)) / count)
    localization.append(sum(
        util.smooth_l1(encodings[video, p, video_labels[p] - 1] - target)
        for p, target in targets[video].items()) / count)
  np.testing.assert_allclose(result['classification_loss'].numpy(),
                             np.mean(classification), rtol=1e-5)
  np.testing.assert_allclose(result['localization_loss'].numpy(),
                             0.5 * np.mean(localization), rtol=1e-5)


def test_postprocess_of_given_logits():
  proposals = np.array([[[1, 5], [2, 6], [8, 12], [0, 0]]], np.float32)
  class_logits = np.array([[[0, 2, 0], [0, 1, 1], [0, 0, 3], [0, 10, 10]]],
                          np.float32)
  encodings = np.zeros([1, 4, NUM_CLASSES, 2], np.float32)
  # p0's label-2 box moved 10 lengths right: past the end, clipped empty.
  encodings[0, 0, 1] = [100.0, 0.0]
  detections = _stage().postprocess(
      tf.constant(class_logits), tf.constant(encodings),
      tf.constant(proposals), tf.constant([3]), tf.constant([10]))
  detections = {k: v.numpy() for k, v in detections.items()}

  def softmax(row):
    e = np.exp(np.asarray(row, np.float64))
    return e / e.sum()

  p0, p1, p2 = (softmax(class_logits[0, i]) for i in range(3))
  # Label 1: p0 [1, 5], then p1 [2, 6] suppressed (tIoU 0.6 > 0.5), p2
  # [8, 10] (clipped) kept. Label 2: p2 and p1 kept, p0 empty. p3 (scoring
  # highest) is past num_proposals.
  assert detections[RESULT.num_detections].tolist() == [4]
  np.testing.assert_allclose(detections[RESULT.detection_scores][0],
                             [p2[2], p0[1], p1[2], p2[1]], rtol=1e-5)
  np.testing.assert_array_equal(detections[RESULT.detection_classes][0],
                                [2, 1, 2, 1])
  np.testing.assert_allclose(detections[RESULT.detection_segments][0],
                             [[8, 10], [1, 5], [2, 6], [8, 10]], atol=1e-5)


def test_sample_minibatch_is_balanced_ordered_and_padded():
  # Ground truth [10, 20]. Proposals 0-3 overlap it >= 0.5 (foreground),
  # 4-7 < 0.2 (background), 8-9 in between (ignored by this 0.5 / 0.2
  # matcher); 10-11 are padding past num_proposals.
  proposals = np.array([[[10, 20], [11, 20], [10, 19], [12, 21],
                         [30, 31], [32, 33], [34, 35], [36, 37],
                         [5, 14], [16, 26], [10, 20], [10, 20]]], np.float32)
  scores = np.arange(12, dtype=np.float32)[None] / 100.0
  settings = dict(tal_net_defaults.SECOND_STAGE_MATCHER,
                  unmatched_threshold=0.2)
  stage = _stage(matcher_settings=settings, batch_size=4,
                 balance_fraction=0.25)
  sampled, sampled_scores, count = stage.sample_minibatch(
      tf.constant(proposals), tf.constant(scores), tf.constant([10]),
      tf.constant([[[10.0, 20.0]]]), tf.constant([[[1.0, 0.0]]]),
      tf.constant([1]))
  count = int(count.numpy()[0])
  assert count == 4
  # Scores are index / 100: they tell which proposals were taken.
  indices = np.round(sampled_scores.numpy()[0] * 100).astype(int)
  assert list(indices) == sorted(indices)
  np.testing.assert_allclose(sampled.numpy()[0], proposals[0, indices])
  assert sum(i < 4 for i in indices) == 1  # int(0.25 * 4) foreground
  assert sum(4 <= i < 8 for i in indices) == 3
  assert not any(i >= 8 for i in indices)


def test_sample_minibatch_pads_when_there_are_too_few_candidates():
  proposals = np.array([[[10, 20], [30, 31], [0, 0]]], np.float32)
  stage = _stage(batch_size=4, balance_fraction=0.5)
  sampled, sampled_scores, count = stage.sample_minibatch(
      tf.constant(proposals), tf.constant([[0.9, 0.8, 0.7]]),
      tf.constant([2]), tf.constant([[[10.0, 20.0]]]),
      tf.constant([[[0.0, 1.0]]]), tf.constant([1]))
  assert count.numpy().tolist() == [2]
  np.testing.assert_allclose(sampled.numpy()[0],
                             [[10, 20], [30, 31], [0, 0], [0, 0]])
  np.testing.assert_allclose(sampled_scores.numpy()[0], [0.9, 0.8, 0, 0],
                             rtol=1e-6)
