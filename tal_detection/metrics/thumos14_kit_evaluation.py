"""Temporal detection mAP under the THUMOS'14 challenge kit's protocol.

The THUMOS'14 evaluation kit (MATLAB, `TH14evaldet.m` calling `TH14eventdetpr.m`)
scores detections differently from the ActivityNet evaluator
(`detection_evaluation`). Per class, and per video of that class:

- the video's detections of the class are sorted by descending confidence (MATLAB's
  `sort` is stable: equal confidences keep their input order);
- the ground-truth instances are visited in their annotation order; each takes, among
  the detections not yet taken, the one with the highest overlap (the first in the
  sorted order on a tie) if that overlap is strictly greater than the threshold. The
  match is driven by the ground truth, not by the detection's score;
- overlap is `intersection / (max(end) - min(start))` (the hull of the two
  intervals), 0 when they do not intersect;
- a detection left unmatched is a false positive unless it intersects (positive
  intersection) one of the video's `Ambiguous` segments, in which case it is dropped;
- the class's true and false positives are put together (true positives first), then
  stably sorted by descending confidence, so a true positive ranks before a false
  positive of the same confidence;
- AP is the 11-point interpolated AP: the mean over recall points 0, 0.1, ..., 1 of the
  highest precision at a recall >= the point (0 when no recall reaches it);
- mAP is the mean over the classes with ground truth (the kit only knows those); a
  class with ground truth but no detection scores 0.

The matching loop is sequential per ground truth, so it runs over the ground truth's
rank within its (class, video) group, vectorised over all groups and thresholds at
once: the Python iterations are the largest number of instances one class has in one
video, not the number of detections.
"""
import numpy as np

from tal_detection.metrics import detection_evaluation

AMBIGUOUS_CLASS = 'Ambiguous'


