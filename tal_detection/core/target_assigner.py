"""Target assigner: classification and regression targets for every anchor.

The temporal twin of the OD API's TargetAssigner. It matches anchors to ground
truth by tIoU (segment_list_ops.pairwise_iou(groundtruth, anchors)) with a
Matcher and then gathers, per anchor:
  cls_targets: the matched ground truth's label, or unmatched_class_label;
  cls_weights: the matched ground truth's weight, 1 for negatives, 0 if ignored;
  reg_targets: the matched ground truth encoded against the anchor, else zeros;
  reg_weights: the matched ground truth's weight, else 0.
"""
import tensorflow as tf

from tal_detection.core import segment_list as segment_list_lib
from tal_detection.core import segment_list_ops


def _as_segment_list(segments, name):
  if isinstance(segments, segment_list_lib.SegmentList):
    return segments
  try:
    return segment_list_lib.SegmentList(
        tf.convert_to_tensor(segments, dtype=tf.float32))
  except (TypeError, ValueError) as e:
    raise ValueError('%s must be a SegmentList or a float [N, 2] tensor: %s' %
                     (name, e))


class TargetAssigner(object):
  """Assigns classification and regression targets to anchors."""

  def __init__(self, matcher, box_coder, negative_class_weight=1.0):
    """Creates the assigner.

    Args:
      matcher: a core.matcher.Matcher.
      box_coder: a core.box_coder.BoxCoder.
      negative_class_weight: classification weight of unmatched anchors.
    """
    self._matcher = matcher
    self._box_coder = box_coder
    self._negative_class_weight = float(negative_class_weight)

  @property
  def matcher(self):
    return self._matcher

  @property
  def box_coder(self):
    return self._box_coder

  def assign(self, anchors, groundtruth, groundtruth_labels,
             unmatched_class_label, groundtruth_weights=None):
    """Assigns targets to the anchors of one video.

    Args:
      anchors: SegmentList of M anchors.
      groundtruth: SegmentList of N_gt ground-truth segments (N_gt may be 0).
      groundtruth_labels: float tensor [N_gt, d] (e.g. one-hot classes).
      unmatched_class_label: float tensor [d], the label of negatives and
        ignored anchors (e.g. the background one-hot).
      groundtruth_weights: optional float tensor [N_gt]; rows with weight 0
        are never matched. Default: all ones.

    Returns:
      cls_targets: float [M, d].
      cls_weights: float [M]: ground-truth weight if matched,
        negative_class_weight if unmatched, 0 if ignored.
      reg_targets: float [M, code_size], zeros where not matched.
      reg_weights: float [M]: ground-truth weight if matched, else 0.
      match: the core.matcher.Match.

    Raises:
      ValueError: if the statically known shapes are inconsistent.
    """
    anchors = _as_segment_list(anchors, 'anchors')
    groundtruth = _as_segment_list(groundtruth, 'groundtruth')
    groundtruth_labels = tf.convert_to_tensor(groundtruth_labels,
                                              dtype=tf.float32)
    unmatched_class_label = tf.convert_to_tensor(unmatched_class_label,
                                                 dtype=tf.float32)
    if (groundtruth_labels.shape.rank is None or
        groundtruth_labels.shape.rank < 1):
      raise ValueError('groundtruth_labels must have shape [N_gt, ...], got %s'
                       % groundtruth_labels.shape)
    if not groundtruth_labels.shape[1:].is_compatible_with(
        unmatched_class_label.shape):
      raise ValueError('unmatched_class_label shape %s does not match the '
                       'per-segment shape of groundtruth_labels %s' %
                       (unmatched_class_label.shape,
                        groundtruth_labels.shape[1:]))
    num_gt_static = groundtruth.num_segments_static()
    if (num_gt_static is not None and groundtruth_labels.shape[0] is not None
        and groundtruth_labels.shape[0] != num_gt_static):
      raise ValueError('groundtruth_labels has %d rows but there are %d '
                       'groundtruth segments' %
                       (groundtruth_labels.shape[0], num_gt_static))
    with tf.name_scope('TargetAssigner'):
      if groundtruth_weights is None:
        groundtruth_weights = tf.ones([groundtruth.num_segments()], tf.float32)
      groundtruth_weights = tf.convert_to_tensor(groundtruth_weights,
                                                 dtype=tf.float32)
      similarity = segment_list_ops.pairwise_iou(groundtruth, anchors)
      match = self._matcher.match(
          similarity, valid_rows=tf.greater(groundtruth_weights, 0.0))

      reg_targets = self._create_regression_targets(anchors, groundtruth,
                                                    match)
      cls_targets = match.gather_based_on_match(
          groundtruth_labels, unmatched_value=unmatched_class_label,
          ignored_value=unmatched_class_label)
      cls_weights = match.gather_based_on_match(
          groundtruth_weights, unmatched_value=self._negative_class_weight,
          ignored_value=0.0)
      reg_weights = match.gather_based_on_match(
          groundtruth_weights, unmatched_value=0.0, ignored_value=0.0)

      num_anchors = anchors.num_segments_static()
      if num_anchors is not None:
        cls_targets.set_shape([num_anchors] +
                              unmatched_class_label.shape.as_list())
        cls_weights.set_shape([num_anchors])
        reg_targets.set_shape([num_anchors, self._box_coder.code_size])
        reg_weights.set_shape([num_anchors])
      return cls_targets, cls_weights, reg_targets, reg_weights, match

  def _create_regression_targets(self, anchors, groundtruth, match):
    matched_groundtruth = match.gather_based_on_match(
        groundtruth.get(), unmatched_value=tf.zeros([2]),
        ignored_value=tf.zeros([2]))
    # Non-matched rows are encoded too (vectorised) and then zeroed.
    encoded = self._box_coder.encode(
        segment_list_lib.SegmentList(matched_groundtruth), anchors)
    return tf.where(match.matched_column_indicator()[:, tf.newaxis], encoded,
                    tf.zeros_like(encoded))
