"""Readers for ActivityNet-format ground truth and results json files.

Ground truth (`database` layout, as ActivityNet and the THUMOS'14 I3D feature release
use it):

    {"database": {"<video>": {"subset": "Test", "duration": 33.8,
        "annotations": [{"label": "CricketBowling", "segment": [0.2, 1.1]}, ...]}}}

Results (detections or proposals):

    {"results": {"<video>": [{"label": "CricketBowling", "score": 0.9,
        "segment": [0.3, 1.2]}, ...]}}

Segments are in seconds and may be numbers or numeric strings. Ground-truth
annotations labelled `Ambiguous` are never a class: they are returned apart (the
THUMOS'14 kit protocol drops false positives overlapping them). Malformed input raises
ValueError naming the file, the video, the entry and the field.
"""
import collections
import json
import math

import numpy as np

GroundTruth = collections.namedtuple(
    'GroundTruth',
    ['video_ids',  # list [N] of the video id of each instance.
     'segments',  # [N, 2] float64 seconds.
     'labels',  # [N] int64 index into class_names.
     'class_names',  # list of class names.
     'videos',  # list of every selected video id (also those without instances).
     'ambiguous_video_ids',  # list [A]: video of each Ambiguous segment.
     'ambiguous_segments',  # [A, 2] float64 seconds (never a class).
    ])
GroundTruth.__new__.__defaults__ = ((), np.zeros((0, 2)))

# Annotations with this label mark segments the THUMOS'14 kit neither rewards nor
# penalises; they are kept apart from the classes under every protocol.
AMBIGUOUS_LABEL = 'Ambiguous'

Detections = collections.namedtuple(
    'Detections',
    ['video_ids',  # list [P].
     'segments',  # [P, 2] float64 seconds.
     'scores',  # [P] float64.
     'labels',  # [P] int64 index into the class names (None for proposals).
    ])


def load_json(path):
  """Reads a json file; ValueError naming the file if it cannot be read/parsed."""
  try:
    with open(path, 'r') as f:
      return json.load(f)
  except OSError as e:
    raise ValueError('%s: cannot read file (%s)' % (path, e.strerror or e))
  except ValueError as e:
    raise ValueError('%s: not valid json (%s)' % (path, e))


def _parse_number(value, where, field):
  if isinstance(value, bool):
    raise ValueError('%s: %s must be a number, got %r' % (where, field, value))
  try:
    number = float(value)
  except (TypeError, ValueError):
    raise ValueError('%s: %s must be a number, got %r' % (where, field, value))
  if not math.isfinite(number):
    raise ValueError('%s: %s must be finite, got %r' % (where, field, value))
  return number


def parse_segment(segment, where):
  """[start, end] from a json segment (numbers or numeric strings).

  Args:
    segment: the json value.
    where: description of the entry for error messages.

  Returns:
    (start, end) floats with end > start.

  Raises:
    ValueError: if the segment is not two finite numbers with end > start.
  """
  if not isinstance(segment, (list, tuple)) or len(segment) != 2:
    raise ValueError('%s: segment must be [start, end], got %r' % (where, segment))
  start = _parse_number(segment[0], where, 'segment start')
  end = _parse_number(segment[1], where, 'segment end')
  if end <= start:
    raise ValueError('%s: segment end %r <= start %r' % (where, end, start))
  return start, end


def _require_mapping(value, where, what):
  if not isinstance(value, dict):
    raise ValueError('%s: %s must be a json object, got %s' %
                     (where, what, type(value).__name__))
  return value


def load_ground_truth(path, subset=None, class_names=None):
  """Loads ground-truth instances of one subset from a `database` json.

  Args:
    path: json file path.
    subset: subset name to keep (case-insensitive, e.g. 'Test', 'validation');
      None keeps every video.
    class_names: optional list of class names fixing the class order; labels outside
      it are errors. None: every label found in the database (all subsets, so classes
      absent from the subset are still known), in first-appearance order.

  Returns:
    A GroundTruth.

  Raises:
    ValueError: on a malformed file, naming the file, video and field.
  """
  data = _require_mapping(load_json(path), path, 'the top level')
  if 'database' not in data:
    raise ValueError("%s: missing top-level key 'database'" % path)
  database = _require_mapping(data['database'], path, "'database'")
  fixed_classes = class_names is not None
  class_index = {name: i for i, name in enumerate(class_names or [])}
  wanted = subset.lower() if subset is not None else None
  video_ids, segments, labels, videos = [], [], [], []
  ambiguous_video_ids, ambiguous_segments = [], []
  subsets_seen = set()
  for video_id, video in database.items():
    where = '%s: video %r' % (path, video_id)
    _require_mapping(video, where, 'the video entry')
    if wanted is not None:
      if 'subset' not in video:
        raise ValueError("%s: missing field 'subset'" % where)
      subsets_seen.add(str(video['subset']))
    annotations = video.get('annotations')
    if annotations is None:
      raise ValueError("%s: missing field 'annotations'" % where)
    if not isinstance(annotations, list):
      raise ValueError("%s: 'annotations' must be a list" % where)
    selected = wanted is None or str(video['subset']).lower() == wanted
    for i, annotation in enumerate(annotations):
      entry = '%s annotation %d' % (where, i)
      _require_mapping(annotation, entry, 'the annotation')
      for field in ('label', 'segment'):
        if field not in annotation:
          raise ValueError("%s: missing field '%s'" % (entry, field))
      label = str(annotation['label'])
      if label == AMBIGUOUS_LABEL:
        start, end = parse_segment(annotation['segment'], entry)
        if selected:
          ambiguous_video_ids.append(video_id)
          ambiguous_segments.append((start, end))
        continue
      if label not in class_index:
        if fixed_classes:
          raise ValueError('%s: label %r is not one of the %d known classes' %
                           (entry, label, len(class_index)))
        class_index[label] = len(class_index)
      start, end = parse_segment(annotation['segment'], entry)
      if selected:
        video_ids.append(video_id)
        segments.append((start, end))
        labels.append(class_index[label])
    if selected:
      videos.append(video_id)
  if wanted is not None and not videos:
    raise ValueError('%s: no video in subset %r (subsets present: %s)' %
                     (path, subset, ', '.join(sorted(subsets_seen)) or 'none'))
  names = list(class_index)
  return GroundTruth(
      video_ids=video_ids,
      segments=np.asarray(segments, dtype=np.float64).reshape(-1, 2),
      labels=np.asarray(labels, dtype=np.int64),
      class_names=names,
      videos=videos,
      ambiguous_video_ids=ambiguous_video_ids,
      ambiguous_segments=np.asarray(ambiguous_segments,
                                    dtype=np.float64).reshape(-1, 2))


