"""Faults during training and what they must not leave in model_dir.

A kill during a checkpoint save (the saver's temporaries are removed at the
next start, the step does not go back), restarts (the graph is written to the
events files once per model_dir, not four times per start) and a distributed
worker killed and restarted (the job completes with intact checkpoints); on the
tiny model of tests/model_lib_test_util.py. The fast tests pin the
model_dir_util pieces on hand-made folders.
"""
import logging
import os
import re
import shutil
import signal
import time

import pytest
import tensorflow as tf

from tal_detection.utils import model_dir_util

import model_lib_test_util as util

_HEX = '0123456789abcdef' * 2  # 32 hex digits, as uuid4().hex has.
# Far below one graph record (about 4 MB for the tiny training graph, 1.6 MB
# for its evaluation graph), far above what a short run's scalars take.
_RESTART_EVENTS_BOUND = 64 * 1024
_REMOVAL_LINE = 'Removed stale checkpoint temporary '


def _flags(dataset, model_dir, override):
  # --verbose: TensorFlow's own INFO lines ("Restoring parameters from ...",
  # the Estimator's "loss = ..., step = N") are what these tests read.
  return util.model_main_flags(dataset, model_dir, override, '--verbose')


def _write_checkpoint(directory, step):
  """A real sharded V2 checkpoint <directory>/model.ckpt-<step>."""
  with tf.Graph().as_default():
    tf.compat.v1.Variable(tf.ones([64, 64]), name='weights')
    global_step = tf.compat.v1.train.get_or_create_global_step()
    saver = tf.compat.v1.train.Saver(sharded=True)
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      session.run(global_step.assign(step))
      return saver.save(session, os.path.join(directory, 'model.ckpt'),
                        global_step=step)


def _plant_killed_save(model_dir, source_prefix, step):
  """What a SIGKILL between the shard writes and their merge leaves.

  The saver writes model.ckpt-<step>_temp/part-00000-of-00001.{index,
  data-00000-of-00001} (copies of a real checkpoint's files here), the
  BundleWriter's .tempstate<n> files while writing them, and
  <name>.tmp<hex> for the meta graph and the checkpoint state file.
  """
  temp_dir = os.path.join(model_dir, 'model.ckpt-%d_temp' % step)
  os.makedirs(temp_dir)
  shutil.copy(source_prefix + '.index',
              os.path.join(temp_dir, 'part-00000-of-00001.index'))
  shutil.copy(source_prefix + '.data-00000-of-00001',
              os.path.join(temp_dir, 'part-00000-of-00001.data-00000-of-00001'))
  shutil.copy(source_prefix + '.index', os.path.join(
      temp_dir, 'part-00000-of-00001.index.tempstate1234567890'))
  planted = [temp_dir]
  for name in ('model.ckpt-%d.meta.tmp%s' % (step, _HEX),
               'checkpoint.tmp%s' % _HEX):
    path = os.path.join(model_dir, name)
    with open(path, 'wb') as f:
      f.write(b'\0' * 1000)
    planted.append(path)
  return planted


def _plant_lookalikes(model_dir):
  """Names near the saver's that are someone else's: all must stay."""
  kept = []
  foreign = os.path.join(model_dir, 'model.ckpt-9_temp')
  os.makedirs(foreign)
  with open(os.path.join(foreign, 'notes.txt'), 'w') as f:
    f.write('not a checkpoint shard\n')
  kept.append(foreign)
  other_prefix = os.path.join(model_dir, 'other.ckpt-1_temp')
  os.makedirs(other_prefix)
  open(os.path.join(other_prefix, 'part-00000-of-00001.index'), 'w').close()
  kept.append(other_prefix)
  for name in ('model.ckpt-8_temp.txt', 'model.ckpt-8.meta.tmp',
               'model.ckpt-8.meta.tmpZZ', 'my_temp', 'checkpoint.tmp'):
    path = os.path.join(model_dir, name)
    open(path, 'w').close()
    kept.append(path)
  return kept


