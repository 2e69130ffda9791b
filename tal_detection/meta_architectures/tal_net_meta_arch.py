"""TAL-Net meta-architecture: Faster R-CNN in one dimension (Chao et al., CVPR 2018).

The temporal counterpart of the OD API's FasterRCNNMetaArch. Every part is injected
(anchor generator, Segment Proposal Network and box-classifier factories, target
assigners, samplers, box coder, losses, NMS), so this module only composes them:

  features per stream --(kernel-1 conv to 256)--> SPN towers --> objectness and
  regression per anchor --> decode, clip, NMS 0.7, top 300 --> proposals
  --> SoI pooling (context-extended crop-and-resize + max-pool) on the stream's
  features --> (kernel-1 conv to 256, FC 256) --> C+1 class logits and C x 2
  class-specific regression --> softmax, decode, per-class NMS --> detections.

Fusion (paper §4.3). The model runs one "pipeline" per group of input streams:
  * LATE with two streams: one pipeline per stream, each with its own SPN and its
    own classifier; the element-wise means of their objectness/regression logits
    make the proposals, and the means of their class/regression logits make the
    detections.
  * EARLY: one pipeline whose input is the concatenation of the streams.
  * A single stream: one pipeline on it.

Coordinates are feature steps (step i covers [i, i + 1)). Batches are padded along
time; num_steps [B] gives each video's valid length and everything past it is masked,
so a padded batch yields the same detections per video as running each alone.
Per-video work (target assignment, sampling) runs under tf.map_fn over padded
ground truth, so the batch size need not be known when the graph is built.
"""
import tensorflow as tf

from tal_detection.core import box_coder as box_coder_lib
from tal_detection.core import model
from tal_detection.core import segment_list
from tal_detection.core import standard_fields as fields
from tal_detection.models import feature_reduction
from tal_detection.ops import soi_pooling

# Score given to proposals that must never survive NMS (padding, degenerate).
_INVALID_SCORE = -1.0


class Pipeline(object):
  """One stream group with its own SPN and classifier (names its variable scope)."""

  def __init__(self, name, stream_names):
    self.name = name
    self.stream_names = list(stream_names)


def pipelines_for_fusion(stream_names, late_fusion):
  """The pipelines a config asks for: one per stream (late) or one for all."""
  if late_fusion and len(stream_names) > 1:
    return [Pipeline(name, [name]) for name in stream_names]
  return [Pipeline('_'.join(stream_names) if len(stream_names) > 1 else
                   stream_names[0], stream_names)]


