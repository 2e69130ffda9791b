"""Pipeline config validation: every rule a config must satisfy, once.

`validate_pipeline_config` checks a whole TrainEvalPipelineConfig for missing
or inconsistent values and raises ConfigError with ONE line
`<file>: <field path>: <why>` for the first problem. config_util.load_pipeline
calls it on the effective config (file + fragments + flags), so the builders,
input functions and tools receive only configs that passed; they do not
re-check these rules.

Choices worth knowing:
  * A single stream ignores `fusion`: LATE (the default) and EARLY both mean
    "one pipeline on that stream", so EARLY with one stream is accepted.
  * Hyperparams whose `op` is set must name the op of the layers they drive
    (CONV for feature reduction and SPN convs, FC for second-stage FCs);
    leaving `op` out is fine (the builder then scopes both).
  * The input readers and eval_config are optional (export-only configs), but a
    reader that is present must name at least one input path.
"""
import math
import re

from tal_detection.meta_architectures import tal_net_defaults
from tal_detection.metrics import detection_evaluation
from tal_detection.metrics import metric_names
from tal_detection.metrics import proposal_evaluation
from tal_detection.protos import hyperparams_pb2
from tal_detection.protos import pipeline_pb2
from tal_detection.protos import post_processing_pb2

_FINE_TUNE_CHECKPOINT_TYPES = ('detection', 'feature_reduction')
_METRICS_SETS = ('detection_metrics', 'proposal_metrics')
# Stream names become record keys (features/<name>) and variable scopes.
# The losses an evaluation reports as mean values beside the metrics: each of
# TalNetMetaArch.loss's and model_lib's total (Loss/regularization_loss only
# exists with weight regularizers, and is no measure of a checkpoint).
# tests/test_best_checkpoint.py checks a real evaluation reports every one.
EVAL_LOSS_NAMES = (
    'Loss/SPNLoss/localization_loss', 'Loss/SPNLoss/objectness_loss',
    'Loss/BoxClassifierLoss/localization_loss',
    'Loss/BoxClassifierLoss/classification_loss', 'Loss/total_loss')
_STREAM_NAME_PATTERN = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.-]*$')


class ConfigError(ValueError):
  """A pipeline config that cannot be used. str() is one line naming the file."""


def one_line(text):
  """Collapses newlines (and runs of whitespace around them) into spaces."""
  return re.sub(r'\s*[\r\n]+\s*', ' ', str(text)).strip()


def _fmt(value):
  """Numbers as a person would write them (float32 0.699999988 -> 0.7)."""
  if isinstance(value, float):
    return '%g' % value
  return repr(value) if isinstance(value, str) else str(value)


class _Checker(object):
  """Raises ConfigError "<path>: <field>: <why>" for the first problem found."""

  def __init__(self, path):
    self._path = path

  def fail(self, field, why):
    raise ConfigError('%s: %s: %s' % (self._path, field, one_line(why)))

  def at_least(self, value, field, minimum):
    if not value >= minimum:
      self.fail(field, 'must be >= %s, got %s' % (_fmt(minimum), _fmt(value)))

  def interval(self, value, field, low, high, low_open=False, high_open=False):
    """value must lie in the interval; NaN and infinities always fail."""
    ok = math.isfinite(value)
    if low is not None:
      ok = ok and (value > low if low_open else value >= low)
    if high is not None:
      ok = ok and (value < high if high_open else value <= high)
    if ok:
      return
    if low is None and high is None:
      rule = 'finite'
    elif low is not None and high is not None:
      rule = 'in %s%s, %s%s' % ('(' if low_open else '[', _fmt(low),
                                _fmt(high), ')' if high_open else ']')
    elif low is not None:
      rule = '%s %s' % ('>' if low_open else '>=', _fmt(low))
    else:
      rule = '%s %s' % ('<' if high_open else '<=', _fmt(high))
    self.fail(field, 'must be %s, got %s' % (rule, _fmt(value)))

  def finite(self, value, field):
    self.interval(value, field, None, None)

  def positive(self, value, field):
    self.interval(value, field, 0.0, None, low_open=True)

  def non_negative(self, value, field):
    self.interval(value, field, 0.0, None)

  def unit(self, value, field):
    self.interval(value, field, 0.0, 1.0)

  def fraction(self, value, field):
    self.interval(value, field, 0.0, 1.0, low_open=True)

  def unique(self, values, field, what):
    seen = set()
    for i, value in enumerate(values):
      if value in seen:
        self.fail('%s[%d]' % (field, i), 'duplicate %s %s' % (what, _fmt(value)))
      seen.add(value)


