"""Tests for tal_detection.core.post_processing against a plain numpy greedy NMS."""
import numpy as np
import pytest
import tensorflow as tf

from tal_detection.core import post_processing


def _np_tiou(segment, others):
  """tIoU of one [2] segment with [M, 2] segments, in float32."""
  inter = np.maximum(
      np.minimum(segment[1], others[:, 1]) - np.maximum(segment[0], others[:, 0]),
      np.float32(0))
  union = (segment[1] - segment[0]) + (others[:, 1] - others[:, 0]) - inter
  return np.where(union > 0, inter / np.maximum(union, np.float32(1e-12)), 0)


def np_greedy_nms(segments, scores, max_output_size, iou_threshold,
                  score_threshold=-np.inf):
  """Plain greedy NMS: visit by descending score, keep unless tIoU > threshold."""
  keep = []
  for i in np.argsort(-scores, kind='stable'):
    if len(keep) == max_output_size or scores[i] <= score_threshold:
      break
    if keep and np.max(_np_tiou(segments[i], segments[keep])) > iou_threshold:
      continue
    keep.append(i)
  return np.array(keep, dtype=np.int64)


def np_batch_multiclass_nms(segments, scores, score_thresh, iou_thresh,
                            max_size_per_class, max_total_size,
                            num_valid_segments=None):
  """Numpy reference: per-class greedy NMS, merge, sort, cap, zero-pad."""
  batch, num_segments, q, _ = segments.shape
  num_classes = scores.shape[2]
  out_segments = np.zeros((batch, max_total_size, 2), np.float32)
  out_scores = np.zeros((batch, max_total_size), np.float32)
  out_classes = np.zeros((batch, max_total_size), np.float32)
  out_counts = np.zeros((batch,), np.int32)
  for b in range(batch):
    valid = num_segments if num_valid_segments is None else num_valid_segments[b]
    detections = []
    for c in range(num_classes):
      class_segments = segments[b, :valid, 0 if q == 1 else c]
      class_scores = scores[b, :valid, c]
      for i in np_greedy_nms(class_segments, class_scores, max_size_per_class,
                             iou_thresh, score_thresh):
        detections.append((class_scores[i], c, class_segments[i]))
    detections.sort(key=lambda d: -d[0])
    detections = detections[:max_total_size]
    out_counts[b] = len(detections)
    for k, (score, c, segment) in enumerate(detections):
      out_scores[b, k], out_classes[b, k], out_segments[b, k] = score, c, segment
  return out_segments, out_scores, out_classes, out_counts


def _random_segments(rng, shape):
  """Random [*shape, 2] segments with many overlaps."""
  starts = rng.uniform(0, 40, size=shape)
  lengths = rng.uniform(0.5, 12, size=shape)
  return np.stack([starts, starts + lengths], axis=-1).astype(np.float32)


# --- class-agnostic non_max_suppression ---------------------------------------


@pytest.mark.parametrize('seed', range(5))
@pytest.mark.parametrize('iou_threshold,score_threshold,max_output_size', [
    (0.5, float('-inf'), 100),
    (0.3, 0.5, 100),
    (0.7, 0.2, 5),
    (0.0, float('-inf'), 30),
])
def test_nms_matches_numpy(seed, iou_threshold, score_threshold,
                           max_output_size):
  rng = np.random.RandomState(seed)
  segments = _random_segments(rng, [60])
  scores = rng.uniform(size=60).astype(np.float32)
  indices, num_valid = post_processing.non_max_suppression(
      segments, scores, max_output_size, iou_threshold, score_threshold)
  expected = np_greedy_nms(segments, scores, max_output_size, iou_threshold,
                           score_threshold)
  assert indices.shape == (max_output_size,)
  assert indices.dtype == tf.int32
  assert int(num_valid) == len(expected)
  np.testing.assert_array_equal(indices.numpy()[:len(expected)], expected)
  np.testing.assert_array_equal(indices.numpy()[len(expected):], 0)


