r"""Speed of the paper's main model: inference latency, FLOPs, scaling, training.

  python tools/benchmark_inference.py --output_json=results/inference_benchmark.json \
      --output_txt=results/inference_benchmark.txt
  python tools/benchmark_inference.py --saved_model_dir=out/exported  # your model
  python tools/benchmark_inference.py --quick   # smoke run (few repeats)

Measures, in one run on this machine (paper, Table 8: 9 ms per 3000-frame video
for proposal + classification on CPU):

  * latency: the exported SavedModel (tools/export_saved_model.py's layout) of
    configs/thumos14_i3d_tal_net.config on one video of 3000 frames = 188
    feature steps (10 fps, a feature every 16 frames: 0.625 features/s), two
    1024-d streams of random features; median over --repeats runs after
    --warmup runs, (a) loaded with tf.saved_model.load and called through
    tal_detection.inference_util.ServingFunction (as tools/infer.py runs it;
    the headline latency), (b) the same through the bare serving_default
    signature, in the same alternation (it pays a per-call cost that (a)
    avoids), and (c) loaded into a tf.compat.v1.Session.
    Without --saved_model_dir the model is exported from a checkpoint of
    randomly initialised weights four times: float32 and bfloat16 as
    tools/export_saved_model.py exports them by default (--precision=
    bfloat16 compiles SoI pooling with XLA, float32 does not), and each
    again with the other setting: float32 --jit_compile and bfloat16
    --nojit_compile; they are called in turn, so their speed ratios are
    measured under the same load (--bf16_saved_model_dir gives the bfloat16
    twin of --saved_model_dir; given SavedModels are timed without
    jit_compile twins).
  * FLOPs: tf.compat.v1.profiler's float_ops on the exported inference graph
    re-imported with static input shapes [1, 188, 1024], by op type, with the
    dense layers' (Conv2D + MatMul + BiasAdd) share; NMS loops count nothing.
  * hardware: dense float32 (and bfloat16) matmul throughput (1024 x 1024,
    chained 10 times in one tf.function; as many independent chains at once
    as the thread counts let ops run side by side), its --matmul_repeats
    calls taking turns with the exports' calls, so both see the same load;
    the model's FLOPs at that rate give the "ideal" latency, and ideal /
    measured is the fraction of the FLOP bound attained.
  * the model's own matmul shapes: every MatMul shape of the exported graph
    (e.g. the SPN's [188 x 768] x [768 x 256]) timed alone, taking turns with
    the 1024 x 1024 probe, as a fraction of its rate; the FLOP bound at
    those rates is what the exported model could reach if nothing but its
    MatMuls took time, and fp32_fraction_of_shape_bound how much of it it
    attains (what is lost below it is SoI pooling, NMS, gathers, overhead).
  * a memory-bound reference: microseconds per tf.image.crop_and_resize of
    one SoI chunk's shape (600 samples of the widest stream from the
    export's padded image; timing.CropProbe), every round of the same
    alternation: it shows a run in which this machine's memory-bound ops
    (the default exports' SoI pooling) ran slower than usual.
  * threads: everything runs with tal_detection/utils/threading_util's
    serving rule, as tools/infer.py runs a model (a two-stream model on 2
    cores: 1 thread per op, 2 ops at once); --intra_op_threads and
    --inter_op_threads override it.
  * scaling: 1x, 10x and 100x the video length, of the float32 and the
    bfloat16 export, each length and export in a fresh process
    (tal_detection/benchmarks/memory_probe.py) reporting latency and the rise
    of peak resident memory while running the video (timed after --warmup
    untimed runs at that length: a process's first calls at a new length
    are slower); memory per step = (that rise - the rise for a 16-step
    video) / (steps - 16).
  * training: steps/s of the config's train op (model_lib's model_fn, TRAIN
    mode) on one random 188-step video with 15 random ground-truth segments,
    fed from memory; median over --train_steps after --train_warmup.

Prints a table and writes --output_json (the headline figures at the top
level: fp32_latency_ms, bf16_latency_ms, bf16_speedup_vs_fp32,
fp32_fraction_of_flop_bound, fp32_fraction_of_shape_bound, shape_bound_ms,
crop_probe_us, bf16_fraction_of_flop_bound, matmul_gflops,
bf16_matmul_gflops, bf16_matmul_speedup_vs_fp32, fp32_jit_latency_ms,
fp32_jit_speedup, fp32_jit_fraction_of_flop_bound, bf16_nojit_latency_ms,
bf16_nojit_speedup_vs_fp32, bf16_jit_speedup (<precision>_jit_speedup: what
XLA's SoI pooling buys that precision, latency without it / with it),
latency_ms_<f>x, us_per_step_<f>x, bf16_latency_ms_<f>x and
bf16_speedup_vs_fp32_<f>x per length factor,
the load averages before and after) and --output_txt (the table, which
tools/render_readme.py puts into the README). The measurements live in
tal_detection/benchmarks/inference.py.
"""
# tool_util first: it quiets TensorFlow's start-up banner before TF loads.
from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order

