"""Tests for tal_detection.utils.config_validation (through config_util)."""
import math
import os

from google.protobuf import text_format
import pytest

from tal_detection.metrics import temporal_detection_evaluator
from tal_detection.protos import eval_pb2
from tal_detection.protos import pipeline_pb2
from tal_detection.protos import tal_net_pb2
from tal_detection.utils import config_util
from tal_detection.utils import config_validation

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAIN_CONFIG = os.path.join(REPO, 'configs', 'thumos14_i3d_tal_net.config')
TalNet = tal_net_pb2.TalNet
SPN = tal_net_pb2.SegmentProposalNetwork


def _main_pipeline():
  return config_util.read_pipeline_config(MAIN_CONFIG)


def _assert_one_line_error(error, prefix):
  message = str(error)
  assert '\n' not in message and '\r' not in message, message
  assert message.startswith(prefix), message
  return message


# ---------------------------------------------------------------------------
# Validation: one line "<path>: <field path>: <why>".

T = 'model.tal_net.'
NAN = float('nan')


def _clear(*dotted):
  """Mutation clearing the field at a dotted path."""
  def mutate(pipeline):
    parent = pipeline
    *parents, name = dotted[0].split('.')
    for part in parents:
      parent = getattr(parent, part)
    parent.ClearField(name)
  return mutate


def _set(dotted, value):
  def mutate(pipeline):
    parent = pipeline
    *parents, name = dotted.split('.')
    for part in parents:
      parent = getattr(parent, part)
    setattr(parent, name, value)
  return mutate


def _add_stream(name, dim=1024):
  def mutate(pipeline):
    pipeline.model.tal_net.streams.add(name=name, feature_dim=dim)
  return mutate


_SCALES = T + ('first_stage_anchor_generator.'
               'multiscale_temporal_anchor_generator.scales')
_ADAM = 'train_config.optimizer.adam_optimizer'

