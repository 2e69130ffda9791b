"""Abstract anchor generator: the fixed set of reference segments of a video.

The temporal twin of the OD API's AnchorGenerator, for a single 1-D feature map:
given the number of feature steps T it returns T * num_anchors_per_location()
anchors in feature-step coordinates.
"""
import abc

import tensorflow as tf


class AnchorGenerator(abc.ABC):
  """Generates anchors over a 1-D feature map."""

  @abc.abstractmethod
  def name_scope(self):
    """Name scope (string) under which generate() builds its ops."""

  @abc.abstractmethod
  def num_anchors_per_location(self):
    """Number of anchors per feature step (int)."""

  def generate(self, num_steps):
    """Generates the anchors of a feature map with num_steps steps.

    Args:
      num_steps: int or scalar int tensor (may be unknown statically).

    Returns:
      SegmentList of num_steps * num_anchors_per_location() anchors.
    """
    with tf.name_scope(self.name_scope()):
      return self._generate(num_steps)

  @abc.abstractmethod
  def _generate(self, num_steps):
    """See generate."""
