"""Tests for builders/hyperparams_builder.py (graph mode, as the Estimator runs)."""
import numpy as np
import pytest
import tensorflow as tf
import tf_slim as slim
from google.protobuf import text_format

from tal_detection.builders import hyperparams_builder
from tal_detection.protos import hyperparams_pb2


def _config(text):
  return text_format.Parse(text, hyperparams_pb2.Hyperparams())


def _run_layers(config_text, is_training=False, inputs=None):
  """Builds one conv1d (k1) and one fully_connected under the scope.

  Returns dict with numpy values of the outputs, weights, regularization
  losses and the graph, after running the initializer.
  """
  if inputs is None:
    inputs = np.random.RandomState(0).randn(4, 3, 400).astype(np.float32)
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.set_random_seed(1)
    scope_fn = hyperparams_builder.build(_config(config_text), is_training)
    x = tf.constant(inputs)
    with slim.arg_scope(scope_fn()):
      conv_out = slim.conv1d(x, 400, 1, scope='conv')
      fc_out = slim.fully_connected(tf.reshape(x, [-1, 400]), 300, scope='fc')
    reg_losses = tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      variables = {v.op.name: v for v in tf.compat.v1.global_variables()}
      conv_w = variables['conv/weights']
      fc_w = variables['fc/weights']
      result = sess.run({'conv_out': conv_out, 'fc_out': fc_out,
                         'conv_w': conv_w, 'fc_w': fc_w,
                         'reg': reg_losses})
  result['graph'] = graph
  result['inputs'] = inputs
  return result


def test_defaults_relu_variance_scaling_no_regularizer():
  result = _run_layers('')
  assert result['reg'] == []
  # ReLU on both ops (the unset op covers conv1d and fully_connected).
  assert result['conv_out'].min() == 0.0 and result['fc_out'].min() == 0.0
  # Variance scaling factor 2, FAN_IN, normal: std = sqrt(2 / 400).
  expected_std = np.sqrt(2.0 / 400)
  for name in ('conv_w', 'fc_w'):
    std = result[name].std()
    assert abs(std - expected_std) / expected_std < 0.05, (name, std)


def test_l2_regularizer_collected_with_value():
  result = _run_layers('regularizer { l2_regularizer { weight: 0.5 } }')
  assert len(result['reg']) == 2
  expected = sorted([0.5 * np.sum(result['conv_w'] ** 2) / 2.0,
                     0.5 * np.sum(result['fc_w'] ** 2) / 2.0])
  np.testing.assert_allclose(sorted(result['reg']), expected, rtol=1e-5)


def test_l1_regularizer_collected_with_value():
  result = _run_layers('regularizer { l1_regularizer { weight: 0.3 } }')
  assert len(result['reg']) == 2
  expected = sorted([0.3 * np.sum(np.abs(result['conv_w'])),
                     0.3 * np.sum(np.abs(result['fc_w']))])
  np.testing.assert_allclose(sorted(result['reg']), expected, rtol=1e-5)


def test_truncated_normal_initializer_applied():
  result = _run_layers(
      'initializer { truncated_normal_initializer { mean: 3.0 stddev: 0.1 } }')
  for name in ('conv_w', 'fc_w'):
    weights = result[name]
    assert weights.min() >= 2.8 - 1e-6 and weights.max() <= 3.2 + 1e-6
    assert abs(weights.mean() - 3.0) < 0.01


def test_random_normal_initializer_applied():
  result = _run_layers(
      'initializer { random_normal_initializer { mean: -1.0 stddev: 0.5 } }')
  weights = result['conv_w']
  assert abs(weights.mean() + 1.0) < 0.01
  assert abs(weights.std() - 0.5) < 0.01
  # Not truncated: some samples lie beyond two standard deviations.
  assert np.abs(weights + 1.0).max() > 1.0


def test_variance_scaling_uniform_fan_avg_applied():
  result = _run_layers(
      'initializer { variance_scaling_initializer '
      '{ factor: 1.0 uniform: true mode: FAN_AVG } }')
  # conv: fan_in 400, fan_out 400 -> limit sqrt(3 * 1 / 400).
  limit = np.sqrt(3.0 / 400)
  weights = result['conv_w']
  assert np.abs(weights).max() <= limit + 1e-7
  assert np.abs(weights).max() > 0.95 * limit


def test_activation_none_is_linear():
  result = _run_layers('activation: NONE')
  expected = result['inputs'] @ result['conv_w'][0]  # Biases start at zero.
  np.testing.assert_allclose(result['conv_out'], expected, rtol=1e-4,
                             atol=1e-4)
  assert result['conv_out'].min() < 0.0


