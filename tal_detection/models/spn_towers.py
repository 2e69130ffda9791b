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
  * every conv reads exact zeros beyond L, as SAME padding would give: the
    'layers' implementation multiplies the input and every layer's output by
    the valid mask, and so does 'sparse_backward' after every layer;
    'fused' gathers each conv's taps through an index map that sends a tap
    outside [0, T) or on a padded step to an appended zero row, so none of
    its activations is masked.
Outputs on padded steps are meaningless and must be ignored by the caller.
(Batch norm in training mode would still see padded steps in its batch
statistics; it is off by default.)

Three implementations compute the same function on the same variables:
  * 'fused' (the default without batch norm): every layer's variables are
    created as slim.conv1d would (same names, shapes, order, initializer and
    regularizer from the arg_scope), then every conv runs as one MatMul of
    its dilated taps gathered side by side (no space-to-batch, no Conv2D:
    on the SPN's shapes oneDNN's MatMul beats its dilated Conv2D), one
    max-pool per distinct pool kernel, the first convs of towers that read
    the same input at the same dilation sharing one gather of their taps.
    Padding costs one select before the max-pools and the index maps (a
    few integer ops per dilation); there is no branch, so a bfloat16
    export's frozen weights reach their MatMuls as constants (through a
    tf.cond's Switch they were not, and oneDNN re-packed them every call).
  * 'sparse_backward' (the default of training graphs): the same variables,
    the same MatMuls of gathered taps forward, one conv per tower layer, and
    a backward pass that works only on the steps whose output
    gradient is nonzero (conv1d_with_row_sparse_backward). The first-stage
    losses weigh only the sampled anchors (256 of T*K), so a tower's heads
    pass a gradient to about 1 step in 6; the dense conv gradients TF would
    run multiply mostly zeros (measured on the main config's nine towers,
    one 188-step video, 15% of the steps of each tower with a gradient:
    forward + backward 34 ms against 58 ms for 'layers').
  * 'layers': one slim.conv1d per layer, masks everywhere (the original
    formulation; always used when batch norm is configured).