def test_stale_checkpoint_temporaries_removed_and_nothing_else(tmp_path,
                                                               caplog):
  model_dir = str(tmp_path)
  prefix = _write_checkpoint(model_dir, 3)
  planted = _plant_killed_save(model_dir, prefix, 4)
  kept = _plant_lookalikes(model_dir)
  before = set(os.listdir(model_dir))

  with caplog.at_level(logging.INFO):
    removed = model_dir_util.remove_stale_checkpoint_temporaries(model_dir)

  assert sorted(removed) == sorted(planted)
  for path in planted:
    assert not os.path.exists(path), path
  for path in kept:
    assert os.path.exists(path), path
  assert set(os.listdir(model_dir)) == before - {
      os.path.basename(p) for p in planted}
  removal_lines = [r.getMessage() for r in caplog.records
                   if r.getMessage().startswith(_REMOVAL_LINE)]
  assert len(removal_lines) == len(planted), removal_lines
  for path in planted:
    assert sum(path in line for line in removal_lines) == 1, (path,
                                                              removal_lines)
  # The real checkpoint is untouched and still the latest.
  assert tf.train.latest_checkpoint(model_dir) == prefix
  assert tf.train.load_checkpoint(prefix).get_tensor('global_step') == 3
  # Nothing left to remove: a second call is a no-op.
  assert model_dir_util.remove_stale_checkpoint_temporaries(model_dir) == []


def test_remove_stale_checkpoint_temporaries_without_model_dir(tmp_path):
  assert model_dir_util.remove_stale_checkpoint_temporaries(
      str(tmp_path / 'not_yet')) == []


def _graph_def(num_outputs, value):
  with tf.Graph().as_default() as graph:
    x = tf.compat.v1.placeholder(tf.float32, [None, 4], name='x')
    weights = tf.compat.v1.get_variable('weights', [4, num_outputs])
    tf.identity(tf.matmul(x, weights) * value, name='y')
  return graph.as_graph_def(add_shapes=True)


def test_graph_fingerprint_is_the_structure_not_the_constants():
  base = model_dir_util.graph_fingerprint(_graph_def(3, 2.0))
  # Other constant values and shapes: the same model, restarted.
  assert model_dir_util.graph_fingerprint(_graph_def(5, 7.0)) == base
  # Another op: another model.
  with tf.Graph().as_default() as graph:
    tf.compat.v1.import_graph_def(_graph_def(3, 2.0), name='')
    tf.nn.relu(graph.get_tensor_by_name('y:0'), name='extra')
  assert model_dir_util.graph_fingerprint(graph.as_graph_def()) != base


def test_logged_graph_fingerprints_reads_cut_short_events_files(tmp_path):
  graph_def = _graph_def(3, 2.0)
  whole = str(tmp_path / 'whole')
  cut = str(tmp_path / 'cut')
  for logdir in (whole, cut):
    with tf.Graph().as_default() as graph:
      tf.compat.v1.import_graph_def(graph_def, name='')
      writer = tf.compat.v1.summary.FileWriter(logdir)
      writer.add_graph(graph)  # the last record of the file
      writer.close()
  expected = model_dir_util.graph_fingerprint(graph_def)
  assert model_dir_util.logged_graph_fingerprints(whole) == {expected}
  # A writer killed in the middle of its graph record.
  path, = util.events_files(cut)
  size = os.path.getsize(path)
  with open(path, 'r+b') as f:
    f.truncate(size - 100)
  assert model_dir_util.logged_graph_fingerprints(cut) == set()
  assert model_dir_util.logged_graph_fingerprints(
      str(tmp_path / 'absent')) == set()


class _RestartedModel(object):

  def __init__(self, model_dir, planted, kept, outputs):
    self.model_dir = model_dir
    self.planted = planted  # what a killed save left, before the restart
    self.kept = kept  # lookalikes that must survive
    self.outputs = outputs  # stdout + stderr of the first run and the restart


@pytest.fixture(scope='module')
def restarted_model(tiny_dataset, tmp_path_factory):
  """2 steps, then a killed save's leftovers planted, then a restart to 4."""
  model_dir = str(tmp_path_factory.mktemp('restarted') / 'model')
  override = util.tiny_config_override(num_steps=2, save_checkpoints_steps=2,
                                       num_visualizations=0)
  flags = _flags(tiny_dataset, model_dir, override)
  outputs = [util.train_to(flags, 2)]
  planted = _plant_killed_save(model_dir, os.path.join(model_dir,
                                                       'model.ckpt-2'), 3)
  kept = _plant_lookalikes(model_dir)
  outputs.append(util.train_to(flags, 4))
  return _RestartedModel(model_dir, planted, kept, outputs)