def clear_fields_without_effect(pipeline_config):
  """Unsets fields the rules below say mean nothing, so equal models compare equal.

  With one stream `fusion` is ignored (LATE and EARLY both mean one pipeline on
  it), so it is cleared; the ablation planner compares configs as protos.
  """
  which = pipeline_config.model.WhichOneof('model')
  if which == 'tal_net' and len(pipeline_config.model.tal_net.streams) == 1:
    pipeline_config.model.tal_net.ClearField('fusion')
  return pipeline_config


def validate_pipeline_config(pipeline_config, path='<config>'):
  """Checks a pipeline config for missing or inconsistent values.

  Rules (each failure names the full field path and why):
    model: must hold tal_net. tal_net: num_classes set and >= 1; one or two
    streams, each with a unique name (letters, digits, _ . -) and
    feature_dim >= 1 (with one stream `fusion` is ignored, EARLY included);
    feature_reduction_depth, segment_proposal_network.depth,
    second_stage_fc_depth >= 1; hyperparams with an explicit `op` must match
    the layers they drive, regularizer weights >= 0, initializer stddev and
    factor > 0, batch-norm decay in [0, 1] and epsilon > 0; an anchor generator
    with non-empty, positive, distinct scales and stride > 0; box coder scales
    > 0; argmax matcher thresholds in [0, 1] with unmatched <= matched;
    minibatch / batch sizes >= 1; balance fractions in (0, 1]; NMS tIoU and
    score thresholds in [0, 1] (second-stage score threshold only >= 0 with
    the IDENTITY converter); first_stage_max_proposals >= 1 and >=
    second_stage_batch_size; max detections >= 1; loss weights >= 0, smooth-L1
    delta and logit scales > 0; initial_crop_size, maxpool kernel and stride
    >= 1 with initial_crop_size >= maxpool_kernel_size; soi_context_ratio >= 0;
    max_train_length >= 0 and, when > 0, >= the largest anchor scale;
    head_dropout_rate and second_stage_dropout_rate in [0, 1).
    train_config: present, batch_size >= 1, an optimizer with a learning rate
    (rates > 0; decay steps >= 1; manual steps strictly increasing; cosine
    total_steps > warmup + hold, warmup rate <= base), Adam betas in [0, 1),
    momentum in [0, 1), epsilons > 0, moving-average decay in (0, 1),
    gradient_clipping_by_norm >= 0, a known fine_tune_checkpoint_type, regexes
    that compile, keep_checkpoint_every_n_hours > 0, save_checkpoints_steps
    >= 1, num_replicas >= 1 dividing batch_size; feature_augmentation's
    dropout rate and temporal_scale_jitter in [0, 1), noise stddev >= 0.
    Input readers (optional): a tf_record_input_reader with non-empty paths,
    sample_1_of_n_examples, num_readers, read_block_length,
    num_parallel_map_calls >= 1, shuffle buffers >= 1 when shuffling.
    eval_config (optional): batch_size >= 1, known metrics_set names, tIoU
    thresholds in (0, 1] and distinct, AN values >= 1 and distinct;
    use_moving_averages only if training keeps them; best_checkpoint_metric
    one the evaluation reports (best_checkpoint_metric_names, or a per-class
    AP at a configured tIoU when those are included), with
    best_checkpoint_higher_is_better false exactly for losses.

  Args:
    pipeline_config: pipeline_pb2.TrainEvalPipelineConfig.
    path: how the error names the config (usually its file path).

  Raises:
    ConfigError: one line "<path>: <field path>: <why>" for the first problem.
  """
  check = _Checker(path)
  if not isinstance(pipeline_config, pipeline_pb2.TrainEvalPipelineConfig):
    raise ConfigError('%s: expected a TrainEvalPipelineConfig, got %s' %
                      (path, type(pipeline_config).__name__))
  if not pipeline_config.HasField('model'):
    check.fail('model', 'missing; a pipeline needs model { tal_net { ... } }')
  if pipeline_config.model.WhichOneof('model') != 'tal_net':
    check.fail('model', 'names no meta-architecture; expected tal_net { ... }')
  _validate_tal_net(check, pipeline_config.model.tal_net, 'model.tal_net')

  if not pipeline_config.HasField('train_config'):
    check.fail('train_config', 'missing; it must at least name an optimizer')
  _validate_train_config(check, pipeline_config.train_config, 'train_config')

  for field in ('train_input_reader', 'eval_input_reader'):
    if pipeline_config.HasField(field):
      _validate_input_reader(check, getattr(pipeline_config, field), field)

  if pipeline_config.HasField('eval_config'):
    _validate_eval_config(check, pipeline_config.eval_config, 'eval_config')
    if (pipeline_config.eval_config.use_moving_averages and
        not pipeline_config.train_config.optimizer.use_moving_average):
      check.fail('eval_config.use_moving_averages',
                 'true, but train_config.optimizer.use_moving_average is false:'
                 ' training keeps no moving averages to evaluate')


