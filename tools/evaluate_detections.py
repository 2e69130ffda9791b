r"""Evaluates ActivityNet-format detections or proposals against ground truth.

Detection mAP and per-class AP exactly as the ActivityNet detection evaluator
(--protocol=activitynet, the default) and/or the THUMOS'14 challenge kit
(--protocol=thumos14_kit, with Ambiguous segments from the json or --ambiguous_txt),
or proposal AR@AN exactly as the ActivityNet proposal evaluator; prints one JSON
object (with both protocols: {"activitynet": {...}, "thumos14_kit": {...}}, each
keeping its "mAP" keyed by threshold).

  python tools/evaluate_detections.py --groundtruth thumos14.json \
      --detections det.json --subset Test [--tiou_thresholds 0.3,0.4,0.5,0.6,0.7]
  python tools/evaluate_detections.py --groundtruth thumos14.json \
      --detections proposals.json --subset Test --proposals [--an 10,20,50,100,200]

Defaults: detection tIoU 0.1,...,0.7 (THUMOS'14); proposal tIoU 0.5:0.05:1.0 (THUMOS
protocol). Bad input prints one line on stderr naming the file and field, exit code 1.
"""
import json
import sys

from absl import flags

from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order
from tal_detection.metrics import detection_evaluation
from tal_detection.metrics import file_evaluation
from tal_detection.metrics import proposal_evaluation

FLAGS = flags.FLAGS
flags.DEFINE_string('groundtruth', None,
                    'Ground-truth json in the ActivityNet "database" layout.')
flags.DEFINE_string('detections', None,
                    'Results json ({"results": {video: [{label, score, segment}]}}).')
flags.DEFINE_string('subset', None,
                    'Ground-truth subset to evaluate (case-insensitive, e.g. Test); '
                    'default: every video of the ground truth.')
flags.DEFINE_string('tiou_thresholds', None,
                    'Comma-separated tIoU thresholds. Default: 0.1,...,0.7 for '
                    'detections, 0.5:0.05:1.0 for proposals.')
flags.DEFINE_boolean('proposals', False,
                     'Evaluate class-agnostic proposals (AR@AN) instead of mAP.')
flags.DEFINE_string('an', '10,20,50,100,200',
                    'Comma-separated average numbers of proposals per video.')
flags.DEFINE_string('protocol', 'activitynet',
                    'Detection protocol: activitynet (the ActivityNet evaluator) '
                    'or thumos14_kit (the THUMOS\'14 challenge kit); '
                    '"activitynet,thumos14_kit" runs both and prints '
                    '{"<protocol>": {...}, ...}.')
flags.DEFINE_list('ambiguous_txt', [],
                  'THUMOS\'14 Ambiguous_<split>.txt file(s) adding Ambiguous '
                  'segments (json annotations labelled Ambiguous are always '
                  'used); only the thumos14_kit protocol counts them.')


def main(unused_argv):
  if not FLAGS.groundtruth:
    raise tool_util.UsageError('--groundtruth is required')
  if not FLAGS.detections:
    raise tool_util.UsageError('--detections is required')
  if FLAGS.tiou_thresholds:
    thresholds = file_evaluation.parse_float_list(FLAGS.tiou_thresholds, 'tiou_thresholds',
                                   0.0, 1.0)
  elif FLAGS.proposals:
    thresholds = list(proposal_evaluation.THUMOS_PROPOSAL_TIOU_THRESHOLDS)
  else:
    thresholds = list(detection_evaluation.THUMOS_TIOU_THRESHOLDS)
  if FLAGS.proposals:
    an_values = file_evaluation.parse_float_list(FLAGS.an, 'an', 1e-9, float('inf'))
    an_values = [int(a) if a.is_integer() else a for a in an_values]
    output = file_evaluation.evaluate_proposal_files(FLAGS.groundtruth, FLAGS.detections,
                                     FLAGS.subset, thresholds, an_values)
    counts = output
  else:
    protocols = file_evaluation.parse_protocols(FLAGS.protocol)
    outputs = {
        protocol: file_evaluation.evaluate_detection_files(
            FLAGS.groundtruth, FLAGS.detections, FLAGS.subset, thresholds,
            protocol=protocol, ambiguous_txt_paths=FLAGS.ambiguous_txt)
        for protocol in protocols}
    output = (outputs[protocols[0]] if len(protocols) == 1 else outputs)
    counts = outputs[protocols[0]]
  if not counts.get('num_detections', counts.get('num_proposals')):
    # Not an error (an untrained model may find nothing), but never silent.
    print('%s: warning: %s: holds no %s; every %s is 0' % (
        tool_util.tool_name(), FLAGS.detections,
        'proposals' if FLAGS.proposals else 'detections',
        'AR' if FLAGS.proposals else 'AP'), file=sys.stderr)
  print(json.dumps(output, indent=2, sort_keys=False))


if __name__ == '__main__':
  tool_util.run(main)
