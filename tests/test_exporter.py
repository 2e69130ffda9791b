"""Tests of the SavedModel export (tal_detection/exporter.py,
tools/export_saved_model.py): TF Serving layout, loading in a fresh process,
saved_model_cli, and the tf_example input type, each against the Estimator's
own predictions of the same checkpoint."""
import functools
import json
import os
import subprocess
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tal_detection import exporter
from tal_detection import inference_util
from tal_detection import model_lib
from tal_detection.builders import model_builder
from tal_detection.core import standard_fields as fields
from tal_detection.data_decoders import tf_sequence_example_decoder
from tal_detection.utils import config_util
from tal_detection.utils import time_util

import model_lib_test_util as util

_DETECTION_KEYS = ('detection_segments', 'detection_scores',
                   'detection_classes', 'num_detections')
_ALL_OUTPUT_KEYS = _DETECTION_KEYS + ('proposal_segments', 'proposal_scores',
                                      'num_proposals')
_TIME_KEYS = ('fps', 'stride_frames', 'offset_frames')

# A fresh interpreter: only TensorFlow and the SavedModel, nothing of the
# project imported (the exported graph must stand on its own).
_SERVE_SCRIPT = textwrap.dedent('''\
    import json
    import sys

    import numpy as np
    import tensorflow as tf

    export_dir, inputs_path, outputs_path, info_path = sys.argv[1:]
    loaded = tf.saved_model.load(export_dir)
    signature = loaded.signatures['serving_default']
    inputs = np.load(inputs_path)
    videos = sorted({key.split('/')[0] for key in inputs.files})
    outputs = {}
    for video in videos:
      feed = {key.split('/')[1]: tf.constant(inputs[key])
              for key in inputs.files if key.startswith(video + '/')}
      for name, value in signature(**feed).items():
        outputs[video + '/' + name] = value.numpy()
    np.savez(outputs_path, **outputs)
    with open(info_path, 'w') as f:
      json.dump({'inputs': sorted(signature.structured_input_signature[1]),
                 'outputs': sorted(signature.structured_outputs),
                 'num_variables': len(loaded.variables)}, f)
    ''')


def _random_video(num_steps, seed, fps, stride_frames, offset_frames):
  """Serving inputs of one video (batch of 1), keyed as the signature's."""
  rng = np.random.default_rng(seed)
  video = {'features_' + name: rng.standard_normal(
      (1, num_steps, util.STREAM_DIM)).astype(np.float32)
           for name in util.STREAM_NAMES}
  video['num_steps'] = np.array([num_steps], np.int32)
  for key, value in zip(_TIME_KEYS, (fps, stride_frames, offset_frames)):
    video[key] = np.array([value], np.float32)
  return video


def _estimator_predictions(model_dir, videos):
  """The Estimator's PREDICT outputs (batches of 1) for serving-style inputs."""
  configs = config_util.create_configs_from_pipeline_proto(
      config_util.load_pipeline(os.path.join(model_dir, 'pipeline.config')))
  model_fn = model_lib.create_model_fn(
      functools.partial(model_builder.build, model_config=configs['model']),
      configs)
  estimator = tf.estimator.Estimator(model_fn=model_fn, model_dir=model_dir)

  def to_features(video):
    features = {fields.InputDataFields.features_key(name):
                video['features_' + name] for name in util.STREAM_NAMES}
    for key in ('num_steps',) + _TIME_KEYS:
      features[key] = video[key]
    return features

  def input_fn():
    dataset = tf.data.Dataset.from_tensors(to_features(videos[0]))
    for video in videos[1:]:
      dataset = dataset.concatenate(
          tf.data.Dataset.from_tensors(to_features(video)))
    return dataset

  return list(estimator.predict(input_fn, yield_single_examples=False))


def _assert_same_detections(actual, expected, keys=_DETECTION_KEYS):
  for key in keys:
    if key == 'detection_classes':
      np.testing.assert_array_equal(actual[key], expected[key])
    else:
      np.testing.assert_allclose(actual[key], expected[key], rtol=0,
                                 atol=1e-5, err_msg=key)


