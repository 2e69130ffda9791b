"""Tests for anchor_generators/multiscale_temporal_anchor_generator.py."""
import numpy as np
import pytest
import tensorflow as tf

from tal_detection.anchor_generators import (
    multiscale_temporal_anchor_generator as multiscale_lib)

PAPER_SCALES = [1, 2, 3, 4, 5, 6, 8, 11, 16]
Generator = multiscale_lib.MultiscaleTemporalAnchorGenerator


def test_exact_positions_and_step_major_order():
  generator = Generator(scales=[1.0, 2.0, 4.0])
  assert generator.num_anchors_per_location() == 3
  anchors = generator.generate(3)
  assert anchors.get().shape.as_list() == [9, 2]
  expected = [
      [0.0, 1.0], [-0.5, 1.5], [-1.5, 2.5],   # step 0, centre 0.5
      [1.0, 2.0], [0.5, 2.5], [-0.5, 3.5],    # step 1, centre 1.5
      [2.0, 3.0], [1.5, 3.5], [0.5, 4.5],     # step 2, centre 2.5
  ]
  np.testing.assert_allclose(anchors.get().numpy(), expected)


def test_stride_and_offset():
  generator = Generator(scales=[2.0, 6.0], stride=2.0, offset=1.0)
  anchors = generator.generate(2).get().numpy()
  np.testing.assert_allclose(anchors, [[0.0, 2.0], [-2.0, 4.0],
                                       [2.0, 4.0], [0.0, 6.0]])


def test_paper_scales_count_and_reshape_order():
  num_steps = 10
  generator = Generator(scales=PAPER_SCALES)
  anchors = generator.generate(num_steps).get().numpy()
  assert anchors.shape == (num_steps * 9, 2)
  # Index t * K + k is scale k at step t: a [T, K, 2] view is (step, scale).
  grid = anchors.reshape(num_steps, 9, 2)
  np.testing.assert_allclose(grid.mean(axis=2),
                             np.tile(np.arange(num_steps)[:, None] + 0.5,
                                     [1, 9]))
  np.testing.assert_allclose(grid[..., 1] - grid[..., 0],
                             np.tile(np.array(PAPER_SCALES, float), [10, 1]))


def test_zero_steps():
  anchors = Generator(scales=[1.0, 2.0]).generate(0).get()
  assert anchors.shape.as_list() == [0, 2]


def test_graph_mode_unknown_num_steps():
  generator = Generator(scales=[1.0, 3.0])

  @tf.function(input_signature=[tf.TensorSpec([], tf.int32)])
  def generate(num_steps):
    anchors = generator.generate(num_steps).get()
    assert anchors.shape.as_list() == [None, 2]
    return anchors

  np.testing.assert_allclose(
      generate(tf.constant(2)).numpy(),
      [[0.0, 1.0], [-1.0, 2.0], [1.0, 2.0], [0.0, 3.0]])
  assert generate(tf.constant(7)).shape == (14, 2)


def test_num_steps_from_a_dynamic_shape_in_a_graph():
  generator = Generator(scales=PAPER_SCALES)
  with tf.Graph().as_default():
    features = tf.compat.v1.placeholder(tf.float32, [1, None, 4])
    anchors = generator.generate(tf.shape(features)[1]).get()
    with tf.compat.v1.Session() as sess:
      values = sess.run(anchors, {features: np.zeros([1, 5, 4])})
  assert values.shape == (45, 2)
  np.testing.assert_allclose(values[9 * 4 + 8], [4.5 - 8.0, 4.5 + 8.0])


@pytest.mark.parametrize('kwargs,message', [
    (dict(scales=[]), 'non-empty'),
    (dict(scales=[1.0, 0.0]), 'positive'),
    (dict(scales=[1.0], stride=0.0), 'stride'),
])
def test_bad_arguments(kwargs, message):
  with pytest.raises(ValueError, match=message):
    Generator(**kwargs)