def _validate_tal_net(check, config, prefix):
  """Rules for model.tal_net."""
  f = lambda name: '%s.%s' % (prefix, name)  # pylint: disable=unnecessary-lambda-assignment

  if not config.HasField('num_classes'):
    check.fail(f('num_classes'),
               'missing; set the number of action classes (background '
               'excluded)')
  check.at_least(config.num_classes, f('num_classes'), 1)

  # Streams.
  if not config.streams:
    check.fail(f('streams'),
               'none given; one or two are required, e.g. streams { name: '
               '"rgb" feature_dim: 1024 }')
  if len(config.streams) > 2:
    check.fail(f('streams'), '%d streams given; TAL-Net takes one or two '
               '(e.g. rgb and flow)' % len(config.streams))
  names = []
  for i, stream in enumerate(config.streams):
    field = '%s[%d]' % (f('streams'), i)
    if not stream.name:
      check.fail(field + '.name', 'missing; name the stream (e.g. "rgb" or '
                 '"flow"), as its features are stored in the records')
    if not _STREAM_NAME_PATTERN.match(stream.name):
      check.fail(field + '.name', '%r may only contain letters, digits, '
                 '"_", "." and "-" (and must not start with "." or "-")' %
                 stream.name)
    if stream.name in names:
      check.fail(field + '.name', 'duplicate stream name %r' % stream.name)
    names.append(stream.name)
    check.at_least(stream.feature_dim, field + '.feature_dim', 1)

  check.at_least(config.feature_reduction_depth, f('feature_reduction_depth'), 1)
  _validate_hyperparams(check, config, 'feature_reduction_hyperparams', prefix,
                        hyperparams_pb2.Hyperparams.CONV)

  # Segment Proposal Network.
  spn = config.segment_proposal_network
  check.at_least(spn.depth, f('segment_proposal_network.depth'), 1)
  check.interval(spn.head_dropout_rate,
                 f('segment_proposal_network.head_dropout_rate'), 0.0, 1.0,
                 high_open=True)
  _validate_hyperparams(check, spn, 'conv_hyperparams',
                        f('segment_proposal_network'),
                        hyperparams_pb2.Hyperparams.CONV)

  # Anchors.
  anchor_field = f('first_stage_anchor_generator')
  if (not config.HasField('first_stage_anchor_generator') or
      config.first_stage_anchor_generator.WhichOneof(
          'anchor_generator_oneof') is None):
    check.fail(anchor_field, 'missing; e.g. multiscale_temporal_anchor_generator'
               ' { scales: 1 scales: 2 scales: 3 ... scales: 16 }')
  generator = config.first_stage_anchor_generator.multiscale_temporal_anchor_generator
  generator_field = anchor_field + '.multiscale_temporal_anchor_generator'
  if not generator.scales:
    check.fail(generator_field + '.scales',
               'empty; give at least one anchor scale in feature steps '
               '(paper: 1 2 3 4 5 6 8 11 16)')
  for i, scale in enumerate(generator.scales):
    check.positive(scale, '%s.scales[%d]' % (generator_field, i))
  check.unique(list(generator.scales), generator_field + '.scales', 'scale')
  check.positive(generator.stride, generator_field + '.stride')
  check.finite(generator.offset, generator_field + '.offset')
  largest_scale = max(generator.scales)

  if config.box_coder.HasField('center_length_box_coder'):
    coder = config.box_coder.center_length_box_coder
    coder_field = f('box_coder.center_length_box_coder')
    check.positive(coder.center_scale, coder_field + '.center_scale')
    check.positive(coder.length_scale, coder_field + '.length_scale')

  # First stage.
  _validate_matcher(check, config, 'first_stage_matcher', prefix)
  check.at_least(config.first_stage_minibatch_size,
                 f('first_stage_minibatch_size'), 1)
  check.fraction(config.first_stage_positive_balance_fraction,
                 f('first_stage_positive_balance_fraction'))
  check.unit(config.first_stage_nms_iou_threshold,
             f('first_stage_nms_iou_threshold'))
  check.unit(config.first_stage_nms_score_threshold,
             f('first_stage_nms_score_threshold'))
  check.at_least(config.first_stage_max_proposals,
                 f('first_stage_max_proposals'), 1)
  _validate_loss(check, config.first_stage_loss, f('first_stage_loss'))

  # SoI pooling.
  check.at_least(config.initial_crop_size, f('initial_crop_size'), 1)
  check.at_least(config.maxpool_kernel_size, f('maxpool_kernel_size'), 1)
  check.at_least(config.maxpool_stride, f('maxpool_stride'), 1)
  if config.initial_crop_size < config.maxpool_kernel_size:
    check.fail(f('initial_crop_size'),
               '%d is smaller than maxpool_kernel_size (%d): SoI pooling would '
               'produce no bins' % (config.initial_crop_size,
                                    config.maxpool_kernel_size))
  check.non_negative(config.soi_context_ratio, f('soi_context_ratio'))

  # Second stage.
  check.at_least(config.second_stage_fc_depth, f('second_stage_fc_depth'), 1)
  check.interval(config.second_stage_dropout_rate,
                 f('second_stage_dropout_rate'), 0.0, 1.0, high_open=True)
  _validate_hyperparams(check, config, 'second_stage_fc_hyperparams', prefix,
                        hyperparams_pb2.Hyperparams.FC)
  _validate_matcher(check, config, 'second_stage_matcher', prefix)
  check.at_least(config.second_stage_batch_size,
                 f('second_stage_batch_size'), 1)
  if config.second_stage_batch_size > config.first_stage_max_proposals:
    check.fail(f('second_stage_batch_size'),
               '%d is larger than first_stage_max_proposals (%d): the second '
               'stage samples its minibatch from the proposals' %
               (config.second_stage_batch_size,
                config.first_stage_max_proposals))
  check.fraction(config.second_stage_balance_fraction,
                 f('second_stage_balance_fraction'))
  _validate_post_processing(check, config.second_stage_post_processing,
                            f('second_stage_post_processing'))
  _validate_loss(check, config.second_stage_loss, f('second_stage_loss'))

  check.at_least(config.max_train_length, f('max_train_length'), 0)
  if 0 < config.max_train_length < largest_scale:
    check.fail(f('max_train_length'),
               '%d is shorter than the largest anchor scale (%s): training '
               'windows could not hold such anchors (0 keeps whole videos)' %
               (config.max_train_length, _fmt(largest_scale)))


