"""Runs the ablation study: dataset, one training + evaluation per model, report.

run() does, in one process:
  1. plans every row of the chosen tables (ablation_study: base config +
     fragments + the run's overrides, validated) and deduplicates them into
     distinct models, before anything is written;
  2. writes the synthetic two-stream dataset and converts it to TFRecords
     (reused when <output_dir>/data already holds the same one);
  3. writes each model's effective config to <output_dir>/configs/<key>.config
     and trains it with model_lib's Estimator, then evaluates it once on the
     test videos (<output_dir>/models/<key>/eval/metrics_<step>.json);
  4. writes <output_dir>/ablation_results.json and ablation_results.md
     (ablation_report).

Re-running with the same output_dir reuses every model whose effective config
equals (as a proto) that of a finished run there, whatever its folder is
called, so an interrupted study resumes; a model dir left half-trained is
wiped and retrained.
"""
import json
import logging
import os
import shutil
import sys
import time

import tensorflow as tf

from tal_detection import model_lib
from tal_detection.dataset_tools import create_tal_tf_record_lib
from tal_detection.dataset_tools import synthetic_dataset
from tal_detection.experiments import ablation_report
from tal_detection.experiments import ablation_study
from tal_detection.metrics import metric_names
from tal_detection.utils import config_util
from tal_detection.utils import io_util
from tal_detection.utils import machine_info

# Dataset of the full run (THUMOS'14-sized, the paper's features) and of quick.
FULL_DATASET = dict(num_train=200, num_test=212, stream_dim=1024,
                    num_classes=20, duration_scale=1.0)
QUICK_DATASET = dict(num_train=24, num_test=12, stream_dim=32, num_classes=4,
                     duration_scale=0.5)
FULL_STEPS = 2000
QUICK_STEPS = 40

RUN_INFO_FILENAME = 'run_info.json'
RESULTS_JSON = 'ablation_results.json'
RESULTS_MARKDOWN = 'ablation_results.md'


def _read_json(path):
  """The json at path, or None when it is missing or unreadable."""
  try:
    with open(path, 'r', encoding='utf-8') as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


# ---------------------------------------------------------------------------
# Dataset.


def dataset_paths(data_dir, params):
  """Where prepare_dataset puts the records (known before they exist)."""
  records_dir = os.path.join(data_dir, 'records')
  return {
      'train_records': os.path.join(records_dir, 'train.record'),
      'test_records': os.path.join(records_dir, 'test.record'),
      'label_map': os.path.join(records_dir, 'label_map.pbtxt'),
      'annotations': os.path.join(data_dir, 'synthetic',
                                  synthetic_dataset.ANNOTATIONS_FILENAME),
      'stream_dim': params['stream_dim'],
      'num_classes': params['num_classes'],
  }


def prepare_dataset(data_dir, params, seed):
  """Generates and converts the synthetic dataset unless already there.

  Args:
    data_dir: <output_dir>/data.
    params: dict(num_train, num_test, stream_dim, num_classes, duration_scale).
    seed: dataset seed.

  Returns:
    dataset_paths(...) plus counts, reused (bool), seconds.
  """
  start = time.time()
  raw_dir = os.path.join(data_dir, 'synthetic')
  records_dir = os.path.join(data_dir, 'records')
  stamp_path = os.path.join(data_dir, 'dataset.json')
  wanted = dict(params, seed=seed)
  info = dataset_paths(data_dir, params)
  stamp = _read_json(stamp_path)
  if (stamp and stamp.get('params') == wanted and
      all(os.path.exists(info[k]) for k in ('train_records', 'test_records',
                                            'label_map'))):
    info.update(counts=stamp.get('counts'), reused=True,
                seconds=time.time() - start)
    return info
  if os.path.exists(records_dir):
    shutil.rmtree(records_dir)
  if os.path.exists(stamp_path):
    os.remove(stamp_path)
  counts = synthetic_dataset.generate(
      raw_dir, num_train=params['num_train'], num_test=params['num_test'],
      stream_dim=params['stream_dim'], num_classes=params['num_classes'],
      seed=seed, duration_scale=params['duration_scale'])
  dims = (params['stream_dim'],) * len(synthetic_dataset.STREAM_NAMES)
  for subset, key in ((synthetic_dataset.TRAIN_SUBSET, 'train_records'),
                      (synthetic_dataset.TEST_SUBSET, 'test_records')):
    create_tal_tf_record_lib.create_tf_record(
        features_dir=os.path.join(raw_dir, synthetic_dataset.FEATURES_DIRNAME),
        output_path=info[key], label_map_path=info['label_map'],
        annotations_json=info['annotations'], subset=subset,
        stream_names=synthetic_dataset.STREAM_NAMES, stream_dims=dims,
        stride_frames=synthetic_dataset.STRIDE_FRAMES,
        window_frames=synthetic_dataset.WINDOW_FRAMES)
  # Written last: its presence says the records are complete.
  io_util.write_json(stamp_path, {'params': wanted, 'counts': counts},
                     sort_keys=True)
  info.update(counts=counts, reused=False, seconds=time.time() - start)
  return info


