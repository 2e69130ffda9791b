"""A small, learnable two-stream dataset with THUMOS'14-like statistics.

Written in the ActionFormer layout (features/<video_id>.npy of [T, 2 * D] =
RGB | flow, plus an annotations json with a "database"), so it goes through the
same converter (tools/create_tal_tf_record.py) as real data.

Time convention: the TAL-Net paper's 0.625 features/s -- fps 10, one feature
every 16 frames, each covering 16 frames (feature i covers [1.6 i, 1.6 i + 1.6)
seconds, centred at 1.6 i + 0.8). Convert with
  --stride_frames=16 --window_frames=16
(the json gives fps 10 per video). The paper's anchor scales 1..16 steps then
span 1.6..25.6 s, the bulk of THUMOS action lengths.

Ground truth (per video): a class, then a real THUMOS'14 video holding that
class as template: its duration and instance count (both times
duration_scale) and, drawn without replacement, its instance lengths of the
class (unscaled), placed at random without overlap; the rest (~70%) is
background.
Statistics come from tal_detection/data/thumos14_stats.json (computed once
from the real annotations with compute_thumos_statistics; nothing outside the
package is read at run time).

Features (per stream, D values per step):
  * background: a per-video scene vector plus temporally smooth noise (AR(1)
    across steps, correlation `noise_correlation`, std `noise_std`);
  * RGB, appearance-like: the class prototype (plus a per-instance jitter)
    throughout the action, edges softened over a neighbouring step;
  * flow, motion-like: the class's motion prototype weighted by the exact
    overlap of each feature window with the action (sharp on/offsets) and a
    slowly oscillating motion magnitude;
  * context: distinct per-class "before" and "after" cue vectors in both
    streams over half an action length (1..4 steps) just before the start and
    just after the end.
Everything derives from one seed: same seed, same files.
"""
import collections
import json
import os
import shutil

import numpy as np

from tal_detection.dataset_tools import feature_util
from tal_detection.utils import label_map_util

FPS = 10.0
STRIDE_FRAMES = 16
WINDOW_FRAMES = 16
STREAM_NAMES = ('rgb', 'flow')
ANNOTATIONS_FILENAME = 'annotations.json'
FEATURES_DIRNAME = 'features'
TRAIN_SUBSET = 'train'
TEST_SUBSET = 'test'

# Default class order: --num_classes N takes the first N. The first ones have
# THUMOS median lengths of 3-9 s (2-5 steps) and span 0.9 s to ~2 minutes.
CLASS_ORDER = (
    'BaseballPitch', 'SoccerPenalty', 'HighJump', 'LongJump', 'CleanAndJerk',
    'HammerThrow', 'JavelinThrow', 'PoleVault', 'Shotput', 'GolfSwing',
    'ThrowDiscus', 'CliffDiving', 'Diving', 'FrisbeeCatch', 'Billiards',
    'VolleyballSpiking', 'TennisSwing', 'BasketballDunk', 'CricketBowling',
    'CricketShot')

# Fraction of the video actions may cover at most (room for background/context).
MAX_FOREGROUND_FRACTION = 0.8

_STATS_PATH = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'data', 'thumos14_stats.json')


def default_statistics_path():
  """Path of the embedded THUMOS'14 statistics file."""
  return _STATS_PATH


def _union_length(intervals, lo, hi):
  """Total length of the union of intervals clipped to [lo, hi]."""
  clipped = sorted((max(s, lo), min(e, hi)) for s, e in intervals)
  total, current_start, current_end = 0.0, None, None
  for start, end in clipped:
    if end <= start:
      continue
    if current_end is None or start > current_end:
      if current_end is not None:
        total += current_end - current_start
      current_start, current_end = start, end
    else:
      current_end = max(current_end, end)
  if current_end is not None:
    total += current_end - current_start
  return total


def background_fraction(duration, intervals):
  """Fraction of [0, duration] covered by no interval."""
  if duration <= 0:
    return 1.0
  return 1.0 - _union_length(intervals, 0.0, duration) / duration


