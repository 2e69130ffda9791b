"""Helpers of the train / evaluate / export / inference tests.

A tiny synthetic dataset (two 16-d streams, two classes, a handful of short
videos), the config override that shrinks configs/synthetic_tal_net.config to a
tiny model, and running the command-line tools in subprocesses.
"""
import glob
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import tensorflow as tf

from tal_detection.dataset_tools import create_tal_tf_record_lib
from tal_detection.dataset_tools import synthetic_dataset

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIPELINE_CONFIG = os.path.join(REPO_ROOT, 'configs', 'synthetic_tal_net.config')
PYTHON = sys.executable
# Bounds every subprocess so a hang fails the test instead of blocking CI.
TOOL_TIMEOUT_SECS = 300

STREAM_NAMES = ('rgb', 'flow')
STREAM_DIM = 16
NUM_CLASSES = 2
FPS = synthetic_dataset.FPS
STRIDE_FRAMES = synthetic_dataset.STRIDE_FRAMES
WINDOW_FRAMES = synthetic_dataset.WINDOW_FRAMES
OFFSET_FRAMES = WINDOW_FRAMES / 2.0


class TinyDataset(object):
  """Paths of the tiny synthetic dataset written by write_tiny_dataset."""

  def __init__(self, directory):
    self.directory = directory
    self.annotations_json = os.path.join(directory, 'annotations.json')
    self.features_dir = os.path.join(directory, 'features')
    self.train_record = os.path.join(directory, 'records', 'train.record')
    self.test_record = os.path.join(directory, 'records', 'test.record')
    self.label_map = os.path.join(directory, 'records', 'label_map.pbtxt')

  def test_video_ids(self):
    return sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(
        os.path.join(self.features_dir, 'synthetic_test_*.npy')))


def write_tiny_dataset(directory):
  """Writes 4 train + 3 test videos (tens of steps each) and their records."""
  synthetic_dataset.generate(directory, num_train=4, num_test=3,
                             stream_dim=STREAM_DIM, num_classes=NUM_CLASSES,
                             seed=0, duration_scale=0.3)
  dataset = TinyDataset(directory)
  for subset, path in (('train', dataset.train_record),
                       ('test', dataset.test_record)):
    create_tal_tf_record_lib.create_tf_record(
        features_dir=dataset.features_dir, output_path=path,
        label_map_path=dataset.label_map,
        annotations_json=dataset.annotations_json, subset=subset,
        stream_names=STREAM_NAMES, stream_dims=(STREAM_DIM, STREAM_DIM),
        stride_frames=STRIDE_FRAMES, window_frames=WINDOW_FRAMES)
  return dataset


def tiny_config_override(num_steps, save_checkpoints_steps, log_every_n_steps=5,
                         num_visualizations=2):
  """Text-format override: a 16-channel, 2-class model trained a few steps."""
  streams = ' '.join(
      'streams { name: "%s" feature_dim: %d }' % (name, STREAM_DIM)
      for name in STREAM_NAMES)
  return (
      'model { tal_net { num_classes: %d %s feature_reduction_depth: 16 '
      'segment_proposal_network { depth: 16 } second_stage_fc_depth: 16 } } '
      'train_config { num_steps: %d save_checkpoints_steps: %d '
      'log_every_n_steps: %d save_summary_steps: %d } '
      'eval_config { num_visualizations: %d }' % (
          NUM_CLASSES, streams, num_steps, save_checkpoints_steps,
          log_every_n_steps, log_every_n_steps, num_visualizations))


def model_main_flags(dataset, model_dir, config_override, *extra):
  """Flags of tools/model_main.py on the tiny dataset."""
  return ['--pipeline_config_path=%s' % PIPELINE_CONFIG,
          '--model_dir=%s' % model_dir,
          '--config_override=%s' % config_override,
          '--train_input_path=%s' % dataset.train_record,
          '--eval_input_path=%s' % dataset.test_record,
          '--label_map_path=%s' % dataset.label_map] + list(extra)


def tool_env(tf_config=None):
  """The environment of a tool subprocess (quiet C++ logs, optional cluster)."""
  env = dict(os.environ)
  env['TF_CPP_MIN_LOG_LEVEL'] = '2'
  env.pop('TF_CONFIG', None)
  if tf_config is not None:
    env['TF_CONFIG'] = tf_config
  return env


def run_tool(script, *args, timeout=TOOL_TIMEOUT_SECS):
  """Runs tools/<script> (or a full command list); the CompletedProcess."""
  if isinstance(script, (list, tuple)):
    command = list(script)
  else:
    command = [PYTHON, os.path.join(REPO_ROOT, 'tools', script)]
  return subprocess.run(command + list(args), cwd=REPO_ROOT, env=tool_env(),
                        capture_output=True, text=True, timeout=timeout)


def start_tool(script, args, log_path, tf_config=None):
  """Starts tools/<script> in the background, stdout + stderr to log_path."""
  log = open(log_path, 'w')
  try:
    return subprocess.Popen(
        [PYTHON, os.path.join(REPO_ROOT, 'tools', script)] + list(args),
        cwd=REPO_ROOT, env=tool_env(tf_config), stdout=log,
        stderr=subprocess.STDOUT)
  finally:
    log.close()  # The child holds its own descriptor.


