"""TAL-Net's second stage: SoI pooling with context and the box classifier.

Per pipeline: every proposal, extended by its context, is SoI-pooled from the
pipeline's input features and classified (C+1 logits, background first) and
regressed (one (tc, tl) per action class); the pipelines' logits are averaged.
Post-processing: scores, class-specific decoding against the proposal,
clipping to the video, per-class NMS.

Training: the proposals of every video are matched to its ground truth
(arg-max tIoU); a balanced minibatch of them is what the classifier sees, and
the classification (every sampled proposal) and regression (foreground ones,
with their ground-truth class's encodings) losses are normalised by it.
"""

import tensorflow as tf

from tal_detection.core import segment_list
from tal_detection.core import standard_fields as fields
from tal_detection.meta_architectures import pipelines as pipelines_lib
from tal_detection.meta_architectures import stage_ops
from tal_detection.utils import shape_utils


class ClassifierStage(object):
  """SoI pooling -> per-pipeline classifier -> fused logits -> detections."""

  def __init__(self, pipeline_names, num_classes, soi_pooling_fn,
               box_classifier_factory, box_coder, target_assigner, sampler,
               batch_size, non_max_suppression_fn, score_conversion_fn,
               losses, proposals_per_chunk_fn=None):
    """Creates the stage.

    Args:
      pipeline_names: names (= variable scopes) of the pipelines, in order.
      num_classes: action classes C (background excluded).
      soi_pooling_fn: fn(features [B, T, D], proposals [B, P, 2], num_steps,
        proposal_chunks=None, output_dtype=None) -> [B, P, bins, D], or one
        [B, end - start, bins, D] per (start, end) of proposal_chunks, of
        output_dtype (None: the features'): ops.soi_pooling with crop size,
        context ratio and max-pool bound.
      box_classifier_factory: callable() -> models.box_classifier.BoxClassifier
        (of num_classes classes), called once per pipeline.
      box_coder: core.box_coder.BoxCoder of the class-specific regression.
      target_assigner: core.target_assigner.TargetAssigner for proposals.
      sampler: BalancedPositiveNegativeSampler of the proposal minibatch.
      batch_size: proposals sampled per video in training.
      non_max_suppression_fn: per-class batch NMS with its thresholds and
        sizes bound: fn(segments [B, P, C, 2], scores [B, P, C],
        num_valid_segments=[B]) (post_processing_builder).
      score_conversion_fn: class logits -> scores (post_processing_builder).
      losses: stage_ops.StageLosses.
      proposals_per_chunk_fn: None, or fn(num_proposals, depth) -> how many
        proposals predict() pools and classifies at a time, for a static
        number of proposals and feature depth (e.g.
        ops.soi_pooling.proposals_per_chunk); None: all at once.

    Raises:
      ValueError: if pipeline_names is empty or a classifier has another
        number of classes.
    """
    self._pipeline_names = list(pipeline_names)
    if not self._pipeline_names:
      raise ValueError('ClassifierStage needs at least one pipeline')
    self._num_classes = num_classes
    self._soi_pooling_fn = soi_pooling_fn
    self._box_classifiers = {name: box_classifier_factory()
                             for name in self._pipeline_names}
    for name, classifier in self._box_classifiers.items():
      # Its outputs are reshaped to [B, P, num_classes (+ 1), ...].
      if classifier.num_classes != num_classes:
        raise ValueError('ClassifierStage: the classifier of pipeline %r has %d'
                         ' classes, the stage %d' %
                         (name, classifier.num_classes, num_classes))
    self._box_coder = box_coder
    self._target_assigner = target_assigner
    self._sampler = sampler
    self._batch_size = batch_size
    self._non_max_suppression_fn = non_max_suppression_fn
    self._score_conversion_fn = score_conversion_fn
    self._losses = losses
    self._proposals_per_chunk_fn = proposals_per_chunk_fn

  @property
  def pipeline_names(self):
    return list(self._pipeline_names)

  @property
  def num_classes(self):
    return self._num_classes

  @property
  def target_assigner(self):
    return self._target_assigner

  def sample_minibatch(self, proposals, proposal_scores, num_proposals,
                       groundtruth_segments, groundtruth_classes,
                       num_groundtruth_segments):
    """Samples batch_size proposals per video (balanced fore/background).

    Proposals the matcher ignores are never sampled.

    Args:
      proposals: [B, P, 2]; proposal_scores [B, P]; num_proposals [B].
      groundtruth_segments: [B, N, 2], padded.
      groundtruth_classes: [B, N, C] one-hot, padded.
      num_groundtruth_segments: [B] int32.

    Returns:
      (proposals [B, batch_size, 2], scores [B, batch_size], count [B]) of
      the sampled proposals in their original order, zero-padded.
    """
    batch_size = self._batch_size

    def sample_one(args):
      video_proposals, scores, count, segments, classes, num_gt = args
      valid = tf.range(tf.shape(video_proposals)[0]) < count
      _, cls_weights, _, _, match = self._assign(video_proposals, segments,
                                                 classes, num_gt)
      candidates = tf.logical_and(valid, cls_weights > 0)
      positives = tf.logical_and(candidates, match.matched_column_indicator())
      sampled = self._sampler.subsample(candidates, batch_size, positives)
      indices = tf.reshape(tf.where(sampled), [-1])
      pad = batch_size - tf.shape(indices)[0]
      return (tf.pad(tf.gather(video_proposals, indices), [[0, pad], [0, 0]]),
              tf.pad(tf.gather(scores, indices), [[0, pad]]),
              tf.shape(indices)[0])

    return tf.map_fn(
        sample_one,
        (proposals, proposal_scores, num_proposals, groundtruth_segments,
         groundtruth_classes, num_groundtruth_segments),
        fn_output_signature=(
            tf.TensorSpec([batch_size, 2], tf.float32),
            tf.TensorSpec([batch_size], tf.float32),
            tf.TensorSpec([], tf.int32)))

  def _assign(self, video_proposals, segments, classes, num_gt):
    """Targets of one video's proposals: classes with background column 0."""
    return self._target_assigner.assign(
        segment_list.SegmentList(video_proposals),
        segment_list.SegmentList(segments[:num_gt]),
        _with_background_column(classes[:num_gt]),
        tf.one_hot(0, self._num_classes + 1, dtype=tf.float32))

  def predict(self, pipeline_inputs, proposals, num_steps, compute_dtype=None):
    """Classifies and regresses every proposal.

    With proposals_per_chunk_fn, the proposals are pooled and classified a
    chunk at a time (the same weights, the same values per proposal): each
    chunk's SoI samples are then read back by the max-pool and the
    classifier's first MatMul from cache rather than from memory. One SoI
    pooling call per pipeline pools every chunk, so the sample positions are
    computed once.

    Args:
      pipeline_inputs: {pipeline name: [B, T, D] float}, what SoI pooling
        reads.
      proposals: [B, P, 2] in steps (padding rows are classified too; callers
        mask them with the proposal count).
      num_steps: [B] int32; SoI pooling reads zeros past a video's end.
      compute_dtype: the dtype the classifiers compute in (the pooled
        features are cast to it); None: the dtype of pipeline_inputs.

    Returns:
      dict with class_logits [B, P, C+1] and refined_box_encodings
      [B, P, C, 2] (means over pipelines); per_pipeline: {name:
      {class_logits, refined_box_encodings}}. All float32.
    """
    per_pipeline = {}
    for name in self._pipeline_names:
      features = pipeline_inputs[name]
      proposal_chunks = self._proposal_chunks(proposals, features)
      pooled_chunks = None
      chunks = []
      for index, (_, end) in enumerate(proposal_chunks):
        # Chunks after the first reuse the first one's variables. One
        # chunk slices nothing: the graph (and the op ids its random
        # initialisers' seeds derive from) is the unchunked one.
        with tf.compat.v1.variable_scope(name, reuse=True if index else None):
          if end is None:
            pooled = self._soi_pooling_fn(features, proposals, num_steps,
                                          output_dtype=compute_dtype)
          else:
            if pooled_chunks is None:
              pooled_chunks = self._soi_pooling_fn(
                  features, proposals, num_steps,
                  proposal_chunks=proposal_chunks,
                  output_dtype=compute_dtype)
            pooled = pooled_chunks[index]
          chunks.append(self._classify(name, pooled))
      # Scores, decoding, NMS and the losses run in float32 whatever the
      # compute dtype.
      per_pipeline[name] = {
          key: tf.cast(values[0] if len(values) == 1 else
                       tf.concat(values, axis=1), tf.float32)
          for key, values in zip(('class_logits', 'refined_box_encodings'),
                                 zip(*chunks))}
    return {
        'class_logits': pipelines_lib.mean_over_pipelines(per_pipeline,
                                                          'class_logits'),
        'refined_box_encodings': pipelines_lib.mean_over_pipelines(
            per_pipeline, 'refined_box_encodings'),
        'per_pipeline': per_pipeline,
    }

  def _proposal_chunks(self, proposals, features):
    """[(start, end)] of the proposal chunks predict() classifies in turn;
    [(0, None)]: all at once."""
    num_proposals = proposals.shape[1]
    depth = features.shape[-1]
    if (self._proposals_per_chunk_fn is None or num_proposals is None or
        depth is None):
      return [(0, None)]
    size = self._proposals_per_chunk_fn(int(num_proposals), int(depth))
    if size >= num_proposals:
      return [(0, None)]
    return [(start, min(start + size, num_proposals))
            for start in range(0, num_proposals, size)]

  def _classify(self, name, pooled):
    """Pipeline `name`'s class logits [B, P, C+1] and box encodings [B, P,
    C, 2] of the proposals' pooled features [B, P, bins, D], in its compute
    dtype."""
    batch = tf.shape(pooled)[0]
    num_props = tf.shape(pooled)[1]
    flat = tf.reshape(pooled, tf.concat(
        [[batch * num_props], tf.shape(pooled)[2:]], axis=0))
    class_logits, box_encodings = self._box_classifiers[name].predict(
        flat, scope='SecondStageBoxClassifier')
    return (tf.reshape(class_logits,
                       [batch, num_props, self._num_classes + 1]),
            tf.reshape(box_encodings,
                       [batch, num_props, self._num_classes, 2]))

  def loss(self, class_logits, refined_box_encodings, proposals, num_proposals,
           groundtruth_segments, groundtruth_classes, num_groundtruth_segments):
    """Weighted classification and class-specific regression losses.

    Args:
      class_logits: [B, P, C+1]; refined_box_encodings [B, P, C, 2].
      proposals: [B, P, 2] (the sampled minibatch); num_proposals [B].
      groundtruth_segments: [B, N, 2]; groundtruth_classes [B, N, C] one-hot;
        num_groundtruth_segments [B].

    Returns:
      {'localization_loss', 'classification_loss'}: scalars, each the mean
      over videos of the summed loss / valid proposals, times its weight.
    """
    num_classes = self._num_classes

    def targets_one(args):
      video_proposals, segments, classes, num_gt = args
      cls_targets, cls_weights, reg_targets, reg_weights, _ = self._assign(
          video_proposals, segments, classes, num_gt)
      return cls_targets, cls_weights, reg_targets, reg_weights

    cls_targets, cls_weights, reg_targets, reg_weights = tf.map_fn(
        targets_one,
        (proposals, groundtruth_segments, groundtruth_classes,
         num_groundtruth_segments),
        fn_output_signature=(
            tf.TensorSpec([None, num_classes + 1], tf.float32),
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None, 2], tf.float32),
            tf.TensorSpec([None], tf.float32)))
    valid = tf.sequence_mask(num_proposals, tf.shape(proposals)[1],
                             dtype=tf.float32)
    normalizer = tf.maximum(tf.reduce_sum(valid, axis=1), 1.0)
    classification = self._losses.classification_loss(
        class_logits, cls_targets, weights=valid * cls_weights)
    # Regress only with the encodings of each proposal's ground-truth class.
    target_class = tf.argmax(cls_targets[..., 1:], axis=-1,
                             output_type=tf.int32)
    chosen = tf.gather(refined_box_encodings, target_class, axis=2,
                       batch_dims=2)
    localization = self._losses.localization_loss(
        chosen, reg_targets, weights=valid * reg_weights)
    classification, localization = stage_ops.weighted_stage_losses(
        self._losses, classification, localization, normalizer)
    return {'localization_loss': localization,
            'classification_loss': classification}

  def postprocess(self, class_logits, refined_box_encodings, proposals,
                  num_proposals, num_steps):
    """Detections per video, in feature steps, zero-padded.

    Args:
      class_logits: [B, P, C+1]; refined_box_encodings [B, P, C, 2].
      proposals: [B, P, 2]; num_proposals [B] (rows past it are ignored).
      num_steps: [B] int32; detections are clipped to [0, num_steps].

    Returns:
      dict with DetectionResultFields detection_segments [B, M, 2],
      detection_scores [B, M], detection_classes [B, M] (label ids, 1-based)
      and num_detections [B].
    """
    class_scores = self._score_conversion_fn(class_logits)[:, :, 1:]
    refined = self._decode_refined(refined_box_encodings, proposals)
    start, end = stage_ops.clip_to_videos(refined, num_steps)
    refined = shape_utils.stack_last_axis([start, end])
    class_scores = stage_ops.exclude_empty_segments(class_scores, start, end)
    segments, scores, classes, num_detections = self._non_max_suppression_fn(
        refined, class_scores, num_valid_segments=num_proposals)
    return {
        fields.DetectionResultFields.detection_segments: segments,
        fields.DetectionResultFields.detection_scores: scores,
        fields.DetectionResultFields.detection_classes: classes + 1.0,
        fields.DetectionResultFields.num_detections: num_detections,
    }

  def _decode_refined(self, refined_box_encodings, proposals):
    """[B, P, C, 2] class-specific codes relative to [B, P, 2] proposals."""
    shape = tf.shape(refined_box_encodings)
    tiled = tf.tile(proposals[:, :, None, :], [1, 1, self._num_classes, 1])
    decoded = self._box_coder.decode(
        tf.reshape(refined_box_encodings, [-1, 2]),
        segment_list.SegmentList(tf.reshape(tiled, [-1, 2]))).get()
    return tf.reshape(decoded, shape)


def _with_background_column(one_hot_classes):
  """[N, C] one-hot over actions -> [N, C+1] with background as column 0."""
  return tf.pad(one_hot_classes, [[0, 0], [1, 0]])
