"""Tests of tools/run_ablations.py: planning, orderings, and a --quick run."""
import importlib.util
import json
import os
import re
import subprocess
import sys

import pytest

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(_ROOT, 'tools', 'run_ablations.py')


def _load_tool():
  spec = importlib.util.spec_from_file_location('run_ablations_tool', TOOL)
  tool = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(tool)
  return tool


@pytest.fixture(scope='module')
def tool():
  return _load_tool()


def _fake_dataset(tmp_path, stream_dim=8, num_classes=3):
  return {'train_records': str(tmp_path / 'train.record'),
          'test_records': str(tmp_path / 'test.record'),
          'label_map': str(tmp_path / 'label_map.pbtxt'),
          'stream_dim': stream_dim, 'num_classes': num_classes}


def test_plan_deduplicates_identical_models(tool, tmp_path):
  rows = tool.selected_rows(['1', '2', '3', '4'], 'both')
  # 4 + 2 + 2 per stream for Tables 1-3, plus 4 rows of Table 4.
  assert len(rows) == 2 * (4 + 2 + 2) + 4
  models, row_model = tool.plan_models(
      rows, tool.FLAGS['configs_dir'].default, str(tmp_path / 'configs'),
      _fake_dataset(tmp_path), num_steps=7, quick=False, user_override=None)
  # Per stream: 4 towers (Multi+Dilated = SPN context off), SPN context on
  # (= SoI context off), SoI context on (= Table 4 single stream); + early, late.
  assert len(models) == 2 * 6 + 2
  for stream in ('rgb', 'flow'):
    assert (row_model['table2_%s_spn_context_off' % stream] ==
            row_model['table1_%s_spn_multi_dilated' % stream])
    assert (row_model['table3_%s_soi_context_off' % stream] ==
            row_model['table2_%s_spn_context_on' % stream])
    assert (row_model['table4_%s_only' % stream] ==
            row_model['table3_%s_soi_context_on' % stream])
  assert row_model['table4_late_fusion'] != row_model['table4_early_fusion']
  # The data-dependent overrides reach the written configs.
  text = open(models['table4_early_fusion']['config_path']).read()
  assert 'num_classes: 3' in text
  assert len(re.findall(r'feature_dim: 8\b', text)) == 2
  assert 'num_steps: 7' in text
  assert str(tmp_path / 'train.record') in text


def test_user_override_changes_every_model(tool, tmp_path):
  rows = tool.selected_rows(['2'], 'rgb')
  models, _ = tool.plan_models(
      rows, tool.FLAGS['configs_dir'].default, str(tmp_path / 'configs'),
      _fake_dataset(tmp_path), num_steps=5, quick=True,
      user_override='train_config { batch_size: 2 }')
  assert len(models) == 2
  for model in models.values():
    assert 'batch_size: 2' in model['text']
    assert 'feature_reduction_depth: 32' in model['text']  # --quick


def _row(variant, values, stream='rgb'):
  return {'stream': stream, 'variant': variant, 'values': values}


def test_orderings_verdicts(tool):
  tables = {
      '1': {'columns': ['AR@10', 'AR@20'], 'rows': [
          _row('Single', [0.1, 0.1]), _row('Single+TConv', [0.2, 0.3]),
          _row('Multi+TConv', [0.3, 0.2]), _row('Multi+Dilated', [0.4, 0.1])]},
      '2': {'columns': ['AR@10', 'AR@20'], 'rows': [
          _row('SPN w/o context', [0.2, 0.2]),
          _row('SPN w/ context', [0.3, 0.1])]},
      '3': {'columns': ['mAP@0.1', 'mAP@0.2'], 'rows': [
          _row('SoI w/o context', [0.2, 0.2]),
          _row('SoI w/ context', [0.3, 0.3])]},
      '4': {'columns': ['mAP@0.1', 'mAP@0.2', 'mAP@0.3'], 'rows': [
          _row('RGB', [0.1, 0.1, 0.1]), _row('Flow', [0.2, 0.2, 0.2], 'flow'),
          _row('Early fusion', [0.5, 0.3, 0.4], 'rgb+flow'),
          _row('Late fusion', [0.4, 0.4, 0.3], 'rgb+flow')]},
  }
  checks = {(c['table'], c['paper']): c for c in tool.check_orderings(tables)}
  # Multi+Dilated mean 0.25 = Multi+TConv 0.25 = Single+TConv 0.25: the
  # ranking puts one of them first; Single (0.1) is the worst either way.
  table1 = checks[('1', 'Multi+Dilated best, Single worst')]
  assert 'Single worst' in table1['detail']
  assert 'Multi+Dilated best at 1 of 2 AN' in table1['detail']
  assert checks[('2', 'SPN context on > off')]['verdict'] == (
      'holds at 1 of 2 columns')
  assert checks[('3', 'SoI context on > off')]['verdict'] == 'holds'
  assert checks[('4', 'Flow > RGB')]['verdict'] == 'holds'
  assert checks[('4', 'Early fusion > Flow')]['verdict'] == 'holds'
  late_vs_early = checks[('4', 'Late fusion > Early fusion (except at tIoU '
                               '0.1)')]
  # tIoU 0.1 is left out: 0.4 > 0.3 holds, 0.3 > 0.4 does not.
  assert late_vs_early['verdict'] == 'holds at 1 of 2 columns'
  assert late_vs_early['columns_compared'] == 2


