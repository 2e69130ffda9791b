r"""Reproduces the paper's ablations (Tables 1-4) on the synthetic dataset.

  python tools/run_ablations.py --output_dir=out/ablations            # full
  python tools/run_ablations.py --output_dir=out/ablations_quick --quick

What it does, in one process:
  1. writes the synthetic two-stream dataset (tal_detection/dataset_tools/
     synthetic_dataset.py) and converts it to TFRecords (create_tal_tf_record_lib):
       full:  THUMOS-sized -- 200 train / 212 test videos with THUMOS'14
              durations (duration_scale 1.0), two 1024-d streams at 0.625
              features/s, 20 classes;
       quick: 24 / 12 short videos (duration_scale 0.5), two 32-d streams,
              4 classes -- a smoke run CI can afford (~2 minutes);
  2. for every ablation config of the chosen tables (configs/ablations/), merges
     the data-dependent overrides (num_classes, stream feature_dim, record and
     label-map paths; --quick also shrinks all layers to 32 channels and uses
     Adam 1e-3), the run's budget (--num_train_steps, one checkpoint at the
     end, no TensorBoard images) and --config_override, validates the result
     and writes it to <output_dir>/configs/<config name>.config;
  3. trains each DISTINCT model once (several configs describe the same model,
     e.g. table1_rgb_spn_multi_dilated = table2_rgb_spn_context_off: their
     effective configs are compared as text) with model_lib's Estimator, then
     evaluates it on the test videos (eval/metrics_<step>.json in its model dir);
  4. writes <output_dir>/ablation_results.md and ablation_results.json: Table 1
     (SPN tower, AR@AN 10/20/50/100/200 of the first-stage proposals, tIoU
     0.5:0.05:1.0), Table 2 (SPN context, AR@AN), Table 3 (SoI context, mAP at
     tIoU 0.1..0.7), Table 4 (fusion, mAP), each row with its training steps and
     wall time, and an "Orderings" section saying, per table, whether the
     paper's ordering holds here.

Streams (--stream): the paper reports Tables 1-3 once on RGB and once on flow.
The default is `rgb` (Tables 1-3 on RGB; Table 4 always trains RGB, flow,
early and late fusion): 9 distinct models instead of 14, so more training
steps fit the same time. `--stream both` gives both halves.

Cost (2 cores, 2000 steps per model, measured): 5 s to write and convert the
data; per model 40-60 s (Single, Single+TConv) to 3-5 minutes (multi-tower,
late fusion) including a ~10-25 s evaluation; ~35 min for the default 9 models,
~45 min for --stream both (14), more when other jobs share the cores.

Re-running with the same --output_dir reuses the dataset and every model whose
effective config is unchanged and whose run finished (so an interrupted run
resumes); a model dir left half-trained is wiped and retrained.
"""
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import warnings

# Quiet TensorFlow's C++ start-up banner; overridable.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import app
from absl import flags
from google.protobuf import text_format
import numpy as np
import tensorflow as tf

from tal_detection import model_lib
from tal_detection.dataset_tools import create_tal_tf_record_lib
from tal_detection.dataset_tools import synthetic_dataset
from tal_detection.utils import config_util
from tal_detection.utils import machine_info

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLAGS = flags.FLAGS
flags.DEFINE_string('output_dir', None, 'Where the dataset, the model dirs and '
                    'the results (ablation_results.md / .json) go.')
flags.DEFINE_boolean('quick', False, 'Small dataset, 32-channel models, few '
                     'steps: a smoke run for CI (~2 minutes).')
flags.DEFINE_integer('num_train_steps', None, 'Training steps of every model '
                     '(default: 2000 full, 40 with --quick).')
flags.DEFINE_list('tables', ['1', '2', '3', '4'], 'Which tables to produce.')
flags.DEFINE_enum('stream', 'rgb', ['rgb', 'flow', 'both'], 'Stream(s) of the '
                  'single-stream Tables 1-3 (the paper shows both halves).')
