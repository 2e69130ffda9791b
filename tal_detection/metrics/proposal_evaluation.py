"""Proposal average recall vs. average number of proposals (AR@AN).

Reproduces `average_recall_vs_avg_nr_proposals` of the public ActivityNet proposal
evaluator (activitynet/ActivityNet, Evaluation/eval_proposal.py), vectorised:

- the videos are those with at least one ground-truth instance (first-appearance
  order); `max_avg_nr_proposals` defaults to (all proposals) / (number of videos), and
  every video keeps its top `min(int(n_v * ratio), n_v)` proposals by score (order
  `np.argsort(scores)[::-1]`, the reference's call), with
  `ratio = max_avg_nr_proposals * num_videos / num_proposals` (num_proposals counts
  every proposal, also those in videos without ground truth);
- for each of 100 budgets `pcn = (1..100)/100 * max_avg * num_videos / kept_total`,
  video v uses its first `min(int(kept_v * pcn), kept_v)` kept proposals and a ground
  truth counts as recalled when one of them has tIoU >= threshold; a video without
  proposals acts as one proposal of tIoU 0;
- recall per threshold = recalled / all ground truths; the AR curve is its mean over
  the thresholds; the x axis is `pcn * kept_total / num_videos`.

AR@AN for a list of AN values is the last point of that curve computed with
`max_avg_nr_proposals = AN` (ActivityNet's AR@100 convention).
"""
import collections

import numpy as np

from tal_detection.metrics import detection_evaluation

# THUMOS'14 proposal protocol: tIoU 0.5:0.05:1.0.
THUMOS_PROPOSAL_TIOU_THRESHOLDS = tuple(
    float(t) for t in np.round(np.linspace(0.5, 1.0, 11), 10))
DEFAULT_AN_VALUES = (10, 20, 50, 100, 200)

ProposalCurve = collections.namedtuple(
    'ProposalCurve',
    ['recall',  # [T, 100] recall per threshold and budget.
     'average_recall',  # [100] recall averaged over thresholds.
     'proposals_per_video',  # [100] average number of proposals per video.
    ])


