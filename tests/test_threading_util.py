"""utils/threading_util.py: the serving thread rule and how it is applied."""
import subprocess
import sys

import pytest

from tal_detection.utils import threading_util


@pytest.mark.parametrize('num_streams,num_cores,expected', [
    (2, 2, (1, 2)),    # late fusion on this machine: one op per core
    (1, 2, (2, 2)),    # one stream: every core on each op
    (2, 16, (8, 16)),
    (3, 2, (1, 2)),    # more streams than cores
    (2, 1, (1, 1)),
    (2, 7, (3, 7)),
])
def test_serving_threads_divides_the_cores_among_the_streams(
    num_streams, num_cores, expected):
  assert threading_util.serving_threads(num_streams, num_cores) == expected


def test_given_counts_are_kept_and_negative_ones_refused():
  assert threading_util.serving_threads(2, 2, intra_op_threads=2) == (2, 2)
  assert threading_util.serving_threads(2, 8, inter_op_threads=3) == (4, 3)
  with pytest.raises(ValueError, match='>= 0'):
    threading_util.serving_threads(2, 2, intra_op_threads=-1)


def test_session_config_holds_the_counts():
  config = threading_util.session_config(1, 2)
  assert (config.intra_op_parallelism_threads,
          config.inter_op_parallelism_threads) == (1, 2)


def test_configure_sets_the_process_counts():
  # A fresh process: TensorFlow fixes its counts at the first op.
  code = ('import tensorflow as tf\n'
          'from tal_detection.utils import threading_util\n'
          'threading_util.configure(1, 2)\n'
          'threading_util.configure(1, 2)  # unchanged: no error\n'
          'tf.constant(1.0) + 1.0\n'
          'print(tf.config.threading.get_intra_op_parallelism_threads(),\n'
          '      tf.config.threading.get_inter_op_parallelism_threads())\n')
  result = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, check=True)
  assert result.stdout.split() == ['1', '2']