def test_activation_relu6_caps_at_6():
  inputs = 50.0 * np.random.RandomState(3).randn(4, 3, 400).astype(np.float32)
  result = _run_layers('activation: RELU_6', inputs=inputs)
  expected = np.clip(inputs @ result['conv_w'][0], 0.0, 6.0)
  np.testing.assert_allclose(result['conv_out'], expected, rtol=1e-4,
                             atol=1e-3)
  assert result['conv_out'].max() == 6.0


def test_op_selects_the_scoped_layer_type():
  # op FC: the fully_connected layer is linear, conv1d keeps slim's ReLU.
  result = _run_layers('op: FC activation: NONE')
  assert result['fc_out'].min() < 0.0
  assert result['conv_out'].min() == 0.0
  # op CONV: the other way round.
  result = _run_layers('op: CONV activation: NONE')
  assert result['conv_out'].min() < 0.0
  assert result['fc_out'].min() == 0.0


def test_batch_norm_training_and_inference_modes():
  inputs = (3.0 + 2.0 * np.random.RandomState(4).randn(4, 3, 400)).astype(
      np.float32)
  text = 'activation: NONE batch_norm { center: true scale: false }'
  train = _run_layers(text, is_training=True, inputs=inputs)
  names = [v.op.name for v in train['graph'].get_collection(
      tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)]
  assert 'conv/BatchNorm/moving_mean' in names
  assert 'conv/biases' not in names  # Batch norm replaces the bias.
  assert train['graph'].get_collection(tf.compat.v1.GraphKeys.UPDATE_OPS)
  # Training: batch statistics, so every channel has mean ~0 and std ~1.
  per_channel = train['conv_out'].reshape(-1, 400)
  np.testing.assert_allclose(per_channel.mean(axis=0), 0.0, atol=1e-4)
  np.testing.assert_allclose(per_channel.std(axis=0), 1.0, atol=1e-2)
  # Inference: moving statistics (mean 0, variance 1 at start).
  infer = _run_layers(text, is_training=False, inputs=inputs)
  expected = (inputs @ infer['conv_w'][0]) / np.sqrt(1.0 + 0.001)
  np.testing.assert_allclose(infer['conv_out'], expected, rtol=1e-4,
                             atol=1e-3)
  # batch_norm.train = false freezes the statistics even when training.
  frozen = _run_layers(
      'activation: NONE batch_norm { center: true scale: false train: false }',
      is_training=True, inputs=inputs)
  expected = (inputs @ frozen['conv_w'][0]) / np.sqrt(1.0 + 0.001)
  np.testing.assert_allclose(frozen['conv_out'], expected, rtol=1e-4,
                             atol=1e-3)


def test_bad_input_raises_value_error():
  with pytest.raises(ValueError, match='Hyperparams'):
    hyperparams_builder.build('activation: RELU', is_training=True)
  with pytest.raises(ValueError, match='weight'):
    hyperparams_builder.build(
        _config('regularizer { l2_regularizer { weight: -1.0 } }'), True)
  with pytest.raises(ValueError, match='stddev'):
    hyperparams_builder.build(
        _config('initializer { truncated_normal_initializer { stddev: 0 } }'),
        True)


def test_batch_norm_update_ops_move_the_statistics():
  inputs = (3.0 + 2.0 * np.random.RandomState(5).randn(6, 5, 7)).astype(
      np.float32)
  graph = tf.Graph()
  with graph.as_default():
    scope_fn = hyperparams_builder.build(
        _config('batch_norm { decay: 0.9 scale: true }'), is_training=True)
    with slim.arg_scope(scope_fn()):
      slim.conv1d(tf.constant(inputs), 3, 1, scope='conv')
    update_ops = tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.UPDATE_OPS)
    variables = {v.op.name: v for v in tf.compat.v1.global_variables()}
    assert set(variables) == {
        'conv/weights', 'conv/BatchNorm/beta', 'conv/BatchNorm/gamma',
        'conv/BatchNorm/moving_mean', 'conv/BatchNorm/moving_variance'}
    trainable = {v.op.name for v in tf.compat.v1.trainable_variables()}
    assert 'conv/BatchNorm/moving_mean' not in trainable
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      weights = sess.run(variables['conv/weights'])
      sess.run(update_ops)
      moving_mean, moving_variance = sess.run(
          [variables['conv/BatchNorm/moving_mean'],
           variables['conv/BatchNorm/moving_variance']])
  pre_norm = (inputs @ weights[0]).reshape(-1, 3)
  np.testing.assert_allclose(moving_mean, 0.1 * pre_norm.mean(axis=0),
                             rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(moving_variance,
                             0.9 + 0.1 * pre_norm.var(axis=0), rtol=1e-4)
