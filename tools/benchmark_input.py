r"""Measures how fast the input pipeline delivers batches (records/s, steps/s).

Either from a pipeline config (its model, train/eval config and input reader):

  python tools/benchmark_input.py --pipeline_config_path=configs/x.config \
    --results_json=out/input_benchmark.json

or from records directly:

  python tools/benchmark_input.py --input_path='out/synthetic/train.tfrecord*' \
    --stream_dims=64,64 --num_classes=5 --max_train_length=0 \
    --results_json=out/input_benchmark.json

It iterates the same dataset the Estimator's input_fn returns (decode,
seconds->steps, windows, padded batches) for --num_batches batches after
--warmup_batches, and reports videos (records) per second and valid feature
steps per second (tal_detection/benchmarks/input_pipeline.py).
"""
# tool_util first: it quiets TensorFlow's start-up banner before TF loads.
from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order

from absl import flags

from tal_detection.benchmarks import input_pipeline
from tal_detection.utils import config_util
from tal_detection.utils import io_util

FLAGS = flags.FLAGS

flags.DEFINE_string('pipeline_config_path', '', 'Pipeline config to take the '
                    'model, batch size and input reader from.')
flags.DEFINE_enum('mode', 'train', ['train', 'eval'],
                  'Which input function to benchmark.')
flags.DEFINE_list('input_path', [], 'Record paths/globs (override the '
                  'config\'s).')
flags.DEFINE_list('stream_names', ['rgb', 'flow'], 'Streams (without config).')
flags.DEFINE_list('stream_dims', ['1024', '1024'], 'Stream widths (without '
                  'config).')
flags.DEFINE_integer('num_classes', 0, 'Classes (without config); label ids in '
                     'the records must be within 1..num_classes.')
flags.DEFINE_integer('max_train_length', 0, 'Training window (without config); '
                     '0 keeps whole videos.')
flags.DEFINE_integer('batch_size', 0, 'Videos per batch; 0 keeps the config\'s '
                     '(1 without config).')
flags.DEFINE_integer('num_parallel_map_calls', 0, 'Parallel decode calls; 0 '
                     'keeps the config\'s.')
flags.DEFINE_integer('num_batches', 1000, 'Batches to time.')
flags.DEFINE_integer('warmup_batches', 5, 'Batches read before timing.')
flags.DEFINE_string('results_json', '', 'Where to write the figures (json).')


def _pipeline_from_flags():
  """The smallest pipeline the input functions accept, from the flags."""
  if FLAGS.num_classes < 1:
    raise ValueError('--num_classes: required without --pipeline_config_path')
  if len(FLAGS.stream_names) != len(FLAGS.stream_dims):
    raise ValueError('--stream_dims: %d values for %d --stream_names' %
                     (len(FLAGS.stream_dims), len(FLAGS.stream_names)))
  try:
    streams = ' '.join('streams { name: "%s" feature_dim: %d }' % (name, int(dim))
                       for name, dim in zip(FLAGS.stream_names,
                                            FLAGS.stream_dims))
  except ValueError:
    raise ValueError('--stream_dims: must be integers, got %s' %
                     ','.join(FLAGS.stream_dims)) from None
  # Only what the input functions read (streams, classes, window length).
  pipeline = config_util.parse_pipeline_text(
      'model { tal_net { num_classes: %d max_train_length: %d %s } }' % (
          FLAGS.num_classes, FLAGS.max_train_length, streams), '<flags>')
  pipeline.train_input_reader.tf_record_input_reader.SetInParent()
  pipeline.eval_input_reader.tf_record_input_reader.SetInParent()
  return pipeline


def _configs():
  """(model, run config, input reader) protos from the config or the flags."""
  if FLAGS.pipeline_config_path:
    pipeline = config_util.load_pipeline(FLAGS.pipeline_config_path)
  else:
    pipeline = _pipeline_from_flags()
  if FLAGS.mode == 'train':
    run_config, reader = pipeline.train_config, pipeline.train_input_reader
  else:
    run_config, reader = pipeline.eval_config, pipeline.eval_input_reader
  if FLAGS.input_path:
    config_util.update_input_path(reader, FLAGS.input_path)
  if FLAGS.batch_size:
    run_config.batch_size = FLAGS.batch_size
  if FLAGS.num_parallel_map_calls:
    reader.num_parallel_map_calls = FLAGS.num_parallel_map_calls
  if FLAGS.mode == 'eval':
    reader.num_epochs = 0  # Repeat, so any number of batches can be timed.
  return pipeline.model, run_config, reader


def main(unused_argv):
  if not FLAGS.results_json:
    raise tool_util.UsageError('--results_json: required')
  if FLAGS.num_batches < 1 or FLAGS.warmup_batches < 0:
    raise tool_util.UsageError('--num_batches, --warmup_batches: must be >= 1 '
                               'and >= 0')
  model_config, run_config, reader = _configs()
  results = input_pipeline.run(model_config, run_config, reader, FLAGS.mode,
                               FLAGS.num_batches, FLAGS.warmup_batches)
  io_util.write_json(FLAGS.results_json, results, sort_keys=True)
  print('Input pipeline (%s, batch %d, %d batches): %.1f records/s, %.0f '
        'steps/s (%d records, %d steps in %.2f s); written to %s' % (
            results['mode'], results['batch_size'], results['num_batches'],
            results['records_per_second'], results['steps_per_second'],
            results['records'], results['steps'], results['elapsed_seconds'],
            FLAGS.results_json))


if __name__ == '__main__':
  tool_util.run(main)
