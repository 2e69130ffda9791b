"""The input-pipeline benchmark: tal_detection/benchmarks/input_pipeline.py and
tools/benchmark_input.py on the tiny synthetic records (no timing assertions)."""
import json
import os
import subprocess
import sys

from tal_detection.benchmarks import input_pipeline
from tal_detection.protos import pipeline_pb2

import model_lib_test_util as util

TOOL = os.path.join(util.REPO_ROOT, 'tools', 'benchmark_input.py')


def _pipeline(record):
  pipeline = pipeline_pb2.TrainEvalPipelineConfig()
  tal_net = pipeline.model.tal_net
  tal_net.num_classes = util.NUM_CLASSES
  for name in util.STREAM_NAMES:
    tal_net.streams.add(name=name, feature_dim=util.STREAM_DIM)
  pipeline.eval_input_reader.tf_record_input_reader.input_path.append(record)
  return pipeline


def test_eval_run_counts_every_video_and_step_once_per_pass(tiny_dataset):
  pipeline = _pipeline(tiny_dataset.test_record)
  reader = pipeline.eval_input_reader
  reader.num_epochs = 0
  # 3 test videos, batch 1, repeated: 3 batches are one pass, 6 two.
  one_pass = input_pipeline.run(pipeline.model, pipeline.eval_config, reader,
                                'eval', num_batches=3, warmup_batches=0)
  results = input_pipeline.run(pipeline.model, pipeline.eval_config, reader,
                               'eval', num_batches=6, warmup_batches=0)
  assert (one_pass['records'], results['records']) == (3, 6)
  assert one_pass['steps'] > 0
  assert results['steps'] == 2 * one_pass['steps']
  assert results['streams'] == {name: util.STREAM_DIM
                                for name in util.STREAM_NAMES}
  assert results['input_path'] == [tiny_dataset.test_record]
  assert results['records_per_second'] > 0
  assert results['machine']['cpu_count'] == os.cpu_count()


def _run(*args):
  return subprocess.run([sys.executable, TOOL] + list(args),
                        capture_output=True, text=True, timeout=300,
                        check=False)


def test_tool_from_flags_writes_the_results(tiny_dataset, tmp_path):
  output_path = tmp_path / 'input_benchmark.json'
  process = _run('--input_path=%s' % tiny_dataset.train_record,
                 '--stream_dims=%d,%d' % (util.STREAM_DIM, util.STREAM_DIM),
                 '--num_classes=%d' % util.NUM_CLASSES, '--max_train_length=8',
                 '--num_batches=5', '--warmup_batches=1',
                 '--results_json=%s' % output_path)
  assert process.returncode == 0, process.stderr[-2000:]
  results = json.loads(output_path.read_text())
  assert results['mode'] == 'train'
  assert results['num_batches'] == 5 and results['records'] == 5
  assert results['max_train_length'] == 8
  assert results['steps'] <= 5 * 8  # windows of at most 8 steps
  assert process.stdout.startswith('Input pipeline (train, batch 1, 5 '
                                   'batches): ')
  assert os.listdir(str(tmp_path)) == ['input_benchmark.json']


def test_tool_errors_are_one_line(tmp_path):
  output = '--results_json=%s' % (tmp_path / 'x.json')
  cases = [
      ((output,), '--num_classes: required without --pipeline_config_path'),
      ((output, '--num_classes=2', '--stream_dims=16,x'),
       '--stream_dims: must be integers, got 16,x'),
      ((output, '--pipeline_config_path=%s' % (tmp_path / 'no.config')),
       '%s: no such file' % (tmp_path / 'no.config')),
      (('--num_classes=2',), '--results_json: required'),
  ]
  for args, message in cases:
    process = _run(*args)
    assert process.returncode == 1, args
    assert process.stderr.strip().splitlines()[-1] == (
        'benchmark_input: error: ' + message)
  assert not os.listdir(str(tmp_path))
