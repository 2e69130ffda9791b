"""Reads temporal annotations: ActivityNet/ActionFormer json, THUMOS'14 txt.

Both readers return a list of VideoAnnotation sorted by video id, with segments
in seconds and class names (ids come from the label map later).

ActivityNet / ActionFormer json layout:
  {"database": {"<video_id>": {"subset": "Validation", "duration": 33.83,
    "fps": 30.0, "annotations": [{"label": "CricketBowling",
    "segment": [0.2, 1.1], "label_id": 5}, ...]}}}
"duration", "fps" and "label_id" are optional ("fps" then comes from a flag,
"duration" from the features).

THUMOS'14 layout: a folder of per-class files <Class>_<split>.txt (e.g.
BaseballPitch_val.txt), one "video_id start end" line per instance;
Ambiguous_<split>.txt marks ambiguous segments; in both layouts they are never a
class: they are kept per video in VideoAnnotation.ambiguous (a video with only
Ambiguous segments is left out of the THUMOS txt reading, as before).
"""
import collections
import json
import math
import os
import re

AMBIGUOUS_CLASS = 'Ambiguous'


class Segment(collections.namedtuple('Segment', ['start', 'end', 'label'])):
  """One annotated instance: start/end in seconds and the class name."""


class VideoAnnotation(collections.namedtuple(
    'VideoAnnotation', ['video_id', 'subset', 'duration', 'fps', 'segments',
                        'label_ids', 'ambiguous'])):
  """The annotation of one video.

  Fields:
    video_id: string.
    subset: split name as in the source (e.g. 'Validation'), or None.
    duration: seconds, or None when the source has none.
    fps: frames per second, or None when the source has none.
    segments: list of Segment.
    label_ids: dict class name -> label_id as given in the source json (may be
      empty); used only to order a new label map.
    ambiguous: list of (start, end) seconds of the video's Ambiguous segments
      (never a class or a training target; kept for the THUMOS'14 kit protocol).
  """


VideoAnnotation.__new__.__defaults__ = ((),)


def _is_number(value):
  return (isinstance(value, (int, float)) and not isinstance(value, bool) and
          math.isfinite(value))


def _subset_matches(subset, wanted):
  """Case-insensitive subset match; 'val' = 'validation', 'testing' = 'test'."""
  aliases = {'val': 'validation', 'testing': 'test', 'training': 'train'}
  normalize = lambda s: aliases.get(s.lower(), s.lower())
  return subset is not None and normalize(subset) == normalize(wanted)


def read_activitynet_json(path, subset=None):
  """Reads an ActivityNet/ActionFormer annotation json.

  Args:
    path: json file path.
    subset: keep only videos of this subset (case-insensitive; 'val' matches
      'Validation'); None or '' keeps all.

  Returns:
    (videos, all_label_ids, num_other_subset): videos is the list of
    VideoAnnotation of the subset sorted by id; all_label_ids maps every class
    name seen in the whole database (all subsets) to its source label_id or
    None, so a label map made from it is the same for every subset;
    num_other_subset counts the videos left out by `subset`.

  Raises:
    ValueError: naming the file (and video) on a missing/unparseable file or a
      malformed entry, or when no video is of the requested subset.
  """
  if not os.path.isfile(path):
    raise ValueError('annotation file %s does not exist' % path)
  try:
    with open(path, 'r', encoding='utf-8') as f:
      data = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise ValueError('cannot read annotation json %s: %s' % (path, e)) from e
  if not isinstance(data, dict) or not isinstance(data.get('database'), dict):
    raise ValueError('annotation json %s has no "database" object' % path)

  videos = []
  all_label_ids = {}
  subsets_seen = set()
  num_other_subset = 0
  for video_id in sorted(data['database']):
    entry = data['database'][video_id]
    where = 'annotation json %s, video %s' % (path, video_id)
    if not isinstance(entry, dict):
      raise ValueError('%s: entry is not an object' % where)
    video_subset = entry.get('subset')
    if video_subset is not None:
      subsets_seen.add(str(video_subset))
    duration = entry.get('duration')
    if duration is not None and not _is_number(duration):
      raise ValueError('%s: duration %r is not a number' % (where, duration))
    fps = entry.get('fps')
    if fps is not None and (not _is_number(fps) or fps <= 0):
      raise ValueError('%s: fps %r is not a positive number' % (where, fps))
    annotations = entry.get('annotations', [])
    if not isinstance(annotations, list):
      raise ValueError('%s: "annotations" is not a list' % where)
    segments = []
    ambiguous = []
    label_ids = {}
    for index, annotation in enumerate(annotations):
      if not isinstance(annotation, dict):
        raise ValueError('%s: annotation %d is not an object' % (where, index))
      label = annotation.get('label')
      segment = annotation.get('segment')
      if not isinstance(label, str) or not label:
        raise ValueError('%s: annotation %d has no "label"' % (where, index))
      if (not isinstance(segment, (list, tuple)) or len(segment) != 2 or
          not all(_is_number(v) for v in segment)):
        raise ValueError('%s: annotation %d "segment" must be two finite '
                         'numbers [start, end], got %r' %
                         (where, index, segment))
      if label == AMBIGUOUS_CLASS:
        ambiguous.append((float(segment[0]), float(segment[1])))
        continue
      segments.append(Segment(float(segment[0]), float(segment[1]), label))
      label_id = annotation.get('label_id')
      if label_id is not None and not isinstance(label_id, int):
        raise ValueError('%s: annotation %d "label_id" %r is not an integer' %
                         (where, index, label_id))
      label_ids[label] = label_id
      if all_label_ids.get(label) is None:
        all_label_ids[label] = label_id
      elif label_id is not None and all_label_ids[label] != label_id:
        # Inconsistent source ids: fall back to alphabetical order later.
        all_label_ids[label] = -1
    if subset and not _subset_matches(video_subset, subset):
      num_other_subset += 1
      continue
    videos.append(VideoAnnotation(
        video_id=str(video_id), subset=video_subset,
        duration=float(duration) if duration is not None else None,
        fps=float(fps) if fps is not None else None, segments=segments,
        label_ids=label_ids, ambiguous=sorted(ambiguous)))
  if subset and not videos:
    raise ValueError(
        'annotation json %s has no video of subset %r (subsets: %s)' %
        (path, subset, ', '.join(sorted(subsets_seen)) or 'none'))
  return videos, all_label_ids, num_other_subset