class _PreparedProposals(object):
  """Ground truth and score-sorted proposals grouped by video, reusable per AN."""

  def __init__(self, gt_video_ids, gt_segments, proposal_video_ids,
               proposal_segments, proposal_scores):
    gt_segments = detection_evaluation.as_segments(gt_segments, 'gt_segments')
    proposal_segments = detection_evaluation.as_segments(
        proposal_segments, 'proposal_segments', allow_empty_segments=True)
    proposal_scores = np.asarray(proposal_scores, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(proposal_scores)):
      raise ValueError('proposal_scores contain NaN or inf')
    if len(gt_video_ids) != gt_segments.shape[0]:
      raise ValueError('ground truth: %d video ids but %d segments' %
                       (len(gt_video_ids), gt_segments.shape[0]))
    if not (len(proposal_video_ids) == proposal_segments.shape[0] ==
            proposal_scores.size):
      raise ValueError('proposals: %d video ids, %d segments, %d scores differ' %
                       (len(proposal_video_ids), proposal_segments.shape[0],
                        proposal_scores.size))
    # Ground-truth videos come first in the shared vocabulary, in first-appearance
    # order, so codes < num_videos are exactly the reference's video list.
    (gt_videos, proposal_videos), _ = detection_evaluation.encode_video_ids(
        gt_video_ids, proposal_video_ids)
    self.num_videos = int(gt_videos.max()) + 1 if gt_videos.size else 0
    self.num_proposals = proposal_scores.size
    self.num_gt = gt_videos.size

    gt_order = np.argsort(gt_videos, kind='stable')
    self.gt_video = gt_videos[gt_order]
    self.gt_start = gt_segments[gt_order, 0]
    self.gt_end = gt_segments[gt_order, 1]

    # Proposals of ground-truth videos, grouped by video (input order kept), then
    # sorted by score inside each video with the reference's argsort call.
    in_gt_video = np.flatnonzero(proposal_videos < self.num_videos)
    grouped = in_gt_video[np.argsort(proposal_videos[in_gt_video], kind='stable')]
    self.count = np.bincount(proposal_videos[grouped],
                             minlength=self.num_videos).astype(np.int64)
    self.offset = np.r_[0, np.cumsum(self.count)[:-1]].astype(np.int64)
    sorted_index = grouped.copy()
    for size in np.unique(self.count[self.count > 0]):
      # Equal-length videos share one row-wise argsort (same call per row).
      videos = np.flatnonzero(self.count == size)
      index = self.offset[videos][:, None] + np.arange(size)
      members = grouped[index]
      visit = np.argsort(proposal_scores[members], axis=1)[:, ::-1]
      sorted_index[index] = np.take_along_axis(members, visit, axis=1)
    self.proposal_start = proposal_segments[sorted_index, 0]
    self.proposal_end = proposal_segments[sorted_index, 1]
    self._first_hits = {}

  def first_hits(self, thresholds):
    """Rank of the first proposal hitting each ground truth, per threshold.

    Args:
      thresholds: [T] float64 tIoU thresholds.

    Returns:
      [T, N] int64 (ground truth in video-grouped order): the score rank of the first
      proposal of the video with tIoU >= threshold, or the video's proposal count if
      none. A video without proposals is the reference's single zero-tIoU column:
      0 if threshold <= 0, else 1.
    """
    key = tuple(thresholds.tolist())
    if key in self._first_hits:
      return self._first_hits[key]
    gt_count = self.count[self.gt_video]
    first = np.repeat(gt_count[None, :], thresholds.size, axis=0)
    # Every (ground truth, proposal of its video) pair, ground truth by ground
    # truth, proposals in score order.
    pair_offsets = np.r_[0, np.cumsum(gt_count)[:-1]].astype(np.int64)
    pair_gt = np.repeat(np.arange(self.num_gt), gt_count)
    pair_rank = np.arange(pair_gt.size) - pair_offsets[pair_gt]
    proposal_index = self.offset[self.gt_video[pair_gt]] + pair_rank
    pair_tiou = detection_evaluation.segment_tiou(
        self.gt_start[pair_gt], self.gt_end[pair_gt],
        self.proposal_start[proposal_index], self.proposal_end[proposal_index])
    # Only pairs that pass some threshold matter (usually a small fraction).
    passing = pair_tiou >= thresholds.min()
    pair_gt, pair_rank = pair_gt[passing], pair_rank[passing]
    pair_tiou = pair_tiou[passing]
    for t, threshold in enumerate(thresholds):
      hit = pair_tiou >= threshold
      hit_gt, hit_rank = pair_gt[hit], pair_rank[hit]
      # Pairs are sorted by (ground truth, rank): the first pair of each run.
      if hit_gt.size:
        run_start = np.r_[True, hit_gt[1:] != hit_gt[:-1]]
        first[t, hit_gt[run_start]] = hit_rank[run_start]
    no_proposals = gt_count == 0
    first[:, no_proposals] = np.where(thresholds[:, None] <= 0, 0, 1)
    self._first_hits[key] = first
    return first


