"""tools/compare_precisions.py and tal_detection/benchmarks/precision_comparison.py."""
import json
import os
import subprocess
import sys

import pytest

from tal_detection.benchmarks import precision_comparison as pc
from tal_detection.utils import readme_results

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TOOL = os.path.join(_REPO, 'tools', 'compare_precisions.py')
_STEP = 1.6  # Seconds per feature step at 16 frames and 10 fps.


def _det(label, score, start, end):
  return {'label': label, 'score': score, 'segment': [start, end]}


def _hand_made():
  fp32 = {'results': {
      'a': [_det('X', 0.9, 10.0, 20.0),    # bf16 repeats it: matched
            _det('Y', 0.8, 30.0, 40.0),    # bf16 has it as class X only
            _det('X', 0.7, 50.0, 60.0),    # bf16 score 0.05 lower
            _det('Y', 0.6, 70.0, 80.0),    # bf16 start 0.2 s = 0.125 steps
            _det('X', 0.1, 90.0, 100.0)],  # below the top 4
      'b': [_det('X', 0.5, 0.0, 5.0)],     # bf16 has no video b
  }}
  bf16 = {'results': {
      'a': [_det('X', 0.905, 10.1, 19.9),
            _det('X', 0.8, 30.0, 40.0),
            _det('X', 0.65, 50.0, 60.0),
            _det('Y', 0.6, 70.2, 80.0)],
      'c': [_det('X', 0.5, 0.0, 5.0)],     # not in fp32: ignored
  }}
  return fp32, bf16


def test_compare_detections_counts_class_score_and_boundary_misses():
  fp32, bf16 = _hand_made()
  result = pc.compare_detections(fp32, bf16, top_k=4, score_tol=0.02,
                                 boundary_tol=0.1, seconds_per_step=_STEP)
  # Checked: the top 4 of a plus the single detection of b; only a's first
  # detection has a same-class, close-score, close-boundary counterpart.
  assert result['checked'] == 5
  assert result['matched'] == 1
  assert result['unmatched'] == 4
  assert result['matched_fraction'] == pytest.approx(0.2)
  assert result['num_videos'] == 2
  assert result['videos_missing_in_bf16'] == ['b']
  assert result['max_score_diff'] == pytest.approx(0.005)
  assert result['max_boundary_diff_steps'] == pytest.approx(0.1 / _STEP)
  assert result['max_boundary_diff_seconds'] == pytest.approx(0.1)


def test_compare_detections_tolerances_and_top_k_cut():
  fp32, bf16 = _hand_made()
  # All five of a: the fifth has no counterpart at all.
  result = pc.compare_detections(fp32, bf16, 5, 0.02, 0.1, _STEP)
  assert (result['checked'], result['matched']) == (6, 1)
  # 0.13 steps = 0.208 s admits the 0.2 s start difference (score equal).
  result = pc.compare_detections(fp32, bf16, 4, 0.02, 0.13, _STEP)
  assert (result['checked'], result['matched']) == (5, 2)
  assert result['max_boundary_diff_steps'] == pytest.approx(0.2 / _STEP)
  assert result['max_score_diff'] == pytest.approx(0.005)
  # A 0.05 score tolerance admits the third; the class miss stays a miss.
  result = pc.compare_detections(fp32, bf16, 4, 0.05 + 1e-9, 0.13, _STEP)
  assert result['matched'] == 3
  assert result['max_score_diff'] == pytest.approx(0.05)
  # Per-video steps: at 0.1 s per step, 0.1 s is a whole step, too far.
  result = pc.compare_detections(fp32, bf16, 4, 0.02, 0.5,
                                 {'a': 0.1, 'b': 0.1})
  assert result['matched'] == 0
  assert result['max_boundary_diff_steps'] == 0.0
  # top_k=1: a's best (matched) and b's only one.
  result = pc.compare_detections(fp32, bf16, 1, 0.02, 0.1, _STEP)
  assert (result['checked'], result['matched']) == (2, 1)


