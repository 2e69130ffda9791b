"""Per-element weighted losses for the two detection stages.

Every loss maps a prediction and a target of shape [B, N, ...] plus weights [B, N]
to a per-element loss [B, N]; the caller sums it and normalises by the number of
sampled anchors / proposals (SPEC §4, "Loss").

Elements with weight 0 (unsampled anchors, padding) contribute exactly 0 to the loss
and 0 to every gradient, even when their predictions or targets are not finite (for
example a regression target encoded against a zero-length ground truth). This is done
by replacing such elements with zeros *before* the loss is computed, instead of only
multiplying by the weight afterwards, because 0 * inf and 0 * nan are nan.
"""
import abc

import tensorflow as tf


class Loss(abc.ABC):
  """Abstract per-element weighted loss."""

  def __call__(self, prediction_tensor, target_tensor, weights,
               ignore_nan_targets=False, scope=None):
    """Computes the weighted per-element loss.

    Args:
      prediction_tensor: float tensor [B, N, code_size] (logits or encodings).
      target_tensor: float tensor [B, N, code_size], same shape as the prediction.
      weights: float tensor [B, N]; 0 removes an element from the loss.
      ignore_nan_targets: if True, NaN targets are replaced by the prediction, so
        they contribute 0 loss (useful for partially labelled targets).
      scope: optional name scope.

    Returns:
      A float tensor [B, N]: the loss of each element times its weight.
    """
    with tf.name_scope(scope or type(self).__name__):
      # Losses are float32 even when the layers compute in bfloat16 / float16
      # (mixed-precision training): the sums and logs need its range.
      prediction_tensor = tf.cast(prediction_tensor, tf.float32)
      target_tensor = tf.cast(target_tensor, tf.float32)
      weights = tf.cast(weights, tf.float32)
      if ignore_nan_targets:
        target_tensor = tf.where(tf.math.is_nan(target_tensor),
                                 prediction_tensor, target_tensor)
      return self._compute_loss(prediction_tensor, target_tensor, weights)

  @abc.abstractmethod
  def _compute_loss(self, prediction_tensor, target_tensor, weights):
    """Returns the weighted per-element loss [B, N]; see __call__."""


def _zero_where_unweighted(tensor, weights):
  """Replaces tensor[b, n, :] by zeros wherever weights[b, n] == 0.

  tf.where routes a zero gradient to the unselected branch, so non-finite values
  in unweighted elements can reach neither the loss nor the gradients.
  """
  active = tf.not_equal(weights, 0.0)[..., tf.newaxis]
  return tf.where(active, tensor, tf.zeros_like(tensor))


class WeightedSoftmaxClassificationLoss(Loss):
  """Softmax cross-entropy against one-hot (or soft) targets, times the weight."""

  def __init__(self, logit_scale=1.0):
    """Constructor.

    Args:
      logit_scale: logits are divided by this before the softmax (> 0).

    Raises:
      ValueError: if logit_scale is not positive.
    """
    if not logit_scale > 0:
      raise ValueError('logit_scale must be > 0, got %r' % (logit_scale,))
    self._logit_scale = float(logit_scale)

  def _compute_loss(self, prediction_tensor, target_tensor, weights):
    """Cross-entropy [B, N] of logits [B, N, C] and targets [B, N, C], weighted.

    Args:
      prediction_tensor: float tensor [B, N, C] of logits.
      target_tensor: float tensor [B, N, C], one-hot (rows summing to 1).
      weights: float tensor [B, N].

    Returns:
      A float tensor [B, N].
    """
    logits = _zero_where_unweighted(
        prediction_tensor / self._logit_scale, weights)
    # An all-zero target row gives a cross-entropy of exactly 0.
    labels = _zero_where_unweighted(target_tensor, weights)
    cross_entropy = tf.nn.softmax_cross_entropy_with_logits(
        labels=labels, logits=logits)
    return cross_entropy * weights


class WeightedSmoothL1LocalizationLoss(Loss):
  """Huber (smooth L1) loss summed over the code dimension, times the weight.

  Per coordinate x = prediction - target:
    0.5 * x^2                  if |x| <= delta
    delta * (|x| - 0.5 delta)  otherwise.
  """

  def __init__(self, delta=1.0):
    """Constructor.

    Args:
      delta: the Huber transition point (> 0).

    Raises:
      ValueError: if delta is not positive.
    """
    if not delta > 0:
      raise ValueError('delta must be > 0, got %r' % (delta,))
    self._delta = float(delta)

  def _compute_loss(self, prediction_tensor, target_tensor, weights):
    """Huber loss [B, N] of encodings [B, N, code_size], weighted.

    Args:
      prediction_tensor: float tensor [B, N, code_size].
      target_tensor: float tensor [B, N, code_size].
      weights: float tensor [B, N].

    Returns:
      A float tensor [B, N].
    """
    difference = _zero_where_unweighted(
        prediction_tensor, weights) - _zero_where_unweighted(
            target_tensor, weights)
    abs_difference = tf.abs(difference)
    huber = tf.where(abs_difference <= self._delta,
                     0.5 * tf.square(difference),
                     self._delta * (abs_difference - 0.5 * self._delta))
    return tf.reduce_sum(huber, axis=-1) * weights
