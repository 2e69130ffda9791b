"""The README's measured blocks, rendered from the files in results/.

Every measured block of README.md sits between two markers,

  <!-- results:NAME -->
  ...generated text...
  <!-- /results:NAME -->

and its text is produced here from the results file that the measuring tool
wrote (BLOCKS says which file and how). tools/render_readme.py rewrites the
README; tests/test_readme_results.py fails when the README and results/
disagree, so a number is never typed by hand.
"""
import json
import os
import re

from tal_detection.utils import machine_info

_MARKER = re.compile(
    r'(<!-- results:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /results:(?P=name) -->)',
    re.S)


def markdown_tables(text):
  """The markdown tables of a text, each as a list of its lines."""
  tables, current = [], []
  for line in text.splitlines():
    if line.startswith('|'):
      current.append(line)
    elif current:
      tables.append(current)
      current = []
  if current:
    tables.append(current)
  return tables


def _read(path):
  with open(path, 'r', encoding='utf-8') as f:
    return f.read()


def _whole_file(results_dir, name):
  return _read(os.path.join(results_dir, name)).rstrip('\n') + '\n'


def _table(name, index):
  """A renderer of one markdown table of a results text file."""
  def render(results_dir):
    tables = markdown_tables(_read(os.path.join(results_dir, name)))
    if index >= len(tables):
      raise ValueError('%s: has %d tables, the README wants table %d' % (
          name, len(tables), index + 1))
    return '\n'.join(tables[index]) + '\n'
  return render


def _evaluator_benchmark(results_dir):
  """The evaluator benchmark's timings (tools/benchmark_evaluator.py json)."""
  with open(os.path.join(results_dir, 'evaluator_benchmark.json')) as f:
    result = json.load(f)
  seconds = result['median_seconds']
  return ('| measure (median of %d runs; %d videos, %d instances, %d '
          'detections) | seconds |\n|---|---|\n'
          '| mAP at 7 tIoU thresholds | %.3f |\n'
          '| AR@AN | %.3f |\n'
          '| both, including reading the two json files | %.2f |\n' % (
              result['runs'], result['num_videos'], result['num_groundtruth'],
              result['num_detections'], seconds['detection_map_7_thresholds'],
              seconds['proposal_ar_at_an'], seconds['total_with_loading']))


def _protocol_comparison(results_dir):
  """mAP of the benchmark's detections under both protocols (same json)."""
  with open(os.path.join(results_dir, 'evaluator_benchmark.json')) as f:
    result = json.load(f)
  thresholds = list(result['mAP'])
  lines = ['| protocol | %s |' % ' | '.join(thresholds),
           '|---|%s' % '---|' * len(thresholds)]
  for name, key in (('ActivityNet', 'mAP'), ("THUMOS'14 kit",
                                             'thumos14_kit_mAP')):
    lines.append('| %s | %s |' % (name, ' | '.join(
        '%.2f' % (100.0 * result[key][t]) for t in thresholds)))
  seconds = result['median_seconds']
  lines.append('')
  lines.append('Median seconds for the %d detections at %d thresholds: '
               'ActivityNet %.3f, THUMOS\'14 kit %.3f.' % (
                   result['num_detections'], len(thresholds),
                   seconds['detection_map_7_thresholds'],
                   seconds['thumos14_kit_map_7_thresholds']))
  return '\n'.join(lines) + '\n'


def _inference_runs(results_dir):
  """The headline ratios of the kept runs of tools/benchmark_inference.py on
  the README's machine (inference_benchmark.json and _run2.json), side by
  side: how far they move between two runs of the same code."""
  rows = ['| run | float32 | fraction of FLOP bound / of shape bound | '
          'bfloat16 (XLA SoI pooling) | bfloat16 speed-up | float32 '
          '--jit_compile / bfloat16 --nojit_compile (its speed-up over '
          'float32) | crop_and_resize probe | load before / after |',
          '|---|---|---|---|---|---|---|---|']
  for name in ('inference_benchmark.json', 'inference_benchmark_run2.json'):
    with open(os.path.join(results_dir, name)) as f:
      result = json.load(f)
    rows.append(
        '| %s | %.1f ms | %.0f%% / %.0f%% | %.1f ms | %.2fx | %.1f / %.1f ms '
        '(%.2fx) | %.0f us | %.2f / %.2f |' % (
            name, result['fp32_latency_ms'],
            100 * result['fp32_fraction_of_flop_bound'],
            100 * result['fp32_fraction_of_shape_bound'],
            result['bf16_latency_ms'], result['bf16_speedup_vs_fp32'],
            result['fp32_jit_latency_ms'], result['bf16_nojit_latency_ms'],
            result['bf16_nojit_speedup_vs_fp32'],
            result['crop_probe_us'],
            result['load_average_before'][0],
            result['load_average_after'][0]))
  return '\n'.join(rows) + '\n'