"""
import contextlib
import math

import tensorflow as tf
import tf_slim as slim

from tal_detection.models import conv_variables
from tal_detection.protos import tal_net_pb2

_TOWER_TYPES = tal_net_pb2.SegmentProposalNetwork.TowerType
SINGLE = tal_net_pb2.SegmentProposalNetwork.SINGLE
SINGLE_TCONV = tal_net_pb2.SegmentProposalNetwork.SINGLE_TCONV
MULTI_TCONV = tal_net_pb2.SegmentProposalNetwork.MULTI_TCONV
MULTI_DILATED = tal_net_pb2.SegmentProposalNetwork.MULTI_DILATED

# Receptive field of two stacked kernel-3, dilation-1 convs.
_TCONV_RECEPTIVE_FIELD = 5

FUSED = 'fused'
LAYERS = 'layers'
SPARSE_BACKWARD = 'sparse_backward'
IMPLEMENTATIONS = (FUSED, LAYERS, SPARSE_BACKWARD)

_HEAD_NAMES = ('ObjectnessPredictor', 'BoxEncodingPredictor')


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
               conv_hyperparams_fn, is_training, head_dropout_rate=0.0,
               implementation=None):
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
      implementation: FUSED, SPARSE_BACKWARD or LAYERS (module docstring), or
        None: SPARSE_BACKWARD when is_training (fastest to train), else FUSED
        (fastest forward). FUSED and SPARSE_BACKWARD fall back to LAYERS when
        the arg_scope has a normalizer (batch norm). All build the same
        variables and compute the same outputs and gradients.

    Raises:
      ValueError: on an unknown tower type, empty or non-positive scales, a
        non-positive depth, a dropout rate outside [0, 1) or an unknown
        implementation.
    """
    if implementation is None:
      implementation = SPARSE_BACKWARD if is_training else FUSED
    if implementation not in IMPLEMENTATIONS:
      raise ValueError('SegmentProposalNetwork: implementation must be one of '
                       '%s, got %r' % (IMPLEMENTATIONS, implementation))
    self._implementation = implementation
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
    with tf.compat.v1.variable_scope(scope,
                                     default_name='SegmentProposalNetwork'):
      with slim.arg_scope(self._conv_hyperparams_fn()):
        conv_args = conv_variables.conv1d_scope_args()
        if (self._implementation == LAYERS or
            conv_args.get('normalizer_fn') is not None):
          return self._predict_layers(features, valid_mask)
        if self._implementation == SPARSE_BACKWARD:
          return self._predict_sparse_backward(features, valid_mask,
                                               conv_args)
        return self._predict_fused(features, valid_mask, conv_args)

  def _predict_layers(self, features, valid_mask):
    """The LAYERS implementation: one slim.conv1d per layer, masks always."""
    if valid_mask is None:
      valid_mask = tf.ones(tf.shape(features)[:2], dtype=features.dtype)
    mask = tf.cast(tf.cast(valid_mask, tf.bool), features.dtype)[:, :, None]
    num_scales = len(self._anchor_scales)
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

  def _tower_specs(self):
    """[(tower scope or None, (pool kernel, rate1, rate2) or None, heads' K)].

    None scope: the heads sit on the features (SINGLE); None layout: no convs.
    """
    num_scales = len(self._anchor_scales)
    if self._tower_type == SINGLE:
      return [(None, None, num_scales)]
    if self._tower_type == SINGLE_TCONV:
      return [('shared_tower', (1, 1, 1), num_scales)]
    specs = []
    for scale in self._anchor_scales:
      layout = (tower_layout(scale, self._use_context)
                if self._tower_type == MULTI_DILATED else (1, 1, 1))
      specs.append((tower_scope_name(scale), layout, 1))
    return specs

  def _tower_variables(self, in_depth, dtype, conv_args):
    """[(layout, heads' K, {layer name: (weights, biases)})] per tower.

    Every variable in slim's order (tower by tower: conv1, conv2, objectness,
    regression), as the LAYERS implementation creates them.
    """
    towers = []
    # Per-scale towers hold their heads; the shared heads of SINGLE and
    # SINGLE_TCONV sit in the SPN's own scope.
    heads_in_tower = self._tower_type in (MULTI_TCONV, MULTI_DILATED)
    for tower_scope, layout, heads_k in self._tower_specs():
      layers = {}
      depth = in_depth
      with (tf.compat.v1.variable_scope(tower_scope) if tower_scope
            else contextlib.nullcontext()):
        if layout is not None:
          for name in ('conv1', 'conv2'):
            layers[name] = conv_variables.conv1d_variables(
                name, 3, depth, self._depth, dtype, conv_args)
            depth = self._depth
      with (tf.compat.v1.variable_scope(tower_scope) if heads_in_tower
            else contextlib.nullcontext()):
        for name in _HEAD_NAMES:
          layers[name] = conv_variables.conv1d_variables(
              name, 1, depth, heads_k * 2, dtype, conv_args)
      towers.append((layout, heads_k, layers))
    return towers

  def _predict_fused(self, features, valid_mask, conv_args):
    """The FUSED implementation (module docstring).

    Between the input and the outputs every activation stays a [B*T, D]
    matrix (what the gathers read and the MatMuls write): no reshape back to
    [B, T, D] per layer, only for the max-pools' input.
    """
    towers = self._tower_variables(int(features.shape[-1]), features.dtype,
                                   conv_args)
    activation_fn = conv_args.get('activation_fn', tf.nn.relu)
    valid = None if valid_mask is None else tf.cast(valid_mask, tf.bool)
    # [B, T] from the mask when there is one: every stream's SPN then builds
    # the same index maps from the same tensors, which grappler merges.
    shape = tf.shape(features)[:2] if valid is None else tf.shape(valid)
    tap_sources = _TapSources(shape[0], shape[1], valid)
    in_depth = int(features.shape[-1])
    rows = tf.reshape(features, [-1, in_depth])
    pooled_by_kernel = {1: rows}

    def pooled(kernel):
      """The input max-pooled with `kernel` (once per distinct kernel)."""
      if kernel not in pooled_by_kernel:
        source = features
        if valid is not None:
          # Padded steps must never win a max over a window with a valid one.
          source = tf.where(valid[:, :, None], source,
                            tf.constant(source.dtype.min, source.dtype))
        pooled_by_kernel[kernel] = tf.reshape(tf.nn.max_pool1d(
            source, ksize=kernel, strides=1, padding='SAME', name='max_pool'),
                                              [-1, in_depth])
      return pooled_by_kernel[kernel]

    # The first convs of towers reading the same input (pool kernel) at the
    # same dilation share one gather of their taps.
    first_conv = {}
    groups = {}
    for index, (layout, _, _) in enumerate(towers):
      if layout is not None:
        groups.setdefault(layout[:2], []).append(index)
    for (kernel, rate1), members in groups.items():
      first_conv.update(zip(members, _apply_conv(
          pooled(kernel), [towers[i][2]['conv1'] for i in members], rate1,
          activation_fn, tap_sources)))

    tower_rows = []
    for index, (layout, _, layers) in enumerate(towers):
      if layout is None:
        tower_rows.append(rows)
      else:
        tower_rows.append(_apply_conv(first_conv[index], [layers['conv2']],
                                      layout[2], activation_fn,
                                      tap_sources)[0])
    return self._heads_to_anchors(tower_rows, towers, features)

  def _heads_to_anchors(self, tower_rows, towers, features):
    """Every tower's heads on its [B*T, D] rows -> objectness and regression
    [B, T, K, 2] (towers in anchor-scale order)."""
    objectness, boxes = [], []
    for rows, (_, _, layers) in zip(tower_rows, towers):
      if self._is_training and self._head_dropout_rate > 0:
        # Eval and export graphs hold no dropout op (deterministic outputs).
        rows = tf.nn.dropout(rows, rate=self._head_dropout_rate,
                             name='HeadDropout')
      tower_objectness, tower_boxes = _apply_heads(rows, layers)
      objectness.append(tower_objectness)
      boxes.append(tower_boxes)
    num_scales = len(self._anchor_scales)
    return tuple(_split_anchors(tf.concat(outputs, axis=1), num_scales,
                                features)
                 for outputs in (objectness, boxes))

  def _predict_sparse_backward(self, features, valid_mask, conv_args):
    """The SPARSE_BACKWARD implementation (module docstring)."""
    towers = self._tower_variables(int(features.shape[-1]), features.dtype,
                                   conv_args)
    activation_fn = conv_args.get('activation_fn', tf.nn.relu)
    mask = None
    if valid_mask is not None:
      mask = tf.cast(tf.cast(valid_mask, tf.bool), features.dtype)[:, :, None]

    def masked(tensor):
      return tensor if mask is None else tensor * mask

    net = masked(features)
    pooled_by_kernel = {1: net}

    def pooled(kernel):
      if kernel not in pooled_by_kernel:
        source = net
        if mask is not None:
          # Padded steps must never win a max over a window with a valid one.
          source = tf.where(mask > 0, source,
                            tf.constant(source.dtype.min, source.dtype))
        pooled_by_kernel[kernel] = masked(tf.nn.max_pool1d(
            source, ksize=kernel, strides=1, padding='SAME',
            name='max_pool'))
      return pooled_by_kernel[kernel]

    tower_rows = []
    for layout, _, layers in towers:
      tower = net
      if layout is not None:
        kernel, rate1, rate2 = layout
        tower = pooled(kernel)
        for name, rate in (('conv1', rate1), ('conv2', rate2)):
          weights, biases = layers[name]
          tower = masked(conv1d_with_row_sparse_backward(
              tower, weights, biases, rate, activation_fn))
      # (The heads' input gradient keeps the exact zeros of unsampled
      # anchors, which the convs below skip.)
      tower_rows.append(tf.reshape(tower, [-1, int(tower.shape[-1])]))
    return self._heads_to_anchors(tower_rows, towers, features)

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
    return (_split_anchors(objectness, num_scales, net),
            _split_anchors(boxes, num_scales, net))