def _curve(prepared, tiou_thresholds, max_avg_nr_proposals):
  """The reference's recall curve on prepared inputs."""
  thresholds = detection_evaluation.validate_tiou_thresholds(tiou_thresholds)
  num_videos = prepared.num_videos
  empty = ProposalCurve(recall=np.zeros((thresholds.size, 100)),
                        average_recall=np.zeros(100),
                        proposals_per_video=np.zeros(100))
  if num_videos == 0 or prepared.num_proposals == 0:
    return empty
  if not max_avg_nr_proposals:
    max_avg_nr_proposals = float(prepared.num_proposals) / num_videos
  ratio = (max_avg_nr_proposals * float(num_videos) /
           prepared.num_proposals)
  count = prepared.count
  kept = np.minimum((count * ratio).astype(np.int64), count)
  total_kept = int(kept.sum())
  if total_kept == 0:
    return empty
  # Width of each video's tIoU matrix: its kept proposals, or one all-zero column
  # when it has no proposal at all.
  width = np.where(count > 0, kept, 1)
  pcn = (np.arange(1, 101) / 100.0 *
         (max_avg_nr_proposals * float(num_videos) / total_kept))
  budget = np.minimum((width[:, None] * pcn[None, :]).astype(np.int64),
                      width[:, None])  # [V, 100]

  # A ground truth is recalled at point j iff its first hit among all of its
  # video's proposals (score order) comes before the budget; budget <= kept, so
  # hits beyond the kept proposals never count, exactly as if they were cut off.
  first_hit = prepared.first_hits(thresholds)
  recalled = (first_hit[:, :, None] <
              budget[prepared.gt_video][None, :, :])  # [T, N, 100]
  recall = recalled.sum(axis=1).astype(np.float64) / float(prepared.num_gt)
  return ProposalCurve(
      recall=recall,
      average_recall=recall.mean(axis=0),
      proposals_per_video=pcn * (float(total_kept) / num_videos))


def average_recall_vs_avg_nr_proposals(
    gt_video_ids, gt_segments, proposal_video_ids, proposal_segments,
    proposal_scores, tiou_thresholds=THUMOS_PROPOSAL_TIOU_THRESHOLDS,
    max_avg_nr_proposals=None):
  """The AR-AN curve, exactly as the ActivityNet proposal evaluator.

  Args:
    gt_video_ids: [N] video id of each ground-truth instance.
    gt_segments: [N, 2] ground-truth [start, end].
    proposal_video_ids: [P] video id of each proposal.
    proposal_segments: [P, 2] proposal [start, end] (same unit as the ground truth).
    proposal_scores: [P] proposal confidences.
    tiou_thresholds: [T] tIoU thresholds.
    max_avg_nr_proposals: average number of proposals per video at the end of the
      curve; None (or 0) uses all proposals.

  Returns:
    A ProposalCurve of 100 points. With no ground truth or no proposals, all zeros.
  """
  prepared = _PreparedProposals(gt_video_ids, gt_segments, proposal_video_ids,
                                proposal_segments, proposal_scores)
  return _curve(prepared, tiou_thresholds, max_avg_nr_proposals)


def area_under_curve(curve):
  """Normalised area under an AR-AN curve (the reference's AUC, in [0, 1])."""
  if curve.proposals_per_video[-1] <= 0:
    return 0.0
  # np.trapz's rule, written out (np.trapz is deprecated in newer numpy).
  x, y = curve.proposals_per_video, curve.average_recall
  area = np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0)
  return float(area / x[-1])


def average_recall_at_an(
    gt_video_ids, gt_segments, proposal_video_ids, proposal_segments,
    proposal_scores, an_values=DEFAULT_AN_VALUES,
    tiou_thresholds=THUMOS_PROPOSAL_TIOU_THRESHOLDS):
  """AR at each requested average number of proposals per video, and the curve.

  AR@AN is the last point of the reference curve computed with
  max_avg_nr_proposals = AN. The returned curve is the one for the largest AN.

  Args:
    gt_video_ids, gt_segments, proposal_video_ids, proposal_segments,
      proposal_scores: as in average_recall_vs_avg_nr_proposals.
    an_values: positive AN values.
    tiou_thresholds: [T] tIoU thresholds.

  Returns:
    (dict AN -> AR (float), ProposalCurve for max(an_values)).

  Raises:
    ValueError: if an AN value is not positive.
  """
  an_values = [float(a) for a in an_values]
  if not an_values or min(an_values) <= 0:
    raise ValueError('an_values must be positive numbers, got %s' % (an_values,))
  prepared = _PreparedProposals(gt_video_ids, gt_segments, proposal_video_ids,
                                proposal_segments, proposal_scores)
  recall_at_an = {}
  curves = {}
  for an in sorted(set(an_values)):
    curves[an] = _curve(prepared, tiou_thresholds, an)
    recall_at_an[an] = float(curves[an].average_recall[-1])
  return recall_at_an, curves[max(an_values)]
