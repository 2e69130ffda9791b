"""How well the first-stage anchors can cover a dataset's ground truth (numpy).

The SPN learns from anchors matched at tIoU >= 0.7 (and forced matches); an
instance no anchor reaches at 0.5 can only be found by regressing far from
every anchor. This module measures, before any training, for every instance
the best tIoU any anchor of its video reaches, and summarises it (action
lengths in steps, coverage@0.5 / @0.7, matches per anchor scale, instances
shorter than one step) with a one-line verdict.

Anchors are the ones MultiscaleTemporalAnchorGenerator generates for a video
of T steps (anchor_generators/multiscale_temporal_anchor_generator.py): for
every i in [0, T) and every scale s one anchor centred at i * stride + offset,
of length s steps, unclipped (as the target assigner sees them). Ground truth
is in step coordinates (time_util), clipped to [0, T] as the eval transform
of inputs.py does; training windows (max_train_length) are not applied, so
this is the coverage of whole videos.
"""
import numpy as np

from tal_detection.core import standard_fields
from tal_detection.dataset_tools import annotation_util
from tal_detection.dataset_tools import feature_util
from tal_detection.utils import time_util

_FIELDS = standard_fields.TfExampleFields

# model_main warns below this share of training instances at tIoU >= 0.5.
WARN_COVERAGE = 0.8
LENGTH_PERCENTILES = (0, 10, 25, 50, 75, 90, 100)


def _tiou(starts, ends, anchor_starts, anchor_ends):
  inter = np.clip(np.minimum(ends, anchor_ends) -
                  np.maximum(starts, anchor_starts), 0.0, None)
  union = (ends - starts) + (anchor_ends - anchor_starts) - inter
  return np.where(union > 0.0, inter / np.where(union > 0.0, union, 1.0), 0.0)


def best_tiou_per_scale(segments, num_steps, scales, stride=1.0, offset=0.5):
  """Best tIoU of every segment with the anchors of each scale of its video.

  For a fixed anchor length the intersection, hence the tIoU, can only fall
  as the anchor centre moves away from the segment centre, so the best anchor
  of a scale is one of the two placed centres around the segment centre
  (clipped to the video's steps); checking those two is exact and costs
  O(N K) instead of O(N T K).

  Args:
    segments: [N, 2] (start, end) in steps.
    num_steps: T >= 1, the video's steps (anchor positions).
    scales: K anchor lengths in steps.
    stride, offset: anchor i of a scale is centred at i * stride + offset.

  Returns:
    float64 [N, K].
  """
  segments = np.asarray(segments, dtype=np.float64).reshape([-1, 2])
  scales = np.asarray(scales, dtype=np.float64)
  starts, ends = segments[:, :1], segments[:, 1:]
  position = ((starts + ends) / 2.0 - offset) / stride
  best = np.zeros([segments.shape[0], scales.size])
  for index in (np.floor(position), np.ceil(position)):
    centres = np.clip(index, 0, num_steps - 1) * stride + offset
    best = np.maximum(best, _tiou(starts, ends, centres - scales / 2.0,
                                  centres + scales / 2.0))
  return best


