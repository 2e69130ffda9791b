"""Tests for tal_detection.utils.config_util and the shipped configs."""
import glob
import math
import os

import pytest
from google.protobuf import text_format

from tal_detection.protos import input_reader_pb2
from tal_detection.protos import pipeline_pb2
from tal_detection.protos import tal_net_pb2
from tal_detection.utils import config_util

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(REPO, 'configs')
MAIN_CONFIG = os.path.join(CONFIG_DIR, 'thumos14_i3d_tal_net.config')
SYNTHETIC_CONFIG = os.path.join(CONFIG_DIR, 'synthetic_tal_net.config')
ALL_CONFIGS = sorted(glob.glob(os.path.join(CONFIG_DIR, '**', '*.config'),
                               recursive=True))
PAPER_SCALES = [1, 2, 3, 4, 5, 6, 8, 11, 16]
TalNet = tal_net_pb2.TalNet
SPN = tal_net_pb2.SegmentProposalNetwork


def _main_pipeline():
  return config_util.read_pipeline_config(MAIN_CONFIG)


def _read_ablation(name):
  return config_util.read_pipeline_config(
      os.path.join(CONFIG_DIR, 'ablations', name + '.config'))


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
  # Main, synthetic and 20 ablations (Table 1: 4 towers x 2 streams; Tables
  # 2-3: off/on x 2 streams; Table 4: 4 fusion settings).
  names = {os.path.relpath(p, CONFIG_DIR) for p in ALL_CONFIGS}
  expected = {'thumos14_i3d_tal_net.config', 'synthetic_tal_net.config'}
  for stream in ('rgb', 'flow'):
    for tower in ('single', 'single_tconv', 'multi_tconv', 'multi_dilated'):
      expected.add('ablations/table1_%s_spn_%s.config' % (stream, tower))
    for on_off in ('off', 'on'):
      expected.add('ablations/table2_%s_spn_context_%s.config' % (stream, on_off))
      expected.add('ablations/table3_%s_soi_context_%s.config' % (stream, on_off))
  for short in ('rgb_only', 'flow_only', 'early_fusion', 'late_fusion'):
    expected.add('ablations/table4_%s.config' % short)
  assert len(expected) == 22
  assert expected <= names, sorted(expected - names)
  for path in ALL_CONFIGS:
    config_util.validate_pipeline_config(
        config_util.read_pipeline_config(path), path)


def test_main_config_has_the_papers_hyperparameters():
  configs = config_util.get_configs_from_pipeline_file(MAIN_CONFIG)
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


@pytest.mark.parametrize('stream', ['rgb', 'flow'])
def test_table1_configs_compare_the_four_towers_without_context(stream):
  towers = {'single': SPN.SINGLE, 'single_tconv': SPN.SINGLE_TCONV,
            'multi_tconv': SPN.MULTI_TCONV, 'multi_dilated': SPN.MULTI_DILATED}
  for short, tower in towers.items():
    tal = _read_ablation('table1_%s_spn_%s' % (stream, short)).model.tal_net
    assert [s.name for s in tal.streams] == [stream]
    assert tal.segment_proposal_network.tower_type == tower
    assert not tal.segment_proposal_network.use_context
    assert tal.soi_context_ratio == 0.0


@pytest.mark.parametrize('stream', ['rgb', 'flow'])
def test_table2_and_table3_configs_toggle_one_context_each(stream):
  off = _read_ablation('table2_%s_spn_context_off' % stream).model.tal_net
  on = _read_ablation('table2_%s_spn_context_on' % stream).model.tal_net
  for tal in (off, on):
    assert [s.name for s in tal.streams] == [stream]
    assert tal.segment_proposal_network.tower_type == SPN.MULTI_DILATED
    assert tal.soi_context_ratio == 0.0
  assert not off.segment_proposal_network.use_context
  assert on.segment_proposal_network.use_context

  off = _read_ablation('table3_%s_soi_context_off' % stream).model.tal_net
  on = _read_ablation('table3_%s_soi_context_on' % stream).model.tal_net
  for tal in (off, on):
    assert [s.name for s in tal.streams] == [stream]
    assert tal.segment_proposal_network.use_context
  assert off.soi_context_ratio == 0.0
  assert on.soi_context_ratio == pytest.approx(0.5)


