"""Synthetic two-stream datasets: THUMOS'14-like, ActivityNet-like, THUMOS'14-hard.

Profiles 'thumos14' (the default, described first below) and 'activitynet'
(see sample_activitynet_layout) are small and learnable; profile
'thumos14_hard' (described at the end) is a harder benchmark on the real
THUMOS'14 segment times.

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

Profile 'thumos14_hard' (generate_thumos14_hard_video, thumos14_hard_*):
  Ground truth: the real THUMOS'14 videos of
  tal_detection/data/thumos14_groundtruth.json, with their ids, durations,
  fps (30, 29.97, 25, 24) and segments of all 20 classes; subset "train" =
  the 200 Validation videos, "test" = the 212 Test videos (num_train /
  num_test take the first N of each, by id). Segments are fitted to the
  video the features are made for: those starting at or after the json's
  duration are dropped (30 of 6365; they would have no evidence), the
  others clipped to [0, duration]; overlapping segments are kept. Dense
  videos stay dense (up to 218 instances).
  Time base: everything is generated on a latent grid of 4-frame bins at the
  video's own fps and averaged over each feature's window:
    feature_rate 'paper' (default): windows of 48 frames every 48 frames (1.6
      s steps at 30 fps, the paper's 0.625 features/s; 1.92 s at 25 fps);
      convert with --stride_frames=48 --window_frames=48;
    feature_rate 'actionformer': windows of 16 frames every 4 frames (7.5
      features/s at 30 fps), the layout of the shared THUMOS'14 I3D
      features; convert with --stride_frames=4 --window_frames=16 (and
      --resample_stride_frames=48 --resample_window_frames=48 for the
      paper's rate).
  Features per stream s (rgb, flow), D = stream_dim values per step, at bin
  b: x_s(b) = scene + shot(b) + noise(b) + sum over actions and distractors
  of their evidence. Nothing but the evidence depends on where actions are:
    * scene: one N(0, 0.5^2) vector per video;
    * shots: a Poisson process of cuts (mean shot 12 s, independent of the
      actions) with a fresh N(0, 0.5^2) offset per shot: level shifts at
      arbitrary times, so a change detector is not a boundary detector;
    * noise: AR(1) across bins with time constant 1.5 s, scaled so that a
      48-frame feature's noise has std noise_std per value (lag-1
      correlation between such features about 0.5 at 30 fps;
      block_mean_noise_statistics gives the exact values);
    * evidence of an action of class c over [start, end] (u = relative
      position in the action, bins weighted by their overlap with it):
        amplitude * alpha * taper(u) * (phase direction(u) + jitter),
      alpha = noise_std * sqrt(signal_to_noise / D) (default signal_to_noise
      6: a full-strength step's evidence has squared norm 6 noise
      variances, whatever D, about 7% less on average over an action where
      the phases cross-fade; per value it is far below the noise), amplitude
      lognormal (median 1, sigma 0.4) per instance; the direction moves
      through 3 phase prototypes (boundaries at Dirichlet(2, 2, 2)
      fractions of the instance, linear cross-fades of 0.1), each of unit
      variance per value and made of a generic part shared by all classes
      (30% of the energy: actionness), a part shared by the class's
      confusable group (half the rest, e.g. CliffDiving/Diving,
      CricketBowling/CricketShot/BaseballPitch, the throws, the jumps) and
      the class's own part; jitter N(0, 0.5^2) per value per instance; the
      taper rises from an edge level U(0.2, 1) over the first and last
      U(0.05, 0.35) of the action, so evidence is often weak at the
      boundaries; flow evidence is further modulated by 1 + 0.3 sin (a
      1.5-4 s period). No before/after cue, no ramp outside the action.
    * distractors: one per 20 s of video on average (Poisson), lengths of
      that video's actions, placed uniformly and independently of the
      actions (they may overlap them), carrying the evidence of one of the
      video's classes at half amplitude: hard negatives that do not
      correlate with the actions' surroundings.
  tests/test_make_synthetic_dataset.py checks that the mean features around
  each action (s/2 on both sides, outside any action) do not separate
  actions from background (AUC near 0.5) while the same test on profile
  'thumos14' does.
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


# --- Profile 'thumos14_hard' (module docstring) -----------------------------

HARD_PROFILE = 'thumos14_hard'
_GROUNDTRUTH_PATH = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'data', 'thumos14_groundtruth.json')
# The real subsets and the generated ones.
HARD_SUBSETS = ((TRAIN_SUBSET, 'Validation'), (TEST_SUBSET, 'Test'))
BIN_FRAMES = 4
# feature_rate -> (stride frames, window frames) at each video's fps.
FEATURE_RATES = {'paper': (48, 48), 'actionformer': (4, 16)}
# Confusable groups (classes sharing part of their evidence).
CONFUSABLE_GROUPS = (
    ('CliffDiving', 'Diving'),
    ('BaseballPitch', 'CricketBowling', 'CricketShot'),
    ('HammerThrow', 'JavelinThrow', 'Shotput', 'ThrowDiscus'),
    ('HighJump', 'LongJump', 'PoleVault'),
    ('BasketballDunk', 'VolleyballSpiking'),
    ('GolfSwing', 'TennisSwing'),
    ('FrisbeeCatch', 'SoccerPenalty'),
)
NUM_PHASES = 3
HARD_DEFAULTS = dict(
    signal_to_noise=6.0, generic_fraction=0.3, group_fraction=0.5,
    scene_std=0.5, shot_std=0.5, shot_seconds=12.0,
    noise_time_constant=1.5, amplitude_sigma=0.4, instance_jitter=0.5,
    edge_level_range=(0.2, 1.0), taper_fraction_range=(0.05, 0.35),
    crossfade=0.1, flow_modulation=0.3, distractor_seconds=20.0,
    distractor_strength=0.5)


def default_groundtruth_path():
  """Path of the embedded real THUMOS'14 ground truth."""
  return _GROUNDTRUTH_PATH