class TalNetMetaArch(model.DetectionModel):
  """Two-stage temporal action detector (TAL-Net)."""

  def __init__(self,
               is_training,
               num_classes,
               pipelines,
               feature_reduction_depth,
               feature_reduction_hyperparams_fn,
               anchor_generator,
               spn_factory,
               box_classifier_factory,
               box_coder,
               first_stage_target_assigner,
               first_stage_sampler,
               first_stage_minibatch_size,
               first_stage_nms_iou_threshold,
               first_stage_nms_score_threshold,
               first_stage_max_proposals,
               first_stage_classification_loss,
               first_stage_localization_loss,
               first_stage_objectness_loss_weight,
               first_stage_localization_loss_weight,
               soi_crop_size,
               soi_context_ratio,
               soi_maxpool_kernel_size,
               soi_maxpool_stride,
               second_stage_target_assigner,
               second_stage_sampler,
               second_stage_batch_size,
               second_stage_non_max_suppression_fn,
               second_stage_score_conversion_fn,
               second_stage_classification_loss,
               second_stage_localization_loss,
               second_stage_classification_loss_weight,
               second_stage_localization_loss_weight,
               class_agnostic_nms_fn):
    """Builds the meta-architecture from its parts.

    Args:
      is_training: whether the graph is for training (samples the second-stage
        minibatch from the proposals; needs provide_groundtruth before predict).
      num_classes: action classes C (background excluded).
      pipelines: list of Pipeline (see pipelines_for_fusion).
      feature_reduction_depth: channels after the kernel-1 reduction convs.
      feature_reduction_hyperparams_fn: arg_scope fn of the reduction convs.
      anchor_generator: a core.anchor_generator.AnchorGenerator.
      spn_factory: callable() -> models.spn_towers.SegmentProposalNetwork, called
        once per pipeline so each has its own towers.
      box_classifier_factory: callable() -> models.box_classifier.BoxClassifier.
      box_coder: core.box_coder.BoxCoder shared by both stages.
      first_stage_target_assigner: TargetAssigner for anchors (0.7 / 0.3).
      first_stage_sampler: BalancedPositiveNegativeSampler for anchors.
      first_stage_minibatch_size: anchors sampled per video (256).
      first_stage_nms_iou_threshold: proposal NMS tIoU (0.7).
      first_stage_nms_score_threshold: proposals below this objectness dropped.
      first_stage_max_proposals: proposals kept per video (300).
      first_stage_classification_loss: objectness loss (softmax CE).
      first_stage_localization_loss: anchor regression loss (smooth L1).
      first_stage_objectness_loss_weight: weight of the objectness loss.
      first_stage_localization_loss_weight: weight of the regression loss.
      soi_crop_size: bins of the SoI crop-and-resize.
      soi_context_ratio: proposal extension on each side, as a fraction of its
        length (0.5 with context, 0 without).
      soi_maxpool_kernel_size: max-pool kernel after the crop.
      soi_maxpool_stride: max-pool stride after the crop.
      second_stage_target_assigner: TargetAssigner for proposals (0.5).
      second_stage_sampler: BalancedPositiveNegativeSampler for proposals.
      second_stage_batch_size: proposals sampled per video in training (64).
      second_stage_non_max_suppression_fn: batch multi-class NMS with the
        post-processing thresholds bound (post_processing_builder).
      second_stage_score_conversion_fn: logits -> scores (softmax).
      second_stage_classification_loss: class loss (softmax CE).
      second_stage_localization_loss: class-specific regression loss.
      second_stage_classification_loss_weight: weight of the class loss.
      second_stage_localization_loss_weight: weight of the regression loss.
      class_agnostic_nms_fn: batch multi-class NMS used with one class for the
        proposals: fn(segments, scores, score_thresh, iou_thresh,
        max_size_per_class, max_total_size, num_valid_segments).

    Raises:
      ValueError: on inconsistent sizes.
    """
    super().__init__(num_classes)
    if not pipelines:
      raise ValueError('TalNetMetaArch needs at least one pipeline')
    if second_stage_batch_size > first_stage_max_proposals:
      raise ValueError(
          'second_stage_batch_size (%d) exceeds first_stage_max_proposals (%d)'
          % (second_stage_batch_size, first_stage_max_proposals))
    self._is_training = is_training
    self._pipelines = pipelines
    self._feature_reduction_depth = feature_reduction_depth
    self._feature_reduction_hyperparams_fn = feature_reduction_hyperparams_fn
    self._anchor_generator = anchor_generator
    self._spns = {p.name: spn_factory() for p in pipelines}
    self._box_classifiers = {p.name: box_classifier_factory() for p in pipelines}
    self._box_coder = box_coder
    self._first_stage_target_assigner = first_stage_target_assigner
    self._first_stage_sampler = first_stage_sampler
    self._first_stage_minibatch_size = first_stage_minibatch_size
    self._first_stage_nms_iou_threshold = first_stage_nms_iou_threshold
    self._first_stage_nms_score_threshold = first_stage_nms_score_threshold
    self._first_stage_max_proposals = first_stage_max_proposals
    self._first_stage_cls_loss = first_stage_classification_loss
    self._first_stage_loc_loss = first_stage_localization_loss
    self._first_stage_obj_weight = first_stage_objectness_loss_weight
    self._first_stage_loc_weight = first_stage_localization_loss_weight
    self._soi_crop_size = soi_crop_size
    self._soi_context_ratio = soi_context_ratio
    self._soi_maxpool_kernel_size = soi_maxpool_kernel_size
    self._soi_maxpool_stride = soi_maxpool_stride
    self._second_stage_target_assigner = second_stage_target_assigner
    self._second_stage_sampler = second_stage_sampler
    self._second_stage_batch_size = second_stage_batch_size
    self._second_stage_nms_fn = second_stage_non_max_suppression_fn
    self._second_stage_score_fn = second_stage_score_conversion_fn
    self._second_stage_cls_loss = second_stage_classification_loss
    self._second_stage_loc_loss = second_stage_localization_loss
    self._second_stage_cls_weight = second_stage_classification_loss_weight
    self._second_stage_loc_weight = second_stage_localization_loss_weight
    self._class_agnostic_nms_fn = class_agnostic_nms_fn

  @property
  def pipelines(self):
    return self._pipelines

  @property
  def stream_names(self):
    names = []
    for p in self._pipelines:
      names.extend(p.stream_names)
    return names

  @property
  def anchor_generator(self):
    return self._anchor_generator

  def preprocess(self, features, num_steps):
    """Zeroes padded steps so nothing past a video's end leaks into it."""
    num_steps = tf.cast(num_steps, tf.int32)
    preprocessed = {}
    for name in self.stream_names:
      if name not in features:
        raise ValueError('features has no stream %r (has %s)' %
                         (name, sorted(features)))
      stream = tf.convert_to_tensor(features[name], dtype=tf.float32)
      mask = tf.sequence_mask(num_steps, tf.shape(stream)[1], dtype=tf.float32)
      preprocessed[name] = stream * mask[:, :, None]
    return preprocessed, num_steps

  # ---------------------------------------------------------------- predict --

  def predict(self, preprocessed_features, num_steps):
    """Runs both stages.

    Args:
      preprocessed_features: dict stream name -> [B, T, D] (from preprocess).
      num_steps: [B] int32 valid lengths.

    Returns:
      A dict with
        anchors [T*K, 2]; rpn_objectness_logits [B, T*K, 2];
        rpn_box_encodings [B, T*K, 2] (both fused over pipelines);
        proposal_segments [B, P, 2] (P = max proposals at inference, the
        second-stage batch size in training), proposal_scores [B, P],
        num_proposals [B]; class_logits [B, P, C+1];
        refined_box_encodings [B, P, C, 2]; num_steps [B];
        per_pipeline: {name: the same four logits tensors of that pipeline}.
    """
    num_steps = tf.cast(num_steps, tf.int32)
    inputs = {p.name: self._pipeline_input(p, preprocessed_features)
              for p in self._pipelines}
    first_input = inputs[self._pipelines[0].name]
    num_time = tf.shape(first_input)[1]
    valid_mask = tf.sequence_mask(num_steps, num_time, dtype=tf.float32)
    anchors = self._anchor_generator.generate(num_time).get()
    num_anchors_per_step = self._anchor_generator.num_anchors_per_location()

    per_pipeline = {}
    for p in self._pipelines:
      with tf.compat.v1.variable_scope(p.name):
        reduced = feature_reduction.reduce_features(
            inputs[p.name], self._feature_reduction_depth,
            self._feature_reduction_hyperparams_fn,
            scope='FirstStageFeatureReduction') * valid_mask[:, :, None]
        objectness, encodings = self._spns[p.name].predict(
            reduced, valid_mask, scope='SegmentProposalNetwork')
      batch = tf.shape(objectness)[0]
      per_pipeline[p.name] = {
          'rpn_objectness_logits': tf.reshape(
              objectness, [batch, num_time * num_anchors_per_step, 2]),
          'rpn_box_encodings': tf.reshape(
              encodings, [batch, num_time * num_anchors_per_step, 2]),
      }
    rpn_objectness = _mean_over(per_pipeline, 'rpn_objectness_logits')
    rpn_encodings = _mean_over(per_pipeline, 'rpn_box_encodings')

    proposals, proposal_scores, num_proposals = self._proposals(
        rpn_objectness, rpn_encodings, anchors, num_steps,
        num_anchors_per_step)
    if self._is_training:
      proposals, proposal_scores, num_proposals = (
          self._sample_second_stage_batch(proposals, proposal_scores,
                                          num_proposals))
    # Proposals are inputs to the second stage, not something it may move.
    proposals = tf.stop_gradient(proposals)
    proposal_scores = tf.stop_gradient(proposal_scores)

    for p in self._pipelines:
      with tf.compat.v1.variable_scope(p.name):
        pooled = soi_pooling.soi_pooling(
            inputs[p.name], proposals, num_steps, self._soi_crop_size,
            self._soi_context_ratio, self._soi_maxpool_kernel_size,
            self._soi_maxpool_stride)
        batch = tf.shape(pooled)[0]
        num_props = tf.shape(pooled)[1]
        flat = tf.reshape(pooled, tf.concat(
            [[batch * num_props], tf.shape(pooled)[2:]], axis=0))
        class_logits, box_encodings = self._box_classifiers[p.name].predict(
            flat, scope='SecondStageBoxClassifier')
      per_pipeline[p.name]['class_logits'] = tf.reshape(
          class_logits, [batch, num_props, self.num_classes + 1])
      per_pipeline[p.name]['refined_box_encodings'] = tf.reshape(
          box_encodings, [batch, num_props, self.num_classes, 2])

    return {
        'anchors': anchors,
        'rpn_objectness_logits': rpn_objectness,
        'rpn_box_encodings': rpn_encodings,
        'proposal_segments': proposals,
        'proposal_scores': proposal_scores,
        'num_proposals': num_proposals,
        'class_logits': _mean_over(per_pipeline, 'class_logits'),
        'refined_box_encodings': _mean_over(per_pipeline,
                                            'refined_box_encodings'),
        'num_steps': num_steps,
        'per_pipeline': per_pipeline,
    }

  def _pipeline_input(self, pipeline, features):
    streams = [features[name] for name in pipeline.stream_names]
    return streams[0] if len(streams) == 1 else tf.concat(streams, axis=-1)

  def _proposals(self, objectness_logits, box_encodings, anchors, num_steps,
                 num_anchors_per_step):
    """Decode, clip to the video, drop degenerate ones, NMS, keep the top N."""
    decoded = box_coder_lib.batch_decode(box_encodings, self._box_coder,
                                         anchors)
    length = tf.cast(num_steps, tf.float32)[:, None]
    start = tf.clip_by_value(decoded[..., 0], 0.0, length)
    end = tf.clip_by_value(decoded[..., 1], 0.0, length)
    clipped = tf.stack([start, end], axis=-1)
    scores = tf.nn.softmax(objectness_logits)[..., 1]
    # Anchors are step-major, so the anchors of valid steps form a prefix.
    num_valid_anchors = num_steps * num_anchors_per_step
    degenerate = end - start <= 1e-6
    scores = tf.where(degenerate, _INVALID_SCORE * tf.ones_like(scores), scores)
    nmsed_segments, nmsed_scores, _, num_proposals = self._class_agnostic_nms_fn(
        clipped[:, :, None, :], scores[:, :, None],
        score_thresh=self._first_stage_nms_score_threshold,
        iou_thresh=self._first_stage_nms_iou_threshold,
        max_size_per_class=self._first_stage_max_proposals,
        max_total_size=self._first_stage_max_proposals,
        num_valid_segments=num_valid_anchors)
    return nmsed_segments, nmsed_scores, num_proposals

  def _groundtruth(self):
    """(segments [B, N, 2], classes [B, N, C], counts [B]) given for training."""
    return (self.groundtruth_lists(fields.SegmentListFields.segments),
            self.groundtruth_lists(fields.SegmentListFields.classes),
            tf.cast(self.groundtruth_lists(
                fields.InputDataFields.num_groundtruth_segments), tf.int32))

  def _sample_second_stage_batch(self, proposals, proposal_scores,
                                 num_proposals):
    """Samples second_stage_batch_size proposals per video (25% foreground)."""
    gt_segments, gt_classes, gt_counts = self._groundtruth()
    batch_size = self._second_stage_batch_size

    def sample_one(args):
      video_proposals, scores, count, segments, classes, num_gt = args
      valid = tf.range(tf.shape(video_proposals)[0]) < count
      _, cls_weights, _, _, match = self._second_stage_target_assigner.assign(
          segment_list.SegmentList(video_proposals),
          segment_list.SegmentList(segments[:num_gt]),
          _with_background_column(classes[:num_gt]),
          self._background_one_hot())
      candidates = tf.logical_and(valid, cls_weights > 0)
      positives = tf.logical_and(candidates, match.matched_column_indicator())
      sampled = self._second_stage_sampler.subsample(
          candidates, batch_size, positives)
      indices = tf.reshape(tf.where(sampled), [-1])
      pad = batch_size - tf.shape(indices)[0]
      return (tf.pad(tf.gather(video_proposals, indices), [[0, pad], [0, 0]]),
              tf.pad(tf.gather(scores, indices), [[0, pad]]),
              tf.shape(indices)[0])

    sampled_proposals, sampled_scores, sampled_counts = tf.map_fn(
        sample_one,
        (proposals, proposal_scores, num_proposals, gt_segments, gt_classes,
         gt_counts),
        fn_output_signature=(
            tf.TensorSpec([batch_size, 2], tf.float32),
            tf.TensorSpec([batch_size], tf.float32),
            tf.TensorSpec([], tf.int32)))
    return sampled_proposals, sampled_scores, sampled_counts

  def _background_one_hot(self):
    return tf.one_hot(0, self.num_classes + 1, dtype=tf.float32)

  # ------------------------------------------------------------ postprocess --

  def postprocess(self, prediction_dict, num_steps):
    """Detections and proposals per video, in feature steps, zero-padded.

    Returns:
      dict with DetectionResultFields: detection_segments [B, M, 2] (steps),
      detection_scores [B, M], detection_classes [B, M] (1-based),
      num_detections [B], proposal_segments, proposal_scores, num_proposals.
    """
    num_steps = tf.cast(num_steps, tf.int32)
    proposals = prediction_dict['proposal_segments']
    num_proposals = prediction_dict['num_proposals']
    class_scores = self._second_stage_score_fn(
        prediction_dict['class_logits'])[:, :, 1:]
    refined = self._decode_refined(prediction_dict['refined_box_encodings'],
                                   proposals)
    length = tf.cast(num_steps, tf.float32)[:, None, None]
    refined = tf.stack([tf.clip_by_value(refined[..., 0], 0.0, length),
                        tf.clip_by_value(refined[..., 1], 0.0, length)],
                       axis=-1)
    degenerate = refined[..., 1] - refined[..., 0] <= 1e-6
    class_scores = tf.where(degenerate, _INVALID_SCORE *
                            tf.ones_like(class_scores), class_scores)
    segments, scores, classes, num_detections = self._second_stage_nms_fn(
        refined, class_scores, num_valid_segments=num_proposals)
    return {
        fields.DetectionResultFields.detection_segments: segments,
        fields.DetectionResultFields.detection_scores: scores,
        fields.DetectionResultFields.detection_classes: classes + 1.0,
        fields.DetectionResultFields.num_detections: num_detections,
        fields.DetectionResultFields.proposal_segments: proposals,
        fields.DetectionResultFields.proposal_scores:
            prediction_dict['proposal_scores'],
        fields.DetectionResultFields.num_proposals: num_proposals,
    }

  def _decode_refined(self, refined_box_encodings, proposals):
    """[B, P, C, 2] class-specific codes relative to [B, P, 2] proposals."""
    shape = tf.shape(refined_box_encodings)
    tiled = tf.tile(proposals[:, :, None, :], [1, 1, self.num_classes, 1])
    decoded = self._box_coder.decode(
        tf.reshape(refined_box_encodings, [-1, 2]),
        segment_list.SegmentList(tf.reshape(tiled, [-1, 2]))).get()
    return tf.reshape(decoded, shape)

  # ------------------------------------------------------------------- loss --

  def loss(self, prediction_dict, num_steps):
    """Both stages' losses, weighted, keyed like the OD API."""
    num_steps = tf.cast(num_steps, tf.int32)
    with tf.name_scope('Loss'):
      spn_loc, spn_obj = self._first_stage_loss(prediction_dict, num_steps)
      cls_loss, loc_loss = self._second_stage_loss(prediction_dict)
    return {
        'Loss/SPNLoss/localization_loss': self._first_stage_loc_weight * spn_loc,
        'Loss/SPNLoss/objectness_loss': self._first_stage_obj_weight * spn_obj,
        'Loss/BoxClassifierLoss/localization_loss':
            self._second_stage_loc_weight * loc_loss,
        'Loss/BoxClassifierLoss/classification_loss':
            self._second_stage_cls_weight * cls_loss,
    }

  def _first_stage_loss(self, prediction_dict, num_steps):
    """Objectness and regression over 256 sampled anchors per video."""
    anchors = segment_list.SegmentList(prediction_dict['anchors'])
    num_anchors_per_step = self._anchor_generator.num_anchors_per_location()
    num_anchors = tf.shape(prediction_dict['anchors'])[0]
    gt_segments, _, gt_counts = self._groundtruth()

    def targets_one(args):
      segments, num_gt, video_steps = args
      segments = segments[:num_gt]
      cls_targets, cls_weights, reg_targets, reg_weights, _ = (
          self._first_stage_target_assigner.assign(
              anchors, segment_list.SegmentList(segments),
              tf.ones([num_gt, 1], tf.float32), tf.zeros([1], tf.float32)))
      # Anchors centred on padded steps do not exist for this video.
      valid = tf.range(num_anchors) < video_steps * num_anchors_per_step
      candidates = tf.logical_and(valid, cls_weights > 0)
      positives = tf.logical_and(candidates, reg_weights > 0)
      sampled = tf.cast(self._first_stage_sampler.subsample(
          candidates, self._first_stage_minibatch_size, positives), tf.float32)
      return cls_targets[:, 0], reg_targets, reg_weights, sampled

    is_action, reg_targets, reg_weights, sampled = tf.map_fn(
        targets_one, (gt_segments, gt_counts, num_steps),
        fn_output_signature=(
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None, 2], tf.float32),
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None], tf.float32)))
    sampled = tf.stop_gradient(sampled)
    normalizer = tf.maximum(tf.reduce_sum(sampled, axis=1), 1.0)
    objectness_targets = tf.one_hot(tf.cast(is_action, tf.int32), 2,
                                    dtype=tf.float32)
    objectness = self._first_stage_cls_loss(
        prediction_dict['rpn_objectness_logits'], objectness_targets,
        weights=sampled)
    localization = self._first_stage_loc_loss(
        prediction_dict['rpn_box_encodings'], reg_targets,
        weights=sampled * reg_weights)
    objectness = tf.reduce_mean(tf.reduce_sum(objectness, 1) / normalizer)
    localization = tf.reduce_mean(tf.reduce_sum(localization, 1) / normalizer)
    return localization, objectness

  def _second_stage_loss(self, prediction_dict):
    """Classification and class-specific regression of the sampled proposals."""
    proposals = prediction_dict['proposal_segments']
    num_proposals = prediction_dict['num_proposals']
    gt_segments, gt_classes, gt_counts = self._groundtruth()

    def targets_one(args):
      video_proposals, segments, classes, num_gt = args
      cls_targets, cls_weights, reg_targets, reg_weights, _ = (
          self._second_stage_target_assigner.assign(
              segment_list.SegmentList(video_proposals),
              segment_list.SegmentList(segments[:num_gt]),
              _with_background_column(classes[:num_gt]),
              self._background_one_hot()))
      return cls_targets, cls_weights, reg_targets, reg_weights

    cls_targets, cls_weights, reg_targets, reg_weights = tf.map_fn(
        targets_one, (proposals, gt_segments, gt_classes, gt_counts),
        fn_output_signature=(
            tf.TensorSpec([None, self.num_classes + 1], tf.float32),
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None, 2], tf.float32),
            tf.TensorSpec([None], tf.float32)))
    valid = tf.sequence_mask(num_proposals, tf.shape(proposals)[1],
                             dtype=tf.float32)
    normalizer = tf.maximum(tf.reduce_sum(valid, axis=1), 1.0)
    classification = self._second_stage_cls_loss(
        prediction_dict['class_logits'], cls_targets,
        weights=valid * cls_weights)
    # Regress only with the encodings of each proposal's ground-truth class.
    target_class = tf.argmax(cls_targets[..., 1:], axis=-1,
                             output_type=tf.int32)
    chosen = tf.gather(prediction_dict['refined_box_encodings'], target_class,
                       axis=2, batch_dims=2)
    localization = self._second_stage_loc_loss(
        chosen, reg_targets, weights=valid * reg_weights)
    classification = tf.reduce_mean(
        tf.reduce_sum(classification, 1) / normalizer)
    localization = tf.reduce_mean(tf.reduce_sum(localization, 1) / normalizer)
    return classification, localization

  # ------------------------------------------------------------- variables --

  def restore_map(self, fine_tune_checkpoint_type='detection'):
    """{checkpoint name: variable} of the model's variables to initialise.

    'detection' restores every model variable; 'feature_reduction' only the
    kernel-1 reduction layers (e.g. from a model trained on other classes).
    """
    if fine_tune_checkpoint_type not in ('detection', 'feature_reduction'):
      raise ValueError('fine_tune_checkpoint_type must be detection or '
                       'feature_reduction, got %r' % fine_tune_checkpoint_type)
    prefixes = tuple(p.name + '/' for p in self._pipelines)
    variables = {}
    for var in tf.compat.v1.global_variables():
      name = var.op.name
      if not name.startswith(prefixes):
        continue
      if (fine_tune_checkpoint_type == 'feature_reduction' and
          'FeatureReduction' not in name):
        continue
      variables[name] = var
    return variables

  def regularization_losses(self):
    prefixes = tuple(p.name + '/' for p in self._pipelines)
    return [loss for loss in tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)
            if loss.op.name.startswith(prefixes)]


def _mean_over(per_pipeline, key):
  """Element-wise mean of one prediction over pipelines (late fusion)."""
  tensors = [outputs[key] for outputs in per_pipeline.values()]
  if len(tensors) == 1:
    return tensors[0]
  return tf.add_n(tensors) / float(len(tensors))


def _with_background_column(one_hot_classes):
  """[N, C] one-hot over actions -> [N, C+1] with background as column 0."""
  return tf.pad(one_hot_classes, [[0, 0], [1, 0]])
