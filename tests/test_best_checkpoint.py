"""Tests of tal_detection/best_checkpoint.py and its use by model_main.

Unit tests of keeping / replacing / lower-is-better / restarts over fake
evaluation results and fake (or tiny real) checkpoint files, then end to end:
train_and_evaluate and the evaluate-only loop keep <model_dir>/best/, and
tools/export_saved_model.py exports from it.
"""
import json
import logging
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tal_detection import best_checkpoint
from tal_detection.protos import eval_pb2
from tal_detection.utils import config_validation

import model_lib_test_util as util

MAP = 'DetectionMetrics/mAP@0.5IOU'
LOSS = 'Loss/total_loss'


def _fake_checkpoint(model_dir, step, num_shards=1):
  """Writes model.ckpt-<step>.{index,data-*,meta} holding recognisable bytes."""
  os.makedirs(model_dir, exist_ok=True)
  prefix = os.path.join(model_dir, 'model.ckpt-%d' % step)
  suffixes = ['.index', '.meta'] + ['.data-%05d-of-%05d' % (i, num_shards)
                                    for i in range(num_shards)]
  for suffix in suffixes:
    with open(prefix + suffix, 'w') as f:
      f.write('step %d %s' % (step, suffix))
  return prefix


def _map_result(step, value):
  return {'global_step': np.int64(step), MAP: np.float32(value),
          LOSS: np.float32(1.0)}


def _best_files(model_dir):
  return sorted(os.listdir(best_checkpoint.best_dir(model_dir)))


def _record(model_dir):
  return best_checkpoint.read_record(best_checkpoint.best_dir(model_dir))


def test_first_evaluation_keeps_its_checkpoint_with_a_state_file(tmp_path):
  model_dir = str(tmp_path)
  prefix = _fake_checkpoint(model_dir, 100)
  record = best_checkpoint.keep_if_best(model_dir, MAP, True,
                                        _map_result(100, 0.25), prefix)
  assert record == {'metric': MAP, 'value': pytest.approx(0.25), 'step': 100,
                    'checkpoint': 'model.ckpt-100', 'higher_is_better': True}
  best = best_checkpoint.best_dir(model_dir)
  assert _best_files(model_dir) == [
      'best_checkpoint.json', 'checkpoint', 'model.ckpt-100.data-00000-of-00001',
      'model.ckpt-100.index', 'model.ckpt-100.meta']
  for suffix in ('.index', '.meta', '.data-00000-of-00001'):
    with open(os.path.join(best, 'model.ckpt-100' + suffix)) as f:
      assert f.read() == 'step 100 %s' % suffix
  with open(os.path.join(best, 'best_checkpoint.json')) as f:
    assert json.load(f) == record
  assert tf.train.latest_checkpoint(best) == os.path.join(best,
                                                          'model.ckpt-100')


def test_better_replaces_and_removes_the_previous_worse_is_ignored(tmp_path):
  model_dir = str(tmp_path)
  keep = best_checkpoint.keep_if_best
  assert keep(model_dir, MAP, True, _map_result(1, 0.2),
              _fake_checkpoint(model_dir, 1))
  assert keep(model_dir, MAP, True, _map_result(2, 0.1),
              _fake_checkpoint(model_dir, 2)) is None
  assert _record(model_dir)['step'] == 1
  # Equal is not better: the earlier checkpoint stays.
  assert keep(model_dir, MAP, True, _map_result(3, 0.2),
              _fake_checkpoint(model_dir, 3)) is None
  record = keep(model_dir, MAP, True, _map_result(4, 0.3),
                _fake_checkpoint(model_dir, 4, num_shards=2))
  assert record['step'] == 4 and record['checkpoint'] == 'model.ckpt-4'
  assert _best_files(model_dir) == [
      'best_checkpoint.json', 'checkpoint',
      'model.ckpt-4.data-00000-of-00002', 'model.ckpt-4.data-00001-of-00002',
      'model.ckpt-4.index', 'model.ckpt-4.meta']
  assert tf.train.latest_checkpoint(best_checkpoint.best_dir(model_dir)).endswith(
      'model.ckpt-4')


