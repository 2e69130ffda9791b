r"""Runs an exported TAL-Net SavedModel on the features of one video or a folder.

  python tools/infer.py --saved_model_dir=out/exported \
      --features=path/video.npy (or a folder of .npy files) --output=det.json \
      [--feature_layout=concat|separate] [--annotations_json=videos.json] \
      [--fps=10 --stride_frames=16 --window_frames=16] \
      [--resample_stride_frames=48 --resample_window_frames=48 | \
       --resample_num_steps=128] \
      [--plot=timeline.png|folder --groundtruth=gt.json --plot_top_k=20]

Writes an ActivityNet results json: {"results": {video: [{"label", "score",
"segment": [start, end] in seconds}]}}, videos in id order, values exactly as
the model gives them (unrounded float32), so tools/evaluate_detections.py on it
gives what the Estimator's evaluation gives. Streams and their widths are
read from the pipeline.config exported beside the model, class names from the
label map there, and the time base (fps, stride, window in frames) from time_base.json
there: the one the model was trained on. --fps/--stride_frames/--window_frames
override it; --annotations_json gives each video its own fps (and duration)
from its "database" entry, as the converter reads it (a warning names the
videos it has no fps for). Features extracted at another rate than the
records the model was trained on are resampled as the converter resampled
those records with the converter's flags, --resample_stride_frames and
--resample_window_frames or --resample_num_steps: --stride_frames and
--window_frames then describe the features as extracted. A warning says when
the features' time base (after any resampling) is not the one in
time_base.json, or when --annotations_json gives videos a duration their
number of feature steps does not fit. With a folder, --plot names a folder that receives
<video>.png per video; --groundtruth (a "database" json) adds the ground-truth
rows.
"""
import json
import os
import sys

from absl import flags
from absl import logging

from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order

from tal_detection import exporter
from tal_detection import inference_util
from tal_detection.dataset_tools import feature_util
from tal_detection.utils import io_util
from tal_detection.utils import label_map_util
from tal_detection.utils import threading_util
from tal_detection.utils import visualization_utils

flags.DEFINE_string('saved_model_dir', None, 'Exported model: the version '
                    'folder, or its parent (the newest version is used).')
flags.DEFINE_string('features', None, 'A .npy file of one video, or a folder.')
flags.DEFINE_enum('feature_layout', 'concat', list(feature_util.LAYOUTS),
                  'concat: one [T, sum(dims)] file per video; separate: '
                  '<stream>/<video>.npy per stream.')
flags.DEFINE_float('fps', None, 'Frame rate of the features (default: the '
                   'exported time_base.json); per video from '
                   '--annotations_json when it gives one.')
flags.DEFINE_float('stride_frames', None, 'Frames between consecutive features '
                   '(default: time_base.json). May be fractional.')
flags.DEFINE_float('window_frames', None, 'Frames each feature sees; its '
                   'centre (window / 2) is the feature time offset (default: '
                   'time_base.json). May be fractional.')
flags.DEFINE_integer('resample_num_steps', None, 'Resample every video to '
                     'exactly this many steps first, as the converter\'s '
                     '--resample_num_steps did to the training records.')
flags.DEFINE_float('resample_stride_frames', None, 'With '
                   '--resample_window_frames: resample every video to '
                   'windows of that many frames every this many frames first '
                   '(as the converter\'s flags of the same names); '
                   '--stride_frames/--window_frames are then the features\' '
                   'as extracted.')
flags.DEFINE_float('resample_window_frames', None, 'Frames covered by one '
                   'resampled feature (with --resample_stride_frames).')
flags.DEFINE_string('annotations_json', None, 'ActivityNet-style "database" '
                    'json: each listed video\'s "fps" (and "duration", for '
                    'the picture) is used for it.')
flags.DEFINE_string('groundtruth', None, 'ActivityNet-style "database" json '
                    'whose annotations are drawn as ground-truth rows.')