def test_nms_hand_computed_threshold_is_strict():
  # tIoU([0,4],[2,4]) = 0.5 exactly: kept at threshold 0.5, suppressed below.
  segments = [[0.0, 4.0], [2.0, 4.0], [10.0, 12.0]]
  scores = [0.9, 0.8, 0.5]
  indices, num_valid = post_processing.non_max_suppression(
      segments, scores, 4, iou_threshold=0.5)
  np.testing.assert_array_equal(indices.numpy(), [0, 1, 2, 0])
  assert int(num_valid) == 3
  indices, num_valid = post_processing.non_max_suppression(
      segments, scores, 4, iou_threshold=0.49)
  np.testing.assert_array_equal(indices.numpy(), [0, 2, 0, 0])
  assert int(num_valid) == 2
  # Score threshold is strict too: 0.5 is not above 0.5.
  _, num_valid = post_processing.non_max_suppression(
      segments, scores, 4, iou_threshold=0.49, score_threshold=0.5)
  assert int(num_valid) == 1


def test_nms_graph_mode_unknown_n():
  graph = tf.Graph()
  with graph.as_default():
    segments = tf.compat.v1.placeholder(tf.float32, [None, 2])
    scores = tf.compat.v1.placeholder(tf.float32, [None])
    indices, num_valid = post_processing.non_max_suppression(
        segments, scores, 10, 0.5, 0.1)
    assert indices.shape.as_list() == [10]
  rng = np.random.RandomState(7)
  with tf.compat.v1.Session(graph=graph) as sess:
    for n in (0, 3, 25):
      seg_np = _random_segments(rng, [n])
      score_np = rng.uniform(size=n).astype(np.float32)
      indices_np, num_valid_np = sess.run(
          [indices, num_valid], {segments: seg_np, scores: score_np})
      expected = np_greedy_nms(seg_np, score_np, 10, 0.5, 0.1)
      assert num_valid_np == len(expected)
      np.testing.assert_array_equal(indices_np[:num_valid_np], expected)
      np.testing.assert_array_equal(indices_np[num_valid_np:], 0)


def test_nms_bad_iou_threshold():
  with pytest.raises(ValueError, match='iou_threshold'):
    post_processing.non_max_suppression([[0.0, 1.0]], [1.0], 1, 1.5)


# --- batch_multiclass_non_max_suppression -------------------------------------


def _assert_matches_reference(outputs, expected):
  segments, scores, classes, counts = [np.asarray(o) for o in outputs]
  exp_segments, exp_scores, exp_classes, exp_counts = expected
  np.testing.assert_array_equal(counts, exp_counts)
  np.testing.assert_allclose(scores, exp_scores, rtol=1e-6)
  np.testing.assert_array_equal(classes, exp_classes)
  np.testing.assert_allclose(segments, exp_segments, rtol=1e-6)


@pytest.mark.parametrize('seed', range(4))
@pytest.mark.parametrize('class_specific', [False, True])
@pytest.mark.parametrize(
    'score_thresh,iou_thresh,max_size_per_class,max_total_size', [
        (0.0, 0.5, 100, 300),   # no cap binds: pure NMS, zero padding
        (0.3, 0.7, 4, 100),     # per-class cap binds
        (0.1, 0.4, 50, 7),      # total cap binds
        (0.6, 0.0, 3, 5),       # both, and any overlap suppresses
    ])
def test_batch_multiclass_nms_matches_numpy(seed, class_specific, score_thresh,
                                            iou_thresh, max_size_per_class,
                                            max_total_size):
  rng = np.random.RandomState(seed)
  batch, num_segments, num_classes = 3, 30, 4
  q = num_classes if class_specific else 1
  segments = _random_segments(rng, [batch, num_segments, q])
  scores = rng.uniform(size=(batch, num_segments, num_classes)).astype(
      np.float32)
  outputs = post_processing.batch_multiclass_non_max_suppression(
      segments, scores, score_thresh, iou_thresh, max_size_per_class,
      max_total_size)
  expected = np_batch_multiclass_nms(segments, scores, score_thresh,
                                     iou_thresh, max_size_per_class,
                                     max_total_size)
  assert outputs[0].shape == (batch, max_total_size, 2)
  assert outputs[1].shape == (batch, max_total_size)
  assert outputs[2].shape == (batch, max_total_size)
  assert outputs[3].shape == (batch,) and outputs[3].dtype == tf.int32
  _assert_matches_reference(outputs, expected)


