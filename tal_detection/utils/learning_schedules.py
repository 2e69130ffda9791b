"""Learning-rate schedules as functions of the global step.

Each function returns a scalar float32 tensor computed from `global_step` (normally
tf.compat.v1.train.get_or_create_global_step() inside an Estimator model_fn), so in
graph mode the value follows the step as training advances. Arguments that are
plain Python numbers are validated eagerly (ValueError).
"""
import math

import tensorflow as tf


def _step_as_float(global_step):
  return tf.cast(global_step, tf.float32)


def exponential_decay_with_min(global_step,
                               learning_rate_base,
                               learning_rate_decay_steps,
                               learning_rate_decay_factor,
                               staircase=True,
                               min_learning_rate=0.0):
  """Exponential decay, floored at a minimum.

  lr = max(base * factor ** (step / decay_steps), min_learning_rate), where the
  exponent is floored when staircase is True.

  Args:
    global_step: int scalar tensor.
    learning_rate_base: the rate at step 0.
    learning_rate_decay_steps: steps per decay period (> 0).
    learning_rate_decay_factor: multiplier per period.
    staircase: decay in discrete jumps at multiples of the period.
    min_learning_rate: the rate never goes below this.

  Returns:
    A float32 scalar tensor.

  Raises:
    ValueError: if learning_rate_decay_steps is not positive.
  """
  if learning_rate_decay_steps <= 0:
    raise ValueError('learning_rate_decay_steps must be > 0, got %r' %
                     (learning_rate_decay_steps,))
  with tf.name_scope('exponential_decay_with_min'):
    exponent = _step_as_float(global_step) / float(learning_rate_decay_steps)
    if staircase:
      exponent = tf.floor(exponent)
    learning_rate = learning_rate_base * tf.pow(
        tf.constant(learning_rate_decay_factor, tf.float32), exponent)
    return tf.maximum(learning_rate, min_learning_rate, name='learning_rate')


def manual_stepping(global_step, boundaries, rates, warmup=False):
  """Piecewise-constant rate: rates[i] for boundaries[i-1] <= step < boundaries[i].

  rates[0] applies before boundaries[0], rates[-1] from boundaries[-1] on. With
  warmup, the rate instead ramps linearly from rates[0] at step 0 to rates[1] at
  boundaries[0] (so rates[0] = 0 gives a warm-up from zero).

  Args:
    global_step: int scalar tensor.
    boundaries: list of strictly increasing, non-negative ints.
    rates: list of floats, one more than boundaries.
    warmup: ramp linearly over [0, boundaries[0]] instead of jumping.

  Returns:
    A float32 scalar tensor.

  Raises:
    ValueError: on mismatched lengths, boundaries that are negative or not
      strictly increasing, or warmup without a positive first boundary.
  """
  boundaries = list(boundaries)
  rates = [float(rate) for rate in rates]
  if len(rates) != len(boundaries) + 1:
    raise ValueError('rates must have one more element than boundaries, got %d '
                     'rates and %d boundaries' % (len(rates), len(boundaries)))
  if any(b < 0 for b in boundaries):
    raise ValueError('boundaries must be non-negative, got %s' % boundaries)
  if any(b2 <= b1 for b1, b2 in zip(boundaries[:-1], boundaries[1:])):
    raise ValueError('boundaries must be strictly increasing, got %s' %
                     boundaries)
  if warmup and (not boundaries or boundaries[0] <= 0):
    raise ValueError('warmup needs a first boundary > 0, got %s' % boundaries)
  with tf.name_scope('manual_stepping'):
    step = tf.cast(global_step, tf.int64)
    if boundaries:
      # Number of boundaries already passed = index of the current rate.
      rate_index = tf.reduce_sum(tf.cast(
          step >= tf.constant(boundaries, tf.int64), tf.int32))
    else:
      rate_index = tf.constant(0, tf.int32)
    learning_rate = tf.gather(tf.constant(rates, tf.float32), rate_index)
    if warmup:
      fraction = _step_as_float(step) / float(boundaries[0])
      ramp = rates[0] + (rates[1] - rates[0]) * fraction
      learning_rate = tf.where(step < boundaries[0], ramp, learning_rate)
    return tf.identity(learning_rate, name='learning_rate')


def cosine_decay_with_warmup(global_step,
                             learning_rate_base,
                             total_steps,
                             warmup_learning_rate=0.0,
                             warmup_steps=0,
                             hold_base_rate_steps=0):
  """Linear warm-up, optional hold, then cosine decay to 0 at total_steps.

    step < warmup_steps: linear from warmup_learning_rate to learning_rate_base;
    then learning_rate_base for hold_base_rate_steps steps;
    then 0.5 * base * (1 + cos(pi * (step - warmup - hold) /
                                (total - warmup - hold)));
    step > total_steps: 0.

  Args:
    global_step: int scalar tensor.
    learning_rate_base: the peak rate.
    total_steps: the step at which the rate reaches 0.
    warmup_learning_rate: the rate at step 0 when warming up.
    warmup_steps: length of the linear warm-up.
    hold_base_rate_steps: steps to hold the base rate after the warm-up.

  Returns:
    A float32 scalar tensor.

  Raises:
    ValueError: if total_steps <= warmup_steps + hold_base_rate_steps, a step
      count is negative, or warmup_learning_rate > learning_rate_base.
  """
  if warmup_steps < 0 or hold_base_rate_steps < 0:
    raise ValueError('warmup_steps and hold_base_rate_steps must be >= 0, got %r '
                     'and %r' % (warmup_steps, hold_base_rate_steps))
  if total_steps <= warmup_steps + hold_base_rate_steps:
    raise ValueError(
        'total_steps (%r) must be greater than warmup_steps + '
        'hold_base_rate_steps (%r)' %
        (total_steps, warmup_steps + hold_base_rate_steps))
  if warmup_steps > 0 and warmup_learning_rate > learning_rate_base:
    raise ValueError('warmup_learning_rate (%r) must not exceed '
                     'learning_rate_base (%r)' %
                     (warmup_learning_rate, learning_rate_base))
  with tf.name_scope('cosine_decay_with_warmup'):
    step = _step_as_float(global_step)
    decay_start = float(warmup_steps + hold_base_rate_steps)
    decay_length = float(total_steps) - decay_start
    cosine_rate = 0.5 * learning_rate_base * (
        1.0 + tf.cos(math.pi * (step - decay_start) / decay_length))
    learning_rate = tf.where(step < decay_start,
                             tf.constant(learning_rate_base, tf.float32),
                             cosine_rate)
    if warmup_steps > 0:
      slope = (learning_rate_base - warmup_learning_rate) / float(warmup_steps)
      warmup_rate = warmup_learning_rate + slope * step
      learning_rate = tf.where(step < float(warmup_steps), warmup_rate,
                               learning_rate)
    learning_rate = tf.where(step > float(total_steps),
                             tf.constant(0.0, tf.float32), learning_rate)
    return tf.identity(learning_rate, name='learning_rate')
