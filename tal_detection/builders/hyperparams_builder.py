"""Builds the tf-slim arg_scope of a group of layers from a Hyperparams proto.

The 1-D twin of the OD API's hyperparams_builder. The model's layers are built
with `slim.conv1d` (temporal convolutions, any kernel size and dilation `rate`)
and `slim.fully_connected`; a Hyperparams message sets, for those ops, the
weight initializer, the weight regularizer, the activation and optional batch
norm. Usage:

  conv_hyperparams_fn = hyperparams_builder.build(config, is_training=True)
  with slim.arg_scope(conv_hyperparams_fn()):
    net = slim.conv1d(net, 256, 3, rate=2)

Which ops the scope covers: `op: CONV` -> slim.conv1d only, `op: FC` ->
slim.fully_connected only, `op` left unset -> both. (The proto's default for
`op` is CONV, but a Hyperparams message that does not name its op -- e.g. an
absent `second_stage_fc_hyperparams` -- should still give the FC layers its
initializer/regularizer rather than silently leaving them on slim's defaults.)

Note: only slim.conv1d is scoped for convolutions, never slim.convolution:
slim.conv1d forwards every argument positionally to slim.convolution, so a
scope on both would pass the same argument twice.
"""
import tensorflow as tf
import tf_slim as slim

from tal_detection.protos import hyperparams_pb2


def build(hyperparams_config, is_training):
  """Builds a function returning the arg_scope described by a Hyperparams proto.

  Args:
    hyperparams_config: hyperparams_pb2.Hyperparams. Unset fields give the
      defaults: variance-scaling initializer (factor 2, FAN_IN, normal), no
      regularizer, ReLU, no batch norm.
    is_training: whether the network is being trained; batch norm (when
      configured) uses batch statistics only if this and `batch_norm.train` are
      both true, otherwise its moving averages.

  Returns:
    A zero-argument function returning the arg_scope (a dict usable as
    `with slim.arg_scope(fn()):`). Batch norm moving-average updates, when batch
    norm is on, go to tf.compat.v1.GraphKeys.UPDATE_OPS.

  Raises:
    ValueError: if hyperparams_config is not a Hyperparams proto or holds an
      invalid value (e.g. a negative regularizer weight).
  """
  if not isinstance(hyperparams_config, hyperparams_pb2.Hyperparams):
    raise ValueError('hyperparams_config must be a hyperparams_pb2.Hyperparams '
                     'proto, got %s' % type(hyperparams_config).__name__)

  if not hyperparams_config.HasField('op'):
    affected_ops = [slim.conv1d, slim.fully_connected]
  elif hyperparams_config.op == hyperparams_pb2.Hyperparams.FC:
    affected_ops = [slim.fully_connected]
  else:
    affected_ops = [slim.conv1d]

  weights_regularizer = _build_regularizer(hyperparams_config)
  weights_initializer = _build_initializer(hyperparams_config)
  activation_fn = _build_activation_fn(hyperparams_config.activation)

  normalizer_fn = None
  normalizer_params = None
  if hyperparams_config.HasField('batch_norm'):
    batch_norm_config = hyperparams_config.batch_norm
    normalizer_fn = batch_norm
    normalizer_params = {
        'decay': batch_norm_config.decay,
        'center': batch_norm_config.center,
        'scale': batch_norm_config.scale,
        'epsilon': batch_norm_config.epsilon,
        'is_training': bool(is_training and batch_norm_config.train),
    }

  def scope_fn():
    with slim.arg_scope(
        affected_ops,
        weights_regularizer=weights_regularizer,
        weights_initializer=weights_initializer,
        activation_fn=activation_fn,
        normalizer_fn=normalizer_fn,
        normalizer_params=normalizer_params) as sc:
      return sc

  return scope_fn