def _serve(signature, video):
  """Runs a loaded serving signature on numpy inputs; numpy outputs."""
  return {k: v.numpy() for k, v in signature(
      **{k: tf.constant(v) for k, v in video.items()}).items()}


@pytest.mark.slow
def test_export_writes_versioned_layout_with_config_and_label_map(
    exported_model, trained_model, tiny_dataset):
  version_dir = os.path.join(exported_model, '1')
  assert os.path.isfile(os.path.join(version_dir, 'saved_model.pb'))
  # Every weight of the tiny model has fewer values than
  # SMALL_WEIGHT_VALUES, so all are constants of the graph (the main
  # config's large ones stay variables: test_small_weights_...).
  with open(os.path.join(version_dir, 'saved_model.pb'), 'rb') as f:
    graph_def = saved_model_pb2.SavedModel.FromString(
        f.read()).meta_graphs[0].graph_def
  assert not {'VarHandleOp', 'VariableV2'} & {n.op for n in graph_def.node}
  assert sorted(os.listdir(exported_model)) == [
      '1', 'label_map.pbtxt', 'pipeline.config',
      'time_base.json']  # no staging leftovers
  with open(os.path.join(exported_model, 'label_map.pbtxt')) as f:
    assert f.read() == open(tiny_dataset.label_map).read()
  exported_config = config_util.read_pipeline_config(
      os.path.join(exported_model, 'pipeline.config'))
  trained_config = config_util.read_pipeline_config(
      os.path.join(trained_model.model_dir, 'pipeline.config'))
  assert exported_config == trained_config


@pytest.mark.slow
def test_fresh_process_serving_matches_estimator_predict(exported_model,
                                                         trained_model,
                                                         tmp_path):
  # Two lengths, two sets of time parameters; the third video is the second's
  # features with the first's time parameters.
  videos = [_random_video(23, seed=1, fps=10.0, stride_frames=16.0,
                          offset_frames=8.0),
            _random_video(61, seed=2, fps=30.0, stride_frames=4.0,
                          offset_frames=8.0)]
  videos.append(dict(videos[1], **{k: videos[0][k] for k in _TIME_KEYS}))
  inputs_path = str(tmp_path / 'inputs.npz')
  np.savez(inputs_path, **{'v%d/%s' % (i, key): value
                           for i, video in enumerate(videos)
                           for key, value in video.items()})
  script = tmp_path / 'serve.py'
  script.write_text(_SERVE_SCRIPT)
  outputs_path = str(tmp_path / 'outputs.npz')
  info_path = str(tmp_path / 'info.json')
  result = subprocess.run(
      [util.PYTHON, str(script), os.path.join(exported_model, '1'),
       inputs_path, outputs_path, info_path], cwd=str(tmp_path),
      env=util.tool_env(), capture_output=True, text=True,
      timeout=util.TOOL_TIMEOUT_SECS)
  assert result.returncode == 0, util.describe(result)

  with open(info_path) as f:
    info = json.load(f)
  assert info['inputs'] == sorted(
      ['features_' + name for name in util.STREAM_NAMES] +
      ['num_steps', 'fps', 'stride_frames', 'offset_frames'])
  assert info['outputs'] == sorted(_ALL_OUTPUT_KEYS)
  assert info['num_variables'] == 0  # the tiny model's weights are constants
  served = np.load(outputs_path)
  served = [{key: served['v%d/%s' % (i, key)] for key in _ALL_OUTPUT_KEYS}
            for i in range(len(videos))]

  predicted = _estimator_predictions(trained_model.model_dir, videos)
  assert len(predicted) == len(videos)
  for video, serving, prediction in zip(videos, served, predicted):
    assert int(prediction['num_detections'][0]) > 0
    _assert_same_detections(serving, prediction, _ALL_OUTPUT_KEYS)
    count = int(serving['num_detections'][0])
    classes = serving['detection_classes'][0, :count]
    assert set(np.unique(classes)) <= set(range(1, util.NUM_CLASSES + 1))
    segments = serving['detection_segments'][0, :count]
    assert np.all(segments[:, 1] > segments[:, 0])

  # Segments are in seconds of each video's own time parameters: the same
  # features under two parameter sets give the same steps.
  same_features = (served[1], served[2])
  np.testing.assert_allclose(same_features[0]['detection_scores'],
                             same_features[1]['detection_scores'], atol=1e-6)
  steps = [time_util.seconds_to_steps(
      served_video['detection_segments'].astype(np.float64),
      *[float(video[k][0]) for k in _TIME_KEYS])
           for served_video, video in zip(same_features, videos[1:])]
  np.testing.assert_allclose(steps[0], steps[1], atol=1e-3)


