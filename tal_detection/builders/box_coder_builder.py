"""Builds a BoxCoder from a box_coder_pb2.BoxCoder config."""
from tal_detection.box_coders import center_length_box_coder
from tal_detection.protos import box_coder_pb2


def build(box_coder_config):
  """Builds the box coder a BoxCoder proto describes.

  Args:
    box_coder_config: box_coder_pb2.BoxCoder. With no oneof set, the default
      CenterLengthBoxCoder (10, 5) is built.

  Returns:
    a core.box_coder.BoxCoder.

  Raises:
    ValueError: if the config is not a BoxCoder proto or has invalid values.
  """
  if not isinstance(box_coder_config, box_coder_pb2.BoxCoder):
    raise ValueError('box_coder_config must be a box_coder_pb2.BoxCoder, got '
                     '%s' % type(box_coder_config).__name__)
  # The unset oneof falls back to the message defaults (10, 5).
  config = box_coder_config.center_length_box_coder
  if config.center_scale <= 0.0 or config.length_scale <= 0.0:
    raise ValueError('center_length_box_coder.center_scale and length_scale '
                     'must be positive, got %g and %g' %
                     (config.center_scale, config.length_scale))
  return center_length_box_coder.CenterLengthBoxCoder(
      scale_factors=(config.center_scale, config.length_scale))