flags.DEFINE_integer('plot_top_k', 20, 'Detections drawn per picture, highest '
                     'scores first (0: all).')
flags.DEFINE_string('label_map_path', None, 'Default: label_map.pbtxt beside '
                    'the SavedModel.')
flags.DEFINE_float('min_score', 0.0, 'Drop detections scoring below this.')
flags.DEFINE_string('output', None, 'Results json to write.')
flags.DEFINE_integer('intra_op_threads', 0, 'Threads per op (0: the cores '
                     'divided among the model\'s streams, which then run side '
                     'by side; see tal_detection/utils/threading_util.py).')
flags.DEFINE_integer('inter_op_threads', 0, 'Ops at once (0: one per core).')
flags.DEFINE_string('plot', None, 'Timeline picture (.png) to draw; a folder '
                    'when --features is a folder.')
FLAGS = flags.FLAGS


def _class_id(label, name_to_id, video_id):
  """The label-map id of a ground-truth class name (drawn in its lane)."""
  if label not in name_to_id:
    raise ValueError('--groundtruth: video %s: class %r is not in the '
                     'exported label map' % (video_id, label))
  return name_to_id[label]


def _check_output_path(path, flag):
  """An output path must not be a folder (caught before any work is done)."""
  if os.path.isdir(path):
    raise ValueError('--%s: %s is a folder, not a file name' % (flag, path))


