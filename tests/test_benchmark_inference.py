"""The inference benchmark: tools/benchmark_inference.py over
tal_detection/benchmarks/inference.py (no timing assertions)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tal_detection.benchmarks import inference
from tal_detection.utils import config_util
from tal_detection.utils import machine_info
from tal_detection.utils import threading_util

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
  for loader in ('serving_function', 'bare_signature', 'v1_session'):
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
  # The exported SPN runs its convs as MatMuls of gathered taps, like the
  # kernel-1 reductions and the FC layers: no Conv2D is left.
  assert by_type['MatMul'] > 0 and 'Conv2D' not in by_type
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
    assert row['warmup_runs'] == 1  # --quick: one untimed run per length
  assert results['training']['steps_per_s'] > 0
  assert results['training']['steps_timed'] == 2
  assert 'memory_method' in results
  assert results['machine']['cpu_count'] == os.cpu_count()
  # Whether bfloat16 is native decides what the bf16 figures mean.
  assert isinstance(results['machine']['native_bfloat16'], bool)
  # The headline figures, measured in this one run.
  assert results['fp32_latency_ms'] == results['latency']['serving_function'][
      'median_ms']
  assert results['matmul_gflops'] == results['matmul']['gflops']
  assert results['fp32_fraction_of_flop_bound'] == pytest.approx(
      results['ideal_latency_ms'] / results['fp32_latency_ms'])
  # The bound at the model's own MatMul shapes: each shape's FLOPs at its
  # measured fraction of the main probe's rate, the other FLOPs at that rate.
  bound = results['matmul_shape_bound']
  shape_rows = bound['shapes']
  assert shape_rows and bound['matmul_float_ops'] == sum(
      row['float_ops'] for row in shape_rows)
  assert bound['matmul_float_ops'] <= by_type['MatMul']
  for row in shape_rows:
    m, k, n = row['shape']
    assert row['float_ops'] == 2 * m * k * n * row['count']
    assert row['fraction_of_square_probe'] == pytest.approx(
        row['gflops'] / bound['square_probe_gflops'])
    assert row['ms_at_main_probe_rate'] == pytest.approx(
        1000 * row['float_ops'] / (row['fraction_of_square_probe'] *
                                   results['matmul_gflops'] * 1e9))
  assert bound['bound_ms'] == pytest.approx(
      sum(row['ms_at_main_probe_rate'] for row in shape_rows) +
      1000 * (total - bound['matmul_float_ops']) /
      (results['matmul_gflops'] * 1e9))
  assert results['shape_bound_ms'] == bound['bound_ms']
  # The crop probe ran in every round, at the export's padded image size.
  crops = results['crop_probe']
  assert results['crop_probe_us'] == crops['median_us_per_crop'] > 0
  assert crops['runs'] == results['latency']['serving_function']['runs']
  assert (crops['rows'], crops['depth']) == (
      2 ** int(np.ceil(np.log2(results['num_steps'] + 1))) + 1,
      max(results['stream_dims'].values()))
  assert results['fp32_fraction_of_shape_bound'] == pytest.approx(
      bound['bound_ms'] / results['fp32_latency_ms'])
  for row in rows:
    assert results['latency_ms_%gx' % row['factor']] == row['median_ms']
    assert results['us_per_step_%gx' % row['factor']] == row['us_per_step']
  assert len(results['load_average_before']) == 3
  # Every timing ran with the serving rule's threads (two streams here); the
  # matmul probe ran as many products at once as the model can.
  threads = results['threads']
  assert (threads['intra_op'], threads['inter_op']) == (
      threading_util.serving_threads(len(results['stream_dims'])))
  assert threads['matmul_parallel_chains'] == max(
      1, threads['inter_op'] // threads['intra_op'])
  assert results['matmul']['parallel_chains'] == (
      threads['matmul_parallel_chains'])


def _check_bf16_results(results):
  bf16 = results['latency']['serving_function_bfloat16']
  assert bf16['runs'] == 3
  assert results['bf16_latency_ms'] == bf16['median_ms']
  assert results['bf16_speedup_vs_fp32'] == pytest.approx(
      results['fp32_latency_ms'] / results['bf16_latency_ms'])
  assert results['bf16_matmul']['dtype'] == 'bfloat16'
  assert results['bf16_matmul_gflops'] == results['bf16_matmul']['gflops']
  assert results['bf16_matmul_speedup_vs_fp32'] == pytest.approx(
      results['bf16_matmul_gflops'] / results['matmul_gflops'])
  assert 0 < results['bf16_fraction_of_flop_bound']
  # The bfloat16 export's scaling rows, beside the float32 ones.
  for row, bf16_row in zip(results['scaling']['rows'],
                           results['scaling_bfloat16']['rows']):
    assert bf16_row['num_steps'] == row['num_steps']
    key = '%gx' % row['factor']
    assert results['bf16_latency_ms_' + key] == bf16_row['median_ms'] > 0
    assert results['bf16_speedup_vs_fp32_' + key] == pytest.approx(
        row['median_ms'] / bf16_row['median_ms'])


def test_quick_run_on_a_given_tiny_saved_model(tmp_path):
  # The export's pipeline.config (the synthetic config's training, a tiny
  # model) is what the tool trains on, found beside the version folder.
  pipeline = config_util.load_pipeline(SYNTHETIC_CONFIG)
  pipeline.model.CopyFrom(tal_net_test_util.tiny_model_config())
  version_dirs, _ = inference.export_random_weights_in_precisions(
      pipeline, str(tmp_path), 0, ('float32', 'bfloat16'))
  version_dir = version_dirs['float32']
  # The checkpoint's biases are random, as a trained model's are nonzero (a
  # frozen export would drop zero bias additions and fuse less).
  reader = tf.train.load_checkpoint(
      str(tmp_path / 'random_init' / 'model.ckpt'))
  biases = [reader.get_tensor(name)
            for name in reader.get_variable_to_shape_map()
            if name.split('/')[-1] == 'biases']
  assert len(biases) > 10
  for values in biases:
    assert np.all(np.abs(values) <= 0.05) and np.any(values != 0)
  output_path = tmp_path / 'results' / 'inference_benchmark.json'
  process = _run_tool(
      '--quick', '--num_steps=40', '--matmul_size=64',
      '--saved_model_dir=%s' % os.path.dirname(version_dir),
      '--bf16_saved_model_dir=%s' % version_dirs['bfloat16'],
      '--output_json=%s' % output_path)
  assert process.returncode == 0, process.stderr[-3000:]
  results = json.loads(output_path.read_text())
  _check_results(results, 40, {'features_rgb': 6, 'features_flow': 5},
                 (1, 2))
  _check_bf16_results(results)
  # Given SavedModels: no jit_compile twins, and what they compile unknown.
  assert results['fp32_jit_latency_ms'] is None
  assert results['bf16_nojit_latency_ms'] is None
  assert results['jit_compile'] is None
  assert len(results['scaling_bfloat16']['rows']) == 2
  assert 'jit_compile' not in process.stdout
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
  text_path = tmp_path / 'inference_benchmark.txt'
  process = _run_tool('--quick', '--output_json', str(output_path),
                      '--output_txt', str(text_path))
  assert process.returncode == 0, process.stderr[-3000:]
  results = json.loads(output_path.read_text())
  _check_results(results, 188, {'features_rgb': 1024, 'features_flow': 1024},
                 (1, 2))
  _check_bf16_results(results)  # exported here in both precisions
  # As tools/export_saved_model.py exports them by default: bfloat16 with
  # XLA SoI pooling, float32 without ...
  assert results['jit_compile'] == {'float32': False, 'bfloat16': True}
  # ... and both again with the other setting, timed in the same
  # alternation: the same detections as the same precision's default.
  for short, twin, num_detections in (
      ('fp32', 'float32_jit', 'num_detections'),
      ('bf16', 'bfloat16_nojit', 'num_detections_bfloat16')):
    timed = results['latency']['serving_function_' + twin]
    assert timed['runs'] == 3
    latency_key = short + twin[twin.index('_'):] + '_latency_ms'
    assert results[latency_key] == timed['median_ms'] > 0
    assert results[short + '_jit_speedup'] > 0
    assert (results['latency']['num_detections_' + twin] ==
            results['latency'][num_detections] > 0)
  assert results['fp32_jit_fraction_of_flop_bound'] == pytest.approx(
      results['ideal_latency_ms'] / results['fp32_jit_latency_ms'])
  # What XLA buys each precision: latency without it / with it.
  assert results['fp32_jit_speedup'] == pytest.approx(
      results['fp32_latency_ms'] / results['fp32_jit_latency_ms'])
  assert results['bf16_jit_speedup'] == pytest.approx(
      results['bf16_nojit_latency_ms'] / results['bf16_latency_ms'])
  assert results['bf16_nojit_speedup_vs_fp32'] == pytest.approx(
      results['fp32_latency_ms'] / results['bf16_nojit_latency_ms'])
  # MatMul FLOPs by hand (2 M K N, two streams, 188 steps, 300 proposals of
  # 8 bins, reduction depth 256, FC 256, 20 classes): the first-stage
  # reduction 188x1024x256, the second-stage one 2400x1024x256, the FC
  # 300x2048x256, the class logits 300x256x21 and the offsets 300x256x40;
  # the SPN's nine towers: their first convs (grouped, 9 x 256 outputs in
  # all) and second convs, each 188x(3x256)x256 per tower, and the heads
  # 188x256x(2 + 2) per tower.
  matmul_flops = 2 * 2 * (188 * 1024 * 256 + 2400 * 1024 * 256 +
                          300 * 2048 * 256 + 300 * 256 * 21 + 300 * 256 * 40 +
                          2 * 9 * 188 * 768 * 256 + 9 * 188 * 256 * 4)
  assert results['flops']['profiler']['float_ops_by_op_type']['MatMul'] == (
      matmul_flops)
  assert text_path.read_text() == inference.format_report(results) + '\n'
  assert 'random-initialised' in results['model']['source']
  assert 'fraction of matmul peak' in process.stdout
  # The README block (the table) names the machine, features included.
  assert '| machine | %s |' % machine_info.machine_summary(
      results['machine']) in text_path.read_text()


def test_bf16_twin_without_its_float32_model_fails_in_one_line(tmp_path):
  process = _run_tool('--quick', '--bf16_saved_model_dir', str(tmp_path))
  assert process.returncode == 1
  assert process.stderr.strip().splitlines()[-1] == (
      'benchmark_inference: error: --bf16_saved_model_dir needs '
      '--saved_model_dir (its float32 twin)')


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


def test_scaling_times_each_length_after_the_warmup_runs(monkeypatch):
  """Lengths beyond 10x get half the repeats but at least 3 (a median of 2
  is their mean), each after --warmup untimed runs at that length."""
  calls = []

  def fake_probe(version_dir, num_steps, repeats, settings, threads):
    calls.append((num_steps, repeats, settings.warmup))
    return {'times_s': [0.001 * num_steps] * repeats, 'warmup':
            settings.warmup, 'long_growth_kib': 2 * num_steps,
            'baseline_growth_kib': 32, 'long_peak_rss_kib': 4096,
            'memory_method': 'fake'}

  monkeypatch.setattr(inference, '_run_probe', fake_probe)
  settings = inference.Settings(num_steps=100, warmup=4)
  result = inference.scaling('unused', settings, 5, (1, 10, 100), (1, 2))
  assert calls == [(100, 5, 4), (1000, 5, 4), (10000, 3, 4)]
  assert [row['runs'] for row in result['rows']] == [5, 5, 3]
  assert [row['warmup_runs'] for row in result['rows']] == [4, 4, 4]
  # 1 ms per step at every length; (2 KiB per step - the 16-step
  # baseline's 32 KiB) / (steps - 16).
  for row in result['rows']:
    assert row['us_per_step'] == pytest.approx(1000.0)
    assert row['kib_per_step'] == pytest.approx(
        (2 * row['num_steps'] - 32) / (row['num_steps'] - 16))
