"""Estimator input functions: records -> (features, labels) batches.

Each video is decoded (TfSequenceExampleDecoder), its ground truth converted
from seconds to feature steps with the one helper (utils/time_util), cropped to
a training window of at most max_train_length steps (training only), and
padded-batched. Training videos are also augmented as
train_config.feature_augmentation says (core/preprocessor; off by default):
temporal scale jitter of the whole video before the crop (the video's
stride_frames / offset_frames then describe the resampled steps), feature
dropout and Gaussian noise on the window's features after it.

features dict (B videos, T the longest valid length in the batch):
  features/<stream>   float32 [B, T, D] (zero padded)
  num_steps           int32   [B] valid steps of each video (or window)
  video_id            string  [B]
  fps, stride_frames, offset_frames, duration   float32 [B]
  window_start        int32   [B] step of the full video where the window
                                  starts (0 at eval / predict)
labels dict (N the most segments in the batch):
  groundtruth_segments          float32 [B, N, 2] feature steps relative to the
                                window, clipped to it (zero padded)
  groundtruth_classes           int32   [B, N] label ids 1..C (0 = padding)
  num_groundtruth_segments      int32   [B] valid rows
  groundtruth_segments_seconds  float64 [B, N, 2] the same segments' original
                                (unclipped) annotation in seconds
"""
import tensorflow as tf

from tal_detection.builders import dataset_builder
from tal_detection.core import preprocessor
from tal_detection.core import segment_list
from tal_detection.core import segment_list_ops
from tal_detection.core import standard_fields
from tal_detection.data_decoders import tf_sequence_example_decoder
from tal_detection.utils import config_util
from tal_detection.utils import label_map_util
from tal_detection.utils import time_util
from tal_detection.utils import error_util

_INPUT = standard_fields.InputDataFields

FEATURE_KEYS_WITHOUT_STREAMS = (
    _INPUT.num_steps, _INPUT.video_id, _INPUT.fps, _INPUT.stride_frames,
    _INPUT.offset_frames, _INPUT.duration, _INPUT.window_start)
LABEL_KEYS = (_INPUT.groundtruth_segments, _INPUT.groundtruth_classes,
              _INPUT.num_groundtruth_segments,
              _INPUT.groundtruth_segments_seconds)

_SECONDS_FIELD = 'seconds'


def build_decoder(model_config):
  """The record decoder for the model's streams."""
  streams = config_util.get_stream_specs(model_config)
  return tf_sequence_example_decoder.TfSequenceExampleDecoder(
      [name for name, _ in streams], [dim for _, dim in streams])


def _check_label_map(input_config, num_classes):
  """The label map named by the input reader must have num_classes classes."""
  if not input_config.label_map_path:
    return
  label_map_classes = label_map_util.get_num_classes(
      input_config.label_map_path)
  if label_map_classes != num_classes:
    raise ValueError('label map %s has %d classes but the model config '
                     'has num_classes %d' %
                     (input_config.label_map_path, label_map_classes,
                      num_classes))


def check_input_records(input_reader_config, model_config):
  """Reads every record of an input reader once, before anything is written.

  What training or evaluation would otherwise find only when it reaches a bad
  record (after checkpoints were written): a path that matches no file, a
  corrupt or truncated file, a record whose streams or widths differ from the
  config, label ids outside 1..num_classes, a label map of another size.
  Costs one decode pass over the data (seconds for THUMOS'14-sized inputs).

  Raises:
    ValueError: one line naming the file and, where known, the video.
  """
  files = dataset_builder.get_input_files(input_reader_config)
  decoder = build_decoder(model_config)
  # The first record first: its message names the stream and dims exactly.
  dataset_builder.check_first_record(files, decoder)
  num_classes = config_util.get_number_of_classes(model_config)
  _check_label_map(input_reader_config, num_classes)
  for path in files:
    for video_id, low, high in _label_ranges(path, decoder):
      if low < 1 or high > num_classes:
        raise ValueError(
            'record file %s, video %s: label id %d is outside 1..%d (the '
            "model config's num_classes)" % (
                path, video_id, low if low < 1 else high, num_classes))


