"""Exports a trained model as a SavedModel (TF Serving layout).

Float32 exports keep their large weights as variables and their small ones
(biases, heads) as constants; bfloat16 exports freeze every weight.

Layout written under output_directory:
  <version>/saved_model.pb, <version>/variables/   (what TF Serving loads)
  pipeline.config                                  (the effective config)
  label_map.pbtxt                                  (if the config names one)
  time_base.json                                   (fps, stride, window)

time_base.json is the time base the model was trained on:
  {"fps": 10.0, "stride_frames": 16.0, "window_frames": 16.0,
   "source": "<where the numbers came from>"}
read from the first training record (records carry fps / stride_frames /
offset_frames per video; window = 2 x offset) or given explicitly. The
SavedModel itself takes the time parameters as inputs (a video may have its
own fps), so this file only supplies tools/infer.py's defaults; it is absent
when neither the records nor the caller know the time base.

Signature `serving_default`, input_type 'features':
  inputs   features_<stream> [B, T, D] float32 (any T), num_steps [B] int32,
           fps [B], stride_frames [B], offset_frames [B] float32;
input_type 'tf_example':
  inputs   tf_example [B] string (serialized SequenceExample records);
outputs (both): detection_segments [B, M, 2] float32 in seconds,
  detection_scores [B, M] float32, detection_classes [B, M] int32 (1-based label
  ids), num_detections [B] int32, proposal_segments [B, P, 2] float32 in seconds,
  proposal_scores [B, P] float32, num_proposals [B] int32. Counts and ids are
  integers so a client can index with them without a cast.

precision 'bfloat16' exports the same signature (float32 in and out) with the
networks computing in bfloat16: faster on CPUs with AVX512_BF16 / AMX, its
detections agreeing with the float32 export's to the tolerance
tests/test_bfloat16_export.py and tools/compare_precisions.py state.

jit_compile=True compiles SoI pooling with XLA (model_builder.build): the same
detections to 1e-5 (in float32), and the SavedModel then needs a runtime with
XLA's JIT (TensorFlow's Python package: tf.saved_model.load, saved_model_cli,
tools/infer.py; TF Serving only with --xla_cpu_compilation_enabled=true).
jit_compile=None (the default) compiles it where it pays
(JIT_COMPILE_BY_DEFAULT): in bfloat16 exports, not in float32 ones.
"""
import json
import os
import shutil
import tempfile

import tensorflow as tf

from tal_detection import model_lib
from tal_detection.builders import dataset_builder
from tal_detection.builders import model_builder
from tal_detection.core import standard_fields as fields
from tal_detection.data_decoders import tf_sequence_example_decoder
from tal_detection.utils import config_util
from tal_detection.utils import error_util

INPUT_TYPES = ('features', 'tf_example')
# Dtypes the exported networks can compute in (inputs and outputs are float32
# either way).
PRECISIONS = ('float32', 'bfloat16')
# Whether an export of each precision compiles SoI pooling with XLA when the
# caller does not say (jit_compile=None). Measured on the main config's
# exports (README, Speed; calls alternating): bfloat16 1.09-1.13x faster with
# XLA, because its compiled loop writes the pooled bins already in bfloat16,
# where crop_and_resize writes every float32 sample, a maximum reads them back
# and a float32-to-bfloat16 Cast (which float32 does not pay, and stock
# TensorFlow runs without the CPU's bfloat16 instructions) follows; float32
# within the noise (0.99-1.02x), so its exports stay free of XLA and TF
# Serving runs them without flags.
JIT_COMPILE_BY_DEFAULT = {'float32': False, 'bfloat16': True}
# What an XLA-compiled export asks of its server; the export tool prints it.
XLA_SERVING_NOTE = ('SoI pooling is compiled with XLA: TF Serving runs this '
                    'SavedModel only with --xla_cpu_compilation_enabled=true '
                    '(export with --nojit_compile for one without XLA)')
TIME_BASE_FILE = 'time_base.json'
TIME_BASE_KEYS = ('fps', 'stride_frames', 'window_frames')
# Outputs that are counts or label ids: int32 in the signature.
_INTEGER_OUTPUTS = ('detection_classes', 'num_detections', 'num_proposals')


def resolve_jit_compile(precision, jit_compile=None):
  """jit_compile as given, or (None) the precision's default
  (JIT_COMPILE_BY_DEFAULT)."""
  if jit_compile is None:
    if precision not in JIT_COMPILE_BY_DEFAULT:
      raise ValueError('precision must be one of %s, got %r' %
                       (PRECISIONS, precision))
    return JIT_COMPILE_BY_DEFAULT[precision]
  return bool(jit_compile)


