"""A model's evaluation as markdown tables (tools/summarize_results.py).

Sources: the newest <model_dir>/eval/metrics_<step>.json (the Estimator's
evaluation, metric names of metrics/metric_names.py) and the JSON printed by
tools/evaluate_detections.py (`mAP` / `AR` dicts keyed by tIoU / AN). Bad
input raises ValueError naming the file.
"""
import json
import os

from tal_detection.metrics import metric_names

_METRICS_PREFIX = 'metrics_'
_METRICS_SUFFIX = '.json'


def step_of(filename):
  """The step of a 'metrics_<step>.json' name (model_lib's), else None."""
  if not (filename.startswith(_METRICS_PREFIX) and
          filename.endswith(_METRICS_SUFFIX)):
    return None
  step = filename[len(_METRICS_PREFIX):-len(_METRICS_SUFFIX)]
  return int(step) if step.isdigit() else None


def load_json(path, required_key=None):
  """The json object at path; ValueError '<path>: <why>' if it is not one."""
  try:
    with open(path, 'r', encoding='utf-8') as f:
      data = json.load(f)
  except OSError as e:
    raise ValueError('%s: cannot read: %s' % (path, e.strerror or e)) from None
  except ValueError as e:
    raise ValueError('%s: not JSON: %s' % (path, e)) from None
  if not isinstance(data, dict):
    raise ValueError('%s: expected a JSON object' % path)
  if required_key is not None and not isinstance(data.get(required_key),
                                                 dict):
    raise ValueError('%s: no "%s" object (not tools/evaluate_detections.py '
                     'output?)' % (path, required_key))
  return data


def latest_eval_metrics(model_dir):
  """(step, metrics dict) of the newest eval/metrics_<step>.json, or None."""
  eval_dir = os.path.join(model_dir, 'eval')
  if not os.path.isdir(model_dir):
    raise ValueError('--model_dir %s: no such folder' % model_dir)
  steps = {}
  if os.path.isdir(eval_dir):
    for name in os.listdir(eval_dir):
      step = step_of(name)
      if step is not None:
        steps[step] = os.path.join(eval_dir, name)
  if not steps:
    return None
  step = max(steps)
  return step, load_json(steps[step])


def _by_number(metrics, parse):
  """[(number, value)] of the metrics whose name `parse` reads, sorted."""
  found = []
  for name, value in metrics.items():
    number = parse(name)
    if number is not None:
      found.append((number, value))
  return sorted(found)


def _map_table(pairs, average):
  return [
      '| tIoU | ' + ' | '.join('%g' % t for t, _ in pairs) + ' | average |',
      '|---' * (len(pairs) + 2) + '|',
      '| mAP (%) | ' + ' | '.join('%.1f' % (100 * v) for _, v in pairs) +
      ' | %.1f |' % (100 * average)]


def _ar_table(pairs, header='AN'):
  return [
      '| %s | ' % header + ' | '.join('%g' % a for a, _ in pairs) + ' |',
      '|---' * (len(pairs) + 1) + '|',
      '| AR (%) | ' + ' | '.join('%.1f' % (100 * v) for _, v in pairs) + ' |']


def _keyed_by_number(entries, path_hint):
  try:
    return sorted((float(k), v) for k, v in entries.items())
  except (TypeError, ValueError):
    raise ValueError('%s: keys must be numbers' % path_hint) from None


def format_table(estimator_metrics, detection_metrics=None,
                 proposal_metrics=None):
  """Markdown table lines.

  Args:
    estimator_metrics: (step, metrics dict) from latest_eval_metrics, or None.
    detection_metrics: evaluate_detections.py output, or None.
    proposal_metrics: evaluate_detections.py --proposals output, or None.
  """
  lines = []
  if estimator_metrics is not None:
    step, metrics = estimator_metrics
    lines.append('Estimator evaluation at step %d (test videos):' % step)
    lines += _map_table(
        _by_number(metrics, metric_names.parse_detection_map),
        metrics.get(metric_names.AVERAGE_MAP, float('nan')))
    ans = _by_number(metrics, metric_names.parse_proposal_ar)
    if ans:
      lines += [''] + _ar_table(ans)
  if detection_metrics is not None:
    lines.append('')
    lines.append('Exported SavedModel + tools/infer.py, scored by '
                 'tools/evaluate_detections.py (%d videos):' %
                 detection_metrics.get('num_videos', 0))
    lines += _map_table(
        _keyed_by_number(detection_metrics['mAP'], '--detection_metrics mAP'),
        detection_metrics.get('average_mAP', float('nan')))
  if proposal_metrics is not None:
    lines += [''] + _ar_table(
        _keyed_by_number(proposal_metrics['AR'], '--proposal_metrics AR'),
        'AN (detections as proposals)')
  return lines