# ---------------------------------------------------------------------------
# Training and evaluation.


class _ModelLog(object):
  """Sends TensorFlow's INFO log of one model to <model_dir>/train.log.

  A log is appended to while the model trains (it is worth reading after a
  crash), so it is the one file not written through io_util.
  """

  def __init__(self, path):
    self._handler = logging.FileHandler(path, mode='w')
    self._handler.setFormatter(logging.Formatter(
        '%(asctime)s %(levelname)s %(message)s'))

  def __enter__(self):
    tf.get_logger().addHandler(self._handler)
    return self

  def __exit__(self, *unused):
    tf.get_logger().removeHandler(self._handler)
    self._handler.close()


# Kept besides the table columns: overall numbers worth a look in the json.
_EXTRA_METRICS = (metric_names.AVERAGE_MAP,
                  metric_names.proposal_auc(max(ablation_study.AN_COLUMNS)),
                  'Loss/total_loss')


def metrics_subset(results):
  """AR@AN and mAP@tIoU scalars of an evaluation, keyed as the table columns."""
  subset = {}
  for name, value in results.items():
    short = metric_names.short_name(name)
    if short is not None:
      subset[short] = float(value)
  for name in _EXTRA_METRICS:
    if name in results:
      subset[name] = float(results[name])
  return subset


def train_and_evaluate_model(model_dir, config_path, num_steps):
  """Trains one model from scratch, evaluates the final checkpoint.

  Uses model_lib.create_estimator_and_inputs (what tools/model_main.py runs),
  then Estimator.train to num_steps and one Estimator.evaluate on every test
  video, so training and evaluation are timed apart.

  Returns:
    dict: train_seconds, eval_seconds, steps, metrics (subset), metrics_json.
  """
  parts = model_lib.create_estimator_and_inputs(model_dir, config_path,
                                                train_steps=num_steps)
  estimator = parts['estimator']
  start = time.time()
  estimator.train(parts['train_input_fn'], max_steps=num_steps)
  train_seconds = time.time() - start
  start = time.time()
  # No name: summaries go to <model_dir>/eval, beside metrics_<step>.json.
  results = estimator.evaluate(parts['eval_input_fn'], steps=None)
  eval_seconds = time.time() - start
  step = int(results[tf.compat.v1.GraphKeys.GLOBAL_STEP])
  metrics_json = model_lib.write_metrics_json(results, model_dir, step)
  return {'train_seconds': train_seconds, 'eval_seconds': eval_seconds,
          'steps': step, 'metrics': metrics_subset(results),
          'metrics_json': metrics_json}


def finished_runs(models_dir):
  """[(effective pipeline proto, run info)] of the finished runs in models_dir.

  Runs whose stored config no longer parses (an older schema) cannot be
  compared, so they are not offered for reuse.
  """
  finished = []
  if not os.path.isdir(models_dir):
    return finished
  for name in sorted(os.listdir(models_dir)):
    info_path = os.path.join(models_dir, name, RUN_INFO_FILENAME)
    info = _read_json(info_path)
    if not info or info.get('status') != 'ok':
      continue
    try:
      pipeline = config_util.parse_pipeline_text(info.get('pipeline_text', ''),
                                                 info_path)
    except config_util.ConfigError:
      continue
    finished.append((pipeline, dict(info, model_dir=os.path.join(models_dir,
                                                                 name))))
  return finished


def _short_metrics(metrics):
  return 'AR@100 %s, mAP@0.5 %s' % (
      ablation_report.pct(metrics.get(metric_names.proposal_ar(100, True))),
      ablation_report.pct(metrics.get(metric_names.detection_map(0.5, True))))