def test_batch_multiclass_nms_hand_computed():
  # One video, two classes, shared segments.
  segments = np.array([[[[0, 4]], [[2, 4]], [[10, 12]]]], np.float32)
  scores = np.array([[[0.9, 0.1], [0.8, 0.7], [0.2, 0.6]]], np.float32)
  batch_nms = post_processing.batch_multiclass_non_max_suppression
  segs, scrs, classes, counts = batch_nms(
      segments, scores, score_thresh=0.15, iou_thresh=0.4,
      max_size_per_class=10, max_total_size=5)
  # Class 0: 0.9 [0,4] kept, 0.8 [2,4] suppressed (tIoU 0.5), 0.2 [10,12] kept.
  # Class 1: 0.7 [2,4] kept, 0.6 [10,12] kept, 0.1 below threshold.
  np.testing.assert_allclose(scrs.numpy(), [[0.9, 0.7, 0.6, 0.2, 0.0]])
  np.testing.assert_array_equal(classes.numpy(), [[0, 1, 1, 0, 0]])
  np.testing.assert_array_equal(
      segs.numpy(), [[[0, 4], [2, 4], [10, 12], [10, 12], [0, 0]]])
  np.testing.assert_array_equal(counts.numpy(), [4])


def test_num_valid_segments_masks_padding():
  rng = np.random.RandomState(11)
  batch, num_segments, num_classes = 3, 20, 2
  segments = _random_segments(rng, [batch, num_segments, 1])
  scores = rng.uniform(size=(batch, num_segments, num_classes)).astype(
      np.float32)
  num_valid = np.array([20, 7, 0], np.int32)
  # Padding that would win if it were read: top scores and garbage coordinates.
  for b, valid in enumerate(num_valid):
    scores[b, valid:] = 1.0
    segments[b, valid:] = np.nan
  outputs = post_processing.batch_multiclass_non_max_suppression(
      segments, scores, 0.05, 0.5, 10, 15, num_valid_segments=num_valid)
  expected = np_batch_multiclass_nms(segments, scores, 0.05, 0.5, 10, 15,
                                     num_valid_segments=num_valid)
  _assert_matches_reference(outputs, expected)
  assert np.all(np.isfinite(outputs[0].numpy()))
  assert int(outputs[3][2]) == 0
  # Video 1 alone, truncated, gives the same detections.
  alone = post_processing.batch_multiclass_non_max_suppression(
      segments[1:2, :7], scores[1:2, :7], 0.05, 0.5, 10, 15)
  for masked, truncated in zip(outputs, alone):
    np.testing.assert_array_equal(np.asarray(masked)[1], np.asarray(truncated)[0])


def test_zero_padding_beyond_count():
  rng = np.random.RandomState(5)
  segments = _random_segments(rng, [2, 6, 3])
  scores = rng.uniform(size=(2, 6, 3)).astype(np.float32)
  batch_nms = post_processing.batch_multiclass_non_max_suppression
  segs, scrs, classes, counts = batch_nms(
      segments, scores, 0.5, 0.5, 100, 40)
  for b in range(2):
    count = int(counts[b])
    assert 0 < count < 40
    np.testing.assert_array_equal(segs.numpy()[b, count:], 0)
    np.testing.assert_array_equal(scrs.numpy()[b, count:], 0)
    np.testing.assert_array_equal(classes.numpy()[b, count:], 0)
    assert np.all(scrs.numpy()[b, :count] > 0.5)
    assert np.all(np.diff(scrs.numpy()[b, :count]) <= 0)


def test_empty_input():
  batch_nms = post_processing.batch_multiclass_non_max_suppression
  segs, scrs, classes, counts = batch_nms(
      np.zeros((2, 0, 1, 2), np.float32), np.zeros((2, 0, 3), np.float32),
      0.0, 0.5, 5, 4)
  assert segs.shape == (2, 4, 2)
  np.testing.assert_array_equal(counts.numpy(), [0, 0])
  np.testing.assert_array_equal(scrs.numpy(), 0)
  np.testing.assert_array_equal(classes.numpy(), 0)


