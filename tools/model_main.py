r"""Trains and evaluates a TAL-Net model with tf.estimator (OD API flags).

Train and evaluate:
  python tools/model_main.py --pipeline_config_path=configs/X.config \
      --model_dir=out/model [--num_train_steps=N] [--config_override='...']
An ablation of the paper (configs/ablations/, fragments over the main config):
  python tools/model_main.py --pipeline_config_path=configs/thumos14_i3d_tal_net.config \
      --config_override_file=configs/ablations/rgb_only.config \
      --config_override_file=configs/ablations/spn_single.config --model_dir=...
Evaluate only (continuously, or once with --run_once):
  python tools/model_main.py --pipeline_config_path=... --model_dir=out/model \
      --checkpoint_dir=out/model [--run_once]

Data-parallel training on N GPUs of this machine (MirroredStrategy; the global
batch train_config.batch_size split across them):
  python tools/model_main.py --pipeline_config_path=... --model_dir=... --num_gpus=N
Distributed training: set TF_CONFIG (chief / worker / ps) as for any Estimator;
TensorFlow's own runtime runs the cluster (distribution_util says which
strategy each kind of cluster gets).
"""
from absl import flags
from absl import logging

from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order
import tensorflow as tf

from tal_detection import best_checkpoint
from tal_detection import model_lib
from tal_detection.utils import progress_util

flags.DEFINE_string('pipeline_config_path', None, 'Path to a pipeline .config.')
flags.DEFINE_string('model_dir', None, 'Where checkpoints, summaries, the '
                    'effective pipeline.config and eval metrics are written.')
flags.DEFINE_integer('num_train_steps', None, 'Training steps (default: '
                     'train_config.num_steps; 0/absent trains forever).')
flags.DEFINE_string('checkpoint_dir', None, 'Evaluate only, the checkpoints '
                    'found here.')
flags.DEFINE_boolean('run_once', False, 'With --checkpoint_dir: evaluate the '
                     'latest checkpoint once and exit.')
flags.DEFINE_integer('eval_timeout', 3600, 'With --checkpoint_dir: seconds to '
                     'wait for a new checkpoint before stopping.')
flags.DEFINE_string('config_override', None, 'Text-format fragment of '
                    'TrainEvalPipelineConfig merged over the file.')
flags.DEFINE_multi_string('config_override_file', [], 'Text-format fragment '
                          'file merged over the config before '
                          '--config_override; repeat for several, merged in '
                          'the order given.')
flags.DEFINE_string('train_input_path', None, 'Overrides the train records.')
flags.DEFINE_string('eval_input_path', None, 'Overrides the eval records.')
flags.DEFINE_string('label_map_path', None, 'Overrides both label maps.')
flags.DEFINE_integer('num_gpus', None, 'Data-parallel replicas (GPUs, or '
                     'logical CPU devices on a machine without GPUs); '
                     'overrides train_config.num_replicas.')
flags.DEFINE_boolean('verbose', False, "Also show TensorFlow's own INFO log "
                     '(Estimator loss lines, metrics dump, checkpoint '
                     'notices).')
FLAGS = flags.FLAGS


def _evaluate_checkpoints(estimator, eval_input_fn, eval_config, checkpoint_dir,
                          model_dir, run_once, timeout):
  """Evaluates the latest checkpoint once, or each new one as it appears.

  After each evaluation: the metrics json, and the checkpoint copied to
  <model_dir>/best/ if it is the best yet by eval_config.best_checkpoint_metric.
  """
  if run_once:
    checkpoints = [model_lib.latest_checkpoint(checkpoint_dir)]
  else:
    checkpoints = tf.compat.v1.train.checkpoints_iterator(checkpoint_dir,
                                                          timeout=timeout)
  for checkpoint in checkpoints:
    # No name: summaries go to <model_dir>/eval, beside the metrics json.
    results = estimator.evaluate(eval_input_fn, steps=None,
                                 checkpoint_path=checkpoint)
    path = model_lib.write_metrics_json(
        results, model_dir, results[tf.compat.v1.GraphKeys.GLOBAL_STEP])
    logging.info('Eval metrics written to %s', path)
    best_checkpoint.keep_if_best(
        model_dir, eval_config.best_checkpoint_metric,
        eval_config.best_checkpoint_higher_is_better, results, checkpoint)


def main(unused_argv):
  progress_util.configure_logging(FLAGS.verbose)
  if not FLAGS.pipeline_config_path or not FLAGS.model_dir:
    raise tool_util.UsageError('--pipeline_config_path and --model_dir are '
                               'required')
  if FLAGS.num_gpus is not None and FLAGS.num_gpus < 1:
    raise tool_util.UsageError('--num_gpus: %d: must be at least 1' %
                               FLAGS.num_gpus)
  if FLAGS.checkpoint_dir and FLAGS.run_once:
    model_lib.latest_checkpoint(FLAGS.checkpoint_dir)  # before writing
  parts = model_lib.create_estimator_and_inputs(
      FLAGS.model_dir, FLAGS.pipeline_config_path,
      config_override=FLAGS.config_override,
      config_override_files=FLAGS.config_override_file,
      train_steps=FLAGS.num_train_steps,
      train_input_path=FLAGS.train_input_path,
      eval_input_path=FLAGS.eval_input_path,
      label_map_path=FLAGS.label_map_path,
      eval_only=bool(FLAGS.checkpoint_dir),
      num_gpus=FLAGS.num_gpus)
  estimator = parts['estimator']
  if FLAGS.checkpoint_dir:
    _evaluate_checkpoints(estimator, parts['eval_input_fn'],
                          parts['configs']['eval_config'],
                          FLAGS.checkpoint_dir, FLAGS.model_dir,
                          FLAGS.run_once, FLAGS.eval_timeout)
  else:
    train_spec, eval_spec = model_lib.create_train_and_eval_specs(
        parts['train_input_fn'], parts['eval_input_fn'],
        parts['train_steps'], parts['configs']['eval_config'],
        FLAGS.model_dir)
    tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)


if __name__ == '__main__':
  tool_util.run(main)