def coverage_report(videos, scales, stride=1.0, offset=0.5):
  """The coverage statistics of a dataset.

  Args:
    videos: iterable of (segments [N, 2] in steps, num_steps) per video.
    scales, stride, offset: the anchor generator's.

  Returns:
    dict: num_videos, num_instances, scales, length_percentiles {p: steps},
    coverage_05, coverage_07 (shares of instances whose best anchor reaches
    tIoU >= 0.5 / 0.7), best_matches_per_scale (instances whose best anchor,
    at tIoU >= 0.5, has that scale), matches_07_per_scale (instances some
    anchor of that scale reaches at >= 0.7), shorter_than_one_step,
    missed_too_long / missed_too_short (shares below 0.5 that are longer than
    the largest / shorter than the smallest scale), verdict, warn.
  """
  scales = [float(s) for s in scales]
  per_scale, lengths, num_videos = [], [], 0
  for segments, num_steps in videos:
    num_videos += 1
    segments = np.asarray(segments, dtype=np.float64).reshape([-1, 2])
    per_scale.append(best_tiou_per_scale(segments, num_steps, scales, stride,
                                         offset))
    lengths.append(segments[:, 1] - segments[:, 0])
  per_scale = (np.concatenate(per_scale) if per_scale else
               np.zeros([0, len(scales)]))
  lengths = np.concatenate(lengths) if lengths else np.zeros([0])
  num = lengths.size
  best = per_scale.max(axis=1) if num else np.zeros([0])
  best_scale = per_scale.argmax(axis=1) if num else np.zeros([0], np.int64)

  def share(mask):
    return float(np.count_nonzero(mask)) / num if num else 0.0

  missed = best < 0.5
  report = {
      'num_videos': num_videos,
      'num_instances': int(num),
      'scales': scales,
      'length_percentiles': {
          p: (float(np.percentile(lengths, p)) if num else 0.0)
          for p in LENGTH_PERCENTILES},
      'coverage_05': share(best >= 0.5),
      'coverage_07': share(best >= 0.7),
      'best_matches_per_scale': [
          int(np.count_nonzero((best_scale == k) & ~missed))
          for k in range(len(scales))],
      'matches_07_per_scale': [int(np.count_nonzero(per_scale[:, k] >= 0.7))
                               for k in range(len(scales))],
      'shorter_than_one_step': share(lengths < 1.0),
      'missed_too_long': share(missed & (lengths > max(scales))),
      'missed_too_short': share(missed & (lengths < min(scales))),
  }
  report['warn'] = bool(num) and report['coverage_05'] < WARN_COVERAGE
  report['verdict'] = _verdict(report)
  return report


def _verdict(report):
  if not report['num_instances']:
    return 'anchor coverage: no ground-truth instance to cover'
  head = ('%.1f%% of %d instances have an anchor at tIoU >= 0.5 (%.1f%% at '
          '0.7)' % (100 * report['coverage_05'], report['num_instances'],
                    100 * report['coverage_07']))
  if not report['warn']:
    return 'anchor coverage OK: ' + head
  causes = []
  if report['missed_too_long']:
    causes.append('%.1f%% are longer than the largest anchor (%g steps): '
                  'coarser steps (create_tal_tf_record.py '
                  '--resample_stride_frames) or larger scales' % (
                      100 * report['missed_too_long'], max(report['scales'])))
  if report['missed_too_short']:
    causes.append('%.1f%% are shorter than the smallest anchor (%g steps)' % (
        100 * report['missed_too_short'], min(report['scales'])))
  return 'anchor coverage LOW: only %s%s' % (
      head, ''.join('; ' + cause for cause in causes))


def format_report(report):
  """The report as lines; the last is `coverage@0.5=<f> coverage@0.7=<f>`."""
  lines = ['%d videos, %d ground-truth instances; anchor scales %s (steps)' % (
      report['num_videos'], report['num_instances'],
      ' '.join('%g' % s for s in report['scales']))]
  lines.append('action length in steps: ' + ', '.join(
      'p%d %.2f' % (p, v) for p, v in report['length_percentiles'].items()))
  lines.append('shorter than one step: %.4f' % report['shorter_than_one_step'])
  lines.append('best anchor tIoU >= 0.7: %.4f, >= 0.5: %.4f' % (
      report['coverage_07'], report['coverage_05']))
  lines.append('per scale: best match at >= 0.5 / reached at >= 0.7: ' +
               ', '.join('%g: %d/%d' % (s, b, m) for s, b, m in zip(
                   report['scales'], report['best_matches_per_scale'],
                   report['matches_07_per_scale'])))
  lines.append(report['verdict'])
  lines.append('coverage@0.5=%.4f coverage@0.7=%.4f' % (
      report['coverage_05'], report['coverage_07']))
  return lines


def clip_to_video(segments_steps, num_steps):
  """Segments in steps clipped to [0, T], as the eval transform does."""
  return np.clip(np.asarray(segments_steps, dtype=np.float64).reshape([-1, 2]),
                 0.0, float(num_steps))


