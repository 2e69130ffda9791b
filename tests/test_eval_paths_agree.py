"""One answer from every evaluation path, on real THUMOS'14 segment times.

A few real videos of tal_detection/data/thumos14_groundtruth.json (their
durations, frame rates and segments) chosen for what broke the agreement:

  video_test_0000270, video_test_0000814  instances starting after the json's
      duration (22 of 29 and 3 of 11; the converter used to drop them, so the
      Estimator scored against less ground truth than the json scorer);
  video_test_0001281, video_test_0000591  29.97 fps;
  video_validation_0000411                24 fps, 810 s (607 steps: longer than
                                          max_train_length);
  video_test_0001459                      25 fps, 815 s;
  video_test_0000004                      actions of 0.5-0.9 s, shorter than
                                          one feature step (1.07 s).

Features (random, plus a class cue over each action) cover every annotated
action, as features of the whole video do when the json's duration is the
short one, at stride = window = 32 frames of each video's own fps. They are
converted by the converter (fps per video from the json) into 2 shards (so
the eval input is not in video-id order), a tiny model is trained by
tools/model_main.py, evaluated with batches of 2 (padding), and then:

  1. model_main's own evaluation, <model_dir>/eval/metrics_<step>.json;
  2. Estimator.predict on the eval records -> results json -> scored by
     tools/evaluate_detections.py;
  3. the SavedModel through tools/infer.py --annotations_json (per-video fps)
     -> scored by tools/evaluate_detections.py;
  4. proposals of 2 scored by evaluate_detections.py --proposals against 1's AR;

must give the same mAP at every tIoU (and AR@AN) to 1e-4.
"""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tal_detection import model_lib
from tal_detection.dataset_tools import create_tal_tf_record_lib
from tal_detection.dataset_tools import feature_util
from tal_detection.metrics import metric_names
from tal_detection.utils import label_map_util

import model_lib_test_util as util

_GROUNDTRUTH = os.path.join(util.REPO_ROOT, 'tal_detection', 'data',
                            'thumos14_groundtruth.json')
_VIDEOS = ('video_test_0000270', 'video_test_0000814', 'video_test_0001281',
           'video_test_0000591', 'video_validation_0000411',
           'video_test_0001459', 'video_test_0000004')
_STREAMS = ('rgb', 'flow')
_DIM = 8
_STRIDE_FRAMES = 32
_WINDOW_FRAMES = 32
_TRAIN_STEPS = 40
_TIOU_THRESHOLDS = ('0.1', '0.2', '0.3', '0.4', '0.5', '0.6', '0.7')
_AN_VALUES = ('10', '20', '50', '100', '200')
_TOLERANCE = 1e-4


def _write_dataset(root):
  """Annotations json, features and 2 record shards; the converter's summary."""
  with open(_GROUNDTRUTH) as f:
    database = json.load(f)['database']
  chosen = {video_id: dict(database[video_id], subset='test')
            for video_id in _VIDEOS}
  classes = sorted({a['label'] for entry in chosen.values()
                    for a in entry['annotations']})
  rng = np.random.default_rng(0)
  cues = 3.0 * rng.standard_normal((len(classes), len(_STREAMS) * _DIM))
  features_dir = os.path.join(root, 'features')
  os.makedirs(features_dir)
  for video_id, entry in chosen.items():
    fps = entry['fps']
    extent = max([entry['duration']] +
                 [a['segment'][1] for a in entry['annotations']])
    num_steps = feature_util.expected_num_steps(extent, fps, _STRIDE_FRAMES,
                                                _WINDOW_FRAMES)
    window_start = np.arange(num_steps) * _STRIDE_FRAMES / fps
    window_seconds = _WINDOW_FRAMES / fps
    features = rng.standard_normal((num_steps, len(_STREAMS) * _DIM))
    for annotation in entry['annotations']:
      start, end = annotation['segment']
      overlap = np.clip(np.minimum(end, window_start + window_seconds) -
                        np.maximum(start, window_start), 0.0, None)
      features += (overlap / window_seconds)[:, None] * cues[
          classes.index(annotation['label'])]
    np.save(os.path.join(features_dir, video_id + '.npy'),
            features.astype(np.float32))
  annotations_json = os.path.join(root, 'annotations.json')
  with open(annotations_json, 'w') as f:
    json.dump({'database': chosen}, f)
  summary = create_tal_tf_record_lib.create_tf_record(
      features_dir=features_dir,
      output_path=os.path.join(root, 'records', 'test.record'),
      label_map_path=os.path.join(root, 'records', 'label_map.pbtxt'),
      annotations_json=annotations_json, subset='test',
      stream_names=_STREAMS, stream_dims=(_DIM, _DIM),
      stride_frames=_STRIDE_FRAMES, window_frames=_WINDOW_FRAMES,
      num_shards=2)
  return annotations_json, features_dir, summary