def compute_thumos_statistics(database, source=''):
  """The statistics the generator samples from, from an ActivityNet database.

  Args:
    database: the "database" dict of thumos14.json.
    source: provenance note stored in the result.

  Returns:
    A json-serialisable dict: per-video durations, instance counts and
    background fractions, and per class, for every video holding the class,
    [duration, background fraction, [lengths of the class's instances]].
  """
  durations, counts, backgrounds = [], [], []
  classes = collections.defaultdict(list)
  for video_id in sorted(database):
    entry = database[video_id]
    duration = float(entry['duration'])
    intervals = [tuple(a['segment']) for a in entry.get('annotations', [])]
    background = background_fraction(duration, intervals)
    durations.append(round(duration, 3))
    counts.append(len(intervals))
    backgrounds.append(round(background, 4))
    per_class = collections.defaultdict(list)
    for annotation in entry.get('annotations', []):
      start, end = annotation['segment']
      per_class[annotation['label']].append(round(end - start, 3))
    for label, lengths in sorted(per_class.items()):
      classes[label].append([round(duration, 3), round(background, 4),
                             lengths])
  return {
      'source': source,
      'num_videos': len(durations),
      'num_instances': int(sum(counts)),
      'durations': durations,
      'instances_per_video': counts,
      'background_fraction': backgrounds,
      'videos_per_class': {label: classes[label] for label in sorted(classes)},
  }


def load_statistics(path=None):
  """Loads the embedded (or given) statistics json."""
  path = path or _STATS_PATH
  try:
    with open(path, 'r', encoding='utf-8') as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise ValueError('cannot read THUMOS statistics %s: %s' % (path, e)) from e


def choose_classes(statistics, num_classes=5, class_names=None):
  """The classes: class_names if given, else CLASS_ORDER[:num_classes].

  Raises:
    ValueError: for unknown names or an impossible number of classes.
  """
  available = statistics['videos_per_class']
  if class_names:
    unknown = [name for name in class_names if name not in available]
    if unknown:
      raise ValueError('unknown THUMOS class names %s (known: %s)' %
                       (', '.join(unknown), ', '.join(sorted(available))))
    if len(set(class_names)) != len(class_names):
      raise ValueError('duplicate class names in %s' % ', '.join(class_names))
    return list(class_names)
  if not 1 <= num_classes <= len(CLASS_ORDER):
    raise ValueError('num_classes must be within 1..%d, got %d' %
                     (len(CLASS_ORDER), num_classes))
  return list(CLASS_ORDER[:num_classes])


def num_feature_steps(duration):
  """Feature steps of a video of `duration` seconds in this dataset."""
  return feature_util.expected_num_steps(duration, FPS, STRIDE_FRAMES,
                                         WINDOW_FRAMES)


def sample_video_layout(rng, statistics, label, duration_scale=0.5):
  """Samples the duration and ground truth of one video of class `label`.

  Args:
    rng: np.random.Generator.
    statistics: dict from load_statistics.
    label: THUMOS class name.
    duration_scale: multiplies the THUMOS duration and instance count (keeps
      the action density and lengths).

  Returns:
    (duration seconds, list of (start, end) seconds sorted by start).
  """
  # A real video of the class as template keeps duration, count and lengths
  # jointly realistic (long actions come with short, dense videos, ...).
  templates = statistics['videos_per_class'][label]
  template_duration, _, template_lengths = templates[
      rng.integers(len(templates))]
  step_seconds = STRIDE_FRAMES / FPS
  # At least 4 steps, so tiny scales still give a usable video.
  duration = max(template_duration * duration_scale, 4 * step_seconds)
  duration = round(duration, 2)
  expected_count = len(template_lengths) * duration_scale
  count = int(np.floor(expected_count))
  count += int(rng.random() < expected_count - count)  # Stochastic rounding.
  count = max(count, 1)
  if count >= len(template_lengths):
    lengths = list(rng.permutation(np.asarray(template_lengths)))
    lengths += list(rng.choice(np.asarray(template_lengths),
                               size=count - len(lengths)))
  else:
    lengths = list(rng.choice(np.asarray(template_lengths), size=count,
                              replace=False))
  # Actions live where the features are: [0, covered].
  covered = ((num_feature_steps(duration) - 1) * STRIDE_FRAMES +
             WINDOW_FRAMES) / FPS
  budget = MAX_FOREGROUND_FRACTION * covered
  while len(lengths) > 1 and sum(lengths) > budget:
    lengths.pop()
  if lengths[0] > budget:
    lengths[0] = budget
  return duration, _place_segments(rng, lengths, covered)


