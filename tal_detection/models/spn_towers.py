"""Segment Proposal Network towers and heads (paper §4.1-4.2, Table 1).

Four tower types (tal_net_pb2.SegmentProposalNetwork.TowerType):
  SINGLE         no temporal conv; heads straight on the features, so each
                 anchor is judged from the feature at its centre.
  SINGLE_TCONV   one tower of two conv1d (kernel 3, dilation 1) shared by all
                 scales, then one pair of heads producing K*2 channels each.
  MULTI_TCONV    one tower per anchor scale, two conv1d (kernel 3, dilation 1).
  MULTI_DILATED  one tower per scale s (the paper's): max-pool (kernel k,
                 stride 1, SAME), conv1d k3 dilation r1, conv1d k3 dilation r2,
                 with (k, r1, r2) from tower_layout(s, use_context).
Every per-scale tower ends in its own two kernel-1 heads: objectness (2 logits,
background/action) and regression (tc, tl). Heads have no activation.

Layers are slim.conv1d under the arg_scope of the conv hyperparams (activation,
initializer, regularizer, batch norm); the heads override activation and
normalizer to none.

Padding rule (batched, padded inputs): a video of valid length L inside a batch
padded to T > L must give, on its L valid steps, exactly what it gives alone.
Alone, every conv and max-pool at the video's ends sees SAME padding: zeros for
a conv, "nothing" for TF's max-pool (padding never wins a max). In a padded
batch the steps beyond L hold whatever the previous layer produced there (the
reduction conv's bias and ReLU, garbage inputs), so:
  * before a max-pool, padded steps are set to the dtype's most negative value,
    so they never win the max of a window that contains a valid step;
  * the input, and the output of the max-pool and of every conv, is multiplied
    by the valid mask, so each conv reads exact zeros beyond L, as SAME padding
    would give.
Outputs on padded steps are meaningless and must be ignored by the caller.
(Batch norm in training mode would still see padded steps in its batch
statistics; it is off by default.)
"""
import math

import tensorflow as tf
import tf_slim as slim

from tal_detection.protos import tal_net_pb2

_TOWER_TYPES = tal_net_pb2.SegmentProposalNetwork.TowerType
SINGLE = tal_net_pb2.SegmentProposalNetwork.SINGLE
SINGLE_TCONV = tal_net_pb2.SegmentProposalNetwork.SINGLE_TCONV
MULTI_TCONV = tal_net_pb2.SegmentProposalNetwork.MULTI_TCONV
MULTI_DILATED = tal_net_pb2.SegmentProposalNetwork.MULTI_DILATED

# Receptive field of two stacked kernel-3, dilation-1 convs.
_TCONV_RECEPTIVE_FIELD = 5


def _round_half_up(value):
  """Nearest integer, halves rounded up (Python's round() rounds half to even)."""
  return int(math.floor(value + 0.5))


def tower_layout(scale, use_context):
  """Max-pool kernel and dilations of the MULTI_DILATED tower of one scale.

  k = s/6*c, r1 = s/6*c, r2 = 2*s/6*c with c = 2 when use_context else 1,
  each rounded to the nearest integer (halves up) and at least 1. The tower's
  receptive field is then k + 2*r1 + 2*r2 (about s, or 2s with context).

  Args:
    scale: anchor scale s in feature steps (> 0).
    use_context: whether the receptive field also covers s/2 on each side.

  Returns:
    (pool_kernel_size, rate1, rate2), Python ints.

  Raises:
    ValueError: if scale is not positive.
  """
  if not scale > 0:
    raise ValueError('anchor scale must be > 0, got %r' % (scale,))
  context_factor = 2 if use_context else 1
  base = scale * context_factor / 6.0
  pool_kernel_size = max(1, _round_half_up(base))
  rate1 = max(1, _round_half_up(base))
  rate2 = max(1, _round_half_up(2.0 * base))
  return pool_kernel_size, rate1, rate2


def theoretical_receptive_field(tower_type, scale, use_context):
  """Receptive field (in steps) of the tower that scores anchors of `scale`.

  SINGLE 1; SINGLE_TCONV and MULTI_TCONV 5; MULTI_DILATED k + 2*r1 + 2*r2.
  """
  if tower_type == SINGLE:
    return 1
  if tower_type in (SINGLE_TCONV, MULTI_TCONV):
    return _TCONV_RECEPTIVE_FIELD
  if tower_type == MULTI_DILATED:
    pool_kernel_size, rate1, rate2 = tower_layout(scale, use_context)
    return pool_kernel_size + 2 * rate1 + 2 * rate2
  raise ValueError('unknown SPN tower_type %r' % (tower_type,))


