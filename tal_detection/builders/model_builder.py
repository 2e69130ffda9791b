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
from tal_detection.meta_architectures import classifier_stage
from tal_detection.meta_architectures import pipelines as pipelines_lib
from tal_detection.meta_architectures import proposal_stage
from tal_detection.meta_architectures import stage_ops
from tal_detection.meta_architectures import tal_net_defaults
from tal_detection.meta_architectures import tal_net_meta_arch
from tal_detection.models import box_classifier
from tal_detection.models import feature_reduction
from tal_detection.models import spn_towers
from tal_detection.ops import soi_pooling
from tal_detection.protos import hyperparams_pb2
from tal_detection.protos import model_pb2
from tal_detection.protos import tal_net_pb2


def build(model_config, is_training, jit_compile=False):
  """Builds the model named by model_config's oneof.

  The config is expected to have passed config_util's validation; the
  builders do not repeat its checks.

  Args:
    model_config: model_pb2.DetectionModel.
    is_training: whether the model is built for training.
    jit_compile: compile with XLA the parts where it pays (SoI pooling,
      soi_pooling.XLA_GATHER); the graph then needs a runtime with XLA's
      JIT. Training graphs always do (they are never served); for eval and
      export graphs it is a choice.

  Returns:
    A core.model.DetectionModel.

  Raises:
    ValueError: if the config names no known model.
  """
  if not isinstance(model_config, model_pb2.DetectionModel):
    raise ValueError('model_config must be a model_pb2.DetectionModel')
  which = model_config.WhichOneof('model')
  if which == 'tal_net':
    return _build_tal_net(model_config.tal_net, is_training, jit_compile)
  raise ValueError('model: unknown or unset meta-architecture %r' % which)


def _hyperparams_fn(config, has_config, op, is_training):
  """arg_scope fn from a Hyperparams message, or the defaults for op."""
  if not has_config:
    config = hyperparams_pb2.Hyperparams(op=op)
  return hyperparams_builder.build(config, is_training)


def _stage_losses(loss_config):
  return stage_ops.StageLosses(*losses_builder.build(loss_config))


def _stage_target_assigner(config, matcher_field, box_coder):
  """TargetAssigner of a stage: its matcher field on top of its defaults."""
  matcher_config = (getattr(config, matcher_field)
                    if config.HasField(matcher_field) else None)
  matcher = matcher_builder.build(
      matcher_config, tal_net_defaults.MATCHER_DEFAULTS[matcher_field])
  return target_assigner.TargetAssigner(matcher, box_coder)


def _build_tal_net(config, is_training, jit_compile):
  """TalNetMetaArch from a TalNet proto."""
  pipelines = pipelines_lib.pipelines_for_fusion(
      [(s.name, s.feature_dim) for s in config.streams],
      config.fusion == tal_net_pb2.TalNet.LATE)
  pipeline_names = [p.name for p in pipelines]
  box_coder = box_coder_builder.build(config.box_coder)
  reduction_hyperparams_fn = _hyperparams_fn(
      config.feature_reduction_hyperparams,
      config.HasField('feature_reduction_hyperparams'),
      hyperparams_pb2.Hyperparams.CONV, is_training)
  first_stage = _build_proposal_stage(config, pipeline_names, box_coder,
                                      reduction_hyperparams_fn, is_training)
  if is_training or jit_compile:
    # Differentiable, forward and backward each one XLA-compiled loop.
    # Training graphs are never served, so they need no XLA-free path.
    soi_implementation = soi_pooling.XLA_GATHER
  else:  # served anywhere: no XLA, and no gradient needed
    soi_implementation = soi_pooling.CROP_AND_RESIZE
  second_stage = _build_classifier_stage(config, pipeline_names, box_coder,
                                         reduction_hyperparams_fn, is_training,
                                         soi_implementation)
  return tal_net_meta_arch.TalNetMetaArch(
      is_training=is_training, pipelines=pipelines,
      proposal_stage=first_stage, classifier_stage=second_stage)


