"""Tests for the optimizer, losses and post-processing builders (from text protos)."""
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from tal_detection.builders import losses_builder
from tal_detection.builders import optimizer_builder
from tal_detection.builders import post_processing_builder
from tal_detection.core import losses
from tal_detection.protos import losses_pb2
from tal_detection.protos import optimizer_pb2
from tal_detection.protos import post_processing_pb2

import schedule_test_util


def _parse(text, message_class):
  return text_format.Parse(text, message_class())


# --- optimizer_builder ---------------------------------------------------------


def _build_and_evaluate(text, steps=(0,)):
  """Builds an optimizer in a fresh graph; returns it and its rate at steps."""
  config = _parse(text, optimizer_pb2.Optimizer)
  graph = tf.Graph()
  with graph.as_default():
    optimizer, summary_vars = optimizer_builder.build(config)
    global_step = tf.compat.v1.train.get_or_create_global_step()
    rates = schedule_test_util.rates_at_steps(summary_vars[0], global_step,
                                              steps)
  return optimizer, rates


def test_adam_constant_rate():
  optimizer, rates = _build_and_evaluate("""
    adam_optimizer {
      learning_rate { constant_learning_rate { learning_rate: 0.002 } }
      beta1: 0.8 beta2: 0.99 epsilon: 1e-6
    }""", steps=(0, 1000))
  assert isinstance(optimizer, tf.compat.v1.train.AdamOptimizer)
  np.testing.assert_allclose(rates, [0.002, 0.002], rtol=1e-6)
  assert optimizer._beta1 == pytest.approx(0.8)
  assert optimizer._beta2 == pytest.approx(0.99)
  assert optimizer._epsilon == pytest.approx(1e-6)


def test_unset_learning_rate_is_constant_1e4():
  optimizer, rates = _build_and_evaluate('adam_optimizer {}')
  assert isinstance(optimizer, tf.compat.v1.train.AdamOptimizer)
  np.testing.assert_allclose(rates, [1e-4], rtol=1e-6)


def test_momentum_exponential_decay():
  optimizer, rates = _build_and_evaluate("""
    momentum_optimizer {
      learning_rate { exponential_decay_learning_rate {
        initial_learning_rate: 0.1 decay_steps: 10 decay_factor: 0.5
        min_learning_rate: 0.02 } }
      momentum_optimizer_value: 0.7
    }""", steps=(0, 10, 25, 1000))
  assert isinstance(optimizer, tf.compat.v1.train.MomentumOptimizer)
  assert optimizer._momentum == pytest.approx(0.7)
  np.testing.assert_allclose(rates, [0.1, 0.05, 0.025, 0.02], rtol=1e-6)


def test_rms_prop_manual_step():
  optimizer, rates = _build_and_evaluate("""
    rms_prop_optimizer {
      learning_rate { manual_step_learning_rate {
        initial_learning_rate: 0.1
        schedule { step: 10 learning_rate: 0.01 }
        schedule { step: 20 learning_rate: 0.001 } } }
      decay: 0.8 momentum_optimizer_value: 0.5 epsilon: 0.1
    }""", steps=(0, 9, 10, 20, 100))
  assert isinstance(optimizer, tf.compat.v1.train.RMSPropOptimizer)
  assert optimizer._decay == pytest.approx(0.8)
  assert optimizer._momentum == pytest.approx(0.5)
  assert optimizer._epsilon == pytest.approx(0.1)
  np.testing.assert_allclose(rates, [0.1, 0.1, 0.01, 0.001, 0.001], rtol=1e-6)


def test_manual_step_warmup():
  _, rates = _build_and_evaluate("""
    adam_optimizer { learning_rate { manual_step_learning_rate {
      initial_learning_rate: 0.0 warmup: true
      schedule { step: 4 learning_rate: 0.4 } } } }""", steps=(0, 1, 4, 9))
  np.testing.assert_allclose(rates, [0.0, 0.1, 0.4, 0.4], rtol=1e-6)


def test_cosine_decay():
  _, rates = _build_and_evaluate("""
    adam_optimizer { learning_rate { cosine_decay_learning_rate {
      learning_rate_base: 0.2 total_steps: 110 warmup_learning_rate: 0.1
      warmup_steps: 10 } } }""", steps=(0, 5, 10, 60, 110, 200))
  np.testing.assert_allclose(rates, [0.1, 0.15, 0.2, 0.1, 0.0, 0.0],
                             rtol=1e-5, atol=1e-7)


def test_explicit_global_step_drives_schedule():
  config = _parse("""adam_optimizer { learning_rate { manual_step_learning_rate {
      initial_learning_rate: 1.0 schedule { step: 3 learning_rate: 0.5 } } } }""",
                  optimizer_pb2.Optimizer)
  with tf.Graph().as_default():
    step = tf.compat.v1.placeholder(tf.int64, [])
    _, summary_vars = optimizer_builder.build(config, global_step=step)
    # No global step variable is created when one is passed.
    assert tf.compat.v1.train.get_global_step() is None
    with tf.compat.v1.Session() as sess:
      assert sess.run(summary_vars[0], {step: 2}) == 1.0
      assert sess.run(summary_vars[0], {step: 3}) == 0.5


