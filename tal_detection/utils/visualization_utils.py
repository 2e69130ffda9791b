"""Timeline pictures (ground truth vs detections, like the paper's Fig. 8) and
the AR-AN curve, as PNG bytes for TensorBoard or files for tools/infer.py."""
import io

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np


def _class_colors(class_ids):
  cmap = plt.get_cmap('tab20')
  return {c: cmap(i % 20) for i, c in enumerate(sorted(set(class_ids)))}


def _figure_png(fig):
  buffer = io.BytesIO()
  fig.savefig(buffer, format='png', dpi=80, bbox_inches='tight')
  plt.close(fig)
  return buffer.getvalue()


def timeline_png(video_id, duration, groundtruth, detections, category_index,
                 max_detections=20, min_score=0.0):
  """Draws one video's ground truth above its top detections.

  Args:
    video_id: title of the picture.
    duration: video length in seconds (x axis); None -> from the segments.
    groundtruth: list of (start, end, class_id) in seconds.
    detections: list of (start, end, class_id, score) in seconds.
    category_index: {class_id: name}.
    max_detections: draw at most this many detections (highest scores).
    min_score: skip detections below this score.

  Returns:
    PNG bytes.
  """
  detections = sorted((d for d in detections if d[3] >= min_score),
                      key=lambda d: -d[3])[:max_detections]
  ends = [g[1] for g in groundtruth] + [d[1] for d in detections] + [1.0]
  duration = float(duration) if duration else max(ends)
  colors = _class_colors([g[2] for g in groundtruth] +
                         [d[2] for d in detections])
  fig, ax = plt.subplots(figsize=(10, 2.2))
  for start, end, cls in groundtruth:
    ax.barh(1, end - start, left=start, height=0.6, color=colors[cls],
            edgecolor='black')
  for start, end, cls, score in detections:
    ax.barh(0, end - start, left=start, height=0.6, color=colors[cls],
            alpha=float(np.clip(score, 0.15, 1.0)), edgecolor='black')
  ax.set_yticks([0, 1])
  ax.set_yticklabels(['detections', 'ground truth'])
  ax.set_xlim(0, duration)
  ax.set_xlabel('seconds')
  ax.set_title(str(video_id))
  handles = [matplotlib.patches.Patch(color=colors[c],
                                      label=category_index.get(c, str(c)))
             for c in colors]
  if handles:
    ax.legend(handles=handles, loc='upper center', fontsize=7,
              ncol=min(len(handles), 6), bbox_to_anchor=(0.5, -0.45))
  return _figure_png(fig)


def ar_an_curve_png(average_numbers, average_recalls, title='AR-AN'):
  """Plots average recall against the average number of proposals per video."""
  fig, ax = plt.subplots(figsize=(5, 4))
  ax.plot(np.asarray(average_numbers), np.asarray(average_recalls), lw=2)
  ax.set_xlabel('average number of proposals per video')
  ax.set_ylabel('average recall')
  ax.set_ylim(0, 1)
  ax.grid(True, alpha=0.3)
  ax.set_title(title)
  return _figure_png(fig)
