"""Tests of the training progress hook and the converter's progress line."""
import io

import tensorflow as tf

from tal_detection.utils import progress_util


class _Clock(object):
  """A clock that advances 0.5 s per reading (two per step)."""

  def __init__(self):
    self.now = 100.0

  def __call__(self):
    self.now += 0.5
    return self.now


def test_progress_hook_logs_every_n_steps_with_rate_and_eta():
  lines = []
  with tf.Graph().as_default():
    global_step = tf.compat.v1.train.get_or_create_global_step()
    loss = tf.constant(2.0) / tf.cast(global_step + 1, tf.float32)
    tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.LOSSES, loss)
    train_op = tf.compat.v1.assign_add(global_step, 1)
    hook = progress_util.ProgressHook(total_steps=10, every_n_steps=4,
                                      log_fn=lines.append, clock=_Clock())
    with tf.compat.v1.train.MonitoredSession(hooks=[hook]) as session:
      for _ in range(10):
        session.run(train_op)
  # Steps 4 and 8 by the interval, 10 because it is the last.
  assert [line.split('  ')[0] for line in lines] == ['step 4/10', 'step 8/10',
                                                     'step 10/10']
  # loss of step 4 is evaluated before its increment: 2 / (3 + 1).
  assert lines[0].split('  ')[1] == 'loss 0.5'
  # One clock reading of 0.5 s per step: 2 steps/s, 6 steps left = 3 s.
  assert lines[0].split('  ')[2:] == ['2 steps/s', 'ETA 3 s']
  assert lines[-1].endswith('ETA 0 s')


def test_progress_text_without_an_end():
  assert progress_util.progress_text(5, None, 0.25, 3.0, None) == (
      'step 5  loss 0.25  3 steps/s')
  assert progress_util.format_duration(59.6) == '1 min 00 s'
  assert progress_util.format_duration(3725) == '1 h 02 min'


def test_progress_line_rewrites_one_line_and_erases_it():
  stream = io.StringIO()
  times = iter([0.0, 0.1, 0.15, 0.6])
  with progress_util.ProgressLine(3, stream=stream, clock=lambda: next(times),
                                  force=True, min_interval=0.2) as progress:
    progress.update(1)  # written
    progress.update(2)  # 0.05 s later: skipped
    progress.update(3)  # the last one: always written
  text = stream.getvalue()
  assert '\n' not in text
  assert text.split('\r')[:2] == ['converted 1/3 videos, 0.1 s',
                                  'converted 3/3 videos, 0.6 s']
  assert text.endswith(' ' * len('converted 3/3 videos, 0.6 s') + '\r')


def test_progress_line_is_silent_off_a_terminal():
  stream = io.StringIO()  # isatty() is False
  with progress_util.ProgressLine(2, stream=stream) as progress:
    progress.update(1)
    progress.update(2)
  assert stream.getvalue() == ''
