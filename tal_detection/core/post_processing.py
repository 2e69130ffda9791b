"""1-D non-maximum suppression: class-agnostic and batched multi-class, hard or soft.

Both functions run TensorFlow's image NMS kernels on unit-height boxes
[0, start, 1, end]. Two such boxes overlap by exactly 1 x (temporal intersection) and
each has area 1 x (segment length), so their IoU *is* the segments' temporal IoU and
the kernels perform exact greedy 1-D NMS, vectorised, in graph or eager mode, with
any (including unknown) number of segments.

Semantics shared by both (and by the numpy reference in the tests):
  * candidates are segments whose score is strictly greater than the score threshold;
  * they are visited in descending score order; a candidate is kept unless its tIoU
    with an already kept segment is strictly greater than the IoU threshold;
  * segments are [start, end] with start <= end.

`batch_multiclass_non_max_suppression` also offers Soft-NMS (Gaussian and linear), a
pre-NMS top-k per video, a floor on decayed scores, class-agnostic grouping and
score voting; see `_general_batch_nms` for how they are run in one kernel call.
"""
import tensorflow as tf

from tal_detection.utils import shape_utils

HARD = 'HARD'
SOFT_GAUSSIAN = 'SOFT_GAUSSIAN'
SOFT_LINEAR = 'SOFT_LINEAR'
METHODS = (HARD, SOFT_GAUSSIAN, SOFT_LINEAR)


def _segments_to_boxes(segments):
  """[..., 2] segments -> [..., 4] unit-height boxes [0, start, 1, end]."""
  start, end = segments[..., 0], segments[..., 1]
  return shape_utils.stack_last_axis(
      [tf.zeros_like(start), start, tf.ones_like(start), end])


def _check_iou_threshold(iou_threshold, name):
  """Raises ValueError for a Python-number IoU threshold outside [0, 1]."""
  if isinstance(iou_threshold, (int, float)) and not 0.0 <= iou_threshold <= 1.0:
    raise ValueError('%s must be in [0, 1], got %r' % (name, iou_threshold))


def non_max_suppression(segments, scores, max_output_size, iou_threshold,
                        score_threshold=float('-inf'), scope=None):
  """Greedy class-agnostic 1-D NMS with zero-padded output.

  Args:
    segments: float32 tensor [N, 2] of (start, end); N may be unknown.
    scores: float32 tensor [N].
    max_output_size: int (or scalar int32 tensor), the most segments to keep.
    iou_threshold: float in [0, 1]; a segment whose tIoU with a kept, higher-scored
      segment is greater than this is suppressed.
    score_threshold: segments scoring at most this are never kept.
    scope: optional name scope.

  Returns:
    selected_indices: int32 tensor [max_output_size], indices into segments of the
      kept segments in descending score order, then zeros.
    num_valid: int32 scalar, how many leading entries of selected_indices are real.

  Raises:
    ValueError: if iou_threshold is outside [0, 1] or the shapes are wrong.
  """
  _check_iou_threshold(iou_threshold, 'iou_threshold')
  with tf.name_scope(scope or 'NonMaxSuppression'):
    segments = tf.convert_to_tensor(segments, dtype=tf.float32)
    scores = tf.convert_to_tensor(scores, dtype=tf.float32)
    if segments.shape.rank is not None and (
        segments.shape.rank != 2 or segments.shape[-1] not in (None, 2)):
      raise ValueError('segments must have shape [N, 2], got %s' %
                       segments.shape)
    if scores.shape.rank is not None and scores.shape.rank != 1:
      raise ValueError('scores must have shape [N], got %s' % scores.shape)
    selected = tf.image.non_max_suppression(
        _segments_to_boxes(segments), scores, max_output_size,
        iou_threshold=iou_threshold, score_threshold=score_threshold)
    num_valid = tf.size(selected, out_type=tf.int32)
    selected_indices = tf.pad(selected, [[0, max_output_size - num_valid]])
    if isinstance(max_output_size, int):
      selected_indices.set_shape([max_output_size])
    return selected_indices, num_valid