_THUMOS_FILE_RE = re.compile(r'^(?P<label>.+)_(?P<split>[^_]+)\.txt$')


def read_thumos_annotation_dir(directory, subset=None):
  """Reads the original THUMOS'14 per-class annotation files.

  Args:
    directory: folder of <Class>_<split>.txt files.
    subset: keep only files of this split (e.g. 'val', 'validation', 'test');
      None or '' keeps all.

  Returns:
    (videos, class_names, num_ambiguous): videos is the list of VideoAnnotation
    (duration and fps None) of videos with at least one non-ambiguous instance,
    sorted by id; class_names the sorted names of all non-ambiguous class files
    in the folder (every split, so train and test share a label map);
    num_ambiguous the number of Ambiguous segments skipped.

  Raises:
    ValueError: naming the file and line on a malformed line, or when the folder
      is missing or holds no annotation file of the subset.
  """
  if not os.path.isdir(directory):
    raise ValueError('THUMOS annotation folder %s does not exist' % directory)
  per_video = collections.defaultdict(list)
  ambiguous = collections.defaultdict(list)
  class_names = set()
  num_ambiguous = 0
  num_files = 0
  for filename in sorted(os.listdir(directory)):
    match = _THUMOS_FILE_RE.match(filename)
    if not match:
      continue
    label = match.group('label')
    if label != AMBIGUOUS_CLASS:
      class_names.add(label)
    if subset and not _subset_matches(match.group('split'), subset):
      continue
    num_files += 1
    path = os.path.join(directory, filename)
    try:
      with open(path, 'r', encoding='utf-8') as f:
        lines = f.readlines()
    except (OSError, UnicodeDecodeError) as e:
      raise ValueError('cannot read THUMOS annotation file %s: %s' %
                       (path, e)) from e
    for line_number, line in enumerate(lines, start=1):
      parts = line.split()
      if not parts:
        continue
      try:
        if len(parts) != 3:
          raise ValueError
        start, end = float(parts[1]), float(parts[2])
        if not (math.isfinite(start) and math.isfinite(end)):
          raise ValueError
      except ValueError:
        raise ValueError(  # pylint: disable=raise-missing-from
            'THUMOS annotation file %s line %d: expected "video_id start end", '
            'got %r' % (path, line_number, line.strip()))
      if label == AMBIGUOUS_CLASS:
        num_ambiguous += 1
        ambiguous[parts[0]].append((start, end))
        continue
      per_video[parts[0]].append(Segment(start, end, label))
  if num_files == 0:
    raise ValueError('THUMOS annotation folder %s has no <Class>_<split>.txt '
                     'file%s' % (directory, ' of split %r' % subset if subset
                                 else ''))
  videos = [VideoAnnotation(video_id=video_id, subset=subset or None,
                            duration=None, fps=None,
                            segments=sorted(per_video[video_id]), label_ids={},
                            ambiguous=sorted(ambiguous.get(video_id, [])))
            for video_id in sorted(per_video)]
  return videos, sorted(class_names), num_ambiguous


def label_names_in_order(all_label_ids):
  """Orders class names for a new label map.

  Uses the source's label_id order when every class has a distinct integer id
  (ActionFormer's 0-based alphabetical ids give ids 1..C in the same order);
  otherwise sorts names alphabetically.

  Args:
    all_label_ids: dict class name -> source label_id or None (-1 marks an
      inconsistent id).
  """
  names = sorted(all_label_ids)
  ids = [all_label_ids[name] for name in names]
  if all(isinstance(i, int) and i >= 0 for i in ids) and len(set(ids)) == len(
      ids):
    return sorted(names, key=lambda name: all_label_ids[name])
  return names
