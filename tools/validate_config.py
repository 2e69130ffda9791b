#!/usr/bin/env python
r"""Checks pipeline config files: parse, known fields, consistent values.

Usage:
  tools/validate_config.py [--build] CONFIG [CONFIG ...]

With --build, each valid config's model graph is also built and, per anchor
scale, the SPN tower's pooling kernel, dilations, receptive field (measured from
the graph's gradients) and anchor span are printed, with the trainable parameter
count.

Prints `OK <path>` (stdout) for every valid file and one line
`validate_config: error: <path>: <field or line/col>: <why>` (stderr) for every
invalid one. Exit status: 0 if every file is valid, 1 if any is not, 2 for a
usage error.
"""
import sys

from absl import flags

from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order
from tal_detection.utils import config_util

flags.DEFINE_boolean('build', False, 'Also build each model graph and print '
                     'its measured receptive fields and parameter count.')
FLAGS = flags.FLAGS

USAGE = 'validate_config.py [--build] CONFIG [CONFIG ...]'


def check_config_file(path):
  """Parses and validates one pipeline config file.

  Args:
    path: path of a text-format TrainEvalPipelineConfig.

  Returns:
    The validated pipeline_pb2.TrainEvalPipelineConfig, for further steps on
    a valid config (e.g. building the model).

  Raises:
    config_util.ConfigError: one line naming the file and the problem.
  """
  return config_util.load_pipeline(path)


def build_report(pipeline_config):
  """Builds the config's model and returns its receptive-field table (text)."""
  # Imported here: plain validation stays fast without TensorFlow.
  # pylint: disable=g-import-not-at-top
  from tal_detection.builders import model_builder
  from tal_detection.utils import model_inspection
  # pylint: enable=g-import-not-at-top
  model = model_builder.build(pipeline_config.model, is_training=False)
  report = model_inspection.measure_receptive_fields(model)
  return model_inspection.format_receptive_field_table(report)


def process_file(path):
  """Checks one file (and with --build its model) and reports it.

  Returns True if it is valid. A user's error is one line (and the next file
  is checked); anything else is a bug and keeps its traceback.
  """
  try:
    pipeline_config = check_config_file(path)
    if FLAGS.build:
      print('%s\n%s' % (path, build_report(pipeline_config)), flush=True)
  except Exception as e:  # pylint: disable=broad-except
    if not tool_util.is_user_error(e):
      raise
    sys.stdout.flush()
    print(tool_util.error_line(e), file=sys.stderr, flush=True)
    return False
  print('OK %s' % path, flush=True)
  return True


def main(argv):
  paths = argv[1:]
  if not paths:
    tool_util.fail('no config given; usage: %s' % USAGE)
    return 2
  # Check every file (no early exit), so one run lists every problem.
  results = [process_file(path) for path in paths]
  return 0 if all(results) else 1


if __name__ == '__main__':
  tool_util.run(main, takes_arguments=True)
