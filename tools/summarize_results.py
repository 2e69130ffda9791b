r"""Prints the results table of a run: mAP at each tIoU and AR at each AN.

  python tools/summarize_results.py --model_dir=out/synthetic/model \
      [--detection_metrics=det.json --proposal_metrics=prop.json]

Reads the newest <model_dir>/eval/metrics_<step>.json (the Estimator's evaluation)
and, if given, the JSON printed by tools/evaluate_detections.py for the exported
model's detections (and with --proposals, for its detections ranked as proposals).
"""
import glob
import json
import os
import re
import sys

from absl import app
from absl import flags

flags.DEFINE_string('model_dir', None, 'Model dir holding eval/metrics_*.json.')
flags.DEFINE_string('detection_metrics', None, 'evaluate_detections.py output.')
flags.DEFINE_string('proposal_metrics', None,
                    'evaluate_detections.py --proposals output.')
FLAGS = flags.FLAGS


def latest_eval_metrics(model_dir):
  """(step, metrics dict) of the newest eval/metrics_<step>.json, or None."""
  paths = glob.glob(os.path.join(model_dir, 'eval', 'metrics_*.json'))
  if not paths:
    return None
  step_of = lambda p: int(re.search(r'metrics_(\d+)\.json$', p).group(1))
  path = max(paths, key=step_of)
  with open(path) as f:
    return step_of(path), json.load(f)


def format_table(estimator_metrics, detection_metrics=None,
                 proposal_metrics=None):
  """Markdown table lines."""
  lines = []
  if estimator_metrics is not None:
    step, metrics = estimator_metrics
    tious = sorted(
        (float(m.group(1)), v) for k, v in metrics.items()
        for m in [re.match(r'DetectionMetrics/mAP@([\d.]+)IOU$', k)] if m)
    ans = sorted(
        (float(m.group(1)), v) for k, v in metrics.items()
        for m in [re.match(r'ProposalMetrics/AR@([\d.]+)$', k)] if m)
    lines.append('Estimator evaluation at step %d (test videos):' % step)
    lines.append('| tIoU | ' + ' | '.join('%g' % t for t, _ in tious) +
                 ' | average |')
    lines.append('|---' * (len(tious) + 2) + '|')
    lines.append('| mAP (%) | ' + ' | '.join('%.1f' % (100 * v)
                                             for _, v in tious) +
                 ' | %.1f |' % (100 * metrics.get(
                     'DetectionMetrics/average_mAP', float('nan'))))
    if ans:
      lines.append('')
      lines.append('| AN | ' + ' | '.join('%g' % a for a, _ in ans) + ' |')
      lines.append('|---' * (len(ans) + 1) + '|')
      lines.append('| AR (%) | ' + ' | '.join('%.1f' % (100 * v)
                                              for _, v in ans) + ' |')
  if detection_metrics is not None:
    tious = sorted((float(t), v) for t, v in detection_metrics['mAP'].items())
    lines.append('')
    lines.append('Exported SavedModel + tools/infer.py, scored by '
                 'tools/evaluate_detections.py (%d videos):' %
                 detection_metrics.get('num_videos', 0))
    lines.append('| tIoU | ' + ' | '.join('%g' % t for t, _ in tious) +
                 ' | average |')
    lines.append('|---' * (len(tious) + 2) + '|')
    lines.append('| mAP (%) | ' + ' | '.join('%.1f' % (100 * v)
                                             for _, v in tious) +
                 ' | %.1f |' % (100 * detection_metrics['average_mAP']))
  if proposal_metrics is not None:
    ans = sorted((float(a), v) for a, v in proposal_metrics['AR'].items())
    lines.append('')
    lines.append('| AN (detections as proposals) | ' +
                 ' | '.join('%g' % a for a, _ in ans) + ' |')
    lines.append('|---' * (len(ans) + 1) + '|')
    lines.append('| AR (%) | ' + ' | '.join('%.1f' % (100 * v)
                                            for _, v in ans) + ' |')
  return lines


def _load(path):
  if not path:
    return None
  with open(path) as f:
    return json.load(f)


def main(unused_argv):
  try:
    estimator_metrics = (latest_eval_metrics(FLAGS.model_dir)
                         if FLAGS.model_dir else None)
    lines = format_table(estimator_metrics, _load(FLAGS.detection_metrics),
                         _load(FLAGS.proposal_metrics))
  except (OSError, ValueError, KeyError) as e:
    print('error: %s' % e, file=sys.stderr)
    return 1
  if not lines:
    print('error: nothing to summarize (no eval metrics found)',
          file=sys.stderr)
    return 1
  print('\n'.join(lines))
  return 0


if __name__ == '__main__':
  app.run(lambda argv: sys.exit(main(argv)))
