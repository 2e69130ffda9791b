r"""Speed of the paper's main model: inference latency, FLOPs, scaling, training.

  python tools/benchmark_inference.py --results_json=out/inference_benchmark.json
  python tools/benchmark_inference.py --saved_model_dir=out/exported  # your model
  python tools/benchmark_inference.py --quick   # smoke run (few repeats)

Measures, in one run on this machine (paper, Table 8: 9 ms per 3000-frame video
for proposal + classification on CPU):

  * latency: the exported SavedModel (tools/export_saved_model.py's layout) of
    configs/thumos14_i3d_tal_net.config on one video of 3000 frames = 188
    feature steps (10 fps, a feature every 16 frames: 0.625 features/s), two
    1024-d streams of random features; median over --repeats runs after
    --warmup runs, (a) loaded with tf.saved_model.load and called through its
    serving_default signature (TF2 eager call of the graph function), and
    (b) loaded into a tf.compat.v1.Session (sess.run of the signature's
    tensors). Without --saved_model_dir the model is exported from a
    checkpoint of randomly initialised weights: timing does not depend on
    training, except that post-processing (NMS) work depends on the scores.
  * FLOPs: tf.compat.v1.profiler's float_ops on the exported inference graph
    re-imported with static input shapes [1, 188, 1024] (every conv / matmul
    shape is then static, the second stage's 300 padded proposals included),
    next to a hand count of every dense layer (conv1d / FC) from the config,
    compared with tfprof's Conv2D + MatMul + BiasAdd share; the profiler also
    counts elementwise ops (NMS loops count nothing).
  * hardware: dense float32 matmul throughput, tf.matmul of 1024 x 1024
    matrices chained 10 times inside one tf.function (2 * n^3 FLOP each),
    median GFLOP/s; the model's FLOPs at that rate give the "ideal" latency,
    and ideal / measured is the fraction of the matmul peak the model attains.
  * scaling: 1x, 10x and 100x the video length (188, 1880, 18800 steps), each
    in a fresh subprocess that loads the SavedModel and reports the long
    video's median latency and how far the process's peak resident memory
    rises above its resident memory while running it (the peak mark is reset
    first by writing 5 to /proc/self/clear_refs and read as VmHWM from
    /proc/self/status, so the loading peak is left out; fallback where that is
    unavailable: getrusage ru_maxrss); memory per step = (that growth - the
    growth for a 16-step video) / (steps - 16). Time per step and memory per
    step stay flat when cost is linear in length (the second stage works on a
    fixed 300 proposals, so time per step falls at first, then levels off).
  * training: steps/s of the main config's train op (model_lib's model_fn in
    TRAIN mode, Adam) on one random 188-step video with 15 random ground-truth
    segments per step, features fed from memory (no input pipeline), median
    over --train_steps steps after --train_warmup.

Prints a table and writes --results_json.
"""
import os

# Quiet TensorFlow's C++ start-up banner; overridable.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# pylint: disable=g-import-not-at-top,wrong-import-position
import functools
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

from absl import app
from absl import flags
from absl import logging as absl_logging
import numpy as np
import tensorflow as tf

from tal_detection import exporter
from tal_detection import model_lib
from tal_detection.builders import model_builder
from tal_detection.core import standard_fields as fields
from tal_detection.protos import tal_net_pb2
from tal_detection.utils import config_util
from tal_detection.utils import machine_info

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPER_LATENCY_MS = 9.0

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
flags.DEFINE_integer('scaling_repeats', 5, 'Timed runs per length (at least 2 '
                     'for the longest).')
flags.DEFINE_integer('train_steps', 20, 'Timed training steps.')
flags.DEFINE_integer('train_warmup', 3, 'Untimed training steps first.')
flags.DEFINE_integer('matmul_size', 1024, 'n of the n x n matmul benchmark.')
flags.DEFINE_integer('matmul_repeats', 10, 'Timed calls of the matmul chain.')
flags.DEFINE_string('results_json', None, 'Where to write the results json.')
flags.DEFINE_boolean('quick', False, 'Smoke run: 3 repeats, lengths 1x and '
                     '2x, 2 training steps.')