def _validate_hyperparams(check, parent, field_name, prefix, expected_op):
  """Rules for a Hyperparams field (only when present)."""
  if not parent.HasField(field_name):
    return
  hyperparams = getattr(parent, field_name)
  field = '%s.%s' % (prefix, field_name)
  op_name = hyperparams_pb2.Hyperparams.Op.Name
  if hyperparams.HasField('op') and hyperparams.op != expected_op:
    check.fail(field + '.op', 'is %s, but these hyperparams drive %s layers; '
               'use op: %s or leave op out' %
               (op_name(hyperparams.op),
                'conv1d' if expected_op == hyperparams_pb2.Hyperparams.CONV
                else 'fully connected', op_name(expected_op)))
  regularizer = hyperparams.regularizer
  which = regularizer.WhichOneof('regularizer_oneof')
  if which is not None:
    check.non_negative(getattr(regularizer, which).weight,
                       '%s.regularizer.%s.weight' % (field, which))
  initializer = hyperparams.initializer
  which = initializer.WhichOneof('initializer_oneof')
  if which in ('truncated_normal_initializer', 'random_normal_initializer'):
    config = getattr(initializer, which)
    check.finite(config.mean, '%s.initializer.%s.mean' % (field, which))
    check.positive(config.stddev, '%s.initializer.%s.stddev' % (field, which))
  elif which == 'variance_scaling_initializer':
    check.positive(initializer.variance_scaling_initializer.factor,
                   field + '.initializer.variance_scaling_initializer.factor')
  if hyperparams.HasField('batch_norm'):
    check.unit(hyperparams.batch_norm.decay, field + '.batch_norm.decay')
    check.positive(hyperparams.batch_norm.epsilon, field + '.batch_norm.epsilon')


