"""The benchmarks' timing loops and matmul probe."""
import numpy as np
import pytest
import tensorflow as tf

from tal_detection.benchmarks import timing


def test_interleaved_calls_take_turns_and_sparse_ones_spread_evenly():
  order = []
  calls = {name: (lambda name=name: order.append(name))
           for name in ('fp32', 'bf16', 'probe')}
  times = timing.time_interleaved(calls, warmup=1, rounds=10,
                                  runs={'probe': 4})
  assert [len(times[name]) for name in ('fp32', 'bf16', 'probe')] == [10, 10, 4]
  assert all(t >= 0 for ts in times.values() for t in ts)
  # One untimed round of everything, then rounds 0..9; the probe in rounds
  # 0, 3, 6 and 9 (evenly spread, first and last included), after the models.
  assert order[:3] == ['fp32', 'bf16', 'probe']
  timed = order[3:]
  rounds, current = [], []
  for name in timed:
    if name == 'fp32' and current:
      rounds.append(current)
      current = []
    current.append(name)
  rounds.append(current)
  assert len(rounds) == 10
  assert [i for i, r in enumerate(rounds) if 'probe' in r] == [0, 3, 6, 9]
  assert all(r[:2] == ['fp32', 'bf16'] for r in rounds)


def test_interleaved_runs_are_capped_at_the_rounds():
  counts = {'a': 0}

  def call():
    counts['a'] += 1

  times = timing.time_interleaved({'a': call}, warmup=0, rounds=3,
                                  runs={'a': 7})
  assert len(times['a']) == 3 and counts['a'] == 3
  assert timing.time_interleaved({'a': call}, 0, 1, {'a': 1})['a']


def test_matmul_probe_counts_its_flops():
  probe = timing.MatmulProbe(32, chain=3, parallel=2)
  outputs = probe()
  assert len(outputs) == 2 and outputs[0].shape == (32, 32)
  assert np.all(np.isfinite(outputs[0]))
  summary = probe.summary([0.002, 0.001, 0.004])
  flop = 2 * 3 * 2.0 * 32 ** 3
  assert summary['gflops'] == pytest.approx(flop / 0.002 / 1e9)
  assert summary['best_gflops'] == pytest.approx(flop / 0.001 / 1e9)
  assert (summary['runs'], summary['dtype'], summary['parallel_chains']) == (
      3, 'float32', 2)
  bf16 = timing.MatmulProbe(16, chain=2, dtype=tf.bfloat16)
  assert bf16()[0].dtype == tf.bfloat16.as_numpy_dtype
  assert timing.matmul_gflops(16, 2, chain=2)['runs'] == 2


def test_crop_probe_crops_and_times_per_crop():
  probe = timing.CropProbe(samples=5, depth=3, rows=9, chain=4, parallel=2)
  values = probe()
  assert len(values) == 8 and all(np.isfinite(values))
  summary = probe.summary([0.002, 0.001, 0.004])
  # A call runs 2 chains of 4 crops side by side: time per call / 4.
  assert summary['median_us_per_crop'] == pytest.approx(500.0)
  assert summary['best_us_per_crop'] == pytest.approx(250.0)
  assert (summary['samples'], summary['depth'], summary['rows'],
          summary['parallel_chains'], summary['runs']) == (5, 3, 9, 2, 3)


def test_matmul_shape_probe_counts_its_flops():
  probe = timing.MatmulShapeProbe((6, 5, 4), parallel=2, min_call_flop=2400)
  # ceil(2400 / (2 chains x 2*6*5*4 FLOP)) = 5 products per chain.
  assert probe.chain == 5
  sums = probe()
  assert len(sums) == 2 and all(np.isfinite(sums))
  summary = probe.summary([0.002, 0.001, 0.004])
  assert summary['gflops'] == pytest.approx(2 * 5 * 240 / 0.002 / 1e9)
  assert (summary['shape'], summary['runs'], summary['parallel_chains']) == (
      [6, 5, 4], 3, 2)
  # At least 2 and at most 1024 products per chain.
  assert timing.MatmulShapeProbe((1024, 1024, 1024)).chain == 2
  assert timing.MatmulShapeProbe((1, 1, 1)).chain == 1024
