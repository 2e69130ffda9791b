"""Mixed-precision training (train_config.precision, utils/precision_util.py)."""
import functools
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_slim as slim
from google.protobuf import text_format

import tal_net_test_util
from tal_detection import model_lib
from tal_detection.builders import model_builder
from tal_detection.core import standard_fields as fields
from tal_detection.protos import pipeline_pb2
from tal_detection.protos import train_pb2
from tal_detection.utils import config_util
from tal_detection.utils import precision_util

NUM_STEPS = 40
NUM_TRAIN_STEPS = 30
ACTIONS = [(5, 12, 1), (20, 30, 2)]


def test_compute_dtypes():
  config = train_pb2.TrainConfig
  assert precision_util.compute_dtype(config.FLOAT32) == tf.float32
  assert precision_util.compute_dtype(config.MIXED_BFLOAT16) == tf.bfloat16
  assert precision_util.compute_dtype(config.MIXED_FLOAT16) == tf.float16
  with pytest.raises(ValueError, match='train_config.precision'):
    precision_util.compute_dtype(7)


def test_layer_computes_in_bfloat16_on_float32_weights():
  graph = tf.Graph()
  with graph.as_default():
    inputs = np.random.default_rng(0).standard_normal((1, 5, 3))
    with precision_util.float32_variables(tf.bfloat16):
      output = slim.conv1d(tf.constant(inputs, tf.bfloat16), 4, 3,
                           activation_fn=None, scope='conv')
    (weights, biases) = tf.compat.v1.trainable_variables()
    gradient = tf.gradients(tf.reduce_sum(tf.cast(output, tf.float32)),
                            weights)[0]
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      value, kernel, bias = sess.run([output, weights, biases])
  assert output.dtype == tf.bfloat16
  assert weights.dtype.base_dtype == tf.float32 == biases.dtype.base_dtype
  assert weights.op.name == 'conv/weights'
  assert gradient.dtype == tf.float32
  # The same convolution in numpy (SAME padding), to bfloat16's precision.
  padded = np.pad(inputs[0], [[1, 1], [0, 0]])
  expected = np.stack([np.einsum('kc,kco->o', padded[t:t + 3], kernel)
                       for t in range(5)]) + bias
  np.testing.assert_allclose(value[0].astype(np.float32), expected,
                             rtol=0.05, atol=0.05)


def test_float32_changes_nothing():
  optimizer = tf.compat.v1.train.AdamOptimizer(0.1)
  for precision in (train_pb2.TrainConfig.FLOAT32,
                    train_pb2.TrainConfig.MIXED_BFLOAT16):
    assert precision_util.loss_scale_optimizer(optimizer,
                                               precision) is optimizer


def _train(precision, tower_type, model_dir):
  """Trains the tiny model NUM_TRAIN_STEPS steps; returns the losses."""
  pipeline = pipeline_pb2.TrainEvalPipelineConfig()
  pipeline.model.CopyFrom(tal_net_test_util.tiny_model_config(
      tower_type=tower_type))
  text_format.Parse(
      'batch_size: 1 optimizer { adam_optimizer { learning_rate { '
      'constant_learning_rate { learning_rate: 0.001 } } } }',
      pipeline.train_config)
  pipeline.train_config.precision = precision
  configs = config_util.create_configs_from_pipeline_proto(pipeline)
  data = fields.InputDataFields
  video = tal_net_test_util.synthetic_video(
      NUM_STEPS, dict(config_util.get_stream_specs(pipeline.model)), ACTIONS)
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.set_random_seed(0)
    features = {data.features_key(name): tf.constant(value[None])
                for name, value in video.items()}
    features[data.num_steps] = tf.constant([NUM_STEPS])
    for key in ('fps', 'stride_frames', 'offset_frames'):
      features[getattr(data, key)] = tf.constant([1.0])
    labels = {
        data.groundtruth_segments: tf.constant(
            [[[float(s), float(e)] for s, e, _ in ACTIONS]]),
        data.groundtruth_classes: tf.constant([[c for _, _, c in ACTIONS]]),
        data.num_groundtruth_segments: tf.constant([len(ACTIONS)]),
    }
    model_fn = model_lib.create_model_fn(
        functools.partial(model_builder.build, model_config=pipeline.model),
        configs)
    spec = model_fn(features, labels, tf.estimator.ModeKeys.TRAIN)
    # The layers' products: convs, and MatMuls (the kernel-1 reductions and
    # the FC layers); the losses and decoding hold none.
    compute_dtypes = {op.outputs[0].dtype for op in graph.get_operations()
                      if op.type in ('Conv2D', 'MatMul')
                      and not op.name.startswith('gradients/')}
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      losses = [sess.run([spec.train_op, spec.loss])[1]
                for _ in range(NUM_TRAIN_STEPS)]
      prefix = tf.compat.v1.train.Saver().save(
          sess, os.path.join(model_dir, 'model.ckpt'))
  return np.asarray(losses), compute_dtypes, prefix


def _check_trained(losses, compute_dtypes, prefix, dtype):
  assert compute_dtypes == {dtype}
  assert np.all(np.isfinite(losses)), losses
  assert losses[-5:].mean() < 0.8 * losses[:5].mean(), losses
  reader = tf.train.load_checkpoint(prefix)
  model_dtypes = {name: dtype for name, dtype in
                  reader.get_variable_to_dtype_map().items()
                  if name.startswith(('rgb/', 'flow/'))}
  assert model_dtypes
  assert set(model_dtypes.values()) == {tf.float32}, model_dtypes


def test_mixed_bfloat16_trains_with_float32_checkpoint(tmp_path):
  losses, compute_dtypes, prefix = _train(
      train_pb2.TrainConfig.MIXED_BFLOAT16, 'MULTI_DILATED', str(tmp_path))
  _check_trained(losses, compute_dtypes, prefix, tf.bfloat16)


@pytest.mark.slow
def test_mixed_float16_trains_with_loss_scaling(tmp_path):
  # TF's CPU kernels have no dilated float16 convolution gradient, so the
  # float16 run uses undilated towers.
  losses, compute_dtypes, prefix = _train(
      train_pb2.TrainConfig.MIXED_FLOAT16, 'SINGLE', str(tmp_path))
  _check_trained(losses, compute_dtypes, prefix, tf.float16)
  names = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
  assert any('loss_scale' in name for name in names), sorted(names)[:20]