def load_thumos14_groundtruth(path=None):
  """The "database" of the embedded (or given) THUMOS'14 ground truth json."""
  path = path or _GROUNDTRUTH_PATH
  try:
    with open(path, 'r', encoding='utf-8') as f:
      return json.load(f)['database']
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise ValueError('cannot read THUMOS\'14 ground truth %s: %s' %
                     (path, e)) from e


def clip_segments(duration, annotations):
  """[(label, start, end)] of the segments fitted to [0, duration].

  Segments lying wholly outside the video are dropped, the others clipped
  to it: the generated features cover [0, duration] only, and the generated
  json is the ground truth (the converter keeps segments as annotated, so an
  unclipped json would give the evaluation instances no feature covers).
  """
  kept = []
  for annotation in annotations:
    start, end = (float(v) for v in annotation['segment'])
    if start >= duration or end <= 0.0 or end <= start:
      continue
    kept.append((annotation['label'], max(start, 0.0), min(end, duration)))
  return kept


def select_hard_videos(database, num_train=None, num_test=None):
  """{generated subset: [video ids]}: the first N real videos of each, by id.

  Raises:
    ValueError: when more videos are asked for than the real subset holds.
  """
  chosen = {}
  for (subset, real_subset), wanted in zip(HARD_SUBSETS,
                                           (num_train, num_test)):
    ids = sorted(v for v, e in database.items() if e['subset'] == real_subset)
    if wanted is None:
      wanted = len(ids)
    if not 0 <= wanted <= len(ids):
      raise ValueError('profile %s: subset %s has %d %s videos, asked for %d' %
                       (HARD_PROFILE, subset, len(ids), real_subset, wanted))
    chosen[subset] = ids[:wanted]
  return chosen