def _split_anchors(head_output, num_scales, features):
  """[B, T, K*2] or [B*T, K*2] -> [B, T, K, 2] ([B, T] those of the [B, T, D]
  `features`, static where they are).

  Channel k*2 + j is anchor k, output j.
  """
  shape = tf.shape(features)
  result = tf.reshape(head_output, tf.stack([shape[0], shape[1], num_scales,
                                             2]))
  result.set_shape([features.shape[0], features.shape[1], num_scales, 2])
  return result


def _apply_conv(rows, layers, rate, activation_fn, tap_sources):
  """SAME kernel-k convs of several layers on the same [B*T, D] input rows.

  The k dilated taps of every step are gathered side by side once ([B*T,
  k*D], zeros beyond the ends, as slim.conv1d's SAME padding reads, and on
  the padded steps tap_sources marks), then each layer is one MatMul with its
  kernel reshaped to [k*D, out]. Measured on the main config's exports, same
  weights, calls alternating (one Session run each):
    * against native dilated Conv2D, one per tower: float32 1.09x faster;
    * against one MatMul of the layers' kernels concatenated in the graph:
      float32 1.035x faster (the concatenation of variables ran on every
      call), bfloat16 the same (its constant kernels are folded at load).

  Args:
    rows: [B*T, D], video-major (the [B, T, D] activations reshaped).
    layers: [(weights [k, D, out], biases [out])], all of one k.
    rate: the dilation (Python int >= 1).
    activation_fn: None or an element-wise function.
    tap_sources: _TapSources of the batch.

  Returns:
    One [B*T, out] tensor per layer.
  """
  kernel_size, in_depth = [int(d) for d in layers[0][0].shape[:2]]
  columns = rows
  if kernel_size > 1:
    columns = tf.reshape(
        tf.gather(_with_zero_row(rows), tap_sources.rows(kernel_size, rate)),
        [-1, kernel_size * in_depth])
  outputs = []
  for weights, biases in layers:
    output = tf.nn.bias_add(tf.matmul(
        columns, tf.reshape(weights, [kernel_size * in_depth, -1])), biases)
    outputs.append(output if activation_fn is None else activation_fn(output))
  return outputs


