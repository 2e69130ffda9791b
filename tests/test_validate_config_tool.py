"""Runs tools/validate_config.py as users do: a subprocess on config files."""
import glob
import os
import subprocess
import sys

import pytest

from tal_detection.utils import config_util

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO, 'tools', 'validate_config.py')
MAIN_CONFIG = os.path.join(REPO, 'configs', 'thumos14_i3d_tal_net.config')
ERROR = 'validate_config: error: '
# Complete configs (configs/ablations/ holds fragments over the main one).
SHIPPED_CONFIGS = sorted(
    os.path.relpath(p, REPO)
    for p in glob.glob(os.path.join(REPO, 'configs', '*.config')))


def _run(*paths):
  return subprocess.run([sys.executable, TOOL] + list(paths), cwd=REPO,
                        capture_output=True, text=True, timeout=120)


def _main_text():
  with open(MAIN_CONFIG) as f:
    return f.read()


def _write(tmp_path, name, text):
  path = str(tmp_path / name)
  with open(path, 'w') as f:
    f.write(text)
  return path


def test_every_shipped_config_is_ok():
  assert len(SHIPPED_CONFIGS) >= 2
  result = _run(*SHIPPED_CONFIGS)
  assert result.returncode == 0, result.stderr
  assert result.stdout.splitlines() == ['OK %s' % p for p in SHIPPED_CONFIGS]
  assert result.stderr == ''


def _bad_configs(tmp_path):
  """(path, expected start of its error line after '<path>: ')."""
  text = _main_text()
  cases = {
      'unknown_field.config': (
          text.replace('    num_classes: 20', '    num_clases: 20'),
          'line %d col 5: Message type "tal_detection.protos.TalNet" has no '
          'field named "num_clases".' %
          (text.splitlines().index('    num_classes: 20') + 1)),
      'syntax_error.config': (
          text.replace('  tal_net {', '  tal_net {{', 1),
          "line %d col 12: 'tal_net {{': Expected identifier or number, "
          'got {.' %
          (text.splitlines().index('  tal_net {') + 1)),
      'big_second_stage.config': (
          text.replace('second_stage_batch_size: 64',
                       'second_stage_batch_size: 400'),
          'model.tal_net.second_stage_batch_size: 400 is larger than '
          'first_stage_max_proposals (300)'),
      'empty_scales.config': (
          text.replace('        scales: 1 scales: 2 scales: 3 scales: 4 '
                       'scales: 5\n        scales: 6 scales: 8 scales: 11 '
                       'scales: 16\n', ''),
          'model.tal_net.first_stage_anchor_generator.'
          'multiscale_temporal_anchor_generator.scales: empty'),
      'negative_nms.config': (
          text.replace('first_stage_nms_iou_threshold: 0.7',
                       'first_stage_nms_iou_threshold: -0.7'),
          'model.tal_net.first_stage_nms_iou_threshold: must be in [0, 1], '
          'got -0.7'),
      'negative_score.config': (
          text.replace('        score_threshold: 0.0',
                       '        score_threshold: -0.2'),
          'model.tal_net.second_stage_post_processing.'
          'batch_non_max_suppression.score_threshold: must be in [0, 1], '
          'got -0.2'),
  }
  for name, (new_text, _) in cases.items():
    assert new_text != text, name  # the replacement applied
  return [(_write(tmp_path, name, new_text), expected)
          for name, (new_text, expected) in sorted(cases.items())]


def test_bad_configs_give_exit_1_and_one_line_each(tmp_path):
  bad = _bad_configs(tmp_path)
  for path, expected in bad:
    result = _run(path)
    assert result.returncode == 1, (path, result.stdout, result.stderr)
    assert result.stdout == ''
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(ERROR + '%s: %s' % (path, expected)), lines[0]


