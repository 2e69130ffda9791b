"""Tests for core/matcher.py (Match) and matchers/argmax_matcher.py."""
import numpy as np
import pytest
import tensorflow as tf

from tal_detection.core import matcher as matcher_lib
from tal_detection.matchers import argmax_matcher


def _match(similarity, valid_rows=None, **kwargs):
  matcher = argmax_matcher.ArgMaxMatcher(**kwargs)
  match = matcher.match(tf.constant(similarity, tf.float32),
                        valid_rows=valid_rows)
  return match.match_results.numpy()


# Rows: ground truth; columns: anchors. Best values per column:
# 0.8 (row 0), 0.9 (row 1), 0.5, 0.25, 0.2, 0.3 (== unmatched),
# 0.7 (== matched).
SIMILARITY = [[0.8, 0.5, 0.1, 0.0, 0.2, 0.3, 0.7],
              [0.75, 0.9, 0.5, 0.25, 0.1, 0.0, 0.1]]


def test_thresholds_and_ignored_band():
  results = _match(SIMILARITY, force_match_for_each_row=False)
  np.testing.assert_array_equal(results, [0, 1, -2, -1, -1, -2, 0])


def test_negatives_lower_than_unmatched_false_swaps_bands():
  results = _match(SIMILARITY, force_match_for_each_row=False,
                   negatives_lower_than_unmatched=False)
  np.testing.assert_array_equal(results, [0, 1, -1, -2, -2, -1, 0])


def test_equal_thresholds_have_no_ignored_band():
  results = _match(SIMILARITY, matched_threshold=0.5, unmatched_threshold=0.5,
                   force_match_for_each_row=False)
  np.testing.assert_array_equal(results, [0, 1, 1, -1, -1, -1, 0])


def test_ignore_thresholds_matches_every_column():
  results = _match([[0.1, 0.2, 0.0], [0.05, 0.3, 0.0]],
                   ignore_thresholds=True, force_match_for_each_row=False)
  # Column 2 ties at 0 -> lowest row.
  np.testing.assert_array_equal(results, [0, 1, 0])


def test_force_match_gives_each_row_its_best_column():
  similarity = [[0.2, 0.5, 0.1],
                [0.1, 0.0, 0.6]]
  np.testing.assert_array_equal(
      _match(similarity, force_match_for_each_row=False), [-1, -2, -2])
  np.testing.assert_array_equal(_match(similarity), [-1, 0, 1])


def test_force_match_takes_a_column_from_its_argmax_row():
  # Row 0's best column is 0, which row 1 would otherwise take (0.7 >= 0.7).
  similarity = [[0.6, 0.0],
                [0.7, 0.9]]
  np.testing.assert_array_equal(
      _match(similarity, force_match_for_each_row=False), [1, 1])
  np.testing.assert_array_equal(_match(similarity), [0, 1])


def test_force_match_conflicts_are_deterministic():
  # Both rows force column 0: the more similar row wins ...
  np.testing.assert_array_equal(_match([[0.4, 0.1], [0.6, 0.2]]), [1, -1])
  # ... and on a tie the lower row index wins.
  np.testing.assert_array_equal(_match([[0.5, 0.1], [0.5, 0.2]]), [0, -1])
  # Ties among a row's columns: the lowest column is forced.
  np.testing.assert_array_equal(_match([[0.5, 0.5, 0.1]]), [0, -2, -1])


def test_row_without_overlap_forces_nothing():
  np.testing.assert_array_equal(_match([[0.0, 0.0], [0.1, 0.8]]), [-1, 1])


@pytest.mark.parametrize('kwargs', [
    dict(), dict(force_match_for_each_row=False), dict(ignore_thresholds=True)])
def test_no_groundtruth_gives_all_negatives(kwargs):
  results = _match(np.zeros([0, 4]), **kwargs)
  np.testing.assert_array_equal(results, [-1, -1, -1, -1])
  assert results.dtype == np.int32


def test_invalid_rows_are_never_matched():
  similarity = [[0.9, 0.1], [0.1, 0.9]]
  np.testing.assert_array_equal(
      _match(similarity, valid_rows=tf.constant([True, False])), [0, -1])
  np.testing.assert_array_equal(
      _match(similarity, valid_rows=tf.constant([False, False]),
             ignore_thresholds=True), [-1, -1])


def _numpy_reference(similarity, matched, unmatched, force):
  """Plain-loop reference of the arg-max matcher (negatives below unmatched)."""
  num_rows, num_cols = similarity.shape
  results = -np.ones([num_cols], np.int32)
  if num_rows == 0:
    return results
  for col in range(num_cols):
    best_row = int(np.argmax(similarity[:, col]))
    best = similarity[best_row, col]
    if best >= matched:
      results[col] = best_row
    elif best >= unmatched:
      results[col] = -2
  if force:
    claimed = {}
    for row in range(num_rows):
      if similarity[row].max() <= 0:
        continue
      col = int(np.argmax(similarity[row]))
      if col not in claimed or similarity[row, col] > similarity[claimed[col],
                                                                 col]:
        claimed[col] = row
    for col, row in claimed.items():
      results[col] = row
  return results


