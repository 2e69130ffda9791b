"""Data-parallel training: the training plan, the per-replica input, and one
MirroredStrategy step on 2 logical CPU devices equal to the single-device step
at the same global batch (padded batches of videos of different lengths).

The 2-device runs need TensorFlow's CPU split before the runtime starts, so they
run this file as a program in a fresh process (see _child_main).
"""
import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import model_lib_test_util as util
from tal_detection.protos import train_pb2
from tal_detection.utils import distribution_util

NUM_LOGICAL_CPUS = 2


# ----------------------------------------------------------------------------
# The plan (no TensorFlow runtime: devices are given).


def _devices(gpus=(), cpus=('/device:CPU:0',)):
  listed = {'GPU': list(gpus), 'CPU': list(cpus)}
  return lambda device_type: listed[device_type]


def _plan(num_replicas, batch_size=4, cluster=None, **devices):
  return distribution_util.plan_training(
      num_replicas, '--num_gpus', batch_size, cluster or {},
      _devices(**devices))


def test_one_replica_without_cluster_is_the_plain_path():
  plan = _plan(1)
  assert plan.kind == distribution_util.SINGLE_DEVICE
  assert distribution_util.train_distribute(plan) is None


def test_replicas_use_the_first_gpus_else_logical_cpus():
  plan = _plan(2, gpus=['/device:GPU:0', '/device:GPU:1', '/device:GPU:2'])
  assert plan.kind == distribution_util.MIRRORED
  assert plan.devices == ('/device:GPU:0', '/device:GPU:1')
  plan = _plan(2, cpus=['/device:CPU:0', '/device:CPU:1'])
  assert plan.devices == ('/device:CPU:0', '/device:CPU:1')


def test_more_replicas_than_devices_is_one_line():
  with pytest.raises(ValueError) as error:
    _plan(4, gpus=['/device:GPU:0', '/device:GPU:1'])
  assert str(error.value) == (
      '--num_gpus: 4 replicas, but this machine has 2 GPUs')
  with pytest.raises(ValueError) as error:
    _plan(2)
  assert str(error.value) == (
      '--num_gpus: 2 replicas, but this machine has no GPU and 1 CPU device')


def test_global_batch_must_split_evenly():
  with pytest.raises(ValueError) as error:
    _plan(2, batch_size=3, gpus=['/device:GPU:0', '/device:GPU:1'])
  assert str(error.value).startswith(
      'train_config.batch_size: 3: the global batch is split evenly across 2 '
      'devices')


def test_parameter_servers_keep_one_device_per_worker():
  cluster = {'chief': ['h:1'], 'worker': ['h:2'], 'ps': ['h:3']}
  plan = _plan(1, cluster=cluster)
  assert plan.kind == distribution_util.PARAMETER_SERVERS
  assert distribution_util.train_distribute(plan) is None
  with pytest.raises(ValueError) as error:
    _plan(2, cluster=cluster, gpus=['/device:GPU:0', '/device:GPU:1'])
  assert str(error.value).startswith('--num_gpus: 2: with parameter servers')


def test_workers_without_ps_train_multi_worker_mirrored():
  cluster = {'chief': ['h:1'], 'worker': ['h:2', 'h:3']}
  plan = _plan(2, batch_size=12, cluster=cluster,
               gpus=['/device:GPU:0', '/device:GPU:1'])
  assert plan == distribution_util.TrainingPlan(
      distribution_util.MULTI_WORKER_MIRRORED, 3, 2, ())
  # 3 workers x 2 GPUs do not divide a global batch of 4.
  with pytest.raises(ValueError) as error:
    _plan(2, batch_size=4, cluster=cluster,
          gpus=['/device:GPU:0', '/device:GPU:1'])
  assert 'across 3 workers x 2 devices; use a multiple of 6' in str(error.value)
  # The strategy trains on every GPU a worker sees.
  with pytest.raises(ValueError) as error:
    _plan(1, batch_size=12, cluster=cluster,
          gpus=['/device:GPU:0', '/device:GPU:1'])
  assert 'this one sees 2' in str(error.value)


def test_num_gpus_overrides_num_replicas_and_tf_config_is_read():
  config = train_pb2.TrainConfig(batch_size=4, num_replicas=3)
  assert distribution_util.requested_replicas(config) == (
      3, 'train_config.num_replicas')
  assert distribution_util.requested_replicas(config, num_gpus=2) == (
      2, '--num_gpus')
  with pytest.raises(ValueError):
    distribution_util.requested_replicas(config, num_gpus=0)
  tf_config = json.dumps({'cluster': {'chief': ['h:1'], 'worker': ['h:2'],
                                      'ps': ['h:3']},
                          'task': {'type': 'chief', 'index': 0}})
  plan = distribution_util.plan_from_config(
      train_pb2.TrainConfig(batch_size=4), tf_config_text=tf_config)
  assert plan.kind == distribution_util.PARAMETER_SERVERS
  with pytest.raises(ValueError) as error:
    distribution_util.cluster_from_tf_config('{not json')
  assert str(error.value).startswith('TF_CONFIG: not JSON')


