"""Multi-scale temporal anchors: one anchor per scale per step (SPEC §4).

The anchor of scale s on step t is centred at offset + t * stride and spans
[c - s/2, c + s/2]. Anchors are ordered step-major: index t * K + k holds scale
scales[k] at step t, matching a [T, K, .] prediction reshaped to [T*K, .].
"""
import tensorflow as tf

from tal_detection.core import anchor_generator
from tal_detection.core import segment_list as segment_list_lib
from tal_detection.utils import shape_utils


class MultiscaleTemporalAnchorGenerator(anchor_generator.AnchorGenerator):
  """K anchors (one per scale) centred on every feature step."""

  def __init__(self, scales, stride=1.0, offset=0.5):
    """Creates the generator.

    Args:
      scales: non-empty sequence of positive anchor lengths in feature steps.
      stride: distance in steps between consecutive anchor centres (> 0).
      offset: centre of the anchors of step 0.

    Raises:
      ValueError: on empty or non-positive scales or a non-positive stride.
    """
    scales = [float(s) for s in scales]
    if not scales:
      raise ValueError('scales must be non-empty')
    if any(s <= 0.0 for s in scales):
      raise ValueError('scales must all be positive, got %r' % (scales,))
    if float(stride) <= 0.0:
      raise ValueError('stride must be positive, got %r' % (stride,))
    self._scales = scales
    self._stride = float(stride)
    self._offset = float(offset)

  @property
  def scales(self):
    return list(self._scales)

  @property
  def stride(self):
    return self._stride

  @property
  def offset(self):
    return self._offset

  def name_scope(self):
    return 'MultiscaleTemporalAnchorGenerator'

  def num_anchors_per_location(self):
    return len(self._scales)

  def _generate(self, num_steps):
    num_steps = tf.convert_to_tensor(num_steps, dtype=tf.int32)
    centers = (tf.cast(tf.range(num_steps), tf.float32) * self._stride +
               self._offset)
    half_lengths = tf.constant(self._scales, dtype=tf.float32) / 2.0
    # [T, K] each; flattening row-major gives the step-major order t * K + k.
    starts = centers[:, tf.newaxis] - half_lengths[tf.newaxis, :]
    ends = centers[:, tf.newaxis] + half_lengths[tf.newaxis, :]
    anchors = tf.reshape(shape_utils.stack_last_axis([starts, ends]), [-1, 2])
    static_steps = tf.get_static_value(num_steps)
    if static_steps is not None:
      anchors.set_shape([int(static_steps) * len(self._scales), 2])
    return segment_list_lib.SegmentList(anchors)
