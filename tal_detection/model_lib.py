"""Estimator model_fn and the factories model_main uses (OD API style).

create_model_fn builds, for each Estimator mode:
  TRAIN:   total loss (both stages + regularization), the train op from the
           optimizer proto (learning-rate schedule, optional gradient clipping,
           frozen / trainable variable filters), loss and learning-rate summaries,
           fine-tuning from train_config.fine_tune_checkpoint via restore_map.
  EVAL:    mean losses plus mAP / AR@AN metric ops and TensorBoard images.
  PREDICT: detections in seconds, and export_outputs for SavedModels.
"""
import functools
import json
import os
import re

from absl import logging
import numpy as np
import tensorflow as tf

from tal_detection import best_checkpoint
from tal_detection import inputs
from tal_detection.builders import model_builder
from tal_detection.dataset_tools import anchor_coverage
from tal_detection.builders import optimizer_builder
from tal_detection.core import standard_fields as fields
from tal_detection.metrics import eval_images
from tal_detection.metrics import temporal_detection_evaluator
from tal_detection.protos import train_pb2
from tal_detection.utils import config_util
from tal_detection.utils import distribution_util
from tal_detection.utils import label_map_util
from tal_detection.utils import model_dir_util
from tal_detection.utils import precision_util
from tal_detection.utils import progress_util
from tal_detection.utils import time_util

def _num_classes(model_config):
  return config_util.get_number_of_classes(model_config)


def provide_groundtruth(detection_model, labels, num_classes):
  """Hands the padded ground truth of a batch to the model."""
  classes = tf.cast(labels[fields.InputDataFields.groundtruth_classes],
                    tf.int32)
  # Label ids are 1..C; the model's one-hot columns are 0..C-1.
  one_hot = tf.one_hot(classes - 1, num_classes, dtype=tf.float32)
  detection_model.provide_groundtruth(
      tf.cast(labels[fields.InputDataFields.groundtruth_segments], tf.float32),
      one_hot,
      tf.cast(labels[fields.InputDataFields.num_groundtruth_segments],
              tf.int32))


def segments_to_seconds(segments, features):
  """[B, N, 2] step-coordinate segments of a batch -> seconds.

  Uses each video's time parameters and the start of its window (0 unless the
  input was cropped), through the project's one time helper.
  """
  def column(key, default):
    if key in features:
      return tf.cast(features[key], tf.float32)[:, None, None]
    return default

  window_start = column(fields.InputDataFields.window_start, 0.0)
  return time_util.steps_to_seconds(
      segments + window_start,
      column(fields.InputDataFields.fps, None),
      column(fields.InputDataFields.stride_frames, None),
      column(fields.InputDataFields.offset_frames, None))


def build_detections(detection_model, features, compute_dtype=tf.float32):
  """preprocess -> predict -> postprocess; adds segments in seconds.

  Args:
    detection_model: a DetectionModel.
    features: the input dict (InputDataFields keys), float32 streams.
    compute_dtype: the dtype the networks compute in (float32, or bfloat16 /
      float16 for a bfloat16 export or mixed-precision training), passed to
      predict; the streams stay float32 until the networks read them.

  Returns:
    (prediction_dict, detections) where detections holds DetectionResultFields
    including detection_segments_seconds and proposal segments in seconds.
  """
  stream_features = {
      name: features[fields.InputDataFields.features_key(name)]
      for name in detection_model.stream_names}
  num_steps = features[fields.InputDataFields.num_steps]
  preprocessed, num_steps = detection_model.preprocess(stream_features,
                                                       num_steps)
  prediction_dict = detection_model.predict(preprocessed, num_steps,
                                            compute_dtype=compute_dtype)
  detections = detection_model.postprocess(prediction_dict, num_steps)
  detections[fields.DetectionResultFields.detection_segments_seconds] = (
      segments_to_seconds(
          detections[fields.DetectionResultFields.detection_segments],
          features))
  detections[fields.DetectionResultFields.proposal_segments_seconds] = (
      segments_to_seconds(
          detections[fields.DetectionResultFields.proposal_segments],
          features))
  return prediction_dict, detections


