"""The training benchmark: tools/benchmark_training.py over
tal_detection/benchmarks/training.py (no timing assertions)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tal_detection.benchmarks import training
from tal_detection.benchmarks import training_worker
from tal_detection.utils import machine_info
from tal_detection.utils import readme_results

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(_ROOT, 'tools', 'benchmark_training.py')
SYNTHETIC_CONFIG = os.path.join(_ROOT, 'configs', 'synthetic_tal_net.config')


def test_video_has_the_config_streams_and_valid_segments():
  pipeline = training.config_util.load_pipeline(SYNTHETIC_CONFIG)
  settings = training.Settings(num_steps=40, num_groundtruth=6, seed=1)
  video = training.make_video(pipeline, settings)
  assert video['features/rgb'].shape == (1, 40, 64)
  assert video['features/flow'].dtype == np.float32
  segments = video[training_worker.SEGMENTS_KEY][0]
  assert segments.shape == (6, 2)
  assert np.all(segments[:, 0] >= 0) and np.all(segments[:, 1] <= 40)
  assert np.all(segments[:, 1] - segments[:, 0] >= 1)
  classes = video[training_worker.CLASSES_KEY]
  assert classes.shape == (1, 6) and classes.min() >= 1 and classes.max() <= 5


def test_tool_against_itself_as_baseline(tmp_path):
  """The working tree as its own baseline: equal losses, every key, README."""
  output_json = tmp_path / 'training_benchmark.json'
  output_md = tmp_path / 'training_benchmark.md'
  process = subprocess.run(
      [sys.executable, TOOL, '--pipeline_config_path=%s' % SYNTHETIC_CONFIG,
       '--baseline_worktree=%s' % _ROOT, '--num_steps=40', '--quick',
       '--output_json=%s' % output_json, '--output_md=%s' % output_md,
       '--work_dir=%s' % (tmp_path / 'work')],
      capture_output=True, text=True, timeout=900, check=False)
  assert process.returncode == 0, process.stderr[-3000:]
  results = json.loads(output_json.read_text())
  for key in ('train_steps_per_s', 'baseline_train_steps_per_s',
              'train_speedup_vs_baseline', 'train_gflops_per_step',
              'train_fraction_of_flop_bound',
              'max_loss_difference_vs_baseline', 'load_average_before',
              'load_average_after'):
    assert results[key] is not None, key
  # Same code, seed, data and weights: the same losses.
  assert len(results['current']['losses']) == 2
  assert results['max_loss_difference_vs_baseline'] < 1e-6
  assert np.all(np.isfinite(results['current']['losses']))
  assert results['current']['steps_timed'] == 4
  assert results['baseline']['steps_timed'] == 4
  assert results['train_speedup_vs_baseline'] > 0
  # Forward + backward: no conv is left. The SPN's convs run forward as
  # MatMuls of gathered taps and take their gradients on the steps with a
  # nonzero gradient only, and the kernel-1 feature reductions are MatMuls:
  # all of those are MatMuls (counted from the traced shapes where they are
  # known at run time only).
  by_type = results['train_float_ops_by_op_type']
  assert not {'Conv2D', 'Conv2DBackpropFilter',
              'Conv2DBackpropInput'} & set(by_type)
  assert by_type['MatMul'] > 0
  assert results['train_ops_without_static_shape'] > 0
  assert results['train_gflops_per_step'] * 1e9 == pytest.approx(
      sum(by_type.values()))
  assert results['train_ops_without_static_shape'] < (
      results['train_ops_counted'])
  assert 0 < results['train_fraction_of_flop_bound'] < 1
  op_types = results['current']['op_types']['share_by_op_type']
  assert 0 < sum(op_types.values()) <= 1.0 + 1e-9
  # The README block is the md file's first table.
  block = readme_results.BLOCKS['training_benchmark'](str(tmp_path))
  assert block.startswith('| measure | value |')
  assert 'speed-up vs the baseline' in block
  # It names the machine, features included: ratios depend on the CPU.
  assert '| machine | %s |' % machine_info.machine_summary(
      results['machine']) in block


@pytest.mark.parametrize('transpose_a,transpose_b', [
    (False, False), (True, False), (False, True), (True, True)])
def test_matmul_of_run_time_shapes_counts_2mkn_from_the_trace(transpose_a,
                                                              transpose_b):
  """The row-sparse backward's products: [n, k] shapes known only at run time."""
  graph = tf.Graph()
  with graph.as_default():
    rows = tf.compat.v1.placeholder(tf.int32, [None])
    # M = 3 gathered rows, K = 5, N = 7 (the row count is not static).
    a = tf.gather(tf.ones([10, 5]), rows)
    b = tf.ones([5, 7])
    if transpose_a:
      a = tf.transpose(a)
    if transpose_b:
      b = tf.transpose(b)
    product = tf.matmul(a, b, transpose_a=transpose_a,
                        transpose_b=transpose_b)
    with tf.compat.v1.Session(graph=graph) as sess:
      metadata = tf.compat.v1.RunMetadata()
      sess.run(product, {rows: [1, 4, 6]}, options=tf.compat.v1.RunOptions(
          trace_level=tf.compat.v1.RunOptions.FULL_TRACE),
               run_metadata=metadata)
  shapes = training_worker._traced_output_shapes(metadata)
  assert training_worker._traced_matmul_flops(
      product.op, shapes) == 2 * 3 * 5 * 7
  assert training_worker._traced_matmul_flops(a.op, shapes) is None


def test_bad_baseline_is_one_line_before_anything_is_written(tmp_path):
  output_json = tmp_path / 'out.json'
  process = subprocess.run(
      [sys.executable, TOOL, '--baseline_worktree=%s' % (tmp_path / 'none'),
       '--output_json=%s' % output_json],
      capture_output=True, text=True, timeout=300, check=False)
  assert process.returncode == 1
  lines = process.stderr.strip().splitlines()
  assert lines[-1].startswith('benchmark_training: error: '
                              '--baseline_worktree: '), process.stderr
  assert 'model_lib.py' in lines[-1]
  assert not output_json.exists()
