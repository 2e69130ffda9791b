"""Speed of one training step, against the FLOP bound and an older checkout.

run() measures what tools/benchmark_training.py reports:
  * steps/s of model_lib's train op (TRAIN mode, the config's optimizer) on one
    in-memory video of realistic size (the config's streams, 1024-d for the
    main config; 188 steps = a 3000-frame THUMOS'14 video at 0.625
    features/s; 15 ground-truth segments), timed in a worker process
    (training_worker.py) per checkout;
  * training FLOPs per step: the profiler's per-op flops statistics summed
    over the ops a traced training step ran (forward + backward; the
    optimizer's updates count nothing), shapes fixed by the constant input;
  * the fraction of the FLOP bound: (FLOPs / the 1024^2 float32 matmul
    GFLOP/s, measured once per timing round, median) / measured step time;
  * with a baseline checkout (a `git worktree` of an older commit): the same
    measurement of its code in a second worker with PYTHONPATH naming it, the
    two timed in alternating blocks (ABBA order) so both see the same load,
    their speed ratio, and the losses of the first steps of both from the same
    seed, data and initial weights (max absolute difference);
  * the time by op type of a few traced steps of each side, and the machine's
    load average before and after.
"""
import dataclasses
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

from tal_detection.benchmarks import flops
from tal_detection.benchmarks import timing
from tal_detection.benchmarks import training_worker
from tal_detection.utils import config_util
from tal_detection.utils import io_util
from tal_detection.utils import machine_info

WORKER_PATH = os.path.abspath(training_worker.__file__)
# The working tree's checkout root (the folder holding tal_detection/).
CURRENT_CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(
    WORKER_PATH)))
# How many op types of the traced steps the results keep.
TOP_OP_TYPES = 25


@dataclasses.dataclass
class Settings:
  """Sizes and repeats of one run (see the tool's flags)."""
  num_steps: int = 188
  num_groundtruth: int = 15
  video: dict = dataclasses.field(default_factory=lambda: {
      'fps': 10.0, 'stride_frames': 16.0, 'offset_frames': 8.0})
  seed: int = 0
  loss_steps: int = 5
  rounds: int = 6
  steps_per_round: int = 10
  trace_steps: int = 3
  matmul_size: int = 1024
  matmul_repeats: int = 10

  def check(self):
    for name in ('num_steps', 'num_groundtruth', 'loss_steps', 'rounds',
                 'steps_per_round'):
      if getattr(self, name) < 1:
        raise ValueError('--%s: must be positive, got %d' % (
            name, getattr(self, name)))
    if self.num_steps < 17:
      raise ValueError('--num_steps: must be at least 17 (ground truth up to '
                       '16 steps long), got %d' % self.num_steps)


def make_video(pipeline, settings):
  """numpy inputs of one training video (the worker's .npz keys).

  Random unit-variance features per stream, `num_groundtruth` segments of 1 to
  16 steps (the main config's anchor lengths) at random places, random classes.
  """
  rng = np.random.default_rng(settings.seed)
  video = {}
  for name, dim in config_util.get_stream_specs(pipeline.model):
    video[training_worker.FEATURES_PREFIX + name] = rng.standard_normal(
        (1, settings.num_steps, dim)).astype(np.float32)
  count = settings.num_groundtruth
  starts = rng.uniform(0, settings.num_steps - 16, count)
  lengths = rng.uniform(1, 16, count)
  video[training_worker.SEGMENTS_KEY] = np.stack(
      [starts, starts + lengths], axis=-1)[None].astype(np.float32)
  num_classes = config_util.get_number_of_classes(pipeline.model)
  video[training_worker.CLASSES_KEY] = rng.integers(
      1, num_classes + 1, (1, count)).astype(np.int32)
  video[training_worker.NUM_STEPS_KEY] = np.array([settings.num_steps],
                                                  np.int32)
  for key in training_worker.TIME_KEYS:
    video[key] = np.array([settings.video[key]], np.float32)
  return video


