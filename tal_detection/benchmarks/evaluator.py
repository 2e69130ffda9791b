"""Timings of the evaluator core on real ground truth with synthetic detections.

Detections are made (seeded) by jittering every ground-truth instance a few
times and adding random false positives (random video, class, position and
length); the same detections, class-agnostic, serve as proposals. Timed: the
json reading of ground truth + detections, detection mAP at the 7 THUMOS tIoU
thresholds (with per-class AP), and AR@AN.
"""
import os

import numpy as np

from tal_detection.benchmarks import timing
from tal_detection.metrics import activitynet_io
from tal_detection.metrics import detection_evaluation
from tal_detection.metrics import proposal_evaluation
from tal_detection.metrics import thumos14_kit_evaluation
from tal_detection.utils import io_util


def make_detections(groundtruth, durations, num_detections, copies_per_instance,
                    seed):
  """Jittered ground truth plus random false positives, as a results dict.

  Args:
    groundtruth: activitynet_io.GroundTruth.
    durations: dict video -> duration in seconds.
    num_detections: total number of detections.
    copies_per_instance: jittered copies of each ground-truth instance.
    seed: random seed.

  Returns:
    {"version": "benchmark", "results": {video: [{label, score, segment}]}}.
  """
  rng = np.random.RandomState(seed)
  gt_start, gt_end = groundtruth.segments[:, 0], groundtruth.segments[:, 1]
  gt_length = gt_end - gt_start
  num_copies = min(copies_per_instance * gt_start.size, num_detections)
  source = np.arange(num_copies) % gt_start.size
  length = gt_length[source] * np.exp(rng.normal(0.0, 0.25, num_copies))
  center = ((gt_start + gt_end)[source] / 2.0 +
            rng.normal(0.0, 0.15, num_copies) * gt_length[source])
  copy_start = center - length / 2.0
  copy_end = center + length / 2.0
  overlap = detection_evaluation.segment_tiou(gt_start[source], gt_end[source],
                                              copy_start, copy_end)
  # Scores that favour better-placed copies, so mAP is high but not perfect.
  copy_score = np.clip(0.6 * overlap + rng.uniform(0.0, 0.4, num_copies), 0, 1)
  copy_video = [groundtruth.video_ids[i] for i in source]
  copy_label = groundtruth.labels[source]

  num_random = num_detections - num_copies
  videos = list(groundtruth.videos)
  random_video = [videos[i] for i in rng.randint(0, len(videos), num_random)]
  random_duration = np.array([durations[v] for v in random_video])
  random_length = gt_length[rng.randint(0, gt_length.size, num_random)]
  random_start = rng.uniform(0.0, 1.0, num_random) * np.maximum(
      random_duration - random_length, 0.0)
  random_end = random_start + random_length
  random_label = rng.randint(0, len(groundtruth.class_names), num_random)
  random_score = rng.uniform(0.0, 0.7, num_random)

  results = {}
  for video, label, start, end, score in zip(
      copy_video + random_video,
      np.concatenate([copy_label, random_label]),
      np.concatenate([copy_start, random_start]),
      np.concatenate([copy_end, random_end]),
      np.concatenate([copy_score, random_score])):
    results.setdefault(video, []).append({
        'label': groundtruth.class_names[label],
        'score': round(float(score), 6),
        'segment': [round(float(start), 3), round(float(max(end, start + 0.01)),
                                                  3)]})
  return {'version': 'benchmark', 'results': results}


def run(groundtruth_path, subset, num_detections, copies_per_instance, runs,
        seed, work_dir):
  """Times loading, detection mAP and AR@AN; returns the results dict.

  Args:
    groundtruth_path: ActivityNet-style ground-truth json.
    subset: its subset to evaluate on.
    num_detections, copies_per_instance, seed: see make_detections.
    runs: timed runs per measurement (medians are reported).
    work_dir: an existing folder for the detections json.
  """
  database = activitynet_io.load_json(groundtruth_path)['database']
  durations = {v: float(x.get('duration', 0.0)) for v, x in database.items()}
  groundtruth = activitynet_io.load_ground_truth(groundtruth_path, subset)
  detections_path = io_util.write_json(
      os.path.join(work_dir, 'detections.json'),
      make_detections(groundtruth, durations, num_detections,
                      copies_per_instance, seed), indent=None)

  def load():
    gt = activitynet_io.load_ground_truth(groundtruth_path, subset)
    return gt, activitynet_io.load_detections(detections_path, gt.class_names)

  load_time, (gt, det) = timing.median_time(load, runs)

  def detection():
    return detection_evaluation.compute_average_precision_detection(
        gt.video_ids, gt.segments, gt.labels, det.video_ids, det.segments,
        det.scores, det.labels, len(gt.class_names),
        detection_evaluation.THUMOS_TIOU_THRESHOLDS)

  def proposals():
    return proposal_evaluation.average_recall_at_an(
        gt.video_ids, gt.segments, det.video_ids, det.segments, det.scores,
        proposal_evaluation.DEFAULT_AN_VALUES,
        proposal_evaluation.THUMOS_PROPOSAL_TIOU_THRESHOLDS)

  def kit_detection():
    return thumos14_kit_evaluation.compute_average_precision_kit(
        gt.video_ids, gt.segments, gt.labels, det.video_ids, det.segments,
        det.scores, det.labels, len(gt.class_names),
        detection_evaluation.THUMOS_TIOU_THRESHOLDS)

  detection_time, detection_result = timing.median_time(detection, runs)
  kit_time, kit_result = timing.median_time(kit_detection, runs)
  proposal_time, (recall_at_an, _) = timing.median_time(proposals, runs)
  return {
      'machine': timing.describe_machine(),
      'groundtruth': groundtruth_path,
      'subset': subset,
      'num_videos': len(gt.videos),
      'num_groundtruth': int(gt.labels.size),
      'num_detections': int(det.scores.size),
      'runs': runs,
      'median_seconds': {
          'load_json': load_time,
          'detection_map_7_thresholds': detection_time,
          'thumos14_kit_map_7_thresholds': kit_time,
          'proposal_ar_at_an': proposal_time,
          'core_total': detection_time + proposal_time,
          'total_with_loading': load_time + detection_time + proposal_time,
      },
      'mAP': {'%g' % t: float(m) for t, m in zip(
          detection_result.tiou_thresholds,
          detection_result.mean_average_precision)},
      'average_mAP': detection_result.average_mean_average_precision,
      # The same detections under the THUMOS'14 challenge kit's protocol.
      'thumos14_kit_mAP': {'%g' % t: float(m) for t, m in zip(
          kit_result.tiou_thresholds, kit_result.mean_average_precision)},
      'AR': {'%g' % an: ar for an, ar in recall_at_an.items()},
  }
