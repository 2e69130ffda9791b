"""Tests of tools/inspect_dataset.py: the report of records and of a json.

The tool runs in subprocesses (all at once); its figures are compared with
anchor_coverage's, whose values are checked by hand in test_anchor_coverage.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tal_detection.dataset_tools import anchor_coverage
from tal_detection.dataset_tools import tf_record_util

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO_ROOT, 'tools', 'inspect_dataset.py')
CONFIG = os.path.join(REPO_ROOT, 'configs', 'synthetic_tal_net.config')
# The config's anchors: scales 1 2 3 4 5 6 8 11 16, stride 1, offset 0.5.
SCALES = [1, 2, 3, 4, 5, 6, 8, 11, 16]


def _write_records(path):
  """Two videos at fps 10, stride 4, offset 8: t s -> (10 t - 8) / 4 + 0.5."""
  with tf_record_util.ShardedRecordWriter(path, 1) as writer:
    # [2, 3.6] s -> [3.5, 7.5] steps (scale 4 exact); [0.8, 20.8] s ->
    # [0.5, 50.5] (best 16 / 50); [10.0, 10.2] s -> [23.5, 24] (half a step:
    # the scale-1 anchor at 23.5 gives 0.5).
    for video_id, num_steps, seconds in [
        ('v1', 60, [[2.0, 3.6], [0.8, 20.8]]), ('v2', 30, [[10.0, 10.2]])]:
      example = tf_record_util.make_sequence_example(
          video_id, {'rgb': np.zeros([num_steps, 4], np.float32)},
          fps=10.0, stride_frames=4.0, offset_frames=8.0,
          duration=num_steps * 0.4, segments_seconds=np.array(seconds),
          label_ids=np.ones([len(seconds)], np.int64),
          label_texts=['a'] * len(seconds))
      writer.write(example.SerializeToString())


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  base = tmp_path_factory.mktemp('inspect')
  records = str(base / 'train.tfrecord')
  _write_records(records)
  annotations = str(base / 'annotations.json')
  with open(annotations, 'w') as f:
    json.dump({'database': {'v': {
        'subset': 'Validation', 'duration': 10.0, 'fps': 30.0,
        'annotations': [{'label': 'A', 'segment': [2.0, 4.0]},
                        {'label': 'A', 'segment': [1.0, 9.0]}]}}}, f)
  results = str(base / 'out' / 'coverage.json')
  argv = {
      'records': ['--input_path=' + records],
      'json': ['--annotations_json=' + annotations, '--subset=Validation',
               '--resample_stride_frames=48', '--resample_window_frames=48',
               '--results_json=' + results],
      'resample_without_json': ['--input_path=' + records,
                                '--resample_stride_frames=48',
                                '--resample_window_frames=48'],
  }
  processes = {
      name: subprocess.Popen(
          [sys.executable, TOOL, '--pipeline_config_path=' + CONFIG] + args,
          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for name, args in argv.items()}
  outputs = {name: process.communicate(timeout=300) + (process.returncode,)
             for name, process in processes.items()}
  return outputs, results


def test_records_report_ends_with_the_coverage_line(runs):
  stdout, stderr, returncode = runs[0]['records']
  assert returncode == 0, stderr
  lines = stdout.strip().splitlines()
  # 3 instances: 1.0, 16 / 50 and 0.5 -> 2 of 3 at 0.5, 1 of 3 at 0.7.
  assert lines[-1] == 'coverage@0.5=0.6667 coverage@0.7=0.3333'
  assert lines[0] == ('2 videos, 3 ground-truth instances; anchor scales '
                      '1 2 3 4 5 6 8 11 16 (steps)')
  assert 'shorter than one step: 0.3333' in lines
  assert lines[-2].startswith('anchor coverage LOW: only 66.7% of 3 '
                              'instances')
  assert '33.3% are longer than the largest anchor (16 steps)' in lines[-2]


def test_json_report_covers_both_time_bases(runs):
  outputs, results_path = runs
  stdout, stderr, returncode = outputs['json']
  assert returncode == 0, stderr
  with open(results_path) as f:
    results = json.load(f)
  assert results['anchors'] == {'scales': SCALES, 'stride': 1.0,
                                'offset': 0.5}
  for name, resample in [('original', {}),
                         ('resampled', {'resample_stride_frames': 48,
                                        'resample_window_frames': 48})]:
    expected = anchor_coverage.coverage_report(
        anchor_coverage.videos_from_activitynet_json(
            results['annotations_json'], 'Validation', 4, 16, **resample),
        SCALES)
    assert results['reports'][name]['coverage_05'] == expected['coverage_05']
    assert results['reports'][name]['coverage_07'] == expected['coverage_07']
  # Original: [13.5, 28.5] (15 steps; scale 16 gives 15 / 16) and [6, 66]
  # (16 / 60) -> 0.5 and 0.5. Resampled (6 steps): [1.25, 2.5] (the scale-2
  # anchor at 1.5, [0.5, 2.5], gives 1.25 / 2) and [0.625, 5.625] (the
  # scale-5 anchor at 3.5, [1, 6], gives 4.625 / 5.25) -> 1 and 0.5.
  assert '== original: stride_frames=4, window_frames=16' in stdout
  assert '== resampled: stride_frames=48, window_frames=48' in stdout
  assert stdout.strip().splitlines()[-1] == (
      'coverage@0.5=1.0000 coverage@0.7=0.5000')
  assert 'coverage@0.5=0.5000 coverage@0.7=0.5000' in stdout


def test_resampling_flags_need_a_json(runs):
  stdout, stderr, returncode = runs[0]['resample_without_json']
  assert returncode == 1 and stdout == ''
  assert stderr.strip().splitlines()[-1] == (
      'inspect_dataset: error: --resample_stride_frames needs '
      '--annotations_json (records already carry their time base)')
