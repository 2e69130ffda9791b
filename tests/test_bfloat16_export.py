"""bfloat16 export (exporter precision='bfloat16'): float32 in and out, the
networks in bfloat16 on the float32 checkpoint, detections close to the
float32 export of the same checkpoint."""
import os

import numpy as np
import pytest
import tensorflow as tf

from tal_detection import exporter
from tal_detection.protos import pipeline_pb2
from tal_detection.utils import machine_info

import tal_net_test_util as util

# The stated tolerance of a bfloat16 export against the float32 one (8-bit
# mantissa: ~0.4% per rounding): at least AGREEMENT of the float32
# detections of NUM_VIDEOS videos have a bfloat16 one of the same class whose
# score is within SCORE_TOLERANCE and whose start and end are within
# SEGMENT_TOLERANCE_STEPS feature steps (tools/compare_precisions.py's rule,
# there on a trained model's top 20 per video). Not all of them: this random
# tiny model's scores are flat, so a rounding can reorder two overlapping
# detections and NMS then keeps the other one. Measured: 305 of 320 (95%) on
# an AVX2-only CPU, where TensorFlow's bfloat16 matmuls are Eigen's and round
# more (2x the error of one output rounding); every detection of the one
# video then measured on an AVX512_BF16 CPU (oneDNN, float32 accumulation).
SCORE_TOLERANCE = 0.02
SEGMENT_TOLERANCE_STEPS = 0.1
AGREEMENT = 0.9
NUM_VIDEOS = 8
TIME_BASE = {'fps': 10.0, 'stride_frames': 16.0, 'window_frames': 16.0,
             'source': 'test'}
SECONDS_PER_STEP = TIME_BASE['stride_frames'] / TIME_BASE['fps']
DIMS = {'rgb': 6, 'flow': 5}
NUM_STEPS = 60


@pytest.fixture(scope='module')
def exports(tmp_path_factory):
  """{precision: version dir} of one random-weight checkpoint, and
  'bfloat16_nojit': its bfloat16 export without XLA (jit_compile=False)."""
  work = tmp_path_factory.mktemp('bf16')
  pipeline = pipeline_pb2.TrainEvalPipelineConfig()
  pipeline.model.CopyFrom(util.tiny_model_config())
  prefix = os.path.join(str(work), 'checkpoint', 'model.ckpt')
  with tf.Graph().as_default():
    tf.compat.v1.set_random_seed(0)
    exporter.build_inference_graph(pipeline.model)
    with tf.compat.v1.Session() as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      tf.compat.v1.train.Saver().save(sess, prefix)
  exports = {precision: exporter.export_inference_graph(
      'features', pipeline, prefix, os.path.join(str(work), precision),
      time_base=TIME_BASE, precision=precision)
             for precision in exporter.PRECISIONS}
  exports['bfloat16_nojit'] = exporter.export_inference_graph(
      'features', pipeline, prefix, os.path.join(str(work), 'bfloat16_nojit'),
      time_base=TIME_BASE, precision='bfloat16', jit_compile=False)
  return exports


def _serve(version_dir, seeds):
  """[outputs of each video] of the export on the synthetic video of each
  seed."""
  serve = tf.saved_model.load(version_dir).signatures['serving_default']
  results = []
  for seed in seeds:
    video = util.synthetic_video(NUM_STEPS, DIMS, [(5, 12, 1), (30, 44, 2)],
                                 seed=seed)
    outputs = serve(
        features_rgb=tf.constant(video['rgb'][None]),
        features_flow=tf.constant(video['flow'][None]),
        num_steps=tf.constant([NUM_STEPS]), fps=tf.constant([10.0]),
        stride_frames=tf.constant([16.0]), offset_frames=tf.constant([8.0]))
    results.append({k: v.numpy() for k, v in outputs.items()})
  return results


def test_bfloat16_signature_has_the_float32_inputs_and_outputs(exports):
  signatures = {}
  for precision, version_dir in exports.items():
    loaded = tf.saved_model.load(version_dir)
    serve = loaded.signatures['serving_default']
    signatures[precision] = (
        {k: v.dtype for k, v in serve.structured_input_signature[1].items()},
        {k: v.dtype for k, v in serve.structured_outputs.items()})
  assert signatures['bfloat16'] == signatures['float32']
  assert signatures['bfloat16_nojit'] == signatures['float32']
  inputs, outputs = signatures['bfloat16']
  assert inputs['features_rgb'] == tf.float32
  assert outputs['detection_scores'] == tf.float32
  assert outputs['detection_segments'] == tf.float32
  assert outputs['num_detections'] == tf.int32


