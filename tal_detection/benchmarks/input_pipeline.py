"""How fast the Estimator input pipeline delivers batches (records/s, steps/s).

The dataset timed is the one the input_fn returns (decode, seconds->steps,
windows, padded batches), iterated eagerly.
"""
import os
import time

import tensorflow as tf

from tal_detection import inputs
from tal_detection.benchmarks import timing
from tal_detection.core import standard_fields
from tal_detection.utils import config_util


def time_batches(dataset, num_batches, warmup_batches):
  """Reads warmup_batches untimed, then times num_batches.

  Returns:
    (records, valid feature steps, seconds) of the timed batches.
  """
  iterator = iter(dataset)
  num_steps_key = standard_fields.InputDataFields.num_steps
  for _ in range(warmup_batches):
    next(iterator)
  records = steps = 0
  start = time.perf_counter()
  for _ in range(num_batches):
    features, _ = next(iterator)
    num_steps = features[num_steps_key].numpy()
    records += num_steps.shape[0]
    steps += int(num_steps.sum())
  return records, steps, time.perf_counter() - start


def run(model_config, run_config, reader, mode, num_batches, warmup_batches):
  """Times the train or eval input pipeline; returns the results dict.

  Args:
    model_config: DetectionModel proto (streams, classes, training window).
    run_config: TrainConfig (mode 'train') or EvalConfig ('eval').
    reader: the InputReader of that mode.
    mode: 'train' or 'eval'; the eval dataset is repeated so any number of
      batches can be timed.
    num_batches: batches timed.
    warmup_batches: batches read first, untimed.
  """
  if mode == 'train':
    dataset = inputs.train_input(run_config, reader, model_config)
  else:
    dataset = inputs.eval_input(run_config, reader, model_config).repeat()
  records, steps, elapsed = time_batches(dataset, num_batches, warmup_batches)
  return {
      'mode': mode,
      'input_path': list(reader.tf_record_input_reader.input_path),
      'batch_size': int(run_config.batch_size),
      'max_train_length': config_util.get_max_train_length(model_config),
      'streams': dict(config_util.get_stream_specs(model_config)),
      'num_parallel_map_calls': int(reader.num_parallel_map_calls),
      'num_batches': num_batches,
      'records': records,
      'steps': steps,
      'elapsed_seconds': elapsed,
      'records_per_second': records / elapsed,
      'steps_per_second': steps / elapsed,
      'batches_per_second': num_batches / elapsed,
      'cpu_count': os.cpu_count(),
      'tensorflow_version': tf.__version__,
      'machine': timing.describe_machine(),
  }