def _place_segments(rng, lengths, covered):
  """Non-overlapping (start, end) of the lengths in [0, covered], shuffled.

  The free time is split into len(lengths) + 1 gaps by a flat Dirichlet.
  """
  lengths = rng.permutation(np.asarray(lengths, dtype=np.float64))
  gaps = rng.dirichlet(np.ones(len(lengths) + 1)) * (covered - lengths.sum())
  segments = []
  position = 0.0
  for gap, length in zip(gaps[:-1], lengths):
    start = position + gap
    end = start + length
    segments.append((round(start, 2), round(min(end, covered), 2)))
    position = end
  return [(s, e) for s, e in segments if e > s]


def activitynet_class_names(num_classes):
  """Generated class names of the ActivityNet-like profile."""
  return ['activity_%03d' % i for i in range(num_classes)]


def sample_activitynet_layout(rng, duration_scale=1.0):
  """Duration and ground truth of one ActivityNet-like video.

  ActivityNet v1.3: ~1.5 instances per video, ~36% background, actions
  typically tens of seconds to the whole video. Here: a duration uniform in
  [30, 240] s (x duration_scale), 1 + Poisson(0.5) instances (mean 1.5, at
  most 4), a foreground fraction uniform in [0.3, 0.98] (mean 0.64, so 36%
  background) of the feature-covered span split among them by a Dirichlet
  (alpha 2: comparable lengths), placed like THUMOS-profile instances.

  Returns:
    (duration seconds, list of (start, end) seconds sorted by start).
  """
  step_seconds = STRIDE_FRAMES / FPS
  duration = round(max(rng.uniform(30.0, 240.0) * duration_scale,
                       4 * step_seconds), 2)
  count = int(min(1 + rng.poisson(0.5), 4))
  covered = ((num_feature_steps(duration) - 1) * STRIDE_FRAMES +
             WINDOW_FRAMES) / FPS
  foreground = rng.uniform(0.3, 0.98) * covered
  lengths = rng.dirichlet(2.0 * np.ones(count)) * foreground
  return duration, _place_segments(rng, lengths, covered)


def _window_overlap(starts, ends, num_steps):
  """Overlap fraction [K, T] of intervals with each feature's window."""
  step_seconds = STRIDE_FRAMES / FPS
  window_seconds = WINDOW_FRAMES / FPS
  window_start = np.arange(num_steps) * step_seconds
  window_end = window_start + window_seconds
  starts = np.asarray(starts, dtype=np.float64)[:, None]
  ends = np.asarray(ends, dtype=np.float64)[:, None]
  overlap = np.minimum(ends, window_end) - np.maximum(starts, window_start)
  return np.clip(overlap, 0.0, None) / window_seconds


def _smooth_noise(rng, num_steps, dim, correlation, std):
  """AR(1) noise [T, D] with marginal std `std` and lag-1 correlation."""
  innovations = rng.standard_normal((num_steps, dim))
  noise = np.empty((num_steps, dim))
  noise[0] = innovations[0]
  scale = np.sqrt(1.0 - correlation ** 2)
  for t in range(1, num_steps):
    noise[t] = correlation * noise[t - 1] + scale * innovations[t]
  return std * noise