def test_compare_detections_reports_the_closest_match_and_ranks_stably():
  fp32 = {'v': [_det('X', 0.5, 0.0, 16.0), _det('X', 0.5, 32.0, 48.0),
                _det('X', 0.4, 64.0, 80.0)]}
  # Two candidates for the first: the closer boundary (0.01 steps) wins even
  # with the larger score difference.
  bf16 = {'v': [_det('X', 0.501, 0.08, 16.0), _det('X', 0.515, 0.016, 16.0)]}
  result = pc.compare_detections(fp32, bf16, 1, 0.02, 0.1, _STEP)
  assert result['matched'] == 1
  assert result['max_score_diff'] == pytest.approx(0.015)
  assert result['max_boundary_diff_steps'] == pytest.approx(0.01)
  # Equal scores keep the file's order: the top 2 are the first two, and the
  # second (32-48 s) has no counterpart.
  result = pc.compare_detections(fp32, bf16, 2, 0.02, 0.1, _STEP)
  assert (result['checked'], result['matched']) == (2, 1)


def test_compare_detections_of_identical_files_matches_everything():
  fp32, _ = _hand_made()
  result = pc.compare_detections(fp32, json.loads(json.dumps(fp32)), 20, 0.0,
                                 0.0, _STEP)
  assert result['checked'] == result['matched'] == 6
  assert result['matched_fraction'] == 1.0
  assert result['max_score_diff'] == 0.0
  assert result['max_boundary_diff_steps'] == 0.0


def test_compare_detections_rejects_malformed_entries():
  with pytest.raises(ValueError, match='video v'):
    pc.compare_detections({'v': [{'label': 'X', 'score': 0.5}]}, {'v': []},
                          1, 0.0, 0.0)
  with pytest.raises(ValueError, match='results'):
    pc.compare_detections({'results': [1]}, {'v': []}, 1, 0.0, 0.0)
  with pytest.raises(ValueError, match='top_k'):
    pc.compare_detections({}, {}, 0, 0.0, 0.0)


def _metrics(values, average):
  return {'mAP': {t: v for t, v in values.items()}, 'average_mAP': average}


def test_map_gap_arithmetic():
  fp32 = _metrics({'0.1': 0.6, '0.5': 0.4, '0.7': 0.2}, 0.4)
  bf16 = _metrics({'0.1': 0.601, '0.5': 0.397, '0.7': 0.205}, 0.401)
  gap = pc.map_gap(fp32, bf16)
  assert gap['tiou_thresholds'] == ['0.1', '0.5', '0.7']
  assert gap['fp32']['0.5'] == pytest.approx(40.0)
  assert gap['bf16']['average'] == pytest.approx(40.1)
  assert gap['gap']['0.1'] == pytest.approx(0.1)
  assert gap['gap']['0.5'] == pytest.approx(-0.3)
  assert gap['gap']['0.7'] == pytest.approx(0.5)
  assert gap['gap']['average'] == pytest.approx(0.1)
  assert gap['max_abs_gap'] == pytest.approx(0.5)
  assert gap['max_abs_gap_tiou'] == '0.7'
  # A negative gap counts by its size.
  bf16['mAP']['0.5'] = 0.39
  assert pc.map_gap(fp32, bf16)['max_abs_gap_tiou'] == '0.5'
  assert pc.map_gap(fp32, bf16)['max_abs_gap'] == pytest.approx(1.0)
  same = pc.map_gap(fp32, fp32)
  assert same['max_abs_gap'] == 0.0
  assert set(same['gap'].values()) == {0.0}
  with pytest.raises(ValueError, match='different tIoU'):
    pc.map_gap(fp32, _metrics({'0.1': 0.6}, 0.6))
  with pytest.raises(ValueError, match='average_mAP'):
    pc.map_gap({'mAP': {'0.1': 0.5}}, fp32)


def _result(settings):
  thresholds = ['0.1', '0.2', '0.3', '0.4', '0.5', '0.6', '0.7']
  fp32 = _metrics({t: 0.5 for t in thresholds}, 0.5)
  # The evaluator's average of these thresholds: 0.5 - 0.003 / 7.
  bf16 = _metrics({t: 0.5 for t in thresholds}, 0.5 - 0.003 / 7)
  bf16['mAP']['0.7'] = 0.497
  fp32_dets, bf16_dets = _hand_made()
  comparison = {'map': pc.map_gap(fp32, bf16),
                'detections': dict(pc.compare_detections(
                    fp32_dets, bf16_dets, 4, 0.02, 0.1, _STEP),
                                   seconds_per_step=_STEP)}
  return pc.results(settings, comparison, {'cpu': 'CPU', 'cpu_count': 2,
                                           'tensorflow': '2.15.1'},
                    'python tools/compare_precisions.py', 12.3,
                    '/tmp/model/model.ckpt-1500', {'train': 1.0})


