"""Tests for builders/model_builder.py: variables, stream specs, stage matchers."""
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from tal_detection.builders import model_builder
from tal_detection.meta_architectures import tal_net_defaults
from tal_detection.protos import model_pb2
from tal_detection.utils import config_util

import tal_net_test_util as util

MAIN_CONFIG = 'configs/thumos14_i3d_tal_net.config'

# The variables of configs/thumos14_i3d_tal_net.config's rgb pipeline, as
# (name inside the pipeline's scope, shape) in creation order, recorded from
# the model as it was before it was split into stage objects. Checkpoints
# written since then must keep loading, so these may never change.
_FIRST_STAGE_VARIABLES = [
    ('FirstStageFeatureReduction/conv1x1/weights', [1, 1024, 256]),
    ('FirstStageFeatureReduction/conv1x1/biases', [256]),
    ('SegmentProposalNetwork/tower_s1/conv1/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s1/conv1/biases', [256]),
    ('SegmentProposalNetwork/tower_s1/conv2/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s1/conv2/biases', [256]),
    ('SegmentProposalNetwork/tower_s1/ObjectnessPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s1/ObjectnessPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s1/BoxEncodingPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s1/BoxEncodingPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s2/conv1/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s2/conv1/biases', [256]),
    ('SegmentProposalNetwork/tower_s2/conv2/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s2/conv2/biases', [256]),
    ('SegmentProposalNetwork/tower_s2/ObjectnessPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s2/ObjectnessPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s2/BoxEncodingPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s2/BoxEncodingPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s3/conv1/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s3/conv1/biases', [256]),
    ('SegmentProposalNetwork/tower_s3/conv2/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s3/conv2/biases', [256]),
    ('SegmentProposalNetwork/tower_s3/ObjectnessPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s3/ObjectnessPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s3/BoxEncodingPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s3/BoxEncodingPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s4/conv1/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s4/conv1/biases', [256]),
    ('SegmentProposalNetwork/tower_s4/conv2/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s4/conv2/biases', [256]),
    ('SegmentProposalNetwork/tower_s4/ObjectnessPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s4/ObjectnessPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s4/BoxEncodingPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s4/BoxEncodingPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s5/conv1/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s5/conv1/biases', [256]),
    ('SegmentProposalNetwork/tower_s5/conv2/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s5/conv2/biases', [256]),
    ('SegmentProposalNetwork/tower_s5/ObjectnessPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s5/ObjectnessPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s5/BoxEncodingPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s5/BoxEncodingPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s6/conv1/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s6/conv1/biases', [256]),
    ('SegmentProposalNetwork/tower_s6/conv2/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s6/conv2/biases', [256]),
    ('SegmentProposalNetwork/tower_s6/ObjectnessPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s6/ObjectnessPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s6/BoxEncodingPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s6/BoxEncodingPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s8/conv1/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s8/conv1/biases', [256]),
    ('SegmentProposalNetwork/tower_s8/conv2/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s8/conv2/biases', [256]),
    ('SegmentProposalNetwork/tower_s8/ObjectnessPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s8/ObjectnessPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s8/BoxEncodingPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s8/BoxEncodingPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s11/conv1/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s11/conv1/biases', [256]),
    ('SegmentProposalNetwork/tower_s11/conv2/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s11/conv2/biases', [256]),
    ('SegmentProposalNetwork/tower_s11/ObjectnessPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s11/ObjectnessPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s11/BoxEncodingPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s11/BoxEncodingPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s16/conv1/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s16/conv1/biases', [256]),
    ('SegmentProposalNetwork/tower_s16/conv2/weights', [3, 256, 256]),
    ('SegmentProposalNetwork/tower_s16/conv2/biases', [256]),
    ('SegmentProposalNetwork/tower_s16/ObjectnessPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s16/ObjectnessPredictor/biases', [2]),
    ('SegmentProposalNetwork/tower_s16/BoxEncodingPredictor/weights', [1, 256, 2]),
    ('SegmentProposalNetwork/tower_s16/BoxEncodingPredictor/biases', [2]),
]
_SECOND_STAGE_VARIABLES = [
    ('SecondStageBoxClassifier/Reduction/conv1x1/weights', [1, 1024, 256]),
    ('SecondStageBoxClassifier/Reduction/conv1x1/biases', [256]),
    ('SecondStageBoxClassifier/fc/weights', [2048, 256]),
    ('SecondStageBoxClassifier/fc/biases', [256]),
    ('SecondStageBoxClassifier/ClassPredictor/weights', [256, 21]),
    ('SecondStageBoxClassifier/ClassPredictor/biases', [21]),
    ('SecondStageBoxClassifier/BoxEncodingPredictor/weights', [256, 40]),
    ('SecondStageBoxClassifier/BoxEncodingPredictor/biases', [40]),
]


