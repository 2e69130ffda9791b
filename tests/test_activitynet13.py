"""ActivityNet v1.3 end to end on a tiny ActivityNet-like synthetic set.

tools/make_synthetic_dataset.py --profile=activitynet (200 classes) ->
tools/create_tal_tf_record.py --resample_num_steps=128 -> tools/model_main.py
training configs/activitynet13_i3d_tal_net.config (shrunk to 8-d streams and
16 channels, 200 classes and the 14 anchor scales kept) for a few steps, then
its evaluation: mAP at tIoU 0.5:0.05:0.95 in the metrics json.
"""
import json
import os

import numpy as np
import pytest

import model_lib_test_util as util

CONFIG = os.path.join(util.REPO_ROOT, 'configs',
                      'activitynet13_i3d_tal_net.config')
STREAM_DIM = 8
NUM_STEPS = 128
TIOUS = ['0.5', '0.55', '0.6', '0.65', '0.7', '0.75', '0.8', '0.85', '0.9',
         '0.95']


@pytest.mark.slow
def test_activitynet_like_data_converts_trains_and_evaluates(tmp_path):
  data = str(tmp_path / 'anet')
  result = util.run_tool(
      'make_synthetic_dataset.py', '--output_dir=%s' % data,
      '--profile=activitynet', '--num_train=4', '--num_test=2',
      '--stream_dim=%d' % STREAM_DIM, '--duration_scale=0.5')
  assert result.returncode == 0, util.describe(result)
  label_map = os.path.join(data, 'label_map.pbtxt')
  for subset in ('train', 'test'):
    result = util.run_tool(
        'create_tal_tf_record.py',
        '--annotations_json=%s' % os.path.join(data, 'annotations.json'),
        '--subset=%s' % subset,
        '--features_dir=%s' % os.path.join(data, 'features'),
        '--stream_dims=%d,%d' % (STREAM_DIM, STREAM_DIM),
        '--stride_frames=16', '--window_frames=16',
        '--resample_num_steps=%d' % NUM_STEPS,
        '--label_map_path=%s' % label_map,
        '--output_path=%s' % os.path.join(data, '%s.record' % subset))
    assert result.returncode == 0, util.describe(result)
    assert '(of 200 in label map' in result.stdout

  streams = ' '.join('streams { name: "%s" feature_dim: %d }' % (name,
                                                                 STREAM_DIM)
                     for name in ('rgb', 'flow'))
  override = (
      'model { tal_net { %s feature_reduction_depth: 16 '
      'segment_proposal_network { depth: 16 } second_stage_fc_depth: 16 } } '
      'train_config { num_steps: 3 save_checkpoints_steps: 3 '
      'log_every_n_steps: 1 save_summary_steps: 1 } '
      'eval_config { num_visualizations: 0 }' % streams)
  model_dir = str(tmp_path / 'model')
  result = util.run_tool(
      'model_main.py', '--pipeline_config_path=%s' % CONFIG,
      '--model_dir=%s' % model_dir, '--config_override=%s' % override,
      '--train_input_path=%s' % os.path.join(data, 'train.record'),
      '--eval_input_path=%s' % os.path.join(data, 'test.record'),
      '--label_map_path=%s' % label_map, timeout=900)
  assert result.returncode == 0, util.describe(result)
  assert util.checkpoint_step(model_dir) == 3
  with open(os.path.join(model_dir, 'eval', 'metrics_3.json')) as f:
    metrics = json.load(f)
  maps = [metrics['DetectionMetrics/mAP@%sIOU' % t] for t in TIOUS]
  assert all(0.0 <= m <= 1.0 for m in maps)
  # mAP can only fall as the threshold rises (every match at a higher tIoU is
  # one at a lower), and the average is their mean.
  assert all(a >= b - 1e-6 for a, b in zip(maps, maps[1:]))
  np.testing.assert_allclose(metrics['DetectionMetrics/average_mAP'],
                             np.mean(maps), atol=1e-6)