def _validate_matcher(check, parent, field_name, prefix):
  """Rules for a stage's matcher, on the settings the builder will use.

  A partial argmax_matcher only replaces the fields it names on top of the
  stage's defaults (meta_architectures/tal_net_defaults.py), so the rules are
  checked on that combination, and a message says which value is a default.
  """
  matcher = getattr(parent, field_name) if parent.HasField(field_name) else None
  if (matcher is not None and
      matcher.WhichOneof('matcher_oneof') not in (None, 'argmax_matcher')):
    return
  defaults = tal_net_defaults.MATCHER_DEFAULTS[field_name]
  settings = tal_net_defaults.argmax_matcher_settings(matcher, defaults)
  given = ({f.name for f, _ in matcher.argmax_matcher.ListFields()}
           if matcher is not None else set())
  field = '%s.%s.argmax_matcher' % (prefix, field_name)
  check.unit(settings['matched_threshold'], field + '.matched_threshold')
  check.unit(settings['unmatched_threshold'], field + '.unmatched_threshold')
  if (not settings['ignore_thresholds'] and
      settings['unmatched_threshold'] > settings['matched_threshold']):
    names = ('unmatched_threshold', 'matched_threshold')
    shown = ['%s%s' % (_fmt(settings[n]), '' if n in given else
                       " (this stage's default)") for n in names]
    check.fail(field + '.unmatched_threshold',
               '%s is larger than matched_threshold %s' % tuple(shown))


def _validate_loss(check, loss, field):
  """Rules for a Loss message."""
  check.non_negative(loss.classification_weight,
                     field + '.classification_weight')
  check.non_negative(loss.localization_weight, field + '.localization_weight')
  if loss.classification_loss.HasField('weighted_softmax'):
    check.positive(loss.classification_loss.weighted_softmax.logit_scale,
                   field + '.classification_loss.weighted_softmax.logit_scale')
  if loss.localization_loss.HasField('weighted_smooth_l1'):
    check.positive(loss.localization_loss.weighted_smooth_l1.delta,
                   field + '.localization_loss.weighted_smooth_l1.delta')


def _validate_post_processing(check, post_processing, field):
  """Rules for the second stage's PostProcessing message."""
  nms = post_processing.batch_non_max_suppression
  nms_field = field + '.batch_non_max_suppression'
  check.unit(nms.iou_threshold, nms_field + '.iou_threshold')
  if (post_processing.score_converter ==
      post_processing_pb2.PostProcessing.IDENTITY):
    check.non_negative(nms.score_threshold, nms_field + '.score_threshold')
  else:
    check.unit(nms.score_threshold, nms_field + '.score_threshold')
  check.at_least(nms.max_detections_per_class,
                 nms_field + '.max_detections_per_class', 1)
  check.at_least(nms.max_total_detections,
                 nms_field + '.max_total_detections', 1)
  check.positive(post_processing.logit_scale, field + '.logit_scale')
  if nms.method == post_processing_pb2.BatchNonMaxSuppression.SOFT_GAUSSIAN:
    check.positive(nms.soft_nms_sigma, nms_field + '.soft_nms_sigma')
  check.at_least(nms.pre_nms_top_k, nms_field + '.pre_nms_top_k', 0)
  if (post_processing.score_converter ==
      post_processing_pb2.PostProcessing.IDENTITY):
    check.non_negative(nms.min_score, nms_field + '.min_score')
  else:
    check.unit(nms.min_score, nms_field + '.min_score')
  check.unit(nms.voting_iou_threshold, nms_field + '.voting_iou_threshold')
  if (0 < nms.pre_nms_top_k < nms.max_detections_per_class):
    check.fail(nms_field + '.pre_nms_top_k',
               '%d is smaller than max_detections_per_class (%d): fewer '
               'candidates than detections asked for (0 keeps all)' %
               (nms.pre_nms_top_k, nms.max_detections_per_class))


