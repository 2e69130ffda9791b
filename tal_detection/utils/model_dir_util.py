"""Model-dir hygiene: leftovers of killed saves, and what the events files hold.

Stale checkpoint temporaries. The Estimator's saver (sharded, V2 format) saves
checkpoint `model.ckpt-N` by writing `model.ckpt-N_temp/part-SSSSS-of-TTTTT`
{.index, .data-00000-of-00001} (each itself first written as
`<name>.tempstate<digits>`), then merging them into `model.ckpt-N.index` /
`.data-*` and deleting the folder; the `checkpoint` state file and
`model.ckpt-N.meta` are then written as `<name>.tmp<32 hex>` and renamed. A
process killed in between leaves those names behind, and nothing ever removes
them (TF's saver code calls them "safely removable"). Only the chief writes
checkpoints, so at its start any such name in its model_dir is stale.

Graph records. Every start of a training or evaluation process adds the whole
graph to its new events file (see model_lib's summary hooks), so the structure
of a graph already logged in a folder is fingerprinted here to log it only once.
"""
import hashlib
import os
import re
import threading

from absl import logging
import tensorflow as tf

# The Estimator's checkpoint prefix (CheckpointSaverHook's checkpoint_basename).
CHECKPOINT_BASENAME = 'model.ckpt'

# <model_dir>/model.ckpt-N_temp: the sharded saver's folder of one save.
_TEMP_DIR_RE = re.compile(r'^%s-\d+_temp$' % re.escape(CHECKPOINT_BASENAME))
# What the saver writes inside it: the shards, or their BundleWriter's
# temporaries.
_TEMP_PART_RE = re.compile(
    r'^part-\d{5}-of-\d{5}(\.index|\.data-\d{5}-of-\d{5})(\.tempstate\d+)?$')
# file_io.atomic_write_string_to_file temporaries of the meta graph and of the
# checkpoint state file.
_TEMP_FILE_RE = re.compile(r'^(%s-\d+\.meta|checkpoint)\.tmp[0-9a-f]{32}$' %
                           re.escape(CHECKPOINT_BASENAME))

# Records read per events file when looking for graphs: the graph is written
# right after the file is opened, before any summary, so a file holding none
# among its first records holds none at all.
_MAX_LEADING_RECORDS = 64


def _tree_bytes(path):
  total = 0
  for directory, _, files in tf.io.gfile.walk(path):
    for name in files:
      total += tf.io.gfile.stat(os.path.join(directory, name)).length
  return total


def remove_stale_checkpoint_temporaries(model_dir):
  """Removes what killed checkpoint saves left in model_dir; their paths.

  Call on the chief only, before it trains (nothing else saves checkpoints to
  model_dir then). Removes `model.ckpt-N_temp` folders holding only the
  saver's shard files, and `model.ckpt-N.meta.tmp<hex>` / `checkpoint.tmp<hex>`
  files; a `_temp` folder holding anything else is not the saver's and stays
  (with a warning). Logs one line per removal.
  """
  if not tf.io.gfile.isdir(model_dir):
    return []
  removed = []
  for name in sorted(tf.io.gfile.listdir(model_dir)):
    name = name.rstrip('/')  # gfile lists folders with a slash on some FSs.
    path = os.path.join(model_dir, name)
    if _TEMP_DIR_RE.match(name) and tf.io.gfile.isdir(path):
      contents = tf.io.gfile.listdir(path)
      foreign = [c for c in contents
                 if not _TEMP_PART_RE.match(c.rstrip('/')) or
                 tf.io.gfile.isdir(os.path.join(path, c))]
      if foreign:
        logging.warning('Not removing %s: it looks like a checkpoint '
                        'temporary but holds %s, which the saver never writes',
                        path, ', '.join(sorted(foreign)))
        continue
      size = _tree_bytes(path)
      tf.io.gfile.rmtree(path)
    elif _TEMP_FILE_RE.match(name) and not tf.io.gfile.isdir(path):
      size = tf.io.gfile.stat(path).length
      tf.io.gfile.remove(path)
    else:
      continue
    logging.info('Removed stale checkpoint temporary %s (%d bytes), left by '
                 'a save that was interrupted', path, size)
    removed.append(path)
  return removed


def graph_fingerprint(graph_def):
  """Hex digest of a GraphDef's structure: nodes, ops, inputs, functions.

  Attribute values (constants such as num_steps, shapes) are left out, so
  restarting the same model with other step counts or thresholds gives the
  same fingerprint; a different architecture gives another. Function names are
  left out too: they end in a process-wide counter (`..._while_body_6498`), so
  the same evaluation graph built twice in one process names them differently.
  """
  def nodes_digest(nodes):
    digest = hashlib.sha256()
    for node in sorted(nodes, key=lambda n: n.name):
      digest.update(('%s\0%s\0%s\n' % (node.name, node.op,
                                       '\0'.join(node.input))).encode())
    return digest.hexdigest()

  functions = sorted(nodes_digest(f.node_def)
                     for f in graph_def.library.function)
  return hashlib.sha256(
      ' '.join([nodes_digest(graph_def.node)] + functions).encode()).hexdigest()


