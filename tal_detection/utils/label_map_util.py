"""Label maps: StringIntLabelMap text protos naming the action classes.

A label map lists the C action classes with ids 1..C (0 is background and is
never listed), e.g.

  item { name: "BaseballPitch" id: 1 }
  item { name: "BasketballDunk" id: 2 }

Records store label ids; detections report 1-based class ids; metrics and tools
turn ids back into names with the helpers below.
"""
import os

from google.protobuf import text_format

from tal_detection.protos import string_int_label_map_pb2
from tal_detection.utils import io_util


def _validate_label_map(label_map, source):
  """Checks names and ids; raises ValueError naming `source` on a problem."""
  if not label_map.item:
    raise ValueError('label map %s has no items' % source)
  ids = []
  names = set()
  for index, item in enumerate(label_map.item):
    if not item.HasField('name') or not item.name:
      raise ValueError('label map %s: item %d has no name' % (source, index))
    if not item.HasField('id'):
      raise ValueError('label map %s: item %r has no id' % (source, item.name))
    if item.name in names:
      raise ValueError('label map %s: duplicate name %r' % (source, item.name))
    if item.id in ids:
      raise ValueError('label map %s: duplicate id %d' % (source, item.id))
    names.add(item.name)
    ids.append(item.id)
  expected = set(range(1, len(ids) + 1))
  if set(ids) != expected:
    raise ValueError(
        'label map %s: ids must be exactly 1..%d (0 is background), got %s' %
        (source, len(ids), sorted(ids)))


def load_labelmap(path):
  """Reads and validates a label map .pbtxt file.

  Args:
    path: path of a text-format StringIntLabelMap.

  Returns:
    A StringIntLabelMap proto with ids exactly 1..C and unique names.

  Raises:
    ValueError: if the file is missing or unreadable, does not parse, or has
      missing/duplicate names or ids, or ids other than 1..C. The message names
      the file.
  """
  if not path:
    raise ValueError('label map path is empty')
  if not os.path.isfile(path):
    raise ValueError('label map file %s does not exist' % path)
  try:
    with open(path, 'r', encoding='utf-8') as f:
      text = f.read()
  except (OSError, UnicodeDecodeError) as e:
    raise ValueError('cannot read label map file %s: %s' % (path, e)) from e
  label_map = string_int_label_map_pb2.StringIntLabelMap()
  try:
    text_format.Parse(text, label_map)
  except text_format.ParseError as e:
    raise ValueError('label map file %s does not parse: %s' % (path, e)) from e
  _validate_label_map(label_map, path)
  return label_map


def _as_label_map(label_map_path_or_proto):
  if isinstance(label_map_path_or_proto,
                string_int_label_map_pb2.StringIntLabelMap):
    _validate_label_map(label_map_path_or_proto, '<proto>')
    return label_map_path_or_proto
  return load_labelmap(label_map_path_or_proto)


def get_label_map_dict(label_map_path_or_proto, use_display_name=False):
  """Returns {class name: id}.

  Args:
    label_map_path_or_proto: path of a label map file or a StringIntLabelMap.
    use_display_name: key by display_name where an item has one.
  """
  label_map = _as_label_map(label_map_path_or_proto)
  result = {}
  for item in label_map.item:
    name = item.name
    if use_display_name and item.HasField('display_name'):
      name = item.display_name
    result[name] = item.id
  return result


def get_label_map_id_to_name(label_map_path_or_proto, use_display_name=False):
  """Returns {id: class name} (the inverse of get_label_map_dict)."""
  return {label_id: name for name, label_id in get_label_map_dict(
      label_map_path_or_proto, use_display_name).items()}


def get_num_classes(label_map_path_or_proto):
  """Number of action classes C of a label map."""
  return len(_as_label_map(label_map_path_or_proto).item)


def convert_label_map_to_categories(label_map_path_or_proto,
                                    use_display_name=True):
  """Returns categories [{'id': id, 'name': name}, ...] sorted by id."""
  label_map = _as_label_map(label_map_path_or_proto)
  categories = []
  for item in label_map.item:
    name = item.name
    if use_display_name and item.HasField('display_name'):
      name = item.display_name
    categories.append({'id': item.id, 'name': name})
  return sorted(categories, key=lambda c: c['id'])


def create_category_index(categories):
  """Returns {id: category dict} from a list of {'id', 'name'} dicts."""
  return {category['id']: category for category in categories}


def create_category_index_from_labelmap(label_map_path_or_proto,
                                        use_display_name=True):
  """Returns {id: {'id': id, 'name': name}} for a label map."""
  return create_category_index(convert_label_map_to_categories(
      label_map_path_or_proto, use_display_name))


def make_label_map(names_in_order):
  """Builds a StringIntLabelMap giving names_in_order ids 1..C in order.

  Raises:
    ValueError: on an empty list, an empty name or a duplicate name.
  """
  names_in_order = list(names_in_order)
  if not names_in_order:
    raise ValueError('cannot make a label map without class names')
  label_map = string_int_label_map_pb2.StringIntLabelMap()
  for index, name in enumerate(names_in_order):
    if not isinstance(name, str) or not name:
      raise ValueError('label map class name %d is empty or not a string: %r' %
                       (index, name))
    item = label_map.item.add()
    item.name = name
    item.id = index + 1
  _validate_label_map(label_map, '<new label map>')
  return label_map


def save_label_map(names_in_order, path):
  """Writes a label map with ids 1..C in the order of names_in_order.

  The file is written to a temporary name in the same folder and renamed, so an
  existing label map is never left half-written.

  Args:
    names_in_order: class names; the first gets id 1.
    path: output .pbtxt path.

  Returns:
    The StringIntLabelMap written.
  """
  label_map = make_label_map(names_in_order)
  write_label_map(label_map, path)
  return label_map


def write_label_map(label_map, path):
  """Atomically writes a StringIntLabelMap proto as text to path."""
  _validate_label_map(label_map, path)
  io_util.write_text(path, text_format.MessageToString(label_map))
