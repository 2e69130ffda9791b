"""The fused SPN (convs as MatMuls of gathered taps, shared max-pools, first
convs of towers with one input and dilation sharing one gather, padding
applied by the gathers' index maps instead of masks or a branch) and the training one (a backward pass over the steps with a
nonzero gradient only) against the original per-layer slim formulation on
the same weights: same variables, outputs, gradients and detections."""
import functools

import numpy as np
import pytest
import tensorflow as tf

from tal_detection.builders import hyperparams_builder
from tal_detection.builders import model_builder
from tal_detection.core import standard_fields as fields
from tal_detection.models import spn_towers
from tal_detection.ops import soi_pooling
from tal_detection.protos import hyperparams_pb2

import tal_net_test_util as util

RESULT = fields.DetectionResultFields
# With context: (pool, rate1) (1, 1) for 1-3, (2, 2) for 5-6, (5, 5) for 16.
SCALES = [1, 2, 3, 5, 6, 16]
TOWER_TYPES = [spn_towers.SINGLE, spn_towers.SINGLE_TCONV,
               spn_towers.MULTI_TCONV, spn_towers.MULTI_DILATED]


def _hyperparams(batch_norm=False):
  hyperparams = hyperparams_pb2.Hyperparams()
  # Large enough weights that the outputs are far from constant.
  hyperparams.initializer.truncated_normal_initializer.stddev = 0.3
  if batch_norm:
    hyperparams.batch_norm.scale = True
  return hyperparams


def _network(tower_type, implementation, batch_norm=False):
  return spn_towers.SegmentProposalNetwork(
      tower_type=tower_type, use_context=True, anchor_scales=SCALES,
      depth=8, conv_hyperparams_fn=hyperparams_builder.build(
          _hyperparams(batch_norm), is_training=False),
      is_training=False, implementation=implementation)


def _both_implementations(tower_type, inputs, mask,
                          implementation=spn_towers.FUSED):
  """(layers outputs, `implementation` outputs, variables), shared variables."""
  reference = _network(tower_type, spn_towers.LAYERS).predict(
      inputs, mask, scope='SPN')
  variables = tf.compat.v1.trainable_variables()
  with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                   reuse=True):
    candidate = _network(tower_type, implementation).predict(
        inputs, mask, scope='SPN')
  # Reuse would have failed on a variable the layers did not make; and no
  # new one was made.
  assert tf.compat.v1.trainable_variables() == variables
  return reference, candidate, variables


@pytest.mark.parametrize('implementation',
                         [spn_towers.FUSED, spn_towers.SPARSE_BACKWARD])
@pytest.mark.parametrize('tower_type', TOWER_TYPES)
@pytest.mark.parametrize('lengths', [[40, 40], [40, 23]])
def test_fast_outputs_and_gradients_equal_the_layers_formulation(
    implementation, tower_type, lengths):
  """Unpadded and padded batches (the padded steps' taps read the zero row);
  the loss weighs a third of the anchors, as the sampled first-stage
  losses do, so the sparse backward pass skips steps."""
  rng = np.random.RandomState(0)
  inputs = rng.randn(2, 40, 5).astype(np.float32)
  mask = np.arange(40)[None, :] < np.array(lengths)[:, None]
  sampled = rng.rand(2, 40, len(SCALES), 1) < 0.3
  with tf.Graph().as_default():
    inputs_t = tf.constant(inputs)
    reference, candidate, variables = _both_implementations(
        tower_type, inputs_t, tf.constant(mask), implementation)
    # A loss over the valid steps only (padded outputs are meaningless).
    valid = tf.constant((mask[:, :, None, None] & sampled).astype(np.float32))
    fetches = []
    for objectness, boxes in (reference, candidate):
      loss = tf.reduce_sum(valid * (objectness ** 2 + 0.5 * boxes))
      fetches.append((objectness, boxes,
                      tf.gradients(loss, [inputs_t] + variables)))
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      (ref_obj, ref_box, ref_grads), (obj, box, grads) = sess.run(fetches)
  for b, length in enumerate(lengths):
    np.testing.assert_allclose(obj[b, :length], ref_obj[b, :length],
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(box[b, :length], ref_box[b, :length],
                               rtol=1e-5, atol=1e-5)
  assert np.abs(ref_obj).max() > 0.1  # not a degenerate comparison
  for variable, got, expected in zip([None] + variables, grads, ref_grads):
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5,
                               err_msg=str(variable))
  assert np.abs(ref_grads[0]).max() > 0