def class_groups(labels):
  """Group index per label (confusable classes share one; others alone)."""
  groups = {}
  for index, group in enumerate(CONFUSABLE_GROUPS):
    for label in group:
      groups[label] = index
  next_index = len(CONFUSABLE_GROUPS)
  for label in labels:
    if label not in groups:
      groups[label] = next_index
      next_index += 1
  return [groups[label] for label in labels]


def make_phase_prototypes(rng, labels, stream_dim, generic_fraction,
                          group_fraction):
  """Phase directions [C, P, D] per stream, unit mean square per value.

  Each is sqrt(g) generic_p + sqrt(1 - g) (sqrt(h) group_p + sqrt(1 - h)
  own_p) with g = generic_fraction and h = group_fraction (0 for a class
  alone in its group); the parts are independent standard normal vectors.
  """
  groups = class_groups(labels)
  shape = (NUM_PHASES, stream_dim)
  prototypes = []
  for _ in STREAM_NAMES:
    generic = rng.standard_normal(shape)
    group_parts = {g: rng.standard_normal(shape) for g in sorted(set(groups))}
    per_class = []
    for index in range(len(labels)):
      share = group_fraction if groups.count(groups[index]) > 1 else 0.0
      own = rng.standard_normal(shape)
      specific = (np.sqrt(share) * group_parts[groups[index]] +
                  np.sqrt(1.0 - share) * own)
      per_class.append(np.sqrt(generic_fraction) * generic +
                       np.sqrt(1.0 - generic_fraction) * specific)
    per_class = np.stack(per_class)
    # Exactly unit mean square per value, so the evidence's energy is the
    # stated signal_to_noise for any D, not a chi-square draw around it.
    per_class /= np.sqrt(np.mean(per_class**2, axis=2, keepdims=True))
    prototypes.append(per_class)
  return tuple(prototypes)


def block_mean_noise_statistics(bin_correlation, bins_per_window,
                                bins_per_stride=None):
  """(variance, lag-1 correlation) of window means of unit AR(1) noise.

  Args:
    bin_correlation: lag-1 correlation rho of the noise between bins.
    bins_per_window: n, bins averaged by one feature.
    bins_per_stride: bins between consecutive features (default n).
  """
  n = int(bins_per_window)
  stride = int(bins_per_stride or n)
  i = np.arange(n)
  variance = np.sum(bin_correlation ** np.abs(i[:, None] - i[None, :])) / n**2
  lagged = np.sum(bin_correlation ** np.abs(
      i[:, None] - i[None, :] - stride)) / n**2
  return float(variance), float(lagged / variance)


def _ar1_noise(rng, num_bins, dim, correlation, std, chunk=256):
  """AR(1) noise [num_bins, dim], stationary, marginal std `std`.

  Computed in chunks as a lower-triangular Toeplitz product (exactly the
  recursion x_t = rho x_{t-1} + sqrt(1 - rho^2) e_t, x_0 = e_0).
  """
  innovations = rng.standard_normal((num_bins, dim)).astype(np.float32)
  scale = np.sqrt(1.0 - correlation ** 2)
  lags = np.arange(chunk)
  powers = correlation ** np.arange(chunk + 1)
  toeplitz = np.where(lags[:, None] >= lags[None, :],
                      correlation ** np.abs(lags[:, None] - lags[None, :]),
                      0.0).astype(np.float32)
  noise = np.empty_like(innovations)
  previous = None
  for begin in range(0, num_bins, chunk):
    end = min(begin + chunk, num_bins)
    length = end - begin
    block = innovations[begin:end] * scale
    if previous is None:
      block[0] = innovations[0]  # Stationary start.
    values = toeplitz[:length, :length] @ block
    if previous is not None:
      values += powers[1:length + 1, None].astype(np.float32) * previous
    noise[begin:end] = values
    previous = values[-1]
  return std * noise


def _bin_overlap(start, end, bin_starts, bin_seconds):
  return np.clip(np.minimum(end, bin_starts + bin_seconds) -
                 np.maximum(start, bin_starts), 0.0, None) / bin_seconds