def logged_graph_fingerprints(logdir):
  """Fingerprints of the graphs the events files directly in logdir hold."""
  fingerprints = set()
  if not tf.io.gfile.isdir(logdir):
    return fingerprints
  for path in sorted(tf.io.gfile.glob(os.path.join(logdir,
                                                   'events.out.tfevents.*'))):
    try:
      records = tf.compat.v1.io.tf_record_iterator(path)
      for _, record in zip(range(_MAX_LEADING_RECORDS), records):
        event = tf.compat.v1.Event.FromString(record)
        kind = event.WhichOneof('what')
        if kind == 'graph_def':
          fingerprints.add(graph_fingerprint(
              tf.compat.v1.GraphDef.FromString(event.graph_def)))
        elif kind == 'meta_graph_def':
          meta_graph = tf.compat.v1.MetaGraphDef.FromString(
              event.meta_graph_def)
          fingerprints.add(graph_fingerprint(meta_graph.graph_def))
        elif kind == 'summary':
          break
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError,
            tf.errors.NotFoundError) as e:
      # A file cut short by a killed writer (or removed meanwhile): what was
      # read before the damage counts, the rest is unreadable anyway.
      logging.info('Stopped reading %s at a damaged record (%s)', path,
                   type(e).__name__)
  return fingerprints


# Fingerprints of the graphs this process wrote, per log folder: its writers
# flush lazily, so a graph written a moment ago may not be on disk yet.
_graphs_written = {}
_graphs_written_lock = threading.Lock()


def _writer_without_graph(logdir):
  """The process's cached summary writer for logdir, opened without a graph.

  FileWriterCache.get opens a missing writer with the default graph, writing
  its graph_def and a meta_graph_def holding the graph again; every hook and
  the Estimator's evaluation write through that cache, so opening the entry
  first, graph-less, is the one place to stop those two records.
  """
  cache = tf.compat.v1.summary.FileWriterCache
  # pylint: disable=protected-access
  with cache._lock:
    if logdir not in cache._cache:
      cache._cache[logdir] = tf.compat.v1.summary.FileWriter(logdir)
    return cache._cache[logdir]
  # pylint: enable=protected-access


def _log_graph_once(writer, logdir, graph):
  """Adds graph to logdir's events unless a graph of its structure is there."""
  fingerprint = graph_fingerprint(graph.as_graph_def())
  with _graphs_written_lock:
    written = _graphs_written.setdefault(logdir, set())
    if fingerprint in written or fingerprint in logged_graph_fingerprints(
        logdir):
      logging.info('Graph already in the events files of %s; not adding it '
                   'again', logdir)
      return
    written.add(fingerprint)
  writer.add_graph(graph)


class GraphOnceHook(tf.compat.v1.train.SessionRunHook):
  """Writes the session's graph to logdir's events once per model structure.

  TensorBoard shows the newest graph of a run folder, so one copy is all it
  needs; TF's hooks add four (two graph_defs, two meta graphs holding it) to
  each new events file, i.e. on every restart of a training process.
  """

  def __init__(self, logdir):
    self._logdir = logdir
    self._writer = None

  def begin(self):
    self._writer = _writer_without_graph(self._logdir)

  def after_create_session(self, session, coord):
    del coord
    _log_graph_once(self._writer, self._logdir, session.graph)


class _WriterWithoutGraphs(object):
  """A summary writer that drops graphs and meta graphs, forwarding the rest."""

  def __init__(self, writer):
    self._writer = writer

  def add_graph(self, *args, **kwargs):
    del args, kwargs

  def add_meta_graph(self, *args, **kwargs):
    del args, kwargs

  def __getattr__(self, name):
    return getattr(self._writer, name)


class CheckpointSaverHookWithoutGraphEvents(
    tf.compat.v1.train.CheckpointSaverHook):
  """TF's CheckpointSaverHook, minus its graph records in the events file.

  Its after_create_session adds the graph_def and a meta graph to the events
  file unconditionally (save_graph_def only controls graph.pbtxt and the
  .meta files); GraphOnceHook logs the graph instead.
  """

  def __init__(self, checkpoint_dir, **kwargs):
    super().__init__(checkpoint_dir, **kwargs)
    self._events_dir = checkpoint_dir

  def begin(self):
    _writer_without_graph(self._events_dir)
    super().begin()
    self._summary_writer = _WriterWithoutGraphs(self._summary_writer)


def training_chief_hooks(run_config, scaffold):
  """Chief hooks of a training run: the graph once, checkpoints as configured.

  Given to the EstimatorSpec, the checkpoint hook replaces the one the
  Estimator would add (with the same settings; train_and_evaluate attaches
  its evaluation listener to it). The graph hook comes first so that its
  begin() opens the graph-less writer before any other hook asks for one.
  """
  hooks = [GraphOnceHook(run_config.model_dir)]
  if run_config.save_checkpoints_steps or run_config.save_checkpoints_secs:
    hooks.append(CheckpointSaverHookWithoutGraphEvents(
        run_config.model_dir,
        save_steps=run_config.save_checkpoints_steps,
        save_secs=run_config.save_checkpoints_secs,
        scaffold=scaffold,
        save_graph_def=run_config.checkpoint_save_graph_def))
  return hooks


def evaluation_hooks(run_config):
  """Evaluation hooks: the eval graph once in <model_dir>/eval.

  <model_dir>/eval is Estimator.eval_dir() for evaluations without a name,
  which are the only ones model_lib runs.
  """
  return [GraphOnceHook(os.path.join(run_config.model_dir, 'eval'))]