def test_mixed_run_reports_every_file_in_order(tmp_path):
  bad = _bad_configs(tmp_path)
  missing = str(tmp_path / 'missing.config')
  paths = [SHIPPED_CONFIGS[0]] + [p for p, _ in bad] + [missing]
  result = _run(*paths)
  assert result.returncode == 1
  assert 'Traceback' not in result.stderr
  assert result.stdout.splitlines() == ['OK %s' % SHIPPED_CONFIGS[0]]
  error_lines = result.stderr.splitlines()
  assert len(error_lines) == len(bad) + 1, result.stderr
  for line, path in zip(error_lines, paths[1:]):
    assert line.startswith(ERROR + path + ': '), line
  assert error_lines[-1] == ERROR + '%s: no such file' % missing


def test_binary_and_empty_files_give_one_line(tmp_path):
  binary = str(tmp_path / 'binary.config')
  with open(binary, 'wb') as f:
    f.write(b'\x00\xff\xfe garbage')
  empty = _write(tmp_path, 'empty.config', '')
  result = _run(binary, empty)
  assert result.returncode == 1
  assert result.stderr.splitlines() == [
      ERROR + '%s: not UTF-8 text (byte offset 1)' % binary,
      ERROR + '%s: model: missing; a pipeline needs model { tal_net { ... } }'
      % empty]


def test_no_arguments_is_a_usage_error():
  result = _run()
  assert result.returncode == 2
  assert result.stdout == ''
  assert result.stderr.splitlines() == [
      ERROR + 'no config given; usage: validate_config.py [--build] CONFIG '
      '[CONFIG ...]']


def test_a_config_missing_a_required_field_names_it(tmp_path):
  bad_path = _write(tmp_path, 'bad.config', 'model { tal_net { } }')
  result = _run(bad_path)
  assert result.returncode == 1
  assert result.stderr.startswith(
      ERROR + '%s: model.tal_net.num_classes: missing' % bad_path), result.stderr


def test_build_prints_the_receptive_field_table_of_one_config():
  config = os.path.join('configs', 'synthetic_tal_net.config')
  result = subprocess.run([sys.executable, TOOL, '--build', config], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  lines = result.stdout.splitlines()
  assert lines[0] == config
  assert lines[1] == ("tower MULTI_DILATED, use_context true, measured on "
                      "pipeline 'rgb' of ['rgb', 'flow']")
  assert lines[2].split() == ['scale', 'pool_k', 'r1', 'r2', 'RF(meas.)',
                              'RF(rule)', 'anchor', 'span']
  rows = [line.split() for line in lines[3:-2]]
  assert rows and all(row[4] == row[5] for row in rows)
  assert lines[-2].startswith('trainable parameters: ')
  assert lines[-1] == 'OK %s' % config


@pytest.mark.slow
def test_build_measures_every_shipped_configs_receptive_fields():
  """--build on every shipped config: the measured RF equals the rule's."""
  result = subprocess.run([sys.executable, TOOL, '--build'] + SHIPPED_CONFIGS,
                          cwd=REPO, capture_output=True, text=True,
                          timeout=900)
  assert result.returncode == 0, result.stderr[-2000:]
  out = result.stdout
  assert sorted(l[3:] for l in out.splitlines() if l.startswith('OK ')) == (
      SHIPPED_CONFIGS)
  rows = [l.split() for l in out.splitlines()
          if l.strip() and l.split()[0].replace('.', '').isdigit()]
  # One row per anchor scale of each config.
  num_scales = sum(
      len(config_util.read_pipeline_config(os.path.join(REPO, path)).model
          .tal_net.first_stage_anchor_generator
          .multiscale_temporal_anchor_generator.scales)
      for path in SHIPPED_CONFIGS)
  assert len(rows) == num_scales
  for row in rows:
    assert row[4] == row[5], row  # measured == k + 2 r1 + 2 r2 (or 1 / 5)
  main = out[out.index('configs/thumos14_i3d_tal_net.config\n'):]
  table = [l.split() for l in main.splitlines()[3:12]]
  assert [r[0] for r in table] == ['1', '2', '3', '4', '5', '6', '8', '11',
                                   '16']
  assert table[-1][1:6] == ['5', '5', '11', '37', '37']
  assert 'trainable parameters:' in main
