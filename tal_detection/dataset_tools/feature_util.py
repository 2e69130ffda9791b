"""Loading and validating pre-extracted per-video feature files (.npy).

Layouts:
  concat:   <features_dir>/<video_id>.npy of shape [T, sum(stream_dims)],
            streams side by side in stream order (ActionFormer / OpenTAD:
            [T, 2048] = RGB 1024 | flow 1024).
  separate: <features_dir>/<stream>/<video_id>.npy of shape [T, stream_dim] per
            stream (e.g. rgb/ and flow/ subfolders).
float16, float32 and float64 files are accepted; features are returned as
float32 (exact for float16 and float32 input).
"""
import os

import numpy as np

CONCAT = 'concat'
SEPARATE = 'separate'
LAYOUTS = (CONCAT, SEPARATE)


def feature_paths(features_dir, video_id, layout, stream_names):
  """The .npy path(s) of one video: {stream name or 'all': path}."""
  if layout == CONCAT:
    return {'all': os.path.join(features_dir, video_id + '.npy')}
  if layout == SEPARATE:
    return {name: os.path.join(features_dir, name, video_id + '.npy')
            for name in stream_names}
  raise ValueError('unknown feature layout %r (expected one of %s)' %
                   (layout, ', '.join(LAYOUTS)))


def load_feature_file(path, expected_dim):
  """Loads one [T, expected_dim] feature matrix and checks it.

  Args:
    path: .npy file.
    expected_dim: required number of columns.

  Returns:
    float32 array [T, expected_dim] with T >= 1.

  Raises:
    ValueError: naming the file if it is missing, unreadable, not a float
      matrix of the expected width, empty, or holds NaN/Inf values.
  """
  if not os.path.isfile(path):
    raise ValueError('feature file %s does not exist' % path)
  try:
    array = np.load(path, allow_pickle=False)
  except Exception as e:  # np.load raises several types for corrupt files.
    raise ValueError('cannot read feature file %s: %s' %
                     (path, str(e).splitlines()[0] if str(e) else
                      type(e).__name__)) from e
  if not isinstance(array, np.ndarray):
    raise ValueError('feature file %s does not hold a single array' % path)
  if array.dtype not in (np.float16, np.float32, np.float64):
    raise ValueError('feature file %s has dtype %s; expected float16, float32 '
                     'or float64' % (path, array.dtype))
  if array.ndim != 2 or array.shape[1] != expected_dim:
    raise ValueError('feature file %s has shape %s; expected [T, %d]' %
                     (path, list(array.shape), expected_dim))
  if array.shape[0] < 1:
    raise ValueError('feature file %s has no feature steps (video shorter than '
                     'one step)' % path)
  finite = np.isfinite(array)
  if not finite.all():
    bad_step = int(np.argwhere(~finite.all(axis=1))[0, 0])
    raise ValueError('feature file %s has NaN/Inf values (first at step %d)' %
                     (path, bad_step))
  return array.astype(np.float32, copy=False)


def load_video_features(features_dir, video_id, layout, stream_names,
                        stream_dims):
  """Loads and validates the features of one video.

  Args:
    features_dir: folder of the feature files.
    video_id: the video's id (file name without .npy).
    layout: 'concat' or 'separate'.
    stream_names: e.g. ['rgb', 'flow'].
    stream_dims: feature width of each stream, e.g. [1024, 1024].

  Returns:
    dict stream name -> float32 array [T, dim]; every stream has the same T.

  Raises:
    ValueError: naming the file on any problem (see load_feature_file), or both
      files when separate streams disagree on T.
  """
  if len(stream_names) != len(stream_dims):
    raise ValueError('%d stream names but %d stream dims' %
                     (len(stream_names), len(stream_dims)))
  paths = feature_paths(features_dir, video_id, layout, stream_names)
  if layout == CONCAT:
    array = load_feature_file(paths['all'], int(sum(stream_dims)))
    features = {}
    begin = 0
    for name, dim in zip(stream_names, stream_dims):
      features[name] = array[:, begin:begin + dim]
      begin += dim
    return features
  features = {}
  first = None
  for name, dim in zip(stream_names, stream_dims):
    features[name] = load_feature_file(paths[name], dim)
    if first is None:
      first = name
    elif features[name].shape[0] != features[first].shape[0]:
      raise ValueError('feature files %s and %s have different numbers of '
                       'steps (%d and %d)' % (paths[first], paths[name],
                                        features[first].shape[0],
                                        features[name].shape[0]))
  return features


def expected_num_steps(duration, fps, stride_frames, window_frames):
  """Features a sliding window of window_frames every stride_frames yields.

  floor((frames - window) / stride) + 1 with frames = duration * fps; at
  least 1.
  Used to warn when features and annotations disagree (wrong --fps/--stride).
  """
  frames = duration * fps
  return max(1, int(np.floor((frames - window_frames) / stride_frames)) + 1)