def _filter_variables(variables, include_patterns, exclude_patterns):
  """Variables matching any include regex (all if none) and no exclude regex."""
  kept = []
  for var in variables:
    name = var.op.name
    if include_patterns and not any(re.search(p, name)
                                    for p in include_patterns):
      continue
    if any(re.search(p, name) for p in exclude_patterns):
      continue
    kept.append(var)
  return kept


def _fine_tune_assignment(detection_model, train_config):
  """{checkpoint name: variable} restorable from fine_tune_checkpoint."""
  checkpoint = train_config.fine_tune_checkpoint
  if os.path.isdir(checkpoint):
    checkpoint = tf.train.latest_checkpoint(checkpoint) or checkpoint
  try:
    reader = tf.train.load_checkpoint(checkpoint)
  except (tf.errors.NotFoundError, ValueError) as e:
    raise ValueError('train_config.fine_tune_checkpoint: cannot read %s (%s)'
                     % (train_config.fine_tune_checkpoint, e)) from e
  shapes = reader.get_variable_to_shape_map()
  assignment = {}
  for name, var in detection_model.restore_map(
      train_config.fine_tune_checkpoint_type).items():
    if name in shapes and list(shapes[name]) == var.shape.as_list():
      assignment[name] = var
    else:
      logging.warning('fine_tune_checkpoint: %s not restored (absent or '
                      'shape differs)', name)
  return checkpoint, assignment


def _train_op(total_loss, train_config, global_step):
  """Optimizer step with clipping and variable filters; returns (op, lr)."""
  optimizer, summary_vars = optimizer_builder.build(train_config.optimizer,
                                                    global_step=global_step)
  trainable = _filter_variables(
      tf.compat.v1.trainable_variables(),
      list(train_config.update_trainable_variables),
      list(train_config.freeze_variables))
  if not trainable:
    raise ValueError('train_config: freeze_variables / '
                     'update_trainable_variables leave nothing to train')
  # float16 gradients underflow: they are taken of a dynamically scaled loss,
  # and steps whose gradients overflow are skipped (precision_util).
  optimizer = precision_util.loss_scale_optimizer(optimizer,
                                                  train_config.precision)
  grads_and_vars = optimizer.compute_gradients(total_loss, var_list=trainable)
  grads_and_vars = [(g, v) for g, v in grads_and_vars if g is not None]
  if train_config.gradient_clipping_by_norm > 0:
    grads, variables = zip(*grads_and_vars)
    # The whole step's gradient, also when replicas each hold a share.
    grads = distribution_util.clip_by_global_norm(
        grads, train_config.gradient_clipping_by_norm)
    grads_and_vars = list(zip(grads, variables))
  update_ops = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
  with tf.control_dependencies(update_ops):
    train_op = optimizer.apply_gradients(grads_and_vars,
                                         global_step=global_step)
  if train_config.optimizer.use_moving_average:
    # Shadow copies of the weights, updated after every step; evaluation and
    # export may read them instead (eval_config.use_moving_averages).
    ema = tf.compat.v1.train.ExponentialMovingAverage(
        train_config.optimizer.moving_average_decay, num_updates=global_step)
    with tf.control_dependencies([train_op]):
      train_op = ema.apply(tf.compat.v1.trainable_variables())
  return train_op, summary_vars


def moving_average_variables(train_config):
  """{checkpoint name of a variable's moving average: the variable}."""
  ema = tf.compat.v1.train.ExponentialMovingAverage(
      train_config.optimizer.moving_average_decay)
  return ema.variables_to_restore()


def moving_average_saver(train_config):
  """A Saver that loads the moving averages into the model's variables."""
  return tf.compat.v1.train.Saver(moving_average_variables(train_config))


