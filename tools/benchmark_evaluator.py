r"""Times the evaluator core on the THUMOS'14 test ground truth with ~17k detections.

Detections are made (seeded) by jittering every ground-truth instance a few times and
adding random false positives until --num_detections; the same detections,
class-agnostic, serve as proposals. Timed: the json reading of ground truth +
detections, detection mAP at the 7 THUMOS tIoU thresholds (with per-class AP), and
AR@AN (AN 10, 20, 50, 100, 200 at tIoU 0.5:0.05:1.0). Prints and writes the medians
over --runs runs (after one warm-up run); tal_detection/benchmarks/evaluator.py holds
the measurements.

  python tools/benchmark_evaluator.py --output /tmp/evaluator_benchmark.json
"""
# tool_util first: it quiets TensorFlow's start-up banner before TF loads.
from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order

import json
import os
import tempfile

from absl import flags

from tal_detection.benchmarks import evaluator
from tal_detection.utils import io_util

_DEFAULT_GROUNDTRUTH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'tests', 'data',
    'thumos14.json')

FLAGS = flags.FLAGS
flags.DEFINE_string('groundtruth', _DEFAULT_GROUNDTRUTH,
                    'Ground-truth json (default: the packaged THUMOS\'14 copy).')
flags.DEFINE_string('subset', 'Test', 'Ground-truth subset.')
flags.DEFINE_integer('num_detections', 17000, 'Number of detections to make.')
flags.DEFINE_integer('copies_per_instance', 2,
                     'Jittered detections per ground-truth instance.')
flags.DEFINE_integer('runs', 5, 'Timed runs (the median is reported).')
flags.DEFINE_integer('seed', 0, 'Random seed of the detections.')
flags.DEFINE_string('output', None, 'Where to write the results json.')


def main(unused_argv):
  if FLAGS.runs < 1 or FLAGS.num_detections < 1:
    raise tool_util.UsageError('--runs, --num_detections: must be >= 1')
  with tempfile.TemporaryDirectory() as work_dir:
    results = evaluator.run(FLAGS.groundtruth, FLAGS.subset,
                            FLAGS.num_detections, FLAGS.copies_per_instance,
                            FLAGS.runs, FLAGS.seed, work_dir)
  print(json.dumps(results, indent=2))
  if FLAGS.output:
    io_util.write_json(FLAGS.output, results)


if __name__ == '__main__':
  tool_util.run(main)
