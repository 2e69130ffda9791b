"""TAL-Net's first stage: the Segment Proposal Network and its proposals.

Per pipeline: kernel-1 feature reduction -> SPN towers -> objectness and
regression logits for every anchor (step-major: the K anchors of step 0, then
of step 1, ...). The pipelines' logits are averaged, decoded against the
anchors, clipped to the video, and class-agnostic NMS keeps the top proposals.

Training: every video's anchors are matched to its ground truth (arg-max
tIoU), a balanced minibatch of anchors is sampled, and the objectness (softmax
over {background, action}) and regression (matched anchors only) losses are
normalised by the minibatch size.
"""
import tensorflow as tf

from tal_detection.core import box_coder as box_coder_lib
from tal_detection.core import segment_list
from tal_detection.meta_architectures import pipelines as pipelines_lib
from tal_detection.meta_architectures import stage_ops
from tal_detection.utils import shape_utils


class ProposalStage(object):
  """Anchors -> per-pipeline SPN -> fused logits -> proposals; and its loss."""

  def __init__(self, pipeline_names, reduce_features_fn, spn_factory,
               anchor_generator, box_coder, target_assigner, sampler,
               minibatch_size, proposal_nms_fn, losses):
    """Creates the stage.

    Args:
      pipeline_names: names (= variable scopes) of the pipelines, in order.
      reduce_features_fn: fn(features [B, T, D], scope) -> [B, T, depth], the
        kernel-1 reduction in front of the SPN (feature_reduction with its
        depth and hyperparams bound).
      spn_factory: callable() -> models.spn_towers.SegmentProposalNetwork,
        called once per pipeline so each pipeline has its own towers.
      anchor_generator: a core.anchor_generator.AnchorGenerator.
      box_coder: core.box_coder.BoxCoder of the anchor regression.
      target_assigner: core.target_assigner.TargetAssigner for anchors.
      sampler: BalancedPositiveNegativeSampler of the anchor minibatch.
      minibatch_size: anchors sampled per video for the loss.
      proposal_nms_fn: class-agnostic batch NMS with its thresholds and sizes
        bound: fn(segments [B, N, 1, 2], scores [B, N, 1],
        num_valid_segments=[B]) -> (segments, scores, classes, count), as
        core.post_processing.batch_multiclass_non_max_suppression.
      losses: stage_ops.StageLosses (objectness = the classification loss).

    Raises:
      ValueError: if pipeline_names is empty or the SPN's anchors per step
        differ from the anchor generator's.
    """
    self._pipeline_names = list(pipeline_names)
    if not self._pipeline_names:
      raise ValueError('ProposalStage needs at least one pipeline')
    self._reduce_features_fn = reduce_features_fn
    self._spns = {name: spn_factory() for name in self._pipeline_names}
    self._anchor_generator = anchor_generator
    self._box_coder = box_coder
    self._target_assigner = target_assigner
    self._sampler = sampler
    self._minibatch_size = minibatch_size
    self._proposal_nms_fn = proposal_nms_fn
    self._losses = losses
    anchors_per_step = anchor_generator.num_anchors_per_location()
    for name, spn in self._spns.items():
      # The SPN's outputs are reshaped onto the generator's anchors.
      if spn.num_anchors_per_location != anchors_per_step:
        raise ValueError(
            'ProposalStage: the SPN of pipeline %r predicts %d anchors per '
            'step, the anchor generator makes %d' %
            (name, spn.num_anchors_per_location, anchors_per_step))

  @property
  def pipeline_names(self):
    return list(self._pipeline_names)

  @property
  def anchor_generator(self):
    return self._anchor_generator

  @property
  def target_assigner(self):
    return self._target_assigner

  def segment_proposal_network(self, pipeline_name):
    """The SegmentProposalNetwork of one pipeline."""
    return self._spns[pipeline_name]

  def predict(self, pipeline_inputs, num_steps):
    """Runs the SPNs and makes the proposals.

    Args:
      pipeline_inputs: {pipeline name: [B, T, D] float}, anything on padded
        steps (the SPN leaves them out); the networks compute in their dtype.
      num_steps: [B] int32 valid lengths.

    Returns:
      dict with anchors [T*K, 2]; rpn_objectness_logits [B, T*K, 2] and
      rpn_box_encodings [B, T*K, 2] (means over pipelines);
      proposal_segments [B, P, 2], proposal_scores [B, P], num_proposals [B]
      (P = the NMS's maximum); per_pipeline: {name: {rpn_objectness_logits,
      rpn_box_encodings}}. All float32.
    """
    num_time = tf.shape(pipeline_inputs[self._pipeline_names[0]])[1]
    valid_mask = tf.sequence_mask(num_steps, num_time, dtype=tf.float32)
    anchors = self._anchor_generator.generate(num_time).get()
    num_anchors_per_step = self._anchor_generator.num_anchors_per_location()

    per_pipeline = {}
    for name in self._pipeline_names:
      with tf.compat.v1.variable_scope(name):
        # The reduction is per step and the SPN leaves padded steps out.
        reduced = self._reduce_features_fn(
            pipeline_inputs[name], scope='FirstStageFeatureReduction')
        objectness, encodings = self._spns[name].predict(
            reduced, valid_mask, scope='SegmentProposalNetwork')
      # Decoding, NMS and the losses run in float32 whatever the compute
      # dtype.
      objectness = tf.cast(objectness, tf.float32)
      encodings = tf.cast(encodings, tf.float32)
      batch = tf.shape(objectness)[0]
      per_pipeline[name] = {
          'rpn_objectness_logits': tf.reshape(
              objectness, [batch, num_time * num_anchors_per_step, 2]),
          'rpn_box_encodings': tf.reshape(
              encodings, [batch, num_time * num_anchors_per_step, 2]),
      }
    objectness = pipelines_lib.mean_over_pipelines(per_pipeline,
                                                   'rpn_objectness_logits')
    encodings = pipelines_lib.mean_over_pipelines(per_pipeline,
                                                  'rpn_box_encodings')
    proposals, scores, num_proposals = self.proposals(
        objectness, encodings, anchors, num_steps)
    return {
        'anchors': anchors,
        'rpn_objectness_logits': objectness,
        'rpn_box_encodings': encodings,
        'proposal_segments': proposals,
        'proposal_scores': scores,
        'num_proposals': num_proposals,
        'per_pipeline': per_pipeline,
    }

  def proposals(self, objectness_logits, box_encodings, anchors, num_steps):
    """Decode, clip to the video, drop empty ones, NMS, keep the top N.

    Args:
      objectness_logits: [B, T*K, 2] (background, action).
      box_encodings: [B, T*K, 2] against anchors.
      anchors: [T*K, 2] step-major anchors.
      num_steps: [B] int32 valid lengths; anchors of later steps are left out.

    Returns:
      (segments [B, P, 2], scores [B, P] = softmax action probability,
      count [B]), best first, zero past count.
    """
    decoded = box_coder_lib.batch_decode(box_encodings, self._box_coder,
                                         anchors)
    start, end = stage_ops.clip_to_videos(decoded, num_steps)
    clipped = shape_utils.stack_last_axis([start, end])
    scores = tf.nn.softmax(objectness_logits)[..., 1]
    # Anchors are step-major, so the anchors of valid steps form a prefix.
    num_valid_anchors = (num_steps *
                         self._anchor_generator.num_anchors_per_location())
    scores = stage_ops.exclude_empty_segments(scores, start, end)
    segments, scores, _, num_proposals = self._proposal_nms_fn(
        clipped[:, :, None, :], scores[:, :, None],
        num_valid_segments=num_valid_anchors)
    return segments, scores, num_proposals

  def loss(self, objectness_logits, box_encodings, anchors, num_steps,
           groundtruth_segments, num_groundtruth_segments):
    """Weighted objectness and regression losses over the sampled anchors.

    Args:
      objectness_logits: [B, T*K, 2].
      box_encodings: [B, T*K, 2].
      anchors: [T*K, 2].
      num_steps: [B] int32; anchors centred past a video's end are never
        sampled.
      groundtruth_segments: [B, N, 2] float, padded.
      num_groundtruth_segments: [B] int32 valid rows.

    Returns:
      {'localization_loss', 'objectness_loss'}: scalars, each the mean over
      videos of the summed loss / sampled anchors, times its weight.
    """
    anchor_list = segment_list.SegmentList(anchors)
    num_anchors_per_step = self._anchor_generator.num_anchors_per_location()
    num_anchors = tf.shape(anchors)[0]

    def targets_one(args):
      segments, num_gt, video_steps = args
      segments = segments[:num_gt]
      cls_targets, cls_weights, reg_targets, reg_weights, _ = (
          self._target_assigner.assign(
              anchor_list, segment_list.SegmentList(segments),
              tf.ones([num_gt, 1], tf.float32), tf.zeros([1], tf.float32)))
      # Anchors centred on padded steps do not exist for this video.
      valid = tf.range(num_anchors) < video_steps * num_anchors_per_step
      candidates = tf.logical_and(valid, cls_weights > 0)
      positives = tf.logical_and(candidates, reg_weights > 0)
      sampled = tf.cast(self._sampler.subsample(
          candidates, self._minibatch_size, positives), tf.float32)
      return cls_targets[:, 0], reg_targets, reg_weights, sampled

    is_action, reg_targets, reg_weights, sampled = tf.map_fn(
        targets_one,
        (groundtruth_segments, num_groundtruth_segments, num_steps),
        fn_output_signature=(
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None, 2], tf.float32),
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None], tf.float32)))
    sampled = tf.stop_gradient(sampled)
    normalizer = tf.maximum(tf.reduce_sum(sampled, axis=1), 1.0)
    objectness_targets = tf.one_hot(tf.cast(is_action, tf.int32), 2,
                                    dtype=tf.float32)
    objectness = self._losses.classification_loss(
        objectness_logits, objectness_targets, weights=sampled)
    localization = self._losses.localization_loss(
        box_encodings, reg_targets, weights=sampled * reg_weights)
    objectness, localization = stage_ops.weighted_stage_losses(
        self._losses, objectness, localization, normalizer)
    return {'localization_loss': localization, 'objectness_loss': objectness}
