"""Temporal detection mAP, computed exactly as the ActivityNet detection evaluator.

Reproduces the semantics of `compute_average_precision_detection` and
`interpolated_prec_rec` of the public ActivityNet evaluator
(activitynet/ActivityNet, Evaluation/eval_detection.py and Evaluation/utils.py), in
vectorised numpy:

- per class, predictions are processed in the order `np.argsort(scores)[::-1]` of the
  class's predictions in input order (the reference's exact call; numpy's default
  argsort is not stable on every machine, so tied scores are ordered exactly as the
  reference orders them on the same numpy build, not by a stable rule);
- a prediction is compared with the ground truths of its class in its video, visited in
  the order `np.argsort(tiou)[::-1]`; at each tIoU threshold it takes the first
  not-yet-matched ground truth whose tIoU >= threshold and stops at the first one below
  it (so each ground truth is matched at most once per threshold, greedily by highest
  tIoU); otherwise it is a false positive;
- predictions in a video without a ground truth of their class are false positives;
- AP is the all-point interpolated AP (VOC 2011 style) of the precision/recall curve;
  a class with ground truth but no prediction scores 0;
- mAP at a threshold is the mean over the classes that have ground truth (the reference
  only knows the classes seen in the ground truth); classes without ground truth get
  AP = NaN and are left out of the mean.

The only sequential part of the algorithm (ground-truth locking) is run as a loop over
the rank of a prediction within its (class, video) group, vectorised over all groups
and thresholds at once, so the number of Python iterations is the largest number of
overlapping predictions one (class, video) pair has, not the number of predictions.
"""
import collections

import numpy as np

# THUMOS'14 protocol; ActivityNet uses ACTIVITYNET_TIOU_THRESHOLDS.
THUMOS_TIOU_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
ACTIVITYNET_TIOU_THRESHOLDS = tuple(
    float(t) for t in np.round(np.linspace(0.5, 0.95, 10), 10))

DetectionEvaluationResult = collections.namedtuple(
    'DetectionEvaluationResult',
    ['tiou_thresholds',  # [T] float64.
     'average_precision',  # [T, C] float64, NaN for classes without ground truth.
     'mean_average_precision',  # [T] float64 (NaN if no class has ground truth).
     'average_mean_average_precision',  # float, mean of the [T] mAPs.
     'num_groundtruth_per_class',  # [C] int64.
     'num_detections_per_class',  # [C] int64.
    ])


def segment_tiou(gt_start, gt_end, start, end):
  """Temporal IoU between ground-truth and other segments, broadcasting.

  Evaluated with the same floating-point expression as the reference
  (`intersection / (gt_length + other_length - intersection)`), so that tIoUs that sit
  exactly on a threshold compare the same way.

  Args:
    gt_start: array of ground-truth starts.
    gt_end: array of ground-truth ends (broadcastable with gt_start).
    start: array of prediction/proposal starts (broadcastable with the above).
    end: array of prediction/proposal ends.

  Returns:
    float64 array of the broadcast shape.
  """
  intersection = (np.minimum(end, gt_end) - np.maximum(start, gt_start)).clip(0)
  union = (gt_end - gt_start) + (end - start) - intersection
  return intersection.astype(np.float64) / union


def interpolated_average_precision(precision, recall):
  """All-point interpolated AP of one precision/recall curve (VOC 2011).

  Args:
    precision: [N] precisions in prediction order.
    recall: [N] recalls in prediction order (non-decreasing).

  Returns:
    AP as a float.
  """
  precision = np.asarray(precision, dtype=np.float64)
  recall = np.asarray(recall, dtype=np.float64)
  padded_precision = np.concatenate([[0.0], precision, [0.0]])
  padded_recall = np.concatenate([[0.0], recall, [1.0]])
  # Precision envelope: max precision at any recall >= this one.
  envelope = np.maximum.accumulate(padded_precision[::-1])[::-1]
  steps = np.flatnonzero(padded_recall[1:] != padded_recall[:-1]) + 1
  return float(np.sum((padded_recall[steps] - padded_recall[steps - 1]) *
                      envelope[steps]))


def validate_tiou_thresholds(tiou_thresholds):
  """[T] float64 thresholds; ValueError if empty or not finite."""
  thresholds = np.asarray(tiou_thresholds, dtype=np.float64).reshape(-1)
  if thresholds.size == 0:
    raise ValueError('tiou_thresholds is empty')
  if not np.all(np.isfinite(thresholds)):
    raise ValueError('tiou_thresholds must be finite, got %s' % (thresholds,))
  return thresholds


