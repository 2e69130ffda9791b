"""Tests of the ActivityNet-exact proposal AR@AN (tal_detection.metrics)."""
import collections
import os

import numpy as np
import pytest

from tal_detection.metrics import activitynet_io
from tal_detection.metrics import proposal_evaluation

THUMOS_JSON = os.path.join(os.path.dirname(__file__), 'data', 'thumos14.json')


# --------------------------------------------------------------------------------
# Independent, slow, loop-by-loop implementation of the reference
# (ActivityNet Evaluation/eval_proposal.py, average_recall_vs_avg_nr_proposals).
# --------------------------------------------------------------------------------
def _python_tiou(gt, proposal):
  intersection = max(0.0, min(proposal[1], gt[1]) - max(proposal[0], gt[0]))
  union = (gt[1] - gt[0]) + (proposal[1] - proposal[0]) - intersection
  return intersection / union


def python_reference_curve(gt, proposals, thresholds, max_avg_nr_proposals=None):
  """gt: [(video, start, end)]; proposals: [(video, start, end, score)].

  Returns (recall [T, 100], average recall [100], proposals per video [100]).
  """
  videos = []
  gt_of_video = collections.defaultdict(list)
  for video, start, end in gt:
    if video not in gt_of_video:
      videos.append(video)
    gt_of_video[video].append((start, end))
  proposals_of_video = collections.defaultdict(list)
  for video, start, end, score in proposals:
    proposals_of_video[video].append((start, end, score))
  if not max_avg_nr_proposals:
    max_avg_nr_proposals = float(len(proposals)) / len(videos)
  ratio = max_avg_nr_proposals * float(len(videos)) / len(proposals)
  tiou_tables = []  # Per video: rows = ground truths, columns = kept proposals.
  total_kept = 0
  for video in videos:
    video_proposals = proposals_of_video.get(video, [])
    if not video_proposals:
      tiou_tables.append([[0.0] for _ in gt_of_video[video]])
      continue
    order = np.argsort(np.array([p[2] for p in video_proposals]))[::-1]
    ranked = [video_proposals[i] for i in order]
    kept = min(int(len(ranked) * ratio), len(ranked))
    total_kept += kept
    tiou_tables.append([[_python_tiou(g, p) for p in ranked[:kept]]
                        for g in gt_of_video[video]])
  pcn = np.arange(1, 101) / 100.0 * (
      max_avg_nr_proposals * float(len(videos)) / total_kept)
  recall = np.zeros((len(thresholds), 100))
  num_gt = sum(len(table) for table in tiou_tables)
  for t, threshold in enumerate(thresholds):
    # Per ground truth: width of its video's table and the first column passing.
    first_hits = []
    for table in tiou_tables:
      for row in table:
        first = next((k for k, value in enumerate(row) if value >= threshold),
                     len(row))
        first_hits.append((len(row), first))
    for j in range(100):
      recalled = 0
      for width, first in first_hits:
        budget = min(int(width * pcn[j]), width)
        if first < budget:
          recalled += 1
      recall[t, j] = recalled / float(num_gt)
  return (recall, recall.mean(axis=0),
          pcn * (float(total_kept) / len(videos)))


def _curve(gt, proposals, thresholds, max_avg=None):
  return proposal_evaluation.average_recall_vs_avg_nr_proposals(
      [g[0] for g in gt], [g[1:3] for g in gt], [p[0] for p in proposals],
      [p[1:3] for p in proposals], [p[3] for p in proposals], thresholds, max_avg)


# Hand-made case: v1 has A = [0, 10] and B = [20, 30]; v2 has C = [0, 5]; v3 has no
# ground truth but three proposals (they count in the total, nothing else).
HAND_GT = [('v1', 0.0, 10.0), ('v1', 20.0, 30.0), ('v2', 0.0, 5.0)]
HAND_PROPOSALS = [
    ('v1', 0.0, 10.0, 0.9),  # A, tIoU 1
    ('v1', 40.0, 50.0, 0.8),  # nothing
    ('v1', 21.0, 29.0, 0.7),  # B, tIoU 0.8
    ('v2', 10.0, 20.0, 0.4),  # nothing (listed first, ranked second)
    ('v2', 0.0, 4.0, 0.5),  # C, tIoU 0.8
    ('v3', 0.0, 1.0, 0.1), ('v3', 1.0, 2.0, 0.1), ('v3', 2.0, 3.0, 0.1)]