def test_bad_tables_flag_fails_clearly(tmp_path):
  process = subprocess.run(
      [sys.executable, TOOL, '--output_dir', str(tmp_path / 'out'),
       '--tables', '1,5', '--quick'],
      capture_output=True, text=True, timeout=120, check=False)
  assert process.returncode == 1
  assert process.stderr.strip().splitlines()[-1] == (
      'run_ablations: error: --tables: expected a list of 1, 2, 3, 4, got 1,5')


_NUMBER = re.compile(r'^\d+(\.\d+)?$')


@pytest.mark.slow
def test_quick_run_end_to_end(tmp_path):
  output_dir = tmp_path / 'ablations'
  process = subprocess.run(
      [sys.executable, TOOL, '--output_dir', str(output_dir), '--quick',
       '--num_train_steps', '20'],
      capture_output=True, text=True, timeout=900, check=False)
  assert process.returncode == 0, process.stderr[-3000:]

  results = json.loads((output_dir / 'ablation_results.json').read_text())
  assert sorted(results['tables']) == ['1', '2', '3', '4']
  # 4 towers, SPN context on, SoI context on (RGB), flow only, early, late.
  assert len(results['models']) == 9
  expected_rows = {'1': 4, '2': 2, '3': 2, '4': 4}
  for table, entry in results['tables'].items():
    assert len(entry['rows']) == expected_rows[table]
    expected_columns = (['AR@%d' % a for a in (10, 20, 50, 100, 200)]
                        if table in ('1', '2') else
                        ['mAP@%g' % (t / 10.0) for t in range(1, 8)])
    assert entry['columns'] == expected_columns
    for row in entry['rows']:
      assert row['status'] == 'ok'
      assert row['train_steps'] == 20
      assert row['train_seconds'] > 0 and row['eval_seconds'] > 0
      assert len(row['values']) == len(expected_columns)
      assert all(isinstance(v, float) and 0.0 <= v <= 1.0
                 for v in row['values'])
  # Shared models are reported in each of their tables.
  table1 = {r['variant']: r for r in results['tables']['1']['rows']}
  table2 = {r['variant']: r for r in results['tables']['2']['rows']}
  assert (table2['SPN w/o context']['values'] ==
          table1['Multi+Dilated']['values'])
  assert {c['table'] for c in results['orderings']} == {'1', '2', '3', '4'}
  assert os.path.exists(
      output_dir / 'models' / 'table4_late_fusion' / 'eval' /
      'metrics_20.json')

  markdown = (output_dir / 'ablation_results.md').read_text()
  for title in ('## Table 1', '## Table 2', '## Table 3', '## Table 4',
                '## Orderings'):
    assert title in markdown
  sections = markdown.split('\n## ')
  for number, num_columns in (('1', 5), ('2', 5), ('3', 7), ('4', 7)):
    section = next(s for s in sections if s.startswith('Table %s' % number))
    table_lines = [l for l in section.splitlines() if l.startswith('| ')]
    body = table_lines[1:]  # Header, then rows (the |---| line has no space).
    assert len(body) == expected_rows[number]
    for line in body:
      cells = [c.strip() for c in line.strip('|').split('|')]
      # stream, model, metric cells, steps, wall time, trained as.
      assert len(cells) == num_columns + 5
      assert all(_NUMBER.match(c) for c in cells[2:2 + num_columns + 2]), line

  # A second run reuses the dataset and every finished model.
  again = subprocess.run(
      [sys.executable, TOOL, '--output_dir', str(output_dir), '--quick',
       '--num_train_steps', '20', '--tables', '4'],
      capture_output=True, text=True, timeout=300, check=False)
  assert again.returncode == 0, again.stderr[-3000:]
  assert len(re.findall(r': reused \S+ \(20 steps', again.stdout)) == 4
  assert 'training 20 steps' not in again.stdout
  assert '  reused in' in again.stdout
