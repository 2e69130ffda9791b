"""What both TAL-Net stages do alike: weigh their losses, keep segments inside
their video, and keep empty segments out of NMS."""
import collections

import tensorflow as tf

# Score of segments that must never survive NMS (they are empty after
# clipping); every NMS threshold of a valid config is >= 0.
INVALID_SCORE = -1.0

# Segments this short after clipping count as empty.
_EMPTY_LENGTH = 1e-6

StageLosses = collections.namedtuple(
    'StageLosses', ['classification_loss', 'localization_loss',
                    'classification_weight', 'localization_weight'])
StageLosses.__doc__ = """One stage's per-element losses and their weights.

Fields are losses_builder.build's results, in its order: the classification
and localization core.losses.Loss objects, then the float weights.
"""


def clip_to_videos(segments, num_steps):
  """Clips [B, ..., 2] segments to their video's [0, num_steps[b]].

  Returns:
    (start, end), each [B, ...].
  """
  length = tf.cast(num_steps, tf.float32)
  # One index op: [:, None] for [B, N, 2], [:, None, None] for [B, N, C, 2].
  length = length[(slice(None),) + (None,) * (segments.shape.rank - 2)]
  start = tf.clip_by_value(segments[..., 0], 0.0, length)
  end = tf.clip_by_value(segments[..., 1], 0.0, length)
  return start, end


def exclude_empty_segments(scores, start, end):
  """scores, with INVALID_SCORE where end - start is (almost) zero."""
  empty = end - start <= _EMPTY_LENGTH
  return tf.where(empty, INVALID_SCORE * tf.ones_like(scores), scores)


def weighted_stage_losses(losses, classification, localization, normalizer):
  """A stage's two scalar losses from its per-element ones.

  Args:
    losses: the stage's StageLosses (for the weights).
    classification: [B, N] per-element classification loss.
    localization: [B, N] per-element localization loss.
    normalizer: [B], each video's minibatch size.

  Returns:
    (classification, localization) scalars: the mean over videos of each
    video's summed loss / its normalizer, times the loss's weight.
  """
  classification = tf.reduce_mean(tf.reduce_sum(classification, 1) /
                                  normalizer)
  localization = tf.reduce_mean(tf.reduce_sum(localization, 1) / normalizer)
  return (losses.classification_weight * classification,
          losses.localization_weight * localization)