import os
import shutil
import tempfile
import warnings

from absl import flags
from absl import logging as absl_logging
import tensorflow as tf

from tal_detection import exporter
from tal_detection.benchmarks import inference
from tal_detection.utils import config_util
from tal_detection.utils import io_util
from tal_detection.utils import threading_util

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLAGS = flags.FLAGS
flags.DEFINE_string('pipeline_config_path',
                    os.path.join(_REPO_ROOT, 'configs',
                                 'thumos14_i3d_tal_net.config'),
                    'Model to benchmark (default: the paper\'s main config).')
flags.DEFINE_string('saved_model_dir', None, 'Benchmark this SavedModel (a '
                    'version folder or the export folder holding versions) '
                    'instead of exporting one with random weights.')
flags.DEFINE_string('work_dir', None, 'Where the random-weight checkpoint and '
                    'export go (default: a temporary folder, removed).')
flags.DEFINE_integer('num_steps', 188, 'Feature steps of the timed video: '
                     '3000 frames / 16 frames per feature = 187.5 -> 188.')
flags.DEFINE_float('fps', 10.0, 'Frames per second of the timed video.')
flags.DEFINE_float('stride_frames', 16.0, 'Frames between features.')
flags.DEFINE_float('offset_frames', 8.0, 'Centre of feature 0, in frames.')
flags.DEFINE_list('length_factors', ['1', '10', '100'], 'Scaling check: '
                  'video lengths as multiples of --num_steps.')
flags.DEFINE_integer('warmup', 3, 'Untimed runs before timing.')
flags.DEFINE_integer('repeats', 30, 'Timed runs of the --num_steps video.')
flags.DEFINE_integer('scaling_repeats', 5, 'Timed runs per length (beyond '
                     '10x: half as many, at least 3), after --warmup '
                     'untimed ones.')
flags.DEFINE_integer('train_steps', 20, 'Timed training steps.')
flags.DEFINE_integer('train_warmup', 3, 'Untimed training steps first.')
flags.DEFINE_integer('matmul_size', 1024, 'n of the n x n matmul benchmark.')
flags.DEFINE_integer('matmul_repeats', 10, 'Timed calls of the matmul chain, '
                     'spread evenly over the --repeats rounds of model calls '
                     '(at most one per round).')
flags.DEFINE_string('bf16_saved_model_dir', None, 'With --saved_model_dir: '
                    'its bfloat16 export (tools/export_saved_model.py '
                    '--precision=bfloat16 of the same checkpoint), timed '
                    'alternately with it.')
flags.DEFINE_string('output_json', None, 'Where to write the results json.')
flags.DEFINE_string('output_txt', None, 'Where to write the printed table.')
flags.DEFINE_boolean('quick', False, 'Smoke run: 3 repeats, lengths 1x and '
                     '2x, 2 training steps.')
flags.DEFINE_integer('seed', 0, 'Seed of the random features and weights.')
flags.DEFINE_integer('intra_op_threads', 0, 'Threads per op (0: the cores '
                     'divided among the model\'s streams, as tools/infer.py '
                     'runs it).')
flags.DEFINE_integer('inter_op_threads', 0, 'Ops at once (0: one per core).')


def settings_from_flags():
  """inference.Settings of the flags; --quick shrinks every repeat count."""
  try:
    factors = tuple(float(f) for f in FLAGS.length_factors)
  except ValueError:
    raise ValueError('--length_factors: must be numbers, got %s' %
                     ','.join(FLAGS.length_factors)) from None
  settings = inference.Settings(
      num_steps=FLAGS.num_steps,
      video={'fps': FLAGS.fps, 'stride_frames': FLAGS.stride_frames,
             'offset_frames': FLAGS.offset_frames},
      length_factors=factors, warmup=FLAGS.warmup, repeats=FLAGS.repeats,
      scaling_repeats=FLAGS.scaling_repeats, train_steps=FLAGS.train_steps,
      train_warmup=FLAGS.train_warmup, matmul_size=FLAGS.matmul_size,
      matmul_repeats=FLAGS.matmul_repeats, seed=FLAGS.seed, quick=FLAGS.quick,
      intra_op_threads=FLAGS.intra_op_threads,
      inter_op_threads=FLAGS.inter_op_threads)
  if FLAGS.quick:
    settings.warmup = settings.train_warmup = 1
    settings.repeats = settings.matmul_repeats = 3
    settings.scaling_repeats = settings.train_steps = 2
    settings.length_factors = (1.0, 2.0)
  return settings


