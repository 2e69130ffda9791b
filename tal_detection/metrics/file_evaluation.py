"""Scores ActivityNet-format result files against ground truth (json in, dict out).

The library behind tools/evaluate_detections.py: detection mAP per tIoU exactly
as the ActivityNet detection evaluator, proposal AR@AN exactly as the
ActivityNet proposal evaluator. Bad input raises ValueError naming the file.
"""
import math

from tal_detection.metrics import activitynet_io
from tal_detection.metrics import detection_evaluation
from tal_detection.metrics import proposal_evaluation


def parse_float_list(text, flag_name, minimum, maximum):
  """Parses a flag's '0.3,0.5' into floats within [minimum, maximum]."""
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


def key_text(value):
  """How thresholds and AN values key the output json ('0.5', '100')."""
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
      per_class[name] = {key_text(t): float(result.average_precision[ti, c])
                         for ti, t in enumerate(result.tiou_thresholds)}
  output = {
      'subset': subset,
      'num_videos': len(gt.videos),
      'num_groundtruth': int(gt.labels.size),
      'num_detections': int(det.scores.size),
      'tiou_thresholds': [float(t) for t in result.tiou_thresholds],
      'mAP': {key_text(t): float(m) for t, m in zip(result.tiou_thresholds,
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
      'AR': {key_text(an): float(recall_at_an[float(an)]) for an in an_values},
      'AUC': proposal_evaluation.area_under_curve(curve),
  }
