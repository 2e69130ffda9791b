"""Runs tools/evaluate_detections.py in a subprocess on small json files."""
import json
import os
import subprocess
import sys

import pytest

TOOL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    'tools', 'evaluate_detections.py')

GROUNDTRUTH = {'version': 'test', 'database': {
    'v1': {'subset': 'Test', 'duration': 40.0, 'annotations': [
        {'label': 'Jump', 'segment': [0.0, 10.0]},
        {'label': 'Jump', 'segment': ['20', '30']},
        {'label': 'Run', 'segment': [5.0, 8.0]}]},
    'v2': {'subset': 'Validation', 'duration': 40.0, 'annotations': [
        {'label': 'Swim', 'segment': [0.0, 10.0]}]}}}

DETECTIONS = {'results': {'v1': [
    {'label': 'Jump', 'score': 0.9, 'segment': [0.0, 10.0]},
    {'label': 'Jump', 'score': 0.8, 'segment': [0.0, 10.0]},  # duplicate -> FP
    {'label': 'Jump', 'score': 0.7, 'segment': ['21', '29']},  # tIoU 0.8
    {'label': 'Run', 'score': 0.6, 'segment': [5.0, 8.0]}]}}


def _write(tmp_path, name, content):
  path = tmp_path / name
  path.write_text(json.dumps(content) if not isinstance(content, str)
                  else content)
  return str(path)


def _run(*args):
  return subprocess.run([sys.executable, TOOL] + list(args), capture_output=True,
                        text=True, timeout=120, check=False)


@pytest.fixture
def files(tmp_path):
  return (_write(tmp_path, 'gt.json', GROUNDTRUTH),
          _write(tmp_path, 'det.json', DETECTIONS))


def test_detection_metrics_json(files):
  gt, det = files
  process = _run('--groundtruth', gt, '--detections', det, '--subset', 'Test',
                 '--tiou_thresholds', '0.5,0.9')
  assert process.returncode == 0, process.stderr
  output = json.loads(process.stdout)
  # Jump: TP, FP, TP at 0.5 -> 5/6; at 0.9 TP, FP, FP -> 1/2. Run: 1 at both.
  assert output['per_class_AP']['Jump']['0.5'] == pytest.approx(5.0 / 6.0)
  assert output['per_class_AP']['Jump']['0.9'] == pytest.approx(0.5)
  assert output['per_class_AP']['Run'] == {'0.5': 1.0, '0.9': 1.0}
  assert output['mAP']['0.5'] == pytest.approx((5.0 / 6.0 + 1.0) / 2.0)
  assert output['mAP']['0.9'] == pytest.approx(0.75)
  assert output['average_mAP'] == pytest.approx(((5.0 / 6.0 + 1) / 2 + 0.75) / 2)
  # 'Swim' only exists in the Validation subset.
  assert output['classes_without_groundtruth'] == ['Swim']
  assert output['num_groundtruth'] == 3 and output['num_detections'] == 4


def test_default_thresholds_are_thumos(files):
  gt, det = files
  process = _run('--groundtruth', gt, '--detections', det, '--subset', 'Test')
  assert process.returncode == 0, process.stderr
  output = json.loads(process.stdout)
  assert output['tiou_thresholds'] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
  assert sorted(output['mAP']) == ['0.1', '0.2', '0.3', '0.4', '0.5', '0.6', '0.7']


def test_proposal_metrics_json(files):
  gt, det = files
  process = _run('--groundtruth', gt, '--detections', det, '--subset', 'Test',
                 '--proposals', '--an', '2,4', '--tiou_thresholds', '0.5,0.9')
  assert process.returncode == 0, process.stderr
  output = json.loads(process.stdout)
  # AN 4: all 4 proposals (ranked .9, .8, .7, .6): at 0.5 all 3 recalled, at 0.9
  # the first Jump and Run -> (1 + 2/3) / 2.
  assert output['AR']['4'] == pytest.approx((1.0 + 2.0 / 3.0) / 2.0)
  # AN 2: top-2 are the same segment -> only the first Jump: 1/3.
  assert output['AR']['2'] == pytest.approx(1.0 / 3.0)
  assert output['num_proposals'] == 4