flags.DEFINE_string('config_override', None, 'Text-format pipeline fragment '
                    'merged over every ablation config after the run\'s own '
                    'overrides, e.g. a different learning rate.')
flags.DEFINE_string('configs_dir', os.path.join(_REPO_ROOT, 'configs',
                                                'ablations'),
                    'Folder of the ablation configs.')
flags.DEFINE_integer('seed', 0, 'Seed of the synthetic dataset.')
flags.DEFINE_integer('num_train_videos', None, 'Override the dataset size.')
flags.DEFINE_integer('num_test_videos', None, 'Override the dataset size.')

# Dataset of the full run (THUMOS'14-sized, the paper's features) and of --quick.
FULL_DATASET = dict(num_train=200, num_test=212, stream_dim=1024,
                    num_classes=20, duration_scale=1.0)
QUICK_DATASET = dict(num_train=24, num_test=12, stream_dim=32, num_classes=4,
                     duration_scale=0.5)
FULL_STEPS = 2000
QUICK_STEPS = 40
# --quick only: every layer at 32 channels and a faster learning rate, so the
# smoke run takes seconds per model and still learns something.
QUICK_MODEL_OVERRIDE = """
model { tal_net {
  feature_reduction_depth: 32
  segment_proposal_network { depth: 32 }
  second_stage_fc_depth: 32
} }
train_config { optimizer { adam_optimizer { learning_rate {
  constant_learning_rate { learning_rate: 0.001 } } } } }
"""

AN_COLUMNS = (10, 20, 50, 100, 200)
TIOU_COLUMNS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)

# (table, stream or None, row label, config file stem). {s}: rgb / flow.
_TABLE1 = (('Single', 'table1_{s}_spn_single'),
           ('Single+TConv', 'table1_{s}_spn_single_tconv'),
           ('Multi+TConv', 'table1_{s}_spn_multi_tconv'),
           ('Multi+Dilated', 'table1_{s}_spn_multi_dilated'))
_TABLE2 = (('SPN w/o context', 'table2_{s}_spn_context_off'),
           ('SPN w/ context', 'table2_{s}_spn_context_on'))
_TABLE3 = (('SoI w/o context', 'table3_{s}_soi_context_off'),
           ('SoI w/ context', 'table3_{s}_soi_context_on'))
_TABLE4 = (('RGB', 'table4_rgb_only'), ('Flow', 'table4_flow_only'),
           ('Early fusion', 'table4_early_fusion'),
           ('Late fusion', 'table4_late_fusion'))

TABLES = {
    '1': dict(title='Table 1: receptive field alignment (SPN tower), AR@AN '
              '(%) of the first-stage proposals, tIoU 0.5:0.05:1.0',
              metric='AR', rows=_TABLE1, per_stream=True),
    '2': dict(title='Table 2: context in proposal generation (SPN), AR@AN (%)',
              metric='AR', rows=_TABLE2, per_stream=True),
    '3': dict(title='Table 3: context in action classification (SoI '
              'pooling), mAP (%) at tIoU', metric='mAP', rows=_TABLE3,
              per_stream=True),
    '4': dict(title='Table 4: feature fusion, mAP (%) at tIoU', metric='mAP',
              rows=_TABLE4, per_stream=False),
}


def _columns(metric):
  return AN_COLUMNS if metric == 'AR' else TIOU_COLUMNS


def _column_name(metric, column):
  return 'AR@%d' % column if metric == 'AR' else 'mAP@%g' % column


# ---------------------------------------------------------------------------
# Dataset.


