"""Tests for tal_detection.utils.config_util and the shipped configs."""
import glob
import os

import pytest
from google.protobuf import text_format

from tal_detection.protos import pipeline_pb2
from tal_detection.protos import tal_net_pb2
from tal_detection.utils import config_util

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(REPO, 'configs')
MAIN_CONFIG = os.path.join(CONFIG_DIR, 'thumos14_i3d_tal_net.config')
SYNTHETIC_CONFIG = os.path.join(CONFIG_DIR, 'synthetic_tal_net.config')
# Complete configs only: configs/ablations/ holds fragments over the main one.
FULL_CONFIGS = sorted(glob.glob(os.path.join(CONFIG_DIR, '*.config')))
PAPER_SCALES = [1, 2, 3, 4, 5, 6, 8, 11, 16]
TalNet = tal_net_pb2.TalNet
SPN = tal_net_pb2.SegmentProposalNetwork


def _main_pipeline():
  return config_util.read_pipeline_config(MAIN_CONFIG)


def _configs(path, **kwargs):
  """The configs dictionary of load_pipeline's (unvalidated) result."""
  return config_util.create_configs_from_pipeline_proto(
      config_util.load_pipeline(path, validate=False, **kwargs))


def _write(tmp_path, text, name='pipeline.config'):
  path = str(tmp_path / name)
  with open(path, 'w') as f:
    f.write(text)
  return path


def _assert_one_line_error(error, prefix):
  message = str(error)
  assert '\n' not in message and '\r' not in message, message
  assert message.startswith(prefix), message
  return message


# ---------------------------------------------------------------------------
# Shipped configs.


def test_every_shipped_config_parses_and_validates():
  names = {os.path.relpath(p, CONFIG_DIR) for p in FULL_CONFIGS}
  assert {'thumos14_i3d_tal_net.config', 'synthetic_tal_net.config'} <= names
  for path in FULL_CONFIGS:
    config_util.load_pipeline(path)


def test_main_config_has_the_papers_hyperparameters():
  configs = _configs(MAIN_CONFIG)
  assert sorted(configs) == ['eval_config', 'eval_input_config', 'model',
                             'train_config', 'train_input_config']
  tal = configs['model'].tal_net
  assert tal.num_classes == 20
  assert [(s.name, s.feature_dim) for s in tal.streams] == [('rgb', 1024),
                                                            ('flow', 1024)]
  assert tal.fusion == TalNet.LATE
  assert tal.segment_proposal_network.tower_type == SPN.MULTI_DILATED
  assert tal.segment_proposal_network.use_context
  generator = tal.first_stage_anchor_generator.multiscale_temporal_anchor_generator
  assert list(generator.scales) == PAPER_SCALES
  assert (tal.feature_reduction_depth, tal.segment_proposal_network.depth,
          tal.second_stage_fc_depth) == (256, 256, 256)
  matcher = tal.first_stage_matcher.argmax_matcher
  assert (matcher.matched_threshold, matcher.unmatched_threshold) == (
      pytest.approx(0.7), pytest.approx(0.3))
  assert matcher.force_match_for_each_row
  assert tal.second_stage_matcher.argmax_matcher.matched_threshold == (
      pytest.approx(0.5))
  assert (tal.first_stage_minibatch_size, tal.second_stage_batch_size,
          tal.first_stage_max_proposals) == (256, 64, 300)
  assert tal.first_stage_positive_balance_fraction == pytest.approx(0.5)
  assert tal.second_stage_balance_fraction == pytest.approx(0.25)
  assert tal.first_stage_nms_iou_threshold == pytest.approx(0.7)
  assert (tal.second_stage_post_processing.batch_non_max_suppression
          .iou_threshold) == pytest.approx(0.7)
  assert tal.soi_context_ratio == pytest.approx(0.5)
  coder = tal.box_coder.center_length_box_coder
  assert (coder.center_scale, coder.length_scale) == (10.0, 5.0)
  train = configs['train_config']
  assert train.batch_size == 1
  adam = train.optimizer.adam_optimizer
  assert (adam.learning_rate.constant_learning_rate.learning_rate ==
          pytest.approx(1e-4))
  assert list(configs['train_input_config'].tf_record_input_reader
              .input_path) == ['data/thumos14/thumos14_val.record-?????-of-00010']
  assert configs['train_input_config'].label_map_path == (
      'data/thumos14/label_map.pbtxt')
  assert configs['eval_input_config'].label_map_path == (
      'data/thumos14/label_map.pbtxt')
  assert list(configs['eval_config'].detection_tiou_thresholds) == [
      pytest.approx(t / 10.0) for t in range(1, 8)]


