"""How the Estimator spreads training over devices: train_config, --num_gpus, TF_CONFIG.

Four ways to train, chosen by plan_training:

  * SINGLE_DEVICE: one replica, no cluster (or a cluster with parameter
    servers, see below); no strategy, the Estimator's plain path.
  * PARAMETER_SERVERS: TF_CONFIG names `ps` tasks. No strategy either: the
    Estimator places the variables on the ps tasks and each worker runs
    asynchronous steps on one device, as before this module existed. The
    replicas there are the workers, so num_replicas must stay 1.
  * MIRRORED: num_replicas > 1 and no cluster: tf.distribute.MirroredStrategy
    over this machine's first num_replicas GPUs, or, on a machine without
    GPUs, its first num_replicas logical CPU devices (which is how the tests
    run it: tf.config.set_logical_device_configuration before TensorFlow
    starts).
  * MULTI_WORKER_MIRRORED: TF_CONFIG names chief / worker tasks and no ps:
    synchronous training with collective all-reduce across the workers,
    num_replicas devices on each. That strategy uses every GPU a worker sees
    (or its one CPU), so num_replicas must be that number.

The batch: train_config.batch_size is the GLOBAL batch, split evenly across
all replicas (per_replica_input_fn gives each replica's input pipeline
batch_size / replicas videos; a batch size the replicas do not divide is an
error). One step then equals the single-device step at the same global batch:
each stage's losses are the mean over videos of each video's summed loss over
its own sampled anchors / proposals (padding excluded per video), so a
replica's loss is the mean over its videos; the Estimator's v1 optimizer
scales every replica's loss by 1 / replicas before the replicas' gradients are
summed, which makes the applied gradient that of the mean over all videos.
Only gradient clipping needs the whole step's gradient first
(clip_by_global_norm below).
"""
import collections
import json
import os

import tensorflow as tf

SINGLE_DEVICE = 'single_device'
PARAMETER_SERVERS = 'parameter_servers'
MIRRORED = 'mirrored'
MULTI_WORKER_MIRRORED = 'multi_worker_mirrored'

# Task types that train (the evaluator only evaluates; ps only holds variables).
_TRAINING_TASKS = ('chief', 'master', 'worker')

TrainingPlan = collections.namedtuple(
    'TrainingPlan', ['kind', 'num_workers', 'replicas_per_worker', 'devices'])
TrainingPlan.__doc__ = """How training is spread (see the module docstring).

kind: one of SINGLE_DEVICE, PARAMETER_SERVERS, MIRRORED, MULTI_WORKER_MIRRORED.
num_workers: training tasks taking part in each synchronous step (1 unless
  MULTI_WORKER_MIRRORED).
replicas_per_worker: devices each of them trains on.
devices: MIRRORED's device names (empty otherwise).
"""


def requested_replicas(train_config, num_gpus=None):
  """(replicas per worker, the field or flag that said so).

  --num_gpus, when given, overrides train_config.num_replicas.
  """
  if num_gpus is not None:
    if num_gpus < 1:
      raise ValueError('--num_gpus: %d: must be at least 1' % num_gpus)
    return int(num_gpus), '--num_gpus'
  return max(1, int(train_config.num_replicas)), 'train_config.num_replicas'


def cluster_from_tf_config(tf_config_text):
  """The `cluster` of a TF_CONFIG value ({} when unset or without one)."""
  if not tf_config_text:
    return {}
  try:
    tf_config = json.loads(tf_config_text)
  except ValueError:
    raise ValueError('TF_CONFIG: not JSON: %s' % tf_config_text) from None
  if not isinstance(tf_config, dict):
    raise ValueError('TF_CONFIG: not a JSON object: %s' % tf_config_text)
  return tf_config.get('cluster') or {}