def batch_multiclass_non_max_suppression(segments,
                                         scores,
                                         score_thresh,
                                         iou_thresh,
                                         max_size_per_class,
                                         max_total_size,
                                         num_valid_segments=None,
                                         scope=None,
                                         method=HARD,
                                         soft_nms_sigma=0.5,
                                         pre_nms_top_k=0,
                                         min_score=0.0,
                                         class_agnostic=False,
                                         voting_iou_threshold=0.0):
  """Per-class (or class-agnostic) 1-D NMS over a batch, merged and capped per video.

  For each video: the candidates are the (segment, class) pairs scoring
  > score_thresh (and > min_score), optionally only the pre_nms_top_k best of the
  video; NMS runs within each group (a class of the video, or the whole video when
  class_agnostic), visiting by descending (current) score, ties by lower flattened
  index n * C + c; HARD drops a segment whose tIoU with a kept one is > iou_thresh,
  SOFT_GAUSSIAN multiplies its score by exp(-tIoU^2 / soft_nms_sigma), SOFT_LINEAR
  by (1 - tIoU) when tIoU > iou_thresh; a segment whose score falls to or below
  max(score_thresh, min_score) is discarded. Then each class keeps at most
  max_size_per_class, the video its max_total_size best (descending final score,
  ties by the order above). With voting, each kept segment becomes the
  score-weighted mean of its group's candidates whose tIoU with it is >=
  voting_iou_threshold (its score is unchanged). The paper's setting (HARD,
  per class, none of the options) runs TF's per-class kernel instead
  (_combined_hard_nms): the same detections, but equal scores come out in an
  order the kernel leaves unspecified.

  Args:
    segments: float32 tensor [B, N, q, 2]; q = 1 (segments shared by all classes)
      or q = C (class-specific segments). B and N may be unknown.
    scores: float32 tensor [B, N, C] of class scores (no background column).
    score_thresh: scalar; only scores strictly above it are candidates.
    iou_thresh: scalar in [0, 1]; tIoU above which a lower-scored segment of the
      same group is suppressed (HARD) or decayed (SOFT_LINEAR).
    max_size_per_class: int, the most detections kept per class and video.
    max_total_size: int, the most detections kept per video (the output length).
    num_valid_segments: optional int tensor [B]; segments at index >= this in a
      video (padding) are ignored. None means all N are valid.
    scope: optional name scope.
    method: HARD, SOFT_GAUSSIAN or SOFT_LINEAR.
    soft_nms_sigma: > 0, the Gaussian's sigma (exp(-tIoU^2 / sigma)).
    pre_nms_top_k: int >= 0; 0 keeps every candidate.
    min_score: floor on the decayed scores (see above).
    class_agnostic: group all classes of a video together.
    voting_iou_threshold: in [0, 1]; 0 disables voting.

  Returns:
    nmsed_segments: float32 [B, max_total_size, 2], sorted by descending score,
      zero-padded.
    nmsed_scores: float32 [B, max_total_size], zero-padded.
    nmsed_classes: float32 [B, max_total_size], 0-based class index, zero-padded.
    num_detections: int32 [B], the number of real entries per video.

  Raises:
    ValueError: if a threshold or size is out of range or the shapes are
      inconsistent.
  """
  _check_iou_threshold(iou_thresh, 'iou_thresh')
  _check_iou_threshold(voting_iou_threshold, 'voting_iou_threshold')
  for name, size in (('max_size_per_class', max_size_per_class),
                     ('max_total_size', max_total_size)):
    if isinstance(size, int) and size <= 0:
      raise ValueError('%s must be > 0, got %d' % (name, size))
  if method not in METHODS:
    raise ValueError('method must be one of %s, got %r' % (METHODS, method))
  if method == SOFT_GAUSSIAN and not soft_nms_sigma > 0:
    raise ValueError('soft_nms_sigma must be > 0, got %r' % (soft_nms_sigma,))
  if pre_nms_top_k < 0:
    raise ValueError('pre_nms_top_k must be >= 0, got %r' % (pre_nms_top_k,))
  with tf.name_scope(scope or 'BatchMultiClassNonMaxSuppression'):
    segments = tf.convert_to_tensor(segments, dtype=tf.float32)
    scores = tf.convert_to_tensor(scores, dtype=tf.float32)
    if segments.shape.rank != 4 or segments.shape[-1] not in (None, 2):
      raise ValueError('segments must have shape [B, N, q, 2], got %s' %
                       segments.shape)
    if scores.shape.rank != 3:
      raise ValueError('scores must have shape [B, N, C], got %s' %
                       scores.shape)
    q, num_classes = segments.shape[2], scores.shape[2]
    if q is not None and num_classes is not None and q not in (1, num_classes):
      raise ValueError('segments dimension q must be 1 or the number of classes '
                       '(%d), got %d' % (num_classes, q))

    if num_valid_segments is not None:
      # -inf is never above any threshold, so padded segments are never
      # candidates (and their possibly garbage coordinates are never read).
      is_valid = tf.sequence_mask(num_valid_segments,
                                  maxlen=tf.shape(scores)[1])
      scores = tf.where(is_valid[:, :, tf.newaxis], scores,
                        tf.constant(float('-inf'), dtype=tf.float32))

    threshold = max(float(score_thresh), float(min_score))
    if (method == HARD and not pre_nms_top_k and not class_agnostic and
        not voting_iou_threshold):
      # The paper's setting: TF's per-class kernel, which stops each class at
      # max_size_per_class and never materialises the flattened candidates.
      return _combined_hard_nms(segments, scores, threshold, iou_thresh,
                                max_size_per_class, max_total_size)
    return _general_batch_nms(
        segments, scores, score_thresh, threshold, iou_thresh,
        max_size_per_class, max_total_size, method, soft_nms_sigma,
        pre_nms_top_k, class_agnostic, voting_iou_threshold)