def test_optimizer_minimizes_in_graph_mode():
  config = _parse("""momentum_optimizer {
      learning_rate { constant_learning_rate { learning_rate: 0.1 } }
      momentum_optimizer_value: 0.0 }""", optimizer_pb2.Optimizer)
  with tf.Graph().as_default():
    weight = tf.compat.v1.get_variable(
        'w', initializer=tf.constant(2.0), use_resource=True)
    optimizer, _ = optimizer_builder.build(config)
    train_op = optimizer.minimize(tf.square(weight))  # gradient 2w
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      sess.run(train_op)
      np.testing.assert_allclose(sess.run(weight), 2.0 - 0.1 * 4.0, rtol=1e-6)


@pytest.mark.parametrize('text,match', [
    ('', 'optimizer: no optimizer set'),
    ('use_moving_average: true', 'optimizer: no optimizer set'),
    ("""adam_optimizer { learning_rate { manual_step_learning_rate {
        schedule { step: 20 } schedule { step: 10 } } } }""",
     'strictly increasing'),
    ("""adam_optimizer { learning_rate { manual_step_learning_rate {
        schedule { step: 10 } schedule { step: 10 } } } }""",
     'strictly increasing'),
    ("""adam_optimizer { learning_rate { manual_step_learning_rate {
        warmup: true } } }""", 'warmup'),
    ("""adam_optimizer { learning_rate { constant_learning_rate {
        learning_rate: -0.1 } } }""",
     r'adam_optimizer\.learning_rate\.constant_learning_rate\.learning_rate'),
    ("""adam_optimizer { learning_rate { exponential_decay_learning_rate {
        decay_steps: 0 } } }""", 'decay_steps'),
    ("""adam_optimizer { learning_rate { cosine_decay_learning_rate {
        total_steps: 10 warmup_steps: 10 } } }""", 'total_steps'),
    ("""adam_optimizer { learning_rate { cosine_decay_learning_rate {
        learning_rate_base: 0.1 warmup_learning_rate: 0.5 warmup_steps: 2 } } }""",
     'warmup_learning_rate'),
    ('adam_optimizer { beta1: 1.0 }', r'adam_optimizer\.beta1'),
    ('momentum_optimizer { momentum_optimizer_value: -0.5 }',
     'momentum_optimizer_value'),
    ('rms_prop_optimizer { epsilon: 0 }', r'rms_prop_optimizer\.epsilon'),
])
def test_optimizer_errors(text, match):
  config = _parse(text, optimizer_pb2.Optimizer)
  with tf.Graph().as_default():
    with pytest.raises(ValueError, match=match):
      optimizer_builder.build(config)


# --- losses_builder ------------------------------------------------------------


def test_losses_builder_defaults():
  cls_loss, loc_loss, cls_weight, loc_weight = losses_builder.build(
      losses_pb2.Loss())
  assert isinstance(cls_loss, losses.WeightedSoftmaxClassificationLoss)
  assert isinstance(loc_loss, losses.WeightedSmoothL1LocalizationLoss)
  assert cls_weight == 1.0 and loc_weight == 1.0
  # delta 1: |3| -> 2.5; logit_scale 1: equal logits -> log 2.
  np.testing.assert_allclose(
      loc_loss([[[3.0]]], [[[0.0]]], [[1.0]]).numpy(), [[2.5]])
  np.testing.assert_allclose(
      cls_loss([[[1.0, 1.0]]], [[[1.0, 0.0]]], [[1.0]]).numpy(),
      [[np.log(2.0)]], rtol=1e-6)


def test_losses_builder_from_text():
  config = _parse("""
    classification_loss { weighted_softmax { logit_scale: 2.0 } }
    localization_loss { weighted_smooth_l1 { delta: 0.5 } }
    classification_weight: 0.5
    localization_weight: 2.0""", losses_pb2.Loss)
  cls_loss, loc_loss, cls_weight, loc_weight = losses_builder.build(config)
  assert (cls_weight, loc_weight) == (0.5, 2.0)
  # delta 0.5: |3| -> 0.5 * (3 - 0.25) = 1.375.
  np.testing.assert_allclose(
      loc_loss([[[3.0]]], [[[0.0]]], [[1.0]]).numpy(), [[1.375]])
  # logit_scale 2: logits [2, 0] act as [1, 0].
  expected = -np.log(np.exp(1.0) / (np.exp(1.0) + 1.0))
  np.testing.assert_allclose(
      cls_loss([[[2.0, 0.0]]], [[[1.0, 0.0]]], [[1.0]]).numpy(), [[expected]],
      rtol=1e-6)


