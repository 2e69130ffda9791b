"""Converts features + temporal annotations into per-video TFRecords.

The library behind tools/create_tal_tf_record.py. Everything is checked before
anything is written, records go to temporary names that are renamed only when
the whole run succeeded, and a new label map is written last.
"""
import collections
import os

from absl import logging
import numpy as np

from tal_detection.dataset_tools import annotation_util
from tal_detection.dataset_tools import feature_util
from tal_detection.dataset_tools import tf_record_util
from tal_detection.utils import label_map_util
from tal_detection.utils import progress_util


class ConversionSummary(collections.namedtuple('ConversionSummary', [
    'num_videos', 'num_instances', 'num_classes', 'num_label_map_classes',
    'num_partly_outside', 'partly_outside_videos', 'num_wholly_outside',
    'wholly_outside_videos', 'num_ambiguous_skipped',
    'num_other_subset_videos', 'num_length_mismatch_videos', 'output_paths',
    'label_map_path', 'label_map_written'])):
  """What a conversion wrote, what it skipped, what lies outside the videos."""

  def summary_line(self):
    """The one-line report printed at the end of a conversion."""
    if len(self.output_paths) == 1:
      where = self.output_paths[0]
    else:
      where = '%d shards %s' % (len(self.output_paths), _shard_glob(
          self.output_paths[0]))
    parts = [
        'Wrote %d videos, %d instances, %d classes (of %d in label map %s%s) '
        'to %s' % (self.num_videos, self.num_instances, self.num_classes,
                   self.num_label_map_classes, self.label_map_path,
                   ', new' if self.label_map_written else '', where),
        'kept as annotated %d segments reaching outside the video%s and %d '
        'lying wholly outside it%s' % (
            self.num_partly_outside, _videos_note(self.partly_outside_videos),
            self.num_wholly_outside, _videos_note(self.wholly_outside_videos)),
        'skipped %d Ambiguous segments' % self.num_ambiguous_skipped,
        'skipped %d videos of other subsets' % self.num_other_subset_videos,
    ]
    if self.num_length_mismatch_videos:
      parts.append('%d videos whose feature length disagrees with their '
                   'duration (see warnings)' % self.num_length_mismatch_videos)
    return '; '.join(parts) + '.'


def _shard_glob(first_shard_path):
  # path-00000-of-00004 -> path-?????-of-00004
  prefix, _, suffix = first_shard_path.rpartition('-00000-of-')
  return '%s-?????-of-%s' % (prefix, suffix)


def _videos_note(videos):
  if not videos:
    return ''
  shown = sorted(videos)[:3]
  more = ', ...' if len(videos) > 3 else ''
  return ' (%s%s)' % (', '.join(shown), more)


def load_annotations(annotations_json=None, subset=None,
                     thumos_annotation_dir=None):
  """Reads the annotation source given by exactly one of the two arguments.

  Returns:
    (videos, class_names, num_ambiguous, num_other_subset_videos): the
    VideoAnnotations to convert, the class names in the order a new label map
    gives them ids 1..C (from the whole source, every subset), the number of
    Ambiguous segments skipped and of videos left out by `subset`.
  """
  if bool(annotations_json) == bool(thumos_annotation_dir):
    raise ValueError('give exactly one of --annotations_json and '
                     '--thumos_annotation_dir')
  if annotations_json:
    videos, all_label_ids, num_other_subset = (
        annotation_util.read_activitynet_json(annotations_json, subset))
    return (videos, annotation_util.label_names_in_order(all_label_ids), 0,
            num_other_subset)
  videos, class_names, num_ambiguous = (
      annotation_util.read_thumos_annotation_dir(thumos_annotation_dir, subset))
  return videos, class_names, num_ambiguous, 0


