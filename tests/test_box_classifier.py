"""Tests for models/box_classifier.py and models/feature_reduction.py."""
import numpy as np
import pytest
import tensorflow as tf
import tf_slim
from google.protobuf import text_format

from tal_detection.builders import hyperparams_builder
from tal_detection.models import box_classifier
from tal_detection.models import feature_reduction
from tal_detection.protos import hyperparams_pb2


def _hyperparams_fn(text=''):
  return hyperparams_builder.build(
      text_format.Parse(text, hyperparams_pb2.Hyperparams()), is_training=True)


def _classifier(num_classes=5, reduction_depth=6, fc_depth=10):
  return box_classifier.BoxClassifier(
      num_classes=num_classes, reduction_depth=reduction_depth,
      fc_depth=fc_depth, reduction_hyperparams_fn=_hyperparams_fn('op: CONV'),
      fc_hyperparams_fn=_hyperparams_fn('op: FC'), is_training=True)


def test_shapes_variables_and_numpy_forward():
  rng = np.random.RandomState(0)
  pooled = rng.randn(7, 8, 12).astype(np.float32)
  classifier = _classifier()
  assert classifier.num_classes == 5
  graph = tf.Graph()
  with graph.as_default():
    pooled_ph = tf.compat.v1.placeholder(tf.float32, [None, 8, 12])
    class_logits, box_encodings = classifier.predict(pooled_ph)
    assert class_logits.shape.as_list() == [None, 6]
    assert box_encodings.shape.as_list() == [None, 5, 2]
    variables = {v.op.name: v for v in tf.compat.v1.trainable_variables()}
    assert sorted(variables) == sorted([
        'BoxClassifier/Reduction/conv1x1/weights',
        'BoxClassifier/Reduction/conv1x1/biases',
        'BoxClassifier/fc/weights', 'BoxClassifier/fc/biases',
        'BoxClassifier/ClassPredictor/weights',
        'BoxClassifier/ClassPredictor/biases',
        'BoxClassifier/BoxEncodingPredictor/weights',
        'BoxClassifier/BoxEncodingPredictor/biases'])
    # Random biases so the numpy check below exercises them too.
    randomize = [v.assign(tf.random.normal(tf.shape(v), seed=i))
                 for i, v in enumerate(variables.values())]
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      sess.run(randomize)
      logits, boxes, params = sess.run(
          [class_logits, box_encodings, variables], {pooled_ph: pooled})
  assert params['BoxClassifier/fc/weights'].shape == (8 * 6, 10)
  assert params['BoxClassifier/ClassPredictor/weights'].shape == (10, 6)
  assert params['BoxClassifier/BoxEncodingPredictor/weights'].shape == (10, 10)

  def relu(x):
    return np.maximum(x, 0.0)

  reduced = relu(pooled @ params['BoxClassifier/Reduction/conv1x1/weights'][0]
                 + params['BoxClassifier/Reduction/conv1x1/biases'])
  hidden = relu(reduced.reshape(7, -1) @ params['BoxClassifier/fc/weights'] +
                params['BoxClassifier/fc/biases'])
  expected_logits = (hidden @ params['BoxClassifier/ClassPredictor/weights'] +
                     params['BoxClassifier/ClassPredictor/biases'])
  expected_boxes = (
      hidden @ params['BoxClassifier/BoxEncodingPredictor/weights'] +
      params['BoxClassifier/BoxEncodingPredictor/biases']).reshape(7, 5, 2)
  np.testing.assert_allclose(logits, expected_logits, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(boxes, expected_boxes, rtol=1e-4, atol=1e-4)
  # The final layers are linear: logits and encodings go negative.
  assert logits.min() < 0.0 and boxes.min() < 0.0


def test_two_streams_get_distinct_variables_by_scope():
  classifier = _classifier(num_classes=3)
  graph = tf.Graph()
  with graph.as_default():
    pooled = tf.zeros([4, 8, 12])
    classifier.predict(pooled, scope='rgb/BoxClassifier')
    classifier.predict(pooled, scope='flow/BoxClassifier')
    names = [v.op.name for v in tf.compat.v1.trainable_variables()]
  assert len(names) == 16
  assert 'rgb/BoxClassifier/fc/weights' in names
  assert 'flow/BoxClassifier/fc/weights' in names


def test_regularizers_from_both_hyperparams_are_collected():
  classifier = box_classifier.BoxClassifier(
      num_classes=2, reduction_depth=4, fc_depth=5,
      reduction_hyperparams_fn=_hyperparams_fn(
          'op: CONV regularizer { l2_regularizer { weight: 0.1 } }'),
      fc_hyperparams_fn=_hyperparams_fn(
          'op: FC regularizer { l1_regularizer { weight: 0.1 } }'),
      is_training=True)
  graph = tf.Graph()
  with graph.as_default():
    classifier.predict(tf.zeros([3, 4, 6]))
    losses = tf.compat.v1.get_collection(
        tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES)
  # Reduction conv + hidden FC + two final FCs.
  assert len(losses) == 4


def test_bad_input_raises_value_error():
  with pytest.raises(ValueError, match='num_classes'):
    _classifier(num_classes=0)
  with pytest.raises(ValueError, match='bins'):
    with tf.Graph().as_default():
      _classifier().predict(
          tf.compat.v1.placeholder(tf.float32, [None, None, 12]))


def test_reduce_features_kernel_one_with_activation():
  rng = np.random.RandomState(1)
  features = rng.randn(2, 9, 7).astype(np.float32)
  graph = tf.Graph()
  with graph.as_default():
    features_ph = tf.compat.v1.placeholder(tf.float32, [None, None, 7])
    relu_out = feature_reduction.reduce_features(
        features_ph, 4, _hyperparams_fn(), scope='rgb')
    linear_out = feature_reduction.reduce_features(
        features_ph, 4, _hyperparams_fn('activation: NONE'), scope='flow')
    assert relu_out.shape.as_list() == [None, None, 4]
    variables = {v.op.name: v for v in tf.compat.v1.trainable_variables()}
    assert sorted(variables) == ['flow/conv1x1/biases', 'flow/conv1x1/weights',
                                 'rgb/conv1x1/biases', 'rgb/conv1x1/weights']
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      relu_value, linear_value, params = sess.run(
          [relu_out, linear_out, variables], {features_ph: features})
  np.testing.assert_allclose(
      relu_value, np.maximum(features @ params['rgb/conv1x1/weights'][0], 0.0),
      rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(
      linear_value, features @ params['flow/conv1x1/weights'][0], rtol=1e-4,
      atol=1e-5)
  with pytest.raises(ValueError, match='depth'):
    feature_reduction.reduce_features(tf.zeros([1, 2, 3]), 0,
                                      _hyperparams_fn())


def _reduction_graph(reduce_fn, hyperparams_text):
  """Outputs, input and weight gradients, variables and their collections."""
  rng = np.random.RandomState(3)
  features = rng.randn(2, 9, 7).astype(np.float32)
  output_grad = rng.randn(2, 9, 4).astype(np.float32)
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.set_random_seed(0)
    inputs = tf.constant(features)
    outputs = reduce_fn(inputs, _hyperparams_fn(hyperparams_text))
    variables = tf.compat.v1.trainable_variables()
    gradients = tf.gradients(outputs, [inputs] + variables, output_grad)
    collections = {
        key: sorted(v.op.name for v in graph.get_collection(key))
        for key in (tf.compat.v1.GraphKeys.MODEL_VARIABLES,
                    tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES)}
    num_regularizers = len(graph.get_collection(
        tf.compat.v1.GraphKeys.REGULARIZATION_LOSSES))
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      values = sess.run([outputs] + gradients)
  return values, collections, num_regularizers


@pytest.mark.parametrize('hyperparams_text', [
    'op: CONV regularizer { l2_regularizer { weight: 0.5 } }',
    'op: CONV activation: NONE',
    'op: CONV batch_norm { scale: true }'])
def test_reduce_features_equals_slim_conv1d(hyperparams_text):
  # The MatMul formulation computes slim.conv1d's layer: same variables (names,
  # collections, initial values, regularizers), outputs and gradients.
  def with_slim(inputs, hyperparams_fn):
    with tf.compat.v1.variable_scope('rgb'):
      with tf_slim.arg_scope(hyperparams_fn()):
        return tf_slim.conv1d(inputs, 4, 1, scope='conv1x1')

  def with_reduction(inputs, hyperparams_fn):
    return feature_reduction.reduce_features(inputs, 4, hyperparams_fn,
                                             scope='rgb')

  want, want_collections, want_regularizers = _reduction_graph(
      with_slim, hyperparams_text)
  got, got_collections, got_regularizers = _reduction_graph(
      with_reduction, hyperparams_text)
  assert got_collections == want_collections
  assert 'rgb/conv1x1/weights' in got_collections[
      tf.compat.v1.GraphKeys.MODEL_VARIABLES]
  assert got_regularizers == want_regularizers
  assert len(got) == len(want)
  for got_value, want_value in zip(got, want):
    np.testing.assert_allclose(got_value, want_value, rtol=1e-5, atol=1e-5)