flags.DEFINE_integer('child_length', 0, 'Internal: run as the scaling '
                     'subprocess on a video of this many steps.')
flags.DEFINE_integer('seed', 0, 'Seed of the random features and weights.')

_BASELINE_STEPS = 16
_TRAIN_NUM_GROUNDTRUTH = 15


# ---------------------------------------------------------------------------
# SavedModel: export with random weights, resolve, inputs.


def export_random_weights(pipeline_config_path, work_dir, seed):
  """Exports the config's model with freshly initialised weights.

  Returns:
    (version_dir, seconds): the SavedModel folder and the time export took.
  """
  start = time.time()
  configs = config_util.get_configs_from_pipeline_file(pipeline_config_path)
  pipeline = config_util.create_pipeline_proto_from_configs(configs)
  config_util.validate_pipeline_config(pipeline, pipeline_config_path)
  prefix = os.path.join(work_dir, 'random_init', 'model.ckpt')
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.set_random_seed(seed)
    exporter.build_inference_graph(pipeline.model, 'features')
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      tf.compat.v1.train.Saver().save(sess, prefix)
  version_dir = exporter.export_inference_graph(
      'features', pipeline, prefix, os.path.join(work_dir, 'exported'))
  return version_dir, time.time() - start


def resolve_saved_model_dir(path):
  """A version folder, or the newest numeric version under an export folder."""
  if os.path.exists(os.path.join(path, 'saved_model.pb')):
    return path
  versions = [d for d in os.listdir(path) if d.isdigit() and os.path.exists(
      os.path.join(path, d, 'saved_model.pb'))] if os.path.isdir(path) else []
  if not versions:
    raise ValueError('--saved_model_dir: no saved_model.pb in %s or in a '
                     'numbered version folder under it' % path)
  return os.path.join(path, max(versions, key=int))


def _signature(version_dir):
  """serving_default SignatureDef of the SavedModel (read without running)."""
  graph = tf.Graph()
  with tf.compat.v1.Session(graph=graph) as sess:
    meta_graph = tf.compat.v1.saved_model.loader.load(
        sess, [tf.saved_model.SERVING], version_dir)
  return meta_graph.signature_def[
      tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY], meta_graph


def stream_dims_of(signature):
  """{input name: D} of the per-stream feature inputs [B, T, D]."""
  dims = {}
  for name, info in signature.inputs.items():
    if name.startswith('features_'):
      dims[name] = int(info.tensor_shape.dim[-1].size)
  if not dims:
    raise ValueError('the SavedModel has no features_<stream> inputs (export '
                     'it with --input_type=features)')
  return dims


def make_inputs(stream_dims, num_steps, rng):
  """numpy inputs of one video: random features plus its time parameters."""
  inputs = {name: rng.standard_normal((1, num_steps, dim)).astype(np.float32)
            for name, dim in stream_dims.items()}
  inputs['num_steps'] = np.array([num_steps], np.int32)
  inputs['fps'] = np.array([FLAGS.fps], np.float32)
  inputs['stride_frames'] = np.array([FLAGS.stride_frames], np.float32)
  inputs['offset_frames'] = np.array([FLAGS.offset_frames], np.float32)
  return inputs


# ---------------------------------------------------------------------------
# Timing.


def _time_calls(call, warmup, repeats):
  """Seconds of each of `repeats` calls after `warmup` untimed ones."""
  for _ in range(warmup):
    call()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    call()
    times.append(time.perf_counter() - start)
  return times


def _stats_ms(times):
  times_ms = 1000.0 * np.asarray(times)
  return {'median_ms': float(np.median(times_ms)),
          'min_ms': float(np.min(times_ms)),
          'p90_ms': float(np.percentile(times_ms, 90)),
          'runs': len(times)}