@pytest.mark.slow
def test_restart_removes_stale_checkpoint_temporaries(restarted_model):
  model_dir = restarted_model.model_dir
  output = restarted_model.outputs[1]
  for path in restarted_model.planted:
    assert not os.path.exists(path), path
    lines = [line for line in output.splitlines()
             if _REMOVAL_LINE + path in line]
    assert len(lines) == 1, (path, output[-3000:])
  for path in restarted_model.kept:
    assert os.path.exists(path), path
  assert util.saver_temporaries(model_dir) == ['model.ckpt-9_temp']  # foreign
  # The real checkpoints are intact: each restores its own step.
  assert util.checkpoint_step(model_dir) == 4
  for step in (0, 2, 4):
    reader = tf.train.load_checkpoint(os.path.join(model_dir,
                                                   'model.ckpt-%d' % step))
    assert reader.get_tensor('global_step') == step
  restored = util.restored_checkpoints(output)
  assert restored and restored[0].endswith('model.ckpt-2'), restored


def _graph_records(path):
  return [(kind, event) for kind, event in util.event_records(path)
          if kind in ('graph_def', 'meta_graph_def')]


@pytest.mark.slow
def test_events_files_hold_the_graph_once_per_model_dir(restarted_model):
  for logdir in (restarted_model.model_dir,
                 os.path.join(restarted_model.model_dir, 'eval')):
    first, restart = util.events_files(logdir)
    # The first run: one graph_def (what TensorBoard shows), no meta graph.
    records = _graph_records(first)
    assert [kind for kind, _ in records] == ['graph_def'], logdir
    graph_def = tf.compat.v1.GraphDef.FromString(records[0][1].graph_def)
    assert 'global_step' in {node.name for node in graph_def.node}
    graph_bytes = len(records[0][1].graph_def)
    assert graph_bytes > 10 * _RESTART_EVENTS_BOUND  # what made files large
    assert os.path.getsize(first) < graph_bytes + _RESTART_EVENTS_BOUND
    # The restart: the same graph, so none of it again; only its scalars.
    assert _graph_records(restart) == [], logdir
    assert os.path.getsize(restart) < _RESTART_EVENTS_BOUND, logdir
    if logdir == restarted_model.model_dir:
      kinds = {kind for kind, _ in util.event_records(restart)}
      assert 'summary' in kinds, kinds  # training summaries still written


def _wait_stopped(process):
  """Returns once SIGSTOP took effect (the kernel delivers it later)."""
  deadline = time.monotonic() + 10
  while time.monotonic() < deadline:
    with open('/proc/%d/stat' % process.pid) as f:
      # pid (comm) state ...: comm may hold spaces, the state follows ')'.
      if f.read().rsplit(')', 1)[1].split()[0] in ('T', 't'):
        return
    time.sleep(0.001)
  raise AssertionError('process %d did not stop' % process.pid)


def _wait_for_saver_temporary(process, model_dir, log_path, timeout):
  """Stops process while it saves a checkpoint; the temporary it was writing.

  The shard folder lives for milliseconds, so the poll is tight and the
  process is frozen (SIGSTOP) the moment one is seen; if the save finished
  in between, it continues and the next save is tried.
  """
  deadline = time.monotonic() + timeout
  while time.monotonic() < deadline:
    assert process.poll() is None, util.read_log(log_path)[-3000:]
    temporaries = [name for name in util.saver_temporaries(model_dir)
                   if name.endswith('_temp')]
    if temporaries:
      process.send_signal(signal.SIGSTOP)
      _wait_stopped(process)
      still_there = [name for name in util.saver_temporaries(model_dir)
                     if name in temporaries]
      if still_there:
        return still_there
      process.send_signal(signal.SIGCONT)
    time.sleep(0.002)
  raise AssertionError('no checkpoint save caught in %d s' % timeout)


