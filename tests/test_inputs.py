"""Tests of tal_detection/inputs.py and builders/dataset_builder.py."""
import os

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from tal_detection import inputs
from tal_detection.builders import dataset_builder
from tal_detection.core import standard_fields
from tal_detection.dataset_tools import tf_record_util
from tal_detection.protos import pipeline_pb2
from tal_detection.utils import label_map_util
from tal_detection.utils import time_util

_INPUT = standard_fields.InputDataFields
NUM_CLASSES = 3
DIMS = {'rgb': 4, 'flow': 2}
# TAL-Net convention: fps 10, stride 16, offset 8 -> step = 0.625 * seconds.
FPS, STRIDE, OFFSET = 10.0, 16.0, 8.0


def _video(video_id, num_steps, segments_seconds, labels):
  rng = np.random.default_rng(num_steps)
  features = {name: rng.standard_normal((num_steps, dim)).astype(np.float32)
              for name, dim in DIMS.items()}
  return dict(video_id=video_id, stream_features=features, fps=FPS,
              stride_frames=STRIDE, offset_frames=OFFSET,
              duration=num_steps * 1.6,
              segments_seconds=np.array(segments_seconds,
                                        np.float64).reshape([-1, 2]),
              label_ids=labels)


VIDEOS = [
    _video('a', 20, [[1.6, 4.8], [8.0, 9.6], [20.0, 28.8]], [1, 2, 3]),
    _video('b', 7, [[0.8, 2.4]], [2]),
    _video('c', 12, [], []),
]


def _write_records(path, videos=VIDEOS):
  with tf_record_util.ShardedRecordWriter(path, 1) as writer:
    for video in videos:
      writer.write(
          tf_record_util.make_sequence_example(**video).SerializeToString())
  return path


def _pipeline(record_path, max_train_length=0, batch_size=2, extra_reader=''):
  text = """
    model { tal_net {
      num_classes: %d
      streams { name: "rgb" feature_dim: 4 }
      streams { name: "flow" feature_dim: 2 }
      max_train_length: %d } }
    train_config { batch_size: %d random_seed: 7 }
    train_input_reader { shuffle: false %s
      tf_record_input_reader { input_path: "%s" } }
    eval_config { batch_size: %d }
    eval_input_reader { shuffle: false %s
      tf_record_input_reader { input_path: "%s" } }
  """ % (NUM_CLASSES, max_train_length, batch_size, extra_reader, record_path,
         batch_size, extra_reader, record_path)
  return text_format.Parse(text, pipeline_pb2.TrainEvalPipelineConfig())


def _decoded(video):
  """The decoder's output dict for a video, built directly (eager)."""
  result = {
      _INPUT.video_id: tf.constant(video['video_id']),
      _INPUT.fps: tf.constant(FPS, tf.float32),
      _INPUT.stride_frames: tf.constant(STRIDE, tf.float32),
      _INPUT.offset_frames: tf.constant(OFFSET, tf.float32),
      _INPUT.duration: tf.constant(video['duration'], tf.float32),
      _INPUT.num_steps: tf.constant(
          video['stream_features']['rgb'].shape[0], tf.int32),
      _INPUT.groundtruth_segments_seconds: tf.constant(
          video['segments_seconds'], tf.float64),
      _INPUT.groundtruth_classes: tf.constant(
          np.array(video['label_ids'], np.int32).reshape([-1])),
  }
  for name, values in video['stream_features'].items():
    result[_INPUT.features_key(name)] = tf.constant(values)
  return result


def _reference_window(video, window_start, window_end):
  """numpy: steps of the segments overlapping the window, clipped, shifted."""
  steps = time_util.seconds_to_steps(video['segments_seconds'], FPS, STRIDE,
                                     OFFSET)
  clipped = np.clip(steps, window_start, window_end)
  keep = clipped[:, 1] > clipped[:, 0]
  return (clipped[keep] - window_start,
          np.array(video['label_ids'], np.int32).reshape([-1])[keep],
          video['segments_seconds'][keep])


