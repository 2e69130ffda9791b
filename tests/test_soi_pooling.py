"""Tests for ops/soi_pooling.py against a plain numpy reference."""
import numpy as np
import pytest
import tensorflow as tf

from tal_detection.ops import soi_pooling as soi_lib

# The implementations with a gradient with respect to the features.
DIFFERENTIABLE = (soi_lib.GATHER, soi_lib.XLA_GATHER)


def _reference(features, proposals, num_steps, crop_size, context_ratio,
               kernel, stride):
  """Loop-by-loop numpy version of the documented semantics."""
  batch_size, _, depth = features.shape
  num_proposals = proposals.shape[1]
  crops = np.zeros((batch_size, num_proposals, crop_size, depth))

  def read(b, i):
    if 0 <= i <= num_steps[b] - 1:
      return features[b, i]
    return np.zeros(depth)

  for b in range(batch_size):
    for n in range(num_proposals):
      start, end = proposals[b, n]
      length = end - start
      ext_start = start - context_ratio * length
      ext_end = end + context_ratio * length
      for j in range(crop_size):
        point = ext_start + (j + 0.5) * (ext_end - ext_start) / crop_size
        u = point - 0.5
        lower = int(np.floor(u))
        weight = u - lower
        crops[b, n, j] = ((1 - weight) * read(b, lower) +
                          weight * read(b, lower + 1))
  out_bins = (crop_size - kernel) // stride + 1
  pooled = np.stack(
      [crops[:, :, o * stride:o * stride + kernel].max(axis=2)
       for o in range(out_bins)], axis=2)
  return pooled


def test_output_bins_formula():
  assert soi_lib.soi_output_bins(16, 2, 2) == 8
  assert soi_lib.soi_output_bins(7, 3, 2) == 3
  assert soi_lib.soi_output_bins(5, 1, 1) == 5


@pytest.mark.parametrize('implementation', soi_lib.IMPLEMENTATIONS)
def test_hand_computed_values(implementation):
  # Feature i of channel 0 equals 10 * (i + 1); valid length 6 of 8.
  features = np.zeros((1, 8, 1), np.float32)
  features[0, :, 0] = 10.0 * np.arange(1, 9)
  proposals = np.array([[[2.0, 4.0],     # bins centred on features 2 and 3
                         [1.5, 2.5],     # context 0 half-way points
                         [-1.0, 1.0],    # crosses the start
                         [5.0, 7.0]]],   # crosses the valid end (6)
                       np.float32)
  result = soi_lib.soi_pooling(features, proposals, [6], crop_size=4,
                               implementation=implementation)
  result = result.numpy()[0, :, :, 0]
  # [2, 4], 4 bins: centres 2.25 2.75 3.25 3.75 -> u 1.75 2.25 2.75 3.25.
  np.testing.assert_allclose(result[0], [27.5, 32.5, 37.5, 42.5], rtol=1e-6)
  # [1.5, 2.5]: centres 1.625 .. 2.375 -> u 1.125 1.375 1.625 1.875.
  np.testing.assert_allclose(result[1], [21.25, 23.75, 26.25, 28.75],
                             rtol=1e-6)
  # [-1, 1]: u = -1.25 -> 0; -0.75 -> 0.25 * 10; -0.25 -> 0.75 * 10;
  # 0.25 -> 0.75 * 10 + 0.25 * 20.
  np.testing.assert_allclose(result[2], [0.0, 2.5, 7.5, 12.5], rtol=1e-6)
  # [5, 7] in a video of 6 valid steps: u 4.75 5.25 5.75 6.25; feature 5
  # (value 60) is the last valid one, feature 6 (70) is padding -> zero.
  np.testing.assert_allclose(result[3], [57.5, 45.0, 15.0, 0.0], rtol=1e-6)


@pytest.mark.parametrize('implementation', soi_lib.IMPLEMENTATIONS)
def test_context_extension_hand_computed(implementation):
  features = np.arange(12, dtype=np.float32).reshape(1, 12, 1)
  proposals = np.array([[[4.0, 6.0]]], np.float32)
  # Context 0.5 extends [4, 6] to [3, 7]; 4 bins centred at 3.5 .. 6.5 are
  # exactly features 3..6; max-pool 2/2 keeps 4 and 6.
  result = soi_lib.soi_pooling(features, proposals, [12], crop_size=4,
                               context_ratio=0.5, maxpool_kernel_size=2,
                               maxpool_stride=2, implementation=implementation)
  np.testing.assert_allclose(result.numpy()[0, 0, :, 0], [4.0, 6.0])


