"""Tests of the training-curve summary (library, tool, README block)."""
import json
import os
import subprocess
import sys

import pytest

from tal_detection.experiments import training_curve
from tal_detection.utils import readme_results

import tal_data_test_util as util

TOOL = os.path.join(util.REPO_ROOT, 'tools', 'summarize_training_curve.py')


def _write_eval(model_dir, step, map50, ar100, objectness, extra=None):
  eval_dir = os.path.join(model_dir, 'eval')
  os.makedirs(eval_dir, exist_ok=True)
  metrics = {
      'DetectionMetrics/mAP@0.5IOU': map50,
      'DetectionMetrics/mAP@0.7IOU': map50 / 2,
      'ProposalMetrics/AR@100': ar100,
      'Loss/SPNLoss/objectness_loss': objectness,
      'Loss/total_loss': objectness + 1.0,
      'global_step': step,
  }
  metrics.update(extra or {})
  with open(os.path.join(eval_dir, 'metrics_%d.json' % step), 'w') as f:
    json.dump(metrics, f)


@pytest.fixture()
def runs(tmp_path):
  paper = str(tmp_path / 'paper')
  regularised = str(tmp_path / 'regularised')
  # The paper run peaks at step 2000, the regularised one improves to the end.
  for step, m, ar, loss in ((1000, 0.069, 0.243, 0.33), (2000, 0.217, 0.232,
                                                          0.84),
                            (3000, 0.185, 0.222, 0.69)):
    _write_eval(paper, step, m, ar, loss)
  for step, m, ar, loss in ((1000, 0.05, 0.25, 0.30), (3000, 0.25, 0.30,
                                                       0.35)):
    _write_eval(regularised, step, m, ar, loss)
  # Not evaluation files: ignored.
  with open(os.path.join(regularised, 'eval', 'metrics_best.json'), 'w') as f:
    f.write('{}')
  with open(os.path.join(regularised, 'eval', 'notes.txt'), 'w') as f:
    f.write('x')
  return paper, regularised


def test_read_curve_by_step(runs):
  paper, _ = runs
  points = training_curve.read_curve(paper)
  assert [p['step'] for p in points] == [1000, 2000, 3000]
  assert points[1] == {'step': 2000, 'mAP': 0.217, 'AR': 0.232,
                       'losses': {'SPNLoss/objectness_loss': 0.84,
                                  'total_loss': 0.84 + 1.0}}
  # Another tIoU, and AR absent at an AN the files do not hold.
  other = training_curve.read_curve(paper, tiou=0.7, an=200)
  assert other[0]['mAP'] == pytest.approx(0.0345) and other[0]['AR'] is None


def test_summary_picks_the_best_step_and_formats_tables(runs):
  paper, regularised = runs
  summary = training_curve.summarize_runs([
      training_curve.Run('paper', paper),
      training_curve.Run('regularised', regularised)])
  assert summary['map_metric'] == 'DetectionMetrics/mAP@0.5IOU'
  assert [r['best']['step'] for r in summary['runs']] == [2000, 3000]
  markdown = training_curve.format_markdown(summary)
  lines = markdown.splitlines()
  assert lines[0] == ('| run | best step (by mAP@0.5) | mAP@0.5 (%) | '
                      'AR@100 (%) | last step | last mAP@0.5 (%) |')
  assert lines[2] == '| paper | 2000 | 21.7 | 23.2 | 3000 | 18.5 |'
  assert lines[3] == '| regularised | 3000 | 25.0 | 30.0 | 3000 | 25.0 |'
  assert ('| step | mAP@0.5 (%) | AR@100 (%) | eval SPNLoss/objectness_loss | '
          'eval total_loss |') in lines
  assert '| 1000 | 6.9 | 24.3 | 0.3300 | 1.3300 |' in lines
  # Ties go to the earliest step.
  _write_eval(paper, 4000, 0.217, 0.2, 0.9)
  again = training_curve.summarize_runs([training_curve.Run('p', paper)])
  assert again['runs'][0]['best']['step'] == 2000


def test_bad_input_names_the_problem(tmp_path, runs):
  paper, _ = runs
  with pytest.raises(ValueError, match='expected LABEL:MODEL_DIR'):
    training_curve.parse_run('nolabel')
  assert training_curve.parse_run('a:b:c') == ('a', 'b:c')
  with pytest.raises(ValueError, match='labels must differ'):
    training_curve.summarize_runs([training_curve.Run('a', paper)] * 2)
  with pytest.raises(ValueError, match='no such model_dir'):
    training_curve.read_curve(str(tmp_path / 'missing'))
  empty = tmp_path / 'empty'
  empty.mkdir()
  with pytest.raises(ValueError, match='no eval/metrics_<step>.json'):
    training_curve.read_curve(str(empty))
  broken = str(tmp_path / 'broken')
  _write_eval(broken, 10, 0.1, 0.1, 0.1)
  with open(os.path.join(broken, 'eval', 'metrics_20.json'), 'w') as f:
    json.dump({'ProposalMetrics/AR@100': 0.1}, f)
  with pytest.raises(ValueError, match='metrics_20.json: no DetectionMetrics'):
    training_curve.read_curve(broken)


