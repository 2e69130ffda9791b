"""Tests for core/segment_list_ops.py against hand-computed values."""
import numpy as np
import pytest
import tensorflow as tf

from tal_detection.core import segment_list
from tal_detection.core import segment_list_ops as ops


def _sl(values):
  return segment_list.SegmentList(tf.constant(values, tf.float32))


def test_length_and_center():
  segments = _sl([[0.0, 10.0], [2.5, 3.0], [4.0, 4.0]])
  np.testing.assert_allclose(ops.length(segments).numpy(), [10.0, 0.5, 0.0])
  np.testing.assert_allclose(ops.center(segments).numpy(), [5.0, 2.75, 4.0])


def test_pairwise_intersection():
  inter = ops.pairwise_intersection(_sl([[0.0, 10.0], [3.0, 5.0]]),
                                    _sl([[5.0, 15.0], [-1.0, 4.0], [20., 21.]]))
  np.testing.assert_allclose(inter.numpy(), [[5.0, 4.0, 0.0],
                                             [0.0, 1.0, 0.0]])


@pytest.mark.parametrize('seg1,seg2,expected', [
    ([0.0, 10.0], [5.0, 15.0], 5.0 / 15.0),   # partial overlap
    ([0.0, 2.0], [3.0, 5.0], 0.0),            # disjoint
    ([0.0, 10.0], [2.0, 4.0], 0.2),           # nested
    ([2.0, 4.0], [0.0, 10.0], 0.2),           # nested, other way round
    ([0.0, 2.0], [2.0, 5.0], 0.0),            # touching
    ([3.0, 3.0], [0.0, 10.0], 0.0),           # zero-length inside
    ([3.0, 3.0], [3.0, 3.0], 0.0),            # both zero-length: empty union
    ([1.5, 4.5], [1.5, 4.5], 1.0),            # identical
    ([-2.0, 1.0], [0.0, 4.0], 1.0 / 6.0),     # negative coordinates
])
def test_pairwise_iou_hand_values(seg1, seg2, expected):
  iou = ops.pairwise_iou(_sl([seg1]), _sl([seg2])).numpy()
  assert iou.shape == (1, 1)
  np.testing.assert_allclose(iou[0, 0], expected, atol=1e-6)


def test_pairwise_iou_matrix_and_tensor_form_agree():
  rng = np.random.RandomState(0)
  start1 = rng.uniform(0, 20, size=[5])
  seg1 = np.stack([start1, start1 + rng.uniform(0, 8, size=[5])], 1)
  start2 = rng.uniform(0, 20, size=[7])
  seg2 = np.stack([start2, start2 + rng.uniform(0, 8, size=[7])], 1)
  inter = np.maximum(
      np.minimum(seg1[:, None, 1], seg2[None, :, 1]) -
      np.maximum(seg1[:, None, 0], seg2[None, :, 0]), 0.0)
  union = ((seg1[:, 1] - seg1[:, 0])[:, None] +
           (seg2[:, 1] - seg2[:, 0])[None, :] - inter)
  expected = inter / union
  iou = ops.pairwise_iou(_sl(seg1), _sl(seg2)).numpy()
  assert iou.shape == (5, 7)
  np.testing.assert_allclose(iou, expected, rtol=1e-5, atol=1e-6)


def test_clip_to_window_filters_and_keeps_fields():
  segments = _sl([[-2.0, 3.0], [5.0, 12.0], [11.0, 14.0], [4.0, 6.0]])
  segments.add_field('scores', tf.constant([0.1, 0.2, 0.3, 0.4]))
  clipped = ops.clip_to_window(segments, tf.constant([0.0, 10.0]))
  np.testing.assert_allclose(clipped.get().numpy(),
                             [[0.0, 3.0], [5.0, 10.0], [4.0, 6.0]])
  np.testing.assert_allclose(clipped.get_field('scores').numpy(),
                             [0.1, 0.2, 0.4])
  unfiltered = ops.clip_to_window(segments, tf.constant([0.0, 10.0]),
                                  filter_nonoverlapping=False)
  np.testing.assert_allclose(unfiltered.get().numpy(),
                             [[0.0, 3.0], [5.0, 10.0], [10.0, 10.0],
                              [4.0, 6.0]])


def test_gather_keeps_fields():
  segments = _sl([[0.0, 1.0], [2.0, 4.0], [5.0, 8.0]])
  segments.add_field('scores', tf.constant([0.5, 0.6, 0.7]))
  segments.add_field('labels', tf.constant([1, 2, 3]))
  gathered = ops.gather(segments, tf.constant([2, 0, 2]))
  np.testing.assert_allclose(gathered.get().numpy(),
                             [[5.0, 8.0], [0.0, 1.0], [5.0, 8.0]])
  np.testing.assert_allclose(gathered.get_field('scores').numpy(),
                             [0.7, 0.5, 0.7])
  only_scores = ops.gather(segments, tf.constant([1]), fields=['scores'])
  assert only_scores.get_extra_fields() == ['scores']


def test_concatenate_keeps_common_fields():
  first = _sl([[0.0, 1.0]])
  first.add_field('scores', tf.constant([0.1]))
  first.add_field('labels', tf.constant([7]))
  second = _sl([[2.0, 3.0], [4.0, 5.0]])
  second.add_field('scores', tf.constant([0.2, 0.3]))
  joined = ops.concatenate([first, second])
  np.testing.assert_allclose(joined.get().numpy(),
                             [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
  np.testing.assert_allclose(joined.get_field('scores').numpy(),
                             [0.1, 0.2, 0.3])
  assert not joined.has_field('labels')
  with pytest.raises(ValueError):
    ops.concatenate([])


def test_graph_mode_with_unknown_sizes():

  @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32),
                                tf.TensorSpec([None, 2], tf.float32)])
  def iou_and_clip(seg1, seg2):
    iou = ops.pairwise_iou(segment_list.SegmentList(seg1),
                           segment_list.SegmentList(seg2))
    clipped = ops.clip_to_window(segment_list.SegmentList(seg1),
                                 tf.constant([0.0, 10.0]))
    return iou, clipped.get()

  iou, clipped = iou_and_clip(
      tf.constant([[0.0, 10.0], [8.0, 14.0], [12.0, 13.0]]),
      tf.constant([[5.0, 15.0]]))
  np.testing.assert_allclose(iou.numpy(), [[1 / 3], [0.6], [0.1]], atol=1e-6)
  np.testing.assert_allclose(clipped.numpy(), [[0.0, 10.0], [8.0, 10.0]])