HAND_THRESHOLDS = [0.5, 0.9]


def test_hand_computed_curve():
  # 8 proposals, 2 videos: max AN 4, ratio 1, all 5 proposals of v1 and v2 kept;
  # budgets per point j: v1 int(3 * pcn_j), v2 int(2 * pcn_j), pcn_j = j/100 * 8/5.
  curve = _curve(HAND_GT, HAND_PROPOSALS, HAND_THRESHOLDS)
  # Last point: everything recalled at 0.5 (3/3), only A at 0.9 (1/3).
  np.testing.assert_allclose(curve.recall[:, -1], [1.0, 1.0 / 3.0])
  assert curve.average_recall[-1] == pytest.approx(2.0 / 3.0)
  assert curve.proposals_per_video[-1] == pytest.approx(4.0)
  # j = 50: pcn 0.8, budgets 2 (A) and 1 (C): 2/3 at 0.5, 1/3 at 0.9.
  assert curve.average_recall[49] == pytest.approx(0.5)
  assert curve.proposals_per_video[49] == pytest.approx(2.0)
  # j = 25: pcn 0.4, budgets 1 (A) and 0: 1/3 at both thresholds.
  assert curve.average_recall[24] == pytest.approx(1.0 / 3.0)


def test_hand_computed_recall_at_an():
  recall_at_an, curve = proposal_evaluation.average_recall_at_an(
      [g[0] for g in HAND_GT], [g[1:3] for g in HAND_GT],
      [p[0] for p in HAND_PROPOSALS], [p[1:3] for p in HAND_PROPOSALS],
      [p[3] for p in HAND_PROPOSALS], an_values=[2, 3, 4, 10],
      tiou_thresholds=HAND_THRESHOLDS)
  # AN 2: ratio 1/2 keeps 1 + 1 (A, C): (2/3 + 1/3) / 2.
  # AN 3: ratio 3/4 keeps 2 + 1 (A, nothing; C): again 1/2.
  # AN 4 and 10: everything kept: (1 + 1/3) / 2.
  assert recall_at_an[2] == pytest.approx(0.5)
  assert recall_at_an[3] == pytest.approx(0.5)
  assert recall_at_an[4] == pytest.approx(2.0 / 3.0)
  assert recall_at_an[10] == pytest.approx(2.0 / 3.0)
  # The returned curve is the one for the largest AN (10): x ends at 10 * 2 / 5 * 5/2.
  assert curve.proposals_per_video[-1] == pytest.approx(10.0)


def test_video_without_proposals_counts_as_one_zero_tiou_proposal():
  gt = [('v1', 0.0, 10.0), ('v2', 0.0, 10.0)]
  proposals = [('v1', 0.0, 10.0, 1.0)]
  curve = _curve(gt, proposals, [0.5])
  assert curve.average_recall[-1] == pytest.approx(0.5)
  # The reference's zero column passes a 0 threshold (tIoU 0 >= 0).
  curve = _curve(gt, proposals, [0.0])
  assert curve.average_recall[-1] == pytest.approx(1.0)


def test_budget_too_small_to_keep_anything_gives_zero():
  recall_at_an, _ = proposal_evaluation.average_recall_at_an(
      [g[0] for g in HAND_GT], [g[1:3] for g in HAND_GT],
      [p[0] for p in HAND_PROPOSALS], [p[1:3] for p in HAND_PROPOSALS],
      [p[3] for p in HAND_PROPOSALS], an_values=[1],
      tiou_thresholds=HAND_THRESHOLDS)
  # AN 1: ratio 1/4 keeps int(0.75) = 0 and int(0.5) = 0 proposals.
  assert recall_at_an[1] == 0.0


