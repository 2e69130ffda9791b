"""Scores ActivityNet-format result files against ground truth (json in, dict out).

The library behind tools/evaluate_detections.py: detection mAP per tIoU exactly
as the ActivityNet detection evaluator or as the THUMOS'14 challenge kit, proposal
AR@AN exactly as the ActivityNet proposal evaluator. Bad input raises ValueError naming the file.
"""
import math

import numpy as np

from tal_detection.metrics import activitynet_io
from tal_detection.metrics import detection_evaluation
from tal_detection.metrics import proposal_evaluation
from tal_detection.metrics import thumos14_kit_evaluation


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


ACTIVITYNET = 'activitynet'
THUMOS14_KIT = 'thumos14_kit'
PROTOCOLS = (ACTIVITYNET, THUMOS14_KIT)


def parse_protocols(text):
  """'activitynet,thumos14_kit' -> the list of protocols (ValueError if unknown)."""
  protocols = [p.strip().lower() for p in text.split(',') if p.strip()]
  unknown = [p for p in protocols if p not in PROTOCOLS]
  if unknown or not protocols:
    raise ValueError('--protocol: %r: use %s (comma-separated for several)' %
                     (text, ' or '.join(PROTOCOLS)))
  return list(dict.fromkeys(protocols))


def compute_with_protocol(protocol, gt, det, tiou_thresholds):
  """DetectionEvaluationResult of a GroundTruth and Detections under a protocol."""
  args = (gt.video_ids, gt.segments, gt.labels, det.video_ids, det.segments,
          det.scores, det.labels, len(gt.class_names), tiou_thresholds)
  if protocol == ACTIVITYNET:
    return detection_evaluation.compute_average_precision_detection(*args)
  if protocol == THUMOS14_KIT:
    return thumos14_kit_evaluation.compute_average_precision_kit(
        *args, ambiguous_video_ids=gt.ambiguous_video_ids,
        ambiguous_segments=gt.ambiguous_segments)
  raise ValueError('unknown protocol %r (known: %s)' % (protocol,
                                                       ', '.join(PROTOCOLS)))


def evaluate_detection_files(groundtruth_path, detections_path, subset,
                             tiou_thresholds, protocol=ACTIVITYNET,
                             ambiguous_txt_paths=()):
  """Detection metrics of two json files as a JSON-serialisable dict.

  Args:
    groundtruth_path: `database` json; annotations labelled Ambiguous are kept
      apart (never a class).
    detections_path: results json.
    subset: subset to evaluate, or None for every video.
    tiou_thresholds: thresholds of the mAP.
    protocol: ACTIVITYNET or THUMOS14_KIT.
    ambiguous_txt_paths: THUMOS'14 `Ambiguous_<split>.txt` files adding
      Ambiguous segments (only those of the subset's videos are used).
  """
  gt = activitynet_io.load_ground_truth(groundtruth_path, subset)
  if ambiguous_txt_paths:
    video_ids, segments = list(gt.ambiguous_video_ids), [gt.ambiguous_segments]
    selected = set(gt.videos)
    for path in ambiguous_txt_paths:
      txt_ids, txt_segments = activitynet_io.load_thumos_ambiguous_txt(
          path, selected)
      video_ids += txt_ids
      segments.append(txt_segments)
    gt = gt._replace(ambiguous_video_ids=video_ids,
                     ambiguous_segments=np.concatenate(segments))
  det = activitynet_io.load_detections(detections_path, gt.class_names)
  result = compute_with_protocol(protocol, gt, det, tiou_thresholds)
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
      'protocol': protocol,
      'subset': subset,
      'num_videos': len(gt.videos),
      'num_groundtruth': int(gt.labels.size),
      'num_detections': int(det.scores.size),
      'num_ambiguous_segments': int(gt.ambiguous_segments.shape[0]),
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
