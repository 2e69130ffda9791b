"""Tests of the model inspection behind validate_config --build
(tal_detection/utils/model_inspection.py) and of the SPN's describe()."""
from tal_detection.builders import model_builder
from tal_detection.utils import model_inspection

import tal_net_test_util


def _build(**kwargs):
  return model_builder.build(tal_net_test_util.tiny_model_config(**kwargs),
                             is_training=False)


def test_describe_gives_the_dilated_layout_of_every_scale():
  model = _build(tower_type='MULTI_DILATED', scales=(1, 8, 16))
  towers = model.proposal_stage.segment_proposal_network(
      model.pipelines[0].name).describe()
  assert towers['tower_type'] == 'MULTI_DILATED'
  assert towers['use_context'] is True  # tiny_model_config's setting
  assert towers['depth'] == 16
  # With context (c = 2): k = r1 = round(s/3), r2 = round(2s/3), at least 1;
  # receptive field k + 2 r1 + 2 r2.
  assert towers['scales'] == [
      {'scale': 1, 'pool_kernel': 1, 'rate1': 1, 'rate2': 1,
       'receptive_field': 5},
      {'scale': 8, 'pool_kernel': 3, 'rate1': 3, 'rate2': 5,
       'receptive_field': 19},
      {'scale': 16, 'pool_kernel': 5, 'rate1': 5, 'rate2': 11,
       'receptive_field': 37}]


def test_measured_receptive_fields_equal_the_rule_on_the_built_model():
  model = _build(tower_type='MULTI_DILATED', scales=(1, 4, 16))
  report = model_inspection.measure_receptive_fields(model)
  assert report['pipelines'] == ['rgb', 'flow']  # LATE fusion
  assert report['pipeline'] == 'rgb'
  assert report['tower_type'] == 'MULTI_DILATED'
  # k + 2 r1 + 2 r2: 1+2+2, 1+2+6, 5+10+22.
  assert [(r['scale'], r['measured'], r['expected'])
          for r in report['rows']] == [(1, 5, 5), (4, 9, 9), (16, 37, 37)]
  assert report['trainable_parameters'] > 0
  table = model_inspection.format_receptive_field_table(report)
  lines = table.splitlines()
  assert lines[0] == ("tower MULTI_DILATED, use_context true, measured on "
                      "pipeline 'rgb' of ['rgb', 'flow']")
  assert lines[-2].split() == ['16', '5', '5', '11', '37', '37', '16']
  assert lines[-1] == 'trainable parameters: %d' % report[
      'trainable_parameters']


def test_undilated_towers_show_no_layout_and_the_tconv_field():
  model = _build(tower_type='SINGLE_TCONV', scales=(2, 8),
                        streams=(('rgb', 6), ('flow', 5)), fusion='EARLY')
  report = model_inspection.measure_receptive_fields(model)
  assert report['pipelines'] == ['rgb_flow']
  for row in report['rows']:
    assert (row['pool_kernel'], row['rate1'], row['rate2']) == (None,) * 3
    assert row['measured'] == row['expected'] == 5
  table = model_inspection.format_receptive_field_table(report)
  assert table.splitlines()[2].split() == ['2', '-', '-', '-', '5', '5', '2']
