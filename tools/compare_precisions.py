r"""Accuracy of the bfloat16 export against the float32 export (issue 14).

  python tools/compare_precisions.py --work_dir=/tmp/precision_run
  python tools/compare_precisions.py --quick --work_dir=/tmp/precision_quick \
      --pipeline_config_path=configs/synthetic_tal_net.config --stream_dim=64 \
      --output_json=/tmp/p.json --output_md=/tmp/p.md   # smoke run

Makes the THUMOS-sized synthetic set (200 train / 213 test videos, 20 classes,
two 1024-d streams, signal strength 0.6), converts it at 16/16 frames, trains
--pipeline_config_path (the paper's config) for --num_steps steps, exports the
last checkpoint as float32 and as bfloat16, runs tools/infer.py and
tools/evaluate_detections.py --subset=test on both, and writes:
  * mAP at tIoU 0.1 ... 0.7 and their average for both exports, the gap
    (bf16 - fp32) and its largest absolute value;
  * the detection agreement: the fraction of the fp32 export's --top_k
    detections per video that the bf16 export repeats (same class, score
    within --score_tolerance, both ends within --boundary_tolerance_steps
    feature steps).
Each stage is an existing tool in a subprocess; its output is in
<work_dir>/logs/<stage>.log, named in the one-line error if it fails.
--output_md feeds the README block precision_comparison
(python tools/render_readme.py). Library: tal_detection/benchmarks/
precision_comparison.py.
"""
# tool_util first: it quiets TensorFlow's start-up banner before TF loads.
from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order

import os
import shlex
import shutil
import sys
import tempfile
import time

from absl import flags

from tal_detection.benchmarks import precision_comparison as pc
from tal_detection.utils import io_util

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_DEFAULTS = pc.Settings()

FLAGS = flags.FLAGS
flags.DEFINE_string('work_dir', None, 'Folder for the dataset, records, model, '
                    'exports, detections and logs (its subfolders of those '
                    'names are replaced; default: a temporary folder, removed '
                    'after a complete run).')
flags.DEFINE_integer('num_train', _DEFAULTS.num_train, 'Training videos.')
flags.DEFINE_integer('num_test', _DEFAULTS.num_test, 'Test videos.')
flags.DEFINE_integer('num_classes', _DEFAULTS.num_classes,
                     'Classes (overrides the config\'s num_classes).')
flags.DEFINE_integer('stream_dim', _DEFAULTS.stream_dim, 'Feature width of '
                     'each of the two streams; must match the config.')
flags.DEFINE_float('signal_strength', _DEFAULTS.signal_strength,
                   'Amplitude of the synthetic class evidence.')
flags.DEFINE_integer('seed', _DEFAULTS.seed, 'Seed of the synthetic set.')
flags.DEFINE_integer('num_steps', _DEFAULTS.num_steps, 'Training steps.')
flags.DEFINE_string('pipeline_config_path', _DEFAULTS.pipeline_config_path,
                    'Model config (default: the paper\'s main config).')
flags.DEFINE_integer('top_k', _DEFAULTS.top_k, 'fp32 detections per video '
                     'checked for a bf16 counterpart.')
flags.DEFINE_float('score_tolerance', _DEFAULTS.score_tolerance,
                   'Largest score difference of a matching detection.')
flags.DEFINE_float('boundary_tolerance_steps',
                   _DEFAULTS.boundary_tolerance_steps,
                   'Largest difference at each end of a matching detection, '
                   'in feature steps (1 step = 1.6 s in the synthetic set).')
flags.DEFINE_float('map_tolerance_points', _DEFAULTS.map_tolerance_points,
                   'The stated mAP tolerance (points) the gap is checked '
                   'against.')
flags.DEFINE_string('output_json', os.path.join(
    _REPO_ROOT, 'results', 'precision_comparison.json'), 'Results json.')
flags.DEFINE_string('output_md', os.path.join(
    _REPO_ROOT, 'results', 'precision_comparison.md'), 'Results markdown '
                    '(the README block).')
flags.DEFINE_boolean('quick', False, 'Smoke run: 8 train / 6 test videos, '
                     '2 classes, 30 training steps (unless those flags are '
                     'given).')
_QUICK = {'num_train': 8, 'num_test': 6, 'num_classes': 2, 'num_steps': 30}


def settings_from_flags():
  settings = pc.Settings(
      num_train=FLAGS.num_train, num_test=FLAGS.num_test,
      num_classes=FLAGS.num_classes, stream_dim=FLAGS.stream_dim,
      signal_strength=FLAGS.signal_strength, seed=FLAGS.seed,
      num_steps=FLAGS.num_steps,
      pipeline_config_path=os.path.abspath(FLAGS.pipeline_config_path),
      top_k=FLAGS.top_k, score_tolerance=FLAGS.score_tolerance,
      boundary_tolerance_steps=FLAGS.boundary_tolerance_steps,
      map_tolerance_points=FLAGS.map_tolerance_points)
  if FLAGS.quick:
    # Flags given explicitly win; every class must still occur in both
    # subsets (2 classes over 8 / 6 videos: they do at seed 0).
    for name, value in _QUICK.items():
      if not FLAGS[name].present:
        setattr(settings, name, value)
  settings.check()
  return settings


def _check_outputs():
  for flag in ('output_json', 'output_md'):
    if not getattr(FLAGS, flag):
      raise tool_util.UsageError('--%s: must not be empty' % flag)
  if os.path.abspath(FLAGS.output_json) == os.path.abspath(FLAGS.output_md):
    raise tool_util.UsageError('--output_json, --output_md: must differ')
  if FLAGS.work_dir and os.path.exists(FLAGS.work_dir) and not os.path.isdir(
      FLAGS.work_dir):
    raise tool_util.UsageError('--work_dir: %s is not a folder' %
                               FLAGS.work_dir)


def _command():
  """This run's command line, repository-relative (for the results)."""
  args = [shlex.quote(a) for a in sys.argv[1:]]
  return ' '.join(['python tools/compare_precisions.py'] + args)


def main(unused_argv):
  settings = settings_from_flags()
  _check_outputs()
  pc.check_config(settings)
  start = time.time()
  work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix='compare_precisions_')
  progress = lambda m: print(m, file=sys.stderr, flush=True)
  # A failing stage's error names its log, so the temporary folder is removed
  # only after a complete run.
  run_info = pc.run_pipeline(settings, work_dir, progress=progress)
  comparison = pc.compare_run(run_info, settings)
  wall = time.time() - start
  from tal_detection.utils import machine_info  # pylint: disable=g-import-not-at-top
  result = pc.results(settings, comparison, machine_info.describe_machine(),
                      _command(), wall, run_info['checkpoint'],
                      run_info['stage_seconds'])
  text = pc.format_markdown(result)
  if not FLAGS.work_dir:
    shutil.rmtree(work_dir, ignore_errors=True)
  print(text)
  io_util.write_json(FLAGS.output_json, result, sort_keys=True)
  io_util.write_text(FLAGS.output_md, text)
  print('Wrote %s and %s' % (FLAGS.output_json, FLAGS.output_md))


if __name__ == '__main__':
  tool_util.run(main)
