"""TAL-Net meta-architecture: fusion, padding, losses and an overfit run."""
import numpy as np
import pytest
import tensorflow as tf

from tal_detection.builders import model_builder
from tal_detection.core import standard_fields as fields
from tal_detection.meta_architectures import tal_net_meta_arch

import tal_net_test_util as util

RESULT = fields.DetectionResultFields
LOSS_KEYS = {'Loss/SPNLoss/localization_loss', 'Loss/SPNLoss/objectness_loss',
             'Loss/BoxClassifierLoss/localization_loss',
             'Loss/BoxClassifierLoss/classification_loss'}


def _inference_graph(model_config, batch_features, num_steps):
  """Builds predict + postprocess on constant inputs; returns tensors."""
  model = model_builder.build(model_config, is_training=False)
  features = {k: tf.constant(v) for k, v in batch_features.items()}
  preprocessed, steps = model.preprocess(features, tf.constant(num_steps))
  predictions = model.predict(preprocessed, steps)
  return model, predictions, model.postprocess(predictions, steps)


def _run(fetches):
  with tf.compat.v1.Session() as sess:
    sess.run(tf.compat.v1.global_variables_initializer())
    return sess.run(fetches)


def test_late_fusion_outputs_are_means_of_the_stream_outputs():
  config = util.tiny_model_config()
  video = util.synthetic_video(40, {'rgb': 6, 'flow': 5}, [(5, 12, 1)])
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(1)
    model, predictions, _ = _inference_graph(
        config, {k: v[None] for k, v in video.items()}, [40])
    assert [p.name for p in model.pipelines] == ['rgb', 'flow']
    result = _run(predictions)
  per = result['per_pipeline']
  for key in ('rpn_objectness_logits', 'rpn_box_encodings', 'class_logits',
              'refined_box_encodings'):
    expected = (per['rgb'][key] + per['flow'][key]) / 2.0
    np.testing.assert_allclose(result[key], expected, rtol=1e-6, atol=1e-6)
    # The streams really differ, so the mean is not trivially equal to one.
    assert np.abs(per['rgb'][key] - per['flow'][key]).max() > 1e-4
  assert result['rpn_objectness_logits'].shape == (1, 40 * 4, 2)
  assert result['class_logits'].shape == (1, 48, 4)
  assert result['refined_box_encodings'].shape == (1, 48, 3, 2)


def _variable_shapes():
  return {v.op.name: v.shape.as_list()
          for v in tf.compat.v1.global_variables()}


def test_early_fusion_consumes_the_concatenated_streams():
  config = util.tiny_model_config(fusion='EARLY')
  video = util.synthetic_video(30, {'rgb': 6, 'flow': 5}, [(5, 12, 1)])
  with tf.Graph().as_default():
    model, predictions, _ = _inference_graph(
        config, {k: v[None] for k, v in video.items()}, [30])
    assert [p.name for p in model.pipelines] == ['rgb_flow']
    shapes = _variable_shapes()
    concat = tf.concat([tf.constant(video['rgb'][None]),
                        tf.constant(video['flow'][None])], axis=-1)
    # The first reduction conv sees D_rgb + D_flow = 11 input channels.
    reduction = shapes['rgb_flow/FirstStageFeatureReduction/conv1x1/weights']
    assert reduction[-2:] == [11, 16]
    classifier = [n for n in shapes if n.startswith(
        'rgb_flow/SecondStageBoxClassifier') and 'Reduction' in n and
                  n.endswith('weights')]
    assert len(classifier) == 1 and shapes[classifier[0]][-2] == 11
    kernel = [v for v in tf.compat.v1.global_variables() if v.op.name ==
              'rgb_flow/FirstStageFeatureReduction/conv1x1/weights'][0]
    bias = [v for v in tf.compat.v1.global_variables() if v.op.name ==
            'rgb_flow/FirstStageFeatureReduction/conv1x1/biases'][0]
    expected = tf.nn.relu(tf.einsum('btd,de->bte', concat, kernel[0]) + bias)
    reduced = tf.compat.v1.get_default_graph().get_tensor_by_name(
        'rgb_flow/FirstStageFeatureReduction/conv1x1/reduced:0')
    got, want = _run([reduced, expected])
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('stream', ['rgb', 'flow'])
def test_single_stream_builds_no_variables_for_the_other(stream):
  dims = {'rgb': 6, 'flow': 5}
  config = util.tiny_model_config(streams=((stream, dims[stream]),))
  video = util.synthetic_video(30, {stream: dims[stream]}, [(5, 12, 1)])
  with tf.Graph().as_default():
    model, _, detections = _inference_graph(
        config, {k: v[None] for k, v in video.items()}, [30])
    names = list(_variable_shapes())
    other = 'flow' if stream == 'rgb' else 'rgb'
    assert names and all(n.startswith(stream + '/') for n in names)
    assert not any(n.startswith(other) for n in names)
    result = _run(detections)
  assert result[RESULT.detection_segments].shape == (1, 40, 2)


