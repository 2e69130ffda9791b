r"""Rescores detections with external video-level class scores (ActivityNet).

  python tools/fuse_video_scores.py --detections=out/anet/detections.json \
    --video_scores=data/activitynet13/cuhk_val_scores.json --top_k=2 \
    --rule=class_agnostic --output=out/anet/detections_fused.json

--detections: an ActivityNet results json (tools/infer.py's output, or a
proposals json for --rule=class_agnostic). --video_scores: {video: {label:
score}} (optionally under a "results" key). Per video the top-k labels by
video score are kept and
  class_agnostic (BMN / G-TAD): every distinct segment (its best score s) is
      output once per top-k label c with score s * v_c;
  per_class: a detection of label c is kept only if c is in the top-k, with
      score s * v_c.
The rules and tie-breaking are documented in tal_detection/core/score_fusion.py.
Evaluate the result with tools/evaluate_detections.py.
"""
# tool_util first: it quiets TensorFlow's start-up banner before TF loads.
from tal_detection.utils import tool_util  # pylint: disable=g-bad-import-order

from absl import flags

from tal_detection.core import score_fusion
from tal_detection.metrics import activitynet_io
from tal_detection.utils import io_util

FLAGS = flags.FLAGS
flags.DEFINE_string('detections', None, 'ActivityNet results json to rescore.')
flags.DEFINE_string('video_scores', None, 'json {video: {label: score}} of a '
                    'video-level classifier.')
flags.DEFINE_integer('top_k', 2, 'Video-level labels kept per video (BMN, '
                     'G-TAD: 2).')
flags.DEFINE_enum('rule', score_fusion.CLASS_AGNOSTIC, list(score_fusion.RULES),
                  'class_agnostic: segments x top-k labels; per_class: keep '
                  'detections of the top-k labels, rescored.')
flags.DEFINE_string('output', None, 'Where to write the fused results json.')


def main(unused_argv):
  for flag in ('detections', 'video_scores', 'output'):
    if not getattr(FLAGS, flag):
      raise ValueError('--%s is required' % flag)
  if FLAGS.top_k < 1:
    raise ValueError('--top_k: must be at least 1, got %d' % FLAGS.top_k)
  fused = score_fusion.fuse_results(
      activitynet_io.load_json(FLAGS.detections),
      activitynet_io.load_json(FLAGS.video_scores), FLAGS.top_k, FLAGS.rule,
      detections_name=FLAGS.detections, video_scores_name=FLAGS.video_scores)
  io_util.write_json(FLAGS.output, fused)
  print('Wrote %d videos, %d detections (top %d video labels, %s) to %s' % (
      len(fused['results']), sum(len(v) for v in fused['results'].values()),
      FLAGS.top_k, FLAGS.rule, FLAGS.output))


if __name__ == '__main__':
  tool_util.run(main)
