"""Builds an AnchorGenerator from an anchor_generator_pb2.AnchorGenerator."""
from tal_detection.anchor_generators import (
    multiscale_temporal_anchor_generator as multiscale_lib)
from tal_detection.protos import anchor_generator_pb2


def build(anchor_generator_config):
  """Builds the anchor generator an AnchorGenerator proto describes.

  Args:
    anchor_generator_config: anchor_generator_pb2.AnchorGenerator.

  Returns:
    a core.anchor_generator.AnchorGenerator.

  Raises:
    ValueError: if the config is not an AnchorGenerator proto, has no
      generator set, or has empty/non-positive scales or a non-positive stride.
  """
  if not isinstance(anchor_generator_config,
                    anchor_generator_pb2.AnchorGenerator):
    raise ValueError('anchor_generator_config must be an '
                     'anchor_generator_pb2.AnchorGenerator, got %s' %
                     type(anchor_generator_config).__name__)
  which = anchor_generator_config.WhichOneof('anchor_generator_oneof')
  if which != 'multiscale_temporal_anchor_generator':
    raise ValueError('anchor_generator_oneof is not set: expected '
                     'multiscale_temporal_anchor_generator { scales: ... }')
  config = anchor_generator_config.multiscale_temporal_anchor_generator
  if not config.scales:
    raise ValueError('multiscale_temporal_anchor_generator.scales is empty: '
                     'give at least one anchor scale (paper: 1 2 3 4 5 6 8 11 '
                     '16)')
  if any(scale <= 0.0 for scale in config.scales):
    raise ValueError('multiscale_temporal_anchor_generator.scales must all be '
                     'positive, got %s' % list(config.scales))
  if config.stride <= 0.0:
    raise ValueError('multiscale_temporal_anchor_generator.stride must be '
                     'positive, got %g' % config.stride)
  return multiscale_lib.MultiscaleTemporalAnchorGenerator(
      scales=list(config.scales), stride=config.stride, offset=config.offset)
