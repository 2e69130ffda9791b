"""TensorBoard pictures of an evaluation: timelines, AR-AN and PR curves.

Eval metric ops whose value is a serialized tf.Summary: the Estimator writes such
values as summaries. The update op keeps the first few videos' ground truth and
detections; the value op draws them (the same timeline as tools/infer.py --plot,
on the video's whole duration when the eval dict carries it), plus the AR-AN
curve and per-class precision-recall curves of the evaluation that just finished.
"""
import numpy as np
import tensorflow as tf

from tal_detection.core import standard_fields as fields
from tal_detection.metrics import detection_evaluation
from tal_detection.utils import visualization_utils

DATA = fields.InputDataFields
RESULT = fields.DetectionResultFields
IMAGES_METRIC = 'Eval/images'
# The precision-recall pictures use this tIoU (the THUMOS'14 headline one).
PR_TIOU_THRESHOLD = 0.5


def precision_recall_curve(groundtruth, detections, tiou_threshold):
  """Precision and recall of one class's detections, in descending score.

  Matching follows the ActivityNet evaluator: each detection, by descending
  score, takes the still-free ground truth of its video with the highest tIoU
  if that is >= the threshold (the tests check the area under this curve
  equals the evaluator's AP).

  Args:
    groundtruth: {video id: [N, 2] seconds} of the class.
    detections: list of (video id, start, end, score) of the class.
    tiou_threshold: tIoU needed for a true positive.

  Returns:
    (recall [K], precision [K]) float64 arrays, K = len(detections); empty
    when there is no ground truth.
  """
  num_gt = sum(len(v) for v in groundtruth.values())
  if not num_gt or not detections:
    return np.zeros(0), np.zeros(0)
  order = sorted(range(len(detections)), key=lambda i: -detections[i][3])
  used = {video: np.zeros(len(segments), bool)
          for video, segments in groundtruth.items()}
  true_positive = np.zeros(len(order), bool)
  for rank, i in enumerate(order):
    video, start, end, _ = detections[i]
    segments = groundtruth.get(video)
    if segments is None or not len(segments):
      continue
    tiou = detection_evaluation.segment_tiou(
        segments[:, 0], segments[:, 1], np.float64(start), np.float64(end))
    tiou = np.where(used[video], -1.0, tiou)
    best = int(np.argmax(tiou))
    if tiou[best] >= tiou_threshold:
      used[video][best] = True
      true_positive[rank] = True
  tp = np.cumsum(true_positive).astype(np.float64)
  precision = tp / np.arange(1, len(order) + 1)
  return tp / num_gt, precision


def _image_summary_value(tag, png, height_width=(1, 1)):
  image = tf.compat.v1.Summary.Image(encoded_image_string=png,
                                     height=height_width[0],
                                     width=height_width[1], colorspace=4)
  return tf.compat.v1.Summary.Value(tag=tag, image=image)


class EvalImages(object):
  """Collects a few eval videos and draws them when the evaluation ends."""

  def __init__(self, categories, num_visualizations, evaluator=None, top_k=20):
    """Args:
      categories: [{'id', 'name'}] of the label map.
      num_visualizations: videos drawn per evaluation.
      evaluator: a TemporalDetectionEvaluator whose last_result holds the
        AR-AN curve (None: no curve).
      top_k: detections drawn per timeline (0: all).
    """
    self._category_index = {c['id']: c['name'] for c in categories}
    self._num_visualizations = num_visualizations
    self._evaluator = evaluator
    self._top_k = top_k
    self._videos = []
    self._all = []

  def add_batch(self, video_ids, gt_segments, gt_classes, num_gt, segments,
                scores, classes, num_detections, durations=None):
    """Keeps every video for the PR curves; the first few for timelines."""
    for b in range(len(video_ids)):
      video_id = video_ids[b]
      if isinstance(video_id, bytes):
        video_id = video_id.decode('utf-8')
      n_gt, n_det = int(num_gt[b]), int(num_detections[b])
      groundtruth = [(float(s), float(e), int(c)) for (s, e), c in zip(
          gt_segments[b][:n_gt], gt_classes[b][:n_gt])]
      detections = [(float(s), float(e), int(c), float(p)) for (s, e), c, p in
                    zip(segments[b][:n_det], classes[b][:n_det],
                        scores[b][:n_det])]
      duration = float(durations[b]) if durations is not None else None
      self._all.append((video_id, groundtruth, detections))
      if len(self._videos) < self._num_visualizations:
        self._videos.append((video_id, duration, groundtruth, detections))

  def _precision_recall_png(self):
    """Per-class PR curves of every video seen, or None without detections."""
    curves = []
    for class_id in sorted(self._category_index):
      groundtruth = {}
      detections = []
      for video_id, video_gt, video_detections in self._all:
        groundtruth[video_id] = np.array(
            [(s, e) for s, e, c in video_gt if c == class_id],
            np.float64).reshape(-1, 2)
        detections.extend((video_id, s, e, p)
                          for s, e, c, p in video_detections if c == class_id)
      recall, precision = precision_recall_curve(groundtruth, detections,
                                                 PR_TIOU_THRESHOLD)
      if recall.size:
        ap = detection_evaluation.interpolated_average_precision(precision,
                                                                 recall)
        curves.append((self._category_index[class_id], recall, precision, ap))
    if not curves:
      return None
    return visualization_utils.precision_recall_png(curves, PR_TIOU_THRESHOLD)

  def summary_bytes(self):
    """The pictures as one serialized tf.Summary; forgets the videos."""
    values = []
    for i, (video_id, duration, groundtruth, detections) in enumerate(
        self._videos):
      png = visualization_utils.timeline_png(
          video_id, duration, groundtruth, detections, self._category_index,
          top_k=self._top_k)
      values.append(_image_summary_value('timeline_%d' % i, png))
    result = getattr(self._evaluator, 'last_result', None)
    curve = getattr(result, 'proposal_curve', None)
    if curve is not None:
      png = visualization_utils.ar_an_curve_png(curve.proposals_per_video,
                                                curve.average_recall)
      values.append(_image_summary_value('ar_an_curve', png))
    png = self._precision_recall_png()
    if png is not None:
      values.append(_image_summary_value('precision_recall', png))
    self._videos = []
    self._all = []
    return tf.compat.v1.Summary(value=values).SerializeToString()

  def get_eval_metric_ops(self, eval_dict, after=None):
    """{IMAGES_METRIC: (value_op, update_op)}.

    Args:
      eval_dict: batch tensors keyed by standard fields (seconds).
      after: op the value op must run after (the evaluator's first value op,
        which computes the curve).
    """
    keys = [DATA.video_id, DATA.groundtruth_segments_seconds,
            DATA.groundtruth_classes, DATA.num_groundtruth_segments,
            RESULT.detection_segments_seconds, RESULT.detection_scores,
            RESULT.detection_classes, RESULT.num_detections]
    # The duration (seconds) gives the timelines their full axis; an eval
    # dict without it draws up to the last segment.
    if DATA.duration in eval_dict:
      keys.append(DATA.duration)
    tensors = [eval_dict[k] for k in keys]

    def update(*values):
      self.add_batch(*values)
      return np.int32(0)

    update_op = tf.compat.v1.py_func(update, tensors, tf.int32)
    with tf.control_dependencies([after] if after is not None else []):
      value_op = tf.compat.v1.py_func(self.summary_bytes, [], tf.string)
    return {IMAGES_METRIC: (value_op, update_op)}
