"""Builds a tf.data pipeline of per-video records from an InputReader proto.

files (glob, sharded) -> [file shuffle] -> parallel interleave of TFRecord
readers -> sample 1 of n -> [shuffle] -> repeat (num_epochs) -> decode +
transform (parallel map) -> padded batch -> prefetch.
"""
import tensorflow as tf

from tal_detection.protos import input_reader_pb2
from tal_detection.utils import error_util


def get_input_files(input_reader_config):
  """Expands the reader's input paths/globs into a sorted list of files.

  Raises:
    ValueError: if the reader has no tf_record_input_reader or input_path, or a
      path/pattern matches no file.
  """
  if not isinstance(input_reader_config, input_reader_pb2.InputReader):
    raise ValueError('input_reader_config must be an InputReader proto, got %s'
                     % type(input_reader_config).__name__)
  if input_reader_config.WhichOneof('input_reader') != 'tf_record_input_reader':
    raise ValueError('input reader has no tf_record_input_reader')
  patterns = list(input_reader_config.tf_record_input_reader.input_path)
  if not patterns:
    raise ValueError('tf_record_input_reader.input_path is empty')
  files = set()
  for pattern in patterns:
    matches = tf.io.gfile.glob(pattern)
    if not matches:
      raise ValueError('input_path %s matches no file' % pattern)
    files.update(matches)
  return sorted(files)


def read_first_record(path):
  """The first serialized record of a TFRecord file, or None if it is empty.

  Runs in a private graph and session, so it works both eagerly and while an
  Estimator builds its own graph, and TF checks the record's CRCs.

  Raises:
    ValueError: naming the file when it is unreadable or corrupt.
  """
  with tf.Graph().as_default() as graph:
    iterator = tf.compat.v1.data.make_one_shot_iterator(
        tf.data.TFRecordDataset(path).take(1))
    next_record = iterator.get_next()
    with tf.compat.v1.Session(graph=graph) as session:
      try:
        return session.run(next_record)
      except tf.errors.OutOfRangeError:
        return None
      except tf.errors.OpError as e:
        first_line = error_util.op_error_summary(e)
        raise ValueError('record file %s is unreadable, corrupt or not a '
                         'TFRecord file: %s' % (path, first_line)) from e


def check_first_record(files, decoder):
  """Reads the first record (of the first non-empty file) and checks it.

  Runs in plain Python (works while an Estimator builds its graph), so a wrong
  stream name or feature dim, or a corrupt file, is reported before training.

  Raises:
    ValueError: naming the file on a corrupt/unreadable file, when every file is
      empty, or when decoder.check_serialized rejects the record.
  """
  for path in files:
    serialized = read_first_record(path)
    if serialized is not None:
      decoder.check_serialized(serialized, path)
      return
  raise ValueError('record files %s hold no record' % ', '.join(files))


def build(input_reader_config, batch_size=None, transform_input_data_fn=None,
          decoder=None, num_epochs=None, drop_remainder=False,
          input_context=None, check_records=True):
  """Builds the tf.data.Dataset of one input reader.

  Args:
    input_reader_config: an InputReader proto.
    batch_size: videos per batch (padded batching); None leaves the dataset
      unbatched.
    transform_input_data_fn: function applied to each decoded tensor dict
      (e.g. seconds -> steps, windowing); may return any nested structure.
    decoder: a TfSequenceExampleDecoder (required: it knows the streams).
    num_epochs: passes over the data overriding the config's num_epochs; 0
      repeats forever.
    drop_remainder: drop the last smaller batch (static batch dimension).
    input_context: optional tf.distribute.InputContext; files are sharded over
      its input pipelines (records, when there are fewer files than
      pipelines).
    check_records: check the first record in Python before building (see
      check_first_record).

  Returns:
    A tf.data.Dataset of (padded batches of) transformed tensor dicts.

  Raises:
    ValueError: on a bad config, missing files, or a first record that does not
      match the decoder's streams.
  """
  if decoder is None:
    raise ValueError('dataset_builder.build needs a decoder')
  files = get_input_files(input_reader_config)
  if check_records:
    check_first_record(files, decoder)
  config = input_reader_config
  if num_epochs is None:
    num_epochs = config.num_epochs
  if config.sample_1_of_n_examples < 1:
    raise ValueError('sample_1_of_n_examples must be >= 1, got %d' %
                     config.sample_1_of_n_examples)

  filenames = tf.data.Dataset.from_tensor_slices(files)
  num_pipelines = (input_context.num_input_pipelines
                   if input_context is not None else 1)
  # Each input pipeline (a worker of a multi-worker strategy) reads its share
  # of the files; with fewer files than pipelines some would get none, end
  # training at once and leave the others waiting in their all-reduce, so
  # every pipeline then reads every file and keeps its share of the records.
  shard_files = len(files) >= num_pipelines
  if num_pipelines > 1 and shard_files:
    filenames = filenames.shard(num_pipelines,
                                input_context.input_pipeline_id)
  if config.shuffle:
    filenames = filenames.shuffle(
        max(1, config.filenames_shuffle_buffer_size),
        reshuffle_each_iteration=True)
  # Deterministic element order even when shuffling: the shuffles are seeded
  # (train_config.random_seed), and a run must be repeatable to be trusted.
  cycle_length = max(1, min(config.num_readers, len(files)))
  if cycle_length > 1:
    records = filenames.interleave(
        tf.data.TFRecordDataset, cycle_length=cycle_length,
        block_length=max(1, config.read_block_length),
        num_parallel_calls=cycle_length, deterministic=True)
  else:
    records = filenames.interleave(
        tf.data.TFRecordDataset, cycle_length=1,
        block_length=max(1, config.read_block_length))
  if num_pipelines > 1 and not shard_files:
    records = records.shard(num_pipelines, input_context.input_pipeline_id)
  if config.sample_1_of_n_examples > 1:
    records = records.shard(config.sample_1_of_n_examples, 0)
  if config.shuffle:
    records = records.shuffle(max(1, config.shuffle_buffer_size),
                              reshuffle_each_iteration=True)
  # After the shuffle, so every epoch is reshuffled (and windows resampled).
  records = records.repeat(None if num_epochs == 0 else num_epochs)

  def _decode_and_transform(serialized):
    tensor_dict = decoder.decode(serialized)
    if transform_input_data_fn is not None:
      return transform_input_data_fn(tensor_dict)
    return tensor_dict

  dataset = records.map(
      _decode_and_transform,
      num_parallel_calls=max(1, config.num_parallel_map_calls),
      deterministic=True)
  if batch_size:
    # Variable dims (steps, segments) pad to the longest in the batch with 0
    # (class 0 = background, '' for strings); valid lengths travel with them.
    dataset = dataset.padded_batch(batch_size, drop_remainder=drop_remainder)
  if config.prefetch_size:
    dataset = dataset.prefetch(config.prefetch_size)
  return dataset
