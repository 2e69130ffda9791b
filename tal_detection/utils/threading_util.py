"""CPU thread counts for running an exported model.

A late-fusion TAL-Net is one network per stream until the scores are
averaged, and its ops are small (the SPN's convs are [T x 768] x [768 x 256]
products for T ~ 200). On a CPU with few cores, running the streams' ops side
by side with each op on its share of the cores beats running every op on all
cores one after another: on this 2-core machine the main config's float32
export took 38.6 ms per 188-step video with 1 thread per op and 2 ops at once,
against 45.9 ms with TensorFlow's default of 2 and 2 (same run). Two threads on
one such op gain less than a second op on its own core does.

serving_threads() is that rule; configure() applies counts to the process
(eager runtime, tf.saved_model.load), configure_serving() both at once, and
session_config() makes them a tf.compat.v1.Session's.
"""
import os

import tensorflow as tf


def available_cores():
  """Cores this process may run on (its CPU affinity, else os.cpu_count())."""
  try:
    return max(1, len(os.sched_getaffinity(0)))
  except (AttributeError, OSError):
    return max(1, os.cpu_count() or 1)


def serving_threads(num_streams, num_cores=None, intra_op_threads=0,
                    inter_op_threads=0):
  """(intra-op, inter-op) thread counts for a model of `num_streams` streams.

  Inter-op: one per core, TensorFlow's default. Intra-op: the cores divided
  among the streams that can run at once, at least 1. A count given (> 0)
  is kept.

  Raises:
    ValueError: on a negative count.
  """
  if intra_op_threads < 0 or inter_op_threads < 0:
    raise ValueError('thread counts must be >= 0 (0: chosen for the model), '
                     'got intra %d, inter %d' % (intra_op_threads,
                                                 inter_op_threads))
  cores = num_cores or available_cores()
  parallel = max(1, min(int(num_streams), cores))
  return (intra_op_threads or max(1, cores // parallel),
          inter_op_threads or cores)


def configure(intra_op_threads, inter_op_threads):
  """Sets the process's thread counts; call before TensorFlow runs any op.

  Raises:
    RuntimeError: when the runtime is already initialised with other counts
      (TensorFlow fixes them at its first op).
  """
  threading = tf.config.threading
  if (threading.get_intra_op_parallelism_threads() == intra_op_threads and
      threading.get_inter_op_parallelism_threads() == inter_op_threads):
    return
  threading.set_intra_op_parallelism_threads(intra_op_threads)
  threading.set_inter_op_parallelism_threads(inter_op_threads)


def configure_serving(num_streams, intra_op_threads=0, inter_op_threads=0):
  """serving_threads() applied to the process; returns (intra-op, inter-op).

  Raises:
    ValueError: on a negative count.
    RuntimeError: see configure().
  """
  threads = serving_threads(num_streams, intra_op_threads=intra_op_threads,
                            inter_op_threads=inter_op_threads)
  configure(*threads)
  return threads


def session_config(intra_op_threads, inter_op_threads):
  """A ConfigProto with these thread counts."""
  return tf.compat.v1.ConfigProto(
      intra_op_parallelism_threads=intra_op_threads,
      inter_op_parallelism_threads=inter_op_threads)