class ClassCues(collections.namedtuple('ClassCues', [
    'rgb', 'flow', 'rgb_before', 'rgb_after', 'flow_before', 'flow_after'])):
  """Per-class prototype vectors [C, D] of each cue."""


def make_class_cues(rng, num_classes, stream_dim):
  """Random (near-orthogonal for large D) unit-variance cue vectors."""
  return ClassCues(*[rng.standard_normal((num_classes, stream_dim))
                     for _ in ClassCues._fields])


def synthesize_features(rng, duration, segments, class_index, cues,
                        signal_strength=1.0, context_strength=0.6,
                        noise_std=1.0, noise_correlation=0.7,
                        instance_jitter=0.3, scene_std=0.5):
  """The RGB and flow features [T, D] of one video.

  Args:
    rng: np.random.Generator.
    duration: seconds.
    segments: list of (start, end) seconds of the actions (class class_index).
    class_index: index into the cue arrays.
    cues: ClassCues.
    signal_strength: amplitude of the action evidence.
    context_strength: amplitude of the before/after cues.
    noise_std: marginal std of the smooth noise.
    noise_correlation: lag-1 correlation of the noise between steps.
    instance_jitter: std of each instance's deviation from the prototype.
    scene_std: std of the per-video constant scene vector.

  Returns:
    (rgb, flow) float32 arrays [T, D].
  """
  num_steps = num_feature_steps(duration)
  dim = cues.rgb.shape[1]
  step_seconds = STRIDE_FRAMES / FPS
  rgb = (scene_std * rng.standard_normal(dim)[None, :] +
         _smooth_noise(rng, num_steps, dim, noise_correlation, noise_std))
  flow = (0.6 * scene_std * rng.standard_normal(dim)[None, :] +
          _smooth_noise(rng, num_steps, dim, noise_correlation, noise_std))
  if segments:
    starts = np.array([s for s, _ in segments])
    ends = np.array([e for _, e in segments])
    lengths = ends - starts
    overlap = _window_overlap(starts, ends, num_steps)  # [K, T]
    # Appearance changes slowly: spread a quarter of each step's evidence to
    # its neighbours.
    padded = np.pad(overlap, ((0, 0), (1, 1)))
    appearance = 0.5 * overlap + 0.25 * (padded[:, :-2] + padded[:, 2:])
    times = (np.arange(num_steps) + 0.5) * step_seconds
    phase = rng.uniform(0, 2 * np.pi, size=(len(segments), 1))
    period = rng.uniform(1.5, 4.0, size=(len(segments), 1))
    magnitude = 1.0 + 0.25 * np.sin(
        2 * np.pi * (times[None, :] - starts[:, None]) / period + phase)
    jitter_rgb = instance_jitter * rng.standard_normal((len(segments), dim))
    jitter_flow = instance_jitter * rng.standard_normal((len(segments), dim))
    rgb += signal_strength * (
        appearance.sum(axis=0)[:, None] * cues.rgb[class_index][None, :] +
        appearance.T @ jitter_rgb)
    motion = overlap * magnitude
    flow += signal_strength * (
        motion.sum(axis=0)[:, None] * cues.flow[class_index][None, :] +
        motion.T @ jitter_flow)
    context = np.clip(0.5 * lengths, step_seconds, 4 * step_seconds)
    before = _window_overlap(starts - context, starts, num_steps).sum(axis=0)
    after = _window_overlap(ends, ends + context, num_steps).sum(axis=0)
    rgb += context_strength * (
        before[:, None] * cues.rgb_before[class_index][None, :] +
        after[:, None] * cues.rgb_after[class_index][None, :])
    flow += context_strength * (
        before[:, None] * cues.flow_before[class_index][None, :] +
        after[:, None] * cues.flow_after[class_index][None, :])
  return rgb.astype(np.float32), flow.astype(np.float32)