def training_float_ops(pipeline_config_path, video_path, seed, work_dir):
  """float_ops of the ops one training step of the working tree runs.

  Counted in a training_worker process (--count_flops; it builds the graph
  with v1 control flow, a process-wide setting): see
  training_worker.count_step_float_ops.
  """
  env = dict(os.environ, PYTHONPATH=CURRENT_CHECKOUT)
  log_path = os.path.join(work_dir, 'flops.log')
  with open(log_path, 'w', encoding='utf-8') as log:
    process = subprocess.run(
        [sys.executable, '-c', _bootstrap(), '--pipeline_config_path',
         pipeline_config_path, '--video', video_path, '--initial_weights',
         os.path.join(work_dir, 'unused_weights.npz'), '--seed', str(seed),
         '--count_flops'],
        stdout=subprocess.PIPE, stderr=log, text=True, env=env,
        cwd=CURRENT_CHECKOUT, check=False)
  if process.returncode != 0:
    raise ValueError('FLOP count failed: %s' % io_util.last_line(log_path))
  return json.loads(process.stdout.strip().splitlines()[-1])


def _bootstrap():
  # runpy, not `python WORKER_PATH`: a script's folder goes first on sys.path,
  # and -m would import the worker from the checkout (older ones have none).
  return ('import runpy, sys; sys.argv = [%r] + sys.argv[1:]; '
          'runpy.run_path(%r, run_name="__main__")' % (WORKER_PATH,
                                                       WORKER_PATH))


def checkout_root(path):
  """Checks that `path` holds a runnable tal_detection checkout.

  Raises:
    ValueError: naming what is missing.
  """
  if not os.path.isfile(os.path.join(path, 'tal_detection', 'model_lib.py')):
    raise ValueError('%s: no tal_detection/model_lib.py there (give a '
                     'checkout, e.g. `git worktree add %s 7835dee`)' % (
                         path, path))
  if not os.path.isfile(os.path.join(path, 'tal_detection', 'protos',
                                     'pipeline_pb2.py')):
    raise ValueError('%s: protos not compiled (run `python setup.py '
                     'build_protos` in it)' % path)
  return os.path.abspath(path)


