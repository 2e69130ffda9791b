"""Tests for builders/{box_coder,anchor_generator,matcher}_builder.py."""
import math

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from tal_detection.anchor_generators import multiscale_temporal_anchor_generator
from tal_detection.box_coders import center_length_box_coder
from tal_detection.builders import anchor_generator_builder
from tal_detection.builders import box_coder_builder
from tal_detection.builders import matcher_builder
from tal_detection.core import segment_list
from tal_detection.matchers import argmax_matcher
from tal_detection.protos import anchor_generator_pb2
from tal_detection.protos import box_coder_pb2
from tal_detection.protos import matcher_pb2


def _parse(text, message_class):
  return text_format.Parse(text, message_class())


def _encode_one(coder):
  return coder.encode(
      segment_list.SegmentList(tf.constant([[5.0, 9.0]])),
      segment_list.SegmentList(tf.constant([[4.0, 6.0]]))).numpy()[0]


def test_box_coder_from_text():
  coder = box_coder_builder.build(_parse(
      'center_length_box_coder { center_scale: 2.0 length_scale: 3.0 }',
      box_coder_pb2.BoxCoder))
  assert isinstance(coder, center_length_box_coder.CenterLengthBoxCoder)
  assert coder.scale_factors == (2.0, 3.0)
  np.testing.assert_allclose(_encode_one(coder), [2.0, 3.0 * math.log(2.0)],
                             rtol=1e-6)


def test_box_coder_defaults():
  for text in ('', 'center_length_box_coder {}'):
    coder = box_coder_builder.build(_parse(text, box_coder_pb2.BoxCoder))
    assert coder.scale_factors == (10.0, 5.0)
    np.testing.assert_allclose(_encode_one(coder),
                               [10.0, 5.0 * math.log(2.0)], rtol=1e-6)


def test_box_coder_bad_config():
  with pytest.raises(ValueError, match='center_scale'):
    box_coder_builder.build(_parse(
        'center_length_box_coder { center_scale: 0.0 }',
        box_coder_pb2.BoxCoder))
  with pytest.raises(ValueError, match='BoxCoder'):
    box_coder_builder.build(matcher_pb2.Matcher())


def test_anchor_generator_from_text():
  generator = anchor_generator_builder.build(_parse(
      """multiscale_temporal_anchor_generator {
           scales: [1, 2, 3, 4, 5, 6, 8, 11, 16] stride: 2.0 offset: 1.0 }""",
      anchor_generator_pb2.AnchorGenerator))
  assert isinstance(
      generator,
      multiscale_temporal_anchor_generator.MultiscaleTemporalAnchorGenerator)
  assert generator.num_anchors_per_location() == 9
  anchors = generator.generate(3).get().numpy()
  assert anchors.shape == (27, 2)
  # Step 2 (centre 1 + 2 * 2 = 5), scale 16 (last).
  np.testing.assert_allclose(anchors[2 * 9 + 8], [5.0 - 8.0, 5.0 + 8.0])


def test_anchor_generator_proto_defaults():
  generator = anchor_generator_builder.build(_parse(
      'multiscale_temporal_anchor_generator { scales: 2 }',
      anchor_generator_pb2.AnchorGenerator))
  assert (generator.stride, generator.offset) == (1.0, 0.5)
  np.testing.assert_allclose(generator.generate(2).get().numpy(),
                             [[-0.5, 1.5], [0.5, 2.5]])


@pytest.mark.parametrize('text,message', [
    ('multiscale_temporal_anchor_generator { }',
     'multiscale_temporal_anchor_generator.scales'),
    ('multiscale_temporal_anchor_generator { scales: [1, -2] }',
     'multiscale_temporal_anchor_generator.scales'),
    ('multiscale_temporal_anchor_generator { scales: 1 stride: 0 }',
     'multiscale_temporal_anchor_generator.stride'),
    ('', 'anchor_generator_oneof'),
])
def test_anchor_generator_bad_config(text, message):
  with pytest.raises(ValueError, match=message):
    anchor_generator_builder.build(
        _parse(text, anchor_generator_pb2.AnchorGenerator))


