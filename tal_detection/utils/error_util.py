"""Error text for people: the informative line of a TensorFlow error."""
import re


# Lines of a graph-mode TensorFlow error that say where, not what.
_TF_CONTEXT_LINE = re.compile(
    r'^(Graph execution error:|Detected at node|Node:|File "|\[\[|'
    r'\{\{function_node)')


def op_error_summary(error):
  """The line of a TensorFlow error that says what went wrong.

  Graph-mode errors start with "Graph execution error:" and a stack of where
  the op was defined; the cause (e.g. "corrupted record at 0") comes last.
  """
  text = getattr(error, 'message', None) or str(error)
  lines = [line.strip() for line in str(text).splitlines()]
  lines = [line for line in lines
           if line and not _TF_CONTEXT_LINE.match(line)]
  return lines[-1] if lines else type(error).__name__
