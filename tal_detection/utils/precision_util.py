"""Mixed-precision training (train_config.precision): float32 weights, lower-precision math.

With MIXED_BFLOAT16 or MIXED_FLOAT16 the model's layers compute in bfloat16 /
float16 while every variable stays float32 (in the graph, in the optimizer and
in checkpoints). Two pieces do that without touching the model code:

  * compute_scope(precision): a variable scope whose custom getter creates each
    variable a layer asks for as float32 (whatever dtype the layer requested)
    and hands the layer a cast of it to the layer's dtype; gradients flow back
    through the cast into the float32 variable;
  * cast_stream_features(...): the input features in the compute dtype, so the
    layers ask for that dtype in the first place.

Losses are computed in float32 (core/losses.py casts its inputs), and so are
the optimizer's updates. float16 has a narrow exponent range, so its gradients
are computed on a scaled loss (loss_scale_optimizer: dynamic loss scaling,
skipping steps whose gradients overflow); bfloat16 has float32's range and
needs none.
"""
import contextlib

import tensorflow as tf

from tal_detection.protos import train_pb2

_COMPUTE_DTYPES = {
    train_pb2.TrainConfig.FLOAT32: tf.float32,
    train_pb2.TrainConfig.MIXED_BFLOAT16: tf.bfloat16,
    train_pb2.TrainConfig.MIXED_FLOAT16: tf.float16,
}


def compute_dtype(precision):
  """tf.float32, tf.bfloat16 or tf.float16 for a TrainConfig.Precision value."""
  if precision not in _COMPUTE_DTYPES:
    raise ValueError('train_config.precision: unknown value %r' % (precision,))
  return _COMPUTE_DTYPES[precision]


def is_mixed(precision):
  return compute_dtype(precision) != tf.float32


def float32_storage_getter(getter, name, *args, **kwargs):
  """Custom getter: float32 variables, cast to the dtype the layer asked for.

  Only floating-point trainable variables are stored as float32 and cast;
  anything else (integer counters, non-trainable statistics) is left as
  requested.
  """
  requested = tf.as_dtype(kwargs.get('dtype') or tf.float32)
  trainable = kwargs.get('trainable', True)
  if trainable is None:
    trainable = True
  if not (requested.is_floating and trainable and requested != tf.float32):
    return getter(name, *args, **kwargs)
  kwargs['dtype'] = tf.float32
  variable = getter(name, *args, **kwargs)
  return tf.cast(variable, requested)


@contextlib.contextmanager
def compute_scope(precision):
  """Where the model is built: float32 storage for any lower-precision layer.

  A no-op for FLOAT32. The current variable scope is re-entered, so variable
  and op names are unchanged (checkpoints stay interchangeable).
  """
  if not is_mixed(precision):
    yield
    return
  with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                   custom_getter=float32_storage_getter,
                                   auxiliary_name_scope=False):
    yield


def cast_stream_features(features, keys, precision):
  """A copy of `features` with the float feature tensors `keys` in the compute dtype."""
  if not is_mixed(precision):
    return features
  dtype = compute_dtype(precision)
  cast = dict(features)
  for key in keys:
    cast[key] = tf.cast(features[key], dtype)
  return cast


def loss_scale_optimizer(optimizer, precision):
  """The optimizer, wrapped in dynamic loss scaling for MIXED_FLOAT16.

  tf.compat.v1.mixed_precision.MixedPrecisionLossScaleOptimizer: gradients of
  loss * scale, divided by the scale again; a step whose gradients are not all
  finite applies nothing and halves the scale, 2000 finite steps in a row
  double it. bfloat16 (float32's exponent range) and float32 need none.
  """
  if compute_dtype(precision) != tf.float16:
    return optimizer
  return tf.compat.v1.mixed_precision.MixedPrecisionLossScaleOptimizer(
      optimizer, loss_scale='dynamic')