# (id, mutation: override text or function, expected "<field>: <why>" start)
BAD_CASES = [
    ('no_model', _clear('model'), 'model: missing'),
    ('model_without_tal_net', lambda p: p.model.ClearField('tal_net') or
     p.model.SetInParent(), 'model: names no meta-architecture'),
    ('no_num_classes', _clear(T + 'num_classes'),
     T + 'num_classes: missing'),
    ('zero_classes', 'model { tal_net { num_classes: 0 } }',
     T + 'num_classes: must be >= 1, got 0'),
    ('no_streams', _clear(T + 'streams'), T + 'streams: none given'),
    ('three_streams', _add_stream('audio'),
     T + 'streams: 3 streams given; TAL-Net takes one or two'),
    ('duplicate_stream', 'model { tal_net { streams { name: "rgb" } '
     'streams { name: "rgb" } } }',
     T + "streams[1].name: duplicate stream name 'rgb'"),
    ('unnamed_stream', 'model { tal_net { streams { feature_dim: 3 } } }',
     T + 'streams[0].name: missing'),
    ('bad_stream_name', 'model { tal_net { streams { name: "rgb/x" } } }',
     T + "streams[0].name: 'rgb/x' may only contain"),
    ('zero_feature_dim', 'model { tal_net { streams { name: "rgb" } '
     'streams { name: "flow" feature_dim: 0 } } }',
     T + 'streams[1].feature_dim: must be >= 1, got 0'),
    ('zero_reduction_depth', 'model { tal_net { feature_reduction_depth: 0 } }',
     T + 'feature_reduction_depth: must be >= 1, got 0'),
    ('zero_spn_depth', 'model { tal_net { segment_proposal_network { '
     'depth: -4 } } }',
     T + 'segment_proposal_network.depth: must be >= 1, got -4'),
    ('zero_fc_depth', 'model { tal_net { second_stage_fc_depth: 0 } }',
     T + 'second_stage_fc_depth: must be >= 1, got 0'),
    ('no_anchor_generator', _clear(T + 'first_stage_anchor_generator'),
     T + 'first_stage_anchor_generator: missing'),
    ('empty_anchor_scales', _clear(_SCALES), _SCALES + ': empty'),
    ('negative_anchor_scale', 'model { tal_net { first_stage_anchor_generator {'
     ' multiscale_temporal_anchor_generator { scales: 1 scales: 2 scales: -3 } '
     '} } }', _SCALES + '[2]: must be > 0, got -3'),
    ('zero_anchor_scale', 'model { tal_net { first_stage_anchor_generator {'
     ' multiscale_temporal_anchor_generator { scales: 0 } } } }',
     _SCALES + '[0]: must be > 0, got 0'),
    ('duplicate_anchor_scale', 'model { tal_net { first_stage_anchor_generator'
     ' { multiscale_temporal_anchor_generator { scales: 4 scales: 8 scales: 4 }'
     ' } } }', _SCALES + '[2]: duplicate scale 4'),
    ('zero_anchor_stride', 'model { tal_net { first_stage_anchor_generator { '
     'multiscale_temporal_anchor_generator { stride: 0 } } } }',
     T + 'first_stage_anchor_generator.multiscale_temporal_anchor_generator.'
     'stride: must be > 0, got 0'),
    ('zero_box_coder_scale', 'model { tal_net { box_coder { '
     'center_length_box_coder { length_scale: 0 } } } }',
     T + 'box_coder.center_length_box_coder.length_scale: must be > 0, got 0'),
    ('matched_threshold_above_1', 'model { tal_net { first_stage_matcher { '
     'argmax_matcher { matched_threshold: 1.5 } } } }',
     T + 'first_stage_matcher.argmax_matcher.matched_threshold: must be in '
     '[0, 1], got 1.5'),
    ('negative_unmatched_threshold', 'model { tal_net { second_stage_matcher { '
     'argmax_matcher { unmatched_threshold: -0.1 } } } }',
     T + 'second_stage_matcher.argmax_matcher.unmatched_threshold: must be in '
     '[0, 1], got -0.1'),
    ('second_stage_partial_matcher_below_its_default',
     'model { tal_net { second_stage_matcher { argmax_matcher { '
     'matched_threshold: 0.45 } } } }',
     T + 'second_stage_matcher.argmax_matcher.unmatched_threshold: 0.5 is '
     'larger than matched_threshold 0.45'),
    ('first_stage_partial_matcher_below_its_default',
     'model { tal_net { first_stage_matcher { argmax_matcher { '
     'matched_threshold: 0.25 } } } }',
     T + 'first_stage_matcher.argmax_matcher.unmatched_threshold: 0.3 is '
     'larger than matched_threshold 0.25'),
    ('unmatched_above_matched', 'model { tal_net { first_stage_matcher { '
     'argmax_matcher { unmatched_threshold: 0.8 } } } }',
     T + 'first_stage_matcher.argmax_matcher.unmatched_threshold: 0.8 is '
     'larger than matched_threshold 0.7'),
    ('negative_nms_threshold',
     'model { tal_net { first_stage_nms_iou_threshold: -0.5 } }',
     T + 'first_stage_nms_iou_threshold: must be in [0, 1], got -0.5'),
    ('nan_nms_threshold', _set(T + 'first_stage_nms_iou_threshold', NAN),
     T + 'first_stage_nms_iou_threshold: must be in [0, 1], got nan'),
    ('negative_proposal_score_threshold',
     'model { tal_net { first_stage_nms_score_threshold: -0.01 } }',
     T + 'first_stage_nms_score_threshold: must be in [0, 1], got -0.01'),
    ('negative_detection_score_threshold',
     'model { tal_net { second_stage_post_processing { '
     'batch_non_max_suppression { score_threshold: -1 } } } }',
     T + 'second_stage_post_processing.batch_non_max_suppression.'
     'score_threshold: must be in [0, 1], got -1'),
    ('negative_detection_score_threshold_identity',
     'model { tal_net { second_stage_post_processing { score_converter: '
     'IDENTITY batch_non_max_suppression { score_threshold: -1 } } } }',
     T + 'second_stage_post_processing.batch_non_max_suppression.'
     'score_threshold: must be >= 0, got -1'),
    ('detection_nms_threshold_above_1',
     'model { tal_net { second_stage_post_processing { '
     'batch_non_max_suppression { iou_threshold: 1.2 } } } }',
     T + 'second_stage_post_processing.batch_non_max_suppression.'
     'iou_threshold: must be in [0, 1], got 1.2'),
    ('zero_max_detections', 'model { tal_net { second_stage_post_processing { '
     'batch_non_max_suppression { max_detections_per_class: 0 } } } }',
     T + 'second_stage_post_processing.batch_non_max_suppression.'
     'max_detections_per_class: must be >= 1, got 0'),
    ('zero_logit_scale', 'model { tal_net { second_stage_post_processing { '
     'logit_scale: 0 } } }',
     T + 'second_stage_post_processing.logit_scale: must be > 0, got 0'),
    ('zero_first_stage_minibatch',
     'model { tal_net { first_stage_minibatch_size: 0 } }',
     T + 'first_stage_minibatch_size: must be >= 1, got 0'),
    ('zero_positive_fraction',
     'model { tal_net { first_stage_positive_balance_fraction: 0 } }',
     T + 'first_stage_positive_balance_fraction: must be in (0, 1], got 0'),
    ('positive_fraction_above_1',
     'model { tal_net { first_stage_positive_balance_fraction: 1.5 } }',
     T + 'first_stage_positive_balance_fraction: must be in (0, 1], got 1.5'),
    ('zero_max_proposals', 'model { tal_net { first_stage_max_proposals: 0 } }',
     T + 'first_stage_max_proposals: must be >= 1, got 0'),
    ('second_stage_batch_above_proposals',
     'model { tal_net { second_stage_batch_size: 512 } }',
     T + 'second_stage_batch_size: 512 is larger than '
     'first_stage_max_proposals (300)'),
    ('zero_second_stage_batch', 'model { tal_net { second_stage_batch_size: 0 '
     '} }', T + 'second_stage_batch_size: must be >= 1, got 0'),
    ('second_stage_fraction_above_1',
     'model { tal_net { second_stage_balance_fraction: 2 } }',
     T + 'second_stage_balance_fraction: must be in (0, 1], got 2'),
    ('crop_smaller_than_maxpool', 'model { tal_net { initial_crop_size: 2 '
     'maxpool_kernel_size: 4 } }',
     T + 'initial_crop_size: 2 is smaller than maxpool_kernel_size (4)'),
    ('zero_maxpool_stride', 'model { tal_net { maxpool_stride: 0 } }',
     T + 'maxpool_stride: must be >= 1, got 0'),
    ('negative_soi_context', 'model { tal_net { soi_context_ratio: -0.5 } }',
     T + 'soi_context_ratio: must be >= 0, got -0.5'),
    ('negative_max_train_length', 'model { tal_net { max_train_length: -1 } }',
     T + 'max_train_length: must be >= 0, got -1'),
    ('max_train_length_below_largest_scale',
     'model { tal_net { max_train_length: 8 } }',
     T + 'max_train_length: 8 is shorter than the largest anchor scale (16)'),
    ('negative_loss_weight', 'model { tal_net { first_stage_loss { '
     'localization_weight: -1 } } }',
     T + 'first_stage_loss.localization_weight: must be >= 0, got -1'),
    ('zero_smooth_l1_delta', 'model { tal_net { second_stage_loss { '
     'localization_loss { weighted_smooth_l1 { delta: 0 } } } } }',
     T + 'second_stage_loss.localization_loss.weighted_smooth_l1.delta: '
     'must be > 0, got 0'),
    ('fc_op_on_conv_hyperparams', 'model { tal_net { '
     'feature_reduction_hyperparams { op: FC } } }',
     T + 'feature_reduction_hyperparams.op: is FC, but these hyperparams drive '
     'conv1d layers'),
    ('conv_op_on_fc_hyperparams', 'model { tal_net { '
     'second_stage_fc_hyperparams { op: CONV } } }',
     T + 'second_stage_fc_hyperparams.op: is CONV, but these hyperparams drive '
     'fully connected layers'),
    ('negative_regularizer', 'model { tal_net { segment_proposal_network { '
     'conv_hyperparams { regularizer { l2_regularizer { weight: -1 } } } } } }',
     T + 'segment_proposal_network.conv_hyperparams.regularizer.'
     'l2_regularizer.weight: must be >= 0, got -1'),
    ('zero_init_stddev', 'model { tal_net { segment_proposal_network { '
     'conv_hyperparams { initializer { truncated_normal_initializer { '
     'stddev: 0 } } } } } }',
     T + 'segment_proposal_network.conv_hyperparams.initializer.'
     'truncated_normal_initializer.stddev: must be > 0, got 0'),
    ('no_train_config', _clear('train_config'), 'train_config: missing'),
    ('no_optimizer', _clear('train_config.optimizer'),
     'train_config.optimizer: missing'),
    ('no_learning_rate', _clear(_ADAM + '.learning_rate'),
     _ADAM + '.learning_rate: missing'),
    ('zero_learning_rate', 'train_config { optimizer { adam_optimizer { '
     'learning_rate { constant_learning_rate { learning_rate: 0 } } } } }',
     _ADAM + '.learning_rate.constant_learning_rate.learning_rate: must be > 0,'
     ' got 0'),
    ('manual_steps_not_increasing', 'train_config { optimizer { '
     'adam_optimizer { learning_rate { manual_step_learning_rate { '
     'schedule { step: 100 } schedule { step: 50 } } } } } }',
     _ADAM + '.learning_rate.manual_step_learning_rate.schedule[1].step: 50 '
     'does not come after the previous step (100)'),
    ('cosine_total_steps_within_warmup', 'train_config { optimizer { '
     'adam_optimizer { learning_rate { cosine_decay_learning_rate { '
     'total_steps: 100 warmup_steps: 100 } } } } }',
     _ADAM + '.learning_rate.cosine_decay_learning_rate.total_steps: 100 must '
     'be larger than warmup_steps + hold_base_rate_steps (100)'),
    ('adam_beta1_of_1', 'train_config { optimizer { adam_optimizer { '
     'beta1: 1 } } }', _ADAM + '.beta1: must be in [0, 1), got 1'),
    ('zero_train_batch', 'train_config { batch_size: 0 }',
     'train_config.batch_size: must be >= 1, got 0'),
    ('negative_gradient_clipping',
     'train_config { gradient_clipping_by_norm: -1 }',
     'train_config.gradient_clipping_by_norm: must be >= 0, got -1'),
    ('unknown_fine_tune_type',
     'train_config { fine_tune_checkpoint_type: "classification" }',
     "train_config.fine_tune_checkpoint_type: 'classification' is not one of "
     'detection, feature_reduction'),
    ('bad_freeze_regex', 'train_config { freeze_variables: "spn/(" }',
     "train_config.freeze_variables[0]: 'spn/(' is not a valid regular "
     'expression'),
    ('eval_tiou_zero', 'eval_config { detection_tiou_thresholds: 0.5 '
     'detection_tiou_thresholds: 0 }',
     'eval_config.detection_tiou_thresholds[1]: must be in (0, 1], got 0'),
    ('eval_tiou_above_1', 'eval_config { detection_tiou_thresholds: 1.5 }',
     'eval_config.detection_tiou_thresholds[0]: must be in (0, 1], got 1.5'),
    ('eval_tiou_duplicate', 'eval_config { detection_tiou_thresholds: 0.5 '
     'detection_tiou_thresholds: 0.5 }',
     'eval_config.detection_tiou_thresholds[1]: duplicate threshold 0.5'),
    ('proposal_tiou_negative', 'eval_config { proposal_tiou_thresholds: -0.5 }',
     'eval_config.proposal_tiou_thresholds[0]: must be in (0, 1], got -0.5'),
    ('zero_average_number_of_proposals',
     'eval_config { average_number_of_proposals: 0 }',
     'eval_config.average_number_of_proposals[0]: must be >= 1, got 0'),
    ('unknown_metrics_set', 'eval_config { metrics_set: "coco" }',
     "eval_config.metrics_set[0]: 'coco' is not one of detection_metrics, "
     'proposal_metrics'),
    ('zero_eval_batch', 'eval_config { batch_size: 0 }',
     'eval_config.batch_size: must be >= 1, got 0'),
    ('eval_moving_averages_without_training_them',
     'eval_config { use_moving_averages: true }',
     'eval_config.use_moving_averages: true, but train_config.optimizer.'
     'use_moving_average is false'),
    ('reader_without_source', _clear('eval_input_reader.tf_record_input_reader'),
     'eval_input_reader: names no input source'),
    ('reader_without_paths',
     _clear('train_input_reader.tf_record_input_reader.input_path'),
     'train_input_reader.tf_record_input_reader.input_path: empty'),
    ('zero_sample_1_of_n', 'eval_input_reader { sample_1_of_n_examples: 0 }',
     'eval_input_reader.sample_1_of_n_examples: must be >= 1, got 0'),
    # Regularisation and augmentation (issue 13).
    ('spn_head_dropout_of_1', 'model { tal_net { segment_proposal_network { '
     'head_dropout_rate: 1 } } }',
     T + 'segment_proposal_network.head_dropout_rate: must be in [0, 1), got 1'),
    ('negative_second_stage_dropout',
     'model { tal_net { second_stage_dropout_rate: -0.1 } }',
     T + 'second_stage_dropout_rate: must be in [0, 1), got -0.1'),
    ('feature_dropout_of_1',
     'train_config { feature_augmentation { feature_dropout_rate: 1 } }',
     'train_config.feature_augmentation.feature_dropout_rate: must be in '
     '[0, 1), got 1'),
    ('negative_noise',
     'train_config { feature_augmentation { gaussian_noise_stddev: -0.5 } }',
     'train_config.feature_augmentation.gaussian_noise_stddev: must be >= 0, '
     'got -0.5'),
    ('nan_noise', lambda p: setattr(
        p.train_config.feature_augmentation, 'gaussian_noise_stddev', NAN),
     'train_config.feature_augmentation.gaussian_noise_stddev: must be >= 0, '
     'got nan'),
    ('jitter_of_1',
     'train_config { feature_augmentation { temporal_scale_jitter: 1 } }',
     'train_config.feature_augmentation.temporal_scale_jitter: must be in '
     '[0, 1), got 1'),
    ('zero_replicas', 'train_config { num_replicas: 0 }',
     'train_config.num_replicas: must be >= 1, got 0'),
    ('batch_not_divisible_by_replicas',
     'train_config { batch_size: 3 num_replicas: 2 }',
     'train_config.batch_size: 3 is not divisible by num_replicas (2)'),
    # The best checkpoint's metric (issue 13).
    ('unknown_best_metric',
     'eval_config { best_checkpoint_metric: "DetectionMetrics/mAP@0.55IOU" }',
     "eval_config.best_checkpoint_metric: 'DetectionMetrics/mAP@0.55IOU' is "
     'not reported by this evaluation; one of DetectionMetrics/mAP@0.1IOU, '),
    ('best_map_without_detection_metrics',
     'eval_config { metrics_set: "proposal_metrics" }',
     "eval_config.best_checkpoint_metric: 'DetectionMetrics/mAP@0.5IOU' is "
     'not reported by this evaluation; one of ProposalMetrics/AR@10, '),
    ('best_ar_at_an_not_evaluated',
     'eval_config { average_number_of_proposals: 50 '
     'best_checkpoint_metric: "ProposalMetrics/AR@100" }',
     "eval_config.best_checkpoint_metric: 'ProposalMetrics/AR@100' is not "
     'reported'),
    ('best_per_class_without_per_class',
     'eval_config { include_metrics_per_category: false best_checkpoint_metric:'
     ' "DetectionMetrics_PerClass/AP@0.5IOU/BaseballPitch" }',
     'eval_config.best_checkpoint_metric: '
     "'DetectionMetrics_PerClass/AP@0.5IOU/BaseballPitch' is not reported"),
    ('best_loss_misspelt',
     'eval_config { best_checkpoint_metric: "Loss/total" '
     'best_checkpoint_higher_is_better: false }',
     "eval_config.best_checkpoint_metric: 'Loss/total' is not reported"),
    ('best_loss_higher_is_better',
     'eval_config { best_checkpoint_metric: "Loss/SPNLoss/objectness_loss" }',
     'eval_config.best_checkpoint_higher_is_better: true with '
     'Loss/SPNLoss/objectness_loss: a loss is better when lower'),
    ('best_map_lower_is_better',
     'eval_config { best_checkpoint_higher_is_better: false }',
     'eval_config.best_checkpoint_higher_is_better: false with '
     'DetectionMetrics/mAP@0.5IOU: a metric is better when higher'),
]


