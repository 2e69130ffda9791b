"""Tests of the ablation study: fragments, plan, report, runner and the tool."""
import glob
import json
import os
import re
import subprocess
import sys

import pytest

from tal_detection.experiments import ablation_report
from tal_detection.experiments import ablation_runner
from tal_detection.experiments import ablation_study as study
from tal_detection.protos import tal_net_pb2
from tal_detection.utils import config_util

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(_ROOT, 'tools', 'run_ablations.py')
CONFIGS_DIR = os.path.join(_ROOT, 'configs', 'ablations')
BASE = os.path.join(_ROOT, 'configs', study.BASE_CONFIG)
ALL_TABLES = list(study.TABLES)

_SPN = tal_net_pb2.SegmentProposalNetwork
_TALNET = tal_net_pb2.TalNet


def _fake_dataset(tmp_path, stream_dim=8, num_classes=3):
  return {'train_records': str(tmp_path / 'train.record'),
          'test_records': str(tmp_path / 'test.record'),
          'label_map': str(tmp_path / 'label_map.pbtxt'),
          'stream_dim': stream_dim, 'num_classes': num_classes}


def _plan(tmp_path, tables=ALL_TABLES, stream='both', **kwargs):
  rows = study.selected_rows(tables, stream)
  kwargs.setdefault('num_steps', 7)
  models, row_model = study.plan_models(rows, CONFIGS_DIR, BASE,
                                        _fake_dataset(tmp_path), **kwargs)
  return rows, models, row_model


# ---------------------------------------------------------------------------
# The fragments.


def _non_comment_lines(path):
  with open(path, encoding='utf-8') as f:
    return [l for l in f.read().splitlines()
            if l.strip() and not l.strip().startswith('#')]


def test_every_fragment_is_small_parses_and_is_used():
  paths = sorted(glob.glob(os.path.join(CONFIGS_DIR, '*')))
  used = {f for row in study.selected_rows(ALL_TABLES, 'both')
          for f in row.fragments}
  assert {os.path.basename(p) for p in paths} == used
  texts = {}
  for path in paths:
    assert 1 <= len(_non_comment_lines(path)) <= 5, path
    with open(path, encoding='utf-8') as f:
      texts[os.path.basename(path)] = text = f.read()
    # It says first which config it is over.
    assert text.startswith('# Fragment over configs/thumos14_i3d_tal_net'
                           '.config'), path
    config_util.parse_pipeline_text(text, path)
  # ... and which rows of the paper it is.
  for table_id, table in study.TABLES.items():
    for variant in table.variants:
      for fragment in variant.fragments:
        assert 'Table %s, row "%s"' % (table_id, variant.label) in (
            ' '.join(texts[fragment].replace('#', ' ').split())), fragment


# Computed once from the full ablation configs this study replaced
# (configs/ablations/table*.config before the fragments): per row, what the
# model is. Stream halves of Tables 1-3 differ only in the stream.
#   row id (table, variant): tower, SPN context, SoI context ratio
_PER_STREAM_ROWS = {
    'table1_%s_spn_single': (_SPN.SINGLE, False, 0.0),
    'table1_%s_spn_single_tconv': (_SPN.SINGLE_TCONV, False, 0.0),
    'table1_%s_spn_multi_tconv': (_SPN.MULTI_TCONV, False, 0.0),
    'table1_%s_spn_multi_dilated': (_SPN.MULTI_DILATED, False, 0.0),
    'table2_%s_spn_context_off': (_SPN.MULTI_DILATED, False, 0.0),
    'table2_%s_spn_context_on': (_SPN.MULTI_DILATED, True, 0.0),
    'table3_%s_soi_context_off': (_SPN.MULTI_DILATED, True, 0.0),
    'table3_%s_soi_context_on': (_SPN.MULTI_DILATED, True, 0.5),
}
#   row id: streams, fusion (None: unset, one stream), tower, SPN context, SoI
_TABLE4_ROWS = {
    'table4_rgb_only': (['rgb'], None, _SPN.MULTI_DILATED, True, 0.5),
    'table4_flow_only': (['flow'], None, _SPN.MULTI_DILATED, True, 0.5),
    'table4_early_fusion': (['rgb', 'flow'], _TALNET.EARLY,
                            _SPN.MULTI_DILATED, True, 0.5),
    'table4_late_fusion': (['rgb', 'flow'], _TALNET.LATE, _SPN.MULTI_DILATED,
                           True, 0.5),
}


def _expected_facts():
  facts = dict(_TABLE4_ROWS)
  for pattern, (tower, context, soi) in _PER_STREAM_ROWS.items():
    for stream in ('rgb', 'flow'):
      facts[pattern % stream] = ([stream], None, tower, context, soi)
  return facts


def _facts(pipeline):
  tal_net = pipeline.model.tal_net
  spn = tal_net.segment_proposal_network
  return ([s.name for s in tal_net.streams],
          tal_net.fusion if tal_net.HasField('fusion') else None,
          spn.tower_type, spn.use_context, tal_net.soi_context_ratio)


