import numpy as np
import pytest
import tensorflow as tf

from tal_detection.utils import shape_utils


@pytest.mark.parametrize('shape', [(), (5,), (3, 4), (1, 300, 20), (2, 1, 7)])
@pytest.mark.parametrize('count', [1, 2, 4])
def test_stack_last_axis_equals_tf_stack(shape, count):
  rng = np.random.default_rng(len(shape) * 10 + count)
  tensors = [tf.constant(rng.standard_normal(shape).astype(np.float32))
             for _ in range(count)]
  got = shape_utils.stack_last_axis(tensors)
  want = np.stack([t.numpy() for t in tensors], axis=-1)
  assert got.shape == want.shape
  np.testing.assert_array_equal(got.numpy(), want)


def test_stack_last_axis_keeps_static_shape_and_dtype_in_a_graph():
  with tf.Graph().as_default():
    a = tf.compat.v1.placeholder(tf.int32, [None, 3])
    b = tf.compat.v1.placeholder(tf.int32, [None, 3])
    stacked = shape_utils.stack_last_axis([a, b])
    assert stacked.shape.as_list() == [None, 3, 2]
    assert stacked.dtype == tf.int32
    with tf.compat.v1.Session() as sess:
      got = sess.run(stacked, {a: [[1, 2, 3]], b: [[4, 5, 6]]})
  np.testing.assert_array_equal(got, [[[1, 4], [2, 5], [3, 6]]])


def test_stack_last_axis_of_unknown_rank_falls_back_to_tf_stack():
  with tf.Graph().as_default():
    a = tf.compat.v1.placeholder(tf.float32, None)
    stacked = shape_utils.stack_last_axis([a, a * 2.0])
    assert stacked.op.type == 'Pack'
    with tf.compat.v1.Session() as sess:
      got = sess.run(stacked, {a: [[1.0, 2.0]]})
  np.testing.assert_array_equal(got, [[[1.0, 2.0], [2.0, 4.0]]])


def test_stack_last_axis_gradient_matches_tf_stack():
  x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
  y = tf.constant([[5.0, 6.0], [7.0, 8.0]])
  weights = tf.constant(np.arange(8, dtype=np.float32).reshape(2, 2, 2))
  grads = []
  for stack in (shape_utils.stack_last_axis,
                lambda t: tf.stack(t, axis=-1)):
    with tf.GradientTape() as tape:
      tape.watch([x, y])
      loss = tf.reduce_sum(stack([x, y * y]) * weights)
    grads.append([g.numpy() for g in tape.gradient(loss, [x, y])])
  for got, want in zip(*grads):
    np.testing.assert_array_equal(got, want)