def _build_proposal_stage(config, pipeline_names, box_coder,
                          reduction_hyperparams_fn, is_training):
  """ProposalStage: anchors, SPNs, anchor targets, proposal NMS, losses."""
  generator_config = config.first_stage_anchor_generator
  spn_config = config.segment_proposal_network
  spn_factory = functools.partial(
      spn_towers.SegmentProposalNetwork,
      tower_type=spn_config.tower_type,
      use_context=spn_config.use_context,
      anchor_scales=list(
          generator_config.multiscale_temporal_anchor_generator.scales),
      depth=spn_config.depth,
      conv_hyperparams_fn=_hyperparams_fn(
          spn_config.conv_hyperparams, spn_config.HasField('conv_hyperparams'),
          hyperparams_pb2.Hyperparams.CONV, is_training),
      is_training=is_training,
      head_dropout_rate=spn_config.head_dropout_rate)
  # Class-agnostic: the proposals are scored and suppressed as one class.
  proposal_nms_fn = functools.partial(
      post_processing.batch_multiclass_non_max_suppression,
      score_thresh=config.first_stage_nms_score_threshold,
      iou_thresh=config.first_stage_nms_iou_threshold,
      max_size_per_class=config.first_stage_max_proposals,
      max_total_size=config.first_stage_max_proposals)
  return proposal_stage.ProposalStage(
      pipeline_names=pipeline_names,
      reduce_features_fn=functools.partial(
          feature_reduction.reduce_features,
          depth=config.feature_reduction_depth,
          hyperparams_fn=reduction_hyperparams_fn),
      spn_factory=spn_factory,
      anchor_generator=anchor_generator_builder.build(generator_config),
      box_coder=box_coder,
      target_assigner=_stage_target_assigner(config, 'first_stage_matcher',
                                             box_coder),
      sampler=sampler.BalancedPositiveNegativeSampler(
          config.first_stage_positive_balance_fraction),
      minibatch_size=config.first_stage_minibatch_size,
      proposal_nms_fn=proposal_nms_fn,
      losses=_stage_losses(config.first_stage_loss))


def _build_classifier_stage(config, pipeline_names, box_coder,
                            reduction_hyperparams_fn, is_training,
                            soi_implementation):
  """ClassifierStage: SoI pooling, classifiers, proposal targets, NMS, losses."""
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
      is_training=is_training,
      dropout_rate=config.second_stage_dropout_rate)
  nms_fn, score_fn = post_processing_builder.build(
      config.second_stage_post_processing)
  return classifier_stage.ClassifierStage(
      pipeline_names=pipeline_names,
      num_classes=config.num_classes,
      soi_pooling_fn=functools.partial(
          soi_pooling.soi_pooling,
          crop_size=config.initial_crop_size,
          context_ratio=config.soi_context_ratio,
          maxpool_kernel_size=config.maxpool_kernel_size,
          maxpool_stride=config.maxpool_stride,
          implementation=soi_implementation),
      # Only CROP_AND_RESIZE writes every sample before its max-pool; XLA's
      # loop writes the pooled bins alone.
      proposals_per_chunk_fn=functools.partial(
          soi_pooling.proposals_per_chunk,
          crop_size=config.initial_crop_size,
          maxpool_kernel_size=config.maxpool_kernel_size,
          maxpool_stride=config.maxpool_stride)
      if soi_implementation == soi_pooling.CROP_AND_RESIZE else None,
      box_classifier_factory=box_classifier_factory,
      box_coder=box_coder,
      target_assigner=_stage_target_assigner(config, 'second_stage_matcher',
                                             box_coder),
      sampler=sampler.BalancedPositiveNegativeSampler(
          config.second_stage_balance_fraction),
      batch_size=config.second_stage_batch_size,
      non_max_suppression_fn=nms_fn,
      score_conversion_fn=score_fn,
      losses=_stage_losses(config.second_stage_loss))
