"""Tests of tools/infer.py on the exported tiny model: ActivityNet results json
that tools/evaluate_detections.py accepts, agreement with the SavedModel, and
one-line errors on bad input."""
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tal_detection import inference_util
from tal_detection.dataset_tools import annotation_util
from tal_detection.dataset_tools import feature_util
from tal_detection.utils import label_map_util

import model_lib_test_util as util

_PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def _infer_flags(saved_model_dir, features, output, *extra):
  return ['--saved_model_dir=%s' % saved_model_dir, '--features=%s' % features,
          '--feature_layout=concat', '--fps=%g' % util.FPS,
          '--stride_frames=%d' % util.STRIDE_FRAMES,
          '--window_frames=%d' % util.WINDOW_FRAMES,
          '--output=%s' % output] + list(extra)


def _assert_one_line_error(result, *names):
  assert result.returncode == 1, util.describe(result)
  errors = util.error_lines(result.stderr)
  assert len(errors) == 1, result.stderr[-3000:]
  for name in names:
    assert name in errors[0], errors[0]
  assert 'Traceback' not in result.stderr


@pytest.mark.slow
def test_infer_folder_results_pass_evaluate_detections(exported_model,
                                                       tiny_dataset, tmp_path):
  features_dir = tmp_path / 'test_features'
  features_dir.mkdir()
  video_ids = tiny_dataset.test_video_ids()
  for video_id in video_ids:
    shutil.copy(os.path.join(tiny_dataset.features_dir, video_id + '.npy'),
                str(features_dir))
  output = str(tmp_path / 'detections.json')
  plots = tmp_path / 'timelines'
  # The parent of the version folder: infer picks the newest version.
  result = util.run_tool('infer.py', *_infer_flags(
      exported_model, features_dir, output, '--plot=%s' % plots))
  assert result.returncode == 0, util.describe(result)
  assert not os.path.exists(output + '.tmp')

  with open(output) as f:
    results = json.load(f)['results']
  assert sorted(results) == video_ids
  class_names = set(label_map_util.get_label_map_dict(
      tiny_dataset.label_map))
  for video_id in video_ids:
    assert results[video_id], video_id
    for detection in results[video_id]:
      assert detection['label'] in class_names
      assert 0.0 <= detection['score'] <= 1.0
      assert detection['segment'][1] > detection['segment'][0]
    with open(str(plots / (video_id + '.png')), 'rb') as f:
      assert f.read(8) == _PNG_MAGIC

  # The json holds exactly what the SavedModel returns (unrounded float32:
  # rounding moved tIoUs across thresholds and tied scores), with names.
  video_id = video_ids[0]
  features = np.load(os.path.join(tiny_dataset.features_dir, video_id + '.npy'))
  signature = tf.saved_model.load(os.path.join(
      exported_model, '1')).signatures['serving_default']
  outputs = signature(
      features_rgb=tf.constant(features[None, :, :util.STREAM_DIM]),
      features_flow=tf.constant(features[None, :, util.STREAM_DIM:]),
      num_steps=tf.constant([features.shape[0]]),
      fps=tf.constant([util.FPS]),
      stride_frames=tf.constant([float(util.STRIDE_FRAMES)]),
      offset_frames=tf.constant([util.OFFSET_FRAMES]))
  count = int(outputs['num_detections'][0])
  id_to_name = label_map_util.get_label_map_id_to_name(tiny_dataset.label_map)
  assert len(results[video_id]) == count
  np.testing.assert_array_equal(
      np.float32([d['segment'] for d in results[video_id]]),
      outputs['detection_segments'][0, :count].numpy())
  np.testing.assert_array_equal(
      np.float32([d['score'] for d in results[video_id]]),
      outputs['detection_scores'][0, :count].numpy())
  assert [d['label'] for d in results[video_id]] == [
      id_to_name[int(c)] for c in outputs['detection_classes'][0, :count]]

  evaluation = util.run_tool(
      'evaluate_detections.py',
      '--groundtruth=%s' % tiny_dataset.annotations_json,
      '--detections=%s' % output, '--subset=test')
  assert evaluation.returncode == 0, util.describe(evaluation)
  metrics = json.loads(evaluation.stdout)
  assert sorted(metrics['mAP']) == ['0.1', '0.2', '0.3', '0.4', '0.5', '0.6',
                                    '0.7']
  for value in list(metrics['mAP'].values()) + [metrics['average_mAP']]:
    assert 0.0 <= value <= 1.0
  np.testing.assert_allclose(metrics['average_mAP'],
                             np.mean(list(metrics['mAP'].values())), atol=1e-9)


