"""Fusion of external video-level class scores into temporal detections.

On ActivityNet, detectors (BMN, G-TAD, ActionFormer, ...) usually take the
video's classes from a separate video-level classifier (e.g. the CUHK / UntrimmedNet
scores of the 2016/2017 challenges): with 200 classes and ~1.5 instances of one
class per video, the video classifier knows the class far better than a
segment classifier does. This module works on the ActivityNet results-json
structure:

    detections:   {"<video>": [{"label": ..., "score": s, "segment": [a, b]}, ...]}
    video scores: {"<video>": {"<label>": v, ...}}

and keeps, per video, the top_k labels by video score v (ties: the label
name, ascending, so the result is deterministic). Two rules:

  * CLASS_AGNOSTIC (BMN, G-TAD): the detections are taken as class-agnostic
    proposals. Entries with the same segment are one proposal whose score is
    the highest among them (so a proposal json, without labels, works too);
    every proposal p is output once per top-k label c with score
    s_p * v_c. A video yields (number of distinct segments) x top_k entries.
  * PER_CLASS: a detection (segment, c, s) is kept only if c is among the
    video's top-k labels, with score s * v_c; its own class decision and
    localisation are kept.

Output entries of a video are sorted by descending fused score (ties keep the
input order, then the top-k order). Every video of the detections needs an
entry in the video scores (a missing one is an error naming it); videos with
video scores but no detections are left out.
"""
import math

import numpy as np

from tal_detection.metrics import activitynet_io

CLASS_AGNOSTIC = 'class_agnostic'
PER_CLASS = 'per_class'
RULES = (CLASS_AGNOSTIC, PER_CLASS)


def _number(value, where):
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise ValueError('%s: must be a number, got %r' % (where, value))
  if not math.isfinite(value):
    raise ValueError('%s: must be finite, got %r' % (where, value))
  return float(value)


def top_k_classes(label_scores, top_k, where='video scores'):
  """The top_k (label, score) pairs of one video, best first.

  Args:
    label_scores: {label: score}.
    top_k: how many to keep (fewer if the video has fewer labels).
    where: for error messages.

  Returns:
    list of (label, score); ties in score are broken by label name.
  """
  if top_k < 1:
    raise ValueError('top_k must be at least 1, got %d' % top_k)
  if not isinstance(label_scores, dict) or not label_scores:
    raise ValueError('%s: must be a non-empty {label: score} object' % where)
  labels = sorted(label_scores)
  scores = np.array([_number(label_scores[label], '%s[%r]' % (where, label))
                     for label in labels])
  # Stable sort of -score over name-sorted labels: ties stay name-ordered.
  order = np.argsort(-scores, kind='stable')[:top_k]
  return [(labels[i], float(scores[i])) for i in order]


def _parse_entries(entries, where, need_labels):
  """[(start, end)], [score], [label or None] of one video's entries."""
  if not isinstance(entries, list):
    raise ValueError('%s: must be a list of {label, score, segment}' % where)
  segments, scores, labels = [], [], []
  for i, entry in enumerate(entries):
    entry_where = '%s entry %d' % (where, i)
    if not isinstance(entry, dict):
      raise ValueError('%s: must be a json object' % entry_where)
    for field in ('score', 'segment') + (('label',) if need_labels else ()):
      if field not in entry:
        raise ValueError("%s: missing field '%s'" % (entry_where, field))
    segments.append(activitynet_io.parse_segment(entry['segment'],
                                                 entry_where))
    scores.append(_number(entry['score'], entry_where + ' score'))
    labels.append(str(entry['label']) if 'label' in entry else None)
  return segments, np.array(scores, dtype=np.float64), labels


def _sorted_entries(segments, scores, labels):
  order = np.argsort(-np.asarray(scores, dtype=np.float64), kind='stable')
  return [{'label': labels[i], 'score': float(scores[i]),
           'segment': [float(segments[i][0]), float(segments[i][1])]}
          for i in order]


def fuse_video(entries, label_scores, top_k, rule=CLASS_AGNOSTIC,
               where='detections', scores_where='video scores'):
  """Fused entries of one video (see the module docstring for the rules)."""
  if rule not in RULES:
    raise ValueError('unknown fusion rule %r (expected one of %s)' %
                     (rule, ', '.join(RULES)))
  top = top_k_classes(label_scores, top_k, scores_where)
  segments, scores, labels = _parse_entries(entries, where,
                                            need_labels=rule == PER_CLASS)
  if rule == PER_CLASS:
    video_score = dict(top)
    keep = [i for i, label in enumerate(labels) if label in video_score]
    return _sorted_entries(
        [segments[i] for i in keep],
        [scores[i] * video_score[labels[i]] for i in keep],
        [labels[i] for i in keep])
  # One proposal per distinct segment, with its best score.
  proposal_score = {}
  for segment, score in zip(segments, scores):
    if segment not in proposal_score or score > proposal_score[segment]:
      proposal_score[segment] = score
  proposals = list(proposal_score)
  proposal_scores = np.array([proposal_score[p] for p in proposals])
  class_scores = np.array([score for _, score in top])
  # [P, K]: row-major, so each proposal's top-k labels come out together.
  fused = (proposal_scores[:, None] * class_scores[None, :]).reshape(-1)
  return _sorted_entries(
      [p for p in proposals for _ in top], fused,
      [label for _ in proposals for label, _ in top])


def fuse_results(detections, video_scores, top_k, rule=CLASS_AGNOSTIC,
                 detections_name='detections',
                 video_scores_name='video scores'):
  """Fuses every video of an ActivityNet results json.

  Args:
    detections: the results json (a dict with 'results') or its 'results'
      mapping {video: [entries]}.
    video_scores: {video: {label: score}}, or the same under a 'results' key.
    top_k: labels kept per video.
    rule: CLASS_AGNOSTIC or PER_CLASS.
    detections_name, video_scores_name: file names for error messages.

  Returns:
    A results json: the input's other top-level keys (version,
    external_data, ...) are kept and 'results' holds the fused entries.
  """
  if not isinstance(detections, dict):
    raise ValueError('%s: must be a json object' % detections_name)
  wrapper = dict(detections) if 'results' in detections else {}
  results = detections['results'] if 'results' in detections else detections
  if not isinstance(results, dict):
    raise ValueError("%s: 'results' must be a json object" % detections_name)
  if not isinstance(video_scores, dict):
    raise ValueError('%s: must be a json object' % video_scores_name)
  if set(video_scores) == {'results'} and isinstance(
      video_scores['results'], dict):
    video_scores = video_scores['results']
  fused = {}
  for video_id, entries in results.items():
    if video_id not in video_scores:
      raise ValueError('%s: video %s has no video-level scores' %
                       (video_scores_name, video_id))
    fused[video_id] = fuse_video(
        entries, video_scores[video_id], top_k, rule,
        where='%s: results[%r]' % (detections_name, video_id),
        scores_where='%s: video %s' % (video_scores_name, video_id))
  wrapper['results'] = fused
  return wrapper