def _write_json(path, data):
  """Writes json atomically (temporary file + rename)."""
  directory = os.path.dirname(path)
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp_', suffix='.json')
  with os.fdopen(fd, 'w', encoding='utf-8') as f:
    json.dump(data, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def _read_json(path):
  try:
    with open(path, 'r', encoding='utf-8') as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def prepare_dataset(data_dir, params, seed):
  """Generates and converts the synthetic dataset unless already there.

  Args:
    data_dir: <output_dir>/data.
    params: dict(num_train, num_test, stream_dim, num_classes, duration_scale).
    seed: dataset seed.

  Returns:
    dict with train_records, test_records, label_map, annotations, stream_dim,
    num_classes, counts, reused (bool), seconds.
  """
  start = time.time()
  raw_dir = os.path.join(data_dir, 'synthetic')
  records_dir = os.path.join(data_dir, 'records')
  stamp_path = os.path.join(data_dir, 'dataset.json')
  wanted = dict(params, seed=seed)
  info = {
      'train_records': os.path.join(records_dir, 'train.record'),
      'test_records': os.path.join(records_dir, 'test.record'),
      'label_map': os.path.join(records_dir, 'label_map.pbtxt'),
      'annotations': os.path.join(raw_dir,
                                  synthetic_dataset.ANNOTATIONS_FILENAME),
      'stream_dim': params['stream_dim'],
      'num_classes': params['num_classes'],
  }
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
  _write_json(stamp_path, {'params': wanted, 'counts': counts})
  info.update(counts=counts, reused=False, seconds=time.time() - start)
  return info


# ---------------------------------------------------------------------------
# Configs.


def selected_rows(tables, stream):
  """[(table, stream or None, label, config stem)] in table order."""
  streams = ('rgb', 'flow') if stream == 'both' else (stream,)
  rows = []
  for table in tables:
    spec = TABLES[table]
    for s in (streams if spec['per_stream'] else (None,)):
      for label, stem in spec['rows']:
        rows.append((table, s, label, stem.format(s=s)))
  return rows


def data_override(pipeline_config, stream_dim, num_classes):
  """Text override: the dataset's class count and the width of each stream."""
  streams = ' '.join('streams { name: "%s" feature_dim: %d }' % (s.name,
                                                                 stream_dim)
                     for s in pipeline_config.model.tal_net.streams)
  return 'model { tal_net { num_classes: %d %s } }' % (num_classes, streams)


def run_override(num_steps):
  """Text override: the training budget, one checkpoint, eval on every video."""
  log_every = max(1, min(100, num_steps // 10))
  return ('train_config { num_steps: %d save_checkpoints_steps: %d '
          'max_checkpoints_to_keep: 1 log_every_n_steps: %d '
          'save_summary_steps: %d random_seed: 1 } '
          'eval_config { num_examples: 0 num_visualizations: 0 }' %
          (num_steps, num_steps, log_every, log_every))


def effective_config_text(config_path, dataset, num_steps, quick,
                          user_override=None):
  """The validated pipeline text one ablation config trains with."""
  pipeline = config_util.read_pipeline_config(config_path)
  config_util.merge_config_override(
      pipeline, data_override(pipeline, dataset['stream_dim'],
                              dataset['num_classes']), '<data override>')
  if quick:
    config_util.merge_config_override(pipeline, QUICK_MODEL_OVERRIDE,
                                      '<quick override>')
  config_util.merge_config_override(pipeline, run_override(num_steps),
                                    '<run override>')
  if user_override:
    config_util.merge_config_override(pipeline, user_override,
                                      '--config_override')
  configs = config_util.create_configs_from_pipeline_proto(pipeline)
  configs = config_util.override_input_paths(
      configs, train_input_path=dataset['train_records'],
      eval_input_path=dataset['test_records'],
      label_map_path=dataset['label_map'])
  pipeline = config_util.create_pipeline_proto_from_configs(configs)
  config_util.validate_pipeline_config(pipeline, config_path)
  return text_format.MessageToString(pipeline)


def _write_text(path, text):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  tmp = path + '.tmp'
  with open(tmp, 'w', encoding='utf-8') as f:
    f.write(text)
  os.replace(tmp, path)


def plan_models(rows, configs_dir, out_configs_dir, dataset, num_steps, quick,
                user_override):
  """Effective configs per row, deduplicated into distinct models.

  Returns:
    (models, row_model) where models is an ordered dict key -> {config_path,
    text, configs: [stems]} (the key is the first stem using that model) and
    row_model maps each config stem to its model key.
  """
  models = {}
  text_to_key = {}
  row_model = {}
  for _, _, _, stem in rows:
    if stem in row_model:
      continue
    source = os.path.join(configs_dir, stem + '.config')
    text = effective_config_text(source, dataset, num_steps, quick,
                                 user_override)
    key = text_to_key.get(text)
    if key is None:
      key = stem
      text_to_key[text] = key
      path = os.path.join(out_configs_dir, stem + '.config')
      _write_text(path, text)
      models[key] = {'config_path': path, 'text': text, 'configs': []}
    models[key]['configs'].append(stem)
    row_model[stem] = key
  return models, row_model


# ---------------------------------------------------------------------------
# Training and evaluation.


class _ModelLog(object):
  """Sends TensorFlow's INFO log of one model to <model_dir>/train.log."""

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


def _metrics_subset(results):
  """AR@AN and mAP@tIoU scalars of an evaluation, keyed as in the tables."""
  subset = {}
  for name, value in results.items():
    match = re.match(r'^ProposalMetrics/AR@(\d+)$', name)
    if match:
      subset['AR@%d' % int(match.group(1))] = float(value)
    match = re.match(r'^DetectionMetrics/mAP@([\d.]+)IOU$', name)
    if match:
      subset['mAP@%g' % float(match.group(1))] = float(value)
  for name in ('DetectionMetrics/average_mAP', 'ProposalMetrics/AUC@200',
               'Loss/total_loss'):
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
          'steps': step, 'metrics': _metrics_subset(results),
          'metrics_json': metrics_json}


def run_models(models, models_dir, num_steps):
  """Trains/evaluates each distinct model (or reuses a finished identical run).

  Returns:
    dict key -> run info (see train_and_evaluate_model) plus status, reused,
    model_dir, configs; status 'failed: <why>' when one model fails (the
    others still run).
  """
  runs = {}
  total = len(models)
  # Finished earlier runs by effective config, whatever their folder is called
  # (a model is named after the first config using it, which depends on
  # --tables / --stream).
  finished = {}
  if os.path.isdir(models_dir):
    for name in sorted(os.listdir(models_dir)):
      previous = _read_json(os.path.join(models_dir, name, 'run_info.json'))
      if previous and previous.get('status') == 'ok':
        previous['model_dir'] = os.path.join(models_dir, name)
        finished.setdefault(previous.get('pipeline_text'), previous)
  for index, (key, model) in enumerate(models.items(), 1):
    previous = finished.get(model['text'])
    if previous is not None:
      previous = dict(previous, reused=True)
      runs[key] = previous
      print('[%d/%d] %s: reused %s (%d steps, %.0f s)' % (
          index, total, key, os.path.basename(previous['model_dir']),
          previous['steps'],
          previous['train_seconds'] + previous['eval_seconds']), flush=True)
      continue
    model_dir = os.path.join(models_dir, key)
    info_path = os.path.join(model_dir, 'run_info.json')
    if os.path.exists(model_dir):
      shutil.rmtree(model_dir)  # A half-finished or different earlier run.
    os.makedirs(model_dir)
    print('[%d/%d] %s (also: %s): training %d steps ...' % (
        index, total, key, ', '.join(model['configs'][1:]) or '-', num_steps),
          flush=True)
    info = {'configs': model['configs'], 'model_dir': model_dir,
            'pipeline_text': model['text'], 'reused': False}
    try:
      with _ModelLog(os.path.join(model_dir, 'train.log')):
        info.update(train_and_evaluate_model(model_dir, model['config_path'],
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
    _write_json(info_path, info)
    runs[key] = info
  return runs


def _short_metrics(metrics):
  return 'AR@100 %s, mAP@0.5 %s' % (_pct(metrics.get('AR@100')),
                                    _pct(metrics.get('mAP@0.5')))


def _pct(value):
  return 'n/a' if value is None else '%.1f' % (100.0 * value)


# ---------------------------------------------------------------------------
# Tables and orderings.


def build_tables(rows, row_model, runs):
  """Per table: title, metric, columns and rows with values in [0, 1]."""
  tables = {}
  for table, stream, label, stem in rows:
    spec = TABLES[table]
    columns = _columns(spec['metric'])
    entry = tables.setdefault(table, {
        'title': spec['title'], 'metric': spec['metric'],
        'columns': [_column_name(spec['metric'], c) for c in columns],
        'rows': []})
    key = row_model[stem]
    run = runs.get(key, {})
    ok = run.get('status') == 'ok'
    metrics = run.get('metrics', {}) if ok else {}
    if stream is None:  # Table 4: name each row's input plainly.
      stream = {'RGB': 'rgb', 'Flow': 'flow'}.get(label, 'rgb+flow')
    entry['rows'].append({
        'stream': stream,
        'variant': label,
        'config': stem + '.config',
        'model': os.path.basename(run.get('model_dir', key)),
        'values': [metrics.get(c) for c in entry['columns']],
        'train_steps': run.get('steps'),
        'train_seconds': run.get('train_seconds'),
        'eval_seconds': run.get('eval_seconds'),
        'status': run.get('status', 'not run'),
    })
  return tables


def _wins(a, b):
  """Columns where a > b (both known), and the number comparable."""
  pairs = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
  return sum(x > y for x, y in pairs), len(pairs)


def _mean(values):
  known = [v for v in values if v is not None]
  return float(np.mean(known)) if known else None


def _verdict(wins, total):
  if total == 0:
    return 'unknown (no results)'
  if wins == total:
    return 'holds'
  if wins == 0:
    return 'does not hold'
  return 'holds at %d of %d columns' % (wins, total)


def _pairwise(claim, table, stream, better, worse, columns, skip=()):
  """One 'better > worse at every column' claim, checked column by column."""
  a = [v for c, v in zip(columns, better['values']) if c not in skip]
  b = [v for c, v in zip(columns, worse['values']) if c not in skip]
  wins, total = _wins(a, b)
  mean_a, mean_b = _mean(a), _mean(b)
  return {
      'table': table, 'stream': stream, 'paper': claim,
      'verdict': _verdict(wins, total), 'columns_holding': wins,
      'columns_compared': total,
      'detail': '%s mean %s vs %s mean %s%s.' % (
          better['variant'], _pct(mean_a), worse['variant'], _pct(mean_b),
          ' (columns %s left out, as in the paper)' % ', '.join(skip)
          if skip else ''),
  }


def check_orderings(tables):
  """The paper's orderings, checked on these results.

  Paper, section 5: Table 1, Single is the worst and Multi+Dilated the best
  (both streams); Table 2, SPN context raises AR on both streams; Table 3, SoI
  context raises mAP "nearly at all" thresholds; Table 4, flow > RGB, both
  fusions > either stream, late > early except at tIoU 0.1.

  Returns:
    list of dicts: table, stream, paper (the claim), verdict, detail.
  """
  checks = []
  for table, entry in sorted(tables.items()):
    columns = entry['columns']
    groups = {}
    for row in entry['rows']:
      groups.setdefault(row['stream'] if table != '4' else 'rgb+flow',
                        {})[row['variant']] = row
    for stream, by_variant in groups.items():
      if table == '1':
        means = {v: _mean(r['values']) for v, r in by_variant.items()}
        known = {v: m for v, m in means.items() if m is not None}
        best_per_column = []
        for i in range(len(columns)):
          column = {v: r['values'][i] for v, r in by_variant.items()
                    if r['values'][i] is not None}
          if column:
            best_per_column.append(max(column, key=column.get))
        if not known:
          verdict, detail = 'unknown (no results)', ''
        else:
          ranking = sorted(known, key=known.get, reverse=True)
          dilated_best = ranking[0] == 'Multi+Dilated'
          single_worst = ranking[-1] == 'Single'
          verdict = ('holds' if dilated_best and single_worst else
                     'partly holds' if dilated_best or single_worst else
                     'does not hold')
          detail = ('ranking by mean AR: %s; Multi+Dilated best at %d of %d '
                    'AN; Single %s' % (
                        ' > '.join('%s %s' % (v, _pct(known[v]))
                                   for v in ranking),
                        best_per_column.count('Multi+Dilated'),
                        len(best_per_column),
                        'worst.' if single_worst else 'not the worst.'))
        checks.append({'table': table, 'stream': stream,
                       'paper': 'Multi+Dilated best, Single worst',
                       'verdict': verdict, 'detail': detail})
      elif table in ('2', '3'):
        off = [r for v, r in by_variant.items() if 'w/o' in v]
        on = [r for v, r in by_variant.items() if 'w/ ' in v]
        if off and on:
          what = 'SPN' if table == '2' else 'SoI'
          checks.append(_pairwise('%s context on > off' % what, table, stream,
                                  on[0], off[0], columns))
      else:
        needed = ('RGB', 'Flow', 'Early fusion', 'Late fusion')
        if not all(v in by_variant for v in needed):
          continue
        rgb, flow, early, late = [by_variant[v] for v in needed]
        checks.append(_pairwise('Flow > RGB', table, stream, flow, rgb,
                                columns))
        for fused in (early, late):
          for single in (flow, rgb):
            checks.append(_pairwise('%s > %s' % (fused['variant'],
                                                 single['variant']),
                                    table, stream, fused, single, columns))
        checks.append(_pairwise('Late fusion > Early fusion (except at tIoU '
                                '0.1)', table, stream, late, early, columns,
                                skip=('mAP@0.1',)))
  return checks


# What the synthetic generator builds in (tal_detection/dataset_tools/
# synthetic_dataset.py), which any reading of the orderings must keep in mind.
_DATA_CAVEAT = (
    'What the data builds in: the synthetic generator puts distinct per-class '
    '"before" and "after" cue vectors in both streams just outside every '
    'action, and gives flow sharp on/offsets where RGB\'s edges are softened. '
    'So "context helps" (Tables 2-3) and "flow > RGB" (Table 4) are partly true '
    'by construction here; they check that the model can use such signals, not '
    'that real video has them. Nothing in the generator favours a particular '
    'SPN tower (Table 1) or fusion scheme.')


def _format_seconds(seconds):
  return 'n/a' if seconds is None else '%.0f' % seconds


def format_markdown(results):
  """The results as markdown."""
  settings = results['settings']
  lines = ['# TAL-Net ablations on the synthetic dataset', '']
  data = settings['dataset']
  lines.append(
      'Mode: **%s**. Data: synthetic two-stream dataset '
      '(tools/make_synthetic_dataset.py, seed %d): %d train / %d test videos, '
      'duration_scale %g, two %d-d streams at 0.625 features/s, %d classes. '
      'Every model: %d training steps from scratch%s, then one evaluation on '
      'all test videos. One run per model (no repeats over seeds), so small '
      'differences can be noise. Machine: %s, %d cores, TensorFlow %s. Wall '
      'time: %.1f min for this invocation; training + evaluation of all %d '
      'distinct models %.1f min (%d reused from an earlier invocation).' % (
          settings['mode'], data['seed'], data['num_train'], data['num_test'],
          data['duration_scale'], data['stream_dim'], data['num_classes'],
          settings['num_train_steps'],
          ' (quick mode: 32-channel layers, Adam 1e-3)' if settings['quick']
          else ' with the configs\' optimizer (Adam 1e-4, one video per '
          'batch, unless the override below says otherwise)',
          settings['machine']['cpu'], settings['machine']['cpu_count'],
          settings['tensorflow'], settings['total_seconds'] / 60.0,
          len(results['models']), settings['models_seconds'] / 60.0,
          settings['models_reused']))
  if settings.get('config_override'):
    lines.append('')
    lines.append('Extra override on every config: `%s`' %
                 settings['config_override'].replace('\n', ' '))
  lines.append('')
  lines.append('Wall time = training + evaluation of the row\'s model; rows '
               'naming the same model share one run.')
  for table in sorted(results['tables']):
    entry = results['tables'][table]
    lines += ['', '## ' + entry['title'], '']
    lines.append('| stream | model | ' + ' | '.join(entry['columns']) +
                 ' | steps | wall time (s) | trained as |')
    lines.append('|---' * (len(entry['columns']) + 5) + '|')
    for row in entry['rows']:
      wall = (None if row['train_seconds'] is None else
              row['train_seconds'] + row['eval_seconds'])
      cells = [_pct(v) for v in row['values']]
      lines.append('| %s | %s | %s | %s | %s | %s |' % (
          row['stream'], row['variant'], ' | '.join(cells),
          row['train_steps'] if row['train_steps'] is not None else 'n/a',
          _format_seconds(wall),
          row['model'] if row['status'] == 'ok' else row['status']))
  lines += ['', '## Orderings: does the paper\'s ordering hold here?', '']
  for check in results['orderings']:
    lines.append('- Table %s (%s): paper: %s. Here: **%s**. %s' % (
        check['table'], check['stream'], check['paper'], check['verdict'],
        check['detail']))
  lines += ['', _DATA_CAVEAT]
  if settings['quick']:
    lines += ['', 'Quick mode is a smoke test of the whole pipeline (tiny data, '
              'tiny models, a few dozen steps): its numbers say nothing about '
              'the ablations.']
  failed = [k for k, r in results['models'].items() if r['status'] != 'ok']
  if failed:
    lines += ['', 'Failed models: ' + ', '.join(
        '%s (%s)' % (k, results['models'][k]['status']) for k in failed)]
  return '\n'.join(lines) + '\n'


def run(output_dir, quick=False, num_train_steps=None, tables=('1', '2', '3',
                                                               '4'),
        stream='rgb', config_override=None, configs_dir=None, seed=0,
        num_train_videos=None, num_test_videos=None):
  """Runs the whole ablation study; returns the results dict (also written)."""
  start = time.time()
  tables = [t.strip() for t in tables if t.strip()]
  unknown = [t for t in tables if t not in TABLES]
  if unknown or not tables:
    raise ValueError('--tables: expected a list of 1, 2, 3, 4, got %s' %
                     ','.join(tables))
  tables = sorted(set(tables))
  num_steps = num_train_steps or (QUICK_STEPS if quick else FULL_STEPS)
  if num_steps <= 0:
    raise ValueError('--num_train_steps must be positive, got %d' % num_steps)
  params = dict(QUICK_DATASET if quick else FULL_DATASET)
  if num_train_videos:
    params['num_train'] = num_train_videos
  if num_test_videos:
    params['num_test'] = num_test_videos
  configs_dir = configs_dir or FLAGS['configs_dir'].default
  rows = selected_rows(tables, stream)
  missing = [stem for _, _, _, stem in rows
             if not os.path.exists(os.path.join(configs_dir,
                                                stem + '.config'))]
  if missing:
    raise ValueError('--configs_dir %s: missing %s' % (
        configs_dir, ', '.join(sorted(set(m + '.config' for m in missing)))))
  # Absolute, so the effective configs (compared to reuse finished models)
  # do not depend on the working directory.
  output_dir = os.path.abspath(output_dir)
  os.makedirs(output_dir, exist_ok=True)

  print('Dataset ...', flush=True)
  dataset = prepare_dataset(os.path.join(output_dir, 'data'), params, seed)
  print('  %s in %.0f s: %s' % ('reused' if dataset['reused'] else 'written',
                                dataset['seconds'], dataset['counts']),
        flush=True)
  models, row_model = plan_models(
      rows, configs_dir, os.path.join(output_dir, 'configs'), dataset,
      num_steps, quick, config_override)
  print('%d ablation configs -> %d distinct models, %d steps each' % (
      len(row_model), len(models), num_steps), flush=True)
  runs = run_models(models, os.path.join(output_dir, 'models'), num_steps)

  result_tables = build_tables(rows, row_model, runs)
  results = {
      'settings': {
          'mode': 'quick' if quick else 'full', 'quick': quick,
          'num_train_steps': num_steps, 'tables': tables, 'stream': stream,
          'config_override': config_override or '',
          'dataset': dict(params, seed=seed, counts=dataset['counts']),
          'dataset_seconds': dataset['seconds'],
          'machine': machine_info.describe_machine(), 'tensorflow': tf.__version__,
          'finished': time.strftime('%Y-%m-%d %H:%M:%S %Z'),
      },
      'models': {k: {kk: v for kk, v in r.items() if kk != 'pipeline_text'}
                 for k, r in runs.items()},
      'tables': result_tables,
      'orderings': check_orderings(result_tables),
      'data_caveat': _DATA_CAVEAT,
  }
  results['settings']['total_seconds'] = time.time() - start
  finished = [r for r in runs.values() if r.get('status') == 'ok']
  results['settings']['models_seconds'] = sum(
      r['train_seconds'] + r['eval_seconds'] for r in finished)
  results['settings']['models_reused'] = sum(
      1 for r in runs.values() if r.get('reused'))
  _write_json(os.path.join(output_dir, 'ablation_results.json'), results)
  markdown = format_markdown(results)
  _write_text(os.path.join(output_dir, 'ablation_results.md'), markdown)
  return results, markdown


def main(argv):
  if len(argv) > 1:
    print('run_ablations: error: unexpected arguments: %s' % ' '.join(argv[1:]),
          file=sys.stderr)
    return 1
  if not FLAGS.output_dir:
    print('run_ablations: error: --output_dir is required', file=sys.stderr)
    return 1
  # TensorFlow's log (INFO and up, deprecation notices included) goes to each
  # model's train.log; the console (absl's handler on the root logger,
  # TensorFlow's own) shows errors only, plus this tool's progress lines.
  tf.get_logger().setLevel(logging.INFO)
  for handler in logging.getLogger().handlers + tf.get_logger().handlers:
    handler.setLevel(logging.ERROR)
  warnings.filterwarnings('ignore', message='`layer.apply` is deprecated')
  try:
    results, markdown = run(
        FLAGS.output_dir, quick=FLAGS.quick,
        num_train_steps=FLAGS.num_train_steps, tables=FLAGS.tables,
        stream=FLAGS.stream, config_override=FLAGS.config_override,
        configs_dir=FLAGS.configs_dir, seed=FLAGS.seed,
        num_train_videos=FLAGS.num_train_videos,
        num_test_videos=FLAGS.num_test_videos)
  except (ValueError, OSError) as e:
    print('run_ablations: error: %s' % str(e).strip().splitlines()[0],
          file=sys.stderr)
    return 1
  print()
  print(markdown)
  print('Wrote %s and %s' % (
      os.path.join(FLAGS.output_dir, 'ablation_results.md'),
      os.path.join(FLAGS.output_dir, 'ablation_results.json')))
  failed = [k for k, r in results['models'].items() if r['status'] != 'ok']
  return 1 if failed else 0


if __name__ == '__main__':
  app.run(lambda argv: sys.exit(main(argv)))
