"""Tests of tal_detection/dataset_tools (record writing, annotations, features)
and the record decoder."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tal_detection.core import standard_fields
from tal_detection.data_decoders import tf_sequence_example_decoder
from tal_detection.dataset_tools import annotation_util
from tal_detection.dataset_tools import feature_util
from tal_detection.dataset_tools import tf_record_util

import tal_data_test_util as util

_INPUT = standard_fields.InputDataFields


# --- record writing + decoding ---------------------------------------------


@pytest.mark.parametrize('dim', [1, 3, 16, 31, 128, 1024])
def test_float_feature_list_bytes_matches_protobuf(dim):
  values = np.random.default_rng(dim).standard_normal((7, dim)).astype(
      np.float32)
  reference = tf.train.FeatureList()
  for row in values:
    reference.feature.add().float_list.value.extend(row)
  fast = tf_record_util.float_feature_list_bytes(values)
  assert fast == reference.SerializeToString()


@pytest.mark.parametrize('dtype', [np.float16, np.float32])
def test_sequence_example_round_trip(dtype):
  features = {'rgb': np.random.default_rng(0).standard_normal((6, 4)),
              'flow': np.random.default_rng(1).standard_normal((6, 2))}
  features = {k: v.astype(dtype) for k, v in features.items()}
  # Values float32 cannot hold to 1e-6 s (1234.567891 s).
  segments = np.array([[0.2, 1.1], [1234.567891, 1300.000001]])
  example = tf_record_util.make_sequence_example(
      'vid_1', features, fps=29.97, stride_frames=4, offset_frames=8,
      duration=1400.25, segments_seconds=segments, label_ids=[2, 1],
      label_texts=['B', 'A'])
  decoder = tf_sequence_example_decoder.TfSequenceExampleDecoder(
      ['rgb', 'flow'], [4, 2])
  decoded = tf_sequence_example_decoder.decode_to_numpy(
      decoder, example.SerializeToString())
  assert decoded[_INPUT.video_id] == b'vid_1'
  np.testing.assert_array_equal(decoded['features/rgb'],
                                features['rgb'].astype(np.float32))
  np.testing.assert_array_equal(decoded['features/flow'],
                                features['flow'].astype(np.float32))
  assert decoded['features/rgb'].dtype == np.float32
  np.testing.assert_allclose(decoded[_INPUT.groundtruth_segments_seconds],
                             segments, rtol=0, atol=1e-6)
  np.testing.assert_array_equal(decoded[_INPUT.groundtruth_classes], [2, 1])
  assert decoded[_INPUT.groundtruth_classes].dtype == np.int32
  assert decoded[_INPUT.num_steps] == 6
  assert decoded[_INPUT.num_steps].dtype == np.int32
  np.testing.assert_allclose(decoded[_INPUT.fps], 29.97, rtol=1e-7)
  assert decoded[_INPUT.stride_frames] == 4
  assert decoded[_INPUT.offset_frames] == 8
  np.testing.assert_allclose(decoded[_INPUT.duration], 1400.25)


def test_record_without_segments_decodes_to_empty():
  example = tf_record_util.make_sequence_example(
      'empty', {'rgb': np.ones((3, 2), np.float32)}, 10, 16, 8, 4.8,
      np.zeros((0, 2)), [])
  decoder = tf_sequence_example_decoder.TfSequenceExampleDecoder(['rgb'], [2])
  decoded = tf_sequence_example_decoder.decode_to_numpy(
      decoder, example.SerializeToString())
  assert decoded[_INPUT.groundtruth_segments_seconds].shape == (0, 2)
  assert decoded[_INPUT.groundtruth_classes].shape == (0,)


def test_make_sequence_example_rejects_bad_input():
  with pytest.raises(ValueError, match='different numbers of steps'):
    tf_record_util.make_sequence_example(
        'v', {'rgb': np.ones((3, 2)), 'flow': np.ones((4, 2))}, 10, 16, 8, 5,
        [], [])
  with pytest.raises(ValueError, match='no feature steps'):
    tf_record_util.make_sequence_example('v', {'rgb': np.ones((0, 2))}, 10,
                                         16, 8, 5, [], [])
  with pytest.raises(ValueError, match='2 segments but 1 labels'):
    tf_record_util.make_sequence_example('v', {'rgb': np.ones((2, 2))}, 10,
                                         16, 8, 5, [[0, 1], [1, 2]], [1])


def _decoder_graph_fn(decoder):
  return tf.function(decoder.decode,
                     input_signature=[tf.TensorSpec([], tf.string)])


def test_decoder_in_tf_function_has_static_dims_and_checks_dims():
  example = tf_record_util.make_sequence_example(
      'v7', {'rgb': np.ones((3, 4), np.float32)}, 10, 16, 8, 4.8, [[1, 2]],
      [1])
  serialized = example.SerializeToString()
  decoder = tf_sequence_example_decoder.TfSequenceExampleDecoder(['rgb'], [4])
  concrete = _decoder_graph_fn(decoder).get_concrete_function()
  assert concrete.structured_outputs['features/rgb'].shape.as_list() == [
      None, 4]
  assert concrete.structured_outputs[
      _INPUT.groundtruth_segments_seconds].shape.as_list() == [None, 2]
  np.testing.assert_array_equal(
      concrete(tf.constant(serialized))['features/rgb'].numpy(),
      np.ones((3, 4)))

  wrong_dim = _decoder_graph_fn(
      tf_sequence_example_decoder.TfSequenceExampleDecoder(['rgb'], [5]))
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    wrong_dim(tf.constant(serialized))
  message = str(error.value)
  assert 'stream rgb: the feature dim in the record differs' in message
  assert 'feature_dim 5' in message
  assert 'v7' in message and '[4]' in message

  missing_stream = _decoder_graph_fn(
      tf_sequence_example_decoder.TfSequenceExampleDecoder(['rgb', 'flow'],
                                                           [4, 4]))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match='stream flow: .*missing'):
    missing_stream(tf.constant(serialized))


def test_check_serialized_names_file_stream_and_dims():
  serialized = tf_record_util.make_sequence_example(
      'v9', {'rgb': np.ones((3, 4), np.float32)}, 10, 16, 8, 4.8, [], []
  ).SerializeToString()
  tf_sequence_example_decoder.TfSequenceExampleDecoder(
      ['rgb'], [4]).check_serialized(serialized, 'f.tfrecord')
  with pytest.raises(ValueError) as error:
    tf_sequence_example_decoder.TfSequenceExampleDecoder(
        ['rgb'], [1024]).check_serialized(serialized, 'f.tfrecord')
  assert str(error.value) == (
      "record file f.tfrecord, video v9: stream 'rgb' has feature dim 4 in the "
      'record but 1024 in the config (feature_dim)')
  with pytest.raises(ValueError, match=r"no stream 'flow' \(the record has "
                     'streams: rgb'):
    tf_sequence_example_decoder.TfSequenceExampleDecoder(
        ['flow'], [4]).check_serialized(serialized, 'f.tfrecord')
  with pytest.raises(ValueError, match='lacks video/id'):
    tf_sequence_example_decoder.TfSequenceExampleDecoder(
        ['rgb'], [4]).check_serialized(
            tf.train.SequenceExample().SerializeToString(), 'f.tfrecord')
  with pytest.raises(ValueError,
                     match='does not hold tf.train.SequenceExample'):
    tf_sequence_example_decoder.TfSequenceExampleDecoder(
        ['rgb'], [4]).check_serialized(b'\xff\xff\xff', 'f.tfrecord')


# --- sharded writing --------------------------------------------------------


def test_sharded_output_paths():
  assert tf_record_util.sharded_output_paths('/a/x.tfrecord', 1) == [
      '/a/x.tfrecord']
  assert tf_record_util.sharded_output_paths('/a/x', 3) == [
      '/a/x-00000-of-00003', '/a/x-00001-of-00003', '/a/x-00002-of-00003']
  with pytest.raises(ValueError, match='at least 1'):
    tf_record_util.sharded_output_paths('/a/x', 0)


def test_sharded_writer_round_robin_and_atomic(tmp_path):
  prefix = str(tmp_path / 'out')
  with tf_record_util.ShardedRecordWriter(prefix, 2) as writer:
    for index in range(5):
      writer.write(b'record%d' % index)
    # Nothing visible under the final names before the end.
    assert not any(name.startswith('out-') for name in os.listdir(tmp_path))
  assert writer.num_written == 5
  records = [list(tf_record_util.read_serialized_records([path]))
             for path in writer.final_paths]
  assert records == [[b'record0', b'record2', b'record4'],
                     [b'record1', b'record3']]
  # A failure keeps the previous shards and removes the temporary files.
  with pytest.raises(RuntimeError):
    with tf_record_util.ShardedRecordWriter(prefix, 2) as writer:
      writer.write(b'new')
      raise RuntimeError('boom')
  assert sorted(os.listdir(tmp_path)) == ['out-00000-of-00002',
                                          'out-00001-of-00002']
  assert list(tf_record_util.read_serialized_records(
      [writer.final_paths[0]]))[0] == b'record0'


def test_sharded_writer_needs_existing_dir(tmp_path):
  with pytest.raises(ValueError, match='does not exist'):
    with tf_record_util.ShardedRecordWriter(str(tmp_path / 'no' / 'x'), 1):
      pass


# --- annotations ------------------------------------------------------------


def test_read_activitynet_json_subset_and_label_ids(tmp_path):
  path = tmp_path / 'a.json'
  path.write_text(json.dumps({'database': util.DATABASE}))
  videos, label_ids, num_other = annotation_util.read_activitynet_json(
      str(path), 'validation')
  assert [v.video_id for v in videos] == [
      'video_validation_0000151', 'video_validation_0000154',
      'video_validation_0000364']
  assert num_other == 1
  assert videos[1].segments[0] == annotation_util.Segment(5.4, 11.6,
                                                          'CleanAndJerk')
  assert videos[0].fps == 30.0 and videos[0].duration == 33.57
  # Label ids come from the whole database, every subset.
  assert label_ids == {'CleanAndJerk': 3, 'HighJump': 11, 'Diving': 7,
                       'CliffDiving': 4}
  assert annotation_util.label_names_in_order(label_ids) == [
      'CleanAndJerk', 'CliffDiving', 'Diving', 'HighJump']
  all_videos, _, num_other = annotation_util.read_activitynet_json(str(path))
  assert len(all_videos) == 4 and num_other == 0
  with pytest.raises(ValueError, match="no video of subset 'train' "
                     r'\(subsets: Test, Validation\)'):
    annotation_util.read_activitynet_json(str(path), 'train')


def test_label_names_in_order_falls_back_to_alphabetical():
  assert annotation_util.label_names_in_order({'b': 0, 'a': 1}) == ['b', 'a']
  assert annotation_util.label_names_in_order({'b': 0, 'a': None}) == [
      'a', 'b']
  assert annotation_util.label_names_in_order({'b': 0, 'a': 0}) == ['a', 'b']
  assert annotation_util.label_names_in_order({'b': -1, 'a': 0}) == ['a', 'b']


@pytest.mark.parametrize('content, fragment', [
    ('{not json', 'cannot read annotation json'),
    ('{"videos": {}}', 'has no "database" object'),
    ('{"database": {"v": {"annotations": [{"label": "a", "segment": [1]}]}}}',
     'video v: annotation 0 "segment" must be two finite numbers'),
    ('{"database": {"v": {"annotations": [{"segment": [1, 2]}]}}}',
     'video v: annotation 0 has no "label"'),
    ('{"database": {"v": {"duration": "x", "annotations": []}}}',
     'video v: duration \'x\' is not a number'),
    ('{"database": {"v": {"fps": 0, "annotations": []}}}',
     'video v: fps 0 is not a positive number'),
])
def test_read_activitynet_json_errors_name_the_file(tmp_path, content,
                                                    fragment):
  path = tmp_path / 'bad.json'
  path.write_text(content)
  with pytest.raises(ValueError) as error:
    annotation_util.read_activitynet_json(str(path))
  assert fragment in str(error.value)
  assert str(path) in str(error.value)


def test_read_thumos_annotation_dir():
  videos, class_names, num_ambiguous = (
      annotation_util.read_thumos_annotation_dir(util.THUMOS_TXT_DIR, 'val'))
  assert class_names == ['Billiards', 'CleanAndJerk', 'CliffDiving', 'Diving']
  assert num_ambiguous == 2
  # video_validation_0000099 holds only Ambiguous segments: not a video here.
  assert [v.video_id for v in videos] == [
      'video_validation_0000051', 'video_validation_0000052',
      'video_validation_0000151', 'video_validation_0000154']
  assert videos[0].segments == [
      annotation_util.Segment(67.5, 75.9, 'Billiards'),
      annotation_util.Segment(85.9, 90.6, 'Billiards'),
      annotation_util.Segment(139.3, 148.2, 'Billiards')]
  assert videos[0].duration is None and videos[0].fps is None
  test_videos, _, num_ambiguous = annotation_util.read_thumos_annotation_dir(
      util.THUMOS_TXT_DIR, 'test')
  assert [v.video_id for v in test_videos] == ['video_test_0000785']
  assert len(test_videos[0].segments) == 4 and num_ambiguous == 0


def test_read_thumos_annotation_dir_errors(tmp_path):
  (tmp_path / 'Run_val.txt').write_text('video_1 1.0 2.0\nvideo_1 3.0\n')
  with pytest.raises(ValueError) as error:
    annotation_util.read_thumos_annotation_dir(str(tmp_path))
  assert str(error.value) == (
      'THUMOS annotation file %s line 2: expected "video_id start end", got '
      "'video_1 3.0'" % (tmp_path / 'Run_val.txt'))
  with pytest.raises(ValueError, match="no <Class>_<split>.txt file of split "
                     "'test'"):
    annotation_util.read_thumos_annotation_dir(str(tmp_path), 'test')
  with pytest.raises(ValueError, match='does not exist'):
    annotation_util.read_thumos_annotation_dir(str(tmp_path / 'nope'))


# --- features ---------------------------------------------------------------


def test_load_video_features_concat_and_separate(tmp_path):
  features = util.random_features('v', 9)
  util.write_features(str(tmp_path / 'c'), 'v', features, 'concat')
  util.write_features(str(tmp_path / 's'), 'v', features, 'separate')
  for layout in ('concat', 'separate'):
    loaded = feature_util.load_video_features(
        str(tmp_path / layout[0]), 'v', layout, util.STREAM_NAMES,
        util.STREAM_DIMS)
    for name in util.STREAM_NAMES:
      np.testing.assert_array_equal(loaded[name], features[name])
      assert loaded[name].dtype == np.float32


def test_load_float16_is_exact(tmp_path):
  values = np.random.default_rng(3).standard_normal((4, 8)).astype(np.float16)
  np.save(tmp_path / 'v.npy', values)
  loaded = feature_util.load_video_features(str(tmp_path), 'v', 'concat',
                                            ['rgb', 'flow'], [6, 2])
  np.testing.assert_array_equal(loaded['rgb'], values[:, :6].astype(np.float32))
  np.testing.assert_array_equal(loaded['flow'],
                                values[:, 6:].astype(np.float32))


def _nan_at_step_2():
  values = np.zeros((5, 8), np.float32)
  values[2, 3] = np.nan
  return values


def _inf_at_step_4():
  values = np.zeros((5, 8), np.float32)
  values[4, 0] = -np.inf
  return values


@pytest.mark.parametrize('content, fragment', [
    (None, 'does not exist'),
    (b'this is not an npy file', 'cannot read feature file'),
    (np.zeros((5, 7), np.float32), 'has shape [5, 7]; expected [T, 8]'),
    (np.zeros((5,), np.float32), 'has shape [5]; expected [T, 8]'),
    (np.zeros((5, 8), np.int32), 'has dtype int32'),
    (np.zeros((0, 8), np.float32), 'has no feature steps'),
    (_nan_at_step_2(), 'has NaN/Inf values (first at step 2)'),
    (_inf_at_step_4(), 'has NaN/Inf values (first at step 4)'),
])
def test_bad_feature_files_are_named(tmp_path, content, fragment):
  path = tmp_path / 'v.npy'
  if isinstance(content, bytes):
    path.write_bytes(content)
  elif content is not None:
    np.save(path, content)
  with pytest.raises(ValueError) as error:
    feature_util.load_video_features(str(tmp_path), 'v', 'concat',
                                     ['rgb', 'flow'], [5, 3])
  assert fragment in str(error.value)
  assert str(path) in str(error.value)


def test_separate_streams_must_agree_on_length(tmp_path):
  os.makedirs(tmp_path / 'rgb')
  os.makedirs(tmp_path / 'flow')
  np.save(tmp_path / 'rgb' / 'v.npy', np.zeros((5, 2), np.float32))
  np.save(tmp_path / 'flow' / 'v.npy', np.zeros((6, 2), np.float32))
  with pytest.raises(ValueError, match='different numbers of steps'):
    feature_util.load_video_features(str(tmp_path), 'v', 'separate',
                                     ['rgb', 'flow'], [2, 2])


def test_expected_num_steps():
  # 10 s at 30 fps = 300 frames; windows of 16 every 4: (300 - 16) // 4 + 1.
  assert feature_util.expected_num_steps(10.0, 30.0, 4, 16) == 72
  # The TAL-Net convention: a 300 s video at 10 fps, stride = window = 16.
  assert feature_util.expected_num_steps(300.0, 10.0, 16, 16) == 187
  assert feature_util.expected_num_steps(0.1, 30.0, 4, 16) == 1