def test_graph_mode_unknown_batch_and_n():
  graph = tf.Graph()
  with graph.as_default():
    segments = tf.compat.v1.placeholder(tf.float32, [None, None, None, 2])
    scores = tf.compat.v1.placeholder(tf.float32, [None, None, None])
    num_valid = tf.compat.v1.placeholder(tf.int32, [None])
    outputs = post_processing.batch_multiclass_non_max_suppression(
        segments, scores, 0.2, 0.6, 5, 8, num_valid_segments=num_valid)
    assert outputs[0].shape.as_list() == [None, 8, 2]
    assert outputs[1].shape.as_list() == [None, 8]
  rng = np.random.RandomState(9)
  with tf.compat.v1.Session(graph=graph) as sess:
    for batch, n, q in ((1, 12, 1), (2, 25, 3)):
      seg_np = _random_segments(rng, [batch, n, q])
      score_np = rng.uniform(size=(batch, n, 3)).astype(np.float32)
      valid_np = rng.randint(0, n + 1, size=batch).astype(np.int32)
      result = sess.run(outputs, {segments: seg_np, scores: score_np,
                                  num_valid: valid_np})
      _assert_matches_reference(
          result, np_batch_multiclass_nms(seg_np, score_np, 0.2, 0.6, 5, 8,
                                          num_valid_segments=valid_np))


def test_tf_function_known_batch_unknown_n():
  @tf.function(input_signature=[
      tf.TensorSpec([2, None, 1, 2], tf.float32),
      tf.TensorSpec([2, None, 2], tf.float32)])
  def run(segments, scores):
    return post_processing.batch_multiclass_non_max_suppression(
        segments, scores, 0.0, 0.5, 6, 6)

  rng = np.random.RandomState(4)
  segments = _random_segments(rng, [2, 17, 1])
  scores = rng.uniform(size=(2, 17, 2)).astype(np.float32)
  _assert_matches_reference(
      run(segments, scores),
      np_batch_multiclass_nms(segments, scores, 0.0, 0.5, 6, 6))


@pytest.mark.parametrize('kwargs,match', [
    (dict(iou_thresh=-0.1), 'iou_thresh'),
    (dict(iou_thresh=1.1), 'iou_thresh'),
    (dict(max_size_per_class=0), 'max_size_per_class'),
    (dict(max_total_size=-3), 'max_total_size'),
])
def test_batch_multiclass_nms_bad_arguments(kwargs, match):
  args = dict(segments=np.zeros((1, 3, 1, 2), np.float32),
              scores=np.zeros((1, 3, 2), np.float32), score_thresh=0.0,
              iou_thresh=0.5, max_size_per_class=3, max_total_size=3)
  args.update(kwargs)
  with pytest.raises(ValueError, match=match):
    post_processing.batch_multiclass_non_max_suppression(**args)


def test_batch_multiclass_nms_bad_shapes():
  with pytest.raises(ValueError, match='q must be 1 or the number of classes'):
    post_processing.batch_multiclass_non_max_suppression(
        np.zeros((1, 3, 2, 2), np.float32), np.zeros((1, 3, 3), np.float32),
        0.0, 0.5, 3, 3)
  with pytest.raises(ValueError, match=r'\[B, N, q, 2\]'):
    post_processing.batch_multiclass_non_max_suppression(
        np.zeros((1, 3, 2), np.float32), np.zeros((1, 3, 2), np.float32),
        0.0, 0.5, 3, 3)


# --- Soft-NMS, top-k, min score, class-agnostic, voting -------------------------


