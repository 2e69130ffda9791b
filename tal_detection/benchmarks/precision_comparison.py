"""Accuracy of the bfloat16 export against the float32 export of one checkpoint.

run_pipeline() reproduces issue 14's measurement with the project's own tools,
each a subprocess (sys.executable) logging to <work_dir>/logs/<stage>.log:

  1 dataset   tools/make_synthetic_dataset.py (THUMOS-sized by default);
  2 records   tools/create_tal_tf_record.py, train and test, 16/16 frames;
  3 train     tools/model_main.py on the given config (the paper's by default)
              with the synthetic records, label map and class count;
  4 export    tools/export_saved_model.py --precision=float32 and =bfloat16
              of the SAME checkpoint prefix (the last one of the training);
  5 infer     tools/infer.py on the test videos, each export;
  6 evaluate  tools/evaluate_detections.py --subset=test, each export.

compare_detections() and map_gap() then compare the two exports (pure numpy
and arithmetic, so tests can check them on hand-made inputs), results() gathers
everything into one dict and format_markdown() renders the README block.

Units: tools/infer.py writes segments in seconds ({"results": {video:
[{"label", "score", "segment": [start s, end s]}]}}). The boundary tolerance
is stated in feature steps, the unit the model predicts in; one step of a
video is stride_frames / fps seconds (the export's time_base.json stride, the
video's "fps" from the annotation json, else the time base's fps), so the
comparison converts the tolerance per video.
"""
import dataclasses
import os
import shutil
import subprocess
import sys
import time

import numpy as np

from tal_detection.dataset_tools import annotation_util
from tal_detection.metrics import activitynet_io
from tal_detection.utils import io_util
from tal_detection.utils import machine_info

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DEFAULT_CONFIG = os.path.join(REPO_ROOT, 'configs',
                              'thumos14_i3d_tal_net.config')
PRECISIONS = ('float32', 'bfloat16')
PRECISION_LABELS = {'float32': 'fp32 export', 'bfloat16': 'bf16 export'}
# Frames between / covered by consecutive synthetic features (fps 10 in the
# json): 0.625 features/s, the paper's rate.
STRIDE_FRAMES = 16
WINDOW_FRAMES = 16


# The file that marks a work_dir as this tool's (its subfolders may go).
WORK_DIR_MARKER = '.compare_precisions'


class StageError(ValueError):
  """A pipeline stage failed (a ValueError, so tools print one line)."""


@dataclasses.dataclass
class Settings:
  """Sizes of one comparison (see tools/compare_precisions.py's flags)."""
  num_train: int = 200
  num_test: int = 213
  num_classes: int = 20
  stream_dim: int = 1024
  signal_strength: float = 0.6
  seed: int = 0
  num_steps: int = 1500
  pipeline_config_path: str = DEFAULT_CONFIG
  top_k: int = 20
  score_tolerance: float = 0.02
  boundary_tolerance_steps: float = 0.1
  map_tolerance_points: float = 0.5

  def check(self):
    """Raises ValueError (naming the flag) for a value the run cannot use."""
    for name in ('num_train', 'num_test', 'num_classes', 'stream_dim',
                 'num_steps', 'top_k'):
      if getattr(self, name) < 1:
        raise ValueError('--%s: must be at least 1, got %d' % (
            name, getattr(self, name)))
    if self.num_classes > 20:
      raise ValueError('--num_classes: the synthetic THUMOS profile has at '
                       'most 20 classes, got %d' % self.num_classes)
    for name in ('signal_strength', 'score_tolerance',
                 'boundary_tolerance_steps', 'map_tolerance_points'):
      value = getattr(self, name)
      if not np.isfinite(value) or value < 0:
        raise ValueError('--%s: must be a finite number >= 0, got %r' % (
            name, value))
    if not self.signal_strength > 0:
      raise ValueError('--signal_strength: must be positive, got %r' %
                       self.signal_strength)


def check_config(settings):
  """Raises ValueError unless the config's streams fit the synthetic data.

  The synthetic features are two streams (rgb | flow) of stream_dim columns
  each; the class count is overridden, the stream widths cannot be (streams
  are a repeated field a text override would append to).
  """
  from tal_detection.utils import config_util  # pylint: disable=g-import-not-at-top
  pipeline = config_util.load_pipeline(settings.pipeline_config_path)
  streams = config_util.get_stream_specs(pipeline.model)
  expected = [('rgb', settings.stream_dim), ('flow', settings.stream_dim)]
  if [(n, int(d)) for n, d in streams] != expected:
    raise ValueError(
        '%s: model streams %s do not match the synthetic features %s (set '
        '--stream_dim or use another --pipeline_config_path)' % (
            settings.pipeline_config_path,
            ', '.join('%s %d-d' % (n, d) for n, d in streams),
            ', '.join('%s %d-d' % (n, d) for n, d in expected)))