def time_tf2_signature(version_dir, inputs, warmup, repeats):
  """tf.saved_model.load + serving_default(**inputs), results to numpy."""
  loaded = tf.saved_model.load(version_dir)
  serve = loaded.signatures[tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY]
  tensors = {k: tf.constant(v) for k, v in inputs.items()}

  def call():
    outputs = serve(**tensors)
    return int(outputs['num_detections'].numpy()[0])

  times = _time_calls(call, warmup, repeats)
  return times, call()


def time_v1_session(version_dir, inputs, warmup, repeats):
  """The same SavedModel in a tf.compat.v1.Session: sess.run of its outputs."""
  graph = tf.Graph()
  with tf.compat.v1.Session(graph=graph) as sess:
    meta_graph = tf.compat.v1.saved_model.loader.load(
        sess, [tf.saved_model.SERVING], version_dir)
    signature = meta_graph.signature_def[
        tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY]
    feed = {signature.inputs[k].name: v for k, v in inputs.items()}
    fetch = {k: v.name for k, v in signature.outputs.items()}
    return _time_calls(lambda: sess.run(fetch, feed), warmup, repeats)


def matmul_gflops(size, repeats, chain=10):
  """Dense float32 matmul throughput (GFLOP/s), median over repeats."""
  rng = np.random.default_rng(0)
  a = tf.constant(rng.standard_normal((size, size)).astype(np.float32))
  # Scaled so the chained products stay finite.
  b = tf.constant((rng.standard_normal((size, size)) /
                   np.sqrt(size)).astype(np.float32))

  @tf.function
  def chained(x):
    for _ in range(chain):
      x = tf.matmul(x, b)
    return x

  times = _time_calls(lambda: chained(a).numpy(), 2, repeats)
  flop = chain * 2.0 * size ** 3
  median = float(np.median(times))
  return {'size': size, 'chain': chain, 'median_s_per_chain': median,
          'gflops': flop / median / 1e9,
          'best_gflops': flop / float(np.min(times)) / 1e9}


# ---------------------------------------------------------------------------
# FLOPs.


def profiler_flops(version_dir, stream_dims, num_steps):
  """float_ops of the exported graph with static input shapes (tfprof).

  The SavedModel's graph is re-imported with its placeholders replaced by
  static-shape ones ([1, num_steps, D]), so shape inference fixes every shape
  it can and the profiler can count those ops.

  Returns:
    dict: total_float_ops and float_ops per op type.
  """
  signature, meta_graph = _signature(version_dir)
  graph = tf.Graph()
  with graph.as_default():
    input_map = {}
    for name, info in signature.inputs.items():
      if name in stream_dims:
        shape = [1, num_steps, stream_dims[name]]
      else:
        shape = [1]
      input_map[info.name] = tf.compat.v1.placeholder(
          tf.as_dtype(info.dtype), shape, name='static_' + name)
    tf.compat.v1.import_graph_def(meta_graph.graph_def, input_map=input_map,
                                  name='model')
    options = (tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
               .with_empty_output().build())
    profile = tf.compat.v1.profiler.profile(graph, cmd='op', options=options)
  # The op view nests each op type under the previous one (total_float_ops
  # accumulates down the chain); an op type's own count is float_ops.
  by_type = {}
  pending = list(profile.children)
  while pending:
    node = pending.pop()
    if node.float_ops:
      by_type[node.name] = by_type.get(node.name, 0) + int(node.float_ops)
    pending.extend(node.children)
  return {'total_float_ops': int(profile.total_float_ops),
          'float_ops_by_op_type': by_type}