def test_whole_video_seconds_to_steps():
  features, labels = inputs.transform_input_data(
      _decoded(VIDEOS[0]), ['rgb', 'flow'], NUM_CLASSES)
  assert features[_INPUT.window_start].numpy() == 0
  assert features[_INPUT.num_steps].numpy() == 20
  # 1.6 s -> 1 step, 4.8 s -> 3, 8 -> 5, 9.6 -> 6; [20, 28.8] -> [12.5, 18].
  np.testing.assert_allclose(labels[_INPUT.groundtruth_segments].numpy(),
                             [[1, 3], [5, 6], [12.5, 18]], atol=1e-5)
  np.testing.assert_array_equal(labels[_INPUT.groundtruth_classes], [1, 2, 3])
  assert labels[_INPUT.num_groundtruth_segments].numpy() == 3
  np.testing.assert_array_equal(
      labels[_INPUT.groundtruth_segments_seconds].numpy(),
      VIDEOS[0]['segments_seconds'])
  np.testing.assert_array_equal(features['features/rgb'].numpy(),
                                VIDEOS[0]['stream_features']['rgb'])


def test_first_window_keeps_exactly_overlapping_segments_clipped():
  video = _video('w', 20, [[0.0, 1.6], [1.6, 4.8], [6.4, 12.8], [9.6, 11.2],
                           [11.2, 14.4]], [1, 2, 3, 1, 2])
  features, labels = inputs.transform_input_data(
      _decoded(video), ['rgb', 'flow'], NUM_CLASSES, max_window_length=6,
      random_window=False)
  assert features[_INPUT.window_start].numpy() == 0
  assert features[_INPUT.num_steps].numpy() == 6
  assert features['features/flow'].shape == (6, 2)
  # Steps: [0, 1], [1, 3], [4, 8] -> clipped [4, 6]; [6, 7] only touches the
  # window end and [7, 9] is outside: both dropped.
  np.testing.assert_allclose(labels[_INPUT.groundtruth_segments].numpy(),
                             [[0, 1], [1, 3], [4, 6]], atol=1e-5)
  np.testing.assert_array_equal(labels[_INPUT.groundtruth_classes], [1, 2, 3])
  np.testing.assert_array_equal(labels[_INPUT.groundtruth_segments_seconds],
                                [[0.0, 1.6], [1.6, 4.8], [6.4, 12.8]])


def test_segments_before_the_first_step_are_clipped_to_zero():
  # ActionFormer convention: 0 s is step -1.5 (feature 0 centred at frame 8).
  decoded = _decoded(VIDEOS[1])
  decoded[_INPUT.fps] = tf.constant(30.0)
  decoded[_INPUT.stride_frames] = tf.constant(4.0)
  decoded[_INPUT.offset_frames] = tf.constant(8.0)
  decoded[_INPUT.groundtruth_segments_seconds] = tf.constant(
      [[0.0, 0.6]], tf.float64)
  _, labels = inputs.transform_input_data(decoded, ['rgb'], NUM_CLASSES)
  # 0.6 s -> (18 - 8) / 4 + 0.5 = 3.
  np.testing.assert_allclose(labels[_INPUT.groundtruth_segments].numpy(),
                             [[0.0, 3.0]], atol=1e-6)


def test_random_windows_match_numpy_reference():
  video = VIDEOS[0]
  starts = set()
  for _ in range(40):
    features, labels = inputs.transform_input_data(
        _decoded(video), ['rgb', 'flow'], NUM_CLASSES, max_window_length=8)
    start = int(features[_INPUT.window_start].numpy())
    starts.add(start)
    assert 0 <= start <= 12
    assert features[_INPUT.num_steps].numpy() == 8
    np.testing.assert_array_equal(
        features['features/rgb'].numpy(),
        video['stream_features']['rgb'][start:start + 8])
    segments, classes, seconds = _reference_window(video, start, start + 8)
    np.testing.assert_allclose(labels[_INPUT.groundtruth_segments].numpy(),
                               segments, atol=1e-5)
    np.testing.assert_array_equal(labels[_INPUT.groundtruth_classes], classes)
    np.testing.assert_array_equal(labels[_INPUT.groundtruth_segments_seconds],
                                  seconds)
    assert labels[_INPUT.num_groundtruth_segments].numpy() == len(classes)
  assert len(starts) > 3


def test_window_longer_than_video_keeps_it_whole():
  start, end = inputs.sample_window(tf.constant(5), 8)
  assert (start.numpy(), end.numpy()) == (0, 5)
  start, end = inputs.sample_window(tf.constant(5), 0)
  assert (start.numpy(), end.numpy()) == (0, 5)