def run_stage(stage, tool, args, log_path, stdout_path=None):
  """Runs tools/<tool> with sys.executable; stderr (and stdout) to log_path.

  stdout_path receives stdout instead (evaluate_detections prints its metrics
  json there). Raises StageError naming the stage and its log.
  """
  command = [sys.executable, os.path.join(REPO_ROOT, 'tools', tool)] + args
  env = dict(os.environ)
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  with open(log_path, 'a', encoding='utf-8') as log:
    log.write('$ %s\n' % ' '.join(command))
    log.flush()
    out = open(stdout_path, 'w', encoding='utf-8') if stdout_path else log
    try:
      process = subprocess.run(command, stdout=out, stderr=log, env=env,
                               cwd=REPO_ROOT, check=False)
    finally:
      if stdout_path:
        out.close()
  if process.returncode != 0:
    raise StageError('stage %s (%s) failed with exit status %d; log %s: %s' % (
        stage, tool, process.returncode, log_path,
        io_util.last_line(log_path)))


class Paths:
  """Where run_pipeline puts each stage's output under work_dir."""

  def __init__(self, work_dir):
    self.work_dir = os.path.abspath(work_dir)
    join = lambda *p: os.path.join(self.work_dir, *p)
    self.logs = join('logs')
    self.data = join('data')
    self.annotations = join('data', 'annotations.json')
    self.features = join('data', 'features')
    self.records = join('records')
    self.label_map = join('records', 'label_map.pbtxt')
    self.model = join('model')
    self.test_features = join('test_features')
    self.export = {p: join('exported_%s' % p) for p in PRECISIONS}
    self.detections = {p: join('detections_%s.json' % p) for p in PRECISIONS}
    self.metrics = {p: join('metrics_%s.json' % p) for p in PRECISIONS}

  def log(self, stage):
    return os.path.join(self.logs, '%s.log' % stage)


def _videos_by_subset(annotations_path):
  """{lower-case subset: [VideoAnnotation] by id} of an annotation json, as
  annotation_util reads it for the converter (Ambiguous segments apart)."""
  videos, _, _ = annotation_util.read_activitynet_json(annotations_path)
  by_subset = {}
  for video in videos:
    by_subset.setdefault(str(video.subset or '').lower(), []).append(video)
  return by_subset


def _test_video_ids(annotations_path):
  return [video.video_id
          for video in _videos_by_subset(annotations_path).get('test', [])]


