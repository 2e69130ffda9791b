"""Pipeline config utilities: read, override, save (OD API style), one entry.

A pipeline config is a text-format `TrainEvalPipelineConfig`
(protos/pipeline.proto). Every tool reads one the same way:

  pipeline = config_util.load_pipeline(
      FLAGS.pipeline_config_path,
      override_files=FLAGS.config_override_file,   # e.g. an ablation fragment
      override=FLAGS.config_override,
      train_input_path=FLAGS.train_input_path)     # None keeps the config's
  config_util.save_pipeline_config(pipeline, FLAGS.model_dir)

load_pipeline validates the effective config (tal_detection/utils/
config_validation.py holds the rules); the lower-level read_pipeline_config
and merge_config_override do not, so overrides can still complete a config.
Every problem is reported as a `ConfigError` (a ValueError) whose message
is ONE line:

  <file>: line L col C: <protobuf's parser message>   (text that does not parse,
                                                         unknown fields)
  <file>: <field path>: <what is wrong>                 (inconsistent values)
  <file>: <what is wrong>                               (missing/unreadable file)

Override semantics (`config_override`, a text-format fragment of
TrainEvalPipelineConfig): singular scalars in the fragment replace the config's
value; singular messages are merged field by field (recursively); a REPEATED
field named in the fragment REPLACES the config's whole list (unlike the OD
API, whose text_format.Merge appends). So
`eval_config { detection_tiou_thresholds: 0.5 }` evaluates at 0.5 only, and
`model { tal_net { streams { name: "rgb" } } }` leaves a single RGB stream. To
change one element of a repeated field, restate the whole list. Setting a member
of a oneof (e.g. another optimizer) clears the config's other member. The
fragment is parsed strictly: unknown fields, a singular field given twice or
two members of one oneof are errors.
"""
import os
import re

from google.protobuf import descriptor
from google.protobuf import text_format

from tal_detection.protos import pipeline_pb2
from tal_detection.utils import config_validation
from tal_detection.utils import io_util

PIPELINE_CONFIG_FILENAME = 'pipeline.config'

# Re-exported: callers catch config_util.ConfigError and validate through here.
ConfigError = config_validation.ConfigError
validate_pipeline_config = config_validation.validate_pipeline_config
_one_line = config_validation.one_line

# Keys of the configs dictionary and the pipeline fields they map to.
_CONFIG_KEY_TO_PIPELINE_FIELD = (
    ('model', 'model'),
    ('train_config', 'train_config'),
    ('train_input_config', 'train_input_reader'),
    ('eval_config', 'eval_config'),
    ('eval_input_config', 'eval_input_reader'),
)

# Keys accepted by merge_external_params_with_configs (values None are skipped).
EXTERNAL_PARAM_KEYS = ('train_input_path', 'eval_input_path', 'label_map_path',
                       'num_train_steps', 'train_steps', 'batch_size',
                       'sample_1_of_n_eval_examples')

# ParseError messages start with "line:column : " (or "line : ").
_PARSE_LOCATION_PREFIX = re.compile(r'^\d+(?::\d+)? : ')


# ----------------------------------------------------------------------------
# Reading and parsing.


def _parse_error(error, text, path):
  """ConfigError "<path>: line L col C: <message>" from a text_format.ParseError."""
  message = _PARSE_LOCATION_PREFIX.sub('', str(error), count=1)
  line, column = error.GetLine(), error.GetColumn()
  if line is not None:
    # Some messages quote the whole offending line first ("'<line>': ...");
    # keep the quote (it shows the field) without the line's indentation.
    lines = text.splitlines()
    if 1 <= line <= len(lines):
      quoted = "'%s': " % lines[line - 1]
      if message.startswith(quoted):
        message = "'%s': %s" % (lines[line - 1].strip(), message[len(quoted):])
    where = 'line %d' % line
    if column is not None:
      where += ' col %d' % column
    return ConfigError('%s: %s: %s' % (path, where, _one_line(message)))
  return ConfigError('%s: %s' % (path, _one_line(message)))


def parse_pipeline_text(text, path='<config>', pipeline_config=None):
  """Parses text-format TrainEvalPipelineConfig strictly.

  Args:
    text: the config text (str).
    path: how error messages name the text's origin.
    pipeline_config: optional TrainEvalPipelineConfig to parse into (cleared
      first); a new one is made when None.

  Returns:
    The parsed pipeline_pb2.TrainEvalPipelineConfig.

  Raises:
    ConfigError: "<path>: line L col C: <why>" when the text does not parse,
      names an unknown field or enum value, sets a singular field twice or two
      members of one oneof.
  """
  if pipeline_config is None:
    pipeline_config = pipeline_pb2.TrainEvalPipelineConfig()
  try:
    text_format.Parse(text, pipeline_config)
  except text_format.ParseError as e:
    raise _parse_error(e, text, path) from None
  return pipeline_config