def test_label_outside_1_to_num_classes_names_the_video():
  for bad_label in (0, NUM_CLASSES + 1):
    video = _video('bad_video', 5, [[0.5, 1.0]], [bad_label])
    fn = tf.function(lambda d: inputs.transform_input_data(
        d, ['rgb'], NUM_CLASSES))
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
      fn(_decoded(video))
    assert 'label ids must be within 1..3' in str(error.value)
    assert 'bad_video' in str(error.value)


def test_train_batch_of_two_is_padded_with_masks(tmp_path):
  config = _pipeline(_write_records(str(tmp_path / 'r.tfrecord')))
  dataset = inputs.create_train_input_fn(config.train_config,
                                         config.train_input_reader,
                                         config.model)()
  features, labels = next(iter(dataset))
  np.testing.assert_array_equal(features[_INPUT.video_id], [b'a', b'b'])
  np.testing.assert_array_equal(features[_INPUT.num_steps], [20, 7])
  rgb = features['features/rgb'].numpy()
  assert rgb.shape == (2, 20, 4)
  np.testing.assert_array_equal(rgb[1, :7], VIDEOS[1]['stream_features']['rgb'])
  np.testing.assert_array_equal(rgb[1, 7:], 0.0)
  np.testing.assert_array_equal(features[_INPUT.window_start], [0, 0])
  np.testing.assert_array_equal(labels[_INPUT.num_groundtruth_segments], [3, 1])
  segments = labels[_INPUT.groundtruth_segments].numpy()
  assert segments.shape == (2, 3, 2)
  np.testing.assert_allclose(segments[1], [[0.5, 1.5], [0, 0], [0, 0]],
                             atol=1e-5)
  np.testing.assert_array_equal(labels[_INPUT.groundtruth_classes],
                                [[1, 2, 3], [2, 0, 0]])
  assert labels[_INPUT.groundtruth_segments_seconds].dtype == tf.float64
  np.testing.assert_allclose(features[_INPUT.fps], [FPS, FPS])
  np.testing.assert_allclose(features[_INPUT.duration], [32.0, 11.2],
                             rtol=1e-6)


def test_train_windows_from_config(tmp_path):
  config = _pipeline(_write_records(str(tmp_path / 'r.tfrecord')),
                     max_train_length=6, batch_size=1,
                     extra_reader='random_window: false')
  dataset = inputs.train_input(config.train_config, config.train_input_reader,
                               config.model)
  features, labels = next(iter(dataset))
  assert features['features/rgb'].shape == (1, 6, 4)
  np.testing.assert_allclose(labels[_INPUT.groundtruth_segments].numpy(),
                             [[[1, 3], [5, 6]]], atol=1e-5)


def test_eval_reads_each_video_once_and_keeps_last_batch(tmp_path):
  config = _pipeline(_write_records(str(tmp_path / 'r.tfrecord')),
                     max_train_length=4)
  batches = list(inputs.create_eval_input_fn(
      config.eval_config, config.eval_input_reader, config.model)())
  assert [b[0][_INPUT.num_steps].numpy().tolist() for b in batches] == [
      [20, 7], [12]]  # Whole videos: max_train_length is for training only.
  assert batches[1][1][_INPUT.groundtruth_segments].shape == (1, 0, 2)


def test_sample_1_of_n_and_num_epochs(tmp_path):
  config = _pipeline(_write_records(str(tmp_path / 'r.tfrecord')),
                     extra_reader='sample_1_of_n_examples: 2 num_epochs: 2')
  dataset = inputs.eval_input(config.eval_config, config.eval_input_reader,
                              config.model, params={'batch_size': 1})
  ids = [f[_INPUT.video_id].numpy()[0] for f, _ in dataset]
  assert ids == [b'a', b'c', b'a', b'c']


def test_sharded_files_and_shuffling_read_every_video(tmp_path):
  _write_records(str(tmp_path / 'r-0'), VIDEOS[:2])
  _write_records(str(tmp_path / 'r-1'), VIDEOS[2:])
  config = _pipeline(str(tmp_path / 'r-*'), batch_size=1,
                     extra_reader='num_epochs: 1 shuffle_buffer_size: 2')
  config.eval_input_reader.shuffle = True
  dataset = inputs.eval_input(config.eval_config, config.eval_input_reader,
                              config.model)
  ids = sorted(f[_INPUT.video_id].numpy()[0] for f, _ in dataset)
  assert ids == [b'a', b'b', b'c']