@pytest.mark.parametrize('mutation, expected',
                         [case[1:] for case in BAD_CASES],
                         ids=[case[0] for case in BAD_CASES])
def test_inconsistent_config_gives_one_line_naming_the_field(mutation,
                                                             expected):
  pipeline = _main_pipeline()
  if callable(mutation):
    mutation(pipeline)
  else:
    config_util.merge_config_override(pipeline, mutation)
  with pytest.raises(config_util.ConfigError) as info:
    config_util.validate_pipeline_config(pipeline, 'configs/x.config')
  _assert_one_line_error(info.value, 'configs/x.config: ' + expected)


def test_validation_errors_are_value_errors_with_a_default_path():
  pipeline = pipeline_pb2.TrainEvalPipelineConfig()
  with pytest.raises(ValueError) as info:
    config_util.validate_pipeline_config(pipeline)
  assert str(info.value).startswith('<config>: model: missing')


@pytest.mark.parametrize('mutation', [
    # One stream ignores fusion, EARLY included.
    'model { tal_net { streams { name: "rgb" } fusion: EARLY } }',
    # Hyperparams without an explicit op scope every layer type.
    'model { tal_net { second_stage_fc_hyperparams { op: FC } } }',
    # Windows exactly as long as the largest anchor.
    'model { tal_net { max_train_length: 16 } }',
    # Equal thresholds (no ignored band) and ignore_thresholds.
    'model { tal_net { first_stage_matcher { argmax_matcher { '
    'matched_threshold: 0.5 unmatched_threshold: 0.5 } } } }',
    'model { tal_net { first_stage_matcher { argmax_matcher { '
    'ignore_thresholds: true unmatched_threshold: 0.9 } } } }',
    # Second-stage batch equal to the proposals.
    'model { tal_net { second_stage_batch_size: 300 } }',
    'eval_config { use_moving_averages: true } train_config { optimizer { '
    'use_moving_average: true } }',
    'train_config { optimizer { adam_optimizer { learning_rate { '
    'manual_step_learning_rate { schedule { step: 10 } schedule { step: 20 } '
    'warmup: true } } } } }',
    'train_config { batch_size: 4 num_replicas: 2 feature_augmentation { '
    'feature_dropout_rate: 0.5 gaussian_noise_stddev: 2 '
    'temporal_scale_jitter: 0.9 } precision: MIXED_FLOAT16 } model { tal_net '
    '{ second_stage_dropout_rate: 0.5 segment_proposal_network { '
    'head_dropout_rate: 0.99 } } }',
    'eval_config { best_checkpoint_metric: "Loss/total_loss" '
    'best_checkpoint_higher_is_better: false }',
    'eval_config { best_checkpoint_metric: "ProposalMetrics/AR@100" }',
    'eval_config { best_checkpoint_metric: "DetectionMetrics/average_mAP" }',
    'eval_config { detection_tiou_thresholds: 0.55 best_checkpoint_metric: '
    '"DetectionMetrics/mAP@0.55IOU" }',
    'eval_config { best_checkpoint_metric: '
    '"DetectionMetrics_PerClass/AP@0.5IOU/BaseballPitch" }',
], ids=['one_stream_early_fusion', 'fc_op', 'max_train_length_equal_scale',
        'equal_matcher_thresholds', 'ignore_thresholds',
        'batch_equal_proposals', 'moving_averages', 'manual_steps',
        'regularisation_in_range', 'best_by_loss', 'best_by_ar',
        'best_by_average_map', 'best_by_configured_tiou', 'best_by_class_ap'])
