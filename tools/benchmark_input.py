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
steps per second.
"""
import os

# Quiet TensorFlow's C++ start-up banner (keeps errors one line); overridable.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')

# pylint: disable=g-import-not-at-top,wrong-import-position
import json
import re
import sys
import time

from absl import app
from absl import flags
from google.protobuf import text_format
import tensorflow as tf

from tal_detection import inputs
from tal_detection.core import standard_fields
from tal_detection.protos import pipeline_pb2

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


def _configs():
  """(model, run config, input reader) protos from the config or the flags."""
  pipeline = pipeline_pb2.TrainEvalPipelineConfig()
  if FLAGS.pipeline_config_path:
    try:
      with open(FLAGS.pipeline_config_path, 'r', encoding='utf-8') as f:
        text_format.Parse(f.read(), pipeline)
    except OSError as e:
      raise ValueError('cannot read pipeline config %s: %s' %
                       (FLAGS.pipeline_config_path, e)) from e
    except text_format.ParseError as e:
      raise ValueError('pipeline config %s does not parse: %s' %
                       (FLAGS.pipeline_config_path, e)) from e
  else:
    tal_net = pipeline.model.tal_net
    if FLAGS.num_classes < 1:
      raise ValueError('--num_classes is required without '
                       '--pipeline_config_path')
    tal_net.num_classes = FLAGS.num_classes
    if len(FLAGS.stream_names) != len(FLAGS.stream_dims):
      raise ValueError('--stream_names and --stream_dims differ in length')
    for name, dim in zip(FLAGS.stream_names, FLAGS.stream_dims):
      stream = tal_net.streams.add()
      stream.name = name
      try:
        stream.feature_dim = int(dim)
      except ValueError as e:
        raise ValueError('--stream_dims must be integers, got %s' %
                         ','.join(FLAGS.stream_dims)) from e
    tal_net.max_train_length = FLAGS.max_train_length
    pipeline.train_input_reader.tf_record_input_reader.SetInParent()
    pipeline.eval_input_reader.tf_record_input_reader.SetInParent()
  if FLAGS.mode == 'train':
    run_config, reader = pipeline.train_config, pipeline.train_input_reader
  else:
    run_config, reader = pipeline.eval_config, pipeline.eval_input_reader
  if FLAGS.input_path:
    del reader.tf_record_input_reader.input_path[:]
    reader.tf_record_input_reader.input_path.extend(FLAGS.input_path)
  if FLAGS.batch_size:
    run_config.batch_size = FLAGS.batch_size
  if FLAGS.num_parallel_map_calls:
    reader.num_parallel_map_calls = FLAGS.num_parallel_map_calls
  if FLAGS.mode == 'eval':
    reader.num_epochs = 0  # Repeat, so any number of batches can be timed.
  return pipeline.model, run_config, reader


def run_benchmark():
  """Times the input pipeline; returns a dict of figures."""
  model_config, run_config, reader = _configs()
  if FLAGS.mode == 'train':
    dataset = inputs.train_input(run_config, reader, model_config)
  else:
    dataset = inputs.eval_input(run_config, reader, model_config).repeat()
  iterator = iter(dataset)
  num_steps_key = standard_fields.InputDataFields.num_steps
  for _ in range(FLAGS.warmup_batches):
    next(iterator)
  records = steps = 0
  start = time.perf_counter()
  for _ in range(FLAGS.num_batches):
    features, _ = next(iterator)
    num_steps = features[num_steps_key].numpy()
    records += num_steps.shape[0]
    steps += int(num_steps.sum())
  elapsed = time.perf_counter() - start
  return {
      'mode': FLAGS.mode,
      'input_path': list(reader.tf_record_input_reader.input_path),
      'batch_size': int(run_config.batch_size),
      'max_train_length': int(model_config.tal_net.max_train_length),
      'streams': {s.name: s.feature_dim for s in model_config.tal_net.streams},
      'num_parallel_map_calls': int(reader.num_parallel_map_calls),
      'num_batches': FLAGS.num_batches,
      'records': records,
      'steps': steps,
      'elapsed_seconds': elapsed,
      'records_per_second': records / elapsed,
      'steps_per_second': steps / elapsed,
      'batches_per_second': FLAGS.num_batches / elapsed,
      'cpu_count': os.cpu_count(),
      'tensorflow_version': tf.__version__,
  }


def _write_json(results, path):
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  tmp_path = os.path.join(directory, '.%s.tmp-%d' % (os.path.basename(path),
                                                     os.getpid()))
  try:
    with open(tmp_path, 'w', encoding='utf-8') as f:
      json.dump(results, f, indent=2, sort_keys=True)
    os.replace(tmp_path, path)
  finally:
    if os.path.exists(tmp_path):
      os.remove(tmp_path)


def main(argv):
  if len(argv) > 1:
    print('benchmark_input: error: unexpected arguments: %s' %
          ' '.join(argv[1:]), file=sys.stderr)
    sys.exit(1)
  try:
    if not FLAGS.results_json:
      raise ValueError('--results_json is required')
    if FLAGS.num_batches < 1 or FLAGS.warmup_batches < 0:
      raise ValueError('--num_batches must be >= 1 and --warmup_batches >= 0')
    results = run_benchmark()
    _write_json(results, FLAGS.results_json)
  except (ValueError, OSError) as e:
    print('benchmark_input: error: %s' % str(e).replace('\n', ' '),
          file=sys.stderr)
    sys.exit(1)
  except tf.errors.OpError as e:
    message = (e.message or str(e)).splitlines()[0]
    # Drop the "{{function_node ...}}" prefix tf.data puts before the message.
    message = re.sub(r'\{\{function_node [^}]*\}\}\s*', '', message)
    print('benchmark_input: error: %s' % message, file=sys.stderr)
    sys.exit(1)
  print('Input pipeline (%s, batch %d, %d batches): %.1f records/s, %.0f '
        'steps/s (%d records, %d steps in %.2f s); written to %s' % (
            results['mode'], results['batch_size'], results['num_batches'],
            results['records_per_second'], results['steps_per_second'],
            results['records'], results['steps'], results['elapsed_seconds'],
            FLAGS.results_json))


if __name__ == '__main__':
  app.run(main)
