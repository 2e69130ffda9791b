"""Decodes the per-video tf.train.SequenceExample records into tensors.

The record format is written by tal_detection/dataset_tools/tf_record_util.py
(keys: TfExampleFields). The decoder returns an unbatched dict keyed by
InputDataFields:
  video_id                       string []
  fps, stride_frames,
  offset_frames, duration        float32 []
  num_steps                      int32 [] (T)
  features/<stream>              float32 [T, D_stream] per configured stream
  groundtruth_segments_seconds   float64 [N, 2] (exact to 1e-6 s)
  groundtruth_classes            int32 [N], label-map ids 1..C
  groundtruth_ambiguous_segments_seconds
                                 float64 [A, 2] THUMOS'14 Ambiguous segments
                                 ([0, 2] when the record has none)
"""
import numpy as np
import tensorflow as tf
from google.protobuf import message as protobuf_message

from tal_detection.core import standard_fields

_FIELDS = standard_fields.TfExampleFields
_INPUT = standard_fields.InputDataFields

_REQUIRED_CONTEXT = (_FIELDS.video_id, _FIELDS.fps, _FIELDS.stride_frames,
                     _FIELDS.offset_frames, _FIELDS.duration, _FIELDS.num_steps)


def _check(condition, message, *data):
  """tf.debugging.Assert printing message then data; None when eager.

  TF escapes quotes when it prints the message, so messages avoid them.
  """
  return tf.debugging.Assert(condition, [message] + list(data), summarize=8)