def test_effective_configs_are_the_old_ablation_configs(tmp_path):
  rows, models, row_model = _plan(tmp_path)
  facts = _expected_facts()
  assert sorted(r.name for r in rows) == sorted(facts)
  late = models[row_model['table4_late_fusion']]['pipeline']
  for row in rows:
    pipeline = models[row_model[row.name]]['pipeline']
    assert _facts(pipeline) == facts[row.name], row.name
    # Nothing else differs from the main config (= Late fusion): restore the
    # five fields and the two protos are equal.
    restored = type(pipeline)()
    restored.CopyFrom(pipeline)
    tal_net = restored.model.tal_net
    del tal_net.streams[:]
    tal_net.streams.extend(late.model.tal_net.streams)
    tal_net.fusion = late.model.tal_net.fusion
    tal_net.segment_proposal_network.CopyFrom(
        late.model.tal_net.segment_proposal_network)
    tal_net.soi_context_ratio = late.model.tal_net.soi_context_ratio
    assert restored == late, row.name


# ---------------------------------------------------------------------------
# The plan.

# The rows that are one model (besides them every row is its own).
_SHARED = [('table1_%s_spn_multi_dilated', 'table2_%s_spn_context_off'),
           ('table2_%s_spn_context_on', 'table3_%s_soi_context_off'),
           ('table3_%s_soi_context_on', 'table4_%s_only')]


def _groups(models):
  return sorted(sorted(m['rows']) for m in models.values())


def test_plan_is_the_fourteen_distinct_models(tmp_path):
  rows, models, row_model = _plan(tmp_path)
  # 4 + 2 + 2 per stream for Tables 1-3, plus 4 rows of Table 4.
  assert len(rows) == 2 * (4 + 2 + 2) + 4
  assert len(models) == 14
  shared = [sorted(p % s for p in pair) for pair in _SHARED
            for s in ('rgb', 'flow')]
  alone = [[r.name] for r in rows
           if not any(r.name in group for group in shared)]
  assert _groups(models) == sorted(shared + alone)
  # A model is named after the first row using it.
  assert row_model['table4_rgb_only'] == 'table3_rgb_soi_context_on'
  # The data-dependent overrides reach the effective configs.
  text = models['table4_early_fusion']['text']
  assert 'num_classes: 3' in text
  assert len(re.findall(r'feature_dim: 8\b', text)) == 2
  assert 'num_steps: 7' in text
  assert str(tmp_path / 'train.record') in text


def test_default_stream_plans_nine_models(tmp_path):
  rows, models, _ = _plan(tmp_path, stream='rgb')
  assert len(rows) == 12
  assert len(models) == 9
  assert not any(r.stream == 'flow' for r in rows if r.table != '4')


def test_user_override_changes_every_model(tmp_path):
  _, models, _ = _plan(tmp_path, tables=['2'], stream='rgb', num_steps=5,
                       quick=True, user_override='train_config { batch_size: 2 }')
  assert len(models) == 2
  for model in models.values():
    assert 'batch_size: 2' in model['text']
    assert 'feature_reduction_depth: 32' in model['text']  # --quick


def test_plan_dedupes_by_effective_config_not_by_fragment(tmp_path):
  # SoI context forced off everywhere: Table 3's two rows (different
  # fragments) become one model.
  _, models, row_model = _plan(
      tmp_path, tables=['3'], stream='rgb',
      user_override='model { tal_net { soi_context_ratio: 0.0 } }')
  assert len(models) == 1
  assert row_model['table3_rgb_soi_context_on'] == 'table3_rgb_soi_context_off'


def test_bad_fragment_fails_naming_it(tmp_path):
  (tmp_path / 'rgb_only.config').write_text('model { tal_net { streamz {} } }')
  rows = study.selected_rows(['4'], 'rgb')
  with pytest.raises(config_util.ConfigError, match=r'rgb_only\.config: line 1'):
    study.plan_models(rows, str(tmp_path), BASE, _fake_dataset(tmp_path), 5)


def test_missing_fragments_fail_before_anything_is_written(tmp_path):
  output_dir = tmp_path / 'out'
  with pytest.raises(ValueError) as error:
    ablation_runner.run(str(output_dir), str(tmp_path), BASE, quick=True,
                        tables=['4'])
  assert str(error.value) == ('--configs_dir %s: missing early_fusion.config, '
                              'flow_only.config, rgb_only.config' % tmp_path)
  assert not output_dir.exists()


# ---------------------------------------------------------------------------
# Runner pieces.


