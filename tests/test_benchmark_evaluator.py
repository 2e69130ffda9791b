"""Smoke test of tools/benchmark_evaluator.py (small run; no timing assertions)."""
import json
import os
import subprocess
import sys

TOOL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    'tools', 'benchmark_evaluator.py')


def test_benchmark_runs_and_writes_results(tmp_path):
  output_path = tmp_path / 'benchmark.json'
  process = subprocess.run(
      [sys.executable, TOOL, '--num_detections', '8000', '--runs', '1',
       '--output', str(output_path)],
      capture_output=True, text=True, timeout=300, check=False)
  assert process.returncode == 0, process.stderr
  results = json.loads(output_path.read_text())
  assert json.loads(process.stdout) == results
  assert results['num_groundtruth'] == 3358
  assert results['num_videos'] == 212
  assert results['num_detections'] == 8000
  assert sorted(results['mAP'], key=float) == [
      '0.1', '0.2', '0.3', '0.4', '0.5', '0.6', '0.7']
  # Jittered ground truth: clearly better than chance, not perfect.
  assert 0.2 < results['mAP']['0.5'] < 1.0
  assert sorted(results['AR'], key=float) == ['10', '20', '50', '100', '200']
  assert all(v > 0.0 for v in results['median_seconds'].values())
