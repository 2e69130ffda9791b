"""Synchronous multi-worker training end to end: tools/model_main.py as the
chief and one worker of a TF_CONFIG cluster without parameter servers, which
distribution_util trains with MultiWorkerMirroredStrategy (collective
all-reduce; the Estimator's distribute coordinator in independent-worker mode).

The training records are ONE file: the Estimator gives each worker its own
input pipeline, and with fewer files than pipelines dataset_builder shards the
records (each worker reads every second video of the 4 tiny training videos).
Sharding by file would leave a worker with no data, ending its training at once
while the other waits in its all-reduce (tests/test_inputs.py has both cases).
"""
import os
import re

import numpy as np
import pytest
import tensorflow as tf

import model_lib_test_util as util

NUM_STEPS = 6
TASKS = ('chief', 'worker')

# The Estimator's LoggingTensorHook (--verbose): the step's loss after the
# strategy reduced it across all replicas, and the global step it started at.
_ESTIMATOR_LOSS_RE = re.compile(r'\bloss = (\S+), step = (\d+)\b')
# progress_util.ProgressHook: the loss tensor of this worker's own replica
# (its LOSSES collection) and the global step after that run.
_PROGRESS_LOSS_RE = re.compile(r'\bstep (\d+)/\d+  loss (\S+)  ')


def _estimator_losses(text):
  """{global step at the start of the step: loss} of a --verbose log.

  TensorFlow's logger and absl both print each line, so every step appears
  twice, with the same value.
  """
  losses = {}
  for loss, step in _ESTIMATOR_LOSS_RE.findall(text):
    assert losses.setdefault(int(step), float(loss)) == float(loss), step
  return losses


def _replica_losses(text):
  """{global step after the step: this worker's replica loss (4 digits)}."""
  return {int(step): float(loss)
          for step, loss in _PROGRESS_LOSS_RE.findall(text)}


def _variables(checkpoint):
  reader = tf.train.load_checkpoint(checkpoint)
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()}


@pytest.mark.slow
def test_chief_and_worker_train_synchronously_with_multi_worker_mirrored(
    tiny_dataset, tmp_path):
  model_dir = str(tmp_path / 'model')
  override = util.tiny_config_override(
      num_steps=NUM_STEPS, save_checkpoints_steps=NUM_STEPS,
      log_every_n_steps=1, num_visualizations=0).replace(
          # The global batch: one video per worker.
          'train_config {', 'train_config { batch_size: %d' % len(TASKS))
  flags = util.model_main_flags(tiny_dataset, model_dir, override, '--verbose')
  chief_port, worker_port = util.free_ports(2)
  cluster = {'chief': ['127.0.0.1:%d' % chief_port],
             'worker': ['127.0.0.1:%d' % worker_port]}
  logs = {task: str(tmp_path / ('%s.log' % task)) for task in TASKS}
  processes = {}
  try:
    for task in TASKS:
      processes[task] = util.start_cluster_task(cluster, task, flags,
                                                logs[task])
    for task in TASKS:
      processes[task].wait(timeout=util.TOOL_TIMEOUT_SECS)
  finally:
    util.end_processes(processes.values())
  outputs = {task: util.read_log(logs[task]) for task in TASKS}
  for task in TASKS:
    assert processes[task].returncode == 0, outputs[task][-3000:]

  for task, output in outputs.items():
    # Each task built the strategy for the 2-worker cluster, as itself, and
    # the Estimator ran it through the distribute coordinator; the parameter
    # server path (no strategy) says "Not using Distribute Coordinator".
    assert re.search(
        r"MultiWorkerMirroredStrategy with cluster_spec = .*task_type = '%s', "
        r'task_id = 0, num_workers = 2\b' % task, output), output[-3000:]
    assert ("Running Distribute Coordinator with mode = 'independent_worker'"
            in output), output[-3000:]
    assert 'Not using Distribute Coordinator' not in output
    assert "'_num_ps_replicas': 0" in output
    assert not re.search(r"'_num_ps_replicas': [1-9]", output)

  # Synchronous steps: both workers ran exactly the global steps 0..N-1 and
  # logged the same all-reduced loss at each, a finite one.
  chief_losses = _estimator_losses(outputs['chief'])
  worker_losses = _estimator_losses(outputs['worker'])
  assert sorted(chief_losses) == list(range(NUM_STEPS)), chief_losses
  assert worker_losses == chief_losses
  assert all(np.isfinite(loss) for loss in chief_losses.values())
  # That loss is the mean of the two replicas' own losses, and those differ:
  # each worker trained on its own share of the videos.
  chief_replica = _replica_losses(outputs['chief'])
  worker_replica = _replica_losses(outputs['worker'])
  common_steps = sorted(set(chief_replica) & set(worker_replica))
  assert len(common_steps) >= NUM_STEPS - 2, (chief_replica, worker_replica)
  assert any(chief_replica[s] != worker_replica[s] for s in common_steps)
  for step_after in common_steps:
    np.testing.assert_allclose(
        (chief_replica[step_after] + worker_replica[step_after]) / 2,
        chief_losses[step_after - 1], rtol=0, atol=1e-3,
        err_msg='step %d' % step_after)

  # No overshoot: the final checkpoint (the chief's) holds exactly NUM_STEPS,
  # it restores, and it equals the weights the worker holds (its own copy,
  # which MonitoredTrainingSession saves under model_dir/tmp_worker_0 so the
  # workers' collective save ops stay in step): the mirrored variables
  # stayed identical across the workers.
  assert util.checkpoint_step(model_dir) == NUM_STEPS
  final = _variables(tf.train.latest_checkpoint(model_dir))
  assert final.keys() > {'global_step'}
  assert all(np.all(np.isfinite(value)) for value in final.values()
             if value.dtype.kind == 'f')
  worker_dir = os.path.join(model_dir, 'tmp_worker_0')
  assert util.checkpoint_step(worker_dir) == NUM_STEPS
  worker_final = _variables(tf.train.latest_checkpoint(worker_dir))
  assert sorted(worker_final) == sorted(final)
  for name, value in final.items():
    np.testing.assert_array_equal(worker_final[name], value, err_msg=name)
  start = _variables(os.path.join(model_dir, 'model.ckpt-0'))
  assert any(not np.array_equal(start[name], final[name])
             for name in final if name != 'global_step')
  # The single-device model restores it: an evaluation of it, without a
  # cluster, reports its step.
  eval_dir = str(tmp_path / 'evaluation')
  result = util.run_tool('model_main.py', *util.model_main_flags(
      tiny_dataset, eval_dir, override, '--checkpoint_dir=%s' % model_dir,
      '--run_once'))
  assert result.returncode == 0, util.describe(result)
  assert os.path.exists(os.path.join(eval_dir, 'eval',
                                     'metrics_%d.json' % NUM_STEPS))
  assert util.saver_temporaries(model_dir) == []
  assert util.saver_temporaries(worker_dir) == []
