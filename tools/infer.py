r"""Runs an exported TAL-Net SavedModel on the features of one video or a folder.

  python tools/infer.py --saved_model_dir=out/exported \
      --features=path/video.npy (or a folder of .npy files) --output=det.json \
      [--feature_layout=concat|separate] [--annotations_json=videos.json] \
      [--fps=10 --stride_frames=16 --window_frames=16] \
      [--plot=timeline.png|folder --groundtruth=gt.json --plot_top_k=20]

Writes an ActivityNet results json: {"results": {video: [{"label", "score",
"segment": [start, end] in seconds}]}}. Streams and their widths are read from the
pipeline.config exported beside the model, class names from the label map
there, and the time base (fps, stride, window in frames) from time_base.json
there: the one the model was trained on. --fps/--stride_frames/--window_frames
override it; --annotations_json gives each video its own fps (and duration)
from its "database" entry. With a folder, --plot names a folder that receives
<video>.png per video; --groundtruth (a "database" json) adds the ground-truth
rows.
"""
import glob
import json
import os

from absl import flags
from absl import logging

from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order
import tensorflow as tf

from tal_detection import exporter
from tal_detection.dataset_tools import annotation_util
from tal_detection.dataset_tools import feature_util
from tal_detection.utils import config_util
from tal_detection.utils import io_util
from tal_detection.utils import label_map_util
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
flags.DEFINE_string('plot', None, 'Timeline picture (.png) to draw; a folder '
                    'when --features is a folder.')
FLAGS = flags.FLAGS

_PREFIX = 'features_'  # the exporter's input names: features_<stream>


def exported_streams(export_dir):
  """[(stream name, feature dim)] in config order, from the exported config.

  The order matters: with the concat layout it says which columns of the .npy
  file belong to which stream.
  """
  path = os.path.join(export_dir, 'pipeline.config')
  if not os.path.exists(path):
    raise ValueError('--saved_model_dir: no pipeline.config beside the '
                     'SavedModel in %s (export with '
                     'tools/export_saved_model.py)' % export_dir)
  return config_util.get_stream_specs(
      config_util.read_pipeline_config(path).model)


def video_files(features, layout, stream_names):
  """{video id: features_dir} for a .npy file or a folder."""
  if os.path.isfile(features):
    if not features.endswith('.npy'):
      raise ValueError('--features: %s is not a .npy file' % features)
    video_id = os.path.splitext(os.path.basename(features))[0]
    directory = os.path.dirname(features)
    if layout == feature_util.SEPARATE:
      directory = os.path.dirname(directory)
    return {video_id: directory}
  if not os.path.isdir(features):
    raise ValueError('--features: %s does not exist' % features)
  probe = features if layout == feature_util.CONCAT else os.path.join(
      features, stream_names[0])
  ids = sorted(os.path.splitext(os.path.basename(p))[0]
               for p in glob.glob(os.path.join(probe, '*.npy')))
  if not ids:
    raise ValueError('--features: no .npy files in %s' % probe)
  return {video_id: features for video_id in ids}


def time_base(export_dir):
  """(fps, stride_frames, window_frames, source): flags over time_base.json.

  Raises:
    ValueError: when a value is neither given nor stored with the export.
  """
  stored = exporter.read_time_base(export_dir) or {}
  values = []
  for key in exporter.TIME_BASE_KEYS:
    value = getattr(FLAGS, key)
    if value is None:
      value = stored.get(key)
    if value is None:
      raise ValueError(
          '--%s: not given and the export %s has no %s (exported before time '
          'bases were stored, or from unreadable records); give --fps, '
          '--stride_frames and --window_frames' % (
              key, export_dir, exporter.TIME_BASE_FILE))
    if not value > 0:
      raise ValueError('--%s: must be positive, got %g' % (key, value))
    values.append(float(value))
  given = [k for k in exporter.TIME_BASE_KEYS if getattr(FLAGS, k) is not None]
  if not given:
    source = stored.get('source', exporter.TIME_BASE_FILE)
  elif len(given) == len(exporter.TIME_BASE_KEYS):
    source = 'flags'
  else:
    source = '%s; %s from flags' % (stored.get('source'), ', '.join(given))
  return tuple(values) + (source,)


def annotations_by_video(path, flag):
  """{video id: VideoAnnotation} of every video of a database json."""
  try:
    videos, _, _ = annotation_util.read_activitynet_json(path)
  except OSError as e:
    raise ValueError('--%s: %s: %s' % (flag, path, e.strerror or e)) from None
  return {video.video_id: video for video in videos}


def run_video(signature, streams, features, fps, stride_frames, window_frames):
  """Detections of one video: list of (start, end, class id, score)."""
  num_steps = next(iter(features.values())).shape[0]
  inputs = {_PREFIX + name: tf.constant(features[name][None])
            for name, _ in streams}
  inputs['num_steps'] = tf.constant([num_steps], tf.int32)
  inputs['fps'] = tf.constant([fps], tf.float32)
  inputs['stride_frames'] = tf.constant([stride_frames], tf.float32)
  inputs['offset_frames'] = tf.constant([window_frames / 2.0], tf.float32)
  outputs = {k: v.numpy() for k, v in signature(**inputs).items()}
  count = int(outputs['num_detections'][0])
  return [(float(s), float(e), int(c), float(p)) for (s, e), c, p in zip(
      outputs['detection_segments'][0][:count],
      outputs['detection_classes'][0][:count],
      outputs['detection_scores'][0][:count])]


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
  streams = exported_streams(export_dir)
  stream_names = [name for name, _ in streams]
  videos = video_files(FLAGS.features, FLAGS.feature_layout, stream_names)
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
  fps, stride_frames, window_frames, source = time_base(export_dir)
  annotations = (annotations_by_video(FLAGS.annotations_json,
                                      'annotations_json')
                 if FLAGS.annotations_json else {})
  groundtruth = (annotations_by_video(FLAGS.groundtruth, 'groundtruth')
                 if FLAGS.groundtruth else None)
  name_to_id = {name: i for i, name in names.items()}

  signature = tf.saved_model.load(model_dir).signatures['serving_default']
  results = {}
  pictures = {}
  for video_id, directory in videos.items():
    features = feature_util.load_video_features(
        directory, video_id, FLAGS.feature_layout, stream_names,
        [dim for _, dim in streams])
    entry = annotations.get(video_id)
    video_fps = entry.fps if entry is not None and entry.fps else fps
    detections = [d for d in run_video(signature, streams, features,
                                       video_fps, stride_frames, window_frames)
                  if d[3] >= FLAGS.min_score]
    results[video_id] = [
        {'label': names.get(c, str(c)), 'score': round(p, 6),
         'segment': [round(s, 3), round(e, 3)]}
        for s, e, c, p in detections]
    if FLAGS.plot:
      num_steps = next(iter(features.values())).shape[0]
      # The frames the feature windows cover, unless a json knows better.
      duration = ((num_steps - 1) * stride_frames + window_frames) / video_fps
      gt_entry = groundtruth.get(video_id) if groundtruth is not None else None
      for known in (entry, gt_entry):
        if known is not None and known.duration:
          duration = known.duration
      gt_segments = None
      if groundtruth is not None:
        gt_segments = [] if gt_entry is None else [
            (seg.start, seg.end, _class_id(seg.label, name_to_id, video_id))
            for seg in gt_entry.segments]
      pictures[video_id] = (duration, gt_segments, detections)
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
