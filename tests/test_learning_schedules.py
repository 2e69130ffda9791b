"""Tests for tal_detection.utils.learning_schedules (graph mode, like the Estimator)."""
import math

import numpy as np
import pytest
import tensorflow as tf

from tal_detection.utils import learning_schedules

import schedule_test_util


def _rates_at_steps(build_fn, steps):
  """Builds build_fn(global_step) in a tf.compat.v1 graph; evaluates at steps."""
  graph = tf.Graph()
  with graph.as_default():
    global_step = tf.compat.v1.train.get_or_create_global_step()
    return schedule_test_util.rates_at_steps(build_fn(global_step),
                                             global_step, steps)


def test_exponential_decay_staircase_with_min():
  rates = _rates_at_steps(
      lambda step: learning_schedules.exponential_decay_with_min(
          step, 1.0, 10, 0.5, staircase=True, min_learning_rate=0.2),
      [0, 9, 10, 19, 20, 29, 30, 100])
  np.testing.assert_allclose(rates, [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2],
                             rtol=1e-6)


def test_exponential_decay_smooth():
  rates = _rates_at_steps(
      lambda step: learning_schedules.exponential_decay_with_min(
          step, 0.1, 4, 0.5, staircase=False),
      [0, 2, 4, 6])
  np.testing.assert_allclose(rates, 0.1 * 0.5**(np.array([0, 2, 4, 6]) / 4.0),
                             rtol=1e-6)


def test_manual_stepping():
  rates = _rates_at_steps(
      lambda step: learning_schedules.manual_stepping(
          step, [10, 20, 30], [1.0, 0.1, 0.01, 0.001]),
      [0, 9, 10, 19, 20, 29, 30, 1000])
  np.testing.assert_allclose(
      rates, [1.0, 1.0, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)


def test_manual_stepping_with_warmup():
  rates = _rates_at_steps(
      lambda step: learning_schedules.manual_stepping(
          step, [4, 10], [0.0, 1.0, 0.5], warmup=True),
      [0, 1, 2, 3, 4, 9, 10, 50])
  np.testing.assert_allclose(rates, [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 0.5, 0.5],
                             rtol=1e-6)


def test_manual_stepping_without_boundaries_is_constant():
  rates = _rates_at_steps(
      lambda step: learning_schedules.manual_stepping(step, [], [0.3]),
      [0, 100])
  np.testing.assert_allclose(rates, [0.3, 0.3], rtol=1e-6)


def _np_cosine(step, base, total, warmup_rate, warmup_steps, hold):
  if step > total:
    return 0.0
  if step < warmup_steps:
    return warmup_rate + (base - warmup_rate) * step / warmup_steps
  if step < warmup_steps + hold:
    return base
  return 0.5 * base * (1 + math.cos(
      math.pi * (step - warmup_steps - hold) / (total - warmup_steps - hold)))


@pytest.mark.parametrize('warmup_rate,warmup_steps,hold', [
    (0.0, 0, 0), (0.1, 10, 0), (0.0, 10, 20)])
def test_cosine_decay_with_warmup(warmup_rate, warmup_steps, hold):
  steps = [0, 5, 9, 10, 15, 29, 30, 55, 80, 99, 100, 101, 500]
  rates = _rates_at_steps(
      lambda step: learning_schedules.cosine_decay_with_warmup(
          step, 1.0, 100, warmup_rate, warmup_steps, hold), steps)
  expected = [_np_cosine(s, 1.0, 100, warmup_rate, warmup_steps, hold)
              for s in steps]
  np.testing.assert_allclose(rates, expected, rtol=1e-5, atol=1e-6)


def test_cosine_decay_hand_values():
  # No warm-up: base at 0, half at the middle, 0 at the end and after.
  rates = _rates_at_steps(
      lambda step: learning_schedules.cosine_decay_with_warmup(step, 2.0, 100),
      [0, 50, 100, 150])
  np.testing.assert_allclose(rates, [2.0, 1.0, 0.0, 0.0], atol=1e-6)


def test_schedules_in_tf_function():
  @tf.function(input_signature=[tf.TensorSpec([], tf.int64)])
  def rates(step):
    return (learning_schedules.manual_stepping(step, [5], [1.0, 0.5]),
            learning_schedules.cosine_decay_with_warmup(step, 1.0, 10))

  manual, cosine = rates(tf.constant(5, tf.int64))
  assert float(manual) == 0.5
  np.testing.assert_allclose(float(cosine), 0.5, atol=1e-6)


@pytest.mark.parametrize('build_fn,match', [
    (lambda s: learning_schedules.manual_stepping(s, [10, 10], [1, 2, 3]),
     'strictly increasing'),
    (lambda s: learning_schedules.manual_stepping(s, [20, 10], [1, 2, 3]),
     'strictly increasing'),
    (lambda s: learning_schedules.manual_stepping(s, [10], [1.0]),
     'one more element'),
    (lambda s: learning_schedules.manual_stepping(s, [-1], [1.0, 2.0]),
     'non-negative'),
    (lambda s: learning_schedules.manual_stepping(s, [0], [1.0, 2.0], True),
     'warmup'),
    (lambda s: learning_schedules.exponential_decay_with_min(s, 1.0, 0, 0.5),
     'learning_rate_decay_steps'),
    (lambda s: learning_schedules.cosine_decay_with_warmup(s, 1.0, 10, 0.0, 10),
     'total_steps'),
    (lambda s: learning_schedules.cosine_decay_with_warmup(s, 1.0, 10, 2.0, 5),
     'warmup_learning_rate'),
])
def test_bad_arguments_raise(build_fn, match):
  with pytest.raises(ValueError, match=match):
    build_fn(tf.constant(0, tf.int64))
