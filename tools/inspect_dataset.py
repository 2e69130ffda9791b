r"""Reports how well a config's anchors cover a dataset's ground truth.

Records (the training records of the config, or --input_path):

  python tools/inspect_dataset.py \
    --pipeline_config_path=configs/thumos14_i3d_tal_net.config \
    --input_path='data/records/train.tfrecord*'

An annotation json instead (no features needed: the steps a conversion with
the same --stride_frames/--window_frames [and --resample_*] flags would give):

  python tools/inspect_dataset.py \
    --pipeline_config_path=configs/thumos14_i3d_tal_net.config \
    --annotations_json=data/thumos14.json --subset=Validation \
    --stride_frames=4 --window_frames=16 \
    --resample_stride_frames=48 --resample_window_frames=48 \
    --results_json=results/coverage_thumos14.json

Prints action lengths in steps (percentiles), the share of instances shorter
than one step, the share whose best anchor reaches tIoU >= 0.7 and >= 0.5, the
matches per anchor scale and a one-line verdict (tal_detection/dataset_tools/
anchor_coverage.py); the last line is exactly
`coverage@0.5=<fraction> coverage@0.7=<fraction>`. With a json and --resample_*
both time bases are reported (the original first) and the last line is the
resampled one's. --results_json writes every report printed.
"""
# tool_util first: it quiets TensorFlow's start-up banner before TF loads.
from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order

import sys

from absl import flags

from tal_detection.dataset_tools import anchor_coverage
from tal_detection.utils import config_util
from tal_detection.utils import io_util

FLAGS = flags.FLAGS

flags.DEFINE_string('pipeline_config_path', '',
                    'Pipeline config whose first-stage anchors are checked.')
flags.DEFINE_list('input_path', [],
                  'Record files / globs (default: the config\'s '
                  'train_input_reader).')
flags.DEFINE_string('annotations_json', '',
                    'ActivityNet/ActionFormer json instead of records.')
flags.DEFINE_string('subset', '', 'Subset of --annotations_json (empty: all).')
flags.DEFINE_float('stride_frames', 4, 'With --annotations_json: frames '
                   'between the features.')
flags.DEFINE_float('window_frames', 16, 'With --annotations_json: frames one '
                   'feature covers.')
flags.DEFINE_float('resample_stride_frames', None, 'With --annotations_json: '
                   'also report the steps create_tal_tf_record.py '
                   '--resample_stride_frames would give.')
flags.DEFINE_float('resample_window_frames', None,
                   'With --resample_stride_frames.')
flags.DEFINE_string('results_json', '', 'Optional json of the reports.')


def _json_reports():
  """[(name, settings, report)] for the json, original then resampled."""
  if (FLAGS.resample_stride_frames is None) != (
      FLAGS.resample_window_frames is None):
    raise ValueError('--resample_stride_frames and --resample_window_frames '
                     'go together; give both or neither')
  if FLAGS.stride_frames <= 0 or FLAGS.window_frames <= 0:
    raise ValueError('--stride_frames and --window_frames must be positive')
  if FLAGS.resample_stride_frames is not None and (
      FLAGS.resample_stride_frames <= 0 or FLAGS.resample_window_frames <= 0):
    raise ValueError('--resample_stride_frames and --resample_window_frames '
                     'must be positive')
  bases = [('original', {'stride_frames': FLAGS.stride_frames,
                         'window_frames': FLAGS.window_frames}, {})]
  if FLAGS.resample_stride_frames is not None:
    bases.append(('resampled', {
        'stride_frames': FLAGS.resample_stride_frames,
        'window_frames': FLAGS.resample_window_frames}, {
            'resample_stride_frames': FLAGS.resample_stride_frames,
            'resample_window_frames': FLAGS.resample_window_frames}))
  return [(name, settings, anchor_coverage.videos_from_activitynet_json(
      FLAGS.annotations_json, FLAGS.subset, FLAGS.stride_frames,
      FLAGS.window_frames, **resample)) for name, settings, resample in bases]


def main(unused_argv):
  if not FLAGS.pipeline_config_path:
    raise ValueError('--pipeline_config_path is required')
  if FLAGS.annotations_json and FLAGS.input_path:
    raise ValueError('give --input_path or --annotations_json, not both')
  if not FLAGS.annotations_json and FLAGS.resample_stride_frames is not None:
    raise ValueError('--resample_stride_frames needs --annotations_json '
                     '(records already carry their time base)')
  pipeline = config_util.load_pipeline(FLAGS.pipeline_config_path)
  scales, stride, offset = anchor_coverage.anchor_parameters(pipeline)
  if FLAGS.annotations_json:
    sources = _json_reports()
  else:
    reader = pipeline.train_input_reader
    if FLAGS.input_path:
      config_util.update_input_path(reader, FLAGS.input_path)
    from tal_detection.builders import dataset_builder  # pylint: disable=g-import-not-at-top
    files = dataset_builder.get_input_files(reader)
    sources = [('records', {'input_path': files},
                anchor_coverage.videos_from_records(files))]
  results = {'command': ' '.join(['python tools/inspect_dataset.py'] +
                                 sys.argv[1:]),
             'pipeline_config_path': FLAGS.pipeline_config_path,
             'anchors': {'scales': scales, 'stride': stride, 'offset': offset},
             'reports': {}}
  if FLAGS.annotations_json:
    results['annotations_json'] = FLAGS.annotations_json
    results['subset'] = FLAGS.subset
  for index, (name, settings, videos) in enumerate(sources):
    report = anchor_coverage.coverage_report(videos, scales, stride, offset)
    if len(sources) > 1:
      print('%s== %s: %s' % ('\n' if index else '', name, ', '.join(
          '%s=%g' % item for item in sorted(settings.items()))))
    print('\n'.join(anchor_coverage.format_report(report)))
    report = dict(report, length_percentiles={
        'p%d' % p: v for p, v in report['length_percentiles'].items()})
    results['reports'][name] = dict(settings, **report)
  if FLAGS.results_json:
    io_util.write_json(FLAGS.results_json, results)


if __name__ == '__main__':
  tool_util.run(main)