def plan_training(num_replicas, replicas_source, batch_size, cluster,
                  local_devices):
  """The TrainingPlan for num_replicas devices per worker in cluster.

  Args:
    num_replicas: devices per training task (>= 1).
    replicas_source: what set num_replicas ('--num_gpus' or
      'train_config.num_replicas'), for error messages.
    batch_size: train_config.batch_size, the global batch.
    cluster: TF_CONFIG's cluster ({} for one machine).
    local_devices: callable(device_type) -> names of this machine's devices
      of that type ('GPU', 'CPU'); only called when needed
      (local_device_names).

  Raises:
    ValueError: one line naming the field or flag at fault.
  """
  num_ps = len(cluster.get('ps', ()))
  num_workers = sum(len(cluster.get(task, ())) for task in _TRAINING_TASKS)
  if num_ps:
    if num_replicas > 1:
      raise ValueError(
          '%s: %d: with parameter servers in TF_CONFIG each worker trains on '
          'one device (the workers are the replicas); use 1, or a cluster of '
          'chief / worker tasks without ps for synchronous multi-device '
          'training' % (replicas_source, num_replicas))
    return TrainingPlan(PARAMETER_SERVERS, num_workers, 1, ())
  if num_workers > 1:
    # MultiWorkerMirroredStrategy trains on all of a worker's GPUs, or on its
    # one CPU device when it has none: num_replicas must say that many.
    num_gpus = len(local_devices('GPU'))
    available = num_gpus or 1
    if num_replicas != available:
      raise ValueError(
          '%s: %d: multi-worker training uses every GPU a worker sees, and '
          'this one sees %d (set %s to %d, or CUDA_VISIBLE_DEVICES)' % (
              replicas_source, num_replicas, num_gpus, replicas_source,
              available))
    _check_batch_split(batch_size, num_workers * num_replicas,
                       '%d workers x %d devices' % (num_workers, num_replicas))
    return TrainingPlan(MULTI_WORKER_MIRRORED, num_workers, num_replicas, ())
  if num_replicas == 1:
    return TrainingPlan(SINGLE_DEVICE, 1, 1, ())
  gpus = local_devices('GPU')
  if gpus:
    if len(gpus) < num_replicas:
      raise ValueError('%s: %d replicas, but this machine has %d GPUs' % (
          replicas_source, num_replicas, len(gpus)))
    devices = gpus[:num_replicas]
  else:
    cpus = local_devices('CPU')
    if len(cpus) < num_replicas:
      raise ValueError(
          '%s: %d replicas, but this machine has no GPU and %d CPU device%s' %
          (replicas_source, num_replicas, len(cpus),
           '' if len(cpus) == 1 else 's'))
    devices = cpus[:num_replicas]
  _check_batch_split(batch_size, num_replicas, '%d devices' % num_replicas)
  return TrainingPlan(MIRRORED, 1, num_replicas, tuple(devices))


def _check_batch_split(batch_size, num_replicas, replicas_text):
  if batch_size % num_replicas:
    raise ValueError(
        'train_config.batch_size: %d: the global batch is split evenly '
        'across %s; use a multiple of %d' % (batch_size, replicas_text,
                                             num_replicas))


def local_device_names(device_type):
  """Names of this process's GPUs, or of its logical CPU devices.

  GPUs are counted without starting TensorFlow's runtime (a multi-worker
  strategy configures it later); CPU devices are logical ones (one unless
  tf.config.set_logical_device_configuration split the CPU), which only
  listing them, and so starting the runtime, tells.
  """
  if device_type == 'GPU':
    return ['/device:GPU:%d' % i
            for i in range(len(tf.config.list_physical_devices('GPU')))]
  return [device.name for device in tf.config.list_logical_devices(device_type)]


def train_distribute(plan):
  """The Estimator's train_distribute strategy for a plan (None: no strategy)."""
  if plan.kind == MIRRORED:
    cross_device_ops = None  # TensorFlow's choice for GPUs (NCCL if present)
    if not any('GPU' in device.upper() for device in plan.devices):
      # With TF 2.15 the default all-reduce of CPU devices never finishes
      # an Estimator (graph-mode) step; summing on one device does, and is
      # all that devices sharing one memory need.
      cross_device_ops = tf.distribute.ReductionToOneDevice()
    return tf.distribute.MirroredStrategy(devices=list(plan.devices),
                                          cross_device_ops=cross_device_ops)
  if plan.kind == MULTI_WORKER_MIRRORED:
    # The v1 strategy: the Estimator's distribute coordinator configures it
    # from TF_CONFIG (cluster, task) when training starts.
    return tf.compat.v1.distribute.experimental.MultiWorkerMirroredStrategy()
  return None


