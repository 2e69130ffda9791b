"""The THUMOS'14 kit protocol against a plain-Python transcription of the kit's loop."""
import numpy as np
import pytest

from tal_detection.metrics import activitynet_io
from tal_detection.metrics import thumos14_kit_evaluation as kit

THUMOS_JSON = 'tests/data/thumos14.json'


def _matlab_colon_0_01_1():
  # MATLAB's 0:0.1:1 (first half a + k d, second half b - (n - k) d).
  return [0 + k * 0.1 for k in range(6)] + [1 - (10 - k) * 0.1
                                            for k in range(6, 11)]


def _overlap(a, b):
  """intervalsingleoverlapvalseconds with the default (hull) normalisation."""
  a = (min(a), max(a))
  b = (min(b), max(b))
  hull = max(a[1], b[1]) - min(a[0], b[0])
  width = min(a[1], b[1]) - max(a[0], b[0])
  return width / hull if width > 0 else 0.0


def reference_kit_ap(gt, ambiguous, dets, class_name, threshold):
  """TH14eventdetpr for one class, loop for loop.

  gt: list of (video, class, (start, end)) in annotation order; ambiguous: list of
  (video, (start, end)); dets: list of (video, class, (start, end), conf).
  """
  videos = sorted(set(v for v, _, _ in gt) | set(v for v, _, _, _ in dets))
  npos = sum(1 for _, c, _ in gt if c == class_name)
  tpconf, fpconf = [], []
  for video in videos:
    video_gt = [s for v, c, s in gt if v == video and c == class_name]
    video_amb = [s for v, s in ambiguous if v == video]
    video_det = [(s, conf) for v, c, s, conf in dets
                 if v == video and c == class_name]
    if not video_det:
      continue
    video_det = sorted(video_det, key=lambda d: -d[1])  # stable, like MATLAB.
    free = [True] * len(video_det)
    for g in video_gt:
      ind = [i for i in range(len(video_det)) if free[i]]
      if not ind:
        continue
      ovs = [_overlap(g, video_det[i][0]) for i in ind]
      vm = max(ovs)
      im = ovs.index(vm)  # MATLAB's max returns the first maximum.
      if vm > threshold:
        free[ind[im]] = False
    amb = [sum(_overlap(a, d[0]) for a in video_amb) for d in video_det]
    for i, (_, conf) in enumerate(video_det):
      if not free[i]:
        tpconf.append(conf)
      elif amb[i] == 0:
        fpconf.append(conf)
  conf = [(c, 1) for c in tpconf] + [(c, 2) for c in fpconf]
  conf = sorted(conf, key=lambda x: -x[0])  # stable: TPs first on ties.
  tp = fp = 0
  rec, prec = [], []
  for _, flag in conf:
    tp += flag == 1
    fp += flag == 2
    rec.append(tp / npos)
    prec.append(tp / (tp + fp))
  ap = 0.0
  for t in _matlab_colon_0_01_1():
    at = [p for r, p in zip(rec, prec) if r >= t]
    ap += (max(at) if at else 0.0) / 11
  return ap


def _run_kit(gt, ambiguous, dets, class_names, thresholds):
  index = {c: i for i, c in enumerate(class_names)}
  return kit.compute_average_precision_kit(
      [v for v, _, _ in gt], [s for _, _, s in gt], [index[c] for _, c, _ in gt],
      [v for v, _, _, _ in dets], np.array([s for _, _, s, _ in dets]).reshape(-1, 2),
      [d[3] for d in dets], [index[d[1]] for d in dets], len(class_names),
      thresholds, [v for v, _ in ambiguous],
      np.array([s for _, s in ambiguous]).reshape(-1, 2))


def _random_case(rng, num_videos=6, classes=('A', 'B', 'C', 'D'), tied=False):
  gt, ambiguous, dets = [], [], []
  for v in range(num_videos):
    video = 'v%d' % v
    for _ in range(rng.randint(0, 6)):
      start = rng.uniform(0, 60)
      gt.append((video, classes[rng.randint(0, 3)],
                 (start, start + rng.uniform(1, 10))))
    for _ in range(rng.randint(0, 3)):
      start = rng.uniform(0, 60)
      ambiguous.append((video, (start, start + rng.uniform(1, 8))))
    for _ in range(rng.randint(0, 25)):
      # Class D never has ground truth; some detections sit near ground truth.
      if gt and rng.rand() < 0.5:
        _, c, (s, e) = gt[rng.randint(len(gt))]
        s, e = s + rng.normal(0, 1), e + rng.normal(0, 1)
        s, e = min(s, e - 0.1), e
      else:
        c = classes[rng.randint(0, 4)]
        s = rng.uniform(0, 60)
        e = s + rng.uniform(0.5, 10)
      conf = (rng.randint(0, 4) / 4.0) if tied else rng.uniform()
      dets.append((video, c, (s, e), conf))
  return gt, ambiguous, dets


@pytest.mark.parametrize('seed', range(12))
@pytest.mark.parametrize('tied', [False, True])
def test_matches_plain_transcription(seed, tied):
  rng = np.random.RandomState(seed)
  classes = ['A', 'B', 'C', 'D']
  gt, ambiguous, dets = _random_case(rng, tied=tied)
  # Exact copies of ground truth: overlaps of exactly 1, and duplicated detections.
  for video, c, s in gt[:3]:
    dets.append((video, c, s, 0.5))
    dets.append((video, c, s, 0.5))
  thresholds = [0.1, 0.3, 0.5, 0.7]
  result = _run_kit(gt, ambiguous, dets, classes, thresholds)
  for ci, c in enumerate(classes):
    if not any(g[1] == c for g in gt):
      assert np.all(np.isnan(result.average_precision[:, ci]))
      continue
    for ti, t in enumerate(thresholds):
      assert result.average_precision[ti, ci] == pytest.approx(
          reference_kit_ap(gt, ambiguous, dets, c, t), abs=1e-12), (c, t)


