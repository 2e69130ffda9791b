"""TensorBoard pictures of an evaluation: video timelines and the AR-AN curve.

Eval metric ops whose value is a serialized tf.Summary: the Estimator writes such
values as summaries. The update op keeps the first few videos' ground truth and
detections; the value op draws them (like the paper's Fig. 8) plus the AR-AN curve
of the evaluation that just finished.
"""
import numpy as np
import tensorflow as tf

from tal_detection.core import standard_fields as fields
from tal_detection.utils import visualization_utils

DATA = fields.InputDataFields
RESULT = fields.DetectionResultFields
IMAGES_METRIC = 'Eval/images'


def _image_summary_value(tag, png, height_width=(1, 1)):
  image = tf.compat.v1.Summary.Image(encoded_image_string=png,
                                     height=height_width[0],
                                     width=height_width[1], colorspace=4)
  return tf.compat.v1.Summary.Value(tag=tag, image=image)


class EvalImages(object):
  """Collects a few eval videos and draws them when the evaluation ends."""

  def __init__(self, categories, num_visualizations, evaluator=None):
    """Args:
      categories: [{'id', 'name'}] of the label map.
      num_visualizations: videos drawn per evaluation.
      evaluator: a TemporalDetectionEvaluator whose last_result holds the
        AR-AN curve (None: no curve).
    """
    self._category_index = {c['id']: c['name'] for c in categories}
    self._num_visualizations = num_visualizations
    self._evaluator = evaluator
    self._videos = []

  def add_batch(self, video_ids, gt_segments, gt_classes, num_gt, segments,
                scores, classes, num_detections):
    """Keeps videos until num_visualizations are held."""
    for b in range(len(video_ids)):
      if len(self._videos) >= self._num_visualizations:
        return
      video_id = video_ids[b]
      if isinstance(video_id, bytes):
        video_id = video_id.decode('utf-8')
      n_gt, n_det = int(num_gt[b]), int(num_detections[b])
      groundtruth = [(float(s), float(e), int(c)) for (s, e), c in zip(
          gt_segments[b][:n_gt], gt_classes[b][:n_gt])]
      detections = [(float(s), float(e), int(c), float(p)) for (s, e), c, p in
                    zip(segments[b][:n_det], classes[b][:n_det],
                        scores[b][:n_det])]
      self._videos.append((video_id, groundtruth, detections))

  def summary_bytes(self):
    """The pictures as one serialized tf.Summary; forgets the videos."""
    values = []
    for i, (video_id, groundtruth, detections) in enumerate(self._videos):
      png = visualization_utils.timeline_png(
          video_id, None, groundtruth, detections, self._category_index)
      values.append(_image_summary_value('timeline_%d' % i, png))
    result = getattr(self._evaluator, 'last_result', None)
    curve = getattr(result, 'proposal_curve', None)
    if curve is not None:
      png = visualization_utils.ar_an_curve_png(curve.proposals_per_video,
                                                curve.average_recall)
      values.append(_image_summary_value('ar_an_curve', png))
    self._videos = []
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
    tensors = [eval_dict[k] for k in keys]

    def update(*values):
      self.add_batch(*values)
      return np.int32(0)

    update_op = tf.compat.v1.py_func(update, tensors, tf.int32)
    with tf.control_dependencies([after] if after is not None else []):
      value_op = tf.compat.v1.py_func(self.summary_bytes, [], tf.string)
    return {IMAGES_METRIC: (value_op, update_op)}
