"""TAL-Net meta-architecture: Faster R-CNN in one dimension (Chao et al., CVPR 2018).

The temporal counterpart of the OD API's FasterRCNNMetaArch, composed of two
stage objects that are built (model_builder) and tested on their own:

  ProposalStage (proposal_stage.py): features --(kernel-1 conv)--> SPN towers
    --> objectness and regression per anchor --> decode, clip, NMS, top N
    --> proposals; the anchors' targets, minibatch and losses.
  ClassifierStage (classifier_stage.py): proposals --> SoI pooling (with
    context) on the pipeline's features --> box classifier --> C+1 class
    logits and C x 2 class-specific regression --> softmax, decode, per-class
    NMS --> detections; the proposals' targets, minibatch and losses.

This module owns what joins them: the input streams and their pipelines
(pipelines.py; LATE fusion = one pipeline per stream, EARLY = one on the
concatenated streams, each stage averaging its pipelines' logits), padding,
the ground truth, the training-time minibatch of proposals handed from the
first stage to the second (without gradient), and the model's variables.

Coordinates are feature steps (step i covers [i, i + 1)). Batches are padded along
time; num_steps [B] gives each video's valid length and everything past it is masked,
so a padded batch yields the same detections per video as running each alone.
Per-video work (target assignment, sampling) runs under tf.map_fn over padded
ground truth, so the batch size need not be known when the graph is built.
"""
import tensorflow as tf

from tal_detection.core import model
from tal_detection.core import standard_fields as fields
from tal_detection.meta_architectures import pipelines as pipelines_lib
from tal_detection.utils import precision_util


