r"""Renders the measured blocks of README.md from the files in results/.

  python tools/render_readme.py            # rewrite README.md's marked blocks
  python tools/render_readme.py --check    # exit 1 naming the stale blocks

The demo calls it to record its own measurement first:
  python tools/render_readme.py --write_demo_results=results/synthetic_demo.md \
      --demo_summary=out/synthetic/summary.md --demo_wall_time=95 --demo_steps=1000

Blocks sit between `<!-- results:NAME -->` and `<!-- /results:NAME -->`;
tal_detection/utils/readme_results.py says which results file feeds each.
"""
import os

from absl import flags

from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order
from tal_detection.utils import io_util
from tal_detection.utils import readme_results

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

flags.DEFINE_string('readme', os.path.join(_REPO, 'README.md'), 'README to render.')
flags.DEFINE_string('results_dir', os.path.join(_REPO, 'results'),
                    'Folder of results files.')
flags.DEFINE_boolean('check', False, 'Only report stale blocks (exit 1 if any).')
flags.DEFINE_string('write_demo_results', None, 'Write the demo\'s results '
                    'file here (from --demo_summary) instead of rendering.')
flags.DEFINE_string('demo_summary', None, 'tools/summarize_results.py output '
                    'of the demo.')
flags.DEFINE_integer('demo_wall_time', None, 'The demo\'s wall time, seconds.')
flags.DEFINE_integer('demo_steps', None, 'The demo\'s training steps.')
FLAGS = flags.FLAGS


def _write_demo_results():
  if not FLAGS.demo_summary or FLAGS.demo_wall_time is None or not FLAGS.demo_steps:
    raise tool_util.UsageError('--write_demo_results needs --demo_summary, '
                               '--demo_wall_time and --demo_steps')
  from tal_detection.utils import machine_info  # pylint: disable=g-import-not-at-top
  with open(FLAGS.demo_summary, 'r', encoding='utf-8') as f:
    summary = f.read()
  io_util.write_text(FLAGS.write_demo_results,
                     readme_results.demo_results_markdown(
                         summary, FLAGS.demo_wall_time, FLAGS.demo_steps,
                         machine_info.describe_machine()))


def main(unused_argv):
  if FLAGS.write_demo_results:
    _write_demo_results()
    return 0
  with open(FLAGS.readme, 'r', encoding='utf-8') as f:
    text = f.read()
  if FLAGS.check:
    stale = readme_results.stale_blocks(text, FLAGS.results_dir)
    if stale:
      return tool_util.fail('%s: blocks differ from %s: %s (run '
                            'tools/render_readme.py)' % (
                                FLAGS.readme, FLAGS.results_dir,
                                ', '.join(stale)))
    print('%s: %d measured blocks match %s' % (
        FLAGS.readme, len(readme_results.block_names(text)), FLAGS.results_dir))
    return 0
  rendered = readme_results.render(text, FLAGS.results_dir)
  if rendered != text:
    io_util.write_text(FLAGS.readme, rendered)
  print('%s: rendered %d blocks' % (FLAGS.readme,
                                    len(readme_results.block_names(text))))
  return 0


if __name__ == '__main__':
  tool_util.run(main)