def test_default_proposal_protocol(files):
  gt, det = files
  process = _run('--groundtruth', gt, '--detections', det, '--subset', 'Test',
                 '--proposals')
  assert process.returncode == 0, process.stderr
  output = json.loads(process.stdout)
  assert output['tiou_thresholds'] == pytest.approx(
      [0.5 + 0.05 * i for i in range(11)])
  assert sorted(output['AR'], key=float) == ['10', '20', '50', '100', '200']


@pytest.mark.parametrize('bad_results, message', [
    ({'results': {'v1': [{'label': 'Jump', 'score': 0.5, 'segment': [3, 1]}]}},
     "det.json: results['v1'] entry 0: segment end 1.0 <= start 3.0"),
    ({'results': {'v1': [{'label': 'Jump', 'segment': [0, 1]}]}},
     "det.json: results['v1'] entry 0: missing field 'score'"),
    ({'results': {'v1': [{'label': 'Fly', 'score': 1, 'segment': [0, 1]}]}},
     "det.json: results['v1'] entry 0: label 'Fly' is not a class"),
    ({'results': {'v1': [{'label': 'Jump', 'score': 1, 'segment': [0, 'NaN']}]}},
     'segment end must be finite'),
    ({'version': 1}, "det.json: missing top-level key 'results'"),
])
def test_bad_detections_one_line_on_stderr(tmp_path, files, bad_results,
                                           message):
  gt, _ = files
  det = _write(tmp_path, 'det.json', bad_results)
  process = _run('--groundtruth', gt, '--detections', det, '--subset', 'Test')
  assert process.returncode == 1
  assert process.stdout == ''
  lines = process.stderr.strip().splitlines()
  assert len(lines) == 1, process.stderr
  assert message in lines[0]


def test_bad_groundtruth_and_flags_one_line_on_stderr(tmp_path, files):
  _, det = files
  gt = _write(tmp_path, 'bad_gt.json', {'database': {'v1': {
      'subset': 'Test', 'annotations': [{'label': 'Jump'}]}}})
  process = _run('--groundtruth', gt, '--detections', det, '--subset', 'Test')
  assert process.returncode == 1
  assert process.stderr.strip() == (
      "evaluate_detections: error: %s: video 'v1' annotation 0: missing field 'segment'" % gt)
  gt_ok, _ = files
  process = _run('--groundtruth', gt_ok, '--detections', det,
                 '--tiou_thresholds', '0.5,abc')
  assert process.returncode == 1
  assert process.stderr.strip() == (
      "evaluate_detections: error: --tiou_thresholds: 'abc' is not a number")
  process = _run('--groundtruth', gt_ok, '--detections', det, '--subset', 'Train')
  assert process.returncode == 1
  assert "no video in subset 'Train'" in process.stderr
  process = _run('--groundtruth', str(tmp_path / 'missing.json'),
                 '--detections', det)
  assert process.returncode == 1
  assert 'missing.json: cannot read file' in process.stderr


@pytest.mark.parametrize('proposals', [False, True])
def test_results_without_detections_score_zero_with_one_warning(tmp_path,
                                                                proposals):
  gt = _write(tmp_path, 'gt.json', GROUNDTRUTH)
  empty = _write(tmp_path, 'empty.json', {'results': {'v1': []}})
  process = _run('--groundtruth', gt, '--detections', empty, '--subset',
                 'Test', *(['--proposals'] if proposals else []))
  assert process.returncode == 0, process.stderr
  output = json.loads(process.stdout)
  if proposals:
    assert set(output['AR'].values()) == {0.0}
  else:
    assert set(output['mAP'].values()) == {0.0}
  warnings = [line for line in process.stderr.splitlines()
              if line.startswith('evaluate_detections: warning: ')]
  assert warnings == ['evaluate_detections: warning: %s: holds no %s; every '
                      '%s is 0' % (empty, *(('proposals', 'AR') if proposals
                                            else ('detections', 'AP')))]