def tower_scope_name(scale):
  """Variable scope of the per-scale tower, e.g. 'tower_s16' (or 'tower_s1.5')."""
  return 'tower_s%g' % scale


class SegmentProposalNetwork(object):
  """Builds the SPN towers and heads on a [B, T, D] feature map."""

  def __init__(self, tower_type, use_context, anchor_scales, depth,
               conv_hyperparams_fn, is_training, head_dropout_rate=0.0):
    """Constructor.

    Args:
      tower_type: tal_net_pb2.SegmentProposalNetwork.TowerType value.
      use_context: double the MULTI_DILATED pooling kernel and dilations.
      anchor_scales: list of K anchor scales (feature steps), in the order of
        the K axis of the outputs.
      depth: filters of every tower conv.
      conv_hyperparams_fn: zero-argument function returning the slim arg_scope
        of the convs (hyperparams_builder.build(...)).
      is_training: whether the graph is for training (kept for the OD API
        interface; batch norm's mode is already fixed in the arg_scope); also
        whether head dropout is applied.
      head_dropout_rate: dropout rate on the features entering the objectness
        and regression heads, training graphs only (0: none, the paper's).

    Raises:
      ValueError: on an unknown tower type, empty or non-positive scales, a
        non-positive depth or a dropout rate outside [0, 1).
    """
    if tower_type not in _TOWER_TYPES.values():
      raise ValueError('segment_proposal_network.tower_type: unknown value %r'
                       % (tower_type,))
    anchor_scales = list(anchor_scales)
    if not anchor_scales:
      raise ValueError('SegmentProposalNetwork needs at least one anchor scale')
    for scale in anchor_scales:
      if not scale > 0:
        raise ValueError('anchor scales must be > 0, got %r' % (scale,))
    if len(set(tower_scope_name(s) for s in anchor_scales)) != len(
        anchor_scales):
      raise ValueError('anchor scales must be distinct, got %r'
                       % (anchor_scales,))
    if int(depth) != depth or depth < 1:
      raise ValueError('segment_proposal_network.depth must be a positive '
                       'integer, got %r' % (depth,))
    self._tower_type = tower_type
    self._use_context = bool(use_context)
    self._anchor_scales = anchor_scales
    self._depth = int(depth)
    self._conv_hyperparams_fn = conv_hyperparams_fn
    if not 0.0 <= head_dropout_rate < 1.0:
      raise ValueError('segment_proposal_network.head_dropout_rate must be in '
                       '[0, 1), got %r' % (head_dropout_rate,))
    self._is_training = is_training
    self._head_dropout_rate = float(head_dropout_rate)

  @property
  def num_anchors_per_location(self):
    return len(self._anchor_scales)

  @property
  def anchor_scales(self):
    return list(self._anchor_scales)

  def receptive_fields(self):
    """Theoretical receptive field per anchor scale, in scale order."""
    return [theoretical_receptive_field(self._tower_type, s, self._use_context)
            for s in self._anchor_scales]

  def describe(self):
    """The towers' layout, for inspection tools (builds no ops).

    Returns:
      dict: tower_type (enum name), use_context, depth, and 'scales', one dict
      per anchor scale in scale order: scale, pool_kernel, rate1, rate2 (the
      MULTI_DILATED layout; None for the other tower types) and
      receptive_field (the theoretical one, in steps).
    """
    scales = []
    for scale, field in zip(self._anchor_scales, self.receptive_fields()):
      layout = (tower_layout(scale, self._use_context)
                if self._tower_type == MULTI_DILATED else (None, None, None))
      scales.append(dict(zip(('pool_kernel', 'rate1', 'rate2'), layout),
                         scale=scale, receptive_field=field))
    return {'tower_type': _TOWER_TYPES.Name(self._tower_type),
            'use_context': self._use_context, 'depth': self._depth,
            'scales': scales}

  def predict(self, features, valid_mask=None, scope=None):
    """Scores and regresses the K anchors of every step.

    Args:
      features: [B, T, D] float tensor (D static; B, T may be unknown).
      valid_mask: [B, T] float or bool tensor, nonzero/True on valid steps;
        None means every step is valid.
      scope: variable scope (default 'SegmentProposalNetwork'). Reuse follows
        the enclosing variable scope.

    Returns:
      objectness_logits: [B, T, K, 2] (background, action) logits.
      box_encodings: [B, T, K, 2] (tc, tl) regression outputs.
      Anchor k of step t is anchor_scales[k] centred at t + 0.5. Values on
      padded steps are meaningless.
    """
    features = tf.convert_to_tensor(features)
    if features.shape.rank != 3:
      raise ValueError('SegmentProposalNetwork.predict: features must be '
                       '[B, T, D], got shape %s' % features.shape)
    if valid_mask is None:
      valid_mask = tf.ones(tf.shape(features)[:2], dtype=features.dtype)
    mask = tf.cast(tf.cast(valid_mask, tf.bool), features.dtype)[:, :, None]
    num_scales = len(self._anchor_scales)

    with tf.compat.v1.variable_scope(scope,
                                     default_name='SegmentProposalNetwork'):
      with slim.arg_scope(self._conv_hyperparams_fn()):
        net = features * mask
        if self._tower_type == SINGLE:
          objectness, boxes = self._heads(net, num_scales)
        elif self._tower_type == SINGLE_TCONV:
          with tf.compat.v1.variable_scope('shared_tower'):
            tower = self._tconv_tower(net, mask)
          objectness, boxes = self._heads(tower, num_scales)
        else:
          objectness_per_scale = []
          boxes_per_scale = []
          for scale in self._anchor_scales:
            with tf.compat.v1.variable_scope(tower_scope_name(scale)):
              if self._tower_type == MULTI_TCONV:
                tower = self._tconv_tower(net, mask)
              else:
                tower = self._dilated_tower(net, mask, scale)
              scale_objectness, scale_boxes = self._heads(tower, 1)
            objectness_per_scale.append(scale_objectness)
            boxes_per_scale.append(scale_boxes)
          objectness = tf.concat(objectness_per_scale, axis=2)
          boxes = tf.concat(boxes_per_scale, axis=2)
    return objectness, boxes

  def _tconv_tower(self, net, mask):
    """Two conv1d, kernel 3, dilation 1, zeroed on padded steps."""
    net = slim.conv1d(net, self._depth, 3, scope='conv1') * mask
    return slim.conv1d(net, self._depth, 3, scope='conv2') * mask

  def _dilated_tower(self, net, mask, scale):
    """Max-pool k (stride 1, SAME), conv1d k3 rate r1, conv1d k3 rate r2."""
    pool_kernel_size, rate1, rate2 = tower_layout(scale, self._use_context)
    if pool_kernel_size > 1:
      # Padded steps must never win a max over a window holding a valid step.
      lowest = tf.fill(tf.shape(net), tf.constant(net.dtype.min, net.dtype))
      net = tf.where(tf.broadcast_to(mask > 0, tf.shape(net)), net, lowest)
      net = tf.nn.max_pool1d(net, ksize=pool_kernel_size, strides=1,
                             padding='SAME', name='max_pool') * mask
    net = slim.conv1d(net, self._depth, 3, rate=rate1, scope='conv1') * mask
    return slim.conv1d(net, self._depth, 3, rate=rate2, scope='conv2') * mask

  def _heads(self, net, num_scales):
    """Kernel-1 objectness and regression heads -> two [B, T, num_scales, 2]."""
    if self._is_training and self._head_dropout_rate > 0:
      # Eval and export graphs are built with is_training=False and so hold no
      # dropout op: their outputs stay deterministic.
      net = tf.nn.dropout(net, rate=self._head_dropout_rate, name='HeadDropout')
    objectness = slim.conv1d(net, num_scales * 2, 1, activation_fn=None,
                             normalizer_fn=None, scope='ObjectnessPredictor')
    boxes = slim.conv1d(net, num_scales * 2, 1, activation_fn=None,
                        normalizer_fn=None, scope='BoxEncodingPredictor')
    return (_split_anchors(objectness, num_scales),
            _split_anchors(boxes, num_scales))


def _split_anchors(head_output, num_scales):
  """[B, T, K*2] -> [B, T, K, 2] (channel k*2 + j is anchor k, output j)."""
  dynamic_shape = tf.shape(head_output)
  result = tf.reshape(
      head_output, tf.stack([dynamic_shape[0], dynamic_shape[1], num_scales, 2]))
  result.set_shape([head_output.shape[0], head_output.shape[1], num_scales, 2])
  return result
