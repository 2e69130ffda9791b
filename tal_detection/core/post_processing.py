"""1-D non-maximum suppression: class-agnostic and batched multi-class.

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
"""
import tensorflow as tf


def _segments_to_boxes(segments):
  """[..., 2] segments -> [..., 4] unit-height boxes [0, start, 1, end]."""
  start, end = segments[..., 0], segments[..., 1]
  return tf.stack(
      [tf.zeros_like(start), start, tf.ones_like(start), end], axis=-1)


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
                                         scope=None):
  """Per-class greedy 1-D NMS over a batch, merged and capped per video.

  For each video and each class c: keep the segments scoring > score_thresh for c,
  run greedy NMS on them (at most max_size_per_class kept); then merge the classes,
  sort by score and keep the top max_total_size.

  Args:
    segments: float32 tensor [B, N, q, 2]; q = 1 (segments shared by all classes)
      or q = C (class-specific segments). B and N may be unknown.
    scores: float32 tensor [B, N, C] of class scores (no background column).
    score_thresh: scalar; only scores strictly above it are candidates.
    iou_thresh: scalar in [0, 1]; tIoU above which a lower-scored segment of the
      same class is suppressed.
    max_size_per_class: int, the most detections kept per class and video.
    max_total_size: int, the most detections kept per video (the output length).
    num_valid_segments: optional int tensor [B]; segments at index >= this in a
      video (padding) are ignored. None means all N are valid.
    scope: optional name scope.

  Returns:
    nmsed_segments: float32 [B, max_total_size, 2], sorted by descending score,
      zero-padded.
    nmsed_scores: float32 [B, max_total_size], zero-padded.
    nmsed_classes: float32 [B, max_total_size], 0-based class index, zero-padded.
    num_detections: int32 [B], the number of real entries per video.

  Raises:
    ValueError: if iou_thresh is outside [0, 1], the shapes are inconsistent, or a
      size is not positive.
  """
  _check_iou_threshold(iou_thresh, 'iou_thresh')
  for name, size in (('max_size_per_class', max_size_per_class),
                     ('max_total_size', max_total_size)):
    if isinstance(size, int) and size <= 0:
      raise ValueError('%s must be > 0, got %d' % (name, size))
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

    (nmsed_boxes, nmsed_scores, nmsed_classes,
     num_detections) = tf.image.combined_non_max_suppression(
         _segments_to_boxes(segments),
         scores,
         max_output_size_per_class=max_size_per_class,
         max_total_size=max_total_size,
         iou_threshold=iou_thresh,
         score_threshold=score_thresh,
         pad_per_class=False,
         clip_boxes=False)
    nmsed_segments = tf.stack([nmsed_boxes[..., 1], nmsed_boxes[..., 3]],
                              axis=-1)
    return nmsed_segments, nmsed_scores, nmsed_classes, num_detections