def main(unused_argv):
  if not FLAGS.saved_model_dir or not FLAGS.features or not FLAGS.output:
    raise tool_util.UsageError('--saved_model_dir, --features and --output '
                               'are required')
  # Everything that can be checked without running the model comes first.
  try:
    model_dir = exporter.resolve_version_dir(FLAGS.saved_model_dir)
  except ValueError as e:
    raise ValueError('--saved_model_dir: %s' % e) from None
  export_dir = os.path.dirname(model_dir.rstrip('/'))
  streams = inference_util.exported_streams(export_dir)
  stream_names = [name for name, _ in streams]
  videos = inference_util.video_files(FLAGS.features, FLAGS.feature_layout,
                                      stream_names)
  label_map_path = FLAGS.label_map_path or os.path.join(export_dir,
                                                        'label_map.pbtxt')
  if FLAGS.label_map_path and not os.path.exists(label_map_path):
    raise ValueError('--label_map_path: %s does not exist' % label_map_path)
  names = (label_map_util.get_label_map_id_to_name(label_map_path)
           if os.path.exists(label_map_path) else {})
  _check_output_path(FLAGS.output, 'output')
  single_plot = bool(FLAGS.plot) and os.path.isfile(FLAGS.features)
  if single_plot:
    _check_output_path(FLAGS.plot, 'plot')
  if FLAGS.plot_top_k < 0:
    raise ValueError('--plot_top_k: must be >= 0, got %d' % FLAGS.plot_top_k)
  resampling = feature_util.Resampling(FLAGS.resample_num_steps,
                                       FLAGS.resample_stride_frames,
                                       FLAGS.resample_window_frames)
  resampling.check()
  if resampling.active and (FLAGS.stride_frames is None or
                            FLAGS.window_frames is None):
    # time_base.json describes the resampled features the model saw.
    raise tool_util.UsageError(
        '--resample_*: give --stride_frames and --window_frames of the '
        'features as extracted')
  fps, stride_frames, window_frames, source = (
      inference_util.resolve_time_base(export_dir, FLAGS.fps,
                                       FLAGS.stride_frames,
                                       FLAGS.window_frames))
  mismatch = inference_util.time_base_mismatch(
      export_dir, resampling, stride_frames, window_frames)
  if mismatch:
    print('%s: warning: %s' % (tool_util.tool_name(), mismatch),
          file=sys.stderr)
  annotations = (inference_util.annotations_by_video(FLAGS.annotations_json,
                                                     'annotations_json')
                 if FLAGS.annotations_json else {})
  groundtruth = (inference_util.annotations_by_video(FLAGS.groundtruth,
                                                     'groundtruth')
                 if FLAGS.groundtruth else None)
  if FLAGS.annotations_json:
    # Such a video gets the default frame rate; a wrong one scales its times.
    unlisted = [v for v in videos if inference_util.video_fps(
        v, annotations, None) is None]
    if unlisted:
      print('%s: warning: --annotations_json: %d videos have no "fps" there '
            '(%s%s); they use %g fps (%s)' % (
                tool_util.tool_name(), len(unlisted), ', '.join(unlisted[:3]),
                ', ...' if len(unlisted) > 3 else '', fps, source),
            file=sys.stderr)
  name_to_id = {name: i for i, name in names.items()}
  try:
    threading_util.configure_serving(
        len(streams), intra_op_threads=FLAGS.intra_op_threads,
        inter_op_threads=FLAGS.inter_op_threads)
  except ValueError as e:
    raise ValueError('--intra_op_threads, --inter_op_threads: %s' % e) from None

  serve = inference_util.ServingFunction(model_dir)
  results = {}
  pictures = {}
  unfitting = []
  for video_id, directory in videos.items():
    features = feature_util.load_video_features(
        directory, video_id, FLAGS.feature_layout, stream_names,
        [dim for _, dim in streams])
    video_fps = inference_util.video_fps(video_id, annotations, fps)
    if not inference_util.steps_fit_duration(
        next(iter(features.values())).shape[0], annotations.get(video_id),
        video_fps, stride_frames, window_frames):
      unfitting.append(video_id)
    # The checks above are of the features as extracted; the model sees them
    # resampled as its training records were.
    features, video_stride, video_offset = resampling.apply(
        features, stride_frames, window_frames / 2.0)
    detections = [d for d in inference_util.run_video(
        serve, streams, features, video_fps, video_stride,
        2.0 * video_offset) if d[3] >= FLAGS.min_score]
    results[video_id] = inference_util.results_entries(detections, names)
    if FLAGS.plot:
      gt_entry = groundtruth.get(video_id) if groundtruth is not None else None
      duration = inference_util.timeline_duration(
          next(iter(features.values())).shape[0], video_stride,
          2.0 * video_offset, video_fps, annotations.get(video_id), gt_entry)
      gt_segments = None
      if groundtruth is not None:
        gt_segments = [] if gt_entry is None else [
            (seg.start, seg.end, _class_id(seg.label, name_to_id, video_id))
            for seg in gt_entry.segments]
      pictures[video_id] = (duration, gt_segments, detections)
  if unfitting:
    print('%s: warning: --annotations_json: %d videos have more or fewer '
          'feature steps than their duration gives at stride %g and window %g '
          'frames (%s%s); check --fps, --stride_frames and --window_frames' % (
              tool_util.tool_name(), len(unfitting), stride_frames,
              window_frames, ', '.join(unfitting[:3]),
              ', ...' if len(unfitting) > 3 else ''), file=sys.stderr)
  with io_util.atomic_open(FLAGS.output) as f:
    json.dump({'version': 'tal-detection', 'results': results,
               'external_data': {}}, f)
  for video_id, (duration, gt_segments, detections) in pictures.items():
    path = FLAGS.plot if single_plot else os.path.join(FLAGS.plot,
                                                       video_id + '.png')
    png = visualization_utils.timeline_png(
        video_id, duration, gt_segments, detections, names,
        top_k=FLAGS.plot_top_k)
    with io_util.atomic_open(path, 'wb') as f:
      f.write(png)
  logging.info('time base: %g fps (%s), stride %g, window %g frames',
               fps, source if not annotations else
               source + '; per-video fps from --annotations_json',
               stride_frames, window_frames)
  print('Wrote %d videos, %d detections to %s' % (
      len(results), sum(len(v) for v in results.values()), FLAGS.output))


if __name__ == '__main__':
  tool_util.run(main)
