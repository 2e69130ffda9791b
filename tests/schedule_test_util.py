"""Evaluating a learning-rate tensor at chosen global steps (tf.compat.v1 graph)."""
import numpy as np
import tensorflow as tf


def rates_at_steps(learning_rate, global_step, steps):
  """Runs learning_rate with global_step set to each of steps; returns an array.

  Call inside the graph that holds both tensors.
  """
  assert learning_rate.shape.rank == 0
  assert learning_rate.dtype == tf.float32
  new_step = tf.compat.v1.placeholder(tf.int64, [])
  assign = tf.compat.v1.assign(global_step, new_step)
  with tf.compat.v1.Session() as sess:
    sess.run(tf.compat.v1.global_variables_initializer())
    rates = []
    for step in steps:
      sess.run(assign, {new_step: step})
      rates.append(sess.run(learning_rate))
  return np.array(rates)
