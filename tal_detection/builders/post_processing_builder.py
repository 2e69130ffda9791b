"""Builds the non-max suppressor and score converter from a PostProcessing proto."""
import functools

import tensorflow as tf

from tal_detection.core import post_processing
from tal_detection.protos import post_processing_pb2


def build(post_processing_config):
  """Builds the post-processing functions of a detection stage.

  Args:
    post_processing_config: a post_processing_pb2.PostProcessing. An absent
      batch_non_max_suppression takes the proto defaults.

  Returns:
    non_max_suppressor_fn: post_processing.batch_multiclass_non_max_suppression
      with every batch_non_max_suppression field bound (thresholds, sizes,
      method, soft_nms_sigma, pre_nms_top_k, min_score, class_agnostic,
      voting_iou_threshold);
      call it as fn(segments, scores, num_valid_segments=None).
    score_converter_fn: maps logits [..., C] to scores [..., C] (logits are
      divided by logit_scale, then SOFTMAX / SIGMOID / IDENTITY).

  Raises:
    ValueError: naming the field, for a threshold outside [0, 1], a non-positive
      size or logit_scale, or max_detections_per_class > max_total_detections.
  """
  non_max_suppressor_fn = _build_non_max_suppressor(
      post_processing_config.batch_non_max_suppression)
  score_converter_fn = _build_score_converter(
      post_processing_config.score_converter,
      post_processing_config.logit_scale)
  return non_max_suppressor_fn, score_converter_fn


def _build_non_max_suppressor(nms_config):
  """functools.partial of batch_multiclass_non_max_suppression from the config."""
  prefix = 'post_processing: batch_non_max_suppression.'
  for field in ('score_threshold', 'iou_threshold'):
    value = getattr(nms_config, field)
    if not 0.0 <= value <= 1.0:
      raise ValueError('%s%s must be in [0, 1], got %r' % (prefix, field, value))
  for field in ('max_detections_per_class', 'max_total_detections'):
    value = getattr(nms_config, field)
    if value <= 0:
      raise ValueError('%s%s must be > 0, got %d' % (prefix, field, value))
  if nms_config.max_detections_per_class > nms_config.max_total_detections:
    raise ValueError(
        '%smax_detections_per_class (%d) must not exceed max_total_detections '
        '(%d)' % (prefix, nms_config.max_detections_per_class,
                  nms_config.max_total_detections))
  for field in ('min_score', 'voting_iou_threshold'):
    value = getattr(nms_config, field)
    if not 0.0 <= value <= 1.0:
      raise ValueError('%s%s must be in [0, 1], got %r' % (prefix, field, value))
  if nms_config.pre_nms_top_k < 0:
    raise ValueError('%spre_nms_top_k must be >= 0, got %d' %
                     (prefix, nms_config.pre_nms_top_k))
  method = post_processing_pb2.BatchNonMaxSuppression.Method.Name(
      nms_config.method)
  if method == post_processing.SOFT_GAUSSIAN and not nms_config.soft_nms_sigma > 0:
    raise ValueError('%ssoft_nms_sigma must be > 0, got %r' %
                     (prefix, nms_config.soft_nms_sigma))
  return functools.partial(
      post_processing.batch_multiclass_non_max_suppression,
      score_thresh=nms_config.score_threshold,
      iou_thresh=nms_config.iou_threshold,
      max_size_per_class=nms_config.max_detections_per_class,
      max_total_size=nms_config.max_total_detections,
      method=method,
      soft_nms_sigma=nms_config.soft_nms_sigma,
      pre_nms_top_k=nms_config.pre_nms_top_k,
      min_score=nms_config.min_score,
      class_agnostic=nms_config.class_agnostic,
      voting_iou_threshold=nms_config.voting_iou_threshold)


def _build_score_converter(score_converter, logit_scale):
  """Returns fn(logits) -> scores for the ScoreConverter enum value."""
  if not logit_scale > 0:
    raise ValueError('post_processing: logit_scale must be > 0, got %r' %
                     logit_scale)
  converters = {
      post_processing_pb2.PostProcessing.IDENTITY: tf.identity,
      post_processing_pb2.PostProcessing.SOFTMAX: tf.nn.softmax,
      post_processing_pb2.PostProcessing.SIGMOID: tf.sigmoid,
  }
  if score_converter not in converters:
    raise ValueError('post_processing: unknown score_converter %r' %
                     score_converter)
  convert = converters[score_converter]
  name = post_processing_pb2.PostProcessing.ScoreConverter.Name(
      score_converter).lower()

  def score_converter_fn(logits):
    """Converts logits [..., C] to scores [..., C]."""
    with tf.name_scope('convert_scores_%s' % name):
      scaled_logits = tf.divide(logits, logit_scale, name='scale_logits')
      return convert(scaled_logits)

  return score_converter_fn
