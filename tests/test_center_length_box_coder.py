"""Tests for box_coders/center_length_box_coder.py and core/box_coder.py."""
import math

import numpy as np
import pytest
import tensorflow as tf

from tal_detection.box_coders import center_length_box_coder
from tal_detection.core import box_coder as box_coder_lib
from tal_detection.core import segment_list


def _sl(values):
  return segment_list.SegmentList(tf.constant(values, tf.float32))


def test_code_size_and_default_scale_factors():
  coder = center_length_box_coder.CenterLengthBoxCoder()
  assert coder.code_size == 2
  assert coder.scale_factors == (10.0, 5.0)


def test_encode_exact_formulas():
  coder = center_length_box_coder.CenterLengthBoxCoder()
  # Anchor [4, 6]: ca = 5, la = 2. Segment [5, 9]: c = 7, l = 4.
  # Anchor [0, 10]: ca = 5, la = 10. Segment [2, 8]: c = 5, l = 6.
  # Anchor [10, 14]: ca = 12, la = 4. Segment [9, 10]: c = 9.5, l = 1.
  codes = coder.encode(_sl([[5.0, 9.0], [2.0, 8.0], [9.0, 10.0]]),
                       _sl([[4.0, 6.0], [0.0, 10.0], [10.0, 14.0]])).numpy()
  expected = [[10.0 * 2.0 / 2.0, 5.0 * math.log(4.0 / 2.0)],
              [0.0, 5.0 * math.log(0.6)],
              [10.0 * -2.5 / 4.0, 5.0 * math.log(0.25)]]
  np.testing.assert_allclose(codes, expected, rtol=1e-6, atol=1e-6)


def test_encode_custom_scale_factors():
  coder = center_length_box_coder.CenterLengthBoxCoder(scale_factors=(1.0, 2.0))
  codes = coder.encode(_sl([[5.0, 9.0]]), _sl([[4.0, 6.0]])).numpy()
  np.testing.assert_allclose(codes, [[1.0, 2.0 * math.log(2.0)]], rtol=1e-6)


def test_decode_exact_formulas():
  coder = center_length_box_coder.CenterLengthBoxCoder()
  # tc = 10 -> c = ca + la; tl = 5 log 2 -> l = 2 la.
  decoded = coder.decode(
      tf.constant([[10.0, 5.0 * math.log(2.0)], [0.0, 0.0], [-5.0, 0.0]]),
      _sl([[4.0, 6.0], [1.0, 2.0], [0.0, 4.0]])).get().numpy()
  np.testing.assert_allclose(
      decoded, [[5.0, 9.0], [1.0, 2.0], [-2.0, 2.0]], rtol=1e-6, atol=1e-6)


def test_round_trip_random_segments():
  rng = np.random.RandomState(42)
  num = 1000
  anchor_center = rng.uniform(0.0, 30.0, num)
  anchor_length = rng.uniform(0.5, 16.0, num)
  center = anchor_center + rng.uniform(-8.0, 8.0, num)
  seg_length = rng.uniform(0.1, 30.0, num)
  anchors = np.stack([anchor_center - anchor_length / 2,
                      anchor_center + anchor_length / 2], 1)
  segments = np.stack([center - seg_length / 2, center + seg_length / 2], 1)
  coder = center_length_box_coder.CenterLengthBoxCoder()
  codes = coder.encode(_sl(segments), _sl(anchors))
  decoded = coder.decode(codes, _sl(anchors)).get().numpy()
  # Compare against the float32 inputs the coder actually saw.
  np.testing.assert_array_less(
      np.abs(decoded - segments.astype(np.float32)), 1e-5)


def test_zero_length_is_finite():
  coder = center_length_box_coder.CenterLengthBoxCoder()
  codes = coder.encode(_sl([[3.0, 3.0], [1.0, 2.0]]),
                       _sl([[0.0, 4.0], [5.0, 5.0]])).numpy()
  assert np.all(np.isfinite(codes))
  # log(eps / 4) with eps = 1e-8: very negative but finite.
  np.testing.assert_allclose(codes[0, 1], 5.0 * math.log(1e-8 / 4.0),
                             rtol=1e-5)


@pytest.mark.parametrize('scale_factors', [(10.0,), (10.0, 0.0), (-1.0, 5.0),
                                           None])
def test_bad_scale_factors(scale_factors):
  with pytest.raises(ValueError, match='scale_factors'):
    center_length_box_coder.CenterLengthBoxCoder(scale_factors=scale_factors)


def test_batch_decode_matches_per_item_decode():
  coder = center_length_box_coder.CenterLengthBoxCoder()
  anchors = tf.constant([[0.0, 2.0], [1.0, 5.0], [3.0, 4.0]])
  codes = tf.constant(np.random.RandomState(1).normal(size=[2, 3, 2]),
                      tf.float32)
  decoded = box_coder_lib.batch_decode(codes, coder, anchors)
  assert decoded.shape.as_list() == [2, 3, 2]
  for item in range(2):
    expected = coder.decode(codes[item],
                            segment_list.SegmentList(anchors)).get()
    np.testing.assert_allclose(decoded[item].numpy(), expected.numpy(),
                               rtol=1e-6)


def test_batch_decode_graph_mode_unknown_shapes():
  coder = center_length_box_coder.CenterLengthBoxCoder()

  @tf.function(input_signature=[tf.TensorSpec([None, None, 2], tf.float32),
                                tf.TensorSpec([None, 2], tf.float32)])
  def decode(codes, anchors):
    decoded = box_coder_lib.batch_decode(codes, coder, anchors)
    assert decoded.shape.as_list() == [None, None, 2]
    return decoded

  decoded = decode(tf.constant([[[10.0, 0.0]], [[0.0, 5.0 * math.log(3.0)]]]),
                   tf.constant([[4.0, 6.0]])).numpy()
  np.testing.assert_allclose(decoded, [[[6.0, 8.0]], [[2.0, 8.0]]],
                             rtol=1e-6)


def test_batch_decode_shape_errors():
  coder = center_length_box_coder.CenterLengthBoxCoder()
  with pytest.raises(ValueError, match='rank 3'):
    box_coder_lib.batch_decode(tf.zeros([3, 2]), coder, tf.zeros([3, 2]))
  with pytest.raises(ValueError, match='anchors'):
    box_coder_lib.batch_decode(tf.zeros([1, 3, 2]), coder, tf.zeros([4, 2]))
  with pytest.raises(ValueError, match='code_size'):
    box_coder_lib.batch_decode(tf.zeros([1, 3, 4]), coder, tf.zeros([3, 2]))