@pytest.mark.slow
def test_saved_model_cli_runs_serving_default(exported_model):
  saved_model_cli = os.path.join(os.path.dirname(util.PYTHON),
                                 'saved_model_cli')
  features = repr(np.full((1, 20, util.STREAM_DIM), 0.5).tolist())
  input_exprs = ';'.join(
      ['features_%s=%s' % (name, features) for name in util.STREAM_NAMES] +
      ['num_steps=[20]', 'fps=[10.0]', 'stride_frames=[16.0]',
       'offset_frames=[8.0]'])
  result = util.run_tool(
      [saved_model_cli, 'run', '--dir', os.path.join(exported_model, '1'),
       '--tag_set', 'serve', '--signature_def', 'serving_default',
       '--input_exprs', input_exprs])
  assert result.returncode == 0, util.describe(result)
  for key in _ALL_OUTPUT_KEYS:
    assert 'Result for output key %s:' % key in result.stdout, result.stdout


@pytest.mark.slow
def test_tf_example_export_serves_a_padded_batch_like_features_export(
    exported_model, trained_model, tiny_dataset, tmp_path):
  pipeline = config_util.read_pipeline_config(
      os.path.join(trained_model.model_dir, 'pipeline.config'))
  output_directory = str(tmp_path / 'tf_example')
  version_dir = exporter.export_inference_graph(
      'tf_example', pipeline,
      tf.train.latest_checkpoint(trained_model.model_dir), output_directory)
  assert version_dir == os.path.join(output_directory, '1')

  records = [record.numpy() for record in
             tf.data.TFRecordDataset(tiny_dataset.test_record)]
  decoder = tf_sequence_example_decoder.TfSequenceExampleDecoder(
      util.STREAM_NAMES, [util.STREAM_DIM] * len(util.STREAM_NAMES))
  decoded = [tf_sequence_example_decoder.decode_to_numpy(decoder, record)
             for record in records]
  lengths = [int(d[fields.InputDataFields.num_steps]) for d in decoded]
  assert len(set(lengths)) == len(lengths) > 1, lengths

  signature = tf.saved_model.load(version_dir).signatures['serving_default']
  assert sorted(signature.structured_input_signature[1]) == ['tf_example']
  batch = _serve(signature, {'tf_example': np.array(records, dtype=object)})
  assert batch['detection_segments'].shape[0] == len(records)
  # String inputs through the ServingFunction: the same outputs.
  served = inference_util.ServingFunction(version_dir)(
      tf_example=np.array(records, dtype=object))
  for key, value in batch.items():
    np.testing.assert_array_equal(served[key].numpy(), value, err_msg=key)

  features_signature = tf.saved_model.load(
      os.path.join(exported_model, '1')).signatures['serving_default']

  for i, video in enumerate(decoded):
    single = {'features_' + name: video[fields.InputDataFields.features_key(
        name)][None] for name in util.STREAM_NAMES}
    single['num_steps'] = np.array([lengths[i]], np.int32)
    for key in _TIME_KEYS:
      single[key] = np.array([video[key]], np.float32)
    expected = _serve(features_signature, single)
    _assert_same_detections({k: v[i:i + 1] for k, v in batch.items()},
                            expected, _ALL_OUTPUT_KEYS)


