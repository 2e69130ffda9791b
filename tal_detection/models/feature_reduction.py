"""Feature reduction: conv1d with kernel 1 to a fixed depth.

Applied per stream before the Segment Proposal Network (on [B, T, D] maps) and
after SoI pooling (on [M, bins, D] pooled proposals); paper §5, 256 channels.

A kernel-1 conv is one [B*T, D] x [D, depth] product, and it runs as that
MatMul (+ bias + activation, which oneDNN fuses) on slim.conv1d's variables:
measured on the main config, the oneDNN 1x1 Conv2D and its filter gradient
were slower than the MatMul and its gradient (a training step 3.5-5% faster
in two same-process A/B runs; the second stage's 300 x 8-bin forward ~9%).
With batch norm in the arg_scope slim.conv1d itself still runs.
"""
import tensorflow as tf
import tf_slim as slim

from tal_detection.models import conv_variables


def reduce_features(features, depth, hyperparams_fn, scope=None):
  """Kernel-1 conv1d of a [batch, length, D] tensor to `depth` channels.

  Args:
    features: [B, T, D] feature map or [M, bins, D] pooled proposals (D must
      be static).
    depth: output channels.
    hyperparams_fn: zero-argument function returning the slim arg_scope of the
      conv (hyperparams_builder.build(...)); its activation is applied.
    scope: variable scope (default 'FeatureReduction'). Reuse follows the
      enclosing variable scope.

  Returns:
    [B, T, depth] (or [M, bins, depth]) tensor (<scope>/conv1x1/reduced:0
    without batch norm). Padded steps are NOT zeroed
    (the bias and activation make them nonzero); consumers mask them.

  Raises:
    ValueError: on a non-positive depth or input of rank other than 3.
  """
  if int(depth) != depth or depth < 1:
    raise ValueError('feature_reduction_depth must be a positive integer, got '
                     '%r' % (depth,))
  features = tf.convert_to_tensor(features)
  if features.shape.rank != 3:
    raise ValueError('reduce_features: features must be [batch, length, D], '
                     'got shape %s' % features.shape)
  depth = int(depth)
  in_depth = features.shape[-1]
  if in_depth is None:
    raise ValueError('reduce_features: the feature depth must be static, got '
                     'shape %s' % features.shape)
  with tf.compat.v1.variable_scope(scope, default_name='FeatureReduction'):
    with slim.arg_scope(hyperparams_fn()):
      conv_args = conv_variables.conv1d_scope_args()
      if conv_args.get('normalizer_fn') is not None:
        return slim.conv1d(features, depth, 1, scope='conv1x1')
      # The layer's ops under its scope, as slim.conv1d's are.
      with tf.compat.v1.variable_scope('conv1x1'):
        weights, biases = conv_variables.conv1d_variables(
            None, 1, int(in_depth), depth, features.dtype, conv_args)
        outputs = tf.nn.bias_add(
            tf.matmul(tf.reshape(features, [-1, int(in_depth)]), weights[0]),
            biases)
        activation_fn = conv_args.get('activation_fn', tf.nn.relu)
        if activation_fn is not None:
          outputs = activation_fn(outputs)
        # (The activation before this reshape: oneDNN fuses it with the
        # MatMul and bias.)
        outputs = tf.reshape(outputs, tf.concat(
            [tf.shape(features)[:2], [depth]], axis=0), name='reduced')
      outputs.set_shape(features.shape[:2].concatenate([depth]))
      return outputs