def videos_from_records(paths):
  """(segments in steps, num_steps) of every record of the files.

  Only the context is parsed (the features are not needed), through
  time_util like the input pipeline, from the exact microsecond bounds.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  spec = {
      _FIELDS.fps: tf.io.FixedLenFeature([], tf.float32),
      _FIELDS.stride_frames: tf.io.FixedLenFeature([], tf.float32),
      _FIELDS.offset_frames: tf.io.FixedLenFeature([], tf.float32),
      _FIELDS.num_steps: tf.io.FixedLenFeature([], tf.int64),
      _FIELDS.segment_start_us: tf.io.VarLenFeature(tf.int64),
      _FIELDS.segment_end_us: tf.io.VarLenFeature(tf.int64),
  }

  def parse(serialized):
    context, _ = tf.io.parse_single_sequence_example(serialized, spec)
    for key in (_FIELDS.segment_start_us, _FIELDS.segment_end_us):
      context[key] = tf.sparse.to_dense(context[key])
    return context

  videos = []
  for path in paths:
    for context in tf.data.TFRecordDataset(path).map(parse):
      values = {key: value.numpy() for key, value in context.items()}
      seconds = np.stack([values[_FIELDS.segment_start_us],
                          values[_FIELDS.segment_end_us]], axis=1) / 1e6
      num_steps = int(values[_FIELDS.num_steps])
      steps = time_util.seconds_to_steps(
          seconds, float(values[_FIELDS.fps]),
          float(values[_FIELDS.stride_frames]),
          float(values[_FIELDS.offset_frames]))
      videos.append((clip_to_video(steps, num_steps), num_steps))
  return videos


def videos_from_activitynet_json(json_path, subset, stride_frames,
                                 window_frames, resample_stride_frames=None,
                                 resample_window_frames=None):
  """(segments in steps, num_steps) a conversion of the json would give.

  No features needed: T is the number of windows of window_frames every
  stride_frames in duration * fps frames (feature_util.expected_num_steps),
  segments are kept, clipped and skipped as the converter does (starting at
  or after the end / ending at or before 0: skipped), and with
  resample_stride_frames/window the time base is the resampled one
  (feature_util.resampled_num_steps; offset = window / 2), so the figures are
  those of records converted with the same flags.
  """
  annotated, _, _ = annotation_util.read_activitynet_json(json_path, subset)
  videos = []
  for video in annotated:
    if video.fps is None or video.duration is None:
      raise ValueError('annotation json %s, video %s: needs "fps" and '
                       '"duration"' % (json_path, video.video_id))
    fps, duration = float(video.fps), float(video.duration)
    num_steps = feature_util.expected_num_steps(duration, fps, stride_frames,
                                                window_frames)
    stride, offset = float(stride_frames), window_frames / 2.0
    if resample_stride_frames is not None:
      num_steps = feature_util.resampled_num_steps(
          num_steps, stride_frames, window_frames, resample_stride_frames,
          resample_window_frames)
      stride, offset = resample_stride_frames, resample_window_frames / 2.0
    seconds = np.array([(s.start, s.end) for s in video.segments],
                       dtype=np.float64).reshape([-1, 2])
    seconds = seconds[(seconds[:, 0] < duration) & (seconds[:, 1] > 0.0)]
    seconds = np.clip(seconds, 0.0, duration)
    steps = time_util.seconds_to_steps(seconds, fps, stride, offset)
    videos.append((clip_to_video(steps, num_steps), num_steps))
  return videos


def anchor_parameters(pipeline_config):
  """(scales, stride, offset) of the model's first-stage anchor generator.

  Read from the model the builder makes of the config (its anchor_generator),
  so this module does not depend on where a meta-architecture keeps it.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tal_detection.builders import model_builder  # pylint: disable=g-import-not-at-top
  with tf.Graph().as_default():
    generator = model_builder.build(pipeline_config.model,
                                    is_training=False).anchor_generator
  return generator.scales, generator.stride, generator.offset


def records_report(pipeline_config, input_reader_config):
  """coverage_report of the records an input reader reads, with its anchors."""
  from tal_detection.builders import dataset_builder  # pylint: disable=g-import-not-at-top
  scales, stride, offset = anchor_parameters(pipeline_config)
  files = dataset_builder.get_input_files(input_reader_config)
  return coverage_report(videos_from_records(files), scales, stride, offset)


def coverage_verdict(pipeline_config):
  """(verdict line, whether to warn) for the training records of a config.

  For model_main at start (after its input checks): warn is True when fewer
  than WARN_COVERAGE of the training instances have an anchor at tIoU >= 0.5.
  """
  report = records_report(pipeline_config, pipeline_config.train_input_reader)
  return report['verdict'], report['warn']