def test_lower_is_better_for_a_loss(tmp_path):
  model_dir = str(tmp_path)
  values = [(1, 0.9), (2, 0.5), (3, 0.7), (4, 0.4), (5, 0.41)]
  kept = []
  for step, value in values:
    result = {'global_step': np.int64(step), LOSS: np.float32(value)}
    if best_checkpoint.keep_if_best(model_dir, LOSS, False, result,
                                    _fake_checkpoint(model_dir, step)):
      kept.append(step)
  assert kept == [1, 2, 4]
  record = _record(model_dir)
  assert record['higher_is_better'] is False
  assert record['value'] == pytest.approx(0.4)
  assert [f for f in _best_files(model_dir) if f.startswith('model.ckpt')] == [
      'model.ckpt-4.data-00000-of-00001', 'model.ckpt-4.index',
      'model.ckpt-4.meta']


def test_a_restarted_run_replaces_the_best_only_on_improvement(tmp_path):
  model_dir = str(tmp_path)
  best_checkpoint.keep_if_best(model_dir, MAP, True, _map_result(1000, 0.5),
                               _fake_checkpoint(model_dir, 1000))
  # A new process: nothing but the files on disk. The checkpoints of the first
  # run were deleted by the trainer's retention; a worse one arrives.
  for name in os.listdir(model_dir):
    if name.startswith('model.ckpt-1000'):
      os.remove(os.path.join(model_dir, name))
  exporter = best_checkpoint.BestCheckpointExporter(
      model_dir, eval_pb2.EvalConfig())
  assert exporter.export(None, '/unused', _fake_checkpoint(model_dir, 1500),
                         _map_result(1500, 0.4), False) is None
  assert _record(model_dir)['step'] == 1000
  assert tf.train.latest_checkpoint(
      best_checkpoint.best_dir(model_dir)).endswith('model.ckpt-1000')
  assert exporter.export(None, '/unused', _fake_checkpoint(model_dir, 2000),
                         _map_result(2000, 0.6), True) == (
                             best_checkpoint.best_dir(model_dir))
  assert _record(model_dir)['step'] == 2000
  assert 'model.ckpt-1000.index' not in _best_files(model_dir)


def test_nan_is_never_kept_and_a_later_number_is(tmp_path):
  model_dir = str(tmp_path)
  assert best_checkpoint.keep_if_best(
      model_dir, MAP, True, _map_result(1, float('nan')),
      _fake_checkpoint(model_dir, 1)) is None
  assert not os.path.exists(best_checkpoint.best_dir(model_dir))
  assert best_checkpoint.keep_if_best(model_dir, MAP, True,
                                      _map_result(2, 0.0),
                                      _fake_checkpoint(model_dir, 2))


def test_is_better():
  assert best_checkpoint.is_better(0.1, None, True)
  assert best_checkpoint.is_better(0.1, None, False)
  assert best_checkpoint.is_better(0.2, 0.1, True)
  assert not best_checkpoint.is_better(0.2, 0.1, False)
  assert best_checkpoint.is_better(0.05, 0.1, False)
  assert not best_checkpoint.is_better(0.1, 0.1, True)
  assert not best_checkpoint.is_better(float('nan'), 0.1, True)
  assert best_checkpoint.is_better(0.0, float('nan'), True)


def test_a_changed_metric_replaces_the_old_best_at_the_next_evaluation(
    tmp_path, caplog):
  model_dir = str(tmp_path)
  best_checkpoint.keep_if_best(model_dir, MAP, True, _map_result(1, 0.9),
                               _fake_checkpoint(model_dir, 1))
  with caplog.at_level(logging.WARNING):
    record = best_checkpoint.keep_if_best(
        model_dir, LOSS, False, _map_result(2, 0.1),
        _fake_checkpoint(model_dir, 2))
  assert record['metric'] == LOSS and record['step'] == 2
  assert any('now choosing by Loss/total_loss' in r.getMessage()
             for r in caplog.records)


def test_missing_metric_names_the_field_and_what_the_evaluation_holds(
    tmp_path):
  with pytest.raises(ValueError) as error:
    best_checkpoint.keep_if_best(
        str(tmp_path), 'DetectionMetrics_PerClass/AP@0.5IOU/nope', True,
        _map_result(1, 0.5), _fake_checkpoint(str(tmp_path), 1))
  assert str(error.value) == (
      "eval_config.best_checkpoint_metric: "
      "'DetectionMetrics_PerClass/AP@0.5IOU/nope' is not among the evaluation "
      'results (%s, %s, global_step)' % (MAP, LOSS))
  assert not os.path.exists(best_checkpoint.best_dir(str(tmp_path)))