def _validate_train_config(check, config, prefix):
  """Rules for train_config."""
  f = lambda name: '%s.%s' % (prefix, name)  # pylint: disable=unnecessary-lambda-assignment
  check.at_least(config.batch_size, f('batch_size'), 1)

  optimizer = config.optimizer
  which = optimizer.WhichOneof('optimizer')
  if which is None:
    check.fail(f('optimizer'), 'missing; set adam_optimizer, '
               'momentum_optimizer or rms_prop_optimizer')
  optimizer_field = f('optimizer.' + which)
  chosen = getattr(optimizer, which)
  if which == 'adam_optimizer':
    check.interval(chosen.beta1, optimizer_field + '.beta1', 0.0, 1.0,
                   high_open=True)
    check.interval(chosen.beta2, optimizer_field + '.beta2', 0.0, 1.0,
                   high_open=True)
    check.positive(chosen.epsilon, optimizer_field + '.epsilon')
  elif which == 'momentum_optimizer':
    check.interval(chosen.momentum_optimizer_value,
                   optimizer_field + '.momentum_optimizer_value', 0.0, 1.0,
                   high_open=True)
  elif which == 'rms_prop_optimizer':
    check.interval(chosen.momentum_optimizer_value,
                   optimizer_field + '.momentum_optimizer_value', 0.0, 1.0,
                   high_open=True)
    check.unit(chosen.decay, optimizer_field + '.decay')
    check.positive(chosen.epsilon, optimizer_field + '.epsilon')
  _validate_learning_rate(check, chosen, optimizer_field + '.learning_rate')
  if optimizer.use_moving_average:
    check.interval(optimizer.moving_average_decay,
                   f('optimizer.moving_average_decay'), 0.0, 1.0,
                   low_open=True, high_open=True)

  check.non_negative(config.gradient_clipping_by_norm,
                     f('gradient_clipping_by_norm'))
  if config.fine_tune_checkpoint_type not in _FINE_TUNE_CHECKPOINT_TYPES:
    check.fail(f('fine_tune_checkpoint_type'), '%r is not one of %s' %
               (config.fine_tune_checkpoint_type,
                ', '.join(_FINE_TUNE_CHECKPOINT_TYPES)))
  for name in ('freeze_variables', 'update_trainable_variables'):
    for i, pattern in enumerate(getattr(config, name)):
      try:
        re.compile(pattern)
      except re.error as e:
        check.fail('%s[%d]' % (f(name), i),
                   '%r is not a valid regular expression (%s)' % (pattern, e))
  check.positive(config.keep_checkpoint_every_n_hours,
                 f('keep_checkpoint_every_n_hours'))
  check.at_least(config.save_checkpoints_steps, f('save_checkpoints_steps'), 1)
  check.at_least(config.num_replicas, f('num_replicas'), 1)
  if config.num_replicas >= 1 and config.batch_size % config.num_replicas:
    check.fail(f('batch_size'), '%d is not divisible by num_replicas (%d): '
               'the global batch is split evenly across the replicas' %
               (config.batch_size, config.num_replicas))
  augmentation = config.feature_augmentation
  augmentation_field = f('feature_augmentation.%s')
  check.interval(augmentation.feature_dropout_rate,
                 augmentation_field % 'feature_dropout_rate', 0.0, 1.0,
                 high_open=True)
  check.non_negative(augmentation.gaussian_noise_stddev,
                     augmentation_field % 'gaussian_noise_stddev')
  check.interval(augmentation.temporal_scale_jitter,
                 augmentation_field % 'temporal_scale_jitter', 0.0, 1.0,
                 high_open=True)


