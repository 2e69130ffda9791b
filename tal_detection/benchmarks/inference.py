"""Speed of an exported TAL-Net: latency, FLOPs, scaling with length, training.

run() measures everything tools/benchmark_inference.py reports and returns
the results dict; format_report() is its plain-text table. The model is the
exported SavedModel (tools/export_saved_model.py's layout), either given or
exported here from a checkpoint of randomly initialised weights: timing does
not depend on training, except that NMS work depends on the scores.
"""
import dataclasses
import functools
import json
import os
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from tal_detection import exporter
from tal_detection import inference_util
from tal_detection import model_lib
from tal_detection.benchmarks import flops
from tal_detection.benchmarks import memory_probe
from tal_detection.benchmarks import timing
from tal_detection.builders import model_builder
from tal_detection.core import standard_fields as fields
from tal_detection.ops import soi_pooling
from tal_detection.utils import config_util
from tal_detection.utils import machine_info
from tal_detection.utils import threading_util

PAPER_LATENCY_MS = 9.0  # TAL-Net paper, Table 8: proposal + classification.
TRAIN_NUM_GROUNDTRUTH = 15  # Random ground-truth segments of the train video.


@dataclasses.dataclass
class Settings:
  """Repeats and sizes of one benchmark run (see the tool's flags)."""
  num_steps: int = 188
  video: dict = dataclasses.field(default_factory=lambda: {
      'fps': 10.0, 'stride_frames': 16.0, 'offset_frames': 8.0})
  length_factors: tuple = (1.0, 10.0, 100.0)
  warmup: int = 3
  repeats: int = 30
  scaling_repeats: int = 5
  train_steps: int = 20
  train_warmup: int = 3
  matmul_size: int = 1024
  matmul_repeats: int = 10
  seed: int = 0
  quick: bool = False
  # 0: threading_util.serving_threads' choice for the model's streams.
  intra_op_threads: int = 0
  inter_op_threads: int = 0

  def check(self):
    if self.num_steps <= memory_probe.BASELINE_STEPS:
      raise ValueError('--num_steps: must exceed %d, got %d' %
                       (memory_probe.BASELINE_STEPS, self.num_steps))
    if (self.repeats < 1 or self.train_steps < 1 or self.matmul_repeats < 1
        or not self.length_factors):
      raise ValueError('--repeats, --train_steps, --matmul_repeats, '
                       '--length_factors: must be positive / non-empty')
    if self.intra_op_threads < 0 or self.inter_op_threads < 0:
      raise ValueError('--intra_op_threads, --inter_op_threads: must be >= 0 '
                       '(0: chosen for the model)')


def export_random_weights(pipeline, work_dir, seed):
  """Exports the pipeline's model with freshly initialised weights.

  Returns:
    (version_dir, seconds the export took).
  """
  version_dirs, seconds = export_random_weights_in_precisions(
      pipeline, work_dir, seed, ('float32',))
  return version_dirs['float32'], seconds


def jit_twin_name(precision):
  """Key of the export of `precision` with the jit_compile setting it does
  not have by default: '<precision>_jit' (float32: XLA SoI pooling added) or
  '<precision>_nojit' (bfloat16: without XLA)."""
  return precision + ('_nojit' if exporter.resolve_jit_compile(precision)
                      else '_jit')


def export_random_weights_in_precisions(pipeline, work_dir, seed, precisions,
                                       also_jit_twins=False):
  """Exports ONE freshly initialised checkpoint once per precision.

  Each precision is exported as tools/export_saved_model.py exports it by
  default (jit_compile where exporter.JIT_COMPILE_BY_DEFAULT says). The
  float32 export goes to work_dir/exported, the others to
  work_dir/exported_<precision>: the same weights, so their timings and
  outputs compare. also_jit_twins: each precision is exported a second time
  with the other jit_compile setting, keyed jit_twin_name(precision), to
  work_dir/exported_<that key>.

  Returns:
    ({precision or twin key: version_dir}, seconds the exports took).
  """
  start = time.time()
  prefix = os.path.join(work_dir, 'random_init', 'model.ckpt')
  os.makedirs(os.path.dirname(prefix), exist_ok=True)
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.set_random_seed(seed)
    exporter.build_inference_graph(pipeline.model, 'features')
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      _randomise_biases(sess, seed)
      tf.compat.v1.train.Saver().save(sess, prefix)
  version_dirs = {}
  for twin in (False, True) if also_jit_twins else (False,):
    for precision in precisions:
      jit_compile = exporter.resolve_jit_compile(precision)
      name = precision
      if twin:
        jit_compile, name = not jit_compile, jit_twin_name(precision)
      folder = 'exported' if name == 'float32' else 'exported_' + name
      version_dirs[name] = exporter.export_inference_graph(
          'features', pipeline, prefix, os.path.join(work_dir, folder),
          precision=precision, jit_compile=jit_compile)
  return version_dirs, time.time() - start


