"""Tests of tal_detection/core/preprocessor.py (training augmentation ops)."""
import numpy as np
import pytest
import tensorflow as tf

from tal_detection.core import preprocessor
from tal_detection.core import standard_fields
from tal_detection.utils import time_util

_INPUT = standard_fields.InputDataFields


def test_feature_dropout_zeroes_about_rate_and_scales_survivors():
  features = tf.constant(np.full((400, 50), 2.0, np.float32))
  tf.random.set_seed(11)
  dropped = preprocessor.random_feature_dropout(features, 0.3, seed=5).numpy()
  zero_fraction = np.mean(dropped == 0)
  # 20000 Bernoulli(0.3) draws: standard error 0.0032.
  assert abs(zero_fraction - 0.3) < 0.015, zero_fraction
  np.testing.assert_allclose(dropped[dropped != 0], 2.0 / 0.7, rtol=1e-6)
  # Inverted dropout keeps the mean.
  assert abs(dropped.mean() - 2.0) < 0.05


def test_feature_dropout_is_repeatable_with_seeds():
  features = tf.ones((30, 8))
  tf.random.set_seed(3)
  first = preprocessor.random_feature_dropout(features, 0.5, seed=1).numpy()
  tf.random.set_seed(3)
  second = preprocessor.random_feature_dropout(features, 0.5, seed=1).numpy()
  np.testing.assert_array_equal(first, second)


def test_gaussian_noise_has_the_configured_mean_and_stddev():
  values = np.linspace(-1, 1, 300 * 40, dtype=np.float32).reshape(300, 40)
  tf.random.set_seed(2)
  noisy = preprocessor.random_gaussian_noise(tf.constant(values), 0.25,
                                             seed=9).numpy()
  noise = noisy - values
  # 12000 draws: the mean's standard error is 0.0023, the stddev's 0.0016.
  assert abs(noise.mean()) < 0.01, noise.mean()
  assert abs(noise.std() - 0.25) < 0.008, noise.std()
  assert noisy.shape == values.shape


def test_zero_rates_add_no_ops_and_return_the_input():
  with tf.Graph().as_default() as graph:
    features = tf.compat.v1.placeholder(tf.float32, [None, 4])
    ops_before = len(graph.get_operations())
    assert preprocessor.random_feature_dropout(features, 0.0) is features
    assert preprocessor.random_gaussian_noise(features, 0.0) is features
    tensor_dict = {'x': features}
    assert preprocessor.random_temporal_scale(tensor_dict, ['x'],
                                              0.0) is tensor_dict
    assert len(graph.get_operations()) == ops_before


@pytest.mark.parametrize('bad_call', [
    lambda x: preprocessor.random_feature_dropout(x, 1.0),
    lambda x: preprocessor.random_feature_dropout(x, -0.1),
    lambda x: preprocessor.random_gaussian_noise(x, -1.0),
    lambda x: preprocessor.random_temporal_scale({}, [], 1.0),
])
def test_out_of_range_settings_raise(bad_call):
  with pytest.raises(ValueError):
    bad_call(tf.ones((3, 2)))


def _ramp(num_steps):
  """Feature i = (i, 10 i): the resampled values are the read positions."""
  i = np.arange(num_steps, dtype=np.float32)
  return np.stack([i, 10 * i], axis=1)


def test_resampled_ramp_reads_the_hand_computed_positions():
  # 8 -> 10 steps: new step j reads old index (j + 0.5) * 0.8 - 0.5, clamped
  # to [0, 7]: 0 (-0.1 clamped), 0.7, 1.5, 2.3, 3.1, 3.9, 4.7, 5.5, 6.3, 7.1
  # -> 7 (clamped).
  resampled = preprocessor.resample_features(tf.constant(_ramp(8)),
                                             tf.constant(10)).numpy()
  expected = [0.0, 0.7, 1.5, 2.3, 3.1, 3.9, 4.7, 5.5, 6.3, 7.0]
  np.testing.assert_allclose(resampled[:, 0], expected, atol=1e-5)
  np.testing.assert_allclose(resampled[:, 1], np.multiply(expected, 10),
                             atol=1e-4)
  # 10 -> 4 steps: (j + 0.5) * 2.5 - 0.5 = 0.75, 3.25, 5.75, 8.25.
  resampled = preprocessor.resample_features(tf.constant(_ramp(10)),
                                             tf.constant(4)).numpy()
  np.testing.assert_allclose(resampled[:, 0], [0.75, 3.25, 5.75, 8.25],
                             atol=1e-5)


