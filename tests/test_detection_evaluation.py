"""Tests of the ActivityNet-exact detection mAP (tal_detection.metrics)."""
import collections
import json
import os

import numpy as np
import pytest

from tal_detection.metrics import activitynet_io
from tal_detection.metrics import detection_evaluation

THUMOS_JSON = os.path.join(os.path.dirname(__file__), 'data', 'thumos14.json')


# --------------------------------------------------------------------------------
# A second, independent, slow but obvious implementation of the reference algorithm
# (ActivityNet Evaluation/eval_detection.py), one prediction at a time in plain Python.
# It shares only numpy's argsort with the code under test, because the reference's
# tie order *is* numpy's default argsort reversed.
# --------------------------------------------------------------------------------
def _python_tiou(gt, pred):
  intersection = max(0.0, min(pred[1], gt[1]) - max(pred[0], gt[0]))
  union = (gt[1] - gt[0]) + (pred[1] - pred[0]) - intersection
  return intersection / union


def _python_interpolated_ap(precision, recall):
  mprec = [0.0] + list(precision) + [0.0]
  mrec = [0.0] + list(recall) + [1.0]
  for i in range(len(mprec) - 2, -1, -1):
    mprec[i] = max(mprec[i], mprec[i + 1])
  ap = 0.0
  for i in range(1, len(mrec)):
    if mrec[i] != mrec[i - 1]:
      ap += (mrec[i] - mrec[i - 1]) * mprec[i]
  return ap


def python_reference_ap(gt, preds, thresholds, num_classes):
  """gt: [(video, label, start, end)], preds: [(video, label, start, end, score)].

  Returns [T, C] AP (NaN for classes without ground truth).
  """
  ap = [[float('nan')] * num_classes for _ in thresholds]
  for c in range(num_classes):
    class_gt = [g for g in gt if g[1] == c]
    if not class_gt:
      continue
    class_preds = [p for p in preds if p[1] == c]
    if not class_preds:
      for t in range(len(thresholds)):
        ap[t][c] = 0.0
      continue
    gt_of_video = collections.defaultdict(list)
    for j, g in enumerate(class_gt):
      gt_of_video[g[0]].append(j)
    order = np.argsort(np.array([p[4] for p in class_preds]))[::-1]
    locked = [[False] * len(class_gt) for _ in thresholds]
    tp = [[0] * len(class_preds) for _ in thresholds]
    for rank, i in enumerate(order):
      pred = class_preds[i]
      candidates = gt_of_video.get(pred[0], [])
      if not candidates:
        continue
      tious = np.array([_python_tiou(class_gt[j][2:], pred[2:4])
                        for j in candidates])
      visit = np.argsort(tious)[::-1]
      for t, threshold in enumerate(thresholds):
        for k in visit:
          if tious[k] < threshold:
            break
          if locked[t][candidates[k]]:
            continue
          locked[t][candidates[k]] = True
          tp[t][rank] = 1
          break
    for t in range(len(thresholds)):
      tp_sum, fp_sum, precision, recall = 0, 0, [], []
      for is_tp in tp[t]:
        tp_sum += is_tp
        fp_sum += 1 - is_tp
        precision.append(tp_sum / (tp_sum + fp_sum))
        recall.append(tp_sum / len(class_gt))
      ap[t][c] = _python_interpolated_ap(precision, recall)
  return np.array(ap)


def _evaluate(gt, preds, thresholds, num_classes):
  """Runs the code under test on the tuple lists used by the reference above."""
  result = detection_evaluation.compute_average_precision_detection(
      [g[0] for g in gt], [g[2:4] for g in gt], [g[1] for g in gt],
      [p[0] for p in preds], [p[2:4] for p in preds], [p[4] for p in preds],
      [p[1] for p in preds], num_classes, thresholds)
  return result


def _random_case(rng, num_videos, num_classes, num_gt, num_preds):
  """Integer segments and few distinct scores, so tIoU and score ties are common."""
  gt, preds = [], []
  for _ in range(num_gt):
    start = int(rng.randint(0, 30))
    gt.append(('v%d' % rng.randint(num_videos), int(rng.randint(num_classes)),
               float(start), float(start + rng.randint(1, 10))))
  for _ in range(num_preds):
    start = int(rng.randint(0, 30))
    # Some predictions in a video that has no ground truth at all.
    preds.append(('v%d' % rng.randint(num_videos + 1),
                  int(rng.randint(num_classes)), float(start),
                  float(start + rng.randint(1, 10)),
                  float(rng.randint(0, 6)) / 5.0))
  return gt, preds


