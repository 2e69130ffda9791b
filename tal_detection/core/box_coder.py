"""Abstract segment coder: segments <-> regression targets relative to anchors.

The temporal twin of the OD API's BoxCoder. A coder turns ground-truth segments
into the [N, code_size] regression codes the network predicts (encode) and turns
predicted codes back into segments (decode), both relative to an anchor per row.
"""
import abc

import tensorflow as tf

from tal_detection.core import segment_list as segment_list_lib


class BoxCoder(abc.ABC):
  """Encodes/decodes 1-D segments relative to anchors."""

  @property
  @abc.abstractmethod
  def code_size(self):
    """Number of numbers per encoded segment."""

  def encode(self, segments, anchors):
    """Encodes segments relative to anchors, row by row.

    Args:
      segments: SegmentList of N segments to encode.
      anchors: SegmentList of N anchors (row i of segments is coded against
        row i of anchors).

    Returns:
      float tensor [N, code_size].
    """
    with tf.name_scope('Encode'):
      return self._encode(segments, anchors)

  def decode(self, rel_codes, anchors):
    """Decodes relative codes back into segments, row by row.

    Args:
      rel_codes: float tensor [N, code_size].
      anchors: SegmentList of N anchors.

    Returns:
      SegmentList of N decoded segments.
    """
    with tf.name_scope('Decode'):
      return self._decode(rel_codes, anchors)

  @abc.abstractmethod
  def _encode(self, segments, anchors):
    """See encode."""

  @abc.abstractmethod
  def _decode(self, rel_codes, anchors):
    """See decode."""


def batch_decode(encoded_segments, box_coder, anchors):
  """Decodes a batch of codes that share one set of anchors.

  Args:
    encoded_segments: float tensor [B, N, code_size].
    box_coder: a BoxCoder.
    anchors: float tensor [N, 2] of (start, end), shared by every batch item.

  Returns:
    float tensor [B, N, 2] of decoded (start, end).

  Raises:
    ValueError: if the ranks or the statically known sizes disagree.
  """
  encoded_segments = tf.convert_to_tensor(encoded_segments)
  anchors = tf.convert_to_tensor(anchors)
  if encoded_segments.shape.rank != 3:
    raise ValueError('encoded_segments must have rank 3 [B, N, code_size], '
                     'got shape %s' % encoded_segments.shape)
  if anchors.shape.rank != 2:
    raise ValueError('anchors must have rank 2 [N, 2], got shape %s' %
                     anchors.shape)
  code_dim = encoded_segments.shape[2]
  if code_dim is not None and code_dim != box_coder.code_size:
    raise ValueError('encoded_segments has %d codes per segment but the box '
                     'coder expects code_size %d' %
                     (code_dim, box_coder.code_size))
  num_encoded = encoded_segments.shape[1]
  num_anchors = anchors.shape[0]
  if (num_encoded is not None and num_anchors is not None and
      num_encoded != num_anchors):
    raise ValueError('encoded_segments has %d segments per item but there are '
                     '%d anchors' % (num_encoded, num_anchors))
  with tf.name_scope('BatchDecode'):
    batch_size = tf.shape(encoded_segments)[0]
    # The coder works on flat [N, .] rows, so flatten the batch and repeat the
    # anchors once per item.
    tiled_anchors = tf.reshape(
        tf.tile(anchors[tf.newaxis], [batch_size, 1, 1]), [-1, 2])
    flat_codes = tf.reshape(encoded_segments, [-1, box_coder.code_size])
    decoded = box_coder.decode(
        flat_codes, segment_list_lib.SegmentList(tiled_anchors)).get()
    decoded = tf.reshape(decoded, tf.stack(
        [batch_size, tf.shape(encoded_segments)[1], 2]))
    decoded.set_shape(encoded_segments.shape[:2].concatenate([2]))
    return decoded