def test_markdown_table_rows_and_agreement_line():
  result = _result(pc.Settings())
  assert result['max_abs_gap_points'] == pytest.approx(0.3)
  assert result['within_map_tolerance']
  text = pc.format_markdown(result)
  tables = readme_results.markdown_tables(text)
  assert len(tables) == 1
  rows = [[c.strip() for c in line.strip('|').split('|')] for line in
          tables[0]]
  assert rows[0][1:] == ['tIoU 0.%d' % i for i in range(1, 8)] + ['average']
  assert [r[0] for r in rows[2:]] == ['fp32 export', 'bf16 export',
                                      'gap (bf16 - fp32)']
  assert rows[2][1:] == ['50.00'] * 8
  assert rows[3][7:] == ['49.70', '49.96']
  assert rows[4][7:] == ['-0.30', '-0.04']
  assert ('Largest |gap| 0.30 points at tIoU 0.7 (tolerance 0.5: within)'
          in text)
  assert '1 of 5 (20.0%) of the fp32 export\'s top-20 per video' in text
  assert '0.1 feature steps (0.16 s at 1.6 s per step)' in text
  assert 'model.ckpt-1500' in text and '12 s wall time' in text
  exceeded = _result(pc.Settings(map_tolerance_points=0.2))
  assert not exceeded['within_map_tolerance']
  assert 'EXCEEDED' in pc.format_markdown(exceeded)


def test_settings_check_names_the_flag():
  with pytest.raises(ValueError, match='--num_test'):
    pc.Settings(num_test=0).check()
  with pytest.raises(ValueError, match='--score_tolerance'):
    pc.Settings(score_tolerance=-0.1).check()
  with pytest.raises(ValueError, match='--num_classes'):
    pc.Settings(num_classes=21).check()
  pc.Settings().check()


def _run_tool(args, timeout=300):
  return subprocess.run([sys.executable, _TOOL] + args, cwd=_REPO,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        text=True, timeout=timeout, check=False)


@pytest.mark.parametrize('args, message', [
    (['--num_steps=0'], '--num_steps: must be at least 1'),
    (['--boundary_tolerance_steps=-1'], '--boundary_tolerance_steps'),
    (['--stream_dim=64'], 'do not match the synthetic features'),
])
def test_bad_flags_are_one_line_and_write_nothing(tmp_path, args, message):
  out_json, out_md = tmp_path / 'r.json', tmp_path / 'r.md'
  work = tmp_path / 'work'
  process = _run_tool(args + ['--work_dir=%s' % work,
                              '--output_json=%s' % out_json,
                              '--output_md=%s' % out_md])
  assert process.returncode == 1
  lines = process.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(
      'compare_precisions: error: '), process.stderr
  assert message in lines[0]
  assert not out_json.exists() and not out_md.exists() and not work.exists()


def test_a_foreign_work_dir_is_refused_and_left_alone(tmp_path):
  # run_pipeline replaces its subfolders (data, model, ...): it must not do
  # that to a folder it did not make.
  work = tmp_path / 'someones_folder'
  (work / 'data').mkdir(parents=True)
  (work / 'data' / 'keep.txt').write_text('mine')
  out_json, out_md = tmp_path / 'r.json', tmp_path / 'r.md'
  process = _run_tool(['--work_dir=%s' % work, '--output_json=%s' % out_json,
                       '--output_md=%s' % out_md])
  assert process.returncode == 1
  lines = process.stderr.strip().splitlines()
  assert len(lines) == 1 and 'not empty and not a folder of an earlier run' in (
      lines[0]), process.stderr
  assert (work / 'data' / 'keep.txt').read_text() == 'mine'
  assert sorted(os.listdir(work)) == ['data']
  assert not out_json.exists() and not out_md.exists()