class TalNetMetaArch(model.DetectionModel):
  """Two-stage temporal action detector (TAL-Net)."""

  def __init__(self, is_training, pipelines, proposal_stage, classifier_stage):
    """Composes the two stages.

    Args:
      is_training: whether the graph is for training (the classifier then
        sees a sampled minibatch of the proposals; provide_groundtruth must
        come before predict).
      pipelines: list of pipelines.Pipeline (pipelines.pipelines_for_fusion).
      proposal_stage: proposal_stage.ProposalStage over these pipelines.
      classifier_stage: classifier_stage.ClassifierStage over these pipelines;
        its num_classes is the model's.

    Raises:
      ValueError: if a stage runs other pipelines (the stages themselves
        refuse to run none).
    """
    super().__init__(classifier_stage.num_classes)
    names = [p.name for p in pipelines]
    for stage in (proposal_stage, classifier_stage):
      if stage.pipeline_names != names:
        raise ValueError('TalNetMetaArch: %s runs pipelines %s, the model %s' %
                         (type(stage).__name__, stage.pipeline_names, names))
    self._is_training = is_training
    self._pipelines = list(pipelines)
    self._proposal_stage = proposal_stage
    self._classifier_stage = classifier_stage

  @property
  def pipelines(self):
    return list(self._pipelines)

  @property
  def stream_specs(self):
    specs = []
    for p in self._pipelines:
      specs.extend(p.stream_specs)
    return specs

  @property
  def proposal_stage(self):
    return self._proposal_stage

  @property
  def classifier_stage(self):
    return self._classifier_stage

  @property
  def anchor_generator(self):
    return self._proposal_stage.anchor_generator

  def preprocess(self, features, num_steps):
    """Picks the model's streams; non-floating streams become float32.

    Floating-point streams keep their dtype: it is the dtype the model then
    computes in (see predict).

    Padded steps (at and past a video's num_steps) are passed on as they
    are, whatever they hold: every reader of the streams leaves them out
    itself, so a video gives the same detections alone and in a padded
    batch. The SPN follows the padding rule of models/spn_towers.py (its
    feature reduction is per step; its convs and max-pools never read a
    padded step), and SoI pooling reads zeros past num_steps. Zeroing them
    here as well was a multiply per stream and call that changed no output
    (main config: about 60 us per 188 x 1024 stream in a trace, at the start
    of every call; untraced, with the exports called in a shuffled order,
    no latency change stood out of the noise: the first op to read a stream
    pays for fetching it either way).
    """
    num_steps = tf.cast(num_steps, tf.int32)
    preprocessed = {}
    for name in self.stream_names:
      if name not in features:
        raise ValueError('features has no stream %r (has %s)' %
                         (name, sorted(features)))
      stream = tf.convert_to_tensor(features[name])
      if not stream.dtype.is_floating:
        stream = tf.cast(stream, tf.float32)
      preprocessed[name] = stream
    return preprocessed, num_steps

  def predict(self, preprocessed_features, num_steps, compute_dtype=None):
    """Runs both stages.

    Compute dtype: the networks compute in compute_dtype (default: the dtype
    of the streams, all the same). The streams are cast to it where the
    networks read them, the SPNs' inputs; SoI pooling reads them as they come
    (it interpolates in float32 whatever their dtype) and the pooled
    features are cast for the box classifiers. So with float32 streams and
    a bfloat16 compute dtype the pooled features are rounded once, not
    interpolated from rounded features (and the stream is not cast back).
    Variables are always created and stored in float32 and cast to the
    compute dtype where they are read (precision_util.float32_variables), so
    checkpoints are the same whatever the dtype and gradients reach float32
    variables. Every output of predict is float32: the stages cast their
    logits before decoding, NMS and losses.

    Args:
      preprocessed_features: dict stream name -> [B, T, D] (from preprocess).
      num_steps: [B] int32 valid lengths.
      compute_dtype: None, or the floating dtype the networks compute in.

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
    stream_dtype = _stream_dtype(preprocessed_features, self.stream_names)
    compute_dtype = tf.as_dtype(compute_dtype or stream_dtype)
    with precision_util.float32_variables(compute_dtype):
      return self._predict(preprocessed_features, num_steps, compute_dtype)

  def _predict(self, preprocessed_features, num_steps, compute_dtype):
    """predict() inside its variable scope."""
    inputs = pipelines_lib.pipeline_inputs(self._pipelines,
                                           preprocessed_features)
    first = self._proposal_stage.predict(
        {name: tf.cast(pipeline_input, compute_dtype)
         for name, pipeline_input in inputs.items()}, num_steps)
    proposals = first['proposal_segments']
    proposal_scores = first['proposal_scores']
    num_proposals = first['num_proposals']
    if self._is_training:
      proposals, proposal_scores, num_proposals = (
          self._classifier_stage.sample_minibatch(
              proposals, proposal_scores, num_proposals, *self._groundtruth()))
    # Proposals are inputs to the second stage, not something it may move.
    proposals = tf.stop_gradient(proposals)
    proposal_scores = tf.stop_gradient(proposal_scores)
    second = self._classifier_stage.predict(inputs, proposals, num_steps,
                                            compute_dtype=compute_dtype)

    per_pipeline = {}
    for p in self._pipelines:
      per_pipeline[p.name] = dict(first['per_pipeline'][p.name])
      per_pipeline[p.name].update(second['per_pipeline'][p.name])
    return {
        'anchors': first['anchors'],
        'rpn_objectness_logits': first['rpn_objectness_logits'],
        'rpn_box_encodings': first['rpn_box_encodings'],
        'proposal_segments': proposals,
        'proposal_scores': proposal_scores,
        'num_proposals': num_proposals,
        'class_logits': second['class_logits'],
        'refined_box_encodings': second['refined_box_encodings'],
        'num_steps': num_steps,
        'per_pipeline': per_pipeline,
    }

  def _groundtruth(self):
    """(segments [B, N, 2], classes [B, N, C], counts [B]) given for training."""
    return (self.groundtruth_lists(fields.SegmentListFields.segments),
            self.groundtruth_lists(fields.SegmentListFields.classes),
            tf.cast(self.groundtruth_lists(
                fields.InputDataFields.num_groundtruth_segments), tf.int32))

  def postprocess(self, prediction_dict, num_steps):
    """Detections and proposals per video, in feature steps, zero-padded.

    Returns:
      dict with DetectionResultFields: detection_segments [B, M, 2] (steps),
      detection_scores [B, M], detection_classes [B, M] (1-based),
      num_detections [B], proposal_segments, proposal_scores, num_proposals.
    """
    num_steps = tf.cast(num_steps, tf.int32)
    detections = self._classifier_stage.postprocess(
        prediction_dict['class_logits'],
        prediction_dict['refined_box_encodings'],
        prediction_dict['proposal_segments'], prediction_dict['num_proposals'],
        num_steps)
    detections[fields.DetectionResultFields.proposal_segments] = (
        prediction_dict['proposal_segments'])
    detections[fields.DetectionResultFields.proposal_scores] = (
        prediction_dict['proposal_scores'])
    detections[fields.DetectionResultFields.num_proposals] = (
        prediction_dict['num_proposals'])
    return detections

  def loss(self, prediction_dict, num_steps):
    """Both stages' losses, weighted, keyed like the OD API."""
    num_steps = tf.cast(num_steps, tf.int32)
    gt_segments, gt_classes, gt_counts = self._groundtruth()
    # 'Loss/' re-enters the scope without claiming the name: TF uniquifies
    # names ignoring case, so 'Loss' would push the Estimator's own 'loss'
    # summary to 'loss_1'.
    with tf.name_scope('Loss/'):
      first = self._proposal_stage.loss(
          prediction_dict['rpn_objectness_logits'],
          prediction_dict['rpn_box_encodings'], prediction_dict['anchors'],
          num_steps, gt_segments, gt_counts)
      second = self._classifier_stage.loss(
          prediction_dict['class_logits'],
          prediction_dict['refined_box_encodings'],
          prediction_dict['proposal_segments'],
          prediction_dict['num_proposals'], gt_segments, gt_classes,
          gt_counts)
    return {
        'Loss/SPNLoss/localization_loss': first['localization_loss'],
        'Loss/SPNLoss/objectness_loss': first['objectness_loss'],
        'Loss/BoxClassifierLoss/localization_loss': second['localization_loss'],
        'Loss/BoxClassifierLoss/classification_loss':
            second['classification_loss'],
    }

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


def _stream_dtype(preprocessed_features, stream_names):
  """The one floating dtype of the streams."""
  dtypes = {tf.as_dtype(preprocessed_features[name].dtype).base_dtype
            for name in stream_names}
  if len(dtypes) != 1:
    raise ValueError('TalNetMetaArch.predict: the streams must share one '
                     'dtype, got %s' % sorted(d.name for d in dtypes))
  return dtypes.pop()