def as_segments(segments, name, allow_empty_segments=False):
  """[N, 2] float64 segments (empty input -> [0, 2]).

  Args:
    segments: array-like [N, 2] of [start, end].
    name: name used in error messages.
    allow_empty_segments: accept end == start (otherwise end > start is required).

  Returns:
    float64 array [N, 2].

  Raises:
    ValueError: naming `name`, on a wrong shape, NaN/inf, or end < start (end <=
      start unless allow_empty_segments); a zero-length segment would make the
      reference's tIoU 0/0.
  """
  segments = np.asarray(segments, dtype=np.float64)
  if segments.size == 0:
    return segments.reshape(0, 2)
  if segments.ndim != 2 or segments.shape[1] != 2:
    raise ValueError('%s must have shape [N, 2], got %s' % (name, segments.shape))
  if not np.all(np.isfinite(segments)):
    raise ValueError('%s contain NaN or inf (row %d)' %
                     (name, np.flatnonzero(~np.isfinite(segments).all(1))[0]))
  bad = (segments[:, 1] < segments[:, 0] if allow_empty_segments else
         segments[:, 1] <= segments[:, 0])
  if bad.any():
    row = int(np.flatnonzero(bad)[0])
    raise ValueError('%s row %d: end %r %s start %r' %
                     (name, row, segments[row, 1],
                      '<' if allow_empty_segments else '<=', segments[row, 0]))
  return segments


def encode_video_ids(*video_id_arrays):
  """Maps video ids (any hashable values) of several arrays to shared int codes.

  Args:
    *video_id_arrays: sequences of video ids.

  Returns:
    A list of int64 arrays, one per input, and the list of distinct ids in first
    appearance order (code i <-> ids[i]).
  """
  vocabulary = {}
  encoded = []
  for ids in video_id_arrays:
    codes = np.fromiter(
        (vocabulary.setdefault(v, len(vocabulary)) for v in ids), dtype=np.int64,
        count=len(ids))
    encoded.append(codes)
  return encoded, list(vocabulary)


def _sorted_prediction_order(labels, scores, num_classes):
  """Processing order of predictions: per class, the reference's score order.

  Returns:
    order: [P] indices into the predictions, class 0's sorted predictions first, then
      class 1's, ...
    class_offsets: [C + 1] start of each class's run in `order`.
  """
  order_parts = []
  class_offsets = np.zeros(num_classes + 1, dtype=np.int64)
  # Stable grouping keeps each class's predictions in input order, as the reference's
  # groupby does; the score sort within a class is then the reference's own call.
  by_class = np.argsort(labels, kind='stable')
  counts = np.bincount(labels, minlength=num_classes)
  class_offsets[1:] = np.cumsum(counts)
  for c in range(num_classes):
    members = by_class[class_offsets[c]:class_offsets[c + 1]]
    if members.size:
      order_parts.append(members[np.argsort(scores[members])[::-1]])
  if order_parts:
    order = np.concatenate(order_parts)
  else:
    order = np.zeros(0, dtype=np.int64)
  return order, class_offsets


