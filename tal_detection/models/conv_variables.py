"""slim.conv1d's variables without slim.conv1d's graph.

The SPN's fast implementations and the kernel-1 feature reduction run their
own ops (native dilated Conv2D, row-sparse backward, a plain MatMul) on
variables made exactly as slim.conv1d(scope=name) makes them under the
enclosing arg_scope, so checkpoints of either formulation load into the other.
"""
import contextlib

import tensorflow as tf
import tf_slim as slim
from tf_slim.ops import arg_scope as arg_scope_lib


def conv1d_scope_args():
  """The slim.conv1d arguments set by the enclosing arg_scope."""
  return dict(slim.current_arg_scope().get(
      arg_scope_lib.arg_scope_func_key(slim.conv1d), {}))


def conv1d_variables(name, kernel_size, in_depth, depth, dtype, conv_args):
  """(weights [k, in, out], biases [out]) as slim.conv1d(scope=name) makes them.

  Same names, shapes, creation order, collections (model variables),
  initializers and regularizers as slim's layer under the same arg_scope.
  name None: in the current variable scope (the caller opened the layer's
  scope, so its ops get slim's names too).
  """
  with (tf.compat.v1.variable_scope(name) if name is not None
        else contextlib.nullcontext()):
    weights = slim.model_variable(
        'weights', shape=[kernel_size, in_depth, depth], dtype=dtype,
        initializer=conv_args.get(
            'weights_initializer',
            slim.initializers.xavier_initializer()),
        regularizer=conv_args.get('weights_regularizer'),
        trainable=conv_args.get('trainable', True))
    biases = slim.model_variable(
        'biases', shape=[depth], dtype=dtype,
        initializer=conv_args.get('biases_initializer',
                                  tf.compat.v1.zeros_initializer()),
        regularizer=conv_args.get('biases_regularizer'),
        trainable=conv_args.get('trainable', True))
  return weights, biases