def test_synthetic_config_is_small_and_reads_the_synthetic_records():
  configs = _configs(SYNTHETIC_CONFIG)
  tal = configs['model'].tal_net
  assert tal.num_classes == 5
  assert [(s.name, s.feature_dim) for s in tal.streams] == [('rgb', 64),
                                                            ('flow', 64)]
  assert (tal.feature_reduction_depth, tal.segment_proposal_network.depth,
          tal.second_stage_fc_depth) == (64, 64, 64)
  assert 100 <= configs['train_config'].num_steps <= 2000
  assert list(configs['train_input_config'].tf_record_input_reader
              .input_path) == ['out/synthetic/records/train.record*']
  assert configs['train_input_config'].label_map_path == (
      'out/synthetic/records/label_map.pbtxt')


# ---------------------------------------------------------------------------
# Reading and parse errors.


def test_unknown_field_is_one_line_naming_file_line_and_column(tmp_path):
  text = open(MAIN_CONFIG).read().replace('    num_classes: 20',
                                          '    num_clases: 20')
  path = _write(tmp_path, text)
  line = text.splitlines().index('    num_clases: 20') + 1
  with pytest.raises(config_util.ConfigError) as info:
    config_util.read_pipeline_config(path)
  message = _assert_one_line_error(info.value,
                                   '%s: line %d col 5: ' % (path, line))
  assert 'no field named "num_clases"' in message
  assert isinstance(info.value, ValueError)


def test_syntax_error_is_one_line_naming_file_and_line(tmp_path):
  path = _write(tmp_path, 'model {\n  tal_net {\n    num_classes: 20\n  }\n')
  with pytest.raises(config_util.ConfigError) as info:
    config_util.load_pipeline(path)
  message = _assert_one_line_error(info.value, '%s: line 4 col ' % path)
  assert 'Expected "}"' in message


def test_bad_enum_value_quotes_the_line(tmp_path):
  path = _write(tmp_path, 'model {\n  tal_net {\n    fusion: MIDDLE\n  }\n}\n')
  with pytest.raises(config_util.ConfigError) as info:
    config_util.read_pipeline_config(path)
  message = _assert_one_line_error(info.value, '%s: line 3 col 13: ' % path)
  assert "'fusion: MIDDLE': " in message
  assert 'no value named MIDDLE' in message


@pytest.mark.parametrize('text, fragment', [
    ('model { tal_net { num_classes: 3 num_classes: 4 } }',
     'should not have multiple "num_classes" fields'),
    ('train_config { optimizer { adam_optimizer { } momentum_optimizer { } } }',
     'oneof'),
    ('train_config { batch_size: -1 }', 'Value out of range'),
])
def test_strict_parsing_rejects_duplicates_oneof_conflicts_and_ranges(
    tmp_path, text, fragment):
  path = _write(tmp_path, text)
  with pytest.raises(config_util.ConfigError) as info:
    config_util.read_pipeline_config(path)
  message = _assert_one_line_error(info.value, '%s: line 1 col ' % path)
  assert fragment in message


