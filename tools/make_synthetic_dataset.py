r"""Writes the embedded synthetic two-stream dataset (THUMOS'14-like stats).

  python tools/make_synthetic_dataset.py --output_dir=out/synthetic

writes out/synthetic/annotations.json (ActivityNet/ActionFormer "database",
subsets "train" and "test") and out/synthetic/features/<video_id>.npy
([T, 2 * stream_dim] = RGB | flow, 0.625 features/s: fps 10, stride 16 and
window 16 frames). Convert each subset with tools/create_tal_tf_record.py:

  python tools/create_tal_tf_record.py \
    --annotations_json=out/synthetic/annotations.json --subset=train \
    --features_dir=out/synthetic/features --stream_dims=64,64 \
    --stride_frames=16 --window_frames=16 \
    --label_map_path=out/synthetic/label_map.pbtxt \
    --output_path=out/synthetic/train.tfrecord

The harder benchmark on the real THUMOS'14 segment times (200 Validation
videos -> "train", 212 Test videos -> "test", real ids, durations and fps, all
20 classes; weak, confusable class evidence and no context shortcut):

  python tools/make_synthetic_dataset.py --profile=thumos14_hard \
    --output_dir=out/thumos14_hard --stream_dim=1024
  # convert with --stride_frames=48 --window_frames=48 (0.625 features/s at
  # 30 fps) and --label_map_path=out/thumos14_hard/label_map.pbtxt;
  # --feature_rate=actionformer writes 4/16-frame features (7.5 f/s at 30
  # fps, the layout of the shared I3D features): --stride_frames=4
  # --window_frames=16.

How the data is made: tal_detection/dataset_tools/synthetic_dataset.py.
"""
# tool_util first: it quiets TensorFlow's start-up banner before TF loads.
from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order

from absl import flags
from absl import logging

from tal_detection.dataset_tools import synthetic_dataset

FLAGS = flags.FLAGS

flags.DEFINE_string('output_dir', '', 'Folder to write (replaced if it holds '
                    'an earlier synthetic dataset).')
flags.DEFINE_integer('num_train', None, 'Videos of subset "train" (default '
                     '40; with --profile=thumos14_hard 200, the first N '
                     'Validation videos by id).')
flags.DEFINE_integer('num_test', None, 'Videos of subset "test" (default 20; '
                     'with --profile=thumos14_hard 212, the first N Test '
                     'videos by id).')
flags.DEFINE_integer('stream_dim', 64, 'Feature width of each stream (the real '
                     'I3D features have 1024).')
flags.DEFINE_integer('num_classes', None, 'Number of classes (default 5; '
                     'with --profile=activitynet 200, named activity_NNN), '
                     'taken in a fixed '
                     'order from the THUMOS\'14 classes (max 20).')
flags.DEFINE_list('class_names', [], 'THUMOS\'14 class names to use instead of '
                  '--num_classes.')
flags.DEFINE_integer('seed', 0, 'Random seed; the same seed gives the same '
                     'files.')
flags.DEFINE_float('duration_scale', None, 'Multiplies the THUMOS durations '
                   'and instance counts (not the action lengths); default '
                   '0.5, 1.0 gives THUMOS-sized videos (~130 steps on '
                   'average). Not with --profile=thumos14_hard (real '
                   'durations).')
flags.DEFINE_float('noise_std', 1.0, 'Std of the smooth background noise.')
flags.DEFINE_float('signal_strength', 1.0, 'Amplitude of the class evidence.')
flags.DEFINE_enum('profile', 'thumos14', list(synthetic_dataset.PROFILES),
                  'thumos14: THUMOS\'14-like ground truth; activitynet: 200 '
                  'generated classes (the default --num_classes there), ~1.5 '
                  'long instances and 36 per cent background per video, durations 30-240 '
                  's x --duration_scale; also writes <output_dir>/'
                  'label_map.pbtxt. Convert it with --resample_num_steps=128 '
                  'for configs/activitynet13_i3d_tal_net.config. '
                  'thumos14_hard: the real THUMOS\'14 videos and segment '
                  'times, harder features (see the module docstring); also '
                  'writes label_map.pbtxt.')
flags.DEFINE_enum('feature_rate', None,
                  sorted(synthetic_dataset.FEATURE_RATES),
                  'With --profile=thumos14_hard: paper (default; 48-frame '
                  'windows every 48 frames at each video\'s fps, 0.625 '
                  'features/s at 30 fps) or actionformer (16-frame windows '
                  'every 4 frames, 7.5 features/s at 30 fps).')
flags.DEFINE_float('signal_to_noise', None, 'With --profile=thumos14_hard: '
                   'squared norm of a full-strength step\'s evidence in '
                   'noise variances (default %g).' %
                   synthetic_dataset.HARD_DEFAULTS['signal_to_noise'])
flags.DEFINE_enum('feature_dtype', 'float32', ['float32', 'float16'],
                  'dtype of the .npy files.')


def main(unused_argv):
  hard_params = {}
  if FLAGS.signal_to_noise is not None:
    if FLAGS.profile != synthetic_dataset.HARD_PROFILE:
      raise tool_util.UsageError('--signal_to_noise is for '
                                 '--profile=thumos14_hard')
    hard_params['signal_to_noise'] = FLAGS.signal_to_noise
  counts = synthetic_dataset.generate(
      FLAGS.output_dir, num_train=FLAGS.num_train, num_test=FLAGS.num_test,
      stream_dim=FLAGS.stream_dim,
      num_classes=FLAGS.num_classes,
      class_names=FLAGS.class_names or None, seed=FLAGS.seed,
      duration_scale=FLAGS.duration_scale, noise_std=FLAGS.noise_std,
      signal_strength=FLAGS.signal_strength,
      feature_dtype=FLAGS.feature_dtype, profile=FLAGS.profile,
      feature_rate=FLAGS.feature_rate, hard_params=hard_params or None)
  if FLAGS.profile == synthetic_dataset.HARD_PROFILE:
    stride, window = synthetic_dataset.FEATURE_RATES[
        FLAGS.feature_rate or 'paper']
  else:
    stride = synthetic_dataset.STRIDE_FRAMES
    window = synthetic_dataset.WINDOW_FRAMES
  logging.info('convert with tools/create_tal_tf_record.py --annotations_json='
               '%s/annotations.json --features_dir=%s/features '
               '--stream_dims=%d,%d --stride_frames=%d --window_frames=%d '
               '--subset=train|test ...', FLAGS.output_dir, FLAGS.output_dir,
               FLAGS.stream_dim, FLAGS.stream_dim, stride, window)
  print('Wrote synthetic dataset %s: %s.' % (FLAGS.output_dir, '; '.join(
      '%s %d videos, %d instances, %d feature steps' % (
          subset, c['videos'], c['instances'], c['steps'])
      for subset, c in sorted(counts.items(), reverse=True))))


if __name__ == '__main__':
  tool_util.run(main)