@pytest.mark.parametrize('num_files', [1, 2])
def test_input_pipelines_of_a_strategy_read_disjoint_shares_of_every_video(
    tmp_path, num_files):
  """Two workers' input pipelines: by file when each can have one, else by
  record (a worker with no file would end its training at once)."""
  videos = VIDEOS + [_video('d', 9, [[1.6, 3.2]], [1])]
  per_file = len(videos) // num_files
  for i in range(num_files):
    _write_records(str(tmp_path / ('r-%d' % i)),
                   videos[i * per_file:(i + 1) * per_file])
  config = _pipeline(str(tmp_path / 'r-*'), batch_size=1,
                     extra_reader='num_epochs: 1')
  shares = []
  for pipeline_id in range(2):
    context = tf.distribute.InputContext(num_input_pipelines=2,
                                         input_pipeline_id=pipeline_id)
    dataset = inputs.eval_input(config.eval_config, config.eval_input_reader,
                                config.model, input_context=context)
    shares.append(sorted(f[_INPUT.video_id].numpy()[0] for f, _ in dataset))
  assert all(len(share) == 2 for share in shares), shares
  assert sorted(shares[0] + shares[1]) == [b'a', b'b', b'c', b'd']


def test_train_input_in_graph_mode_like_an_estimator(tmp_path):
  config = _pipeline(_write_records(str(tmp_path / 'r.tfrecord')),
                     max_train_length=5)
  input_fn = inputs.create_train_input_fn(config.train_config,
                                          config.train_input_reader,
                                          config.model)
  with tf.Graph().as_default():
    dataset = input_fn(params={'batch_size': 2})
    features, labels = tf.compat.v1.data.make_one_shot_iterator(
        dataset).get_next()
    assert features['features/rgb'].shape.as_list() == [2, None, 4]
    assert features['features/flow'].shape.as_list() == [2, None, 2]
    assert labels[_INPUT.groundtruth_segments].shape.as_list() == [2, None, 2]
    with tf.compat.v1.Session() as session:
      values = session.run((features, labels))
  assert values[0]['features/rgb'].shape == (2, 5, 4)
  np.testing.assert_array_equal(values[0][_INPUT.num_steps], [5, 5])
  segments = values[1][_INPUT.groundtruth_segments]
  assert np.all(segments >= 0) and np.all(segments <= 5)


def test_config_and_data_mismatches_are_clear(tmp_path):
  record_path = _write_records(str(tmp_path / 'r.tfrecord'))
  config = _pipeline(record_path)
  config.model.tal_net.streams[1].feature_dim = 1024
  with pytest.raises(ValueError) as error:
    inputs.train_input(config.train_config, config.train_input_reader,
                       config.model)
  assert str(error.value) == (
      "record file %s, video a: stream 'flow' has feature dim 2 in the record "
      'but 1024 in the config (feature_dim)' % record_path)

  config = _pipeline(str(tmp_path / 'missing-*'))
  with pytest.raises(ValueError, match='input_path .*missing-\\* matches no '
                     'file'):
    inputs.eval_input(config.eval_config, config.eval_input_reader,
                      config.model)

  config = _pipeline(record_path)
  label_map_path = str(tmp_path / 'label_map.pbtxt')
  label_map_util.save_label_map(['x', 'y'], label_map_path)
  config.train_input_reader.label_map_path = label_map_path
  with pytest.raises(ValueError, match='label map .* has 2 classes but the '
                     'model config has num_classes 3'):
    inputs.train_input(config.train_config, config.train_input_reader,
                       config.model)

  corrupt_path = str(tmp_path / 'corrupt.tfrecord')
  with open(record_path, 'rb') as f:
    data = bytearray(f.read())
  data[20] ^= 0xFF  # Flip bits inside the first record: CRC mismatch.
  with open(corrupt_path, 'wb') as f:
    f.write(bytes(data))
  config = _pipeline(corrupt_path)
  with pytest.raises(ValueError, match='record file .*corrupt.tfrecord is '
                     'unreadable, corrupt or not a TFRecord file'):
    inputs.train_input(config.train_config, config.train_input_reader,
                       config.model)


