r"""Post-processing measurements of issue 11: class-count latency, NMS methods.

  # (a) exported-model latency at 200 vs 20 classes (random weights):
  python tools/benchmark_postprocessing.py --mode=latency \
    --results_json=results/postprocessing_latency.json

  # (b) hard NMS vs Soft-NMS vs voting on one trained checkpoint:
  python tools/benchmark_postprocessing.py --mode=nms_methods \
    --pipeline_config_path=configs/synthetic_tal_net.config \
    --checkpoint_dir=out/synthetic/model \
    --eval_input_path='out/synthetic/records/test.record*' \
    --label_map_path=out/synthetic/records/label_map.pbtxt \
    --work_dir=out/nms_methods \
    --results_json=results/postprocessing_nms_methods.json

latency: configs/activitynet13_i3d_tal_net.config is exported with randomly
initialised weights (tal_detection/benchmarks/inference.export_random_weights)
as is and with only num_classes overridden (200 -> 20 by default), and each
SavedModel is timed through inference_util.ServingFunction on one random
--num_steps video (inference.time_serving_function: median of --repeats
calls after --warmup).
Variants given by --variants add post-processing overrides at 200 classes
(e.g. Soft-NMS with a pre-NMS top-k). Random scores are close to uniform, so
NMS sees about as many competing candidates as it can: an upper bound on the
post-processing work of a trained model.

nms_methods: the checkpoint is evaluated once per method by
tools/model_main.py --checkpoint_dir --run_once --config_override (each in
its own --work_dir/<method> model_dir), and the detection mAPs of each
metrics json are collected.
"""
# tool_util first: it quiets TensorFlow's start-up banner before TF loads.
from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order

import glob
import json
import os
import subprocess
import sys
import tempfile
import shutil

from absl import flags
import numpy as np

from tal_detection.utils import io_util

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NMS = ('model { tal_net { second_stage_post_processing { '
        'batch_non_max_suppression { %s } } } }')
_CLASSES_AND_NMS = ('model { tal_net { num_classes: %d '
                    'second_stage_post_processing { '
                    'batch_non_max_suppression { %s } } } }')

# The three methods issue 11 compares; each is an override of the config's
# batch_non_max_suppression (HARD at its iou_threshold is the config's own).
NMS_METHODS = (
    ('hard_nms', ''),
    ('soft_nms_gaussian_0.5', 'method: SOFT_GAUSSIAN soft_nms_sigma: 0.5'),
    ('voting_0.75', 'voting_iou_threshold: 0.75'),
)

FLAGS = flags.FLAGS
flags.DEFINE_enum('mode', None, ['latency', 'nms_methods'], 'What to measure.')
flags.DEFINE_string('pipeline_config_path', None, 'Config (default: '
                    'latency: configs/activitynet13_i3d_tal_net.config; '
                    'nms_methods: configs/synthetic_tal_net.config).')
flags.DEFINE_string('results_json', None, 'Where to write the results.')
flags.DEFINE_string('work_dir', None, 'Exports (latency; default: a '
                    'temporary folder) or one model_dir per method '
                    '(nms_methods; required).')
flags.DEFINE_integer('num_steps', 128, 'latency: steps of the timed video '
                     '(ActivityNet records: 128).')
flags.DEFINE_list('num_classes', ['200', '20'], 'latency: class counts.')
flags.DEFINE_multi_string('variants', [], 'latency: NAME=FIELDS, extra '
                          'batch_non_max_suppression fields timed at the '
                          'first class count, e.g. soft_topk2000=method: '
                          'SOFT_GAUSSIAN pre_nms_top_k: 2000')
flags.DEFINE_integer('warmup', 3, 'latency: untimed calls.')
flags.DEFINE_integer('repeats', 30, 'latency: timed calls.')
flags.DEFINE_integer('seed', 0, 'latency: weights and features seed.')
flags.DEFINE_string('checkpoint_dir', None, 'nms_methods: the trained model.')
flags.DEFINE_string('eval_input_path', None, 'nms_methods: eval records.')
flags.DEFINE_string('label_map_path', None, 'nms_methods: label map.')


def _latency_cases():
  """[(name, num_classes, config override)] from the flags."""
  try:
    counts = [int(c) for c in FLAGS.num_classes]
  except ValueError:
    raise ValueError('--num_classes: must be integers, got %s' %
                     ','.join(FLAGS.num_classes)) from None
  if not counts or min(counts) < 1:
    raise ValueError('--num_classes: give positive class counts')
  cases = [('%d_classes' % c, c, 'model { tal_net { num_classes: %d } }' % c)
           for c in counts]
  for variant in FLAGS.variants:
    name, sep, fields = variant.partition('=')
    if not sep or not name:
      raise ValueError('--variants: expected NAME=FIELDS, got %r' % variant)
    cases.append(('%s_%d_classes' % (name, counts[0]), counts[0],
                  _CLASSES_AND_NMS % (counts[0], fields)))
  return cases