def test_resampling_a_non_linear_signal_interpolates_between_neighbours():
  values = np.array([[0.0], [4.0], [1.0], [9.0]], np.float32)
  # 4 -> 6: positions (j + 0.5) * 2/3 - 0.5 = -1/6 (-> 0), 0.5, 7/6, 11/6,
  # 2.5, 19/6 (-> 3).
  resampled = preprocessor.resample_features(tf.constant(values),
                                             tf.constant(6)).numpy()[:, 0]
  expected = [0.0, 2.0, 4.0 - 3.0 / 6, 4.0 - 3.0 * 5 / 6, 5.0, 9.0]
  np.testing.assert_allclose(resampled, expected, atol=1e-5)
  # Same length: the features themselves.
  same = preprocessor.resample_features(tf.constant(values), tf.constant(4))
  np.testing.assert_allclose(same.numpy(), values, atol=1e-6)


def _decoded(num_steps, fps=10.0, stride=16.0, offset=8.0):
  return {
      _INPUT.num_steps: tf.constant(num_steps, tf.int32),
      _INPUT.fps: tf.constant(fps, tf.float32),
      _INPUT.stride_frames: tf.constant(stride, tf.float32),
      _INPUT.offset_frames: tf.constant(offset, tf.float32),
      _INPUT.groundtruth_segments_seconds: tf.constant(
          [[1.6, 4.8], [20.0, 28.8]], tf.float64),
      'features/rgb': tf.constant(_ramp(num_steps)),
  }


@pytest.mark.parametrize('factor, new_steps', [(1.25, 25), (0.8, 16),
                                               (1.13, 23)])
def test_temporal_scale_keeps_seconds_and_scales_steps_exactly(factor,
                                                               new_steps):
  decoded = _decoded(20)
  scaled = preprocessor.temporal_scale(decoded, ['features/rgb'],
                                       tf.constant(factor))
  assert scaled[_INPUT.num_steps].numpy() == new_steps
  assert scaled['features/rgb'].shape == (new_steps, 2)
  exact = new_steps / 20.0
  seconds = decoded[_INPUT.groundtruth_segments_seconds].numpy()
  old_steps = time_util.seconds_to_steps(seconds, 10.0, 16.0, 8.0)
  new = time_util.seconds_to_steps(
      seconds, 10.0, float(scaled[_INPUT.stride_frames].numpy()),
      float(scaled[_INPUT.offset_frames].numpy()))
  np.testing.assert_allclose(new, old_steps * exact, rtol=1e-6)
  # The video still spans steps [0, T']: its edges map to each other.
  np.testing.assert_allclose(
      time_util.steps_to_seconds(
          np.array([0.0, new_steps]), 10.0,
          float(scaled[_INPUT.stride_frames].numpy()),
          float(scaled[_INPUT.offset_frames].numpy())),
      time_util.steps_to_seconds(np.array([0.0, 20.0]), 10.0, 16.0, 8.0),
      rtol=1e-6)
  # Each new step's centre reads the old features at its own time.
  centres = time_util.steps_to_seconds(
      np.arange(new_steps) + 0.5, 10.0,
      float(scaled[_INPUT.stride_frames].numpy()),
      float(scaled[_INPUT.offset_frames].numpy()))
  old_index = np.clip(
      time_util.seconds_to_steps(centres, 10.0, 16.0, 8.0) - 0.5, 0, 19)
  np.testing.assert_allclose(scaled['features/rgb'].numpy()[:, 0], old_index,
                             atol=1e-4)
  np.testing.assert_array_equal(
      scaled[_INPUT.groundtruth_segments_seconds].numpy(), seconds)


def test_random_temporal_scale_draws_factors_within_the_jitter():
  decoded = _decoded(40)
  lengths = set()
  for _ in range(30):
    scaled = preprocessor.random_temporal_scale(decoded, ['features/rgb'],
                                                0.2)
    lengths.add(int(scaled[_INPUT.num_steps].numpy()))
  assert min(lengths) >= 32 and max(lengths) <= 48, lengths
  assert len(lengths) > 5, lengths


def test_a_one_step_video_stays_at_least_one_step():
  scaled = preprocessor.temporal_scale(_decoded(1), ['features/rgb'],
                                       tf.constant(0.6))
  assert scaled[_INPUT.num_steps].numpy() == 1
  np.testing.assert_allclose(scaled['features/rgb'].numpy(), [[0.0, 0.0]])