def run_models(models, configs_dir, models_dir, num_steps):
  """Trains/evaluates each distinct model (or reuses a finished identical run).

  Args:
    models: ordered dict from ablation_study.plan_models.
    configs_dir: where each model's effective config is written.
    models_dir: one model dir per trained model, named by its key.
    num_steps: training steps.

  Returns:
    dict key -> run info (see train_and_evaluate_model) plus status, reused,
    model_dir, rows, pipeline_text; status 'failed: <why>' when one model
    fails (the others still run).
  """
  runs = {}
  total = len(models)
  finished = finished_runs(models_dir)
  for index, (key, model) in enumerate(models.items(), 1):
    # Every model's config, reused or not, so the folder lists the study.
    config_path = io_util.write_text(
        os.path.join(configs_dir, key + '.config'), model['text'])
    previous = next((info for pipeline, info in finished
                     if pipeline == model['pipeline']), None)
    if previous is not None:
      runs[key] = dict(previous, reused=True)
      print('[%d/%d] %s: reused %s (%d steps, %.0f s)' % (
          index, total, key, os.path.basename(previous['model_dir']),
          previous['steps'],
          previous['train_seconds'] + previous['eval_seconds']), flush=True)
      continue
    model_dir = os.path.join(models_dir, key)
    if os.path.exists(model_dir):
      shutil.rmtree(model_dir)  # A half-finished or different earlier run.
    os.makedirs(model_dir)
    print('[%d/%d] %s (also: %s): training %d steps ...' % (
        index, total, key, ', '.join(model['rows'][1:]) or '-', num_steps),
          flush=True)
    info = {'rows': model['rows'], 'model_dir': model_dir,
            'config_path': config_path, 'pipeline_text': model['text'],
            'reused': False}
    try:
      with _ModelLog(os.path.join(model_dir, 'train.log')):
        info.update(train_and_evaluate_model(model_dir, config_path,
                                             num_steps))
      info['status'] = 'ok'
      print('        train %.0f s (%.2f steps/s), eval %.0f s; %s' % (
          info['train_seconds'], info['steps'] / info['train_seconds'],
          info['eval_seconds'], _short_metrics(info['metrics'])), flush=True)
    except Exception as e:  # pylint: disable=broad-except
      # One broken model must not lose the others' hours of training.
      message = (str(e).strip().splitlines() or [type(e).__name__])[0]
      info['status'] = 'failed: %s' % message
      print('        FAILED: %s' % message, file=sys.stderr, flush=True)
    io_util.write_json(os.path.join(model_dir, RUN_INFO_FILENAME), info,
                       sort_keys=True)
    runs[key] = info
  return runs


# ---------------------------------------------------------------------------
# The whole study.


def run(output_dir, configs_dir, base_config_path, quick=False,
        num_train_steps=None, tables=('1', '2', '3', '4'), stream='rgb',
        config_override=None, seed=0, num_train_videos=None,
        num_test_videos=None):
  """Runs the whole ablation study; returns (results dict, markdown).

  Both are also written to <output_dir>/ablation_results.json / .md. Every
  argument and every row's effective config is checked before anything is
  written (ValueError / ConfigError, one line).
  """
  start = time.time()
  tables = ablation_study.parse_tables(tables)
  num_steps = num_train_steps or (QUICK_STEPS if quick else FULL_STEPS)
  if num_steps <= 0:
    raise ValueError('--num_train_steps must be positive, got %d' % num_steps)
  params = dict(QUICK_DATASET if quick else FULL_DATASET)
  if num_train_videos:
    params['num_train'] = num_train_videos
  if num_test_videos:
    params['num_test'] = num_test_videos
  rows = ablation_study.selected_rows(tables, stream)
  missing = ablation_study.missing_fragments(rows, configs_dir)
  if missing:
    raise ValueError('--configs_dir %s: missing %s' % (configs_dir,
                                                       ', '.join(missing)))
  # Absolute, so the effective configs (compared to reuse finished models)
  # do not depend on the working directory.
  output_dir = os.path.abspath(output_dir)
  data_dir = os.path.join(output_dir, 'data')
  models, row_model = ablation_study.plan_models(
      rows, configs_dir, base_config_path, dataset_paths(data_dir, params),
      num_steps, quick, config_override)
  print('%d ablation rows -> %d distinct models, %d steps each' % (
      len(row_model), len(models), num_steps), flush=True)

  print('Dataset ...', flush=True)
  dataset = prepare_dataset(data_dir, params, seed)
  print('  %s in %.0f s: %s' % ('reused' if dataset['reused'] else 'written',
                                dataset['seconds'], dataset['counts']),
        flush=True)
  runs = run_models(models, os.path.join(output_dir, 'configs'),
                    os.path.join(output_dir, 'models'), num_steps)

  result_tables = ablation_report.build_tables(rows, row_model, runs)
  finished = [r for r in runs.values() if r.get('status') == 'ok']
  results = {
      'settings': {
          'mode': 'quick' if quick else 'full', 'quick': quick,
          'num_train_steps': num_steps, 'tables': tables, 'stream': stream,
          'config_override': config_override or '',
          'base_config': base_config_path,
          'dataset': dict(params, seed=seed, counts=dataset['counts']),
          'dataset_seconds': dataset['seconds'],
          'machine': machine_info.describe_machine(),
          'tensorflow': tf.__version__,
          'finished': time.strftime('%Y-%m-%d %H:%M:%S %Z'),
          'total_seconds': time.time() - start,
          'models_seconds': sum(r['train_seconds'] + r['eval_seconds']
                                for r in finished),
          'models_reused': sum(1 for r in runs.values() if r.get('reused')),
      },
      'models': {k: {kk: v for kk, v in r.items() if kk != 'pipeline_text'}
                 for k, r in runs.items()},
      'tables': result_tables,
      'orderings': ablation_report.check_orderings(result_tables),
      'data_caveat': ablation_report.DATA_CAVEAT,
  }
  io_util.write_json(os.path.join(output_dir, RESULTS_JSON), results,
                     sort_keys=True)
  markdown = ablation_report.format_markdown(results)
  io_util.write_text(os.path.join(output_dir, RESULTS_MARKDOWN), markdown)
  return results, markdown
