"""TensorFlow as an install extra: setup.py's `cpu` / `gpu` extras and the one
line a user gets from the package and from a tool when neither is installed."""
import os
import re
import subprocess
import sys
import tempfile

import model_lib_test_util as util

EXPECTED_MESSAGE = ('tal_detection: error: TensorFlow is not installed; pip '
                    'install ".[cpu]" (CPU) or ".[gpu]" (CUDA GPUs)')

# Installed as sitecustomize in a child process: an import hook, first on
# sys.meta_path, for which `tensorflow` (and anything under it) does not exist,
# as in an environment where neither extra was installed.
_HIDE_TENSORFLOW = '''
import sys


class HideTensorFlow(object):

  def find_spec(self, name, path=None, target=None):
    if name == 'tensorflow' or name.startswith('tensorflow.'):
      raise ModuleNotFoundError('No module named %r' % name, name=name)
    return None


sys.meta_path.insert(0, HideTensorFlow())
'''


def _run_without_tensorflow(tmp_path, command):
  site_dir = tmp_path / 'site'
  site_dir.mkdir()
  (site_dir / 'sitecustomize.py').write_text(_HIDE_TENSORFLOW)
  env = util.tool_env()
  env['PYTHONPATH'] = os.pathsep.join(
      [str(site_dir), util.REPO_ROOT] +
      ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
  return subprocess.run(command, cwd=util.REPO_ROOT, env=env,
                        capture_output=True, text=True,
                        timeout=util.TOOL_TIMEOUT_SECS)


def test_import_without_tensorflow_raises_one_line_import_error(tmp_path):
  result = _run_without_tensorflow(tmp_path, [sys.executable, '-c', (
      'try:\n'
      '  import tal_detection\n'
      'except ImportError as e:\n'
      '  print(type(e).__mro__[1].__name__, str(e), sep="|")\n'
      'else:\n'
      '  print("imported")\n')])
  assert result.returncode == 0, util.describe(result)
  assert result.stdout.splitlines() == ['ImportError|' + EXPECTED_MESSAGE]


def test_uncaught_import_error_prints_only_the_line(tmp_path):
  result = _run_without_tensorflow(
      tmp_path, [sys.executable, '-c', 'import tal_detection'])
  assert result.returncode == 1
  assert result.stderr.splitlines() == [EXPECTED_MESSAGE]


def test_tool_without_tensorflow_prints_only_the_line(tmp_path):
  result = _run_without_tensorflow(tmp_path, [
      sys.executable, os.path.join(util.REPO_ROOT, 'tools', 'model_main.py'),
      '--pipeline_config_path=%s' % util.PIPELINE_CONFIG,
      '--model_dir=%s' % (tmp_path / 'model')])
  assert result.returncode == 1
  assert result.stderr.splitlines() == [EXPECTED_MESSAGE]
  assert result.stdout == ''
  assert not (tmp_path / 'model').exists()


def _requirement(line):
  """('tensorflow-cpu', '', '>=2.15.1,<2.16') from 'tensorflow-cpu<2.16,>=2.15.1'."""
  match = re.match(r'^([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)$', line.strip())
  name, extras, specifier = match.groups()
  # Order-free: setuptools may write the clauses in either order.
  clauses = sorted(c.strip() for c in specifier.split(',') if c.strip())
  return name.lower(), extras or '', tuple(clauses)


def _egg_info_requirements():
  """{section: [requirement lines]} of requires.txt as setup.py writes it now."""
  with tempfile.TemporaryDirectory() as egg_base:
    result = subprocess.run(
        [sys.executable, 'setup.py', '-q', 'egg_info', '--egg-base', egg_base],
        cwd=util.REPO_ROOT, capture_output=True, text=True,
        timeout=util.TOOL_TIMEOUT_SECS)
    assert result.returncode == 0, util.describe(result)
    path = os.path.join(egg_base, 'tal_detection.egg-info', 'requires.txt')
    with open(path) as f:
      text = f.read()
  sections, current = {'': []}, ''
  for line in text.splitlines():
    line = line.strip()
    if not line:
      continue
    if line.startswith('['):
      current = line[1:-1]
      sections[current] = []
    else:
      sections[current].append(line)
  return sections


def test_setup_py_tensorflow_extras_share_one_version_line():
  sections = _egg_info_requirements()
  # Neither TensorFlow distribution is a plain requirement (they would clash).
  plain = [_requirement(line)[0] for line in sections['']]
  assert not [name for name in plain if name.startswith('tensorflow-cpu') or
              name == 'tensorflow'], sections['']
  assert 'tf-slim' in plain
  assert [_requirement(line)[:2] for line in sections['cpu']] == [
      ('tensorflow-cpu', '')]
  assert [_requirement(line)[:2] for line in sections['gpu']] == [
      ('tensorflow', '[and-cuda]')]
  cpu_version = _requirement(sections['cpu'][0])[2]
  gpu_version = _requirement(sections['gpu'][0])[2]
  assert cpu_version == gpu_version == ('<2.16', '>=2.15.1')
  assert [_requirement(line)[0] for line in sections['test']] == ['pytest']


def test_installed_tensorflow_is_on_the_extras_version_line():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  major, minor = (int(part) for part in tf.__version__.split('.')[:2])
  assert (major, minor) == (2, 15), tf.__version__
