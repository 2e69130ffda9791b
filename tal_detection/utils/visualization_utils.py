"""Pictures of results: video timelines (like the paper's Fig. 8), the AR-AN
curve and per-class precision-recall curves, as PNG bytes (for TensorBoard's
eval images and tools/infer.py --plot).

A timeline has one lane per class present (in the ground truth or among the
drawn detections). A lane holds a ground-truth row (when ground truth is known)
above one or more detection rows; detections that would overlap (with their
score label) are stacked on extra rows instead of hiding each other. Every
detection is labelled with its score. The x axis is the whole video in seconds.
Colours are the Okabe-Ito palette (distinguishable with the common forms of
colour blindness); a lane's colour is also written as its label, so colour is
never the only cue.
"""
import io

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

# Okabe & Ito (2008), "Color Universal Design"; black is kept for ground truth.
OKABE_ITO = ('#E69F00', '#56B4E9', '#009E73', '#F0E442', '#0072B2', '#D55E00',
             '#CC79A7', '#999999')
GROUNDTRUTH_COLOR = '#000000'
# A score label needs about this fraction of the axis width (fontsize 7 on a
# 10-inch axis); detections closer than that go on separate rows.
_LABEL_FRACTION = 0.035


def class_colors(class_ids):
  """{class id: colour}, by rank among the given ids (cycles past 8)."""
  return {c: OKABE_ITO[i % len(OKABE_ITO)]
          for i, c in enumerate(sorted(set(class_ids)))}


def _figure_png(fig, dpi=100):
  buffer = io.BytesIO()
  fig.savefig(buffer, format='png', dpi=dpi, bbox_inches='tight')
  plt.close(fig)
  return buffer.getvalue()


def stack_rows(intervals, min_gap=0.0):
  """A row index per interval, the lowest row where it overlaps nothing.

  Intervals are placed in the given order (highest score first, so the best
  detections get the first rows), each on the first row where it keeps
  min_gap from every interval already there.

  Args:
    intervals: list of (start, end).
    min_gap: room required between two intervals on one row.

  Returns:
    list of row indices (0 = first row), as many as intervals.
  """
  rows = []  # per row: its placed intervals
  placement = []
  for start, end in intervals:
    for index, placed in enumerate(rows):
      if all(end + min_gap <= s or start >= e + min_gap for s, e in placed):
        placed.append((start, end))
        placement.append(index)
        break
    else:
      rows.append([(start, end)])
      placement.append(len(rows) - 1)
  return placement


def select_detections(detections, top_k, min_score=0.0):
  """The top_k highest-scoring detections scoring >= min_score (0: all)."""
  kept = sorted((d for d in detections if d[3] >= min_score),
                key=lambda d: -d[3])
  return kept[:top_k] if top_k else kept


def timeline_layout(duration, groundtruth, detections):
  """Where every bar goes: lanes (classes) and rows, bottom to top.

  Args:
    duration: x extent in seconds.
    groundtruth: list of (start, end, class_id), or None when unknown.
    detections: list of (start, end, class_id, score) to draw.

  Returns:
    (lanes, total_rows): lanes is a list of dicts, one per class present in
    ascending class id, with 'class_id', 'gt_row' (row index or None),
    'detection_rows' ([row index per detection of the class]),
    'detections' (those detections, highest score first), 'groundtruth'
    (its (start, end) pairs), 'first_row', 'last_row'.
  """
  class_ids = sorted({d[2] for d in detections} |
                     {g[2] for g in (groundtruth or ())})
  label_width = _LABEL_FRACTION * duration
  lanes = []
  row = 0
  # Lanes are stacked top-down in class order: the first class at the top,
  # so rows are assigned from the top and flipped when drawn.
  for class_id in class_ids:
    lane = {'class_id': class_id, 'first_row': row}
    if groundtruth is not None:
      lane['groundtruth'] = [(s, e) for s, e, c in groundtruth if c == class_id]
      lane['gt_row'] = row
      row += 1
    else:
      lane['groundtruth'] = []
      lane['gt_row'] = None
    mine = sorted((d for d in detections if d[2] == class_id),
                  key=lambda d: -d[3])
    # A detection's row needs room for its bar and its score label.
    stacked = stack_rows([(s, max(e, s + label_width)) for s, e, _, _ in mine],
                         min_gap=0.2 * label_width)
    lane['detections'] = mine
    lane['detection_rows'] = [row + r for r in stacked]
    row += (max(stacked) + 1) if stacked else 1
    lane['last_row'] = row - 1
    lanes.append(lane)
  return lanes, row


