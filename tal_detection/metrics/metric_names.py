"""The one definition of the evaluation metric names.

The Estimator's evaluator (temporal_detection_evaluator) writes these names to
TensorBoard and to <model_dir>/eval/metrics_<step>.json; the tools that read
those files (run_ablations, summarize_results) find the numbers in them
through the parse functions here, so a name is spelled in one place only:

  DetectionMetrics/mAP@<tIoU>IOU              detection_map(0.5)
  DetectionMetrics/average_mAP                AVERAGE_MAP
  DetectionMetrics_PerClass/AP@<tIoU>IOU/<c>  per_class_ap(0.5, 'c')
  ProposalMetrics/AR@<AN>                     proposal_ar(100)
  ProposalMetrics/AUC@<max AN>                proposal_auc(200)

Numbers are written with '%g' (0.5, 0.55, 100). The short forms `mAP@0.5`
and `AR@100` (short=True, short_name) label table columns.
"""
import math

_DETECTION_MAP = ('DetectionMetrics/mAP@', 'IOU')
_PER_CLASS_AP = 'DetectionMetrics_PerClass/AP@%sIOU/%s'
_PROPOSAL_AR = ('ProposalMetrics/AR@', '')
_PROPOSAL_AUC = 'ProposalMetrics/AUC@%s'
_SHORT_MAP = ('mAP@', '')
_SHORT_AR = ('AR@', '')

AVERAGE_MAP = 'DetectionMetrics/average_mAP'


def format_number(value):
  """A threshold or AN as it appears in a name: '%g' (0.5, 0.55, 100)."""
  return '%g' % value


def _format(affixes, value):
  prefix, suffix = affixes
  return prefix + format_number(value) + suffix


def _parse(affixes, name):
  """The number between prefix and suffix, or None.

  Only what _format writes for a finite number is accepted (the number must
  come back as the same text), so near misses such as 'mAP@0.50IOU' or
  'AR@nan' are not metrics.
  """
  prefix, suffix = affixes
  if not (name.startswith(prefix) and name.endswith(suffix)):
    return None
  text = name[len(prefix):len(name) - len(suffix)]
  try:
    value = float(text)
  except ValueError:
    return None
  if not math.isfinite(value) or format_number(value) != text:
    return None
  return value


def detection_map(tiou, short=False):
  """'DetectionMetrics/mAP@<tiou>IOU' (or 'mAP@<tiou>' with short=True)."""
  return _format(_SHORT_MAP if short else _DETECTION_MAP, tiou)


def per_class_ap(tiou, class_name):
  """'DetectionMetrics_PerClass/AP@<tiou>IOU/<class_name>'."""
  return _PER_CLASS_AP % (format_number(tiou), class_name)


def proposal_ar(an, short=False):
  """'ProposalMetrics/AR@<an>' (or 'AR@<an>' with short=True)."""
  return _format(_SHORT_AR if short else _PROPOSAL_AR, an)


def proposal_auc(max_an):
  """'ProposalMetrics/AUC@<max_an>': area under the AR-AN curve up to max_an."""
  return _PROPOSAL_AUC % format_number(max_an)


def parse_detection_map(name):
  """The tIoU (float) of a detection_map(tiou) name, else None."""
  return _parse(_DETECTION_MAP, name)


def parse_proposal_ar(name):
  """The AN (float) of a proposal_ar(an) name, else None."""
  return _parse(_PROPOSAL_AR, name)


def short_name(name):
  """'mAP@0.5' for detection_map(0.5), 'AR@100' for proposal_ar(100), else None."""
  tiou = parse_detection_map(name)
  if tiou is not None:
    return detection_map(tiou, short=True)
  an = parse_proposal_ar(name)
  if an is not None:
    return proposal_ar(an, short=True)
  return None