def resolve_label_map(label_map_path, class_names):
  """Reads label_map_path if it exists, else makes one from class_names.

  Returns:
    (name -> id dict, whether the label map is new and must be written).
  """
  if not label_map_path:
    raise ValueError('--label_map_path is required')
  if os.path.exists(label_map_path):
    return label_map_util.get_label_map_dict(label_map_path), False
  if not class_names:
    raise ValueError('cannot write label map %s: the annotations name no class'
                     % label_map_path)
  return label_map_util.get_label_map_dict(
      label_map_util.make_label_map(class_names)), True


def prepare_segments(video, duration, label_map_dict, label_map_path):
  """Checks and labels the segments of one video, keeping them as annotated.

  A segment reaching outside [0, duration], even one lying wholly outside it
  (real THUMOS'14 has 30 instances starting after the json's duration), is
  kept exactly as annotated: the records' ground truth is what every
  evaluation scores against, and tools/evaluate_detections.py scores the json
  as it is. Training never sees the part outside the features: the input
  pipeline clips the ground truth to the window in steps and drops segments
  without overlap.

  Args:
    video: VideoAnnotation.
    duration: the video's duration in seconds.
    label_map_dict: class name -> id.
    label_map_path: for error messages.

  Returns:
    (segments [N, 2] float64 seconds, label ids [N] int64, label names,
     number of segments reaching outside [0, duration] but overlapping it,
     number lying wholly outside it).

  Raises:
    ValueError: naming the video for end <= start or a label not in the map.
  """
  segments, ids, names = [], [], []
  num_partly_outside = num_wholly_outside = 0
  for segment in video.segments:
    if segment.label not in label_map_dict:
      raise ValueError('video %s: label %r is not in label map %s' %
                       (video.video_id, segment.label, label_map_path))
    if segment.end <= segment.start:
      raise ValueError('video %s: segment [%g, %g] (%s) has end <= start' %
                       (video.video_id, segment.start, segment.end,
                        segment.label))
    if segment.start >= duration or segment.end <= 0.0:
      num_wholly_outside += 1
    elif segment.start < 0.0 or segment.end > duration:
      num_partly_outside += 1
    segments.append((segment.start, segment.end))
    ids.append(label_map_dict[segment.label])
    names.append(segment.label)
  if num_partly_outside or num_wholly_outside:
    logging.warning(
        'video %s: %d segments reach outside the video [0, %g] s and %d lie '
        'wholly outside it; kept as annotated (evaluation counts them; '
        'training uses only their part inside the features)', video.video_id,
        num_partly_outside, duration, num_wholly_outside)
  return (np.array(segments, dtype=np.float64).reshape([-1, 2]),
          np.array(ids, dtype=np.int64), names, num_partly_outside,
          num_wholly_outside)


def _check_writable_parent(path, flag):
  """The nearest existing folder above path must be writable (checked first)."""
  folder = os.path.dirname(os.path.abspath(path))
  while not os.path.exists(folder):
    folder = os.path.dirname(folder)
  if not os.path.isdir(folder):
    raise ValueError('%s: %s is a file, not a folder' % (flag, folder))
  if not os.access(folder, os.W_OK | os.X_OK):
    raise ValueError('%s: folder %s is not writable' % (flag, folder))