# --------------------------------------------------------------------------------
# Hand-computed cases.
# --------------------------------------------------------------------------------
def test_perfect_single_detection():
  result = _evaluate([('v', 0, 0.0, 10.0)], [('v', 0, 0.0, 10.0, 0.9)], [0.5], 1)
  np.testing.assert_allclose(result.average_precision, [[1.0]])
  np.testing.assert_allclose(result.mean_average_precision, [1.0])


def test_duplicate_of_one_groundtruth_is_false_positive():
  gt = [('v', 0, 0.0, 10.0), ('v', 0, 20.0, 30.0)]
  preds = [('v', 0, 0.0, 10.0, 0.9), ('v', 0, 0.0, 10.0, 0.8),
           ('v', 0, 20.0, 30.0, 0.7)]
  # TP, FP (duplicate), TP: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1;
  # interpolated: 1/2 * 1 + 1/2 * 2/3 = 5/6.
  result = _evaluate(gt, preds, [0.5], 1)
  np.testing.assert_allclose(result.average_precision, [[5.0 / 6.0]], atol=1e-12)


def test_tied_scores_follow_reference_argsort_order():
  # One TP and one FP with the same score: AP is 1 if the TP comes first, 1/2 if the
  # FP does. The reference's order is np.argsort(scores)[::-1] of the class's
  # predictions in input order; check both input orders against it.
  gt = [('v', 0, 0.0, 10.0)]
  true_positive = ('v', 0, 0.0, 10.0, 0.5)
  false_positive = ('v', 0, 50.0, 60.0, 0.5)
  for preds in ([true_positive, false_positive], [false_positive, true_positive]):
    first = int(np.argsort(np.array([p[4] for p in preds]))[::-1][0])
    expected = 1.0 if preds[first] is true_positive else 0.5
    result = _evaluate(gt, preds, [0.5], 1)
    np.testing.assert_allclose(result.average_precision, [[expected]])


def test_tie_order_for_many_tied_scores_matches_numpy_argsort():
  # 40 tied predictions, one of them the only TP; its position in the reference
  # order decides precision at recall 1: AP = 1 / (rank + 1).
  gt = [('v', 0, 0.0, 10.0)]
  preds = [('v', 0, 100.0 + i, 101.0 + i, 0.25) for i in range(40)]
  preds[17] = ('v', 0, 0.0, 10.0, 0.25)
  order = list(np.argsort(np.full(40, 0.25))[::-1])
  rank = order.index(17)
  result = _evaluate(gt, preds, [0.5], 1)
  np.testing.assert_allclose(result.average_precision, [[1.0 / (rank + 1)]])


def test_class_without_predictions_scores_zero():
  gt = [('v', 0, 0.0, 10.0), ('v', 1, 20.0, 30.0)]
  preds = [('v', 0, 0.0, 10.0, 0.9)]
  result = _evaluate(gt, preds, [0.5], 2)
  np.testing.assert_allclose(result.average_precision, [[1.0, 0.0]])
  np.testing.assert_allclose(result.mean_average_precision, [0.5])


def test_class_without_groundtruth_is_nan_and_left_out_of_the_mean():
  gt = [('v', 0, 0.0, 10.0)]
  preds = [('v', 0, 0.0, 10.0, 0.9), ('v', 1, 0.0, 10.0, 0.8)]
  result = _evaluate(gt, preds, [0.5], 2)
  assert result.average_precision[0, 0] == 1.0
  assert np.isnan(result.average_precision[0, 1])
  np.testing.assert_allclose(result.mean_average_precision, [1.0])
  np.testing.assert_array_equal(result.num_groundtruth_per_class, [1, 0])
  np.testing.assert_array_equal(result.num_detections_per_class, [1, 1])


def test_predictions_in_video_without_groundtruth_are_false_positives():
  gt = [('v1', 0, 0.0, 10.0), ('v2', 1, 0.0, 10.0)]
  preds = [('v2', 0, 0.0, 10.0, 0.9),  # video v2 has no class-0 ground truth
           ('v3', 0, 0.0, 10.0, 0.85),  # video v3 has no ground truth at all
           ('v1', 0, 0.0, 10.0, 0.8),
           ('v2', 1, 0.0, 10.0, 0.7)]
  # Class 0: FP, FP, TP -> precision 1/3 at recall 1 -> AP 1/3. Class 1: AP 1.
  result = _evaluate(gt, preds, [0.5], 2)
  np.testing.assert_allclose(result.average_precision, [[1.0 / 3.0, 1.0]])