def run_pipeline(settings, work_dir, progress=lambda message: None):
  """Runs stages 1-6 in work_dir; returns {paths, checkpoint, stage_seconds}.

  The folders this writes (data, records, model, exported_*, test_features,
  logs) are replaced, so a rerun never mixes in an earlier run's files. So
  that this never deletes anyone else's folders, work_dir must be new, empty,
  or an earlier run's (it holds WORK_DIR_MARKER).

  Raises:
    ValueError: work_dir is a file, or a non-empty folder of something else.
  """
  paths = Paths(work_dir)
  marker = os.path.join(paths.work_dir, WORK_DIR_MARKER)
  if os.path.exists(paths.work_dir):
    if not os.path.isdir(paths.work_dir):
      raise ValueError('--work_dir: %s: not a folder' % work_dir)
    if os.listdir(paths.work_dir) and not os.path.exists(marker):
      raise ValueError('--work_dir: %s: not empty and not a folder of an '
                       'earlier run (no %s); give a new or empty folder' % (
                           work_dir, WORK_DIR_MARKER))
  os.makedirs(paths.work_dir, exist_ok=True)
  with open(marker, 'w', encoding='utf-8') as f:
    f.write('made by tools/compare_precisions.py; its subfolders are '
            'replaced on every run\n')
  for folder in (paths.data, paths.records, paths.model, paths.test_features,
                 paths.logs) + tuple(paths.export.values()):
    if os.path.isdir(folder):
      shutil.rmtree(folder)
  os.makedirs(paths.logs)
  seconds = {}

  def stage(name, message):
    progress('== %s: %s (log: %s)' % (name, message, paths.log(name)))
    return time.time()

  start = stage('dataset', '%d train / %d test videos, %d classes, %d-d '
                'streams' % (settings.num_train, settings.num_test,
                             settings.num_classes, settings.stream_dim))
  run_stage('dataset', 'make_synthetic_dataset.py', [
      '--output_dir=%s' % paths.data, '--num_train=%d' % settings.num_train,
      '--num_test=%d' % settings.num_test,
      '--num_classes=%d' % settings.num_classes,
      '--stream_dim=%d' % settings.stream_dim,
      '--signal_strength=%r' % settings.signal_strength,
      '--seed=%d' % settings.seed], paths.log('dataset'))
  seconds['dataset'] = time.time() - start
  check_classes(paths.annotations, settings)

  start = stage('records', 'train and test at %d/%d frames' % (
      STRIDE_FRAMES, WINDOW_FRAMES))
  os.makedirs(paths.records)
  for subset in ('train', 'test'):
    run_stage('records', 'create_tal_tf_record.py', [
        '--annotations_json=%s' % paths.annotations, '--subset=%s' % subset,
        '--features_dir=%s' % paths.features, '--feature_layout=concat',
        '--stream_names=rgb,flow',
        '--stream_dims=%d,%d' % (settings.stream_dim, settings.stream_dim),
        '--stride_frames=%d' % STRIDE_FRAMES,
        '--window_frames=%d' % WINDOW_FRAMES,
        '--label_map_path=%s' % paths.label_map,
        '--output_path=%s' % os.path.join(paths.records,
                                          '%s.record' % subset)],
              paths.log('records'))
  seconds['records'] = time.time() - start

  start = stage('train', '%d steps of %s' % (
      settings.num_steps, os.path.relpath(settings.pipeline_config_path,
                                          REPO_ROOT)))
  run_stage('train', 'model_main.py', [
      '--pipeline_config_path=%s' % settings.pipeline_config_path,
      '--model_dir=%s' % paths.model,
      '--num_train_steps=%d' % settings.num_steps,
      '--train_input_path=%s' % os.path.join(paths.records, 'train.record*'),
      '--eval_input_path=%s' % os.path.join(paths.records, 'test.record*'),
      '--label_map_path=%s' % paths.label_map,
      '--config_override=model { tal_net { num_classes: %d } }' %
      settings.num_classes], paths.log('train'))
  seconds['train'] = time.time() - start
  checkpoint = last_checkpoint(paths.model)

  # Both exports name the same checkpoint prefix: "the latest" could differ if
  # anything wrote to model_dir in between.
  start = stage('export', 'float32 and bfloat16 of %s' %
                os.path.basename(checkpoint))
  for precision in PRECISIONS:
    run_stage('export', 'export_saved_model.py', [
        '--pipeline_config_path=%s' % os.path.join(paths.model,
                                                   'pipeline.config'),
        '--trained_checkpoint_prefix=%s' % checkpoint,
        '--output_directory=%s' % paths.export[precision],
        '--precision=%s' % precision], paths.log('export'))
  seconds['export'] = time.time() - start

  start = stage('infer', 'the test videos, both exports')
  os.makedirs(paths.test_features)
  for video_id in _test_video_ids(paths.annotations):
    # Links, not copies: the 1024-d test features are ~100 MB.
    os.symlink(os.path.join(paths.features, video_id + '.npy'),
               os.path.join(paths.test_features, video_id + '.npy'))
  for precision in PRECISIONS:
    run_stage('infer', 'infer.py', [
        '--saved_model_dir=%s' % paths.export[precision],
        '--features=%s' % paths.test_features, '--feature_layout=concat',
        '--annotations_json=%s' % paths.annotations,
        '--output=%s' % paths.detections[precision]], paths.log('infer'))
  seconds['infer'] = time.time() - start

  start = stage('evaluate', 'mAP of both exports on subset test')
  for precision in PRECISIONS:
    run_stage('evaluate', 'evaluate_detections.py', [
        '--groundtruth=%s' % paths.annotations,
        '--detections=%s' % paths.detections[precision], '--subset=test'],
              paths.log('evaluate'), stdout_path=paths.metrics[precision])
  seconds['evaluate'] = time.time() - start
  return {'paths': paths, 'checkpoint': checkpoint, 'stage_seconds': seconds}