@pytest.mark.parametrize('crop_size,context_ratio,kernel,stride', [
    (16, 0.5, 2, 2), (16, 0.0, 2, 2), (7, 0.25, 3, 2), (5, 1.0, 1, 1),
    (8, 0.5, 8, 1)])
@pytest.mark.parametrize('implementation', soi_lib.IMPLEMENTATIONS)
def test_random_cases_match_reference(crop_size, context_ratio, kernel,
                                      stride, implementation):
  rng = np.random.RandomState(crop_size * 10 + kernel)
  batch_size, num_total_steps, depth, num_proposals = 3, 20, 5, 9
  features = rng.randn(batch_size, num_total_steps, depth).astype(np.float32)
  num_steps = np.array([20, 13, 6], np.int32)
  starts = rng.uniform(-6.0, 24.0, size=(batch_size, num_proposals))
  lengths = rng.uniform(0.1, 15.0, size=(batch_size, num_proposals))
  proposals = np.stack([starts, starts + lengths], axis=2).astype(np.float32)
  # Always include: whole video, one far beyond both edges, a zero-length one.
  proposals[:, 0] = [0.0, 20.0]
  proposals[:, 1] = [-30.0, 50.0]
  proposals[:, 2] = [3.3, 3.3]
  result = soi_lib.soi_pooling(features, proposals, num_steps, crop_size,
                               context_ratio, kernel, stride,
                               implementation=implementation)
  expected = _reference(features, proposals, num_steps, crop_size,
                        context_ratio, kernel, stride)
  assert result.shape == expected.shape
  np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('implementation', soi_lib.IMPLEMENTATIONS)
def test_padding_and_far_proposals_read_zeros(implementation):
  features = np.ones((2, 10, 3), np.float32)
  proposals = np.array([[[-20.0, -5.0], [15.0, 40.0]],
                        [[7.0, 9.0], [1e9, 2e9]]], np.float32)
  result = soi_lib.soi_pooling(features, proposals, [10, 6], crop_size=4,
                               implementation=implementation)
  np.testing.assert_array_equal(result.numpy(), 0.0)


@pytest.mark.parametrize('implementation', soi_lib.IMPLEMENTATIONS)
def test_batch_of_two_equals_each_alone(implementation):
  rng = np.random.RandomState(7)
  features = rng.randn(2, 15, 4).astype(np.float32)
  proposals = np.array([[[-2.0, 5.0], [8.0, 16.0]],
                        [[1.0, 4.5], [6.0, 12.0]]], np.float32)
  batched = soi_lib.soi_pooling(features, proposals, [15, 9], 6, 0.5, 2, 2,
                                implementation=implementation)
  alone = soi_lib.soi_pooling(features[1:, :9], proposals[1:], [9], 6, 0.5,
                              2, 2, implementation=implementation)
  np.testing.assert_allclose(batched.numpy()[1:], alone.numpy(), atol=1e-6)


@pytest.mark.parametrize('implementation', DIFFERENTIABLE)
def test_gradient_matches_numerical(implementation):
  rng = np.random.RandomState(3)
  features = rng.randn(2, 7, 3)
  proposals = tf.constant([[[0.3, 4.1], [-1.2, 2.0], [5.0, 8.5]],
                           [[1.1, 2.9], [2.2, 6.4], [0.0, 0.9]]], tf.float64)
  num_steps = tf.constant([7, 5])

  def pool(feature_map):
    return soi_lib.soi_pooling(feature_map, proposals, num_steps, 6, 0.5, 2,
                               2, implementation=implementation)

  theoretical, numerical = tf.test.compute_gradient(
      pool, [tf.constant(features)])
  assert np.abs(theoretical[0]).max() > 0.1
  np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)


@pytest.mark.parametrize('implementation', DIFFERENTIABLE)
def test_no_gradient_reaches_padding(implementation):
  features = tf.constant(np.random.RandomState(4).randn(2, 8, 3), tf.float32)
  # Video 1 (5 valid steps): the proposal spans the padding; 16 bins over 7
  # steps sample every valid feature.
  proposals = tf.constant([[[0.0, 8.0]], [[-1.0, 6.0]]], tf.float32)
  with tf.GradientTape() as tape:
    tape.watch(features)
    pooled = soi_lib.soi_pooling(features, proposals, [8, 5], 16,
                                 implementation=implementation)
    total = tf.reduce_sum(pooled)
  gradient = tape.gradient(total, features).numpy()
  assert np.abs(gradient[1, :5]).min() > 0.0
  np.testing.assert_array_equal(gradient[1, 5:], 0.0)
  assert np.abs(gradient[0]).min() > 0.0