def plan_from_config(train_config, num_gpus=None, tf_config_text=None):
  """plan_training for a TrainConfig, --num_gpus and TF_CONFIG.

  tf_config_text None reads the TF_CONFIG environment variable, as the
  Estimator's RunConfig does.
  """
  if tf_config_text is None:
    tf_config_text = os.environ.get('TF_CONFIG', '')
  num_replicas, source = requested_replicas(train_config, num_gpus)
  return plan_training(num_replicas, source, train_config.batch_size,
                       cluster_from_tf_config(tf_config_text),
                       local_device_names)


def per_replica_input_fn(input_fn, global_batch_size):
  """input_fn giving each replica global_batch_size / replicas videos.

  With train_distribute, the Estimator calls input_fn once per worker with a
  tf.distribute.InputContext and hands the dataset's consecutive batches to
  the worker's replicas in turn, so each batch must hold one replica's share.
  Without a strategy input_context is None and input_fn is called unchanged.

  Args:
    input_fn: input_fn(params=None, input_context=None) reading its batch
      size from params['batch_size'] when present (inputs.train_input).
    global_batch_size: train_config.batch_size.
  """
  def distributed_input_fn(params=None, input_context=None):
    if input_context is not None and input_context.num_replicas_in_sync > 1:
      params = dict(params or {})
      params['batch_size'] = input_context.get_per_replica_batch_size(
          global_batch_size)
    return input_fn(params=params, input_context=input_context)
  return distributed_input_fn


def clip_by_global_norm(gradients, clip_norm):
  """tf.clip_by_global_norm of the whole step's gradient, also per replica.

  Inside a replica (MirroredStrategy), each replica holds its share of the
  gradient (already scaled by 1 / replicas); clipping the shares separately
  would not clip the applied sum. So the shares are summed first, the sum is
  clipped, and each replica keeps 1 / replicas of the clipped gradient, which
  apply_gradients sums back to it.

  Returns:
    The clipped gradients (a list, in order).
  """
  replica_context = tf.distribute.get_replica_context()
  num_replicas = (replica_context.num_replicas_in_sync
                  if replica_context is not None else 1)
  if num_replicas == 1:
    return list(tf.clip_by_global_norm(gradients, clip_norm)[0])
  dense = [tf.convert_to_tensor(gradient) for gradient in gradients]

  def sum_across_replicas(strategy, *shares):
    return strategy.extended.batch_reduce_to(
        tf.distribute.ReduceOp.SUM, [(share, share) for share in shares])
  # merge_call + batch_reduce_to, not ReplicaContext.all_reduce: that one
  # wraps the sum in a custom gradient, which in graph mode looks for the
  # replicas' variable copies in the variable collections and fails. The
  # gradients are not differentiated again.
  summed = replica_context.merge_call(sum_across_replicas, args=dense)
  clipped, _ = tf.clip_by_global_norm(summed, clip_norm)
  return [gradient / num_replicas for gradient in clipped]


def without_autograph(model_fn):
  """model_fn, run as written when a strategy calls it for each replica.

  Under train_distribute the strategy runs every replica's model_fn through
  AutoGraph, which re-derives each function from its source file. The model
  is graph code already (tf.map_fn, tf.cond where needed), so that only costs
  graph-building time, and it breaks when a source file no longer matches
  the loaded module. The Estimator inspects the argument names, so the
  wrapper keeps model_fn's.
  """
  unconverted = tf.autograph.experimental.do_not_convert(model_fn)

  def graph_model_fn(features, labels, mode, params=None, config=None):
    return unconverted(features, labels, mode, params=params, config=config)
  return graph_model_fn
