"""The dropout options (issue 13 point 4) do what they say, where they say.

model.tal_net.segment_proposal_network.head_dropout_rate and
model.tal_net.second_stage_dropout_rate: present in training graphs, where two
runs with the same weights give different outputs; absent from evaluation
graphs and from an exported SavedModel, whose outputs are deterministic; and
the defaults add nothing. (The input augmentations are tested in
test_preprocessor.py and test_inputs.py.)
"""
import os

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.protobuf import saved_model_pb2

from tal_detection import exporter
from tal_detection.builders import hyperparams_builder
from tal_detection.builders import model_builder
from tal_detection.models import box_classifier
from tal_detection.protos import hyperparams_pb2
from tal_detection.protos import pipeline_pb2

import tal_net_test_util as util

DIMS = {'rgb': 6, 'flow': 5}
NUM_STEPS = 40


def _config(head_dropout=0.0, second_stage_dropout=0.0):
  config = util.tiny_model_config()
  config.tal_net.segment_proposal_network.head_dropout_rate = head_dropout
  config.tal_net.second_stage_dropout_rate = second_stage_dropout
  return config


def _node_names(graph_def):
  """Names of a GraphDef's nodes and of every node in its function library
  (tf.cond branches live there)."""
  names = [node.name for node in graph_def.node]
  for function in graph_def.library.function:
    names.extend(node.name for node in function.node_def)
  return names


def _dropout_names(names):
  return sorted(name for name in names if 'Dropout' in name)


def _model_outputs(config, is_training):
  """Builds preprocess + predict on one constant video in the default graph."""
  model = model_builder.build(config, is_training=is_training)
  video = util.synthetic_video(NUM_STEPS, DIMS, [(5, 12, 1), (20, 30, 2)])
  if is_training:
    model.provide_groundtruth(tf.constant([[[5.0, 12.0], [20.0, 30.0]]]),
                              tf.one_hot([[0, 1]], 3), tf.constant([2]))
  features = {name: tf.constant(values[None]) for name, values in
              video.items()}
  preprocessed, num_steps = model.preprocess(features,
                                             tf.constant([NUM_STEPS]))
  return model.predict(preprocessed, num_steps)


def _graph_and_two_runs(config, is_training, key):
  """(dropout node names, two runs of predictions[key] with the same weights)."""
  with tf.Graph().as_default() as graph:
    tf.compat.v1.set_random_seed(0)
    predictions = _model_outputs(config, is_training)
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      first = session.run(predictions[key])
      second = session.run(predictions[key])
  return _dropout_names(_node_names(graph.as_graph_def())), first, second


def test_training_graph_holds_both_dropouts_and_spn_outputs_vary():
  names, first, second = _graph_and_two_runs(
      _config(head_dropout=0.5, second_stage_dropout=0.5), True,
      'rpn_objectness_logits')
  assert any('HeadDropout' in name for name in names), names
  for stream in DIMS:
    assert any(name.startswith(stream) and
               'SecondStageBoxClassifier/Dropout' in name
               for name in names), names
  assert not np.allclose(first, second)


def test_without_head_dropout_training_spn_outputs_repeat():
  # The control of the test above: the same graph minus the dropout gives the
  # same objectness twice, so the difference there is the dropout's.
  names, first, second = _graph_and_two_runs(_config(), True,
                                             'rpn_objectness_logits')
  assert names == []
  np.testing.assert_array_equal(first, second)


def test_eval_graph_holds_no_dropout_and_is_deterministic():
  for key in ('rpn_objectness_logits', 'class_logits'):
    names, first, second = _graph_and_two_runs(
        _config(head_dropout=0.5, second_stage_dropout=0.5), False, key)
    assert names == []
    np.testing.assert_array_equal(first, second)


def _fc_hyperparams(op):
  return hyperparams_builder.build(
      text_format.Parse('op: %s' % op, hyperparams_pb2.Hyperparams()),
      is_training=True)


def _classifier_runs(dropout_rate, is_training):
  """Two runs of a BoxClassifier's logits on the same pooled features."""
  classifier = box_classifier.BoxClassifier(
      num_classes=3, reduction_depth=6, fc_depth=64,
      reduction_hyperparams_fn=_fc_hyperparams('CONV'),
      fc_hyperparams_fn=_fc_hyperparams('FC'), is_training=is_training,
      dropout_rate=dropout_rate)
  pooled = np.random.RandomState(0).randn(5, 4, 8).astype(np.float32)
  with tf.Graph().as_default() as graph:
    logits, _ = classifier.predict(tf.constant(pooled))
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      first, second = session.run(logits), session.run(logits)
  return _dropout_names(_node_names(graph.as_graph_def())), first, second


def test_second_stage_dropout_varies_training_logits_only():
  names, first, second = _classifier_runs(0.5, is_training=True)
  assert 'BoxClassifier/Dropout' in {name.rsplit('/', 1)[0] for name in names}
  assert not np.allclose(first, second)
  for rate, is_training in ((0.0, True), (0.5, False)):
    names, first, second = _classifier_runs(rate, is_training)
    assert names == []
    np.testing.assert_array_equal(first, second)


def test_exported_saved_model_has_no_dropout_and_is_deterministic(tmp_path):
  pipeline = pipeline_pb2.TrainEvalPipelineConfig()
  pipeline.model.CopyFrom(_config(head_dropout=0.5, second_stage_dropout=0.5))
  checkpoint_dir = str(tmp_path / 'model')
  with tf.Graph().as_default():
    exporter.build_inference_graph(pipeline.model)
    saver = tf.compat.v1.train.Saver()
    with tf.compat.v1.Session() as session:
      session.run(tf.compat.v1.global_variables_initializer())
      checkpoint = saver.save(session, os.path.join(checkpoint_dir,
                                                    'model.ckpt'))
  version_dir = exporter.export_inference_graph(
      'features', pipeline, checkpoint, str(tmp_path / 'exported'),
      time_base={'fps': 10.0, 'stride_frames': 16.0, 'window_frames': 16.0,
                 'source': 'test'})
  saved_model = saved_model_pb2.SavedModel()
  with open(os.path.join(version_dir, 'saved_model.pb'), 'rb') as f:
    saved_model.ParseFromString(f.read())
  (meta_graph,) = saved_model.meta_graphs
  names = _node_names(meta_graph.graph_def)
  assert any('SegmentProposalNetwork' in name for name in names)
  assert _dropout_names(names) == []
  loaded = tf.saved_model.load(version_dir)
  video = util.synthetic_video(NUM_STEPS, DIMS, [(5, 12, 1)])
  feed = {'features_' + name: tf.constant(values[None])
          for name, values in video.items()}
  feed['num_steps'] = tf.constant([NUM_STEPS], tf.int32)
  for key, value in (('fps', 10.0), ('stride_frames', 16.0),
                     ('offset_frames', 8.0)):
    feed[key] = tf.constant([value], tf.float32)
  signature = loaded.signatures['serving_default']
  first = {k: v.numpy() for k, v in signature(**feed).items()}
  second = {k: v.numpy() for k, v in signature(**feed).items()}
  assert first['num_proposals'][0] > 0
  for key in first:
    np.testing.assert_array_equal(first[key], second[key], err_msg=key)
