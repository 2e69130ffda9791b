"""Estimator metric ops of the temporal detection evaluator vs. the numpy evaluator."""
import numpy as np
import pytest
import tensorflow as tf

from tal_detection.core import standard_fields as fields
from tal_detection.metrics import detection_evaluation
from tal_detection.metrics import proposal_evaluation
from tal_detection.metrics import temporal_detection_evaluator as evaluator_lib
from tal_detection.protos import eval_pb2

CATEGORIES = [{'id': 1, 'name': 'Jump'}, {'id': 2, 'name': 'Run'},
              {'id': 3, 'name': 'Swim'}]
INPUT = fields.InputDataFields
RESULT = fields.DetectionResultFields


def _random_videos(seed, num_videos):
  """Per-video numpy ground truth, detections and proposals (seconds)."""
  rng = np.random.RandomState(seed)
  videos = []
  for v in range(num_videos):
    num_gt = int(rng.randint(0, 5))
    gt_start = rng.uniform(0, 50, num_gt)
    gt = np.stack([gt_start, gt_start + rng.uniform(1, 10, num_gt)], axis=1)
    gt_classes = rng.randint(1, 3, num_gt)  # Class 3 never has ground truth.
    num_det = int(rng.randint(0, 12))
    source = rng.randint(0, max(num_gt, 1), num_det)
    if num_gt:
      det = gt[source] + rng.normal(0, 1.0, (num_det, 2))
      det[:, 1] = np.maximum(det[:, 1], det[:, 0] + 0.5)
      det_classes = np.where(rng.rand(num_det) < 0.8, gt_classes[source],
                             rng.randint(1, 4, num_det))
    else:
      det_start = rng.uniform(0, 50, num_det)
      det = np.stack([det_start, det_start + 3.0], axis=1)
      det_classes = rng.randint(1, 4, num_det)
    det_scores = np.round(rng.rand(num_det), 1)
    num_prop = int(rng.randint(1, 30))
    prop_start = rng.uniform(0, 50, num_prop)
    prop = np.stack([prop_start, prop_start + rng.uniform(1, 10, num_prop)], 1)
    videos.append({
        'video_id': 'video_%03d' % v,
        'gt': gt.astype(np.float32), 'gt_classes': gt_classes,
        'det': det.astype(np.float32), 'det_scores': det_scores.astype(np.float32),
        'det_classes': det_classes.astype(np.float32),
        'prop': prop.astype(np.float32),
        'prop_scores': rng.rand(num_prop).astype(np.float32)})
  return videos


def _pad(arrays, trailing_shape, dtype):
  width = max([a.shape[0] for a in arrays] + [1]) + 2  # Extra padding on purpose.
  out = np.zeros((len(arrays), width) + trailing_shape, dtype=dtype)
  for i, a in enumerate(arrays):
    out[i, :a.shape[0]] = a
  return out


def _batch_feed(batch):
  """Padded batch arrays keyed by the eval dict keys."""
  return {
      INPUT.video_id: np.array([v['video_id'].encode() for v in batch]),
      INPUT.groundtruth_segments_seconds: _pad([v['gt'] for v in batch], (2,),
                                               np.float32),
      INPUT.groundtruth_classes: _pad([v['gt_classes'] for v in batch], (),
                                      np.int64),
      INPUT.num_groundtruth_segments: np.array([len(v['gt']) for v in batch],
                                               np.int32),
      RESULT.detection_segments_seconds: _pad([v['det'] for v in batch], (2,),
                                              np.float32),
      RESULT.detection_scores: _pad([v['det_scores'] for v in batch], (),
                                    np.float32),
      RESULT.detection_classes: _pad([v['det_classes'] for v in batch], (),
                                     np.float32),
      RESULT.num_detections: np.array([len(v['det']) for v in batch], np.float32),
      evaluator_lib.PROPOSAL_SEGMENTS_SECONDS: _pad([v['prop'] for v in batch],
                                                    (2,), np.float32),
      RESULT.proposal_scores: _pad([v['prop_scores'] for v in batch], (),
                                   np.float32),
      RESULT.num_proposals: np.array([len(v['prop']) for v in batch], np.int32),
  }