def np_general_nms(segments, scores, score_thresh, iou_thresh,
                   max_size_per_class, max_total_size, num_valid_segments=None,
                   method='HARD', soft_nms_sigma=0.5, pre_nms_top_k=0,
                   min_score=0.0, class_agnostic=False, voting_iou_threshold=0.0):
  """Plain eager reference of every NMS option, one video and group at a time.

  Candidates: flattened index n * C + c, score > score_thresh, then the video's
  top k (stable: ties by lower index), then score > max(score_thresh, min_score).
  Per group: repeatedly select the highest current score (ties: earlier in the
  candidate list), decay the others, drop those at or below the threshold.
  """
  batch, num_segments, q, _ = segments.shape
  num_classes = scores.shape[2]
  threshold = max(score_thresh, min_score)
  out_segments = np.zeros((batch, max_total_size, 2), np.float64)
  out_scores = np.zeros((batch, max_total_size), np.float64)
  out_classes = np.zeros((batch, max_total_size), np.float64)
  out_counts = np.zeros((batch,), np.int32)
  for b in range(batch):
    valid = num_segments if num_valid_segments is None else num_valid_segments[b]
    cands = []  # (flat index, class, segment, score)
    for n in range(valid):
      for c in range(num_classes):
        if scores[b, n, c] > score_thresh:
          cands.append((n * num_classes + c, c,
                        segments[b, n, 0 if q == 1 else c].astype(np.float64),
                        float(scores[b, n, c])))
    if pre_nms_top_k:
      order = np.argsort([-x[3] for x in cands], kind='stable')[:pre_nms_top_k]
      cands = [cands[i] for i in order]
    cands = [x for x in cands if x[3] > threshold]
    groups = {}
    for position, x in enumerate(cands):
      groups.setdefault(0 if class_agnostic else x[1], []).append(position)
    selections = []  # (final score, position)
    for members in groups.values():
      current = {p: cands[p][3] for p in members}
      while current:
        best = max(current.values())
        pick = min(p for p, v in current.items() if v == best)
        selections.append((best, pick))
        del current[pick]
        for p in list(current):
          tiou = _np_tiou(cands[pick][2], cands[p][2][None])[0]
          if method == 'HARD':
            weight = 0.0 if tiou > iou_thresh else 1.0
          elif method == 'SOFT_GAUSSIAN':
            weight = np.exp(-tiou * tiou / soft_nms_sigma)
          else:
            weight = 1.0 - tiou if tiou > iou_thresh else 1.0
          current[p] *= weight
          if current[p] <= threshold:
            del current[p]
    selections.sort(key=lambda s: (-s[0], s[1]))
    per_class = {}
    kept = []
    for score, p in selections:
      c = cands[p][1]
      if per_class.get(c, 0) < max_size_per_class:
        per_class[c] = per_class.get(c, 0) + 1
        kept.append((score, p))
    kept = kept[:max_total_size]
    out_counts[b] = len(kept)
    for k, (score, p) in enumerate(kept):
      segment = cands[p][2]
      if voting_iou_threshold:
        group = 0 if class_agnostic else cands[p][1]
        total, weighted = 0.0, np.zeros(2)
        for other in groups[group]:
          if _np_tiou(segment, cands[other][2][None])[0] >= voting_iou_threshold:
            total += cands[other][3]
            weighted += cands[other][3] * cands[other][2]
        segment = weighted / total
      out_scores[b, k], out_classes[b, k] = score, cands[p][1]
      out_segments[b, k] = segment
  return out_segments, out_scores, out_classes, out_counts


