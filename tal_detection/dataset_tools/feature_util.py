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
import dataclasses
import os
from typing import Optional

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


def num_steps_fit(num_steps, duration, fps, stride_frames, window_frames):
  """Whether num_steps features fit a video of `duration` s at this time
  base: within 10% (at least 2 steps) of expected_num_steps. A wrong --fps,
  --stride_frames or --window_frames shows as a count that does not fit."""
  expected = expected_num_steps(duration, fps, stride_frames, window_frames)
  return abs(num_steps - expected) <= max(2, 0.1 * expected)


def resample_features(features, num_steps):
  """Resamples a [T, D] feature matrix to exactly num_steps rows.

  The T original features tile the step axis: feature i covers [i, i + 1). New
  step j covers the window [j T / N, (j + 1) T / N) of that axis (N =
  num_steps), so the N windows tile the same span.
    * Downsampling (T >= N): row j is the mean of the original features over
      its window, each weighted by the length of its overlap with the window
      (a plain mean of T / N rows when N divides T). Every original feature
      contributes, none is dropped or counted twice.
    * Upsampling (T < N): an area mean would repeat rows (nearest neighbour);
      instead row j linearly interpolates between the original features at
      their centres i + 0.5, evaluated at the window centre (j + 0.5) T / N,
      holding the end features constant beyond the first and last centres.

  Args:
    features: [T, D] float array, T >= 1.
    num_steps: N >= 1.

  Returns:
    float32 [N, D].
  """
  features = np.asarray(features, dtype=np.float64)
  if num_steps < 1:
    raise ValueError('cannot resample to %d steps' % num_steps)
  old_steps = features.shape[0]
  ratio = old_steps / float(num_steps)
  if old_steps >= num_steps:
    starts = np.arange(num_steps, dtype=np.float64) * ratio
    resampled = _window_means(features, np.arange(old_steps + 1.0), starts,
                              starts + ratio)
  else:
    centres = (np.arange(num_steps, dtype=np.float64) + 0.5) * ratio
    position = np.clip(centres - 0.5, 0.0, old_steps - 1.0)
    lower = np.floor(position).astype(np.int64)
    upper = np.minimum(lower + 1, old_steps - 1)
    weight = (position - lower)[:, None]
    resampled = features[lower] * (1.0 - weight) + features[upper] * weight
  return resampled.astype(np.float32)


def _window_means(features, edges, starts, ends):
  """Overlap-weighted means of piecewise-constant features over windows.

  Row i of features holds on [edges[i], edges[i + 1]); window j is
  [starts[j], ends[j]). Row j of the result averages the rows over the part of
  the window they cover, each weighted by its overlap length, so a window
  reaching past the covered span is the mean of what it does cover. Both
  resampling modes use this, so they agree on what a window mean is.
  """
  overlap = np.clip(
      np.minimum(ends[:, None], edges[None, 1:]) -
      np.maximum(starts[:, None], edges[None, :-1]), 0.0, None)
  return overlap.dot(features) / overlap.sum(axis=1, keepdims=True)


def covered_frames(num_steps, stride_frames, window_frames):
  """Frames [0, end) the windows of num_steps features read: the span end."""
  return (num_steps - 1) * stride_frames + window_frames


def resample_to_stride(features, stride_frames, window_frames,
                       new_stride_frames, new_window_frames):
  """Resamples [T, D] features to new windows of frames at a new stride.

  The original feature i (window_frames frames every stride_frames, centred
  at frame i * stride_frames + window_frames / 2) read frames of the span
  [0, covered_frames(T, ...)). Each frame of that span is given the feature
  whose centre is nearest: feature i holds on its step interval (time_util:
  frames [(i - 1/2) s + w/2, (i + 1/2) s + w/2)), the first and last
  intervals extended to the span's ends so no frame is left out. New feature
  j covers frames [j S, j S + W) (S = new_stride_frames, W =
  new_window_frames) and is the mean over those frames, i.e. the original
  features weighted by the frames of the window each holds. T_new is the
  number of whole new windows inside the span, floor((span - W) / S) + 1 (the
  same count as expected_num_steps), at least 1; a single window longer than
  the span averages what the span covers.

  When S is smaller than the original stride the means repeat features
  (nearest neighbour); the converter allows it, as it is exact, not smooth.

  Returns:
    float32 [T_new, D]. The new features are centred at j S + W / 2: the
    record's stride_frames = S, offset_frames = W / 2.
  """
  features = np.asarray(features, dtype=np.float64)
  if new_stride_frames <= 0 or new_window_frames <= 0:
    raise ValueError('cannot resample to stride %g and window %g frames' %
                     (new_stride_frames, new_window_frames))
  old_steps = features.shape[0]
  span = covered_frames(old_steps, stride_frames, window_frames)
  # The interior edges are the midpoints between consecutive centres.
  edges = (np.arange(old_steps + 1, dtype=np.float64) - 0.5) * stride_frames
  edges += window_frames / 2.0
  edges[0], edges[-1] = 0.0, span
  new_steps = resampled_num_steps(old_steps, stride_frames, window_frames,
                                  new_stride_frames, new_window_frames)
  starts = np.arange(new_steps, dtype=np.float64) * new_stride_frames
  return _window_means(features, edges, starts,
                       starts + new_window_frames).astype(np.float32)


