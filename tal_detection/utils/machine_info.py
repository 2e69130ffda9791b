"""What machine a benchmark or results table was measured on.

The CPU's model name alone does not say which machine a figure came from:
"AMD EPYC" names both a Zen 1 part with AVX2 only and a Zen 4 part with
AVX512_BF16, whose bfloat16 matmuls differ by 5x. So the description also
carries the CPU's family/model numbers and the instruction-set features the
benchmarks' ratios depend on.
"""
import os
import platform
import socket

# /proc/cpuinfo flags the benchmarks' figures depend on, in the order they are
# printed: vector width and FMA set the float32 matmul rate; the bfloat16
# ones decide whether a bfloat16 matmul is native or emulated through float32.
# x86 names, then aarch64's ("bf16" in its Features line).
REPORTED_FEATURES = ('avx2', 'fma', 'avx512f', 'avx512_vnni', 'avx512_bf16',
                     'amx_tile', 'amx_bf16', 'asimd', 'sve', 'bf16')
# Any one of these makes oneDNN's bfloat16 matmuls native on the CPU.
NATIVE_BFLOAT16_FEATURES = ('avx512_bf16', 'amx_bf16', 'bf16')


def parse_cpuinfo(text):
  """{cpu, cpu_id, cpu_features, native_bfloat16} of a /proc/cpuinfo text.

  Only the first processor's block is read (all cores of these machines are
  alike). cpu_id is 'family F model M stepping S' where the file gives them
  (x86), else the empty string; cpu_features lists REPORTED_FEATURES the CPU
  has, in that order.
  """
  fields = {}
  for line in text.splitlines():
    if not line.strip():
      if fields:
        break  # end of the first processor's block
      continue
    key, sep, value = line.partition(':')
    if sep:
      fields.setdefault(key.strip().lower(), value.strip())
  flags = set((fields.get('flags') or fields.get('features') or '').split())
  id_parts = [(name, fields[key]) for name, key in (
      ('family', 'cpu family'), ('model', 'model'), ('stepping', 'stepping'))
              if fields.get(key, '').isdigit()]
  return {
      'cpu': fields.get('model name') or fields.get('cpu model') or '',
      'cpu_id': ' '.join('%s %s' % part for part in id_parts),
      'cpu_features': [f for f in REPORTED_FEATURES if f in flags],
      'native_bfloat16': any(f in flags for f in NATIVE_BFLOAT16_FEATURES),
  }


def _read_cpuinfo():
  try:
    with open('/proc/cpuinfo', 'r', encoding='utf-8') as f:
      return f.read()
  except OSError:
    return ''


def describe_machine(cpuinfo_text=None):
  """{cpu, cpu_id, cpu_features, native_bfloat16, cpu_count, platform, host,
  tensorflow} of this process's machine (`cpuinfo_text` stands in for
  /proc/cpuinfo, for tests)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  # (here, so cpu_label and the results renderers don't load TensorFlow)
  cpu = parse_cpuinfo(_read_cpuinfo() if cpuinfo_text is None
                      else cpuinfo_text)
  cpu['cpu'] = cpu['cpu'] or platform.processor() or platform.machine()
  cpu.update({'cpu_count': os.cpu_count(), 'platform': platform.platform(),
              'host': socket.gethostname(), 'tensorflow': tf.__version__})
  return cpu


def cpu_label(machine):
  """One line naming the CPU of a describe_machine() dict, e.g.
  'AMD EPYC (family 23 model 1 stepping 2; avx2 fma; no native bfloat16)'.

  Results written before the description had cpu_id and cpu_features give
  just the model name.
  """
  if 'cpu_features' not in machine:
    return machine['cpu']
  details = [part for part in (machine.get('cpu_id'),
                               ' '.join(machine['cpu_features'])) if part]
  details.append('native bfloat16' if machine.get('native_bfloat16')
                 else 'no native bfloat16')
  return '%s (%s)' % (machine['cpu'], '; '.join(details))


def machine_summary(machine):
  """'<cpu_label>, N cores, TensorFlow V' of a describe_machine() dict."""
  return '%s, %d cores, TensorFlow %s' % (
      cpu_label(machine), machine['cpu_count'], machine['tensorflow'])