@pytest.mark.parametrize('jit_compile', [None, False])
def test_bfloat16_graph_convolves_in_bfloat16_on_float32_variables(
    jit_compile):
  """jit_compile None (the default: XLA SoI pooling) and False."""
  config = util.tiny_model_config()
  with tf.Graph().as_default() as graph:
    exporter.build_inference_graph(config, precision='bfloat16',
                                   jit_compile=jit_compile)
  conv_dtypes = {op.get_attr('T') for op in graph.get_operations()
                 if op.type in ('Conv2D', 'MatMul')}
  assert conv_dtypes == {tf.bfloat16}
  nms = [op for op in graph.get_operations()
         if op.type == 'CombinedNonMaxSuppression']
  assert nms and all(op.inputs[1].dtype == tf.float32 for op in nms)
  # SoI pooling masks and interpolates the float32 streams (element-wise
  # bfloat16 multiplies are the slower ones on CPU): no stream is cast to
  # bfloat16 and back.
  multiplies = [op for op in graph.get_operations() if op.type == 'Mul']
  assert not [op.name for op in multiplies if op.get_attr('T') == tf.bfloat16]
  crops = [op for op in graph.get_operations() if op.type == 'CropAndResize']
  compiled = {f.signature.name for f in graph.as_graph_def().library.function
              if f.attr['_XlaMustCompile'].b}
  soi_calls = [op for op in graph.get_operations()
               if op.type in ('PartitionedCall', 'StatefulPartitionedCall')
               and op.get_attr('f').name in compiled]
  if jit_compile is None:
    # One compiled SoI pooling per stream: it reads the float32 stream and
    # writes bfloat16 (the cast inside its loop), and nothing crops.
    assert not crops and len(soi_calls) == len(config.tal_net.streams)
    for op in soi_calls:
      assert op.inputs[0].dtype == tf.float32
      assert not _has_bfloat16_ancestor(op.inputs[0]), op.name
      assert [t.dtype for t in op.outputs] == [tf.bfloat16]
  else:
    assert not soi_calls
    assert crops and not [op.name for op in crops
                          if _has_bfloat16_ancestor(op.inputs[0])]
  with graph.as_default():
    variables = tf.compat.v1.global_variables()
  assert variables and {v.dtype.base_dtype for v in variables} == {
      tf.float32}


def _has_bfloat16_ancestor(tensor):
  """Whether tensor or any tensor it is computed from is bfloat16."""
  seen, pending = set(), [tensor]
  while pending:
    tensor = pending.pop()
    if tensor.dtype.base_dtype == tf.bfloat16:
      return True
    if tensor.op.name not in seen:
      seen.add(tensor.op.name)
      pending.extend(tensor.op.inputs)
  return False


@pytest.mark.parametrize('export', ['bfloat16', 'bfloat16_nojit'])
def test_bfloat16_detections_are_close_to_float32(exports, export):
  seeds = range(NUM_VIDEOS)
  matched = total = 0
  for expected, got in zip(_serve(exports['float32'], seeds),
                           _serve(exports[export], seeds)):
    for key, value in got.items():
      assert value.dtype == expected[key].dtype, key
    n = int(expected['num_detections'][0])
    assert n > 0 and int(got['num_detections'][0]) == n
    got_segments = got['detection_segments'][0][:n] / SECONDS_PER_STEP
    got_scores = got['detection_scores'][0][:n]
    got_classes = got['detection_classes'][0][:n]
    for segment, score, label in zip(
        expected['detection_segments'][0][:n] / SECONDS_PER_STEP,
        expected['detection_scores'][0][:n],
        expected['detection_classes'][0][:n]):
      close = ((got_classes == label) &
               (np.abs(got_scores - score) <= SCORE_TOLERANCE) &
               (np.abs(got_segments - segment).max(axis=1) <=
                SEGMENT_TOLERANCE_STEPS))
      matched += bool(close.any())
      total += 1
    # Not trivially equal: bfloat16 did change the numbers.
    assert not np.array_equal(np.sort(got_scores), np.sort(
        expected['detection_scores'][0][:n]))
  assert matched >= AGREEMENT * total, (matched, total)


def test_unknown_precision_is_refused(tmp_path):
  with pytest.raises(ValueError, match='precision'):
    with tf.Graph().as_default():
      exporter.build_inference_graph(util.tiny_model_config(),
                                     precision='float16')


def test_jit_compile_defaults_to_xla_for_bfloat16_only():
  assert exporter.resolve_jit_compile('bfloat16') is True
  assert exporter.resolve_jit_compile('float32') is False
  # Given settings win over the default.
  assert exporter.resolve_jit_compile('bfloat16', False) is False
  assert exporter.resolve_jit_compile('float32', True) is True
  with pytest.raises(ValueError, match='precision'):
    exporter.resolve_jit_compile('float16')


def test_bfloat16_export_warns_only_where_bfloat16_is_emulated():
  emulated = machine_info.describe_machine(
      'model name\t: AMD EPYC\nflags\t\t: avx2 fma\n')
  native = machine_info.describe_machine(
      'model name\t: AMD EPYC\nflags\t\t: avx2 fma avx512f avx512_bf16\n')
  assert exporter.precision_warning('bfloat16', emulated) == (
      '--precision=bfloat16: this CPU (AMD EPYC) has no native bfloat16 '
      'matmul (AVX512_BF16, AMX or Arm BF16); served here the export runs '
      'no faster than float32 and rounds more')
  assert exporter.precision_warning('bfloat16', native) is None
  assert exporter.precision_warning('float32', emulated) is None
  # Results written before the CPU's features were recorded: no guess.
  assert exporter.precision_warning('bfloat16', {'cpu': 'AMD EPYC'}) is None
