"""Timing loops, the dense-matmul throughput and crop probes, the machine
description."""
import os
import platform
import sys
import time

import numpy as np
import tensorflow as tf

from tal_detection.utils import machine_info


def time_calls(call, warmup, repeats):
  """Seconds of each of `repeats` calls after `warmup` untimed ones."""
  for _ in range(warmup):
    call()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    call()
    times.append(time.perf_counter() - start)
  return times


def median_time(function, runs):
  """(median seconds over `runs` timed calls after one warm-up, last output)."""
  function()
  times = []
  output = None
  for _ in range(runs):
    start = time.perf_counter()
    output = function()
    times.append(time.perf_counter() - start)
  return float(np.median(times)), output


def stats_ms(times):
  """Median, minimum and 90th percentile of a list of seconds, in ms."""
  times_ms = 1000.0 * np.asarray(times)
  return {'median_ms': float(np.median(times_ms)),
          'min_ms': float(np.min(times_ms)),
          'p90_ms': float(np.percentile(times_ms, 90)),
          'runs': len(times)}


def time_interleaved(calls, warmup, rounds, runs=None):
  """Seconds of each named call, the calls taking turns round by round.

  Calls that take turns see the same machine load, so the ratio of their
  times holds even when the load (or the CPU's clock) drifts during the run;
  timed one after the other, a quiet minute for one and a busy one for the
  other would move the ratio by as much as the effect measured.

  Args:
    calls: {name: function of no arguments}, called in this order each round.
    warmup: untimed rounds of every call first.
    rounds: timed rounds.
    runs: {name: n} for calls timed in only n of the rounds (n <= rounds,
      spread evenly over them, first and last included): a slow call such as
      the matmul probe then costs n calls, not `rounds`.

  Returns:
    {name: [seconds of each timed call]}.
  """
  runs = runs or {}
  for _ in range(warmup):
    for call in calls.values():
      call()
  scheduled = {}
  for name in calls:
    n = min(runs.get(name, rounds), rounds)
    scheduled[name] = set(np.linspace(0, rounds - 1, n).round().astype(int)
                          .tolist()) if n > 0 else set()
  times = {name: [] for name in calls}
  for round_index in range(rounds):
    for name, call in calls.items():
      if round_index in scheduled[name]:
        start = time.perf_counter()
        call()
        times[name].append(time.perf_counter() - start)
  return times


class MatmulProbe:
  """Dense matmul throughput (GFLOP/s) of this machine in `dtype`.

  `chain` products of size x size matrices run inside one tf.function, so the
  per-call overhead is spread over chain * 2 n^3 FLOP. `parallel` independent
  chains run in the same call: with fewer intra-op threads than cores, the
  machine's rate is reached only by several products at once (as the model's
  streams run), so the probe measures what the threading it runs under
  allows. Calling the probe runs it once; summary() turns the seconds of such
  calls into throughput, so the calls can take turns with a model's
  (time_interleaved).
  """

  def __init__(self, size, chain=10, dtype=tf.float32, parallel=1):
    self.size, self.chain, self.parallel = size, chain, parallel
    self.dtype = tf.as_dtype(dtype)
    rng = np.random.default_rng(0)
    self._starts = [tf.cast(rng.standard_normal((size, size)).astype(
        np.float32), dtype) for _ in range(parallel)]
    # Scaled by 1/sqrt(n) so the chained products stay finite.
    b = tf.cast((rng.standard_normal((size, size)) /
                 np.sqrt(size)).astype(np.float32), dtype)

    @tf.function
    def chained(xs):
      results = []
      for x in xs:
        for _ in range(chain):
          x = tf.matmul(x, b)
        results.append(x)
      return results

    self._chained = chained

  def __call__(self):
    return [x.numpy() for x in self._chained(self._starts)]

  def summary(self, times):
    """Throughput of calls that took `times` seconds (median and best)."""
    flop = self.parallel * self.chain * 2.0 * self.size ** 3
    median = float(np.median(times))
    return {'size': self.size, 'chain': self.chain,
            'parallel_chains': self.parallel, 'dtype': self.dtype.name,
            'median_s_per_chain': median,
            'gflops': flop / median / 1e9,
            'best_gflops': flop / float(np.min(times)) / 1e9,
            'runs': len(times)}