def create_model_fn(detection_model_fn, configs, label_map_path=None):
  """Returns the Estimator model_fn for the given configs.

  Args:
    detection_model_fn: callable(is_training) -> DetectionModel.
    configs: dict from config_util.get_configs_from_pipeline_file.
    label_map_path: label map for class names in eval metrics (default: the
      eval input reader's).
  """
  model_config = configs['model']
  train_config = configs['train_config']
  eval_config = configs['eval_config']
  num_classes = _num_classes(model_config)
  if label_map_path is None:
    label_map_path = configs['eval_input_config'].label_map_path

  def model_fn(features, labels, mode, params=None, config=None):
    # config: the Estimator's RunConfig (None when called directly, e.g. by
    # the exporter or benchmarks: no events hooks then).
    del params
    is_training = mode == tf.estimator.ModeKeys.TRAIN
    detection_model = detection_model_fn(is_training=is_training)
    if mode != tf.estimator.ModeKeys.PREDICT:
      provide_groundtruth(detection_model, labels, num_classes)
    # Mixed precision trains only: the streams are cast to the lower
    # precision and the model computes in their dtype on float32 variables
    # (precision_util.float32_variables); eval and export stay float32.
    precision = (train_config.precision if is_training else
                 train_pb2.TrainConfig.FLOAT32)
    prediction_dict, detections = build_detections(
        detection_model, features, precision_util.compute_dtype(precision))

    if mode == tf.estimator.ModeKeys.PREDICT:
      outputs = export_outputs_dict(detections)
      return tf.estimator.EstimatorSpec(
          mode, predictions=outputs,
          export_outputs={
              tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY:
                  tf.estimator.export.PredictOutput(outputs)})

    num_steps = tf.cast(features[fields.InputDataFields.num_steps], tf.int32)
    losses = detection_model.loss(prediction_dict, num_steps)
    regularization = detection_model.regularization_losses()
    if regularization:
      losses['Loss/regularization_loss'] = tf.add_n(regularization)
    total_loss = tf.add_n(list(losses.values()), name='total_loss')
    losses['Loss/total_loss'] = total_loss

    if mode == tf.estimator.ModeKeys.TRAIN:
      global_step = tf.compat.v1.train.get_or_create_global_step()
      if train_config.fine_tune_checkpoint:
        checkpoint, assignment = _fine_tune_assignment(detection_model,
                                                       train_config)
        tf.compat.v1.train.init_from_checkpoint(checkpoint, assignment)
      train_op, summary_vars = _train_op(total_loss, train_config, global_step)
      for name, value in losses.items():
        tf.compat.v1.summary.scalar(name, value)
      for var in summary_vars:
        tf.compat.v1.summary.scalar('LearningRate', var)
      # One line per log_every_n_steps: step, loss, steps/s, ETA.
      hooks = [progress_util.ProgressHook(
          train_config.num_steps or None, train_config.log_every_n_steps,
          loss=total_loss)]
      scaffold = tf.compat.v1.train.Scaffold()
      # The graph in the events files once per model_dir, not four times per
      # (re)start (model_dir_util.training_chief_hooks).
      # Under train_distribute the Estimator combines the replicas' scaffolds
      # into a new one and never finalizes these, so the checkpoint hook
      # takes the Estimator's saver (the SAVERS collection) instead.
      chief_hooks = (model_dir_util.training_chief_hooks(
          config, None if tf.distribute.has_strategy() else scaffold)
                     if config is not None else [])
      return tf.estimator.EstimatorSpec(
          mode, loss=total_loss, train_op=train_op, training_hooks=hooks,
          training_chief_hooks=chief_hooks, scaffold=scaffold)

    # EVAL
    eval_metric_ops = {name: tf.compat.v1.metrics.mean(value)
                       for name, value in losses.items()}
    eval_dict = eval_dict_from(features, labels, detections)
    eval_metric_ops.update(
        build_eval_metric_ops(eval_config, eval_dict, label_map_path,
                              num_classes))
    scaffold = None
    if eval_config.use_moving_averages:
      scaffold = tf.compat.v1.train.Scaffold(
          saver=moving_average_saver(train_config))
    return tf.estimator.EstimatorSpec(
        mode, loss=total_loss, eval_metric_ops=eval_metric_ops,
        scaffold=scaffold,
        evaluation_hooks=(model_dir_util.evaluation_hooks(config)
                          if config is not None else None))

  return distribution_util.without_autograph(model_fn)