def batch_norm(inputs, decay=0.999, center=True, scale=False, epsilon=0.001,
               is_training=True, scope=None):
  """Batch norm over every axis but the last (the channels), any input rank.

  Used as the layers' normalizer_fn instead of slim.batch_norm, which does not
  run on this stack: tf-slim 1.1's fused path calls the removed
  `ops.Tensor` (TF 2.15) and its other path needs the tf_keras package. Same
  variables as slim (<layer>/BatchNorm/{beta, gamma, moving_mean,
  moving_variance}) and the same update convention: in training the batch
  statistics normalise and the moving-average updates are added to
  tf.compat.v1.GraphKeys.UPDATE_OPS (the train op must depend on them);
  otherwise the moving statistics normalise.

  Args:
    inputs: [..., C] tensor with static C.
    decay: moving-average decay.
    center: add a learned offset beta.
    scale: multiply by a learned gamma.
    epsilon: added to the variance.
    is_training: Python bool, batch statistics (True) or moving ones (False).
    scope: variable scope (default 'BatchNorm').

  Returns:
    The normalised tensor, shape of inputs.
  """
  inputs = tf.convert_to_tensor(inputs)
  channels = inputs.shape[-1]
  if channels is None:
    raise ValueError('batch_norm: the channel (last) dimension must be static')
  dtype = inputs.dtype.base_dtype
  with tf.compat.v1.variable_scope(scope, default_name='BatchNorm'):
    beta = None
    gamma = None
    if center:
      beta = slim.model_variable(
          'beta', shape=[channels], dtype=dtype,
          initializer=tf.compat.v1.zeros_initializer())
    if scale:
      gamma = slim.model_variable(
          'gamma', shape=[channels], dtype=dtype,
          initializer=tf.compat.v1.ones_initializer())
    moving_mean = slim.model_variable(
        'moving_mean', shape=[channels], dtype=dtype,
        initializer=tf.compat.v1.zeros_initializer(), trainable=False)
    moving_variance = slim.model_variable(
        'moving_variance', shape=[channels], dtype=dtype,
        initializer=tf.compat.v1.ones_initializer(), trainable=False)
    if is_training:
      axes = list(range(inputs.shape.rank - 1))
      mean, variance = tf.nn.moments(inputs, axes)
      for moving, value in ((moving_mean, mean), (moving_variance, variance)):
        update = tf.compat.v1.assign_sub(
            moving, (moving - tf.stop_gradient(value)) * (1.0 - decay))
        tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.UPDATE_OPS,
                                       update)
    else:
      mean, variance = moving_mean, moving_variance
    return tf.nn.batch_normalization(inputs, mean, variance, beta, gamma,
                                     epsilon)


def _build_regularizer(hyperparams_config):
  """The weights regularizer (None when unset)."""
  if not hyperparams_config.HasField('regularizer'):
    return None
  regularizer = hyperparams_config.regularizer
  which = regularizer.WhichOneof('regularizer_oneof')
  if which is None:
    return None
  weight = float(getattr(regularizer, which).weight)
  if weight < 0.0:
    raise ValueError('hyperparams.regularizer.%s.weight must be >= 0, got %g'
                     % (which, weight))
  if which == 'l1_regularizer':
    return slim.l1_regularizer(scale=weight)
  return slim.l2_regularizer(scale=weight)


def _build_initializer(hyperparams_config):
  """The weights initializer (variance scaling, factor 2, FAN_IN when unset)."""
  which = None
  if hyperparams_config.HasField('initializer'):
    initializer = hyperparams_config.initializer
    which = initializer.WhichOneof('initializer_oneof')
  if which is None:
    return slim.variance_scaling_initializer(
        factor=2.0, mode='FAN_IN', uniform=False)
  if which == 'truncated_normal_initializer':
    config = initializer.truncated_normal_initializer
    _check_stddev(which, config.stddev)
    return tf.compat.v1.truncated_normal_initializer(
        mean=config.mean, stddev=config.stddev)
  if which == 'random_normal_initializer':
    config = initializer.random_normal_initializer
    _check_stddev(which, config.stddev)
    return tf.compat.v1.random_normal_initializer(
        mean=config.mean, stddev=config.stddev)
  config = initializer.variance_scaling_initializer
  if config.factor <= 0.0:
    raise ValueError('hyperparams.initializer.variance_scaling_initializer.'
                     'factor must be > 0, got %g' % config.factor)
  mode = hyperparams_pb2.VarianceScalingInitializer.Mode.Name(config.mode)
  return slim.variance_scaling_initializer(
      factor=config.factor, mode=mode, uniform=config.uniform)


def _check_stddev(which, stddev):
  if stddev <= 0.0:
    raise ValueError('hyperparams.initializer.%s.stddev must be > 0, got %g'
                     % (which, stddev))


def _build_activation_fn(activation):
  """Maps the Activation enum to a TF function (None for NONE)."""
  if activation == hyperparams_pb2.Hyperparams.NONE:
    return None
  if activation == hyperparams_pb2.Hyperparams.RELU:
    return tf.nn.relu
  if activation == hyperparams_pb2.Hyperparams.RELU_6:
    return tf.nn.relu6
  raise ValueError('hyperparams.activation: unknown value %d' % activation)
