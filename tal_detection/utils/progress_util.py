"""What a person watching a long command sees: training lines and a progress line.

Training (`ProgressHook`): one line per `log_every_n_steps` through absl logging,

  step 300/1000  loss 0.412  9.7 steps/s  ETA 72 s

while `configure_logging` keeps TensorFlow's own INFO chatter (the Estimator's
"loss = ..." lines, its metrics dump, checkpoint notices) out of the way unless
the user asks for it with --verbose.

Conversions (`ProgressLine`): one line on a terminal that is rewritten in place
("converted 12/40 videos, 3.1 s") and then erased, so only the tool's summary
stays; nothing at all when stderr is a file or a pipe, where a rewritten line
would only add noise to a log.
"""
import logging as std_logging
import sys
import time

from absl import logging
import tensorflow as tf


def configure_logging(verbose=False):
  """absl logging at INFO for the project; TensorFlow at WARNING unless verbose.

  Call it in main(), after the flags are parsed (absl resets its verbosity
  from the --verbosity flag while parsing).
  """
  logging.set_verbosity(logging.INFO)
  level = std_logging.INFO if verbose else std_logging.WARNING
  tf.get_logger().setLevel(level)
  tf.compat.v1.logging.set_verbosity(level)


def format_duration(seconds):
  """'42 s', '3 min 05 s', '1 h 02 min': short enough for a progress line."""
  seconds = max(0, int(round(seconds)))
  if seconds < 60:
    return '%d s' % seconds
  if seconds < 3600:
    return '%d min %02d s' % (seconds // 60, seconds % 60)
  return '%d h %02d min' % (seconds // 3600, (seconds % 3600) // 60)


def progress_text(step, total_steps, loss, steps_per_sec, eta_seconds):
  """The training line; total_steps or eta None when training has no end."""
  parts = ['step %d/%d' % (step, total_steps) if total_steps else
           'step %d' % step,
           'loss %.4g' % loss,
           '%.3g steps/s' % steps_per_sec if steps_per_sec else '- steps/s']
  if eta_seconds is not None:
    parts.append('ETA %s' % format_duration(eta_seconds))
  return '  '.join(parts)


class ProgressHook(tf.compat.v1.train.SessionRunHook):
  """A tf.estimator SessionRunHook logging step, loss, steps/s and ETA.

  Give it to the TrainSpec (or Estimator.train) hooks. It reads the training
  loss from the graph's LOSSES collection, where the Estimator puts the
  EstimatorSpec's loss before any hook begins, so the model_fn need not hand
  it over; a loss tensor may also be given explicitly.

  steps/s is measured over the last interval (evaluations run in between by
  train_and_evaluate count as time spent); the ETA uses the rate since the hook
  started, which is steadier.
  """

  def __init__(self, total_steps=None, every_n_steps=100, loss=None,
               log_fn=None, clock=time.time):
    self._total_steps = int(total_steps) if total_steps else None
    self._every_n_steps = max(1, int(every_n_steps))
    self._loss = loss
    self._log_fn = log_fn or (lambda text: logging.info('%s', text))
    self._clock = clock

  def begin(self):
    self._global_step = tf.compat.v1.train.get_global_step()
    if self._global_step is None:
      raise RuntimeError('ProgressHook needs a global step in the graph')
    if self._loss is None:
      losses = tf.compat.v1.get_collection(tf.compat.v1.GraphKeys.LOSSES)
      if not losses:
        raise RuntimeError('ProgressHook: no loss given and none in the '
                           'LOSSES collection')
      self._loss = losses[-1]
    self._first = None  # (step, time) of the first step seen
    self._last = None  # (step, time) of the last logged step

  def before_run(self, run_context):
    del run_context
    return tf.compat.v1.train.SessionRunArgs(
        {'step': self._global_step, 'loss': self._loss})

  def after_run(self, run_context, run_values):
    del run_context
    step = int(run_values.results['step']) + 1  # the step just completed
    now = self._clock()
    if self._first is None:
      # Rates start after the first step: it includes graph start-up.
      self._first = self._last = (step, now)
      return
    if step % self._every_n_steps and step != self._total_steps:
      return
    last_step, last_time = self._last
    rate = (step - last_step) / max(now - last_time, 1e-9)
    first_step, first_time = self._first
    average = (step - first_step) / max(now - first_time, 1e-9)
    eta = None
    if self._total_steps and average > 0:
      eta = max(0, self._total_steps - step) / average
    self._last = (step, now)
    self._log_fn(progress_text(step, self._total_steps,
                               float(run_values.results['loss']), rate, eta))


class ProgressLine(object):
  """One terminal line rewritten in place: 'converted 12/40 videos, 3.1 s'.

  Writes only when the stream is a terminal, at most every min_interval
  seconds (and always for the last item), and erases itself on close so the
  caller's summary line takes its place.
  """

  def __init__(self, total, what='videos', verb='converted', stream=None,
               min_interval=0.2, clock=time.time, force=False):
    self._total = total
    self._what = what
    self._verb = verb
    self._stream = stream if stream is not None else sys.stderr
    self._enabled = force or bool(getattr(self._stream, 'isatty',
                                          lambda: False)())
    self._min_interval = min_interval
    self._clock = clock
    self._start = clock()
    self._last_write = None
    self._width = 0

  def text(self, done, now):
    return '%s %d/%d %s, %.1f s' % (self._verb, done, self._total, self._what,
                                    now - self._start)

  def update(self, done):
    if not self._enabled:
      return
    now = self._clock()
    if (self._last_write is not None and done < self._total and
        now - self._last_write < self._min_interval):
      return
    self._last_write = now
    text = self.text(done, now)
    # The cursor goes back to column 0 after the text, so a warning logged
    # meanwhile starts on this line and covers it instead of trailing it;
    # padding covers a longer previous text.
    self._stream.write(text.ljust(self._width) + '\r')
    self._stream.flush()
    self._width = len(text)

  def close(self):
    if self._enabled and self._width:
      self._stream.write(' ' * self._width + '\r')
      self._stream.flush()
      self._width = 0

  def __enter__(self):
    return self

  def __exit__(self, *unused_exc_info):
    self.close()