def test_accepted_edge_cases(mutation):
  pipeline = _main_pipeline()
  config_util.merge_config_override(pipeline, mutation)
  config_util.validate_pipeline_config(pipeline)


def test_readers_and_eval_config_are_optional():
  pipeline = _main_pipeline()
  for field in ('train_input_reader', 'eval_input_reader', 'eval_config'):
    pipeline.ClearField(field)
  config_util.validate_pipeline_config(pipeline)
  pipeline.model.tal_net.ClearField('second_stage_fc_hyperparams')
  pipeline.model.tal_net.feature_reduction_hyperparams.ClearField('op')
  config_util.validate_pipeline_config(pipeline)


def test_nan_and_infinity_are_rejected_where_finite_values_are_needed():
  pipeline = _main_pipeline()
  pipeline.model.tal_net.soi_context_ratio = math.inf
  with pytest.raises(config_util.ConfigError,
                     match='soi_context_ratio: must be >= 0, got inf'):
    config_util.validate_pipeline_config(pipeline)


@pytest.mark.parametrize('field, matched, default_unmatched', [
    ('first_stage_matcher', 0.25, 0.3), ('second_stage_matcher', 0.45, 0.5)])
def test_a_partial_matcher_is_checked_with_its_stages_defaults(
    field, matched, default_unmatched):
  pipeline = _main_pipeline()
  matcher = getattr(pipeline.model.tal_net, field)
  matcher.Clear()
  config_util.validate_pipeline_config(pipeline)  # absent: the stage default
  matcher.argmax_matcher.matched_threshold = matched
  with pytest.raises(config_util.ConfigError) as info:
    config_util.validate_pipeline_config(pipeline, 'x.config')
  assert str(info.value) == (
      "x.config: model.tal_net.%s.argmax_matcher.unmatched_threshold: %g "
      "(this stage's default) is larger than matched_threshold %g" % (
          field, default_unmatched, matched))
  matcher.argmax_matcher.unmatched_threshold = matched
  config_util.validate_pipeline_config(pipeline)


@pytest.mark.parametrize('eval_text', [
    '',
    'detection_tiou_thresholds: 0.3 detection_tiou_thresholds: 0.55 '
    'average_number_of_proposals: 7 average_number_of_proposals: 300',
    'metrics_set: "proposal_metrics"',
    'metrics_set: "detection_metrics" detection_tiou_thresholds: 0.95',
])
def test_best_checkpoint_metric_names_are_the_evaluators(eval_text):
  """The selectable names are what the evaluator reports, plus the losses."""
  eval_config = text_format.Parse(eval_text, eval_pb2.EvalConfig())
  evaluator = temporal_detection_evaluator.evaluator_from_eval_config(
      eval_config, [{'id': 1, 'name': 'a'}, {'id': 2, 'name': 'b'}])
  reported = [name for name in evaluator.metric_names()
              if not name.startswith('DetectionMetrics_PerClass/')]
  assert config_validation.best_checkpoint_metric_names(eval_config) == (
      reported + list(config_validation.EVAL_LOSS_NAMES))
