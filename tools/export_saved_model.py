r"""Exports a trained TAL-Net checkpoint as a SavedModel for serving.

  python tools/export_saved_model.py --pipeline_config_path=out/model/pipeline.config \
      --checkpoint_dir=out/model --output_directory=out/exported [--input_type=features]

Writes <output_directory>/<version>/ (saved_model.pb + variables, TF Serving's
layout) plus pipeline.config and label_map.pbtxt beside it.
"""
from absl import flags

from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order
from tal_detection import exporter
from tal_detection import model_lib
from tal_detection.utils import config_util

flags.DEFINE_string('pipeline_config_path', None, 'Pipeline config of the model.')
flags.DEFINE_string('trained_checkpoint_prefix', None,
                    'Checkpoint prefix, e.g. out/model/model.ckpt-500.')
flags.DEFINE_string('checkpoint_dir', None,
                    'Export the latest checkpoint in this folder instead.')
flags.DEFINE_string('output_directory', None, 'Where the SavedModel goes.')
flags.DEFINE_enum('input_type', 'features', list(exporter.INPUT_TYPES),
                  'features: per-stream tensors; tf_example: serialized records.')
flags.DEFINE_integer('version', 1, 'Version folder name (TF Serving layout).')
flags.DEFINE_string('config_override', None,
                    'Text-format fragment merged over the pipeline config.')
FLAGS = flags.FLAGS


def main(unused_argv):
  if not FLAGS.pipeline_config_path or not FLAGS.output_directory:
    raise tool_util.UsageError('--pipeline_config_path and --output_directory '
                               'are required')
  checkpoint = FLAGS.trained_checkpoint_prefix
  if not checkpoint:
    if not FLAGS.checkpoint_dir:
      raise tool_util.UsageError('give --trained_checkpoint_prefix or '
                                 '--checkpoint_dir')
    checkpoint = model_lib.latest_checkpoint(FLAGS.checkpoint_dir)
  pipeline = config_util.load_pipeline(FLAGS.pipeline_config_path,
                                       override=FLAGS.config_override)
  path = exporter.export_inference_graph(
      FLAGS.input_type, pipeline, checkpoint, FLAGS.output_directory,
      version=FLAGS.version)
  print('Exported %s (checkpoint %s)' % (path, checkpoint))


if __name__ == '__main__':
  tool_util.run(main)