def check_classes(annotations_path, settings):
  """Raises ValueError unless every class has instances in train and test.

  The converter's label map and the evaluator's classes come from the
  instances: a class without any would make the model's class count differ
  from the label map's, or a detection of it unknown to the evaluator.
  """
  by_subset = _videos_by_subset(annotations_path)
  for subset, flag in (('train', 'num_train'), ('test', 'num_test')):
    labels = {segment.label for video in by_subset.get(subset, [])
              for segment in video.segments}
    if len(labels) < settings.num_classes:
      raise ValueError(
          '--%s: the %d %s videos hold instances of %d of the %d classes; '
          'use more videos or a smaller --num_classes' % (
              flag, getattr(settings, flag), subset, len(labels),
              settings.num_classes))


def last_checkpoint(model_dir):
  """The newest checkpoint prefix in model_dir (raises StageError if none)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  checkpoint = tf.train.latest_checkpoint(model_dir)
  if not checkpoint:
    raise StageError('stage train: no checkpoint in %s after training' %
                     model_dir)
  return checkpoint


# --- Comparison (pure numpy on the results json format) ---------------------


def _video_arrays(entries, source, video_id):
  """(labels, scores [N], segments [N, 2]) of one video's results entries."""
  try:
    labels = np.array([str(e['label']) for e in entries], dtype=object)
    scores = np.array([float(e['score']) for e in entries], dtype=np.float64)
    segments = np.array([[float(x) for x in e['segment']] for e in entries],
                        dtype=np.float64).reshape(-1, 2)
  except (KeyError, TypeError, ValueError) as e:
    raise ValueError('%s: video %s: entries need "label", "score" and a '
                     '2-value "segment" (%s)' % (source, video_id, e)) from None
  if not (np.all(np.isfinite(scores)) and np.all(np.isfinite(segments))):
    raise ValueError('%s: video %s: NaN or Inf score or segment' % (
        source, video_id))
  return labels, scores, segments


def _results(detections, source):
  """The {video: entries} mapping of an infer.py json (or that mapping)."""
  if isinstance(detections, dict) and isinstance(
      detections.get('results'), dict):
    return detections['results']
  if isinstance(detections, dict) and 'results' not in detections:
    return detections
  raise ValueError('%s: no "results" object of videos' % source)


def compare_detections(fp32_dets, bf16_dets, top_k, score_tol, boundary_tol,
                       seconds_per_step=1.0):
  """How many of the float32 export's top detections the bfloat16 one repeats.

  For every video of fp32_dets, its top_k detections by score (all if fewer;
  ties keep the file's order) each count as matched when bf16_dets holds, for
  that video, a detection of the same label whose score differs by at most
  score_tol and whose start and end each differ by at most boundary_tol
  feature steps. Any bf16 detection may match (not only its top_k: near-equal
  scores may swap ranks across the cut), and one may match several fp32
  detections (NMS output has no near-duplicates within such tolerances).

  Args:
    fp32_dets, bf16_dets: tools/infer.py results ({"results": {video:
      [{"label", "score", "segment": [start, end]}]}}, segments in seconds),
      or their "results" mapping.
    top_k: fp32 detections per video to check.
    score_tol: largest score difference (scores are probabilities).
    boundary_tol: largest difference at each end, in feature steps.
    seconds_per_step: seconds of one feature step (stride_frames / fps), one
      number or {video: number}; 1.0 makes boundary_tol seconds.

  Returns:
    {checked, matched, unmatched, matched_fraction, num_videos,
     videos_missing_in_bf16, max_score_diff, max_boundary_diff_steps,
     max_boundary_diff_seconds}; the max diffs are over matched detections,
     each taking its closest match (smallest boundary difference, then
     score difference), 0.0 when none matched.
  """
  if top_k < 1:
    raise ValueError('top_k: must be at least 1, got %r' % top_k)
  fp32 = _results(fp32_dets, 'float32 detections')
  bf16 = _results(bf16_dets, 'bfloat16 detections')
  checked = matched = 0
  missing = []
  max_score = max_steps = max_seconds = 0.0
  for video_id in sorted(fp32):
    labels, scores, segments = _video_arrays(fp32[video_id], 'float32 '
                                             'detections', video_id)
    order = np.argsort(-scores, kind='stable')[:top_k]
    checked += len(order)
    if video_id not in bf16:
      missing.append(video_id)
      continue
    b_labels, b_scores, b_segments = _video_arrays(
        bf16[video_id], 'bfloat16 detections', video_id)
    step = (seconds_per_step[video_id] if isinstance(seconds_per_step, dict)
            else seconds_per_step)
    if not step > 0:
      raise ValueError('seconds_per_step: video %s: must be positive, got %r'
                       % (video_id, step))
    for i in order:
      same_class = b_labels == labels[i]
      score_diff = np.abs(b_scores - scores[i])
      # Steps, from seconds: the larger of the two ends' differences.
      boundary_diff = np.max(np.abs(b_segments - segments[i]), axis=1) / step
      ok = same_class & (score_diff <= score_tol) & (
          boundary_diff <= boundary_tol)
      if not np.any(ok):
        continue
      matched += 1
      candidates = np.flatnonzero(ok)
      best = candidates[np.lexsort((score_diff[candidates],
                                    boundary_diff[candidates]))[0]]
      max_score = max(max_score, float(score_diff[best]))
      max_steps = max(max_steps, float(boundary_diff[best]))
      max_seconds = max(max_seconds, float(boundary_diff[best] * step))
  return {
      'checked': checked, 'matched': matched, 'unmatched': checked - matched,
      'matched_fraction': matched / checked if checked else 1.0,
      'num_videos': len(fp32), 'videos_missing_in_bf16': missing,
      'max_score_diff': max_score, 'max_boundary_diff_steps': max_steps,
      'max_boundary_diff_seconds': max_seconds,
  }


