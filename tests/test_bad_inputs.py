"""Every tool on bad input: one error line, exit 1, no traceback, nothing written.

Each case runs a tool in a subprocess on one malformed input (a file, a flag, a
record, a checkpoint) and checks what SPEC §7 asks of every tool:
  * a non-zero exit status and no Python traceback;
  * exactly one line `<tool>: error: ...` on stderr, naming the file, field,
    flag or video at fault (the case's fragments);
  * no new, changed or partial file in the folders the tool would write to.

The cases run concurrently (a few at a time) once per session; each test then
checks one case's result, so a failure names its case.
"""
import collections
import concurrent.futures
import copy
import glob
import json
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tal_detection.dataset_tools import tf_record_util

import model_lib_test_util as util

Case = collections.namedtuple('Case', ['tool', 'args', 'fragments', 'watch'])
Run = collections.namedtuple('Run', ['result', 'before', 'after', 'case'])

_ERROR_LINE = re.compile(r'^([a-z_]+): error: (.+)$')
# Concurrent tool processes: each is mostly TensorFlow start-up.
_PARALLEL_RUNS = 3


def _snapshot(paths):
  """{path: (size, mtime)} of everything at and below the watched paths."""
  state = {}
  for root in paths:
    if os.path.isfile(root):
      state[root] = (os.path.getsize(root), os.path.getmtime(root))
      continue
    for directory, dirs, files in os.walk(root):
      for name in dirs + files:
        path = os.path.join(directory, name)
        state[path] = (os.path.getsize(path) if name in files else -1,
                       os.path.getmtime(path) if name in files else 0)
    if os.path.isdir(root):
      state[root] = (-1, 0)
  return state


