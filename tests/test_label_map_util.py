"""Tests of tal_detection.utils.label_map_util."""
import os

import pytest

from tal_detection.protos import string_int_label_map_pb2
from tal_detection.utils import label_map_util

VALID = """
item { name: "BaseballPitch" id: 1 }
item { name: "CleanAndJerk" id: 3 display_name: "Clean and jerk" }
item { name: "BasketballDunk" id: 2 }
"""


def _write(tmp_path, text, name='label_map.pbtxt'):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


def test_load_and_lookups(tmp_path):
  path = _write(tmp_path, VALID)
  label_map = label_map_util.load_labelmap(path)
  assert isinstance(label_map, string_int_label_map_pb2.StringIntLabelMap)
  assert [item.id for item in label_map.item] == [1, 3, 2]
  assert label_map_util.get_label_map_dict(path) == {
      'BaseballPitch': 1, 'CleanAndJerk': 3, 'BasketballDunk': 2}
  assert label_map_util.get_label_map_dict(label_map, use_display_name=True)[
      'Clean and jerk'] == 3
  assert label_map_util.get_label_map_id_to_name(path) == {
      1: 'BaseballPitch', 2: 'BasketballDunk', 3: 'CleanAndJerk'}
  assert label_map_util.get_num_classes(path) == 3
  categories = label_map_util.convert_label_map_to_categories(path)
  assert categories == [{'id': 1, 'name': 'BaseballPitch'},
                        {'id': 2, 'name': 'BasketballDunk'},
                        {'id': 3, 'name': 'Clean and jerk'}]
  index = label_map_util.create_category_index_from_labelmap(
      path, use_display_name=False)
  assert index[3] == {'id': 3, 'name': 'CleanAndJerk'}
  assert label_map_util.create_category_index(categories)[2]['name'] == (
      'BasketballDunk')


@pytest.mark.parametrize('text, fragment', [
    ('item { name: "a" id: 1 }\nitem { name: "b" id: 1 }', 'duplicate id 1'),
    ('item { name: "a" id: 1 }\nitem { name: "a" id: 2 }',
     "duplicate name 'a'"),
    ('item { name: "a" id: 0 }', 'ids must be exactly 1..1'),
    ('item { name: "a" id: 1 }\nitem { name: "b" id: 3 }',
     'ids must be exactly 1..2'),
    ('item { id: 1 }', 'item 0 has no name'),
    ('item { name: "a" }', "item 'a' has no id"),
    ('', 'has no items'),
    ('item { name: "a" id: 1 ', 'does not parse'),
    ('item { nme: "a" id: 1 }', 'does not parse'),
])
def test_bad_label_maps_name_the_file(tmp_path, text, fragment):
  path = _write(tmp_path, text)
  with pytest.raises(ValueError) as error:
    label_map_util.load_labelmap(path)
  assert fragment in str(error.value)
  assert path in str(error.value)


def test_missing_file(tmp_path):
  path = str(tmp_path / 'nope.pbtxt')
  with pytest.raises(ValueError, match='does not exist') as error:
    label_map_util.get_label_map_dict(path)
  assert path in str(error.value)


def test_save_round_trip_and_atomic_replace(tmp_path):
  path = str(tmp_path / 'sub' / 'label_map.pbtxt')
  label_map_util.save_label_map(['Zeta', 'Alpha', 'Mid "quoted"'], path)
  assert label_map_util.get_label_map_dict(path) == {
      'Zeta': 1, 'Alpha': 2, 'Mid "quoted"': 3}
  # A failing save keeps the existing file intact and leaves no temp file.
  with pytest.raises(ValueError, match='duplicate name'):
    label_map_util.save_label_map(['A', 'A'], path)
  with pytest.raises(ValueError, match='empty'):
    label_map_util.save_label_map(['A', ''], path)
  assert label_map_util.get_num_classes(path) == 3
  label_map_util.save_label_map(['Only'], path)
  assert label_map_util.get_label_map_dict(path) == {'Only': 1}
  assert os.listdir(os.path.dirname(path)) == ['label_map.pbtxt']


def test_make_label_map_rejects_empty_list():
  with pytest.raises(ValueError, match='without class names'):
    label_map_util.make_label_map([])
