"""Tests for tal_detection.utils.tool_util and error_util (one-line errors)."""
import tensorflow as tf

from tal_detection.utils import config_util
from tal_detection.utils import error_util
from tal_detection.utils import tool_util


def _graph_error(path):
  with tf.Graph().as_default():
    next_record = tf.compat.v1.data.make_one_shot_iterator(
        tf.data.TFRecordDataset(path)).get_next()
    with tf.compat.v1.Session() as session:
      try:
        session.run(next_record)
      except tf.errors.OpError as e:
        return e
  raise AssertionError('no error')


def test_graph_mode_errors_are_summarised_by_their_cause(tmp_path):
  path = tmp_path / 'text.record'
  path.write_text('not a record\n' * 20)
  error = _graph_error(str(path))
  assert error.message.startswith('Graph execution error:')
  assert error_util.op_error_summary(error) == (
      'corrupted record at 0 (Is this even a TFRecord file?)')
  assert tool_util.error_line(error, 'infer') == (
      'infer: error: corrupted record at 0 (Is this even a TFRecord file?)')


def test_user_errors_and_bugs_are_told_apart(tmp_path):
  assert tool_util.is_user_error(ValueError('x'))
  assert tool_util.is_user_error(config_util.ConfigError('x'))
  assert tool_util.is_user_error(FileNotFoundError(2, 'gone', 'a.json'))
  assert tool_util.is_user_error(tf.errors.DataLossError(None, None, 'x'))
  assert not tool_util.is_user_error(TypeError('bug'))
  assert not tool_util.is_user_error(KeyError('bug'))
  assert not tool_util.is_user_error(tf.errors.InternalError(None, None, 'x'))
  assert tool_util.error_line(
      FileNotFoundError(2, 'No such file or directory', 'a.json'),
      'evaluate_detections') == (
          'evaluate_detections: error: a.json: No such file or directory')
  assert tool_util.error_line(ValueError('a\nb'), 't') == 't: error: a'