def precision_warning(precision, machine):
  """Why `precision` will not pay on `machine` (machine_info's dict), or None.

  A bfloat16 export runs on any CPU, but without native bfloat16 matmuls
  (AVX512_BF16, AMX, Arm's BF16) TensorFlow falls back to kernels that are no
  faster than float32 (usually slower) and round more: their matmul error is
  about twice one bfloat16 rounding of the output, so more detections move.
  The exporting machine is often the serving one, so the export says so.
  """
  if precision != 'bfloat16' or machine.get('native_bfloat16', True):
    return None
  return ('--precision=bfloat16: this CPU (%s) has no native bfloat16 '
          'matmul (AVX512_BF16, AMX or Arm BF16); served here the export runs '
          'no faster than float32 and rounds more' % machine['cpu'])


def resolve_version_dir(path):
  """The folder holding saved_model.pb: path itself, or its newest version.

  An export folder holds numbered version folders (TF Serving layout); only
  those with a saved_model.pb count, and the largest number wins.

  Raises:
    ValueError: naming path when it is missing or holds no SavedModel.
  """
  if not tf.io.gfile.isdir(path):
    raise ValueError('%s: no such folder' % path)
  if tf.io.gfile.exists(os.path.join(path, 'saved_model.pb')):
    return path
  versions = [d.strip('/') for d in tf.io.gfile.listdir(path)]
  versions = [d for d in versions if d.isdigit() and tf.io.gfile.exists(
      os.path.join(path, d, 'saved_model.pb'))]
  if not versions:
    raise ValueError('%s: no saved_model.pb here nor in a numbered version '
                     'folder below it' % path)
  return os.path.join(path, max(versions, key=int))


def _feature_placeholders(model_config):
  """Placeholders of the 'features' input type and the features dict."""
  data = fields.InputDataFields
  placeholders = {}
  features = {}
  for stream_name, feature_dim in config_util.get_stream_specs(model_config):
    name = 'features_' + stream_name
    placeholders[name] = tf.compat.v1.placeholder(
        tf.float32, [None, None, feature_dim], name=name)
    features[data.features_key(stream_name)] = placeholders[name]
  placeholders['num_steps'] = tf.compat.v1.placeholder(tf.int32, [None],
                                                       name='num_steps')
  features[data.num_steps] = placeholders['num_steps']
  for key in ('fps', 'stride_frames', 'offset_frames'):
    placeholders[key] = tf.compat.v1.placeholder(tf.float32, [None], name=key)
    features[key] = placeholders[key]
  return placeholders, features


def _tf_example_placeholders(model_config):
  """Placeholder of the 'tf_example' input type and the decoded, padded batch."""
  serialized = tf.compat.v1.placeholder(tf.string, [None], name='tf_example')
  streams = config_util.get_stream_specs(model_config)
  decoder = tf_sequence_example_decoder.TfSequenceExampleDecoder(
      [name for name, _ in streams], [dim for _, dim in streams])
  return {'tf_example': serialized}, decoder.decode_batch(serialized)


def build_inference_graph(model_config, input_type='features',
                          precision='float32', jit_compile=None):
  """Builds placeholders -> detections in the default graph.

  Args:
    model_config: model_pb2.DetectionModel.
    input_type: one of INPUT_TYPES.
    precision: one of PRECISIONS, the dtype the networks compute in. With
      'bfloat16' the feature streams are cast where the SPNs read them and
      the SoI-pooled features before the box classifiers (SoI pooling
      reads the float32 streams), and the model reads its float32 variables
      through casts (the checkpoint is the float32 one); inputs, outputs,
      decoding and NMS stay float32.
    jit_compile: compile SoI pooling with XLA; None: the precision's
      default (resolve_jit_compile).

  Returns:
    (inputs dict of placeholders, outputs dict of tensors).
  """
  if input_type not in INPUT_TYPES:
    raise ValueError('input_type must be one of %s, got %r' %
                     (INPUT_TYPES, input_type))
  if precision not in PRECISIONS:
    raise ValueError('precision must be one of %s, got %r' %
                     (PRECISIONS, precision))
  if input_type == 'features':
    placeholders, features = _feature_placeholders(model_config)
  else:
    placeholders, features = _tf_example_placeholders(model_config)
  detection_model = model_builder.build(
      model_config, is_training=False,
      jit_compile=resolve_jit_compile(precision, jit_compile))
  _, detections = model_lib.build_detections(
      detection_model, features, compute_dtype=tf.as_dtype(precision))
  outputs = model_lib.export_outputs_dict(detections)
  outputs = {k: tf.identity(tf.cast(v, tf.int32) if k in _INTEGER_OUTPUTS
                            else v, name=k)
             for k, v in outputs.items()}
  return placeholders, outputs