def _assert_close_to_general_reference(outputs, expected):
  segments, scores, classes, counts = [np.asarray(o) for o in outputs]
  exp_segments, exp_scores, exp_classes, exp_counts = expected
  np.testing.assert_array_equal(counts, exp_counts)
  np.testing.assert_array_equal(classes, exp_classes)
  np.testing.assert_allclose(scores, exp_scores, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(segments, exp_segments, rtol=1e-5, atol=1e-4)


_GENERAL_CASES = [
    dict(method='HARD', pre_nms_top_k=40),
    dict(method='HARD', class_agnostic=True),
    dict(method='HARD', voting_iou_threshold=0.6),
    dict(method='SOFT_GAUSSIAN', soft_nms_sigma=0.5, min_score=0.05),
    dict(method='SOFT_GAUSSIAN', soft_nms_sigma=0.75, min_score=0.2,
         pre_nms_top_k=50, voting_iou_threshold=0.75),
    dict(method='SOFT_LINEAR', min_score=0.1),
    dict(method='SOFT_LINEAR', min_score=0.05, class_agnostic=True,
         pre_nms_top_k=60, voting_iou_threshold=0.8),
    dict(method='SOFT_GAUSSIAN', soft_nms_sigma=0.5, min_score=0.1,
         class_agnostic=True),
]


@pytest.mark.parametrize('seed', range(3))
@pytest.mark.parametrize('options', _GENERAL_CASES)
@pytest.mark.parametrize('tied', [False, True])
def test_general_nms_matches_numpy(seed, options, tied):
  rng = np.random.RandomState(100 + seed)
  batch, num_segments, num_classes = 2, 25, 3
  segments = _random_segments(rng, [batch, num_segments, num_classes])
  scores = rng.uniform(size=(batch, num_segments, num_classes))
  if tied:
    # Few distinct scores (and duplicated segments): the tie rule decides.
    scores = np.round(scores * 4) / 4 + 0.01
    segments[:, 1::2] = segments[:, :-1:2]
  scores = scores.astype(np.float32)
  num_valid = np.array([num_segments, 17], np.int32)
  args = (segments, scores, 0.02, 0.5, 6, 12)
  outputs = post_processing.batch_multiclass_non_max_suppression(
      *args, num_valid_segments=num_valid, **options)
  expected = np_general_nms(*args, num_valid_segments=num_valid, **options)
  _assert_close_to_general_reference(outputs, expected)


def test_general_hard_equals_combined_kernel():
  # The general path with HARD (forced by a top-k that keeps everything) and the
  # combined kernel agree on untied random input.
  rng = np.random.RandomState(7)
  segments = _random_segments(rng, [2, 30, 4])
  scores = rng.uniform(size=(2, 30, 4)).astype(np.float32)
  combined = post_processing.batch_multiclass_non_max_suppression(
      segments, scores, 0.1, 0.6, 5, 15)
  general = post_processing.batch_multiclass_non_max_suppression(
      segments, scores, 0.1, 0.6, 5, 15, pre_nms_top_k=10000)
  for a, b in zip(combined, general):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)


@pytest.mark.parametrize('num_classes,q', [(2, 2), (5, 5), (5, 1), (20, 20)])
@pytest.mark.parametrize('max_total_size', [3, 12, 500])
@pytest.mark.parametrize('threshold', [0.3, -1.0])
def test_combined_nms_in_class_groups_equals_one_kernel_call(
    num_classes, q, max_total_size, threshold):
  # The groups' merged detections are the single call's (untied scores), for
  # even and odd class counts, shared and class-specific segments, a cap
  # below, near and above the number kept, a padded batch, and detections
  # scoring 0 like the padding (negative threshold).
  rng = np.random.RandomState(num_classes + q + max_total_size)
  segments = _random_segments(rng, [3, 40, q])
  scores = rng.uniform(size=(3, 40, num_classes)).astype(np.float32)
  scores[2] = -2.0  # a video with no candidate: all padding
  # The last class of video 0 keeps one detection, scoring 0 as the earlier
  # groups' padding does (kept when the threshold is negative).
  scores[0, :, -1] = -2.0
  scores[0, 0, -1] = 0.0
  num_valid = np.array([40, 23, 40], np.int32)
  grouped = post_processing.batch_multiclass_non_max_suppression(
      segments, scores, threshold, 0.5, 6, max_total_size,
      num_valid_segments=num_valid, min_score=min(threshold, 0.0))
  masked = np.where(np.arange(40)[None, :, None] < num_valid[:, None, None],
                    scores, -np.inf).astype(np.float32)
  zeros = np.zeros_like(segments[..., 0])
  boxes, *single = tf.image.combined_non_max_suppression(
      np.stack([zeros, segments[..., 0], zeros + 1, segments[..., 1]], -1),
      masked, 6, max_total_size, 0.5, threshold, clip_boxes=False)
  single = [tf.gather(boxes, [1, 3], axis=-1)] + single
  num_detections = grouped[3].numpy()
  assert num_detections[2] == 0 and num_detections[0] > 0
  if threshold < 0 and max_total_size == 500:
    assert grouped[1].numpy()[0, num_detections[0] - 1] == 0.0
  for a, b in zip(grouped, single):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_soft_nms_hand_computed():
  # Two segments of one class, tIoU 0.5: Gaussian (sigma 0.5) keeps the second
  # at 0.8 * exp(-0.25 / 0.5); linear (threshold 0.3) at 0.8 * 0.5; hard drops it.
  segments = np.array([[[[0, 4]], [[2, 4]]]], np.float32)
  scores = np.array([[[0.9], [0.8]]], np.float32)
  nms = post_processing.batch_multiclass_non_max_suppression
  _, gauss, _, n = nms(segments, scores, 0.0, 0.3, 5, 5,
                       method='SOFT_GAUSSIAN', soft_nms_sigma=0.5)
  np.testing.assert_allclose(gauss.numpy()[0, :2], [0.9, 0.8 * np.exp(-0.5)],
                             rtol=1e-6)
  assert n.numpy()[0] == 2
  _, linear, _, _ = nms(segments, scores, 0.0, 0.3, 5, 5, method='SOFT_LINEAR')
  np.testing.assert_allclose(linear.numpy()[0, :2], [0.9, 0.4], rtol=1e-6)
  _, _, _, n = nms(segments, scores, 0.0, 0.3, 5, 5, method='HARD',
                   pre_nms_top_k=5)
  assert n.numpy()[0] == 1
  # Voting at 0.5: the kept [0, 4] becomes (0.9 [0, 4] + 0.8 [2, 4]) / 1.7.
  voted, _, _, _ = nms(segments, scores, 0.0, 0.3, 5, 5,
                       voting_iou_threshold=0.5)
  np.testing.assert_allclose(voted.numpy()[0, 0], [1.6 / 1.7, 4.0], rtol=1e-6)