def export_outputs_dict(detections):
  """What PREDICT returns and a SavedModel signature exposes."""
  result = fields.DetectionResultFields
  return {
      'detection_segments': detections[result.detection_segments_seconds],
      'detection_scores': detections[result.detection_scores],
      'detection_classes': detections[result.detection_classes],
      'num_detections': tf.cast(detections[result.num_detections], tf.float32),
      'proposal_segments': detections[result.proposal_segments_seconds],
      'proposal_scores': detections[result.proposal_scores],
      'num_proposals': tf.cast(detections[result.num_proposals], tf.float32),
  }


def eval_dict_from(features, labels, detections):
  """Everything the evaluators need for a batch, keyed by standard fields."""
  result = fields.DetectionResultFields
  data = fields.InputDataFields
  # Ambiguous segments (THUMOS'14 kit protocol), when the records have them.
  ambiguous = {key: labels[key] for key in (
      data.groundtruth_ambiguous_segments_seconds,
      data.num_groundtruth_ambiguous_segments) if key in labels}
  return {
      **ambiguous,
      data.video_id: features[data.video_id],
      # Lets the eval timelines span the whole video.
      data.duration: features[data.duration],
      data.groundtruth_segments_seconds:
          labels[data.evaluation_groundtruth_segments_seconds],
      data.groundtruth_classes: labels[data.evaluation_groundtruth_classes],
      data.num_groundtruth_segments:
          labels[data.num_evaluation_groundtruth_segments],
      result.detection_segments_seconds:
          detections[result.detection_segments_seconds],
      result.detection_scores: detections[result.detection_scores],
      result.detection_classes: detections[result.detection_classes],
      result.num_detections: detections[result.num_detections],
      result.proposal_segments_seconds:
          detections[result.proposal_segments_seconds],
      result.proposal_scores: detections[result.proposal_scores],
      result.num_proposals: detections[result.num_proposals],
  }


def build_eval_metric_ops(eval_config, eval_dict, label_map_path, num_classes):
  """mAP / AR@AN metric ops plus timeline and AR-AN images for TensorBoard."""
  categories = _categories(label_map_path, num_classes)
  evaluator = temporal_detection_evaluator.evaluator_from_eval_config(
      eval_config, categories)
  metric_ops = evaluator.get_estimator_eval_metric_ops(eval_dict)
  if eval_config.num_visualizations > 0:
    first_value = metric_ops[evaluator.metric_names()[0]][0]
    images = eval_images.EvalImages(categories, eval_config.num_visualizations,
                                    evaluator)
    metric_ops.update(images.get_eval_metric_ops(eval_dict, after=first_value))
  return metric_ops


def _categories(label_map_path, num_classes):
  """[{'id', 'name'}] from the label map, or generic names without one."""
  if label_map_path and tf.io.gfile.exists(label_map_path):
    names = label_map_util.get_label_map_dict(label_map_path)
    categories = [{'id': i, 'name': n} for n, i in names.items()]
    return sorted(categories, key=lambda c: c['id'])
  return [{'id': i, 'name': 'class_%d' % i} for i in range(1, num_classes + 1)]


def write_metrics_json(metrics, model_dir, step):
  """Writes <model_dir>/eval/metrics_<step>.json atomically."""
  directory = os.path.join(model_dir, 'eval')
  tf.io.gfile.makedirs(directory)
  path = os.path.join(directory, 'metrics_%d.json' % int(step))
  # Scalars only: image summaries arrive as serialized bytes.
  serializable = {k: float(v) for k, v in metrics.items()
                  if isinstance(v, (int, float, np.number))}
  tmp = path + '.tmp'
  with tf.io.gfile.GFile(tmp, 'w') as f:
    json.dump(serializable, f, indent=2, sort_keys=True)
  tf.io.gfile.rename(tmp, path, overwrite=True)
  return path


