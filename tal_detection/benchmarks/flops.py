"""Float-op counts of a built TensorFlow graph (tf.compat.v1.profiler).

The count is taken from the graph the model builds, not re-derived from its
config, so it follows the architecture wherever the code goes. The profiler
can only count an op whose shapes are static; saved_model_float_ops therefore
re-imports an exported model with static-shape inputs first. Ops without a
registered flops statistic (NMS loops, gathers, reshapes) count nothing.
"""
import tensorflow as tf

# The dense layers: convolutions (conv1d runs as Conv2D), fully connected
# layers and their biases.
DENSE_OP_TYPES = ('Conv2D', 'MatMul', 'BiasAdd')


def count_float_ops(graph):
  """tfprof's float_ops of every op in `graph`.

  Returns:
    {'total_float_ops': int, 'float_ops_by_op_type': {op type: int}} (op types
    counting nothing are left out).
  """
  options = (tf.compat.v1.profiler.ProfileOptionBuilder(
      tf.compat.v1.profiler.ProfileOptionBuilder.float_operation())
             .with_empty_output().build())
  profile = tf.compat.v1.profiler.profile(graph, cmd='op', options=options)
  # The op view nests each op type under the previous one (total_float_ops
  # accumulates down the chain); an op type's own count is its float_ops.
  by_type = {}
  pending = list(profile.children)
  while pending:
    node = pending.pop()
    if node.float_ops:
      by_type[node.name] = by_type.get(node.name, 0) + int(node.float_ops)
    pending.extend(node.children)
  return {'total_float_ops': int(profile.total_float_ops),
          'float_ops_by_op_type': by_type}


def dense_float_ops(counts):
  """The DENSE_OP_TYPES share of a count_float_ops result."""
  by_type = counts['float_ops_by_op_type']
  return sum(by_type.get(op_type, 0) for op_type in DENSE_OP_TYPES)


def load_serving_meta_graph(version_dir):
  """(serving_default SignatureDef, MetaGraphDef) of a SavedModel."""
  graph = tf.Graph()
  with tf.compat.v1.Session(graph=graph) as sess:
    meta_graph = tf.compat.v1.saved_model.loader.load(
        sess, [tf.saved_model.SERVING], version_dir)
  return (meta_graph.signature_def[
      tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY], meta_graph)


def saved_model_float_ops(version_dir, input_shapes):
  """float_ops of an exported model's graph for inputs of the given shapes.

  The SavedModel's graph is imported with each signature input replaced by a
  placeholder of static shape, so shape inference fixes every shape it can
  (for TAL-Net also the second stage's padded proposals) and the profiler
  counts those ops.

  Args:
    version_dir: folder holding saved_model.pb.
    input_shapes: {signature input name: static shape}, one per input.

  Returns:
    See count_float_ops.
  """
  signature, meta_graph = load_serving_meta_graph(version_dir)
  missing = sorted(set(signature.inputs) - set(input_shapes))
  if missing:
    raise ValueError('%s: no static shape given for the inputs %s' %
                     (version_dir, ', '.join(missing)))
  graph = tf.Graph()
  with graph.as_default():
    input_map = {
        info.name: tf.compat.v1.placeholder(
            tf.as_dtype(info.dtype), input_shapes[name], name='static_' + name)
        for name, info in signature.inputs.items()}
    tf.compat.v1.import_graph_def(meta_graph.graph_def, input_map=input_map,
                                  name='model')
  return count_float_ops(graph)