def test_missing_file_directory_and_binary_file_name_the_file(tmp_path):
  missing = str(tmp_path / 'nope.config')
  with pytest.raises(config_util.ConfigError) as info:
    config_util.load_pipeline(missing)
  assert str(info.value) == '%s: no such file' % missing
  with pytest.raises(config_util.ConfigError) as info:
    config_util.read_pipeline_config(str(tmp_path))
  _assert_one_line_error(info.value, '%s: is a directory' % tmp_path)
  binary = str(tmp_path / 'binary.config')
  with open(binary, 'wb') as f:
    f.write(b'model {\xff\xfe')
  with pytest.raises(config_util.ConfigError) as info:
    config_util.read_pipeline_config(binary)
  assert str(info.value) == '%s: not UTF-8 text (byte offset 7)' % binary


def test_parse_pipeline_text_names_the_given_origin():
  with pytest.raises(config_util.ConfigError) as info:
    config_util.parse_pipeline_text('bogus: 1', path='<flag>')
  _assert_one_line_error(info.value, '<flag>: line 1 col 1: ')


# ---------------------------------------------------------------------------
# Overrides.


def test_override_replaces_scalars_and_merges_messages():
  configs = _configs(
      MAIN_CONFIG,
      override='model { tal_net { num_classes: 7 '
      'first_stage_matcher { argmax_matcher { matched_threshold: 0.8 } } } } '
      'train_config { num_steps: 12 }')
  tal = configs['model'].tal_net
  assert tal.num_classes == 7
  assert configs['train_config'].num_steps == 12
  argmax = tal.first_stage_matcher.argmax_matcher
  assert argmax.matched_threshold == pytest.approx(0.8)
  # Sibling fields of merged messages are kept.
  assert argmax.unmatched_threshold == pytest.approx(0.3)
  assert tal.second_stage_batch_size == 64
  assert [s.name for s in tal.streams] == ['rgb', 'flow']


def test_override_replaces_repeated_fields_instead_of_appending():
  configs = _configs(
      MAIN_CONFIG,
      override='''
        model { tal_net {
          streams { name: "rgb" feature_dim: 2048 }
          first_stage_anchor_generator { multiscale_temporal_anchor_generator {
            scales: 2 scales: 4 } }
        } }
        eval_config { detection_tiou_thresholds: 0.5 }''')
  tal = configs['model'].tal_net
  assert [(s.name, s.feature_dim) for s in tal.streams] == [('rgb', 2048)]
  generator = tal.first_stage_anchor_generator.multiscale_temporal_anchor_generator
  assert list(generator.scales) == [2.0, 4.0]
  assert generator.offset == 0.5  # untouched sibling
  assert list(configs['eval_config'].detection_tiou_thresholds) == [
      pytest.approx(0.5)]
  # Repeated fields the fragment does not name are kept.
  assert len(configs['eval_config'].proposal_tiou_thresholds) == 11


def test_override_switches_oneof_members_and_keeps_empty_messages():
  pipeline = _main_pipeline()
  config_util.merge_config_override(
      pipeline, 'train_config { optimizer { momentum_optimizer { '
      'learning_rate { cosine_decay_learning_rate { total_steps: 10 } } } } } '
      'model { tal_net { second_stage_post_processing { '
      'batch_non_max_suppression { } } } }')
  optimizer = pipeline.train_config.optimizer
  assert optimizer.WhichOneof('optimizer') == 'momentum_optimizer'
  assert not optimizer.HasField('adam_optimizer')
  schedule = optimizer.momentum_optimizer.learning_rate
  assert schedule.WhichOneof('learning_rate') == 'cosine_decay_learning_rate'
  assert schedule.cosine_decay_learning_rate.total_steps == 10
  # An empty message in the fragment does not wipe the config's values.
  nms = pipeline.model.tal_net.second_stage_post_processing.batch_non_max_suppression
  assert nms.max_total_detections == 200


def test_override_with_unknown_field_is_one_line_naming_the_override():
  with pytest.raises(config_util.ConfigError) as info:
    config_util.load_pipeline(
        MAIN_CONFIG, override='model {\n tal_net { bogus: 1 } }')
  message = _assert_one_line_error(info.value,
                                   '<config_override>: line 2 col 12: ')
  assert 'no field named "bogus"' in message


# ---------------------------------------------------------------------------
# Configs dictionary, saving.