def test_tool_writes_results_and_the_readme_block_renders_them(tmp_path, runs):
  paper, regularised = runs
  results = tmp_path / 'results'
  output = str(results / 'training_curve_thumos14_hard')
  result = subprocess.run(
      [sys.executable, TOOL, '--run=paper:%s' % paper,
       '--run=regularised:%s' % regularised, '--output=%s' % output],
      capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  with open(output + '.json') as f:
    summary = json.load(f)
  assert [r['label'] for r in summary['runs']] == ['paper', 'regularised']
  with open(output + '.md') as f:
    markdown = f.read()
  assert result.stdout == markdown
  readme = ('## Results\n\n### Harder benchmark: training curves\n\n'
            '<!-- results:training_curve_thumos14_hard -->\ntyped\n'
            '<!-- /results:training_curve_thumos14_hard -->\nend\n')
  assert readme_results.stale_blocks(readme, str(results)) == [
      'training_curve_thumos14_hard']
  rendered = readme_results.render(readme, str(results))
  assert rendered == readme.replace('typed\n', markdown)
  assert '| paper | 2000 | 21.7 |' in rendered

  failed = subprocess.run([sys.executable, TOOL, '--run=paper'],
                          capture_output=True, text=True, timeout=300)
  assert failed.returncode == 1
  assert failed.stderr.strip().splitlines()[-1].startswith(
      'summarize_training_curve: error: ')


RUNNER = os.path.join(util.REPO_ROOT, 'tools', 'run_training_curves.sh')


def test_runner_usage_error(tmp_path):
  result = subprocess.run(['bash', RUNNER], capture_output=True, text=True,
                          timeout=60)
  assert result.returncode == 2
  assert result.stderr.strip() == ('run_training_curves: error: usage: bash '
                                   'tools/run_training_curves.sh OUT_DIR '
                                   '[--quick]')
  result = subprocess.run(['bash', RUNNER, str(tmp_path / 'x'), '--fast'],
                          capture_output=True, text=True, timeout=60)
  assert result.returncode == 2 and 'unknown option --fast' in result.stderr
  assert not os.path.exists(tmp_path / 'x')


@pytest.mark.slow
def test_runner_quick_end_to_end(tmp_path):
  """Dataset, records, two concurrent trainings, curves: the --quick size."""
  out = str(tmp_path / 'curves')
  env = dict(os.environ, PYTHON=sys.executable)
  result = subprocess.run(['bash', RUNNER, out, '--quick'], capture_output=True,
                          text=True, timeout=900, env=env)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  with open(os.path.join(out, 'training_curve.json')) as f:
    summary = json.load(f)
  assert [r['label'] for r in summary['runs']] == ['paper', 'regularised']
  for run in summary['runs']:
    # Evaluated at every checkpoint: steps 5 and 10.
    assert [p['step'] for p in run['points']] == [5, 10]
    assert 'SPNLoss/objectness_loss' in run['points'][0]['losses']
    assert run['best'] in run['points']
    assert os.path.getsize(os.path.join(out, 'logs', run['label'] + '.log'))
  # The regularised run trained with the fragment, the paper run without.
  from tal_detection.utils import config_util
  paper = config_util.read_pipeline_config(
      os.path.join(out, 'paper', 'pipeline.config'))
  regularised = config_util.read_pipeline_config(
      os.path.join(out, 'regularised', 'pipeline.config'))
  assert paper.model.tal_net.second_stage_dropout_rate == 0.0
  assert regularised.model.tal_net.second_stage_dropout_rate == 0.5
  assert regularised.train_config.feature_augmentation.temporal_scale_jitter \
      == pytest.approx(0.2)
  assert paper.train_config.save_checkpoints_steps == 5
  with open(os.path.join(out, 'training_curve.md')) as f:
    assert f.read() in result.stdout
  # The data are the hard profile at the paper's rate.
  with open(os.path.join(out, 'data', 'annotations.json')) as f:
    data = json.load(f)
  assert data['version'] == 'synthetic-thumos14-hard-v1'
  assert len(data['database']) == 5


def test_regularised_fragment_parses_over_the_paper_config():
  from tal_detection.utils import config_util
  config = config_util.load_pipeline(
      os.path.join(util.REPO_ROOT, 'configs', 'thumos14_i3d_tal_net.config'),
      override_files=[os.path.join(util.REPO_ROOT, 'configs', 'fragments',
                                   'regularised.config')])
  tal_net = config.model.tal_net
  assert tal_net.segment_proposal_network.head_dropout_rate == pytest.approx(
      0.3)
  assert tal_net.second_stage_dropout_rate == 0.5
  augmentation = config.train_config.feature_augmentation
  assert augmentation.feature_dropout_rate == pytest.approx(0.1)
  assert augmentation.gaussian_noise_stddev == pytest.approx(0.1)
  assert augmentation.temporal_scale_jitter == pytest.approx(0.2)
  # Everything else is the paper's config.
  tal_net.segment_proposal_network.ClearField('head_dropout_rate')
  tal_net.ClearField('second_stage_dropout_rate')
  config.train_config.ClearField('feature_augmentation')
  assert config == config_util.load_pipeline(
      os.path.join(util.REPO_ROOT, 'configs', 'thumos14_i3d_tal_net.config'))
