"""Tests of the synthetic dataset (tools/make_synthetic_dataset.py + library).

Stated tolerances of the generator against its THUMOS'14 source (the embedded
statistics), for the default classes at duration_scale 1 and 400 videos per
class: per class, mean duration and median action length within 15%, mean
instances per video within 20%; pooled mean background fraction within 0.05
of the source's (~0.70), and within [0.6, 0.8].
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tal_detection.dataset_tools import feature_util
from tal_detection.dataset_tools import synthetic_dataset as synthetic

import tal_data_test_util as util

TOOL = os.path.join(util.REPO_ROOT, 'tools', 'make_synthetic_dataset.py')


@pytest.fixture(scope='module')
def statistics():
  return synthetic.load_statistics()


def test_embedded_statistics_are_the_thumos14_ground_truth(statistics):
  # THUMOS'14: 200 Validation + 212 Test videos, 3007 + 3358 instances.
  assert statistics['num_videos'] == 412
  assert statistics['num_instances'] == 6365
  assert len(statistics['durations']) == 412
  assert sum(statistics['instances_per_video']) == 6365
  assert len(statistics['videos_per_class']) == 20
  assert sum(len(lengths) for videos in statistics['videos_per_class'].values()
             for _, _, lengths in videos) == 6365
  assert min(statistics['durations']) == pytest.approx(8.93)
  assert np.mean(statistics['background_fraction']) == pytest.approx(0.708,
                                                                     abs=0.005)
  assert set(synthetic.CLASS_ORDER) == set(statistics['videos_per_class'])


def test_compute_statistics_by_hand():
  database = {
      'v1': {'duration': 10.0, 'annotations': [
          {'label': 'A', 'segment': [1.0, 3.0]},
          {'label': 'A', 'segment': [2.0, 4.0]},  # Overlap counted once.
          {'label': 'B', 'segment': [9.0, 12.0]}]},  # Clipped at 10 s.
      'v2': {'duration': 4.0, 'annotations': []},
  }
  stats = synthetic.compute_thumos_statistics(database, source='hand')
  assert stats['durations'] == [10.0, 4.0]
  assert stats['instances_per_video'] == [3, 0]
  assert stats['background_fraction'] == [pytest.approx(0.6), 1.0]
  assert stats['videos_per_class'] == {'A': [[10.0, 0.6, [2.0, 2.0]]],
                                       'B': [[10.0, 0.6, [3.0]]]}


def test_layout_statistics_match_thumos(statistics):
  rng = np.random.default_rng(123)
  backgrounds, source_backgrounds = [], []
  for label in synthetic.CLASS_ORDER[:5]:
    templates = statistics['videos_per_class'][label]
    durations, counts, lengths = [], [], []
    for _ in range(400):
      duration, segments = synthetic.sample_video_layout(rng, statistics,
                                                         label, 1.0)
      durations.append(duration)
      counts.append(len(segments))
      lengths += [end - start for start, end in segments]
      backgrounds.append(synthetic.background_fraction(duration, segments))
      # No overlap, inside the span the features cover.
      starts = [s for s, _ in segments]
      assert starts == sorted(starts)
      assert all(e1 <= s2 for (_, e1), (s2, _) in zip(segments, segments[1:]))
      assert segments[-1][1] <= duration + 1e-9
    source_durations = [t[0] for t in templates]
    source_lengths = np.concatenate([t[2] for t in templates])
    source_counts = [len(t[2]) for t in templates]
    source_backgrounds += [t[1] for t in templates]
    assert np.mean(durations) == pytest.approx(np.mean(source_durations),
                                               rel=0.15), label
    assert np.median(lengths) == pytest.approx(np.median(source_lengths),
                                               rel=0.15), label
    assert np.mean(counts) == pytest.approx(np.mean(source_counts),
                                            rel=0.2), label
  assert np.mean(backgrounds) == pytest.approx(np.mean(source_backgrounds),
                                               abs=0.05)
  assert 0.6 <= np.mean(backgrounds) <= 0.8


def test_duration_scale_shrinks_videos_and_counts_not_lengths(statistics):
  full = [synthetic.sample_video_layout(np.random.default_rng(i), statistics,
                                        'HighJump', 1.0) for i in range(60)]
  half = [synthetic.sample_video_layout(np.random.default_rng(i), statistics,
                                        'HighJump', 0.5) for i in range(60)]
  assert np.mean([d for d, _ in half]) == pytest.approx(
      0.5 * np.mean([d for d, _ in full]), rel=0.01)
  assert np.mean([len(s) for _, s in half]) < 0.6 * np.mean(
      [len(s) for _, s in full])
  half_lengths = [e - s for _, segs in half for s, e in segs]
  full_lengths = [e - s for _, segs in full for s, e in segs]
  assert np.median(half_lengths) == pytest.approx(np.median(full_lengths),
                                                  rel=0.2)


def test_features_carry_class_and_context_evidence(statistics):
  rng = np.random.default_rng(5)
  cues = synthetic.make_class_cues(rng, 2, 64)
  duration, segments = 160.0, [(20.0, 30.0), (80.0, 84.8)]
  rgb, flow = synthetic.synthesize_features(rng, duration, segments, 1, cues)
  num_steps = synthetic.num_feature_steps(duration)
  assert rgb.shape == flow.shape == (num_steps, 64) == (100, 64)
  times = (np.arange(num_steps) + 0.5) * 1.6  # Feature centres.
  inside = np.zeros(num_steps, bool)
  before = np.zeros(num_steps, bool)
  after = np.zeros(num_steps, bool)
  for start, end in segments:
    inside |= (times > start + 0.8) & (times < end - 0.8)
    context = np.clip(0.5 * (end - start), 1.6, 6.4)
    before |= (times > start - context + 0.8) & (times < start - 0.8)
    after |= (times > end + 0.8) & (times < end + context - 0.8)
  background = ~(inside | before | after)

  def projection(features, cue):
    return features @ cue / np.linalg.norm(cue)

  # The class prototype shows inside actions and not elsewhere.
  for features, cue in ((rgb, cues.rgb[1]), (flow, cues.flow[1])):
    p = projection(features, cue)
    assert p[inside].mean() > p[background].mean() + 4.0
  # The other class's prototype does not.
  assert abs(projection(rgb, cues.rgb[0])[inside].mean()) < 3.0
  # Distinct before / after cues.
  assert (projection(rgb, cues.rgb_before[1])[before].mean() >
          projection(rgb, cues.rgb_before[1])[after].mean() + 2.0)
  assert (projection(flow, cues.flow_after[1])[after].mean() >
          projection(flow, cues.flow_after[1])[before].mean() + 2.0)
  # Temporally smooth noise: background steps correlate with their neighbours.
  noise = rgb[background] - rgb[background].mean(axis=0)
  lag1 = np.mean(noise[1:] * noise[:-1]) / np.mean(noise * noise)
  assert 0.4 < lag1 < 0.9


def test_generate_is_deterministic_and_in_actionformer_layout(tmp_path):
  kwargs = dict(num_train=3, num_test=2, stream_dim=8, seed=11,
                duration_scale=0.3)
  counts = synthetic.generate(str(tmp_path / 'a'), **kwargs)
  synthetic.generate(str(tmp_path / 'b'), **kwargs)
  synthetic.generate(str(tmp_path / 'c'), **dict(kwargs, seed=12))
  assert counts['train']['videos'] == 3 and counts['test']['videos'] == 2
  files = util.listing(str(tmp_path / 'a'))
  assert files == util.listing(str(tmp_path / 'b'))
  assert files == ['annotations.json'] + [
      'features/synthetic_%s_%04d.npy' % (subset, i)
      for subset, n in (('test', 2), ('train', 3)) for i in range(n)]
  for name in files:
    with open(tmp_path / 'a' / name, 'rb') as fa, open(
        tmp_path / 'b' / name, 'rb') as fb:
      assert fa.read() == fb.read(), name
  with open(tmp_path / 'a' / 'features' / 'synthetic_train_0000.npy',
            'rb') as fa, open(
                tmp_path / 'c' / 'features' / 'synthetic_train_0000.npy',
                'rb') as fc:
    assert fa.read() != fc.read()

  with open(tmp_path / 'a' / 'annotations.json') as f:
    data = json.load(f)
  assert data['feature_info']['stride_frames'] == 16
  database = data['database']
  assert sorted(v['subset'] for v in database.values()) == ['test'] * 2 + [
      'train'] * 3
  label_ids = {}
  for video_id, entry in database.items():
    features = np.load(tmp_path / 'a' / 'features' / (video_id + '.npy'))
    assert features.dtype == np.float32 and features.shape[1] == 16
    assert features.shape[0] == feature_util.expected_num_steps(
        entry['duration'], entry['fps'], 16, 16)
    assert entry['fps'] == 10.0
    for annotation in entry['annotations']:
      start, end = annotation['segment']
      assert 0 <= start < end <= entry['duration']
      assert annotation['label'] in synthetic.CLASS_ORDER[:5]
      label_ids[annotation['label']] = annotation['label_id']
  # 0-based ids in alphabetical order, as the converter's label map expects.
  alphabetical = sorted(synthetic.CLASS_ORDER[:5])
  assert label_ids == {name: alphabetical.index(name) for name in label_ids}


def test_generate_replaces_only_earlier_synthetic_output(tmp_path):
  target = tmp_path / 'data'
  synthetic.generate(str(target), num_train=1, num_test=1, stream_dim=4,
                     duration_scale=0.2)
  (target / 'records').mkdir()  # E.g. converted records: replaced as well.
  (target / 'records' / 'train.tfrecord').write_text('old')
  synthetic.generate(str(target), num_train=2, num_test=0, stream_dim=4,
                     duration_scale=0.2)
  assert util.listing(str(target)) == [
      'annotations.json', 'features/synthetic_train_0000.npy',
      'features/synthetic_train_0001.npy']
  other = tmp_path / 'precious'
  other.mkdir()
  (other / 'notes.txt').write_text('keep me')
  with pytest.raises(ValueError, match='not an earlier synthetic dataset'):
    synthetic.generate(str(other), num_train=1, num_test=0, stream_dim=4)
  assert (other / 'notes.txt').read_text() == 'keep me'
  assert sorted(os.listdir(tmp_path)) == ['data', 'precious']


def test_bad_arguments():
  with pytest.raises(ValueError, match='num_classes must be within 1..20'):
    synthetic.choose_classes(synthetic.load_statistics(), num_classes=21)
  with pytest.raises(ValueError, match='unknown THUMOS class names Running'):
    synthetic.choose_classes(synthetic.load_statistics(),
                             class_names=['Running'])
  assert synthetic.choose_classes(synthetic.load_statistics(),
                                  class_names=['Diving', 'Billiards']) == [
                                      'Diving', 'Billiards']


def test_tool_error_is_one_line(tmp_path):
  result = subprocess.run(
      [sys.executable, TOOL, '--output_dir=%s' % (tmp_path / 'x'),
       '--stream_dim=0'], capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      'make_synthetic_dataset: error: stream_dim must be within 1..4096, got 0')
  assert 'Traceback' not in result.stderr
  assert os.listdir(tmp_path) == []


def test_activitynet_profile_statistics_and_label_map(tmp_path):
  from tal_detection.utils import label_map_util
  output = str(tmp_path / 'anet')
  counts = synthetic.generate(output, num_train=400, num_test=2, stream_dim=2,
                              seed=3, duration_scale=1.0,
                              profile='activitynet')
  with open(os.path.join(output, 'annotations.json')) as f:
    annotations = json.load(f)
  assert annotations['version'] == 'synthetic-activitynet-like-v1'
  assert annotations['feature_info']['classes'] == [
      'activity_%03d' % i for i in range(200)]
  # Every class is in the label map, ids in name order, even those no video
  # of a small set holds.
  label_map = label_map_util.get_label_map_dict(
      os.path.join(output, synthetic.LABEL_MAP_FILENAME))
  assert label_map == {'activity_%03d' % i: i + 1 for i in range(200)}
  train = [v for v in annotations['database'].values()
           if v['subset'] == 'train']
  instances = [len(v['annotations']) for v in train]
  assert counts['train']['instances'] == sum(instances)
  # 1 + Poisson(0.5): mean 1.5; 36% background; long actions.
  assert 1.35 <= np.mean(instances) <= 1.65 and max(instances) <= 4
  background = [synthetic.background_fraction(
      v['duration'], [a['segment'] for a in v['annotations']]) for v in train]
  assert 0.31 <= np.mean(background) <= 0.41
  relative = [(a['segment'][1] - a['segment'][0]) / v['duration']
              for v in train for a in v['annotations']]
  assert 0.3 <= np.median(relative) <= 0.55
  durations = [v['duration'] for v in train]
  assert 30 <= min(durations) and max(durations) <= 240
  # 400 videos, balanced: every class twice.
  labels = [v['annotations'][0]['label'] for v in train]
  assert len(set(labels)) == 200
  # One class per video; segments do not overlap.
  for video in train:
    assert len({a['label'] for a in video['annotations']}) == 1
    segments = sorted(a['segment'] for a in video['annotations'])
    assert all(a[1] <= b[0] for a, b in zip(segments, segments[1:]))
  with pytest.raises(ValueError, match='class_names picks THUMOS classes'):
    synthetic.generate(str(tmp_path / 'x'), class_names=['Diving'],
                       profile='activitynet')
  with pytest.raises(ValueError, match='profile must be one of'):
    synthetic.generate(str(tmp_path / 'x'), profile='kinetics')


# --- Profile thumos14_hard ---------------------------------------------------

HARD = synthetic.HARD_PROFILE


def _real_clipped(entry):
  """The real segments as the converter keeps them, computed by hand here."""
  duration = entry['duration']
  return [(a['label'], a['segment'][0], min(a['segment'][1], duration))
          for a in entry['annotations'] if a['segment'][0] < duration]


def test_hard_profile_selects_the_real_subsets():
  real = synthetic.load_thumos14_groundtruth()
  chosen = synthetic.select_hard_videos(real)
  assert len(chosen['train']) == 200 and len(chosen['test']) == 212
  assert all(real[v]['subset'] == 'Validation' for v in chosen['train'])
  assert all(real[v]['subset'] == 'Test' for v in chosen['test'])
  assert chosen['train'] == sorted(chosen['train'])
  small = synthetic.select_hard_videos(real, 3, 2)
  assert small == {'train': chosen['train'][:3], 'test': chosen['test'][:2]}
  # 6365 real instances, 30 start after their video's end and are dropped.
  kept = [synthetic.clip_segments(e['duration'], e['annotations'])
          for e in real.values()]
  assert sum(map(len, kept)) == 6365 - 30
  assert max(map(len, kept)) == 218
  assert {round(e['fps'], 2) for e in real.values()} == {24.0, 25.0, 29.97,
                                                         30.0}
  with pytest.raises(ValueError, match='has 212 Test videos, asked for 213'):
    synthetic.select_hard_videos(real, 1, 213)


def test_clip_segments_by_hand():
  annotations = [{'label': 'A', 'segment': [1.0, 2.0]},
                 {'label': 'B', 'segment': [9.0, 12.5]},  # Clipped at 10.
                 {'label': 'A', 'segment': [10.0, 11.0]},  # Starts at end.
                 {'label': 'B', 'segment': [-1.0, 0.5]}]  # Clipped at 0.
  assert synthetic.clip_segments(10.0, annotations) == [
      ('A', 1.0, 2.0), ('B', 9.0, 10.0), ('B', 0.0, 0.5)]


def test_hard_ground_truth_is_the_real_clipped_times(tmp_path):
  out = str(tmp_path / 'hard')
  counts = synthetic.generate(out, num_train=4, num_test=3, stream_dim=4,
                              profile=HARD)
  real = synthetic.load_thumos14_groundtruth()
  chosen = synthetic.select_hard_videos(real, 4, 3)
  with open(os.path.join(out, 'annotations.json')) as f:
    data = json.load(f)
  assert data['version'] == 'synthetic-thumos14-hard-v1'
  database = data['database']
  assert sorted(database) == sorted(chosen['train'] + chosen['test'])
  labels = sorted({a['label'] for e in real.values()
                   for a in e['annotations']})
  assert len(labels) == 20 and data['feature_info']['classes'] == labels
  for subset in ('train', 'test'):
    assert counts[subset]['videos'] == len(chosen[subset])
    instances = 0
    for video_id in chosen[subset]:
      entry, source = database[video_id], real[video_id]
      assert entry['subset'] == subset
      assert entry['duration'] == source['duration']
      assert entry['fps'] == source['fps']
      assert [(a['label'], a['segment'][0], a['segment'][1])
              for a in entry['annotations']] == _real_clipped(source)
      assert all(a['label_id'] == labels.index(a['label'])
                 for a in entry['annotations'])
      instances += len(entry['annotations'])
      features = np.load(os.path.join(out, 'features', video_id + '.npy'))
      assert features.shape == (feature_util.expected_num_steps(
          entry['duration'], entry['fps'], 48, 48), 8)
    assert counts[subset]['instances'] == instances
  from tal_detection.utils import label_map_util
  assert label_map_util.get_label_map_dict(
      os.path.join(out, 'label_map.pbtxt')) == {
          name: i + 1 for i, name in enumerate(labels)}


def test_hard_profile_is_reproducible_and_prefix_stable(tmp_path):
  kwargs = dict(num_train=2, num_test=1, stream_dim=4, profile=HARD, seed=5)
  synthetic.generate(str(tmp_path / 'a'), **kwargs)
  synthetic.generate(str(tmp_path / 'b'), **kwargs)
  synthetic.generate(str(tmp_path / 'c'), **dict(kwargs, seed=6))
  synthetic.generate(str(tmp_path / 'd'), **dict(kwargs, num_train=3))
  files = util.listing(str(tmp_path / 'a'))
  assert files == util.listing(str(tmp_path / 'b'))
  for name in files:
    with open(tmp_path / 'a' / name, 'rb') as fa, open(
        tmp_path / 'b' / name, 'rb') as fb:
      assert fa.read() == fb.read(), name
  for name in files:
    if name.endswith('.npy'):
      a = np.load(tmp_path / 'a' / name)
      assert not np.array_equal(a, np.load(tmp_path / 'c' / name))
      # A video's features do not depend on how many others are written.
      np.testing.assert_array_equal(a, np.load(tmp_path / 'd' / name))


def test_hard_actionformer_rate_layout(tmp_path):
  out = str(tmp_path / 'af')
  synthetic.generate(out, num_train=1, num_test=1, stream_dim=6,
                     profile=HARD, feature_rate='actionformer')
  with open(os.path.join(out, 'annotations.json')) as f:
    data = json.load(f)
  info = data['feature_info']
  assert (info['stride_frames'], info['window_frames']) == (4, 16)
  for video_id, entry in data['database'].items():
    features = np.load(os.path.join(out, 'features', video_id + '.npy'))
    # T ~ frames / 4: 7.5 features/s at 30 fps.
    assert features.shape == (feature_util.expected_num_steps(
        entry['duration'], entry['fps'], 4, 16), 12)
    assert abs(features.shape[0] - entry['duration'] * entry['fps'] / 4) < 4


def test_hard_profile_bad_arguments(tmp_path):
  out = str(tmp_path / 'x')
  with pytest.raises(ValueError, match='num_classes / class_names'):
    synthetic.generate(out, profile=HARD, num_classes=5)
  with pytest.raises(ValueError, match='duration_scale is not allowed'):
    synthetic.generate(out, profile=HARD, duration_scale=1.0)
  with pytest.raises(ValueError, match='feature_rate must be one of'):
    synthetic.generate(out, profile=HARD, feature_rate='fast')
  with pytest.raises(ValueError, match='unknown thumos14_hard parameters'):
    synthetic.generate(out, profile=HARD, hard_params={'snr': 1})
  with pytest.raises(ValueError, match='for profile thumos14_hard only'):
    synthetic.generate(out, feature_rate='paper')
  assert not os.path.exists(out)


def _hard_video(seed, segments, dim, **overrides):
  rng = np.random.default_rng(seed)
  prototypes = synthetic.make_phase_prototypes(
      np.random.default_rng(1), ['Diving', 'CliffDiving', 'Billiards'], dim,
      0.3, 0.5)
  return synthetic.generate_thumos14_hard_video(
      rng, 600.0, 30.0, segments, prototypes, [0], **overrides)


def test_hard_noise_statistics_match_the_claims():
  clean = dict(scene_std=0.0, shot_std=0.0, distractor_seconds=1e9)
  rgb, flow = _hard_video(0, [], 64, **clean)
  assert rgb.shape == (375, 64)  # 600 s at 30 fps, 48-frame steps.
  rho = np.exp(-(4 / 30.0) / 1.5)
  _, lag1 = synthetic.block_mean_noise_statistics(rho, 12)
  for features in (rgb, flow):
    assert features.std() == pytest.approx(1.0, rel=0.05)
    centred = features - features.mean(axis=0)
    measured = np.mean(centred[1:] * centred[:-1]) / np.mean(centred**2)
    assert measured == pytest.approx(lag1, abs=0.05)
  assert 0.4 < lag1 < 0.6
  # Window-mean statistics by hand: n = 2, rho = 0.5: variance (2 + 2 rho) / 4,
  # lag-1 covariance (rho^1 + 2 rho^2 + rho^3) / 4.
  variance, correlation = synthetic.block_mean_noise_statistics(0.5, 2)
  assert variance == pytest.approx(0.75)
  assert correlation == pytest.approx((0.5 + 0.5 + 0.125) / 4 / 0.75)
  # Scene and shots add their variance.
  rgb, _ = _hard_video(0, [], 64, distractor_seconds=1e9)
  assert rgb.var() == pytest.approx(1.0 + 0.25 + 0.25, rel=0.15)


@pytest.mark.parametrize('dim', [16, 256])
def test_hard_evidence_has_the_claimed_snr_and_stays_inside(dim):
  clean = dict(amplitude_sigma=0.0, instance_jitter=0.0,
               edge_level_range=(1.0, 1.0), distractor_seconds=1e9,
               flow_modulation=0.0)
  segment = (0, 100.0, 160.0)
  with_action = _hard_video(3, [segment], dim, **clean)
  without = _hard_video(3, [], dim, **clean)
  starts = np.arange(with_action[0].shape[0]) * 1.6
  inside = (starts >= 100.0) & (starts + 1.6 <= 160.0)
  outside = (starts + 1.6 <= 100.0) | (starts >= 160.0)
  for a, b in zip(with_action, without):
    evidence = a - b  # Same noise: the difference is the evidence alone.
    assert np.all(evidence[outside] == 0.0)
    energy = np.sum(evidence[inside]**2, axis=1)
    # Squared norm 6 noise variances whatever D (cross-fades dip a little).
    assert np.mean(energy) == pytest.approx(6.0, rel=0.2)
    assert np.sqrt(np.mean(evidence[inside]**2)) < 0.7  # Per value: weak.


def test_hard_prototypes_share_evidence_within_confusable_groups():
  rgb, flow = synthetic.make_phase_prototypes(
      np.random.default_rng(0), ['CliffDiving', 'Diving', 'Billiards'], 20000,
      0.3, 0.5)
  def cosine(a, b):
    return a @ b / np.linalg.norm(a) / np.linalg.norm(b)
  for prototypes in (rgb, flow):
    # Generic 0.3 + shared 0.7 * 0.5 within the group; generic only across.
    assert cosine(prototypes[0, 1], prototypes[1, 1]) == pytest.approx(
        0.65, abs=0.03)
    assert cosine(prototypes[0, 1], prototypes[2, 1]) == pytest.approx(
        0.3, abs=0.03)
    assert cosine(prototypes[0, 0], prototypes[0, 1]) == pytest.approx(
        0.0, abs=0.03)
    np.testing.assert_allclose(np.mean(prototypes**2, axis=2), 1.0, rtol=1e-6)


def _load_dataset(directory):
  with open(os.path.join(directory, 'annotations.json')) as f:
    data = json.load(f)
  info = data['feature_info']
  videos = []
  for video_id, entry in sorted(data['database'].items()):
    features = np.load(os.path.join(directory, 'features', video_id + '.npy'))
    starts = np.arange(len(features)) * info['stride_frames'] / entry['fps']
    videos.append((entry['subset'], features, starts,
                   starts + info['window_frames'] / entry['fps'],
                   [a['segment'] for a in entry['annotations']],
                   entry['duration']))
  return videos


def _region_samples(videos, subset, rng, region):
  """Mean features of each action's region and of a background control.

  region 'context': the steps within s/2 before the start and after the end
  (s = the action's length) that overlap no action; 'inside': the steps
  inside. The control is the same region of an equally long interval placed
  at random where it and its surroundings hold no action.
  """
  positives, negatives = [], []
  for video_subset, features, starts, ends, segments, duration in videos:
    if video_subset != subset:
      continue
    busy = np.zeros(len(starts), bool)
    for s, e in segments:
      busy |= (ends > s) & (starts < e)

    def mean(s, e):
      half = 0.5 * (e - s)
      if region == 'context':
        mask = (((starts >= s - half) & (ends <= s)) |
                ((starts >= e) & (ends <= e + half))) & ~busy
      else:
        mask = (starts >= s) & (ends <= e)
      return features[mask].mean(axis=0) if mask.any() else None

    for s, e in segments:
      positive = mean(s, e)
      if positive is None:
        continue
      length = e - s
      for _ in range(50):
        a = rng.uniform(0.0, max(duration - length, 1e-6))
        if ((ends > a - length / 2) & (starts < a + 1.5 * length) &
            busy).any():
          continue
        negative = mean(a, a + length)
        if negative is not None:
          positives.append(positive)
          negatives.append(negative)
          break
  return np.array(positives), np.array(negatives)


def _auc(positive_scores, negative_scores):
  ranks = np.concatenate([positive_scores, negative_scores]).argsort(
  ).argsort() + 1.0
  n = len(positive_scores)
  return (ranks[:n].sum() - n * (n + 1) / 2) / (n * len(negative_scores))


def _linear_auc(videos, region):
  """Test AUC of a Fisher discriminant fitted on the train videos."""
  rng = np.random.default_rng(0)
  positives, negatives = _region_samples(videos, 'train', rng, region)
  test_positives, test_negatives = _region_samples(videos, 'test', rng, region)
  assert len(positives) >= 80 and len(test_positives) >= 80
  scatter = np.cov(np.concatenate([positives - positives.mean(axis=0),
                                   negatives - negatives.mean(axis=0)]).T)
  weights = np.linalg.solve(scatter + 1e-3 * np.eye(len(scatter)),
                            positives.mean(axis=0) - negatives.mean(axis=0))
  return _auc(test_positives @ weights, test_negatives @ weights)


def test_hard_profile_has_no_context_shortcut(tmp_path):
  hard = str(tmp_path / 'hard')
  synthetic.generate(hard, num_train=60, num_test=60, stream_dim=16,
                     profile=HARD)
  videos = _load_dataset(hard)
  # The surroundings of actions look like any background...
  assert 0.4 <= _linear_auc(videos, 'context') <= 0.6
  # ... while the same discriminant finds the actions themselves.
  assert _linear_auc(videos, 'inside') > 0.7
  # The check has power: the thumos14 profile's before/after cues show.
  easy = str(tmp_path / 'easy')
  synthetic.generate(easy, num_train=60, num_test=60, stream_dim=16)
  assert _linear_auc(_load_dataset(easy), 'context') > 0.75


def test_tool_writes_the_hard_profile_and_checks_its_flags(tmp_path):
  out = tmp_path / 'hard'
  result = subprocess.run(
      [sys.executable, TOOL, '--output_dir=%s' % out, '--profile=' + HARD,
       '--num_train=1', '--num_test=1', '--stream_dim=4',
       '--feature_rate=actionformer', '--signal_to_noise=12'],
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  assert '--stride_frames=4 --window_frames=16' in result.stderr
  with open(out / 'annotations.json') as f:
    info = json.load(f)['feature_info']
  assert info['parameters']['signal_to_noise'] == 12.0
  assert info['feature_rate'] == 'actionformer'
  result = subprocess.run(
      [sys.executable, TOOL, '--output_dir=%s' % (tmp_path / 'x'),
       '--signal_to_noise=12'], capture_output=True, text=True, timeout=300)
  assert result.returncode == 1
  assert result.stderr.strip().splitlines()[-1] == (
      'make_synthetic_dataset: error: --signal_to_noise is for '
      '--profile=thumos14_hard')
  assert not os.path.exists(tmp_path / 'x')