@pytest.mark.parametrize('tower_type', ['SINGLE', 'SINGLE_TCONV',
                                        'MULTI_TCONV', 'MULTI_DILATED'])
def test_every_tower_type_trains_one_step(tower_type):
  config = util.tiny_model_config(tower_type=tower_type)
  actions = [(3, 5, 1), (10, 18, 2)]
  video = util.synthetic_video(24, {'rgb': 6, 'flow': 5}, actions)
  with tf.Graph().as_default():
    model = model_builder.build(config, is_training=True)
    _provide(model, [actions])
    features = {k: tf.constant(v[None]) for k, v in video.items()}
    preprocessed, steps = model.preprocess(features, tf.constant([24]))
    losses = model.loss(model.predict(preprocessed, steps), steps)
    assert set(losses) == LOSS_KEYS
    train = tf.compat.v1.train.AdamOptimizer(1e-3).minimize(
        tf.add_n(list(losses.values())))
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      values, _ = sess.run([losses, train])
  assert all(np.isfinite(v) and v >= 0 for v in values.values())
  assert values['Loss/SPNLoss/objectness_loss'] > 0


def _provide(model, actions_per_video, num_classes=3):
  max_gt = max(len(a) for a in actions_per_video)
  segments = np.zeros([len(actions_per_video), max_gt, 2], np.float32)
  classes = np.zeros([len(actions_per_video), max_gt], np.int32)
  for b, actions in enumerate(actions_per_video):
    for i, (start, end, cls) in enumerate(actions):
      segments[b, i] = (start, end)
      classes[b, i] = cls - 1
  model.provide_groundtruth(
      tf.constant(segments), tf.one_hot(classes, num_classes),
      tf.constant([len(a) for a in actions_per_video], tf.int32))


def test_padded_batch_gives_the_same_detections_as_single_videos():
  config = util.tiny_model_config()
  dims = {'rgb': 6, 'flow': 5}
  long_video = util.synthetic_video(50, dims, [(5, 12, 1), (30, 44, 2)], seed=3)
  short_video = util.synthetic_video(33, dims, [(8, 20, 3)], seed=4)
  batch = {k: np.stack([long_video[k],
                        np.pad(short_video[k], [[0, 17], [0, 0]],
                               constant_values=7.0)])
           for k in dims}
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(2)
    model, _, batched = _inference_graph(config, batch, [50, 33])
    with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                     reuse=True):
      _, _, alone_long = _inference_graph(
          config, {k: v[None] for k, v in long_video.items()}, [50])
      _, _, alone_short = _inference_graph(
          config, {k: v[None] for k, v in short_video.items()}, [33])
    del model
    got, first, second = _run([batched, alone_long, alone_short])
  for b, alone in enumerate([first, second]):
    n = int(alone[RESULT.num_detections][0])
    assert n > 0
    assert int(got[RESULT.num_detections][b]) == n
    for key in (RESULT.detection_segments, RESULT.detection_scores,
                RESULT.detection_classes):
      np.testing.assert_allclose(got[key][b][:n], alone[key][0][:n],
                                 rtol=1e-5, atol=1e-5)
    p = int(alone[RESULT.num_proposals][0])
    assert int(got[RESULT.num_proposals][b]) == p
    np.testing.assert_allclose(got[RESULT.proposal_segments][b][:p],
                               alone[RESULT.proposal_segments][0][:p],
                               rtol=1e-5, atol=1e-5)
  # Nothing is detected past the short video's end.
  assert got[RESULT.detection_segments][1].max() <= 33.0 + 1e-6