def _config_override(num_classes):
  streams = ' '.join('streams { name: "%s" feature_dim: %d }' % (name, _DIM)
                     for name in _STREAMS)
  return (
      'model { tal_net { num_classes: %d %s feature_reduction_depth: 16 '
      'segment_proposal_network { depth: 16 } second_stage_fc_depth: 16 '
      'max_train_length: 256 } } '
      'train_config { num_steps: %d save_checkpoints_steps: %d '
      'log_every_n_steps: %d save_summary_steps: %d } '
      'eval_config { batch_size: 2 num_visualizations: 0 }' % (
          num_classes, streams, _TRAIN_STEPS, _TRAIN_STEPS, _TRAIN_STEPS,
          _TRAIN_STEPS))


def _run(script, *args):
  result = util.run_tool(script, *args)
  assert result.returncode == 0, util.describe(result)
  return result


def _evaluate(annotations_json, results_json, *extra):
  return json.loads(_run('evaluate_detections.py',
                         '--groundtruth=%s' % annotations_json,
                         '--detections=%s' % results_json, '--subset=test',
                         *extra).stdout)


def _predict_results(model_dir, class_names):
  """Estimator.predict over the eval records: (detections, proposals) json
  results dicts, videos in id order."""
  run_dir = os.path.join(os.path.dirname(model_dir), 'predict')
  parts = model_lib.create_estimator_and_inputs(
      run_dir, os.path.join(model_dir, 'pipeline.config'), eval_only=True)
  eval_input_fn = parts['eval_input_fn']
  # The order predict reads the videos in (2 shards: not the id order).
  video_ids = [video_id.decode('utf-8') for features, _ in eval_input_fn()
               for video_id in features['video_id'].numpy()]
  detections, proposals = {}, {}
  for video_id, output in zip(video_ids, parts['estimator'].predict(
      eval_input_fn, checkpoint_path=tf.train.latest_checkpoint(model_dir))):
    count = int(output['num_detections'])
    detections[video_id] = [
        {'label': class_names[int(c)], 'score': float(p),
         'segment': [float(s), float(e)]}
        for (s, e), c, p in zip(output['detection_segments'][:count],
                                output['detection_classes'][:count],
                                output['detection_scores'][:count])]
    count = int(output['num_proposals'])
    proposals[video_id] = [
        {'score': float(p), 'segment': [float(s), float(e)]}
        for (s, e), p in zip(output['proposal_segments'][:count],
                             output['proposal_scores'][:count])]
  assert sorted(video_ids) == sorted(_VIDEOS) and video_ids != sorted(_VIDEOS)
  return ({'results': dict(sorted(detections.items()))},
          {'results': dict(sorted(proposals.items()))})