def test_fused_creates_the_layers_variables_in_the_same_order():
  """Checkpoints of either implementation load into the other."""
  built = {}
  for implementation in spn_towers.IMPLEMENTATIONS:
    with tf.Graph().as_default():
      _network(spn_towers.MULTI_DILATED, implementation).predict(
          tf.compat.v1.placeholder(tf.float32, [None, None, 5]), scope='SPN')
      built[implementation] = [
          (v.op.name, v.shape.as_list(), v.dtype.base_dtype)
          for v in tf.compat.v1.global_variables()]
      regularized = {v.op.name for v in tf.compat.v1.get_collection(
          tf.compat.v1.GraphKeys.MODEL_VARIABLES)}
      assert regularized == {name for name, _, _ in built[implementation]}
  assert built[spn_towers.FUSED] == built[spn_towers.LAYERS]
  assert built[spn_towers.SPARSE_BACKWARD] == built[spn_towers.LAYERS]
  assert len(built[spn_towers.FUSED]) == 8 * len(SCALES)


def _op_types(graph):
  return {op.type for op in graph.get_operations()}


def test_fused_graph_runs_convs_as_matmuls_and_shares_first_convs():
  with tf.Graph().as_default() as graph:
    _network(spn_towers.MULTI_DILATED, spn_towers.FUSED).predict(
        tf.compat.v1.placeholder(tf.float32, [None, None, 5]),
        tf.compat.v1.placeholder(tf.bool, [None, None]), scope='SPN')
  # No branch: a cond's Switch kept a frozen export's weights from reaching
  # the MatMuls as constants. No mask multiply of any activation either.
  assert not {'SpaceToBatchND', 'Conv2D', 'If', 'StatelessIf',
              'Switch'} & _op_types(graph)
  assert not [op.name for op in graph.get_operations()
              if op.type == 'Mul' and op.outputs[0].dtype.is_floating
              and 'Initializer' not in op.name]
  with tf.Graph().as_default() as graph:
    _network(spn_towers.MULTI_DILATED, spn_towers.FUSED).predict(
        tf.compat.v1.placeholder(tf.float32, [None, None, 5]), scope='SPN')
  matmuls = [op for op in graph.get_operations() if op.type == 'MatMul']
  # Per tower: two convs and its two kernel-1 heads as one.
  assert len(matmuls) == 6 * 3
  # The taps are gathered once per first-conv group (towers 1-3, 5-6, 16:
  # same pool kernel and dilation) and once per second conv.
  gathers = [op for op in graph.get_operations() if op.type == 'GatherV2']
  assert len(gathers) == 3 + 6


@pytest.mark.parametrize('kernel_size,rate,num_steps', [
    (1, 1, 7), (3, 1, 7), (3, 4, 9), (3, 11, 2), (2, 3, 8), (4, 2, 6)])