class Worker(object):
  """A training_worker process over one checkout, driven line by line."""

  def __init__(self, name, checkout, pipeline_config_path, video_path,
               weights_path, settings, log_path):
    self.name = name
    env = dict(os.environ)
    env['PYTHONPATH'] = checkout
    self._log = open(log_path, 'w', encoding='utf-8')
    self._process = subprocess.Popen(
        [sys.executable, '-c', _bootstrap(),
         '--pipeline_config_path', pipeline_config_path,
         '--video', video_path, '--initial_weights', weights_path,
         '--seed', str(settings.seed),
         '--loss_steps', str(settings.loss_steps)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
        text=True, env=env, cwd=checkout)
    self._log_path = log_path
    self.checkout = checkout

  def _read(self):
    line = self._process.stdout.readline()
    if not line:
      self._process.wait()
      raise ValueError('%s worker (%s) failed: %s' % (
          self.name, self.checkout, io_util.last_line(self._log_path)))
    return json.loads(line)

  def ready(self):
    """The worker's first reply: losses of the first steps, module path."""
    message = self._read()
    module_root = os.path.dirname(message['module'])
    if os.path.realpath(module_root) != os.path.realpath(self.checkout):
      raise ValueError('%s worker imported tal_detection from %s, not %s' % (
          self.name, module_root, self.checkout))
    return message

  def command(self, text):
    self._process.stdin.write(text + '\n')
    self._process.stdin.flush()
    return self._read()

  def close(self):
    if self._process.poll() is None:
      try:
        self._process.stdin.write('quit\n')
        self._process.stdin.flush()
        self._process.wait(timeout=60)
      except (OSError, subprocess.TimeoutExpired):
        self._process.kill()
        self._process.wait()
    self._log.close()


def _load_average():
  one, five, fifteen = os.getloadavg()
  return {'1min': one, '5min': five, '15min': fifteen}


def _step_stats(times):
  median = float(np.median(times))
  return {'median_s_per_step': median, 'steps_per_s': 1.0 / median,
          'min_s_per_step': float(np.min(times)),
          'p90_s_per_step': float(np.percentile(times, 90)),
          'steps_timed': len(times)}


def _top_op_types(trace):
  total = trace['op_type_us_per_step_total']
  return {'us_per_step_total': total,
          'share_by_op_type': {k: v / total for k, v in list(
              trace['op_type_us_per_step'].items())[:TOP_OP_TYPES]}}


def run(pipeline_config_path, settings, baseline_checkout=None,
        work_dir=None, progress=None):
  """Runs every measurement; returns the results dict.

  Args:
    pipeline_config_path: the config both sides train.
    settings: Settings.
    baseline_checkout: folder of an older checkout to compare with, or None.
    work_dir: where the video, shared weights and worker logs go (default: a
      temporary folder, removed).
    progress: callable(str) for progress lines, or None.
  """
  settings.check()
  progress = progress or (lambda message: None)
  pipeline = config_util.load_pipeline(pipeline_config_path)
  load_before = _load_average()
  with tempfile.TemporaryDirectory(prefix='tal_train_bench_') as tmp:
    work_dir = os.path.abspath(work_dir or tmp)
    os.makedirs(work_dir, exist_ok=True)
    video = make_video(pipeline, settings)
    video_path = os.path.join(work_dir, 'video.npz')
    np.savez(video_path, **video)
    weights_path = os.path.join(work_dir, 'initial_weights.npz')
    if os.path.exists(weights_path):
      os.remove(weights_path)
    sides = [('current', CURRENT_CHECKOUT)]
    if baseline_checkout:
      # The baseline writes the initial weights, the current code reads them.
      sides.insert(0, ('baseline', checkout_root(baseline_checkout)))
    workers, ready = {}, {}
    try:
      for name, checkout in sides:
        progress('building the %s training graph (%s) ...' % (name, checkout))
        workers[name] = Worker(
            name, checkout, os.path.abspath(pipeline_config_path), video_path,
            weights_path, settings, os.path.join(work_dir, name + '.log'))
        ready[name] = workers[name].ready()
      order = [name for name, _ in sides]
      times = {name: [] for name in order}
      matmuls = []
      for round_index in range(settings.rounds):
        progress('timing round %d/%d ...' % (round_index + 1, settings.rounds))
        for name in (order if round_index % 2 == 0 else order[::-1]):
          times[name] += workers[name].command(
              'time %d' % settings.steps_per_round)['times_s']
        # The FLOP bound under the same load as the steps: once per round,
        # while both workers wait.
        matmuls.append(timing.matmul_gflops(settings.matmul_size,
                                            settings.matmul_repeats))
      traces = {}
      if settings.trace_steps > 0:
        progress('tracing %d steps per side ...' % settings.trace_steps)
        for name in order:
          traces[name] = _top_op_types(
              workers[name].command('trace %d' % settings.trace_steps))
    finally:
      for worker in workers.values():
        worker.close()
    progress('FLOPs of a training step and matmul throughput ...')
    counts = training_float_ops(os.path.abspath(pipeline_config_path),
                                video_path, settings.seed, work_dir)
  matmul = {'size': settings.matmul_size,
            'gflops': float(np.median([m['gflops'] for m in matmuls])),
            'gflops_per_round': [m['gflops'] for m in matmuls]}

  current = _step_stats(times['current'])
  train_flops = counts['total_float_ops']
  bound_s = train_flops / (matmul['gflops'] * 1e9)
  results = {
      'pipeline_config_path': pipeline_config_path,
      'num_steps_per_video': settings.num_steps,
      'num_groundtruth': settings.num_groundtruth,
      'streams': dict(config_util.get_stream_specs(pipeline.model)),
      'seed': settings.seed,
      'rounds': settings.rounds, 'steps_per_round': settings.steps_per_round,
      'current': dict(current, checkout=CURRENT_CHECKOUT,
                      losses=ready['current']['losses'],
                      num_graph_ops=ready['current']['num_graph_ops'],
                      op_types=traces.get('current')),
      'train_steps_per_s': current['steps_per_s'],
      'train_gflops_per_step': train_flops / 1e9,
      'train_dense_gflops_per_step': flops.dense_float_ops(counts) / 1e9,
      'train_float_ops_by_op_type': counts['float_ops_by_op_type'],
      'train_ops_counted': counts['num_ops_counted'],
      'train_ops_without_static_shape': counts[
          'num_ops_without_static_shape'],
      'matmul': matmul,
      'flop_bound_s_per_step': bound_s,
      'train_fraction_of_flop_bound': bound_s / current['median_s_per_step'],
      'baseline_train_steps_per_s': None,
      'train_speedup_vs_baseline': None,
      'max_loss_difference_vs_baseline': None,
      'machine': timing.describe_machine(),
      'load_average_before': load_before,
      'load_average_after': _load_average(),
  }
  if baseline_checkout:
    baseline = _step_stats(times['baseline'])
    losses = np.asarray(ready['current']['losses'])
    baseline_losses = np.asarray(ready['baseline']['losses'])
    results.update({
        'baseline': dict(baseline, checkout=ready['baseline']['module'],
                         losses=ready['baseline']['losses'],
                         num_graph_ops=ready['baseline']['num_graph_ops'],
                         op_types=traces.get('baseline')),
        'baseline_train_steps_per_s': baseline['steps_per_s'],
        'train_speedup_vs_baseline': (baseline['median_s_per_step'] /
                                      current['median_s_per_step']),
        'max_loss_difference_vs_baseline': float(
            np.max(np.abs(losses - baseline_losses))),
    })
  return results


def format_markdown(results):
  """results/training_benchmark.md: the run's table and what it measured."""
  machine = results['machine']
  load = results['load_average_before'], results['load_average_after']
  lines = [
      '| measure | value |', '|---|---|',
      '| machine | %s |' % machine_info.machine_summary(machine),
      '| training step, this code (median of %d) | %.1f ms = %.2f steps/s |'
      % (results['current']['steps_timed'],
         1000 * results['current']['median_s_per_step'],
         results['train_steps_per_s']),
  ]
  if results['baseline_train_steps_per_s'] is not None:
    lines += [
        '| training step, baseline checkout (median of %d, same run) | '
        '%.1f ms = %.2f steps/s |' % (
            results['baseline']['steps_timed'],
            1000 * results['baseline']['median_s_per_step'],
            results['baseline_train_steps_per_s']),
        '| speed-up vs the baseline | %.2fx |' %
        results['train_speedup_vs_baseline'],
        '| max loss difference, first %d steps (same seed, data, weights) | '
        '%.2g |' % (len(results['current']['losses']),
                    results['max_loss_difference_vs_baseline']),
    ]
  lines += [
      '| training FLOPs per step (profiler, ops a step ran, fwd + bwd) | '
      '%.2f GFLOP |'
      % results['train_gflops_per_step'],
      '| matmul %dx%d float32, median of one per round | %.0f GFLOP/s |' % (
          results['matmul']['size'], results['matmul']['size'],
          results['matmul']['gflops']),
      '| fraction of the FLOP bound (FLOPs / matmul rate / step time) | '
      '%.0f%% |' % (100 * results['train_fraction_of_flop_bound']),
      '| load average (1 min) before / after | %.2f / %.2f |' % (
          load[0]['1min'], load[1]['1min']),
  ]
  text = '\n'.join(lines) + '\n\n'
  text += ('One %d-step video, streams %s, %d ground-truth segments; %d '
           'rounds of %d steps per side, alternating.\n' % (
               results['num_steps_per_video'],
               ', '.join('%s %d-d' % kv for kv in results['streams'].items()),
               results['num_groundtruth'], results['rounds'],
               results['steps_per_round']))
  for side in ('current', 'baseline'):
    op_types = (results.get(side) or {}).get('op_types')
    if op_types:
      text += '\nTime by op type, %s (traced, %.0f ms of op time per step): ' \
              '%s.\n' % (side, op_types['us_per_step_total'] / 1000, ', '.join(
                  '%s %.0f%%' % (k, 100 * v) for k, v in list(
                      op_types['share_by_op_type'].items())[:8]))
  return text
