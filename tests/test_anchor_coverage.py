"""Tests of tal_detection/dataset_tools/anchor_coverage.py against hand values."""
import json
import os

import numpy as np

from tal_detection.anchor_generators import multiscale_temporal_anchor_generator
from tal_detection.dataset_tools import anchor_coverage
from tal_detection.dataset_tools import tf_record_util
from tal_detection.protos import pipeline_pb2

import tal_net_test_util


def test_best_tiou_per_scale_hand_values():
  # Segment [2, 4] (centre 3): the scale-2 anchors centred at 2.5 and 3.5
  # overlap it by 1.5 of 2.5 = 0.6; the scale-4 anchor at 2.5 or 3.5 covers
  # it, 2 / 4 = 0.5.
  np.testing.assert_allclose(
      anchor_coverage.best_tiou_per_scale([[2.0, 4.0]], 10, [2, 4]),
      [[0.6, 0.5]])
  # Near the video start the nearest centre is step 0's, 0.5: [0, 0.4] in
  # [-0.5, 1.5] is 0.4 / 2; a scale-0.4 anchor at 0.5 covers [0.3, 0.7]:
  # 0.1 / 0.7.
  np.testing.assert_allclose(
      anchor_coverage.best_tiou_per_scale([[0.0, 0.4]], 10, [2, 0.4]),
      [[0.2, 0.1 / 0.7]])
  # Stride 2, offset 1 (centres 1, 3, 5): [3.5, 4.5] lies between two centres,
  # the scale-2 anchors [2, 4] and [4, 6] overlap it by 0.5 of 2.5; [7, 9]
  # lies past the last centre (T = 3), which [4, 6] does not reach.
  np.testing.assert_allclose(
      anchor_coverage.best_tiou_per_scale([[3.5, 4.5], [7.0, 9.0]], 3, [2],
                                          stride=2.0, offset=1.0),
      [[0.2], [0.0]])


def test_best_tiou_per_scale_equals_brute_force_over_generated_anchors():
  scales, stride, offset, num_steps = [1, 2.5, 4, 9], 1.5, 0.25, 23
  anchors = multiscale_temporal_anchor_generator.MultiscaleTemporalAnchorGenerator(
      scales, stride=stride, offset=offset).generate(num_steps).get().numpy()
  anchors = anchors.astype(np.float64).reshape([num_steps, len(scales), 2])
  rng = np.random.RandomState(0)
  starts = rng.uniform(-2, 36, 200)
  segments = np.stack([starts, starts + rng.uniform(0.1, 15, 200)], axis=1)
  inter = np.clip(np.minimum(segments[:, None, None, 1], anchors[..., 1]) -
                  np.maximum(segments[:, None, None, 0], anchors[..., 0]), 0,
                  None)
  union = ((segments[:, 1] - segments[:, 0])[:, None, None] +
           (anchors[..., 1] - anchors[..., 0]) - inter)
  expected = (inter / union).max(axis=1)
  np.testing.assert_allclose(
      anchor_coverage.best_tiou_per_scale(segments, num_steps, scales, stride,
                                          offset), expected, atol=1e-6)


def _two_videos():
  # Scales 1 and 4, stride 1, offset 0.5, centres i + 0.5.
  # [1.5, 5.5]: scale 4 at 3.5 exact (1.0); [3, 3.5]: scale 1 at 3.5 gives
  # 0.5 / 1 (0.5); [0, 20]: 4 / 20 = 0.2 (too long); [10, 11] exact for
  # scale 1.
  return [(np.array([[1.5, 5.5], [3.0, 3.5]]), 12),
          (np.array([[0.0, 20.0], [10.0, 11.0]]), 20)]


def test_coverage_report_hand_values():
  report = anchor_coverage.coverage_report(_two_videos(), [1, 4])
  assert report['num_videos'] == 2 and report['num_instances'] == 4
  assert report['coverage_05'] == 0.75
  assert report['coverage_07'] == 0.5
  assert report['best_matches_per_scale'] == [2, 1]
  assert report['matches_07_per_scale'] == [1, 1]
  assert report['shorter_than_one_step'] == 0.25
  assert report['missed_too_long'] == 0.25
  assert report['missed_too_short'] == 0.0
  # Lengths 4, 0.5, 20, 1: median 2.5.
  assert report['length_percentiles'][50] == 2.5
  assert report['length_percentiles'][0] == 0.5
  assert report['length_percentiles'][100] == 20.0
  assert report['warn']
  assert report['verdict'] == (
      'anchor coverage LOW: only 75.0% of 4 instances have an anchor at tIoU '
      '>= 0.5 (50.0% at 0.7); 25.0% are longer than the largest anchor (4 '
      'steps): coarser steps (create_tal_tf_record.py '
      '--resample_stride_frames) or larger scales')
  lines = anchor_coverage.format_report(report)
  assert lines[-1] == 'coverage@0.5=0.7500 coverage@0.7=0.5000'
  assert lines[-2] == report['verdict']
  ok = anchor_coverage.coverage_report(_two_videos()[:1], [1, 4])
  assert not ok['warn'] and ok['coverage_05'] == 1.0
  assert ok['verdict'].startswith('anchor coverage OK: 100.0% of 2 instances')