def _randomise_biases(sess, seed):
  """Gives every bias small random values, as training leaves them.

  The initialiser's biases are zeros, and a bfloat16 export's weights are
  frozen into constants, so grappler folds BiasAdd(x, 0) away and oneDNN
  then finds no MatMul + BiasAdd + ReLU to fuse: the MatMul and the ReLU run
  as two ops.
  A trained model's biases are not zero, so timing the zeros would time a
  graph nobody serves (measured: the bfloat16 export 1.43x vs 1.50x over
  float32 with zero vs random biases, same run).
  """
  rng = np.random.RandomState(seed)
  for variable in tf.compat.v1.global_variables():
    if variable.op.name.split('/')[-1] == 'biases':
      variable.load(rng.uniform(-0.05, 0.05, variable.shape.as_list())
                    .astype(variable.dtype.base_dtype.as_numpy_dtype), sess)


def serving_stream_dims(signature):
  """{input name: D} of a serving signature's features_<stream> inputs."""
  dims = {name: int(info.tensor_shape.dim[-1].size)
          for name, info in signature.inputs.items()
          if name.startswith('features_')}
  if not dims:
    raise ValueError('the SavedModel has no features_<stream> inputs (export '
                     'it with --input_type=features)')
  return dims


def serving_calls(version_dirs, inputs):
  """{name: call} of each SavedModel's inference_util.ServingFunction (what
  tools/infer.py serves through) on the same `inputs`; a call runs the
  model, results to numpy, and returns the video's number of detections.

  version_dirs: {name: version folder}.
  """
  tensors = {k: tf.constant(v) for k, v in inputs.items()}
  calls = {}
  for name, version_dir in version_dirs.items():
    serve = inference_util.ServingFunction(version_dir)
    calls[name] = (lambda serve=serve: int(
        serve(**tensors)['num_detections'].numpy()[0]))
  return calls


def bare_signature_call(version_dir, inputs):
  """A call of the SavedModel's bare serving signature (tf.saved_model.load,
  keyword arguments), as serving_calls' calls: what ServingFunction saves."""
  tensors = {k: tf.constant(v) for k, v in inputs.items()}
  loaded = tf.saved_model.load(version_dir)
  serve = loaded.signatures[tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY]
  # The loaded object is kept alive by the call: the signature needs it.
  return (lambda serve=serve, loaded=loaded: int(
      serve(**tensors)['num_detections'].numpy()[0]))


def time_serving_function(version_dir, inputs, warmup, repeats):
  """Seconds of `repeats` calls of one SavedModel's ServingFunction after
  `warmup`.

  Returns:
    (seconds per call, number of detections of the video).
  """
  call = serving_calls({'model': version_dir}, inputs)['model']
  return timing.time_calls(call, warmup, repeats), call()


def time_v1_session(version_dir, inputs, warmup, repeats, threads):
  """The same SavedModel in a tf.compat.v1.Session: sess.run of its outputs.

  threads: (intra-op, inter-op) counts of the session.
  """
  graph = tf.Graph()
  with tf.compat.v1.Session(
      graph=graph, config=threading_util.session_config(*threads)) as sess:
    meta_graph = tf.compat.v1.saved_model.loader.load(
        sess, [tf.saved_model.SERVING], version_dir)
    signature = meta_graph.signature_def[
        tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY]
    feed = {signature.inputs[k].name: v for k, v in inputs.items()}
    fetch = {k: v.name for k, v in signature.outputs.items()}
    return timing.time_calls(lambda: sess.run(fetch, feed), warmup, repeats)