def time_base_from_records(input_reader_config):
  """{fps, stride_frames, window_frames, source} of the first record, or None.

  None when the reader names no records or its files are gone (a config moved
  to another machine): the export then simply has no time base file. A file
  that exists but is corrupt is an error, as everywhere else.
  """
  try:
    files = dataset_builder.get_input_files(input_reader_config)
  except ValueError:
    return None
  for path in files:
    record = dataset_builder.read_first_record(path)
    if record is None:
      continue  # an empty shard
    example = tf.train.SequenceExample.FromString(record)
    context = example.context.feature
    keys = fields.TfExampleFields

    def value(key):
      values = context[key].float_list.value
      if not values:
        raise ValueError('record file %s: first record has no %s' % (path,
                                                                    key))
      return float(values[0])

    return {'fps': value(keys.fps),
            'stride_frames': value(keys.stride_frames),
            'window_frames': 2.0 * value(keys.offset_frames),
            'source': 'first training record, %s' % path}
  return None


def resolve_time_base(pipeline_config, fps=None, stride_frames=None,
                      window_frames=None):
  """The time base to store with an export: flags over the training records.

  Args:
    pipeline_config: the exported model's TrainEvalPipelineConfig.
    fps, stride_frames, window_frames: explicit values (None: from the first
      training record).

  Returns:
    dict with TIME_BASE_KEYS and 'source', or None when nothing is known.

  Raises:
    ValueError: when only some values are known (a partial time base would
      give infer.py defaults that mix two time bases).
  """
  given = {'fps': fps, 'stride_frames': stride_frames,
           'window_frames': window_frames}
  for key, value in given.items():
    if value is not None and not value > 0:
      raise ValueError('--%s: must be positive, got %g' % (key, value))
  if all(v is not None for v in given.values()):
    return dict({k: float(v) for k, v in given.items()}, source='flags')
  from_records = time_base_from_records(pipeline_config.train_input_reader)
  if from_records is None:
    if any(v is not None for v in given.values()):
      raise ValueError(
          'time base: give all of --fps, --stride_frames and --window_frames '
          '(the training records named by the config are not readable here)')
    return None
  overridden = [k for k, v in given.items() if v is not None]
  result = dict(from_records)
  for key in overridden:
    result[key] = float(given[key])
  if overridden:
    result['source'] = '%s; %s from flags' % (result['source'],
                                              ', '.join(overridden))
  return result


def read_time_base(export_dir):
  """The time_base.json beside an export's version folders, or None."""
  path = os.path.join(export_dir, TIME_BASE_FILE)
  if not tf.io.gfile.exists(path):
    return None
  try:
    with tf.io.gfile.GFile(path) as f:
      time_base = json.load(f)
    values = {k: float(time_base[k]) for k in TIME_BASE_KEYS}
  except (ValueError, KeyError, TypeError) as e:
    raise ValueError('%s: not a time base file (%s)' % (path, e)) from None
  if not all(v > 0 for v in values.values()):
    raise ValueError('%s: fps, stride_frames and window_frames must be '
                     'positive' % path)
  values['source'] = time_base.get('source', path)
  return values


def _shape_text(shape):
  return '[%s]' % ', '.join(str(d) for d in shape)


def check_checkpoint_matches(checkpoint_prefix, variables_by_name):
  """The checkpoint must hold every variable the graph restores, same shape.

  A checkpoint trained with another config (other fusion, depth or number of
  classes) would otherwise export a model that does not match its own
  pipeline.config, or one that fails only when served.

  Args:
    checkpoint_prefix: e.g. model_dir/model.ckpt-500.
    variables_by_name: {checkpoint name: tf.Variable}, what the Saver restores.

  Raises:
    ValueError: naming the checkpoint and the first mismatching variable.
  """
  try:
    stored = dict(tf.train.list_variables(checkpoint_prefix))
  except (tf.errors.OpError, ValueError) as e:
    message = error_util.op_error_summary(e)
    raise ValueError('checkpoint %s: unreadable or truncated: %s' %
                     (checkpoint_prefix, message)) from None
  for name in sorted(variables_by_name):
    built = variables_by_name[name].shape.as_list()
    if name not in stored:
      raise ValueError(
          'checkpoint %s: has no variable %s %s that the config builds; was it '
          'trained with another config?' % (checkpoint_prefix, name,
                                            _shape_text(built)))
    if list(stored[name]) != built:
      raise ValueError(
          'checkpoint %s: variable %s has shape %s but the config builds %s; '
          'was it trained with another config?' % (
              checkpoint_prefix, name, _shape_text(stored[name]),
              _shape_text(built)))