def test_conv_as_matmul_equals_same_convolution(kernel_size, rate,
                                                num_steps):
  """Against tf.nn.convolution (SAME, dilated) for two layers at once, odd
  and even kernels, dilations longer than the video; outputs and input
  gradients."""
  rng = np.random.RandomState(3)
  inputs = rng.randn(2, num_steps, 4).astype(np.float32)
  layers = [(rng.randn(kernel_size, 4, depth).astype(np.float32),
             rng.randn(depth).astype(np.float32)) for depth in (3, 5)]
  upstream = [rng.randn(2, num_steps, depth).astype(np.float32)
              for depth in (3, 5)]
  with tf.Graph().as_default():
    inputs_t = tf.constant(inputs)
    # pylint: disable=protected-access
    got = spn_towers._apply_conv(
        tf.reshape(inputs_t, [-1, 4]),
        [(tf.constant(w), tf.constant(b)) for w, b in layers], rate, tf.tanh,
        spn_towers._TapSources(2, num_steps))
    # pylint: enable=protected-access
    got = [tf.reshape(rows, [2, num_steps, -1]) for rows in got]
    expected = [tf.tanh(tf.nn.bias_add(tf.nn.convolution(
        inputs_t, w, padding='SAME', dilations=[rate]), b))
                for w, b in layers]
    fetches = [(outputs, tf.gradients(outputs, inputs_t, upstream)[0])
               for outputs in (got, expected)]
    with tf.compat.v1.Session() as sess:
      (got_out, got_grad), (want_out, want_grad) = sess.run(fetches)
  for got_layer, want_layer in zip(got_out, want_out):
    np.testing.assert_allclose(got_layer, want_layer, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(got_grad, want_grad, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('activation', [None, 'relu', 'tanh'])
@pytest.mark.parametrize('rate', [1, 3])
def test_row_sparse_backward_conv_equals_dense_conv_gradients(activation,
                                                              rate):
  """Against tf.nn.convolution's own gradients; some steps get no gradient,
  including steps next to the ends (taps beyond a video's ends read zeros,
  never the neighbouring video of the batch)."""
  activation_fn = {None: None, 'relu': tf.nn.relu, 'tanh': tf.tanh}[activation]
  rng = np.random.RandomState(1)
  inputs = rng.randn(2, 11, 4).astype(np.float32)
  weights = rng.randn(3, 4, 6).astype(np.float32)
  biases = rng.randn(6).astype(np.float32)
  upstream = rng.randn(2, 11, 6).astype(np.float32)
  upstream[0, [1, 2, 5, 6, 7]] = 0.0
  upstream[1, 3:] = 0.0
  with tf.Graph().as_default():
    tensors = [tf.constant(v) for v in (inputs, weights, biases)]
    dense = tf.nn.bias_add(tf.nn.convolution(
        tensors[0], tensors[1], padding='SAME', dilations=[rate]), tensors[2])
    if activation_fn is not None:
      dense = activation_fn(dense)
    sparse = spn_towers.conv1d_with_row_sparse_backward(
        tensors[0], tensors[1], tensors[2], rate, activation_fn)
    fetches = [(out, tf.gradients(out, tensors, tf.constant(upstream)))
               for out in (dense, sparse)]
    with tf.compat.v1.Session() as sess:
      (dense_out, dense_grads), (out, grads) = sess.run(fetches)
  np.testing.assert_allclose(out, dense_out, rtol=1e-5, atol=1e-5)
  for name, got, expected in zip(('inputs', 'weights', 'biases'), grads,
                                 dense_grads):
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5,
                               err_msg=name)
  # Steps past the last one with a gradient still get some through the taps.
  assert np.abs(dense_grads[0][1, 3:3 + rate]).min() > 0


def test_training_graphs_default_to_the_sparse_backward_implementation():
  """Training: no dense conv gradients, the sparse backward's scatter;
  inference: the fused graph (no gradient). Neither holds a cond."""
  for is_training in (True, False):
    with tf.Graph().as_default() as graph:
      inputs = tf.compat.v1.placeholder(tf.float32, [None, None, 5])
      objectness, _ = spn_towers.SegmentProposalNetwork(
          tower_type=spn_towers.MULTI_DILATED, use_context=True,
          anchor_scales=SCALES, depth=8,
          conv_hyperparams_fn=hyperparams_builder.build(
              _hyperparams(), is_training=is_training),
          is_training=is_training).predict(
              inputs, tf.compat.v1.placeholder(tf.bool, [None, None]),
              scope='SPN')
      if is_training:
        tf.gradients(tf.reduce_sum(objectness),
                     tf.compat.v1.trainable_variables() + [inputs])
    types = _op_types(graph)
    assert not {'If', 'StatelessIf'} & types
    if is_training:
      assert not {'Conv2DBackpropFilter', 'Conv2DBackpropInput',
                  'SpaceToBatchND'} & types
      assert 'UnsortedSegmentSum' in types
    else:
      assert 'UnsortedSegmentSum' not in types


def test_batch_norm_uses_the_layers_formulation_without_a_cond():
  """Batch norm's update ops must not live in a cond branch."""
  with tf.Graph().as_default() as graph:
    network = _network(spn_towers.MULTI_DILATED, spn_towers.FUSED,
                       batch_norm=True)
    network.predict(tf.compat.v1.placeholder(tf.float32, [None, None, 5]),
                    tf.compat.v1.placeholder(tf.bool, [None, None]),
                    scope='SPN')
  assert not {'If', 'StatelessIf'} & _op_types(graph)
  assert 'SpaceToBatchND' in _op_types(graph)
  with graph.as_default():
    names = {v.op.name for v in tf.compat.v1.global_variables()}
  assert 'SPN/tower_s16/conv1/BatchNorm/gamma' in names


def _detections(model_config, videos, lengths, implementation,
                soi_implementation=soi_pooling.CROP_AND_RESIZE):
  """Detections of a padded batch, with the SPNs of `implementation` and the
  SoI pooling of `soi_implementation`."""
  spn_class = spn_towers.SegmentProposalNetwork
  original = model_builder.spn_towers.SegmentProposalNetwork
  original_soi = soi_pooling.soi_pooling
  model_builder.spn_towers.SegmentProposalNetwork = functools.partial(
      spn_class, implementation=implementation)
  model_builder.soi_pooling.soi_pooling = (
      lambda *args, **kwargs: original_soi(
          *args, **dict(kwargs, implementation=soi_implementation)))
  try:
    model = model_builder.build(model_config, is_training=False)
  finally:
    model_builder.spn_towers.SegmentProposalNetwork = original
    model_builder.soi_pooling.soi_pooling = original_soi
  time = max(lengths)
  features = {k: tf.constant(np.stack([
      np.pad(v[k], [[0, time - len(v[k])], [0, 0]]) for v in videos]))
              for k in videos[0]}
  preprocessed, steps = model.preprocess(features, tf.constant(lengths))
  return model.postprocess(model.predict(preprocessed, steps), steps)


def _assert_same_detections(got, expected, num_videos):
  for b in range(num_videos):
    n = int(expected[RESULT.num_detections][b])
    assert n > 0 and int(got[RESULT.num_detections][b]) == n
    for key in (RESULT.detection_segments, RESULT.detection_scores,
                RESULT.detection_classes):
      np.testing.assert_allclose(got[key][b][:n], expected[key][b][:n],
                                 rtol=1e-5, atol=1e-5)
    p = int(expected[RESULT.num_proposals][b])
    assert int(got[RESULT.num_proposals][b]) == p
    for key in (RESULT.proposal_segments, RESULT.proposal_scores):
      np.testing.assert_allclose(got[key][b][:p], expected[key][b][:p],
                                 rtol=1e-5, atol=1e-5)


def _shared_weight_detections(model_config, videos, reference, candidate):
  """(reference detections, candidate detections, the graph's op types) of
  two models on the same weights; each is (SPN, SoI pooling) implementation."""
  lengths = [len(v['rgb']) for v in videos]
  with tf.Graph().as_default() as graph:
    tf.compat.v1.set_random_seed(5)
    expected = _detections(model_config, videos, lengths, *reference)
    with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                     reuse=True):
      got = _detections(model_config, videos, lengths, *candidate)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      expected, got = sess.run([expected, got])
  return expected, got, {op.type for op in graph.get_operations()}


