"""Mixed-precision training (train_config.precision): float32 weights, lower-precision math.

With MIXED_BFLOAT16 or MIXED_FLOAT16 the model's layers compute in bfloat16 /
float16 while every variable stays float32 (in the graph, in the optimizer and
in checkpoints). Two pieces do that without touching the model code:

  * model_lib.build_detections(..., compute_dtype): the meta-architecture's
    predict casts the feature streams to the compute dtype where its
    networks read them (and SoI pooling's output), so the layers ask for
    that dtype in the first place;
  * float32_variables(compute_dtype): the variable scope the meta-architecture
    builds its networks in (with the compute dtype predict was given): its
    custom getter creates each variable a layer asks for as float32 and hands
    the layer a cast of it; gradients flow back through the cast into the
    float32 variable. The bfloat16 export uses the same scope.

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


def _float32_storage_getter(getter, name, *args, **kwargs):
  """Custom getter: a floating variable asked for in a lower precision is
  created (and checkpointed) as float32 and handed to the layer as a cast."""
  requested = tf.as_dtype(kwargs.get('dtype') or tf.float32)
  if not requested.is_floating or requested == tf.float32:
    return getter(name, *args, **kwargs)
  kwargs['dtype'] = tf.float32
  initializer = kwargs.get('initializer')
  if isinstance(initializer, tf.Tensor):
    kwargs['initializer'] = tf.cast(initializer, tf.float32)
  variable = getter(name, *args, **kwargs)
  return tf.cast(variable, requested)


@contextlib.contextmanager
def float32_variables(compute_dtype):
  """Variable scope where layers computing in compute_dtype get float32 weights.

  The one place that keeps variables float32 whatever the compute dtype:
  checkpoints are the same for float32, mixed-precision training and a
  bfloat16 export, and gradients reach the float32 variables through the
  casts. A no-op for float32. The current variable scope is re-entered, so
  variable and op names (and reuse) are the caller's.
  """
  if tf.as_dtype(compute_dtype) == tf.float32:
    yield
    return
  with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                   custom_getter=_float32_storage_getter,
                                   auxiliary_name_scope=False):
    yield


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
