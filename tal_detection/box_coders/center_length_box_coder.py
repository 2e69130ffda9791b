"""Centre/length segment coder (TAL-Net, SPEC §4).

With anchor centre ca and length la, a segment of centre c and length l is coded
    tc = center_scale * (c - ca) / la
    tl = length_scale * log(l / la)
and decoded by the inverse. The scale factors (default 10, 5) only rescale the
targets so that both regression outputs have a similar spread.
"""
import tensorflow as tf

from tal_detection.core import box_coder
from tal_detection.core import segment_list as segment_list_lib
from tal_detection.utils import shape_utils

# Lengths are floored at this value before dividing or taking a log, so that
# zero-length segments/anchors give finite codes instead of inf/NaN.
EPSILON = 1e-8


class CenterLengthBoxCoder(box_coder.BoxCoder):
  """Encodes a segment as (scaled centre offset, scaled log length ratio)."""

  def __init__(self, scale_factors=(10.0, 5.0)):
    """Creates the coder.

    Args:
      scale_factors: (center_scale, length_scale), both > 0.

    Raises:
      ValueError: if scale_factors is not two positive numbers.
    """
    if scale_factors is None or len(scale_factors) != 2:
      raise ValueError('scale_factors must be (center_scale, length_scale), '
                       'got %r' % (scale_factors,))
    if any(float(s) <= 0.0 for s in scale_factors):
      raise ValueError('scale_factors must be positive, got %r' %
                       (tuple(scale_factors),))
    self._scale_factors = tuple(float(s) for s in scale_factors)

  @property
  def code_size(self):
    return 2

  @property
  def scale_factors(self):
    return self._scale_factors

  def _encode(self, segments, anchors):
    center_scale, length_scale = self._scale_factors
    center_a, length_a = anchors.get_center_and_length()
    center, length = segments.get_center_and_length()
    length_a = tf.maximum(length_a, EPSILON)
    length = tf.maximum(length, EPSILON)
    t_center = center_scale * (center - center_a) / length_a
    t_length = length_scale * tf.math.log(length / length_a)
    return shape_utils.stack_last_axis([t_center, t_length])

  def _decode(self, rel_codes, anchors):
    center_scale, length_scale = self._scale_factors
    rel_codes = tf.convert_to_tensor(rel_codes)
    center_a, length_a = anchors.get_center_and_length()
    # Same floor as in _encode so that decode(encode(x)) == x exactly.
    length_a = tf.maximum(length_a, EPSILON)
    t_center, t_length = rel_codes[:, 0], rel_codes[:, 1]
    center = t_center / center_scale * length_a + center_a
    length = tf.exp(t_length / length_scale) * length_a
    return segment_list_lib.SegmentList(
        shape_utils.stack_last_axis([center - length / 2.0,
                                     center + length / 2.0]))
