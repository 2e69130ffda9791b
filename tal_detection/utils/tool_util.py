"""What every command-line tool shares: quiet start-up and one-line errors.

A tool is flags + `main(argv)` over library functions, started with

  if __name__ == '__main__':
    tool_util.run(main)

Anything a user can cause (a bad flag value, a missing or malformed file, a
config that does not validate, records that do not match the config) reaches
the user as ONE line on stderr and exit status 1:

  <tool>: error: <file / field / video>: <what is wrong>

The library raises ValueError (config_util.ConfigError is one), OSError, or a
TensorFlow error about data (corrupt records, failed run-time checks on the
input); those are the user errors. Anything else (TypeError, KeyError, ...) is
a bug in this project and keeps its traceback.
"""
import os
import re
import sys

# TensorFlow's C++ start-up banner would precede every message (and --help);
# a user may still ask for it with TF_CPP_MIN_LOG_LEVEL=0.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')

# pylint: disable=wrong-import-position
from absl import app
from absl import flags

from tal_detection.utils import error_util

# TensorFlow errors caused by the data or files a user gave (by class name, so
# this module need not import TensorFlow before the tool does).
_USER_TF_ERRORS = ('DataLossError', 'NotFoundError', 'InvalidArgumentError',
                   'PermissionDeniedError', 'FailedPreconditionError',
                   'OutOfRangeError', 'AlreadyExistsError')


class UsageError(ValueError):
  """A missing or contradictory flag (reported like any user error)."""


def tool_name(argv0=None):
  """`infer` for tools/infer.py: the name every error line starts with."""
  return os.path.splitext(os.path.basename(argv0 or sys.argv[0]))[0]


def is_user_error(error):
  """True for errors a user's input can cause (see the module docstring)."""
  if isinstance(error, (ValueError, OSError)):
    return True
  tf = sys.modules.get('tensorflow')
  return (tf is not None and isinstance(error, tf.errors.OpError) and
          type(error).__name__ in _USER_TF_ERRORS)


def error_message(error):
  """The one-line text of an error (TensorFlow's own message, first line)."""
  tf = sys.modules.get('tensorflow')
  if tf is not None and isinstance(error, tf.errors.OpError):
    return error_util.op_error_summary(error)
  text = getattr(error, 'message', None) or str(error)
  if isinstance(error, OSError) and error.filename and error.strerror:
    text = '%s: %s' % (error.filename, error.strerror)
  # tf.data puts "{{function_node ...}}" before the message of an op it ran.
  text = re.sub(r'\{\{function_node [^}]*\}\}\s*', '', str(text))
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  return lines[0] if lines else type(error).__name__


def error_line(error, name=None):
  return '%s: error: %s' % (name or tool_name(), error_message(error))


def fail(message, name=None):
  """Prints `<tool>: error: <message>` and returns the exit status 1."""
  print('%s: error: %s' % (name or tool_name(), ' '.join(str(message).split())),
        file=sys.stderr)
  return 1


def _main_with_errors(main, takes_arguments):
  def wrapped(argv):
    if len(argv) > 1 and not takes_arguments:
      sys.exit(fail('unexpected arguments: %s' % ' '.join(argv[1:])))
    try:
      status = main(argv)
    except Exception as e:  # pylint: disable=broad-except
      if not is_user_error(e):
        raise
      print(error_line(e), file=sys.stderr)
      status = 1
    sys.exit(status or 0)
  return wrapped


def _parse_flags(argv):
  """absl's flag parsing, but a bad flag is one line, not two plus usage."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(fail(e))


def run(main, takes_arguments=False):
  """absl's app.run(main) with the project's error handling.

  main(argv) returns an exit status (None = 0) and raises user errors freely;
  bad flag values, and positional arguments unless takes_arguments, are
  refused with one line.
  """
  app.run(_main_with_errors(main, takes_arguments), flags_parser=_parse_flags)
