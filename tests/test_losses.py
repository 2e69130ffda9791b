"""Tests for tal_detection.core.losses against numpy references."""
import numpy as np
import pytest
import tensorflow as tf

from tal_detection.core import losses


def _np_softmax_cross_entropy(logits, targets):
  shifted = logits - logits.max(axis=-1, keepdims=True)
  log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
  return -(targets * log_probs).sum(axis=-1)


def _np_huber(difference, delta):
  abs_diff = np.abs(difference)
  return np.where(abs_diff <= delta, 0.5 * difference**2,
                  delta * (abs_diff - 0.5 * delta)).sum(axis=-1)


@pytest.mark.parametrize('logit_scale', [1.0, 2.5])
def test_softmax_loss_matches_numpy(logit_scale):
  rng = np.random.RandomState(0)
  logits = rng.randn(2, 5, 4).astype(np.float32) * 3
  targets = np.eye(4, dtype=np.float32)[rng.randint(0, 4, size=(2, 5))]
  weights = rng.uniform(0, 2, size=(2, 5)).astype(np.float32)
  weights[0, 1] = 0.0
  loss = losses.WeightedSoftmaxClassificationLoss(logit_scale=logit_scale)(
      logits, targets, weights).numpy()
  expected = _np_softmax_cross_entropy(logits / logit_scale, targets) * weights
  assert loss.shape == (2, 5)
  np.testing.assert_allclose(loss, expected, rtol=1e-5, atol=1e-6)
  assert loss[0, 1] == 0.0


def test_softmax_loss_hand_computed():
  # Two equal logits: cross-entropy = log 2; weight 3 -> 3 log 2.
  loss = losses.WeightedSoftmaxClassificationLoss()(
      [[[0.0, 0.0]]], [[[0.0, 1.0]]], [[3.0]]).numpy()
  np.testing.assert_allclose(loss, [[3.0 * np.log(2.0)]], rtol=1e-6)


@pytest.mark.parametrize('delta', [1.0, 0.3])
def test_smooth_l1_loss_matches_numpy(delta):
  rng = np.random.RandomState(1)
  predictions = rng.randn(3, 6, 2).astype(np.float32) * 2
  targets = rng.randn(3, 6, 2).astype(np.float32) * 2
  weights = (rng.uniform(size=(3, 6)) > 0.3).astype(np.float32)
  loss = losses.WeightedSmoothL1LocalizationLoss(delta=delta)(
      predictions, targets, weights).numpy()
  expected = _np_huber(predictions - targets, delta) * weights
  assert loss.shape == (3, 6)
  np.testing.assert_allclose(loss, expected, rtol=1e-5, atol=1e-6)


def test_smooth_l1_hand_computed():
  # Differences 0.5 (quadratic: 0.125) and 3 (linear: 3 - 0.5 = 2.5), weight 2.
  loss = losses.WeightedSmoothL1LocalizationLoss()(
      [[[0.5, 3.0]]], [[[0.0, 0.0]]], [[2.0]]).numpy()
  np.testing.assert_allclose(loss, [[2.0 * (0.125 + 2.5)]], rtol=1e-6)


@pytest.mark.parametrize('loss_fn,code_size', [
    (losses.WeightedSoftmaxClassificationLoss(), 3),
    (losses.WeightedSmoothL1LocalizationLoss(), 2),
])
def test_zero_weight_rows_give_zero_loss_and_finite_gradients(loss_fn,
                                                               code_size):
  rng = np.random.RandomState(2)
  predictions = rng.randn(2, 4, code_size).astype(np.float32)
  targets = np.zeros((2, 4, code_size), np.float32)
  targets[..., 0] = 1.0
  # Non-finite garbage where the weight is 0 (e.g. log(0) encodings, padding).
  predictions[0, 2] = np.nan
  predictions[1, 0] = np.inf
  targets[0, 3] = -np.inf
  targets[1, 1] = np.nan
  weights = np.ones((2, 4), np.float32)
  weights[0, 2] = weights[1, 0] = weights[0, 3] = weights[1, 1] = 0.0
  prediction_var = tf.Variable(predictions)
  with tf.GradientTape() as tape:
    loss = loss_fn(prediction_var, targets, weights)
    total = tf.reduce_sum(loss)
  gradient = tape.gradient(total, prediction_var).numpy()
  loss = loss.numpy()
  assert np.all(np.isfinite(loss))
  for b, n in [(0, 2), (1, 0), (0, 3), (1, 1)]:
    assert loss[b, n] == 0.0
    np.testing.assert_array_equal(gradient[b, n], np.zeros(code_size))
  assert np.all(np.isfinite(gradient))
  # Weighted rows still learn.
  assert np.abs(gradient[0, 0]).sum() > 0


def test_softmax_gradient_matches_numpy():
  logits = np.array([[[1.0, 2.0, 0.5]]], np.float32)
  targets = np.array([[[0.0, 0.0, 1.0]]], np.float32)
  logits_var = tf.Variable(logits)
  with tf.GradientTape() as tape:
    total = tf.reduce_sum(losses.WeightedSoftmaxClassificationLoss(
        logit_scale=2.0)(logits_var, targets, [[0.5]]))
  gradient = tape.gradient(total, logits_var).numpy()
  probs = np.exp(logits / 2.0) / np.exp(logits / 2.0).sum()
  np.testing.assert_allclose(gradient, 0.5 * (probs - targets) / 2.0,
                             rtol=1e-5)


def test_ignore_nan_targets():
  loss = losses.WeightedSmoothL1LocalizationLoss()(
      [[[1.0, 2.0]]], [[[np.nan, 0.0]]], [[1.0]], ignore_nan_targets=True)
  # Only the second coordinate counts: |2| > 1 -> 2 - 0.5.
  np.testing.assert_allclose(loss.numpy(), [[1.5]])


def test_graph_mode_unknown_shapes():
  classification = losses.WeightedSoftmaxClassificationLoss()
  localization = losses.WeightedSmoothL1LocalizationLoss()
  spec = tf.TensorSpec([None, None, None], tf.float32)
  weight_spec = tf.TensorSpec([None, None], tf.float32)

  @tf.function(input_signature=[spec, spec, weight_spec])
  def both(predictions, targets, weights):
    return (classification(predictions, targets, weights),
            localization(predictions, targets, weights))

  rng = np.random.RandomState(3)
  predictions = rng.randn(2, 7, 3).astype(np.float32)
  targets = np.eye(3, dtype=np.float32)[rng.randint(0, 3, size=(2, 7))]
  weights = rng.uniform(size=(2, 7)).astype(np.float32)
  cls_loss, loc_loss = both(predictions, targets, weights)
  np.testing.assert_allclose(
      cls_loss.numpy(),
      _np_softmax_cross_entropy(predictions, targets) * weights, rtol=1e-5)
  np.testing.assert_allclose(
      loc_loss.numpy(), _np_huber(predictions - targets, 1.0) * weights,
      rtol=1e-5)


@pytest.mark.parametrize('make', [
    lambda: losses.WeightedSoftmaxClassificationLoss(logit_scale=0.0),
    lambda: losses.WeightedSmoothL1LocalizationLoss(delta=-1.0),
])
def test_bad_parameters_raise(make):
  with pytest.raises(ValueError):
    make()
