r"""Evaluates ActivityNet-format detections or proposals against ground truth.

Detection mAP and per-class AP exactly as the ActivityNet detection evaluator, or
proposal AR@AN exactly as the ActivityNet proposal evaluator; prints one JSON object.

  python tools/evaluate_detections.py --groundtruth thumos14.json \
      --detections det.json --subset Test [--tiou_thresholds 0.3,0.4,0.5,0.6,0.7]
  python tools/evaluate_detections.py --groundtruth thumos14.json \
      --detections proposals.json --subset Test --proposals [--an 10,20,50,100,200]

Defaults: detection tIoU 0.1,...,0.7 (THUMOS'14); proposal tIoU 0.5:0.05:1.0 (THUMOS
protocol). Bad input prints one line on stderr naming the file and field, exit code 1.
"""
import json
import math
import sys

from absl import app
from absl import flags

from tal_detection.metrics import activitynet_io
from tal_detection.metrics import detection_evaluation
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


def _parse_float_list(text, flag_name, minimum, maximum):
  """Parses '0.3,0.5' into floats within [minimum, maximum]."""
  values = []
  for item in text.split(','):
    item = item.strip()
    try:
      value = float(item)
    except ValueError:
      raise ValueError('--%s: %r is not a number' % (flag_name, item))
    if not math.isfinite(value) or value < minimum or value > maximum:
      raise ValueError('--%s: %r is outside [%g, %g]' %
                       (flag_name, item, minimum, maximum))
    values.append(value)
  if not values:
    raise ValueError('--%s is empty' % flag_name)
  return values


def _key(value):
  return '%g' % value


def evaluate_detection_files(groundtruth_path, detections_path, subset,
                             tiou_thresholds):
  """Detection metrics of two json files as a JSON-serialisable dict."""
  gt = activitynet_io.load_ground_truth(groundtruth_path, subset)
  det = activitynet_io.load_detections(detections_path, gt.class_names)
  result = detection_evaluation.compute_average_precision_detection(
      gt.video_ids, gt.segments, gt.labels, det.video_ids, det.segments,
      det.scores, det.labels, len(gt.class_names), tiou_thresholds)
  has_gt = result.num_groundtruth_per_class > 0
  if not has_gt.any():
    raise ValueError('%s: no ground-truth instance in subset %r' %
                     (groundtruth_path, subset))
  per_class = {}
  for c, name in enumerate(gt.class_names):
    if has_gt[c]:
      per_class[name] = {_key(t): float(result.average_precision[ti, c])
                         for ti, t in enumerate(result.tiou_thresholds)}
  output = {
      'subset': subset,
      'num_videos': len(gt.videos),
      'num_groundtruth': int(gt.labels.size),
      'num_detections': int(det.scores.size),
      'tiou_thresholds': [float(t) for t in result.tiou_thresholds],
      'mAP': {_key(t): float(m) for t, m in zip(result.tiou_thresholds,
                                                 result.mean_average_precision)},
      'average_mAP': float(result.average_mean_average_precision),
      'per_class_AP': per_class,
      'classes_without_groundtruth': [
          name for c, name in enumerate(gt.class_names) if not has_gt[c]],
  }
  return output


def evaluate_proposal_files(groundtruth_path, proposals_path, subset,
                            tiou_thresholds, an_values):
  """Proposal AR@AN of two json files as a JSON-serialisable dict."""
  gt = activitynet_io.load_ground_truth(groundtruth_path, subset)
  if not gt.labels.size:
    raise ValueError('%s: no ground-truth instance in subset %r' %
                     (groundtruth_path, subset))
  proposals = activitynet_io.load_proposals(proposals_path)
  recall_at_an, curve = proposal_evaluation.average_recall_at_an(
      gt.video_ids, gt.segments, proposals.video_ids, proposals.segments,
      proposals.scores, an_values, tiou_thresholds)
  return {
      'subset': subset,
      'num_videos': len(set(gt.video_ids)),
      'num_groundtruth': int(gt.labels.size),
      'num_proposals': int(proposals.scores.size),
      'tiou_thresholds': [float(t) for t in tiou_thresholds],
      'AR': {_key(an): float(recall_at_an[float(an)]) for an in an_values},
      'AUC': proposal_evaluation.area_under_curve(curve),
  }


def main(argv):
  if len(argv) > 1:
    print('error: unexpected arguments %s' % ' '.join(argv[1:]), file=sys.stderr)
    return 1
  try:
    if not FLAGS.groundtruth:
      raise ValueError('--groundtruth is required')
    if not FLAGS.detections:
      raise ValueError('--detections is required')
    if FLAGS.tiou_thresholds:
      thresholds = _parse_float_list(FLAGS.tiou_thresholds, 'tiou_thresholds',
                                     0.0, 1.0)
    elif FLAGS.proposals:
      thresholds = list(proposal_evaluation.THUMOS_PROPOSAL_TIOU_THRESHOLDS)
    else:
      thresholds = list(detection_evaluation.THUMOS_TIOU_THRESHOLDS)
    if FLAGS.proposals:
      an_values = _parse_float_list(FLAGS.an, 'an', 1e-9, float('inf'))
      an_values = [int(a) if a.is_integer() else a for a in an_values]
      output = evaluate_proposal_files(FLAGS.groundtruth, FLAGS.detections,
                                       FLAGS.subset, thresholds, an_values)
    else:
      output = evaluate_detection_files(FLAGS.groundtruth, FLAGS.detections,
                                        FLAGS.subset, thresholds)
  except ValueError as e:
    print('error: %s' % ' '.join(str(e).split()), file=sys.stderr)
    return 1
  print(json.dumps(output, indent=2, sort_keys=False))
  return 0


if __name__ == '__main__':
  app.run(lambda argv: sys.exit(main(argv)))