def test_table4_configs_cover_single_streams_and_both_fusions():
  expected = {'rgb_only': (['rgb'], TalNet.LATE),
              'flow_only': (['flow'], TalNet.LATE),
              'early_fusion': (['rgb', 'flow'], TalNet.EARLY),
              'late_fusion': (['rgb', 'flow'], TalNet.LATE)}
  for short, (streams, fusion) in expected.items():
    tal = _read_ablation('table4_' + short).model.tal_net
    assert [s.name for s in tal.streams] == streams
    assert tal.fusion == fusion
    assert tal.segment_proposal_network.use_context
    assert tal.soi_context_ratio == pytest.approx(0.5)
  # Late fusion is the main config's model.
  assert (_read_ablation('table4_late_fusion').model ==
          _main_pipeline().model)


def test_ablations_differ_from_the_main_config_only_where_they_say():
  main = _main_pipeline()
  for path in glob.glob(os.path.join(CONFIG_DIR, 'ablations', '*.config')):
    ablation = config_util.read_pipeline_config(path)
    # Everything outside the model, and the non-ablated model fields, match.
    for field in ('train_config', 'train_input_reader', 'eval_config',
                  'eval_input_reader'):
      assert getattr(ablation, field) == getattr(main, field), (path, field)
    tal = ablation.model.tal_net
    tal.ClearField('streams')
    tal.ClearField('fusion')
    tal.segment_proposal_network.ClearField('tower_type')
    tal.segment_proposal_network.ClearField('use_context')
    tal.ClearField('soi_context_ratio')
    reference = pipeline_pb2.TrainEvalPipelineConfig()
    reference.CopyFrom(main)
    ref_tal = reference.model.tal_net
    ref_tal.ClearField('streams')
    ref_tal.ClearField('fusion')
    ref_tal.segment_proposal_network.ClearField('tower_type')
    ref_tal.segment_proposal_network.ClearField('use_context')
    ref_tal.ClearField('soi_context_ratio')
    assert tal == ref_tal, path