def _validate_learning_rate(check, optimizer, field):
  """Rules for an optimizer's LearningRate."""
  which = (optimizer.learning_rate.WhichOneof('learning_rate')
           if optimizer.HasField('learning_rate') else None)
  if which is None:
    check.fail(field, 'missing; e.g. learning_rate { constant_learning_rate { '
               'learning_rate: 0.0001 } }')
  schedule = getattr(optimizer.learning_rate, which)
  field = '%s.%s' % (field, which)
  if which == 'constant_learning_rate':
    check.positive(schedule.learning_rate, field + '.learning_rate')
  elif which == 'exponential_decay_learning_rate':
    check.positive(schedule.initial_learning_rate,
                   field + '.initial_learning_rate')
    check.at_least(schedule.decay_steps, field + '.decay_steps', 1)
    check.positive(schedule.decay_factor, field + '.decay_factor')
    check.non_negative(schedule.min_learning_rate, field + '.min_learning_rate')
  elif which == 'manual_step_learning_rate':
    check.positive(schedule.initial_learning_rate,
                   field + '.initial_learning_rate')
    previous_step = -1
    for i, item in enumerate(schedule.schedule):
      item_field = '%s.schedule[%d]' % (field, i)
      if item.step <= previous_step:
        check.fail(item_field + '.step', '%d does not come after the previous '
                   'step (%d); steps must increase strictly' %
                   (item.step, previous_step))
      previous_step = item.step
      check.non_negative(item.learning_rate, item_field + '.learning_rate')
    if schedule.warmup and (not schedule.schedule or
                            schedule.schedule[0].step == 0):
      check.fail(field + '.warmup', 'needs a first schedule step > 0 to ramp '
                 'up over')
  elif which == 'cosine_decay_learning_rate':
    check.positive(schedule.learning_rate_base, field + '.learning_rate_base')
    check.non_negative(schedule.warmup_learning_rate,
                       field + '.warmup_learning_rate')
    if (schedule.total_steps <=
        schedule.warmup_steps + schedule.hold_base_rate_steps):
      check.fail(field + '.total_steps',
                 '%d must be larger than warmup_steps + hold_base_rate_steps '
                 '(%d)' % (schedule.total_steps, schedule.warmup_steps +
                           schedule.hold_base_rate_steps))
    if (schedule.warmup_steps > 0 and
        schedule.warmup_learning_rate > schedule.learning_rate_base):
      check.fail(field + '.warmup_learning_rate',
                 '%s is larger than learning_rate_base (%s)' %
                 (_fmt(schedule.warmup_learning_rate),
                  _fmt(schedule.learning_rate_base)))


def _validate_input_reader(check, reader, prefix):
  """Rules for an InputReader that is present in the config."""
  f = lambda name: '%s.%s' % (prefix, name)  # pylint: disable=unnecessary-lambda-assignment
  if reader.WhichOneof('input_reader') != 'tf_record_input_reader':
    check.fail(prefix, 'names no input source; add tf_record_input_reader { '
               'input_path: "..." }')
  paths = reader.tf_record_input_reader.input_path
  if not paths:
    check.fail(f('tf_record_input_reader.input_path'),
               'empty; give at least one record path or glob pattern')
  for i, input_path in enumerate(paths):
    if not input_path.strip():
      check.fail('%s[%d]' % (f('tf_record_input_reader.input_path'), i),
                 'empty path')
  check.at_least(reader.sample_1_of_n_examples, f('sample_1_of_n_examples'), 1)
  check.at_least(reader.num_readers, f('num_readers'), 1)
  check.at_least(reader.read_block_length, f('read_block_length'), 1)
  check.at_least(reader.num_parallel_map_calls, f('num_parallel_map_calls'), 1)
  if reader.shuffle:
    check.at_least(reader.shuffle_buffer_size, f('shuffle_buffer_size'), 1)
    check.at_least(reader.filenames_shuffle_buffer_size,
                   f('filenames_shuffle_buffer_size'), 1)