def test_a_checkpoint_deleted_before_the_copy_is_skipped(tmp_path, caplog):
  model_dir = str(tmp_path)
  prefix = _fake_checkpoint(model_dir, 7)
  os.remove(prefix + '.index')
  with caplog.at_level(logging.WARNING):
    assert best_checkpoint.keep_if_best(model_dir, MAP, True,
                                        _map_result(7, 0.5), prefix) is None
  assert not os.path.exists(best_checkpoint.best_dir(model_dir))
  assert any('gone or incomplete' in r.getMessage() for r in caplog.records)


def test_leftovers_of_an_interrupted_copy_are_removed(tmp_path):
  model_dir = str(tmp_path)
  best = best_checkpoint.best_dir(model_dir)
  os.makedirs(best)
  leftovers = ['.model.ckpt-3.index.tmp-123-0', 'model.ckpt-3.index']
  for name in leftovers + ['notes.txt']:
    open(os.path.join(best, name), 'w').close()
  best_checkpoint.keep_if_best(model_dir, MAP, True, _map_result(5, 0.5),
                               _fake_checkpoint(model_dir, 5))
  files = _best_files(model_dir)
  assert 'notes.txt' in files  # not a checkpoint file: left alone
  for name in leftovers:
    assert name not in files


def test_malformed_record_is_an_error_naming_it(tmp_path):
  best = best_checkpoint.best_dir(str(tmp_path))
  os.makedirs(best)
  with open(os.path.join(best, 'best_checkpoint.json'), 'w') as f:
    f.write('{"metric": "x"}')
  with pytest.raises(ValueError, match='best_checkpoint.json: expected a json '
                     'object with keys'):
    best_checkpoint.read_record(best)


def test_a_real_checkpoint_restores_from_best(tmp_path):
  model_dir = str(tmp_path)
  with tf.Graph().as_default():
    weights = tf.compat.v1.get_variable(
        'weights', initializer=np.arange(6, dtype=np.float32).reshape(2, 3))
    step = tf.compat.v1.train.get_or_create_global_step()
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      session.run(step.assign(42))
      session.run(weights.assign(weights * 2))
      prefix = saver.save(session, os.path.join(model_dir, 'model.ckpt'),
                          global_step=42)
  best_checkpoint.keep_if_best(model_dir, MAP, True, _map_result(42, 0.5),
                               prefix)
  restored = tf.train.load_checkpoint(tf.train.latest_checkpoint(
      best_checkpoint.best_dir(model_dir)))
  np.testing.assert_array_equal(restored.get_tensor('weights'),
                                2 * np.arange(6).reshape(2, 3))
  assert restored.get_tensor('global_step') == 42


# ---------------------------------------------------------------------------
# End to end on the tiny synthetic dataset.


@pytest.mark.slow
def test_train_and_evaluate_keeps_the_evaluated_checkpoint(trained_model):
  model_dir = trained_model.model_dir
  steps = trained_model.num_steps
  with open(os.path.join(model_dir, 'eval', 'metrics_%d.json' % steps)) as f:
    metrics = json.load(f)
  record = _record(model_dir)
  assert record == {'metric': MAP, 'value': pytest.approx(metrics[MAP]),
                    'step': steps, 'checkpoint': 'model.ckpt-%d' % steps,
                    'higher_is_better': True}
  best = best_checkpoint.best_dir(model_dir)
  assert tf.train.latest_checkpoint(best) == os.path.join(
      best, 'model.ckpt-%d' % steps)
  reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(best))
  original = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir))
  for name in original.get_variable_to_shape_map():
    np.testing.assert_array_equal(reader.get_tensor(name),
                                  original.get_tensor(name))
  new_best_lines = [line for line in trained_model.output.splitlines()
                    if 'New best checkpoint: ' in line]
  assert len(new_best_lines) == 1, trained_model.output[-3000:]
  assert 'model.ckpt-%d at step %d' % (steps, steps) in new_best_lines[0]
  # Every name validation accepts is in a real evaluation's results.
  for name in config_validation.best_checkpoint_metric_names(
      eval_pb2.EvalConfig()):
    assert name in metrics, name


