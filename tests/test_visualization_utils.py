"""Tests of the result pictures (timelines, AR-AN, precision-recall) and of the
precision-recall points the eval images draw."""
import io

import matplotlib.image
import numpy as np
import pytest

from tal_detection.metrics import detection_evaluation
from tal_detection.metrics import eval_images
from tal_detection.utils import visualization_utils as vis

_NAMES = {1: 'BaseballPitch', 2: 'CliffDiving', 3: 'HighJump'}


def _image(png):
  return matplotlib.image.imread(io.BytesIO(png), format='png')


def test_layout_has_a_lane_per_class_with_a_groundtruth_row():
  groundtruth = [(3.0, 8.0, 1), (40.0, 55.0, 3)]
  # Two overlapping class-1 detections must not share a row.
  detections = [(3.2, 8.1, 1, 0.9), (3.0, 9.0, 1, 0.4), (10.0, 12.0, 2, 0.2)]
  lanes, total_rows = vis.timeline_layout(70.0, groundtruth, detections)
  assert [lane['class_id'] for lane in lanes] == [1, 2, 3]
  first = lanes[0]
  assert first['gt_row'] == 0 and first['groundtruth'] == [(3.0, 8.0)]
  assert [d[3] for d in first['detections']] == [0.9, 0.4]
  assert first['detection_rows'] == [1, 2]
  # Class 2 has ground truth known to be empty, class 3 no detection: both
  # keep a ground-truth row and one (empty or used) detection row.
  assert lanes[1]['gt_row'] == 3 and lanes[1]['groundtruth'] == []
  assert lanes[2]['gt_row'] == 5 and lanes[2]['detections'] == []
  assert total_rows == 7


def test_layout_without_groundtruth_has_no_groundtruth_rows():
  lanes, total_rows = vis.timeline_layout(
      20.0, None, [(1.0, 2.0, 2, 0.5), (10.0, 11.0, 2, 0.6)])
  assert len(lanes) == 1 and lanes[0]['gt_row'] is None
  # Far apart: both on one row.
  assert lanes[0]['detection_rows'] == [0, 0] and total_rows == 1


def test_stack_rows_and_top_k():
  assert vis.stack_rows([(0, 5), (1, 2), (5, 6), (2, 3)]) == [0, 1, 0, 1]
  detections = [(0, 1, 1, s) for s in (0.1, 0.9, 0.5, 0.7)]
  assert [d[3] for d in vis.select_detections(detections, 2)] == [0.9, 0.7]
  assert len(vis.select_detections(detections, 0)) == 4
  assert [d[3] for d in vis.select_detections(detections, 0, 0.6)] == [0.9,
                                                                         0.7]


def test_palette_is_okabe_ito_and_distinct():
  colors = vis.class_colors([5, 2, 9, 2])
  assert colors == {2: '#E69F00', 5: '#56B4E9', 9: '#009E73'}


def test_timeline_png_spans_the_whole_video_and_grows_with_rows():
  one = _image(vis.timeline_png('v', 100.0, [], [(1, 2, 1, 0.9)], _NAMES))
  many = _image(vis.timeline_png(
      'v', 100.0, [(1, 5, 1), (20, 30, 2)],
      [(1, 5, 1, 0.9), (1.5, 5, 1, 0.8), (20, 31, 2, 0.7)], _NAMES))
  assert one.ndim == 3 and many.shape[0] > one.shape[0]
  # The detection is drawn in the first class colour somewhere.
  orange = np.array([0xE6, 0x9F, 0x00]) / 255.0
  assert np.any(np.all(np.abs(one[..., :3] - orange) < 0.02, axis=-1))


def test_precision_recall_curve_area_equals_the_evaluators_ap():
  rng = np.random.default_rng(0)
  groundtruth, detections = {}, []
  gt_ids, gt_segments, pred_ids, pred_segments, scores = [], [], [], [], []
  for v in range(5):
    starts = np.sort(rng.uniform(0, 90, 4))
    segments = np.stack([starts, starts + rng.uniform(2, 8, 4)], axis=1)
    groundtruth['v%d' % v] = segments
    for s, e in segments:
      gt_ids.append('v%d' % v)
      gt_segments.append((s, e))
    for _ in range(7):
      s = rng.uniform(0, 90)
      e = s + rng.uniform(1, 9)
      if rng.uniform() < 0.6:  # a jittered copy of a ground truth
        s, e = segments[rng.integers(4)] + rng.normal(0, 0.8, 2)
        e = max(e, s + 0.5)
      detections.append(('v%d' % v, s, e, rng.uniform()))
  for video, s, e, p in detections:
    pred_ids.append(video)
    pred_segments.append((s, e))
    scores.append(p)
  for tiou in (0.3, 0.5, 0.7):
    recall, precision = eval_images.precision_recall_curve(groundtruth,
                                                           detections, tiou)
    assert recall.shape == precision.shape == (len(detections),)
    assert np.all(np.diff(recall) >= 0)
    expected = detection_evaluation.compute_average_precision_detection(
        gt_ids, np.array(gt_segments), np.zeros(len(gt_ids), np.int64),
        pred_ids, np.array(pred_segments), np.array(scores),
        np.zeros(len(pred_ids), np.int64), 1, (tiou,)).average_precision[0, 0]
    assert detection_evaluation.interpolated_average_precision(
        precision, recall) == pytest.approx(expected, abs=1e-12)


def test_eval_images_summary_has_timelines_and_pr_curves():
  images = eval_images.EvalImages([{'id': 1, 'name': 'A'}, {'id': 2,
                                                            'name': 'B'}],
                                  num_visualizations=1)
  images.add_batch(
      [b'v0', b'v1'], np.array([[[1.0, 4.0]], [[2.0, 6.0]]]),
      np.array([[1], [2]]), np.array([1, 1]),
      np.array([[[1.1, 4.0], [7.0, 8.0]], [[2.0, 6.5], [0.0, 0.0]]]),
      np.array([[0.9, 0.3], [0.8, 0.0]]), np.array([[1, 2], [2, 0]]),
      np.array([2, 1]), durations=np.array([30.0, 40.0]))
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  summary = tf.compat.v1.Summary.FromString(images.summary_bytes())
  tags = [v.tag for v in summary.value]
  assert tags == ['timeline_0', 'precision_recall']
  for value in summary.value:
    assert value.image.encoded_image_string.startswith(b'\x89PNG')


def test_curve_pictures_are_pngs():
  curve = vis.ar_an_curve_png(np.linspace(1, 200, 50), np.linspace(0, 0.6, 50))
  pr = vis.precision_recall_png(
      [('A', np.array([0.5, 1.0]), np.array([1.0, 0.5]), 0.75)], 0.5)
  for png in (curve, pr):
    assert _image(png).shape[2] in (3, 4)