@pytest.mark.parametrize('kernel,stride', [(1, 1), (2, 2), (3, 2), (4, 1)])
def test_compiled_gradient_equals_the_gathers_gradient(kernel, stride):
  """XLA_GATHER's hand-written backward against TensorFlow's derivation of
  the gathers' one: random taps, tied taps (a run of zero features, as ReLU
  features have, so neighbouring samples are equal: a tie of nonzero
  interpolations may round differently under XLA and pick another tap), a
  padded batch, proposals past the ends, a length that is not a power of
  two (the compiled path pads it)."""
  rng = np.random.RandomState(kernel)
  features = rng.randn(2, 23, 5).astype(np.float32)
  features[0, 4:12] = 0.0  # ties in video 0
  proposals = np.stack([rng.uniform(-6, 26, (2, 30)), np.zeros((2, 30))], -1)
  proposals[..., 1] = proposals[..., 0] + rng.uniform(0, 12, (2, 30))
  proposals[0, :4] = [[4.5, 11.5], [5.0, 10.0], [6.0, 6.0], [3.0, 13.0]]
  upstream = tf.constant(rng.randn(2, 30, soi_lib.soi_output_bins(
      12, kernel, stride), 5).astype(np.float32))
  gradients = {}
  for implementation in DIFFERENTIABLE:
    features_tensor = tf.constant(features)
    with tf.GradientTape() as tape:
      tape.watch(features_tensor)
      pooled = soi_lib.soi_pooling(
          features_tensor, proposals.astype(np.float32), [23, 17], 12, 0.5,
          kernel, stride, implementation=implementation)
    gradients[implementation] = tape.gradient(
        pooled, features_tensor, upstream).numpy()
  expected = gradients[soi_lib.GATHER]
  assert np.abs(expected).min(axis=-1).max() > 0.1
  np.testing.assert_array_equal(expected[1, 17:], 0.0)
  np.testing.assert_allclose(gradients[soi_lib.XLA_GATHER], expected,
                             rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('implementation', soi_lib.IMPLEMENTATIONS)
def test_graph_mode_unknown_shapes(implementation):
  rng = np.random.RandomState(5)
  features = rng.randn(2, 11, 4).astype(np.float32)
  proposals = np.array([[[-1.0, 3.0], [2.5, 9.0], [4.0, 14.0]],
                        [[0.0, 6.0], [5.0, 7.0], [-8.0, -1.0]]], np.float32)
  num_steps = np.array([11, 7], np.int32)
  graph = tf.Graph()
  with graph.as_default():
    features_ph = tf.compat.v1.placeholder(tf.float32, [None, None, None])
    proposals_ph = tf.compat.v1.placeholder(tf.float32, [None, None, 2])
    num_steps_ph = tf.compat.v1.placeholder(tf.int32, [None])
    pooled = soi_lib.soi_pooling(features_ph, proposals_ph, num_steps_ph,
                                 crop_size=7, context_ratio=0.5,
                                 maxpool_kernel_size=3, maxpool_stride=2,
                                 implementation=implementation)
    assert pooled.shape.as_list() == [None, None, 3, None]
    with tf.compat.v1.Session(graph=graph) as sess:
      result = sess.run(pooled, {features_ph: features,
                                 proposals_ph: proposals,
                                 num_steps_ph: num_steps})
  expected = _reference(features, proposals, num_steps, 7, 0.5, 3, 2)
  np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)


def test_static_shape_kept_when_known():
  pooled = soi_lib.soi_pooling(tf.zeros([2, 10, 6]), tf.zeros([2, 4, 2]),
                               [10, 10], crop_size=16, context_ratio=0.5,
                               maxpool_kernel_size=2, maxpool_stride=2)
  assert pooled.shape.as_list() == [2, 4, 8, 6]


def test_bad_arguments_raise_value_error():
  features = tf.zeros([1, 5, 2])
  proposals = tf.zeros([1, 1, 2])
  with pytest.raises(ValueError, match='crop_size'):
    soi_lib.soi_pooling(features, proposals, [5], crop_size=0)
  with pytest.raises(ValueError, match='maxpool_kernel_size'):
    soi_lib.soi_pooling(features, proposals, [5], crop_size=2,
                        maxpool_kernel_size=3)
  with pytest.raises(ValueError, match='context_ratio'):
    soi_lib.soi_pooling(features, proposals, [5], crop_size=2,
                        context_ratio=-0.1)
  with pytest.raises(ValueError, match='proposals'):
    soi_lib.soi_pooling(features, tf.zeros([1, 2]), [5], crop_size=2)
  with pytest.raises(ValueError, match='implementation'):
    soi_lib.soi_pooling(features, proposals, [5], crop_size=2,
                        implementation='loop')


