r"""Converts pre-extracted features + temporal annotations into TFRecords.

One tf.train.SequenceExample per video (format: tal_detection/dataset_tools/
tf_record_util.py). Two annotation sources:

ActivityNet / ActionFormer json (fps per video from the json, else --fps):

  python tools/create_tal_tf_record.py \
    --annotations_json=data/thumos14.json --subset=Validation \
    --features_dir=data/i3d_features --feature_layout=concat \
    --label_map_path=data/label_map.pbtxt \
    --output_path=data/records/train.tfrecord --num_shards=4

Original THUMOS'14 per-class txt files (<Class>_<split>.txt, Ambiguous skipped):

  python tools/create_tal_tf_record.py \
    --thumos_annotation_dir=data/annotation_val --fps=30 ...

ActivityNet v1.3 (features resampled to 128 steps per video, as BMN / G-TAD /
ActionFormer do; configs/activitynet13_i3d_tal_net.config expects this):

  python tools/create_tal_tf_record.py \
    --annotations_json=data/activity_net.v1-3.min.json --subset=validation \
    --features_dir=data/anet_i3d --resample_num_steps=128 ...

THUMOS'14 at the paper's 0.625 features/s from stride-4 features at 30 fps
(new step j = the frame-weighted mean of the original features over frames
[48 j, 48 j + 48)):

  python tools/create_tal_tf_record.py ... --stride_frames=4 \
    --window_frames=16 --resample_stride_frames=48 --resample_window_frames=48

The label map is read if --label_map_path exists, else written from the classes
of the annotations (all subsets). Segments reaching outside the video (even
ones starting after its end) are kept as annotated, with a warning naming the
video: evaluation scores against them, as tools/evaluate_detections.py does on
the json, and training uses only their part inside the features. A missing,
unreadable, wrongly shaped or NaN/Inf feature file, a segment with end <=
start, a label absent from the label map or a video shorter than one feature
step stops the run with one line naming it, and nothing is written.
"""
# tool_util first: it quiets TensorFlow's start-up banner before TF loads.
from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order

from absl import flags

from tal_detection.dataset_tools import create_tal_tf_record_lib

FLAGS = flags.FLAGS

flags.DEFINE_string('annotations_json', '',
                    'ActivityNet/ActionFormer annotation json ("database").')
flags.DEFINE_string('subset', '',
                    'Subset to convert (e.g. Validation, Test; for the THUMOS '
                    'txt source the split suffix, e.g. val, test). Empty: all.')
flags.DEFINE_string('thumos_annotation_dir', '',
                    'Folder of THUMOS\'14 <Class>_<split>.txt files (instead '
                    'of --annotations_json).')
flags.DEFINE_float('fps', None,
                   'Frames per second of the feature extraction, for videos '
                   'whose annotations give none (required with '
                   '--thumos_annotation_dir).')
flags.DEFINE_string('features_dir', '', 'Folder of <video_id>.npy features.')
flags.DEFINE_enum('feature_layout', 'concat', ['concat', 'separate'],
                  'concat: <video_id>.npy [T, sum(stream_dims)], streams side '
                  'by side; separate: <stream>/<video_id>.npy per stream.')
flags.DEFINE_list('stream_names', ['rgb', 'flow'],
                  'Stream names in concat column order.')
flags.DEFINE_list('stream_dims', ['1024', '1024'],
                  'Feature width of each stream (the concat split points).')
flags.DEFINE_float('stride_frames', 4,
                   'Frames between consecutive features (ActionFormer: 4).')
flags.DEFINE_float('window_frames', 16,
                   'Frames covered by one feature; feature 0 is centred at '
                   'window_frames / 2.')
flags.DEFINE_string('label_map_path', '',
                    'Label map .pbtxt: read if it exists, else written.')
flags.DEFINE_string('output_path', '',
                    'Output record path (one shard) or prefix (several).')
flags.DEFINE_integer('num_shards', 1, 'Number of output record files.')
flags.DEFINE_integer('resample_num_steps', None,
                     'If set, resample every video\'s features to exactly this '
                     'many steps (ActivityNet practice, e.g. 128): windowed '
                     'means when downsampling, linear interpolation when '
                     'upsampling; the records\' stride/offset then describe '
                     'the new steps.')
flags.DEFINE_float('resample_stride_frames', None,
                   'With --resample_window_frames: resample every video\'s '
                   'features to windows of that many frames every this many '
                   'frames (frame-weighted means of the original features; '
                   'e.g. 48 and 48 at 30 fps = the paper\'s 0.625 features/s '
                   'from stride-4 features). The records then store these '
                   'stride_frames and offset_frames = window / 2. Not with '
                   '--resample_num_steps.')
flags.DEFINE_float('resample_window_frames', None,
                   'Frames covered by one resampled feature (with '
                   '--resample_stride_frames).')


def main(unused_argv):
  try:
    stream_dims = [int(d) for d in FLAGS.stream_dims]
  except ValueError:
    raise ValueError('--stream_dims must be integers, got %s' %
                     ','.join(FLAGS.stream_dims)) from None
  summary = create_tal_tf_record_lib.create_tf_record(
      features_dir=FLAGS.features_dir, output_path=FLAGS.output_path,
      label_map_path=FLAGS.label_map_path,
      annotations_json=FLAGS.annotations_json, subset=FLAGS.subset,
      thumos_annotation_dir=FLAGS.thumos_annotation_dir, fps=FLAGS.fps,
      feature_layout=FLAGS.feature_layout, stream_names=FLAGS.stream_names,
      stream_dims=stream_dims, stride_frames=FLAGS.stride_frames,
      window_frames=FLAGS.window_frames, num_shards=FLAGS.num_shards,
      resample_num_steps=FLAGS.resample_num_steps,
      resample_stride_frames=FLAGS.resample_stride_frames,
      resample_window_frames=FLAGS.resample_window_frames)
  print(summary.summary_line())


if __name__ == '__main__':
  tool_util.run(main)