@pytest.mark.slow
def test_evaluate_only_keeps_the_best_by_a_loss(trained_model, tiny_dataset,
                                                tmp_path):
  eval_dir = str(tmp_path / 'evaluation')
  override = trained_model.config_override.replace(
      'eval_config {', 'eval_config { best_checkpoint_metric: '
      '"Loss/total_loss" best_checkpoint_higher_is_better: false ', 1)
  assert override != trained_model.config_override
  result = util.run_tool('model_main.py', *util.model_main_flags(
      tiny_dataset, eval_dir, override,
      '--checkpoint_dir=%s' % trained_model.model_dir, '--run_once'))
  assert result.returncode == 0, util.describe(result)
  steps = trained_model.num_steps
  with open(os.path.join(eval_dir, 'eval', 'metrics_%d.json' % steps)) as f:
    metrics = json.load(f)
  assert _record(eval_dir) == {
      'metric': LOSS, 'value': pytest.approx(metrics[LOSS]), 'step': steps,
      'checkpoint': 'model.ckpt-%d' % steps, 'higher_is_better': False}
  assert tf.train.latest_checkpoint(best_checkpoint.best_dir(eval_dir))


@pytest.mark.slow
def test_unknown_metric_fails_at_start_with_one_line(tiny_dataset, tmp_path):
  model_dir = str(tmp_path / 'model')
  override = util.tiny_config_override(num_steps=2, save_checkpoints_steps=2)
  override = override.replace(
      'eval_config {', 'eval_config { best_checkpoint_metric: "mAP@0.5" ', 1)
  result = util.run_tool('model_main.py', *util.model_main_flags(
      tiny_dataset, model_dir, override))
  assert result.returncode == 1
  lines = util.error_lines(result.stderr)
  assert len(lines) == 1, result.stderr
  assert re.match(r"^model_main: error: .*: eval_config\.best_checkpoint_metric"
                  r": 'mAP@0\.5' is not reported by this evaluation; one of "
                  r'DetectionMetrics/mAP@0\.1IOU, ', lines[0]), lines[0]
  assert not os.path.exists(model_dir)


@pytest.mark.slow
def test_export_saved_model_exports_the_best_checkpoint(trained_model,
                                                        tmp_path):
  # best/ made from the run's first checkpoint (step 0), so the export must
  # hold its weights, not the latest checkpoint's.
  model_dir = str(tmp_path / 'model')
  first = os.path.join(trained_model.model_dir, 'model.ckpt-0')
  assert best_checkpoint.keep_if_best(model_dir, MAP, True, _map_result(0, 0.5),
                                      first)
  output_directory = str(tmp_path / 'exported')
  result = util.run_tool(
      'export_saved_model.py',
      '--pipeline_config_path=%s' % os.path.join(trained_model.model_dir,
                                                 'pipeline.config'),
      '--checkpoint_dir=%s' % best_checkpoint.best_dir(model_dir),
      '--output_directory=%s' % output_directory)
  assert result.returncode == 0, util.describe(result)
  assert 'checkpoint %s' % os.path.join(best_checkpoint.best_dir(model_dir),
                                        'model.ckpt-0') in result.stdout
  # The export's weights: its variables and, for the small ones, the
  # constants of its graph (exporter._small_weights_as_constants).
  version_dir = os.path.join(output_directory, '1')
  with open(os.path.join(version_dir, 'saved_model.pb'), 'rb') as f:
    graph_def = saved_model_pb2.SavedModel.FromString(
        f.read()).meta_graphs[0].graph_def
  exported = [tf.make_ndarray(node.attr['value'].tensor)
              for node in graph_def.node if node.op == 'Const']
  if os.path.exists(os.path.join(version_dir, 'variables',
                                 'variables.index')):
    reader = tf.train.load_checkpoint(
        os.path.join(version_dir, 'variables', 'variables'))
    exported += [reader.get_tensor(name)
                 for name in reader.get_variable_to_shape_map()]

  def holds(value):
    return any(v.shape == value.shape and np.array_equal(v, value)
               for v in exported)

  at_step_0 = tf.train.load_checkpoint(first)
  latest = tf.train.load_checkpoint(
      tf.train.latest_checkpoint(trained_model.model_dir))
  changed = [name for name in at_step_0.get_variable_to_shape_map()
             if name.split('/')[-1] in ('weights', 'biases') and
             not np.array_equal(at_step_0.get_tensor(name),
                                latest.get_tensor(name))]
  assert changed
  for name in changed:
    assert holds(at_step_0.get_tensor(name)), name
    assert not holds(latest.get_tensor(name)), name