@pytest.mark.slow
def test_killed_during_checkpoint_save_restarts_from_last_complete_one(
    tiny_dataset, tmp_path):
  model_dir = str(tmp_path / 'model')
  # A save every step: most of the run is saving, so one is caught quickly.
  flags = _flags(tiny_dataset, model_dir,
                 util.endless_training_override(save_checkpoints_steps=1))
  log_path = str(tmp_path / 'killed.log')
  killed = util.start_tool('model_main.py', flags, log_path)
  try:
    # Past the first save (step 0), into training.
    util.wait_until(lambda: util.checkpoint_step(model_dir) not in (None, 0),
                    'a checkpoint after step 0', killed, log_path)
    caught = _wait_for_saver_temporary(killed, model_dir, log_path,
                                       timeout=util.TOOL_TIMEOUT_SECS)
    util.sigkill(killed)
  finally:
    util.end_processes([killed])
  # The kill interrupted a save: its temporary stays behind.
  assert caught and set(caught) <= set(util.saver_temporaries(model_dir))
  caught_step = int(re.match(r'model\.ckpt-(\d+)_temp', caught[0]).group(1))
  # The newest complete checkpoint is the one before the interrupted save.
  complete = util.checkpoint_step(model_dir)
  assert complete is not None and 0 < complete < caught_step
  killed_steps = util.logged_train_steps(util.read_log(log_path))
  assert killed_steps and max(killed_steps) <= caught_step

  requested = complete + 2
  output = util.train_to(flags, requested)
  restored = util.restored_checkpoints(output)
  assert restored and restored[0].endswith('model.ckpt-%d' % complete), (
      restored)
  # Training resumed where the last complete checkpoint left it, not earlier.
  steps = util.logged_train_steps(output)
  assert steps and steps[0] == complete, steps[:5]
  assert steps == sorted(steps), steps
  assert util.checkpoint_step(model_dir) == requested
  # The interrupted save's leftovers are gone, with one line each, and the
  # restart's own saves left none.
  for name in caught:
    assert _REMOVAL_LINE + os.path.join(model_dir, name) in output
  assert util.saver_temporaries(model_dir) == []


@pytest.mark.slow
def test_distributed_worker_killed_and_restarted_job_completes(tiny_dataset,
                                                               tmp_path):
  num_steps = 60
  model_dir = str(tmp_path / 'model')
  override = util.tiny_config_override(
      num_steps=num_steps, save_checkpoints_steps=10, log_every_n_steps=1,
      num_visualizations=0)
  flags = _flags(tiny_dataset, model_dir, override)
  cluster = util.local_cluster()
  logs = {name: str(tmp_path / ('%s.log' % name))
          for name in ('ps', 'chief', 'worker', 'worker_restarted')}
  processes = {}
  try:
    for task in ('ps', 'chief'):
      processes[task] = util.start_cluster_task(cluster, task, flags,
                                                logs[task])

    def trained(name):
      return lambda: util.logged_train_steps(util.read_log(logs[name]))

    util.wait_until(trained('chief'), 'the chief training', processes['chief'],
                    logs['chief'])
    # The chief waits (frozen) while the worker is killed and restarted, so
    # the job cannot finish without the restarted worker rejoining: what is
    # tested is that it does, and that the step it sees did not go back. The
    # worker starts only now: started with the chief, it trained every step
    # alone while the chief was still starting up (on a slow machine), and
    # had finished by the time it was to be killed.
    processes['chief'].send_signal(signal.SIGSTOP)
    processes['worker'] = util.start_cluster_task(cluster, 'worker', flags,
                                                  logs['worker'])
    util.wait_until(trained('worker'), 'the worker training',
                    processes['worker'], logs['worker'])
    util.sigkill(processes['worker'])
    processes['worker_restarted'] = util.start_cluster_task(
        cluster, 'worker', flags, logs['worker_restarted'])
    util.wait_until(trained('worker_restarted'), 'the restarted worker '
                    'training', processes['worker_restarted'],
                    logs['worker_restarted'])
    processes['chief'].send_signal(signal.SIGCONT)
    for name in ('chief', 'worker_restarted'):
      processes[name].wait(timeout=util.TOOL_TIMEOUT_SECS)
    ps_still_serving = processes['ps'].poll() is None
  finally:
    util.end_processes(processes.values())
  outputs = {name: util.read_log(path) for name, path in logs.items()}
  for name in ('chief', 'worker_restarted'):
    assert processes[name].returncode == 0, outputs[name][-3000:]
  assert ps_still_serving, outputs['ps'][-3000:]
  # The global step lives on the parameter server: the restarted worker goes
  # on from where the killed one was, never from 0.
  killed_steps = util.logged_train_steps(outputs['worker'])
  restarted_steps = util.logged_train_steps(outputs['worker_restarted'])
  assert restarted_steps[0] >= max(killed_steps) > 0, (killed_steps,
                                                       restarted_steps)
  # The final checkpoint restores and holds the configured step, or up to two
  # more: the chief was frozen inside a step, and StopAtStepHook judges that
  # step by the global step it read before the freeze, so the chief finishes
  # it (num_steps + 1) and runs one more before it re-reads the step and stops.
  final_step = util.checkpoint_step(model_dir)
  assert num_steps <= final_step <= num_steps + 2
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
  assert reader.get_variable_to_shape_map().keys() > {'global_step'}
  assert util.saver_temporaries(model_dir) == []