def create_tf_record(features_dir, output_path, label_map_path,
                     annotations_json=None, subset=None,
                     thumos_annotation_dir=None, fps=None,
                     feature_layout=feature_util.CONCAT,
                     stream_names=('rgb', 'flow'), stream_dims=(1024, 1024),
                     stride_frames=4, window_frames=16, num_shards=1,
                     resample_num_steps=None, resample_stride_frames=None,
                     resample_window_frames=None):
  """Converts one annotation source + feature folder into sharded TFRecords.

  Args:
    features_dir: folder of <video_id>.npy (concat) or <stream>/<video_id>.npy
      (separate) feature files.
    output_path: record path (one shard) or prefix (several).
    label_map_path: read if it exists, else written from the annotations.
    annotations_json: ActivityNet/ActionFormer json (or use
      thumos_annotation_dir).
    subset: subset/split to convert ('' or None: all).
    thumos_annotation_dir: folder of THUMOS'14 <Class>_<split>.txt files.
    fps: frames per second for videos whose annotations give none (required
      for the THUMOS txt source).
    feature_layout: 'concat' or 'separate'.
    stream_names: stream names, in the concat column order.
    stream_dims: feature width per stream.
    stride_frames: frames between consecutive features.
    window_frames: frames each feature covers; feature 0 is centred at frame
      window_frames / 2 (the offset stored in the records).
    num_shards: number of output files.
    resample_num_steps: if set, every video's features are resampled to
      exactly this many steps (feature_util.resample_features; ActivityNet
      practice) and its record's stride_frames / offset_frames describe the
      new steps (feature_util.resampled_time_base), so time_util converts
      them like any other record. Duration and annotations are unchanged.
    resample_stride_frames, resample_window_frames: if set (both, and not
      with resample_num_steps), every video's features are resampled to new
      windows of resample_window_frames frames every resample_stride_frames
      (feature_util.resample_to_stride: frame-weighted means, e.g. the
      paper's 0.625 features/s from stride-4 features), and the records
      store stride_frames = resample_stride_frames, offset_frames =
      resample_window_frames / 2.

  Returns:
    A ConversionSummary.

  Raises:
    ValueError: with one message naming the file/video/flag on any bad input;
      nothing is left at the output paths in that case.
  """
  stream_names = list(stream_names)
  stream_dims = [int(d) for d in stream_dims]
  if not stream_names or len(stream_names) != len(stream_dims):
    raise ValueError('--stream_names (%s) and --stream_dims (%s) must have the '
                     'same non-zero length' % (','.join(stream_names),
                                               ','.join(map(str, stream_dims))))
  if len(set(stream_names)) != len(stream_names):
    raise ValueError('--stream_names has duplicates: %s' % ','.join(
        stream_names))
  if any(d <= 0 for d in stream_dims):
    raise ValueError('--stream_dims must be positive, got %s' %
                     ','.join(map(str, stream_dims)))
  if stride_frames <= 0 or window_frames <= 0:
    raise ValueError('--stride_frames and --window_frames must be positive, '
                     'got %g and %g' % (stride_frames, window_frames))
  if fps is not None and fps <= 0:
    raise ValueError('--fps must be positive, got %g' % fps)
  if feature_layout not in feature_util.LAYOUTS:
    raise ValueError('--feature_layout must be one of %s, got %r' %
                     (', '.join(feature_util.LAYOUTS), feature_layout))
  if not features_dir or not os.path.isdir(features_dir):
    raise ValueError('features folder %s does not exist' % features_dir)
  if not output_path:
    raise ValueError('--output_path is required')
  if os.path.isdir(output_path):
    raise ValueError('--output_path: %s is a folder; name the record file (or '
                     'shard prefix) inside it' % output_path)
  _check_writable_parent(output_path, '--output_path')
  if label_map_path and not os.path.exists(label_map_path):
    _check_writable_parent(label_map_path, '--label_map_path')
  if num_shards < 1:
    raise ValueError('--num_shards must be at least 1, got %d' % num_shards)
  resampling = feature_util.Resampling(
      resample_num_steps, resample_stride_frames, resample_window_frames)
  resampling.check()
  if thumos_annotation_dir and fps is None:
    raise ValueError('--fps is required with --thumos_annotation_dir (the txt '
                     'files carry no frame rate)')

  videos, class_names, num_ambiguous, num_other_subset = load_annotations(
      annotations_json, subset, thumos_annotation_dir)
  if not videos:
    raise ValueError('the annotations hold no video to convert')
  label_map_dict, label_map_is_new = resolve_label_map(label_map_path,
                                                       class_names)
  # Unknown labels stop the run before any feature is read.
  for video in videos:
    for segment in video.segments:
      if segment.label not in label_map_dict:
        raise ValueError('video %s: label %r is not in label map %s' %
                         (video.video_id, segment.label, label_map_path))

  offset_frames = window_frames / 2.0
  output_dir = os.path.dirname(os.path.abspath(output_path))
  created_output_dir = not os.path.isdir(output_dir)
  if created_output_dir:
    os.makedirs(output_dir)
  num_instances = num_partly_outside = num_wholly_outside = num_mismatch = 0
  partly_outside_videos, wholly_outside_videos = set(), set()
  classes_written = set()
  try:
    with tf_record_util.ShardedRecordWriter(output_path, num_shards) as writer, \
        progress_util.ProgressLine(len(videos)) as progress:
      for index, video in enumerate(videos):
        video_fps = video.fps if video.fps is not None else fps
        if video_fps is None:
          raise ValueError('video %s has no "fps" in the annotations; give '
                           '--fps' % video.video_id)
        features = feature_util.load_video_features(
            features_dir, video.video_id, feature_layout, stream_names,
            stream_dims)
        num_steps = next(iter(features.values())).shape[0]
        duration = video.duration
        if duration is None:
          # Frames covered by the feature windows.
          duration = ((num_steps - 1) * stride_frames +
                      window_frames) / video_fps
        step_seconds = stride_frames / video_fps
        if duration < step_seconds:
          raise ValueError('video %s lasts %g s, shorter than one feature step '
                           '(%g s)' % (video.video_id, duration, step_seconds))
        if not feature_util.num_steps_fit(num_steps, duration, video_fps,
                                          stride_frames, window_frames):
          expected = feature_util.expected_num_steps(
              duration, video_fps, stride_frames, window_frames)
          num_mismatch += 1
          logging.warning(
              'video %s: %d feature steps, but %g s at %g fps with stride %g '
              'and window %g frames gives about %d; check --fps, '
              '--stride_frames and --window_frames', video.video_id,
              num_steps, duration, video_fps, stride_frames, window_frames,
              expected)
        (segments, label_ids, label_texts, partly_outside,
         wholly_outside) = prepare_segments(video, duration, label_map_dict,
                                            label_map_path)
        if partly_outside:
          partly_outside_videos.add(video.video_id)
        if wholly_outside:
          wholly_outside_videos.add(video.video_id)
        num_partly_outside += partly_outside
        num_wholly_outside += wholly_outside
        num_instances += len(label_ids)
        classes_written.update(label_ids.tolist())
        # The checks above compare the features as extracted with the
        # annotations; only then is the time base changed.
        features, video_stride, video_offset = resampling.apply(
            features, stride_frames, offset_frames)
        example = tf_record_util.make_sequence_example(
            video.video_id, features, fps=video_fps,
            stride_frames=video_stride, offset_frames=video_offset,
            duration=duration, segments_seconds=segments, label_ids=label_ids,
            label_texts=label_texts,
            ambiguous_segments_seconds=getattr(video, 'ambiguous', None))
        writer.write(example.SerializeToString())
        progress.update(index + 1)
      output_paths = writer.final_paths
    if label_map_is_new:
      names = sorted(label_map_dict, key=label_map_dict.get)
      label_map_util.save_label_map(names, label_map_path)
  except BaseException:
    if created_output_dir and not os.listdir(output_dir):
      os.rmdir(output_dir)
    raise
  return ConversionSummary(
      num_videos=len(videos), num_instances=num_instances,
      num_classes=len(classes_written),
      num_label_map_classes=len(label_map_dict),
      num_partly_outside=num_partly_outside,
      partly_outside_videos=sorted(partly_outside_videos),
      num_wholly_outside=num_wholly_outside,
      wholly_outside_videos=sorted(wholly_outside_videos),
      num_ambiguous_skipped=num_ambiguous,
      num_other_subset_videos=num_other_subset,
      num_length_mismatch_videos=num_mismatch, output_paths=output_paths,
      label_map_path=label_map_path, label_map_written=label_map_is_new)