def _two_videos():
  dims = {'rgb': 6, 'flow': 5}
  return [util.synthetic_video(50, dims, [(5, 12, 1), (30, 44, 2)], seed=3),
          util.synthetic_video(33, dims, [(8, 20, 3)], seed=4)]


@pytest.mark.parametrize('num_videos', [1, 2])
def test_model_detections_equal_the_layers_formulation(num_videos):
  """One video: the mask-free branch; a padded batch of two: the masked one."""
  config = util.tiny_model_config()
  videos = _two_videos()[:num_videos]
  expected, got, _ = _shared_weight_detections(
      config, videos, (spn_towers.LAYERS, soi_pooling.CROP_AND_RESIZE),
      (spn_towers.FUSED, soi_pooling.CROP_AND_RESIZE))
  _assert_same_detections(got, expected, num_videos)


@pytest.mark.parametrize('num_videos', [1, 2])
@pytest.mark.parametrize('soi_implementation,runs_crop_and_resize', [
    (soi_pooling.CROP_AND_RESIZE, True), (soi_pooling.XLA_GATHER, False)])
def test_model_detections_equal_with_the_gather_soi_pooling(
    num_videos, soi_implementation, runs_crop_and_resize):
  """Eval/export SoI pooling (crop_and_resize, or jit_compile's gathers
  compiled by XLA) against the plain gathers."""
  config = util.tiny_model_config()
  videos = _two_videos()[:num_videos]
  expected, got, op_types = _shared_weight_detections(
      config, videos, (spn_towers.FUSED, soi_pooling.GATHER),
      (spn_towers.FUSED, soi_implementation))
  assert ('CropAndResize' in op_types) == runs_crop_and_resize
  _assert_same_detections(got, expected, num_videos)


