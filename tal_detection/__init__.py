"""TAL-Net temporal action localization in the style of the TF Object Detection API.

TensorFlow is one of the package's extras (`pip install ".[cpu]"` or `".[gpu]"`),
so an install without either has no TensorFlow. That is checked here, once, by
looking the module up without importing it (TensorFlow's import takes seconds):
`import tal_detection` then fails with an ImportError whose message is one line
saying what to install, instead of a ModuleNotFoundError from whichever module
happened to import TensorFlow first.
"""
import importlib.util
import sys

TENSORFLOW_MISSING_MESSAGE = (
    'tal_detection: error: TensorFlow is not installed; pip install ".[cpu]" '
    '(CPU) or ".[gpu]" (CUDA GPUs)')


class TensorFlowMissingError(ImportError):
  """Neither TensorFlow extra is installed."""


def _tensorflow_installed():
  try:
    return importlib.util.find_spec('tensorflow') is not None
  except (ImportError, ValueError):
    # ImportError: an import hook refuses the name; ValueError: a module
    # object named tensorflow without a spec (a broken install).
    return False


def _one_line_excepthook(previous_hook):
  """sys.excepthook that prints TensorFlowMissingError as its message alone.

  The tools import the package before tool_util.run can catch anything, so an
  uncaught TensorFlowMissingError reaches the interpreter; the hook keeps that
  to the tools' one-line error format. Other exceptions go to previous_hook.
  """
  def hook(kind, value, traceback):
    if isinstance(value, TensorFlowMissingError):
      print(value, file=sys.stderr)
    else:
      previous_hook(kind, value, traceback)
  return hook


if not _tensorflow_installed():
  sys.excepthook = _one_line_excepthook(sys.excepthook)
  raise TensorFlowMissingError(TENSORFLOW_MISSING_MESSAGE)