def _add_evidence(rng, latents, prototypes, class_index, start, end,
                  bin_seconds, alpha, params, strength=1.0):
  """Adds one instance's (or distractor's) evidence to the latent bins."""
  num_bins = latents[0].shape[0]
  first = max(int(np.floor(start / bin_seconds)), 0)
  last = min(int(np.ceil(end / bin_seconds)), num_bins)
  # Instance variation, drawn even when the instance is not visible so the
  # random stream does not depend on the feature span.
  amplitude = strength * np.exp(params['amplitude_sigma'] *
                                rng.standard_normal())
  edge_level = rng.uniform(*params['edge_level_range'])
  taper = rng.uniform(*params['taper_fraction_range'])
  boundaries = np.cumsum(rng.dirichlet(2.0 * np.ones(NUM_PHASES)))[:-1]
  period = rng.uniform(1.5, 4.0)
  phase = rng.uniform(0.0, 2.0 * np.pi)
  dim = latents[0].shape[1]
  jitters = [params['instance_jitter'] * rng.standard_normal(dim)
             for _ in latents]
  if last <= first:
    return
  bin_starts = np.arange(first, last) * bin_seconds
  weight = _bin_overlap(start, end, bin_starts, bin_seconds)
  centres = np.clip(bin_starts + 0.5 * bin_seconds, start, end)
  u = (centres - start) / (end - start)
  edge_distance = np.minimum(u, 1.0 - u) / taper
  smooth = np.clip(edge_distance, 0.0, 1.0)
  smooth = smooth * smooth * (3.0 - 2.0 * smooth)
  profile = edge_level + (1.0 - edge_level) * smooth
  # Phase weights: cross-fades of width `crossfade` at each boundary.
  half = 0.5 * params['crossfade']
  # Phase p holds (1 - r_p) prod_{q<p} r_q, the last prod r_q (sum 1), r_q
  # rising from 0 to 1 across boundary q.
  phase_weights = np.empty((len(u), NUM_PHASES))
  reached = np.ones(len(u))
  for p, boundary in enumerate(boundaries):
    rise = np.clip((u - boundary + half) / (2 * half), 0.0, 1.0)
    phase_weights[:, p] = reached * (1.0 - rise)
    reached = reached * rise
  phase_weights[:, -1] = reached
  scale = (amplitude * alpha * weight * profile)[:, None]
  for stream_index, (latent, jitter) in enumerate(zip(latents, jitters)):
    direction = phase_weights @ prototypes[stream_index][class_index]
    evidence = scale * (direction + jitter[None, :])
    if STREAM_NAMES[stream_index] == 'flow':
      evidence *= (1.0 + params['flow_modulation'] * np.sin(
          2 * np.pi * (centres - start) / period + phase))[:, None]
    latent[first:last] += evidence.astype(np.float32)


def window_means(bins, bins_per_stride, bins_per_window, num_steps):
  """Means [num_steps, D] of the latent bins over each feature's window."""
  cumulative = np.concatenate([np.zeros((1, bins.shape[1]), np.float64),
                               np.cumsum(bins, axis=0, dtype=np.float64)])
  starts = np.arange(num_steps) * bins_per_stride
  return ((cumulative[starts + bins_per_window] - cumulative[starts]) /
          bins_per_window).astype(np.float32)


