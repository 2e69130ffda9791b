"""Accumulating evaluator for the Estimator: detection mAP and proposal AR@AN.

OD API style: per-video ground truth, detections and proposals are added one video at
a time (in seconds), `evaluate()` returns a flat dict of scalar metrics, and
`get_estimator_eval_metric_ops(eval_dict)` wraps the evaluator in
`tf.compat.v1.py_func` update/value ops for an Estimator's `eval_metric_ops`.

Metric names (spelled once, in metrics/metric_names.py):
  DetectionMetrics/mAP@<t>IOU, DetectionMetrics/average_mAP,
  DetectionMetrics_PerClass/AP@<t>IOU/<class name>,
  ProposalMetrics/AR@<AN>, ProposalMetrics/AUC@<max AN>.
"""
import collections
import logging

import numpy as np
import tensorflow as tf

from tal_detection.core import standard_fields as fields
from tal_detection.protos import eval_pb2
from tal_detection.metrics import detection_evaluation
from tal_detection.metrics import metric_names as names_lib
from tal_detection.metrics import proposal_evaluation
from tal_detection.metrics import thumos14_kit_evaluation

# Proposals in seconds in the eval dict (the detections' `_seconds` convention).
PROPOSAL_SEGMENTS_SECONDS = fields.DetectionResultFields.proposal_segments_seconds

DETECTION_METRICS = 'detection_metrics'
PROPOSAL_METRICS = 'proposal_metrics'

# Detection protocols (eval_config.protocol, lower-cased).
ACTIVITYNET = 'activitynet'
THUMOS14_KIT = 'thumos14_kit'

EvaluationResult = collections.namedtuple(
    'EvaluationResult',
    ['detection',  # DetectionEvaluationResult or None.
     'recall_at_an',  # dict AN -> AR, or None.
     'proposal_curve',  # ProposalCurve for the largest AN, or None.
    ])


def _clean_thresholds(values, default):
  """Thresholds as float64; float32 proto values are rounded to 6 decimals."""
  values = list(values) if values is not None else []
  if not values:
    values = list(default)
  return tuple(float(round(float(v), 6)) for v in values)