# The classes are split into this many groups, each one
# CombinedNonMaxSuppression op: the ops run side by side on the inter-op
# threads, where one op runs its classes one after another (a serving session
# has one thread per op). On the main config's final NMS (300 proposals x 20
# classes, 2 cores): 478 us against 780 us for one op, outputs equal.
_CLASS_GROUPS = 2


def _combined_hard_nms(segments, scores, threshold, iou_thresh,
                       max_size_per_class, max_total_size):
  """Per-class hard NMS with tf.image.combined_non_max_suppression.

  With a known number of classes C >= _CLASS_GROUPS the classes are split
  into _CLASS_GROUPS contiguous, non-empty groups, one kernel call each, and
  their outputs are merged: each call keeps its group's max_total_size best,
  so their union holds the video's max_total_size best. Per-class NMS does
  not look across classes, so the merged detections are the single call's;
  the order of detections with equal scores (which the kernel leaves
  unspecified) is descending score, then group, then each call's own
  order.
  """
  # The unit-height boxes are built once: the groups' calls then start
  # together, on slices of them.
  boxes = _segments_to_boxes(segments)
  num_classes = scores.shape[2]
  if num_classes is None or num_classes < _CLASS_GROUPS:
    nmsed_boxes, nmsed_scores, nmsed_classes, num_detections = (
        _combined_hard_nms_call(boxes, scores, threshold, iou_thresh,
                                max_size_per_class, max_total_size))
  else:
    bounds = [num_classes * g // _CLASS_GROUPS
              for g in range(_CLASS_GROUPS + 1)]
    class_specific = boxes.shape[2] != 1
    groups = []
    for begin, end in zip(bounds[:-1], bounds[1:]):
      groups.append((begin, _combined_hard_nms_call(
          boxes[:, :, begin:end] if class_specific else boxes,
          scores[:, :, begin:end], threshold, iou_thresh,
          max_size_per_class, max_total_size)))
    nmsed_boxes, nmsed_scores, nmsed_classes, num_detections = (
        _merge_detection_groups(groups, max_total_size))
  nmsed_segments = shape_utils.stack_last_axis([nmsed_boxes[..., 1],
                                                 nmsed_boxes[..., 3]])
  return nmsed_segments, nmsed_scores, nmsed_classes, num_detections


def _combined_hard_nms_call(boxes, scores, threshold, iou_thresh,
                            max_size_per_class, max_total_size):
  """One tf.image.combined_non_max_suppression call on [B, N, q, 4] boxes."""
  return tf.image.combined_non_max_suppression(
      boxes,
      scores,
      max_output_size_per_class=max_size_per_class,
      max_total_size=max_total_size,
      iou_threshold=iou_thresh,
      score_threshold=threshold,
      pad_per_class=False,
      clip_boxes=False)


