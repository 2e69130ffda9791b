"""Balanced positive/negative sampler (Faster R-CNN minibatches, SPEC §4).

From the candidates, samples at most positive_fraction * batch_size positives
and fills the rest of the batch with negatives (fewer if there are not enough).
First stage: 256 anchors, fraction 0.5; second stage: 64 proposals, 0.25.
"""
import tensorflow as tf

from tal_detection.core import minibatch_sampler


class BalancedPositiveNegativeSampler(minibatch_sampler.MinibatchSampler):
  """Samples a minibatch with a bounded fraction of positives."""

  def __init__(self, positive_fraction=0.5):
    """Creates the sampler.

    Args:
      positive_fraction: maximum fraction of positives in a batch, in [0, 1].

    Raises:
      ValueError: if positive_fraction is outside [0, 1].
    """
    if not 0.0 <= float(positive_fraction) <= 1.0:
      raise ValueError('positive_fraction must be in [0, 1], got %r' %
                       (positive_fraction,))
    self._positive_fraction = float(positive_fraction)

  @property
  def positive_fraction(self):
    return self._positive_fraction

  def subsample(self, indicator, batch_size, labels):
    """Samples a balanced minibatch.

    Args:
      indicator: bool tensor [N]: the entries that may be sampled (N may be
        unknown statically).
      batch_size: int >= 0, the desired batch size; or None to keep every
        positive and add negatives so that positives make positive_fraction
        of the batch.
      labels: bool tensor [N]: true for positives, false for negatives.

    Returns:
      bool tensor [N]: the sampled entries (a subset of indicator) with at most
      int(positive_fraction * batch_size) positives and, in total, at most
      batch_size entries.

    Raises:
      ValueError: on bad ranks/dtypes or a negative batch_size.
    """
    indicator = tf.convert_to_tensor(indicator)
    labels = tf.convert_to_tensor(labels)
    if indicator.shape.rank != 1:
      raise ValueError('indicator must have rank 1, got shape %s' %
                       indicator.shape)
    if labels.shape.rank != 1:
      raise ValueError('labels must have rank 1, got shape %s' % labels.shape)
    if indicator.dtype != tf.bool:
      raise ValueError('indicator must be tf.bool, got %s' % indicator.dtype)
    if labels.dtype != tf.bool:
      raise ValueError('labels must be tf.bool, got %s' % labels.dtype)
    if batch_size is not None and int(batch_size) < 0:
      raise ValueError('batch_size must be >= 0, got %r' % (batch_size,))
    with tf.name_scope('BalancedPositiveNegativeSampler'):
      positives = tf.logical_and(labels, indicator)
      negatives = tf.logical_and(tf.logical_not(labels), indicator)
      if batch_size is None:
        sampled_positives = positives
        num_positives = tf.reduce_sum(tf.cast(positives, tf.float32))
        if self._positive_fraction > 0.0:
          max_negatives = tf.cast(
              num_positives * (1.0 - self._positive_fraction) /
              self._positive_fraction, tf.int32)
        else:
          # No positives wanted: there is no ratio to keep, take all negatives.
          sampled_positives = tf.zeros_like(positives)
          max_negatives = tf.size(negatives)
      else:
        # The tolerance keeps e.g. 0.29 * 100 (= 28.999...) from rounding down.
        max_positives = int(self._positive_fraction * int(batch_size) + 1e-6)
        sampled_positives = self.subsample_indicator(positives, max_positives)
        num_sampled_positives = tf.reduce_sum(
            tf.cast(sampled_positives, tf.int32))
        max_negatives = int(batch_size) - num_sampled_positives
      sampled_negatives = self.subsample_indicator(negatives, max_negatives)
      return tf.logical_or(sampled_positives, sampled_negatives)