@pytest.mark.slow
def test_infer_missing_features_path_fails_with_one_line(exported_model,
                                                         tmp_path):
  missing = str(tmp_path / 'no_such_features')
  output = str(tmp_path / 'detections.json')
  result = util.run_tool('infer.py', *_infer_flags(exported_model, missing,
                                                   output))
  _assert_one_line_error(result, missing)
  assert not os.listdir(str(tmp_path))  # no output, no temporary file


@pytest.mark.slow
def test_infer_wrong_feature_width_fails_with_one_line(exported_model,
                                                       tmp_path):
  features_dir = tmp_path / 'features'
  features_dir.mkdir()
  # The exported streams need 2 x 16 columns.
  np.save(str(features_dir / 'narrow_video.npy'),
          np.zeros((12, 2 * util.STREAM_DIM - 3), np.float32))
  output = str(tmp_path / 'detections.json')
  result = util.run_tool('infer.py', *_infer_flags(exported_model,
                                                   features_dir, output))
  _assert_one_line_error(result, 'narrow_video')
  assert sorted(os.listdir(str(tmp_path))) == ['features']


def _run_infer(*flags):
  result = util.run_tool('infer.py', *flags)
  assert result.returncode == 0, util.describe(result)
  return result


@pytest.mark.slow
def test_infer_defaults_to_the_exports_time_base_and_per_video_fps(
    exported_model, tiny_dataset, tmp_path):
  video_id = tiny_dataset.test_video_ids()[0]
  features = os.path.join(tiny_dataset.features_dir, video_id + '.npy')
  common = ['--saved_model_dir=%s' % exported_model, '--features=%s' % features]
  explicit = str(tmp_path / 'explicit.json')
  _run_infer(*_infer_flags(exported_model, features, explicit))
  # No time flags: time_base.json (written from the training records) says
  # 10 fps, stride 16, window 16, the same as the explicit flags.
  defaulted = str(tmp_path / 'defaulted.json')
  picture = str(tmp_path / 'timeline.png')
  result = _run_infer(*common + [
      '--output=%s' % defaulted, '--plot=%s' % picture,
      '--groundtruth=%s' % tiny_dataset.annotations_json, '--plot_top_k=5'])
  assert 'time base: 10 fps (first training record' in result.stderr
  with open(explicit) as f:
    expected = json.load(f)['results'][video_id]
  with open(defaulted) as f:
    assert json.load(f)['results'][video_id] == expected
  with open(picture, 'rb') as f:
    assert f.read(8) == _PNG_MAGIC
  # A json giving this video twice the frame rate halves every time.
  annotations = {'database': {video_id: {'subset': 'test', 'fps': 2 * util.FPS,
                                         'annotations': []}}}
  annotations_path = tmp_path / 'annotations.json'
  annotations_path.write_text(json.dumps(annotations))
  faster = str(tmp_path / 'faster.json')
  _run_infer(*common + ['--output=%s' % faster,
                        '--annotations_json=%s' % annotations_path])
  with open(faster) as f:
    halved = json.load(f)['results'][video_id]
  assert len(halved) == len(expected)
  np.testing.assert_allclose([d['segment'] for d in halved],
                             [[s / 2 for s in d['segment']] for d in expected],
                             rtol=1e-6)
  # A json without this video's fps: the default time base, and a warning.
  annotations['database'][video_id].pop('fps')
  annotations_path.write_text(json.dumps(annotations))
  unlisted = str(tmp_path / 'unlisted.json')
  result = _run_infer(*common + ['--output=%s' % unlisted,
                                 '--annotations_json=%s' % annotations_path])
  assert ('infer: warning: --annotations_json: 1 videos have no "fps" there '
          '(%s); they use 10 fps' % video_id) in result.stderr
  with open(unlisted) as f:
    assert json.load(f)['results'][video_id] == expected

  # Raw features at twice the model's rate (stride and window 8 frames, each
  # record feature's frames split in two): --resample_* gives the model back
  # its own features, so exactly its detections.
  raw = tmp_path / 'raw'
  raw.mkdir()
  np.save(str(raw / (video_id + '.npy')), np.repeat(np.load(features), 2, 0))
  raw_features = '--features=%s' % (raw / (video_id + '.npy'))
  resampled = str(tmp_path / 'resampled.json')
  result = _run_infer(
      '--saved_model_dir=%s' % exported_model, raw_features,
      '--output=%s' % resampled, '--stride_frames=8', '--window_frames=8',
      '--resample_stride_frames=%d' % util.STRIDE_FRAMES,
      '--resample_window_frames=%d' % util.WINDOW_FRAMES)
  assert 'warning' not in result.stderr
  with open(resampled) as f:
    assert json.load(f)['results'][video_id] == expected
  # The same raw features read at the export's time base: twice the steps
  # the video's annotated duration gives, which the warning names.
  misread = str(tmp_path / 'misread.json')
  result = _run_infer(
      '--saved_model_dir=%s' % exported_model, raw_features,
      '--output=%s' % misread,
      '--annotations_json=%s' % tiny_dataset.annotations_json)
  assert ('infer: warning: --annotations_json: 1 videos have more or fewer '
          'feature steps than their duration gives at stride 16 and window 16 '
          'frames (%s)' % video_id) in result.stderr