def read_config_text(path, what='a config file'):
  """The UTF-8 text of a config file or fragment (one-line ConfigError)."""
  if not os.path.exists(path):
    raise ConfigError('%s: no such file' % path)
  if os.path.isdir(path):
    raise ConfigError('%s: is a directory, not %s' % (path, what))
  try:
    with open(path, 'rb') as f:
      raw = f.read()
  except OSError as e:
    raise ConfigError('%s: cannot read: %s' % (path, e.strerror or e)) from None
  try:
    return raw.decode('utf-8')
  except UnicodeDecodeError as e:
    raise ConfigError('%s: not UTF-8 text (byte offset %d)' %
                      (path, e.start)) from None


def read_pipeline_config(pipeline_config_path):
  """Reads and parses a pipeline config file (no validation).

  Args:
    pipeline_config_path: path of a text-format TrainEvalPipelineConfig.

  Returns:
    pipeline_pb2.TrainEvalPipelineConfig.

  Raises:
    ConfigError: naming the file when it is missing, unreadable, not UTF-8 or
      does not parse (then also the line and column).
  """
  path = pipeline_config_path
  text = read_config_text(path, 'a pipeline config file')
  return parse_pipeline_text(text, path)


def _merge_replacing_repeated(source, destination):
  """Merges message `source` into `destination`; repeated fields are replaced."""
  for field, value in source.ListFields():
    if field.label == descriptor.FieldDescriptor.LABEL_REPEATED:
      destination.ClearField(field.name)
      getattr(destination, field.name).MergeFrom(value)
    elif field.cpp_type == descriptor.FieldDescriptor.CPPTYPE_MESSAGE:
      sub_message = getattr(destination, field.name)
      # Marks the field present (and clears the other members of its oneof)
      # even when the fragment gives it empty, e.g. `box_coder { ... { } }`.
      sub_message.SetInParent()
      _merge_replacing_repeated(value, sub_message)
    else:
      setattr(destination, field.name, value)


def merge_config_override(pipeline_config, config_override,
                          path='<config_override>'):
  """Merges a text-format override fragment on top of a pipeline config.

  See the module docstring for the semantics (repeated fields are replaced).

  Args:
    pipeline_config: pipeline_pb2.TrainEvalPipelineConfig, modified in place.
    config_override: text-format fragment of TrainEvalPipelineConfig.
    path: how error messages name the fragment.

  Returns:
    pipeline_config, for chaining.

  Raises:
    ConfigError: "<path>: line L col C: <why>" if the fragment does not parse.
  """
  override = parse_pipeline_text(config_override, path)
  _merge_replacing_repeated(override, pipeline_config)
  return pipeline_config


def create_configs_from_pipeline_proto(pipeline_config):
  """Splits a pipeline proto into the OD API's configs dictionary.

  Args:
    pipeline_config: pipeline_pb2.TrainEvalPipelineConfig.

  Returns:
    {'model', 'train_config', 'train_input_config', 'eval_config',
     'eval_input_config'}: views into pipeline_config (not copies), as in the
    OD API; an absent field appears as its default message.
  """
  return {key: getattr(pipeline_config, field)
          for key, field in _CONFIG_KEY_TO_PIPELINE_FIELD}


def save_pipeline_config(pipeline_config, directory):
  """Writes <directory>/pipeline.config atomically (temporary file + rename).

  Args:
    pipeline_config: pipeline_pb2.TrainEvalPipelineConfig.
    directory: output directory, created if missing.

  Returns:
    The path written.
  """
  path = os.path.join(directory, PIPELINE_CONFIG_FILENAME)
  return io_util.write_text(path, text_format.MessageToString(pipeline_config))


def load_pipeline(pipeline_config_path, override=None, override_files=(),
                  validate=True, **external_params):
  """THE config entry point: read, merge overrides, apply flags, validate.

  Order: the file, then each override file (e.g. an ablation fragment) in
  order, then the `override` text (e.g. --config_override), then the external
  parameters (model_main's path/step flags). Every tool that takes a
  --pipeline_config_path goes through here, so they all see the same config.

  Args:
    pipeline_config_path: path of a text-format TrainEvalPipelineConfig.
    override: optional text-format fragment merged last (repeated fields
      replaced; see the module docstring).
    override_files: paths of fragments merged before `override`.
    validate: False skips validation (only for tools that complete or inspect
      a config themselves).
    **external_params: keys of EXTERNAL_PARAM_KEYS; None values are ignored.

  Returns:
    The effective pipeline_pb2.TrainEvalPipelineConfig (validated).

  Raises:
    ConfigError: one line naming the file (or flag) and the field at fault.
  """
  pipeline_config = read_pipeline_config(pipeline_config_path)
  if isinstance(override_files, str):
    override_files = [override_files]
  for path in override_files or ():
    merge_config_override(pipeline_config,
                          read_config_text(path, 'a config fragment'), path)
  if override:
    merge_config_override(pipeline_config, override)
  if external_params:
    try:
      merge_external_params_with_configs(
          create_configs_from_pipeline_proto(pipeline_config), external_params)
    except ValueError as e:
      raise ConfigError(_one_line(e)) from None
  if validate:
    validate_pipeline_config(pipeline_config, pipeline_config_path)
  return pipeline_config


