"""Training curves: every evaluation of one or more runs, side by side.

Reads each run's <model_dir>/eval/metrics_<step>.json (written by
model_lib.write_metrics_json after each Estimator evaluation; metric names of
metrics/metric_names.py) and gives, per evaluated step, mAP at one tIoU
(default 0.5), AR at one AN (default 100) and every eval loss the file holds
(the 'Loss/...' keys), plus each run's best step by that mAP. The results
json and markdown of tools/summarize_training_curve.py come from here; the
markdown is ready for a README block (tal_detection/utils/readme_results.py).
"""
import collections
import os

from tal_detection.experiments import eval_summary
from tal_detection.metrics import metric_names

_LOSS_PREFIX = 'Loss/'

Run = collections.namedtuple('Run', ['label', 'model_dir'])


def parse_run(text):
  """A Run from 'label:model_dir' (the tool's --run value)."""
  label, sep, model_dir = text.partition(':')
  if not sep or not label or not model_dir:
    raise ValueError('--run %r: expected LABEL:MODEL_DIR' % text)
  return Run(label, model_dir)


def eval_metrics_paths(model_dir):
  """{step: path} of <model_dir>/eval/metrics_<step>.json.

  Raises:
    ValueError: naming model_dir when it is missing or holds no such file.
  """
  if not os.path.isdir(model_dir):
    raise ValueError('%s: no such model_dir' % model_dir)
  eval_dir = os.path.join(model_dir, 'eval')
  paths = {}
  if os.path.isdir(eval_dir):
    for name in os.listdir(eval_dir):
      step = eval_summary.step_of(name)
      if step is not None:
        paths[step] = os.path.join(eval_dir, name)
  if not paths:
    raise ValueError('%s: no eval/metrics_<step>.json (has the run '
                     'evaluated yet?)' % model_dir)
  return paths


def read_curve(model_dir, tiou=0.5, an=100):
  """The evaluations of one run, by step.

  Returns:
    [{'step', 'mAP', 'AR', 'losses': {name without 'Loss/': value}}] sorted
    by step; mAP = detection_map(tiou), AR = proposal_ar(an) (None when the
    file has no proposal metrics).

  Raises:
    ValueError: naming the file that lacks the mAP.
  """
  map_name = metric_names.detection_map(tiou)
  ar_name = metric_names.proposal_ar(an)
  points = []
  for step, path in sorted(eval_metrics_paths(model_dir).items()):
    metrics = eval_summary.load_json(path)
    if map_name not in metrics:
      raise ValueError('%s: no %s' % (path, map_name))
    points.append({
        'step': step,
        'mAP': float(metrics[map_name]),
        'AR': float(metrics[ar_name]) if ar_name in metrics else None,
        'losses': {name[len(_LOSS_PREFIX):]: float(value)
                   for name, value in sorted(metrics.items())
                   if name.startswith(_LOSS_PREFIX)},
    })
  return points


def summarize_runs(runs, tiou=0.5, an=100):
  """The training curves of several labelled runs.

  Args:
    runs: [Run(label, model_dir)], labels distinct.
    tiou: tIoU of the mAP followed (and ranking the steps).
    an: AN of the AR followed.

  Returns:
    A json-serialisable dict: {'map_metric', 'ar_metric', 'runs': [{'label',
    'model_dir', 'points': read_curve(...), 'best': the point of highest mAP
    (the earliest on ties)}]}.
  """
  labels = [run.label for run in runs]
  if not runs:
    raise ValueError('give at least one --run=LABEL:MODEL_DIR')
  if len(set(labels)) != len(labels):
    raise ValueError('--run labels must differ, got %s' % ', '.join(labels))
  summary = {'map_metric': metric_names.detection_map(tiou),
             'ar_metric': metric_names.proposal_ar(an), 'runs': []}
  for run in runs:
    points = read_curve(run.model_dir, tiou, an)
    best = max(points, key=lambda p: (p['mAP'], -p['step']))
    summary['runs'].append({'label': run.label, 'model_dir': run.model_dir,
                            'points': points, 'best': best})
  return summary


def _percent(value):
  return '-' if value is None else '%.1f' % (100.0 * value)


def format_markdown(summary):
  """The curves as markdown: a best-step table, then one table per run."""
  map_short = metric_names.short_name(summary['map_metric'])
  ar_short = metric_names.short_name(summary['ar_metric'])
  lines = ['| run | best step (by %s) | %s (%%) | %s (%%) | last step | '
           'last %s (%%) |' % (map_short, map_short, ar_short, map_short),
           '|---|---|---|---|---|---|']
  for run in summary['runs']:
    best, last = run['best'], run['points'][-1]
    lines.append('| %s | %d | %s | %s | %d | %s |' % (
        run['label'], best['step'], _percent(best['mAP']),
        _percent(best['AR']), last['step'], _percent(last['mAP'])))
  for run in summary['runs']:
    loss_names = sorted({name for point in run['points']
                         for name in point['losses']})
    lines += ['', 'Run %s (eval every evaluated checkpoint):' % run['label'],
              '', '| step | %s (%%) | %s (%%) | %s |' % (
                  map_short, ar_short, ' | '.join(
                      'eval %s' % name for name in loss_names)),
              '|---' * (3 + len(loss_names)) + '|']
    for point in run['points']:
      lines.append('| %d | %s | %s | %s |' % (
          point['step'], _percent(point['mAP']), _percent(point['AR']),
          ' | '.join('%.4f' % point['losses'][name]
                     if name in point['losses'] else '-'
                     for name in loss_names)))
  return '\n'.join(lines) + '\n'