def _label_ranges(path, decoder):
  """Yields (video id, smallest, largest label id) of every record of a file."""
  def summarise(serialized):
    decoded = decoder.decode(serialized)
    # A video without segments reports (1, 1), which is always in range.
    labels = tf.concat([decoded[_INPUT.groundtruth_classes], [1]], 0)
    return (decoded[_INPUT.video_id], tf.reduce_min(labels),
            tf.reduce_max(labels))

  with tf.Graph().as_default() as graph:
    batches = tf.data.TFRecordDataset(path).map(
        summarise, num_parallel_calls=tf.data.AUTOTUNE).batch(64)
    next_batch = tf.compat.v1.data.make_one_shot_iterator(batches).get_next()
    with tf.compat.v1.Session(graph=graph) as session:
      while True:
        try:
          video_ids, lows, highs = session.run(next_batch)
        except tf.errors.OutOfRangeError:
          return
        except tf.errors.DataLossError as e:
          raise ValueError('record file %s is corrupt or truncated: %s' % (
              path, error_util.op_error_summary(e))) from None
        except tf.errors.InvalidArgumentError as e:
          raise ValueError('record file %s: %s' % (
              path, error_util.op_error_summary(e))) from None
        for video_id, low, high in zip(video_ids, lows, highs):
          yield video_id.decode('utf-8', 'replace'), int(low), int(high)


def sample_window(num_steps, max_window_length, random_window=True, seed=None):
  """Chooses the [start, end) step window of one video.

  Args:
    num_steps: int32 scalar tensor T.
    max_window_length: Python int L; 0 (or T <= L) keeps the whole video.
    random_window: start uniformly in [0, T - L]; False starts at 0.
    seed: optional op seed.

  Returns:
    (window_start, window_end) int32 scalar tensors.
  """
  num_steps = tf.convert_to_tensor(num_steps, tf.int32)
  if max_window_length <= 0:
    return tf.constant(0, tf.int32), num_steps
  max_start = tf.maximum(num_steps - max_window_length, 0)
  if random_window:
    window_start = tf.random.uniform([], 0, max_start + 1, dtype=tf.int32,
                                     seed=seed)
  else:
    window_start = tf.constant(0, tf.int32)
  return window_start, tf.minimum(window_start + max_window_length, num_steps)