def _numpy_metrics(videos, **kwargs):
  evaluator = evaluator_lib.TemporalDetectionEvaluator(CATEGORIES, **kwargs)
  for v in videos:
    evaluator.add_single_ground_truth(v['video_id'], v['gt'], v['gt_classes'])
    evaluator.add_single_detections(v['video_id'], v['det'], v['det_scores'],
                                    v['det_classes'])
    evaluator.add_single_proposals(v['video_id'], v['prop'], v['prop_scores'])
  return evaluator.evaluate()


def _placeholders(feed):
  """Placeholders with unknown batch and padding dimensions."""
  placeholders = {}
  for key, value in feed.items():
    shape = [None] * value.ndim
    if value.ndim == 3:
      shape[2] = 2
    dtype = tf.string if value.dtype.kind == 'S' else tf.as_dtype(value.dtype)
    placeholders[key] = tf.compat.v1.placeholder(dtype, shape, name=key)
  return placeholders


def test_metric_ops_in_graph_match_numpy_evaluator():
  videos = _random_videos(seed=0, num_videos=11)
  batches = [videos[0:4], videos[4:8], videos[8:11]]
  expected = _numpy_metrics(videos)
  graph = tf.Graph()
  with graph.as_default():
    evaluator = evaluator_lib.TemporalDetectionEvaluator(CATEGORIES)
    placeholders = _placeholders(_batch_feed(batches[0]))
    metric_ops = evaluator.get_estimator_eval_metric_ops(placeholders)
    update_op = next(iter(metric_ops.values()))[1]
    value_ops = {name: ops[0] for name, ops in metric_ops.items()}
    with tf.compat.v1.Session(graph=graph) as sess:
      for batch in batches:
        feed = _batch_feed(batch)
        sess.run(update_op, {placeholders[k]: feed[k] for k in feed})
      values = sess.run(value_ops)
      # The first value op clears the evaluator: a second evaluation round starts
      # from scratch and gives the same numbers.
      for batch in batches:
        feed = _batch_feed(batch)
        sess.run(update_op, {placeholders[k]: feed[k] for k in feed})
      values_again = sess.run(value_ops)
  assert set(values) == set(expected)
  for name, value in expected.items():
    if np.isnan(value):
      assert np.isnan(values[name]), name
    else:
      assert values[name] == pytest.approx(value, abs=1e-6), name
    assert values_again[name] == pytest.approx(values[name], nan_ok=True)
  assert 'DetectionMetrics/mAP@0.5IOU' in values
  assert 'DetectionMetrics_PerClass/AP@0.5IOU/Jump' in values
  assert 'ProposalMetrics/AR@100' in values
  assert np.isnan(values['DetectionMetrics_PerClass/AP@0.5IOU/Swim'])
  assert 0.0 < values['DetectionMetrics/mAP@0.1IOU'] <= 1.0


def test_numpy_evaluator_matches_core_functions():
  videos = _random_videos(seed=1, num_videos=9)
  metrics = _numpy_metrics(videos, tiou_thresholds=[0.3, 0.5],
                           an_values=[5, 10])
  gt_ids = [v['video_id'] for v in videos for _ in range(len(v['gt']))]
  det_ids = [v['video_id'] for v in videos for _ in range(len(v['det']))]
  prop_ids = [v['video_id'] for v in videos for _ in range(len(v['prop']))]
  gt = np.concatenate([v['gt'] for v in videos]).astype(np.float64)
  result = detection_evaluation.compute_average_precision_detection(
      gt_ids, gt, np.concatenate([v['gt_classes'] for v in videos]) - 1, det_ids,
      np.concatenate([v['det'] for v in videos]).astype(np.float64),
      np.concatenate([v['det_scores'] for v in videos]),
      np.concatenate([v['det_classes'] for v in videos]).astype(int) - 1, 3,
      [0.3, 0.5])
  assert metrics['DetectionMetrics/mAP@0.3IOU'] == result.mean_average_precision[0]
  assert metrics['DetectionMetrics/mAP@0.5IOU'] == result.mean_average_precision[1]
  assert metrics['DetectionMetrics_PerClass/AP@0.5IOU/Run'] == (
      result.average_precision[1, 1])
  recall_at_an, _ = proposal_evaluation.average_recall_at_an(
      gt_ids, gt, prop_ids, np.concatenate([v['prop'] for v in videos]),
      np.concatenate([v['prop_scores'] for v in videos]), [5, 10])
  assert metrics['ProposalMetrics/AR@5'] == recall_at_an[5]
  assert metrics['ProposalMetrics/AR@10'] == recall_at_an[10]
  assert 'ProposalMetrics/AUC@10' in metrics


