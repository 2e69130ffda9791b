"""Tests of TfSequenceExampleDecoder.decode_batch (the exporter's tf_example
input): records of different lengths -> one zero-padded batch."""
import numpy as np
import pytest
import tensorflow as tf

from tal_detection.core import standard_fields
from tal_detection.data_decoders import tf_sequence_example_decoder
from tal_detection.dataset_tools import tf_record_util

_INPUT = standard_fields.InputDataFields
_DIMS = {'rgb': 5, 'flow': 3}
# (video id, num_steps, fps, stride_frames, offset_frames)
_VIDEOS = (('video_a', 3, 30.0, 4.0, 8.0),
           ('video_b', 7, 10.0, 16.0, 8.0),
           ('video_c', 1, 25.0, 8.0, 4.0))


def _features(num_steps, seed, dims=_DIMS):
  rng = np.random.default_rng(seed)
  return {name: rng.standard_normal((num_steps, dim)).astype(np.float32)
          for name, dim in dims.items()}


def _record(video_id, num_steps, fps, stride, offset, seed, dims=_DIMS):
  example = tf_record_util.make_sequence_example(
      video_id, _features(num_steps, seed, dims), fps, stride, offset,
      duration=num_steps * stride / fps,
      segments_seconds=np.zeros((0, 2)), label_ids=np.zeros((0,), np.int64))
  return example.SerializeToString()


def _records():
  return [_record(*video, seed=i) for i, video in enumerate(_VIDEOS)]


def _decoder():
  return tf_sequence_example_decoder.TfSequenceExampleDecoder(
      list(_DIMS), list(_DIMS.values()))


def _check_batch(batch):
  """Compares a decoded batch (numpy) with the records' contents."""
  max_steps = max(video[1] for video in _VIDEOS)
  np.testing.assert_array_equal(batch[_INPUT.num_steps],
                                [video[1] for video in _VIDEOS])
  assert batch[_INPUT.num_steps].dtype == np.int32
  assert [v.decode() for v in batch[_INPUT.video_id]] == [
      video[0] for video in _VIDEOS]
  for column, key in ((2, _INPUT.fps), (3, _INPUT.stride_frames),
                      (4, _INPUT.offset_frames)):
    assert batch[key].dtype == np.float32
    np.testing.assert_allclose(batch[key], [video[column] for video in _VIDEOS])
  np.testing.assert_allclose(batch[_INPUT.duration],
                             [v[1] * v[3] / v[2] for v in _VIDEOS], rtol=1e-6)
  for name, dim in _DIMS.items():
    padded = batch[_INPUT.features_key(name)]
    assert padded.shape == (len(_VIDEOS), max_steps, dim)
    assert padded.dtype == np.float32
    for i, video in enumerate(_VIDEOS):
      num_steps = video[1]
      np.testing.assert_array_equal(padded[i, :num_steps],
                                    _features(num_steps, i)[name])
      np.testing.assert_array_equal(padded[i, num_steps:], 0.0)


def test_decode_batch_pads_videos_of_different_lengths():
  batch = _decoder().decode_batch(tf.constant(_records()))
  _check_batch({key: value.numpy() for key, value in batch.items()})


def test_decode_batch_rows_equal_decode_of_each_record():
  decoder = _decoder()
  records = _records()
  batch = decoder.decode_batch(tf.constant(records))
  for i, record in enumerate(records):
    single = decoder.decode(tf.constant(record))
    num_steps = int(single[_INPUT.num_steps])
    for name in _DIMS:
      key = _INPUT.features_key(name)
      np.testing.assert_array_equal(batch[key][i, :num_steps], single[key])


def test_decode_batch_in_graph_with_unknown_batch_size():
  graph = tf.Graph()
  with graph.as_default():
    serialized = tf.compat.v1.placeholder(tf.string, [None])
    batch = _decoder().decode_batch(serialized)
    for name, dim in _DIMS.items():
      assert batch[_INPUT.features_key(name)].shape.as_list() == [None, None,
                                                                  dim]
    assert batch[_INPUT.num_steps].shape.as_list() == [None]
    with tf.compat.v1.Session(graph=graph) as sess:
      values = sess.run(batch, {serialized: _records()})
      one = sess.run(batch, {serialized: _records()[1:2]})
  _check_batch(values)
  assert one[_INPUT.features_key('rgb')].shape == (1, _VIDEOS[1][1], 5)


def test_decode_batch_names_the_stream_with_a_wrong_dim():
  records = _records()
  records[1] = _record('video_b', 4, 10.0, 16.0, 8.0, seed=9,
                       dims={'rgb': 5, 'flow': 2})
  # In a graph, as served (eagerly, map_fn's abandoned loop logs noise).
  graph = tf.Graph()
  with graph.as_default():
    serialized = tf.compat.v1.placeholder(tf.string, [None])
    batch = _decoder().decode_batch(serialized)
    with tf.compat.v1.Session(graph=graph) as sess:
      with pytest.raises(tf.errors.InvalidArgumentError,
                         match='stream flow: the feature dim'):
        sess.run(batch, {serialized: records})