@pytest.mark.slow
def test_infer_without_a_time_base_asks_for_the_flags(exported_model,
                                                      tiny_dataset, tmp_path):
  copy = tmp_path / 'export'
  shutil.copytree(exported_model, str(copy))
  os.remove(str(copy / 'time_base.json'))
  video_id = tiny_dataset.test_video_ids()[0]
  output = str(tmp_path / 'detections.json')
  result = util.run_tool(
      'infer.py', '--saved_model_dir=%s' % copy, '--output=%s' % output,
      '--features=%s' % os.path.join(tiny_dataset.features_dir,
                                     video_id + '.npy'))
  _assert_one_line_error(result, '--fps', 'time_base.json')
  assert not os.path.exists(output)


def test_time_base_mismatch_compares_with_what_the_model_was_trained_on(
    tmp_path):
  none = feature_util.Resampling()
  # No time_base.json: nothing to compare with.
  assert inference_util.time_base_mismatch(str(tmp_path), none, 4, 16) is None
  (tmp_path / 'time_base.json').write_text(json.dumps(
      {'fps': 30.0, 'stride_frames': 48.0, 'window_frames': 48.0}))
  assert inference_util.time_base_mismatch(str(tmp_path), none, 48, 48) is None
  assert inference_util.time_base_mismatch(str(tmp_path), none, 4, 16) == (
      'the model was trained on features every 48 frames over 48-frame '
      'windows (time_base.json), these are every 4 over 16: resample them as '
      'its records were (--resample_stride_frames=48 '
      '--resample_window_frames=48 from the features as extracted), or the '
      'detections are at the wrong rate')
  # After resampling to the model's rate: fine; to another: named as such.
  to_48 = feature_util.Resampling(stride_frames=48.0, window_frames=48.0)
  assert inference_util.time_base_mismatch(str(tmp_path), to_48, 4, 16) is None
  to_32 = feature_util.Resampling(stride_frames=32.0, window_frames=48.0)
  assert 'these are every 32 over 48 after resampling' in (
      inference_util.time_base_mismatch(str(tmp_path), to_32, 4, 16))
  # A fixed number of steps gives each video its own time base.
  to_128 = feature_util.Resampling(num_steps=128)
  assert inference_util.time_base_mismatch(str(tmp_path), to_128, 4,
                                           16) is None


def test_steps_fit_duration_needs_a_duration():
  entry = annotation_util.VideoAnnotation('v', 'test', 100.0, 10.0, [], {}, [])
  assert inference_util.steps_fit_duration(100, entry, 10.0, 10.0, 10.0)
  assert not inference_util.steps_fit_duration(200, entry, 10.0, 10.0, 10.0)
  assert inference_util.steps_fit_duration(200, None, 10.0, 10.0, 10.0)
  assert inference_util.steps_fit_duration(
      200, entry._replace(duration=None), 10.0, 10.0, 10.0)