def _write_records(path, videos):
  with tf_record_util.ShardedRecordWriter(path, 1) as writer:
    for video_id, num_steps, seconds in videos:
      example = tf_record_util.make_sequence_example(
          video_id, {'rgb': np.zeros([num_steps, 6], np.float32),
                     'flow': np.zeros([num_steps, 5], np.float32)},
          fps=10.0, stride_frames=4.0, offset_frames=8.0,
          duration=num_steps * 0.4, segments_seconds=np.array(seconds),
          label_ids=np.ones([len(seconds)], np.int64),
          label_texts=['a'] * len(seconds))
      writer.write(example.SerializeToString())


def test_videos_from_records_converts_seconds_with_time_util(tmp_path):
  path = str(tmp_path / 'a.tfrecord')
  # fps 10, stride 4, offset 8: t -> (10 t - 8) / 4 + 0.5; 2.0 s -> 3.5,
  # 3.6 s -> 7.5; [0.1, 9.0] s -> [-1, 21] clipped to [0, 20].
  _write_records(path, [('v1', 20, [[2.0, 3.6], [0.1, 9.0]]),
                        ('v2', 5, [])])
  videos = anchor_coverage.videos_from_records([path])
  assert [num for _, num in videos] == [20, 5]
  np.testing.assert_allclose(videos[0][0], [[3.5, 7.5], [0.0, 20.0]],
                             atol=1e-6)
  assert videos[1][0].shape == (0, 2)


def test_videos_from_activitynet_json_follows_the_converter(tmp_path):
  path = str(tmp_path / 'a.json')
  with open(path, 'w') as f:
    json.dump({'database': {
        'v': {'subset': 'Validation', 'duration': 10.0, 'fps': 30.0,
              'annotations': [
                  {'label': 'A', 'segment': [2.0, 4.0]},
                  {'label': 'A', 'segment': [9.0, 12.0]},
                  {'label': 'A', 'segment': [10.5, 11.0]}]},
        'w': {'subset': 'Test', 'duration': 5.0, 'fps': 30.0,
              'annotations': []}}}, f)
  # 300 frames: T = (300 - 16) // 4 + 1 = 72; 2 s -> (60 - 8) / 4 + 0.5 =
  # 13.5; [9, 12] clipped to [9, 10] s -> [66, 73.5] -> end clipped to 72;
  # [10.5, 11] starts after the end: skipped.
  (segments, num_steps), = anchor_coverage.videos_from_activitynet_json(
      path, 'val', 4, 16)
  assert num_steps == 72
  np.testing.assert_allclose(segments, [[13.5, 28.5], [66.0, 72.0]])
  # Resampled to 48 / 48: span 71 * 4 + 16 = 300 frames = 6 windows;
  # 2 s -> (60 - 24) / 48 + 0.5 = 1.25, 4 s -> 2.5, 9 s -> 5.625.
  (segments, num_steps), = anchor_coverage.videos_from_activitynet_json(
      path, 'val', 4, 16, 48, 48)
  assert num_steps == 6
  np.testing.assert_allclose(segments, [[1.25, 2.5], [5.625, 6.0]])


def test_coverage_verdict_reads_the_training_records(tmp_path):
  path = str(tmp_path / 'train.tfrecord')
  # Steps: [2 s, 3.6 s] -> [3.5, 7.5], 4 steps: the scale-4 anchor at 5.5
  # matches exactly; [0.1 s, 9.0 s] -> [0, 20], 20 steps: at most 8 / 20.
  _write_records(path, [('v1', 20, [[2.0, 3.6], [0.1, 9.0]])])
  pipeline = pipeline_pb2.TrainEvalPipelineConfig()
  pipeline.model.CopyFrom(tal_net_test_util.tiny_model_config())
  pipeline.train_input_reader.tf_record_input_reader.input_path.append(path)
  verdict, warn = anchor_coverage.coverage_verdict(pipeline)
  assert warn
  assert verdict.startswith('anchor coverage LOW: only 50.0% of 2 instances')
  assert anchor_coverage.anchor_parameters(pipeline) == ([1, 2, 4, 8], 1.0,
                                                         0.5)


def test_thumos14_results_file_matches_the_tool_figures():
  path = os.path.join(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__))), 'results', 'coverage_thumos14.json')
  with open(path) as f:
    results = json.load(f)
  original = results['reports']['original']
  resampled = results['reports']['resampled']
  assert (original['stride_frames'], resampled['stride_frames']) == (4, 48)
  assert original['num_instances'] == resampled['num_instances']
  # Coarser steps bring the long THUMOS actions within the anchor scales.
  assert resampled['coverage_05'] > original['coverage_05']
  assert original['warn'] and not resampled['warn']