def test_empty_shards_are_skipped_by_the_first_record_check(tmp_path):
  with tf_record_util.ShardedRecordWriter(str(tmp_path / 'r'), 4) as writer:
    for video in VIDEOS:
      writer.write(
          tf_record_util.make_sequence_example(**video).SerializeToString())
  empty = str(tmp_path / 'empty.tfrecord')
  with tf_record_util.ShardedRecordWriter(empty, 1):
    pass
  assert dataset_builder.read_first_record(empty) is None
  config = _pipeline(empty)
  config.eval_input_reader.tf_record_input_reader.input_path.append(
      str(tmp_path / 'r-*'))
  dataset = inputs.eval_input(config.eval_config, config.eval_input_reader,
                              config.model, params={'batch_size': 3})
  assert sorted(next(iter(dataset))[0][_INPUT.video_id].numpy()) == [
      b'a', b'b', b'c']
  assert os.path.getsize(str(tmp_path / 'r-00003-of-00004')) == 0


def _augmented_pipeline(record_path, augmentation, max_train_length=0):
  config = _pipeline(record_path, max_train_length=max_train_length,
                     batch_size=1)
  text_format.Merge(augmentation, config.train_config.feature_augmentation)
  return config


def _first_batches(dataset, count):
  return [(f, l) for f, l in dataset.take(count)]


def test_train_input_applies_feature_dropout_and_noise(tmp_path):
  record_path = _write_records(str(tmp_path / 'r.tfrecord'))
  config = _augmented_pipeline(record_path, 'feature_dropout_rate: 0.5')
  tf.random.set_seed(1)
  features, labels = next(iter(inputs.train_input(
      config.train_config, config.train_input_reader, config.model)))
  rgb = features['features/rgb'].numpy()[0]
  original = VIDEOS[0]['stream_features']['rgb']
  dropped = rgb == 0
  assert 0.25 < dropped.mean() < 0.75, dropped.mean()
  np.testing.assert_allclose(rgb[~dropped], 2 * original[~dropped],
                             rtol=1e-6)
  # The labels are untouched.
  np.testing.assert_allclose(labels[_INPUT.groundtruth_segments].numpy()[0],
                             [[1, 3], [5, 6], [12.5, 18]], atol=1e-5)

  config = _augmented_pipeline(record_path, 'gaussian_noise_stddev: 0.5')
  features, _ = next(iter(inputs.train_input(
      config.train_config, config.train_input_reader, config.model)))
  noise = features['features/rgb'].numpy()[0] - original
  assert 0.3 < noise.std() < 0.7, noise.std()
  assert np.all(noise != 0)


def test_train_input_jitters_the_time_scale_and_its_segments(tmp_path):
  record_path = _write_records(str(tmp_path / 'r.tfrecord'))
  config = _augmented_pipeline(record_path, 'temporal_scale_jitter: 0.4')
  lengths = set()
  dataset = inputs.train_input(config.train_config, config.train_input_reader,
                               config.model)
  # Unshuffled, one video per batch: video a is every third element.
  for index, (features, labels) in enumerate(dataset.take(18)):
    if index % 3:
      continue
    assert features[_INPUT.video_id].numpy()[0] == b'a'
    num_steps = int(features[_INPUT.num_steps].numpy()[0])
    lengths.add(num_steps)
    assert 12 <= num_steps <= 28
    assert features['features/rgb'].shape[1] == num_steps
    scale = num_steps / 20.0
    np.testing.assert_allclose(
        labels[_INPUT.groundtruth_segments].numpy()[0],
        np.minimum(np.array([[1, 3], [5, 6], [12.5, 18]]) * scale, num_steps),
        rtol=1e-5, atol=1e-5)
    # The time base describes the new steps: step 0 and step T' are still
    # the video's first and last feature edges, in seconds.
    stride = float(features[_INPUT.stride_frames].numpy()[0])
    offset = float(features[_INPUT.offset_frames].numpy()[0])
    np.testing.assert_allclose(
        time_util.steps_to_seconds(np.array([0.0, num_steps]), FPS, stride,
                                   offset),
        time_util.steps_to_seconds(np.array([0.0, 20.0]), FPS, STRIDE,
                                   OFFSET), rtol=1e-5)
    np.testing.assert_array_equal(
        labels[_INPUT.groundtruth_segments_seconds].numpy()[0],
        VIDEOS[0]['segments_seconds'])
  assert len(lengths) > 1, lengths


def test_jitter_comes_before_the_training_window(tmp_path):
  record_path = _write_records(str(tmp_path / 'r.tfrecord'))
  config = _augmented_pipeline(record_path, 'temporal_scale_jitter: 0.5',
                               max_train_length=6)
  for features, labels in inputs.train_input(
      config.train_config, config.train_input_reader, config.model).take(9):
    assert features['features/rgb'].shape[1] == min(
        6, features[_INPUT.num_steps].numpy()[0])
    assert features[_INPUT.num_steps].numpy()[0] <= 6
    segments = labels[_INPUT.groundtruth_segments].numpy()[0]
    assert np.all(segments >= 0) and np.all(segments <= 6)


