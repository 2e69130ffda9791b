"""Tests for models/spn_towers.py: layout, measured receptive fields, padding."""
import numpy as np
import pytest
import tensorflow as tf

from tal_detection.builders import hyperparams_builder
from tal_detection.models import spn_towers
from tal_detection.protos import hyperparams_pb2

PAPER_SCALES = [1, 2, 3, 4, 5, 6, 8, 11, 16]
TOWER_TYPES = [spn_towers.SINGLE, spn_towers.SINGLE_TCONV,
               spn_towers.MULTI_TCONV, spn_towers.MULTI_DILATED]

# (k, r1, r2) per scale, worked out by hand from k = r1 = s/6*c, r2 = 2s/6*c,
# rounded half up, at least 1.
EXPECTED_LAYOUT_NO_CONTEXT = {
    1: (1, 1, 1), 2: (1, 1, 1), 3: (1, 1, 1), 4: (1, 1, 1), 5: (1, 1, 2),
    6: (1, 1, 2), 8: (1, 1, 3), 11: (2, 2, 4), 16: (3, 3, 5)}
EXPECTED_LAYOUT_CONTEXT = {
    1: (1, 1, 1), 2: (1, 1, 1), 3: (1, 1, 2), 4: (1, 1, 3), 5: (2, 2, 3),
    6: (2, 2, 4), 8: (3, 3, 5), 11: (4, 4, 7), 16: (5, 5, 11)}


def _conv_hyperparams_fn():
  return hyperparams_builder.build(hyperparams_pb2.Hyperparams(),
                                   is_training=False)


def _network(tower_type, use_context=True, scales=None, depth=8):
  return spn_towers.SegmentProposalNetwork(
      tower_type=tower_type, use_context=use_context,
      anchor_scales=PAPER_SCALES if scales is None else scales, depth=depth,
      conv_hyperparams_fn=_conv_hyperparams_fn(), is_training=False)


@pytest.mark.parametrize('scale', PAPER_SCALES)
def test_tower_layout_table(scale):
  assert (spn_towers.tower_layout(scale, use_context=False) ==
          EXPECTED_LAYOUT_NO_CONTEXT[scale])
  assert (spn_towers.tower_layout(scale, use_context=True) ==
          EXPECTED_LAYOUT_CONTEXT[scale])


def test_tower_layout_rounds_half_up_and_spec_example():
  # 15/6 = 2.5 -> 3 (Python's round would give 2); 2*15/6 = 5.
  assert spn_towers.tower_layout(15, use_context=False) == (3, 3, 5)
  # 7.5/6*2 = 2.5 -> 3, 5.
  assert spn_towers.tower_layout(7.5, use_context=True) == (3, 3, 5)
  assert spn_towers.tower_layout(16, use_context=True) == (5, 5, 11)
  assert spn_towers.theoretical_receptive_field(
      spn_towers.MULTI_DILATED, 16, use_context=True) == 37
  with pytest.raises(ValueError, match='scale'):
    spn_towers.tower_layout(0, use_context=True)


def test_theoretical_receptive_field_per_type():
  for scale in PAPER_SCALES:
    assert spn_towers.theoretical_receptive_field(
        spn_towers.SINGLE, scale, True) == 1
    assert spn_towers.theoretical_receptive_field(
        spn_towers.SINGLE_TCONV, scale, False) == 5
    assert spn_towers.theoretical_receptive_field(
        spn_towers.MULTI_TCONV, scale, True) == 5
    k, r1, r2 = EXPECTED_LAYOUT_CONTEXT[scale]
    assert spn_towers.theoretical_receptive_field(
        spn_towers.MULTI_DILATED, scale, True) == k + 2 * r1 + 2 * r2


