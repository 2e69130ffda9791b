"""Helpers of the data-side tests: tiny datasets on disk, record decoding."""
import glob
import json
import os
import zlib

import numpy as np
import tensorflow as tf

from tal_detection.data_decoders import tf_sequence_example_decoder
from tal_detection.dataset_tools import feature_util

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST_DATA_DIR = os.path.join(REPO_ROOT, 'tests', 'data')
THUMOS_TXT_DIR = os.path.join(TEST_DATA_DIR, 'thumos14_txt')

# ActionFormer-style time parameters used by the tiny datasets.
FPS = 30.0
STRIDE_FRAMES = 4
WINDOW_FRAMES = 16
STREAM_NAMES = ('rgb', 'flow')
STREAM_DIMS = (5, 3)

# A few real THUMOS'14 entries (Validation + Test; durations, fps and segments
# as in thumos14.json, some segments left out). video_validation_0000364's
# real segments [113.6, 117.3] and [120.5, 127.0] start after its end and
# [107.1, 117.3] is made up to reach past it (the converter keeps all three
# as annotated; training sees only their part inside the features).
DATABASE = {
    'video_validation_0000151': {
        'subset': 'Validation', 'duration': 33.57, 'fps': 30.0,
        'annotations': [{'label': 'CleanAndJerk', 'segment': [10.2, 22.9],
                         'label_id': 3}]},
    'video_validation_0000154': {
        'subset': 'Validation', 'duration': 52.53, 'fps': 30.0,
        'annotations': [
            {'label': 'CleanAndJerk', 'segment': [5.4, 11.6], 'label_id': 3},
            {'label': 'CleanAndJerk', 'segment': [13.0, 19.7], 'label_id': 3},
            {'label': 'CleanAndJerk', 'segment': [21.4, 29.3], 'label_id': 3}]},
    'video_validation_0000364': {
        'subset': 'Validation', 'duration': 112.64, 'fps': 30.0,
        'annotations': [
            {'label': 'HighJump', 'segment': [23.0, 32.4], 'label_id': 11},
            {'label': 'HighJump', 'segment': [95.2, 98.6], 'label_id': 11},
            {'label': 'HighJump', 'segment': [98.6, 106.7], 'label_id': 11},
            {'label': 'HighJump', 'segment': [107.1, 117.3], 'label_id': 11},
            {'label': 'HighJump', 'segment': [113.6, 117.3], 'label_id': 11},
            {'label': 'HighJump', 'segment': [120.5, 127.0], 'label_id': 11}]},
    'video_test_0000785': {
        'subset': 'Test', 'duration': 87.98, 'fps': 29.97,
        'annotations': [
            {'label': 'Diving', 'segment': [3.4, 5.6], 'label_id': 7},
            {'label': 'CliffDiving', 'segment': [3.4, 5.6], 'label_id': 4}]},
}


def num_steps_for(duration, fps=FPS):
  return feature_util.expected_num_steps(duration, fps, STRIDE_FRAMES,
                                         WINDOW_FRAMES)


def random_features(video_id, num_steps, dims=STREAM_DIMS, dtype=np.float32):
  """Deterministic random features {stream: [T, D]} of one video."""
  rng = np.random.default_rng(zlib.crc32(video_id.encode('utf-8')))
  return {name: rng.standard_normal((num_steps, dim)).astype(dtype)
          for name, dim in zip(STREAM_NAMES, dims)}


def write_features(features_dir, video_id, features, layout):
  """Writes one video's features in the concat or separate layout."""
  if layout == feature_util.CONCAT:
    os.makedirs(features_dir, exist_ok=True)
    np.save(os.path.join(features_dir, video_id + '.npy'),
            np.concatenate([features[name] for name in STREAM_NAMES], axis=1))
  else:
    for name in STREAM_NAMES:
      os.makedirs(os.path.join(features_dir, name), exist_ok=True)
      np.save(os.path.join(features_dir, name, video_id + '.npy'),
              features[name])


def make_json_dataset(root, layout='concat', dtype=np.float32, database=None):
  """Writes annotations.json + features for DATABASE; returns (json, features
  dir, {video_id: features})."""
  database = database or DATABASE
  features_dir = os.path.join(root, 'features')
  all_features = {}
  for video_id, entry in database.items():
    features = random_features(video_id, num_steps_for(entry['duration'],
                                                       entry['fps']),
                               dtype=dtype)
    write_features(features_dir, video_id, features, layout)
    all_features[video_id] = features
  json_path = os.path.join(root, 'annotations.json')
  with open(json_path, 'w') as f:
    json.dump({'version': 'test', 'database': database}, f)
  return json_path, features_dir, all_features


def decode_records(pattern, stream_names=STREAM_NAMES, stream_dims=STREAM_DIMS):
  """Decodes every record matching pattern eagerly: {video_id: numpy dict}."""
  decoder = tf_sequence_example_decoder.TfSequenceExampleDecoder(stream_names,
                                                                stream_dims)
  result = {}
  for path in sorted(glob.glob(pattern)):
    for record in tf.data.TFRecordDataset(path):
      decoded = tf_sequence_example_decoder.decode_to_numpy(decoder,
                                                            record.numpy())
      result[decoded['video_id'].decode('utf-8')] = decoded
  return result


def listing(directory):
  """All file paths below directory (relative), sorted."""
  paths = []
  for dirpath, _, filenames in os.walk(directory):
    for filename in filenames:
      paths.append(os.path.relpath(os.path.join(dirpath, filename), directory))
  return sorted(paths)
