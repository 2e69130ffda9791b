"""Shape manipulations that run faster than their direct TensorFlow spelling
on the CPU, with the same values."""

import tensorflow as tf


def stack_last_axis(tensors):
  """tf.stack(tensors, axis=-1), built as a stack along a new first axis and
  one transpose.

  The same values (both only move elements). TF's CPU Pack along a new last
  axis copies one element per input per output row; stacked along the first
  axis, every input is copied whole, and the transpose moves the elements in
  blocks. Measured on one thread, four [1, 300, 20] float32 tensors (the
  final NMS's unit-height boxes of 300 proposals x 20 classes): 48 us
  against 16 us; four [2, 1, 2400] (SoI pooling's crop boxes): 39 us
  against 12 us.

  Args:
    tensors: a non-empty list of tensors of one shape and dtype.

  Returns:
    [..., len(tensors)] tensor. Inputs of unknown rank are stacked by
    tf.stack directly.
  """
  tensors = [tf.convert_to_tensor(tensor) for tensor in tensors]
  rank = tensors[0].shape.rank
  if rank is None:
    return tf.stack(tensors, axis=-1)
  return tf.transpose(tf.stack(tensors, axis=0),
                      list(range(1, rank + 1)) + [0])