def test_eval_input_is_never_augmented(tmp_path):
  record_path = _write_records(str(tmp_path / 'r.tfrecord'))
  config = _augmented_pipeline(
      record_path, 'feature_dropout_rate: 0.5 gaussian_noise_stddev: 1.0 '
      'temporal_scale_jitter: 0.5')
  for features, labels in inputs.eval_input(
      config.eval_config, config.eval_input_reader, config.model,
      params={'batch_size': 1}):
    video = {v['video_id']: v for v in VIDEOS}[
        features[_INPUT.video_id].numpy()[0].decode()]
    np.testing.assert_array_equal(features['features/rgb'].numpy()[0],
                                  video['stream_features']['rgb'])
    np.testing.assert_allclose(features[_INPUT.stride_frames], [STRIDE])
    np.testing.assert_allclose(features[_INPUT.offset_frames], [OFFSET])


def _train_graph_signature(config):
  """(op types, op count) of the training input pipeline's dataset graph."""
  with tf.Graph().as_default() as graph:
    dataset = inputs.train_input(config.train_config,
                                 config.train_input_reader, config.model)
    tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()
  graph_def = graph.as_graph_def()
  nodes = list(graph_def.node)
  for function in graph_def.library.function:
    nodes.extend(function.node_def)
  return sorted(node.op for node in nodes), sorted(
      node.name for node in nodes)


def test_default_augmentation_leaves_the_input_pipeline_unchanged(tmp_path):
  record_path = _write_records(str(tmp_path / 'r.tfrecord'))
  plain = _pipeline(record_path, batch_size=1)
  explicit = _augmented_pipeline(
      record_path, 'feature_dropout_rate: 0 gaussian_noise_stddev: 0 '
      'temporal_scale_jitter: 0')
  augmented = _augmented_pipeline(record_path, 'feature_dropout_rate: 0.1')
  plain_ops, plain_names = _train_graph_signature(plain)
  explicit_ops, explicit_names = _train_graph_signature(explicit)
  assert plain_ops == explicit_ops and plain_names == explicit_names
  assert not any('Dropout' in name or 'Noise' in name or 'Jitter' in name
                 for name in plain_names)
  _, augmented_names = _train_graph_signature(augmented)
  assert any('FeatureDropout' in name for name in augmented_names)
  # The same tensors, value for value.
  for (f1, l1), (f2, l2) in zip(
      inputs.train_input(plain.train_config, plain.train_input_reader,
                         plain.model).take(3),
      inputs.train_input(explicit.train_config, explicit.train_input_reader,
                         explicit.model).take(3)):
    for key in f1:
      np.testing.assert_array_equal(f1[key].numpy(), f2[key].numpy())
    for key in l1:
      np.testing.assert_array_equal(l1[key].numpy(), l2[key].numpy())


def test_seeded_augmented_training_input_repeats_with_parallel_decoding(
    tmp_path):
  record_path = _write_records(str(tmp_path / 'r.tfrecord'))
  config = _augmented_pipeline(
      record_path, 'temporal_scale_jitter: 0.4 feature_dropout_rate: 0.3 '
      'gaussian_noise_stddev: 0.1', max_train_length=8)
  config.train_input_reader.num_parallel_map_calls = 4

  def run():
    with tf.Graph().as_default():
      # What the Estimator does with train_config.random_seed (RunConfig).
      tf.compat.v1.set_random_seed(config.train_config.random_seed)
      dataset = inputs.train_input(config.train_config,
                                   config.train_input_reader, config.model)
      batch = tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()
      with tf.compat.v1.Session() as session:
        return [session.run(batch) for _ in range(24)]

  first, second = run(), run()
  lengths = set()
  for (f1, l1), (f2, l2) in zip(first, second):
    lengths.add(int(f1[_INPUT.num_steps][0]))
    for key in f1:
      np.testing.assert_array_equal(f1[key], f2[key], err_msg=key)
    for key in l1:
      np.testing.assert_array_equal(l1[key], l2[key], err_msg=key)
  assert len(lengths) > 1  # video b (7 steps) is jittered below and above 8