# Float32 exports read every weight of fewer values than this from the graph
# as a constant (_small_weights_as_constants); larger ones stay variables.
SMALL_WEIGHT_VALUES = 65536


def _small_weights_as_constants(checkpoint_prefix, use_moving_averages,
                                max_values=None):
  """A variable_scope custom getter that turns small weights into constants.

  A variable of fewer than max_values values (default SMALL_WEIGHT_VALUES)
  that the checkpoint holds with its shape becomes a constant of the stored
  value (its moving average with use_moving_averages, as _restore_map reads
  it); any other is created as usual and restored by the Saver, and
  check_checkpoint_matches reports one that is missing or misshapen.

  Why: a served variable costs two ops per call (its handle and its read),
  and the main config's 122 smallest (biases, heads, class and box
  predictors) hold 0.4% of its values. As constants the float32 export ran
  1.026x faster (tf.saved_model.load signature; 1.015x in a v1 Session;
  same weights, calls alternating) and its process held 613 against 655 MiB
  after two calls; freezing every weight ran 1.045x faster but held 1302
  MiB (the constants are copied into every graph TensorFlow builds).

  Returns:
    The getter, or None when the checkpoint cannot be read (the export then
    builds plain variables and check_checkpoint_matches says what is wrong).
  """
  max_values = SMALL_WEIGHT_VALUES if max_values is None else max_values
  try:
    reader = tf.train.load_checkpoint(checkpoint_prefix)
    stored = reader.get_variable_to_shape_map()
  except (tf.errors.OpError, ValueError):
    return None

  def constant_or_variable(getter, name, *args, **kwargs):
    shape = tf.TensorShape(kwargs.get('shape'))
    key = name
    if use_moving_averages and kwargs.get('trainable') is not False:
      key = name + '/ExponentialMovingAverage'
    if (shape.is_fully_defined() and shape.num_elements() < max_values and
        list(stored.get(key, [None])) == shape.as_list()):
      try:
        value = reader.get_tensor(key)
      except (tf.errors.OpError, IndexError, ValueError):
        # Truncated data (the reader raises IndexError for a short file):
        # left to the Saver, whose restore reports it in one line.
        value = None
      if value is not None:
        return tf.constant(value, dtype=kwargs.get('dtype'),
                           name=name.split('/')[-1])
    return getter(name, *args, **kwargs)

  return constant_or_variable


def _restore_map(pipeline_config):
  """{checkpoint name: variable} of the current graph's trained variables."""
  if pipeline_config.eval_config.use_moving_averages:
    return model_lib.moving_average_variables(pipeline_config.train_config)
  return {v.op.name: v for v in tf.compat.v1.global_variables()}


def _save_saved_model(sess, placeholders, outputs, path):
  """The session's graph and variables as a serving_default SavedModel."""
  builder = tf.compat.v1.saved_model.Builder(path)
  signature = tf.compat.v1.saved_model.predict_signature_def(
      inputs=placeholders, outputs=outputs)
  builder.add_meta_graph_and_variables(
      sess, [tf.saved_model.SERVING],
      signature_def_map={
          tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY: signature},
      strip_default_attrs=True)
  builder.save()


def _save_with_constant_weights(sess, placeholders, outputs, path):
  """Like _save_saved_model, the restored weights frozen into constants.

  For a lower-precision export: the float32 variables are read through casts,
  and a cast of a variable runs on every call (~9M weights for the main
  config), while a cast of a constant is folded once when the model is loaded
  (grappler's constant folding), leaving bfloat16 weights in the graph.

  Float32 exports keep their large weights as variables: frozen, the main
  config ran 1.045x faster but its serving process grew from 655 to 1302 MiB
  resident after two calls (the constants are copied into every graph and
  function TensorFlow builds from the SavedModel), too much memory for that;
  only the small ones are constants (_small_weights_as_constants).
  """
  frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
      sess, sess.graph.as_graph_def(),
      sorted(t.op.name for t in outputs.values()))
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.import_graph_def(frozen, name='')
  def by_name(tensors):
    return {k: graph.get_tensor_by_name(t.name) for k, t in tensors.items()}
  with tf.compat.v1.Session(graph=graph) as frozen_sess:
    _save_saved_model(frozen_sess, by_name(placeholders), by_name(outputs),
                      path)


