"""FLOP counting from built graphs (tal_detection/benchmarks/flops.py)
against counts worked out by hand."""
import numpy as np
import pytest
import tensorflow as tf

from tal_detection.benchmarks import flops
from tal_detection.benchmarks import inference
from tal_detection.protos import pipeline_pb2

import tal_net_test_util

# A conv1d (kernel 3, SAME) of T steps D_IN -> D_OUT with a bias, then one
# fully connected layer on ROWS x D_OUT.
T, KERNEL, D_IN, D_OUT = 10, 3, 4, 5
ROWS, FC_OUT = 6, 7


def _conv_and_fc(features):
  """conv1d + bias on [1, T, D_IN] features, FC on a fixed [ROWS, D_OUT]."""
  rng = np.random.RandomState(0)
  kernel = tf.constant(rng.randn(KERNEL, D_IN, D_OUT).astype(np.float32))
  bias = tf.constant(rng.randn(D_OUT).astype(np.float32))
  conv = tf.nn.bias_add(tf.nn.conv1d(features, kernel, 1, 'SAME'), bias)
  weights = tf.constant(rng.randn(D_OUT, FC_OUT).astype(np.float32))
  return tf.matmul(conv[0, :ROWS], weights)


# 2 FLOP per multiply-add: each of the T x D_OUT conv outputs sums
# KERNEL x D_IN products; each of the ROWS x FC_OUT FC outputs sums D_OUT.
HAND_CONV = 2 * T * D_OUT * KERNEL * D_IN  # 1200
HAND_BIAS = T * D_OUT  # one add per conv output: 50
HAND_MATMUL = 2 * ROWS * FC_OUT * D_OUT  # 420


def test_count_float_ops_of_a_conv1d_and_an_fc_equals_the_hand_count():
  graph = tf.Graph()
  with graph.as_default():
    _conv_and_fc(tf.compat.v1.placeholder(tf.float32, [1, T, D_IN]))
  counts = flops.count_float_ops(graph)
  assert counts['float_ops_by_op_type'] == {
      'Conv2D': HAND_CONV, 'BiasAdd': HAND_BIAS, 'MatMul': HAND_MATMUL}
  assert counts['total_float_ops'] == HAND_CONV + HAND_BIAS + HAND_MATMUL
  assert flops.dense_float_ops(counts) == counts['total_float_ops']


def test_ops_of_unknown_shape_count_nothing():
  # Why saved_model_float_ops re-imports with static shapes.
  graph = tf.Graph()
  with graph.as_default():
    _conv_and_fc(tf.compat.v1.placeholder(tf.float32, [None, None, D_IN]))
  assert flops.count_float_ops(graph)['float_ops_by_op_type'].get(
      'Conv2D', 0) == 0


def test_a_conditional_counts_as_its_costlier_branch():
  """tf.cond's branches live in functions tfprof does not see; a model built
  with one is counted as if the costlier branch ran."""
  graph = tf.Graph()
  with graph.as_default():
    x = tf.compat.v1.placeholder(tf.float32, [4, 8])
    pred = tf.compat.v1.placeholder(tf.bool, [])
    w_small = tf.ones([8, 2])
    w_big, w_out = tf.ones([8, 16]), tf.ones([16, 2])
    tf.cond(pred, lambda: tf.matmul(x, w_small),
            lambda: tf.matmul(tf.matmul(x, w_big), w_out))
  assert {'If', 'StatelessIf'} & {op.type for op in graph.get_operations()}
  assert flops.count_float_ops(graph)['float_ops_by_op_type'] == {
      'MatMul': 2 * 4 * 8 * 16 + 2 * 4 * 16 * 2}
  assert flops.matmul_shapes(graph) == {(4, 8, 16): 1, (4, 16, 2): 1}


def _save_conv_and_fc(export_dir):
  graph = tf.Graph()
  with graph.as_default():
    features = tf.compat.v1.placeholder(tf.float32, [None, None, D_IN],
                                        name='features')
    scale = tf.compat.v1.placeholder(tf.float32, [None], name='scale')
    output = _conv_and_fc(features) * scale[0]
    with tf.compat.v1.Session(graph=graph) as sess:
      tf.compat.v1.saved_model.simple_save(
          sess, export_dir, {'features': features, 'scale': scale},
          {'output': output})


def test_saved_model_float_ops_counts_with_the_given_static_shapes(tmp_path):
  export_dir = str(tmp_path / 'model')
  _save_conv_and_fc(export_dir)
  counts = flops.saved_model_float_ops(
      export_dir, {'features': [1, T, D_IN], 'scale': [1]})
  by_type = counts['float_ops_by_op_type']
  assert (by_type['Conv2D'], by_type['BiasAdd'], by_type['MatMul']) == (
      HAND_CONV, HAND_BIAS, HAND_MATMUL)
  assert by_type['Mul'] == ROWS * FC_OUT  # the scaling, one per output
  with pytest.raises(ValueError, match='no static shape given for the '
                     'inputs scale'):
    flops.saved_model_float_ops(export_dir, {'features': [1, T, D_IN]})


