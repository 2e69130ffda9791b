"""Tests for core/balanced_positive_negative_sampler.py, minibatch_sampler.py."""
import numpy as np
import pytest
import tensorflow as tf

from tal_detection.core import balanced_positive_negative_sampler as sampler_lib
from tal_detection.core import minibatch_sampler


def _counts(sampled, labels):
  sampled = np.asarray(sampled)
  labels = np.asarray(labels)
  return int(np.sum(sampled & labels)), int(np.sum(sampled & ~labels))


def test_subsample_indicator_size_and_subset():
  indicator = np.zeros(50, bool)
  indicator[::3] = True  # 17 candidates
  for num_samples, expected in ((5, 5), (17, 17), (40, 17), (0, 0)):
    sampled = minibatch_sampler.MinibatchSampler.subsample_indicator(
        tf.constant(indicator), num_samples).numpy()
    assert sampled.sum() == expected
    assert not np.any(sampled & ~indicator)


def test_subsample_indicator_is_random():
  indicator = tf.ones([100], tf.bool)
  picked = np.zeros(100, bool)
  for _ in range(10):
    picked |= minibatch_sampler.MinibatchSampler.subsample_indicator(
        indicator, 10).numpy()
  # Ten draws of 10 out of 100 always picking the same entries would leave
  # exactly 10 picked; uniform sampling covers far more.
  assert picked.sum() > 30


def test_half_positive_batch():
  labels = np.zeros(100, bool)
  labels[:30] = True
  sampler = sampler_lib.BalancedPositiveNegativeSampler(positive_fraction=0.5)
  sampled = sampler.subsample(tf.ones([100], tf.bool), 20,
                              tf.constant(labels)).numpy()
  assert _counts(sampled, labels) == (10, 10)


def test_quarter_positive_batch_second_stage_defaults():
  labels = np.zeros(300, bool)
  labels[100:200] = True
  sampler = sampler_lib.BalancedPositiveNegativeSampler(positive_fraction=0.25)
  sampled = sampler.subsample(tf.ones([300], tf.bool), 64,
                              tf.constant(labels)).numpy()
  assert _counts(sampled, labels) == (16, 48)


def test_too_few_positives_filled_with_negatives():
  labels = np.zeros(100, bool)
  labels[[4, 50, 77]] = True
  sampler = sampler_lib.BalancedPositiveNegativeSampler()
  sampled = sampler.subsample(tf.ones([100], tf.bool), 20,
                              tf.constant(labels)).numpy()
  assert _counts(sampled, labels) == (3, 17)


def test_too_few_candidates_takes_all():
  labels = np.array([True, False, True, False, False, True])
  indicator = np.array([True, True, False, True, False, True])
  sampler = sampler_lib.BalancedPositiveNegativeSampler()
  sampled = sampler.subsample(tf.constant(indicator), 256,
                              tf.constant(labels)).numpy()
  np.testing.assert_array_equal(sampled, indicator)


def test_samples_only_candidates():
  rng = np.random.RandomState(3)
  labels = rng.uniform(size=200) < 0.2
  indicator = rng.uniform(size=200) < 0.6
  sampler = sampler_lib.BalancedPositiveNegativeSampler(positive_fraction=0.3)
  sampled = sampler.subsample(tf.constant(indicator), 50,
                              tf.constant(labels)).numpy()
  assert not np.any(sampled & ~indicator)
  positives, negatives = _counts(sampled, labels)
  assert positives == min(15, int(np.sum(labels & indicator)))
  assert positives + negatives == 50


def test_fraction_rounding():
  # 0.29 * 100 is 28.999... in floating point; the cap must still be 29.
  labels = np.zeros(400, bool)
  labels[:200] = True
  sampler = sampler_lib.BalancedPositiveNegativeSampler(positive_fraction=0.29)
  sampled = sampler.subsample(tf.ones([400], tf.bool), 100,
                              tf.constant(labels)).numpy()
  assert _counts(sampled, labels) == (29, 71)


def test_batch_size_none_keeps_ratio():
  labels = np.zeros(100, bool)
  labels[:10] = True
  sampler = sampler_lib.BalancedPositiveNegativeSampler(positive_fraction=0.25)
  sampled = sampler.subsample(tf.ones([100], tf.bool), None,
                              tf.constant(labels)).numpy()
  assert _counts(sampled, labels) == (10, 30)


def test_graph_mode_unknown_size():
  sampler = sampler_lib.BalancedPositiveNegativeSampler()

  @tf.function(input_signature=[tf.TensorSpec([None], tf.bool),
                                tf.TensorSpec([None], tf.bool)])
  def subsample(indicator, labels):
    sampled = sampler.subsample(indicator, 8, labels)
    assert sampled.shape.as_list() == [None]
    return sampled

  labels = np.zeros(40, bool)
  labels[:10] = True
  assert _counts(subsample(tf.ones([40], tf.bool), tf.constant(labels)),
                 labels) == (4, 4)
  assert subsample(tf.zeros([0], tf.bool), tf.zeros([0], tf.bool)).shape == (0,)


def test_v1_graph_with_placeholders():
  sampler = sampler_lib.BalancedPositiveNegativeSampler(positive_fraction=0.5)
  with tf.Graph().as_default():
    indicator = tf.compat.v1.placeholder(tf.bool, [None])
    labels = tf.compat.v1.placeholder(tf.bool, [None])
    sampled = sampler.subsample(indicator, 6, labels)
    with tf.compat.v1.Session() as sess:
      label_values = np.arange(30) < 2
      values = sess.run(sampled, {indicator: np.ones(30, bool),
                                  labels: label_values})
  assert _counts(values, label_values) == (2, 4)


def test_bad_arguments():
  with pytest.raises(ValueError, match='positive_fraction'):
    sampler_lib.BalancedPositiveNegativeSampler(positive_fraction=1.5)
  sampler = sampler_lib.BalancedPositiveNegativeSampler()
  with pytest.raises(ValueError, match='indicator must have rank 1'):
    sampler.subsample(tf.ones([2, 2], tf.bool), 4, tf.ones([4], tf.bool))
  with pytest.raises(ValueError, match='labels must be tf.bool'):
    sampler.subsample(tf.ones([4], tf.bool), 4, tf.ones([4], tf.int32))
  with pytest.raises(ValueError, match='batch_size'):
    sampler.subsample(tf.ones([4], tf.bool), -1, tf.ones([4], tf.bool))