def _with_zero_row(rows):
  """[N, D] -> [N + 1, D]: row N reads zeros (where a tap outside the video
  or on a padded step points)."""
  return tf.concat([rows, tf.zeros([1, int(rows.shape[-1])], rows.dtype)], 0)


class _TapSources(object):
  """Which input row each dilated tap of a SAME conv reads, per (k, rate).

  Tap j of step t of video b reads step s = t + j * rate - floor((k-1) *
  rate / 2) (SAME padding of a stride-1 conv: (k-1)*rate zeros, the odd one
  after the end for even k), i.e. row b*T + s of the [B*T, D] input, or row
  B*T (a zero row appended by _with_zero_row) when s is outside [0, T) or,
  with `valid`, a padded step. One gather of those rows is the conv's
  columns with SAME padding and the batch's padding both applied, with no
  pad of the input and no mask of any activation. Maps are built once per
  (k, rate) and shared by every conv of the network that uses them.
  """

  def __init__(self, batch, num_time, valid=None):
    """batch, num_time: int32 scalars; valid: [B, T] bool or None (no
    padding)."""
    self._batch = batch
    self._num_time = num_time
    self._valid = valid
    self._rows = {}

  def rows(self, kernel_size, rate):
    """[B*T*k] int32, step-major then tap: the rows the taps read."""
    key = (kernel_size, rate)
    if key not in self._rows:
      offsets = [tap * rate - (kernel_size - 1) * rate // 2
                 for tap in range(kernel_size)]
      steps = tf.range(self._num_time)[:, None] + tf.constant(offsets)[None]
      inside = tf.logical_and(steps >= 0, steps < self._num_time)  # [T, k]
      num_rows = self._batch * self._num_time
      rows = (tf.range(self._batch)[:, None, None] * self._num_time +
              steps[None])  # [B, T, k]
      rows = tf.where(tf.broadcast_to(inside[None], tf.shape(rows)), rows,
                      num_rows)
      if self._valid is not None:
        # A tap on a padded step reads the zero row too (row B*T of the
        # validity list below is False).
        valid_rows = tf.concat([tf.reshape(self._valid, [-1]), [False]], 0)
        rows = tf.where(tf.gather(valid_rows, rows), rows, num_rows)
      self._rows[key] = tf.reshape(rows, [-1])
    return self._rows[key]


def _apply_heads(rows, layers):
  """A tower's objectness and regression heads ([B*T, 2K] each) on its
  [B*T, D] rows as ONE MatMul of their kernel-1 weights concatenated (tiny,
  [D, 4K]): one op instead of two per tower."""
  weights = tf.concat([tf.squeeze(layers[name][0], 0) for name in _HEAD_NAMES],
                      axis=1)
  biases = tf.concat([layers[name][1] for name in _HEAD_NAMES], axis=0)
  return tf.split(tf.nn.bias_add(tf.matmul(rows, weights), biases), 2, axis=1)


