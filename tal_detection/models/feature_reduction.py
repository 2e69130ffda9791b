"""Feature reduction: conv1d with kernel 1 to a fixed depth.

Applied per stream before the Segment Proposal Network (on [B, T, D] maps) and
after SoI pooling (on [M, bins, D] pooled proposals); paper §5, 256 channels.
"""
import tensorflow as tf
import tf_slim as slim


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
    [B, T, depth] (or [M, bins, depth]) tensor. Padded steps are NOT zeroed
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
  with tf.compat.v1.variable_scope(scope, default_name='FeatureReduction'):
    with slim.arg_scope(hyperparams_fn()):
      return slim.conv1d(features, int(depth), 1, scope='conv1x1')
