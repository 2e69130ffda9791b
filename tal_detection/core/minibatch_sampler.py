"""Minibatch sampler interface: picks which candidates enter a loss minibatch.

The temporal twin of the OD API's MinibatchSampler.
"""
import abc

import tensorflow as tf


class MinibatchSampler(abc.ABC):
  """Subsamples a boolean indicator of candidates."""

  @abc.abstractmethod
  def subsample(self, indicator, batch_size, **params):
    """Returns a bool [N] indicator of the sampled entries.

    Args:
      indicator: bool tensor [N], the entries that may be sampled.
      batch_size: the number of entries to sample.
      **params: sampler-specific arguments.
    """

  @staticmethod
  def subsample_indicator(indicator, num_samples):
    """Picks num_samples true entries of indicator uniformly at random.

    Args:
      indicator: bool tensor [N] (N may be unknown statically).
      num_samples: int or scalar int tensor; if there are fewer true entries,
        all of them are taken.

    Returns:
      bool tensor [N] with min(num_samples, sum(indicator)) true entries, each
      of them true in indicator.
    """
    indicator = tf.convert_to_tensor(indicator, dtype=tf.bool)
    if indicator.shape.rank != 1:
      raise ValueError('indicator must have rank 1, got shape %s' %
                       indicator.shape)
    candidates = tf.random.shuffle(
        tf.cast(tf.reshape(tf.where(indicator), [-1]), tf.int32))
    num_samples = tf.minimum(
        tf.size(candidates),
        tf.maximum(tf.cast(num_samples, tf.int32), 0))
    selected = candidates[:num_samples]
    picked = tf.scatter_nd(selected[:, tf.newaxis],
                           tf.ones_like(selected), tf.shape(indicator))
    sampled = tf.greater(picked, 0)
    sampled.set_shape(indicator.shape)
    return sampled
