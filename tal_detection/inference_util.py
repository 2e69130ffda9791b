"""What tools/infer.py does with an exported SavedModel, as library functions.

An export folder (exporter.py) holds the numbered SavedModel versions and,
beside them, pipeline.config (streams and widths), label_map.pbtxt and
time_base.json (the time base the model was trained on). These functions read
those, find the feature files, give each video its frame rate the way the
converter does (the annotation json's "fps" when it has one), run the
serving signature and turn its outputs into ActivityNet results entries.

Results keep the model's float32 values exactly (a Python float holds any
float32): rounding them would move tIoUs across thresholds and tie scores the
model keeps apart, so tools/evaluate_detections.py would no longer give the
Estimator's own evaluation of the same checkpoint.
"""
import glob
import math
import os

import tensorflow as tf

from tal_detection import exporter
from tal_detection.dataset_tools import annotation_util
from tal_detection.dataset_tools import feature_util
from tal_detection.utils import config_util

# The exporter's input names: features_<stream>.
FEATURE_INPUT_PREFIX = 'features_'


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
  """{video id: features_dir} for a .npy file or a folder, in video-id order."""
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


def resolve_time_base(export_dir, fps=None, stride_frames=None,
                      window_frames=None):
  """(fps, stride_frames, window_frames, source): given values over the export's.

  Raises:
    ValueError: when a value is neither given nor stored with the export, or
      is not positive.
  """
  given = {'fps': fps, 'stride_frames': stride_frames,
           'window_frames': window_frames}
  stored = exporter.read_time_base(export_dir) or {}
  values = []
  for key in exporter.TIME_BASE_KEYS:
    value = given[key] if given[key] is not None else stored.get(key)
    if value is None:
      raise ValueError(
          '--%s: not given and the export %s has no %s (exported before time '
          'bases were stored, or from unreadable records); give --fps, '
          '--stride_frames and --window_frames' % (
              key, export_dir, exporter.TIME_BASE_FILE))
    if not value > 0:
      raise ValueError('--%s: must be positive, got %g' % (key, value))
    values.append(float(value))
  flagged = [k for k in exporter.TIME_BASE_KEYS if given[k] is not None]
  if not flagged:
    source = stored.get('source', exporter.TIME_BASE_FILE)
  elif len(flagged) == len(exporter.TIME_BASE_KEYS):
    source = 'flags'
  else:
    source = '%s; %s from flags' % (stored.get('source'), ', '.join(flagged))
  return tuple(values) + (source,)


def time_base_mismatch(export_dir, resampling, stride_frames,
                       window_frames):
  """Why features at this time base are not what the model was trained on,
  or None.

  The model's anchors are in steps: features at another rate than its
  training records' (time_base.json) put every action at the wrong number of
  steps, and the detections go wrong without any error. With --resample_*
  the features are compared after resampling; resampling to a fixed number of
  steps gives every video its own time base, so there is nothing to compare.

  Args:
    export_dir: the export (holding time_base.json, or not: None).
    resampling: feature_util.Resampling the features get first.
    stride_frames, window_frames: the features' time base as given.
  """
  stored = exporter.read_time_base(export_dir)
  if not stored or resampling.num_steps is not None:
    return None
  if resampling.stride_frames is not None:
    stride_frames = resampling.stride_frames
    window_frames = resampling.window_frames
  trained = (float(stored['stride_frames']), float(stored['window_frames']))
  if all(math.isclose(given, value, rel_tol=1e-6) for given, value in zip(
      (stride_frames, window_frames), trained)):
    return None
  return ('the model was trained on features every %g frames over %g-frame '
          'windows (%s), these are every %g over %g%s: resample them as its '
          'records were (--resample_stride_frames=%g '
          '--resample_window_frames=%g from the features as extracted), or '
          'the detections are at the wrong rate' % (
              trained[0], trained[1], exporter.TIME_BASE_FILE, stride_frames,
              window_frames, ' after resampling' if resampling.active else '',
              trained[0], trained[1]))


def steps_fit_duration(num_steps, entry, fps, stride_frames, window_frames):
  """feature_util.num_steps_fit for a video's annotation entry
  (annotation_util.VideoAnnotation or None); True when it gives no duration.
  """
  if entry is None or not entry.duration:
    return True
  return feature_util.num_steps_fit(num_steps, entry.duration, fps,
                                    stride_frames, window_frames)


