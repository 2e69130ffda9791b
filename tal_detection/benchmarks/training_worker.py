r"""One side of the training benchmark: a process that trains and times steps.

tal_detection/benchmarks/training.py starts one of these per checkout (the
working tree, and with --baseline_worktree an older commit) with PYTHONPATH
naming that checkout, so this file is run by path (runpy) against whichever
tal_detection the path resolves to. It therefore imports only what every
checkout since 7835dee has: model_lib.create_model_fn / create_run_config,
model_builder.build, config_util.load_pipeline /
create_configs_from_pipeline_proto / get_stream_specs, standard_fields.

The process builds the TRAIN graph of model_lib's model_fn on one in-memory
video (an .npz the parent wrote), with the session config the checkout's own
RunConfig would give the Estimator, then:
  * sets the graph seed: TensorFlow then seeds each unseeded random op by
    its rank among the graph's random ops, so two checkouts draw the same
    anchor and proposal samples as long as they create their random ops in
    the same order (the losses compared below would tell otherwise);
  * initialises the model's weights from --initial_weights by variable name
    when that file exists, else writes its own initial weights there (so both
    sides start from the same weights even if they create them in another
    order);
  * runs --loss_steps training steps and prints one json line
    {"event": "ready", "losses": [...], "module": <tal_detection path>};
  * (with --count_flops instead: prints count_step_float_ops and exits)
  * then answers commands on stdin, one json line each:
      time K   -> {"times_s": [K step times]}
      trace K  -> {"op_type_us_per_step": {...}, "op_type_us_per_step_total"}
      quit     -> exits.
"""
import argparse
import collections
import functools
import json
import os
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import rewriter_config_pb2
# The per-op flops statistics tfprof sums (registered by op type).
from tensorflow.python.framework import ops as ops_lib  # pylint: disable=g-direct-tensorflow-import
# v1 cond branches, to tell the branch a step took (see count_step_float_ops).
from tensorflow.python.ops import control_flow_ops  # pylint: disable=g-direct-tensorflow-import

import tal_detection
from tal_detection import model_lib
from tal_detection.builders import model_builder
from tal_detection.core import standard_fields as fields
from tal_detection.utils import config_util

# Keys of the video .npz (written by training.write_video).
FEATURES_PREFIX = 'features/'
NUM_STEPS_KEY = 'num_steps'
SEGMENTS_KEY = 'groundtruth_segments'
CLASSES_KEY = 'groundtruth_classes'
TIME_KEYS = ('fps', 'stride_frames', 'offset_frames')


def build_training_graph(pipeline, video, seed):
  """(graph, train_op, loss) of model_fn's TRAIN mode on the in-memory video."""
  data = fields.InputDataFields
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.set_random_seed(seed)
    features = {}
    for name, _ in config_util.get_stream_specs(pipeline.model):
      features[data.features_key(name)] = tf.constant(
          video[FEATURES_PREFIX + name])
    features[data.num_steps] = tf.constant(video[NUM_STEPS_KEY])
    for key in TIME_KEYS:
      features[getattr(data, key)] = tf.constant(video[key])
    segments = video[SEGMENTS_KEY]
    labels = {
        data.groundtruth_segments: tf.constant(segments),
        data.groundtruth_classes: tf.constant(video[CLASSES_KEY]),
        data.num_groundtruth_segments: tf.constant(
            [segments.shape[1]], tf.int32),
    }
    configs = config_util.create_configs_from_pipeline_proto(pipeline)
    model_fn = model_lib.create_model_fn(
        functools.partial(model_builder.build, model_config=pipeline.model),
        configs)
    spec = model_fn(features, labels, tf.estimator.ModeKeys.TRAIN)
  return graph, spec.train_op, spec.loss


def session_config(pipeline):
  """The ConfigProto the checkout's Estimator would train with."""
  with tempfile.TemporaryDirectory() as model_dir:
    run_config = model_lib.create_run_config(model_dir, pipeline.train_config)
  if run_config.session_config is not None:
    return run_config.session_config
  # The Estimator's default when RunConfig has none (tf.estimator's
  # run_config.get_default_session_config).
  return tf.compat.v1.ConfigProto(
      allow_soft_placement=True,
      graph_options=tf.compat.v1.GraphOptions(
          rewrite_options=rewriter_config_pb2.RewriterConfig(
              meta_optimizer_iterations=rewriter_config_pb2.RewriterConfig.ONE)))


