"""Arg-max matcher: each anchor takes its most-overlapping ground truth.

For every column (anchor) the best row (ground truth) is found; its similarity
decides the column's fate (with negatives_lower_than_unmatched=True):
    sim >= matched_threshold                       -> matched to that row
    unmatched_threshold <= sim < matched_threshold -> ignored (-2)
    sim < unmatched_threshold                      -> negative (-1)
With negatives_lower_than_unmatched=False the two lower bands swap roles, as in
the OD API: the band in between is negative and everything below is ignored.
With force_match_for_each_row, every ground truth then claims its best anchor
(the Faster R-CNN rule that guarantees each ground truth at least one positive).
"""
import tensorflow as tf

from tal_detection.core import matcher


def _first_argmax(values, axis):
  """Deterministic arg-max: among equal maxima, the lowest index wins.

  tf.argmax leaves the choice among ties unspecified; targets must not depend on
  it. Works for an empty reduction axis (returns the axis size).

  Args:
    values: float tensor of rank 2.
    axis: 0 or 1.

  Returns:
    int32 tensor with `axis` reduced.
  """
  max_values = tf.reduce_max(values, axis=axis, keepdims=True)
  axis_size = tf.shape(values)[axis]
  positions = tf.range(axis_size)
  positions = (positions[:, tf.newaxis] if axis == 0 else
               positions[tf.newaxis, :])
  positions = tf.broadcast_to(positions, tf.shape(values))
  candidates = tf.where(tf.equal(values, max_values), positions,
                        tf.fill(tf.shape(values), axis_size))
  return tf.reduce_min(candidates, axis=axis)


class ArgMaxMatcher(matcher.Matcher):
  """Matches each column to its highest-similarity row, with thresholds."""

  def __init__(self, matched_threshold=0.7, unmatched_threshold=0.3,
               negatives_lower_than_unmatched=True,
               force_match_for_each_row=True, ignore_thresholds=False):
    """Creates the matcher.

    Args:
      matched_threshold: columns whose best similarity is >= this are matched.
      unmatched_threshold: columns whose best similarity is < this are negative
        (or ignored, see negatives_lower_than_unmatched). None: equal to
        matched_threshold (no ignored band).
      negatives_lower_than_unmatched: True: below unmatched_threshold is
        negative, the band in between ignored. False: below is ignored and the
        band in between negative.
      force_match_for_each_row: every valid row with a positive best
        similarity claims its best column, whatever the thresholds say.
      ignore_thresholds: every column is matched to its best row (thresholds
        are not used).

    Raises:
      ValueError: on negative thresholds or unmatched_threshold >
        matched_threshold.
    """
    if unmatched_threshold is None:
      unmatched_threshold = matched_threshold
    matched_threshold = float(matched_threshold)
    unmatched_threshold = float(unmatched_threshold)
    if not ignore_thresholds:
      if matched_threshold < 0.0:
        raise ValueError('matched_threshold must be >= 0, got %g' %
                         matched_threshold)
      if unmatched_threshold < 0.0:
        raise ValueError('unmatched_threshold must be >= 0, got %g' %
                         unmatched_threshold)
      if unmatched_threshold > matched_threshold:
        raise ValueError('unmatched_threshold (%g) must not exceed '
                         'matched_threshold (%g)' %
                         (unmatched_threshold, matched_threshold))
    self._matched_threshold = matched_threshold
    self._unmatched_threshold = unmatched_threshold
    self._negatives_lower_than_unmatched = bool(negatives_lower_than_unmatched)
    self._force_match_for_each_row = bool(force_match_for_each_row)
    self._ignore_thresholds = bool(ignore_thresholds)

  @property
  def matched_threshold(self):
    return self._matched_threshold

  @property
  def unmatched_threshold(self):
    return self._unmatched_threshold

  @property
  def negatives_lower_than_unmatched(self):
    return self._negatives_lower_than_unmatched

  @property
  def force_match_for_each_row(self):
    return self._force_match_for_each_row

  @property
  def ignore_thresholds(self):
    return self._ignore_thresholds

  def _match(self, similarity_matrix, valid_rows):
    similarity_matrix = tf.cast(similarity_matrix, tf.float32)
    num_cols = tf.shape(similarity_matrix)[1]
    # Invalid rows (padding) can never be anyone's best row.
    lowest = tf.fill(tf.shape(similarity_matrix), similarity_matrix.dtype.min)
    similarity = tf.where(valid_rows[:, tf.newaxis], similarity_matrix, lowest)

    matches = _first_argmax(similarity, axis=0)
    if not self._ignore_thresholds:
      best_similarity = tf.reduce_max(similarity, axis=0)
      below_unmatched = tf.less(best_similarity, self._unmatched_threshold)
      in_between = tf.logical_and(
          tf.greater_equal(best_similarity, self._unmatched_threshold),
          tf.less(best_similarity, self._matched_threshold))
      if self._negatives_lower_than_unmatched:
        below_value, between_value = matcher.UNMATCHED, matcher.IGNORED
      else:
        below_value, between_value = matcher.IGNORED, matcher.UNMATCHED
      matches = tf.where(below_unmatched, below_value, matches)
      matches = tf.where(in_between, between_value, matches)

    if self._force_match_for_each_row:
      best_col_per_row = _first_argmax(similarity, axis=1)
      # A row with no overlap at all (e.g. a zero-length ground truth) would
      # force an arbitrary anchor with a meaningless regression target.
      row_can_force = tf.logical_and(
          valid_rows, tf.greater(tf.reduce_max(similarity, axis=1), 0.0))
      forces = tf.logical_and(
          tf.cast(tf.one_hot(best_col_per_row, num_cols), tf.bool),
          row_can_force[:, tf.newaxis])  # [N, M]
      # If several rows force the same column, the most similar one (lowest
      # index among equals) takes it.
      forcing_similarity = tf.where(
          forces, similarity,
          tf.fill(tf.shape(similarity), similarity.dtype.min))
      forcing_row = _first_argmax(forcing_similarity, axis=0)
      is_forced = tf.reduce_any(forces, axis=0)
      matches = tf.where(is_forced, forcing_row, matches)

    # No (valid) ground truth: every column is a negative.
    has_valid_rows = tf.reduce_any(valid_rows)
    matches = tf.where(has_valid_rows, matches,
                       tf.fill([num_cols], matcher.UNMATCHED))
    matches = tf.cast(matches, tf.int32)
    matches.set_shape(similarity_matrix.shape[1:2])
    return matches
