"""Second-stage DNN classifier on SoI-pooled proposals (paper §4.2, §5).

kernel-1 conv1d reduction -> flatten -> FC (fc_depth, activation from the FC
hyperparams, ReLU by default) -> two parallel linear FCs: C+1 class logits
(background first) and C*2 class-specific regression (tc, tl).
"""
import tensorflow as tf
import tf_slim as slim

from tal_detection.models import feature_reduction


class BoxClassifier(object):
  """Classifies and regresses SoI-pooled proposals."""

  def __init__(self, num_classes, reduction_depth, fc_depth,
               reduction_hyperparams_fn, fc_hyperparams_fn, is_training,
               dropout_rate=0.0):
    """Constructor.

    Args:
      num_classes: C, action classes without background.
      reduction_depth: channels of the kernel-1 reduction conv.
      fc_depth: units of the hidden fully-connected layer.
      reduction_hyperparams_fn: zero-argument function returning the slim
        arg_scope of the reduction conv (must cover slim.conv1d).
      fc_hyperparams_fn: zero-argument function returning the slim arg_scope of
        the fully-connected layers (must cover slim.fully_connected).
      is_training: whether the graph is for training (OD API interface; batch
        norm's mode is already fixed in the arg_scopes); also whether dropout
        is applied.
      dropout_rate: dropout rate after the hidden fully-connected layer,
        training graphs only (0: none, the paper's).

    Raises:
      ValueError: on a non-positive num_classes or depth, or a dropout rate
        outside [0, 1).
    """
    for name, value in (('num_classes', num_classes),
                        ('reduction_depth', reduction_depth),
                        ('fc_depth', fc_depth)):
      if int(value) != value or value < 1:
        raise ValueError('BoxClassifier: %s must be a positive integer, got %r'
                         % (name, value))
    self._num_classes = int(num_classes)
    self._reduction_depth = int(reduction_depth)
    self._fc_depth = int(fc_depth)
    self._reduction_hyperparams_fn = reduction_hyperparams_fn
    self._fc_hyperparams_fn = fc_hyperparams_fn
    if not 0.0 <= dropout_rate < 1.0:
      raise ValueError('second_stage_dropout_rate must be in [0, 1), got %r'
                       % (dropout_rate,))
    self._is_training = is_training
    self._dropout_rate = float(dropout_rate)

  @property
  def num_classes(self):
    return self._num_classes

  def predict(self, pooled_features, scope=None):
    """Class logits and class-specific box encodings of every proposal.

    Args:
      pooled_features: [M, bins, D] float tensor (M proposals, possibly
        unknown; bins and D static, since the FC needs a static input size).
      scope: variable scope (default 'BoxClassifier'). Reuse follows the
        enclosing variable scope.

    Returns:
      class_logits: [M, C+1] (column 0 background, column j label id j).
      box_encodings: [M, C, 2] (tc, tl) per class (row j-1 for label id j).

    Raises:
      ValueError: if pooled_features is not rank 3 with static bins and D.
    """
    pooled_features = tf.convert_to_tensor(pooled_features)
    shape = pooled_features.shape
    if shape.rank != 3 or shape[1] is None or shape[2] is None:
      raise ValueError('BoxClassifier.predict: pooled_features must be '
                       '[M, bins, D] with static bins and D, got shape %s'
                       % shape)
    with tf.compat.v1.variable_scope(scope, default_name='BoxClassifier'):
      net = feature_reduction.reduce_features(
          pooled_features, self._reduction_depth,
          self._reduction_hyperparams_fn, scope='Reduction')
      net = tf.reshape(net, [-1, int(shape[1]) * self._reduction_depth])
      with slim.arg_scope(self._fc_hyperparams_fn()):
        net = slim.fully_connected(net, self._fc_depth, scope='fc')
        if self._is_training and self._dropout_rate > 0:
          # Only training graphs hold the op: eval and export stay
          # deterministic.
          net = tf.nn.dropout(net, rate=self._dropout_rate, name='Dropout')
        class_logits = slim.fully_connected(
            net, self._num_classes + 1, activation_fn=None, normalizer_fn=None,
            scope='ClassPredictor')
        box_encodings = slim.fully_connected(
            net, self._num_classes * 2, activation_fn=None, normalizer_fn=None,
            scope='BoxEncodingPredictor')
      box_encodings = tf.reshape(box_encodings, [-1, self._num_classes, 2])
    return class_logits, box_encodings
