r"""Times the evaluator core on the THUMOS'14 test ground truth with ~17k detections.

Detections are made (seeded) by jittering every ground-truth instance a few times and
adding random false positives (random video, class, position and length) until
--num_detections; the same detections, class-agnostic, serve as proposals. Timed: the
json reading of ground truth + detections, detection mAP at the 7 THUMOS tIoU thresholds
(with per-class AP), and AR@AN (AN 10, 20, 50, 100, 200 at tIoU 0.5:0.05:1.0). Prints
and writes the medians over --runs runs (after one warm-up run).

  python tools/benchmark_evaluator.py --output /tmp/evaluator_benchmark.json
"""
import json
import os
import platform
import sys
import tempfile
import time

from absl import app
from absl import flags
import numpy as np

from tal_detection.metrics import activitynet_io
from tal_detection.metrics import detection_evaluation
from tal_detection.metrics import proposal_evaluation

_DEFAULT_GROUNDTRUTH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'tests', 'data',
    'thumos14.json')

FLAGS = flags.FLAGS
flags.DEFINE_string('groundtruth', _DEFAULT_GROUNDTRUTH,
                    'Ground-truth json (default: the packaged THUMOS\'14 copy).')
flags.DEFINE_string('subset', 'Test', 'Ground-truth subset.')
flags.DEFINE_integer('num_detections', 17000, 'Number of detections to make.')
flags.DEFINE_integer('copies_per_instance', 2,
                     'Jittered detections per ground-truth instance.')
flags.DEFINE_integer('runs', 5, 'Timed runs (the median is reported).')
flags.DEFINE_integer('seed', 0, 'Random seed of the detections.')
flags.DEFINE_string('output', None, 'Where to write the results json.')


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
    {"results": {video: [{label, score, segment}]}}.
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


def _median_time(function, runs):
  function()  # Warm-up.
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    output = function()
    times.append(time.perf_counter() - start)
  return float(np.median(times)), output


def main(argv):
  del argv
  database = activitynet_io.load_json(FLAGS.groundtruth)['database']
  durations = {v: float(x.get('duration', 0.0)) for v, x in database.items()}
  groundtruth = activitynet_io.load_ground_truth(FLAGS.groundtruth, FLAGS.subset)
  results = make_detections(groundtruth, durations, FLAGS.num_detections,
                            FLAGS.copies_per_instance, FLAGS.seed)
  with tempfile.TemporaryDirectory() as tmp:
    detections_path = os.path.join(tmp, 'detections.json')
    with open(detections_path, 'w') as f:
      json.dump(results, f)

    def load():
      gt = activitynet_io.load_ground_truth(FLAGS.groundtruth, FLAGS.subset)
      return gt, activitynet_io.load_detections(detections_path, gt.class_names)

    load_time, (gt, det) = _median_time(load, FLAGS.runs)

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

  detection_time, detection_result = _median_time(detection, FLAGS.runs)
  proposal_time, (recall_at_an, _) = _median_time(proposals, FLAGS.runs)
  output = {
      'machine': {'platform': platform.platform(),
                  'processor': platform.processor() or platform.machine(),
                  'cpu_count': os.cpu_count(),
                  'python': sys.version.split()[0],
                  'numpy': np.__version__},
      'groundtruth': FLAGS.groundtruth,
      'subset': FLAGS.subset,
      'num_videos': len(gt.videos),
      'num_groundtruth': int(gt.labels.size),
      'num_detections': int(det.scores.size),
      'runs': FLAGS.runs,
      'median_seconds': {
          'load_json': load_time,
          'detection_map_7_thresholds': detection_time,
          'proposal_ar_at_an': proposal_time,
          'core_total': detection_time + proposal_time,
          'total_with_loading': load_time + detection_time + proposal_time,
      },
      'mAP': {'%g' % t: float(m) for t, m in zip(
          detection_result.tiou_thresholds,
          detection_result.mean_average_precision)},
      'average_mAP': detection_result.average_mean_average_precision,
      'AR': {'%g' % an: ar for an, ar in recall_at_an.items()},
  }
  text = json.dumps(output, indent=2)
  print(text)
  if FLAGS.output:
    with open(FLAGS.output, 'w') as f:
      f.write(text + '\n')


if __name__ == '__main__':
  app.run(main)