def generate_thumos14_hard_video(rng, duration, fps, segments, prototypes,
                                 label_indices, feature_rate='paper',
                                 noise_std=1.0, signal_strength=1.0,
                                 **overrides):
  """The (rgb, flow) features [T, D] of one video of profile thumos14_hard.

  Args:
    rng: np.random.Generator of this video.
    duration: seconds.
    fps: the video's frame rate.
    segments: [(label index, start, end)] seconds, already clipped.
    prototypes: make_phase_prototypes output (rgb, flow), [C, P, D] each.
    label_indices: the distinct class indices of the video (distractors).
    feature_rate: 'paper' (48/48 frames) or 'actionformer' (4/16 frames).
    noise_std: std of a 48-frame feature's noise per value.
    signal_strength: multiplies the evidence amplitude.
    **overrides: HARD_DEFAULTS entries to change.

  Returns:
    (rgb, flow) float32 [T, D], T = feature_util.expected_num_steps(duration,
    fps, stride, window).
  """
  unknown = set(overrides) - set(HARD_DEFAULTS)
  if unknown:
    raise ValueError('unknown thumos14_hard parameters: %s' %
                     ', '.join(sorted(unknown)))
  if feature_rate not in FEATURE_RATES:
    raise ValueError('feature_rate must be one of %s, got %r' %
                     (', '.join(sorted(FEATURE_RATES)), feature_rate))
  params = dict(HARD_DEFAULTS, **overrides)
  stride, window = FEATURE_RATES[feature_rate]
  num_steps = feature_util.expected_num_steps(duration, fps, stride, window)
  bins_per_stride, bins_per_window = stride // BIN_FRAMES, window // BIN_FRAMES
  num_bins = (num_steps - 1) * bins_per_stride + bins_per_window
  dim = prototypes[0].shape[2]
  bin_seconds = BIN_FRAMES / fps
  correlation = float(np.exp(-bin_seconds / params['noise_time_constant']))
  paper_bins = FEATURE_RATES['paper'][1] // BIN_FRAMES
  paper_variance, _ = block_mean_noise_statistics(correlation, paper_bins)
  bin_std = noise_std / np.sqrt(paper_variance)
  latents = []
  for _ in STREAM_NAMES:
    scene = params['scene_std'] * rng.standard_normal(dim)
    latent = _ar1_noise(rng, num_bins, dim, correlation, bin_std)
    latent += scene.astype(np.float32)[None, :]
    # Shot cuts: a Poisson process over the whole video.
    num_cuts = rng.poisson(duration / params['shot_seconds'])
    cuts = np.sort(rng.uniform(0.0, duration, size=num_cuts))
    shot_of_bin = np.searchsorted(cuts, (np.arange(num_bins) + 0.5) *
                                  bin_seconds)
    offsets = params['shot_std'] * rng.standard_normal((num_cuts + 1, dim))
    latent += offsets[shot_of_bin].astype(np.float32)
    latents.append(latent)
  alpha = signal_strength * noise_std * np.sqrt(params['signal_to_noise'] /
                                                dim)
  for class_index, start, end in segments:
    _add_evidence(rng, latents, prototypes, class_index, start, end,
                  bin_seconds, alpha, params)
  lengths = [end - start for _, start, end in segments]
  num_distractors = rng.poisson(duration / params['distractor_seconds'])
  if lengths and label_indices:
    for _ in range(num_distractors):
      length = min(lengths[rng.integers(len(lengths))], duration)
      start = rng.uniform(0.0, duration - length)
      class_index = label_indices[rng.integers(len(label_indices))]
      _add_evidence(rng, latents, prototypes, class_index, start,
                    start + length, bin_seconds, alpha, params,
                    strength=params['distractor_strength'])
  return tuple(window_means(latent, bins_per_stride, bins_per_window,
                            num_steps) for latent in latents)