@pytest.mark.slow
def test_serving_function_gives_the_bare_signatures_outputs(exported_model):
  version_dir = os.path.join(exported_model, '1')
  signature = tf.saved_model.load(version_dir).signatures['serving_default']
  serve = inference_util.ServingFunction(version_dir)
  assert serve.input_specs == signature.structured_input_signature[1]
  # Two lengths through the one traced function (its input shapes are the
  # signature's: [None, None, D]); numpy inputs and tensors alike.
  for num_steps, seed in ((20, 5), (33, 6)):
    video = _random_video(num_steps, seed, util.FPS, util.STRIDE_FRAMES,
                          util.OFFSET_FRAMES)
    expected = _serve(signature, video)
    assert int(expected['num_detections'][0]) > 0
    for inputs in (video, {k: tf.constant(v) for k, v in video.items()}):
      got = serve(**inputs)
      assert sorted(got) == sorted(expected)
      for key, value in expected.items():
        np.testing.assert_array_equal(got[key].numpy(), value, err_msg=key)
  video.pop('fps')
  with pytest.raises(ValueError, match='expected features_'):
    serve(**video)


def test_export_refuses_an_existing_version_and_keeps_it(tmp_path):
  checkpoint = tmp_path / 'model.ckpt-5'
  (tmp_path / 'model.ckpt-5.index').write_bytes(b'')
  version_dir = tmp_path / 'exported' / '1'
  version_dir.mkdir(parents=True)
  (version_dir / 'saved_model.pb').write_bytes(b'earlier export')
  with pytest.raises(ValueError, match='already exists'):
    exporter.export_inference_graph(
        'features', config_util.read_pipeline_config(util.PIPELINE_CONFIG),
        str(checkpoint), str(tmp_path / 'exported'))
  assert sorted(os.listdir(str(tmp_path / 'exported'))) == ['1']
  assert (version_dir / 'saved_model.pb').read_bytes() == b'earlier export'


def test_export_of_a_missing_checkpoint_or_input_type_fails(tmp_path):
  pipeline = config_util.read_pipeline_config(util.PIPELINE_CONFIG)
  output_directory = tmp_path / 'exported'
  with pytest.raises(ValueError, match='no checkpoint at'):
    exporter.export_inference_graph('features', pipeline,
                                    str(tmp_path / 'model.ckpt-7'),
                                    str(output_directory))
  (tmp_path / 'model.ckpt-7.index').write_bytes(b'')
  with pytest.raises(ValueError, match='input_type'):
    exporter.export_inference_graph('jpeg', pipeline,
                                    str(tmp_path / 'model.ckpt-7'),
                                    str(output_directory))
  # Nothing half-written: no version folder, no staging folder.
  assert not output_directory.exists() or not os.listdir(str(output_directory))


@pytest.mark.slow
def test_export_stores_the_training_records_time_base(exported_model,
                                                      tiny_dataset):
  with open(os.path.join(exported_model, exporter.TIME_BASE_FILE)) as f:
    stored = json.load(f)
  # The tiny dataset's records: 10 fps, stride 16, window 16 (offset 8).
  assert {k: stored[k] for k in exporter.TIME_BASE_KEYS} == {
      'fps': util.FPS, 'stride_frames': float(util.STRIDE_FRAMES),
      'window_frames': float(util.WINDOW_FRAMES)}
  assert tiny_dataset.train_record in stored['source']
  assert exporter.read_time_base(exported_model)['fps'] == util.FPS


