"""Keeps the best checkpoint by an evaluation metric in <model_dir>/best/.

After every evaluation (train_and_evaluate's exporters, and model_main's
evaluate-only loop) `keep_if_best` compares the evaluation's value of
`eval_config.best_checkpoint_metric` with the best so far and, when it is
better, copies that checkpoint's files into <model_dir>/best/:

  best/model.ckpt-N.index, .data-*, .meta   the checkpoint itself
  best/checkpoint                           state file naming it, so
                                            tf.train.latest_checkpoint(best/)
                                            and export_saved_model
                                            --checkpoint_dir=best/ find it
  best/best_checkpoint.json                 {"metric", "value", "step",
                                            "checkpoint", "higher_is_better"}

The previous best's files are removed afterwards. Nothing is kept in memory:
the best so far is read from best_checkpoint.json at each evaluation, so a
restarted run (or an evaluate-only run over the same model_dir) replaces the
best only when it improves on it. Every file is written under a temporary name
and renamed (utils/io_util); the json is written last, after the checkpoint
and its state file are complete, so it never names files that are not there.

The metric name is checked against what the evaluation reports when the config
is loaded (utils/config_validation); a name missing from an evaluation result
(e.g. a per-class AP of a class the label map lacks) raises ValueError here.
"""
import json
import math
import os
import re
import shutil

from absl import logging
import tensorflow as tf

from tal_detection.utils import io_util
from tal_detection.utils import model_dir_util

BEST_DIR_NAME = 'best'
RECORD_NAME = 'best_checkpoint.json'
CHECKPOINT_STATE_NAME = 'checkpoint'

_GLOBAL_STEP = tf.compat.v1.GraphKeys.GLOBAL_STEP
# The files of one checkpoint prefix P: P.index, P.data-SSSSS-of-TTTTT, P.meta.
_CHECKPOINT_FILE_SUFFIX_RE = re.compile(
    r'^\.(index|meta|data-\d{5}-of-\d{5})$')
_RECORD_KEYS = ('metric', 'value', 'step', 'checkpoint', 'higher_is_better')


def best_dir(model_dir):
  """<model_dir>/best: where the best checkpoint is kept."""
  return os.path.join(model_dir, BEST_DIR_NAME)


def read_record(directory):
  """The best_checkpoint.json of a best/ folder as a dict, or None if absent.

  Raises:
    ValueError: naming the file when it is not a best-checkpoint record.
  """
  path = os.path.join(directory, RECORD_NAME)
  if not os.path.exists(path):
    return None
  try:
    with open(path, encoding='utf-8') as f:
      record = json.load(f)
  except (OSError, ValueError) as e:
    raise ValueError('%s: not readable as json (%s)' % (path, e)) from None
  if not isinstance(record, dict) or any(k not in record
                                         for k in _RECORD_KEYS):
    raise ValueError('%s: expected a json object with keys %s' %
                     (path, ', '.join(_RECORD_KEYS)))
  return record


def is_better(value, best_value, higher_is_better):
  """Whether value improves on best_value (None: no best yet).

  NaN (e.g. mAP when no class has ground truth) is never better, and an equal
  value does not replace the best (the earlier checkpoint stays).
  """
  if value is None or math.isnan(value):
    return False
  if best_value is None or math.isnan(best_value):
    return True
  return value > best_value if higher_is_better else value < best_value


def _metric_value(eval_result, metric):
  if metric not in eval_result:
    scalars = sorted(k for k, v in eval_result.items()
                     if isinstance(v, (int, float)) or hasattr(v, 'dtype'))
    raise ValueError(
        'eval_config.best_checkpoint_metric: %r is not among the evaluation '
        'results (%s)' % (metric, ', '.join(scalars)))
  return float(eval_result[metric])


def checkpoint_files(checkpoint_path):
  """The files of a checkpoint prefix (.index, .data-*, .meta), sorted.

  Empty when the checkpoint is incomplete (no .index or no .data- file), e.g.
  because the trainer's retention deleted it before it was copied.
  """
  prefix = os.path.basename(checkpoint_path)
  directory = os.path.dirname(checkpoint_path) or '.'
  if not os.path.isdir(directory):
    return []
  names = sorted(
      name for name in os.listdir(directory)
      if name.startswith(prefix) and
      _CHECKPOINT_FILE_SUFFIX_RE.match(name[len(prefix):]))
  suffixes = [name[len(prefix):] for name in names]
  if '.index' not in suffixes or not any(s.startswith('.data-')
                                         for s in suffixes):
    return []
  return [os.path.join(directory, name) for name in names]


