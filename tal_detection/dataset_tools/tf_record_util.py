"""Writing per-video tf.train.SequenceExample records (the format of SPEC §5).

One record per video. Context features (keys from TfExampleFields):
  video/id             bytes   video id
  video/fps            float   frames per second of the feature extraction
  video/stride_frames  float   frames between consecutive features
  video/offset_frames  float   frame of feature 0's centre (window_frames / 2)
  video/duration       float   seconds
  video/num_steps      int64   T, feature steps of every stream
  segment/start_us     int64[] ground-truth starts, microseconds (exact to 1 us)
  segment/end_us       int64[] ground-truth ends, microseconds
  segment/label        int64[] label-map ids 1..C
  segment/label_text   bytes[] class names (informational)
Feature lists: features/<stream> holds T float_list features of D values each.

Shards are written under temporary names and renamed only when every shard is
complete (ShardedRecordWriter), so a failed run leaves nothing behind.
"""
import os

import numpy as np
import tensorflow as tf

from tal_detection.core import standard_fields
from tal_detection.utils import io_util

_FIELDS = standard_fields.TfExampleFields


def seconds_to_microseconds(seconds):
  """Rounds seconds to integer microseconds (np.int64 array)."""
  return np.round(np.asarray(seconds, dtype=np.float64) * 1e6).astype(np.int64)


def make_sequence_example(video_id, stream_features, fps, stride_frames,
                          offset_frames, duration, segments_seconds, label_ids,
                          label_texts=None, ambiguous_segments_seconds=None):
  """Builds the SequenceExample of one video.

  Args:
    video_id: string.
    stream_features: dict stream name -> float array [T, D_stream]; every stream
      must have the same T >= 1. float16 input is stored exactly (as float32).
    fps: frames per second.
    stride_frames: frames between consecutive features.
    offset_frames: frame index of feature 0's centre.
    duration: video duration in seconds.
    segments_seconds: float array [N, 2] of (start, end) seconds.
    label_ids: int array [N], label-map ids 1..C.
    label_texts: optional list of N class names.
    ambiguous_segments_seconds: optional [A, 2] Ambiguous segments (THUMOS'14),
      written as ambiguous/start_us, ambiguous/end_us only when A > 0 (never
      training targets; the THUMOS'14 kit protocol drops false positives
      overlapping them).

  Returns:
    A tf.train.SequenceExample.

  Raises:
    ValueError: on inconsistent shapes, an empty stream or non-finite features.
  """
  if not stream_features:
    raise ValueError('video %s: no feature streams given' % video_id)
  num_steps = None
  for name, array in stream_features.items():
    array = np.asarray(array)
    if array.ndim != 2:
      raise ValueError('video %s: stream %s features must be [T, D], got '
                       'shape %s' % (video_id, name, array.shape))
    if num_steps is None:
      num_steps = array.shape[0]
    elif array.shape[0] != num_steps:
      raise ValueError('video %s: streams have different numbers of steps (%d '
                       'and %d for %s)' % (video_id, num_steps, array.shape[0],
                                           name))
  if num_steps < 1:
    raise ValueError('video %s has no feature steps' % video_id)
  segments_seconds = np.asarray(segments_seconds, dtype=np.float64).reshape(
      [-1, 2])
  label_ids = np.asarray(label_ids, dtype=np.int64).reshape([-1])
  if label_ids.shape[0] != segments_seconds.shape[0]:
    raise ValueError('video %s: %d segments but %d labels' %
                     (video_id, segments_seconds.shape[0], label_ids.shape[0]))
  if label_texts is not None and len(label_texts) != label_ids.shape[0]:
    raise ValueError('video %s: %d labels but %d label texts' %
                     (video_id, label_ids.shape[0], len(label_texts)))

  example = tf.train.SequenceExample()
  context = example.context.feature
  context[_FIELDS.video_id].bytes_list.value.append(video_id.encode('utf-8'))
  context[_FIELDS.fps].float_list.value.append(float(fps))
  context[_FIELDS.stride_frames].float_list.value.append(float(stride_frames))
  context[_FIELDS.offset_frames].float_list.value.append(float(offset_frames))
  context[_FIELDS.duration].float_list.value.append(float(duration))
  context[_FIELDS.num_steps].int64_list.value.append(int(num_steps))
  context[_FIELDS.segment_start_us].int64_list.value.extend(
      seconds_to_microseconds(segments_seconds[:, 0]).tolist())
  context[_FIELDS.segment_end_us].int64_list.value.extend(
      seconds_to_microseconds(segments_seconds[:, 1]).tolist())
  context[_FIELDS.segment_label].int64_list.value.extend(label_ids.tolist())
  if label_texts is not None:
    context[_FIELDS.segment_label_text].bytes_list.value.extend(
        [text.encode('utf-8') for text in label_texts])
  else:
    # Present (empty) so every record has the same keys.
    context[_FIELDS.segment_label_text].bytes_list.value.extend([])

  if ambiguous_segments_seconds is not None and len(ambiguous_segments_seconds):
    ambiguous = np.asarray(ambiguous_segments_seconds,
                           dtype=np.float64).reshape([-1, 2])
    context[_FIELDS.ambiguous_start_us].int64_list.value.extend(
        seconds_to_microseconds(ambiguous[:, 0]).tolist())
    context[_FIELDS.ambiguous_end_us].int64_list.value.extend(
        seconds_to_microseconds(ambiguous[:, 1]).tolist())

  for name, array in stream_features.items():
    example.feature_lists.feature_list[
        _FIELDS.features_key(name)].ParseFromString(
            float_feature_list_bytes(array))
  return example