def create_run_config(model_dir, train_config, num_gpus=None):
  """RunConfig from the train config; TF_CONFIG (if set) names the cluster.

  train_config.num_replicas (or num_gpus, --num_gpus, overriding it) > 1
  trains data-parallel through train_distribute (distribution_util).
  """
  plan = distribution_util.plan_from_config(train_config, num_gpus=num_gpus)
  return tf.estimator.RunConfig(
      model_dir=model_dir,
      train_distribute=distribution_util.train_distribute(plan),
      tf_random_seed=train_config.random_seed or None,
      save_checkpoints_steps=train_config.save_checkpoints_steps,
      save_summary_steps=train_config.save_summary_steps,
      keep_checkpoint_max=train_config.max_checkpoints_to_keep,
      keep_checkpoint_every_n_hours=train_config.keep_checkpoint_every_n_hours,
      log_step_count_steps=train_config.log_every_n_steps)


def latest_checkpoint(checkpoint_dir):
  """The newest checkpoint prefix in a folder (ValueError naming it if none)."""
  if not tf.io.gfile.isdir(checkpoint_dir):
    raise ValueError('--checkpoint_dir: %s: no such folder' % checkpoint_dir)
  checkpoint = tf.train.latest_checkpoint(checkpoint_dir)
  if checkpoint is None:
    raise ValueError('--checkpoint_dir: %s: no checkpoint there' %
                     checkpoint_dir)
  return checkpoint


def check_inputs(pipeline, model_dir, eval_only=False):
  """What model_main needs, checked before anything is written to model_dir.

  Raises:
    ValueError: one line naming the flag, config field, file or video.
  """
  if os.path.exists(model_dir) and not os.path.isdir(model_dir):
    raise ValueError('--model_dir: %s is a file, not a folder' % model_dir)
  readers = [('eval_input_reader', 'evaluates')]
  if not eval_only:
    readers.insert(0, ('train_input_reader', 'trains on'))
  for field, verb in readers:
    if not pipeline.HasField(field):
      raise ValueError('%s: missing; model_main %s its records (or give '
                       '--%s_input_path)' % (field, verb, field.split('_')[0]))
    try:
      inputs.check_input_records(getattr(pipeline, field), pipeline.model)
    except ValueError as e:
      raise ValueError('%s: %s' % (field, e)) from None