def transform_input_data(tensor_dict, stream_names, num_classes,
                         max_window_length=0, random_window=True, seed=None):
  """Seconds -> steps, windowing and label checks for one decoded video.

  Args:
    tensor_dict: the decoder's output for one video.
    stream_names: the model's streams.
    num_classes: C; label ids must be within 1..C.
    max_window_length: crop to at most this many steps (0: whole video).
    random_window: random (True) or first (False) window when cropping.
    seed: optional op seed of the window sampling.

  Returns:
    (features, labels) dicts of unbatched tensors (see the module docstring).
    The ground truth keeps exactly the segments that overlap the window,
    clipped to it and shifted so the window starts at step 0.
  """
  video_id = tensor_dict[_INPUT.video_id]
  classes = tensor_dict[_INPUT.groundtruth_classes]
  in_range = tf.reduce_all(tf.logical_and(classes >= 1, classes <= num_classes))
  label_checks = [tf.debugging.Assert(
      in_range, ['groundtruth label ids must be within 1..%d (num_classes); '
                 'video, label ids:' % num_classes, video_id, classes],
      summarize=16)]
  label_checks = [check for check in label_checks if check is not None]
  with tf.control_dependencies(label_checks):
    classes = tf.identity(classes)

  num_steps = tensor_dict[_INPUT.num_steps]
  window_start, window_end = sample_window(num_steps, max_window_length,
                                           random_window, seed)

  seconds = tensor_dict[_INPUT.groundtruth_segments_seconds]
  as_float64 = lambda key: tf.cast(tensor_dict[key], tf.float64)
  steps = time_util.seconds_to_steps(
      seconds, as_float64(_INPUT.fps), as_float64(_INPUT.stride_frames),
      as_float64(_INPUT.offset_frames))
  segments = segment_list.SegmentList(tf.cast(steps, tf.float32))
  segments.add_field(standard_fields.SegmentListFields.classes, classes)
  segments.add_field(_SECONDS_FIELD, seconds)
  window = tf.cast(tf.stack([window_start, window_end]), tf.float32)
  clipped = segment_list_ops.clip_to_window(segments, window,
                                            filter_nonoverlapping=True)
  groundtruth_segments = clipped.get() - window[0]

  features = {
      _INPUT.num_steps: window_end - window_start,
      _INPUT.video_id: video_id,
      _INPUT.fps: tensor_dict[_INPUT.fps],
      _INPUT.stride_frames: tensor_dict[_INPUT.stride_frames],
      _INPUT.offset_frames: tensor_dict[_INPUT.offset_frames],
      _INPUT.duration: tensor_dict[_INPUT.duration],
      _INPUT.window_start: window_start,
  }
  for name in stream_names:
    key = _INPUT.features_key(name)
    stream = tensor_dict[key][window_start:window_end]
    stream.set_shape([None, tensor_dict[key].shape[-1]])
    features[key] = stream
  labels = {
      _INPUT.groundtruth_segments: groundtruth_segments,
      _INPUT.groundtruth_classes: clipped.get_field(
          standard_fields.SegmentListFields.classes),
      _INPUT.num_groundtruth_segments: clipped.num_segments(),
      _INPUT.groundtruth_segments_seconds: clipped.get_field(_SECONDS_FIELD),
  }
  ambiguous = tensor_dict.get(_INPUT.groundtruth_ambiguous_segments_seconds)
  if ambiguous is not None:
    # Passed through untouched (seconds, whole video) for the THUMOS'14 kit
    # protocol's eval; never a training target.
    labels[_INPUT.groundtruth_ambiguous_segments_seconds] = ambiguous
    labels[_INPUT.num_groundtruth_ambiguous_segments] = tf.shape(ambiguous)[0]
  # Every recorded segment, also those outside the features (never a target):
  # what evaluation scores against, as the json scorer does.
  labels[_INPUT.evaluation_groundtruth_segments_seconds] = seconds
  labels[_INPUT.evaluation_groundtruth_classes] = classes
  labels[_INPUT.num_evaluation_groundtruth_segments] = tf.shape(classes)[0]
  return features, labels


# Op seeds of the augmentations, offset from train_config.random_seed: ops with
# equal op seeds under one graph seed draw the same numbers (the window
# sampling uses the seed itself).
_SCALE_SEED_OFFSET = 1
_DROPOUT_SEED_OFFSET = 2
_NOISE_SEED_OFFSET = 3
# Each stream's dropout and noise ops get their own seed: seed + offset +
# _SEEDS_PER_STREAM * stream index.
_SEEDS_PER_STREAM = 8


def _op_seed(seed, offset, stream_index=0):
  if seed is None:
    return None
  return seed + offset + _SEEDS_PER_STREAM * stream_index


def augments(feature_augmentation):
  """Whether a FeatureAugmentation changes anything (all 0: no)."""
  return (feature_augmentation.feature_dropout_rate > 0 or
          feature_augmentation.gaussian_noise_stddev > 0 or
          feature_augmentation.temporal_scale_jitter > 0)


def augment_training_video(tensor_dict, feature_augmentation, stream_names,
                           seed=None):
  """Temporal scale jitter of a decoded training video (before the crop).

  Returns tensor_dict itself when temporal_scale_jitter is 0.
  """
  return preprocessor.random_temporal_scale(
      tensor_dict, [_INPUT.features_key(name) for name in stream_names],
      feature_augmentation.temporal_scale_jitter,
      seed=_op_seed(seed, _SCALE_SEED_OFFSET))


def augment_training_features(features, feature_augmentation, stream_names,
                              seed=None):
  """Feature dropout, then Gaussian noise, on each stream of a window.

  Returns features itself when both are off.
  """
  rate = feature_augmentation.feature_dropout_rate
  stddev = feature_augmentation.gaussian_noise_stddev
  if rate == 0 and stddev == 0:
    return features
  features = dict(features)
  for index, name in enumerate(stream_names):
    key = _INPUT.features_key(name)
    stream = preprocessor.random_feature_dropout(
        features[key], rate, seed=_op_seed(seed, _DROPOUT_SEED_OFFSET, index))
    features[key] = preprocessor.random_gaussian_noise(
        stream, stddev, seed=_op_seed(seed, _NOISE_SEED_OFFSET, index))
  return features