def _match_predictions(gt_group_start, gt_group_count, gt_start, gt_end,
                       pred_group, pred_start, pred_end, tiou_thresholds):
  """Greedy ground-truth matching of predictions, exactly as the reference.

  All arrays are in processing order (predictions) and group-sorted order (ground
  truth); different groups (class, video) never interact.

  Args:
    gt_group_start: [G] first ground-truth index of each group.
    gt_group_count: [G] number of ground truths of each group.
    gt_start: [N] ground-truth starts, grouped.
    gt_end: [N] ground-truth ends, grouped.
    pred_group: [P] group of each prediction, -1 when its video has no ground truth of
      its class.
    pred_start: [P] prediction starts.
    pred_end: [P] prediction ends.
    tiou_thresholds: [T] thresholds.

  Returns:
    [T, P] bool, True where the prediction is a true positive.
  """
  num_thresholds = tiou_thresholds.shape[0]
  num_gt = gt_start.shape[0]
  num_preds = pred_group.shape[0]
  true_positive = np.zeros((num_thresholds, num_preds), dtype=bool)
  min_threshold = tiou_thresholds.min()

  # Candidate lists: for each prediction, its group's ground truths in the reference's
  # visiting order, truncated to those that can pass the lowest threshold (the visit
  # stops at the first tIoU below a threshold, so the rest can never match).
  has_group = pred_group >= 0
  group_sizes = np.where(has_group, gt_group_count[np.maximum(pred_group, 0)], 0)
  block_rows, block_tiou, block_gt = [], [], []
  for size in np.unique(group_sizes[has_group]):
    # Equal-size rows: a row-wise argsort of the [B, size] block is the same call as
    # the reference's per-prediction argsort of a length-`size` array.
    rows = np.flatnonzero(group_sizes == size)
    gt_index = gt_group_start[pred_group[rows]][:, None] + np.arange(size)
    tiou = segment_tiou(gt_start[gt_index], gt_end[gt_index],
                        pred_start[rows, None], pred_end[rows, None])
    visit = np.argsort(tiou, axis=1)[:, ::-1]
    tiou = np.take_along_axis(tiou, visit, axis=1)
    gt_index = np.take_along_axis(gt_index, visit, axis=1)
    num_candidates = np.sum(tiou >= min_threshold, axis=1)
    keep = num_candidates > 0
    width = int(num_candidates.max()) if keep.any() else 0
    if width:
      block_rows.append(rows[keep])
      block_tiou.append(tiou[keep, :width])
      block_gt.append(gt_index[keep, :width])
  if not block_rows:
    return true_positive

  rows = np.concatenate(block_rows)
  width = max(t.shape[1] for t in block_tiou)
  candidate_tiou = np.full((rows.size, width), -np.inf)
  # Padding points at an extra, permanently locked ground truth.
  candidate_gt = np.full((rows.size, width), num_gt, dtype=np.int64)
  offset = 0
  for tiou, gt_index in zip(block_tiou, block_gt):
    candidate_tiou[offset:offset + tiou.shape[0], :tiou.shape[1]] = tiou
    candidate_gt[offset:offset + tiou.shape[0], :tiou.shape[1]] = gt_index
    offset += tiou.shape[0]
  # Back to processing order, then rank within the group.
  processing = np.argsort(rows, kind='stable')
  rows = rows[processing]
  candidate_tiou = candidate_tiou[processing]
  candidate_gt = candidate_gt[processing]
  groups = pred_group[rows]
  by_group = np.argsort(groups, kind='stable')
  sorted_groups = groups[by_group]
  run_start = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
  run_length = np.diff(np.r_[run_start, sorted_groups.size])
  rank = np.empty(rows.size, dtype=np.int64)
  rank[by_group] = np.arange(rows.size) - np.repeat(run_start, run_length)
  by_rank = np.argsort(rank, kind='stable')
  rank_bounds = np.r_[0, np.cumsum(np.bincount(rank))]

  locked = np.zeros((num_thresholds, num_gt + 1), dtype=bool)
  locked[:, num_gt] = True
  threshold_index = np.arange(num_thresholds)[:, None]
  matched_all = np.zeros((num_thresholds, rows.size), dtype=bool)
  # One step per rank: at most one prediction per group, so no conflicts in a step.
  for r in range(rank_bounds.size - 1):
    step = by_rank[rank_bounds[r]:rank_bounds[r + 1]]
    step_tiou = candidate_tiou[step]
    step_gt = candidate_gt[step]
    available = ((step_tiou[None] >= tiou_thresholds[:, None, None]) &
                 ~locked[:, step_gt])  # [T, n, K]
    matched = available.any(axis=2)
    first = available.argmax(axis=2)
    hit_gt = step_gt[np.arange(step.size)[None, :], first]  # [T, n]
    locked[np.broadcast_to(threshold_index, matched.shape)[matched],
           hit_gt[matched]] = True
    matched_all[:, step] = matched
  true_positive[:, rows] = matched_all
  return true_positive


def check_detection_inputs(gt_video_ids, gt_segments, gt_labels,
                           pred_video_ids, pred_segments, pred_scores,
                           pred_labels, num_classes, tiou_thresholds):
  """Checks and converts what every detection protocol takes.

  Returns:
    (thresholds, gt_segments, gt_labels, pred_segments, pred_scores,
     pred_labels) as validated numpy arrays.

  Raises:
    ValueError: on inconsistent shapes, bad segments or labels out of range.
  """
  thresholds = validate_tiou_thresholds(tiou_thresholds)
  gt_segments = as_segments(gt_segments, 'gt_segments')
  pred_segments = as_segments(pred_segments, 'pred_segments',
                              allow_empty_segments=True)
  gt_labels = np.asarray(gt_labels, dtype=np.int64).reshape(-1)
  pred_labels = np.asarray(pred_labels, dtype=np.int64).reshape(-1)
  pred_scores = np.asarray(pred_scores, dtype=np.float64).reshape(-1)
  if not np.all(np.isfinite(pred_scores)):
    raise ValueError('pred_scores contain NaN or inf')
  num_gt, num_preds = gt_segments.shape[0], pred_segments.shape[0]
  if len(gt_video_ids) != num_gt or gt_labels.size != num_gt:
    raise ValueError('ground truth: %d video ids, %d segments, %d labels differ' %
                     (len(gt_video_ids), num_gt, gt_labels.size))
  if (len(pred_video_ids) != num_preds or pred_labels.size != num_preds or
      pred_scores.size != num_preds):
    raise ValueError(
        'predictions: %d video ids, %d segments, %d scores, %d labels differ' %
        (len(pred_video_ids), num_preds, pred_scores.size, pred_labels.size))
  for name, labels in (('gt_labels', gt_labels), ('pred_labels', pred_labels)):
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
      raise ValueError('%s must be in [0, %d), got range [%d, %d]' %
                       (name, num_classes, labels.min(), labels.max()))
  return (thresholds, gt_segments, gt_labels, pred_segments, pred_scores,
          pred_labels)


