"""Abstract detection model: the interface every meta-architecture implements.

The temporal twin of the OD API's DetectionModel. Training calls
provide_groundtruth -> preprocess -> predict -> loss; inference calls
preprocess -> predict -> postprocess. All methods build graph ops.
num_classes and stream_specs are all a caller (model_lib, the exporter, the
tools) needs to feed a model and read its outputs; no config is required.
"""
import abc

from tal_detection.core import standard_fields as fields


class DetectionModel(abc.ABC):
  """A temporal action detector over per-step feature streams."""

  def __init__(self, num_classes):
    self._num_classes = num_classes
    self._groundtruth_lists = {}

  @property
  def num_classes(self):
    """Action classes C, background excluded (label ids 1..C)."""
    return self._num_classes

  @property
  @abc.abstractmethod
  def stream_specs(self):
    """[(stream name, feature dim)] the model reads, in config order.

    Inputs are `features[name]` tensors [B, T, dim]; records store them as
    features/<name>, and a concatenated .npy holds them in this column order.
    """

  @property
  def stream_names(self):
    """The names of stream_specs, in the same order."""
    return [name for name, _ in self.stream_specs]

  def groundtruth_lists(self, field):
    """The padded tensor given to provide_groundtruth for field."""
    if field not in self._groundtruth_lists:
      raise RuntimeError('groundtruth %s was not provided' % field)
    return self._groundtruth_lists[field]

  def groundtruth_has_field(self, field):
    return field in self._groundtruth_lists

  def provide_groundtruth(self, groundtruth_segments, groundtruth_classes,
                          num_groundtruth_segments):
    """Gives the ground truth used by predict() in training and by loss().

    Padded batch tensors rather than per-video lists, so the batch size may be
    unknown when the graph is built (e.g. the last, smaller eval batch).

    Args:
      groundtruth_segments: [B, N, 2] float, feature-step coordinates, padded.
      groundtruth_classes: [B, N, num_classes] one-hot float (column j is label
        id j + 1), padded.
      num_groundtruth_segments: [B] int32, valid rows of each video.
    """
    self._groundtruth_lists[fields.SegmentListFields.segments] = (
        groundtruth_segments)
    self._groundtruth_lists[fields.SegmentListFields.classes] = (
        groundtruth_classes)
    self._groundtruth_lists[fields.InputDataFields.num_groundtruth_segments] = (
        num_groundtruth_segments)

  @abc.abstractmethod
  def preprocess(self, features, num_steps):
    """Prepares inputs.

    Args:
      features: dict stream name -> [B, T, D] float tensor (padded).
      num_steps: [B] int32 valid lengths.

    Returns:
      (preprocessed features dict, num_steps).
    """

  @abc.abstractmethod
  def predict(self, preprocessed_features, num_steps, compute_dtype=None):
    """Runs the network; returns a dict of raw prediction tensors.

    compute_dtype: the floating dtype the networks compute in; None: the
    dtype of the preprocessed features.
    """

  @abc.abstractmethod
  def postprocess(self, prediction_dict, num_steps):
    """Turns predictions into detections (DetectionResultFields keys)."""

  @abc.abstractmethod
  def loss(self, prediction_dict, num_steps):
    """Returns a dict of scalar loss tensors keyed 'Loss/...'."""

  @abc.abstractmethod
  def restore_map(self, fine_tune_checkpoint_type='detection'):
    """Returns {checkpoint variable name: variable} to initialise from."""

  @abc.abstractmethod
  def regularization_losses(self):
    """Returns the list of regularization loss tensors of the model."""
