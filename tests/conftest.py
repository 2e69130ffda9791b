"""Session fixtures shared by the train / evaluate / export / inference tests.

The expensive parts (a tiny dataset, a model trained a few steps by
tools/model_main.py, its SavedModel) are made once per test session.
"""
import os

import pytest

import model_lib_test_util as util

TRAINED_STEPS = 6


class TrainedModel(object):
  """A model_dir written by one tools/model_main.py run."""

  def __init__(self, model_dir, num_steps, config_override, output):
    self.model_dir = model_dir
    self.num_steps = num_steps
    self.config_override = config_override
    self.output = output  # stdout + stderr of the run


@pytest.fixture(scope='session')
def tiny_dataset(tmp_path_factory):
  return util.write_tiny_dataset(
      str(tmp_path_factory.mktemp('tiny_dataset') / 'synthetic'))


@pytest.fixture(scope='session')
def trained_model(tiny_dataset, tmp_path_factory):
  """tools/model_main.py: train TRAINED_STEPS steps, then one evaluation."""
  model_dir = str(tmp_path_factory.mktemp('trained') / 'model')
  # One checkpoint interval = the whole run: a single evaluation, at the end.
  override = util.tiny_config_override(
      num_steps=TRAINED_STEPS, save_checkpoints_steps=TRAINED_STEPS)
  result = util.run_tool(
      'model_main.py', *util.model_main_flags(tiny_dataset, model_dir,
                                              override))
  assert result.returncode == 0, util.describe(result)
  return TrainedModel(model_dir, TRAINED_STEPS, override,
                      result.stdout + result.stderr)


@pytest.fixture(scope='session')
def exported_model(trained_model, tmp_path_factory):
  """tools/export_saved_model.py (input type features) of trained_model."""
  output_directory = str(tmp_path_factory.mktemp('exported') / 'features')
  result = util.run_tool(
      'export_saved_model.py',
      '--pipeline_config_path=%s' % os.path.join(trained_model.model_dir,
                                                 'pipeline.config'),
      '--checkpoint_dir=%s' % trained_model.model_dir,
      '--output_directory=%s' % output_directory)
  assert result.returncode == 0, util.describe(result)
  return output_directory
