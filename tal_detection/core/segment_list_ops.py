"""Operations on SegmentLists: length, centre, tIoU, clip, prune, gather, sort, concat.

All vectorised and graph-mode friendly (no Python loops over segments).
"""
import tensorflow as tf

from tal_detection.core import segment_list as segment_list_lib
from tal_detection.utils import shape_utils


def length(segments):
  """Lengths [N] of a SegmentList."""
  start, end = segments.get_start_and_end()
  return end - start


def center(segments):
  """Centres [N] of a SegmentList."""
  start, end = segments.get_start_and_end()
  return (start + end) / 2.0


def pairwise_intersection(segments1, segments2):
  """Intersection lengths [N, M] between two SegmentLists."""
  s1, e1 = segments1.get_start_and_end()
  s2, e2 = segments2.get_start_and_end()
  inter = (tf.minimum(e1[:, None], e2[None, :]) -
           tf.maximum(s1[:, None], s2[None, :]))
  return tf.maximum(inter, 0.0)


def pairwise_iou(segments1, segments2):
  """Temporal IoU [N, M] between two SegmentLists (0 where the union is empty)."""
  inter = pairwise_intersection(segments1, segments2)
  union = length(segments1)[:, None] + length(segments2)[None, :] - inter
  return tf.where(union > 0.0, inter / tf.maximum(union, 1e-12),
                  tf.zeros_like(inter))


def clip_to_window(segments, window, filter_nonoverlapping=True):
  """Clips segments to window [start, end]; optionally drops empty results.

  Args:
    segments: SegmentList.
    window: float tensor [2] (start, end).
    filter_nonoverlapping: drop segments whose clipped length is 0.

  Returns:
    A SegmentList (fields gathered along with the kept segments).
  """
  start, end = segments.get_start_and_end()
  win_start, win_end = window[0], window[1]
  clipped_start = tf.clip_by_value(start, win_start, win_end)
  clipped_end = tf.clip_by_value(end, win_start, win_end)
  clipped = segment_list_lib.SegmentList(
      shape_utils.stack_last_axis([clipped_start, clipped_end]))
  _copy_extra_fields(clipped, segments)
  if filter_nonoverlapping:
    keep = tf.reshape(tf.where(clipped_end > clipped_start), [-1])
    clipped = gather(clipped, keep)
  return clipped


def gather(segments, indices, fields=None):
  """Gathers segments (and the given fields, default all) by int indices."""
  indices = tf.cast(indices, tf.int32)
  result = segment_list_lib.SegmentList(tf.gather(segments.get(), indices))
  if fields is None:
    fields = segments.get_extra_fields()
  for field in fields:
    result.add_field(field, tf.gather(segments.get_field(field), indices))
  return result


def concatenate(segment_lists, fields=None):
  """Concatenates SegmentLists; fields present in all (or the given ones) kept."""
  if not segment_lists:
    raise ValueError('segment_lists must be non-empty')
  if fields is None:
    fields = [f for f in segment_lists[0].get_extra_fields()
              if all(s.has_field(f) for s in segment_lists)]
  result = segment_list_lib.SegmentList(
      tf.concat([s.get() for s in segment_lists], axis=0))
  for field in fields:
    result.add_field(field, tf.concat(
        [s.get_field(field) for s in segment_lists], axis=0))
  return result


def _copy_extra_fields(target, source):
  for field in source.get_extra_fields():
    target.add_field(field, source.get_field(field))
  return target
