"""Pipelines: the stream groups TAL-Net runs its networks on (paper §4.3).

Each pipeline has its own SPN and its own box classifier, under a variable
scope named after it, and both stages average their per-pipeline logits:
  * LATE fusion with two streams: one pipeline per stream;
  * EARLY fusion: one pipeline on the concatenation of the streams;
  * a single stream: one pipeline on it (fusion makes no difference).
"""
import tensorflow as tf


class Pipeline(object):
  """One stream group; its name is the variable scope of its networks."""

  def __init__(self, name, stream_specs):
    """Creates the pipeline.

    Args:
      name: variable scope of the pipeline's SPN and classifier.
      stream_specs: [(stream name, feature dim)] the pipeline consumes, in the
        order they are concatenated.
    """
    self.name = name
    self.stream_specs = [(stream, int(dim)) for stream, dim in stream_specs]

  @property
  def stream_names(self):
    return [stream for stream, _ in self.stream_specs]

  def __repr__(self):
    return 'Pipeline(%r, %r)' % (self.name, self.stream_specs)


def pipelines_for_fusion(stream_specs, late_fusion):
  """The pipelines a config asks for: one per stream (late) or one for all.

  Args:
    stream_specs: [(stream name, feature dim)] in config order.
    late_fusion: True for LATE fusion.

  Returns:
    A non-empty list of Pipeline; together they consume every stream once, in
    config order.

  Raises:
    ValueError: if stream_specs is empty.
  """
  stream_specs = list(stream_specs)
  if not stream_specs:
    raise ValueError('pipelines_for_fusion needs at least one stream')
  if late_fusion and len(stream_specs) > 1:
    return [Pipeline(name, [(name, dim)]) for name, dim in stream_specs]
  return [Pipeline('_'.join(name for name, _ in stream_specs), stream_specs)]


def pipeline_inputs(pipelines, features):
  """{pipeline name: [B, T, D] input}, concatenating a group's streams."""
  inputs = {}
  for pipeline in pipelines:
    streams = [features[name] for name in pipeline.stream_names]
    inputs[pipeline.name] = (streams[0] if len(streams) == 1 else
                             tf.concat(streams, axis=-1))
  return inputs


def mean_over_pipelines(per_pipeline, key):
  """Element-wise mean of one prediction over the pipelines (late fusion)."""
  tensors = [outputs[key] for outputs in per_pipeline.values()]
  if len(tensors) == 1:
    return tensors[0]
  return tf.add_n(tensors) / float(len(tensors))
