"""The evaluator benchmark: tal_detection/benchmarks/evaluator.py and a small run
of tools/benchmark_evaluator.py (no timing assertions)."""
import json
import os
import subprocess
import sys

import numpy as np

from tal_detection.benchmarks import evaluator
from tal_detection.metrics import activitynet_io

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(_ROOT, 'tools', 'benchmark_evaluator.py')
GROUNDTRUTH = os.path.join(_ROOT, 'tests', 'data', 'thumos14.json')


def test_make_detections_jitters_every_instance_then_adds_false_positives():
  groundtruth = activitynet_io.load_ground_truth(GROUNDTRUTH, 'Test')
  database = activitynet_io.load_json(GROUNDTRUTH)['database']
  durations = {v: float(x.get('duration', 0.0)) for v, x in database.items()}
  num_gt = groundtruth.labels.size
  made = evaluator.make_detections(groundtruth, durations, 2 * num_gt + 500, 2,
                                   seed=3)
  detections = [d for video in made['results'].values() for d in video]
  assert len(detections) == 2 * num_gt + 500
  assert set(made['results']) <= set(groundtruth.videos)
  assert {d['label'] for d in detections} <= set(groundtruth.class_names)
  for d in detections:
    start, end = d['segment']
    assert end > start and 0.0 <= d['score'] <= 1.0
  again = evaluator.make_detections(groundtruth, durations, 2 * num_gt + 500, 2,
                                    seed=3)
  assert again == made  # seeded
  # Fewer detections than copies: only jittered copies, no false positives.
  few = evaluator.make_detections(groundtruth, durations, 100, 2, seed=0)
  assert sum(len(v) for v in few['results'].values()) == 100


def test_run_scores_jittered_ground_truth_well_but_not_perfectly(tmp_path):
  results = evaluator.run(GROUNDTRUTH, 'Test', 8000, 2, runs=1, seed=0,
                          work_dir=str(tmp_path))
  assert results['num_groundtruth'] == 3358
  assert results['num_videos'] == 212
  assert results['num_detections'] == 8000
  assert sorted(results['mAP'], key=float) == [
      '0.1', '0.2', '0.3', '0.4', '0.5', '0.6', '0.7']
  assert 0.2 < results['mAP']['0.5'] < 1.0
  assert np.isclose(results['average_mAP'], np.mean(list(
      results['mAP'].values())))
  assert sorted(results['AR'], key=float) == ['10', '20', '50', '100', '200']
  assert all(v > 0.0 for v in results['median_seconds'].values())
  assert results['machine']['cpu_count'] == os.cpu_count()


def test_tool_prints_and_writes_the_same_results(tmp_path):
  output_path = tmp_path / 'benchmark.json'
  process = subprocess.run(
      [sys.executable, TOOL, '--num_detections', '8000', '--runs', '1',
       '--output', str(output_path)],
      capture_output=True, text=True, timeout=300, check=False)
  assert process.returncode == 0, process.stderr
  results = json.loads(output_path.read_text())
  assert json.loads(process.stdout) == results
  assert results['num_detections'] == 8000
  for key in ('platform', 'processor', 'cpu_count', 'python', 'numpy'):
    assert key in results['machine']  # the keys results/ has always had


def test_tool_reports_a_missing_ground_truth_in_one_line(tmp_path):
  missing = str(tmp_path / 'missing.json')
  process = subprocess.run([sys.executable, TOOL, '--groundtruth', missing],
                           capture_output=True, text=True, timeout=300,
                           check=False)
  assert process.returncode == 1
  assert process.stderr.splitlines() == [
      'benchmark_evaluator: error: %s: cannot read file (No such file or '
      'directory)' % missing]