def hand_count_flops(model_config, num_steps):
  """FLOPs (2 per multiply-add, plus bias adds) of every dense layer.

  Per pipeline (LATE: one per stream; EARLY / single stream: one) with input
  width D: kernel-1 reduction to R; SPN towers (two k3 convs R->R each: one
  shared tower for SINGLE_TCONV, one per scale for MULTI_*, none for SINGLE)
  and k1 heads (objectness 2 + regression 2 per scale); second stage on the
  first_stage_max_proposals proposals (padded, all computed): SoI bins
  (initial_crop_size / maxpool_stride) of D -> R, flatten, FC, class and box
  FCs. SoI pooling's interpolation, softmax, NMS and decoding are left out.
  """
  tal = model_config.tal_net
  widths = [s.feature_dim for s in tal.streams]
  if tal.fusion == tal_net_pb2.TalNet.EARLY and len(widths) > 1:
    widths = [sum(widths)]
  t = num_steps
  r = tal.feature_reduction_depth
  depth = tal.segment_proposal_network.depth
  k = len(tal.first_stage_anchor_generator.multiscale_temporal_anchor_generator
          .scales)
  spn = tal_net_pb2.SegmentProposalNetwork
  num_towers = {spn.SINGLE: 0, spn.SINGLE_TCONV: 1}.get(
      tal.segment_proposal_network.tower_type, k)
  m = tal.first_stage_max_proposals
  bins = tal.initial_crop_size // max(1, tal.maxpool_stride)
  fc = tal.second_stage_fc_depth
  c = tal.num_classes

  def dense(rows, fan_in, fan_out):
    return 2 * rows * fan_in * fan_out + rows * fan_out

  parts = {'feature_reduction': 0, 'spn_towers': 0, 'spn_heads': 0,
           'second_stage_reduction': 0, 'second_stage_fc': 0,
           'second_stage_outputs': 0}
  for width in widths:
    parts['feature_reduction'] += dense(t, width, r)
    tower_in = r
    for _ in range(num_towers):
      parts['spn_towers'] += dense(t, 3 * tower_in, depth) + dense(
          t, 3 * depth, depth)
    head_in = depth if num_towers else r
    parts['spn_heads'] += 2 * dense(t, head_in, 2 * k)
    parts['second_stage_reduction'] += dense(m * bins, width, r)
    parts['second_stage_fc'] += dense(m, bins * r, fc)
    parts['second_stage_outputs'] += dense(m, fc, c + 1) + dense(m, fc, 2 * c)
  parts['total'] = sum(parts.values())
  return parts


# ---------------------------------------------------------------------------
# Scaling (subprocesses) and training.


def _peak_rss_kib():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _proc_memory_kib():
  """(current RSS, peak RSS since the last reset) in KiB, from /proc."""
  with open('/proc/self/status', 'r', encoding='utf-8') as f:
    status = dict(line.split(':', 1) for line in f if ':' in line)
  return (int(status['VmRSS'].split()[0]), int(status['VmHWM'].split()[0]))


def _reset_peak_rss():
  """Resets the process's peak RSS (VmHWM) to its current RSS; True if done.

  Linux >= 4.0: writing 5 to /proc/self/clear_refs.
  """
  try:
    with open('/proc/self/clear_refs', 'w', encoding='utf-8') as f:
      f.write('5')
    current, peak = _proc_memory_kib()
    return peak <= current + 1024
  except (OSError, KeyError, ValueError):
    return False


