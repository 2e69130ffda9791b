"""SegmentList: a set of 1-D segments [start, end) with named per-segment fields.

The temporal twin of the OD API's BoxList. Segments are a float tensor of shape
[N, 2] holding (start, end) in feature-step coordinates (step i covers [i, i+1)).
Extra fields (scores, labels, objectness, ...) are tensors whose first dimension is N.
"""
import tensorflow as tf


class SegmentList(object):
  """A list of segments plus fields sharing their first dimension."""

  def __init__(self, segments):
    """Creates a SegmentList.

    Args:
      segments: float tensor [N, 2] of (start, end).

    Raises:
      ValueError: if segments is not of rank 2 with 2 columns.
    """
    segments = tf.convert_to_tensor(segments)
    if segments.shape.rank != 2 or (segments.shape[-1] is not None and
                                    segments.shape[-1] != 2):
      raise ValueError('segments must have shape [N, 2], got %s' %
                       segments.shape)
    if segments.dtype != tf.float32:
      raise ValueError('segments must be tf.float32, got %s' % segments.dtype)
    self._data = {'segments': segments}

  def num_segments(self):
    """Number of segments as a scalar int32 tensor."""
    return tf.shape(self._data['segments'])[0]

  def num_segments_static(self):
    """Number of segments if known statically, else None."""
    return self._data['segments'].shape[0]

  def get(self):
    """The [N, 2] segments tensor."""
    return self._data['segments']

  def set(self, segments):
    if segments.shape.rank != 2 or segments.shape[-1] != 2:
      raise ValueError('segments must have shape [N, 2]')
    self._data['segments'] = segments

  def get_all_fields(self):
    return list(self._data.keys())

  def get_extra_fields(self):
    return [k for k in self._data if k != 'segments']

  def has_field(self, field):
    return field in self._data

  def add_field(self, field, field_data):
    self._data[field] = tf.convert_to_tensor(field_data)

  def get_field(self, field):
    if not self.has_field(field):
      raise ValueError('field %s does not exist' % field)
    return self._data[field]

  def set_field(self, field, value):
    if not self.has_field(field):
      raise ValueError('field %s does not exist' % field)
    self._data[field] = tf.convert_to_tensor(value)

  def get_start_and_end(self):
    """Returns (start, end), each [N]."""
    segments = self._data['segments']
    return segments[:, 0], segments[:, 1]

  def get_center_and_length(self):
    """Returns (center, length), each [N]."""
    start, end = self.get_start_and_end()
    return (start + end) / 2.0, end - start