def test_per_replica_input_fn_reads_each_replicas_share():
  calls = []

  def input_fn(params=None, input_context=None):
    calls.append((params, input_context))
    return 'dataset'

  wrapped = distribution_util.per_replica_input_fn(input_fn, 8)
  assert wrapped() == 'dataset'
  assert calls[-1] == (None, None)
  context = tf.distribute.InputContext(num_input_pipelines=2,
                                       input_pipeline_id=1,
                                       num_replicas_in_sync=4)
  wrapped(params={'other': 1}, input_context=context)
  assert calls[-1] == ({'other': 1, 'batch_size': 2}, context)
  with pytest.raises(ValueError):
    distribution_util.per_replica_input_fn(input_fn, 6)(
        input_context=context)


# ----------------------------------------------------------------------------
# Training on 2 logical CPU devices (child processes).


def _step_override(gradient_clipping_by_norm):
  """The tiny model, global batch 4, plain SGD, every candidate sampled.

  Minibatches larger than any tiny video's anchors and proposals make the
  samplers take every candidate, so the step is the same whatever random
  numbers each device draws; no shuffling and whole videos (shorter than
  max_train_length) make both runs read the same 4 videos.
  """
  streams = ' '.join('streams { name: "%s" feature_dim: %d }' % (
      name, util.STREAM_DIM) for name in util.STREAM_NAMES)
  return (
      'model { tal_net { num_classes: %d %s feature_reduction_depth: 16 '
      'segment_proposal_network { depth: 16 } second_stage_fc_depth: 16 '
      'first_stage_minibatch_size: 100000 second_stage_batch_size: 300 '
      'first_stage_max_proposals: 300 } } '
      'train_config { num_steps: 2 save_checkpoints_steps: 1 '
      'log_every_n_steps: 1 save_summary_steps: 1 batch_size: 4 '
      'gradient_clipping_by_norm: %g optimizer { momentum_optimizer { '
      'momentum_optimizer_value: 0.0 learning_rate { constant_learning_rate '
      '{ learning_rate: 0.5 } } } } } '
      'train_input_reader { shuffle: false num_readers: 1 '
      'random_window: false } '
      'eval_config { num_visualizations: 0 }' % (
          util.NUM_CLASSES, streams, gradient_clipping_by_norm))


def _run_child(*args):
  # Several Estimator runs in one process: more than one tool's time.
  result = subprocess.run(
      [sys.executable, os.path.abspath(__file__)] + list(args),
      cwd=util.REPO_ROOT, env=util.tool_env(), capture_output=True, text=True,
      timeout=3 * util.TOOL_TIMEOUT_SECS)
  assert result.returncode == 0, util.describe(result)
  return result


def _variables(model_dir):
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if name != 'global_step'}


def _last_loss(model_dir):
  """The Estimator's `loss` summary of the newest events file (its run)."""
  events = sorted(glob.glob(os.path.join(model_dir, 'events.out.tfevents.*')),
                  key=os.path.getmtime)[-1]
  values = [(event.step, value.simple_value)
            for event in tf.compat.v1.train.summary_iterator(events)
            for value in event.summary.value if value.tag == 'loss']
  assert values, events
  return max(values)[1]


def _num_steps_of_train_videos(dataset):
  data = tf.data.TFRecordDataset(dataset.train_record)
  lengths = []
  for serialized in data:
    example = tf.train.SequenceExample.FromString(serialized.numpy())
    lengths.append(
        example.context.feature['video/num_steps'].int64_list.value[0])
  return lengths


