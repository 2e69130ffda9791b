"""The TAL-Net defaults that no proto field can carry: each stage's matcher.

Every other default of a TalNet config is its field's proto default
(protos/tal_net.proto and the messages it uses). The ArgMaxMatcher message
configures both stages, which want different values, so its fields have no
proto defaults; model_builder gives each stage's matcher the stage's dict
below, and a field the config names replaces that one value only
(argmax_matcher_settings below, used by the builder and by validation).
"""
from tal_detection.protos import matcher_pb2

# Anchors (Faster R-CNN's RPN, paper §4): positive at tIoU >= 0.7, negative
# below 0.3, and every ground truth claims its best anchor.
FIRST_STAGE_MATCHER = dict(
    matched_threshold=0.7, unmatched_threshold=0.3,
    negatives_lower_than_unmatched=True, force_match_for_each_row=True,
    ignore_thresholds=False)

# Proposals (Fast R-CNN): foreground at tIoU >= 0.5, background below; no
# forced matches, so a ground truth without a good proposal trains nothing.
SECOND_STAGE_MATCHER = dict(
    matched_threshold=0.5, unmatched_threshold=0.5,
    negatives_lower_than_unmatched=True, force_match_for_each_row=False,
    ignore_thresholds=False)

# TalNet field name -> the defaults of the matcher it configures.
MATCHER_DEFAULTS = {
    'first_stage_matcher': FIRST_STAGE_MATCHER,
    'second_stage_matcher': SECOND_STAGE_MATCHER,
}


# ArgMaxMatcher fields, which are also ArgMaxMatcher's keyword arguments.
ARGMAX_MATCHER_FIELDS = tuple(
    field.name for field in matcher_pb2.ArgMaxMatcher.DESCRIPTOR.fields)


def argmax_matcher_settings(matcher_config, defaults):
  """The arg-max matcher a (possibly partial or absent) Matcher describes.

  Args:
    matcher_config: matcher_pb2.Matcher, or None.
    defaults: dict with a value for every ARGMAX_MATCHER_FIELDS name: the
      settings of the stage this matcher serves (meta_architectures/
      tal_net_defaults.py).

  Returns:
    dict of ArgMaxMatcher keyword arguments: `defaults`, with each field the
    config sets replacing its value. An absent matcher, one with no oneof set
    and `argmax_matcher {}` all give `defaults`.

  Raises:
    ValueError: if matcher_config is not a Matcher proto or `defaults` misses
      a field.
  """
  if matcher_config is not None and not isinstance(matcher_config,
                                                   matcher_pb2.Matcher):
    raise ValueError('matcher_config must be a matcher_pb2.Matcher, got %s' %
                     type(matcher_config).__name__)
  missing = sorted(set(ARGMAX_MATCHER_FIELDS) - set(defaults))
  if missing:
    raise ValueError('matcher defaults miss %s' % ', '.join(missing))
  settings = {name: defaults[name] for name in ARGMAX_MATCHER_FIELDS}
  if (matcher_config is not None and
      matcher_config.WhichOneof('matcher_oneof') == 'argmax_matcher'):
    # ListFields lists only the fields the config sets.
    for field, value in matcher_config.argmax_matcher.ListFields():
      settings[field.name] = value
  return settings