def child_main(version_dir, num_steps, repeats, seed):
  """Scaling subprocess: prints one json line with time and peak memory.

  Loads the SavedModel and warms it up on a _BASELINE_STEPS-step video. Then,
  for the short video and for the num_steps one, resets the peak-RSS mark
  (/proc/self/clear_refs) and reads how far the peak rose above the RSS it
  started from while running that video (the loading peak, far above any
  short video's needs, is thereby left out). Where the peak cannot be reset,
  falls back to the process's lifetime peak (getrusage ru_maxrss), which only
  resolves inputs whose memory exceeds the loading peak.
  """
  loaded = tf.saved_model.load(version_dir)
  serve = loaded.signatures[tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY]
  stream_dims = {name: int(spec.shape[-1]) for name, spec in
                 serve.structured_input_signature[1].items()
                 if name.startswith('features_')}
  rng = np.random.default_rng(seed)

  def timed(length, warmup, runs):
    tensors = {k: tf.constant(v)
               for k, v in make_inputs(stream_dims, length, rng).items()}
    return _time_calls(lambda: serve(**tensors)['num_detections'].numpy(),
                       warmup, runs)

  timed(_BASELINE_STEPS, 1, 2)
  result = {'num_steps': num_steps}
  if _reset_peak_rss():
    result['memory_method'] = 'VmHWM after /proc/self/clear_refs reset'
    for key, length, warmup, runs in (('baseline', _BASELINE_STEPS, 0, 2),
                                      ('long', num_steps, 1, repeats)):
      _reset_peak_rss()
      start_rss, _ = _proc_memory_kib()
      times = timed(length, warmup, runs)
      _, peak = _proc_memory_kib()
      result['%s_growth_kib' % key] = peak - start_rss
      result['%s_peak_rss_kib' % key] = peak
    result['times_s'] = times
  else:
    result['memory_method'] = 'getrusage ru_maxrss (lifetime peak)'
    result['baseline_peak_rss_kib'] = _peak_rss_kib()
    result['times_s'] = timed(num_steps, 1, repeats)
    result['long_peak_rss_kib'] = _peak_rss_kib()
    result['baseline_growth_kib'] = 0
    result['long_growth_kib'] = (result['long_peak_rss_kib'] -
                                 result['baseline_peak_rss_kib'])
  print(json.dumps(result))


def run_child(version_dir, num_steps, repeats, seed):
  """Runs child_main in a fresh process; returns its json."""
  command = [sys.executable, os.path.abspath(__file__),
             '--saved_model_dir=%s' % version_dir,
             '--child_length=%d' % num_steps,
             '--scaling_repeats=%d' % repeats, '--seed=%d' % seed,
             '--fps=%g' % FLAGS.fps, '--stride_frames=%g' % FLAGS.stride_frames,
             '--offset_frames=%g' % FLAGS.offset_frames]
  process = subprocess.run(command, capture_output=True, text=True,
                           check=False)
  if process.returncode != 0:
    tail = (process.stderr.strip().splitlines() or ['(no output)'])[-1]
    raise ValueError('scaling subprocess at %d steps failed: %s' %
                     (num_steps, tail))
  return json.loads(process.stdout.strip().splitlines()[-1])