class CropProbe:
  """Memory-bound reference: microseconds per tf.image.crop_and_resize of
  the main config's SoI chunk shape.

  Each crop samples `samples` unit-height boxes of a [1, rows, 1, depth]
  float32 image (by default one chunk of the float32 export: 75 proposals x
  8 bins, 1024-d, a 188-step video padded to 257 rows), writing samples x
  depth floats, as the export's crops do; `chain` crops with their own boxes
  run in one tf.function, `parallel` such chains at once (as the matmul
  probe). Unlike the matmul probe it moves data rather than computes, so it
  shows when this machine's memory-bound ops run slower than usual (the
  benchmark times it in the same alternation as the exports).
  """

  def __init__(self, samples=600, depth=1024, rows=257, chain=8,
               parallel=1):
    self.samples, self.depth, self.rows = samples, depth, rows
    self.chain, self.parallel = chain, parallel
    rng = np.random.default_rng(0)
    image = tf.constant(rng.standard_normal((1, rows, 1, depth)).astype(
        np.float32))
    box_sets = []
    for _ in range(parallel * chain):
      y = (rng.uniform(0, rows - 1, samples) / (rows - 1)).astype(np.float32)
      zeros = np.zeros_like(y)
      box_sets.append(tf.constant(np.stack([y, zeros, y, zeros], axis=1)))
    box_indices = tf.zeros([samples], tf.int32)

    @tf.function
    def crops():
      # One value per crop comes back: the crops are written, not returned.
      return [tf.image.crop_and_resize(image, boxes, box_indices,
                                       [1, 1])[0, 0, 0, 0]
              for boxes in box_sets]

    self._crops = crops

  def __call__(self):
    return [value.numpy() for value in self._crops()]

  def summary(self, times):
    """Microseconds per crop of calls that took `times` seconds (a call runs
    `parallel` chains of `chain` crops side by side)."""
    return {'samples': self.samples, 'depth': self.depth, 'rows': self.rows,
            'chain': self.chain, 'parallel_chains': self.parallel,
            'median_us_per_crop': 1e6 * float(np.median(times)) / self.chain,
            'best_us_per_crop': 1e6 * float(np.min(times)) / self.chain,
            'runs': len(times)}


class MatmulShapeProbe:
  """Throughput (GFLOP/s) of [m, k] x [k, n] float32 products, one shape.

  What one of a model's own MatMul shapes runs at alone: small products
  run below the square probe's rate (less reuse per loaded weight, fixed
  costs per op). Each call runs `parallel` sets of `chain` independent
  products, each with its own [k, n] matrix (as every layer has its own
  weights), in one tf.function; chain is chosen so a call holds at least
  about 4 GFLOP (at most 1024 products), spreading the call's own overhead:
  with 0.5 GFLOP calls the main config's [188 x 768] x [768 x 256] products
  measured 181 against 291 GFLOP/s, the call's start and end costing as much
  as the products (an op's own overhead stays: the model pays it too).
  """

  def __init__(self, shape, parallel=1, min_call_flop=4e9):
    self.shape = tuple(int(d) for d in shape)
    m, k, n = self.shape
    self.parallel = parallel
    self.chain = int(max(2, min(1024, np.ceil(min_call_flop /
                                              (parallel * 2.0 * m * k * n)))))
    rng = np.random.default_rng(0)
    inputs = [tf.constant(rng.standard_normal((m, k)), tf.float32)
              for _ in range(parallel)]
    weights = [[tf.constant(rng.standard_normal((k, n)), tf.float32)
                for _ in range(self.chain)] for _ in range(parallel)]

    # The tensors are captured, not passed: arguments would be checked
    # against the trace on every call, hundreds of them for small shapes,
    # which measured as a third of the call's time.
    @tf.function
    def products():
      # Summed to a scalar each, so only the products' outputs are written.
      return [tf.add_n([tf.reduce_sum(tf.matmul(x, w)[:1, :1]) for w in ws])
              for x, ws in zip(inputs, weights)]

    self._products = products

  def __call__(self):
    return [x.numpy() for x in self._products()]

  def summary(self, times):
    m, k, n = self.shape
    flop = self.parallel * self.chain * 2.0 * m * k * n
    median = float(np.median(times))
    return {'shape': list(self.shape), 'chain': self.chain,
            'parallel_chains': self.parallel, 'median_s_per_call': median,
            'gflops': flop / median / 1e9, 'runs': len(times)}


def matmul_gflops(size, repeats, chain=10, dtype=tf.float32, parallel=1):
  """MatmulProbe's summary of `repeats` calls after 2 untimed ones."""
  probe = MatmulProbe(size, chain, dtype, parallel)
  return probe.summary(time_calls(probe, 2, repeats))


def load_average():
  """The 1, 5 and 15 minute load averages (others share this machine)."""
  try:
    return [float(x) for x in os.getloadavg()]
  except OSError:
    return None


def describe_machine():
  """The machine a benchmark ran on.

  machine_info's description (cpu, cpu_count, platform, host, tensorflow)
  plus the keys the evaluator benchmark has always written (processor,
  python, numpy), so every benchmark's results carry the same block.
  """
  machine = machine_info.describe_machine()
  machine.update({'processor': platform.processor() or platform.machine(),
                  'python': sys.version.split()[0],
                  'numpy': np.__version__})
  return machine