def _varint(value):
  """Protobuf base-128 varint encoding of a non-negative int."""
  out = bytearray()
  while True:
    byte = value & 0x7F
    value >>= 7
    if value:
      out.append(byte | 0x80)
    else:
      out.append(byte)
      return bytes(out)


def float_feature_list_bytes(array):
  """Serialized tf.train.FeatureList of one float_list Feature per row.

  Equivalent to adding every row with float_list.value.extend(row), but built
  with numpy in one go (~100x faster for [T, 1024] features): each row is the
  same header followed by its packed little-endian float32 values.

  Args:
    array: float array [T, D].

  Returns:
    bytes parseable by tf.train.FeatureList.ParseFromString.
  """
  values = np.ascontiguousarray(array, dtype='<f4')
  num_rows, dim = values.shape
  float_list = b'\x0a' + _varint(4 * dim)  # FloatList.value, packed.
  feature = b'\x12' + _varint(len(float_list) + 4 * dim)  # Feature.float_list.
  header = (b'\x0a' + _varint(len(feature) + len(float_list) + 4 * dim) +
            feature + float_list)  # FeatureList.feature.
  rows = np.empty((num_rows, len(header) + 4 * dim), dtype=np.uint8)
  rows[:, :len(header)] = np.frombuffer(header, dtype=np.uint8)
  rows[:, len(header):] = values.view(np.uint8).reshape(num_rows, 4 * dim)
  return rows.tobytes()


def sharded_output_paths(output_path, num_shards):
  """Final paths of the record shards.

  One shard is written to output_path itself; n > 1 shards to
  output_path-00000-of-0000n ... (the OD API convention), which the input reader
  finds with the glob output_path-?????-of-0000n or output_path*.
  """
  if num_shards < 1:
    raise ValueError('num_shards must be at least 1, got %d' % num_shards)
  if num_shards == 1:
    return [output_path]
  return ['%s-%05d-of-%05d' % (output_path, index, num_shards)
          for index in range(num_shards)]


class ShardedRecordWriter(object):
  """Writes records round-robin into shards, atomically.

  Usage:
    with ShardedRecordWriter(output_path, num_shards) as writer:
      writer.write(serialized)
  On a clean exit every shard is renamed from its temporary name to its final
  one; on an exception the temporary files are deleted and existing files at
  the final paths are left untouched.
  """

  def __init__(self, output_path, num_shards=1):
    self._final_paths = sharded_output_paths(output_path, num_shards)
    self._tmp_paths = [io_util.temporary_path(path)
                       for path in self._final_paths]
    self._writers = []
    self._count = 0

  @property
  def final_paths(self):
    return list(self._final_paths)

  @property
  def num_written(self):
    return self._count

  def __enter__(self):
    directory = os.path.dirname(os.path.abspath(self._final_paths[0]))
    if not os.path.isdir(directory):
      raise ValueError('output directory %s does not exist' % directory)
    try:
      for path in self._tmp_paths:
        self._writers.append(tf.io.TFRecordWriter(path))
    except Exception:
      self._abort()
      raise
    return self

  def write(self, serialized):
    """Appends one serialized record to the next shard."""
    self._writers[self._count % len(self._writers)].write(serialized)
    self._count += 1

  def _close_all(self):
    for writer in self._writers:
      writer.close()
    self._writers = []

  def _abort(self):
    try:
      self._close_all()
    finally:
      for path in self._tmp_paths:
        if os.path.exists(path):
          os.remove(path)

  def __exit__(self, exc_type, exc_value, traceback):
    if exc_type is not None:
      self._abort()
      return False
    try:
      self._close_all()
    except Exception:
      self._abort()
      raise
    for tmp_path, final_path in zip(self._tmp_paths, self._final_paths):
      os.replace(tmp_path, final_path)
    return False


def read_serialized_records(paths):
  """Yields the serialized records of TFRecord files (for tools and tests)."""
  for path in paths:
    for record in tf.data.TFRecordDataset(path):
      yield record.numpy()