@pytest.mark.slow
def test_serving_signature_counts_and_classes_are_int32(exported_model):
  signature = tf.saved_model.load(os.path.join(
      exported_model, '1')).signatures['serving_default']
  dtypes = {k: v.dtype for k, v in signature.structured_outputs.items()}
  for key in ('detection_classes', 'num_detections', 'num_proposals'):
    assert dtypes[key] == tf.int32, key
  for key in ('detection_segments', 'detection_scores', 'proposal_segments',
              'proposal_scores'):
    assert dtypes[key] == tf.float32, key
  outputs = _serve(signature, _random_video(20, 3, util.FPS,
                                            util.STRIDE_FRAMES,
                                            util.OFFSET_FRAMES))
  count = int(outputs['num_detections'][0])
  classes = outputs['detection_classes'][0]
  assert classes.dtype == np.int32
  # Real detections carry label ids 1..C, usable as indices as they are.
  assert count > 0
  assert np.all((classes[:count] >= 1) & (classes[:count] <= util.NUM_CLASSES))


def test_time_base_flags_override_records_and_partial_flags_need_records(
    tmp_path, tiny_dataset):
  pipeline = config_util.read_pipeline_config(util.PIPELINE_CONFIG)
  reader = pipeline.train_input_reader.tf_record_input_reader
  del reader.input_path[:]
  reader.input_path.append(tiny_dataset.train_record)
  from_records = exporter.resolve_time_base(pipeline)
  assert from_records['fps'] == util.FPS
  assert from_records['window_frames'] == 2 * util.OFFSET_FRAMES
  mixed = exporter.resolve_time_base(pipeline, stride_frames=4.5)
  assert mixed['stride_frames'] == 4.5 and mixed['fps'] == util.FPS
  assert 'stride_frames from flags' in mixed['source']
  assert exporter.resolve_time_base(pipeline, 30, 4, 16) == {
      'fps': 30.0, 'stride_frames': 4.0, 'window_frames': 16.0,
      'source': 'flags'}
  # Records that are not there: no time base, unless all three are given.
  del reader.input_path[:]
  reader.input_path.append(str(tmp_path / 'gone.record'))
  assert exporter.resolve_time_base(pipeline) is None
  with pytest.raises(ValueError, match='give all of'):
    exporter.resolve_time_base(pipeline, fps=25)
  with pytest.raises(ValueError, match='--fps: must be positive'):
    exporter.resolve_time_base(pipeline, 0, 4, 16)
  (tmp_path / exporter.TIME_BASE_FILE).write_text('{"fps": 10}')
  with pytest.raises(ValueError, match='not a time base file'):
    exporter.read_time_base(str(tmp_path))


# The line tools/export_saved_model.py prints when SoI pooling is compiled.
_XLA_NOTE = 'export_saved_model: note: %s' % exporter.XLA_SERVING_NOTE


def _functions_that_must_compile(version_dir):
  """Names of the SavedModel's library functions marked for XLA."""
  with open(os.path.join(version_dir, 'saved_model.pb'), 'rb') as f:
    saved_model = saved_model_pb2.SavedModel.FromString(f.read())
  return [function.signature.name
          for meta_graph in saved_model.meta_graphs
          for function in meta_graph.graph_def.library.function
          if function.attr['_XlaMustCompile'].b]


@pytest.mark.slow
def test_jit_compile_export_serves_the_default_exports_detections(
    exported_model, trained_model, tmp_path):
  output_directory = str(tmp_path / 'jit')
  result = util.run_tool(
      'export_saved_model.py',
      '--pipeline_config_path=%s' % os.path.join(trained_model.model_dir,
                                                 'pipeline.config'),
      '--checkpoint_dir=%s' % trained_model.model_dir,
      '--output_directory=%s' % output_directory, '--jit_compile')
  assert result.returncode == 0, util.describe(result)
  assert _XLA_NOTE in result.stderr
  version_dir = os.path.join(output_directory, '1')
  default_dir = os.path.join(exported_model, '1')
  # SoI pooling is compiled once per stream; the default export has no XLA.
  assert len(_functions_that_must_compile(version_dir)) == len(
      util.STREAM_NAMES)
  assert not _functions_that_must_compile(default_dir)
  jit = tf.saved_model.load(version_dir).signatures['serving_default']
  default = tf.saved_model.load(default_dir).signatures['serving_default']
  # Lengths on both sides of a power of two (XLA compiles per padded
  # length), each twice: the second call reuses the compiled loop.
  for i, num_steps in enumerate([20, 33, 64, 65, 33]):
    video = _random_video(num_steps, seed=10 + i, fps=util.FPS,
                          stride_frames=16.0, offset_frames=8.0)
    expected = _serve(default, video)
    assert expected['num_detections'][0] > 0
    _assert_same_detections(_serve(jit, video), expected, _ALL_OUTPUT_KEYS)