def test_multiple_thresholds_and_greedy_highest_tiou_matching():
  gt = [('v', 0, 0.0, 10.0), ('v', 0, 20.0, 30.0)]
  preds = [('v', 0, 0.0, 6.0, 0.9),  # tIoU 0.6 with the first
           ('v', 0, 20.0, 28.0, 0.8),  # tIoU 0.8 with the second
           ('v', 0, 0.0, 10.0, 0.7)]  # tIoU 1.0 with the first
  # 0.3 and 0.5: TP, TP, FP (first already matched) -> AP 1.
  # 0.7: FP, TP, TP -> precision 0, 1/2, 2/3 at recall 0, 1/2, 1 -> AP 2/3.
  result = _evaluate(gt, preds, [0.3, 0.5, 0.7], 1)
  np.testing.assert_allclose(result.average_precision[:, 0], [1, 1, 2.0 / 3.0])
  np.testing.assert_allclose(result.average_mean_average_precision, 8.0 / 9.0)


def test_prediction_takes_highest_tiou_unmatched_groundtruth():
  # Two overlapping ground truths; the first prediction overlaps both and takes the
  # one with the higher tIoU (the second gt); the second prediction's best gt is
  # then taken, so it falls back to the first gt if that passes the threshold.
  gt = [('v', 0, 0.0, 10.0), ('v', 0, 4.0, 14.0)]
  preds = [('v', 0, 3.0, 13.0, 0.9),  # tIoU 7/13 and 9/11
           ('v', 0, 2.8, 12.8, 0.8)]  # tIoU 7.2/12.8 = 0.5625 and 8.8/11.2
  result = _evaluate(gt, preds, [0.5, 0.6], 1)
  # At 0.5 both match; at 0.6 the second's remaining candidate has 0.5625 < 0.6
  # -> TP, FP -> precision 1, 1/2 at recall 1/2, 1/2 -> AP 1/2.
  np.testing.assert_allclose(result.average_precision[:, 0], [1.0, 0.5])


def test_tied_groundtruth_tiou_follows_reference_visiting_order():
  # The first prediction has the same tIoU (3/5) with G1 = [0, 4] and G2 = [2, 6];
  # the reference visits ground truths in np.argsort(tiou)[::-1] order and takes the
  # first. The second prediction equals G1: TP only if the first one took G2.
  # 38 far-away ground truths make the row long (numpy's non-stable sort path).
  gt = [('v', 0, 0.0, 4.0), ('v', 0, 2.0, 6.0)]
  gt += [('v', 0, 100.0 + 10 * k, 104.0 + 10 * k) for k in range(38)]
  preds = [('v', 0, 1.0, 5.0, 0.9), ('v', 0, 0.0, 4.0, 0.8)]
  row = np.array([_python_tiou(g[2:], preds[0][2:4]) for g in gt])
  assert row[0] == row[1] == 0.6
  first_visited = [i for i in np.argsort(row)[::-1] if i in (0, 1)][0]
  expected = 2.0 / 40.0 if first_visited == 1 else 1.0 / 40.0
  result = _evaluate(gt, preds, [0.5], 1)
  np.testing.assert_allclose(result.average_precision, [[expected]])


def test_boundary_tiou_equal_to_threshold_matches():
  # tIoU exactly 0.5 (1 / 2) passes a 0.5 threshold (reference uses `< thr` to reject).
  result = _evaluate([('v', 0, 0.0, 2.0)], [('v', 0, 1.0, 2.0, 0.9)], [0.5], 1)
  np.testing.assert_allclose(result.average_precision, [[1.0]])


def test_no_predictions_at_all():
  result = _evaluate([('v', 0, 0.0, 2.0)], [], [0.5, 0.7], 1)
  np.testing.assert_array_equal(result.average_precision, [[0.0], [0.0]])


def test_interpolated_average_precision_by_hand():
  # Envelope of precision [1, 0.5, 2/3] at recall [0.5, 0.5, 1].
  ap = detection_evaluation.interpolated_average_precision([1, 0.5, 2.0 / 3.0],
                                                           [0.5, 0.5, 1.0])
  assert ap == pytest.approx(5.0 / 6.0, abs=1e-12)
  # Recall not reaching 1 leaves the remainder at precision 0.
  ap = detection_evaluation.interpolated_average_precision([1.0], [0.25])
  assert ap == pytest.approx(0.25)