def seconds_per_step(annotations_path, time_base, video_ids):
  """{video: stride_frames / fps}: each video's json "fps", else the time base's.

  time_base: the export's time_base.json values (fps, stride_frames), which
  tools/infer.py converted the model's steps to seconds with.
  """
  videos, _, _ = annotation_util.read_activitynet_json(annotations_path)
  fps_by_video = {video.video_id: video.fps for video in videos}
  result = {}
  for video_id in video_ids:
    fps = fps_by_video.get(video_id) or time_base['fps']
    result[video_id] = float(time_base['stride_frames']) / float(fps)
  return result


def _map_points(metrics, source):
  """({tIoU text: mAP points}, average points) of evaluate_detections' json."""
  try:
    per_tiou = {t: 100.0 * float(v) for t, v in metrics['mAP'].items()}
    average = 100.0 * float(metrics['average_mAP'])
  except (KeyError, TypeError, ValueError, AttributeError) as e:
    raise ValueError('%s: needs "mAP" {tIoU: value} and "average_mAP" (%s)' %
                     (source, e)) from None
  if not per_tiou:
    raise ValueError('%s: "mAP" has no thresholds' % source)
  return per_tiou, average


def map_gap(fp32_metrics, bf16_metrics):
  """mAP of both exports in points, their gap (bf16 - fp32), the largest |gap|.

  Args:
    fp32_metrics, bf16_metrics: tools/evaluate_detections.py outputs
      ({"mAP": {"0.1": fraction, ...}, "average_mAP": fraction, ...}).

  Returns:
    {tiou_thresholds, fp32, bf16, gap: {tIoU or 'average': points},
     max_abs_gap, max_abs_gap_tiou} over the thresholds (not the average).
  """
  fp32, fp32_avg = _map_points(fp32_metrics, 'float32 metrics')
  bf16, bf16_avg = _map_points(bf16_metrics, 'bfloat16 metrics')
  if sorted(fp32) != sorted(bf16):
    raise ValueError('metrics: the two exports were evaluated at different '
                     'tIoU thresholds (%s vs %s)' % (sorted(fp32),
                                                     sorted(bf16)))
  thresholds = sorted(fp32, key=float)
  gap = {t: bf16[t] - fp32[t] for t in thresholds}
  worst = max(thresholds, key=lambda t: (abs(gap[t]), -float(t)))
  fp32['average'], bf16['average'] = fp32_avg, bf16_avg
  gap['average'] = bf16_avg - fp32_avg
  return {'tiou_thresholds': thresholds, 'fp32': fp32, 'bf16': bf16,
          'gap': gap, 'max_abs_gap': abs(gap[worst]),
          'max_abs_gap_tiou': worst}


