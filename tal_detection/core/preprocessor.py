"""Training-time augmentation of one decoded video (OD API's preprocessor).

Ops on unbatched tensors: a stream's features [T, D] or a decoder output dict
(InputDataFields keys). inputs.py applies them to training videos only, as
train_config.feature_augmentation configures; evaluation, prediction and
export never see them.

  random_feature_dropout   zeroes each value with probability `rate`, scales
                           the survivors by 1 / (1 - rate) (inverted dropout:
                           the expected value is unchanged)
  random_gaussian_noise    adds N(0, stddev^2) to every value
  random_temporal_scale    resamples the whole video in time by a factor
                           drawn uniformly from [1 - j, 1 + j]

Temporal scaling keeps the video's time base right. Resampling T steps to
T' = round(s T) steps makes the exact factor r = T' / T; new step j (centre
j + 0.5) lies at old step coordinate (j + 0.5) / r, so with the one time
helper (feature i centred at (i stride + offset) / fps seconds) the new steps
have stride' = stride / r and offset' = offset + stride (1 / r - 1) / 2.
Seconds -> steps through the new time base then gives exactly r times the old
step coordinates, so ground truth in seconds needs no change and its steps
scale with the features.
"""
import tensorflow as tf

from tal_detection.core import standard_fields

_INPUT = standard_fields.InputDataFields


def random_feature_dropout(features, rate, seed=None):
  """Inverted dropout on every feature value.

  Args:
    features: float tensor of any shape (a stream's [T, D]).
    rate: Python float in [0, 1), the probability of zeroing a value.
    seed: optional op seed.

  Returns:
    A tensor like features: each value zeroed with probability rate, the others
    divided by 1 - rate. rate 0 returns features itself (no op is added).
  """
  if not 0.0 <= rate < 1.0:
    raise ValueError('feature dropout rate must be in [0, 1), got %r' %
                     (rate,))
  if rate == 0:
    return features
  return tf.nn.dropout(features, rate=rate, seed=seed, name='FeatureDropout')


def random_gaussian_noise(features, stddev, seed=None):
  """Adds independent N(0, stddev^2) noise to every feature value.

  stddev 0 returns features itself (no op is added).
  """
  if not stddev >= 0:
    raise ValueError('gaussian noise stddev must be >= 0, got %r' % (stddev,))
  if stddev == 0:
    return features
  with tf.name_scope('FeatureNoise'):
    noise = tf.random.normal(tf.shape(features), stddev=stddev,
                             dtype=features.dtype, seed=seed)
    return features + noise


def resample_features(features, new_num_steps):
  """Linear interpolation of [T, D] features to [new_num_steps, D] along time.

  New step j (centre j + 0.5) reads old step coordinate (j + 0.5) T / T', i.e.
  the value at old index x = (j + 0.5) T / T' - 0.5, clamped to [0, T - 1]
  (the first and last features extend to the video's edges), interpolated
  between features floor(x) and floor(x) + 1.

  Args:
    features: float tensor [T, D], T >= 1.
    new_num_steps: int32 scalar tensor T' >= 1.

  Returns:
    float tensor [T', D] (static D kept).
  """
  num_steps = tf.shape(features)[0]
  old = tf.cast(num_steps, tf.float64)
  new = tf.cast(new_num_steps, tf.float64)
  positions = (tf.range(new, dtype=tf.float64) + 0.5) * (old / new) - 0.5
  positions = tf.clip_by_value(positions, 0.0, old - 1.0)
  lower = tf.floor(positions)
  weights = tf.cast(positions - lower, features.dtype)[:, None]
  lower_index = tf.cast(lower, tf.int32)
  upper_index = tf.minimum(lower_index + 1, num_steps - 1)
  resampled = ((1.0 - weights) * tf.gather(features, lower_index) +
               weights * tf.gather(features, upper_index))
  resampled.set_shape([None, features.shape[-1]])
  return resampled


def scaled_time_base(stride_frames, offset_frames, scale):
  """(stride', offset') of steps resampled by scale = T' / T (module doc)."""
  new_stride = stride_frames / scale
  new_offset = offset_frames + 0.5 * stride_frames * (1.0 / scale - 1.0)
  return new_stride, new_offset


def temporal_scale(tensor_dict, stream_keys, scale_factor):
  """Resamples a decoded video in time by about scale_factor.

  Args:
    tensor_dict: a decoder output dict (num_steps, stride_frames,
      offset_frames and the streams' [T, D] features).
    stream_keys: the feature keys to resample (features/<stream>).
    scale_factor: float scalar tensor s > 0.

  Returns:
    A new dict: every stream resampled to T' = max(1, round(s T)) steps,
    num_steps T', stride_frames and offset_frames of the new steps (exact
    factor T' / T); everything else (ground truth in seconds, fps, duration)
    unchanged.
  """
  num_steps = tf.cast(tensor_dict[_INPUT.num_steps], tf.int32)
  old = tf.cast(num_steps, tf.float64)
  new_num_steps = tf.maximum(
      tf.cast(tf.round(old * tf.cast(scale_factor, tf.float64)), tf.int32), 1)
  exact_scale = tf.cast(new_num_steps, tf.float64) / old
  result = dict(tensor_dict)
  for key in stream_keys:
    result[key] = resample_features(tensor_dict[key], new_num_steps)
  stride, offset = scaled_time_base(
      tf.cast(tensor_dict[_INPUT.stride_frames], tf.float64),
      tf.cast(tensor_dict[_INPUT.offset_frames], tf.float64), exact_scale)
  result[_INPUT.num_steps] = tf.cast(new_num_steps,
                                     tensor_dict[_INPUT.num_steps].dtype)
  result[_INPUT.stride_frames] = tf.cast(
      stride, tensor_dict[_INPUT.stride_frames].dtype)
  result[_INPUT.offset_frames] = tf.cast(
      offset, tensor_dict[_INPUT.offset_frames].dtype)
  return result


def random_temporal_scale(tensor_dict, stream_keys, max_jitter, seed=None):
  """temporal_scale by a factor drawn uniformly from [1 - j, 1 + j].

  Args:
    tensor_dict, stream_keys: as temporal_scale.
    max_jitter: Python float j in [0, 1); 0 returns tensor_dict itself.
    seed: optional op seed.
  """
  if not 0.0 <= max_jitter < 1.0:
    raise ValueError('temporal scale jitter must be in [0, 1), got %r' %
                     (max_jitter,))
  if max_jitter == 0:
    return tensor_dict
  with tf.name_scope('TemporalScaleJitter'):
    factor = tf.random.uniform([], 1.0 - max_jitter, 1.0 + max_jitter,
                               dtype=tf.float32, seed=seed)
    return temporal_scale(tensor_dict, stream_keys, factor)