def _configure_threads(pipeline, settings):
  """Fixes the process's thread counts before TensorFlow runs its first op
  (exporting does), and records them in settings."""
  settings.intra_op_threads, settings.inter_op_threads = (
      threading_util.configure_serving(
          len(config_util.get_stream_names(pipeline.model)),
          intra_op_threads=settings.intra_op_threads,
          inter_op_threads=settings.inter_op_threads))


def run_benchmark(settings):
  """Exports (or resolves) the model and runs every measurement."""
  if FLAGS.saved_model_dir:
    try:
      version_dir = exporter.resolve_version_dir(FLAGS.saved_model_dir)
    except ValueError as e:
      raise ValueError('--saved_model_dir: %s' % e) from None
    # Training runs the model the SavedModel was exported from, when known.
    config_path = os.path.join(os.path.dirname(version_dir),
                               config_util.PIPELINE_CONFIG_FILENAME)
    if not os.path.exists(config_path):
      config_path = FLAGS.pipeline_config_path
    pipeline = config_util.load_pipeline(config_path)
    _configure_threads(pipeline, settings)
    model = {'source': 'SavedModel %s' % version_dir,
             'note': 'the given SavedModel; training uses %s' % config_path}
    bf16_version_dir = None
    if FLAGS.bf16_saved_model_dir:
      try:
        bf16_version_dir = exporter.resolve_version_dir(
            FLAGS.bf16_saved_model_dir)
      except ValueError as e:
        raise ValueError('--bf16_saved_model_dir: %s' % e) from None
    return inference.run(pipeline, version_dir, model, settings,
                         bf16_version_dir=bf16_version_dir)
  pipeline = config_util.load_pipeline(FLAGS.pipeline_config_path)
  _configure_threads(pipeline, settings)
  work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix='tal_benchmark_')
  try:
    version_dirs, export_seconds = (
        inference.export_random_weights_in_precisions(
            pipeline, work_dir, FLAGS.seed, exporter.PRECISIONS,
            also_jit_twins=True))
    model = {'source': '%s, random-initialised weights' %
                       os.path.relpath(FLAGS.pipeline_config_path, _REPO_ROOT),
             'note': 'weights are random (a checkpoint of the initialised '
                     'model, biases drawn in [-0.05, 0.05] as a trained '
                     'model\'s are nonzero, exported with '
                     'tools/export_saved_model.py\'s exporter): timing does '
                     'not depend on training, except that NMS work depends '
                     'on the scores.'}
    return inference.run(pipeline, version_dirs['float32'], model, settings,
                         export_seconds,
                         bf16_version_dir=version_dirs['bfloat16'],
                         twin_version_dirs={
                             p: version_dirs[inference.jit_twin_name(p)]
                             for p in exporter.PRECISIONS},
                         jit_compile={p: exporter.resolve_jit_compile(p)
                                      for p in exporter.PRECISIONS})
  finally:
    if not FLAGS.work_dir:
      shutil.rmtree(work_dir, ignore_errors=True)


def main(unused_argv):
  tf.get_logger().setLevel('ERROR')
  absl_logging.set_verbosity(absl_logging.ERROR)
  warnings.filterwarnings('ignore', message='`layer.apply` is deprecated')
  settings = settings_from_flags()
  settings.check()
  if FLAGS.bf16_saved_model_dir and not FLAGS.saved_model_dir:
    raise tool_util.UsageError('--bf16_saved_model_dir needs '
                               '--saved_model_dir (its float32 twin)')
  results = run_benchmark(settings)
  report = inference.format_report(results)
  print(report)
  if FLAGS.output_json:
    io_util.write_json(FLAGS.output_json, results, sort_keys=True)
    print('Wrote %s' % FLAGS.output_json)
  if FLAGS.output_txt:
    io_util.write_text(FLAGS.output_txt, report + '\n')
    print('Wrote %s' % FLAGS.output_txt)


if __name__ == '__main__':
  tool_util.run(main)
