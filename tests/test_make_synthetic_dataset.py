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