class TemporalDetectionEvaluator(object):
  """Accumulates per-video results and computes ActivityNet-exact metrics."""

  def __init__(self, categories,
               tiou_thresholds=detection_evaluation.THUMOS_TIOU_THRESHOLDS,
               proposal_tiou_thresholds=(
                   proposal_evaluation.THUMOS_PROPOSAL_TIOU_THRESHOLDS),
               an_values=proposal_evaluation.DEFAULT_AN_VALUES,
               evaluate_detections=True,
               evaluate_proposals=True,
               include_metrics_per_category=True,
               protocol=ACTIVITYNET):
    """Constructor.

    Args:
      categories: list of dicts {'id': label-map id (int), 'name': str}.
      tiou_thresholds: tIoU thresholds of the detection mAP.
      proposal_tiou_thresholds: tIoU thresholds averaged by AR.
      an_values: average numbers of proposals per video reported as AR@AN.
      evaluate_detections: whether evaluate() reports detection metrics.
      evaluate_proposals: whether evaluate() reports proposal metrics.
      include_metrics_per_category: whether per-class AP is reported.
      protocol: ACTIVITYNET or THUMOS14_KIT (ground-truth-driven matching,
        Ambiguous segments, 11-point AP); the metric names are the same.

    Raises:
      ValueError: on empty/duplicate categories or invalid thresholds/AN values.
    """
    if not categories:
      raise ValueError('categories is empty')
    ids = [int(c['id']) for c in categories]
    if len(set(ids)) != len(ids):
      raise ValueError('categories have duplicate ids: %s' % ids)
    self._class_ids = ids
    self._class_names = [str(c['name']) for c in categories]
    self._class_index = {class_id: i for i, class_id in enumerate(ids)}
    self._tiou_thresholds = _clean_thresholds(
        tiou_thresholds, detection_evaluation.THUMOS_TIOU_THRESHOLDS)
    self._proposal_tiou_thresholds = _clean_thresholds(
        proposal_tiou_thresholds,
        proposal_evaluation.THUMOS_PROPOSAL_TIOU_THRESHOLDS)
    detection_evaluation.validate_tiou_thresholds(self._tiou_thresholds)
    detection_evaluation.validate_tiou_thresholds(
        self._proposal_tiou_thresholds)
    an_values = list(an_values) if an_values is not None else []
    if not an_values:
      an_values = list(proposal_evaluation.DEFAULT_AN_VALUES)
    if min(an_values) <= 0:
      raise ValueError('an_values must be positive, got %s' % an_values)
    self._an_values = tuple(int(a) if float(a).is_integer() else float(a)
                            for a in an_values)
    self._evaluate_detections = evaluate_detections
    self._evaluate_proposals = evaluate_proposals
    self._include_metrics_per_category = include_metrics_per_category
    if protocol not in (ACTIVITYNET, THUMOS14_KIT):
      raise ValueError('protocol must be %s or %s, got %r' %
                       (ACTIVITYNET, THUMOS14_KIT, protocol))
    self._protocol = protocol
    self._metrics = None
    self.last_result = None
    self.clear()

  @property
  def class_names(self):
    return list(self._class_names)

  def clear(self):
    """Forgets every added video."""
    self._groundtruth = collections.OrderedDict()
    self._ambiguous = collections.OrderedDict()
    self._detections = collections.OrderedDict()
    self._proposals = collections.OrderedDict()

  def _class_indices(self, class_ids, video_id, what):
    class_ids = np.asarray(class_ids).reshape(-1)
    if class_ids.size and not np.all(class_ids == np.round(class_ids)):
      raise ValueError('video %r: %s classes must be integer ids, got %s' %
                       (video_id, what, class_ids))
    try:
      return np.array([self._class_index[int(c)] for c in class_ids],
                      dtype=np.int64)
    except KeyError as e:
      raise ValueError('video %r: %s class id %s is not in the label map %s' %
                       (video_id, what, e.args[0], self._class_ids))

  @staticmethod
  def _check_segments(video_id, what, segments):
    segments = np.asarray(segments, dtype=np.float64)
    if segments.size == 0:
      return segments.reshape(0, 2)
    if segments.ndim != 2 or segments.shape[1] != 2:
      raise ValueError('video %r: %s segments must be [N, 2], got shape %s' %
                       (video_id, what, segments.shape))
    if not np.all(np.isfinite(segments)):
      raise ValueError('video %r: %s segments contain NaN or inf' %
                       (video_id, what))
    return segments

  @staticmethod
  def _check_scores(video_id, what, scores, num):
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if scores.size != num:
      raise ValueError('video %r: %d %s scores for %d segments' %
                       (video_id, scores.size, what, num))
    if not np.all(np.isfinite(scores)):
      raise ValueError('video %r: %s scores contain NaN or inf' % (video_id, what))
    return scores

  def add_single_ground_truth(self, video_id, segments_seconds, class_ids,
                              ambiguous_segments_seconds=None):
    """Adds one video's ground truth (a video added twice keeps the first).

    Args:
      video_id: video id (str or bytes).
      segments_seconds: [N, 2] [start, end] in seconds, end > start.
      class_ids: [N] label-map ids.
      ambiguous_segments_seconds: optional [A, 2] Ambiguous segments (used by
        the THUMOS14_KIT protocol only).

    Raises:
      ValueError: on malformed segments or unknown class ids.
    """
    video_id = _decode(video_id)
    if video_id in self._groundtruth:
      logging.warning('Ignoring ground truth of video %s: already added.',
                      video_id)
      return
    segments = self._check_segments(video_id, 'ground-truth', segments_seconds)
    if np.any(segments[:, 1] <= segments[:, 0]):
      raise ValueError('video %r: a ground-truth segment has end <= start' %
                       video_id)
    classes = self._class_indices(class_ids, video_id, 'ground-truth')
    if classes.size != segments.shape[0]:
      raise ValueError('video %r: %d ground-truth classes for %d segments' %
                       (video_id, classes.size, segments.shape[0]))
    self._groundtruth[video_id] = (segments, classes)
    if ambiguous_segments_seconds is not None:
      self._ambiguous[video_id] = self._check_segments(
          video_id, 'ambiguous', ambiguous_segments_seconds)

  def add_single_detections(self, video_id, segments, scores, classes):
    """Adds one video's detections (a video added twice keeps the first).

    Args:
      video_id: video id (str or bytes).
      segments: [M, 2] [start, end] in seconds.
      scores: [M] confidences.
      classes: [M] label-map ids.

    Raises:
      ValueError: on malformed inputs or unknown class ids.
    """
    video_id = _decode(video_id)
    if video_id in self._detections:
      logging.warning('Ignoring detections of video %s: already added.', video_id)
      return
    segments = self._check_segments(video_id, 'detection', segments)
    scores = self._check_scores(video_id, 'detection', scores, segments.shape[0])
    class_index = self._class_indices(classes, video_id, 'detection')
    if class_index.size != segments.shape[0]:
      raise ValueError('video %r: %d detection classes for %d segments' %
                       (video_id, class_index.size, segments.shape[0]))
    self._detections[video_id] = (segments, scores, class_index)

  def add_single_proposals(self, video_id, segments, scores):
    """Adds one video's class-agnostic proposals (seconds).

    Args:
      video_id: video id (str or bytes).
      segments: [K, 2] [start, end] in seconds.
      scores: [K] objectness scores.
    """
    video_id = _decode(video_id)
    if video_id in self._proposals:
      logging.warning('Ignoring proposals of video %s: already added.', video_id)
      return
    segments = self._check_segments(video_id, 'proposal', segments)
    scores = self._check_scores(video_id, 'proposal', scores, segments.shape[0])
    self._proposals[video_id] = (segments, scores)

  def _groundtruth_arrays(self):
    video_ids, segments, classes = [], [], []
    for video_id, (video_segments, video_classes) in _by_video_id(
        self._groundtruth):
      video_ids.extend([video_id] * video_segments.shape[0])
      segments.append(video_segments)
      classes.append(video_classes)
    return (video_ids, _concat(segments, (0, 2), np.float64),
            _concat(classes, (0,), np.int64))

  def evaluate_full(self):
    """All results with arrays (per-class APs, the AR-AN curve).

    Videos are concatenated in video-id order, whatever order they were added
    in: the reference evaluator orders tied scores by their input position, so
    this gives exactly what tools/evaluate_detections.py gives on a results
    file listing the videos by id (as tools/infer.py writes it), also when
    the eval input is sharded or shuffled.

    Returns:
      An EvaluationResult; fields of disabled metric sets are None.
    """
    gt_video_ids, gt_segments, gt_classes = self._groundtruth_arrays()
    if not gt_video_ids:
      logging.warning('Evaluating without any ground-truth instance.')
    detection = None
    if self._evaluate_detections:
      video_ids, segments, scores, classes = [], [], [], []
      for video_id, (s, sc, c) in _by_video_id(self._detections):
        video_ids.extend([video_id] * s.shape[0])
        segments.append(s)
        scores.append(sc)
        classes.append(c)
      compute = detection_evaluation.compute_average_precision_detection
      protocol_args = {}
      if self._protocol == THUMOS14_KIT:
        compute = thumos14_kit_evaluation.compute_average_precision_kit
        ambiguous = _by_video_id(self._ambiguous)
        amb_ids = [v for v, s in ambiguous for _ in range(len(s))]
        protocol_args = dict(
            ambiguous_video_ids=amb_ids,
            ambiguous_segments=_concat([s for _, s in ambiguous], (0, 2),
                                       np.float64))
      detection = compute(
          gt_video_ids, gt_segments, gt_classes, video_ids,
          _concat(segments, (0, 2), np.float64), _concat(scores, (0,), np.float64),
          _concat(classes, (0,), np.int64), len(self._class_ids),
          self._tiou_thresholds, **protocol_args)
    recall_at_an, curve = None, None
    if self._evaluate_proposals:
      video_ids, segments, scores = [], [], []
      for video_id, (s, sc) in _by_video_id(self._proposals):
        video_ids.extend([video_id] * s.shape[0])
        segments.append(s)
        scores.append(sc)
      recall_at_an, curve = proposal_evaluation.average_recall_at_an(
          gt_video_ids, gt_segments, video_ids,
          _concat(segments, (0, 2), np.float64), _concat(scores, (0,), np.float64),
          self._an_values, self._proposal_tiou_thresholds)
      recall_at_an = {an: recall_at_an[float(an)] for an in self._an_values}
    return EvaluationResult(detection=detection, recall_at_an=recall_at_an,
                            proposal_curve=curve)

  def metric_names(self):
    """Names of the metrics evaluate() returns, in a fixed order."""
    names = []
    if self._evaluate_detections:
      names += [names_lib.detection_map(t) for t in self._tiou_thresholds]
      names.append(names_lib.AVERAGE_MAP)
      if self._include_metrics_per_category:
        for t in self._tiou_thresholds:
          names += [names_lib.per_class_ap(t, name)
                    for name in self._class_names]
    if self._evaluate_proposals:
      names += [names_lib.proposal_ar(an) for an in self._an_values]
      names.append(names_lib.proposal_auc(max(self._an_values)))
    return names

  def evaluate(self):
    """Computes the metrics of everything added so far.

    Returns:
      dict metric name -> float (see metric_names()). Per-class AP of a class without
      ground truth, and mAP when no class has ground truth, are NaN.
    """
    result = self.evaluate_full()
    # Kept past clear() for consumers of the arrays (e.g. the AR-AN picture).
    self.last_result = result
    metrics = collections.OrderedDict()
    if result.detection is not None:
      det = result.detection
      for t, value in zip(self._tiou_thresholds, det.mean_average_precision):
        metrics[names_lib.detection_map(t)] = float(value)
      metrics[names_lib.AVERAGE_MAP] = float(
          det.average_mean_average_precision)
      if self._include_metrics_per_category:
        for ti, t in enumerate(self._tiou_thresholds):
          for ci, name in enumerate(self._class_names):
            metrics[names_lib.per_class_ap(t, name)] = float(
                det.average_precision[ti, ci])
    if result.recall_at_an is not None:
      for an in self._an_values:
        metrics[names_lib.proposal_ar(an)] = float(result.recall_at_an[an])
      metrics[names_lib.proposal_auc(max(self._an_values))] = (
          proposal_evaluation.area_under_curve(result.proposal_curve))
    return metrics

  def add_eval_dict(self, eval_dict):
    """Adds a batch of numpy results keyed like the Estimator's eval dict.

    Args:
      eval_dict: numpy values (batch dimension first, padded) under the keys
        InputDataFields.video_id, groundtruth_segments_seconds, groundtruth_classes,
        [num_groundtruth_segments], DetectionResultFields.detection_segments_seconds,
        detection_scores, detection_classes, [num_detections] and optionally
        PROPOSAL_SEGMENTS_SECONDS, proposal_scores, [num_proposals].
    """
    input_fields = fields.InputDataFields
    result_fields = fields.DetectionResultFields
    video_ids = np.asarray(eval_dict[input_fields.video_id]).reshape(-1)
    batch_size = video_ids.size

    def _counts(values, num_key):
      if eval_dict.get(num_key) is not None:
        return np.asarray(eval_dict[num_key]).reshape(-1).astype(np.int64)
      return np.full(batch_size, np.asarray(values).shape[1], dtype=np.int64)

    gt_segments = np.asarray(eval_dict[input_fields.groundtruth_segments_seconds])
    gt_classes = np.asarray(eval_dict[input_fields.groundtruth_classes])
    num_gt = _counts(gt_classes, input_fields.num_groundtruth_segments)
    amb_key = input_fields.groundtruth_ambiguous_segments_seconds
    has_ambiguous = eval_dict.get(amb_key) is not None
    if has_ambiguous:
      amb_segments = np.asarray(eval_dict[amb_key])
      num_amb = _counts(amb_segments,
                        input_fields.num_groundtruth_ambiguous_segments)
    has_detections = result_fields.detection_segments_seconds in eval_dict
    if has_detections:
      det_segments = np.asarray(eval_dict[result_fields.detection_segments_seconds])
      det_scores = np.asarray(eval_dict[result_fields.detection_scores])
      det_classes = np.asarray(eval_dict[result_fields.detection_classes])
      num_det = _counts(det_scores, result_fields.num_detections)
    has_proposals = PROPOSAL_SEGMENTS_SECONDS in eval_dict
    if has_proposals:
      prop_segments = np.asarray(eval_dict[PROPOSAL_SEGMENTS_SECONDS])
      prop_scores = np.asarray(eval_dict[result_fields.proposal_scores])
      num_prop = _counts(prop_scores, result_fields.num_proposals)
    for i in range(batch_size):
      video_id = video_ids[i]
      self.add_single_ground_truth(
          video_id, gt_segments[i, :num_gt[i]], gt_classes[i, :num_gt[i]],
          amb_segments[i, :num_amb[i]] if has_ambiguous else None)
      if has_detections:
        self.add_single_detections(video_id, det_segments[i, :num_det[i]],
                                   det_scores[i, :num_det[i]],
                                   det_classes[i, :num_det[i]])
      if has_proposals:
        self.add_single_proposals(video_id, prop_segments[i, :num_prop[i]],
                                  prop_scores[i, :num_prop[i]])

  def get_estimator_eval_metric_ops(self, eval_dict):
    """Estimator eval_metric_ops computing every metric once per evaluation.

    The update op adds the batch's videos (py_func); the first value op evaluates
    everything and clears the evaluator, the others read its stored results.

    Args:
      eval_dict: tensors, batch dimension first and padded (see add_eval_dict).
        Proposal metrics need PROPOSAL_SEGMENTS_SECONDS and proposal_scores.

    Returns:
      dict metric name -> (value_op, update_op).
    """
    keys = [fields.InputDataFields.video_id,
            fields.InputDataFields.groundtruth_segments_seconds,
            fields.InputDataFields.groundtruth_classes,
            fields.InputDataFields.num_groundtruth_segments]
    if self._protocol == THUMOS14_KIT:
      keys += [fields.InputDataFields.groundtruth_ambiguous_segments_seconds,
               fields.InputDataFields.num_groundtruth_ambiguous_segments]
    if self._evaluate_detections:
      keys += [fields.DetectionResultFields.detection_segments_seconds,
               fields.DetectionResultFields.detection_scores,
               fields.DetectionResultFields.detection_classes,
               fields.DetectionResultFields.num_detections]
    if self._evaluate_proposals:
      if PROPOSAL_SEGMENTS_SECONDS not in eval_dict:
        raise ValueError('proposal metrics need %r in the eval dict' %
                         PROPOSAL_SEGMENTS_SECONDS)
      keys += [PROPOSAL_SEGMENTS_SECONDS,
               fields.DetectionResultFields.proposal_scores,
               fields.DetectionResultFields.num_proposals]
    optional = (fields.InputDataFields.num_groundtruth_segments,
                fields.InputDataFields.groundtruth_ambiguous_segments_seconds,
                fields.InputDataFields.num_groundtruth_ambiguous_segments,
                fields.DetectionResultFields.num_detections,
                fields.DetectionResultFields.num_proposals)
    present = [k for k in keys if eval_dict.get(k) is not None]
    missing = [k for k in keys if k not in present and k not in optional]
    if missing:
      raise ValueError('eval_dict is missing %s' % missing)
    tensors = [tf.convert_to_tensor(eval_dict[k]) for k in present]
    if tensors[0].shape.ndims == 0:
      # Unbatched: add the batch dimension the update function expects.
      tensors = [tf.expand_dims(t, 0) for t in tensors]

    def update_func(*values):
      self.add_eval_dict(dict(zip(present, values)))

    update_op = tf.compat.v1.py_func(update_func, tensors, [])
    metric_names = self.metric_names()

    def first_value_func():
      self._metrics = self.evaluate()
      self.clear()
      return np.float32(self._metrics[metric_names[0]])

    def value_func_factory(metric_name):
      def value_func():
        return np.float32(self._metrics[metric_name])
      return value_func

    first_value_op = tf.compat.v1.py_func(first_value_func, [], tf.float32)
    eval_metric_ops = {metric_names[0]: (first_value_op, update_op)}
    with tf.control_dependencies([first_value_op]):
      for metric_name in metric_names[1:]:
        eval_metric_ops[metric_name] = (tf.compat.v1.py_func(
            value_func_factory(metric_name), [], np.float32), update_op)
    return eval_metric_ops


