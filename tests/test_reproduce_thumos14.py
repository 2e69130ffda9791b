"""tools/reproduce_thumos14.sh end to end on ActionFormer-layout features.

The data: tools/make_synthetic_dataset.py --profile=thumos14_hard
--feature_rate=actionformer (real THUMOS'14 segment times, 16-frame windows
every 4 frames at each video's fps, [T, 2 D] = rgb | flow per video), a few
videos and a tiny model, so the whole recipe runs in a few minutes.
"""
import json
import os
import subprocess
import sys

import pytest

from tal_detection.dataset_tools import synthetic_dataset

import tal_data_test_util as util

SCRIPT = os.path.join(util.REPO_ROOT, 'tools', 'reproduce_thumos14.sh')
DIM = 8
TINY_MODEL = (
    'model { tal_net { streams { name: "rgb" feature_dim: %d } '
    'streams { name: "flow" feature_dim: %d } feature_reduction_depth: 8 '
    'segment_proposal_network { depth: 8 } second_stage_fc_depth: 8 } } '
    'train_config { save_checkpoints_steps: 4 } '
    'eval_config { num_visualizations: 0 }' % (DIM, DIM))


def test_usage_error_names_the_arguments(tmp_path):
  result = subprocess.run(['bash', SCRIPT, str(tmp_path)], capture_output=True,
                          text=True, timeout=60)
  assert result.returncode == 2
  assert result.stderr.strip() == (
      'reproduce_thumos14: error: usage: bash tools/reproduce_thumos14.sh '
      'FEATURES_DIR ANNOTATIONS_JSON OUT_DIR')
  result = subprocess.run(
      ['bash', SCRIPT, str(tmp_path / 'none'), str(tmp_path / 'a.json'),
       str(tmp_path / 'out')], capture_output=True, text=True, timeout=60)
  assert result.returncode == 1
  assert result.stderr.strip() == ('reproduce_thumos14: error: %s: '
                                   'FEATURES_DIR is not a folder' %
                                   (tmp_path / 'none'))
  assert not os.path.exists(tmp_path / 'out')


@pytest.mark.slow
def test_recipe_end_to_end_on_actionformer_layout_features(tmp_path):
  data = str(tmp_path / 'data')
  synthetic_dataset.generate(data, num_train=3, num_test=2, stream_dim=DIM,
                             profile=synthetic_dataset.HARD_PROFILE,
                             feature_rate='actionformer')
  # The real THUMOS'14 json names all 20 classes; a few videos name only
  # some, and the evaluator refuses detections of a class the ground truth
  # does not name. One video of an unused subset (no features: nothing
  # converts or scores it) names them all.
  annotations = os.path.join(data, 'annotations.json')
  with open(annotations) as f:
    ground_truth = json.load(f)
  ground_truth['database']['class_names_only'] = {
      'subset': 'unused', 'duration': 100.0, 'fps': 30.0, 'annotations': [
          {'label': name, 'segment': [1.0, 2.0]}
          for name in ground_truth['feature_info']['classes']]}
  with open(annotations, 'w') as f:
    json.dump(ground_truth, f)
  out = str(tmp_path / 'out')
  env = dict(os.environ, PYTHON=sys.executable, TRAIN_SUBSET='train',
             TEST_SUBSET='test', STREAM_DIMS='%d,%d' % (DIM, DIM),
             LABEL_MAP=os.path.join(data, 'label_map.pbtxt'),
             NUM_TRAIN_STEPS='4', CONFIG_OVERRIDE=TINY_MODEL)
  result = subprocess.run(
      ['bash', SCRIPT, os.path.join(data, 'features'),
       annotations, out],
      capture_output=True, text=True, timeout=900, env=env)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  stdout = result.stdout
  # Coverage before (4/16 frames) and after resampling (48/48), then the
  # records': three coverage lines.
  coverage = [line for line in stdout.splitlines()
              if line.strip().startswith('coverage@0.5=')]
  assert len(coverage) == 3, stdout
  # The best checkpoint was exported.
  with open(os.path.join(out, 'model', 'best', 'checkpoint')) as f:
    best = f.readline()
  assert 'model.ckpt-' in best
  with open(os.path.join(out, 'exported', 'time_base.json')) as f:
    time_base = json.load(f)
  assert time_base['stride_frames'] == 48
  # Detections for the test videos only, scored at THUMOS'14's thresholds.
  with open(os.path.join(data, 'annotations.json')) as f:
    database = json.load(f)['database']
  test_videos = sorted(v for v, e in database.items() if e['subset'] == 'test')
  assert len(test_videos) == 2
  with open(os.path.join(out, 'detections.json')) as f:
    assert sorted(json.load(f)['results']) == test_videos
  with open(os.path.join(out, 'detection_metrics.json')) as f:
    metrics = json.load(f)
  assert sorted(float(t) for t in metrics['mAP']) == [
      0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]
  # The paper's Table 5 row beside ours.
  with open(os.path.join(out, 'table5.md')) as f:
    table = f.read().splitlines()
  assert table[0] == '| mAP (%) at tIoU | 0.1 | 0.2 | 0.3 | 0.4 | 0.5 | 0.6 | 0.7 |'
  assert table[2] == ('| TAL-Net, paper (Table 5) | 59.8 | 57.1 | 53.2 | 48.5 '
                      '| 42.8 | 33.8 | 20.8 |')
  ours = table[3].split(' | ')
  assert ours[0].startswith('| ours (model.ckpt-')
  assert [float(v.strip(' |')) for v in ours[1:]] == [
      round(100 * metrics['mAP'][t], 1) for t in sorted(metrics['mAP'],
                                                        key=float)]
  assert '\n'.join(table) in stdout