def timeline_png(video_id, duration, groundtruth, detections, category_index,
                 top_k=20, min_score=0.0):
  """One video's ground truth and top detections, lane per class, as PNG.

  Args:
    video_id: title of the picture.
    duration: video length in seconds (the x axis ends there); None -> the
      largest segment end (only when the length is truly unknown).
    groundtruth: list of (start, end, class_id) in seconds, or None when no
      ground truth is known (no ground-truth row is drawn). An empty list
      means "known: no instance".
    detections: list of (start, end, class_id, score) in seconds.
    category_index: {class_id: name}.
    top_k: draw at most this many detections, highest scores (0: all).
    min_score: skip detections below this score.

  Returns:
    PNG bytes.
  """
  detections = select_detections(detections, top_k, min_score)
  if not duration:
    ends = ([g[1] for g in groundtruth or ()] + [d[1] for d in detections] +
            [1.0])
    duration = max(ends)
  duration = float(duration)
  lanes, total_rows = timeline_layout(duration, groundtruth, detections)
  colors = class_colors([lane['class_id'] for lane in lanes])
  height = 0.9 + 0.32 * max(total_rows, 1)
  fig, ax = plt.subplots(figsize=(10, height))
  # Row r (counted from the top) is drawn at y = total_rows - 1 - r.
  y_of = lambda r: total_rows - 1 - r
  ytick_positions, ytick_labels = [], []
  for index, lane in enumerate(lanes):
    class_id = lane['class_id']
    color = colors[class_id]
    name = category_index.get(class_id, str(class_id))
    if index % 2 == 0:  # a light band tells neighbouring lanes apart
      ax.axhspan(y_of(lane['last_row']) - 0.5, y_of(lane['first_row']) + 0.5,
                 color='#f2f2f2', zorder=0)
    if lane['gt_row'] is not None:
      y = y_of(lane['gt_row'])
      for start, end in lane['groundtruth']:
        ax.barh(y, end - start, left=start, height=0.7,
                color=GROUNDTRUTH_COLOR, zorder=2)
      ytick_positions.append(y)
      ytick_labels.append('%s  ground truth' % name)
    for (start, end, _, score), r in zip(lane['detections'],
                                         lane['detection_rows']):
      y = y_of(r)
      ax.barh(y, max(end - start, 1e-3 * duration), left=start, height=0.7,
              color=color, edgecolor='black', linewidth=0.5, zorder=2)
      ax.text(start, y, ' %.2f' % score, va='center', ha='left', fontsize=7,
              zorder=3, color='black')
    first_detection_row = (lane['gt_row'] + 1 if lane['gt_row'] is not None
                           else lane['first_row'])
    ytick_positions.append((y_of(first_detection_row) + y_of(lane['last_row']))
                           / 2.0)
    ytick_labels.append('%s  detections' % name)
  ax.set_yticks(ytick_positions)
  ax.set_yticklabels(ytick_labels, fontsize=8)
  for tick, label in zip(ax.get_yticklabels(), ytick_labels):
    tick.set_color('black' if label.endswith('ground truth') else '#333333')
  ax.set_ylim(-0.6, max(total_rows, 1) - 0.4)
  ax.set_xlim(0, duration)
  ax.set_xlabel('time (s)')
  ax.grid(True, axis='x', alpha=0.3, zorder=1)
  shown = len(detections)
  title = '%s  (%.1f s; top %d detections%s, score printed at each bar)' % (
      video_id, duration, shown,
      ', ground truth in black' if groundtruth is not None else
      ', no ground truth given')
  ax.set_title(title, fontsize=9)
  return _figure_png(fig)


def ar_an_curve_png(average_numbers, average_recalls, title='AR-AN'):
  """Average recall against the average number of proposals per video."""
  fig, ax = plt.subplots(figsize=(5, 4))
  numbers = np.asarray(average_numbers, np.float64)
  recalls = 100.0 * np.asarray(average_recalls, np.float64)
  ax.plot(numbers, recalls, lw=2, color=OKABE_ITO[4])
  for an in (10, 50, 100, 200):
    if numbers.size and numbers[0] <= an <= numbers[-1]:
      value = float(np.interp(an, numbers, recalls))
      ax.plot([an], [value], 'o', color=OKABE_ITO[5])
      ax.annotate('%.1f' % value, (an, value), textcoords='offset points',
                  xytext=(4, -12), fontsize=8)
  ax.set_xlabel('average number of proposals per video (AN)')
  ax.set_ylabel('average recall (%)')
  ax.set_ylim(0, 100)
  ax.set_xlim(0, max(float(numbers[-1]) if numbers.size else 1.0, 1.0))
  ax.grid(True, alpha=0.3)
  ax.set_title(title, fontsize=10)
  return _figure_png(fig)


def precision_recall_png(curves, tiou_threshold, title=None):
  """Per-class precision-recall curves at one tIoU threshold.

  Args:
    curves: list of (class name, recall [K], precision [K], average precision)
      with the points of each class in descending-score order.
    tiou_threshold: the tIoU the curves were matched at (in the title).
    title: optional title prefix.

  Returns:
    PNG bytes.
  """
  fig, ax = plt.subplots(figsize=(6, 4.5))
  styles = ('-', '--', '-.', ':')
  for i, (name, recall, precision, ap) in enumerate(curves):
    # Start at recall 0 with the first point's precision, as the AP does.
    recall = np.concatenate([[0.0], np.asarray(recall, np.float64)])
    precision = np.asarray(precision, np.float64)
    precision = np.concatenate([precision[:1] if precision.size else [0.0],
                                precision])
    ax.step(recall, precision, where='post', lw=1.8,
            color=OKABE_ITO[i % len(OKABE_ITO)],
            linestyle=styles[(i // len(OKABE_ITO)) % len(styles)],
            label='%s (AP %.1f)' % (name, 100.0 * ap))
  ax.set_xlim(0, 1.0)
  ax.set_ylim(0, 1.02)
  ax.set_xlabel('recall')
  ax.set_ylabel('precision')
  ax.grid(True, alpha=0.3)
  ax.legend(fontsize=7, loc='lower left')
  ax.set_title('%sprecision-recall per class, tIoU %g' % (
      (title + ': ') if title else '', tiou_threshold), fontsize=10)
  return _figure_png(fig)