def _pipeline_variables(pipeline, recorded, input_dim):
  """Recorded names under `pipeline`; the kernel-1 reductions read input_dim."""
  variables = []
  for name, shape in recorded:
    if name.endswith('conv1x1/weights'):
      shape = [1, input_dim, shape[2]]
    variables.append(('%s/%s' % (pipeline, name), shape))
  return variables


def _built_variables(model_config, is_training):
  """[(name, shape)] of a model's variables after predict + loss/postprocess."""
  specs = [(s.name, s.feature_dim) for s in model_config.tal_net.streams]
  with tf.Graph().as_default():
    model = model_builder.build(model_config, is_training=is_training)
    features = {name: tf.compat.v1.placeholder(tf.float32, [None, None, dim])
                for name, dim in specs}
    steps = tf.compat.v1.placeholder(tf.int32, [None])
    if is_training:
      model.provide_groundtruth(
          tf.compat.v1.placeholder(tf.float32, [None, None, 2]),
          tf.compat.v1.placeholder(
              tf.float32, [None, None, model_config.tal_net.num_classes]),
          tf.compat.v1.placeholder(tf.int32, [None]))
    preprocessed, steps = model.preprocess(features, steps)
    predictions = model.predict(preprocessed, steps)
    if is_training:
      model.loss(predictions, steps)
    else:
      model.postprocess(predictions, steps)
    return [(v.op.name, v.shape.as_list())
            for v in tf.compat.v1.global_variables()]


def _main_model_config(fusion):
  return config_util.load_pipeline(
      MAIN_CONFIG, override='model { tal_net { fusion: %s } }' % fusion).model


@pytest.mark.parametrize('is_training', [True, False])
def test_main_config_keeps_its_checkpoint_variable_names(is_training):
  expected = (_pipeline_variables('rgb', _FIRST_STAGE_VARIABLES, 1024) +
              _pipeline_variables('flow', _FIRST_STAGE_VARIABLES, 1024) +
              _pipeline_variables('rgb', _SECOND_STAGE_VARIABLES, 1024) +
              _pipeline_variables('flow', _SECOND_STAGE_VARIABLES, 1024))
  assert len(expected) == 164
  assert _built_variables(_main_model_config('LATE'), is_training) == expected


def test_early_fusion_has_one_pipeline_of_the_same_variables():
  # The concatenated streams (1024 + 1024) feed both kernel-1 reductions.
  expected = (_pipeline_variables('rgb_flow', _FIRST_STAGE_VARIABLES, 2048) +
              _pipeline_variables('rgb_flow', _SECOND_STAGE_VARIABLES, 2048))
  assert _built_variables(_main_model_config('EARLY'), True) == expected


@pytest.mark.parametrize('streams,fusion,pipelines', [
    ((('rgb', 6), ('flow', 5)), 'LATE', ['rgb', 'flow']),
    ((('rgb', 6), ('flow', 5)), 'EARLY', ['rgb_flow']),
    ((('flow', 5), ('rgb', 6)), 'LATE', ['flow', 'rgb']),
    ((('flow', 5),), 'EARLY', ['flow']),
])
def test_model_tells_its_streams_and_classes(streams, fusion, pipelines):
  model = model_builder.build(
      util.tiny_model_config(streams=streams, fusion=fusion, num_classes=4),
      is_training=False)
  assert model.stream_specs == list(streams)
  assert model.stream_names == [name for name, _ in streams]
  assert model.num_classes == 4
  assert [p.name for p in model.pipelines] == pipelines
  assert model.proposal_stage.pipeline_names == pipelines
  assert model.classifier_stage.pipeline_names == pipelines