def test_save_and_read_round_trip(tmp_path):
  pipeline = config_util.load_pipeline(
      MAIN_CONFIG, override='train_config { num_steps: 77 }')
  directory = str(tmp_path / 'model_dir' / 'nested')
  path = config_util.save_pipeline_config(pipeline, directory)
  assert path == os.path.join(directory, 'pipeline.config')
  assert os.listdir(directory) == ['pipeline.config']  # no temporary left
  reread = config_util.read_pipeline_config(path)
  assert reread == pipeline
  assert reread.train_config.num_steps == 77
  assert reread == config_util.load_pipeline(path)
  # The file is the plain text format, parseable without our reader.
  assert text_format.Parse(open(path).read(),
                           pipeline_pb2.TrainEvalPipelineConfig()) == pipeline


def test_save_overwrites_and_a_failed_save_keeps_the_old_file(tmp_path,
                                                             monkeypatch):
  directory = str(tmp_path)
  first = _main_pipeline()
  path = config_util.save_pipeline_config(first, directory)
  second = _main_pipeline()
  second.train_config.num_steps = 5
  config_util.save_pipeline_config(second, directory)
  assert config_util.read_pipeline_config(path).train_config.num_steps == 5

  def failing_replace(src, dst):
    raise OSError('disk full')

  monkeypatch.setattr(os, 'replace', failing_replace)
  third = _main_pipeline()
  third.train_config.num_steps = 9
  with pytest.raises(OSError):
    config_util.save_pipeline_config(third, directory)
  monkeypatch.undo()
  assert os.listdir(directory) == ['pipeline.config']
  assert config_util.read_pipeline_config(path).train_config.num_steps == 5


def test_configs_are_views_of_the_pipeline():
  pipeline = _main_pipeline()
  configs = config_util.create_configs_from_pipeline_proto(pipeline)
  assert sorted(configs) == ['eval_config', 'eval_input_config', 'model',
                             'train_config', 'train_input_config']
  configs['train_config'].num_steps = 3
  assert pipeline.train_config.num_steps == 3


def test_model_accessors_read_any_meta_architecture_message():
  model = _main_pipeline().model
  assert config_util.get_number_of_classes(model) == 20
  assert config_util.get_stream_specs(model) == [('rgb', 1024),
                                                 ('flow', 1024)]
  assert config_util.get_stream_names(model) == ['rgb', 'flow']
  assert config_util.get_max_train_length(model) == (
      model.tal_net.max_train_length)
  with pytest.raises(config_util.ConfigError, match='meta-architecture'):
    config_util.get_number_of_classes(
        pipeline_pb2.TrainEvalPipelineConfig().model)


# ---------------------------------------------------------------------------
# External parameters (model_main flags).


def test_external_params_set_paths_label_map_and_steps():
  pipeline = _main_pipeline()
  configs = config_util.create_configs_from_pipeline_proto(pipeline)
  config_util.merge_external_params_with_configs(configs, {
      'train_input_path': ['a/train-1.record', 'a/train-2.record'],
      'eval_input_path': 'b/test.record*',
      'label_map_path': 'c/labels.pbtxt',
      'num_train_steps': 42,
      'batch_size': 3,
      'sample_1_of_n_eval_examples': 5,
      'train_steps': None,  # None values are ignored
  })
  assert list(configs['train_input_config'].tf_record_input_reader
              .input_path) == ['a/train-1.record', 'a/train-2.record']
  assert list(configs['eval_input_config'].tf_record_input_reader
              .input_path) == ['b/test.record*']
  assert configs['train_input_config'].label_map_path == 'c/labels.pbtxt'
  assert configs['eval_input_config'].label_map_path == 'c/labels.pbtxt'
  assert configs['train_config'].num_steps == 42
  assert configs['train_config'].batch_size == 3
  assert configs['eval_input_config'].sample_1_of_n_examples == 5
  config_util.validate_pipeline_config(pipeline)