def create_estimator_and_inputs(model_dir,
                                pipeline_config_path,
                                config_override=None,
                                train_steps=None,
                                train_input_path=None,
                                eval_input_path=None,
                                label_map_path=None,
                                config_override_files=(),
                                eval_only=False,
                                num_gpus=None):
  """Estimator, input functions and step count from a pipeline config.

  Validates the effective config (one error line on a bad one) and saves it as
  <model_dir>/pipeline.config on the chief.

  Args:
    model_dir: checkpoints, summaries and the effective config go here.
    pipeline_config_path: the base config.
    config_override: text fragment merged last (--config_override).
    train_steps: overrides train_config.num_steps when not None.
    train_input_path, eval_input_path, label_map_path: path flags.
    config_override_files: fragment files merged over the base first
      (--config_override_file, e.g. an ablation).
    eval_only: only evaluation will run (the train records are not read).
    num_gpus: overrides train_config.num_replicas (--num_gpus) when not None.

  Every input is checked (check_inputs) before model_dir is touched.

  Returns:
    dict with estimator, train_input_fn, eval_input_fn, train_steps, configs.
  """
  pipeline = config_util.load_pipeline(
      pipeline_config_path, override=config_override,
      override_files=config_override_files, num_train_steps=train_steps,
      train_input_path=train_input_path, eval_input_path=eval_input_path,
      label_map_path=label_map_path)
  if num_gpus is not None:
    # The saved pipeline.config then says how the model was trained.
    pipeline.train_config.num_replicas = num_gpus
  configs = config_util.create_configs_from_pipeline_proto(pipeline)
  # Before check_inputs, whose eager reads of the records start TensorFlow's
  # runtime: a multi-worker strategy must configure collective ops (and start
  # this task's server) before that, or it raises "Collective ops must be
  # configured at program startup". Nothing is written here.
  run_config = create_run_config(model_dir, configs['train_config'],
                                 num_gpus=num_gpus)
  check_inputs(pipeline, model_dir, eval_only=eval_only)
  if not eval_only:
    # Anchors that cannot reach the training instances cap recall; say so
    # before hours of training (one line; a warning below 80% at tIoU 0.5).
    verdict, warn = anchor_coverage.coverage_verdict(pipeline)
    (logging.warning if warn else logging.info)('%s', verdict)
  # 0 trains forever (Estimator max_steps None).
  train_steps = configs['train_config'].num_steps or None
  detection_model_fn = functools.partial(model_builder.build,
                                         model_config=configs['model'])
  model_fn = create_model_fn(detection_model_fn, configs)
  estimator = tf.estimator.Estimator(model_fn=model_fn, config=run_config)
  if run_config.is_chief:
    if not eval_only:
      # Only the chief saves checkpoints, and it has not started: temporaries
      # in model_dir are leftovers of a killed save. (An evaluator must not
      # look: a trainer may be saving into the folder it reads.)
      model_dir_util.remove_stale_checkpoint_temporaries(model_dir)
    config_util.save_pipeline_config(pipeline, model_dir)
  return {
      'estimator': estimator,
      # batch_size is the global batch; each replica reads its share.
      'train_input_fn': distribution_util.per_replica_input_fn(
          inputs.create_train_input_fn(
              configs['train_config'], configs['train_input_config'],
              configs['model']),
          configs['train_config'].batch_size),
      'eval_input_fn': inputs.create_eval_input_fn(
          configs['eval_config'], configs['eval_input_config'],
          configs['model']),
      'train_steps': train_steps,
      'configs': configs,
  }


class MetricsJsonExporter(tf.estimator.Exporter):
  """Writes each evaluation's metrics to <model_dir>/eval/metrics_<step>.json.

  An EvalSpec exporter runs after every evaluation of train_and_evaluate, with
  the evaluation's results, which is exactly when the file should appear.
  """

  def __init__(self, model_dir):
    self._model_dir = model_dir

  @property
  def name(self):
    return 'metrics_json'

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    del estimator, export_path, checkpoint_path, is_the_final_export
    return write_metrics_json(eval_result, self._model_dir,
                              eval_result[tf.compat.v1.GraphKeys.GLOBAL_STEP])


def create_train_and_eval_specs(train_input_fn, eval_input_fn, train_steps,
                                eval_config, model_dir):
  """TrainSpec and EvalSpec for tf.estimator.train_and_evaluate.

  After every evaluation the EvalSpec's exporters write the metrics json and
  keep the best checkpoint by eval_config.best_checkpoint_metric in
  <model_dir>/best/ (best_checkpoint.py).
  """
  train_spec = tf.estimator.TrainSpec(input_fn=train_input_fn,
                                      max_steps=train_steps)
  # No name: the Estimator then writes its eval summaries to <model_dir>/eval,
  # beside the metrics_<step>.json files (a name would add eval_<name>/).
  eval_spec = tf.estimator.EvalSpec(
      name=None, input_fn=eval_input_fn,
      # Enough batches for num_examples videos, the last one possibly partial
      # (floor division would leave the last videos out); 0: every video.
      steps=-(-eval_config.num_examples // max(1, eval_config.batch_size))
      or None,
      start_delay_secs=0, throttle_secs=eval_config.eval_interval_secs,
      exporters=[MetricsJsonExporter(model_dir),
                 best_checkpoint.BestCheckpointExporter(model_dir,
                                                        eval_config)])
  return train_spec, eval_spec