def resampled_num_steps(old_num_steps, stride_frames, window_frames,
                        new_stride_frames, new_window_frames):
  """T_new of resample_to_stride: whole new windows in the covered span."""
  # A window sliding over the span is exactly what expected_num_steps counts
  # (with the span given in frames at 1 frame per second).
  return expected_num_steps(
      covered_frames(old_num_steps, stride_frames, window_frames), 1.0,
      new_stride_frames, new_window_frames)


def resampled_time_base(old_num_steps, num_steps, stride_frames,
                        offset_frames):
  """(stride_frames, offset_frames) of features resampled to num_steps.

  The original T steps span T * stride_frames frames; the N new steps split
  that span evenly, so the new stride is T * stride_frames / N. With
  time_util's convention (step x <-> frame (x - 0.5) * stride + offset), the
  new offset is chosen so that new step coordinate x lands on the same frame
  as old step coordinate x T / N: then every new feature is centred on its
  window (new step j's centre j + 0.5 is old step (j + 0.5) T / N), and
  segment bounds in seconds convert to the same place in either time base.
  """
  ratio = old_num_steps / float(num_steps)
  return (stride_frames * ratio,
          offset_frames + 0.5 * stride_frames * (ratio - 1.0))


@dataclasses.dataclass(frozen=True)
class Resampling:
  """How a video's features change rate: the --resample_* flags.

  The converter (tools/create_tal_tf_record.py) applies it before writing a
  record, and tools/infer.py before running an export on raw features, so a
  model trained on resampled records sees test features resampled the same
  way. Either num_steps (every video to exactly that many steps, ActivityNet
  practice) or stride_frames and window_frames together (new windows of
  window_frames frames every stride_frames, e.g. the paper's 0.625 features/s
  from stride-4 features), or none of them.
  """
  num_steps: Optional[int] = None
  stride_frames: Optional[float] = None
  window_frames: Optional[float] = None

  def check(self):
    """Raises ValueError, naming the flags, for a combination that is not one
    of the three."""
    if self.num_steps is not None and self.num_steps < 1:
      raise ValueError('--resample_num_steps must be at least 1, got %d' %
                       self.num_steps)
    if (self.stride_frames is None) != (self.window_frames is None):
      raise ValueError('--resample_stride_frames and --resample_window_frames '
                       'go together; give both or neither')
    if self.stride_frames is not None:
      if self.num_steps is not None:
        raise ValueError('--resample_num_steps and --resample_stride_frames/'
                         '--resample_window_frames exclude each other; give '
                         'one')
      if self.stride_frames <= 0 or self.window_frames <= 0:
        raise ValueError('--resample_stride_frames and '
                         '--resample_window_frames must be positive, got %g '
                         'and %g' % (self.stride_frames, self.window_frames))

  @property
  def active(self):
    return self.num_steps is not None or self.stride_frames is not None

  def apply(self, features, stride_frames, offset_frames):
    """(features, stride_frames, offset_frames) after resampling.

    Args:
      features: {stream: [T, D]} of one video, as extracted.
      stride_frames, offset_frames: their time base (offset = window / 2).

    Returns:
      The resampled {stream: [T', D]} and the time base of the new steps
      (resampled_time_base for num_steps; stride_frames and window / 2 of the
      new windows otherwise); everything unchanged when not active.
    """
    if self.num_steps is not None:
      num_steps = next(iter(features.values())).shape[0]
      return ({name: resample_features(values, self.num_steps)
               for name, values in features.items()},
              *resampled_time_base(num_steps, self.num_steps, stride_frames,
                                   offset_frames))
    if self.stride_frames is not None:
      return ({name: resample_to_stride(
          values, stride_frames, 2.0 * offset_frames, self.stride_frames,
          self.window_frames) for name, values in features.items()},
              self.stride_frames, self.window_frames / 2.0)
    return features, stride_frames, offset_frames
