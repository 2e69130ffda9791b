"""Builds a Matcher from a matcher_pb2.Matcher config."""
from tal_detection.matchers import argmax_matcher
from tal_detection.protos import matcher_pb2


def build(matcher_config, default=None):
  """Builds the matcher a Matcher proto describes.

  Args:
    matcher_config: matcher_pb2.Matcher, or None.
    default: dict of ArgMaxMatcher keyword arguments used when matcher_config
      is None or has no oneof set (the two stages have different defaults:
      first stage 0.7 / 0.3 with forced matches, second 0.5 / 0.5 without).
      None: ArgMaxMatcher's own defaults.

  Returns:
    a core.matcher.Matcher.

  Raises:
    ValueError: if the config is not a Matcher proto or has invalid values
      (e.g. unmatched_threshold > matched_threshold).
  """
  if matcher_config is not None and not isinstance(matcher_config,
                                                   matcher_pb2.Matcher):
    raise ValueError('matcher_config must be a matcher_pb2.Matcher, got %s' %
                     type(matcher_config).__name__)
  which = (matcher_config.WhichOneof('matcher_oneof')
           if matcher_config is not None else None)
  if which is None:
    return argmax_matcher.ArgMaxMatcher(**(default or {}))
  config = matcher_config.argmax_matcher
  try:
    return argmax_matcher.ArgMaxMatcher(
        matched_threshold=config.matched_threshold,
        unmatched_threshold=config.unmatched_threshold,
        negatives_lower_than_unmatched=config.negatives_lower_than_unmatched,
        force_match_for_each_row=config.force_match_for_each_row,
        ignore_thresholds=config.ignore_thresholds)
  except ValueError as e:
    raise ValueError('argmax_matcher: %s' % e)