def test_segment_tiou():
  tiou = detection_evaluation.segment_tiou(
      np.array([0.0, 0.0, 0.0]), np.array([10.0, 10.0, 10.0]),
      np.array([5.0, 20.0, 0.0]), np.array([15.0, 30.0, 10.0]))
  np.testing.assert_allclose(tiou, [5.0 / 15.0, 0.0, 1.0])


def test_bad_inputs_raise():
  with pytest.raises(ValueError, match='pred_labels'):
    _evaluate([('v', 0, 0.0, 1.0)], [('v', 3, 0.0, 1.0, 0.5)], [0.5], 2)
  with pytest.raises(ValueError, match='tiou_thresholds'):
    _evaluate([('v', 0, 0.0, 1.0)], [], [float('nan')], 1)
  with pytest.raises(ValueError, match='gt_segments'):
    detection_evaluation.compute_average_precision_detection(
        ['v'], [[0.0, 1.0, 2.0]], [0], [], [], [], [], 1)
  with pytest.raises(ValueError, match='gt_segments row 1: end 1.0 <= start 1.0'):
    _evaluate([('v', 0, 0.0, 1.0), ('v', 0, 1.0, 1.0)], [], [0.5], 1)
  with pytest.raises(ValueError, match='pred_segments contain NaN'):
    _evaluate([('v', 0, 0.0, 1.0)], [('v', 0, 0.0, np.nan, 0.5)], [0.5], 1)
  with pytest.raises(ValueError, match='pred_scores contain NaN'):
    _evaluate([('v', 0, 0.0, 1.0)], [('v', 0, 0.0, 1.0, np.nan)], [0.5], 1)
  # A zero-length prediction is allowed (tIoU 0 with everything).
  result = _evaluate([('v', 0, 0.0, 1.0)], [('v', 0, 0.5, 0.5, 0.5)], [0.5], 1)
  np.testing.assert_array_equal(result.average_precision, [[0.0]])


# --------------------------------------------------------------------------------
# Cross-checks against the pure-Python reference.
# --------------------------------------------------------------------------------
@pytest.mark.parametrize('seed', range(12))
def test_matches_python_reference_on_random_cases(seed):
  rng = np.random.RandomState(seed)
  num_classes = int(rng.randint(1, 4))
  gt, preds = _random_case(rng, num_videos=int(rng.randint(1, 4)),
                           num_classes=num_classes,
                           num_gt=int(rng.randint(1, 25)),
                           num_preds=int(rng.randint(0, 80)))
  thresholds = [0.1, 0.25, 0.5, 0.6, 0.75, 1.0]
  expected = python_reference_ap(gt, preds, thresholds, num_classes)
  result = _evaluate(gt, preds, thresholds, num_classes)
  np.testing.assert_allclose(result.average_precision, expected, atol=1e-9,
                             rtol=0)
  has_gt = ~np.isnan(expected[0])
  np.testing.assert_allclose(result.mean_average_precision,
                             expected[:, has_gt].mean(axis=1), atol=1e-9)


def test_matches_python_reference_with_many_ties_in_one_group():
  # Large tied groups exercise numpy's (non-stable) argsort on long arrays.
  rng = np.random.RandomState(7)
  gt = [('v', 0, float(s), float(s + 4)) for s in rng.randint(0, 40, 60)]
  preds = [('v', 0, float(s), float(s + 4), float(rng.randint(0, 3)))
           for s in rng.randint(0, 40, 300)]
  thresholds = [0.3, 0.5, 0.7]
  np.testing.assert_allclose(
      _evaluate(gt, preds, thresholds, 1).average_precision,
      python_reference_ap(gt, preds, thresholds, 1), atol=1e-9, rtol=0)


# --------------------------------------------------------------------------------
# Real THUMOS'14 test ground truth.
# --------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def thumos_test():
  return activitynet_io.load_ground_truth(THUMOS_JSON, 'Test')


def test_thumos_ground_truth_loads(thumos_test):
  assert len(thumos_test.videos) == 212
  assert thumos_test.labels.size == 3358
  assert len(thumos_test.class_names) == 20