def _checkpoint_state_text(prefix):
  """The text of a `checkpoint` state file naming one relative prefix."""
  quoted = json.dumps(prefix)  # a proto text string literal for plain names
  return ('model_checkpoint_path: %s\nall_model_checkpoint_paths: %s\n' %
          (quoted, quoted))


def _remove_all_but(directory, keep_prefix):
  """Removes checkpoint files (and copy temporaries) not of keep_prefix."""
  basename = model_dir_util.CHECKPOINT_BASENAME
  for name in os.listdir(directory):
    visible = name.lstrip('.')
    if not visible.startswith(basename + '-'):
      continue
    if not name.startswith('.') and name.startswith(keep_prefix + '.'):
      continue
    os.remove(os.path.join(directory, name))


def keep_if_best(model_dir, metric, higher_is_better, eval_result,
                 checkpoint_path):
  """Copies checkpoint_path to <model_dir>/best/ if its metric is the best yet.

  Args:
    model_dir: the run's model_dir (best/ is created in it).
    metric: eval_config.best_checkpoint_metric.
    higher_is_better: eval_config.best_checkpoint_higher_is_better.
    eval_result: the evaluation's {name: value} (Estimator.evaluate's dict,
      holding global_step).
    checkpoint_path: the evaluated checkpoint's prefix.

  Returns:
    The new record (dict, as written to best_checkpoint.json) when the
    checkpoint became the best, else None.

  Raises:
    ValueError: the metric is not in eval_result, or best_checkpoint.json
      is malformed.
  """
  value = _metric_value(eval_result, metric)
  directory = best_dir(model_dir)
  record = read_record(directory)
  best_value = None
  if record is not None:
    if (record['metric'] != metric or
        bool(record['higher_is_better']) != bool(higher_is_better)):
      logging.warning(
          '%s: kept by %s (%s); now choosing by %s (%s): the next '
          'evaluation replaces it', os.path.join(directory, RECORD_NAME),
          record['metric'], 'higher' if record['higher_is_better'] else
          'lower', metric, 'higher' if higher_is_better else 'lower')
    else:
      best_value = float(record['value'])
  if not is_better(value, best_value, higher_is_better):
    return None
  files = checkpoint_files(checkpoint_path)
  if not files:
    logging.warning('Best checkpoint: %s (%s %g) is gone or incomplete; not '
                    'kept', checkpoint_path, metric, value)
    return None

  prefix = os.path.basename(checkpoint_path)
  os.makedirs(directory, exist_ok=True)
  for source in files:
    with io_util.atomic_path(
        os.path.join(directory, os.path.basename(source))) as temporary:
      shutil.copyfile(source, temporary)
  io_util.write_text(os.path.join(directory, CHECKPOINT_STATE_NAME),
                     _checkpoint_state_text(prefix))
  new_record = {
      'metric': metric,
      'value': value,
      'step': int(eval_result[_GLOBAL_STEP]),
      'checkpoint': prefix,
      'higher_is_better': bool(higher_is_better),
  }
  io_util.write_json(os.path.join(directory, RECORD_NAME), new_record)
  _remove_all_but(directory, prefix)
  logging.info('New best checkpoint: %s at step %d, %s %.6g (was %s), kept '
               'in %s', prefix, new_record['step'], metric, value,
               'none' if best_value is None else '%.6g' % best_value,
               directory)
  return new_record


class BestCheckpointExporter(tf.estimator.Exporter):
  """An EvalSpec exporter keeping the best checkpoint in <model_dir>/best/.

  Runs after every evaluation of train_and_evaluate, on the evaluated
  checkpoint (see keep_if_best). export() returns best/ when the checkpoint
  became the best, else None.
  """

  def __init__(self, model_dir, eval_config):
    self._model_dir = model_dir
    self._metric = eval_config.best_checkpoint_metric
    self._higher_is_better = eval_config.best_checkpoint_higher_is_better

  @property
  def name(self):
    return 'best_checkpoint'

  def export(self, estimator, export_path, checkpoint_path, eval_result,
             is_the_final_export):
    del estimator, export_path, is_the_final_export
    if keep_if_best(self._model_dir, self._metric, self._higher_is_better,
                    eval_result, checkpoint_path) is None:
      return None
    return best_dir(self._model_dir)