class TfSequenceExampleDecoder(object):
  """Decodes serialized per-video SequenceExamples of the configured streams."""

  def __init__(self, stream_names, stream_dims):
    """Creates the decoder.

    Args:
      stream_names: stream names, e.g. ['rgb', 'flow'] (records hold
        features/<name>).
      stream_dims: feature width of each stream as configured.

    Raises:
      ValueError: on empty/mismatched lists or non-positive dims.
    """
    stream_names = list(stream_names)
    stream_dims = [int(d) for d in stream_dims]
    if not stream_names or len(stream_names) != len(stream_dims):
      raise ValueError('need one feature dim per stream, got streams %s and '
                       'dims %s' % (stream_names, stream_dims))
    if any(d <= 0 for d in stream_dims):
      raise ValueError('stream feature dims must be positive, got %s' %
                       stream_dims)
    if len(set(stream_names)) != len(stream_names):
      raise ValueError('duplicate stream names %s' % stream_names)
    self._stream_names = stream_names
    self._stream_dims = stream_dims

  @property
  def stream_names(self):
    return list(self._stream_names)

  @property
  def stream_dims(self):
    return list(self._stream_dims)

  def decode(self, serialized):
    """Decodes one serialized record (scalar string tensor) into a tensor dict.

    Graph-mode friendly. Records whose stream widths differ from the configured
    ones, or whose streams do not have video/num_steps rows, fail at run time
    with an InvalidArgumentError naming the stream, the configured dim and the
    video.
    """
    context_spec = {
        _FIELDS.video_id: tf.io.FixedLenFeature([], tf.string),
        _FIELDS.fps: tf.io.FixedLenFeature([], tf.float32),
        _FIELDS.stride_frames: tf.io.FixedLenFeature([], tf.float32),
        _FIELDS.offset_frames: tf.io.FixedLenFeature([], tf.float32),
        _FIELDS.duration: tf.io.FixedLenFeature([], tf.float32),
        _FIELDS.num_steps: tf.io.FixedLenFeature([], tf.int64),
        _FIELDS.segment_start_us: tf.io.VarLenFeature(tf.int64),
        _FIELDS.segment_end_us: tf.io.VarLenFeature(tf.int64),
        _FIELDS.segment_label: tf.io.VarLenFeature(tf.int64),
        # Absent from most records: VarLen parses them as empty.
        _FIELDS.ambiguous_start_us: tf.io.VarLenFeature(tf.int64),
        _FIELDS.ambiguous_end_us: tf.io.VarLenFeature(tf.int64),
    }
    sequence_spec = {
        _FIELDS.features_key(name): tf.io.RaggedFeature(tf.float32)
        for name in self._stream_names
    }
    context, sequences = tf.io.parse_single_sequence_example(
        serialized, context_features=context_spec,
        sequence_features=sequence_spec)

    video_id = context[_FIELDS.video_id]
    num_steps = tf.cast(context[_FIELDS.num_steps], tf.int32)
    checks = [_check(num_steps > 0, 'video/num_steps must be >= 1; video, '
                     'num_steps:', video_id, num_steps)]
    features = {}
    for name, dim in zip(self._stream_names, self._stream_dims):
      ragged = sequences[_FIELDS.features_key(name)]
      row_lengths = tf.cast(ragged.row_lengths(), tf.int32)
      num_rows = tf.shape(row_lengths)[0]
      checks.append(_check(
          tf.equal(num_rows, num_steps),
          'stream %s: the number of feature steps in the record differs from '
          'video/num_steps (is the stream missing from the record?); video, '
          'steps, num_steps:' % name, video_id, num_rows, num_steps))
      checks.append(_check(
          tf.reduce_all(tf.equal(row_lengths, dim)),
          'stream %s: the feature dim in the record differs from the '
          'configured feature_dim %d; video, record dim:' % (name, dim),
          video_id, row_lengths[:1]))
      features[name] = ragged.flat_values

    start_us = tf.sparse.to_dense(context[_FIELDS.segment_start_us])
    end_us = tf.sparse.to_dense(context[_FIELDS.segment_end_us])
    labels = tf.sparse.to_dense(context[_FIELDS.segment_label])
    num_segments = tf.shape(start_us)[0]
    checks.append(_check(
        tf.logical_and(tf.equal(tf.shape(end_us)[0], num_segments),
                       tf.equal(tf.shape(labels)[0], num_segments)),
        'segment/start_us, segment/end_us and segment/label have different '
        'lengths; video:', video_id))
    amb_start_us = tf.sparse.to_dense(context[_FIELDS.ambiguous_start_us])
    amb_end_us = tf.sparse.to_dense(context[_FIELDS.ambiguous_end_us])
    checks.append(_check(
        tf.equal(tf.shape(amb_start_us)[0], tf.shape(amb_end_us)[0]),
        'ambiguous/start_us and ambiguous/end_us have different lengths; '
        'video:', video_id))
    checks = [check for check in checks if check is not None]  # None if eager.

    with tf.control_dependencies(checks):
      segments_seconds = tf.stack(
          [tf.cast(start_us, tf.float64), tf.cast(end_us, tf.float64)],
          axis=1) / 1e6
      result = {
          _INPUT.video_id: tf.identity(video_id),
          _INPUT.fps: tf.identity(context[_FIELDS.fps]),
          _INPUT.stride_frames: tf.identity(context[_FIELDS.stride_frames]),
          _INPUT.offset_frames: tf.identity(context[_FIELDS.offset_frames]),
          _INPUT.duration: tf.identity(context[_FIELDS.duration]),
          _INPUT.num_steps: tf.identity(num_steps),
          _INPUT.groundtruth_segments_seconds: tf.reshape(segments_seconds,
                                                          [-1, 2]),
          _INPUT.groundtruth_classes: tf.cast(labels, tf.int32),
          _INPUT.groundtruth_ambiguous_segments_seconds: tf.reshape(
              tf.stack([tf.cast(amb_start_us, tf.float64),
                        tf.cast(amb_end_us, tf.float64)], axis=1) / 1e6,
              [-1, 2]),
      }
      for name, dim in zip(self._stream_names, self._stream_dims):
        # Reshaped only after the checks, which explain a mismatch better
        # than the reshape's own error would.
        feature = tf.reshape(features[name], [-1, dim])
        result[_INPUT.features_key(name)] = feature
    return result

  def decode_batch(self, serialized):
    """Decodes a batch of records (videos of any lengths) into a padded batch.

    Each record goes through `decode` (so the same parsing and checks apply);
    the per-video results are stacked, the features zero-padded to the longest
    video of the batch. Ground truth is not returned: serving records need not
    carry any.

    Args:
      serialized: [B] string tensor of serialized SequenceExamples (B may be
        unknown).

    Returns:
      dict keyed by InputDataFields:
        features/<stream>   float32 [B, T_max, D_stream], zero padded
        num_steps           int32   [B] valid steps of each video
        fps, stride_frames,
        offset_frames, duration   float32 [B]
        video_id            string  [B]
    """
    serialized = tf.convert_to_tensor(serialized, tf.string)
    scalar_keys = {
        _INPUT.video_id: tf.string,
        _INPUT.num_steps: tf.int32,
        _INPUT.fps: tf.float32,
        _INPUT.stride_frames: tf.float32,
        _INPUT.offset_frames: tf.float32,
        _INPUT.duration: tf.float32,
    }
    stream_keys = [_INPUT.features_key(name) for name in self._stream_names]

    def decode_one(record):
      decoded = self.decode(record)
      return {key: decoded[key] for key in list(scalar_keys) + stream_keys}

    # Videos differ in length, so each video's [T_i, D] features come back as
    # one row of a ragged [B, None, D] tensor, padded below.
    output_signature = {key: tf.TensorSpec([], dtype)
                        for key, dtype in scalar_keys.items()}
    for key, dim in zip(stream_keys, self._stream_dims):
      output_signature[key] = tf.RaggedTensorSpec([None, dim], tf.float32,
                                                  ragged_rank=0)
    decoded = tf.map_fn(decode_one, serialized,
                        fn_output_signature=output_signature)
    result = {key: decoded[key] for key in scalar_keys}
    for key, dim in zip(stream_keys, self._stream_dims):
      padded = decoded[key].to_tensor(default_value=0.0)
      padded.set_shape([None, None, dim])
      result[key] = padded
    return result

  def check_serialized(self, serialized, source):
    """Checks one serialized record in Python, before any graph runs.

    Catches the common mistakes (wrong stream names or dims, wrong record type)
    with a clear message at input-building time instead of a run-time error.

    Args:
      serialized: bytes of one record.
      source: name of the file it came from (for messages).

    Raises:
      ValueError: naming the file, the video and the stream on any mismatch.
    """
    example = tf.train.SequenceExample()
    try:
      example.ParseFromString(serialized)
    except protobuf_message.DecodeError as e:
      raise ValueError('record file %s does not hold tf.train.SequenceExample '
                       'records: %s' % (source, e)) from e
    context = example.context.feature
    missing = [key for key in _REQUIRED_CONTEXT if key not in context]
    if missing:
      raise ValueError('record file %s: record lacks %s (not a TAL video '
                       'record?)' % (source, ', '.join(missing)))
    id_values = context[_FIELDS.video_id].bytes_list.value
    video_id = id_values[0].decode('utf-8', 'replace') if id_values else ''
    num_steps = (context[_FIELDS.num_steps].int64_list.value[0]
                 if context[_FIELDS.num_steps].int64_list.value else 0)
    feature_lists = example.feature_lists.feature_list
    available = sorted(key[len(_FIELDS.features_prefix):]
                       for key in feature_lists
                       if key.startswith(_FIELDS.features_prefix))
    for name, dim in zip(self._stream_names, self._stream_dims):
      key = _FIELDS.features_key(name)
      if key not in feature_lists:
        raise ValueError('record file %s, video %s: no stream %r (the record '
                         'has streams: %s)' % (source, video_id, name,
                                              ', '.join(available) or 'none'))
      rows = feature_lists[key].feature
      if len(rows) != num_steps:
        raise ValueError('record file %s, video %s: stream %r has %d steps but '
                         'video/num_steps is %d' % (source, video_id, name,
                                                    len(rows), num_steps))
      record_dim = len(rows[0].float_list.value) if rows else 0
      if record_dim != dim:
        raise ValueError('record file %s, video %s: stream %r has feature dim '
                         '%d in the record but %d in the config (feature_dim)' %
                         (source, video_id, name, record_dim, dim))


def decode_to_numpy(decoder, serialized):
  """Decodes one record eagerly into numpy values (for tools and tests)."""
  tensors = decoder.decode(tf.constant(serialized))
  return {key: (value.numpy() if hasattr(value, 'numpy') else np.asarray(value))
          for key, value in tensors.items()}
