"""Tests of tal_detection/metrics/metric_names.py and its readers."""
import numpy as np
import pytest

from tal_detection.experiments import eval_summary
from tal_detection.metrics import metric_names
from tal_detection.metrics import temporal_detection_evaluator as evaluator_lib


def test_exact_names():
  # The strings in every metrics_<step>.json and TensorBoard run so far.
  assert metric_names.detection_map(0.5) == 'DetectionMetrics/mAP@0.5IOU'
  assert metric_names.detection_map(0.55) == 'DetectionMetrics/mAP@0.55IOU'
  assert metric_names.detection_map(1.0) == 'DetectionMetrics/mAP@1IOU'
  assert metric_names.AVERAGE_MAP == 'DetectionMetrics/average_mAP'
  assert metric_names.per_class_ap(0.3, 'Jump') == (
      'DetectionMetrics_PerClass/AP@0.3IOU/Jump')
  assert metric_names.proposal_ar(100) == 'ProposalMetrics/AR@100'
  assert metric_names.proposal_ar(2.5) == 'ProposalMetrics/AR@2.5'
  assert metric_names.proposal_auc(200) == 'ProposalMetrics/AUC@200'
  assert metric_names.detection_map(0.1, short=True) == 'mAP@0.1'
  assert metric_names.proposal_ar(10, short=True) == 'AR@10'


@pytest.mark.parametrize('tiou', [0.1, 0.3, 0.5, 0.55, 0.7, 0.95, 1.0])
def test_detection_map_round_trip(tiou):
  name = metric_names.detection_map(tiou)
  assert metric_names.parse_detection_map(name) == tiou
  assert metric_names.parse_proposal_ar(name) is None
  assert metric_names.short_name(name) == 'mAP@%g' % tiou


@pytest.mark.parametrize('an', [1, 5, 10, 20, 50, 100, 200, 1000, 2.5])
def test_proposal_ar_round_trip(an):
  name = metric_names.proposal_ar(an)
  assert metric_names.parse_proposal_ar(name) == an
  assert metric_names.parse_detection_map(name) is None
  assert metric_names.short_name(name) == 'AR@%g' % an


@pytest.mark.parametrize('name', [
    'DetectionMetrics/average_mAP',
    'DetectionMetrics_PerClass/AP@0.5IOU/Jump',
    'ProposalMetrics/AUC@200',
    'Loss/total_loss',
    'DetectionMetrics/mAP@0.50IOU',  # Not what the evaluator writes.
    'DetectionMetrics/mAP@IOU',
    'DetectionMetrics/mAP@0.5',
    'ProposalMetrics/AR@',
    'ProposalMetrics/AR@nan',
    'ProposalMetrics/AR@100/x',
    'mAP@0.5',  # Short forms label columns; they are not metric names.
    'AR@100',
])
def test_other_names_do_not_parse(name):
  assert metric_names.parse_detection_map(name) is None
  assert metric_names.parse_proposal_ar(name) is None
  assert metric_names.short_name(name) is None


def _perfect_evaluator(tiou_thresholds, an_values):
  evaluator = evaluator_lib.TemporalDetectionEvaluator(
      [{'id': 1, 'name': 'Jump'}, {'id': 2, 'name': 'Run'}],
      tiou_thresholds=tiou_thresholds, an_values=an_values)
  segments = np.array([[1.0, 4.0], [6.0, 9.0]])
  evaluator.add_single_ground_truth('v', segments, np.array([1, 2]))
  evaluator.add_single_detections('v', segments, np.array([0.9, 0.8]),
                                  np.array([1, 2]))
  evaluator.add_single_proposals('v', segments, np.array([0.9, 0.8]))
  return evaluator


def test_evaluator_names_are_the_module_names():
  tious, ans = (0.3, 0.5, 0.55), (5, 10)
  evaluator = _perfect_evaluator(tious, ans)
  names = evaluator.metric_names()
  assert set(evaluator.evaluate()) == set(names)
  assert [metric_names.parse_detection_map(n) for n in names
          if metric_names.parse_detection_map(n) is not None] == list(tious)
  assert [metric_names.parse_proposal_ar(n) for n in names
          if metric_names.parse_proposal_ar(n) is not None] == list(ans)
  assert metric_names.AVERAGE_MAP in names
  assert metric_names.proposal_auc(10) in names
  assert metric_names.per_class_ap(0.55, 'Run') in names


def test_summary_reads_the_evaluator_output():
  metrics = _perfect_evaluator((0.7, 0.1), (10, 5)).evaluate()
  lines = eval_summary.format_table((12, dict(metrics)))
  assert lines[0] == 'Estimator evaluation at step 12 (test videos):'
  # Thresholds and AN sorted numerically; perfect detections score 100.
  assert lines[1] == '| tIoU | 0.1 | 0.7 | average |'
  assert lines[3] == '| mAP (%) | 100.0 | 100.0 | 100.0 |'
  assert lines[5] == '| AN | 5 | 10 |'
  assert lines[7].startswith('| AR (%) | ')


def test_summary_finds_the_newest_metrics_json(tmp_path):
  eval_dir = tmp_path / 'eval'
  eval_dir.mkdir()
  (eval_dir / 'metrics_900.json').write_text('{"ProposalMetrics/AR@10": 0.1}')
  (eval_dir / 'metrics_1000.json').write_text('{"ProposalMetrics/AR@10": 0.2}')
  (eval_dir / 'metrics_latest.json').write_text('not json')  # Not a step.
  assert eval_summary.latest_eval_metrics(str(tmp_path)) == (
      1000, {'ProposalMetrics/AR@10': 0.2})
  assert eval_summary.latest_eval_metrics(str(tmp_path / 'eval')) is None
  with pytest.raises(ValueError, match='no such folder'):
    eval_summary.latest_eval_metrics(str(tmp_path / 'missing'))


def test_summary_rejects_other_json(tmp_path):
  path = tmp_path / 'det.json'
  path.write_text('{"AR": {"10": 0.5}}')
  with pytest.raises(ValueError, match=r'det\.json: no "mAP" object'):
    eval_summary.load_json(str(path), 'mAP')
  path.write_text('{"mAP": ')
  with pytest.raises(ValueError, match=r'det\.json: not JSON'):
    eval_summary.load_json(str(path), 'mAP')