@pytest.mark.parametrize('text,match', [
    ('classification_loss { weighted_softmax { logit_scale: 0 } }',
     'classification_loss.weighted_softmax.logit_scale'),
    ('localization_loss { weighted_smooth_l1 { delta: -1 } }',
     'localization_loss.weighted_smooth_l1.delta'),
    ('classification_weight: -1', 'classification_weight'),
    ('localization_weight: -0.5', 'localization_weight'),
])
def test_losses_builder_errors(text, match):
  with pytest.raises(ValueError, match=match):
    losses_builder.build(_parse(text, losses_pb2.Loss))


# --- post_processing_builder ---------------------------------------------------


# The options beyond the paper's hard NMS, at their defaults (all off).
_PAPER_NMS_OPTIONS = dict(method='HARD', soft_nms_sigma=pytest.approx(0.5),
                          pre_nms_top_k=0, min_score=0.0, class_agnostic=False,
                          voting_iou_threshold=0.0)


def test_post_processing_builder_from_text():
  config = _parse("""
    batch_non_max_suppression {
      score_threshold: 0.3 iou_threshold: 0.4
      max_detections_per_class: 1 max_total_detections: 3 }
    score_converter: SIGMOID
    logit_scale: 2.0""", post_processing_pb2.PostProcessing)
  nms_fn, score_fn = post_processing_builder.build(config)
  assert nms_fn.keywords == dict(score_thresh=pytest.approx(0.3),
                                 iou_thresh=pytest.approx(0.4),
                                 max_size_per_class=1, max_total_size=3,
                                 **_PAPER_NMS_OPTIONS)
  np.testing.assert_allclose(score_fn(tf.constant([[2.0, -4.0]])).numpy(),
                             1.0 / (1.0 + np.exp([[-1.0, 2.0]])), rtol=1e-6)
  segments = np.array([[[[0, 4]], [[1, 4]], [[10, 12]]]], np.float32)
  scores = np.array([[[0.9, 0.2], [0.8, 0.5], [0.7, 0.6]]], np.float32)
  nmsed_segments, nmsed_scores, nmsed_classes, count = nms_fn(segments, scores)
  # One per class: class 0 keeps 0.9 [0,4]; class 1 keeps 0.6 [10,12].
  assert nmsed_segments.shape == (1, 3, 2)
  np.testing.assert_allclose(nmsed_scores.numpy(), [[0.9, 0.6, 0.0]])
  np.testing.assert_array_equal(nmsed_classes.numpy(), [[0, 1, 0]])
  np.testing.assert_array_equal(count.numpy(), [2])


def test_post_processing_builder_defaults():
  nms_fn, score_fn = post_processing_builder.build(
      post_processing_pb2.PostProcessing())
  assert nms_fn.keywords == dict(score_thresh=0.0, iou_thresh=pytest.approx(0.7),
                                 max_size_per_class=100, max_total_size=200,
                                 **_PAPER_NMS_OPTIONS)
  logits = np.array([[1.0, 2.0, 3.0]], np.float32)
  np.testing.assert_allclose(score_fn(logits).numpy(),
                             np.exp(logits) / np.exp(logits).sum(), rtol=1e-6)
  _, scores, _, _ = nms_fn(np.zeros((1, 2, 1, 2), np.float32) + [0, 1],
                           np.ones((1, 2, 1), np.float32),
                           num_valid_segments=[1])
  assert scores.shape == (1, 200)


def test_identity_score_converter_scales_logits():
  config = _parse('score_converter: IDENTITY logit_scale: 4.0',
                  post_processing_pb2.PostProcessing)
  _, score_fn = post_processing_builder.build(config)
  np.testing.assert_allclose(score_fn(tf.constant([8.0, -2.0])).numpy(),
                             [2.0, -0.5])


@pytest.mark.parametrize('text,match', [
    ('batch_non_max_suppression { iou_threshold: -0.1 }',
     r'batch_non_max_suppression\.iou_threshold'),
    ('batch_non_max_suppression { iou_threshold: 1.5 }',
     r'batch_non_max_suppression\.iou_threshold'),
    ('batch_non_max_suppression { score_threshold: -0.2 }',
     r'batch_non_max_suppression\.score_threshold'),
    ('batch_non_max_suppression { score_threshold: 2.0 }',
     r'batch_non_max_suppression\.score_threshold'),
    ('batch_non_max_suppression { max_detections_per_class: 0 }',
     'max_detections_per_class'),
    ('batch_non_max_suppression { max_total_detections: -1 }',
     'max_total_detections'),
    ('batch_non_max_suppression { max_detections_per_class: 300 '
     'max_total_detections: 200 }', 'must not exceed max_total_detections'),
    ('logit_scale: 0', 'logit_scale'),
])
def test_post_processing_builder_errors(text, match):
  config = _parse(text, post_processing_pb2.PostProcessing)
  with pytest.raises(ValueError, match=match):
    post_processing_builder.build(config)