# tiny_model_config: D 6 -> reduction R 16; tower depth 16; K = 4 scales;
# 48 proposals x (crop 8 / max-pool stride 2 = 4 bins); FC 32; 3 classes.
TINY_D, TINY_R, TINY_DEPTH, TINY_K = 6, 16, 16, 4
TINY_M, TINY_BINS, TINY_FC, TINY_C = 48, 4, 32, 3
TINY_STEPS = 20


@pytest.fixture(scope='module')
def tiny_export(tmp_path_factory):
  """SINGLE_TCONV towers (no dilation, so no SpaceToBatch padding adds rows)
  with one stream, so each layer's size follows from the config alone."""
  pipeline = pipeline_pb2.TrainEvalPipelineConfig()
  pipeline.model.CopyFrom(tal_net_test_util.tiny_model_config(
      streams=(('rgb', 6),), tower_type='SINGLE_TCONV'))
  version_dir, _ = inference.export_random_weights(
      pipeline, str(tmp_path_factory.mktemp('tiny_export')), 0)
  return version_dir


def test_exported_tiny_tal_net_dense_flops_equal_its_layers_by_hand(
    tiny_export):
  """The whole exported model: every dense layer is counted, nothing more."""
  num_steps = TINY_STEPS
  result = inference.inference_float_ops(tiny_export, {'features_rgb': 6},
                                         num_steps)
  d, r, depth, k = TINY_D, TINY_R, TINY_DEPTH, TINY_K
  m, bins, fc, c = TINY_M, TINY_BINS, TINY_FC, TINY_C

  def dense(rows, fan_in, fan_out):  # multiply-adds plus the bias adds
    return 2 * rows * fan_in * fan_out + rows * fan_out

  hand = (dense(num_steps, d, r) +                      # feature reduction
          dense(num_steps, 3 * r, depth) +              # shared tower conv1
          dense(num_steps, 3 * depth, depth) +          # shared tower conv2
          2 * dense(num_steps, depth, 2 * k) +          # objectness, boxes
          dense(m * bins, d, r) +                       # second-stage k1
          dense(m, bins * r, fc) +                      # FC
          dense(m, fc, c + 1) + dense(m, fc, 2 * c))    # class, box outputs
  assert result['profiler_dense_float_ops'] == hand
  assert result['profiler']['total_float_ops'] > hand  # plus elementwise ops


def test_exported_tiny_tal_net_matmul_shapes_are_its_layers(tiny_export):
  """Every layer's [m, k] x [k, n] product, once each."""
  shapes = {name: [1, TINY_STEPS, 6] if name == 'features_rgb' else [1]
            for name in ('features_rgb', 'num_steps', 'fps', 'stride_frames',
                         'offset_frames')}
  found = flops.saved_model_matmul_shapes(tiny_export, shapes)
  t, d, r, depth, k = TINY_STEPS, TINY_D, TINY_R, TINY_DEPTH, TINY_K
  m, bins, fc, c = TINY_M, TINY_BINS, TINY_FC, TINY_C
  assert found == {
      (t, d, r): 1,                      # feature reduction
      (t, 3 * depth, depth): 2,          # tower conv1 (3 * R = 3 * depth), conv2
      (t, depth, 4 * k): 1,              # objectness and boxes, one MatMul
      (m * bins, d, r): 1,               # second-stage reduction
      (m, bins * r, fc): 1,              # FC
      (m, fc, c + 1): 1, (m, fc, 2 * c): 1}
  assert flops.matmul_shape_float_ops(found) == 2 * (
      t * d * r + 2 * t * 3 * depth * depth + t * depth * 4 * k +
      m * bins * d * r + m * bins * r * fc + m * fc * (c + 1) +
      m * fc * 2 * c)


def test_matmul_shapes_apply_transposes_and_refuse_unknown_shapes():
  graph = tf.Graph()
  with graph.as_default():
    a = tf.compat.v1.placeholder(tf.float32, [3, 5])
    b = tf.compat.v1.placeholder(tf.float32, [7, 5])
    tf.matmul(a, b, transpose_b=True)                  # [3, 5] x [5, 7]
    c = tf.compat.v1.placeholder(tf.float32, [2, 3])
    tf.matmul(a, c, transpose_a=True, transpose_b=True)  # [5, 3] x [3, 2]
    tf.matmul(a, b, transpose_b=True)
  assert flops.matmul_shapes(graph) == {(3, 5, 7): 2, (5, 3, 2): 1}
  with graph.as_default():
    tf.matmul(tf.compat.v1.placeholder(tf.float32, [None, 5]),
              tf.compat.v1.placeholder(tf.float32, [5, 2]))
  with pytest.raises(ValueError, match='not static'):
    flops.matmul_shapes(graph)