def _merge_detection_groups(groups, max_total_size):
  """The max_total_size best of several groups' zero-padded detections.

  Args:
    groups: [(first class of the group, (boxes [B, T, 4], scores [B, T],
      classes [B, T] within the group, num_detections [B]))], T =
      max_total_size, each sorted by descending score.
    max_total_size: T.

  Returns:
    The four outputs of _combined_hard_nms_call for all the groups' classes.
  """
  slots = tf.range(max_total_size)[tf.newaxis, :]
  boxes, scores, classes, counts = [], [], [], []
  for first_class, (group_boxes, group_scores, group_classes,
                    group_count) in groups:
    # Padding must lose to every detection, whatever its score.
    scores.append(tf.where(slots < group_count[:, tf.newaxis], group_scores,
                           float('-inf')))
    boxes.append(group_boxes)
    classes.append(group_classes + float(first_class))
    counts.append(group_count)
  # top_k puts equal scores in index order: earlier groups first.
  best_scores, best = tf.math.top_k(tf.concat(scores, axis=1),
                                    k=max_total_size)
  num_detections = tf.minimum(tf.add_n(counts), max_total_size)
  real = slots < num_detections[:, tf.newaxis]
  best_boxes = tf.gather(tf.concat(boxes, axis=1), best, batch_dims=1)
  best_classes = tf.gather(tf.concat(classes, axis=1), best, batch_dims=1)
  return (tf.where(real[:, :, tf.newaxis], best_boxes, 0.0),
          tf.where(real, best_scores, 0.0),
          tf.where(real, best_classes, 0.0),
          num_detections)


def _rank_within_runs(keys):
  """Rank of each entry among the earlier entries with the same key.

  Args:
    keys: int64 [M].

  Returns:
    int64 [M]: 0 for the first entry of each key, 1 for the second, ...
  """
  order = tf.cast(tf.argsort(keys, stable=True), tf.int64)
  sorted_keys = tf.gather(keys, order)
  first = tf.searchsorted(sorted_keys, sorted_keys, side='left',
                          out_type=tf.int64)
  rank_sorted = tf.range(tf.size(keys, out_type=tf.int64)) - first
  return tf.scatter_nd(order[:, None], rank_sorted,
                       tf.shape(keys, out_type=tf.int64))


def _pairwise_tiou(a_start, a_end, b_start, b_end):
  """Broadcast tIoU; 0 where the union is empty (two empty segments)."""
  intersection = tf.maximum(
      tf.minimum(a_end, b_end) - tf.maximum(a_start, b_start), 0.0)
  union = (a_end - a_start) + (b_end - b_start) - intersection
  return tf.where(union > 0, intersection / tf.maximum(union, 1e-12), 0.0)