def test_perfect_detections_and_clear():
  evaluator = evaluator_lib.TemporalDetectionEvaluator(
      CATEGORIES, evaluate_proposals=False, include_metrics_per_category=False)
  evaluator.add_single_ground_truth(b'v', [[0.0, 1.0], [2.0, 4.0]], [1, 2])
  evaluator.add_single_detections('v', [[0.0, 1.0], [2.0, 4.0]], [0.9, 0.8],
                                  [1, 2])
  metrics = evaluator.evaluate()
  assert list(metrics) == evaluator.metric_names()
  assert all(value == 1.0 for value in metrics.values())
  evaluator.clear()
  evaluator.add_single_ground_truth('v', [[0.0, 1.0]], [1])
  assert evaluator.evaluate()['DetectionMetrics/mAP@0.5IOU'] == 0.0


def test_bad_inputs_raise():
  evaluator = evaluator_lib.TemporalDetectionEvaluator(CATEGORIES)
  with pytest.raises(ValueError, match="video 'v': ground-truth class id 7"):
    evaluator.add_single_ground_truth('v', [[0.0, 1.0]], [7])
  with pytest.raises(ValueError, match='end <= start'):
    evaluator.add_single_ground_truth('v', [[1.0, 1.0]], [1])
  with pytest.raises(ValueError, match='detection scores contain NaN'):
    evaluator.add_single_detections('v', [[0.0, 1.0]], [np.nan], [1])
  with pytest.raises(ValueError, match='duplicate ids'):
    evaluator_lib.TemporalDetectionEvaluator(CATEGORIES + [CATEGORIES[0]])
  graph = tf.Graph()
  with graph.as_default():
    eval_dict = {INPUT.video_id: tf.constant(['v']),
                 INPUT.groundtruth_segments_seconds: tf.zeros([1, 1, 2]),
                 INPUT.groundtruth_classes: tf.ones([1, 1], tf.int64)}
    with pytest.raises(ValueError, match='proposal_segments_seconds'):
      evaluator.get_estimator_eval_metric_ops(eval_dict)
    detection_only = evaluator_lib.TemporalDetectionEvaluator(
        CATEGORIES, evaluate_proposals=False)
    with pytest.raises(ValueError, match='missing.*detection_segments_seconds'):
      detection_only.get_estimator_eval_metric_ops(eval_dict)


def test_evaluator_from_eval_config():
  config = eval_pb2.EvalConfig()
  config.detection_tiou_thresholds.extend([0.3, 0.7])
  config.average_number_of_proposals.extend([10, 100])
  config.metrics_set.append('detection_metrics')
  evaluator = evaluator_lib.evaluator_from_eval_config(config, CATEGORIES)
  names = evaluator.metric_names()
  # float32 proto values come back as the decimal thresholds.
  assert 'DetectionMetrics/mAP@0.3IOU' in names
  assert 'DetectionMetrics/mAP@0.7IOU' in names
  assert not any(n.startswith('ProposalMetrics') for n in names)
  default = evaluator_lib.evaluator_from_eval_config(eval_pb2.EvalConfig(),
                                                     CATEGORIES)
  names = default.metric_names()
  assert 'DetectionMetrics/mAP@0.1IOU' in names
  assert 'ProposalMetrics/AR@200' in names
  config.metrics_set.append('coco_metrics')
  with pytest.raises(ValueError, match='coco_metrics'):
    evaluator_lib.evaluator_from_eval_config(config, CATEGORIES)