@pytest.mark.parametrize('seed', range(5))
def test_random_against_numpy_reference(seed):
  rng = np.random.RandomState(seed)
  similarity = rng.uniform(0.0, 1.0, size=[rng.randint(1, 6), 40])
  similarity[similarity < 0.5] = 0.0
  for force in (False, True):
    np.testing.assert_array_equal(
        _match(similarity, force_match_for_each_row=force),
        _numpy_reference(similarity.astype(np.float32), 0.7, 0.3, force))


def test_graph_mode_unknown_shapes():
  matcher = argmax_matcher.ArgMaxMatcher()

  @tf.function(input_signature=[tf.TensorSpec([None, None], tf.float32)])
  def match(similarity):
    results = matcher.match(similarity).match_results
    assert results.shape.as_list() == [None]
    return results

  np.testing.assert_array_equal(
      match(tf.constant([[0.2, 0.5, 0.1], [0.1, 0.0, 0.6]])).numpy(),
      [-1, 0, 1])
  np.testing.assert_array_equal(match(tf.zeros([0, 3])).numpy(), [-1, -1, -1])
  assert match(tf.zeros([2, 0])).numpy().shape == (0,)


def test_v1_graph_with_placeholders():
  with tf.Graph().as_default():
    similarity = tf.compat.v1.placeholder(tf.float32, [None, None])
    match = argmax_matcher.ArgMaxMatcher().match(similarity)
    with tf.compat.v1.Session() as sess:
      results, num_matched = sess.run(
          [match.match_results, match.num_matched_columns()],
          {similarity: [[0.8, 0.5, 0.1]]})
  np.testing.assert_array_equal(results, [0, -2, -1])
  assert num_matched == 1


@pytest.mark.parametrize('kwargs,message', [
    (dict(matched_threshold=0.3, unmatched_threshold=0.7), 'must not exceed'),
    (dict(matched_threshold=0.5, unmatched_threshold=-0.1), 'unmatched_thresh'),
    (dict(matched_threshold=-0.5, unmatched_threshold=-0.6), 'matched_thresh'),
])
def test_bad_thresholds(kwargs, message):
  with pytest.raises(ValueError, match=message):
    argmax_matcher.ArgMaxMatcher(**kwargs)


def test_match_helpers():
  match = matcher_lib.Match(tf.constant([3, -1, 0, -2, -1, 1], tf.int32))
  np.testing.assert_array_equal(match.matched_column_indices().numpy(),
                                [0, 2, 5])
  np.testing.assert_array_equal(match.matched_column_indicator().numpy(),
                                [True, False, True, False, False, True])
  np.testing.assert_array_equal(match.unmatched_column_indicator().numpy(),
                                [False, True, False, False, True, False])
  np.testing.assert_array_equal(match.ignored_column_indicator().numpy(),
                                [False, False, False, True, False, False])
  np.testing.assert_array_equal(match.unmatched_column_indices().numpy(),
                                [1, 4])
  np.testing.assert_array_equal(match.ignored_column_indices().numpy(), [3])
  np.testing.assert_array_equal(
      match.unmatched_or_ignored_column_indices().numpy(), [1, 3, 4])
  np.testing.assert_array_equal(match.matched_row_indices().numpy(), [3, 0, 1])
  assert int(match.num_matched_columns()) == 3
  assert int(match.num_unmatched_columns()) == 2
  assert int(match.num_ignored_columns()) == 1


def test_gather_based_on_match():
  match = matcher_lib.Match(tf.constant([1, -1, 0, -2], tf.int32))
  gathered = match.gather_based_on_match(
      tf.constant([[1.0, 2.0], [3.0, 4.0]]),
      unmatched_value=tf.constant([-1.0, -1.0]),
      ignored_value=tf.constant([-2.0, -2.0]))
  np.testing.assert_allclose(gathered.numpy(),
                             [[3.0, 4.0], [-1.0, -1.0], [1.0, 2.0],
                              [-2.0, -2.0]])
  scalars = match.gather_based_on_match(tf.constant([5.0, 6.0]), 0.0, 9.0)
  np.testing.assert_allclose(scalars.numpy(), [6.0, 0.0, 5.0, 9.0])


def test_match_rejects_bad_results():
  with pytest.raises(ValueError, match='rank 1'):
    matcher_lib.Match(tf.zeros([2, 2], tf.int32))
  with pytest.raises(ValueError, match='int32'):
    matcher_lib.Match(tf.zeros([2], tf.int64))
  with pytest.raises(ValueError, match='rank 2'):
    argmax_matcher.ArgMaxMatcher().match(tf.zeros([3]))
