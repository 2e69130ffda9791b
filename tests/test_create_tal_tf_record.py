"""Tests of the converter: tools/create_tal_tf_record.py and its library.

Round trips (npy + json / THUMOS txt -> records -> decoded tensors) run in
process; every bad input runs the tool itself in a subprocess (all at once, in
parallel) and checks its one error line, exit code and that nothing is left at
the output location.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tal_detection import inputs
from tal_detection.core import standard_fields
from tal_detection.dataset_tools import create_tal_tf_record_lib
from tal_detection.dataset_tools import feature_util
from tal_detection.utils import label_map_util
from tal_detection.utils import time_util

import tal_data_test_util as util

_INPUT = standard_fields.InputDataFields
TOOL = os.path.join(util.REPO_ROOT, 'tools', 'create_tal_tf_record.py')
COMMON = dict(stream_names=util.STREAM_NAMES, stream_dims=util.STREAM_DIMS,
              stride_frames=util.STRIDE_FRAMES,
              window_frames=util.WINDOW_FRAMES)


def _expected_segments(entry):
  """Segments (seconds) the converter keeps: every one, as annotated."""
  return [(list(annotation['segment']), annotation['label'])
          for annotation in entry['annotations']]


def _check_round_trip(decoded, database, all_features, label_map_path):
  name_to_id = label_map_util.get_label_map_dict(label_map_path)
  assert sorted(decoded) == sorted(database)
  for video_id, entry in database.items():
    record = decoded[video_id]
    for name in util.STREAM_NAMES:
      np.testing.assert_array_equal(
          record[_INPUT.features_key(name)],
          all_features[video_id][name].astype(np.float32))
    expected = _expected_segments(entry)
    np.testing.assert_allclose(
        record[_INPUT.groundtruth_segments_seconds],
        np.array([s for s, _ in expected]).reshape([-1, 2]), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(record[_INPUT.groundtruth_classes],
                                  [name_to_id[label] for _, label in expected])
    np.testing.assert_allclose(record[_INPUT.fps], entry['fps'], rtol=1e-6)
    np.testing.assert_allclose(record[_INPUT.duration], entry['duration'],
                               rtol=1e-6)
    assert record[_INPUT.stride_frames] == util.STRIDE_FRAMES
    assert record[_INPUT.offset_frames] == util.WINDOW_FRAMES / 2
    assert record[_INPUT.num_steps] == record['features/rgb'].shape[0]


def test_concat_float32_round_trip_and_summary(tmp_path):
  json_path, features_dir, all_features = util.make_json_dataset(
      str(tmp_path / 'in'), layout='concat', dtype=np.float32)
  label_map_path = str(tmp_path / 'out' / 'label_map.pbtxt')
  output_path = str(tmp_path / 'out' / 'train.tfrecord')
  summary = create_tal_tf_record_lib.create_tf_record(
      features_dir, output_path, label_map_path, annotations_json=json_path,
      subset='Validation', feature_layout='concat', **COMMON)
  # Ids follow the json's label_id order, over every subset.
  assert label_map_util.get_label_map_dict(label_map_path) == {
      'CleanAndJerk': 1, 'CliffDiving': 2, 'Diving': 3, 'HighJump': 4}
  validation = {k: v for k, v in util.DATABASE.items()
                if v['subset'] == 'Validation'}
  _check_round_trip(util.decode_records(output_path), validation, all_features,
                    label_map_path)
  assert summary.num_videos == 3
  # video_validation_0000364: one segment reaches past the end, two start
  # after it (real THUMOS'14 annotations); all are kept as annotated.
  assert summary.num_instances == 1 + 3 + 6
  assert summary.num_partly_outside == 1 and summary.num_wholly_outside == 2
  assert summary.partly_outside_videos == ['video_validation_0000364']
  assert summary.wholly_outside_videos == ['video_validation_0000364']
  assert summary.summary_line() == (
      'Wrote 3 videos, 10 instances, 2 classes (of 4 in label map %s, new) '
      'to %s; kept as annotated 1 segments reaching outside the video '
      '(video_validation_0000364) and 2 lying wholly outside it '
      '(video_validation_0000364); skipped 0 Ambiguous segments; skipped 1 '
      'videos of other subsets.' % (label_map_path, output_path))
  assert util.listing(str(tmp_path / 'out')) == ['label_map.pbtxt',
                                                 'train.tfrecord']


def test_separate_float16_sharded_round_trip_with_existing_label_map(
    tmp_path):
  json_path, features_dir, all_features = util.make_json_dataset(
      str(tmp_path / 'in'), layout='separate', dtype=np.float16)
  label_map_path = str(tmp_path / 'label_map.pbtxt')
  label_map_util.save_label_map(
      ['HighJump', 'Diving', 'Other', 'CliffDiving', 'CleanAndJerk'],
      label_map_path)
  output_path = str(tmp_path / 'out' / 'all')
  summary = create_tal_tf_record_lib.create_tf_record(
      features_dir, output_path, label_map_path, annotations_json=json_path,
      feature_layout='separate', num_shards=3, **COMMON)
  assert not summary.label_map_written
  assert summary.num_classes == 4 and summary.num_label_map_classes == 5
  assert util.listing(str(tmp_path / 'out')) == [
      'all-00000-of-00003', 'all-00001-of-00003', 'all-00002-of-00003']
  decoded = util.decode_records(output_path + '-*')
  _check_round_trip(decoded, util.DATABASE, all_features, label_map_path)
  np.testing.assert_array_equal(
      decoded['video_test_0000785'][_INPUT.groundtruth_classes], [2, 4])
  assert 'skipped 3 videos' not in summary.summary_line()
  assert '3 shards %s-?????-of-00003' % output_path in summary.summary_line()


def test_thumos_txt_round_trip(tmp_path):
  num_steps = {'video_validation_0000051': 1200,
               'video_validation_0000052': 200,
               'video_validation_0000151': 250,
               'video_validation_0000154': 390}
  features_dir = str(tmp_path / 'features')
  all_features = {}
  for video_id, steps in num_steps.items():
    all_features[video_id] = util.random_features(video_id, steps)
    util.write_features(features_dir, video_id, all_features[video_id],
                        'concat')
  label_map_path = str(tmp_path / 'label_map.pbtxt')
  output_path = str(tmp_path / 'val.tfrecord')
  summary = create_tal_tf_record_lib.create_tf_record(
      features_dir, output_path, label_map_path,
      thumos_annotation_dir=util.THUMOS_TXT_DIR, subset='val', fps=30.0,
      **COMMON)
  assert label_map_util.get_label_map_dict(label_map_path) == {
      'Billiards': 1, 'CleanAndJerk': 2, 'CliffDiving': 3, 'Diving': 4}
  assert summary.num_videos == 4 and summary.num_instances == 8
  assert summary.num_ambiguous_skipped == 2
  decoded = util.decode_records(output_path)
  # Durations come from the features: ((T - 1) * stride + window) / fps.
  database = {}
  for video_id, steps in num_steps.items():
    duration = ((steps - 1) * util.STRIDE_FRAMES + util.WINDOW_FRAMES) / 30.0
    database[video_id] = {'duration': duration, 'fps': 30.0,
                          'annotations': []}
  for filename in ('Billiards_val.txt', 'CleanAndJerk_val.txt'):
    label = filename.split('_')[0]
    with open(os.path.join(util.THUMOS_TXT_DIR, filename)) as f:
      for line in f:
        video_id, start, end = line.split()
        database[video_id]['annotations'].append(
            {'label': label, 'segment': [float(start), float(end)]})
  for entry in database.values():
    entry['annotations'].sort(key=lambda a: a['segment'])
  _check_round_trip(decoded, database, all_features, label_map_path)
  np.testing.assert_allclose(
      decoded['video_validation_0000051'][_INPUT.groundtruth_segments_seconds],
      [[67.5, 75.9], [85.9, 90.6], [139.3, 148.2]], rtol=0, atol=1e-6)
  # Ambiguous_val.txt: kept as the record's own field, never a class; the video
  # with only Ambiguous segments (0000099) is still not written.
  np.testing.assert_array_equal(
      decoded['video_validation_0000051'][
          _INPUT.groundtruth_ambiguous_segments_seconds], [[100.0, 101.5]])
  assert decoded['video_validation_0000052'][
      _INPUT.groundtruth_ambiguous_segments_seconds].shape == (0, 2)
  assert 'video_validation_0000099' not in decoded


def test_json_ambiguous_annotations_become_the_ambiguous_field(tmp_path):
  database = {'v1': {'subset': 'Test', 'duration': 40.0, 'fps': 30.0,
                     'annotations': [
                         {'label': 'Jump', 'segment': [1.0, 5.0]},
                         {'label': 'Ambiguous', 'segment': [7.25, 9.5]}]}}
  json_path = str(tmp_path / 'gt.json')
  with open(json_path, 'w') as f:
    json.dump({'database': database}, f)
  features_dir = str(tmp_path / 'features')
  util.write_features(features_dir, 'v1', util.random_features('v1', 300),
                      'concat')
  label_map_path = str(tmp_path / 'label_map.pbtxt')
  output_path = str(tmp_path / 'test.tfrecord')
  create_tal_tf_record_lib.create_tf_record(
      features_dir, output_path, label_map_path, annotations_json=json_path,
      subset='Test', **COMMON)
  assert label_map_util.get_label_map_dict(label_map_path) == {'Jump': 1}
  decoded = util.decode_records(output_path)['v1']
  np.testing.assert_array_equal(decoded[_INPUT.groundtruth_classes], [1])
  np.testing.assert_array_equal(
      decoded[_INPUT.groundtruth_ambiguous_segments_seconds], [[7.25, 9.5]])


def test_unknown_label_in_library_leaves_nothing(tmp_path):
  json_path, features_dir, _ = util.make_json_dataset(str(tmp_path / 'in'))
  label_map_path = str(tmp_path / 'label_map.pbtxt')
  label_map_util.save_label_map(['CleanAndJerk'], label_map_path)
  with pytest.raises(ValueError, match="video video_test_0000785: label "
                     "'Diving' is not in label map"):
    create_tal_tf_record_lib.create_tf_record(
        features_dir, str(tmp_path / 'out' / 'x.tfrecord'), label_map_path,
        annotations_json=json_path, **COMMON)
  assert not os.path.exists(tmp_path / 'out')


# --- the tool itself, bad inputs in parallel subprocesses -------------------


def _flags(root, **overrides):
  values = {
      'annotations_json': os.path.join(root, 'in', 'annotations.json'),
      'features_dir': os.path.join(root, 'in', 'features'),
      'stream_names': ','.join(util.STREAM_NAMES),
      'stream_dims': ','.join(map(str, util.STREAM_DIMS)),
      'label_map_path': os.path.join(root, 'out', 'label_map.pbtxt'),
      'output_path': os.path.join(root, 'out', 'records', 'x.tfrecord'),
      'num_shards': '2',
  }
  values.update(overrides)
  return ['--%s=%s' % (k, v) for k, v in values.items() if v is not None]


def _setup_cases(base):
  """{case: (argv, fragments the error line must hold)}; files prepared."""
  cases = {}

  def new_case(name, database=None):
    root = os.path.join(base, name)
    util.make_json_dataset(os.path.join(root, 'in'), database=database)
    os.makedirs(os.path.join(root, 'out'))
    return root

  root = new_case('missing_feature')
  path = os.path.join(root, 'in', 'features', 'video_validation_0000154.npy')
  os.remove(path)
  cases['missing_feature'] = (_flags(root), [path, 'does not exist'])

  root = new_case('unreadable_feature')
  path = os.path.join(root, 'in', 'features', 'video_validation_0000154.npy')
  with open(path, 'wb') as f:
    f.write(b'garbage, not numpy')
  cases['unreadable_feature'] = (_flags(root), [path, 'cannot read'])

  root = new_case('wrong_shape')
  path = os.path.join(root, 'in', 'features', 'video_test_0000785.npy')
  np.save(path, np.zeros((10, 7), np.float32))
  cases['wrong_shape'] = (_flags(root),
                          [path, 'shape [10, 7]; expected [T, 8]'])

  root = new_case('nan_feature')
  path = os.path.join(root, 'in', 'features', 'video_validation_0000151.npy')
  values = np.load(path)
  values[3, 1] = np.nan
  np.save(path, values)
  cases['nan_feature'] = (_flags(root), [path, 'NaN/Inf', 'step 3'])

  database = json.loads(json.dumps(util.DATABASE))
  database['video_validation_0000154']['annotations'][1]['segment'] = [13.0,
                                                                       13.0]
  root = new_case('end_before_start', database)
  cases['end_before_start'] = (_flags(root), [
      'video_validation_0000154', '[13, 13]', 'end <= start'])

  root = new_case('label_not_in_map')
  label_map_util.save_label_map(['CleanAndJerk', 'Diving', 'CliffDiving'],
                                os.path.join(root, 'label_map.pbtxt'))
  cases['label_not_in_map'] = (
      _flags(root, label_map_path=os.path.join(root, 'label_map.pbtxt')),
      ['video_validation_0000364', "'HighJump'", 'not in label map'])

  database = {'tiny_video': {
      'subset': 'Validation', 'duration': 0.1, 'fps': 30.0,
      'annotations': [{'label': 'Diving', 'segment': [0.0, 0.05]}]}}
  root = new_case('too_short', database)
  np.save(os.path.join(root, 'in', 'features', 'tiny_video.npy'),
          np.zeros((1, 8), np.float32))
  cases['too_short'] = (_flags(root), [
      'tiny_video', 'shorter than one feature step'])

  root = new_case('no_annotations')
  cases['no_annotations'] = (_flags(root, annotations_json=None), [
      'give exactly one of --annotations_json and --thumos_annotation_dir'])

  root = new_case('thumos_without_fps')
  cases['thumos_without_fps'] = (
      _flags(root, annotations_json=None,
             thumos_annotation_dir=util.THUMOS_TXT_DIR),
      ['--fps is required with --thumos_annotation_dir'])

  root = new_case('resample_stride_without_window')
  cases['resample_stride_without_window'] = (
      _flags(root, resample_stride_frames='48'),
      ['--resample_stride_frames and --resample_window_frames go together'])

  root = new_case('resample_both_modes')
  cases['resample_both_modes'] = (
      _flags(root, resample_stride_frames='48', resample_window_frames='48',
             resample_num_steps='16'),
      ['--resample_num_steps and --resample_stride_frames/'
       '--resample_window_frames exclude each other'])

  root = new_case('resample_negative_window')
  cases['resample_negative_window'] = (
      _flags(root, resample_stride_frames='48', resample_window_frames='-1'),
      ['must be positive, got 48 and -1'])

  root = new_case('ok_with_clipping')
  cases['ok_with_clipping'] = (_flags(root, subset='Validation'), None)
  return cases


@pytest.fixture(scope='module')
def tool_runs(tmp_path_factory):
  base = str(tmp_path_factory.mktemp('tool'))
  cases = _setup_cases(base)
  env = dict(os.environ, PYTHONHASHSEED='0')
  processes = {
      name: subprocess.Popen([sys.executable, TOOL] + argv,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env, text=True)
      for name, (argv, _) in cases.items()}
  results = {}
  for name, process in processes.items():
    stdout, stderr = process.communicate(timeout=300)
    results[name] = (process.returncode, stdout, stderr, cases[name][1],
                     os.path.join(base, name))
  yield results
  shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize('case', [
    'missing_feature', 'unreadable_feature', 'wrong_shape', 'nan_feature',
    'end_before_start', 'label_not_in_map', 'too_short', 'no_annotations',
    'thumos_without_fps', 'resample_stride_without_window',
    'resample_both_modes', 'resample_negative_window'])
def test_bad_input_gives_one_line_and_no_output(tool_runs, case):
  returncode, stdout, stderr, fragments, root = tool_runs[case]
  assert returncode == 1, stderr
  assert 'Traceback' not in stderr
  lines = stderr.strip().splitlines()
  error_lines = [line for line in lines if 'error' in line.lower()]
  assert len(error_lines) == 1, stderr
  assert lines[-1] == error_lines[0]
  assert lines[-1].startswith('create_tal_tf_record: error: ')
  for fragment in fragments:
    assert fragment in lines[-1]
  assert stdout == ''
  # Nothing written: no records, label map, temporary file, or created folder.
  assert os.listdir(os.path.join(root, 'out')) == []


def test_segments_outside_the_video_warn_and_are_kept(tool_runs):
  returncode, stdout, stderr, _, root = tool_runs['ok_with_clipping']
  assert returncode == 0, stderr
  assert ('video video_validation_0000364: 1 segments reach outside the video '
          '[0, 112.64] s and 2 lie wholly outside it; kept as annotated') in (
              stderr)
  assert stdout.startswith('Wrote 3 videos, 10 instances, 2 classes')
  assert ('kept as annotated 1 segments reaching outside the video '
          '(video_validation_0000364) and 2 lying wholly outside it') in stdout
  assert util.listing(os.path.join(root, 'out')) == [
      'label_map.pbtxt', 'records/x.tfrecord-00000-of-00002',
      'records/x.tfrecord-00001-of-00002']


def test_segments_outside_the_video_are_kept_for_evaluation_only(tmp_path):
  # Records hold the annotation exactly (what evaluate_detections scores);
  # the input pipeline clips to the features and drops what lies outside.
  database = {
      'video_a': {'subset': 'Validation', 'duration': 30.0, 'fps': 30.0,
                  'annotations': [
                      {'label': 'Diving', 'segment': [-12.0, -10.0]},
                      {'label': 'Diving', 'segment': [-5.0, 0.0]},
                      {'label': 'Diving', 'segment': [-2.0, 3.0]},
                      {'label': 'Diving', 'segment': [4.0, 9.0]},
                      {'label': 'Diving', 'segment': [28.5, 31.0]},
                      {'label': 'Diving', 'segment': [33.0, 35.0]}]}}
  json_path, features_dir, _ = util.make_json_dataset(
      str(tmp_path / 'in'), database=database)
  output_path = str(tmp_path / 'out' / 'r.tfrecord')
  summary = create_tal_tf_record_lib.create_tf_record(
      features_dir, output_path, str(tmp_path / 'out' / 'labels.pbtxt'),
      annotations_json=json_path, **COMMON)
  assert summary.num_instances == 6
  assert summary.num_partly_outside == 2 and summary.num_wholly_outside == 3
  assert summary.wholly_outside_videos == ['video_a']
  annotated = [a['segment'] for a in database['video_a']['annotations']]
  record = util.decode_records(output_path)['video_a']
  np.testing.assert_array_equal(record[_INPUT.groundtruth_segments_seconds],
                                annotated)
  # Training targets: only the parts inside the T feature steps.
  decoded = {key: tf.constant(value) for key, value in record.items()}
  _, labels = inputs.transform_input_data(decoded, util.STREAM_NAMES,
                                          num_classes=1)
  num_steps = record[_INPUT.num_steps]
  steps = time_util.seconds_to_steps(
      np.array(annotated[2:5]), util.FPS, util.STRIDE_FRAMES,
      util.WINDOW_FRAMES / 2.0)
  np.testing.assert_allclose(labels[_INPUT.groundtruth_segments].numpy(),
                             np.clip(steps, 0, num_steps), atol=1e-4)


def test_resample_features_downsampling_averages_the_windows():
  from tal_detection.dataset_tools import feature_util
  signal = np.arange(6, dtype=np.float32)[:, None] * [1.0, -2.0]
  # 6 -> 3: pairs; 6 -> 4: windows of 1.5 steps, e.g. [1.5, 3) = (0.5*1 +
  # 1*2) / 1.5; 6 -> 1: the mean of everything.
  np.testing.assert_allclose(feature_util.resample_features(signal, 3)[:, 0],
                             [0.5, 2.5, 4.5], atol=1e-6)
  np.testing.assert_allclose(
      feature_util.resample_features(signal, 4)[:, 0],
      [(0 + 0.5) / 1.5, (0.5 * 1 + 2) / 1.5, (3 + 0.5 * 4) / 1.5,
       (0.5 * 4 + 5) / 1.5], atol=1e-6)
  np.testing.assert_allclose(feature_util.resample_features(signal, 1),
                             [[2.5, -5.0]], atol=1e-6)
  # Equal lengths change nothing; the overall mean is kept in every case.
  np.testing.assert_array_equal(feature_util.resample_features(signal, 6),
                                signal)
  noise = np.random.RandomState(0).randn(1000, 3)
  np.testing.assert_allclose(
      feature_util.resample_features(noise, 128).mean(axis=0),
      noise.mean(axis=0), atol=1e-6)


def test_resample_features_upsampling_interpolates_between_centres():
  from tal_detection.dataset_tools import feature_util
  signal = np.array([[0.0], [10.0], [40.0]], dtype=np.float32)
  # 3 -> 6: new centres at old steps 0.25, 0.75, ..., 2.75; old centres at
  # 0.5, 1.5, 2.5; beyond the end centres the end values hold.
  np.testing.assert_allclose(
      feature_util.resample_features(signal, 6)[:, 0],
      [0.0, 2.5, 7.5, 17.5, 32.5, 40.0], atol=1e-5)
  np.testing.assert_allclose(feature_util.resample_features(signal[:1], 4),
                             np.zeros([4, 1]))


def test_resampled_time_base_puts_every_step_at_its_window_centre():
  from tal_detection.dataset_tools import feature_util
  from tal_detection.utils import time_util
  fps, stride, offset = 30.0, 4.0, 8.0
  for old_steps, new_steps in [(1000, 128), (77, 128), (128, 128), (5, 1)]:
    new_stride, new_offset = feature_util.resampled_time_base(
        old_steps, new_steps, stride, offset)
    assert new_stride == pytest.approx(stride * old_steps / new_steps)
    # The span the original steps [0, T) cover in seconds ...
    span_start = time_util.steps_to_seconds(0.0, fps, stride, offset)
    span_end = time_util.steps_to_seconds(old_steps, fps, stride, offset)
    window = (span_end - span_start) / new_steps
    centres = span_start + (np.arange(new_steps) + 0.5) * window
    # ... split into new_steps windows: feature j is centred on window j, and
    # its step interval [j, j + 1) is exactly the window.
    j = np.arange(new_steps)
    np.testing.assert_allclose(
        (j * new_stride + new_offset) / fps, centres, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        time_util.steps_to_seconds(j + 0.5, fps, new_stride, new_offset),
        centres, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        time_util.steps_to_seconds(j.astype(float), fps, new_stride,
                                   new_offset),
        centres - window / 2, rtol=0, atol=1e-9)


def _convert_resampled(tmp_path, **resample):
  """Converts the json dataset with resampling flags: (decoded, features)."""
  json_path, features_dir, all_features = util.make_json_dataset(
      str(tmp_path / 'in'), layout='concat', dtype=np.float32)
  output_path = str(tmp_path / 'out' / 'all.tfrecord')
  create_tal_tf_record_lib.create_tf_record(
      features_dir, output_path, str(tmp_path / 'out' / 'label_map.pbtxt'),
      annotations_json=json_path, feature_layout='concat', **resample,
      **COMMON)
  return util.decode_records(output_path), all_features


def test_converter_resamples_records_to_a_fixed_length(tmp_path):
  from tal_detection.dataset_tools import feature_util
  from tal_detection.utils import time_util
  decoded, all_features = _convert_resampled(tmp_path, resample_num_steps=16)
  assert sorted(decoded) == sorted(util.DATABASE)
  for video_id, record in decoded.items():
    old_steps = all_features[video_id]['rgb'].shape[0]
    assert record[_INPUT.num_steps] == 16
    for name in util.STREAM_NAMES:
      np.testing.assert_allclose(
          record[_INPUT.features_key(name)],
          feature_util.resample_features(all_features[video_id][name], 16),
          rtol=1e-6)
    stride, offset = feature_util.resampled_time_base(
        old_steps, 16, util.STRIDE_FRAMES, util.WINDOW_FRAMES / 2)
    np.testing.assert_allclose(record[_INPUT.stride_frames], stride, rtol=1e-6)
    np.testing.assert_allclose(record[_INPUT.offset_frames], offset,
                               rtol=1e-6)
    # The whole original span maps to steps [0, 16].
    fps = record[_INPUT.fps]
    end = time_util.steps_to_seconds(
        float(old_steps), fps, util.STRIDE_FRAMES, util.WINDOW_FRAMES / 2)
    assert time_util.seconds_to_steps(
        end, fps, stride, offset) == pytest.approx(16.0, abs=1e-4)
    np.testing.assert_allclose(
        record[_INPUT.duration], util.DATABASE[video_id]['duration'],
        rtol=1e-6)


def test_resample_to_stride_averages_the_frames_of_each_window():
  from tal_detection.dataset_tools import feature_util
  signal = np.arange(6, dtype=np.float32)[:, None] * [1.0, -2.0]
  # 6 features, stride 4, window 16: the span is frames [0, 36); feature i
  # holds on frames [4 i + 6, 4 i + 10), the first from 0, the last to 36:
  # edges 0, 10, 14, 18, 22, 26, 36.
  # Windows of 12 every 12: [0, 12) = (10*0 + 2*1) / 12; [12, 24) = (2*1 +
  # 4*2 + 4*3 + 2*4) / 12; [24, 36) = (2*4 + 10*5) / 12.
  np.testing.assert_allclose(
      feature_util.resample_to_stride(signal, 4, 16, 12, 12),
      np.array([[2.0 / 12], [30.0 / 12], [58.0 / 12]]) * [1.0, -2.0],
      atol=1e-6)
  # Overlapping windows of 16 every 8: [0, 16), [8, 24), [16, 32); the span
  # end 36 leaves no room for a fourth.
  np.testing.assert_allclose(
      feature_util.resample_to_stride(signal, 4, 16, 8, 16)[:, 0],
      [(4 * 1 + 2 * 2) / 16.0, (4 * 1 + 4 * 2 + 4 * 3 + 2 * 4) / 16.0,
       (2 * 2 + 4 * 3 + 4 * 4 + 6 * 5) / 16.0], atol=1e-6)
  # A window longer than the whole span: one step, the mean over the span
  # (2 features, span 20 frames, 10 each).
  np.testing.assert_allclose(
      feature_util.resample_to_stride(signal[:2], 4, 16, 48, 48),
      [[0.5, -1.0]], atol=1e-6)
  assert feature_util.resampled_num_steps(6, 4, 16, 12, 12) == 3
  assert feature_util.resampled_num_steps(2, 4, 16, 48, 48) == 1
  # 30 fps stride-4 features of 60 s to the paper's 0.625 features/s:
  # (446 * 4 + 16) = 1800 frames hold 37 windows of 48.
  assert feature_util.resampled_num_steps(447, 4, 16, 48, 48) == 37


def test_resample_to_stride_equals_a_mean_over_frames():
  """Independent check: expand to one value per frame, average windows."""
  from tal_detection.dataset_tools import feature_util
  features = np.random.RandomState(3).randn(50, 2)
  stride, window, new_stride, new_window = 4, 16, 12, 20
  span = 49 * stride + window
  frames = np.arange(span) + 0.5
  # The feature whose centre 4 i + 8 is nearest to each frame centre.
  nearest = np.clip(np.round((frames - window / 2.0) / stride), 0, 49)
  per_frame = features[nearest.astype(int)]
  num_new = (span - new_window) // new_stride + 1
  expected = np.stack([
      per_frame[j * new_stride:j * new_stride + new_window].mean(axis=0)
      for j in range(num_new)])
  np.testing.assert_allclose(
      feature_util.resample_to_stride(features, stride, window, new_stride,
                                      new_window), expected, atol=1e-5)


def test_converter_resamples_records_to_a_stride(tmp_path):
  from tal_detection.dataset_tools import feature_util
  from tal_detection.utils import time_util
  decoded, all_features = _convert_resampled(
      tmp_path, resample_stride_frames=48, resample_window_frames=40)
  assert sorted(decoded) == sorted(util.DATABASE)
  for video_id, record in decoded.items():
    old_steps = all_features[video_id]['rgb'].shape[0]
    new_steps = feature_util.resampled_num_steps(
        old_steps, util.STRIDE_FRAMES, util.WINDOW_FRAMES, 48, 40)
    assert record[_INPUT.num_steps] == new_steps
    assert (new_steps - 1) * 48 + 40 <= (
        (old_steps - 1) * util.STRIDE_FRAMES + util.WINDOW_FRAMES) < (
            new_steps * 48 + 40)
    for name in util.STREAM_NAMES:
      np.testing.assert_allclose(
          record[_INPUT.features_key(name)],
          feature_util.resample_to_stride(
              all_features[video_id][name], util.STRIDE_FRAMES,
              util.WINDOW_FRAMES, 48, 40), rtol=1e-6)
    assert record[_INPUT.stride_frames] == 48
    assert record[_INPUT.offset_frames] == 20
    # The seconds of every step: feature j is centred on its window
    # [48 j, 48 j + 40) frames, and consecutive steps are 48 frames apart.
    fps = float(record[_INPUT.fps])
    j = np.arange(new_steps, dtype=np.float64)
    np.testing.assert_allclose(
        time_util.steps_to_seconds(j + 0.5, fps, 48.0, 20.0),
        (48 * j + 20) / fps, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        time_util.seconds_to_steps((48 * j + 20) / fps, fps, 48.0, 20.0),
        j + 0.5, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        time_util.steps_to_seconds(j, fps, 48.0, 20.0), (48 * j - 4) / fps,
        rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        record[_INPUT.duration], util.DATABASE[video_id]['duration'],
        rtol=1e-6)


def test_resampling_applies_each_mode_to_every_stream_with_its_time_base():
  rng = np.random.default_rng(3)
  video = {'rgb': rng.standard_normal((40, 3)).astype(np.float32),
           'flow': rng.standard_normal((40, 2)).astype(np.float32)}
  # None of the flags: unchanged, the same objects.
  same, stride, offset = feature_util.Resampling().apply(video, 4.0, 8.0)
  assert same is video and (stride, offset) == (4.0, 8.0)
  # A fixed number of steps: resample_features and resampled_time_base.
  fixed = feature_util.Resampling(num_steps=16)
  fixed.check()
  out, stride, offset = fixed.apply(video, 4.0, 8.0)
  for name in video:
    np.testing.assert_array_equal(
        out[name], feature_util.resample_features(video[name], 16))
  assert (stride, offset) == feature_util.resampled_time_base(40, 16, 4.0, 8.0)
  # New windows: resample_to_stride from window = 2 x offset; the new offset
  # is half the new window.
  windows = feature_util.Resampling(stride_frames=12.0, window_frames=20.0)
  windows.check()
  out, stride, offset = windows.apply(video, 4.0, 8.0)
  for name in video:
    np.testing.assert_array_equal(out[name], feature_util.resample_to_stride(
        video[name], 4.0, 16.0, 12.0, 20.0))
  assert (stride, offset) == (12.0, 10.0)
  assert not feature_util.Resampling().active and fixed.active


@pytest.mark.parametrize('resampling,message', [
    (dict(num_steps=0), '--resample_num_steps must be at least 1, got 0'),
    (dict(stride_frames=48.0),
     '--resample_stride_frames and --resample_window_frames go together'),
    (dict(num_steps=8, stride_frames=48.0, window_frames=48.0),
     'exclude each other'),
    (dict(stride_frames=48.0, window_frames=-1.0), 'must be positive'),
])
def test_resampling_refuses_what_the_flags_cannot_mean(resampling, message):
  with pytest.raises(ValueError, match=message):
    feature_util.Resampling(**resampling).check()


def test_num_steps_fit_allows_ten_percent_or_two_steps():
  # 100 s at 10 fps, stride 10, window 10: exactly 100 steps.
  assert feature_util.expected_num_steps(100.0, 10.0, 10.0, 10.0) == 100
  assert feature_util.num_steps_fit(110, 100.0, 10.0, 10.0, 10.0)
  assert not feature_util.num_steps_fit(111, 100.0, 10.0, 10.0, 10.0)
  assert feature_util.num_steps_fit(90, 100.0, 10.0, 10.0, 10.0)
  # Short videos: 2 steps either way.
  assert feature_util.num_steps_fit(7, 5.0, 10.0, 10.0, 10.0)
  assert not feature_util.num_steps_fit(8, 5.0, 10.0, 10.0, 10.0)
  # Raw stride-4 features of a 100 s video at 30 fps, read as stride 48.
  assert not feature_util.num_steps_fit(747, 100.0, 30.0, 48.0, 48.0)
