"""Builds a Matcher from a matcher_pb2.Matcher config."""
from tal_detection.matchers import argmax_matcher
from tal_detection.meta_architectures import tal_net_defaults

# Resolving a partial matcher against its stage's defaults is pure proto work,
# so it lives beside the defaults (config validation uses it without TF).
ARGMAX_MATCHER_FIELDS = tal_net_defaults.ARGMAX_MATCHER_FIELDS
argmax_matcher_settings = tal_net_defaults.argmax_matcher_settings


def build(matcher_config, defaults):
  """Builds the matcher a Matcher proto describes.

  Args:
    matcher_config: matcher_pb2.Matcher, or None.
    defaults: the serving stage's settings (see argmax_matcher_settings).

  Returns:
    a core.matcher.Matcher.

  Raises:
    ValueError: if the config is not a Matcher proto or the settings are
      invalid (e.g. unmatched_threshold > matched_threshold).
  """
  settings = argmax_matcher_settings(matcher_config, defaults)
  try:
    return argmax_matcher.ArgMaxMatcher(**settings)
  except ValueError as e:
    raise ValueError('argmax_matcher: %s' % e)