def kit_recall_points():
  """The kit's recall points `0:0.1:1`, bit for bit as MATLAB's colon makes them.

  MATLAB builds `a:d:b` as `a + k*d` for the first half and `b - (n-k)*d` for the
  second, so e.g. the fourth point is 3 * 0.1 = 0.30000000000000004 while the eighth
  is 1 - 3 * 0.1 = 0.7. `rec >= point` compares exactly these doubles, which matters
  when a recall (tp / npos) sits on a point.
  """
  n = 10
  first = [k * 0.1 for k in range(n // 2 + 1)]
  second = [1.0 - (n - k) * 0.1 for k in range(n // 2 + 1, n + 1)]
  return np.array(first + second, dtype=np.float64)


RECALL_POINTS = kit_recall_points()


def kit_overlap(start_a, end_a, start_b, end_b):
  """Intersection over hull, broadcasting (the kit's intervaloverlapvalseconds)."""
  intersection = np.minimum(end_a, end_b) - np.maximum(start_a, start_b)
  hull = np.maximum(end_a, end_b) - np.minimum(start_a, start_b)
  with np.errstate(divide='ignore', invalid='ignore'):
    overlap = intersection / hull
  return np.where(intersection > 0, overlap, 0.0)


def eleven_point_average_precision(precision, recall):
  """Mean over the kit's recall points of the best precision at recall >= point."""
  precision = np.asarray(precision, dtype=np.float64)
  recall = np.asarray(recall, dtype=np.float64)
  if precision.size == 0:
    return 0.0
  # Best precision from each position to the end; recall is non-decreasing, so the
  # first position reaching a point sees every position with recall >= it.
  envelope = np.maximum.accumulate(precision[::-1])[::-1]
  first = np.searchsorted(recall, RECALL_POINTS, side='left')
  reached = first < recall.size
  best = np.where(reached, envelope[np.minimum(first, recall.size - 1)], 0.0)
  return float(np.sum(best) / RECALL_POINTS.size)


def _ambiguous_flags(det_videos, det_start, det_end, amb_videos, amb_segments):
  """[P] bool: the detection intersects an Ambiguous segment of its video."""
  flags = np.zeros(det_videos.size, dtype=bool)
  if not amb_videos.size or not det_videos.size:
    return flags
  order = np.argsort(amb_videos, kind='stable')
  amb_videos = amb_videos[order]
  amb_segments = amb_segments[order]
  first = np.searchsorted(amb_videos, det_videos, side='left')
  count = np.searchsorted(amb_videos, det_videos, side='right') - first
  width = int(count.max())
  if width == 0:
    return flags
  index = first[:, None] + np.arange(width)
  present = np.arange(width) < count[:, None]
  index = np.minimum(index, amb_videos.size - 1)
  intersection = (np.minimum(det_end[:, None], amb_segments[index, 1]) -
                  np.maximum(det_start[:, None], amb_segments[index, 0]))
  return np.any(present & (intersection > 0), axis=1)


def compute_average_precision_kit(
    gt_video_ids, gt_segments, gt_labels, pred_video_ids, pred_segments,
    pred_scores, pred_labels, num_classes,
    tiou_thresholds=detection_evaluation.THUMOS_TIOU_THRESHOLDS,
    ambiguous_video_ids=(), ambiguous_segments=None):
  """Per-class AP at each overlap threshold under the THUMOS'14 kit's protocol.

  Args:
    gt_video_ids: [N] video id of each ground-truth instance (any hashable values).
    gt_segments: [N, 2] ground-truth [start, end], in annotation order.
    gt_labels: [N] int class indices in [0, num_classes).
    pred_video_ids: [P] video id of each detection.
    pred_segments: [P, 2] detected [start, end].
    pred_scores: [P] confidences.
    pred_labels: [P] int class indices in [0, num_classes).
    num_classes: number of classes C.
    tiou_thresholds: [T] thresholds; a match needs overlap > threshold.
    ambiguous_video_ids: [A] video ids of the Ambiguous segments.
    ambiguous_segments: [A, 2] Ambiguous segments (None when A = 0).

  Returns:
    A detection_evaluation.DetectionEvaluationResult (AP NaN for classes without
    ground truth, left out of the mAP).

  Raises:
    ValueError: on inconsistent shapes, bad segments or labels out of range.
  """
  (thresholds, gt_segments, gt_labels, pred_segments, pred_scores,
   pred_labels) = detection_evaluation.check_detection_inputs(
       gt_video_ids, gt_segments, gt_labels, pred_video_ids, pred_segments,
       pred_scores, pred_labels, num_classes, tiou_thresholds)
  amb_segments = detection_evaluation.as_segments(
      np.zeros((0, 2)) if ambiguous_segments is None else ambiguous_segments,
      'ambiguous_segments', allow_empty_segments=True)
  if len(ambiguous_video_ids) != amb_segments.shape[0]:
    raise ValueError('ambiguous: %d video ids for %d segments' %
                     (len(ambiguous_video_ids), amb_segments.shape[0]))
  (gt_videos, pred_videos, amb_videos), vocabulary = (
      detection_evaluation.encode_video_ids(gt_video_ids, pred_video_ids,
                                            ambiguous_video_ids))
  num_videos = max(len(vocabulary), 1)
  num_thresholds = thresholds.size
  num_preds = pred_segments.shape[0]

  # Detections grouped by (class, video), each group by descending confidence with
  # input order on ties (MATLAB's stable sort).
  pred_key = pred_labels * num_videos + pred_videos
  order = np.lexsort((np.arange(num_preds), -pred_scores, pred_key))
  key_sorted = pred_key[order]
  det_start = pred_segments[order, 0]
  det_end = pred_segments[order, 1]
  det_scores = pred_scores[order]
  det_labels = pred_labels[order]
  # Taken (true positive) per threshold, in sorted-detection order.
  taken = np.zeros((num_thresholds, num_preds), dtype=bool)

  # Ground truth grouped by (class, video), annotation order inside a group.
  gt_key = gt_labels * num_videos + gt_videos
  gt_order = np.argsort(gt_key, kind='stable')
  gt_key_sorted = gt_key[gt_order]
  gt_start = gt_segments[gt_order, 0]
  gt_end = gt_segments[gt_order, 1]
  group_keys, group_first, group_count = np.unique(
      gt_key_sorted, return_index=True, return_counts=True)
  det_first = np.searchsorted(key_sorted, group_keys, side='left')
  det_count = np.searchsorted(key_sorted, group_keys, side='right') - det_first
  with_dets = det_count > 0
  if with_dets.any():
    group_first = group_first[with_dets]
    group_count = group_count[with_dets]
    det_first = det_first[with_dets]
    det_count = det_count[with_dets]
    width = int(det_count.max())
    column = np.arange(width)
    present = column < det_count[:, None]  # [G, W]
    det_index = np.minimum(det_first[:, None] + column, max(num_preds - 1, 0))
    free = np.broadcast_to(present, (num_thresholds,) + present.shape).copy()
    group_rows = np.arange(group_first.size)
    for k in range(int(group_count.max())):
      active = group_rows[group_count > k]
      gt_index = group_first[active] + k
      overlap = kit_overlap(gt_start[gt_index, None], gt_end[gt_index, None],
                            det_start[det_index[active]],
                            det_end[det_index[active]])  # [g, W]
      candidate = np.where(free[:, active], overlap[None], -np.inf)  # [T, g, W]
      best = candidate.argmax(axis=2)  # first maximum, as MATLAB's max.
      best_overlap = np.take_along_axis(candidate, best[..., None], 2)[..., 0]
      hit = best_overlap > thresholds[:, None]
      t_index, g_index = np.nonzero(hit)
      free[t_index, active[g_index], best[t_index, g_index]] = False
    matched = present[None] & ~free
    t_index, g_index, w_index = np.nonzero(matched)
    taken[t_index, det_index[g_index, w_index]] = True

  ambiguous = _ambiguous_flags(pred_videos[order], det_start, det_end,
                               amb_videos, amb_segments)
  num_gt_per_class = np.bincount(gt_labels, minlength=num_classes)
  num_preds_per_class = np.bincount(pred_labels, minlength=num_classes)
  average_precision = np.full((num_thresholds, num_classes), np.nan)
  class_first = np.searchsorted(det_labels, np.arange(num_classes), side='left')
  class_end = np.searchsorted(det_labels, np.arange(num_classes), side='right')
  for c in range(num_classes):
    if num_gt_per_class[c] == 0:
      continue
    members = slice(class_first[c], class_end[c])
    scores = det_scores[members]
    for t in range(num_thresholds):
      is_tp = taken[t, members]
      counted = is_tp | ~ambiguous[members]
      # Descending confidence; a true positive before a false positive on a tie.
      rank = np.lexsort((~is_tp[counted], -scores[counted]))
      flags = is_tp[counted][rank]
      if not flags.size:
        average_precision[t, c] = 0.0
        continue
      tp = np.cumsum(flags).astype(np.float64)
      fp = np.cumsum(~flags).astype(np.float64)
      recall = tp / float(num_gt_per_class[c])
      precision = tp / (tp + fp)
      average_precision[t, c] = eleven_point_average_precision(precision, recall)

  has_gt = num_gt_per_class > 0
  if has_gt.any():
    mean_ap = average_precision[:, has_gt].mean(axis=1)
  else:
    mean_ap = np.full(num_thresholds, np.nan)
  return detection_evaluation.DetectionEvaluationResult(
      tiou_thresholds=thresholds,
      average_precision=average_precision,
      mean_average_precision=mean_ap,
      average_mean_average_precision=float(mean_ap.mean()),
      num_groundtruth_per_class=num_gt_per_class,
      num_detections_per_class=num_preds_per_class)