@pytest.mark.parametrize('tied_scores', [False, True])
def test_thumos_perfect_detections_give_map_one(thumos_test, tied_scores):
  gt = thumos_test
  if tied_scores:
    scores = np.ones(gt.labels.size)
  else:
    scores = np.random.RandomState(0).rand(gt.labels.size)
  result = detection_evaluation.compute_average_precision_detection(
      gt.video_ids, gt.segments, gt.labels, gt.video_ids, gt.segments, scores,
      gt.labels, len(gt.class_names), detection_evaluation.THUMOS_TIOU_THRESHOLDS)
  np.testing.assert_allclose(result.mean_average_precision, np.ones(7))
  np.testing.assert_allclose(result.average_precision, np.ones((7, 20)))
  assert result.average_mean_average_precision == pytest.approx(1.0)


def test_thumos_perturbed_detections_match_python_reference(thumos_test):
  gt = thumos_test
  rng = np.random.RandomState(3)
  source = rng.randint(0, gt.labels.size, 2500)
  length = gt.segments[source, 1] - gt.segments[source, 0]
  start = gt.segments[source, 0] + rng.normal(0, 0.2, source.size) * length
  end = start + length * np.exp(rng.normal(0, 0.3, source.size))
  labels = gt.labels[source].copy()
  # A tenth get a random (mostly wrong) class, and scores are coarse (many ties).
  relabel = rng.rand(source.size) < 0.1
  labels[relabel] = rng.randint(0, 20, relabel.sum())
  scores = np.round(rng.rand(source.size), 2)
  video_ids = [gt.video_ids[i] for i in source]
  thresholds = detection_evaluation.THUMOS_TIOU_THRESHOLDS
  result = detection_evaluation.compute_average_precision_detection(
      gt.video_ids, gt.segments, gt.labels, video_ids,
      np.stack([start, end], axis=1), scores, labels, 20, thresholds)
  gt_tuples = [(v, int(l), s, e) for v, l, (s, e) in
               zip(gt.video_ids, gt.labels, gt.segments.tolist())]
  pred_tuples = [(v, int(l), float(s), float(e), float(sc)) for v, l, s, e, sc in
                 zip(video_ids, labels, start, end, scores)]
  expected = python_reference_ap(gt_tuples, pred_tuples, thresholds, 20)
  np.testing.assert_allclose(result.average_precision, expected, atol=1e-9,
                             rtol=0)
  assert 0.05 < result.average_mean_average_precision < 0.95


# --------------------------------------------------------------------------------
# Json readers.
# --------------------------------------------------------------------------------
def _write(tmp_path, name, content):
  path = tmp_path / name
  path.write_text(json.dumps(content))
  return str(path)


def test_string_segments_evaluate_like_numbers(tmp_path):
  database = {'v1': {'subset': 'Test', 'annotations': [
      {'label': 'Jump', 'segment': ['0', '10.0']},
      {'label': 'Jump', 'segment': ['20', '30']}]},
              'v2': {'subset': 'Validation', 'annotations': [
                  {'label': 'Run', 'segment': [0, 5]}]}}
  gt_path = _write(tmp_path, 'gt.json', {'database': database})
  det_path = _write(tmp_path, 'det.json', {'results': {'v1': [
      {'label': 'Jump', 'score': '0.9', 'segment': ['0.0', '10']},
      {'label': 'Jump', 'score': 0.8, 'segment': ['0', '10']},
      {'label': 'Jump', 'score': 0.7, 'segment': [20, 30]}]}})
  gt = activitynet_io.load_ground_truth(gt_path, 'test')
  assert gt.class_names == ['Jump', 'Run']
  assert gt.videos == ['v1']
  np.testing.assert_array_equal(gt.segments, [[0, 10], [20, 30]])
  det = activitynet_io.load_detections(det_path, gt.class_names)
  np.testing.assert_array_equal(det.scores, [0.9, 0.8, 0.7])
  result = detection_evaluation.compute_average_precision_detection(
      gt.video_ids, gt.segments, gt.labels, det.video_ids, det.segments,
      det.scores, det.labels, len(gt.class_names), [0.5])
  np.testing.assert_allclose(result.average_precision[0, 0], 5.0 / 6.0)
  assert np.isnan(result.average_precision[0, 1])  # 'Run' has no Test instance.


