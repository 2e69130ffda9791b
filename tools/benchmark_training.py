r"""Speed of one training step: steps/s, FLOPs, FLOP bound, vs an older commit.

  git worktree add /tmp/tal_baseline 7835dee
  (cd /tmp/tal_baseline && python setup.py build_protos)
  python tools/benchmark_training.py --baseline_worktree=/tmp/tal_baseline
  python tools/benchmark_training.py --quick   # smoke run, no baseline

Trains the config's model (model_lib's model_fn, TRAIN mode) on one in-memory
video of --num_steps steps of the config's streams (two 1024-d for the main
config) with --num_groundtruth segments, in a worker process per checkout, and
reports steps/s, training FLOPs per step (tfprof, forward + backward), the
fraction of the FLOP bound (the same run's 1024^2 matmul GFLOP/s) and, with
--baseline_worktree, the baseline's steps/s timed in alternating blocks, the
speed-up and the largest difference between the two sides' losses over the
first --loss_steps steps (same seed, data and initial weights). Writes
--output_json and --output_md (tal_detection/benchmarks/training.py).
"""
# tool_util first: it quiets TensorFlow's start-up banner before TF loads.
from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order

import os
import sys
import warnings

from absl import flags
from absl import logging as absl_logging
import tensorflow as tf

from tal_detection.benchmarks import training
from tal_detection.utils import config_util
from tal_detection.utils import io_util

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLAGS = flags.FLAGS
flags.DEFINE_string('pipeline_config_path',
                    os.path.join(_REPO_ROOT, 'configs',
                                 'thumos14_i3d_tal_net.config'),
                    'Model to train (default: the paper\'s main config).')
flags.DEFINE_string('baseline_worktree', None, 'A checkout of an older commit '
                    '(git worktree, protos compiled) to time and compare '
                    'losses with in the same run.')
flags.DEFINE_integer('num_steps', 188, 'Feature steps of the training video '
                     '(3000 frames at 0.625 features/s).')
flags.DEFINE_integer('num_groundtruth', 15, 'Ground-truth segments.')
flags.DEFINE_integer('seed', 0, 'Seed of the video, weights and sampling.')
flags.DEFINE_integer('loss_steps', 5, 'First steps whose losses are compared '
                     '(untimed; they are the warm-up too).')
flags.DEFINE_integer('rounds', 6, 'Alternating timing rounds.')
flags.DEFINE_integer('steps_per_round', 10, 'Timed steps per side per round.')
flags.DEFINE_integer('trace_steps', 3, 'Traced steps per side for the time '
                     'by op type (0: none).')
flags.DEFINE_string('output_json', os.path.join(
    _REPO_ROOT, 'results', 'training_benchmark.json'), 'Results json.')
flags.DEFINE_string('output_md', os.path.join(
    _REPO_ROOT, 'results', 'training_benchmark.md'), 'Results table.')
flags.DEFINE_string('work_dir', None, 'Keep the video, initial weights and '
                    'worker logs here (default: a temporary folder).')
flags.DEFINE_boolean('quick', False, 'Smoke run: 2 rounds of 2 steps, 2 '
                     'loss steps, 1 traced step.')


def settings_from_flags():
  settings = training.Settings(
      num_steps=FLAGS.num_steps, num_groundtruth=FLAGS.num_groundtruth,
      seed=FLAGS.seed, loss_steps=FLAGS.loss_steps, rounds=FLAGS.rounds,
      steps_per_round=FLAGS.steps_per_round, trace_steps=FLAGS.trace_steps)
  if FLAGS.quick:
    settings.rounds = settings.steps_per_round = settings.loss_steps = 2
    settings.trace_steps = min(settings.trace_steps, 1)
    settings.matmul_repeats = 3
  settings.check()
  return settings


def main(unused_argv):
  tf.get_logger().setLevel('ERROR')
  absl_logging.set_verbosity(absl_logging.ERROR)
  warnings.filterwarnings('ignore', message='`layer.apply` is deprecated')
  settings = settings_from_flags()
  config_util.load_pipeline(FLAGS.pipeline_config_path)
  if FLAGS.baseline_worktree:
    try:
      training.checkout_root(FLAGS.baseline_worktree)
    except ValueError as e:
      raise tool_util.UsageError('--baseline_worktree: %s' % e) from None
  results = training.run(
      FLAGS.pipeline_config_path, settings, FLAGS.baseline_worktree,
      FLAGS.work_dir,
      progress=lambda m: print(m, file=sys.stderr, flush=True))
  text = training.format_markdown(results)
  print(text)
  io_util.write_json(FLAGS.output_json, results, sort_keys=True)
  io_util.write_text(FLAGS.output_md, text)
  print('Wrote %s and %s' % (FLAGS.output_json, FLAGS.output_md))


if __name__ == '__main__':
  tool_util.run(main)