def _write_thumos14_hard(tmp_dir, num_train, num_test, stream_dim, seed,
                         noise_std, signal_strength, feature_dtype,
                         feature_rate, groundtruth_path, hard_params):
  """Writes the features of profile thumos14_hard; returns (database, counts,
  feature_info)."""
  real = load_thumos14_groundtruth(groundtruth_path)
  chosen = select_hard_videos(real, num_train, num_test)
  labels = sorted({a['label'] for entry in real.values()
                   for a in entry.get('annotations', [])})
  label_ids = {name: index for index, name in enumerate(labels)}
  params = dict(HARD_DEFAULTS, **hard_params)
  prototypes = make_phase_prototypes(
      np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,))),
      labels, stream_dim, params['generic_fraction'], params['group_fraction'])
  stride, window = FEATURE_RATES[feature_rate]
  database, counts = {}, {}
  for subset_index, (subset, _) in enumerate(HARD_SUBSETS):
    subset_counts = {'videos': 0, 'instances': 0, 'steps': 0}
    for video_index, video_id in enumerate(chosen[subset]):
      entry = real[video_id]
      duration, fps = float(entry['duration']), float(entry['fps'])
      kept = clip_segments(duration, entry.get('annotations', []))
      # One seed per real video: a small dataset's videos equal the large
      # one's.
      rng = np.random.default_rng(np.random.SeedSequence(
          seed, spawn_key=(1 + subset_index, video_index)))
      segments = [(label_ids[label], start, end)
                  for label, start, end in kept]
      rgb, flow = generate_thumos14_hard_video(
          rng, duration, fps, segments, prototypes,
          sorted({index for index, _, _ in segments}),
          feature_rate=feature_rate, noise_std=noise_std,
          signal_strength=signal_strength, **hard_params)
      features = _write_video(tmp_dir, video_id, rgb, flow, feature_dtype)
      database[video_id] = _database_entry(subset, duration, fps, kept,
                                           label_ids)
      subset_counts['videos'] += 1
      subset_counts['instances'] += len(kept)
      subset_counts['steps'] += features.shape[0]
    counts[subset] = subset_counts
  feature_info = {
      'fps': 'per video', 'stride_frames': stride, 'window_frames': window,
      'feature_rate': feature_rate, 'layout': 'concat',
      'stream_names': list(STREAM_NAMES),
      'stream_dims': [stream_dim, stream_dim], 'dtype': feature_dtype,
      'seed': seed, 'noise_std': noise_std,
      'signal_strength': signal_strength, 'classes': labels,
      'parameters': {k: list(v) if isinstance(v, tuple) else v
                     for k, v in sorted(params.items())},
  }
  return database, counts, feature_info


def _write_video(tmp_dir, video_id, rgb, flow, feature_dtype):
  """Saves one video's [T, D_rgb + D_flow] features; returns them."""
  features = np.concatenate([rgb, flow], axis=1).astype(feature_dtype)
  np.save(os.path.join(tmp_dir, FEATURES_DIRNAME, video_id + '.npy'), features)
  return features


def _database_entry(subset, duration, fps, segments, label_ids):
  """A video's ActivityNet-style json entry from [(label, start, end)]."""
  return {
      'subset': subset,
      'duration': duration,
      'fps': fps,
      'annotations': [{
          'label': label,
          'segment': [start, end],
          'segment(frames)': [round(start * fps, 1), round(end * fps, 1)],
          'label_id': label_ids[label],
      } for label, start, end in segments],
  }


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


PROFILES = ('thumos14', 'activitynet', HARD_PROFILE)
ACTIVITYNET_NUM_CLASSES = 200
LABEL_MAP_FILENAME = 'label_map.pbtxt'