def test_both_protocols_in_one_run_with_ambiguous_txt(tmp_path):
  # Kit protocol, Jump at 0.5: GT [0,10] takes the 0.9 copy, GT [20,30] the
  # 0.7 one (overlap 0.8); the 0.8 duplicate is a FP unless an Ambiguous segment
  # overlaps it. Flags TP, FP, TP: 11-point AP = (6 * 1 + 5 * 2/3) / 11.
  gt = _write(tmp_path, 'gt.json', GROUNDTRUTH)
  det = _write(tmp_path, 'det.json', DETECTIONS)
  process = _run('--groundtruth', gt, '--detections', det, '--subset', 'Test',
                 '--tiou_thresholds', '0.5', '--protocol',
                 'activitynet,thumos14_kit')
  assert process.returncode == 0, process.stderr
  output = json.loads(process.stdout)
  assert output['activitynet']['mAP']['0.5'] == pytest.approx((5 / 6 + 1) / 2)
  kit_jump = (6 + 5 * 2 / 3) / 11
  assert output['thumos14_kit']['per_class_AP']['Jump']['0.5'] == pytest.approx(
      kit_jump)
  assert output['thumos14_kit']['mAP']['0.5'] == pytest.approx(
      (kit_jump + 1) / 2)
  ambiguous = tmp_path / 'Ambiguous_test.txt'
  ambiguous.write_text('v1 9.5 12.0\nv2 0 1\n')
  process = _run('--groundtruth', gt, '--detections', det, '--subset', 'Test',
                 '--tiou_thresholds', '0.5', '--protocol', 'thumos14_kit',
                 '--ambiguous_txt', str(ambiguous))
  assert process.returncode == 0, process.stderr
  output = json.loads(process.stdout)
  # The duplicate overlaps the Ambiguous [9.5, 12] -> dropped: Jump AP 1.
  assert output['protocol'] == 'thumos14_kit'
  assert output['num_ambiguous_segments'] == 1  # v2 is not in the Test subset.
  assert output['mAP']['0.5'] == pytest.approx(1.0)


def test_ambiguous_json_annotations_are_not_a_class(tmp_path):
  groundtruth = json.loads(json.dumps(GROUNDTRUTH))
  groundtruth['database']['v1']['annotations'].append(
      {'label': 'Ambiguous', 'segment': [9.5, 12.0]})
  gt = _write(tmp_path, 'gt.json', groundtruth)
  det = _write(tmp_path, 'det.json', DETECTIONS)
  for protocol, expected in (('activitynet', (5 / 6 + 1) / 2),
                             ('thumos14_kit', 1.0)):
    process = _run('--groundtruth', gt, '--detections', det, '--subset', 'Test',
                   '--tiou_thresholds', '0.5', '--protocol', protocol)
    assert process.returncode == 0, process.stderr
    output = json.loads(process.stdout)
    assert 'Ambiguous' not in output['per_class_AP']
    assert 'Ambiguous' not in output['classes_without_groundtruth']
    assert output['mAP']['0.5'] == pytest.approx(expected)


@pytest.mark.parametrize('args,message', [
    (['--protocol', 'voc'], "--protocol: 'voc'"),
    (['--protocol', 'thumos14_kit', '--ambiguous_txt', '/nonexistent/A.txt'],
     '/nonexistent/A.txt: cannot read file'),
])
def test_bad_protocol_arguments(files, args, message):
  gt, det = files
  process = _run('--groundtruth', gt, '--detections', det, *args)
  assert process.returncode == 1
  lines = process.stderr.strip().splitlines()
  assert len(lines) == 1 and message in lines[0], process.stderr
