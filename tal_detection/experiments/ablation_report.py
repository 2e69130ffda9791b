"""The ablation study's report: tables, the paper's orderings, markdown.

Input: the study's rows and the runs of their models (ablation_runner); output:
per table its columns and rows (values in [0, 1]), a verdict per ordering the
paper claims, and the markdown of results/ablation_results.md.
"""
import os

import numpy as np

from tal_detection.experiments import ablation_study
from tal_detection.metrics import metric_names
from tal_detection.utils import machine_info


def pct(value):
  return 'n/a' if value is None else '%.1f' % (100.0 * value)


def build_tables(rows, row_model, runs):
  """Per table: title, metric, columns and rows with values in [0, 1].

  Args:
    rows: [ablation_study.Row].
    row_model: row name -> model key (ablation_study.plan_models).
    runs: model key -> run info (ablation_runner.run_models); a model without
      a finished run gives a row of None values.
  """
  tables = {}
  for row in rows:
    spec = ablation_study.TABLES[row.table]
    entry = tables.setdefault(row.table, {
        'title': spec.title, 'metric': spec.metric,
        'columns': ablation_study.columns(spec.metric), 'rows': []})
    key = row_model[row.name]
    run = runs.get(key, {})
    ok = run.get('status') == 'ok'
    metrics = run.get('metrics', {}) if ok else {}
    entry['rows'].append({
        'stream': row.stream,
        'variant': row.variant,
        'row': row.name,
        'fragments': list(row.fragments),
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
          better['variant'], pct(mean_a), worse['variant'], pct(mean_b),
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
                        ' > '.join('%s %s' % (v, pct(known[v]))
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
                                skip=(metric_names.detection_map(
                                    0.1, short=True),)))
  return checks


# What the synthetic generator builds in (tal_detection/dataset_tools/
# synthetic_dataset.py), which any reading of the orderings must keep in mind.
DATA_CAVEAT = (
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
          machine_info.cpu_label(settings['machine']),
          settings['machine']['cpu_count'],
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
      cells = [pct(v) for v in row['values']]
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
  lines += ['', DATA_CAVEAT]
  if settings['quick']:
    lines += ['', 'Quick mode is a smoke test of the whole pipeline (tiny data, '
              'tiny models, a few dozen steps): its numbers say nothing about '
              'the ablations.']
  failed = [k for k, r in results['models'].items() if r['status'] != 'ok']
  if failed:
    lines += ['', 'Failed models: ' + ', '.join(
        '%s (%s)' % (k, results['models'][k]['status']) for k in failed)]
  return '\n'.join(lines) + '\n'