class Workspace(object):
  """The bad inputs, made once from the tiny dataset, model and export."""

  def __init__(self, root, dataset, trained_model, exported_model):
    self.root = root
    self.dataset = dataset
    self.model_dir = trained_model.model_dir
    self.trained_config = os.path.join(self.model_dir, 'pipeline.config')
    self.exported = exported_model
    self.override = trained_model.config_override
    os.makedirs(root)
    self.set_output_folder(self.path('out', 'shared'))
    self._make_records()
    self._make_checkpoints()
    self._make_files()

  def set_output_folder(self, folder):
    """Where the tool of a case may (but must not) write: its own folder."""
    self.out = folder
    os.makedirs(self.out, exist_ok=True)
    self.new_model = os.path.join(self.out, 'model')
    self.export_out = os.path.join(self.out, 'exported')

  def for_case(self, name):
    """A copy whose output folder belongs to one case (cases run at once)."""
    view = copy.copy(self)
    view.set_output_folder(self.path('out', name.replace('/', '-')))
    return view

  def path(self, *parts):
    return os.path.join(self.root, *parts)

  def write(self, name, data):
    path = self.path(name)
    mode = 'wb' if isinstance(data, bytes) else 'w'
    with open(path, mode) as f:
      f.write(data)
    return path

  def _record(self, name, **streams_and_labels):
    """One hand-made record file (a SequenceExample per video)."""
    path = self.path(name)
    features = streams_and_labels.pop('features')
    with tf_record_util.ShardedRecordWriter(path, 1) as writer:
      example = tf_record_util.make_sequence_example(
          'made_up_video', features, fps=util.FPS,
          stride_frames=util.STRIDE_FRAMES, offset_frames=util.OFFSET_FRAMES,
          duration=20.0, **streams_and_labels)
      writer.write(example.SerializeToString())
    return path

  def _make_records(self):
    train = open(self.dataset.train_record, 'rb').read()
    self.truncated_record = self.write('truncated.record',
                                       train[:int(len(train) * 0.6)])
    corrupt = bytearray(train)
    corrupt[-40] ^= 0xFF  # inside the last record's data: CRC mismatch
    self.corrupt_record = self.write('corrupt.record', bytes(corrupt))
    self.text_record = self.write('text.record', 'not a record\n' * 20)
    self.empty_record = self.write('empty.record', b'')
    steps = 12
    both = {name: np.ones([steps, util.STREAM_DIM], np.float32)
            for name in util.STREAM_NAMES}
    self.bad_label_record = self._record(
        'bad_label.record', features=both,
        segments_seconds=np.array([[1.0, 5.0]]), label_ids=np.array([7]),
        label_texts=['x'])
    self.one_stream_record = self._record(
        'one_stream.record', features={'rgb': both['rgb']},
        segments_seconds=np.zeros([0, 2]), label_ids=np.zeros([0], np.int64),
        label_texts=[])
    narrow = {name: np.ones([steps, 8], np.float32)
              for name in util.STREAM_NAMES}
    self.narrow_record = self._record(
        'narrow.record', features=narrow, segments_seconds=np.zeros([0, 2]),
        label_ids=np.zeros([0], np.int64), label_texts=[])
    self.three_class_label_map = self.write(
        'three.pbtxt', ''.join('item { id: %d name: "c%d" }\n' % (i, i)
                               for i in (1, 2, 3)))

  def _make_checkpoints(self):
    self.checkpoint = tf.train.latest_checkpoint(self.model_dir)
    truncated_dir = self.path('truncated_ckpt')
    os.makedirs(truncated_dir)
    for path in glob.glob(self.checkpoint + '.*'):
      shutil.copy(path, truncated_dir)
    self.truncated_checkpoint = os.path.join(
        truncated_dir, os.path.basename(self.checkpoint))
    data = [p for p in os.listdir(truncated_dir) if '.data-' in p][0]
    data_path = os.path.join(truncated_dir, data)
    with open(data_path, 'r+b') as f:
      f.truncate(os.path.getsize(data_path) // 2)
    self.empty_checkpoint_dir = self.path('no_checkpoints')
    os.makedirs(self.empty_checkpoint_dir)

  def _first_class(self):
    database = json.load(open(self.dataset.annotations_json))['database']
    return sorted(a['label'] for v in database.values()
                  for a in v['annotations'])[0]

  def _make_files(self):
    dim = 2 * util.STREAM_DIM
    self.video_id = self.dataset.test_video_ids()[0]
    self.features = os.path.join(self.dataset.features_dir,
                                 self.video_id + '.npy')
    self.narrow_npy = self.path('narrow_video.npy')
    np.save(self.narrow_npy, np.ones([10, dim - 3], np.float32))
    nan = np.ones([10, dim], np.float32)
    nan[4, 2] = np.nan
    self.nan_npy = self.path('nan_video.npy')
    np.save(self.nan_npy, nan)
    self.garbage_npy = self.write('garbage_video.npy', b'\x00garbage' * 10)
    self.not_npy = self.write('video.txt', 'hello')
    self.empty_features_dir = self.path('empty_features')
    os.makedirs(self.empty_features_dir)
    self.no_model_dir = self.path('no_model')
    os.makedirs(self.no_model_dir)
    self.a_file = self.write('a_file', 'x')
    self.not_utf8 = self.write('binary.config', b'model {\xff\xfe')
    self.unknown_field = self.write(
        'unknown.config', open(util.PIPELINE_CONFIG).read().replace(
            'num_classes:', 'anchor_colour: 1\n    num_classes:', 1))
    self.groundtruth = self.dataset.annotations_json
    self.detections = self.write('det.json', json.dumps({'results': {
        self.video_id: [{'label': self._first_class(), 'score': 0.5,
                         'segment': [1.0, 4.0]}]}}))
    self.unknown_label = self.write('unknown_label.json', json.dumps(
        {'results': {self.video_id: [{'label': 'Juggling', 'score': 0.5,
                                      'segment': [1.0, 4.0]}]}}))
    self.reversed_segment = self.write('reversed.json', json.dumps(
        {'results': {self.video_id: [{'label': 'x', 'score': 0.5,
                                      'segment': [4.0, 1.0]}]}}))
    self.no_results = self.write('no_results.json', json.dumps({'x': 1}))
    self.not_json = self.write('not.json', '{"results": ')
    self.gt_without_segment = self.write('gt_bad.json', json.dumps(
        {'database': {'v1': {'subset': 'test', 'annotations': [
            {'label': 'a'}]}}}))
    self.non_synthetic_dir = self.path('out', 'occupied')
    os.makedirs(self.non_synthetic_dir)
    with open(os.path.join(self.non_synthetic_dir, 'notes.txt'), 'w') as f:
      f.write('mine')


def _with(defaults, flags):
  """The default flags, with those named in flags replaced (then flags)."""
  replaced = {f.split('=', 1)[0] for f in flags}
  return [a for a in defaults if a.split('=', 1)[0] not in replaced] + list(
      flags)


def _model_main(ws, model_dir, *flags, override=None):
  args = ['--pipeline_config_path=%s' % util.PIPELINE_CONFIG,
          '--model_dir=%s' % model_dir,
          '--config_override=%s' % (override or ws.override),
          '--train_input_path=%s' % ws.dataset.train_record,
          '--eval_input_path=%s' % ws.dataset.test_record,
          '--label_map_path=%s' % ws.dataset.label_map]
  return _with(args, flags)


def _export(ws, output, *flags):
  args = ['--pipeline_config_path=%s' % ws.trained_config,
          '--trained_checkpoint_prefix=%s' % ws.checkpoint,
          '--output_directory=%s' % output]
  return _with(args, flags)


def _infer(ws, *flags):
  args = ['--saved_model_dir=%s' % ws.exported,
          '--features=%s' % ws.features,
          '--output=%s' % os.path.join(ws.out, 'det.json')]
  return _with(args, flags)


def _evaluate(ws, *flags):
  args = ['--groundtruth=%s' % ws.groundtruth, '--detections=%s' % ws.detections]
  return _with(args, flags)


def _convert(ws, *flags):
  args = ['--annotations_json=%s' % ws.dataset.annotations_json,
          '--features_dir=%s' % ws.dataset.features_dir,
          '--stream_dims=%d,%d' % (util.STREAM_DIM, util.STREAM_DIM),
          '--stride_frames=%g' % util.STRIDE_FRAMES,
          '--window_frames=%g' % util.WINDOW_FRAMES,
          '--label_map_path=%s' % os.path.join(ws.out, 'labels.pbtxt'),
          '--output_path=%s' % os.path.join(ws.out, 'r.record')]
  return _with(args, flags)


# name -> builder of the Case from the Workspace. Fragments must all appear in
# the one error line; watch lists what must stay exactly as it was.
CASES = {
    # validate_config
    'validate/missing_file':
        lambda ws: Case('validate_config.py', [ws.path('nope.config')],
                        ['nope.config', 'no such file'], [ws.out]),
    'validate/directory':
        lambda ws: Case('validate_config.py', [ws.out],
                        [ws.out, 'is a directory'], [ws.out]),
    'validate/unknown_field':
        lambda ws: Case('validate_config.py', [ws.unknown_field], [
            'unknown.config', 'line', 'col', 'anchor_colour'
        ], [ws.out]),
    'validate/not_utf8':
        lambda ws: Case('validate_config.py', [ws.not_utf8],
                        ['binary.config', 'not UTF-8'], [ws.out]),
    'validate/unknown_flag':
        lambda ws: Case('validate_config.py', [
            '--colour=1', util.PIPELINE_CONFIG
        ], ['colour'], [ws.out]),
    # model_main: nothing may appear in (or be created as) the model dir.
    'model_main/no_flags':
        lambda ws: Case('model_main.py', [],
                        ['--pipeline_config_path', '--model_dir'], [ws.out]),
    'model_main/missing_config':
        lambda ws: Case(
            'model_main.py',
            _model_main(ws, ws.new_model, '--pipeline_config_path=' + ws.path(
                'nope.config')), ['nope.config', 'no such file'], [ws.out]),
    'model_main/bad_override':
        lambda ws: Case(
            'model_main.py',
            _model_main(ws, ws.new_model, override='model { bogus: 1 }'),
            ['<config_override>', 'bogus'], [ws.out]),
    'model_main/invalid_value':
        lambda ws: Case(
            'model_main.py',
            _model_main(ws, ws.new_model, override=ws.override.replace(
                'train_config { ', 'train_config { batch_size: 0 ')),
            ['train_config.batch_size', '>= 1'], [ws.out]),
    'model_main/negative_steps':
        lambda ws: Case('model_main.py',
                        _model_main(ws, ws.new_model, '--num_train_steps=-3'),
                        ['num_train_steps'], [ws.out]),
    'model_main/model_dir_is_file':
        lambda ws: Case('model_main.py', _model_main(ws, ws.a_file), [
            '--model_dir', 'a_file', 'is a file'
        ], [ws.out, ws.a_file]),
    'model_main/train_glob_matches_nothing':
        lambda ws: Case(
            'model_main.py',
            _model_main(ws, ws.new_model, '--train_input_path=' + ws.path(
                'missing-*')),
            ['train_input_reader', 'missing-*', 'matches no file'], [ws.out]),
    'model_main/eval_glob_matches_nothing':
        lambda ws: Case(
            'model_main.py',
            _model_main(ws, ws.new_model, '--eval_input_path=' + ws.path(
                'gone.record')),
            ['eval_input_reader', 'gone.record', 'matches no file'], [ws.out]),
    'model_main/truncated_train_record':
        lambda ws: Case(
            'model_main.py',
            _model_main(ws, ws.new_model, '--train_input_path=' + ws.
                        truncated_record),
            ['truncated.record', 'corrupt or truncated'], [ws.out]),
    'model_main/corrupt_eval_record':
        lambda ws: Case(
            'model_main.py',
            _model_main(ws, ws.new_model, '--eval_input_path=' + ws.
                        corrupt_record),
            ['eval_input_reader', 'corrupt.record'], [ws.out]),
    'model_main/text_file_as_records':
        lambda ws: Case(
            'model_main.py',
            _model_main(ws, ws.new_model, '--train_input_path=' + ws.text_record
                       ), ['text.record', 'not a TFRecord'], [ws.out]),
    'model_main/empty_record_file':
        lambda ws: Case(
            'model_main.py',
            _model_main(ws, ws.new_model, '--eval_input_path=' + ws.empty_record
                       ), ['empty.record', 'hold no record'], [ws.out]),
    'model_main/eval_records_of_other_width':
        lambda ws: Case(
            'model_main.py',
            _model_main(
                ws, ws.new_model, '--eval_input_path=' + ws.narrow_record), [
                    'eval_input_reader', 'narrow.record', 'made_up_video',
                    'feature dim 8'
                ], [ws.out]),
    'model_main/record_missing_a_stream':
        lambda ws: Case(
            'model_main.py',
            _model_main(ws, ws.new_model, '--train_input_path=' + ws.
                        one_stream_record),
            ['one_stream.record', 'made_up_video', "no stream 'flow'"
            ], [ws.out]),
    'model_main/label_id_out_of_range':
        lambda ws: Case(
            'model_main.py',
            _model_main(ws, ws.new_model, '--train_input_path=' + ws.
                        bad_label_record),
            ['bad_label.record', 'made_up_video', 'label id 7', '1..2'
            ], [ws.out]),
    'model_main/label_map_of_other_size':
        lambda ws: Case(
            'model_main.py',
            _model_main(ws, ws.new_model, '--label_map_path=' + ws.
                        three_class_label_map),
            ['three.pbtxt', '3 classes', 'num_classes 2'], [ws.out]),
    'model_main/missing_label_map':
        lambda ws: Case(
            'model_main.py',
            _model_main(ws, ws.new_model, '--label_map_path=' + ws.path(
                'nope.pbtxt')), ['nope.pbtxt'], [ws.out]),
    'model_main/positional_argument':
        lambda ws: Case('model_main.py',
                        _model_main(ws, ws.new_model) + ['stray'],
                        ['unexpected arguments', 'stray'], [ws.out]),
    'model_main/no_checkpoint_to_evaluate':
        lambda ws: Case(
            'model_main.py',
            _model_main(ws, ws.new_model, '--checkpoint_dir=' + ws.
                        empty_checkpoint_dir, '--run_once'),
            ['--checkpoint_dir', 'no checkpoint'], [ws.empty_checkpoint_dir]),
    # export_saved_model: the output directory must not appear.
    'export/no_flags':
        lambda ws: Case('export_saved_model.py', [
        ], ['--pipeline_config_path', '--output_directory'], [ws.out]),
    'export/no_checkpoint_flag':
        lambda ws: Case('export_saved_model.py', [
            a for a in _export(ws, ws.export_out)
            if not a.startswith('--trained_checkpoint_prefix')
        ], ['--trained_checkpoint_prefix', '--checkpoint_dir'], [ws.out]),
    'export/checkpoint_dir_missing':
        lambda ws: Case('export_saved_model.py', [
            a for a in _export(ws, ws.export_out, '--checkpoint_dir=' + ws.path(
                'nowhere')) if not a.startswith('--trained_checkpoint_prefix')
        ], ['--checkpoint_dir', 'nowhere', 'no such folder'], [ws.out]),
    'export/checkpoint_dir_without_checkpoint':
        lambda ws: Case('export_saved_model.py', [
            a for a in _export(ws, ws.export_out, '--checkpoint_dir=' + ws.
                               empty_checkpoint_dir)
            if not a.startswith('--trained_checkpoint_prefix')
        ], ['--checkpoint_dir', 'no_checkpoints', 'no checkpoint'], [ws.out]),
    'export/checkpoint_prefix_missing':
        lambda ws: Case(
            'export_saved_model.py',
            _export(ws, ws.export_out, '--trained_checkpoint_prefix=' + ws.path(
                'model.ckpt-9')), ['model.ckpt-9', 'no checkpoint'], [ws.out]),
    'export/other_fc_depth':
        lambda ws: Case(
            'export_saved_model.py',
            _export(
                ws, ws.export_out, '--config_override=model { tal_net { '
                'second_stage_fc_depth: 8 } }'),
            ['checkpoint', 'shape', 'builds'], [ws.out]),
    'export/other_num_classes':
        lambda ws: Case(
            'export_saved_model.py',
            _export(ws, ws.export_out, '--config_override=model { tal_net { '
                    'num_classes: 3 } }'), ['checkpoint', 'shape', 'builds'],
            [ws.out]),
    'export/other_fusion':
        lambda ws: Case(
            'export_saved_model.py',
            _export(ws, ws.export_out, '--config_override=model { tal_net { '
                    'fusion: EARLY } }'),
            ['checkpoint', 'has no variable', 'another config'], [ws.out]),
    'export/truncated_checkpoint':
        lambda ws: Case(
            'export_saved_model.py',
            _export(ws, ws.export_out, '--trained_checkpoint_prefix=' + ws.
                    truncated_checkpoint), ['truncated_ckpt'], [ws.out]),
    'export/output_is_a_file':
        lambda ws: Case('export_saved_model.py', _export(ws, ws.a_file),
                        ['output_directory', 'a_file'], [ws.out, ws.a_file]),
    'export/version_exists':
        lambda ws: Case('export_saved_model.py', _export(ws, ws.exported), [
            'output_directory', 'already exists'
        ], [ws.out, ws.exported]),
    'export/bad_override':
        lambda ws: Case('export_saved_model.py',
                        _export(ws, ws.export_out, '--config_override=model {'),
                        ['<config_override>'], [ws.out]),
    'export/bad_input_type':
        lambda ws: Case('export_saved_model.py',
                        _export(ws, ws.export_out, '--input_type=jpeg'),
                        ['input_type', 'jpeg'], [ws.out]),
    # infer: no results json, no picture.
    'infer/no_flags':
        lambda ws: Case('infer.py', [], ['--saved_model_dir'], [ws.out]),
    'infer/model_dir_missing':
        lambda ws:
        Case('infer.py', _infer(ws, '--saved_model_dir=' + ws.path('nowhere')),
             ['--saved_model_dir', 'nowhere', 'no such folder'], [ws.out]),
    'infer/model_dir_without_model':
        lambda ws:
        Case('infer.py', _infer(ws, '--saved_model_dir=' + ws.no_model_dir),
             ['--saved_model_dir', 'no_model', 'no saved_model.pb'], [ws.out]),
    'infer/features_missing':
        lambda ws: Case('infer.py',
                        _infer(ws, '--features=' + ws.path('gone.npy')),
                        ['--features', 'gone.npy', 'does not exist'], [ws.out]),
    'infer/features_folder_empty':
        lambda ws: Case('infer.py',
                        _infer(ws, '--features=' + ws.empty_features_dir),
                        ['--features', 'empty_features', 'no .npy'], [ws.out]),
    'infer/features_not_npy':
        lambda ws: Case('infer.py', _infer(ws, '--features=' + ws.not_npy),
                        ['--features', 'video.txt', 'not a .npy'], [ws.out]),
    'infer/features_of_other_width':
        lambda ws: Case('infer.py', _infer(ws, '--features=' + ws.narrow_npy),
                        ['narrow_video', 'shape'], [ws.out]),
    'infer/features_with_nan':
        lambda ws: Case('infer.py', _infer(ws, '--features=' + ws.nan_npy),
                        ['nan_video', 'NaN'], [ws.out]),
    'infer/features_garbage':
        lambda ws: Case('infer.py', _infer(ws, '--features=' + ws.garbage_npy),
                        ['garbage_video', 'cannot read'], [ws.out]),
    'infer/output_is_a_folder':
        lambda ws: Case('infer.py', _infer(ws, '--output=' + ws.out),
                        ['--output', 'is a folder'], [ws.out]),
    'infer/label_map_missing':
        lambda ws: Case('infer.py',
                        _infer(ws, '--label_map_path=' + ws.path('nope.pbtxt')),
                        ['--label_map_path', 'nope.pbtxt'], [ws.out]),
    'infer/separate_layout_without_stream_folder':
        lambda ws: Case(
            'infer.py',
            _infer(ws, '--features=' + ws.dataset.features_dir,
                   '--feature_layout=separate'), ['--features', 'no .npy'],
            [ws.out]),
    'infer/resample_stride_without_window':
        lambda ws: Case('infer.py', _infer(ws, '--resample_stride_frames=48'),
                        ['--resample_window_frames', 'go together'], [ws.out]),
    'infer/resample_both_ways':
        lambda ws: Case('infer.py', _infer(
            ws, '--resample_num_steps=128', '--resample_stride_frames=48',
            '--resample_window_frames=48'), ['exclude each other'], [ws.out]),
    'infer/resample_without_the_features_time_base':
        # time_base.json is the resampled one: the raw one must be given.
        lambda ws: Case('infer.py', _infer(
            ws, '--resample_stride_frames=48', '--resample_window_frames=48'),
                        ['--stride_frames', 'as extracted'], [ws.out]),
    'infer/negative_thread_count':
        lambda ws: Case('infer.py', _infer(ws, '--intra_op_threads=-2'),
                        ['--intra_op_threads', '>= 0'], [ws.out]),
    # evaluate_detections (writes nothing; its stdout must stay empty).
    'evaluate/no_flags':
        lambda ws: Case('evaluate_detections.py', [], ['--groundtruth'],
                        [ws.out]),
    'evaluate/groundtruth_missing':
        lambda ws: Case('evaluate_detections.py',
                        _evaluate(ws, '--groundtruth=' + ws.path('gt.json')),
                        ['gt.json', 'cannot read'], [ws.out]),
    'evaluate/detections_missing':
        lambda ws: Case('evaluate_detections.py',
                        _evaluate(ws, '--detections=' + ws.path('none.json')),
                        ['none.json', 'cannot read'], [ws.out]),
    'evaluate/detections_not_json':
        lambda ws: Case('evaluate_detections.py',
                        _evaluate(ws, '--detections=' + ws.not_json),
                        ['not.json', 'not valid json'], [ws.out]),
    'evaluate/detections_without_results':
        lambda ws: Case('evaluate_detections.py',
                        _evaluate(ws, '--detections=' + ws.no_results),
                        ['no_results.json', "'results'"], [ws.out]),
    'evaluate/unknown_label':
        lambda ws: Case('evaluate_detections.py',
                        _evaluate(ws, '--detections=' + ws.unknown_label),
                        ['unknown_label.json', 'Juggling'], [ws.out]),
    'evaluate/reversed_segment':
        lambda ws: Case('evaluate_detections.py',
                        _evaluate(ws, '--detections=' + ws.reversed_segment),
                        ['reversed.json', 'segment'], [ws.out]),
    'evaluate/groundtruth_without_segment':
        lambda ws: Case('evaluate_detections.py',
                        _evaluate(ws, '--groundtruth=' + ws.gt_without_segment),
                        ['gt_bad.json', "'segment'"], [ws.out]),
    'evaluate/tiou_not_a_number':
        lambda ws: Case('evaluate_detections.py',
                        _evaluate(ws, '--tiou_thresholds=0.5,abc'),
                        ['--tiou_thresholds', 'abc'], [ws.out]),
    'evaluate/tiou_out_of_range':
        lambda ws: Case('evaluate_detections.py',
                        _evaluate(ws, '--tiou_thresholds=1.5'),
                        ['--tiou_thresholds', 'outside'], [ws.out]),
    'evaluate/unknown_subset':
        lambda ws: Case('evaluate_detections.py',
                        _evaluate(ws, '--subset=Holidays'), ['Holidays'],
                        [ws.out]),
    'evaluate/bad_an':
        lambda ws: Case('evaluate_detections.py',
                        _evaluate(ws, '--proposals', '--an=0'), ['--an'],
                        [ws.out]),
    # create_tal_tf_record: nothing in the output folder.
    'convert/output_path_is_a_folder':
        lambda ws: Case('create_tal_tf_record.py',
                        _convert(ws, '--output_path=' + ws.out),
                        ['--output_path', 'is a folder'], [ws.out]),
    'convert/output_below_a_file':
        lambda ws: Case(
            'create_tal_tf_record.py',
            _convert(ws, '--output_path=' + os.path.join(ws.a_file, 'r.record')
                    ), ['--output_path', 'a_file', 'is a file'],
            [ws.out, ws.a_file]),
    'convert/stream_dims_not_integers':
        lambda ws: Case('create_tal_tf_record.py',
                        _convert(ws, '--stream_dims=16,x'),
                        ['--stream_dims', '16,x'], [ws.out]),
    'convert/stream_dims_of_other_count':
        lambda ws: Case('create_tal_tf_record.py',
                        _convert(ws, '--stream_dims=16,8,8'),
                        ['--stream_names', '--stream_dims'], [ws.out]),
    'convert/negative_fps':
        lambda ws: Case('create_tal_tf_record.py', _convert(ws, '--fps=-2'),
                        ['--fps', '-2'], [ws.out]),
    'convert/annotations_not_json':
        lambda ws: Case('create_tal_tf_record.py',
                        _convert(ws, '--annotations_json=' + ws.not_json),
                        ['not.json'], [ws.out]),
    'convert/features_of_other_width':
        lambda ws: Case('create_tal_tf_record.py',
                        _convert(ws, '--stream_dims=16,8'),
                        ['synthetic_', 'shape'], [ws.out]),
    'convert/features_dir_missing':
        lambda ws: Case('create_tal_tf_record.py',
                        _convert(ws, '--features_dir=' + ws.path('nofeatures')),
                        ['nofeatures', 'does not exist'], [ws.out]),
    'convert/unknown_flag':
        lambda ws: Case('create_tal_tf_record.py', _convert(ws, '--colour=red'),
                        ['colour'], [ws.out]),
    # make_synthetic_dataset
    'synthetic/zero_stream_dim':
        lambda ws: Case('make_synthetic_dataset.py', [
            '--output_dir=' + ws.path('out', 'syn'), '--stream_dim=0'
        ], ['stream_dim', '0'], [ws.out]),
    'synthetic/output_is_a_file':
        lambda ws: Case('make_synthetic_dataset.py', [
            '--output_dir=' + ws.a_file
        ], ['a_file', 'not a folder'], [ws.out, ws.a_file]),
    'synthetic/occupied_folder':
        lambda ws: Case('make_synthetic_dataset.py', [
            '--output_dir=' + ws.non_synthetic_dir
        ], ['occupied', 'not an earlier synthetic'], [ws.out]),
    'synthetic/too_many_classes':
        lambda ws: Case('make_synthetic_dataset.py', [
            '--output_dir=' + ws.path('out', 'syn'), '--num_classes=500'
        ], ['num_classes'], [ws.out]),
    'synthetic/bad_flag_value':
        lambda ws: Case('make_synthetic_dataset.py', [
            '--output_dir=' + ws.path('out', 'syn'), '--num_train=many'
        ], ['num_train'], [ws.out]),
}
CASE_NAMES = sorted(CASES)


def _run_case(case):
  before = _snapshot(case.watch)
  result = util.run_tool(case.tool, *case.args)
  return Run(result, before, _snapshot(case.watch), case)


@pytest.fixture(scope='module')
def bad_input_runs(tiny_dataset, trained_model, exported_model,
                   tmp_path_factory):
  ws = Workspace(str(tmp_path_factory.mktemp('bad_inputs') / 'ws'),
                 tiny_dataset, trained_model, exported_model)
  with concurrent.futures.ThreadPoolExecutor(_PARALLEL_RUNS) as pool:
    futures = {name: pool.submit(_run_case, build(ws.for_case(name)))
               for name, build in CASES.items()}
    return {name: future.result() for name, future in futures.items()}


def test_there_are_enough_cases_over_every_tool():
  tools = collections.Counter(name.split('/')[0] for name in CASE_NAMES)
  assert len(CASE_NAMES) >= 60, len(CASE_NAMES)
  assert set(tools) >= {'validate', 'model_main', 'export', 'infer',
                        'evaluate', 'convert', 'synthetic'}, tools


@pytest.mark.slow
@pytest.mark.parametrize('name', CASE_NAMES)
def test_bad_input_gives_one_error_line_and_writes_nothing(bad_input_runs,
                                                           name):
  run = bad_input_runs[name]
  result = run.result
  stderr = result.stderr
  assert result.returncode != 0, util.describe(result)
  assert 'Traceback' not in stderr, util.describe(result)
  errors = [line for line in stderr.splitlines() if ': error: ' in line]
  assert len(errors) == 1, util.describe(result)
  match = _ERROR_LINE.match(errors[0])
  assert match, errors[0]
  assert match.group(1) == os.path.splitext(run.case.tool)[0], errors[0]
  for fragment in run.case.fragments:
    assert fragment in errors[0], (fragment, errors[0])
  assert run.after == run.before, sorted(
      set(run.after.items()) ^ set(run.before.items()))
  # Shown with `pytest -rP`: the case list with its messages, for reviews.
  print('%s | %s' % (name, errors[0]))