def conv1d_with_row_sparse_backward(inputs, weights, biases, rate,
                                    activation_fn=None):
  """SAME conv1d (+ bias, activation) whose gradient skips zero-gradient steps.

  Forward: activation(conv1d(inputs, weights, dilation rate) + biases) with
  zeros beyond each video's ends, as slim.conv1d computes it (_apply_conv:
  one MatMul of the gathered taps, as the fused implementation runs it).
  Backward: only the output steps (rows of the flattened [B*T, out]
  gradient) with a nonzero gradient take part: their inputs are
  gathered into a [n, k*in] matrix (zero rows beyond a video's ends), so the
  weights' gradient is one [k*in, n] x [n, out] matmul and the input's one
  [n, out] x [out, k*in] matmul scattered back (unsorted_segment_sum) onto
  the steps it came from. The result is the dense gradient exactly up to
  float summation order: the skipped steps contribute zeros.

  Args:
    inputs: [B, T, in] float tensor (in static).
    weights: [k, in, out] (k odd), biases: [out].
    rate: dilation (Python int >= 1).
    activation_fn: None, tf.nn.relu, or any elementwise function (its
      derivative is then taken by tf.gradients on the gathered rows).

  Returns:
    [B, T, out].
  """
  kernel_size = int(weights.shape[0])
  if kernel_size % 2 != 1:
    raise ValueError('conv1d_with_row_sparse_backward: odd kernel sizes only, '
                     'got %d' % kernel_size)

  @tf.custom_gradient
  def conv(x, w, b):
    shape = tf.shape(x)
    tap_sources = _TapSources(shape[0], shape[1])
    flat_x = tf.reshape(x, [-1, int(x.shape[-1])])
    pre_activation = tf.reshape(
        _apply_conv(flat_x, [(w, b)], rate, None, tap_sources)[0],
        tf.concat([shape[:2], [int(w.shape[-1])]], axis=0))
    if activation_fn is None:
      output = pre_activation
    else:
      output = activation_fn(pre_activation)

    def grad(output_grad):
      in_depth = int(x.shape[-1])
      out_depth = int(w.shape[-1])
      num_rows = tf.shape(flat_x)[0]
      flat_grad = tf.reshape(output_grad, [-1, out_depth])
      # Rows whose largest |gradient| is not 0 (NaN rows too). Abs and a
      # max-reduction, then a compare on [B*T]: a NotEqual of the whole
      # gradient with a broadcast scalar ran ~10x slower (measured).
      row_max = tf.reduce_max(tf.abs(flat_grad), axis=1)
      rows = tf.cast(tf.where(tf.logical_not(tf.equal(row_max, 0)))[:, 0],
                     tf.int32)
      row_grad = tf.gather(flat_grad, rows)
      if activation_fn is tf.nn.relu:
        # TF's own ReLU gradient (from the output, as tf.gradients does).
        row_grad = tf.raw_ops.ReluGrad(
            gradients=row_grad,
            features=tf.gather(tf.reshape(output, [-1, out_depth]), rows))
      elif activation_fn is not None:
        row_pre = tf.gather(tf.reshape(pre_activation, [-1, out_depth]), rows)
        row_grad = tf.gradients(activation_fn(row_pre), row_pre, row_grad)[0]
      # The input rows of each tap of those steps (the forward's map; the
      # zero row past the end where a tap falls outside the video).
      sources = tf.reshape(tf.gather(
          tf.reshape(tap_sources.rows(kernel_size, rate), [-1, kernel_size]),
          rows), [-1])
      columns = tf.reshape(tf.gather(_with_zero_row(flat_x), sources),
                           [-1, kernel_size * in_depth])
      weights_grad = tf.reshape(
          tf.matmul(columns, row_grad, transpose_a=True), tf.shape(w))
      biases_grad = tf.reduce_sum(row_grad, axis=0)
      columns_grad = tf.matmul(
          row_grad, tf.reshape(w, [kernel_size * in_depth, out_depth]),
          transpose_b=True)
      input_grad = tf.math.unsorted_segment_sum(
          tf.reshape(columns_grad, [-1, in_depth]), sources, num_rows + 1)
      return (tf.reshape(input_grad[:-1], shape), weights_grad, biases_grad)

    return output, grad

  return conv(inputs, tf.convert_to_tensor(weights),
              tf.convert_to_tensor(biases))