def test_metrics_subset_keys_as_table_columns():
  subset = ablation_runner.metrics_subset({
      'DetectionMetrics/mAP@0.5IOU': 0.25, 'DetectionMetrics/mAP@0.1IOU': 0.5,
      'DetectionMetrics_PerClass/AP@0.5IOU/Jump': 1.0,
      'DetectionMetrics/average_mAP': 0.375, 'ProposalMetrics/AR@100': 0.75,
      'ProposalMetrics/AUC@200': 0.5, 'Loss/total_loss': 2.0,
      'global_step': 7})
  assert subset == {'mAP@0.5': 0.25, 'mAP@0.1': 0.5, 'AR@100': 0.75,
                    'DetectionMetrics/average_mAP': 0.375,
                    'ProposalMetrics/AUC@200': 0.5, 'Loss/total_loss': 2.0}


def test_finished_run_is_reused_by_proto_equality(tmp_path, capsys):
  _, models, _ = _plan(tmp_path, tables=['4'], stream='rgb')
  key = 'table4_early_fusion'
  # The same config as other text (a comment, all on one line) is the same
  # model: runs are matched by proto, not by text.
  text = '# an earlier run\n' + ' '.join(models[key]['text'].split())
  assert text != models[key]['text']
  old_dir = tmp_path / 'models' / 'named_otherwise'
  old_dir.mkdir(parents=True)
  info = {'status': 'ok', 'pipeline_text': text, 'steps': 7,
          'train_seconds': 3.0, 'eval_seconds': 1.0,
          'metrics': {'mAP@0.5': 0.5}}
  (old_dir / ablation_runner.RUN_INFO_FILENAME).write_text(json.dumps(info))
  runs = ablation_runner.run_models({key: models[key]},
                                    str(tmp_path / 'configs'),
                                    str(tmp_path / 'models'), 7)
  assert runs[key]['reused'] is True
  assert runs[key]['model_dir'] == str(old_dir)
  assert 'reused named_otherwise (7 steps, 4 s)' in capsys.readouterr().out
  assert (tmp_path / 'configs' / (key + '.config')).read_text() == (
      models[key]['text'])
  assert not (tmp_path / 'models' / key).exists()


# ---------------------------------------------------------------------------
# The report.


def _row(variant, values, stream='rgb'):
  return {'stream': stream, 'variant': variant, 'values': values}


def test_orderings_verdicts():
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
  checks = {(c['table'], c['paper']): c
            for c in ablation_report.check_orderings(tables)}
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


# ablation_results.md was written before the data caveat paragraph existed.
@pytest.mark.parametrize('name,with_caveat', [('ablation_results', False),
                                              ('ablation_results_seed2', True)])
def test_report_reproduces_the_stored_results(name, with_caveat, tmp_path):
  with open(os.path.join(_ROOT, 'results', name + '.json')) as f:
    stored = json.load(f)
  with open(os.path.join(_ROOT, 'results', name + '.md')) as f:
    stored_markdown = f.read()
  # Those runs were --stream=both: their rows are this study's, in order.
  rows = study.selected_rows(ALL_TABLES, 'both')
  stored_rows = [r for table in sorted(stored['tables'])
                 for r in stored['tables'][table]['rows']]
  assert [(r['stream'], r['variant']) for r in stored_rows] == [
      (r.stream, r.variant) for r in rows]
  for table, entry in stored['tables'].items():
    assert entry['columns'] == study.columns(study.TABLES[table].metric)
  # Rows are one model in the plan exactly when that run trained them as one.
  _, models, row_model = _plan(tmp_path)
  trained_as = {row.name: r['model'] for row, r in zip(rows, stored_rows)}
  assert len(models) == len(stored['models']) == 14
  assert len(set(trained_as.values())) == 14
  for row in rows:
    assert trained_as[row.name] == trained_as[row_model[row.name]], row.name
  assert ablation_report.check_orderings(stored['tables']) == (
      stored['orderings'])
  rendered = ablation_report.format_markdown(stored)
  if not with_caveat:
    rendered = rendered.replace('\n' + ablation_report.DATA_CAVEAT + '\n', '')
  assert rendered == stored_markdown


# ---------------------------------------------------------------------------
# The tool.


def test_bad_tables_flag_fails_clearly(tmp_path):
  process = subprocess.run(
      [sys.executable, TOOL, '--output_dir', str(tmp_path / 'out'),
       '--tables', '1,5', '--quick'],
      capture_output=True, text=True, timeout=120, check=False)
  assert process.returncode == 1
  assert process.stderr.strip().splitlines()[-1] == (
      'run_ablations: error: --tables: expected a list of 1, 2, 3, 4, got 1,5')
  assert not (tmp_path / 'out').exists()


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
  assert table1['Single']['fragments'] == ['rgb_only.config',
                                           'spn_single.config']
  assert {c['table'] for c in results['orderings']} == {'1', '2', '3', '4'}
  assert os.path.exists(
      output_dir / 'models' / 'table4_late_fusion' / 'eval' /
      'metrics_20.json')
  assert len(os.listdir(output_dir / 'configs')) == 9

  markdown = (output_dir / 'ablation_results.md').read_text()
  assert markdown == ablation_report.format_markdown(results)
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