def test_load_pipeline_flags_keep_what_is_not_given():
  pipeline = config_util.load_pipeline(
      MAIN_CONFIG, train_input_path='t.record*', label_map_path='l.pbtxt',
      eval_input_path=None)
  assert list(pipeline.train_input_reader.tf_record_input_reader
              .input_path) == ['t.record*']
  assert list(pipeline.eval_input_reader.tf_record_input_reader
              .input_path) == ['data/thumos14/thumos14_test.record-?????-of-00010']
  assert pipeline.eval_input_reader.label_map_path == 'l.pbtxt'
  assert config_util.load_pipeline(MAIN_CONFIG) == _main_pipeline()


def test_load_pipeline_merges_file_fragments_then_text_then_flags(tmp_path):
  first = _write(tmp_path, 'train_config { num_steps: 5 batch_size: 4 }',
                 'first.config')
  second = _write(tmp_path, 'train_config { num_steps: 6 }', 'second.config')
  pipeline = config_util.load_pipeline(
      MAIN_CONFIG, override_files=[first, second],
      override='train_config { batch_size: 2 }', num_train_steps=9)
  assert (pipeline.train_config.num_steps, pipeline.train_config.batch_size) == (
      9, 2)
  pipeline = config_util.load_pipeline(MAIN_CONFIG, override_files=first,
                                       override='train_config { num_steps: 7 }')
  assert (pipeline.train_config.num_steps, pipeline.train_config.batch_size) == (
      7, 4)


def test_load_pipeline_errors_name_the_fragment_or_the_flag(tmp_path):
  bad = _write(tmp_path, 'model {\n tal_net { bogus: 1 } }', 'bad.config')
  with pytest.raises(config_util.ConfigError) as info:
    config_util.load_pipeline(MAIN_CONFIG, override_files=[bad])
  _assert_one_line_error(info.value, '%s: line 2 col 12: ' % bad)
  missing = str(tmp_path / 'missing.config')
  with pytest.raises(config_util.ConfigError) as info:
    config_util.load_pipeline(MAIN_CONFIG, override_files=[missing])
  assert str(info.value) == '%s: no such file' % missing
  with pytest.raises(config_util.ConfigError) as info:
    config_util.load_pipeline(MAIN_CONFIG, num_train_steps=-1)
  _assert_one_line_error(info.value, 'num_train_steps must be')
  # Validation runs on the effective config and names the base file.
  with pytest.raises(config_util.ConfigError) as info:
    config_util.load_pipeline(MAIN_CONFIG, override='train_config { '
                              'batch_size: 0 }')
  _assert_one_line_error(info.value, '%s: train_config.batch_size: ' %
                         MAIN_CONFIG)
  assert config_util.load_pipeline(
      MAIN_CONFIG, override='train_config { batch_size: 0 }',
      validate=False).train_config.batch_size == 0


def test_external_input_path_completes_a_config_without_readers():
  pipeline = _main_pipeline()
  pipeline.ClearField('train_input_reader')
  configs = config_util.create_configs_from_pipeline_proto(pipeline)
  config_util.merge_external_params_with_configs(
      configs, {'train_input_path': 'x.record'})
  reader = pipeline.train_input_reader
  assert reader.WhichOneof('input_reader') == 'tf_record_input_reader'
  assert list(reader.tf_record_input_reader.input_path) == ['x.record']


@pytest.mark.parametrize('params, match', [
    ({'learning_rate': 0.1}, "unknown external parameter 'learning_rate'"),
    ({'num_train_steps': -1}, 'non-negative integer'),
    ({'num_train_steps': 1.5}, 'non-negative integer'),
    ({'train_input_path': ''}, 'at least one non-empty path'),
    ({'train_input_path': []}, 'at least one non-empty path'),
    ({'eval_input_path': 3}, 'string or a list'),
])
def test_external_params_reject_bad_keys_and_values(params, match):
  configs = config_util.create_configs_from_pipeline_proto(_main_pipeline())
  with pytest.raises(ValueError, match=match):
    config_util.merge_external_params_with_configs(configs, params)
