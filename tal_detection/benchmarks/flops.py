"""Float-op counts of a built TensorFlow graph (tf.compat.v1.profiler).

The count is taken from the graph the model builds, not re-derived from its
config, so it follows the architecture wherever the code goes. The profiler
can only count an op whose shapes are static; saved_model_float_ops therefore
re-imports an exported model with static-shape inputs first. Ops without a
registered flops statistic (NMS loops, gathers, reshapes) count nothing.

Conditionals (tf.cond's If / StatelessIf ops, in a model built with one)
hold their ops in function bodies the profiler does not see; each is counted
as its costlier branch, profiled on the branch's graph with the shapes the
conditional's inputs have. (TAL-Net's own graphs hold none.)
"""
import tensorflow as tf
from tensorflow.python.framework import function_def_to_graph

_CONDITIONAL_OP_TYPES = ('If', 'StatelessIf')

# The dense layers: convolutions (conv1d runs as Conv2D), fully connected
# layers and their biases.
DENSE_OP_TYPES = ('Conv2D', 'MatMul', 'BiasAdd')


def count_float_ops(graph):
  """tfprof's float_ops of every op in `graph`, conditionals included.

  Returns:
    {'total_float_ops': int, 'float_ops_by_op_type': {op type: int}} (op types
    counting nothing are left out).
  """
  library = {f.signature.name: f
             for f in graph.as_graph_def().library.function}
  return _count_with_conditionals(graph, library)


def _branch_graphs(conditional, library):
  """The then and else branches of a conditional op as graphs, their
  arguments given the shapes the conditional's inputs have."""
  input_shapes = [tensor.shape for tensor in conditional.inputs[1:]]
  return [function_def_to_graph.function_def_to_graph(
      _with_input_shapes(library[conditional.get_attr(attr).name],
                         input_shapes),
      input_shapes=input_shapes)
          for attr in ('then_branch', 'else_branch')]


def _conditionals(graph):
  return [op for op in graph.get_operations()
          if op.type in _CONDITIONAL_OP_TYPES]


def _count_with_conditionals(graph, library):
  """count_float_ops of graph plus, per conditional, its costlier branch."""
  counts = _profile_float_ops(graph)
  for op in _conditionals(graph):
    branches = [_count_with_conditionals(branch, library)
                for branch in _branch_graphs(op, library)]
    costlier = max(branches, key=lambda c: c['total_float_ops'])
    counts['total_float_ops'] += costlier['total_float_ops']
    by_type = counts['float_ops_by_op_type']
    for op_type, value in costlier['float_ops_by_op_type'].items():
      by_type[op_type] = by_type.get(op_type, 0) + value
  return counts


def _with_input_shapes(function_def, input_shapes):
  """A copy of function_def whose arguments have the given static shapes.

  The arguments' recorded '_output_shapes' (those of the graph the function
  was built in, often unknown) would otherwise win over input_shapes.
  """
  function_def = type(function_def).FromString(
      function_def.SerializeToString())
  for index, shape in enumerate(input_shapes):
    attrs = function_def.arg_attr[index].attr
    if '_output_shapes' in attrs and shape.rank is not None:
      recorded = attrs['_output_shapes'].list.shape
      del recorded[:]
      recorded.add().CopyFrom(shape.as_proto())
  return function_def


def _profile_float_ops(graph):
  """tfprof's float_ops of the ops directly in `graph`."""
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


def matmul_shapes(graph):
  """{(m, k, n): count} of the graph's MatMul ops ([m, k] x [k, n] after
  their transposes), conditionals included as count_float_ops counts them
  (each as the branch with more MatMul FLOPs).

  Raises:
    ValueError: when a MatMul's shapes are not static.
  """
  library = {f.signature.name: f
             for f in graph.as_graph_def().library.function}
  return _matmul_shapes_with_conditionals(graph, library)


def matmul_shape_float_ops(shapes):
  """FLOPs of matmul_shapes' products: 2 m k n each."""
  return sum(2 * m * k * n * count for (m, k, n), count in shapes.items())


def _matmul_shapes_with_conditionals(graph, library):
  shapes = {}

  def add(found):
    for shape, count in found.items():
      shapes[shape] = shapes.get(shape, 0) + count

  for op in graph.get_operations():
    if op.type != 'MatMul':
      continue
    a, b = (tensor.shape for tensor in op.inputs)
    if not (a.is_fully_defined() and b.is_fully_defined()):
      raise ValueError('MatMul %s: shapes %s x %s are not static' %
                       (op.name, a, b))
    m, k = (a[1], a[0]) if op.get_attr('transpose_a') else (a[0], a[1])
    n = b[0] if op.get_attr('transpose_b') else b[1]
    add({(int(m), int(k), int(n)): 1})
  for op in _conditionals(graph):
    add(max((_matmul_shapes_with_conditionals(branch, library)
             for branch in _branch_graphs(op, library)),
            key=matmul_shape_float_ops))
  return shapes


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
  return count_float_ops(static_shape_graph(version_dir, input_shapes))


def saved_model_matmul_shapes(version_dir, input_shapes):
  """matmul_shapes of an exported model's graph (saved_model_float_ops)."""
  return matmul_shapes(static_shape_graph(version_dir, input_shapes))


def static_shape_graph(version_dir, input_shapes):
  """The SavedModel's graph, its signature inputs static-shape placeholders
  (input_shapes: {signature input name: static shape}, one per input)."""
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
  return graph