def _batch_size(params, default):
  if params and 'batch_size' in params and params['batch_size']:
    return int(params['batch_size'])
  return int(default)


def train_input(train_config, train_input_config, model_config, params=None,
                input_context=None):
  """The training dataset of (features, labels) batches.

  Random windows of at most the model's max_train_length steps (first
  windows when train_input_config.random_window is false), shuffling as
  configured, num_epochs passes (0: forever), batch_size from params or
  train_config, last partial batch dropped; train_config.feature_augmentation
  applied (augment_training_video, augment_training_features).
  """
  num_classes = config_util.get_number_of_classes(model_config)
  _check_label_map(train_input_config, num_classes)
  stream_names = config_util.get_stream_names(model_config)
  max_window_length = config_util.get_max_train_length(model_config)
  seed = train_config.random_seed or None
  augmentation = train_config.feature_augmentation

  def transform(tensor_dict):
    tensor_dict = augment_training_video(tensor_dict, augmentation,
                                         stream_names, seed=seed)
    features, labels = transform_input_data(
        tensor_dict, stream_names, num_classes,
        max_window_length=max_window_length,
        random_window=train_input_config.random_window, seed=seed)
    return augment_training_features(features, augmentation, stream_names,
                                     seed=seed), labels

  batch_size = _batch_size(params, train_config.batch_size)
  if not augments(augmentation):
    return dataset_builder.build(
        train_input_config, batch_size=batch_size,
        transform_input_data_fn=transform, decoder=build_decoder(model_config),
        drop_remainder=True, input_context=input_context)
  # A stateful random op in a parallel map draws its numbers in whatever
  # order the parallel calls reach it, so one seed would give each run other
  # augmentations. Videos are decoded in parallel, then augmented one at a
  # time, in order: a seeded run repeats exactly.
  decoded = dataset_builder.build(
      train_input_config, batch_size=None, decoder=build_decoder(model_config),
      input_context=input_context)
  dataset = decoded.map(transform).padded_batch(batch_size,
                                                drop_remainder=True)
  if train_input_config.prefetch_size:
    dataset = dataset.prefetch(train_input_config.prefetch_size)
  return dataset


def eval_input(eval_config, eval_input_config, model_config, params=None,
               input_context=None):
  """The evaluation dataset: whole videos, one pass unless num_epochs says more.

  num_epochs 0 (the proto default, "forever" for training) means one pass here,
  so an evaluation ends. The last partial batch is kept.
  """
  num_classes = config_util.get_number_of_classes(model_config)
  _check_label_map(eval_input_config, num_classes)
  stream_names = config_util.get_stream_names(model_config)

  def transform(tensor_dict):
    return transform_input_data(tensor_dict, stream_names, num_classes,
                                max_window_length=0)

  return dataset_builder.build(
      eval_input_config,
      batch_size=_batch_size(params, eval_config.batch_size),
      transform_input_data_fn=transform, decoder=build_decoder(model_config),
      num_epochs=eval_input_config.num_epochs or 1, drop_remainder=False,
      input_context=input_context)


def create_train_input_fn(train_config, train_input_config, model_config):
  """Returns input_fn(params=None) -> dataset of (features, labels), training.

  Args:
    train_config: TrainConfig proto (batch_size, random_seed,
      feature_augmentation).
    train_input_config: InputReader proto.
    model_config: DetectionModel proto (read through config_util's accessors:
      streams, num_classes, max_train_length).
  """
  def _train_input_fn(params=None, input_context=None):
    return train_input(train_config, train_input_config, model_config,
                       params=params, input_context=input_context)
  return _train_input_fn


def create_eval_input_fn(eval_config, eval_input_config, model_config):
  """Returns input_fn(params=None) -> dataset of (features, labels) for eval."""
  def _eval_input_fn(params=None, input_context=None):
    return eval_input(eval_config, eval_input_config, model_config,
                      params=params, input_context=input_context)
  return _eval_input_fn