def _check_replaceable(output_dir):
  """Only an empty folder or an earlier synthetic dataset may be replaced.

  An earlier dataset is recognised by its annotations.json; the whole folder
  is replaced (records converted from the old data go with it).
  """
  if not os.path.exists(output_dir):
    return
  if not os.path.isdir(output_dir):
    raise ValueError('output_dir %s exists and is not a folder' % output_dir)
  if not os.listdir(output_dir):
    return
  try:
    with open(os.path.join(output_dir, ANNOTATIONS_FILENAME), 'r',
              encoding='utf-8') as f:
      is_synthetic = str(json.load(f).get('version', '')).startswith(
          'synthetic')
  except (OSError, ValueError, AttributeError):
    is_synthetic = False
  if not is_synthetic:
    raise ValueError('output_dir %s exists and is not an earlier synthetic '
                     'dataset; refusing to replace it' % output_dir)


PROFILES = ('thumos14', 'activitynet')
ACTIVITYNET_NUM_CLASSES = 200
LABEL_MAP_FILENAME = 'label_map.pbtxt'


def generate(output_dir, num_train=40, num_test=20, stream_dim=64,
             num_classes=None, class_names=None, seed=0, duration_scale=0.5,
             noise_std=1.0, signal_strength=1.0, feature_dtype='float32',
             statistics_path=None, profile='thumos14'):
  """Writes the synthetic dataset to output_dir (replacing it on success).

  Layout:
    output_dir/annotations.json   {"version", "feature_info", "database"}
    output_dir/features/<video_id>.npy   [T, 2 * stream_dim] (RGB | flow)
  An existing output_dir is replaced only if it is empty or an earlier
  synthetic dataset (with whatever was added to it, e.g. converted records).
  Videos are named synthetic_train_NNNN (subset "train") and
  synthetic_test_NNNN (subset "test"). The files are written into a temporary
  sibling folder renamed to output_dir at the end.

  profile 'thumos14' (default) is the THUMOS'14-like data described in the
  module docstring. profile 'activitynet' draws each video's ground truth
  with sample_activitynet_layout instead (duration_scale scales its
  durations; num_classes, default 200, generated names activity_000 ...;
  class_names is not allowed) and, since few videos cover few of the 200 classes, also
  writes output_dir/label_map.pbtxt with every class (give it to the
  converter as --label_map_path). Features are synthesised alike.

  Returns:
    A dict of counts: videos, instances, steps, per subset.

  Raises:
    ValueError: on bad arguments.
  """
  if profile not in PROFILES:
    raise ValueError('profile must be one of %s, got %r' %
                     (', '.join(PROFILES), profile))
  if num_train < 0 or num_test < 0 or num_train + num_test < 1:
    raise ValueError('need at least one video (num_train %d, num_test %d)' %
                     (num_train, num_test))
  if not 1 <= stream_dim <= 4096:
    raise ValueError('stream_dim must be within 1..4096, got %d' % stream_dim)
  if duration_scale <= 0:
    raise ValueError('duration_scale must be positive, got %g' % duration_scale)
  if noise_std < 0 or signal_strength < 0:
    raise ValueError('noise_std and signal_strength must be >= 0')
  if feature_dtype not in ('float16', 'float32'):
    raise ValueError('feature_dtype must be float16 or float32, got %r' %
                     feature_dtype)
  if not output_dir:
    raise ValueError('output_dir is required')
  if num_classes is None:
    num_classes = (ACTIVITYNET_NUM_CLASSES if profile == 'activitynet' else 5)
  if profile == 'activitynet':
    if class_names:
      raise ValueError('class_names picks THUMOS classes; the activitynet '
                       'profile generates its names (use num_classes)')
    if num_classes < 1:
      raise ValueError('num_classes must be at least 1, got %d' % num_classes)
    statistics = None
    labels = activitynet_class_names(num_classes)
  else:
    statistics = load_statistics(statistics_path)
    labels = choose_classes(statistics, num_classes, class_names)
  # ActionFormer-style 0-based label ids, alphabetical (the converter's order).
  label_ids = {name: index for index, name in enumerate(sorted(labels))}

  seeds = np.random.SeedSequence(seed).spawn(3)
  cues = make_class_cues(np.random.default_rng(seeds[0]), len(labels),
                         stream_dim)
  split_rngs = {TRAIN_SUBSET: seeds[1], TEST_SUBSET: seeds[2]}

  output_dir = os.path.abspath(output_dir)
  _check_replaceable(output_dir)
  parent = os.path.dirname(output_dir)
  os.makedirs(parent, exist_ok=True)
  tmp_dir = '%s.tmp-%d' % (output_dir, os.getpid())
  if os.path.exists(tmp_dir):
    shutil.rmtree(tmp_dir)
  counts = {}
  try:
    os.makedirs(os.path.join(tmp_dir, FEATURES_DIRNAME))
    database = {}
    for subset, num_videos in ((TRAIN_SUBSET, num_train),
                               (TEST_SUBSET, num_test)):
      video_seeds = split_rngs[subset].spawn(num_videos + 1)
      # Balanced classes: each appears num_videos / C times (+-1), shuffled.
      order = np.random.default_rng(video_seeds[-1]).permutation(
          np.arange(num_videos) % len(labels))
      subset_counts = {'videos': num_videos, 'instances': 0, 'steps': 0}
      for index in range(num_videos):
        rng = np.random.default_rng(video_seeds[index])
        class_index = int(order[index])
        label = labels[class_index]
        if profile == 'activitynet':
          duration, segments = sample_activitynet_layout(rng, duration_scale)
        else:
          duration, segments = sample_video_layout(rng, statistics, label,
                                                   duration_scale)
        rgb, flow = synthesize_features(
            rng, duration, segments, class_index, cues,
            signal_strength=signal_strength, noise_std=noise_std)
        video_id = 'synthetic_%s_%04d' % (subset, index)
        features = np.concatenate([rgb, flow], axis=1).astype(feature_dtype)
        np.save(os.path.join(tmp_dir, FEATURES_DIRNAME, video_id + '.npy'),
                features)
        database[video_id] = {
            'subset': subset,
            'duration': duration,
            'fps': FPS,
            'annotations': [{
                'label': label,
                'segment': [start, end],
                'segment(frames)': [round(start * FPS, 1), round(end * FPS, 1)],
                'label_id': label_ids[label],
            } for start, end in segments],
        }
        subset_counts['instances'] += len(segments)
        subset_counts['steps'] += features.shape[0]
      counts[subset] = subset_counts
    annotations = {
        'version': ('synthetic-activitynet-like-v1' if profile == 'activitynet'
                    else 'synthetic-thumos14-like-v1'),
        'feature_info': {
            'fps': FPS, 'stride_frames': STRIDE_FRAMES,
            'window_frames': WINDOW_FRAMES, 'layout': 'concat',
            'stream_names': list(STREAM_NAMES),
            'stream_dims': [stream_dim, stream_dim],
            'dtype': feature_dtype, 'seed': seed,
            'duration_scale': duration_scale, 'classes': labels,
        },
        'database': database,
    }
    with open(os.path.join(tmp_dir, ANNOTATIONS_FILENAME), 'w',
              encoding='utf-8') as f:
      json.dump(annotations, f, indent=1)
    if profile == 'activitynet':
      label_map_util.save_label_map(labels,
                                    os.path.join(tmp_dir, LABEL_MAP_FILENAME))
    if os.path.exists(output_dir):
      old_dir = '%s.old-%d' % (output_dir, os.getpid())
      os.replace(output_dir, old_dir)
      os.replace(tmp_dir, output_dir)
      shutil.rmtree(old_dir)
    else:
      os.replace(tmp_dir, output_dir)
  except BaseException:
    shutil.rmtree(tmp_dir, ignore_errors=True)
    raise
  return counts