def scaling(version_dir, base_steps, factors, repeats, seed):
  """Latency and peak memory per step at each length (one process each)."""
  rows = []
  for factor in factors:
    num_steps = int(round(base_steps * factor))
    # Long videos take seconds per run: fewer repeats, at least 2.
    runs = max(2, repeats if factor <= 10 else repeats // 2)
    child = run_child(version_dir, num_steps, runs, seed)
    median_s = float(np.median(child['times_s']))
    extra_kib = child['long_growth_kib'] - child['baseline_growth_kib']
    rows.append({
        'factor': factor, 'num_steps': num_steps,
        'median_ms': 1000.0 * median_s,
        'us_per_step': 1e6 * median_s / num_steps,
        'peak_rss_mib': child['long_peak_rss_kib'] / 1024.0,
        'peak_growth_mib': child['long_growth_kib'] / 1024.0,
        'baseline_peak_growth_mib': child['baseline_growth_kib'] / 1024.0,
        'kib_per_step': extra_kib / float(num_steps - _BASELINE_STEPS),
        'memory_method': child['memory_method'],
        'runs': len(child['times_s']),
    })
  return {'baseline_steps': _BASELINE_STEPS, 'rows': rows}


def training_steps_per_second(pipeline_config_path, num_steps, warmup, steps,
                              seed):
  """Train-op steps/s of the config's model on one random video (in memory)."""
  configs = config_util.get_configs_from_pipeline_file(pipeline_config_path)
  model_config = configs['model']
  tal = model_config.tal_net
  rng = np.random.default_rng(seed)
  data = fields.InputDataFields
  starts = rng.uniform(0, num_steps - 16, _TRAIN_NUM_GROUNDTRUTH)
  lengths = rng.uniform(1, 16, _TRAIN_NUM_GROUNDTRUTH)
  segments = np.stack([starts, starts + lengths], axis=-1)[None]
  classes = rng.integers(1, tal.num_classes + 1, (1, _TRAIN_NUM_GROUNDTRUTH))
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.set_random_seed(seed)
    features = {data.features_key(s.name): tf.constant(
        rng.standard_normal((1, num_steps, s.feature_dim)).astype(np.float32))
                for s in tal.streams}
    features[data.num_steps] = tf.constant([num_steps], tf.int32)
    features[data.fps] = tf.constant([FLAGS.fps])
    features[data.stride_frames] = tf.constant([FLAGS.stride_frames])
    features[data.offset_frames] = tf.constant([FLAGS.offset_frames])
    labels = {
        data.groundtruth_segments: tf.constant(segments, tf.float32),
        data.groundtruth_classes: tf.constant(classes, tf.int32),
        data.num_groundtruth_segments: tf.constant([_TRAIN_NUM_GROUNDTRUTH],
                                                   tf.int32),
    }
    model_fn = model_lib.create_model_fn(
        functools.partial(model_builder.build, model_config=model_config),
        configs)
    spec = model_fn(features, labels, tf.estimator.ModeKeys.TRAIN)
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      fetch = [spec.train_op, spec.loss]
      times = _time_calls(lambda: sess.run(fetch), warmup, steps)
      loss = float(sess.run(spec.loss))
  median = float(np.median(times))
  return {'num_steps_per_video': num_steps,
          'num_groundtruth': _TRAIN_NUM_GROUNDTRUTH,
          'median_s_per_step': median, 'steps_per_s': 1.0 / median,
          'steps_timed': len(times), 'final_loss': loss}


# ---------------------------------------------------------------------------
# Report.


def format_report(results):
  """Plain-text table of the results."""
  lat = results['latency']
  flops = results['flops']
  hw = results['matmul']
  lines = [
      'TAL-Net inference benchmark (%s)' % results['model']['source'],
      'machine: %s, %d cores, TensorFlow %s' % (
          results['machine']['cpu'], results['machine']['cpu_count'],
          results['machine']['tensorflow']),
      'video: %d steps (3000 frames at 0.625 features/s), streams %s' % (
          results['num_steps'], ', '.join(
              '%s %d-d' % (k, v) for k, v in results['stream_dims'].items())),
      '',
      '| measure | value |',
      '|---|---|',
      '| latency, tf.saved_model.load signature (median of %d) | %.1f ms |' % (
          lat['tf2_signature']['runs'], lat['tf2_signature']['median_ms']),
  ]
  if lat.get('v1_session'):
    lines.append('| latency, tf.compat.v1 Session (median of %d) | %.1f ms |'
                 % (lat['v1_session']['runs'], lat['v1_session']['median_ms']))
  lines += [
      '| paper (Table 8, proposal + classification, CPU) | %.0f ms |' %
      PAPER_LATENCY_MS,
      '| FLOPs, tfprof float_ops (static shapes) | %.2f GFLOP |' % (
          flops['profiler']['total_float_ops'] / 1e9),
      '| of which Conv2D + MatMul + BiasAdd (tfprof) | %.3f GFLOP |' % (
          flops['profiler_dense_float_ops'] / 1e9),
      '| FLOPs, hand count of the dense layers | %.3f GFLOP |' % (
          flops['hand_count']['total'] / 1e9),
      '| matmul %dx%d float32 throughput (median) | %.1f GFLOP/s |' % (
          hw['size'], hw['size'], hw['gflops']),
      '| ideal latency = FLOPs / matmul throughput | %.1f ms |' % (
          results['ideal_latency_ms']),
      '| fraction of matmul peak attained (ideal / measured) | %.0f%% |' % (
          100 * results['fraction_of_matmul_peak']),
      '| training, train op on one %d-step video | %.2f steps/s |' % (
          results['training']['num_steps_per_video'],
          results['training']['steps_per_s']),
      '',
      'Scaling (a fresh process per length; peak growth = how far the '
      'process\'s peak RSS rises above its RSS while running the video; memory '
      'per step = (growth - growth of a %d-step video) / (steps - %d)):' % (
          results['scaling']['baseline_steps'],
          results['scaling']['baseline_steps']),
      '| length | steps | median latency | time per step | peak growth | '
      'memory per step | process peak RSS |',
      '|---|---|---|---|---|---|---|',
  ]
  for row in results['scaling']['rows']:
    lines.append('| %gx | %d | %.1f ms | %.1f us | %.1f MiB | %.1f KiB | '
                 '%.0f MiB |' % (
                     row['factor'], row['num_steps'], row['median_ms'],
                     row['us_per_step'], row['peak_growth_mib'],
                     row['kib_per_step'], row['peak_rss_mib']))
  lines += ['', 'Note: %s' % results['model']['note']]
  return '\n'.join(lines)


def run_benchmark():
  """Everything above; returns the results dict."""
  quick = FLAGS.quick
  warmup = 1 if quick else FLAGS.warmup
  repeats = 3 if quick else FLAGS.repeats
  scaling_repeats = 2 if quick else FLAGS.scaling_repeats
  factors = [1.0, 2.0] if quick else [float(f) for f in FLAGS.length_factors]
  train_steps = 2 if quick else FLAGS.train_steps
  train_warmup = 1 if quick else FLAGS.train_warmup
  matmul_repeats = 3 if quick else FLAGS.matmul_repeats
  if FLAGS.num_steps <= _BASELINE_STEPS:
    raise ValueError('--num_steps must exceed %d, got %d' %
                     (_BASELINE_STEPS, FLAGS.num_steps))
  if repeats < 1 or train_steps < 1 or not factors:
    raise ValueError('--repeats, --train_steps and --length_factors must be '
                     'positive / non-empty')

  work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix='tal_benchmark_')
  try:
    pipeline_config_path = FLAGS.pipeline_config_path
    if FLAGS.saved_model_dir:
      version_dir = resolve_saved_model_dir(FLAGS.saved_model_dir)
      beside = os.path.join(os.path.dirname(version_dir),
                            config_util.PIPELINE_CONFIG_FILENAME)
      if os.path.exists(beside):
        pipeline_config_path = beside
      model = {'source': 'SavedModel %s' % version_dir,
               'note': 'the given SavedModel; FLOP hand count and training '
                       'use %s' % pipeline_config_path}
      export_seconds = 0.0
    else:
      version_dir, export_seconds = export_random_weights(
          pipeline_config_path, work_dir, FLAGS.seed)
      model = {'source': '%s, random-initialised weights' %
                         os.path.relpath(pipeline_config_path, _REPO_ROOT),
               'note': 'weights are random (a checkpoint of the initialised '
                       'model, exported with tools/export_saved_model.py\'s '
                       'exporter): timing does not depend on training, except '
                       'that NMS work depends on the scores.'}
    configs = config_util.get_configs_from_pipeline_file(pipeline_config_path)
    signature, _ = _signature(version_dir)
    stream_dims = stream_dims_of(signature)
    inputs = make_inputs(stream_dims, FLAGS.num_steps,
                         np.random.default_rng(FLAGS.seed))
    print('timing the SavedModel (%d steps) ...' % FLAGS.num_steps,
          file=sys.stderr, flush=True)
    tf2_times, num_detections = time_tf2_signature(version_dir, inputs, warmup,
                                                   repeats)
    v1_times = time_v1_session(version_dir, inputs, warmup, repeats)
    print('FLOPs and matmul throughput ...', file=sys.stderr, flush=True)
    flops = {'profiler': profiler_flops(version_dir, stream_dims,
                                        FLAGS.num_steps),
             'hand_count': hand_count_flops(configs['model'],
                                            FLAGS.num_steps)}
    hand = flops['hand_count']['total']
    by_type = flops['profiler']['float_ops_by_op_type']
    # The hand count covers the dense layers: compare it with tfprof's
    # Conv2D + MatMul (+ BiasAdd, which the hand count includes).
    flops['profiler_dense_float_ops'] = sum(
        by_type.get(t, 0) for t in ('Conv2D', 'MatMul', 'BiasAdd'))
    flops['profiler_dense_over_hand_count'] = (
        flops['profiler_dense_float_ops'] / float(hand))
    flops['profiler_over_hand_count'] = (
        flops['profiler']['total_float_ops'] / float(hand))
    matmul = matmul_gflops(FLAGS.matmul_size, matmul_repeats)
    print('scaling at %s x %d steps ...' % (
        ', '.join('%g' % f for f in factors), FLAGS.num_steps),
          file=sys.stderr, flush=True)
    scaling_results = scaling(version_dir, FLAGS.num_steps, factors,
                              scaling_repeats, FLAGS.seed)
    print('training steps/s ...', file=sys.stderr, flush=True)
    training = training_steps_per_second(pipeline_config_path,
                                         FLAGS.num_steps, train_warmup,
                                         train_steps, FLAGS.seed)
  finally:
    if not FLAGS.work_dir:
      shutil.rmtree(work_dir, ignore_errors=True)

  latency = {'tf2_signature': _stats_ms(tf2_times),
             'v1_session': _stats_ms(v1_times),
             'num_detections': num_detections}
  model_flops = flops['profiler']['total_float_ops']
  ideal_ms = 1000.0 * model_flops / (matmul['gflops'] * 1e9)
  measured_ms = latency['tf2_signature']['median_ms']
  return {
      'model': model, 'machine': machine_info.describe_machine(), 'quick': quick,
      'num_steps': FLAGS.num_steps, 'stream_dims': stream_dims,
      'export_seconds': export_seconds,
      'latency': latency,
      'paper_latency_ms': PAPER_LATENCY_MS,
      'flops': flops,
      'matmul': matmul,
      'ideal_latency_ms': ideal_ms,
      'fraction_of_matmul_peak': ideal_ms / measured_ms,
      'scaling': scaling_results,
      'training': training,
      'memory_method': 'per length, a fresh subprocess loads the SavedModel '
                       'and warms it up on a %d-step video; then, for a %d-step '
                       'video and for the long one, it resets the peak-RSS '
                       'mark (writing 5 to /proc/self/clear_refs) and reads '
                       'VmHWM - VmRSS-at-start from /proc/self/status after '
                       'running it (fallback: getrusage ru_maxrss). Memory '
                       'per step = (long growth - short growth) / (steps - '
                       '%d).' % ((_BASELINE_STEPS,) * 3),
  }


