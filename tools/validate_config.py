#!/usr/bin/env python
r"""Checks pipeline config files: parse, known fields, consistent values.

Usage:
  tools/validate_config.py [--build] CONFIG [CONFIG ...]

With --build, each valid config's model graph is also built and, per anchor
scale, the SPN tower's pooling kernel, dilations, receptive field (measured from
the graph's gradients) and anchor span are printed, with the trainable parameter
count.

Prints `OK <path>` (stdout) for every valid file and one line
`<path>: <field or line/col>: <why>` (stderr) for every invalid one. Exit status:
0 if every file is valid, 1 if any is not, 2 for a usage error.
"""
import sys

from absl import app
from absl import flags

from tal_detection.utils import config_util

flags.DEFINE_boolean('build', False, 'Also build each model graph and print '
                     'its measured receptive fields and parameter count.')
FLAGS = flags.FLAGS

USAGE = 'usage: validate_config.py [--build] CONFIG [CONFIG ...]'


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
  pipeline_config = config_util.read_pipeline_config(path)
  config_util.validate_pipeline_config(pipeline_config, path)
  return pipeline_config


def process_file(path):
  """Checks one file and reports it. Returns True if it is valid.

  Further per-file steps on a valid config (a later `--build` that builds the
  model graph and prints its receptive fields) belong after check_config_file,
  each reporting its own failure as one line.
  """
  try:
    pipeline_config = check_config_file(path)
    if FLAGS.build:
      # Imported here: plain validation stays fast without TensorFlow.
      from tal_detection.utils import model_inspection  # pylint: disable=g-import-not-at-top
      report = model_inspection.measure_receptive_fields(pipeline_config.model)
      print('%s\n%s' % (path, model_inspection.format_receptive_field_table(
          report)), flush=True)
  except config_util.ConfigError as e:
    _report_error(str(e))
    return False
  except Exception as e:  # pylint: disable=broad-except
    # A bug, not a bad config; still one line, never a traceback.
    _report_error('%s: internal error: %s: %s' %
                  (path, type(e).__name__, ' '.join(str(e).split())))
    return False
  print('OK %s' % path, flush=True)
  return True


def _report_error(line):
  sys.stdout.flush()
  print(line, file=sys.stderr, flush=True)


def main(argv):
  paths = argv[1:]
  if not paths:
    print(USAGE, file=sys.stderr)
    return 2
  # Check every file (no early exit), so one run lists every problem.
  results = [process_file(path) for path in paths]
  return 0 if all(results) else 1


if __name__ == '__main__':
  app.run(main)