# Block name -> renderer(results_dir) -> text. The producing tool is named so
# a reader of this table knows how to re-measure.
BLOCKS = {
    # bash tools/run_synthetic_demo.sh out/synthetic results/synthetic_demo.md
    'synthetic_demo': lambda d: _whole_file(d, 'synthetic_demo.md'),
    # python tools/benchmark_inference.py (results/inference_benchmark.txt)
    'inference_benchmark': _table('inference_benchmark.txt', 0),
    'inference_scaling': _table('inference_benchmark.txt', 1),
    # ... and its second kept run (results/inference_benchmark_run2.json)
    'inference_runs': _inference_runs,
    # the same tool's run on an Intel Xeon with AMX, kept at commit 54b9e90
    # (results/inference_benchmark_amx.txt)
    'inference_benchmark_amx': _table('inference_benchmark_amx.txt', 0),
    # on a CPU with native bfloat16 (AVX512_BF16), kept at commit 352a96e
    # (results/inference_benchmark_avx512_bf16.txt)
    'inference_benchmark_avx512_bf16':
        _table('inference_benchmark_avx512_bf16.txt', 0),
    # and on a CPU without native bfloat16 (AVX2 only), kept at commit
    # ec6e89d (results/inference_benchmark_avx2.txt)
    'inference_benchmark_avx2': _table('inference_benchmark_avx2.txt', 0),
    # python tools/benchmark_evaluator.py (results/evaluator_benchmark.json)
    'evaluator_benchmark': _evaluator_benchmark,
    'protocol_comparison': _protocol_comparison,
    # python tools/benchmark_training.py --baseline_worktree=DIR
    # (results/training_benchmark.md)
    'training_benchmark': _table('training_benchmark.md', 0),
    # python tools/run_ablations.py --stream=both (results/ablation_results.md)
    'ablation_table1': _table('ablation_results.md', 0),
    'ablation_table2': _table('ablation_results.md', 1),
    'ablation_table3': _table('ablation_results.md', 2),
    'ablation_table4': _table('ablation_results.md', 3),
    # bash tools/run_training_curves.sh (tools/summarize_training_curve.py
    # writes results/training_curve_thumos14_hard.md)
    'training_curve_thumos14_hard':
        lambda d: _whole_file(d, 'training_curve_thumos14_hard.md'),
    # python tools/compare_precisions.py --work_dir=/tmp/precision_run
    # (results/precision_comparison.md: mAP table + agreement and run lines)
    'precision_comparison':
        lambda d: _whole_file(d, 'precision_comparison.md'),
}


def block_names(readme_text):
  """Names of the marked blocks, in order of appearance."""
  return [m.group('name') for m in _MARKER.finditer(readme_text)]


def render(readme_text, results_dir):
  """The README with every marked block regenerated.

  Raises:
    ValueError: for a marker naming no known block, or a missing results file.
  """
  def replace(match):
    name = match.group('name')
    if name not in BLOCKS:
      raise ValueError('README: block %s has no renderer (known: %s)' % (
          name, ', '.join(sorted(BLOCKS))))
    try:
      body = BLOCKS[name](results_dir)
    except OSError as e:
      raise ValueError('results for block %s: %s' % (name, e)) from None
    return match.group(1) + body + match.group(4)
  return _MARKER.sub(replace, readme_text)


def stale_blocks(readme_text, results_dir):
  """Names of the blocks whose README text differs from the results."""
  current = {m.group('name'): m.group('body')
             for m in _MARKER.finditer(readme_text)}
  rendered = {m.group('name'): m.group('body')
              for m in _MARKER.finditer(render(readme_text, results_dir))}
  return [name for name in current if current[name] != rendered[name]]


def demo_results_markdown(summary_text, wall_seconds, num_steps, machine):
  """results/synthetic_demo.md: what the demo measured, ready for the README.

  Args:
    summary_text: tools/summarize_results.py's output (the tables).
    wall_seconds: the demo's wall time after the install.
    num_steps: training steps.
    machine: machine_info.describe_machine() dict.
  """
  return (
      'On %s (%d cores, TensorFlow %s), `bash tools/run_synthetic_demo.sh` '
      '(%d training steps) took %d s after the install and ended with:\n\n'
      '```\n%s\n```\n' % (machine_info.cpu_label(machine), machine['cpu_count'],
                          machine['tensorflow'], num_steps, wall_seconds,
                          summary_text.strip('\n')))
