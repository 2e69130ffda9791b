"""The README's measured blocks equal what results/ renders to (nothing typed)."""
import os
import subprocess
import sys

import pytest

from tal_detection.utils import readme_results

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_README = os.path.join(_REPO, 'README.md')
_RESULTS = os.path.join(_REPO, 'results')


def _readme():
  with open(_README, encoding='utf-8') as f:
    return f.read()


def test_readme_blocks_match_the_results_files():
  text = _readme()
  names = readme_results.block_names(text)
  # The demo's tables and both benchmarks are rendered, each once.
  for name in ('synthetic_demo', 'inference_benchmark', 'inference_scaling',
               'evaluator_benchmark'):
    assert names.count(name) == 1, name
  stale = readme_results.stale_blocks(text, _RESULTS)
  assert not stale, ('README blocks differ from results/: %s; run python '
                     'tools/render_readme.py' % stale)


def test_the_demo_block_holds_the_demo_tables():
  text = readme_results.render(_readme(), _RESULTS)
  block = text.split('<!-- results:synthetic_demo -->')[1].split(
      '<!-- /results:synthetic_demo -->')[0]
  assert 'Estimator evaluation at step' in block
  assert '| mAP (%) |' in block and '| AR (%) |' in block
  assert 'took' in block and ' s after the install' in block


def _write(path, text):
  with open(path, 'w', encoding='utf-8') as f:
    f.write(text)


def test_render_replaces_only_marked_blocks_and_reports_stale_ones(tmp_path):
  results = tmp_path / 'results'
  results.mkdir()
  _write(str(results / 'synthetic_demo.md'), 'new numbers\n')
  readme = ('intro 1.0\n<!-- results:synthetic_demo -->\nold numbers\n'
            '<!-- /results:synthetic_demo -->\noutro 2.0\n')
  assert readme_results.stale_blocks(readme, str(results)) == ['synthetic_demo']
  rendered = readme_results.render(readme, str(results))
  assert rendered == readme.replace('old numbers', 'new numbers')
  assert readme_results.stale_blocks(rendered, str(results)) == []
  with pytest.raises(ValueError, match='no renderer'):
    readme_results.render('<!-- results:typed -->\nx\n<!-- /results:typed -->',
                          str(results))
  with pytest.raises(ValueError, match='inference_benchmark'):
    readme_results.render('<!-- results:inference_benchmark -->\n'
                          '<!-- /results:inference_benchmark -->', str(results))


def test_markdown_tables_are_split_at_other_lines():
  text = 'title\n| a | b |\n|---|---|\n| 1 | 2 |\n\nnote\n| c |\n'
  assert readme_results.markdown_tables(text) == [
      ['| a | b |', '|---|---|', '| 1 | 2 |'], ['| c |']]


def test_render_readme_tool_checks_and_rewrites(tmp_path):
  results = tmp_path / 'results'
  results.mkdir()
  _write(str(results / 'synthetic_demo.md'), 'measured\n')
  readme = str(tmp_path / 'README.md')
  _write(readme, '<!-- results:synthetic_demo -->\ntyped\n'
                 '<!-- /results:synthetic_demo -->\n')
  tool = [sys.executable, os.path.join(_REPO, 'tools', 'render_readme.py'),
          '--readme=%s' % readme, '--results_dir=%s' % results]
  check = subprocess.run(tool + ['--check'], capture_output=True, text=True,
                         timeout=120)
  assert check.returncode == 1
  assert check.stderr.strip().startswith('render_readme: error:')
  assert 'synthetic_demo' in check.stderr
  assert subprocess.run(tool, capture_output=True, timeout=120).returncode == 0
  with open(readme, encoding='utf-8') as f:
    assert 'measured' in f.read()
  assert subprocess.run(tool + ['--check'], capture_output=True,
                        timeout=120).returncode == 0