def test_hand_computed_ground_truth_driven_match_and_ambiguous():
  # One video, class A. GT1 [0, 10], GT2 [8, 20]. Detections by confidence:
  # d1 [7, 20] 0.9 (overlap 3/20 with GT1, 12/13 with GT2), d2 [0, 9] 0.8
  # (9/10 with GT1), d3 [30, 32] 0.7 inside the Ambiguous [29, 31] -> dropped,
  # d4 [40, 41] 0.6 -> false positive.
  gt = [('v', 'A', (0.0, 10.0)), ('v', 'A', (8.0, 20.0))]
  ambiguous = [('v', (29.0, 31.0))]
  dets = [('v', 'A', (7.0, 20.0), 0.9), ('v', 'A', (0.0, 9.0), 0.8),
          ('v', 'A', (30.0, 32.0), 0.7), ('v', 'A', (40.0, 41.0), 0.6)]
  result = _run_kit(gt, ambiguous, dets, ['A'], [0.5])
  # Sequence TP, TP, FP: precision 1, 1, 2/3 at recall 0.5, 1, 1 -> AP 1.
  assert result.average_precision[0, 0] == 1.0
  # Without the Ambiguous segment d3 is a false positive, still after both TPs.
  assert _run_kit(gt, [], dets, ['A'], [0.5]).average_precision[0, 0] == 1.0
  # At 0.95 nothing matches: AP 0.
  assert _run_kit(gt, ambiguous, dets, ['A'], [0.95]).average_precision[0, 0] == 0


def test_overlap_equal_to_threshold_does_not_match():
  # Overlap exactly 0.5 (intersection 5 over hull 10): the kit needs > 0.5.
  gt = [('v', 'A', (0.0, 10.0))]
  dets = [('v', 'A', (0.0, 5.0), 0.9)]
  assert _run_kit(gt, [], dets, ['A'], [0.5]).average_precision[0, 0] == 0.0
  assert _run_kit(gt, [], dets, ['A'], [0.4]).average_precision[0, 0] == 1.0


def test_tied_confidence_ranks_true_positive_first():
  # Same confidence: the FP (input first) still ranks after the TP.
  gt = [('v', 'A', (0.0, 10.0))]
  dets = [('v', 'A', (50.0, 60.0), 0.5), ('v', 'A', (0.0, 10.0), 0.5)]
  assert _run_kit(gt, [], dets, ['A'], [0.5]).average_precision[0, 0] == 1.0


def test_class_without_detections_scores_zero():
  gt = [('v', 'A', (0.0, 10.0)), ('v', 'B', (0.0, 10.0))]
  dets = [('v', 'A', (0.0, 10.0), 0.5)]
  result = _run_kit(gt, [], dets, ['A', 'B'], [0.5])
  np.testing.assert_array_equal(result.average_precision, [[1.0, 0.0]])
  assert result.mean_average_precision[0] == 0.5


def test_recall_points_are_matlab_colon():
  np.testing.assert_array_equal(kit.RECALL_POINTS, _matlab_colon_0_01_1())
  assert kit.RECALL_POINTS[3] == 3 * 0.1 and kit.RECALL_POINTS[3] != 0.3
  assert kit.RECALL_POINTS[7] == 0.7


def test_real_thumos_ground_truth_against_transcription():
  gt_data = activitynet_io.load_ground_truth(THUMOS_JSON, 'Test')
  rng = np.random.RandomState(0)
  pick = rng.choice(gt_data.labels.size, size=150, replace=False)
  gt = [(gt_data.video_ids[i], gt_data.class_names[gt_data.labels[i]],
         tuple(gt_data.segments[i])) for i in range(gt_data.labels.size)]
  dets = []
  for i in pick:
    video, c, (s, e) = gt[i]
    jitter = rng.normal(0, 0.3 * (e - s), size=2)
    dets.append((video, c, (s + jitter[0], max(e + jitter[1], s + jitter[0] + 0.1)),
                 float(rng.uniform())))
  ambiguous = [(gt[i][0], (gt[i][2][0] - 5, gt[i][2][0] - 4)) for i in pick[:30]]
  classes = gt_data.class_names
  thresholds = [0.1, 0.3, 0.5]
  result = _run_kit(gt, ambiguous, dets, classes, thresholds)
  for ci, c in enumerate(classes[:6]):
    for ti, t in enumerate(thresholds):
      assert result.average_precision[ti, ci] == pytest.approx(
          reference_kit_ap(gt, ambiguous, dets, c, t), abs=1e-12)


def test_bad_inputs():
  with pytest.raises(ValueError, match='ambiguous'):
    kit.compute_average_precision_kit(
        ['v'], [[0, 1]], [0], ['v'], [[0, 1]], [0.5], [0], 1, [0.5],
        ['v', 'w'], [[0, 1]])
  with pytest.raises(ValueError, match='pred_labels'):
    kit.compute_average_precision_kit(
        ['v'], [[0, 1]], [0], ['v'], [[0, 1]], [0.5], [3], 1, [0.5])