def _measure_receptive_fields(network, num_scales, num_steps=128,
                              num_inputs=24, input_depth=4, seed=0):
  """Nonzero-gradient input steps of the middle output step, per anchor scale.

  Sums |d outputs[t, k] / d inputs| over channels and over num_inputs random
  inputs (one batch), since max-pool and ReLU make a single gradient sparse.
  Returns a list of (offsets relative to t) arrays.
  """
  rng = np.random.RandomState(seed)
  inputs = rng.randn(num_inputs, num_steps, input_depth).astype(np.float32)
  centre = num_steps // 2
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.set_random_seed(seed)
    inputs_ph = tf.compat.v1.placeholder(tf.float32,
                                         [None, None, input_depth])
    objectness, boxes = network.predict(inputs_ph, scope='SPN')
    magnitudes = []
    for k in range(num_scales):
      output = (tf.reduce_sum(objectness[:, centre, k]) +
                tf.reduce_sum(boxes[:, centre, k]))
      gradient = tf.gradients(output, inputs_ph)[0]
      magnitudes.append(tf.reduce_sum(tf.abs(gradient), axis=[0, 2]))
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      values = sess.run(magnitudes, {inputs_ph: inputs})
  return [np.nonzero(value)[0] - centre for value in values]


def _possible_offsets(k, r1, r2):
  """All input offsets a MULTI_DILATED output can read (SAME max-pool)."""
  pool = range(-((k - 1) // 2), k // 2 + 1)
  return {a * r2 + b * r1 + m
          for a in (-1, 0, 1) for b in (-1, 0, 1) for m in pool}


@pytest.mark.parametrize('use_context', [False, True])
def test_measured_receptive_field_multi_dilated(use_context):
  network = _network(spn_towers.MULTI_DILATED, use_context)
  offsets_per_scale = _measure_receptive_fields(network, len(PAPER_SCALES))
  for scale, offsets in zip(PAPER_SCALES, offsets_per_scale):
    k, r1, r2 = spn_towers.tower_layout(scale, use_context)
    measured = offsets.max() - offsets.min() + 1
    assert measured == k + 2 * r1 + 2 * r2, (scale, use_context, offsets)
    assert measured == spn_towers.theoretical_receptive_field(
        spn_towers.MULTI_DILATED, scale, use_context)
    # And the gradient reaches exactly the taps the layout predicts.
    assert set(offsets.tolist()) == _possible_offsets(k, r1, r2), scale


@pytest.mark.parametrize('tower_type,expected', [
    (spn_towers.SINGLE, 1), (spn_towers.SINGLE_TCONV, 5),
    (spn_towers.MULTI_TCONV, 5)])
def test_measured_receptive_field_other_towers(tower_type, expected):
  scales = [1, 16]
  network = _network(tower_type, use_context=True, scales=scales)
  for offsets in _measure_receptive_fields(network, len(scales)):
    assert offsets.max() - offsets.min() + 1 == expected
    assert offsets.min() == -(expected // 2)


@pytest.mark.parametrize('tower_type,num_variables', [
    (spn_towers.SINGLE, 4), (spn_towers.SINGLE_TCONV, 8),
    (spn_towers.MULTI_TCONV, 8 * 3), (spn_towers.MULTI_DILATED, 8 * 3)])
def test_output_shapes_and_variables(tower_type, num_variables):
  scales = [1, 5, 16]
  network = _network(tower_type, scales=scales, depth=6)
  assert network.num_anchors_per_location == 3
  graph = tf.Graph()
  with graph.as_default():
    inputs_ph = tf.compat.v1.placeholder(tf.float32, [None, None, 10])
    objectness, boxes = network.predict(inputs_ph, scope='SPN')
    assert objectness.shape.as_list() == [None, None, 3, 2]
    assert boxes.shape.as_list() == [None, None, 3, 2]
    variables = tf.compat.v1.trainable_variables()
    assert len(variables) == num_variables
    names = {v.op.name for v in variables}
    if tower_type in (spn_towers.MULTI_TCONV, spn_towers.MULTI_DILATED):
      assert 'SPN/tower_s16/conv2/weights' in names
      assert 'SPN/tower_s16/ObjectnessPredictor/weights' in names
      assert 'SPN/tower_s5/BoxEncodingPredictor/biases' in names
    elif tower_type == spn_towers.SINGLE_TCONV:
      assert 'SPN/shared_tower/conv1/weights' in names
    heads = [v for v in variables if 'Predictor/weights' in v.op.name]
    head_channels = {v.shape[-1] for v in heads}
    # Per-scale towers: 2 channels per head; shared heads: K * 2 = 6.
    per_scale = tower_type in (spn_towers.MULTI_TCONV,
                               spn_towers.MULTI_DILATED)
    assert head_channels == ({2} if per_scale else {6})
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      values = sess.run([objectness, boxes],
                        {inputs_ph: np.ones((2, 30, 10), np.float32)})
  assert values[0].shape == (2, 30, 3, 2)
  assert values[1].shape == (2, 30, 3, 2)


def test_single_heads_are_kernel_one_and_step_major():
  """SINGLE: the K*2 head channels reshape as channel k*2 + j -> [k, j]."""
  network = _network(spn_towers.SINGLE, scales=[2, 4], depth=3)
  rng = np.random.RandomState(2)
  inputs = rng.randn(1, 5, 3).astype(np.float32)
  graph = tf.Graph()
  with graph.as_default():
    objectness, _ = network.predict(tf.constant(inputs), scope='SPN')
    weights = [v for v in tf.compat.v1.trainable_variables()
               if v.op.name == 'SPN/ObjectnessPredictor/weights'][0]
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      result, weight_values = sess.run([objectness, weights])
  expected = (inputs[0] @ weight_values[0]).reshape(5, 2, 2)
  np.testing.assert_allclose(result[0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('tower_type,use_context', [
    (spn_towers.SINGLE, True), (spn_towers.SINGLE_TCONV, True),
    (spn_towers.MULTI_TCONV, True), (spn_towers.MULTI_DILATED, True),
    (spn_towers.MULTI_DILATED, False)])
def test_padded_batch_equals_each_video_alone(tower_type, use_context):
  rng = np.random.RandomState(11)
  depth = 5
  lengths = [40, 23]
  videos = [rng.randn(length, depth).astype(np.float32) for length in lengths]
  # Large garbage in the padding: must not leak into the valid steps.
  padded = 50.0 * rng.randn(2, 40, depth).astype(np.float32)
  mask = np.zeros((2, 40), np.float32)
  for b, video in enumerate(videos):
    padded[b, :lengths[b]] = video
    mask[b, :lengths[b]] = 1.0
  network = _network(tower_type, use_context, scales=[1, 3, 8, 16])
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.set_random_seed(3)
    inputs_ph = tf.compat.v1.placeholder(tf.float32, [None, None, depth])
    mask_ph = tf.compat.v1.placeholder(tf.float32, [None, None])
    outputs = network.predict(inputs_ph, mask_ph, scope='SPN')
    with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                     reuse=True):
      unmasked_outputs = network.predict(inputs_ph, None, scope='SPN')
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      batched = sess.run(outputs, {inputs_ph: padded, mask_ph: mask})
      for b, video in enumerate(videos):
        alone = sess.run(unmasked_outputs, {inputs_ph: video[None]})
        for batched_output, alone_output in zip(batched, alone):
          np.testing.assert_allclose(batched_output[b, :lengths[b]],
                                     alone_output[0], atol=1e-5)
  assert np.abs(batched[0]).max() > 0.0


def test_bool_mask_accepted():
  network = _network(spn_towers.MULTI_DILATED, scales=[16], depth=4)
  graph = tf.Graph()
  with graph.as_default():
    inputs = tf.constant(np.random.RandomState(0).randn(2, 12, 3), tf.float32)
    bool_mask = tf.sequence_mask([12, 7], 12)
    float_outputs = network.predict(inputs, tf.cast(bool_mask, tf.float32),
                                    scope='SPN')
    with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                     reuse=True):
      bool_outputs = network.predict(inputs, bool_mask, scope='SPN')
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      float_values, bool_values = sess.run([float_outputs, bool_outputs])
  np.testing.assert_array_equal(float_values[0], bool_values[0])
  np.testing.assert_array_equal(float_values[1], bool_values[1])


def test_bad_arguments_raise_value_error():
  hyperparams_fn = _conv_hyperparams_fn()
  with pytest.raises(ValueError, match='tower_type'):
    spn_towers.SegmentProposalNetwork(7, True, [1], 8, hyperparams_fn, False)
  with pytest.raises(ValueError, match='anchor scale'):
    spn_towers.SegmentProposalNetwork(spn_towers.SINGLE, True, [], 8,
                                      hyperparams_fn, False)
  with pytest.raises(ValueError, match='distinct'):
    spn_towers.SegmentProposalNetwork(spn_towers.MULTI_DILATED, True, [2, 2],
                                      8, hyperparams_fn, False)
  with pytest.raises(ValueError, match='depth'):
    spn_towers.SegmentProposalNetwork(spn_towers.SINGLE, True, [1], 0,
                                      hyperparams_fn, False)
