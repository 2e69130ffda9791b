"""Tests for core/target_assigner.py."""
import math

import numpy as np
import pytest
import tensorflow as tf

from tal_detection.anchor_generators import multiscale_temporal_anchor_generator
from tal_detection.box_coders import center_length_box_coder
from tal_detection.core import segment_list
from tal_detection.core import target_assigner as target_assigner_lib
from tal_detection.matchers import argmax_matcher

ANCHORS = [[0.0, 2.0], [1.0, 3.0], [4.0, 8.0], [10.0, 12.0], [20.0, 30.0]]
GROUNDTRUTH = [[0.0, 2.0], [4.0, 7.0]]
LABELS = [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
BACKGROUND = [1.0, 0.0, 0.0]
# tIoU: gt 0 vs anchor 0 = 1, vs anchor 1 = 1/3 (ignored band);
#       gt 1 vs anchor 2 = 3/4; everything else 0.
# Anchor 2 (ca 6, la 4) vs gt 1 (c 5.5, l 3):
# tc = 10 * -0.5 / 4, tl = 5 log 0.75.
ANCHOR2_TARGET = [-1.25, 5.0 * math.log(0.75)]


def _sl(values):
  return segment_list.SegmentList(tf.constant(values, tf.float32))


def _assigner(**matcher_kwargs):
  return target_assigner_lib.TargetAssigner(
      argmax_matcher.ArgMaxMatcher(**matcher_kwargs),
      center_length_box_coder.CenterLengthBoxCoder())


def test_assign_hand_computed():
  cls_targets, cls_weights, reg_targets, reg_weights, match = (
      _assigner().assign(_sl(ANCHORS), _sl(GROUNDTRUTH), LABELS, BACKGROUND))
  np.testing.assert_array_equal(match.match_results.numpy(),
                                [0, -2, 1, -1, -1])
  np.testing.assert_allclose(cls_targets.numpy(),
                             [LABELS[0], BACKGROUND, LABELS[1], BACKGROUND,
                              BACKGROUND])
  np.testing.assert_allclose(cls_weights.numpy(), [1, 0, 1, 1, 1])
  np.testing.assert_allclose(reg_weights.numpy(), [1, 0, 1, 0, 0])
  np.testing.assert_allclose(
      reg_targets.numpy(),
      [[0.0, 0.0], [0.0, 0.0], ANCHOR2_TARGET, [0.0, 0.0], [0.0, 0.0]],
      atol=1e-6)
  assert cls_targets.shape.as_list() == [5, 3]
  assert reg_targets.shape.as_list() == [5, 2]


def test_regression_targets_decode_back_to_groundtruth():
  assigner = _assigner()
  anchors = _sl(ANCHORS)
  _, _, reg_targets, reg_weights, match = assigner.assign(
      anchors, _sl(GROUNDTRUTH), LABELS, BACKGROUND)
  decoded = assigner.box_coder.decode(reg_targets, anchors).get().numpy()
  matched = reg_weights.numpy() > 0
  expected = np.array(GROUNDTRUTH)[match.match_results.numpy()[matched]]
  np.testing.assert_allclose(decoded[matched], expected, atol=1e-5)


def test_groundtruth_weights():
  cls_targets, cls_weights, _, reg_weights, match = _assigner().assign(
      _sl(ANCHORS), _sl(GROUNDTRUTH), LABELS, BACKGROUND,
      groundtruth_weights=tf.constant([0.5, 0.0]))
  # Row 1 has weight 0: it is not matched and anchor 2 becomes a negative.
  np.testing.assert_array_equal(match.match_results.numpy(),
                                [0, -2, -1, -1, -1])
  np.testing.assert_allclose(cls_weights.numpy(), [0.5, 0, 1, 1, 1])
  np.testing.assert_allclose(reg_weights.numpy(), [0.5, 0, 0, 0, 0])
  np.testing.assert_allclose(cls_targets.numpy()[2], BACKGROUND)


def test_forced_match_gives_low_overlap_groundtruth_a_positive():
  # gt [11, 14] has its best tIoU, 1/4, with anchor [10, 12]: below the
  # unmatched threshold, yet forced positive.
  cls_targets, _, _, reg_weights, match = _assigner().assign(
      _sl(ANCHORS), _sl([[11.0, 14.0]]), [[0.0, 1.0, 0.0]], BACKGROUND)
  np.testing.assert_array_equal(match.match_results.numpy(),
                                [-1, -1, -1, 0, -1])
  np.testing.assert_allclose(reg_weights.numpy(), [0, 0, 0, 1, 0])
  np.testing.assert_allclose(cls_targets.numpy()[3], [0.0, 1.0, 0.0])


def test_no_groundtruth():
  cls_targets, cls_weights, reg_targets, reg_weights, match = (
      _assigner().assign(_sl(ANCHORS), _sl(np.zeros([0, 2])),
                         np.zeros([0, 3]), BACKGROUND))
  np.testing.assert_array_equal(match.match_results.numpy(), [-1] * 5)
  np.testing.assert_allclose(cls_targets.numpy(), [BACKGROUND] * 5)
  np.testing.assert_allclose(cls_weights.numpy(), np.ones(5))
  np.testing.assert_allclose(reg_targets.numpy(), np.zeros([5, 2]))
  np.testing.assert_allclose(reg_weights.numpy(), np.zeros(5))


def test_shape_mismatch_errors():
  with pytest.raises(ValueError, match='unmatched_class_label'):
    _assigner().assign(_sl(ANCHORS), _sl(GROUNDTRUTH), LABELS, [1.0, 0.0])
  with pytest.raises(ValueError, match='groundtruth_labels has 1 rows'):
    _assigner().assign(_sl(ANCHORS), _sl(GROUNDTRUTH), LABELS[:1], BACKGROUND)


def test_graph_mode_unknown_sizes():
  assigner = _assigner()
  generator = (
      multiscale_temporal_anchor_generator.MultiscaleTemporalAnchorGenerator(
          scales=[1.0, 4.0]))

  @tf.function(input_signature=[tf.TensorSpec([], tf.int32),
                                tf.TensorSpec([None, 2], tf.float32),
                                tf.TensorSpec([None, 1], tf.float32)])
  def assign(num_steps, groundtruth, labels):
    anchors = generator.generate(num_steps)
    cls_targets, cls_weights, reg_targets, reg_weights, match = (
        assigner.assign(anchors, segment_list.SegmentList(groundtruth), labels,
                        tf.zeros([1])))
    assert cls_targets.shape.as_list() == [None, 1]
    return (cls_targets, cls_weights, reg_targets, reg_weights,
            match.match_results)

  # Anchors (T = 4): step t -> [t, t+1] (scale 1), [t-1.5, t+2.5] (scale 4).
  cls_targets, cls_weights, reg_targets, reg_weights, results = assign(
      tf.constant(4), tf.constant([[0.5, 4.5]]), tf.ones([1, 1]))
  # tIoU with gt [0.5, 4.5]: scale-1 anchors 1/9, 1/4, 1/4, 1/4 (negative);
  # scale-4 anchors [-1.5, 2.5] 1/3, [-0.5, 3.5] 3/5 (ignored),
  # [0.5, 4.5] 1 (matched), [1.5, 5.5] 3/5 (ignored).
  np.testing.assert_array_equal(results.numpy(),
                                [-1, -2, -1, -2, -1, 0, -1, -2])
  np.testing.assert_allclose(cls_targets.numpy()[:, 0],
                             [0, 0, 0, 0, 0, 1, 0, 0])
  np.testing.assert_allclose(reg_weights.numpy(), [0, 0, 0, 0, 0, 1, 0, 0])
  np.testing.assert_allclose(cls_weights.numpy(), [1, 0, 1, 0, 1, 1, 1, 0])
  np.testing.assert_allclose(reg_targets.numpy(), np.zeros([8, 2]), atol=1e-6)
  # No ground truth through the same graph.
  _, cls_weights, _, reg_weights, results = assign(
      tf.constant(3), tf.zeros([0, 2]), tf.zeros([0, 1]))
  np.testing.assert_array_equal(results.numpy(), [-1] * 6)
  np.testing.assert_allclose(cls_weights.numpy(), np.ones(6))
  np.testing.assert_allclose(reg_weights.numpy(), np.zeros(6))