def measure_latency(config_path):
  """Exports and times each case; returns the results dict."""
  # Imported here: nms_methods only runs subprocesses and needs no TF.
  from tal_detection.benchmarks import flops
  from tal_detection.benchmarks import inference
  from tal_detection.benchmarks import memory_probe
  from tal_detection.benchmarks import timing
  from tal_detection.utils import config_util

  cases = _latency_cases()
  pipelines = [(name, classes, override,
                config_util.load_pipeline(config_path, override=override))
               for name, classes, override in cases]
  work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix='tal_postproc_')
  results = {'config': os.path.relpath(config_path, _REPO_ROOT),
             'num_steps': FLAGS.num_steps, 'warmup': FLAGS.warmup,
             'repeats': FLAGS.repeats,
             'machine': timing.describe_machine(),
             'note': 'random-initialised weights; the same random video for '
                     'every case; only the override differs', 'cases': {}}
  try:
    for name, classes, override, pipeline in pipelines:
      print('%s: exporting ...' % name, file=sys.stderr, flush=True)
      version_dir, export_seconds = inference.export_random_weights(
          pipeline, os.path.join(work_dir, name), FLAGS.seed)
      signature, _ = flops.load_serving_meta_graph(version_dir)
      inputs = memory_probe.make_video_inputs(
          inference.serving_stream_dims(signature), FLAGS.num_steps,
          np.random.default_rng(FLAGS.seed), fps=10.0, stride_frames=16.0,
          offset_frames=8.0)
      times, num_detections = inference.time_serving_function(
          version_dir, inputs, FLAGS.warmup, FLAGS.repeats)
      results['cases'][name] = {
          'num_classes': classes, 'override': override,
          'latency': timing.stats_ms(times),
          'num_detections': num_detections, 'export_seconds': export_seconds}
      print('%s: median %.1f ms' % (name, results['cases'][name]['latency'][
          'median_ms']), file=sys.stderr, flush=True)
  finally:
    if not FLAGS.work_dir:
      shutil.rmtree(work_dir, ignore_errors=True)
  return results


def _latest_metrics(model_dir):
  paths = glob.glob(os.path.join(model_dir, 'eval', 'metrics_*.json'))
  if not paths:
    raise ValueError('%s: the evaluation wrote no metrics json' % model_dir)
  path = max(paths, key=lambda p: int(p.rsplit('_', 1)[1].split('.')[0]))
  with open(path) as f:
    return path, json.load(f)


def compare_nms_methods(config_path):
  """Evaluates the checkpoint once per method; returns the results dict."""
  for flag in ('checkpoint_dir', 'work_dir'):
    if not getattr(FLAGS, flag):
      raise ValueError('--%s is required with --mode=nms_methods' % flag)
  if not os.path.isdir(FLAGS.checkpoint_dir):
    raise ValueError('--checkpoint_dir: %s is not a folder' %
                     FLAGS.checkpoint_dir)
  results = {'config': os.path.relpath(config_path, _REPO_ROOT),
             'checkpoint_dir': FLAGS.checkpoint_dir,
             'eval_input_path': FLAGS.eval_input_path, 'methods': {}}
  for name, fields in NMS_METHODS:
    model_dir = os.path.join(FLAGS.work_dir, name)
    command = [sys.executable, os.path.join(_REPO_ROOT, 'tools',
                                            'model_main.py'),
               '--pipeline_config_path=' + config_path,
               '--model_dir=' + model_dir,
               '--checkpoint_dir=' + FLAGS.checkpoint_dir, '--run_once']
    if fields:
      command.append('--config_override=' + _NMS % fields)
    if FLAGS.eval_input_path:
      command.append('--eval_input_path=' + FLAGS.eval_input_path)
    if FLAGS.label_map_path:
      command.append('--label_map_path=' + FLAGS.label_map_path)
    print('%s: evaluating ...' % name, file=sys.stderr, flush=True)
    log_path = model_dir + '.log'
    os.makedirs(FLAGS.work_dir, exist_ok=True)
    with open(log_path, 'w') as log:
      code = subprocess.call(command, stdout=log, stderr=subprocess.STDOUT)
    if code:
      raise ValueError('%s: model_main failed (exit %d; see %s)' %
                       (name, code, log_path))
    metrics_path, metrics = _latest_metrics(model_dir)
    maps = {key: value for key, value in metrics.items()
            if key.startswith('DetectionMetrics/') and 'mAP' in key}
    results['methods'][name] = {'override': fields, 'metrics_json':
                                metrics_path, 'detection_mAP': maps}
    print('%s: %s' % (name, ', '.join('%s %.4f' % (k.split('/')[-1], v)
                                      for k, v in sorted(maps.items()))),
          file=sys.stderr, flush=True)
  return results


def main(unused_argv):
  if not FLAGS.mode:
    raise ValueError('--mode is required (latency or nms_methods)')
  if not FLAGS.results_json:
    raise ValueError('--results_json is required')
  default = ('activitynet13_i3d_tal_net.config' if FLAGS.mode == 'latency'
             else 'synthetic_tal_net.config')
  config_path = FLAGS.pipeline_config_path or os.path.join(
      _REPO_ROOT, 'configs', default)
  if FLAGS.mode == 'latency':
    results = measure_latency(config_path)
  else:
    results = compare_nms_methods(config_path)
  io_util.write_json(FLAGS.results_json, results)
  print(json.dumps(results, indent=2))


if __name__ == '__main__':
  tool_util.run(main)