@pytest.mark.parametrize('method', ['HARD', 'SOFT_GAUSSIAN', 'SOFT_LINEAR'])
def test_general_nms_graph_mode_unknown_shapes(method):
  graph = tf.Graph()
  with graph.as_default():
    segments = tf.compat.v1.placeholder(tf.float32, [None, None, None, 2])
    scores = tf.compat.v1.placeholder(tf.float32, [None, None, None])
    num_valid = tf.compat.v1.placeholder(tf.int32, [None])
    options = dict(method=method, min_score=0.05, pre_nms_top_k=30,
                   voting_iou_threshold=0.7)
    outputs = post_processing.batch_multiclass_non_max_suppression(
        segments, scores, 0.0, 0.5, 5, 8, num_valid_segments=num_valid,
        **options)
    assert outputs[0].shape.as_list() == [None, 8, 2]
  rng = np.random.RandomState(3)
  with tf.compat.v1.Session(graph=graph) as sess:
    for batch, n, q in ((1, 12, 1), (3, 20, 3), (2, 0, 1)):
      seg_np = _random_segments(rng, [batch, n, q])
      score_np = rng.uniform(size=(batch, n, 3)).astype(np.float32)
      valid_np = rng.randint(0, n + 1, size=batch).astype(np.int32)
      result = sess.run(outputs, {segments: seg_np, scores: score_np,
                                  num_valid: valid_np})
      _assert_close_to_general_reference(
          result, np_general_nms(seg_np, score_np, 0.0, 0.5, 5, 8,
                                 num_valid_segments=valid_np, **options))


@pytest.mark.parametrize('kwargs,match', [
    (dict(method='SOFTER'), 'method'),
    (dict(method='SOFT_GAUSSIAN', soft_nms_sigma=0.0), 'soft_nms_sigma'),
    (dict(pre_nms_top_k=-1), 'pre_nms_top_k'),
    (dict(voting_iou_threshold=1.5), 'voting_iou_threshold'),
])
def test_general_nms_bad_arguments(kwargs, match):
  with pytest.raises(ValueError, match=match):
    post_processing.batch_multiclass_non_max_suppression(
        np.zeros((1, 3, 1, 2), np.float32), np.zeros((1, 3, 2), np.float32),
        0.0, 0.5, 3, 3, **kwargs)
