r"""Exports a trained TAL-Net checkpoint as a SavedModel for serving.

  python tools/export_saved_model.py --pipeline_config_path=out/model/pipeline.config \
      --checkpoint_dir=out/model --output_directory=out/exported [--input_type=features]
      [--precision=bfloat16] [--[no]jit_compile]

Writes <output_directory>/<version>/ (saved_model.pb + variables, TF Serving's
layout) plus pipeline.config, label_map.pbtxt and time_base.json beside it. The
time base (fps, stride and window in frames of the features the model was
trained on) is read from the first training record of the config's
train_input_reader; --fps/--stride_frames/--window_frames give or override it.
tools/infer.py takes its defaults from that file.

SoI pooling is compiled with XLA where that pays: in bfloat16 exports, not in
float32 ones (exporter.JIT_COMPILE_BY_DEFAULT; --jit_compile / --nojit_compile
decide instead). Such a SavedModel runs wherever TensorFlow's Python package
does; TF Serving needs --xla_cpu_compilation_enabled=true for it, which the
tool prints when it writes one.
"""
import sys

from absl import flags

from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order
from tal_detection import exporter
from tal_detection import model_lib
from tal_detection.utils import config_util
from tal_detection.utils import machine_info

flags.DEFINE_string('pipeline_config_path', None, 'Pipeline config of the model.')
flags.DEFINE_string('trained_checkpoint_prefix', None,
                    'Checkpoint prefix, e.g. out/model/model.ckpt-500.')
flags.DEFINE_string('checkpoint_dir', None,
                    'Export the latest checkpoint in this folder instead.')
flags.DEFINE_string('output_directory', None, 'Where the SavedModel goes.')
flags.DEFINE_enum('input_type', 'features', list(exporter.INPUT_TYPES),
                  'features: per-stream tensors; tf_example: serialized records.')
flags.DEFINE_integer('version', 1, 'Version folder name (TF Serving layout).')
flags.DEFINE_enum('precision', 'float32', list(exporter.PRECISIONS),
                  'dtype the networks compute in; bfloat16 is faster on CPUs '
                  'with AVX512_BF16/AMX. Inputs, outputs, decoding and NMS '
                  'stay float32 either way.')
flags.DEFINE_boolean('jit_compile', None,
                     'Compile SoI pooling with XLA: same detections, faster '
                     'in bfloat16 (README, Speed), but the SavedModel then '
                     'needs XLA\'s JIT at serving time (TensorFlow\'s Python '
                     'package has it; TF Serving only with '
                     '--xla_cpu_compilation_enabled=true). Default: on for '
                     '--precision=bfloat16, off for float32; '
                     '--nojit_compile exports without XLA.')
flags.DEFINE_float('fps', None, 'Time base to store: frames per second of the '
                   'training features (default: from the first train record).')
flags.DEFINE_float('stride_frames', None, 'Time base: frames between '
                   'consecutive features (default: from the records).')
flags.DEFINE_float('window_frames', None, 'Time base: frames each feature '
                   'sees, 2 x offset (default: from the records).')
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
  warning = exporter.precision_warning(FLAGS.precision,
                                       machine_info.describe_machine())
  if warning:
    print('%s: warning: %s' % (tool_util.tool_name(), warning),
          file=sys.stderr)
  time_base = exporter.resolve_time_base(
      pipeline, FLAGS.fps, FLAGS.stride_frames, FLAGS.window_frames)
  path = exporter.export_inference_graph(
      FLAGS.input_type, pipeline, checkpoint, FLAGS.output_directory,
      version=FLAGS.version, time_base=time_base, precision=FLAGS.precision,
      jit_compile=FLAGS.jit_compile)
  if exporter.resolve_jit_compile(FLAGS.precision, FLAGS.jit_compile):
    print('%s: note: %s' % (tool_util.tool_name(), exporter.XLA_SERVING_NOTE),
          file=sys.stderr)
  if time_base is None:
    print('Exported %s (checkpoint %s); no time base stored (training records '
          'not readable; give --fps --stride_frames --window_frames)' % (
              path, checkpoint))
  else:
    print('Exported %s (checkpoint %s; time base %g fps, stride %g, window %g '
          'frames)' % (path, checkpoint, time_base['fps'],
                       time_base['stride_frames'], time_base['window_frames']))


if __name__ == '__main__':
  tool_util.run(main)
