r"""Writes the training curves of one or more runs to results/<name>.json/.md.

  python tools/summarize_training_curve.py \
      --run=paper:out/curves/paper --run=regularised:out/curves/regularised \
      --output=results/training_curve_thumos14_hard

For each run (LABEL:MODEL_DIR) every <model_dir>/eval/metrics_<step>.json is
read: mAP@0.5, AR@100 and the eval losses per evaluated step, and the best
step by mAP@0.5. Writes <output>.json (the numbers) and <output>.md (tables,
what the README block shows); tal_detection/experiments/training_curve.py
makes both.
"""
from absl import flags

from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order

from tal_detection.experiments import training_curve
from tal_detection.utils import io_util

flags.DEFINE_multi_string('run', [], 'LABEL:MODEL_DIR of a run; repeat.')
flags.DEFINE_string('output', None, 'Output path without extension: writes '
                    '<output>.json and <output>.md.')
flags.DEFINE_float('tiou', 0.5, 'tIoU of the mAP followed (and ranking the '
                   'steps).')
flags.DEFINE_integer('an', 100, 'AN of the AR followed.')
FLAGS = flags.FLAGS


def main(unused_argv):
  if not FLAGS.run or not FLAGS.output:
    raise tool_util.UsageError('--run=LABEL:MODEL_DIR (one or more) and '
                               '--output are required')
  runs = [training_curve.parse_run(text) for text in FLAGS.run]
  summary = training_curve.summarize_runs(runs, FLAGS.tiou, FLAGS.an)
  markdown = training_curve.format_markdown(summary)
  io_util.write_json(FLAGS.output + '.json', summary, indent=1)
  io_util.write_text(FLAGS.output + '.md', markdown)
  print(markdown, end='')
  return 0


if __name__ == '__main__':
  tool_util.run(main)
