"""What machine a benchmark or results table was measured on."""
import os
import platform
import socket

import tensorflow as tf


def describe_machine():
  """{cpu, cpu_count, platform, host, tensorflow} of this process's machine."""
  cpu = platform.processor() or platform.machine()
  try:
    with open('/proc/cpuinfo', 'r', encoding='utf-8') as f:
      for line in f:
        if line.startswith('model name'):
          cpu = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  return {'cpu': cpu, 'cpu_count': os.cpu_count(),
          'platform': platform.platform(), 'host': socket.gethostname(),
          'tensorflow': tf.__version__}