def _general_batch_nms(segments, scores, score_thresh, threshold, iou_thresh,
                       max_size_per_class, max_total_size, method,
                       soft_nms_sigma, pre_nms_top_k, class_agnostic,
                       voting_iou_threshold):
  """Every NMS option, for the whole batch at once.

  The candidates of all videos are flattened into one list. Each NMS group (a
  class of a video, or a video) gets its own band of the image kernel's y axis:
  a candidate becomes the box [2g, start, 2g + 1, end]. Boxes of different bands
  never intersect (tIoU 0, Soft-NMS weight 1), and inside a band the box IoU is
  exactly the temporal IoU (height 1 is exact in float32), so one kernel call
  runs every group's NMS independently, emitting the selections in descending
  (decayed) score order, ties by lower list position. The per-class and
  per-video caps are then ranks in that order.
  """
  batch = tf.shape(scores, out_type=tf.int64)[0]
  num_segments = tf.shape(scores, out_type=tf.int64)[1]
  num_classes = tf.shape(scores, out_type=tf.int64)[2]
  segments = tf.broadcast_to(
      segments, tf.stack([batch, num_segments, num_classes, 2]))
  flat_scores = tf.reshape(scores, [batch, -1])  # index n * C + c.
  flat_segments = tf.reshape(segments, [batch, -1, 2])
  flat_index = tf.broadcast_to(
      tf.range(num_segments * num_classes)[tf.newaxis], tf.shape(flat_scores,
                                                                 out_type=tf.int64))
  # The pre-NMS filter: score_thresh first, then the video's top k.
  flat_scores = tf.where(flat_scores > score_thresh, flat_scores,
                         tf.constant(float('-inf'), tf.float32))
  if pre_nms_top_k:
    k = tf.minimum(tf.cast(pre_nms_top_k, tf.int64), num_segments * num_classes)
    # top_k orders equal scores by lower index, which is the tie rule.
    flat_scores, flat_index = tf.math.top_k(flat_scores, k=tf.cast(k, tf.int32))
    flat_index = tf.cast(flat_index, tf.int64)
    flat_segments = tf.gather(flat_segments, flat_index, batch_dims=1)

  # The candidate list, video-major, in the order above.
  is_candidate = flat_scores > threshold
  where = tf.where(is_candidate)  # [L, 2] (video, position).
  video = where[:, 0]
  cand_scores = tf.gather_nd(flat_scores, where)
  cand_segments = tf.gather_nd(flat_segments, where)
  cand_class = tf.gather_nd(flat_index, where) % num_classes
  group = video if class_agnostic else video * num_classes + cand_class
  start, end = cand_segments[:, 0], cand_segments[:, 1]

  if method == SOFT_LINEAR:
    selected, selected_scores = _linear_soft_nms(
        start, end, cand_scores, group, threshold, iou_thresh)
  else:
    band = tf.cast(2 * group, tf.float32)
    boxes = shape_utils.stack_last_axis([band, start, band + 1.0, end])
    if method == SOFT_GAUSSIAN:
      # TF's weight is exp(-0.5 tIoU^2 / s), hence s = sigma / 2; an IoU
      # threshold of 1 turns its extra hard suppression off.
      kernel_iou, kernel_sigma = 1.0, 0.5 * soft_nms_sigma
    else:
      kernel_iou, kernel_sigma = iou_thresh, 0.0
    selected, selected_scores = tf.image.non_max_suppression_with_scores(
        boxes, cand_scores, max_output_size=tf.size(cand_scores),
        iou_threshold=kernel_iou, score_threshold=threshold,
        soft_nms_sigma=kernel_sigma)
    selected = tf.cast(selected, tf.int64)

  sel_video = tf.gather(video, selected)
  sel_class = tf.gather(cand_class, selected)
  within_class = _rank_within_runs(sel_video * num_classes + sel_class)
  kept = tf.boolean_mask(tf.range(tf.size(selected, out_type=tf.int64)),
                         within_class < max_size_per_class)
  selected = tf.gather(selected, kept)
  selected_scores = tf.gather(selected_scores, kept)
  sel_video = tf.gather(sel_video, kept)
  within_video = _rank_within_runs(sel_video)
  kept = tf.boolean_mask(tf.range(tf.size(selected, out_type=tf.int64)),
                         within_video < max_total_size)
  selected = tf.gather(selected, kept)
  selected_scores = tf.gather(selected_scores, kept)
  sel_video = tf.gather(sel_video, kept)
  slot = tf.stack([sel_video, tf.gather(within_video, kept)], axis=-1)

  sel_segments = tf.gather(cand_segments, selected)
  if voting_iou_threshold:
    sel_segments = _vote(sel_segments, tf.gather(group, selected), group,
                         cand_segments, cand_scores, voting_iou_threshold)
  out_shape = tf.stack([batch, tf.cast(max_total_size, tf.int64)])
  nmsed_scores = tf.scatter_nd(slot, selected_scores, out_shape)
  nmsed_classes = tf.scatter_nd(
      slot, tf.cast(tf.gather(cand_class, selected), tf.float32), out_shape)
  nmsed_segments = tf.scatter_nd(slot, sel_segments,
                                 tf.concat([out_shape, [2]], axis=0))
  num_detections = tf.math.bincount(tf.cast(sel_video, tf.int32),
                                    minlength=tf.cast(batch, tf.int32),
                                    maxlength=tf.cast(batch, tf.int32))
  if isinstance(max_total_size, int):
    static_batch = scores.shape[0]
    nmsed_scores.set_shape([static_batch, max_total_size])
    nmsed_classes.set_shape([static_batch, max_total_size])
    nmsed_segments.set_shape([static_batch, max_total_size, 2])
    num_detections.set_shape([static_batch])
  return nmsed_segments, nmsed_scores, nmsed_classes, num_detections