def test_check_classes_refuses_a_subset_missing_a_class(tmp_path):
  path = tmp_path / 'annotations.json'
  video = lambda subset, label: {'subset': subset, 'annotations': [
      {'label': label, 'segment': [0.0, 1.0]}]}
  path.write_text(json.dumps({'database': {
      'a': video('train', 'X'), 'b': video('train', 'Y'),
      'c': video('test', 'X'), 'd': video('test', 'Y')}}))
  pc.check_classes(str(path), pc.Settings(num_classes=2))
  with pytest.raises(ValueError, match='--num_train: the 2 train videos hold '
                     'instances of 2 of the 3 classes'):
    pc.check_classes(str(path), pc.Settings(num_classes=3, num_train=2))
  database = json.loads(path.read_text())
  database['database']['d'] = video('test', 'X')
  path.write_text(json.dumps(database))
  with pytest.raises(ValueError, match='--num_test: the 2 test videos hold '
                     'instances of 1 of the 2 classes'):
    pc.check_classes(str(path), pc.Settings(num_classes=2, num_test=2))
  pc.check_classes(str(path), pc.Settings(num_classes=1))


@pytest.mark.slow
def test_end_to_end_tiny_run(tmp_path):
  out_json, out_md = tmp_path / 'r.json', tmp_path / 'r.md'
  work = tmp_path / 'work'
  process = _run_tool([
      # --quick's 2 classes; both occur in these 4 / 3 videos at seed 0.
      '--work_dir=%s' % work, '--quick', '--num_train=4', '--num_test=3',
      '--num_steps=10', '--stream_dim=64',
      '--pipeline_config_path=configs/synthetic_tal_net.config',
      '--output_json=%s' % out_json, '--output_md=%s' % out_md])
  assert process.returncode == 0, process.stderr[-2000:]
  with open(out_json, encoding='utf-8') as f:
    result = json.load(f)
  for key in ('settings', 'checkpoint', 'mAP_points', 'tiou_thresholds',
              'max_abs_gap_points', 'max_abs_gap_tiou', 'within_map_tolerance',
              'detection_agreement', 'machine', 'command', 'wall_seconds'):
    assert key in result, key
  assert result['checkpoint'].endswith('model.ckpt-10')
  # Marked as the tool's, so a rerun may replace its subfolders.
  assert (work / pc.WORK_DIR_MARKER).exists()
  settings = result['settings']
  assert (settings['num_train'], settings['num_test'], settings['num_classes'],
          settings['num_steps']) == (4, 3, 2, 10)
  assert result['tiou_thresholds'] == ['0.%d' % i for i in range(1, 8)]
  agreement = result['detection_agreement']
  assert 0 < agreement['checked'] <= 3 * 20
  assert 0.0 <= agreement['matched_fraction'] <= 1.0
  assert agreement['seconds_per_step'] == pytest.approx(_STEP)

  # The json's rows are the evaluator's outputs, in points.
  paths = pc.Paths(str(work))
  metrics = {}
  for precision in pc.PRECISIONS:
    with open(paths.metrics[precision], encoding='utf-8') as f:
      metrics[precision] = json.load(f)
  for precision, key in (('float32', 'fp32'), ('bfloat16', 'bf16')):
    assert result['mAP_points'][key]['0.5'] == pytest.approx(
        100.0 * metrics[precision]['mAP']['0.5'])
  gap = result['mAP_points']['gap_bf16_minus_fp32']
  assert result['max_abs_gap_points'] == pytest.approx(
      max(abs(gap[t]) for t in result['tiou_thresholds']))

  # The fp32 export against itself: no gap, every detection repeated.
  assert pc.map_gap(metrics['float32'], metrics['float32'])[
      'max_abs_gap'] == 0.0
  with open(paths.detections['float32'], encoding='utf-8') as f:
    fp32 = json.load(f)
  same = pc.compare_detections(fp32, fp32, 20, 0.0, 0.0, _STEP)
  assert same['matched'] == same['checked'] == agreement['checked']

  text = out_md.read_text(encoding='utf-8')
  assert text == pc.format_markdown(result)
  table = readme_results.markdown_tables(text)[0]
  assert len(table) == 5
  assert all(len(line.strip('|').split('|')) == 9 for line in table)
  assert table[2].startswith('| fp32 export | ')