@pytest.mark.slow
def test_estimator_eval_predict_and_exported_model_give_one_map(tmp_path):
  root = str(tmp_path)
  annotations_json, features_dir, summary = _write_dataset(root)
  # Every annotated instance is in the records, also the 25 starting after
  # their video's json duration.
  assert summary.num_instances == sum(
      len(json.load(open(annotations_json))['database'][v]['annotations'])
      for v in _VIDEOS)
  assert summary.num_wholly_outside == 25
  label_map = os.path.join(root, 'records', 'label_map.pbtxt')
  class_names = label_map_util.get_label_map_id_to_name(label_map)

  # 1. model_main: train, then its evaluation writes metrics_<step>.json.
  model_dir = os.path.join(root, 'model')
  records = os.path.join(root, 'records', 'test.record-*')
  _run('model_main.py',
       '--pipeline_config_path=%s' % util.PIPELINE_CONFIG,
       '--model_dir=%s' % model_dir,
       '--config_override=%s' % _config_override(len(class_names)),
       '--train_input_path=%s' % records, '--eval_input_path=%s' % records,
       '--label_map_path=%s' % label_map)
  with open(os.path.join(model_dir, 'eval',
                         'metrics_%d.json' % _TRAIN_STEPS)) as f:
    estimator_metrics = json.load(f)

  # 2. Estimator.predict -> results json -> evaluate_detections.py.
  detections, proposals = _predict_results(model_dir, class_names)
  predict_json = os.path.join(root, 'predict_detections.json')
  proposals_json = os.path.join(root, 'predict_proposals.json')
  for path, content in ((predict_json, detections),
                        (proposals_json, proposals)):
    with open(path, 'w') as f:
      json.dump(content, f)
  predicted = _evaluate(annotations_json, predict_json)
  proposal_metrics = _evaluate(annotations_json, proposals_json,
                               '--proposals', '--an=%s' % ','.join(_AN_VALUES))

  # 3. export -> infer.py (fps per video from the json) -> evaluate.
  export_dir = os.path.join(root, 'exported')
  _run('export_saved_model.py',
       '--pipeline_config_path=%s' % os.path.join(model_dir,
                                                  'pipeline.config'),
       '--checkpoint_dir=%s' % model_dir, '--output_directory=%s' % export_dir)
  infer_json = os.path.join(root, 'infer_detections.json')
  _run('infer.py', '--saved_model_dir=%s' % export_dir,
       '--features=%s' % features_dir,
       '--annotations_json=%s' % annotations_json, '--output=%s' % infer_json)
  inferred = _evaluate(annotations_json, infer_json)

  # The exported model finds what the Estimator finds, video by video.
  with open(infer_json) as f:
    infer_results = json.load(f)['results']
  assert list(infer_results) == sorted(_VIDEOS)
  for video_id in _VIDEOS:
    expected = detections['results'][video_id]
    assert expected, video_id
    assert [d['label'] for d in infer_results[video_id]] == [
        d['label'] for d in expected]
    np.testing.assert_allclose(
        [d['segment'] + [d['score']] for d in infer_results[video_id]],
        [d['segment'] + [d['score']] for d in expected], rtol=0, atol=1e-5)

  assert predicted['num_groundtruth'] == summary.num_instances
  estimator_map = [estimator_metrics[metric_names.detection_map(float(t))]
                   for t in _TIOU_THRESHOLDS]
  assert estimator_map[0] > 0.01  # a non-degenerate ranking to compare
  for scored in (predicted, inferred):
    np.testing.assert_allclose(
        [scored['mAP'][t] for t in _TIOU_THRESHOLDS], estimator_map,
        rtol=0, atol=_TOLERANCE)
    np.testing.assert_allclose(
        scored['average_mAP'],
        estimator_metrics[metric_names.AVERAGE_MAP], rtol=0, atol=_TOLERANCE)
  np.testing.assert_allclose(
      [proposal_metrics['AR'][an] for an in _AN_VALUES],
      [estimator_metrics[metric_names.proposal_ar(int(an))]
       for an in _AN_VALUES], rtol=0, atol=_TOLERANCE)