def test_overfits_one_video_and_recovers_every_action():
  """Loss falls >= 10x and each action is its class's top detection."""
  config = util.tiny_model_config()
  actions = [(4, 6, 1), (15, 27, 2), (36, 52, 3)]  # 2, 12 and 16 steps long
  video = util.synthetic_video(64, {'rgb': 6, 'flow': 5}, actions)
  features_np = {k: v[None] for k, v in video.items()}
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(0)
    model = model_builder.build(config, is_training=True)
    _provide(model, [actions])
    features = {k: tf.constant(v) for k, v in features_np.items()}
    preprocessed, steps = model.preprocess(features, tf.constant([64]))
    losses = model.loss(model.predict(preprocessed, steps), steps)
    total = tf.add_n(list(losses.values()))
    train = tf.compat.v1.train.AdamOptimizer(1e-3).minimize(total)
    with tf.compat.v1.variable_scope(tf.compat.v1.get_variable_scope(),
                                     reuse=True):
      _, _, detections = _inference_graph(config, features_np, [64])
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      curve = [sess.run([total, train])[0] for _ in range(300)]
      result = sess.run(detections)
  first, last = np.mean(curve[:5]), np.mean(curve[-5:])
  print('overfit total loss: first5 %.4f last5 %.4f (step 0 %.4f, 100 %.4f, '
        '200 %.4f, 299 %.4f)' % (first, last, curve[0], curve[100], curve[200],
                                 curve[299]))
  assert last * 10.0 <= first
  n = int(result[RESULT.num_detections][0])
  segments = result[RESULT.detection_segments][0][:n]
  scores = result[RESULT.detection_scores][0][:n]
  classes = result[RESULT.detection_classes][0][:n]
  for start, end, cls in actions:
    of_class = np.where(classes == cls)[0]
    assert of_class.size, 'no detection of class %d' % cls
    top = of_class[np.argmax(scores[of_class])]
    tiou = _tiou(segments[top], (start, end))
    assert tiou >= 0.5, (cls, segments[top], tiou)


def _tiou(a, b):
  inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
  return inter / (a[1] - a[0] + b[1] - b[0] - inter)


def test_restore_map_lists_model_variables_by_checkpoint_name():
  config = util.tiny_model_config()
  video = util.synthetic_video(20, {'rgb': 6, 'flow': 5}, [(3, 9, 1)])
  with tf.Graph().as_default():
    model, _, _ = _inference_graph(
        config, {k: v[None] for k, v in video.items()}, [20])
    tf.Variable(0.0, name='not_the_model')
    everything = model.restore_map('detection')
    reduction = model.restore_map('feature_reduction')
    assert 'not_the_model' not in everything
    assert set(everything) == {v.op.name for v in
                               tf.compat.v1.global_variables()} - {
                                   'not_the_model'}
    assert reduction and all('FeatureReduction' in n for n in reduction)
    with pytest.raises(ValueError):
      model.restore_map('classification')


def test_predict_handles_an_unknown_batch_and_length():
  config = util.tiny_model_config()
  with tf.Graph().as_default():
    model = model_builder.build(config, is_training=False)
    features = {'rgb': tf.compat.v1.placeholder(tf.float32, [None, None, 6]),
                'flow': tf.compat.v1.placeholder(tf.float32, [None, None, 5])}
    steps = tf.compat.v1.placeholder(tf.int32, [None])
    preprocessed, steps_out = model.preprocess(features, steps)
    detections = model.postprocess(model.predict(preprocessed, steps_out),
                                   steps_out)
    for length in (7, 90):
      video = util.synthetic_video(length, {'rgb': 6, 'flow': 5}, [])
      with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        out = sess.run(detections, {
            features['rgb']: np.stack([video['rgb']] * 3),
            features['flow']: np.stack([video['flow']] * 3),
            steps: [length] * 3})
      assert out[RESULT.detection_segments].shape == (3, 40, 2)
      assert out[RESULT.detection_segments].max() <= length + 1e-5


def test_stages_must_run_the_models_pipelines():
  late = model_builder.build(util.tiny_model_config(), is_training=False)
  early = model_builder.build(util.tiny_model_config(fusion='EARLY'),
                              is_training=False)
  with pytest.raises(ValueError, match='ClassifierStage runs pipelines'):
    tal_net_meta_arch.TalNetMetaArch(
        is_training=False, pipelines=late.pipelines,
        proposal_stage=late.proposal_stage,
        classifier_stage=early.classifier_stage)
  model = tal_net_meta_arch.TalNetMetaArch(
      is_training=False, pipelines=late.pipelines,
      proposal_stage=late.proposal_stage,
      classifier_stage=late.classifier_stage)
  assert model.stream_specs == [('rgb', 6), ('flow', 5)]
  assert model.num_classes == 3