def _linear_soft_nms(start, end, scores, group, threshold, iou_thresh):
  """Linear Soft-NMS of every group at once (TF has no kernel for it).

  Each iteration selects the best remaining candidate of every group (ties by
  lower list position) and decays its group's other candidates by (1 - tIoU)
  where tIoU > iou_thresh; candidates at or below the threshold are dropped.
  The iterations are as many as the largest group has candidates.

  Returns:
    selected: int64 [S] list positions, in descending final score, ties by
      position.
    selected_scores: float32 [S] their scores when selected.
  """
  num = tf.size(scores, out_type=tf.int64)
  position = tf.range(num)
  groups, dense_group = tf.unique(group, out_idx=tf.int64)
  num_groups = tf.size(groups, out_type=tf.int64)

  def not_done(current, unused_final, unused_done):
    return tf.reduce_any(current > threshold)

  def step(current, final, done):
    alive = current > threshold
    masked = tf.where(alive, current, tf.constant(float('-inf'), tf.float32))
    best = tf.math.unsorted_segment_max(masked, dense_group, num_groups)
    is_best = alive & tf.equal(masked, tf.gather(best, dense_group))
    pick = tf.math.unsorted_segment_min(
        tf.where(is_best, position, num), dense_group, num_groups)
    group_pick = tf.gather(pick, dense_group)  # num when the group is empty.
    has_pick = group_pick < num
    picked = tf.equal(position, group_pick)
    safe_pick = tf.minimum(group_pick, tf.maximum(num - 1, 0))
    tiou = _pairwise_tiou(start, end, tf.gather(start, safe_pick),
                          tf.gather(end, safe_pick))
    weight = tf.where(has_pick & (tiou > iou_thresh) & ~picked, 1.0 - tiou, 1.0)
    final = tf.where(picked, current, final)
    done = done | picked
    current = tf.where(picked, tf.constant(float('-inf'), tf.float32),
                       current * weight)
    return current, final, done

  current, final, done = tf.while_loop(
      not_done, step,
      (scores, tf.zeros_like(scores), tf.zeros_like(scores, dtype=tf.bool)))
  del current
  selected = tf.boolean_mask(position, done)
  selected_scores = tf.boolean_mask(final, done)
  # Descending score, ties by position (argsort is stable on the positions).
  order = tf.argsort(-selected_scores, stable=True)
  return tf.gather(selected, order), tf.gather(selected_scores, order)


def _vote(kept_segments, kept_group, group, cand_segments, cand_scores,
          voting_iou_threshold):
  """Score-weighted mean of each kept segment's overlapping group candidates.

  Only the candidates of the kept segment's own group are compared: the list is
  sorted by group, each kept segment reads its group's run (padded to the
  longest run), so the work is kept x longest group, not kept x candidates.
  """
  order = tf.cast(tf.argsort(group, stable=True), tf.int64)
  sorted_group = tf.gather(group, order)
  run_start = tf.searchsorted(sorted_group, kept_group, side='left',
                              out_type=tf.int64)
  run_end = tf.searchsorted(sorted_group, kept_group, side='right',
                            out_type=tf.int64)
  width = tf.reduce_max(tf.concat([run_end - run_start, [0]], axis=0))
  index = run_start[:, None] + tf.range(width)[None, :]  # [K, W]
  in_run = index < run_end[:, None]
  index = tf.gather(order, tf.minimum(index, tf.maximum(
      tf.size(order, out_type=tf.int64) - 1, 0)))
  segments = tf.gather(cand_segments, index)  # [K, W, 2]
  weights = tf.gather(cand_scores, index)
  tiou = _pairwise_tiou(kept_segments[:, None, 0], kept_segments[:, None, 1],
                        segments[..., 0], segments[..., 1])
  weights = tf.where(in_run & (tiou >= voting_iou_threshold), weights, 0.0)
  total = tf.reduce_sum(weights, axis=1, keepdims=True)
  voted = tf.reduce_sum(weights[..., None] * segments, axis=1) / tf.maximum(
      total, 1e-30)
  # A kept segment always votes for itself (tIoU 1), so total > 0 unless its
  # own length is 0; keep such segments as they are.
  return tf.where(total > 0, voted, kept_segments)