def _validate_eval_config(check, config, prefix):
  """Rules for eval_config."""
  f = lambda name: '%s.%s' % (prefix, name)  # pylint: disable=unnecessary-lambda-assignment
  check.at_least(config.batch_size, f('batch_size'), 1)
  for i, metrics_set in enumerate(config.metrics_set):
    if metrics_set not in _METRICS_SETS:
      check.fail('%s[%d]' % (f('metrics_set'), i), '%r is not one of %s' %
                 (metrics_set, ', '.join(_METRICS_SETS)))
  for name in ('detection_tiou_thresholds', 'proposal_tiou_thresholds'):
    values = list(getattr(config, name))
    for i, value in enumerate(values):
      check.fraction(value, '%s[%d]' % (f(name), i))
    check.unique(values, f(name), 'threshold')
  values = list(config.average_number_of_proposals)
  for i, value in enumerate(values):
    check.at_least(value, '%s[%d]' % (f('average_number_of_proposals'), i), 1)
  check.unique(values, f('average_number_of_proposals'), 'value')
  _validate_best_checkpoint_metric(check, config, prefix)


def _evaluated_thresholds(values, default):
  """Thresholds as the evaluator uses them: float32 rounded to 6 decimals."""
  return [float(round(float(v), 6)) for v in (list(values) or default)]


def best_checkpoint_metric_names(eval_config):
  """The names an evaluation with eval_config reports that can pick the best.

  What temporal_detection_evaluator reports (mAP at each tIoU, average mAP,
  AR@AN at each AN and AUC, for the configured metrics_set and defaults) and
  the mean losses (EVAL_LOSS_NAMES). Per-class APs are left out: their names
  depend on the label map (see _per_class_tious).
  """
  metrics_set = set(eval_config.metrics_set) or set(_METRICS_SETS)
  names = []
  if 'detection_metrics' in metrics_set:
    names += [metric_names.detection_map(t) for t in _evaluated_thresholds(
        eval_config.detection_tiou_thresholds,
        detection_evaluation.THUMOS_TIOU_THRESHOLDS)]
    names.append(metric_names.AVERAGE_MAP)
  if 'proposal_metrics' in metrics_set:
    an_values = [int(a) for a in (list(eval_config.average_number_of_proposals)
                                  or proposal_evaluation.DEFAULT_AN_VALUES)]
    names += [metric_names.proposal_ar(an) for an in an_values]
    names.append(metric_names.proposal_auc(max(an_values)))
  return names + list(EVAL_LOSS_NAMES)


def _per_class_tious(eval_config):
  """tIoUs whose per-class APs an evaluation reports (none if excluded)."""
  metrics_set = set(eval_config.metrics_set) or set(_METRICS_SETS)
  if ('detection_metrics' not in metrics_set or
      not eval_config.include_metrics_per_category):
    return []
  return _evaluated_thresholds(eval_config.detection_tiou_thresholds,
                               detection_evaluation.THUMOS_TIOU_THRESHOLDS)


def _validate_best_checkpoint_metric(check, config, prefix):
  """best_checkpoint_metric must be reported; its direction must fit it."""
  metric = config.best_checkpoint_metric
  field = '%s.best_checkpoint_metric' % prefix
  known = best_checkpoint_metric_names(config)
  # A per-class AP's class name comes from the label map, which is data: only
  # the tIoU is checked here (an unknown class fails at the first evaluation).
  per_class = any(
      metric.startswith(metric_names.per_class_ap(t, '')) and
      len(metric) > len(metric_names.per_class_ap(t, ''))
      for t in _per_class_tious(config))
  if metric not in known and not per_class:
    check.fail(field, '%r is not reported by this evaluation; one of %s%s' % (
        metric, ', '.join(known),
        ' or %s' % metric_names.per_class_ap(_per_class_tious(config)[0],
                                             '<class name>')
        if _per_class_tious(config) else ''))
  is_loss = metric in EVAL_LOSS_NAMES
  if config.best_checkpoint_higher_is_better == is_loss:
    check.fail('%s.best_checkpoint_higher_is_better' % prefix, '%s with %s: '
               '%s' % (str(config.best_checkpoint_higher_is_better).lower(),
                       metric, 'a loss is better when lower' if is_loss else
                       'a metric is better when higher'))
