"""Matcher interface and the Match result (anchors <-> ground truth).

The temporal twin of the OD API's Matcher. A similarity matrix has one row per
ground-truth segment and one column per anchor; a Match tells, for each column,
which row it is matched to, or whether it is a negative or ignored.
"""
import abc

import tensorflow as tf

# Values of Match.match_results for columns that are not matched to a row.
UNMATCHED = -1
IGNORED = -2


class Match(object):
  """Result of matching: match_results[j] for every column (anchor) j.

  match_results[j] >= 0: column j is matched to row (ground truth)
    match_results[j];
  match_results[j] == -1: column j is unmatched (a negative);
  match_results[j] == -2: column j is ignored (neither positive nor negative).
  """

  def __init__(self, match_results):
    """Creates a Match.

    Args:
      match_results: int32 tensor [M].

    Raises:
      ValueError: if match_results is not rank 1 or not int32.
    """
    match_results = tf.convert_to_tensor(match_results)
    if match_results.shape.rank != 1:
      raise ValueError('match_results must have rank 1, got shape %s' %
                       match_results.shape)
    if match_results.dtype != tf.int32:
      raise ValueError('match_results must be int32, got %s' %
                       match_results.dtype)
    self._match_results = match_results

  @property
  def match_results(self):
    """int32 tensor [M]."""
    return self._match_results

  def matched_column_indices(self):
    """int32 [num_matched] indices of matched columns, ascending."""
    return self._indices_where(self.matched_column_indicator())

  def matched_column_indicator(self):
    """bool [M], true for matched columns."""
    return tf.greater_equal(self._match_results, 0)

  def num_matched_columns(self):
    """Scalar int32: number of matched columns."""
    return tf.size(self.matched_column_indices())

  def unmatched_column_indices(self):
    """int32 indices of unmatched (negative) columns, ascending."""
    return self._indices_where(self.unmatched_column_indicator())

  def unmatched_column_indicator(self):
    """bool [M], true for unmatched (negative) columns."""
    return tf.equal(self._match_results, UNMATCHED)

  def num_unmatched_columns(self):
    """Scalar int32: number of unmatched columns."""
    return tf.size(self.unmatched_column_indices())

  def ignored_column_indices(self):
    """int32 indices of ignored columns, ascending."""
    return self._indices_where(self.ignored_column_indicator())

  def ignored_column_indicator(self):
    """bool [M], true for ignored columns."""
    return tf.equal(self._match_results, IGNORED)

  def num_ignored_columns(self):
    """Scalar int32: number of ignored columns."""
    return tf.size(self.ignored_column_indices())

  def unmatched_or_ignored_column_indices(self):
    """int32 indices of columns that are not matched, ascending."""
    return self._indices_where(tf.less(self._match_results, 0))

  def matched_row_indices(self):
    """int32 [num_matched]: the row of each matched column (same order)."""
    return tf.gather(self._match_results, self.matched_column_indices())

  def gather_based_on_match(self, input_tensor, unmatched_value,
                            ignored_value):
    """Gathers one row of input_tensor per column, by match.

    Args:
      input_tensor: tensor [N_rows, ...] (one entry per ground truth).
      unmatched_value: tensor of shape [...] used for unmatched columns.
      ignored_value: tensor of shape [...] used for ignored columns.

    Returns:
      tensor [M, ...]: input_tensor[match_results[j]] for matched columns,
      unmatched_value / ignored_value for the others.
    """
    input_tensor = tf.convert_to_tensor(input_tensor)
    unmatched_value = tf.convert_to_tensor(unmatched_value,
                                           dtype=input_tensor.dtype)
    ignored_value = tf.convert_to_tensor(ignored_value,
                                         dtype=input_tensor.dtype)
    # Prepend [ignored, unmatched] so that match_results + 2 indexes directly:
    # -2 -> 0 (ignored), -1 -> 1 (unmatched), row r -> r + 2.
    table = tf.concat(
        [tf.stack([ignored_value, unmatched_value]), input_tensor], axis=0)
    gather_indices = tf.maximum(self._match_results + 2, 0)
    return tf.gather(table, gather_indices)

  @staticmethod
  def _indices_where(indicator):
    return tf.cast(tf.reshape(tf.where(indicator), [-1]), tf.int32)


class Matcher(abc.ABC):
  """Matches the columns (anchors) of a similarity matrix to its rows."""

  def match(self, similarity_matrix, valid_rows=None):
    """Matches each column to a row (or marks it unmatched/ignored).

    Args:
      similarity_matrix: float tensor [N_rows, M_cols]: rows are ground truth,
        columns anchors. Either size may be unknown statically, or 0.
      valid_rows: optional bool tensor [N_rows]; invalid rows (e.g. padding)
        are never matched. Default: all rows valid.

    Returns:
      A Match with M_cols entries.

    Raises:
      ValueError: if similarity_matrix is not rank 2.
    """
    with tf.name_scope('Match'):
      similarity_matrix = tf.convert_to_tensor(similarity_matrix)
      if similarity_matrix.shape.rank != 2:
        raise ValueError('similarity_matrix must have rank 2 '
                         '[N_rows, M_cols], got shape %s' %
                         similarity_matrix.shape)
      if valid_rows is None:
        valid_rows = tf.ones(tf.shape(similarity_matrix)[:1], dtype=tf.bool)
      else:
        valid_rows = tf.cast(valid_rows, tf.bool)
      return Match(self._match(similarity_matrix, valid_rows))

  @abc.abstractmethod
  def _match(self, similarity_matrix, valid_rows):
    """Returns int32 match_results [M_cols]; see Match."""