def test_unknown_meta_architecture_is_refused():
  with pytest.raises(ValueError, match='unknown or unset meta-architecture'):
    model_builder.build(model_pb2.DetectionModel(), is_training=False)


# ----------------------------------------------------------------- matchers --

_FIELDS = ('matched_threshold', 'unmatched_threshold',
           'negatives_lower_than_unmatched', 'force_match_for_each_row',
           'ignore_thresholds')


def _stage_matchers(matcher_text):
  """(first stage, second stage) matchers of the tiny model + matcher_text."""
  config = util.tiny_model_config()
  text_format.Merge('tal_net { %s }' % matcher_text, config)
  model = model_builder.build(config, is_training=True)
  return (model.proposal_stage.target_assigner.matcher,
          model.classifier_stage.target_assigner.matcher)


def _settings(matcher):
  return tuple(pytest.approx(getattr(matcher, f)) if isinstance(
      getattr(matcher, f), float) else getattr(matcher, f) for f in _FIELDS)


def _expected(defaults, **changes):
  settings = dict(defaults, **changes)
  return tuple(pytest.approx(settings[f]) if isinstance(settings[f], float)
               else settings[f] for f in _FIELDS)


FIRST = tal_net_defaults.FIRST_STAGE_MATCHER
SECOND = tal_net_defaults.SECOND_STAGE_MATCHER


def test_stage_defaults_are_the_papers():
  assert _expected(FIRST) == (0.7, 0.3, True, True, False)
  assert _expected(SECOND) == (0.5, 0.5, True, False, False)


@pytest.mark.parametrize('stage', ['first_stage_matcher',
                                   'second_stage_matcher'])
@pytest.mark.parametrize('text,changes', [
    # Absent, no oneof, an empty arg-max matcher: the stage's defaults.
    ('', {}),
    ('%s { }', {}),
    ('%s { argmax_matcher { } }', {}),
    # Partial: only the named fields move.
    ('%s { argmax_matcher { matched_threshold: 0.6 } }',
     {'matched_threshold': 0.6}),
    ('%s { argmax_matcher { force_match_for_each_row: true } }',
     {'force_match_for_each_row': True}),
    ('%s { argmax_matcher { force_match_for_each_row: false '
     'unmatched_threshold: 0.2 } }',
     {'force_match_for_each_row': False, 'unmatched_threshold': 0.2}),
    # Full.
    ('%s { argmax_matcher { matched_threshold: 0.65 unmatched_threshold: 0.35'
     ' negatives_lower_than_unmatched: false force_match_for_each_row: false'
     ' ignore_thresholds: true } }',
     {'matched_threshold': 0.65, 'unmatched_threshold': 0.35,
      'negatives_lower_than_unmatched': False,
      'force_match_for_each_row': False, 'ignore_thresholds': True}),
], ids=['absent', 'no_oneof', 'empty', 'matched_only', 'force_only',
        'two_fields', 'full'])
def test_a_matcher_changes_only_what_it_names(stage, text, changes):
  first, second = _stage_matchers(text % stage if text else '')
  defaults = {'first_stage_matcher': FIRST, 'second_stage_matcher': SECOND}
  configured, other = ((first, second) if stage == 'first_stage_matcher'
                       else (second, first))
  assert _settings(configured) == _expected(defaults[stage], **changes)
  other_stage = ('second_stage_matcher' if stage == 'first_stage_matcher'
                 else 'first_stage_matcher')
  assert _settings(other) == _expected(defaults[other_stage])


def test_partial_second_stage_matcher_matches_proposals_like_the_stage():
  """matched_threshold 0.6 alone: 0.5-0.6 ignored, below 0.5 background and no
  ground truth forces a proposal (the proto's 0.3 / forced match did not)."""
  _, matcher = _stage_matchers(
      'second_stage_matcher { argmax_matcher { matched_threshold: 0.6 } }')
  # Rows: ground truth; columns: proposals. Ground truth 1 overlaps nothing
  # well (best 0.45), so with forced matches it would claim proposal 2.
  similarity = tf.constant([[0.65, 0.55, 0.2, 0.35],
                            [0.1, 0.3, 0.45, 0.05]])
  np.testing.assert_array_equal(
      matcher.match(similarity).match_results.numpy(), [0, -2, -1, -1])
