"""Builds the classification and localization losses from a `Loss` proto."""
from tal_detection.core import losses


def build(loss_config):
  """Builds one stage's losses and their weights.

  Args:
    loss_config: a losses_pb2.Loss. An unset classification_loss means weighted
      softmax (logit_scale 1), an unset localization_loss means weighted smooth L1
      (delta 1).

  Returns:
    classification_loss: a losses.Loss for class logits.
    localization_loss: a losses.Loss for box encodings.
    classification_weight: float, the weight of the classification term.
    localization_weight: float, the weight of the localization term.

  Raises:
    ValueError: if a weight is negative, logit_scale or delta not positive.
  """
  for field in ('classification_weight', 'localization_weight'):
    value = getattr(loss_config, field)
    if not value >= 0:
      raise ValueError('loss: %s must be >= 0, got %r' % (field, value))
  return (_build_classification_loss(loss_config.classification_loss),
          _build_localization_loss(loss_config.localization_loss),
          loss_config.classification_weight, loss_config.localization_weight)


def _build_classification_loss(config):
  """Builds a classification loss from a ClassificationLoss proto."""
  loss_type = config.WhichOneof('classification_loss')
  if loss_type in (None, 'weighted_softmax'):
    logit_scale = config.weighted_softmax.logit_scale
    if not logit_scale > 0:
      raise ValueError(
          'loss: classification_loss.weighted_softmax.logit_scale must be > 0, '
          'got %r' % logit_scale)
    return losses.WeightedSoftmaxClassificationLoss(logit_scale=logit_scale)
  raise ValueError('loss: unknown classification_loss %r' % loss_type)


def _build_localization_loss(config):
  """Builds a localization loss from a LocalizationLoss proto."""
  loss_type = config.WhichOneof('localization_loss')
  if loss_type in (None, 'weighted_smooth_l1'):
    delta = config.weighted_smooth_l1.delta
    if not delta > 0:
      raise ValueError(
          'loss: localization_loss.weighted_smooth_l1.delta must be > 0, got %r'
          % delta)
    return losses.WeightedSmoothL1LocalizationLoss(delta=delta)
  raise ValueError('loss: unknown localization_loss %r' % loss_type)