def test_no_proposals_gives_zero_curve():
  curve = _curve(HAND_GT, [], HAND_THRESHOLDS)
  np.testing.assert_array_equal(curve.average_recall, np.zeros(100))


def test_area_under_curve():
  curve = proposal_evaluation.ProposalCurve(
      recall=None, average_recall=np.linspace(0.0, 1.0, 100),
      proposals_per_video=np.linspace(1.0, 100.0, 100))
  # Trapezoid of a linear ramp from (1, 0) to (100, 1), divided by 100.
  assert proposal_evaluation.area_under_curve(curve) == pytest.approx(0.495)


def test_bad_inputs_raise():
  with pytest.raises(ValueError, match='an_values must be positive'):
    proposal_evaluation.average_recall_at_an(['v'], [[0, 1]], ['v'], [[0, 1]],
                                             [1.0], an_values=[0])
  with pytest.raises(ValueError, match='proposals: 1 video ids, 1 segments, 2'):
    proposal_evaluation.average_recall_vs_avg_nr_proposals(
        ['v'], [[0, 1]], ['v'], [[0, 1]], [1.0, 2.0])


def _random_case(rng):
  num_videos = int(rng.randint(1, 5))
  gt = []
  for _ in range(int(rng.randint(1, 15))):
    start = float(rng.randint(0, 30))
    gt.append(('v%d' % rng.randint(num_videos), start,
               start + float(rng.randint(1, 10))))
  proposals = []
  for _ in range(int(rng.randint(1, 120))):
    start = float(rng.randint(0, 30))
    # Some proposals in a video without ground truth.
    proposals.append(('v%d' % rng.randint(num_videos + 1), start,
                      start + float(rng.randint(1, 10)),
                      float(rng.randint(0, 5))))
  return gt, proposals


@pytest.mark.parametrize('seed', range(10))
def test_matches_python_reference_on_random_cases(seed):
  rng = np.random.RandomState(seed)
  gt, proposals = _random_case(rng)
  thresholds = list(proposal_evaluation.THUMOS_PROPOSAL_TIOU_THRESHOLDS)
  for max_avg in (None, 1.5, 3, 7, 40):
    try:
      expected = python_reference_curve(gt, proposals, thresholds, max_avg)
    except ZeroDivisionError:
      continue  # Nothing kept: the reference fails, ours returns zeros.
    curve = _curve(gt, proposals, thresholds, max_avg)
    np.testing.assert_allclose(curve.recall, expected[0], atol=1e-9, rtol=0)
    np.testing.assert_allclose(curve.average_recall, expected[1], atol=1e-9,
                               rtol=0)
    np.testing.assert_allclose(curve.proposals_per_video, expected[2],
                               atol=1e-9, rtol=0)


def test_thumos_matches_python_reference():
  gt = activitynet_io.load_ground_truth(THUMOS_JSON, 'Test')
  rng = np.random.RandomState(5)
  # 20 proposals per video: jittered ground truth plus random segments, coarse
  # scores (ties), some videos left without proposals.
  proposals = []
  videos = gt.videos[:-10]
  segments_of_video = collections.defaultdict(list)
  for video, (start, end) in zip(gt.video_ids, gt.segments.tolist()):
    segments_of_video[video].append((start, end))
  for video in videos:
    for _ in range(20):
      instances = segments_of_video[video]
      start, end = instances[rng.randint(len(instances))]
      length = (end - start) * np.exp(rng.normal(0, 0.3))
      start += rng.normal(0, 0.3) * (end - start)
      proposals.append((video, start, start + length,
                        float(rng.randint(0, 10))))
  gt_tuples = [(v, s, e) for v, (s, e) in zip(gt.video_ids, gt.segments.tolist())]
  thresholds = list(proposal_evaluation.THUMOS_PROPOSAL_TIOU_THRESHOLDS)
  for max_avg in (5, 20):
    expected = python_reference_curve(gt_tuples, proposals, thresholds, max_avg)
    curve = _curve(gt_tuples, proposals, thresholds, max_avg)
    np.testing.assert_allclose(curve.recall, expected[0], atol=1e-9, rtol=0)
    assert 0.0 < curve.average_recall[-1] < 1.0