def test_synthetic_config_is_small_and_reads_the_synthetic_records():
  configs = config_util.get_configs_from_pipeline_file(SYNTHETIC_CONFIG)
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
    config_util.get_configs_from_pipeline_file(path)
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
    config_util.get_configs_from_pipeline_file(missing)
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
  configs = config_util.get_configs_from_pipeline_file(
      MAIN_CONFIG,
      config_override='model { tal_net { num_classes: 7 '
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
  configs = config_util.get_configs_from_pipeline_file(
      MAIN_CONFIG,
      config_override='''
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
    config_util.get_configs_from_pipeline_file(
        MAIN_CONFIG, config_override='model {\n tal_net { bogus: 1 } }')
  message = _assert_one_line_error(info.value,
                                   '<config_override>: line 2 col 12: ')
  assert 'no field named "bogus"' in message


# ---------------------------------------------------------------------------
# Configs dictionary, saving.


def test_save_and_read_round_trip(tmp_path):
  configs = config_util.get_configs_from_pipeline_file(
      MAIN_CONFIG, config_override='train_config { num_steps: 77 }')
  pipeline = config_util.create_pipeline_proto_from_configs(configs)
  directory = str(tmp_path / 'model_dir' / 'nested')
  path = config_util.save_pipeline_config(pipeline, directory)
  assert path == os.path.join(directory, 'pipeline.config')
  assert os.listdir(directory) == ['pipeline.config']  # no temporary left
  reread = config_util.read_pipeline_config(path)
  assert reread == pipeline
  assert reread.train_config.num_steps == 77
  assert reread == config_util.create_pipeline_proto_from_configs(
      config_util.get_configs_from_pipeline_file(path))
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


def test_configs_are_views_and_pipeline_from_configs_is_a_copy():
  pipeline = _main_pipeline()
  configs = config_util.create_configs_from_pipeline_proto(pipeline)
  configs['train_config'].num_steps = 3
  assert pipeline.train_config.num_steps == 3
  rebuilt = config_util.create_pipeline_proto_from_configs(configs)
  assert rebuilt == pipeline
  rebuilt.train_config.num_steps = 4
  assert pipeline.train_config.num_steps == 3


def test_pipeline_from_configs_skips_absent_and_empty_entries():
  configs = config_util.create_configs_from_pipeline_proto(
      pipeline_pb2.TrainEvalPipelineConfig(
          train_config={'batch_size': 2}))
  del configs['model']
  rebuilt = config_util.create_pipeline_proto_from_configs(configs)
  assert [f.name for f, _ in rebuilt.ListFields()] == ['train_config']
  with pytest.raises(ValueError, match="configs\\['model'\\] must be a "
                     'DetectionModel'):
    config_util.create_pipeline_proto_from_configs(
        {'model': input_reader_pb2.InputReader()})


def test_get_number_of_classes():
  assert config_util.get_number_of_classes(_main_pipeline().model) == 20
  with pytest.raises(ValueError, match='meta-architecture'):
    config_util.get_number_of_classes(pipeline_pb2.TrainEvalPipelineConfig().model)


# ---------------------------------------------------------------------------
# External parameters (model_main flags).


def test_external_params_set_paths_label_map_and_steps():
  configs = config_util.get_configs_from_pipeline_file(MAIN_CONFIG)
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
  pipeline = config_util.create_pipeline_proto_from_configs(configs)
  config_util.validate_pipeline_config(pipeline)


def test_override_input_paths_keeps_what_is_not_given():
  configs = config_util.get_configs_from_pipeline_file(MAIN_CONFIG)
  returned = config_util.override_input_paths(
      configs, train_input_path='t.record*', label_map_path='l.pbtxt')
  assert returned is configs
  assert list(configs['train_input_config'].tf_record_input_reader
              .input_path) == ['t.record*']
  assert list(configs['eval_input_config'].tf_record_input_reader
              .input_path) == ['data/thumos14/thumos14_test.record-?????-of-00010']
  assert configs['eval_input_config'].label_map_path == 'l.pbtxt'
  config_util.override_input_paths(configs)  # all None: nothing changes
  assert configs['train_input_config'].label_map_path == 'l.pbtxt'


def test_external_input_path_completes_a_config_without_readers():
  pipeline = _main_pipeline()
  pipeline.ClearField('train_input_reader')
  configs = config_util.create_configs_from_pipeline_proto(pipeline)
  config_util.merge_external_params_with_configs(
      configs, {'train_input_path': 'x.record'})
  reader = config_util.create_pipeline_proto_from_configs(
      configs).train_input_reader
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
  configs = config_util.get_configs_from_pipeline_file(MAIN_CONFIG)
  with pytest.raises(ValueError, match=match):
    config_util.merge_external_params_with_configs(configs, params)


# ---------------------------------------------------------------------------
# Validation: one line "<path>: <field path>: <why>".

T = 'model.tal_net.'
NAN = float('nan')


def _clear(*dotted):
  """Mutation clearing the field at a dotted path."""
  def mutate(pipeline):
    parent = pipeline
    *parents, name = dotted[0].split('.')
    for part in parents:
      parent = getattr(parent, part)
    parent.ClearField(name)
  return mutate


def _set(dotted, value):
  def mutate(pipeline):
    parent = pipeline
    *parents, name = dotted.split('.')
    for part in parents:
      parent = getattr(parent, part)
    setattr(parent, name, value)
  return mutate


def _add_stream(name, dim=1024):
  def mutate(pipeline):
    pipeline.model.tal_net.streams.add(name=name, feature_dim=dim)
  return mutate


_SCALES = T + ('first_stage_anchor_generator.'
               'multiscale_temporal_anchor_generator.scales')
_ADAM = 'train_config.optimizer.adam_optimizer'

# (id, mutation: override text or function, expected "<field>: <why>" start)
BAD_CASES = [
    ('no_model', _clear('model'), 'model: missing'),
    ('model_without_tal_net', lambda p: p.model.ClearField('tal_net') or
     p.model.SetInParent(), 'model: names no meta-architecture'),
    ('no_num_classes', _clear(T + 'num_classes'),
     T + 'num_classes: missing'),
    ('zero_classes', 'model { tal_net { num_classes: 0 } }',
     T + 'num_classes: must be >= 1, got 0'),
    ('no_streams', _clear(T + 'streams'), T + 'streams: none given'),
    ('three_streams', _add_stream('audio'),
     T + 'streams: 3 streams given; TAL-Net takes one or two'),
    ('duplicate_stream', 'model { tal_net { streams { name: "rgb" } '
     'streams { name: "rgb" } } }',
     T + "streams[1].name: duplicate stream name 'rgb'"),
    ('unnamed_stream', 'model { tal_net { streams { feature_dim: 3 } } }',
     T + 'streams[0].name: missing'),
    ('bad_stream_name', 'model { tal_net { streams { name: "rgb/x" } } }',
     T + "streams[0].name: 'rgb/x' may only contain"),
    ('zero_feature_dim', 'model { tal_net { streams { name: "rgb" } '
     'streams { name: "flow" feature_dim: 0 } } }',
     T + 'streams[1].feature_dim: must be >= 1, got 0'),
    ('zero_reduction_depth', 'model { tal_net { feature_reduction_depth: 0 } }',
     T + 'feature_reduction_depth: must be >= 1, got 0'),
    ('zero_spn_depth', 'model { tal_net { segment_proposal_network { '
     'depth: -4 } } }',
     T + 'segment_proposal_network.depth: must be >= 1, got -4'),
    ('zero_fc_depth', 'model { tal_net { second_stage_fc_depth: 0 } }',
     T + 'second_stage_fc_depth: must be >= 1, got 0'),
    ('no_anchor_generator', _clear(T + 'first_stage_anchor_generator'),
     T + 'first_stage_anchor_generator: missing'),
    ('empty_anchor_scales', _clear(_SCALES), _SCALES + ': empty'),
    ('negative_anchor_scale', 'model { tal_net { first_stage_anchor_generator {'
     ' multiscale_temporal_anchor_generator { scales: 1 scales: 2 scales: -3 } '
     '} } }', _SCALES + '[2]: must be > 0, got -3'),
    ('zero_anchor_scale', 'model { tal_net { first_stage_anchor_generator {'
     ' multiscale_temporal_anchor_generator { scales: 0 } } } }',
     _SCALES + '[0]: must be > 0, got 0'),
    ('duplicate_anchor_scale', 'model { tal_net { first_stage_anchor_generator'
     ' { multiscale_temporal_anchor_generator { scales: 4 scales: 8 scales: 4 }'
     ' } } }', _SCALES + '[2]: duplicate scale 4'),
    ('zero_anchor_stride', 'model { tal_net { first_stage_anchor_generator { '
     'multiscale_temporal_anchor_generator { stride: 0 } } } }',
     T + 'first_stage_anchor_generator.multiscale_temporal_anchor_generator.'
     'stride: must be > 0, got 0'),
    ('zero_box_coder_scale', 'model { tal_net { box_coder { '
     'center_length_box_coder { length_scale: 0 } } } }',
     T + 'box_coder.center_length_box_coder.length_scale: must be > 0, got 0'),
    ('matched_threshold_above_1', 'model { tal_net { first_stage_matcher { '
     'argmax_matcher { matched_threshold: 1.5 } } } }',
     T + 'first_stage_matcher.argmax_matcher.matched_threshold: must be in '
     '[0, 1], got 1.5'),
    ('negative_unmatched_threshold', 'model { tal_net { second_stage_matcher { '
     'argmax_matcher { unmatched_threshold: -0.1 } } } }',
     T + 'second_stage_matcher.argmax_matcher.unmatched_threshold: must be in '
     '[0, 1], got -0.1'),
    ('unmatched_above_matched', 'model { tal_net { first_stage_matcher { '
     'argmax_matcher { unmatched_threshold: 0.8 } } } }',
     T + 'first_stage_matcher.argmax_matcher.unmatched_threshold: 0.8 is '
     'larger than matched_threshold (0.7)'),
    ('negative_nms_threshold',
     'model { tal_net { first_stage_nms_iou_threshold: -0.5 } }',
     T + 'first_stage_nms_iou_threshold: must be in [0, 1], got -0.5'),
    ('nan_nms_threshold', _set(T + 'first_stage_nms_iou_threshold', NAN),
     T + 'first_stage_nms_iou_threshold: must be in [0, 1], got nan'),
    ('negative_proposal_score_threshold',
     'model { tal_net { first_stage_nms_score_threshold: -0.01 } }',
     T + 'first_stage_nms_score_threshold: must be in [0, 1], got -0.01'),
    ('negative_detection_score_threshold',
     'model { tal_net { second_stage_post_processing { '
     'batch_non_max_suppression { score_threshold: -1 } } } }',
     T + 'second_stage_post_processing.batch_non_max_suppression.'
     'score_threshold: must be in [0, 1], got -1'),
    ('negative_detection_score_threshold_identity',
     'model { tal_net { second_stage_post_processing { score_converter: '
     'IDENTITY batch_non_max_suppression { score_threshold: -1 } } } }',
     T + 'second_stage_post_processing.batch_non_max_suppression.'
     'score_threshold: must be >= 0, got -1'),
    ('detection_nms_threshold_above_1',
     'model { tal_net { second_stage_post_processing { '
     'batch_non_max_suppression { iou_threshold: 1.2 } } } }',
     T + 'second_stage_post_processing.batch_non_max_suppression.'
     'iou_threshold: must be in [0, 1], got 1.2'),
    ('zero_max_detections', 'model { tal_net { second_stage_post_processing { '
     'batch_non_max_suppression { max_detections_per_class: 0 } } } }',
     T + 'second_stage_post_processing.batch_non_max_suppression.'
     'max_detections_per_class: must be >= 1, got 0'),
    ('zero_logit_scale', 'model { tal_net { second_stage_post_processing { '
     'logit_scale: 0 } } }',
     T + 'second_stage_post_processing.logit_scale: must be > 0, got 0'),
    ('zero_first_stage_minibatch',
     'model { tal_net { first_stage_minibatch_size: 0 } }',
     T + 'first_stage_minibatch_size: must be >= 1, got 0'),
    ('zero_positive_fraction',
     'model { tal_net { first_stage_positive_balance_fraction: 0 } }',
     T + 'first_stage_positive_balance_fraction: must be in (0, 1], got 0'),
    ('positive_fraction_above_1',
     'model { tal_net { first_stage_positive_balance_fraction: 1.5 } }',
     T + 'first_stage_positive_balance_fraction: must be in (0, 1], got 1.5'),
    ('zero_max_proposals', 'model { tal_net { first_stage_max_proposals: 0 } }',
     T + 'first_stage_max_proposals: must be >= 1, got 0'),
    ('second_stage_batch_above_proposals',
     'model { tal_net { second_stage_batch_size: 512 } }',
     T + 'second_stage_batch_size: 512 is larger than '
     'first_stage_max_proposals (300)'),
    ('zero_second_stage_batch', 'model { tal_net { second_stage_batch_size: 0 '
     '} }', T + 'second_stage_batch_size: must be >= 1, got 0'),
    ('second_stage_fraction_above_1',
     'model { tal_net { second_stage_balance_fraction: 2 } }',
     T + 'second_stage_balance_fraction: must be in (0, 1], got 2'),
    ('crop_smaller_than_maxpool', 'model { tal_net { initial_crop_size: 2 '
     'maxpool_kernel_size: 4 } }',
     T + 'initial_crop_size: 2 is smaller than maxpool_kernel_size (4)'),
    ('zero_maxpool_stride', 'model { tal_net { maxpool_stride: 0 } }',
     T + 'maxpool_stride: must be >= 1, got 0'),
    ('negative_soi_context', 'model { tal_net { soi_context_ratio: -0.5 } }',
     T + 'soi_context_ratio: must be >= 0, got -0.5'),
    ('negative_max_train_length', 'model { tal_net { max_train_length: -1 } }',
     T + 'max_train_length: must be >= 0, got -1'),
    ('max_train_length_below_largest_scale',
     'model { tal_net { max_train_length: 8 } }',
     T + 'max_train_length: 8 is shorter than the largest anchor scale (16)'),
    ('negative_loss_weight', 'model { tal_net { first_stage_loss { '
     'localization_weight: -1 } } }',
     T + 'first_stage_loss.localization_weight: must be >= 0, got -1'),
    ('zero_smooth_l1_delta', 'model { tal_net { second_stage_loss { '
     'localization_loss { weighted_smooth_l1 { delta: 0 } } } } }',
     T + 'second_stage_loss.localization_loss.weighted_smooth_l1.delta: '
     'must be > 0, got 0'),
    ('fc_op_on_conv_hyperparams', 'model { tal_net { '
     'feature_reduction_hyperparams { op: FC } } }',
     T + 'feature_reduction_hyperparams.op: is FC, but these hyperparams drive '
     'conv1d layers'),
    ('conv_op_on_fc_hyperparams', 'model { tal_net { '
     'second_stage_fc_hyperparams { op: CONV } } }',
     T + 'second_stage_fc_hyperparams.op: is CONV, but these hyperparams drive '
     'fully connected layers'),
    ('negative_regularizer', 'model { tal_net { segment_proposal_network { '
     'conv_hyperparams { regularizer { l2_regularizer { weight: -1 } } } } } }',
     T + 'segment_proposal_network.conv_hyperparams.regularizer.'
     'l2_regularizer.weight: must be >= 0, got -1'),
    ('zero_init_stddev', 'model { tal_net { segment_proposal_network { '
     'conv_hyperparams { initializer { truncated_normal_initializer { '
     'stddev: 0 } } } } } }',
     T + 'segment_proposal_network.conv_hyperparams.initializer.'
     'truncated_normal_initializer.stddev: must be > 0, got 0'),
    ('no_train_config', _clear('train_config'), 'train_config: missing'),
    ('no_optimizer', _clear('train_config.optimizer'),
     'train_config.optimizer: missing'),
    ('no_learning_rate', _clear(_ADAM + '.learning_rate'),
     _ADAM + '.learning_rate: missing'),
    ('zero_learning_rate', 'train_config { optimizer { adam_optimizer { '
     'learning_rate { constant_learning_rate { learning_rate: 0 } } } } }',
     _ADAM + '.learning_rate.constant_learning_rate.learning_rate: must be > 0,'
     ' got 0'),
    ('manual_steps_not_increasing', 'train_config { optimizer { '
     'adam_optimizer { learning_rate { manual_step_learning_rate { '
     'schedule { step: 100 } schedule { step: 50 } } } } } }',
     _ADAM + '.learning_rate.manual_step_learning_rate.schedule[1].step: 50 '
     'does not come after the previous step (100)'),
    ('cosine_total_steps_within_warmup', 'train_config { optimizer { '
     'adam_optimizer { learning_rate { cosine_decay_learning_rate { '
     'total_steps: 100 warmup_steps: 100 } } } } }',
     _ADAM + '.learning_rate.cosine_decay_learning_rate.total_steps: 100 must '
     'be larger than warmup_steps + hold_base_rate_steps (100)'),
    ('adam_beta1_of_1', 'train_config { optimizer { adam_optimizer { '
     'beta1: 1 } } }', _ADAM + '.beta1: must be in [0, 1), got 1'),
    ('zero_train_batch', 'train_config { batch_size: 0 }',
     'train_config.batch_size: must be >= 1, got 0'),
    ('negative_gradient_clipping',
     'train_config { gradient_clipping_by_norm: -1 }',
     'train_config.gradient_clipping_by_norm: must be >= 0, got -1'),
    ('unknown_fine_tune_type',
     'train_config { fine_tune_checkpoint_type: "classification" }',
     "train_config.fine_tune_checkpoint_type: 'classification' is not one of "
     'detection, feature_reduction'),
    ('bad_freeze_regex', 'train_config { freeze_variables: "spn/(" }',
     "train_config.freeze_variables[0]: 'spn/(' is not a valid regular "
     'expression'),
    ('eval_tiou_zero', 'eval_config { detection_tiou_thresholds: 0.5 '
     'detection_tiou_thresholds: 0 }',
     'eval_config.detection_tiou_thresholds[1]: must be in (0, 1], got 0'),
    ('eval_tiou_above_1', 'eval_config { detection_tiou_thresholds: 1.5 }',
     'eval_config.detection_tiou_thresholds[0]: must be in (0, 1], got 1.5'),
    ('eval_tiou_duplicate', 'eval_config { detection_tiou_thresholds: 0.5 '
     'detection_tiou_thresholds: 0.5 }',
     'eval_config.detection_tiou_thresholds[1]: duplicate threshold 0.5'),
    ('proposal_tiou_negative', 'eval_config { proposal_tiou_thresholds: -0.5 }',
     'eval_config.proposal_tiou_thresholds[0]: must be in (0, 1], got -0.5'),
    ('zero_average_number_of_proposals',
     'eval_config { average_number_of_proposals: 0 }',
     'eval_config.average_number_of_proposals[0]: must be >= 1, got 0'),
    ('unknown_metrics_set', 'eval_config { metrics_set: "coco" }',
     "eval_config.metrics_set[0]: 'coco' is not one of detection_metrics, "
     'proposal_metrics'),
    ('zero_eval_batch', 'eval_config { batch_size: 0 }',
     'eval_config.batch_size: must be >= 1, got 0'),
    ('eval_moving_averages_without_training_them',
     'eval_config { use_moving_averages: true }',
     'eval_config.use_moving_averages: true, but train_config.optimizer.'
     'use_moving_average is false'),
    ('reader_without_source', _clear('eval_input_reader.tf_record_input_reader'),
     'eval_input_reader: names no input source'),
    ('reader_without_paths',
     _clear('train_input_reader.tf_record_input_reader.input_path'),
     'train_input_reader.tf_record_input_reader.input_path: empty'),
    ('zero_sample_1_of_n', 'eval_input_reader { sample_1_of_n_examples: 0 }',
     'eval_input_reader.sample_1_of_n_examples: must be >= 1, got 0'),
]


@pytest.mark.parametrize('mutation, expected',
                         [case[1:] for case in BAD_CASES],
                         ids=[case[0] for case in BAD_CASES])
def test_inconsistent_config_gives_one_line_naming_the_field(mutation,
                                                             expected):
  pipeline = _main_pipeline()
  if callable(mutation):
    mutation(pipeline)
  else:
    config_util.merge_config_override(pipeline, mutation)
  with pytest.raises(config_util.ConfigError) as info:
    config_util.validate_pipeline_config(pipeline, 'configs/x.config')
  _assert_one_line_error(info.value, 'configs/x.config: ' + expected)


def test_validation_errors_are_value_errors_with_a_default_path():
  pipeline = pipeline_pb2.TrainEvalPipelineConfig()
  with pytest.raises(ValueError) as info:
    config_util.validate_pipeline_config(pipeline)
  assert str(info.value).startswith('<config>: model: missing')


@pytest.mark.parametrize('mutation', [
    # One stream ignores fusion, EARLY included.
    'model { tal_net { streams { name: "rgb" } fusion: EARLY } }',
    # Hyperparams without an explicit op scope every layer type.
    'model { tal_net { second_stage_fc_hyperparams { op: FC } } }',
    # Windows exactly as long as the largest anchor.
    'model { tal_net { max_train_length: 16 } }',
    # Equal thresholds (no ignored band) and ignore_thresholds.
    'model { tal_net { first_stage_matcher { argmax_matcher { '
    'matched_threshold: 0.5 unmatched_threshold: 0.5 } } } }',
    'model { tal_net { first_stage_matcher { argmax_matcher { '
    'ignore_thresholds: true unmatched_threshold: 0.9 } } } }',
    # Second-stage batch equal to the proposals.
    'model { tal_net { second_stage_batch_size: 300 } }',
    'eval_config { use_moving_averages: true } train_config { optimizer { '
    'use_moving_average: true } }',
    'train_config { optimizer { adam_optimizer { learning_rate { '
    'manual_step_learning_rate { schedule { step: 10 } schedule { step: 20 } '
    'warmup: true } } } } }',
], ids=['one_stream_early_fusion', 'fc_op', 'max_train_length_equal_scale',
        'equal_matcher_thresholds', 'ignore_thresholds',
        'batch_equal_proposals', 'moving_averages', 'manual_steps'])
def test_accepted_edge_cases(mutation):
  pipeline = _main_pipeline()
  config_util.merge_config_override(pipeline, mutation)
  config_util.validate_pipeline_config(pipeline)


def test_readers_and_eval_config_are_optional():
  pipeline = _main_pipeline()
  for field in ('train_input_reader', 'eval_input_reader', 'eval_config'):
    pipeline.ClearField(field)
  config_util.validate_pipeline_config(pipeline)
  pipeline.model.tal_net.ClearField('second_stage_fc_hyperparams')
  pipeline.model.tal_net.feature_reduction_hyperparams.ClearField('op')
  config_util.validate_pipeline_config(pipeline)


def test_nan_and_infinity_are_rejected_where_finite_values_are_needed():
  pipeline = _main_pipeline()
  pipeline.model.tal_net.soi_context_ratio = math.inf
  with pytest.raises(config_util.ConfigError,
                     match='soi_context_ratio: must be >= 0, got inf'):
    config_util.validate_pipeline_config(pipeline)