def share_initial_weights(sess, path):
  """Loads the trainable variables from `path` by name, or writes them there.

  Returns:
    'loaded' or 'written'.

  Raises:
    ValueError: when the file's variables and the graph's differ.
  """
  variables = {v.op.name: v for v in tf.compat.v1.trainable_variables()}
  if not os.path.exists(path):
    values = sess.run(variables)
    tmp = path + '.tmp.npz'
    np.savez(tmp, **values)
    os.replace(tmp, path)
    return 'written'
  with np.load(path) as stored:
    names = set(stored.files)
    if names != set(variables):
      raise ValueError('initial weights %s: variables differ (only in the '
                       'file: %s; only in the graph: %s)' % (
                           path, sorted(names - set(variables))[:5],
                           sorted(set(variables) - names)[:5]))
    for name, var in variables.items():
      if tuple(stored[name].shape) != tuple(var.shape.as_list()):
        raise ValueError('initial weights %s: %s has shape %s, the graph %s'
                         % (path, name, stored[name].shape, var.shape))
      var.load(stored[name], sess)
  return 'loaded'


def time_steps(sess, fetch, count):
  times = []
  for _ in range(count):
    start = time.perf_counter()
    sess.run(fetch)
    times.append(time.perf_counter() - start)
  return times


def trace_steps(sess, fetch, count):
  """Traced steps: microseconds per step by op type (summed over threads)."""
  options = tf.compat.v1.RunOptions(
      trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
  by_type = collections.Counter()
  for _ in range(count):
    metadata = tf.compat.v1.RunMetadata()
    sess.run(fetch, options=options, run_metadata=metadata)
    for device in metadata.step_stats.dev_stats:
      for node in device.node_stats:
        # timeline_label reads "name = OpType(inputs)".
        label = node.timeline_label
        op_type = (label.split('=', 1)[1].split('(', 1)[0].strip()
                   if '=' in label else node.node_name)
        by_type[op_type] += node.all_end_rel_micros
  per_step = {k: v / count for k, v in by_type.most_common()}
  return {'op_type_us_per_step': per_step,
          'op_type_us_per_step_total': sum(per_step.values())}


def _cond_branches(op):
  """The v1 cond branches (CondContexts) an op sits in, innermost first."""
  branches = []
  # pylint: disable=protected-access
  context = op._control_flow_context
  while context is not None:
    if isinstance(context, control_flow_ops.CondContext):
      branches.append(context)
    context = context.outer_context
  return branches


def _forward_op(graph, op):
  """The op whose gradient `op` helps compute (tf.gradients' names), or None.

  v1 gradients of a cond branch's ops sit outside the branch; they run only
  when their forward op's branch ran.
  """
  name = op.name
  if not name.startswith('gradients/') or '_grad/' not in name:
    return None
  try:
    return graph.get_operation_by_name(
        name[len('gradients/'):name.index('_grad/')])
  except KeyError:
    return None


def _ancestors(fetches):
  """Every op the fetched ops depend on (data and control inputs)."""
  seen, pending = set(), [f.op if hasattr(f, 'op') else f for f in fetches]
  while pending:
    op = pending.pop()
    if op in seen:
      continue
    seen.add(op)
    pending.extend(t.op for t in op.inputs)
    pending.extend(op.control_inputs)
  return seen


def _traced_output_shapes(metadata):
  """{node name: {output slot: shape list}} of the ops a traced step ran."""
  shapes = {}
  for device in metadata.step_stats.dev_stats:
    for node in device.node_stats:
      for output in node.output:
        dims = output.tensor_description.shape.dim
        shapes.setdefault(node.node_name, {})[output.slot] = [
            int(d.size) for d in dims]
  return shapes


def _tensor_shape(tensor, traced_shapes):
  """The static shape of `tensor`, else the one it had in the traced step."""
  if tensor.shape.is_fully_defined():
    return tensor.shape.as_list()
  return traced_shapes.get(tensor.op.name, {}).get(tensor.value_index)


def _traced_matmul_flops(op, traced_shapes):
  """2 M K N of a rank-2 MatMul from traced input shapes (None: not one)."""
  if op.type != 'MatMul':
    return None
  a, b = (_tensor_shape(t, traced_shapes) for t in op.inputs[:2])
  if not a or not b or len(a) != 2 or len(b) != 2:
    return None
  rows, inner = reversed(a) if op.get_attr('transpose_a') else a
  columns = b[0] if op.get_attr('transpose_b') else b[1]
  return 2 * rows * inner * columns


def count_step_float_ops(pipeline, video, seed):
  """float_ops of the ops one training step runs (forward + backward).

  tfprof counts the ops of the graph it is shown: it would miss the ops inside
  functional control flow (a v2 tf.cond keeps its branches in functions) and
  count ops a step never runs (model_fn also builds NMS and decoding; a cond
  has a branch not taken). So the graph is built with v1 control flow (its
  branches' ops then sit in the graph; the setting is restored afterwards),
  and an op counts if the train op or the loss depends on it and every cond
  branch it sits in ran in one traced step (some op of that branch other
  than its Switch ops shows in the trace: fused ops run under other names, so
  ops are not matched one by one; a gradient op goes with its forward op's
  branches). The flops statistic TensorFlow registers per op type (the one tfprof
  sums) is added up over those ops; a MatMul whose shapes are not static (the
  row-sparse backward's products over the steps with a gradient) counts
  2 M K N from the shapes its inputs had in the traced step; other ops whose
  shapes are not static count nothing (reported), and the optimizer's
  updates register none.

  Returns:
    {'total_float_ops', 'float_ops_by_op_type', 'num_ops_counted',
     'num_ops_without_static_shape'}.
  """
  control_flow_v2 = tf.compat.v1.control_flow_v2_enabled()
  tf.compat.v1.disable_control_flow_v2()
  try:
    graph, train_op, loss = build_training_graph(pipeline, video, seed)
  finally:
    if control_flow_v2:
      tf.compat.v1.enable_control_flow_v2()
  with graph.as_default():
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      metadata = tf.compat.v1.RunMetadata()
      sess.run([train_op, loss], options=tf.compat.v1.RunOptions(
          trace_level=tf.compat.v1.RunOptions.FULL_TRACE),
               run_metadata=metadata)
  ran = {node.node_name for device in metadata.step_stats.dev_stats
         for node in device.node_stats}
  traced_shapes = _traced_output_shapes(metadata)
  branches_run = set()
  for op in graph.get_operations():
    # A branch's Switch ops run whichever branch is taken: no evidence.
    if op.name in ran and op.type not in ('Switch', 'RefSwitch'):
      branches_run.update(id(branch) for branch in _cond_branches(op))
  by_type, counted, unknown = {}, 0, 0
  for op in _ancestors([train_op, loss]):
    forward = _forward_op(graph, op)
    branches = _cond_branches(op) + (_cond_branches(forward) if forward else [])
    if not all(id(b) in branches_run for b in branches):
      continue
    counted += 1
    try:
      value = ops_lib.get_stats_for_node_def(graph, op.node_def, 'flops').value
    except ValueError:  # a shape the statistic needs is not static
      value = _traced_matmul_flops(op, traced_shapes)
      if value is None:
        unknown += 1
        continue
    if value:
      by_type[op.type] = by_type.get(op.type, 0) + int(value)
  return {'total_float_ops': sum(by_type.values()),
          'float_ops_by_op_type': by_type, 'num_ops_counted': counted,
          'num_ops_without_static_shape': unknown}


def _reply(message):
  sys.stdout.write(json.dumps(message) + '\n')
  sys.stdout.flush()


def main(argv=None):
  parser = argparse.ArgumentParser()
  parser.add_argument('--pipeline_config_path', required=True)
  parser.add_argument('--video', required=True)
  parser.add_argument('--initial_weights', required=True)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--loss_steps', type=int, default=5)
  parser.add_argument('--count_flops', action='store_true',
                      help='print count_step_float_ops and exit')
  args = parser.parse_args(argv)
  tf.get_logger().setLevel('ERROR')
  pipeline = config_util.load_pipeline(args.pipeline_config_path)
  with np.load(args.video) as stored:
    video = {key: stored[key] for key in stored.files}
  if args.count_flops:
    _reply(count_step_float_ops(pipeline, video, args.seed))
    return
  graph, train_op, loss = build_training_graph(pipeline, video, args.seed)
  with graph.as_default():
    num_random_ops = sum(1 for op in graph.get_operations()
                         if 'seed2' in op.node_def.attr)
    sess = tf.compat.v1.Session(graph=graph, config=session_config(pipeline))
    sess.run(tf.compat.v1.global_variables_initializer())
    weights = share_initial_weights(sess, args.initial_weights)
  fetch = [train_op, loss]
  losses = [float(sess.run(fetch)[1]) for _ in range(args.loss_steps)]
  _reply({'event': 'ready', 'losses': losses, 'initial_weights': weights,
          'num_random_ops': num_random_ops,
          'num_graph_ops': len(graph.get_operations()),
          'module': os.path.dirname(os.path.abspath(tal_detection.__file__))})
  for line in sys.stdin:
    command = line.split()
    if not command or command[0] == 'quit':
      break
    if command[0] == 'time':
      _reply({'times_s': time_steps(sess, fetch, int(command[1]))})
    elif command[0] == 'trace':
      _reply(trace_steps(sess, fetch, int(command[1])))
    else:
      _reply({'error': 'unknown command %r' % line.strip()})
  sess.close()


if __name__ == '__main__':
  main()