# ----------------------------------------------------------------------------
# External parameters (model_main flags). merge_external_params_with_configs is
# the general form; override_input_paths covers the three path flags.


# ----------------------------------------------------------------------------
# Model accessors. Callers outside the builders and validation see a model
# config only through these: every meta-architecture message in the `model`
# oneof carries `num_classes`, `streams` (name, feature_dim) and
# `max_train_length`, so a new meta-architecture needs no change here.


def _meta_architecture_config(model_config):
  which = model_config.WhichOneof('model')
  if which is None:
    raise ConfigError('model: names no meta-architecture')
  return getattr(model_config, which)


def get_number_of_classes(model_config):
  """Number of action classes (background excluded) of a DetectionModel."""
  return _meta_architecture_config(model_config).num_classes


def get_stream_specs(model_config):
  """[(stream name, feature dim)] in config order (= column order in .npy)."""
  return [(s.name, s.feature_dim)
          for s in _meta_architecture_config(model_config).streams]


def get_stream_names(model_config):
  return [name for name, _ in get_stream_specs(model_config)]


def get_max_train_length(model_config):
  """Longest training window in steps (0 = whole videos)."""
  return _meta_architecture_config(model_config).max_train_length


def update_input_path(input_reader_config, input_path):
  """Replaces the TFRecord input paths of an InputReader.

  Args:
    input_reader_config: input_reader_pb2.InputReader, modified in place (its
      source becomes tf_record_input_reader).
    input_path: one path / glob pattern (str) or a list of them.

  Raises:
    ValueError: if input_path is empty or not a str / list of str.
  """
  if isinstance(input_path, str):
    paths = [input_path]
  elif isinstance(input_path, (list, tuple)):
    paths = list(input_path)
  else:
    raise ValueError('input_path must be a string or a list of strings, got %s'
                     % type(input_path).__name__)
  if not paths or not all(isinstance(p, str) and p for p in paths):
    raise ValueError('input_path must name at least one non-empty path, got %r'
                     % (input_path,))
  reader = input_reader_config.tf_record_input_reader
  reader.SetInParent()
  del reader.input_path[:]
  reader.input_path.extend(paths)


def merge_external_params_with_configs(configs, kwargs_dict=None):
  """Applies command-line parameters on top of a configs dictionary.

  Args:
    configs: dict from create_configs_from_pipeline_proto, modified in place.
    kwargs_dict: {key: value}; None values are ignored, so flags can be passed
      through unconditionally. Keys:
        train_input_path / eval_input_path: str or list of str, replacing the
          reader's tf_record_input_reader.input_path;
        label_map_path: set on both readers;
        num_train_steps (or train_steps): train_config.num_steps;
        batch_size: train_config.batch_size;
        sample_1_of_n_eval_examples: eval reader's sample_1_of_n_examples.

  Returns:
    configs.

  Raises:
    ValueError: for an unknown key or a bad value.
  """
  for key, value in sorted((kwargs_dict or {}).items()):
    if value is None:
      continue
    if key == 'train_input_path':
      update_input_path(configs['train_input_config'], value)
    elif key == 'eval_input_path':
      update_input_path(configs['eval_input_config'], value)
    elif key == 'label_map_path':
      configs['train_input_config'].label_map_path = value
      configs['eval_input_config'].label_map_path = value
    elif key in ('num_train_steps', 'train_steps'):
      configs['train_config'].num_steps = _non_negative_int(key, value)
    elif key == 'batch_size':
      configs['train_config'].batch_size = _non_negative_int(key, value)
    elif key == 'sample_1_of_n_eval_examples':
      configs['eval_input_config'].sample_1_of_n_examples = (
          _non_negative_int(key, value))
    else:
      raise ValueError('unknown external parameter %r; known: %s' %
                       (key, ', '.join(EXTERNAL_PARAM_KEYS)))
  return configs


def _non_negative_int(key, value):
  if isinstance(value, bool) or int(value) != value or value < 0:
    raise ValueError('%s must be a non-negative integer, got %r' % (key, value))
  return int(value)
