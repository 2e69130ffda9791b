"""The machine description every results file carries."""
import os

from tal_detection.utils import machine_info

# Trimmed /proc/cpuinfo blocks of CPUs the benchmarks ran on or target. Two
# AMD EPYC parts share the model name; only family/model and the flags tell
# them apart.
ZEN1 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 23
model\t\t: 1
model name\t: AMD EPYC
stepping\t: 2
flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx sse4a avx2 bmi2

processor\t: 1
model name\t: another core that must not be read
flags\t\t: avx512f avx512_bf16
"""
ZEN4 = """processor\t: 0
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 0
flags\t\t: fpu avx2 fma avx512f avx512dq avx512_vnni avx512_bf16 avx512vl
"""
SAPPHIRE_RAPIDS = """processor\t: 0
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Platinum 8480+
stepping\t: 8
flags\t\t: avx2 fma avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""
GRAVITON3 = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes sha1 sve asimdbf16 bf16 i8mm
CPU implementer\t: 0x41
"""


def test_parse_cpuinfo_reads_the_first_processor():
  assert machine_info.parse_cpuinfo(ZEN1) == {
      'cpu': 'AMD EPYC', 'cpu_id': 'family 23 model 1 stepping 2',
      'cpu_features': ['avx2', 'fma'], 'native_bfloat16': False}
  assert machine_info.parse_cpuinfo(ZEN4) == {
      'cpu': 'AMD EPYC', 'cpu_id': 'family 25 model 17 stepping 0',
      'cpu_features': ['avx2', 'fma', 'avx512f', 'avx512_vnni',
                       'avx512_bf16'],
      'native_bfloat16': True}
  intel = machine_info.parse_cpuinfo(SAPPHIRE_RAPIDS)
  assert intel['cpu_features'] == ['avx2', 'fma', 'avx512f', 'avx512_vnni',
                                   'avx512_bf16', 'amx_tile', 'amx_bf16']
  assert intel['native_bfloat16']


def test_parse_cpuinfo_of_an_arm_cpu_and_of_nothing():
  arm = machine_info.parse_cpuinfo(GRAVITON3)
  # "asimdbf16" is a different word from "bf16": whole words only.
  assert arm == {'cpu': '', 'cpu_id': '',
                 'cpu_features': ['asimd', 'sve', 'bf16'],
                 'native_bfloat16': True}
  assert machine_info.parse_cpuinfo('') == {
      'cpu': '', 'cpu_id': '', 'cpu_features': [], 'native_bfloat16': False}


def test_labels_tell_the_two_epycs_apart():
  zen1 = machine_info.describe_machine(ZEN1)
  zen4 = machine_info.describe_machine(ZEN4)
  assert machine_info.cpu_label(zen1) == (
      'AMD EPYC (family 23 model 1 stepping 2; avx2 fma; no native bfloat16)')
  assert machine_info.cpu_label(zen4) == (
      'AMD EPYC (family 25 model 17 stepping 0; avx2 fma avx512f avx512_vnni '
      'avx512_bf16; native bfloat16)')
  assert machine_info.machine_summary(zen1) == (
      '%s, %d cores, TensorFlow %s' % (machine_info.cpu_label(zen1),
                                       os.cpu_count(), zen1['tensorflow']))
  # A CPU without a model name falls back to the platform's processor name.
  assert machine_info.describe_machine(GRAVITON3)['cpu']


def test_results_written_before_the_features_keep_their_label():
  old = {'cpu': 'AMD EPYC', 'cpu_count': 2, 'tensorflow': '2.15.1'}
  assert machine_info.cpu_label(old) == 'AMD EPYC'
  assert machine_info.machine_summary(old) == (
      'AMD EPYC, 2 cores, TensorFlow 2.15.1')


def test_this_machine_is_described():
  machine = machine_info.describe_machine()
  assert machine['cpu'] and machine['cpu_count'] == os.cpu_count()
  assert isinstance(machine['native_bfloat16'], bool)
  for key in ('cpu_id', 'cpu_features', 'platform', 'host', 'tensorflow'):
    assert key in machine
