"""Names shared by decoders, inputs, models, metrics and the exporter.

Every tensor that crosses a module boundary is keyed by one of these strings, so a
rename happens in one place.
"""


class InputDataFields(object):
  """Keys of the decoded / batched input dictionaries.

  Features are keyed per stream: features_key('rgb') -> 'features/rgb'.
  Ground-truth segments are in seconds in the decoded record and in feature-step
  coordinates (step i covers [i, i+1)) after the input pipeline's conversion.
  """
  video_id = 'video_id'
  fps = 'fps'
  stride_frames = 'stride_frames'
  offset_frames = 'offset_frames'
  duration = 'duration'
  # Number of valid feature steps of each video (before padding).
  num_steps = 'num_steps'
  # Step index in the full video where the (training) window starts; 0 at eval.
  window_start = 'window_start'
  groundtruth_segments = 'groundtruth_segments'
  groundtruth_segments_seconds = 'groundtruth_segments_seconds'
  # Label ids 1..C as in the label map.
  groundtruth_classes = 'groundtruth_classes'
  num_groundtruth_segments = 'num_groundtruth_segments'
  # THUMOS'14 Ambiguous segments (seconds, float64 [A, 2]): never a class or a
  # training target; only the THUMOS'14 kit protocol reads them.
  groundtruth_ambiguous_segments_seconds = 'groundtruth_ambiguous_segments_seconds'
  num_groundtruth_ambiguous_segments = 'num_groundtruth_ambiguous_segments'
  evaluation_groundtruth_segments_seconds = 'evaluation_groundtruth_segments_seconds'
  evaluation_groundtruth_classes = 'evaluation_groundtruth_classes'
  num_evaluation_groundtruth_segments = 'num_evaluation_groundtruth_segments'
  features_prefix = 'features/'

  @staticmethod
  def features_key(stream_name):
    return InputDataFields.features_prefix + stream_name


class DetectionResultFields(object):
  """Keys of the model's postprocessed outputs."""
  # Segments in feature-step coordinates.
  detection_segments = 'detection_segments'
  # Segments in seconds (exporter / predict output).
  detection_segments_seconds = 'detection_segments_seconds'
  detection_scores = 'detection_scores'
  # 1-based class ids (label-map ids).
  detection_classes = 'detection_classes'
  num_detections = 'num_detections'
  proposal_segments = 'proposal_segments'
  proposal_segments_seconds = 'proposal_segments_seconds'
  proposal_scores = 'proposal_scores'
  num_proposals = 'num_proposals'


class SegmentListFields(object):
  """Names of SegmentList fields."""
  segments = 'segments'
  classes = 'classes'
  scores = 'scores'
  weights = 'weights'
  objectness = 'objectness'


class TfExampleFields(object):
  """Keys of the per-video tf.train.SequenceExample records.

  Context (per video): video id, time parameters, duration, number of steps and the
  ground truth; feature lists: one float vector per step per stream.
  """
  video_id = 'video/id'
  fps = 'video/fps'
  stride_frames = 'video/stride_frames'
  offset_frames = 'video/offset_frames'
  duration = 'video/duration'
  num_steps = 'video/num_steps'
  segment_start = 'segment/start'
  segment_end = 'segment/end'
  # Segment boundaries as int64 microseconds: exact to 1e-6 s, where a float32
  # seconds value is off by up to ~6e-5 s in a 20-minute video.
  segment_start_us = 'segment/start_us'
  segment_end_us = 'segment/end_us'
  segment_label = 'segment/label'
  segment_label_text = 'segment/label_text'
  # Ambiguous segments (THUMOS'14), int64 microseconds like the ground truth.
  ambiguous_start_us = 'ambiguous/start_us'
  ambiguous_end_us = 'ambiguous/end_us'
  features_prefix = 'features/'

  @staticmethod
  def features_key(stream_name):
    return TfExampleFields.features_prefix + stream_name