def inference_float_ops(version_dir, stream_dims, num_steps):
  """FLOPs of one num_steps-step video through the exported graph."""
  shapes = {name: [1, num_steps, dim] for name, dim in stream_dims.items()}
  for name in ('num_steps', 'fps', 'stride_frames', 'offset_frames'):
    shapes[name] = [1]
  counts = flops.saved_model_float_ops(version_dir, shapes)
  return {'profiler': counts,
          'profiler_dense_float_ops': flops.dense_float_ops(counts)}


def matmul_shape_bound(version_dir, stream_dims, num_steps, square_probe,
                       square_gflops, total_flop, repeats, parallel):
  """The FLOP bound at the rates of the model's own MatMul shapes.

  Every MatMul shape of the exported graph (static shapes of a num_steps
  video) is timed alone (timing.MatmulShapeProbe, `parallel` products at
  once as the square probe), its calls taking turns with the square probe's,
  so each shape's rate is a same-load fraction of the square probe's; the
  bound is the time the model's MatMuls take at those fractions of
  square_gflops (the main run's probe rate), plus its other FLOPs at
  square_gflops. What the model loses below it is not the shapes' matmul
  rate but everything else (SoI pooling, NMS, gathers, per-op and per-call
  overhead, idle cores).

  Returns:
    dict: bound_ms, matmul_float_ops, and 'shapes', one row per shape
    (shape [m, k, n], count, float_ops, gflops, fraction_of_square_probe,
    ms_at_main_probe_rate), largest FLOPs first.
  """
  shapes = {name: [1, num_steps, dim] for name, dim in stream_dims.items()}
  for name in ('num_steps', 'fps', 'stride_frames', 'offset_frames'):
    shapes[name] = [1]
  counts = flops.saved_model_matmul_shapes(version_dir, shapes)
  probes = {'square': square_probe}
  for shape in counts:
    probes[shape] = timing.MatmulShapeProbe(shape, parallel=parallel)
  times = timing.time_interleaved(probes, 1, repeats)
  square = square_probe.summary(times['square'])['gflops']
  rows = []
  for shape, count in counts.items():
    rate = probes[shape].summary(times[shape])
    float_ops = 2.0 * shape[0] * shape[1] * shape[2] * count
    fraction = rate['gflops'] / square
    rows.append({'shape': list(shape), 'count': count, 'float_ops': float_ops,
                 'gflops': rate['gflops'], 'fraction_of_square_probe': fraction,
                 'ms_at_main_probe_rate': 1000.0 * float_ops / (
                     fraction * square_gflops * 1e9)})
  rows.sort(key=lambda row: -row['float_ops'])
  matmul_flop = flops.matmul_shape_float_ops(counts)
  other_ms = 1000.0 * max(0, total_flop - matmul_flop) / (square_gflops * 1e9)
  return {'bound_ms': sum(row['ms_at_main_probe_rate'] for row in rows) +
                      other_ms,
          'matmul_float_ops': matmul_flop, 'square_probe_gflops': square,
          'shapes': rows}


def _run_probe(version_dir, num_steps, repeats, settings, threads):
  process = subprocess.run(
      memory_probe.command(version_dir, num_steps, repeats, settings.seed,
                           settings.video, sys.executable, threads,
                           warmup=settings.warmup),
      capture_output=True, text=True, check=False)
  if process.returncode != 0:
    tail = (process.stderr.strip().splitlines() or ['(no output)'])[-1]
    raise ValueError('scaling subprocess at %d steps failed: %s' %
                     (num_steps, tail))
  return json.loads(process.stdout.strip().splitlines()[-1])