@pytest.mark.slow
def test_bfloat16_export_compiles_soi_pooling_unless_nojit_compile(
    trained_model, tmp_path):
  """--precision=bfloat16 compiles SoI pooling with XLA by default (where it
  pays) and says what a server then needs; --nojit_compile writes a
  SavedModel without XLA and no note."""
  version_dirs = {}
  for name, extra in (('default', []), ('nojit', ['--nojit_compile'])):
    output_directory = str(tmp_path / name)
    result = util.run_tool(
        'export_saved_model.py',
        '--pipeline_config_path=%s' % os.path.join(trained_model.model_dir,
                                                   'pipeline.config'),
        '--checkpoint_dir=%s' % trained_model.model_dir,
        '--output_directory=%s' % output_directory, '--precision=bfloat16',
        *extra)
    assert result.returncode == 0, util.describe(result)
    assert (_XLA_NOTE in result.stderr) == (name == 'default'), result.stderr
    version_dirs[name] = os.path.join(output_directory, '1')
  assert len(_functions_that_must_compile(version_dirs['default'])) == len(
      util.STREAM_NAMES)
  assert not _functions_that_must_compile(version_dirs['nojit'])
  video = _random_video(33, seed=3, fps=util.FPS, stride_frames=16.0,
                        offset_frames=8.0)
  for version_dir in version_dirs.values():
    serve = tf.saved_model.load(version_dir).signatures['serving_default']
    assert _serve(serve, video)['num_detections'][0] > 0


def _save_checkpoint(prefix, values):
  """A checkpoint of {name: numpy value}."""
  with tf.Graph().as_default():
    variables = [tf.compat.v1.get_variable(name, initializer=value)
                 for name, value in values.items()]
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      tf.compat.v1.train.Saver(variables).save(sess, prefix)


@pytest.mark.parametrize('use_moving_averages', [False, True])
def test_small_weights_become_constants_of_the_checkpoint_values(
    tmp_path, use_moving_averages):
  """Below the size limit a stored weight is a constant of its checkpoint
  value (its moving average when the export reads those); a larger one, a
  missing one or a misshapen one is a variable for the Saver, and the
  checkpoint check then reports the missing and the misshapen."""
  prefix = str(tmp_path / 'model.ckpt')
  suffix = '/ExponentialMovingAverage' if use_moving_averages else ''
  small = np.arange(3, dtype=np.float32)
  _save_checkpoint(prefix, {
      's/small' + suffix: small,
      's/large' + suffix: np.ones([4, 5], np.float32),
      's/misshapen' + suffix: np.ones([2], np.float32)})
  # pylint: disable=protected-access
  getter = exporter._small_weights_as_constants(prefix, use_moving_averages,
                                                max_values=10)
  # pylint: enable=protected-access
  with tf.Graph().as_default():
    with tf.compat.v1.variable_scope('s', custom_getter=getter):
      got = {name: tf.compat.v1.get_variable(name, shape=shape)
             for name, shape in (('small', [3]), ('large', [4, 5]),
                                 ('misshapen', [3]), ('missing', [2]))}
    assert got['small'].op.type == 'Const'
    np.testing.assert_array_equal(tf.get_static_value(got['small']), small)
    variables = {v.op.name for v in tf.compat.v1.global_variables()}
    assert variables == {'s/large', 's/misshapen', 's/missing'}
  assert exporter._small_weights_as_constants(  # pylint: disable=protected-access
      str(tmp_path / 'absent.ckpt'), False) is None