def describe(process_result):
  """The tail of a failed tool run, for assertion messages."""
  text = (process_result.stdout or '') + (process_result.stderr or '')
  return '\n'.join(text.splitlines()[-30:])


def error_lines(text):
  """The lines a tool printed as its error message."""
  return [line for line in text.splitlines()
          if re.match(r'^[a-z_]+: error: ', line)]


def checkpoint_step(model_dir):
  """Global step of the latest checkpoint in model_dir (None if none)."""
  checkpoint = tf.train.latest_checkpoint(model_dir)
  if checkpoint is None:
    return None
  step = tf.train.load_checkpoint(checkpoint).get_tensor('global_step')
  suffix = int(re.search(r'-(\d+)$', checkpoint).group(1))
  assert int(step) == suffix, (checkpoint, step)
  return int(step)


def free_ports(count):
  """count distinct free TCP ports on 127.0.0.1."""
  sockets = []
  try:
    for _ in range(count):
      sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
      sock.bind(('127.0.0.1', 0))
      sockets.append(sock)
    return [sock.getsockname()[1] for sock in sockets]
  finally:
    for sock in sockets:
      sock.close()


# What TF's saver leaves in a model_dir when killed mid-save: the sharded
# save's folder model.ckpt-N_temp/, and the atomic-write temporaries of the
# meta graph and of the checkpoint state file (<name>.tmp<32 hex>).
SAVER_TEMPORARY_RE = re.compile(
    r'^(model\.ckpt-\d+_temp|'
    r'(model\.ckpt-\d+\.meta|checkpoint)\.tmp[0-9a-f]{32})$')


def saver_temporaries(model_dir):
  """Names in model_dir that are checkpoint-save temporaries."""
  if not os.path.isdir(model_dir):
    return []
  return sorted(name for name in os.listdir(model_dir)
                if SAVER_TEMPORARY_RE.match(name))


def events_files(logdir):
  """The events files directly in logdir, oldest first."""
  return sorted(glob.glob(os.path.join(logdir, 'events.out.tfevents.*')),
                key=os.path.getmtime)


def event_records(path):
  """[(kind, event)] of an events file; kind is the Event's `what` field."""
  return [(event.WhichOneof('what'), event)
          for event in tf.compat.v1.train.summary_iterator(path)]


def logged_train_steps(text):
  """Global steps a training log printed, in order.

  The Estimator's own `loss = ..., step = N` lines (model_main --verbose; N is
  the global step at the start of that step).
  """
  return [int(s) for s in re.findall(r'\bstep = (\d+)', text)]


def read_log(path):
  with open(path) as f:
    return f.read()


def wait_until(condition, what, process=None, log_path=None,
               timeout=TOOL_TIMEOUT_SECS, interval=0.2):
  """Polls condition() until true; fails if process exits or time runs out."""
  deadline = time.monotonic() + timeout
  while not condition():
    if process is not None and process.poll() is not None:
      raise AssertionError('process exited (%s) before %s:\n%s' % (
          process.returncode, what,
          read_log(log_path)[-3000:] if log_path else ''))
    if time.monotonic() > deadline:
      raise AssertionError('timed out waiting for %s:\n%s' % (
          what, read_log(log_path)[-3000:] if log_path else ''))
    time.sleep(interval)


def endless_training_override(save_checkpoints_steps):
  """The tiny model trained 'forever' (until killed), logging every step."""
  return tiny_config_override(
      num_steps=100000, save_checkpoints_steps=save_checkpoints_steps,
      log_every_n_steps=1, num_visualizations=0)


def local_cluster():
  """A TF_CONFIG cluster of one chief, one worker and one ps on localhost."""
  chief_port, worker_port, ps_port = free_ports(3)
  return {'chief': ['127.0.0.1:%d' % chief_port],
          'worker': ['127.0.0.1:%d' % worker_port],
          'ps': ['127.0.0.1:%d' % ps_port]}


def start_cluster_task(cluster, task, flags, log_path):
  """Starts model_main as task 0 of type `task` in cluster (see start_tool)."""
  tf_config = json.dumps({'cluster': cluster,
                          'task': {'type': task, 'index': 0}})
  return start_tool('model_main.py', flags, log_path, tf_config=tf_config)


def sigkill(process):
  """SIGKILLs process (a crash: no cleanup runs) and reaps it."""
  process.send_signal(signal.SIGKILL)
  process.wait(timeout=60)
  assert process.returncode == -signal.SIGKILL, process.returncode


def end_processes(processes):
  """Kills and reaps those of processes still running (test clean-up)."""
  for process in processes:
    if process.poll() is None:
      process.kill()  # SIGKILL ends a stopped (SIGSTOP) process too
      process.wait()


def train_to(flags, num_steps):
  """Runs model_main with flags to --num_train_steps; its stdout + stderr."""
  result = run_tool('model_main.py', *flags, '--num_train_steps=%d' % num_steps)
  assert result.returncode == 0, describe(result)
  return result.stdout + result.stderr


def restored_checkpoints(text):
  """Checkpoints a (--verbose) log says it restored, in order."""
  return re.findall(r'Restoring parameters from (\S+)', text)
