"""Smoke test of tools/benchmark_inference.py --quick (no timing assertions)."""
import json
import os
import subprocess
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(_ROOT, 'tools', 'benchmark_inference.py')
MAIN_CONFIG = os.path.join(_ROOT, 'configs', 'thumos14_i3d_tal_net.config')


# The tool defines absl flags (--quick, --seed) that other tools loaded by
# other test files define too; loading it in the pytest process would clash,
# so its functions are called in a subprocess.
_HAND_COUNT_SCRIPT = """
import importlib.util, json, sys
from tal_detection.utils import config_util
spec = importlib.util.spec_from_file_location('benchmark_inference', sys.argv[1])
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
model = config_util.get_configs_from_pipeline_file(sys.argv[2])['model']
print(json.dumps(tool.hand_count_flops(model, int(sys.argv[3]))))
"""


def test_hand_count_of_the_main_config():
  process = subprocess.run(
      [sys.executable, '-c', _HAND_COUNT_SCRIPT, TOOL, MAIN_CONFIG, '188'],
      capture_output=True, text=True, timeout=300, check=False)
  assert process.returncode == 0, process.stderr[-3000:]
  parts = json.loads(process.stdout.strip().splitlines()[-1])
  t, d, r, k, m, bins, fc, c = 188, 1024, 256, 9, 300, 8, 256, 20
  dense = lambda rows, n_in, n_out: 2 * rows * n_in * n_out + rows * n_out
  per_stream = (dense(t, d, r) +                       # feature reduction
                k * 2 * dense(t, 3 * r, r) +            # 9 towers, 2 convs
                2 * k * dense(t, r, 2) +                # per-scale k1 heads
                dense(m * bins, d, r) +                 # second-stage reduction
                dense(m, bins * r, fc) +                # FC
                dense(m, fc, c + 1) + dense(m, fc, 2 * c))
  assert parts['total'] == 2 * per_stream  # LATE fusion: two pipelines.
  assert parts['spn_towers'] == 2 * k * 2 * dense(t, 3 * r, r)
  assert parts['second_stage_reduction'] == 2 * dense(m * bins, d, r)


@pytest.mark.slow
def test_quick_benchmark_writes_results(tmp_path):
  output_path = tmp_path / 'inference_benchmark.json'
  process = subprocess.run(
      [sys.executable, TOOL, '--quick', '--results_json', str(output_path)],
      capture_output=True, text=True, timeout=900, check=False)
  assert process.returncode == 0, process.stderr[-3000:]
  results = json.loads(output_path.read_text())
  assert results['quick'] is True
  assert results['num_steps'] == 188
  assert results['stream_dims'] == {'features_rgb': 1024,
                                    'features_flow': 1024}
  assert 'random-initialised' in results['model']['source']
  for loader in ('tf2_signature', 'v1_session'):
    assert results['latency'][loader]['median_ms'] > 0
    assert results['latency'][loader]['runs'] == 3
  assert results['paper_latency_ms'] == 9.0
  assert results['flops']['profiler']['total_float_ops'] > 0
  assert results['flops']['hand_count']['total'] > 0
  # tfprof's dense ops match the hand count (dilated convs run on slightly
  # padded SpaceToBatch blocks); its total adds elementwise ops.
  assert 0.99 < results['flops']['profiler_dense_over_hand_count'] < 1.01
  assert 1.0 < results['flops']['profiler_over_hand_count'] < 1.05
  by_type = results['flops']['profiler']['float_ops_by_op_type']
  assert by_type['MatMul'] > 0 and by_type['Conv2D'] > by_type['MatMul']
  assert results['matmul']['gflops'] > 0
  assert results['ideal_latency_ms'] > 0
  assert results['fraction_of_matmul_peak'] > 0
  rows = results['scaling']['rows']
  assert [row['num_steps'] for row in rows] == [188, 376]
  for row in rows:
    assert row['median_ms'] > 0 and row['us_per_step'] > 0
    assert row['peak_rss_mib'] > 0
    assert row['peak_growth_mib'] >= 0
    assert row['memory_method']
  assert results['training']['steps_per_s'] > 0
  assert results['training']['steps_timed'] == 2
  assert 'memory_method' in results
  assert 'fraction of matmul peak' in process.stdout


def test_missing_saved_model_fails_clearly(tmp_path):
  process = subprocess.run(
      [sys.executable, TOOL, '--saved_model_dir', str(tmp_path / 'nothing')],
      capture_output=True, text=True, timeout=300, check=False)
  assert process.returncode == 1
  assert process.stderr.strip().splitlines()[-1].startswith(
      'benchmark_inference: error: --saved_model_dir: no saved_model.pb in')