@pytest.mark.parametrize('annotation, message', [
    ({'label': 'A'}, "annotation 0: missing field 'segment'"),
    ({'segment': [0, 1]}, "missing field 'label'"),
    ({'label': 'A', 'segment': [2, 1]}, 'end 1.0 <= start 2.0'),
    ({'label': 'A', 'segment': [1, 1]}, 'end 1.0 <= start 1.0'),
    ({'label': 'A', 'segment': [0, 'NaN']}, 'segment end must be finite'),
    ({'label': 'A', 'segment': [0, 'x']}, 'segment end must be a number'),
    ({'label': 'A', 'segment': [0]}, 'segment must be \\[start, end\\]'),
])
def test_bad_ground_truth_names_file_video_and_field(tmp_path, annotation, message):
  path = _write(tmp_path, 'gt.json', {'database': {'vid7': {
      'subset': 'Test', 'annotations': [annotation]}}})
  with pytest.raises(ValueError, match=message) as error:
    activitynet_io.load_ground_truth(path, 'Test')
  assert 'gt.json' in str(error.value) and 'vid7' in str(error.value)


def test_bad_files_raise(tmp_path):
  with pytest.raises(ValueError, match="missing top-level key 'database'"):
    activitynet_io.load_ground_truth(_write(tmp_path, 'a.json', {'x': 1}))
  with pytest.raises(ValueError, match='not valid json'):
    bad = tmp_path / 'b.json'
    bad.write_text('{nope')
    activitynet_io.load_ground_truth(str(bad))
  with pytest.raises(ValueError, match='cannot read file'):
    activitynet_io.load_ground_truth(str(tmp_path / 'missing.json'))
  gt_path = _write(tmp_path, 'gt.json', {'database': {'v': {
      'subset': 'Test', 'annotations': [{'label': 'A', 'segment': [0, 1]}]}}})
  with pytest.raises(ValueError, match="no video in subset 'train'.*Test"):
    activitynet_io.load_ground_truth(gt_path, 'train')
  with pytest.raises(ValueError, match="missing top-level key 'results'"):
    activitynet_io.load_detections(_write(tmp_path, 'c.json', {}), ['A'])
  with pytest.raises(ValueError, match="results\\['v'\\] entry 0: missing field "
                     "'score'"):
    activitynet_io.load_detections(
        _write(tmp_path, 'd.json', {'results': {'v': [{'label': 'A',
                                                        'segment': [0, 1]}]}}),
        ['A'])
  with pytest.raises(ValueError, match="label 'B' is not a class"):
    activitynet_io.load_detections(
        _write(tmp_path, 'e.json', {'results': {'v': [
            {'label': 'B', 'score': 1, 'segment': [0, 1]}]}}), ['A'])
  with pytest.raises(ValueError, match='score must be finite'):
    activitynet_io.load_detections(
        _write(tmp_path, 'f.json', {'results': {'v': [
            {'label': 'A', 'score': 'nan', 'segment': [0, 1]}]}}), ['A'])
  proposals = activitynet_io.load_proposals(
      _write(tmp_path, 'g.json', {'results': {'v': [
          {'score': 0.5, 'segment': [0, 1]}]}}))
  assert proposals.labels is None and proposals.scores.tolist() == [0.5]