def generate(output_dir, num_train=None, num_test=None, stream_dim=64,
             num_classes=None, class_names=None, seed=0, duration_scale=None,
             noise_std=1.0, signal_strength=1.0, feature_dtype='float32',
             statistics_path=None, profile='thumos14', feature_rate=None,
             groundtruth_path=None, hard_params=None):
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

  profile 'thumos14_hard' is the real THUMOS'14 ground truth with the
  features of the module docstring: num_train / num_test (default 200 / 212)
  take the first Validation / Test videos by id, the real video ids are kept,
  all 20 classes are used (num_classes, class_names and duration_scale are
  not allowed), feature_rate 'paper' (default, 48/48 frames at each video's
  fps) or 'actionformer' (4/16 frames), hard_params overrides HARD_DEFAULTS,
  groundtruth_path replaces the embedded ground truth. It also writes
  output_dir/label_map.pbtxt (the 20 classes).
  Defaults elsewhere: num_train 40, num_test 20, duration_scale 0.5.

  Returns:
    A dict of counts: videos, instances, steps, per subset.

  Raises:
    ValueError: on bad arguments.
  """
  if profile not in PROFILES:
    raise ValueError('profile must be one of %s, got %r' %
                     (', '.join(PROFILES), profile))
  hard = profile == HARD_PROFILE
  if hard:
    if num_classes is not None or class_names:
      raise ValueError('profile %s uses all 20 THUMOS\'14 classes; '
                       'num_classes / class_names are not allowed' %
                       HARD_PROFILE)
    if duration_scale is not None:
      raise ValueError('profile %s keeps the real durations; duration_scale '
                       'is not allowed' % HARD_PROFILE)
    feature_rate = feature_rate or 'paper'
    if feature_rate not in FEATURE_RATES:
      raise ValueError('feature_rate must be one of %s, got %r' %
                       (', '.join(sorted(FEATURE_RATES)), feature_rate))
    unknown = set(hard_params or {}) - set(HARD_DEFAULTS)
    if unknown:
      raise ValueError('unknown thumos14_hard parameters: %s' %
                       ', '.join(sorted(unknown)))
    real_database = load_thumos14_groundtruth(groundtruth_path)
    select_hard_videos(real_database, num_train, num_test)
    if num_train == 0 and num_test == 0:
      raise ValueError('need at least one video (num_train 0, num_test 0)')
  else:
    if feature_rate is not None or hard_params:
      raise ValueError('feature_rate and hard_params are for profile %s only'
                       % HARD_PROFILE)
    num_train = 40 if num_train is None else num_train
    num_test = 20 if num_test is None else num_test
    duration_scale = 0.5 if duration_scale is None else duration_scale
  if not hard and (num_train < 0 or num_test < 0 or num_train + num_test < 1):
    raise ValueError('need at least one video (num_train %d, num_test %d)' %
                     (num_train, num_test))
  if not 1 <= stream_dim <= 4096:
    raise ValueError('stream_dim must be within 1..4096, got %d' % stream_dim)
  if not hard and duration_scale <= 0:
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
  if hard:
    labels = None
  elif profile == 'activitynet':
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
  if not hard:
    # ActionFormer-style 0-based label ids, alphabetical (the converter's
    # order).
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
    if hard:
      database, counts, feature_info = _write_thumos14_hard(
          tmp_dir, num_train, num_test, stream_dim, seed, noise_std,
          signal_strength, feature_dtype, feature_rate, groundtruth_path,
          dict(hard_params or {}))
      labels = feature_info['classes']
    for subset, num_videos in (() if hard else (
        (TRAIN_SUBSET, num_train), (TEST_SUBSET, num_test))):
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
        features = _write_video(tmp_dir, video_id, rgb, flow, feature_dtype)
        database[video_id] = _database_entry(
            subset, duration, FPS,
            [(label, start, end) for start, end in segments], label_ids)
        subset_counts['instances'] += len(segments)
        subset_counts['steps'] += features.shape[0]
      counts[subset] = subset_counts
    if not hard:
      feature_info = {
          'fps': FPS, 'stride_frames': STRIDE_FRAMES,
          'window_frames': WINDOW_FRAMES, 'layout': 'concat',
          'stream_names': list(STREAM_NAMES),
          'stream_dims': [stream_dim, stream_dim],
          'dtype': feature_dtype, 'seed': seed,
          'duration_scale': duration_scale, 'classes': labels,
      }
    annotations = {
        'version': {'activitynet': 'synthetic-activitynet-like-v1',
                    HARD_PROFILE: 'synthetic-thumos14-hard-v1'}.get(
                        profile, 'synthetic-thumos14-like-v1'),
        'feature_info': feature_info,
        'database': database,
    }
    with open(os.path.join(tmp_dir, ANNOTATIONS_FILENAME), 'w',
              encoding='utf-8') as f:
      json.dump(annotations, f, indent=1)
    if profile in ('activitynet', HARD_PROFILE):
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