def scaling(version_dir, settings, repeats, factors, threads):
  """Latency and memory per step at each length, a fresh process each."""
  baseline = memory_probe.BASELINE_STEPS
  rows = []
  for factor in factors:
    num_steps = int(round(settings.num_steps * factor))
    # Long videos take seconds per run: fewer repeats, but at least 3 (a
    # median of 2 is their mean, which one slow call moves).
    runs = repeats if factor <= 10 else max(3, repeats // 2)
    probe = _run_probe(version_dir, num_steps, runs, settings, threads)
    median_s = float(np.median(probe['times_s']))
    extra_kib = probe['long_growth_kib'] - probe['baseline_growth_kib']
    rows.append({
        'factor': factor, 'num_steps': num_steps,
        'median_ms': 1000.0 * median_s,
        'us_per_step': 1e6 * median_s / num_steps,
        'peak_rss_mib': probe['long_peak_rss_kib'] / 1024.0,
        'peak_growth_mib': probe['long_growth_kib'] / 1024.0,
        'baseline_peak_growth_mib': probe['baseline_growth_kib'] / 1024.0,
        'kib_per_step': extra_kib / float(num_steps - baseline),
        'memory_method': probe['memory_method'],
        'runs': len(probe['times_s']), 'warmup_runs': probe['warmup'],
    })
  return {'baseline_steps': baseline, 'rows': rows}


def training_steps_per_second(pipeline, num_steps, warmup, steps, seed,
                              video):
  """Train-op steps/s of the pipeline's model on one random in-memory video."""
  model_config = pipeline.model
  rng = np.random.default_rng(seed)
  data = fields.InputDataFields
  starts = rng.uniform(0, num_steps - 16, TRAIN_NUM_GROUNDTRUTH)
  lengths = rng.uniform(1, 16, TRAIN_NUM_GROUNDTRUTH)
  segments = np.stack([starts, starts + lengths], axis=-1)[None]
  classes = rng.integers(1, config_util.get_number_of_classes(model_config) + 1,
                         (1, TRAIN_NUM_GROUNDTRUTH))
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.set_random_seed(seed)
    features = {data.features_key(name): tf.constant(
        rng.standard_normal((1, num_steps, dim)).astype(np.float32))
                for name, dim in config_util.get_stream_specs(model_config)}
    features[data.num_steps] = tf.constant([num_steps], tf.int32)
    for key in ('fps', 'stride_frames', 'offset_frames'):
      features[getattr(data, key)] = tf.constant([video[key]], tf.float32)
    labels = {
        data.groundtruth_segments: tf.constant(segments, tf.float32),
        data.groundtruth_classes: tf.constant(classes, tf.int32),
        data.num_groundtruth_segments: tf.constant([TRAIN_NUM_GROUNDTRUTH],
                                                   tf.int32),
    }
    model_fn = model_lib.create_model_fn(
        functools.partial(model_builder.build, model_config=model_config),
        config_util.create_configs_from_pipeline_proto(pipeline))
    spec = model_fn(features, labels, tf.estimator.ModeKeys.TRAIN)
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      fetch = [spec.train_op, spec.loss]
      times = timing.time_calls(lambda: sess.run(fetch), warmup, steps)
      loss = float(sess.run(spec.loss))
  median = float(np.median(times))
  return {'num_steps_per_video': num_steps,
          'num_groundtruth': TRAIN_NUM_GROUNDTRUTH,
          'median_s_per_step': median, 'steps_per_s': 1.0 / median,
          'steps_timed': len(times), 'final_loss': loss}


def _progress(message):
  print(message, file=sys.stderr, flush=True)


def run(pipeline, version_dir, model, settings, export_seconds=0.0,
        bf16_version_dir=None, twin_version_dirs=None, jit_compile=None):
  """Runs every measurement on an exported model; returns the results dict.

  Args:
    pipeline: validated TrainEvalPipelineConfig (used for training).
    version_dir: SavedModel folder to time (float32).
    model: {'source', 'note'} describing where the model came from.
    settings: Settings (already adjusted for a quick run).
    export_seconds: how long exporting the model took (0 if given).
    bf16_version_dir: the same weights exported with precision bfloat16,
      timed call by call alternating with version_dir (None: not measured).
    twin_version_dirs: {precision: version folder} of the same weights
      exported with the other jit_compile setting (jit_twin_name), timed in
      the same alternation (None: not measured).
    jit_compile: {precision: whether version_dir / bf16_version_dir compile
      SoI pooling with XLA} when known (None: given SavedModels).
  """
  settings.check()
  load_before = timing.load_average()
  signature, _ = flops.load_serving_meta_graph(version_dir)
  stream_dims = serving_stream_dims(signature)
  # Every timing below (this process's eager runtime, the Session, the
  # scaling subprocesses, the matmul probe) runs with these thread counts.
  threads = threading_util.configure_serving(
      len(stream_dims), intra_op_threads=settings.intra_op_threads,
      inter_op_threads=settings.inter_op_threads)
  # Independent products at once, as many as ops can run side by side.
  probe_chains = max(1, threads[1] // threads[0])
  inputs = memory_probe.make_video_inputs(
      stream_dims, settings.num_steps, np.random.default_rng(settings.seed),
      **settings.video)
  version_dirs = {'float32': version_dir}
  probes = {'matmul_float32': timing.MatmulProbe(
      settings.matmul_size, parallel=probe_chains)}
  # The memory-bound reference, at the float32 export's SoI image size for
  # this video (2^k + 1 rows, 2^k >= steps + 1) and its widest stream.
  crop_probe = timing.CropProbe(
      depth=max(stream_dims.values()),
      rows=soi_pooling.crop_and_resize_image_rows(settings.num_steps),
      parallel=probe_chains)
  if bf16_version_dir:
    version_dirs['bfloat16'] = bf16_version_dir
    probes['matmul_bfloat16'] = timing.MatmulProbe(
        settings.matmul_size, dtype=tf.bfloat16, parallel=probe_chains)
  for precision, twin_dir in (twin_version_dirs or {}).items():
    version_dirs[jit_twin_name(precision)] = twin_dir
  model_calls = serving_calls(version_dirs, inputs)
  # The bare signature of the float32 export in the same alternation: what
  # a caller of tf.saved_model.load's signature pays on top.
  bare_call = {'bare_signature': bare_signature_call(version_dir, inputs)}
  _progress('timing the SavedModel (%d steps), calls taking turns with the '
            'matmul probe ...' % settings.num_steps)
  # The exports and the probe take turns, so the fraction of the FLOP bound
  # and the bfloat16 speed-up are each a ratio of times under the same load.
  times = timing.time_interleaved(
      {**model_calls, **bare_call, **probes, 'crop_probe': crop_probe},
      settings.warmup, settings.repeats,
      runs={name: settings.matmul_repeats for name in probes})
  detections_by_precision = {name: call()
                             for name, call in model_calls.items()}
  serving_times = times['float32']
  num_detections = detections_by_precision['float32']
  matmul = probes['matmul_float32'].summary(times['matmul_float32'])
  crops = crop_probe.summary(times['crop_probe'])
  bf16_matmul = (probes['matmul_bfloat16'].summary(times['matmul_bfloat16'])
                 if bf16_version_dir else None)
  v1_times = time_v1_session(version_dir, inputs, settings.warmup,
                             settings.repeats, threads)
  _progress('FLOPs ...')
  model_flops = inference_float_ops(version_dir, stream_dims,
                                    settings.num_steps)
  _progress('the model\'s matmul shapes, each alone ...')
  shape_bound = matmul_shape_bound(
      version_dir, stream_dims, settings.num_steps,
      probes['matmul_float32'], matmul['gflops'],
      model_flops['profiler']['total_float_ops'], settings.matmul_repeats,
      probe_chains)
  _progress('scaling at %s x %d steps ...' % (
      ', '.join('%g' % f for f in settings.length_factors), settings.num_steps))
  scaling_results = scaling(version_dir, settings, settings.scaling_repeats,
                            settings.length_factors, threads)
  # The bfloat16 export's too: its SoI pooling (XLA by default) and its
  # share of matmul time differ, so its cost per step need not scale alike.
  bf16_scaling = (scaling(bf16_version_dir, settings,
                          settings.scaling_repeats, settings.length_factors,
                          threads) if bf16_version_dir else None)
  _progress('training steps/s ...')
  training = training_steps_per_second(
      pipeline, settings.num_steps, settings.train_warmup, settings.train_steps,
      settings.seed, settings.video)

  latency = {'serving_function': timing.stats_ms(serving_times),
             'bare_signature': timing.stats_ms(times['bare_signature']),
             'v1_session': timing.stats_ms(v1_times),
             'num_detections': num_detections}
  total_flop = model_flops['profiler']['total_float_ops']
  ideal_ms = 1000.0 * total_flop / (matmul['gflops'] * 1e9)
  fp32_ms = latency['serving_function']['median_ms']
  summary = {
      'fp32_latency_ms': fp32_ms,
      'fp32_fraction_of_flop_bound': ideal_ms / fp32_ms,
      'matmul_gflops': matmul['gflops'],
      # The same, against the bound at the model's own MatMul shapes' rates.
      'fp32_fraction_of_shape_bound': shape_bound['bound_ms'] / fp32_ms,
      'shape_bound_ms': shape_bound['bound_ms'],
      'crop_probe_us': crops['median_us_per_crop'],
      'bf16_latency_ms': None, 'bf16_speedup_vs_fp32': None,
      'bf16_matmul_gflops': None, 'bf16_matmul_speedup_vs_fp32': None,
      'bf16_fraction_of_flop_bound': None,
      'bf16_fraction_of_fp32_flop_bound': None,
  }
  if bf16_version_dir:
    bf16 = timing.stats_ms(times['bfloat16'])
    latency['serving_function_bfloat16'] = bf16
    latency['num_detections_bfloat16'] = detections_by_precision['bfloat16']
    summary.update({
        'bf16_latency_ms': bf16['median_ms'],
        'bf16_speedup_vs_fp32': fp32_ms / bf16['median_ms'],
        'bf16_matmul_gflops': bf16_matmul['gflops'],
        # What bfloat16 buys the probe's own matmul: about the ceiling of the
        # export's speed-up (below 1 where the CPU emulates bfloat16).
        'bf16_matmul_speedup_vs_fp32': (bf16_matmul['gflops'] /
                                        matmul['gflops']),
        # Against the bfloat16 matmul's throughput, and (how far bfloat16
        # goes past the float32 bound) against the float32 one.
        'bf16_fraction_of_flop_bound': (
            1000.0 * total_flop / (bf16_matmul['gflops'] * 1e9) /
            bf16['median_ms']),
        'bf16_fraction_of_fp32_flop_bound': ideal_ms / bf16['median_ms'],
    })
  # The twins (the other jit_compile setting): their latency, and what XLA's
  # SoI pooling buys each precision (latency without XLA / with it).
  default_ms = {'float32': fp32_ms, 'bfloat16': summary['bf16_latency_ms']}
  for precision, short in (('float32', 'fp32'), ('bfloat16', 'bf16')):
    name = jit_twin_name(precision)
    twin_key = short + name[len(precision):]  # fp32_jit, bf16_nojit
    summary[twin_key + '_latency_ms'] = None
    summary[short + '_jit_speedup'] = None
    if name in times:
      twin = timing.stats_ms(times[name])
      latency['serving_function_' + name] = twin
      latency['num_detections_' + name] = detections_by_precision[name]
      summary[twin_key + '_latency_ms'] = twin['median_ms']
      with_xla, without = default_ms[precision], twin['median_ms']
      if not exporter.resolve_jit_compile(precision):
        with_xla, without = without, with_xla
      summary[short + '_jit_speedup'] = without / with_xla
  summary['fp32_jit_fraction_of_flop_bound'] = (
      ideal_ms / summary['fp32_jit_latency_ms']
      if summary['fp32_jit_latency_ms'] else None)
  summary['bf16_nojit_speedup_vs_fp32'] = (
      fp32_ms / summary['bf16_nojit_latency_ms']
      if summary['bf16_nojit_latency_ms'] else None)
  for row in scaling_results['rows']:
    key = '%gx' % row['factor']
    summary['latency_ms_%s' % key] = row['median_ms']
    summary['us_per_step_%s' % key] = row['us_per_step']
  for row, bf16_row in zip(scaling_results['rows'],
                           bf16_scaling['rows'] if bf16_scaling else []):
    key = '%gx' % row['factor']
    summary['bf16_latency_ms_%s' % key] = bf16_row['median_ms']
    # Fresh processes one after another, not calls taking turns: a ratio
    # under less even load than bf16_speedup_vs_fp32's.
    summary['bf16_speedup_vs_fp32_%s' % key] = (row['median_ms'] /
                                                bf16_row['median_ms'])
  summary['load_average_before'] = load_before
  summary['load_average_after'] = timing.load_average()
  baseline = memory_probe.BASELINE_STEPS
  return {
      **summary,
      'bf16_matmul': bf16_matmul,
      'model': model, 'machine': timing.describe_machine(),
      'jit_compile': jit_compile,
      'quick': settings.quick, 'num_steps': settings.num_steps,
      'stream_dims': stream_dims, 'export_seconds': export_seconds,
      'threads': {'intra_op': threads[0], 'inter_op': threads[1],
                  'matmul_parallel_chains': probe_chains},
      'latency': latency, 'paper_latency_ms': PAPER_LATENCY_MS,
      'flops': model_flops, 'matmul': matmul, 'crop_probe': crops,
      'ideal_latency_ms': ideal_ms, 'matmul_shape_bound': shape_bound,
      'fraction_of_matmul_peak': (
          ideal_ms / latency['serving_function']['median_ms']),
      'scaling': scaling_results, 'scaling_bfloat16': bf16_scaling,
      'training': training,
      'memory_method': 'per length, a fresh subprocess loads the SavedModel '
                       'and warms it up on a %d-step video; then, for a '
                       '%d-step video and for the long one, it resets the peak-RSS '
                       'mark (writing 5 to /proc/self/clear_refs) and reads '
                       'VmHWM - VmRSS-at-start from /proc/self/status after '
                       'running it (fallback: getrusage ru_maxrss). Memory '
                       'per step = (long growth - short growth) / (steps - '
                       '%d).' % ((baseline,) * 3),
  }


def format_report(results):
  """Plain-text table of run()'s results."""
  lat = results['latency']
  model_flops = results['flops']
  hw = results['matmul']
  machine = results['machine']
  lines = [
      'TAL-Net inference benchmark (%s)' % results['model']['source'],
      'video: %d steps (3000 frames at 0.625 features/s), streams %s' % (
          results['num_steps'], ', '.join(
              '%s %d-d' % (k, v) for k, v in results['stream_dims'].items())),
      '',
      '| measure | value |',
      '|---|---|',
      '| machine | %s |' % machine_info.machine_summary(machine),
      '| latency, tf.saved_model.load through inference_util.ServingFunction '
      '(median of %d) | %.1f ms |' % (
          lat['serving_function']['runs'],
          lat['serving_function']['median_ms']),
      '| latency, the bare tf.saved_model.load signature, same alternation '
      '(median of %d) | %.1f ms |' % (
          lat['bare_signature']['runs'], lat['bare_signature']['median_ms']),
      '| latency, tf.compat.v1 Session (median of %d) | %.1f ms |' % (
          lat['v1_session']['runs'], lat['v1_session']['median_ms']),
      '| paper (Table 8, proposal + classification, CPU) | %.0f ms |' %
      results['paper_latency_ms'],
      '| FLOPs, tfprof float_ops (static shapes) | %.2f GFLOP |' % (
          model_flops['profiler']['total_float_ops'] / 1e9),
      '| of which Conv2D + MatMul + BiasAdd (tfprof) | %.3f GFLOP |' % (
          model_flops['profiler_dense_float_ops'] / 1e9),
      '| threads: intra-op / inter-op (matmul probe: chains at once) | '
      '%d / %d (%d) |' % (results['threads']['intra_op'],
                          results['threads']['inter_op'],
                          results['threads']['matmul_parallel_chains']),
      '| matmul %dx%d float32 throughput (median) | %.1f GFLOP/s |' % (
          hw['size'], hw['size'], hw['gflops']),
      '| ideal latency = FLOPs / matmul throughput | %.1f ms |' % (
          results['ideal_latency_ms']),
      '| fraction of matmul peak attained (ideal / measured) | %.0f%% |' % (
          100 * results['fraction_of_matmul_peak']),
  ]
  crops = results.get('crop_probe')
  if crops is not None:
    lines.append(
        '| crop_and_resize probe: %d samples x %d from %d rows (%d at once), '
        'same alternation (median of %d) | %.0f us per crop |' % (
            crops['samples'], crops['depth'], crops['rows'],
            crops['parallel_chains'], crops['runs'],
            crops['median_us_per_crop']))
  bound = results.get('matmul_shape_bound')
  if bound is not None:
    lines += [
        '| the model\'s MatMul shapes alone (%d shapes, %.2f GFLOP): rate as '
        'a fraction of the %dx%d probe\'s | %s |' % (
            len(bound['shapes']), bound['matmul_float_ops'] / 1e9,
            hw['size'], hw['size'], ', '.join(
                '%s %.0f%%' % ('x'.join(str(d) for d in row['shape']),
                               100 * row['fraction_of_square_probe'])
                for row in bound['shapes'])),
        '| ideal latency at those rates / fraction attained | %.1f ms / '
        '%.0f%% |' % (bound['bound_ms'],
                      100 * results['fp32_fraction_of_shape_bound']),
    ]
  if results.get('bf16_latency_ms') is not None:
    bf16_runs = lat['serving_function_bfloat16']['runs']
    xla = (results.get('jit_compile') or {}).get('bfloat16')
    lines += [
        '| bfloat16 export%s, same weights, calls alternating with float32 '
        '(median of %d) | %.1f ms |' % (
            {None: '', True: ' (XLA SoI pooling, the default)',
             False: ' (no XLA)'}[xla], bf16_runs, results['bf16_latency_ms']),
        '| bfloat16 speed-up over float32 (same run) | %.2fx |' % (
            results['bf16_speedup_vs_fp32']),
        '| matmul %dx%d bfloat16 throughput (median) | %.1f GFLOP/s |' % (
            hw['size'], hw['size'], results['bf16_matmul_gflops']),
        '| bfloat16 speed-up of that matmul over float32 | %.2fx |' % (
            results['bf16_matmul_speedup_vs_fp32']),
        '| bfloat16: fraction of its matmul peak / of the float32 bound | '
        '%.0f%% / %.0f%% |' % (
            100 * results['bf16_fraction_of_flop_bound'],
            100 * results['bf16_fraction_of_fp32_flop_bound']),
    ]
  if results.get('fp32_jit_latency_ms') is not None:
    lines += [
        '| float32 export with --jit_compile (XLA SoI pooling), same '
        'alternation (median of %d) | %.1f ms |' % (
            lat['serving_function_float32_jit']['runs'],
            results['fp32_jit_latency_ms']),
        '| its speed-up over the float32 export / fraction of matmul peak | '
        '%.2fx / %.0f%% |' % (results['fp32_jit_speedup'],
                             100 * results['fp32_jit_fraction_of_flop_bound']),
    ]
  if results.get('bf16_nojit_latency_ms') is not None:
    lines.append(
        '| bfloat16 export with --nojit_compile (crop_and_resize SoI pooling, '
        'no XLA; median of %d); the bfloat16 export\'s speed-up over it / its '
        'speed-up over float32 | %.1f ms; %.2fx / %.2fx |' % (
            lat['serving_function_bfloat16_nojit']['runs'],
            results['bf16_nojit_latency_ms'], results['bf16_jit_speedup'],
            results['bf16_nojit_speedup_vs_fp32']))
  load = results.get('load_average_before')
  if load is not None:
    lines.append('| machine load (1-min load average, before / after) | '
                 '%.2f / %.2f |' % (load[0],
                                    results['load_average_after'][0]))
  lines += [
      '| training, train op on one %d-step video | %.2f steps/s |' % (
          results['training']['num_steps_per_video'],
          results['training']['steps_per_s']),
      '',
      'Scaling (a fresh process per export and length, one after another; '
      'peak growth = how far the process\'s peak RSS rises above its RSS while '
      'running the video; memory per step = (growth - growth of a %d-step '
      'video) / (steps - %d)):' % ((results['scaling']['baseline_steps'],) * 2),
      '| export | length | steps | median latency | time per step | peak '
      'growth | memory per step | process peak RSS |',
      '|---|---|---|---|---|---|---|---|',
  ]
  for precision, scaled in (('float32', results['scaling']),
                            ('bfloat16', results.get('scaling_bfloat16'))):
    for row in scaled['rows'] if scaled else []:
      lines.append('| %s | %gx | %d | %.1f ms | %.1f us | %.1f MiB | %.1f KiB '
                   '| %.0f MiB |' % (
                       precision, row['factor'], row['num_steps'],
                       row['median_ms'], row['us_per_step'],
                       row['peak_growth_mib'], row['kib_per_step'],
                       row['peak_rss_mib']))
  lines += ['', 'Note: %s' % results['model']['note']]
  return '\n'.join(lines)