def test_temporal_evaluator_thumos14_kit_protocol_matches_kit_function():
  from tal_detection.metrics import temporal_detection_evaluator
  from tal_detection.metrics import thumos14_kit_evaluation
  from tal_detection.protos import eval_pb2
  rng = np.random.RandomState(5)
  categories = [{'id': 1, 'name': 'a'}, {'id': 2, 'name': 'b'}]
  config = eval_pb2.EvalConfig(protocol=eval_pb2.EvalConfig.THUMOS14_KIT,
                               metrics_set=['detection_metrics'],
                               detection_tiou_thresholds=[0.3, 0.5])
  evaluator = temporal_detection_evaluator.evaluator_from_eval_config(
      config, categories)
  all_gt, all_det, all_amb = [], [], []
  for v in range(4):
    starts = rng.uniform(0, 50, 4)
    gt = np.stack([starts, starts + rng.uniform(2, 9, 4)], 1)
    gt_classes = rng.randint(1, 3, 4)
    det = np.concatenate([gt + rng.normal(0, 1, gt.shape),
                          np.stack([starts, starts + 3], 1)])
    det.sort(axis=1)
    scores = rng.uniform(size=8)
    det_classes = rng.randint(1, 3, 8)
    amb = np.array([[starts[0] - 1, starts[0] + 1]])
    evaluator.add_single_ground_truth('v%d' % v, gt, gt_classes, amb)
    evaluator.add_single_detections('v%d' % v, det, scores, det_classes)
    all_gt.append(('v%d' % v, gt, gt_classes - 1))
    all_det.append(('v%d' % v, det, scores, det_classes - 1))
    all_amb.append(('v%d' % v, amb))
  metrics = evaluator.evaluate()
  expected = thumos14_kit_evaluation.compute_average_precision_kit(
      [v for v, g, _ in all_gt for _ in g], np.concatenate([g for _, g, _ in all_gt]),
      np.concatenate([c for _, _, c in all_gt]),
      [v for v, d, _, _ in all_det for _ in d],
      np.concatenate([d for _, d, _, _ in all_det]),
      np.concatenate([s for _, _, s, _ in all_det]),
      np.concatenate([c for _, _, _, c in all_det]), 2, [0.3, 0.5],
      [v for v, _ in all_amb], np.concatenate([a for _, a in all_amb]))
  assert metrics['DetectionMetrics/mAP@0.5IOU'] == pytest.approx(
      expected.mean_average_precision[1])
  assert metrics['DetectionMetrics/mAP@0.3IOU'] == pytest.approx(
      expected.mean_average_precision[0])
  # The ActivityNet protocol on the same data differs (other matching and AP).
  config.protocol = eval_pb2.EvalConfig.ACTIVITYNET
  assert temporal_detection_evaluator.evaluator_from_eval_config(
      config, categories)._protocol == 'activitynet'


def test_load_ground_truth_keeps_ambiguous_apart(tmp_path):
  path = _write(tmp_path, 'gt.json', {'database': {
      'v': {'subset': 'Test', 'annotations': [
          {'label': 'Ambiguous', 'segment': [1, 2]},
          {'label': 'Jump', 'segment': [3, 4]}]},
      'w': {'subset': 'Train', 'annotations': [
          {'label': 'Ambiguous', 'segment': [5, 6]}]}}})
  gt = activitynet_io.load_ground_truth(path, 'Test')
  assert gt.class_names == ['Jump']
  assert gt.ambiguous_video_ids == ['v']
  np.testing.assert_array_equal(gt.ambiguous_segments, [[1, 2]])


def test_temporal_evaluator_orders_videos_by_id_like_a_results_file(tmp_path):
  # Tied scores across videos: the reference ranks them by input position, so
  # the order videos reach the Estimator's evaluator (sharded or shuffled
  # records) must not matter; it scores them as a results file listing the
  # videos by id (as tools/infer.py writes it) is scored.
  from tal_detection.metrics import file_evaluation
  from tal_detection.metrics import temporal_detection_evaluator
  gt = [('va', 0, 0.0, 10.0), ('vb', 0, 0.0, 10.0)]
  by_id = [('va', 0, 50.0, 60.0, 0.5), ('vb', 0, 0.0, 10.0, 0.5)]
  expected = _evaluate(gt, by_id, [0.5], 1).average_precision[0, 0]
  # The order matters to the reference: the other one gives another AP.
  assert _evaluate(gt, by_id[::-1], [0.5], 1).average_precision[0, 0] != (
      expected)
  evaluator = temporal_detection_evaluator.TemporalDetectionEvaluator(
      [{'id': 1, 'name': 'Jump'}], tiou_thresholds=[0.5],
      evaluate_proposals=False)
  for video, _, start, end, score in by_id[::-1]:
    evaluator.add_single_ground_truth(video, [[0.0, 10.0]], [1])
    evaluator.add_single_detections(video, [[start, end]], [score], [1])
  assert evaluator.evaluate()['DetectionMetrics/mAP@0.5IOU'] == expected
  groundtruth = tmp_path / 'gt.json'
  groundtruth.write_text(json.dumps({'database': {
      video: {'subset': 'test', 'annotations': [
          {'label': 'Jump', 'segment': [start, end]}]}
      for video, _, start, end in gt}}))
  detections = tmp_path / 'det.json'
  detections.write_text(json.dumps({'results': {
      video: [{'label': 'Jump', 'score': score, 'segment': [start, end]}]
      for video, _, start, end, score in by_id}}))
  assert file_evaluation.evaluate_detection_files(
      str(groundtruth), str(detections), 'test', [0.5])['mAP']['0.5'] == (
          expected)
