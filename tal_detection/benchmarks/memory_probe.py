r"""One scaling measurement in a fresh process: latency and peak-memory growth.

  python -m tal_detection.benchmarks.memory_probe --version_dir=DIR \
    --num_steps=1880 --repeats=5 --warmup=3 --seed=0 --fps=10 \
    --stride_frames=16 --offset_frames=8

Prints one json line. A fresh process per length keeps one length's
allocations out of another's peak. The SavedModel is loaded and warmed up on a
BASELINE_STEPS-step video; then, for that short video and for the long one,
the peak-RSS mark is reset (writing 5 to /proc/self/clear_refs) and the rise
of the peak (VmHWM) above the RSS at the start is read from /proc/self/status,
so the loading peak, far above a short video's needs, is left out. Where the
mark cannot be reset, the process's lifetime peak (getrusage ru_maxrss) is
used, which only resolves inputs needing more than loading did.

The long video runs --warmup times untimed first: a process's first calls at
a new length are slower than its later ones (measured at 18800 steps, float32:
2.8 s, 0.9 s, then 0.73-0.76 s; in another process, after one untimed call,
1.10 and 1.06 s, then 0.79 and 0.78 s), so timing them would time the
transient, not the length.
"""
import argparse
import json
import os
import resource

# Quiet TensorFlow's C++ start-up banner; overridable.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
import tensorflow as tf

from tal_detection import inference_util
from tal_detection.benchmarks import timing
from tal_detection.utils import threading_util

# The short video whose memory growth is subtracted from the long one's.
BASELINE_STEPS = 16


def make_video_inputs(stream_dims, num_steps, rng, fps, stride_frames,
                      offset_frames):
  """numpy serving inputs of one video: random features, time parameters."""
  inputs = {name: rng.standard_normal((1, num_steps, dim)).astype(np.float32)
            for name, dim in stream_dims.items()}
  inputs['num_steps'] = np.array([num_steps], np.int32)
  inputs['fps'] = np.array([fps], np.float32)
  inputs['stride_frames'] = np.array([stride_frames], np.float32)
  inputs['offset_frames'] = np.array([offset_frames], np.float32)
  return inputs


def _lifetime_peak_rss_kib():
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _proc_memory_kib():
  """(current RSS, peak RSS since the last reset) in KiB, from /proc."""
  with open('/proc/self/status', 'r', encoding='utf-8') as f:
    status = dict(line.split(':', 1) for line in f if ':' in line)
  return (int(status['VmRSS'].split()[0]), int(status['VmHWM'].split()[0]))


def _reset_peak_rss():
  """Resets the peak RSS (VmHWM) to the current RSS; True if done.

  Linux >= 4.0: writing 5 to /proc/self/clear_refs.
  """
  try:
    with open('/proc/self/clear_refs', 'w', encoding='utf-8') as f:
      f.write('5')
    current, peak = _proc_memory_kib()
    return peak <= current + 1024
  except (OSError, KeyError, ValueError):
    return False


def measure(version_dir, num_steps, repeats, seed, video, warmup=1):
  """The scaling measurement of one length; see the module docstring.

  Args:
    version_dir: SavedModel folder.
    num_steps: length of the long video.
    repeats: timed runs of the long video.
    warmup: untimed runs of the long video before them.
    seed: seed of the random features.
    video: {'fps', 'stride_frames', 'offset_frames'} of the inputs.

  Returns:
    dict: num_steps, warmup, times_s, memory_method, and baseline_/long_
    growth_kib and peak_rss_kib.
  """
  serve = inference_util.ServingFunction(version_dir)
  stream_dims = {name: int(spec.shape[-1]) for name, spec in
                 serve.input_specs.items() if name.startswith('features_')}
  rng = np.random.default_rng(seed)

  def timed(length, warmup, runs):
    tensors = {k: tf.constant(v) for k, v in make_video_inputs(
        stream_dims, length, rng, **video).items()}
    return timing.time_calls(
        lambda: serve(**tensors)['num_detections'].numpy(), warmup, runs)

  timed(BASELINE_STEPS, 1, 2)
  result = {'num_steps': num_steps, 'warmup': warmup}
  if _reset_peak_rss():
    result['memory_method'] = 'VmHWM after /proc/self/clear_refs reset'
    for key, length, untimed, runs in (('baseline', BASELINE_STEPS, 0, 2),
                                       ('long', num_steps, warmup, repeats)):
      _reset_peak_rss()
      start_rss, _ = _proc_memory_kib()
      times = timed(length, untimed, runs)
      _, peak = _proc_memory_kib()
      result['%s_growth_kib' % key] = peak - start_rss
      result['%s_peak_rss_kib' % key] = peak
    result['times_s'] = times
  else:
    result['memory_method'] = 'getrusage ru_maxrss (lifetime peak)'
    result['baseline_peak_rss_kib'] = _lifetime_peak_rss_kib()
    result['times_s'] = timed(num_steps, warmup, repeats)
    result['long_peak_rss_kib'] = _lifetime_peak_rss_kib()
    result['baseline_growth_kib'] = 0
    result['long_growth_kib'] = (result['long_peak_rss_kib'] -
                                 result['baseline_peak_rss_kib'])
  return result


def command(version_dir, num_steps, repeats, seed, video, python,
            threads=(0, 0), warmup=1):
  """The command line that runs measure() in a fresh process.

  threads: (intra-op, inter-op) counts for the process (0: TF's default).
  """
  return [python, '-m', __name__, '--version_dir=%s' % version_dir,
          '--num_steps=%d' % num_steps, '--repeats=%d' % repeats,
          '--warmup=%d' % warmup, '--seed=%d' % seed,
          '--intra_op_threads=%d' % threads[0],
          '--inter_op_threads=%d' % threads[1]] + [
              '--%s=%r' % (k, float(v)) for k, v in sorted(video.items())]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--version_dir', required=True)
  parser.add_argument('--num_steps', type=int, required=True)
  parser.add_argument('--repeats', type=int, required=True)
  parser.add_argument('--warmup', type=int, default=1)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--intra_op_threads', type=int, default=0)
  parser.add_argument('--inter_op_threads', type=int, default=0)
  for key in ('fps', 'stride_frames', 'offset_frames'):
    parser.add_argument('--' + key, type=float, required=True)
  args = parser.parse_args()
  tf.get_logger().setLevel('ERROR')
  threading_util.configure(args.intra_op_threads, args.inter_op_threads)
  video = {'fps': args.fps, 'stride_frames': args.stride_frames,
           'offset_frames': args.offset_frames}
  print(json.dumps(measure(args.version_dir, args.num_steps, args.repeats,
                           args.seed, video, args.warmup)))


if __name__ == '__main__':
  main()
