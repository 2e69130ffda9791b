"""Inspects a built model: per-scale tower layout and measured receptive fields.

The receptive field is measured from the graph, not computed from the layout:
for each anchor scale, the gradient of that scale's objectness at the centre
step with respect to the input features is summed (in absolute value) over
channels and several random inputs; the span of steps it reaches is the
receptive field. Max-pool and ReLU make a single gradient sparse, which is why
several inputs are summed. All scales are measured by one backward pass: the
batch holds one copy of the input per scale, and copy k's loss is scale k's
objectness (the videos of a batch do not interact), so the gradient reaching
copy k is scale k's alone. One tf.gradients per scale rebuilt the gradient of
the SPN's padding tf.cond each time: 14 scales took minutes to build.

The caller builds the model (tools/validate_config.py, with the builders);
this module only runs it, so utils stays below the builders.
"""
import numpy as np
import tensorflow as tf


def measure_receptive_fields(model, num_trials=4, seed=0):
  """Measures each anchor scale's receptive field on the first pipeline.

  Args:
    model: a built TalNetMetaArch (model_builder.build(..., is_training=False)),
      not yet used in any graph: its ops and variables are made here, in a
      graph of their own.
    num_trials: random inputs whose gradients are summed.
    seed: numpy / graph seed.

  Returns:
    dict with 'rows' (one dict per anchor scale: scale, pool_kernel, rate1,
    rate2 (None unless MULTI_DILATED), measured, expected, anchor_span),
    'pipeline' (the stream group measured), 'pipelines', 'tower_type',
    'use_context' and 'trainable_parameters' of the whole model.
  """
  pipeline = model.pipelines[0]
  towers = model.proposal_stage.segment_proposal_network(
      pipeline.name).describe()
  num_scales = len(towers['scales'])
  expected = [row['receptive_field'] for row in towers['scales']]
  # Long enough that the widest receptive field fits around the centre step.
  num_steps = 2 * max(expected) + 9
  centre = num_steps // 2
  graph = tf.Graph()
  with graph.as_default():
    tf.compat.v1.set_random_seed(seed)
    # One video per scale; each gets the same random features.
    placeholders = {
        name: tf.compat.v1.placeholder(tf.float32, [1, num_steps, dim])
        for name, dim in model.stream_specs}
    copies = {name: tf.tile(p, [num_scales, 1, 1])
              for name, p in placeholders.items()}
    steps = tf.fill([num_scales], num_steps)
    preprocessed, steps = model.preprocess(copies, steps)
    predictions = model.predict(preprocessed, steps)
    objectness = predictions['per_pipeline'][pipeline.name][
        'rpn_objectness_logits']
    per_scale = tf.reshape(objectness, [num_scales, num_steps, num_scales, 2])
    # Copy k's loss: scale k's objectness logits at the centre step.
    loss = tf.reduce_sum(tf.linalg.diag_part(
        tf.reduce_sum(per_scale[:, centre], axis=-1)))
    inputs = [copies[name] for name in pipeline.stream_names]
    reach_per_copy = tf.add_n([tf.reduce_sum(tf.abs(g), axis=-1)
                               for g in tf.gradients(loss, inputs)])
    trainable = int(sum(np.prod(v.shape.as_list())
                        for v in tf.compat.v1.trainable_variables()))
    rng = np.random.RandomState(seed)
    reach = np.zeros([num_scales, num_steps])
    with tf.compat.v1.Session(graph=graph) as sess:
      sess.run(tf.compat.v1.global_variables_initializer())
      for _ in range(num_trials):
        feed = {p: rng.randn(*p.shape.as_list()).astype(np.float32)
                for p in placeholders.values()}
        reach += sess.run(reach_per_copy, feed)
  rows = []
  for k, tower in enumerate(towers['scales']):
    touched = np.nonzero(reach[k] > 0)[0]
    measured = int(touched.max() - touched.min() + 1) if touched.size else 0
    rows.append({'scale': tower['scale'], 'pool_kernel': tower['pool_kernel'],
                 'rate1': tower['rate1'], 'rate2': tower['rate2'],
                 'measured': measured, 'expected': expected[k],
                 'anchor_span': tower['scale']})
  return {'rows': rows, 'pipeline': pipeline.name,
          'pipelines': [p.name for p in model.pipelines],
          'tower_type': towers['tower_type'],
          'use_context': towers['use_context'],
          'trainable_parameters': trainable}


def format_receptive_field_table(report):
  """Human-readable table of measure_receptive_fields' report."""
  def show(value):
    return '-' if value is None else str(value)

  lines = ['tower %s, use_context %s, measured on pipeline %r of %s' % (
      report['tower_type'], str(report['use_context']).lower(),
      report['pipeline'], report['pipelines']),
           '%6s %6s %4s %4s %10s %10s %12s' % (
               'scale', 'pool_k', 'r1', 'r2', 'RF(meas.)', 'RF(rule)',
               'anchor span')]
  for row in report['rows']:
    lines.append('%6g %6s %4s %4s %10d %10d %12g' % (
        row['scale'], show(row['pool_kernel']), show(row['rate1']),
        show(row['rate2']), row['measured'], row['expected'],
        row['anchor_span']))
  lines.append('trainable parameters: %d' % report['trainable_parameters'])
  return '\n'.join(lines)