@pytest.mark.slow
def test_mirrored_step_equals_single_device_step(tiny_dataset, tmp_path):
  lengths = _num_steps_of_train_videos(tiny_dataset)
  assert len(lengths) == 4 and len(set(lengths)) > 1, lengths  # padded batch
  start = str(tmp_path / 'start')
  # One single-device step from a random start gives the common starting
  # point; each run then takes one more step from a copy of it, without and
  # with (active) gradient clipping, which must clip the whole step's
  # gradient, not each replica's share.
  _run_child('train', json.dumps({
      'dataset': tiny_dataset.directory,
      'steps': [[start, 1, 1, _step_override(0.0)]]}))
  runs = {}
  for clip in (0.0, 0.01):
    for num_gpus in (1, NUM_LOGICAL_CPUS):
      runs[clip, num_gpus] = str(tmp_path / ('clip%g_gpus%d' % (clip,
                                                                num_gpus)))
      shutil.copytree(start, runs[clip, num_gpus])
  _run_child('train', json.dumps({
      'dataset': tiny_dataset.directory,
      'steps': [[model_dir, 2, num_gpus, _step_override(clip)]
                for (clip, num_gpus), model_dir in sorted(runs.items())]}))
  before = _variables(start)
  for clip in (0.0, 0.01):
    single, mirrored = runs[clip, 1], runs[clip, NUM_LOGICAL_CPUS]
    assert util.checkpoint_step(single) == util.checkpoint_step(mirrored) == 2
    after_single = _variables(single)
    after_mirrored = _variables(mirrored)
    assert sorted(after_single) == sorted(after_mirrored) == sorted(before)
    updates = {n: after_single[n] - before[n] for n in before}
    largest = max(float(np.abs(u).max()) for u in updates.values())
    assert largest > 1e-4, clip  # the step moved the weights
    for name in before:
      np.testing.assert_allclose(
          after_mirrored[name] - before[name], updates[name], rtol=0,
          atol=1e-5 * largest, err_msg='%s (clip %g)' % (name, clip))
    # The Estimator's reported loss: the mean of the replicas' losses.
    np.testing.assert_allclose(_last_loss(mirrored), _last_loss(single),
                               rtol=1e-5, err_msg='clip %g' % clip)
  # Clipping at 0.01 changed the step (so it was active and is compared).
  clipped = _variables(runs[0.01, 1])
  unclipped = _variables(runs[0.0, 1])
  assert max(float(np.abs(clipped[n] - unclipped[n]).max())
             for n in before) > 1e-4


@pytest.mark.slow
def test_model_main_num_gpus_trains_on_two_devices(tiny_dataset, tmp_path):
  model_dir = str(tmp_path / 'model')
  override = util.tiny_config_override(
      num_steps=4, save_checkpoints_steps=4, num_visualizations=0).replace(
          'train_config {', 'train_config { batch_size: 2')
  result = _run_child('model_main', *util.model_main_flags(
      tiny_dataset, model_dir, override, '--num_gpus=%d' % NUM_LOGICAL_CPUS,
      '--verbose'))
  output = result.stdout + result.stderr
  assert util.checkpoint_step(model_dir) == 4
  assert 'MirroredStrategy' in output, output[-2000:]
  saved = tf.io.gfile.GFile(os.path.join(model_dir, 'pipeline.config')).read()
  assert 'num_replicas: 2' in saved
  assert os.path.exists(os.path.join(model_dir, 'eval', 'metrics_4.json'))


@pytest.mark.slow
def test_model_main_refuses_more_replicas_than_devices(tiny_dataset, tmp_path):
  model_dir = str(tmp_path / 'model')
  override = util.tiny_config_override(num_steps=2, save_checkpoints_steps=2)
  result = subprocess.run(
      [sys.executable, os.path.abspath(__file__), 'model_main'] +
      util.model_main_flags(tiny_dataset, model_dir, override, '--num_gpus=3'),
      cwd=util.REPO_ROOT, env=util.tool_env(), capture_output=True, text=True,
      timeout=util.TOOL_TIMEOUT_SECS)
  assert result.returncode == 1
  assert util.error_lines(result.stderr) == [
      'model_main: error: --num_gpus: 3 replicas, but this machine has no GPU '
      'and 2 CPU devices'], result.stderr[-2000:]
  assert not os.path.exists(model_dir)


# ----------------------------------------------------------------------------
# The child process.


def _split_cpu():
  """NUM_LOGICAL_CPUS logical CPU devices (before any TensorFlow op runs)."""
  cpu = tf.config.list_physical_devices('CPU')[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * NUM_LOGICAL_CPUS)


def _child_train(spec):
  """Trains each [model_dir, max_steps, num_gpus, config override] of spec."""
  from tal_detection import model_lib  # pylint: disable=g-import-not-at-top
  dataset = util.TinyDataset(spec['dataset'])
  for model_dir, max_steps, num_gpus, override in spec['steps']:
    parts = model_lib.create_estimator_and_inputs(
        model_dir, util.PIPELINE_CONFIG, config_override=override,
        train_input_path=dataset.train_record,
        eval_input_path=dataset.test_record,
        label_map_path=dataset.label_map, num_gpus=num_gpus)
    parts['estimator'].train(parts['train_input_fn'], max_steps=max_steps)


def _child_main(argv):
  _split_cpu()
  if argv[1] == 'train':
    _child_train(json.loads(argv[2]))
  elif argv[1] == 'model_main':
    import runpy  # pylint: disable=g-import-not-at-top
    script = os.path.join(util.REPO_ROOT, 'tools', 'model_main.py')
    sys.argv = [script] + argv[2:]
    runpy.run_path(script, run_name='__main__')
  else:
    raise SystemExit('unknown mode %r' % argv[1])


if __name__ == '__main__':
  _child_main(sys.argv)