@pytest.mark.parametrize('num_videos', [1, 2])
def test_model_detections_equal_with_proposals_in_chunks(num_videos,
                                                         monkeypatch):
  """Eval/export graphs pool and classify the proposals a chunk at a time
  (soi_pooling.proposals_per_chunk): the same detections as all at once."""
  config = util.tiny_model_config()
  videos = _two_videos()[:num_videos]
  lengths = [len(v['rgb']) for v in videos]
  chunk_sizes = {'all': 10**6, 'chunks': 7}
  with tf.Graph().as_default() as graph:
    tf.compat.v1.set_random_seed(5)
    detections = {}
    for name, size in chunk_sizes.items():
      monkeypatch.setattr(model_builder.soi_pooling, 'proposals_per_chunk',
                          lambda *args, size=size, **kwargs: size)
      with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                       reuse=True if detections else None):
        detections[name] = _detections(config, videos, lengths,
                                       spn_towers.FUSED)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      detections = sess.run(detections)
  num_proposals = int(detections['all'][RESULT.proposal_segments].shape[1])
  # Several chunks, the last one smaller: ceil(P / 7) crop_and_resize
  # pools per stream and tap for the chunked model, one for the other.
  assert num_proposals % 7 != 0
  crops = sum(op.type == 'CropAndResize' for op in graph.get_operations())
  taps = config.tal_net.maxpool_kernel_size
  assert crops == len(videos[0]) * taps * (1 + -(-num_proposals // 7))
  _assert_same_detections(detections['chunks'], detections['all'],
                          num_videos)


def test_builder_compiles_soi_pooling_for_training_and_jit_compile():
  """Eval/export graphs: crop_and_resize, or with jit_compile one XLA function
  per stream; training graphs: XLA forward and backward functions per
  stream, whatever jit_compile says."""
  config = util.tiny_model_config()
  video = _two_videos()[0]
  for is_training, jit_compile, num_compiled in [
      (False, False, 0), (False, True, len(video)),
      (True, False, 2 * len(video)), (True, True, 2 * len(video))]:
    with tf.Graph().as_default() as graph:
      model = model_builder.build(config, is_training, jit_compile=jit_compile)
      features = {k: tf.constant(v[None]) for k, v in video.items()}
      steps = tf.constant([len(video['rgb'])])
      preprocessed, steps = model.preprocess(features, steps)
      num_classes = config.tal_net.num_classes
      model.provide_groundtruth(tf.constant([[[5.0, 12.0]]]),
                                tf.one_hot([[0]], num_classes),
                                tf.constant([1]))
      predictions = model.predict(preprocessed, steps)
      if is_training:
        losses = model.loss(predictions, steps)
        tf.gradients(tf.add_n(list(losses.values())),
                     tf.compat.v1.trainable_variables())
    compiled = [f for f in graph.as_graph_def().library.function
                if f.attr['_XlaMustCompile'].b]
    assert len(compiled) == num_compiled, (is_training, jit_compile)
    assert ('CropAndResize' in _op_types(graph)) == (num_compiled == 0)