def export_inference_graph(input_type, pipeline_config, trained_checkpoint_prefix,
                           output_directory, version=1, time_base=None,
                           precision='float32', jit_compile=None):
  """Writes the SavedModel, pipeline.config, label map, time base; the path.

  time_base: dict from resolve_time_base (None: read from the training
  records named by the config, when they are readable).
  precision: the dtype the networks compute in (build_inference_graph).
  jit_compile: compile SoI pooling with XLA; None: the precision's default
    (build_inference_graph).

  The checkpoint is checked against the graph the config builds before
  anything is written; the SavedModel is then written to a temporary folder
  beside the target and renamed only when complete, so a failed export leaves
  nothing half-written.
  """
  if not tf.io.gfile.exists(trained_checkpoint_prefix + '.index'):
    raise ValueError('trained_checkpoint_prefix: no checkpoint at %s' %
                     trained_checkpoint_prefix)
  version_dir = os.path.join(output_directory, str(version))
  if tf.io.gfile.exists(version_dir):
    raise ValueError('output_directory: %s already exists' % version_dir)
  if precision not in PRECISIONS:
    raise ValueError('precision: must be one of %s, got %r' %
                     (', '.join(PRECISIONS), precision))
  if os.path.exists(output_directory) and not os.path.isdir(output_directory):
    raise ValueError('output_directory: %s is a file, not a folder' %
                     output_directory)
  if time_base is None:
    time_base = resolve_time_base(pipeline_config)
  graph = tf.Graph()
  with graph.as_default():
    # (A lower precision freezes every weight below anyway.)
    getter = None if precision != 'float32' else _small_weights_as_constants(
        trained_checkpoint_prefix,
        pipeline_config.eval_config.use_moving_averages)
    with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                     custom_getter=getter):
      placeholders, outputs = build_inference_graph(
          pipeline_config.model, input_type, precision, jit_compile)
    variables_by_name = _restore_map(pipeline_config)
    check_checkpoint_matches(trained_checkpoint_prefix, variables_by_name)
    # A small model may have no variable left to restore.
    saver = (tf.compat.v1.train.Saver(variables_by_name)
             if variables_by_name else None)
  created_output_directory = not os.path.exists(output_directory)
  os.makedirs(output_directory, exist_ok=True)
  staging = tempfile.mkdtemp(prefix='.export_', dir=output_directory)
  succeeded = False
  try:
    with tf.compat.v1.Session(graph=graph) as sess:
      try:
        if saver:
          saver.restore(sess, trained_checkpoint_prefix)
      except tf.errors.OpError as e:
        raise ValueError('checkpoint %s: cannot be restored: %s' % (
            trained_checkpoint_prefix, error_util.op_error_summary(e))) from None
      if precision == 'float32':
        _save_saved_model(sess, placeholders, outputs,
                          os.path.join(staging, 'model'))
      else:
        _save_with_constant_weights(sess, placeholders, outputs,
                                    os.path.join(staging, 'model'))
    config_util.save_pipeline_config(pipeline_config, staging)
    label_map_path = pipeline_config.eval_input_reader.label_map_path
    if label_map_path and tf.io.gfile.exists(label_map_path):
      shutil.copy(label_map_path, os.path.join(staging, 'label_map.pbtxt'))
    if time_base is not None:
      with open(os.path.join(staging, TIME_BASE_FILE), 'w') as f:
        json.dump(time_base, f, indent=2)
        f.write('\n')
    os.replace(os.path.join(staging, 'model'), version_dir)
    stale = os.path.join(output_directory, TIME_BASE_FILE)
    if time_base is None and os.path.exists(stale):
      os.remove(stale)  # it described an earlier export, not this one
    for name in ('pipeline.config', 'label_map.pbtxt', TIME_BASE_FILE):
      if os.path.exists(os.path.join(staging, name)):
        os.replace(os.path.join(staging, name),
                   os.path.join(output_directory, name))
    succeeded = True
  finally:
    shutil.rmtree(staging, ignore_errors=True)
    if created_output_directory and not succeeded:
      shutil.rmtree(output_directory, ignore_errors=True)
  return version_dir
