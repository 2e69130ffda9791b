r"""Reproduces the paper's ablations (Tables 1-4) on the synthetic dataset.

  python tools/run_ablations.py --output_dir=out/ablations            # full
  python tools/run_ablations.py --output_dir=out/ablations_quick --quick
  python tools/run_ablations.py --output_dir=out/ablations --stream=both \
      --num_train_steps=2000                       # results/ablation_results.md

The study (tal_detection/experiments/ablation_study.py): every row is
configs/thumos14_i3d_tal_net.config with a few fragments of
configs/ablations/ merged over it; rows that train the same model (equal
effective configs) share one run. The runner (ablation_runner.py) writes the
dataset, trains and evaluates each distinct model with model_lib's Estimator,
and writes <output_dir>/ablation_results.md and .json: Table 1 (SPN tower,
AR@AN 10/20/50/100/200 of the first-stage proposals, tIoU 0.5:0.05:1.0),
Table 2 (SPN context, AR@AN), Table 3 (SoI context, mAP at tIoU 0.1..0.7),
Table 4 (fusion, mAP), each row with its training steps and wall time, and an
"Orderings" section saying, per table, whether the paper's ordering holds.

Data: full = THUMOS-sized (200 train / 212 test videos with THUMOS'14
durations, two 1024-d streams at 0.625 features/s, 20 classes); --quick =
24 / 12 short videos, two 32-d streams, 4 classes, 32-channel layers and Adam
1e-3 -- a smoke run CI can afford (~2 minutes).

Streams (--stream): the paper reports Tables 1-3 once on RGB and once on flow.
The default is `rgb` (Table 4 always trains RGB, flow, early and late fusion):
9 distinct models instead of 14. `--stream=both` gives both halves.

Cost (2 cores, 2000 steps per model, measured): 5 s to write and convert the
data; per model 40-60 s (Single, Single+TConv) to 3-5 minutes (multi-tower,
late fusion) including a ~10-25 s evaluation; ~35 min for the default 9 models,
~45 min for --stream=both (14), more when other jobs share the cores.

Re-running with the same --output_dir reuses the dataset and every finished
model whose effective config is unchanged (an interrupted run resumes).
"""
import logging
import os
import warnings

# Quieter than tool_util's default: the console shows progress lines only.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# pylint: disable=g-import-not-at-top,wrong-import-position
from absl import flags

from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order
import tensorflow as tf

from tal_detection.experiments import ablation_runner
from tal_detection.experiments import ablation_study

_CONFIGS_DIR = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'configs')

FLAGS = flags.FLAGS
flags.DEFINE_string('output_dir', None, 'Where the dataset, the model dirs and '
                    'the results (ablation_results.md / .json) go.')
flags.DEFINE_boolean('quick', False, 'Small dataset, 32-channel models, few '
                     'steps: a smoke run for CI (~2 minutes).')
flags.DEFINE_integer('num_train_steps', None, 'Training steps of every model '
                     '(default: %d full, %d with --quick).' % (
                         ablation_runner.FULL_STEPS,
                         ablation_runner.QUICK_STEPS))
flags.DEFINE_list('tables', list(ablation_study.TABLES),
                  'Which tables to produce.')
flags.DEFINE_enum('stream', 'rgb', list(ablation_study.STREAM_CHOICES),
                  'Stream(s) of the single-stream Tables 1-3 (the paper shows '
                  'both halves).')
flags.DEFINE_string('config_override', None, 'Text-format pipeline fragment '
                    'merged over every row after the run\'s own overrides, '
                    'e.g. a different learning rate.')
flags.DEFINE_string('configs_dir', os.path.join(_CONFIGS_DIR, 'ablations'),
                    'Folder of the ablation fragments.')
flags.DEFINE_string('base_config_path',
                    os.path.join(_CONFIGS_DIR, ablation_study.BASE_CONFIG),
                    'The config the fragments are merged over.')
flags.DEFINE_integer('seed', 0, 'Seed of the synthetic dataset.')
flags.DEFINE_integer('num_train_videos', None, 'Override the dataset size.')
flags.DEFINE_integer('num_test_videos', None, 'Override the dataset size.')


def _quiet_tensorflow():
  """TensorFlow's log goes to each model's train.log, not the console.

  INFO and up (deprecation notices included) reach the per-model file
  handler; the console handlers (absl's on the root logger, TensorFlow's own)
  show errors only, beside this tool's progress lines.
  """
  tf.get_logger().setLevel(logging.INFO)
  for handler in logging.getLogger().handlers + tf.get_logger().handlers:
    handler.setLevel(logging.ERROR)
  warnings.filterwarnings('ignore', message='`layer.apply` is deprecated')


def main(unused_argv):
  if not FLAGS.output_dir:
    raise tool_util.UsageError('--output_dir is required')
  _quiet_tensorflow()
  results, markdown = ablation_runner.run(
      FLAGS.output_dir, FLAGS.configs_dir, FLAGS.base_config_path,
      quick=FLAGS.quick, num_train_steps=FLAGS.num_train_steps,
      tables=FLAGS.tables, stream=FLAGS.stream,
      config_override=FLAGS.config_override, seed=FLAGS.seed,
      num_train_videos=FLAGS.num_train_videos,
      num_test_videos=FLAGS.num_test_videos)
  print()
  print(markdown)
  print('Wrote %s and %s' % tuple(
      os.path.join(FLAGS.output_dir, name)
      for name in (ablation_runner.RESULTS_MARKDOWN,
                   ablation_runner.RESULTS_JSON)))
  failed = [k for k, r in results['models'].items() if r['status'] != 'ok']
  return 1 if failed else 0


if __name__ == '__main__':
  tool_util.run(main)
