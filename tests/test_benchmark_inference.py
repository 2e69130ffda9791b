"""The inference benchmark: tools/benchmark_inference.py over
tal_detection/benchmarks/inference.py (no timing assertions)."""
import json
import os
import subprocess
import sys

import pytest

from tal_detection.benchmarks import inference
from tal_detection.utils import config_util

import tal_net_test_util

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(_ROOT, 'tools', 'benchmark_inference.py')
SYNTHETIC_CONFIG = os.path.join(_ROOT, 'configs', 'synthetic_tal_net.config')


def _run_tool(*args):
  return subprocess.run([sys.executable, TOOL] + list(args),
                        capture_output=True, text=True, timeout=900,
                        check=False)


def _check_results(results, num_steps, stream_dims, quick_factors):
  assert results['quick'] is True
  assert results['num_steps'] == num_steps
  assert results['stream_dims'] == stream_dims
  for loader in ('tf2_signature', 'v1_session'):
    assert results['latency'][loader]['median_ms'] > 0
    assert results['latency'][loader]['runs'] == 3
  assert results['paper_latency_ms'] == 9.0
  model_flops = results['flops']
  total = model_flops['profiler']['total_float_ops']
  by_type = model_flops['profiler']['float_ops_by_op_type']
  assert sum(by_type.values()) == total
  assert model_flops['profiler_dense_float_ops'] == sum(
      by_type.get(t, 0) for t in ('Conv2D', 'MatMul', 'BiasAdd'))
  # Dense layers are nearly all of the work; elementwise ops add the rest.
  assert 0.9 * total < model_flops['profiler_dense_float_ops'] < total
  assert by_type['MatMul'] > 0 and by_type['Conv2D'] > by_type['MatMul']
  assert results['matmul']['gflops'] > 0
  assert results['ideal_latency_ms'] > 0
  assert results['fraction_of_matmul_peak'] > 0
  rows = results['scaling']['rows']
  assert [row['num_steps'] for row in rows] == [
      num_steps * f for f in quick_factors]
  for row in rows:
    assert row['median_ms'] > 0 and row['us_per_step'] > 0
    assert row['peak_rss_mib'] > 0 and row['peak_growth_mib'] >= 0
    assert row['memory_method'] and row['runs'] == 2
  assert results['training']['steps_per_s'] > 0
  assert results['training']['steps_timed'] == 2
  assert 'memory_method' in results
  assert results['machine']['cpu_count'] == os.cpu_count()


def test_quick_run_on_a_given_tiny_saved_model(tmp_path):
  # The export's pipeline.config (the synthetic config's training, a tiny
  # model) is what the tool trains on, found beside the version folder.
  pipeline = config_util.load_pipeline(SYNTHETIC_CONFIG)
  pipeline.model.CopyFrom(tal_net_test_util.tiny_model_config())
  version_dir, _ = inference.export_random_weights(pipeline, str(tmp_path), 0)
  output_path = tmp_path / 'results' / 'inference_benchmark.json'
  process = _run_tool('--quick', '--num_steps=40', '--matmul_size=64',
                      '--saved_model_dir=%s' % os.path.dirname(version_dir),
                      '--results_json=%s' % output_path)
  assert process.returncode == 0, process.stderr[-3000:]
  results = json.loads(output_path.read_text())
  _check_results(results, 40, {'features_rgb': 6, 'features_flow': 5},
                 (1, 2))
  assert results['model']['source'] == 'SavedModel %s' % version_dir
  assert results['model']['note'].endswith(os.path.join(
      str(tmp_path), 'exported', 'pipeline.config'))
  assert results['export_seconds'] == 0.0
  assert process.stdout == inference.format_report(
      results) + '\nWrote %s\n' % output_path
  assert '| matmul 64x64 float32 throughput (median) |' in process.stdout
  # No temporary files left beside the results.
  assert os.listdir(str(output_path.parent)) == [output_path.name]


@pytest.mark.slow
def test_quick_run_on_the_main_config(tmp_path):
  output_path = tmp_path / 'inference_benchmark.json'
  process = _run_tool('--quick', '--results_json', str(output_path))
  assert process.returncode == 0, process.stderr[-3000:]
  results = json.loads(output_path.read_text())
  _check_results(results, 188, {'features_rgb': 1024, 'features_flow': 1024},
                 (1, 2))
  assert 'random-initialised' in results['model']['source']
  assert 'fraction of matmul peak' in process.stdout


def test_missing_saved_model_fails_in_one_line(tmp_path):
  missing = str(tmp_path / 'nothing')
  process = _run_tool('--saved_model_dir', missing)
  assert process.returncode == 1
  assert process.stderr.strip().splitlines()[-1] == (
      'benchmark_inference: error: --saved_model_dir: %s: no such folder' %
      missing)


def test_bad_settings_fail_before_any_work():
  with pytest.raises(ValueError, match='^--num_steps: must exceed 16, got 16'):
    inference.Settings(num_steps=16).check()
  with pytest.raises(ValueError, match='^--repeats'):
    inference.Settings(repeats=0).check()
  process = _run_tool('--length_factors=1,x')
  assert process.returncode == 1
  assert process.stderr.strip().splitlines()[-1] == (
      'benchmark_inference: error: --length_factors: must be numbers, got 1,x')