def main(argv):
  if len(argv) > 1:
    print('benchmark_inference: error: unexpected arguments: %s' %
          ' '.join(argv[1:]), file=sys.stderr)
    return 1
  tf.get_logger().setLevel('ERROR')
  absl_logging.set_verbosity(absl_logging.ERROR)
  warnings.filterwarnings('ignore', message='`layer.apply` is deprecated')
  try:
    if FLAGS.child_length:
      child_main(FLAGS.saved_model_dir, FLAGS.child_length,
                 FLAGS.scaling_repeats, FLAGS.seed)
      return 0
    results = run_benchmark()
  except (ValueError, OSError, config_util.ConfigError) as e:
    print('benchmark_inference: error: %s' % str(e).strip().splitlines()[0],
          file=sys.stderr)
    return 1
  print(format_report(results))
  if FLAGS.results_json:
    directory = os.path.dirname(os.path.abspath(FLAGS.results_json))
    os.makedirs(directory, exist_ok=True)
    tmp = FLAGS.results_json + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
      json.dump(results, f, indent=2, sort_keys=True)
    os.replace(tmp, FLAGS.results_json)
    print('Wrote %s' % FLAGS.results_json)
  return 0


if __name__ == '__main__':
  app.run(lambda argv: sys.exit(main(argv)))