def evaluator_from_eval_config(eval_config, categories):
  """Builds a TemporalDetectionEvaluator from an EvalConfig proto.

  Args:
    eval_config: tal_detection.protos.EvalConfig.
    categories: list of {'id', 'name'} dicts from the label map.

  Returns:
    A TemporalDetectionEvaluator.

  Raises:
    ValueError: on an unknown metrics_set entry.
  """
  metrics_set = set(eval_config.metrics_set) or {DETECTION_METRICS,
                                                  PROPOSAL_METRICS}
  unknown = metrics_set - {DETECTION_METRICS, PROPOSAL_METRICS}
  if unknown:
    raise ValueError('eval_config.metrics_set: unknown %s (known: %s, %s)' %
                     (sorted(unknown), DETECTION_METRICS, PROPOSAL_METRICS))
  return TemporalDetectionEvaluator(
      categories,
      tiou_thresholds=eval_config.detection_tiou_thresholds,
      proposal_tiou_thresholds=eval_config.proposal_tiou_thresholds,
      an_values=eval_config.average_number_of_proposals,
      evaluate_detections=DETECTION_METRICS in metrics_set,
      evaluate_proposals=PROPOSAL_METRICS in metrics_set,
      include_metrics_per_category=eval_config.include_metrics_per_category,
      protocol=eval_pb2.EvalConfig.Protocol.Name(eval_config.protocol).lower())


def _by_video_id(per_video):
  """(video id, value) pairs of a per-video dict in video-id order."""
  return sorted(per_video.items(), key=lambda item: item[0])


def _decode(video_id):
  if isinstance(video_id, np.ndarray):
    video_id = video_id.item()
  if isinstance(video_id, bytes):
    return video_id.decode('utf-8')
  return str(video_id)


def _concat(parts, empty_shape, dtype):
  if not parts:
    return np.zeros(empty_shape, dtype=dtype)
  return np.concatenate(parts).astype(dtype)
