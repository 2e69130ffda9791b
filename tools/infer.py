r"""Runs an exported TAL-Net SavedModel on the features of one video or a folder.

  python tools/infer.py --saved_model_dir=out/exported \
      --features=path/video.npy (or a folder of .npy files) \
      [--feature_layout=concat|separate --stride_frames=4 --window_frames=16 \
       --fps=30] --output=det.json [--plot=timeline.png]

Writes an ActivityNet results json: {"results": {video: [{"label", "score",
"segment": [start, end] in seconds}]}}. Streams and their widths are read from the
pipeline.config exported beside the model; class names from the label map there.
With a folder, --plot names a folder that receives <video>.png per video.
"""
import glob
import json
import os

from absl import flags

from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order
import tensorflow as tf

from tal_detection import exporter
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
flags.DEFINE_float('fps', 30.0, 'Frame rate the features were extracted at.')
flags.DEFINE_integer('stride_frames', 4, 'Frames between consecutive features.')
flags.DEFINE_integer('window_frames', 16, 'Frames each feature sees; its '
                     'centre (window / 2) is the feature time offset.')
flags.DEFINE_string('label_map_path', None, 'Default: label_map.pbtxt beside '
                    'the SavedModel.')
flags.DEFINE_float('min_score', 0.0, 'Drop detections scoring below this.')
flags.DEFINE_string('output', None, 'Results json to write.')
flags.DEFINE_string('plot', None, 'Timeline picture (.png) to draw.')
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


def run_video(signature, streams, features):
  """Detections of one video: list of (start, end, class id, score)."""
  num_steps = next(iter(features.values())).shape[0]
  inputs = {_PREFIX + name: tf.constant(features[name][None])
            for name, _ in streams}
  inputs['num_steps'] = tf.constant([num_steps], tf.int32)
  inputs['fps'] = tf.constant([FLAGS.fps], tf.float32)
  inputs['stride_frames'] = tf.constant([float(FLAGS.stride_frames)])
  inputs['offset_frames'] = tf.constant([FLAGS.window_frames / 2.0])
  outputs = {k: v.numpy() for k, v in signature(**inputs).items()}
  count = int(outputs['num_detections'][0])
  return [(float(s), float(e), int(c), float(p)) for (s, e), c, p in zip(
      outputs['detection_segments'][0][:count],
      outputs['detection_classes'][0][:count],
      outputs['detection_scores'][0][:count])]


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

  signature = tf.saved_model.load(model_dir).signatures['serving_default']
  results = {}
  timelines = {}
  for video_id, directory in videos.items():
    features = feature_util.load_video_features(
        directory, video_id, FLAGS.feature_layout, stream_names,
        [dim for _, dim in streams])
    detections = [d for d in run_video(signature, streams, features)
                  if d[3] >= FLAGS.min_score]
    timelines[video_id] = detections
    results[video_id] = [
        {'label': names.get(c, str(c)), 'score': round(p, 6),
         'segment': [round(s, 3), round(e, 3)]}
        for s, e, c, p in detections]
  with io_util.atomic_open(FLAGS.output) as f:
    json.dump({'version': 'tal-detection', 'results': results,
               'external_data': {}}, f)
  if FLAGS.plot:
    for video_id, detections in timelines.items():
      path = FLAGS.plot if single_plot else os.path.join(FLAGS.plot,
                                                         video_id + '.png')
      png = visualization_utils.timeline_png(video_id, None, [], detections,
                                             names)
      with io_util.atomic_open(path, 'wb') as f:
        f.write(png)
  print('Wrote %d videos, %d detections to %s' % (
      len(results), sum(len(v) for v in results.values()), FLAGS.output))


if __name__ == '__main__':
  tool_util.run(main)
