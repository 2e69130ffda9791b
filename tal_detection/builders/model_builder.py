"""Builds a DetectionModel from a DetectionModel proto (the pipeline's `model`)."""
import functools

from tal_detection.builders import anchor_generator_builder
from tal_detection.builders import box_coder_builder
from tal_detection.builders import hyperparams_builder
from tal_detection.builders import losses_builder
from tal_detection.builders import matcher_builder
from tal_detection.builders import post_processing_builder
from tal_detection.core import balanced_positive_negative_sampler as sampler
from tal_detection.core import post_processing
from tal_detection.core import target_assigner
from tal_detection.meta_architectures import tal_net_meta_arch
from tal_detection.models import box_classifier
from tal_detection.models import spn_towers
from tal_detection.protos import hyperparams_pb2
from tal_detection.protos import model_pb2
from tal_detection.protos import tal_net_pb2

# Matchers when a config leaves them out: the paper's (and Faster R-CNN's) values.
FIRST_STAGE_MATCHER_DEFAULTS = dict(
    matched_threshold=0.7, unmatched_threshold=0.3,
    negatives_lower_than_unmatched=True, force_match_for_each_row=True)
SECOND_STAGE_MATCHER_DEFAULTS = dict(
    matched_threshold=0.5, unmatched_threshold=0.5,
    negatives_lower_than_unmatched=True, force_match_for_each_row=False)


def build(model_config, is_training):
  """Builds the model named by model_config's oneof.

  Args:
    model_config: model_pb2.DetectionModel.
    is_training: whether the model is built for training.

  Returns:
    A core.model.DetectionModel.

  Raises:
    ValueError: if the config names no known model.
  """
  if not isinstance(model_config, model_pb2.DetectionModel):
    raise ValueError('model_config must be a model_pb2.DetectionModel')
  which = model_config.WhichOneof('model')
  if which == 'tal_net':
    return _build_tal_net(model_config.tal_net, is_training)
  raise ValueError('model: unknown or unset meta-architecture %r' % which)


def _hyperparams_fn(config, has_config, op, is_training):
  """arg_scope fn from a Hyperparams message, or the defaults for op."""
  if not has_config:
    config = hyperparams_pb2.Hyperparams(op=op)
  return hyperparams_builder.build(config, is_training)


def _build_tal_net(config, is_training):
  """TalNetMetaArch from a TalNet proto."""
  stream_names = [s.name for s in config.streams]
  if not stream_names:
    raise ValueError('tal_net.streams: at least one stream is required')
  pipelines = tal_net_meta_arch.pipelines_for_fusion(
      stream_names, config.fusion == tal_net_pb2.TalNet.LATE)

  anchor_generator = anchor_generator_builder.build(
      config.first_stage_anchor_generator)
  anchor_scales = list(
      config.first_stage_anchor_generator
      .multiscale_temporal_anchor_generator.scales)
  box_coder = box_coder_builder.build(config.box_coder)

  spn_config = config.segment_proposal_network
  spn_factory = functools.partial(
      spn_towers.SegmentProposalNetwork,
      tower_type=spn_config.tower_type,
      use_context=spn_config.use_context,
      anchor_scales=anchor_scales,
      depth=spn_config.depth,
      conv_hyperparams_fn=_hyperparams_fn(
          spn_config.conv_hyperparams, spn_config.HasField('conv_hyperparams'),
          hyperparams_pb2.Hyperparams.CONV, is_training),
      is_training=is_training)

  reduction_hyperparams_fn = _hyperparams_fn(
      config.feature_reduction_hyperparams,
      config.HasField('feature_reduction_hyperparams'),
      hyperparams_pb2.Hyperparams.CONV, is_training)
  box_classifier_factory = functools.partial(
      box_classifier.BoxClassifier,
      num_classes=config.num_classes,
      reduction_depth=config.feature_reduction_depth,
      fc_depth=config.second_stage_fc_depth,
      reduction_hyperparams_fn=reduction_hyperparams_fn,
      fc_hyperparams_fn=_hyperparams_fn(
          config.second_stage_fc_hyperparams,
          config.HasField('second_stage_fc_hyperparams'),
          hyperparams_pb2.Hyperparams.FC, is_training),
      is_training=is_training)

  first_stage_assigner = target_assigner.TargetAssigner(
      matcher_builder.build(config.first_stage_matcher,
                            default=FIRST_STAGE_MATCHER_DEFAULTS), box_coder)
  second_stage_assigner = target_assigner.TargetAssigner(
      matcher_builder.build(config.second_stage_matcher,
                            default=SECOND_STAGE_MATCHER_DEFAULTS), box_coder)
  (first_cls_loss, first_loc_loss, first_cls_weight,
   first_loc_weight) = losses_builder.build(config.first_stage_loss)
  (second_cls_loss, second_loc_loss, second_cls_weight,
   second_loc_weight) = losses_builder.build(config.second_stage_loss)
  nms_fn, score_fn = post_processing_builder.build(
      config.second_stage_post_processing)

  return tal_net_meta_arch.TalNetMetaArch(
      is_training=is_training,
      num_classes=config.num_classes,
      pipelines=pipelines,
      feature_reduction_depth=config.feature_reduction_depth,
      feature_reduction_hyperparams_fn=reduction_hyperparams_fn,
      anchor_generator=anchor_generator,
      spn_factory=spn_factory,
      box_classifier_factory=box_classifier_factory,
      box_coder=box_coder,
      first_stage_target_assigner=first_stage_assigner,
      first_stage_sampler=sampler.BalancedPositiveNegativeSampler(
          config.first_stage_positive_balance_fraction),
      first_stage_minibatch_size=config.first_stage_minibatch_size,
      first_stage_nms_iou_threshold=config.first_stage_nms_iou_threshold,
      first_stage_nms_score_threshold=config.first_stage_nms_score_threshold,
      first_stage_max_proposals=config.first_stage_max_proposals,
      first_stage_classification_loss=first_cls_loss,
      first_stage_localization_loss=first_loc_loss,
      first_stage_objectness_loss_weight=first_cls_weight,
      first_stage_localization_loss_weight=first_loc_weight,
      soi_crop_size=config.initial_crop_size,
      soi_context_ratio=config.soi_context_ratio,
      soi_maxpool_kernel_size=config.maxpool_kernel_size,
      soi_maxpool_stride=config.maxpool_stride,
      second_stage_target_assigner=second_stage_assigner,
      second_stage_sampler=sampler.BalancedPositiveNegativeSampler(
          config.second_stage_balance_fraction),
      second_stage_batch_size=config.second_stage_batch_size,
      second_stage_non_max_suppression_fn=nms_fn,
      second_stage_score_conversion_fn=score_fn,
      second_stage_classification_loss=second_cls_loss,
      second_stage_localization_loss=second_loc_loss,
      second_stage_classification_loss_weight=second_cls_weight,
      second_stage_localization_loss_weight=second_loc_weight,
      class_agnostic_nms_fn=post_processing.batch_multiclass_non_max_suppression)