@pytest.mark.parametrize('implementation', soi_lib.IMPLEMENTATIONS)
def test_bfloat16_features_pool_in_float32_and_come_back_bfloat16(
    implementation):
  rng = np.random.RandomState(5)
  features = rng.randn(1, 9, 4).astype(np.float32)
  proposals = tf.constant([[[0.3, 4.1], [2.2, 8.6]]], tf.float32)
  expected = soi_lib.soi_pooling(features, proposals, [9], 6, 0.5, 2, 2)
  rounded = tf.cast(tf.cast(features, tf.bfloat16), tf.float32)
  expected_rounded = soi_lib.soi_pooling(rounded, proposals, [9], 6, 0.5, 2, 2)
  got = soi_lib.soi_pooling(tf.cast(features, tf.bfloat16), proposals, [9], 6,
                            0.5, 2, 2, implementation=implementation)
  assert got.dtype == tf.bfloat16
  # Interpolating the rounded features in float32, then one rounding.
  np.testing.assert_allclose(
      got.numpy().astype(np.float32),
      tf.cast(tf.cast(expected_rounded, tf.bfloat16), tf.float32).numpy(),
      rtol=0, atol=0)
  np.testing.assert_allclose(got.numpy().astype(np.float32), expected.numpy(),
                             rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize('implementation', soi_lib.IMPLEMENTATIONS)
@pytest.mark.parametrize('chunked', [False, True])
def test_output_dtype_rounds_the_float32_pooling_once(implementation, chunked):
  """float32 features, bfloat16 output: the float32 pooling rounded once
  (XLA_GATHER rounds inside its compiled loop, the others after it)."""
  rng = np.random.RandomState(6)
  features = rng.randn(2, 11, 5).astype(np.float32)
  proposals = tf.constant(np.sort(rng.uniform(-2, 12, (2, 5, 2)), axis=-1),
                          tf.float32)
  chunks = [(0, 2), (2, 5)] if chunked else None
  kwargs = dict(crop_size=6, context_ratio=0.5, maxpool_kernel_size=2,
                maxpool_stride=2, implementation=implementation,
                proposal_chunks=chunks)
  expected = soi_lib.soi_pooling(features, proposals, [11, 8], **kwargs)
  got = soi_lib.soi_pooling(features, proposals, [11, 8],
                            output_dtype=tf.bfloat16, **kwargs)
  if not chunked:
    expected, got = [expected], [got]
  for want, have in zip(expected, got):
    assert have.dtype == tf.bfloat16
    np.testing.assert_array_equal(
        tf.cast(have, tf.float32).numpy(),
        tf.cast(tf.cast(want, tf.bfloat16), tf.float32).numpy())


def test_compiled_pooling_casts_inside_the_compiled_loop():
  """XLA_GATHER with a bfloat16 output: the compiled function returns
  bfloat16 (it writes half the bytes), no Cast op follows it, and the
  gradient reaching the float32 features is the float32 path's for the
  same upstream gradient."""
  rng = np.random.RandomState(8)
  features = rng.randn(1, 9, 4).astype(np.float32)
  proposals = np.array([[[0.3, 4.1], [2.2, 8.6]]], np.float32)
  with tf.Graph().as_default() as graph:
    pooled = soi_lib.soi_pooling(tf.constant(features), proposals, [9], 6,
                                 0.5, 2, 2, implementation=soi_lib.XLA_GATHER,
                                 output_dtype=tf.bfloat16)
  compiled = [op for op in graph.get_operations()
              if op.type in ('PartitionedCall', 'StatefulPartitionedCall')]
  assert compiled and all(op.outputs[0].dtype == tf.bfloat16
                          for op in compiled)
  assert pooled.dtype == tf.bfloat16
  assert not [op for op in graph.get_operations() if op.type == 'Cast'
              and op.inputs[0].op in compiled]
  # Upstream gradients exact in bfloat16, so both paths see the same.
  upstream = tf.cast(tf.cast(rng.randn(1, 2, 3, 4), tf.bfloat16), tf.float32)
  gradients = []
  for output_dtype in (tf.float32, tf.bfloat16):
    features_tensor = tf.constant(features)
    with tf.GradientTape() as tape:
      tape.watch(features_tensor)
      pooled = soi_lib.soi_pooling(
          features_tensor, proposals, [9], 6, 0.5, 2, 2,
          implementation=soi_lib.XLA_GATHER, output_dtype=output_dtype)
    gradients.append(tape.gradient(
        pooled, features_tensor, tf.cast(upstream, output_dtype)).numpy())
  assert gradients[1].dtype == np.float32 and np.abs(gradients[0]).max() > 0.1
  np.testing.assert_array_equal(gradients[1], gradients[0])


@pytest.mark.parametrize('num_total_steps', [1, 7, 188, 255, 256, 257, 18800])
def test_crop_and_resize_equals_gather_to_one_rounding(num_total_steps):
  """Same sample positions: the paths differ by the interpolation's rounding.

  Lengths around powers of two (the crop_and_resize image is padded to
  2^k + 1 rows), a long video (positions with few fraction bits), padded
  batch rows, proposals past both ends and of zero length.
  """
  rng = np.random.RandomState(num_total_steps)
  depth, num_proposals = 6, 40
  features = rng.randn(2, num_total_steps, depth).astype(np.float32)
  num_steps = np.array([num_total_steps, max(1, num_total_steps // 3)])
  starts = rng.uniform(-0.2 * num_total_steps - 2, 1.1 * num_total_steps,
                       size=(2, num_proposals))
  lengths = rng.uniform(0.0, 0.3 * num_total_steps + 1, size=(2, num_proposals))
  proposals = np.stack([starts, starts + lengths], axis=2).astype(np.float32)
  proposals[:, 0] = [-1e6, 1e6]
  proposals[:, 1] = [0.25, 0.25]
  pooled = {
      implementation: soi_lib.soi_pooling(
          features, proposals, num_steps, 16, 0.5, 2, 2,
          implementation=implementation).numpy()
      for implementation in soi_lib.IMPLEMENTATIONS}
  np.testing.assert_allclose(pooled[soi_lib.CROP_AND_RESIZE],
                             pooled[soi_lib.GATHER], rtol=0,
                             atol=4 * np.finfo(np.float32).eps *
                             np.abs(features).max())


def test_crop_and_resize_power_of_two_padding():
  for value in [1, 2, 3, 4, 5, 189, 256, 257, 18801, 2 ** 20, 2 ** 20 + 1]:
    expected = max(2, 1 << (value - 1).bit_length())
    assert int(soi_lib._power_of_two_at_least(tf.constant(value))) == expected



def test_proposals_per_chunk_bounds_the_samples_of_a_chunk():
  # 300 proposals x (8 bins x 2 taps) x 1024-d float32 = 19.7 MB: 4 chunks
  # of 75 under 5 MiB each.
  assert soi_lib.proposals_per_chunk(300, 1024, 16, 2, 2) == 75
  assert soi_lib.proposals_per_chunk(301, 1024, 16, 2, 2) == 76
  # Small enough: all at once.
  assert soi_lib.proposals_per_chunk(300, 256, 16, 2, 2) == 300
  # Bytes per proposal = 4 * taps * bins * depth; the fewest equal chunks.
  assert soi_lib.proposals_per_chunk(10, 8, 4, 1, 1, max_bytes=128) == 1
  assert soi_lib.proposals_per_chunk(10, 8, 4, 2, 2, max_bytes=256) == 2
  assert soi_lib.proposals_per_chunk(10, 8, 4, 2, 2, max_bytes=500) == 4
  # One proposal larger than the bound still gets pooled, alone.
  assert soi_lib.proposals_per_chunk(3, 10**6, 4, max_bytes=64) == 1


@pytest.mark.parametrize('implementation', soi_lib.IMPLEMENTATIONS)
def test_proposal_chunks_pool_the_same_values(implementation):
  # Pooled a chunk at a time (positions and boxes computed once): each
  # chunk holds exactly the unchunked result's proposals, in a padded batch.
  rng = np.random.RandomState(3)
  features = rng.randn(2, 11, 5).astype(np.float32)
  starts = rng.uniform(-2, 10, [2, 7, 1])
  proposals = np.concatenate(
      [starts, starts + rng.uniform(0.1, 6, [2, 7, 1])], axis=2).astype(
          np.float32)
  num_steps = np.array([11, 6], np.int32)
  args = dict(crop_size=6, context_ratio=0.5, maxpool_kernel_size=2,
              maxpool_stride=2, implementation=implementation)
  whole = soi_lib.soi_pooling(features, proposals, num_steps, **args).numpy()
  chunks = [(0, 3), (3, 6), (6, 7)]
  pooled = soi_lib.soi_pooling(features, proposals, num_steps,
                               proposal_chunks=chunks, **args)
  assert [p.shape.as_list() for p in pooled] == [
      [2, 3, 3, 5], [2, 3, 3, 5], [2, 1, 3, 5]]
  for (start, end), chunk in zip(chunks, pooled):
    np.testing.assert_array_equal(chunk.numpy(), whole[:, start:end])