def compare_run(run_info, settings):
  """{'map', 'detections'} of a finished run_pipeline (its files checked)."""
  from tal_detection import exporter  # pylint: disable=g-import-not-at-top
  paths = run_info['paths']
  metrics = {p: activitynet_io.load_json(paths.metrics[p])
             for p in PRECISIONS}
  detections = {p: activitynet_io.load_json(paths.detections[p])
                for p in PRECISIONS}
  time_base = exporter.read_time_base(paths.export['float32'])
  if time_base is None:
    raise ValueError('%s: no time_base.json' % paths.export['float32'])
  steps = seconds_per_step(paths.annotations, time_base,
                           _results(detections['float32'], 'detections'))
  agreement = compare_detections(
      detections['float32'], detections['bfloat16'], settings.top_k,
      settings.score_tolerance, settings.boundary_tolerance_steps, steps)
  step_values = sorted(set(steps.values()))
  agreement['seconds_per_step'] = (step_values[0] if len(step_values) == 1
                                   else step_values)
  return {'map': map_gap(metrics['float32'], metrics['bfloat16']),
          'detections': agreement}


def results(settings, comparison, machine, command, wall_seconds,
            checkpoint=None, stage_seconds=None):
  """The results json: settings, mAP rows and gap, detection agreement."""
  mean_ap = comparison['map']
  return {
      'settings': dataclasses.asdict(settings),
      'checkpoint': checkpoint,
      'mAP_points': {'fp32': mean_ap['fp32'], 'bf16': mean_ap['bf16'],
                     'gap_bf16_minus_fp32': mean_ap['gap']},
      'tiou_thresholds': mean_ap['tiou_thresholds'],
      'max_abs_gap_points': mean_ap['max_abs_gap'],
      'max_abs_gap_tiou': mean_ap['max_abs_gap_tiou'],
      'within_map_tolerance': bool(
          mean_ap['max_abs_gap'] <= settings.map_tolerance_points),
      'detection_agreement': comparison['detections'],
      'machine': machine,
      'command': command,
      'wall_seconds': wall_seconds,
      'stage_seconds': stage_seconds or {},
  }


def format_markdown(result):
  """The README block: mAP table, then the detection agreement and the run."""
  s = result['settings']
  thresholds = result['tiou_thresholds']
  columns = thresholds + ['average']
  rows = result['mAP_points']
  lines = ['| mAP (%%), %d test videos | %s |' % (
      s['num_test'], ' | '.join(
          ['tIoU %s' % t for t in thresholds] + ['average'])),
           '|---|%s' % ('---|' * len(columns))]
  for label, key in (('fp32 export', 'fp32'), ('bf16 export', 'bf16'),
                     ('gap (bf16 - fp32)', 'gap_bf16_minus_fp32')):
    fmt = '%+.2f' if key.startswith('gap') else '%.2f'
    lines.append('| %s | %s |' % (label, ' | '.join(
        fmt % rows[key][c] for c in columns)))
  a = result['detection_agreement']
  steps = a['seconds_per_step']
  steps = steps if isinstance(steps, list) else [steps]
  tolerance_seconds = '-'.join(
      '%g' % (s['boundary_tolerance_steps'] * step)
      for step in sorted({steps[0], steps[-1]}))
  step_text = '-'.join('%g' % step for step in sorted({steps[0], steps[-1]}))
  machine = result['machine']
  lines += [
      '',
      'Largest |gap| %.2f points at tIoU %s (tolerance %g: %s). Detections: '
      '%d of %d (%.1f%%) of the fp32 export\'s top-%d per video have a '
      'same-class bf16 detection within %g in score and %g feature steps '
      '(%s s at %s s per step) at both ends; among them the largest '
      'differences are %.2g in score and %.2g steps.' % (
          result['max_abs_gap_points'], result['max_abs_gap_tiou'],
          s['map_tolerance_points'],
          'within' if result['within_map_tolerance'] else 'EXCEEDED',
          a['matched'], a['checked'], 100.0 * a['matched_fraction'],
          s['top_k'], s['score_tolerance'], s['boundary_tolerance_steps'],
          tolerance_seconds, step_text,
          a['max_score_diff'], a['max_boundary_diff_steps']),
      '',
      'Synthetic set: %d train / %d test videos, %d classes, two %d-d '
      'streams, signal strength %g; %s trained %d steps, both exports of '
      '%s. Machine: %s; %.0f s wall time. '
      'Command: `%s`.' % (
          s['num_train'], s['num_test'], s['num_classes'], s['stream_dim'],
          s['signal_strength'], os.path.relpath(s['pipeline_config_path'],
                                                REPO_ROOT), s['num_steps'],
          os.path.basename(result['checkpoint'] or '?'),
          machine_info.machine_summary(machine),
          result['wall_seconds'], result['command']),
  ]
  return '\n'.join(lines) + '\n'
