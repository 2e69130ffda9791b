r"""Prints the results table of a run: mAP at each tIoU and AR at each AN.

  python tools/summarize_results.py --model_dir=out/synthetic/model \
      [--detection_metrics=det.json --proposal_metrics=prop.json]

Reads the newest <model_dir>/eval/metrics_<step>.json (the Estimator's evaluation)
and, if given, the JSON printed by tools/evaluate_detections.py for the exported
model's detections (and with --proposals, for its detections ranked as proposals).
The tables are made by tal_detection/experiments/eval_summary.py.
"""
from absl import flags

from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order

from tal_detection.experiments import eval_summary

flags.DEFINE_string('model_dir', None, 'Model dir holding eval/metrics_*.json.')
flags.DEFINE_string('detection_metrics', None, 'evaluate_detections.py output.')
flags.DEFINE_string('proposal_metrics', None,
                    'evaluate_detections.py --proposals output.')
FLAGS = flags.FLAGS


def main(unused_argv):
  estimator_metrics = (eval_summary.latest_eval_metrics(FLAGS.model_dir)
                       if FLAGS.model_dir else None)
  detection_metrics = (eval_summary.load_json(FLAGS.detection_metrics, 'mAP')
                       if FLAGS.detection_metrics else None)
  proposal_metrics = (eval_summary.load_json(FLAGS.proposal_metrics, 'AR')
                      if FLAGS.proposal_metrics else None)
  lines = eval_summary.format_table(estimator_metrics, detection_metrics,
                                    proposal_metrics)
  if not lines:
    raise tool_util.UsageError(
        'nothing to summarize: no eval/metrics_<step>.json in --model_dir and '
        'no --detection_metrics / --proposal_metrics')
  print('\n'.join(lines))
  return 0


if __name__ == '__main__':
  tool_util.run(main)