def load_thumos_ambiguous_txt(path, videos=None):
  """Reads a THUMOS'14 `Ambiguous_<split>.txt` ("video start end" per line).

  Args:
    path: the txt file.
    videos: optional collection of video ids; lines of other videos are skipped
      (e.g. the videos of the evaluated subset).

  Returns:
    (video_ids list [A], segments [A, 2] float64 seconds).

  Raises:
    ValueError: naming the file and line, if it cannot be read or a line is not
      `video start end` with end > start.
  """
  try:
    with open(path, 'r') as f:
      lines = f.read().splitlines()
  except OSError as e:
    raise ValueError('%s: cannot read file (%s)' % (path, e.strerror or e))
  video_ids, segments = [], []
  for number, line in enumerate(lines, 1):
    fields = line.split()
    if not fields:
      continue
    where = '%s: line %d' % (path, number)
    if len(fields) != 3:
      raise ValueError('%s: expected "video start end", got %r' % (where, line))
    start, end = parse_segment(fields[1:], where)
    if videos is None or fields[0] in videos:
      video_ids.append(fields[0])
      segments.append((start, end))
  return video_ids, np.asarray(segments, dtype=np.float64).reshape(-1, 2)


def _load_results(path, class_names, need_labels):
  data = _require_mapping(load_json(path), path, 'the top level')
  if 'results' not in data:
    raise ValueError("%s: missing top-level key 'results'" % path)
  results = _require_mapping(data['results'], path, "'results'")
  class_index = ({name: i for i, name in enumerate(class_names)}
                 if need_labels else None)
  video_ids, segments, scores, labels = [], [], [], []
  for video_id, entries in results.items():
    where = '%s: results[%r]' % (path, video_id)
    if not isinstance(entries, list):
      raise ValueError('%s: must be a list of {label, score, segment}' % where)
    for i, entry in enumerate(entries):
      entry_where = '%s entry %d' % (where, i)
      _require_mapping(entry, entry_where, 'the entry')
      required = ('label', 'score', 'segment') if need_labels else ('score',
                                                                   'segment')
      for field in required:
        if field not in entry:
          raise ValueError("%s: missing field '%s'" % (entry_where, field))
      start, end = parse_segment(entry['segment'], entry_where)
      score = _parse_number(entry['score'], entry_where, 'score')
      if need_labels:
        label = str(entry['label'])
        if label not in class_index:
          raise ValueError('%s: label %r is not a class of the ground truth' %
                           (entry_where, label))
        labels.append(class_index[label])
      video_ids.append(video_id)
      segments.append((start, end))
      scores.append(score)
  return Detections(
      video_ids=video_ids,
      segments=np.asarray(segments, dtype=np.float64).reshape(-1, 2),
      scores=np.asarray(scores, dtype=np.float64),
      labels=np.asarray(labels, dtype=np.int64) if need_labels else None)


def load_detections(path, class_names):
  """Loads detections from a results json, in file order.

  Args:
    path: json file path.
    class_names: list of class names (e.g. GroundTruth.class_names); a detection
      with another label is an error.

  Returns:
    A Detections with labels indexing class_names.

  Raises:
    ValueError: on a malformed file, naming the file, video, entry and field.
  """
  return _load_results(path, class_names, need_labels=True)


def load_proposals(path):
  """Loads class-agnostic proposals (labels, if any, are ignored) from a results json.

  Returns:
    A Detections with labels None.

  Raises:
    ValueError: on a malformed file, naming the file, video, entry and field.
  """
  return _load_results(path, None, need_labels=False)
