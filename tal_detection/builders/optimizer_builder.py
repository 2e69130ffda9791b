"""Builds a tf.compat.v1.train optimizer and learning rate from an Optimizer proto.

The optimizer runs inside an Estimator model_fn (graph mode), so learning-rate
schedules are tensors of the global step.
"""
import tensorflow as tf

from tal_detection.utils import learning_schedules


def build(optimizer_config, global_step=None):
  """Builds the optimizer.

  Args:
    optimizer_config: an optimizer_pb2.Optimizer.
    global_step: int scalar tensor driving learning-rate schedules; None means
      tf.compat.v1.train.get_or_create_global_step() (only called when the
      schedule needs a step).

  Returns:
    optimizer: a tf.compat.v1.train.Optimizer (Adam, Momentum or RMSProp).
    summary_vars: list of tensors to summarise; contains the learning rate.

  Raises:
    ValueError: 'optimizer: no optimizer set' if the oneof is empty, or a message
      naming the invalid field.
  """
  optimizer_type = optimizer_config.WhichOneof('optimizer')
  if optimizer_type is None:
    raise ValueError('optimizer: no optimizer set')
  config = getattr(optimizer_config, optimizer_type)
  prefix = 'optimizer: %s.' % optimizer_type
  learning_rate = _build_learning_rate(config.learning_rate, global_step,
                                       prefix + 'learning_rate.')

  if optimizer_type == 'adam_optimizer':
    _check_in_unit_interval(config, 'beta1', prefix)
    _check_in_unit_interval(config, 'beta2', prefix)
    _check_positive(config, 'epsilon', prefix)
    optimizer = tf.compat.v1.train.AdamOptimizer(
        learning_rate, beta1=config.beta1, beta2=config.beta2,
        epsilon=config.epsilon)
  elif optimizer_type == 'momentum_optimizer':
    _check_non_negative(config, 'momentum_optimizer_value', prefix)
    optimizer = tf.compat.v1.train.MomentumOptimizer(
        learning_rate, momentum=config.momentum_optimizer_value)
  elif optimizer_type == 'rms_prop_optimizer':
    _check_non_negative(config, 'momentum_optimizer_value', prefix)
    _check_in_unit_interval(config, 'decay', prefix)
    _check_positive(config, 'epsilon', prefix)
    optimizer = tf.compat.v1.train.RMSPropOptimizer(
        learning_rate, decay=config.decay,
        momentum=config.momentum_optimizer_value, epsilon=config.epsilon)
  else:
    raise ValueError('optimizer: unknown optimizer %r' % optimizer_type)
  return optimizer, [learning_rate]


def _check_positive(config, field, prefix):
  value = getattr(config, field)
  if not value > 0:
    raise ValueError('%s%s must be > 0, got %r' % (prefix, field, value))


def _check_non_negative(config, field, prefix):
  value = getattr(config, field)
  if not value >= 0:
    raise ValueError('%s%s must be >= 0, got %r' % (prefix, field, value))


def _check_in_unit_interval(config, field, prefix):
  """Checks 0 <= value < 1 (decay rates / momenta of moving averages)."""
  value = getattr(config, field)
  if not 0.0 <= value < 1.0:
    raise ValueError('%s%s must be in [0, 1), got %r' % (prefix, field, value))


def _build_learning_rate(learning_rate_config, global_step, prefix):
  """Builds the learning-rate tensor from a LearningRate proto.

  Args:
    learning_rate_config: an optimizer_pb2.LearningRate; unset means constant 1e-4.
    global_step: int scalar tensor or None (see build).
    prefix: field path used in error messages.

  Returns:
    A float32 scalar tensor named 'learning_rate'.

  Raises:
    ValueError: naming the invalid field.
  """
  rate_type = learning_rate_config.WhichOneof('learning_rate')
  if rate_type is None:
    rate_type = 'constant_learning_rate'
  config = getattr(learning_rate_config, rate_type)
  prefix += rate_type + '.'

  if rate_type == 'constant_learning_rate':
    _check_positive(config, 'learning_rate', prefix)
    return tf.constant(config.learning_rate, dtype=tf.float32,
                       name='learning_rate')

  if global_step is None:
    global_step = tf.compat.v1.train.get_or_create_global_step()

  if rate_type == 'exponential_decay_learning_rate':
    _check_positive(config, 'initial_learning_rate', prefix)
    _check_positive(config, 'decay_steps', prefix)
    _check_positive(config, 'decay_factor', prefix)
    _check_non_negative(config, 'min_learning_rate', prefix)
    return learning_schedules.exponential_decay_with_min(
        global_step, config.initial_learning_rate, config.decay_steps,
        config.decay_factor, staircase=config.staircase,
        min_learning_rate=config.min_learning_rate)

  if rate_type == 'manual_step_learning_rate':
    _check_non_negative(config, 'initial_learning_rate', prefix)
    boundaries = [entry.step for entry in config.schedule]
    rates = [config.initial_learning_rate]
    for i, entry in enumerate(config.schedule):
      if not entry.learning_rate >= 0:
        raise ValueError('%sschedule[%d].learning_rate must be >= 0, got %r' %
                         (prefix, i, entry.learning_rate))
      rates.append(entry.learning_rate)
    for i in range(1, len(boundaries)):
      if boundaries[i] <= boundaries[i - 1]:
        raise ValueError(
            '%sschedule steps must be strictly increasing, got schedule[%d].step '
            '= %d after %d' % (prefix, i, boundaries[i], boundaries[i - 1]))
    if config.warmup and (not boundaries or boundaries[0] == 0):
      raise ValueError('%swarmup needs a first schedule step > 0' % prefix)
    return learning_schedules.manual_stepping(
        global_step, boundaries, rates, warmup=config.warmup)

  if rate_type == 'cosine_decay_learning_rate':
    _check_positive(config, 'learning_rate_base', prefix)
    _check_non_negative(config, 'warmup_learning_rate', prefix)
    if config.total_steps <= config.warmup_steps + config.hold_base_rate_steps:
      raise ValueError(
          '%stotal_steps (%d) must be greater than warmup_steps + '
          'hold_base_rate_steps (%d)' %
          (prefix, config.total_steps,
           config.warmup_steps + config.hold_base_rate_steps))
    if (config.warmup_steps > 0 and
        config.warmup_learning_rate > config.learning_rate_base):
      raise ValueError('%swarmup_learning_rate (%r) must not exceed '
                       'learning_rate_base (%r)' %
                       (prefix, config.warmup_learning_rate,
                        config.learning_rate_base))
    return learning_schedules.cosine_decay_with_warmup(
        global_step, config.learning_rate_base, config.total_steps,
        warmup_learning_rate=config.warmup_learning_rate,
        warmup_steps=config.warmup_steps,
        hold_base_rate_steps=config.hold_base_rate_steps)

  raise ValueError('%s unknown learning rate type' % prefix)