def annotations_by_video(path, flag):
  """{video id: VideoAnnotation} of every video of a "database" json."""
  try:
    videos, _, _ = annotation_util.read_activitynet_json(path)
  except OSError as e:
    raise ValueError('--%s: %s: %s' % (flag, path, e.strerror or e)) from None
  return {video.video_id: video for video in videos}


def video_fps(video_id, annotations, default_fps):
  """A video's frame rate as the converter reads it: its json "fps", else the
  default (the converter's --fps; here --fps or the export's time base)."""
  entry = annotations.get(video_id)
  if entry is not None and entry.fps is not None:
    return entry.fps
  return default_fps


class ServingFunction(object):
  """An export's serving signature, called from TensorFlow 2 without the
  per-call cost of the bare signature.

  The signature of a SavedModel written by exporter.py (a TF1-style graph,
  as TF Serving loads it) comes back from tf.saved_model.load with an empty
  structured signature. So every keyword call first tries to bind its
  arguments to that, fails, formats every input tensor's values into the
  discarded error message, and then binds them by name: measured on the main
  config's float32 export (188-step video, same weights, calls alternating),
  20.14 ms per bare call against 18.91 ms here, the same graph run.

  Here the signature is called once, while tracing a function of the inputs
  in a fixed order; each call then runs that function's concrete graph with
  the inputs in that order. Outputs are the signature's, bit for bit (tested).

  Call with the signature's input names as keywords (numpy arrays or
  tensors); returns {output name: tensor}.
  """

  def __init__(self, version_dir):
    self._loaded = tf.saved_model.load(version_dir)
    signature = self._loaded.signatures[
        tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY]
    self.input_specs = dict(signature.structured_input_signature[1])
    self._names = sorted(self.input_specs)
    names = self._names

    def call_by_name(*tensors):
      return signature(**dict(zip(names, tensors)))

    self._function = tf.function(
        call_by_name,
        input_signature=[self.input_specs[name] for name in names],
    ).get_concrete_function()

  def __call__(self, **inputs):
    if set(inputs) != set(self._names):
      raise ValueError(
          'serving signature inputs: expected %s, got %s' % (
              ', '.join(self._names), ', '.join(sorted(inputs))))
    # The concrete function converts numpy inputs to its specs' dtypes.
    return self._function(*[inputs[name] for name in self._names])


def run_video(serve, streams, features, fps, stride_frames, window_frames):
  """Detections of one video: list of (start s, end s, class id, score).

  serve: the export's ServingFunction (or its signature: any callable of
  the signature's inputs by name).

  The time parameters go in as float32, as the records give them to the
  Estimator, so both convert steps to seconds with the same numbers.
  """
  num_steps = next(iter(features.values())).shape[0]
  inputs = {FEATURE_INPUT_PREFIX + name: tf.constant(features[name][None])
            for name, _ in streams}
  inputs['num_steps'] = tf.constant([num_steps], tf.int32)
  inputs['fps'] = tf.constant([fps], tf.float32)
  inputs['stride_frames'] = tf.constant([stride_frames], tf.float32)
  inputs['offset_frames'] = tf.constant([window_frames / 2.0], tf.float32)
  outputs = {k: v.numpy() for k, v in serve(**inputs).items()}
  count = int(outputs['num_detections'][0])
  return [(float(s), float(e), int(c), float(p)) for (s, e), c, p in zip(
      outputs['detection_segments'][0][:count],
      outputs['detection_classes'][0][:count],
      outputs['detection_scores'][0][:count])]


def results_entries(detections, class_names):
  """ActivityNet results entries of (start, end, class id, score) detections.

  Values are written unrounded (see the module docstring); a class id without
  a name is written as its number.
  """
  return [{'label': class_names.get(c, str(c)), 'score': p, 'segment': [s, e]}
          for s, e, c, p in detections]


def timeline_duration(num_steps, stride_frames, window_frames, fps,
                      *annotation_entries):
  """Seconds a timeline picture spans: a json's duration, else the frames the
  feature windows cover."""
  for entry in annotation_entries:
    if entry is not None and entry.duration:
      return entry.duration
  return ((num_steps - 1) * stride_frames + window_frames) / fps