# Settings a stage might have (not the paper's: a build that ignored them
# would show).
_STAGE = dict(matched_threshold=0.55, unmatched_threshold=0.45,
              negatives_lower_than_unmatched=True,
              force_match_for_each_row=False, ignore_thresholds=False)


def test_matcher_from_text():
  matcher = matcher_builder.build(_parse(
      """argmax_matcher { matched_threshold: 0.6 unmatched_threshold: 0.4
                          negatives_lower_than_unmatched: false
                          force_match_for_each_row: false }""",
      matcher_pb2.Matcher), defaults=_STAGE)
  assert isinstance(matcher, argmax_matcher.ArgMaxMatcher)
  assert matcher.matched_threshold == pytest.approx(0.6)
  assert matcher.unmatched_threshold == pytest.approx(0.4)
  assert not matcher.negatives_lower_than_unmatched
  assert not matcher.force_match_for_each_row
  results = matcher.match(tf.constant([[0.65, 0.5, 0.1]])).match_results
  np.testing.assert_array_equal(results.numpy(), [0, -1, -2])


def test_matcher_without_settings_takes_the_stage_defaults():
  for config in (None, matcher_pb2.Matcher(),
                 _parse('argmax_matcher {}', matcher_pb2.Matcher)):
    assert matcher_builder.argmax_matcher_settings(config, _STAGE) == _STAGE
    matcher = matcher_builder.build(config, defaults=_STAGE)
    assert matcher.matched_threshold == 0.55
    assert matcher.unmatched_threshold == 0.45
    assert not matcher.force_match_for_each_row
    # 0.5 lies in the ignored band of these defaults.
    results = matcher.match(tf.constant([[0.6, 0.5, 0.1]])).match_results
    np.testing.assert_array_equal(results.numpy(), [0, -2, -1])


def test_partial_matcher_replaces_only_the_fields_it_sets():
  config = _parse('argmax_matcher { unmatched_threshold: 0.2 '
                  'force_match_for_each_row: true }', matcher_pb2.Matcher)
  settings = matcher_builder.argmax_matcher_settings(config, _STAGE)
  assert settings == dict(_STAGE, unmatched_threshold=pytest.approx(0.2),
                          force_match_for_each_row=True)
  # Setting a field to its proto2 zero value still counts as setting it.
  config = _parse('argmax_matcher { negatives_lower_than_unmatched: false }',
                  matcher_pb2.Matcher)
  assert not matcher_builder.argmax_matcher_settings(
      config, _STAGE)['negatives_lower_than_unmatched']


def test_matcher_defaults_must_cover_every_field():
  with pytest.raises(ValueError, match='ignore_thresholds'):
    matcher_builder.build(None, defaults=dict(matched_threshold=0.5,
                                              unmatched_threshold=0.5,
                                              negatives_lower_than_unmatched=True,
                                              force_match_for_each_row=False))


def test_matcher_bad_config():
  with pytest.raises(ValueError, match='argmax_matcher: unmatched_threshold'):
    matcher_builder.build(_parse(
        'argmax_matcher { matched_threshold: 0.3 unmatched_threshold: 0.7 }',
        matcher_pb2.Matcher), defaults=_STAGE)
  # The stage's unmatched 0.45 is above a partial config's matched 0.4.
  with pytest.raises(ValueError, match='argmax_matcher: unmatched_threshold'):
    matcher_builder.build(_parse('argmax_matcher { matched_threshold: 0.4 }',
                                 matcher_pb2.Matcher), defaults=_STAGE)
  with pytest.raises(ValueError, match='matcher_pb2.Matcher'):
    matcher_builder.build(box_coder_pb2.BoxCoder(), defaults=_STAGE)