def compute_average_precision_detection(
    gt_video_ids, gt_segments, gt_labels, pred_video_ids, pred_segments,
    pred_scores, pred_labels, num_classes,
    tiou_thresholds=THUMOS_TIOU_THRESHOLDS):
  """Per-class AP at each tIoU threshold, exactly as the ActivityNet evaluator.

  Args:
    gt_video_ids: [N] video id of each ground-truth instance (any hashable values).
    gt_segments: [N, 2] ground-truth [start, end] (any consistent time unit).
    gt_labels: [N] int class indices in [0, num_classes).
    pred_video_ids: [P] video id of each prediction (same id space as gt_video_ids).
    pred_segments: [P, 2] predicted [start, end].
    pred_scores: [P] confidences.
    pred_labels: [P] int class indices in [0, num_classes).
    num_classes: number of classes C.
    tiou_thresholds: [T] tIoU thresholds.

  Returns:
    A DetectionEvaluationResult.

  Raises:
    ValueError: on inconsistent shapes or labels out of range.
  """
  (thresholds, gt_segments, gt_labels, pred_segments, pred_scores,
   pred_labels) = check_detection_inputs(
       gt_video_ids, gt_segments, gt_labels, pred_video_ids, pred_segments,
       pred_scores, pred_labels, num_classes, tiou_thresholds)
  (gt_videos, pred_videos), video_vocabulary = encode_video_ids(
      gt_video_ids, pred_video_ids)
  num_videos = max(len(video_vocabulary), 1)

  # Ground truth grouped by (class, video), input order kept inside a group.
  gt_key = gt_labels * num_videos + gt_videos
  gt_by_group = np.argsort(gt_key, kind='stable')
  gt_key_sorted = gt_key[gt_by_group]
  group_keys, group_start, group_count = np.unique(
      gt_key_sorted, return_index=True, return_counts=True)
  gt_start = gt_segments[gt_by_group, 0]
  gt_end = gt_segments[gt_by_group, 1]

  order, class_offsets = _sorted_prediction_order(pred_labels, pred_scores,
                                                  num_classes)
  pred_key = pred_labels[order] * num_videos + pred_videos[order]
  position = np.searchsorted(group_keys, pred_key)
  position = np.minimum(position, max(group_keys.size - 1, 0))
  if group_keys.size:
    pred_group = np.where(group_keys[position] == pred_key, position, -1)
  else:
    pred_group = np.full(order.size, -1, dtype=np.int64)
  true_positive = _match_predictions(
      group_start, group_count, gt_start, gt_end, pred_group,
      pred_segments[order, 0], pred_segments[order, 1], thresholds)

  num_gt_per_class = np.bincount(gt_labels, minlength=num_classes)
  num_preds_per_class = np.diff(class_offsets)
  average_precision = np.full((thresholds.size, num_classes), np.nan)
  for c in range(num_classes):
    if num_gt_per_class[c] == 0:
      continue
    if num_preds_per_class[c] == 0:
      average_precision[:, c] = 0.0
      continue
    class_tp = true_positive[:, class_offsets[c]:class_offsets[c + 1]]
    tp_cumsum = np.cumsum(class_tp, axis=1).astype(np.float64)
    fp_cumsum = np.cumsum(~class_tp, axis=1).astype(np.float64)
    recall = tp_cumsum / float(num_gt_per_class[c])
    precision = tp_cumsum / (tp_cumsum + fp_cumsum)
    for t in range(thresholds.size):
      average_precision[t, c] = interpolated_average_precision(
          precision[t], recall[t])

  has_gt = num_gt_per_class > 0
  if has_gt.any():
    mean_ap = average_precision[:, has_gt].mean(axis=1)
  else:
    mean_ap = np.full(thresholds.size, np.nan)
  return DetectionEvaluationResult(
      tiou_thresholds=thresholds,
      average_precision=average_precision,
      mean_average_precision=mean_ap,
      average_mean_average_precision=float(mean_ap.mean()),
      num_groundtruth_per_class=num_gt_per_class,
      num_detections_per_class=num_preds_per_class)
