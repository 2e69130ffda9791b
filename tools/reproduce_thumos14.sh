#!/usr/bin/env bash
# TAL-Net on THUMOS'14 from the widely shared I3D features, end to end:
#   bash tools/reproduce_thumos14.sh FEATURES_DIR ANNOTATIONS_JSON OUT_DIR
# FEATURES_DIR holds one <video>.npy of [T, 2048] per video (rgb 1024 | flow
# 1024, 16-frame windows every 4 frames at the video's fps: the ActionFormer
# layout, 7.5 features/s at 30 fps); ANNOTATIONS_JSON is the matching
# ActivityNet-style json ("database": {video: {subset, duration, fps,
# annotations: [{label, segment}]}}, e.g. ActionFormer's thumos14.json).
#  1/7 records: the TRAIN_SUBSET and TEST_SUBSET videos, resampled to the
#      paper's 0.625 features/s (48-frame windows every 48 frames, the
#      frame-weighted means of the original features);
#  2/7 anchor coverage of the ground truth before (4/16 frames) and after
#      resampling (tools/inspect_dataset.py; last line coverage@0.5/0.7);
#  3/7 train + evaluate configs/thumos14_i3d_tal_net.config (every saved
#      checkpoint evaluated; model_main keeps the best by mAP@0.5 in
#      OUT_DIR/model/best);
#  4/7 export that best checkpoint;  5/7 the test features resampled alike;
#  6/7 tools/infer.py with each video's fps from ANNOTATIONS_JSON;
#  7/7 tools/evaluate_detections.py, then the paper's Table 5 row beside ours
#      (also written to OUT_DIR/table5.md).
# Logs: OUT_DIR/logs/<stage>.log. OUT_DIR/records, model, exported and
# test_features are replaced.
# Environment (defaults): TRAIN_SUBSET (Validation), TEST_SUBSET (Test),
# STREAM_DIMS (1024,1024), LABEL_MAP (a label map .pbtxt to use; default: one
# written from the annotations' classes), NUM_TRAIN_STEPS (the config's
# num_steps),
# CONFIG_OVERRIDE (text fragment given to model_main), PROTOCOL (activitynet;
# or thumos14_kit), PYTHON (python).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -ne 3 ] || [ -z "$1" ] || [ -z "$2" ] || [ -z "$3" ]; then
  echo "reproduce_thumos14: error: usage: bash tools/reproduce_thumos14.sh FEATURES_DIR ANNOTATIONS_JSON OUT_DIR" >&2
  exit 2
fi
FEATURES="$1"
ANNOTATIONS="$2"
OUT="$3"
if [ ! -d "$FEATURES" ]; then
  echo "reproduce_thumos14: error: $FEATURES: FEATURES_DIR is not a folder" >&2
  exit 1
fi
if [ ! -f "$ANNOTATIONS" ]; then
  echo "reproduce_thumos14: error: $ANNOTATIONS: ANNOTATIONS_JSON is not a file" >&2
  exit 1
fi
PY="${PYTHON:-python}"
CONFIG=configs/thumos14_i3d_tal_net.config
TRAIN_SUBSET="${TRAIN_SUBSET:-Validation}"
TEST_SUBSET="${TEST_SUBSET:-Test}"
STREAM_DIMS="${STREAM_DIMS:-1024,1024}"
PROTOCOL="${PROTOCOL:-activitynet}"
# The shared features' time base, and the paper's (0.625 features/s at 30 fps).
STRIDE=4
WINDOW=16
NEW_STRIDE=48
NEW_WINDOW=48
RECORDS="$OUT/records"
LOGS="$OUT/logs"
export TF_CPP_MIN_LOG_LEVEL=2

# run LOG CMD...: see tools/shell_util.sh.
source tools/shell_util.sh

start=$(date +%s)
mkdir -p "$LOGS"
rm -rf "$RECORDS" "$OUT/model" "$OUT/exported" "$OUT/test_features"

echo "== 1/7 records at 0.625 features/s -> $RECORDS (log: $LOGS/records.log)"
if [ -n "${LABEL_MAP:-}" ]; then
  mkdir -p "$RECORDS"
  cp "$LABEL_MAP" "$RECORDS/label_map.pbtxt"
fi
for subset in "$TRAIN_SUBSET" "$TEST_SUBSET"; do
  run "$LOGS/records.log" "$PY" tools/create_tal_tf_record.py \
    --annotations_json="$ANNOTATIONS" --subset="$subset" \
    --features_dir="$FEATURES" --feature_layout=concat \
    --stream_names=rgb,flow --stream_dims="$STREAM_DIMS" \
    --stride_frames="$STRIDE" --window_frames="$WINDOW" \
    --resample_stride_frames="$NEW_STRIDE" \
    --resample_window_frames="$NEW_WINDOW" \
    --label_map_path="$RECORDS/label_map.pbtxt" \
    --output_path="$RECORDS/$subset.record"
  tail -n 1 "$LOGS/records.log" | sed 's/^/   /'
done

echo "== 2/7 anchor coverage of the $TRAIN_SUBSET ground truth (log: $LOGS/coverage.log)"
run "$LOGS/coverage.log" "$PY" tools/inspect_dataset.py \
  --pipeline_config_path="$CONFIG" --annotations_json="$ANNOTATIONS" \
  --subset="$TRAIN_SUBSET" --stride_frames="$STRIDE" --window_frames="$WINDOW" \
  --resample_stride_frames="$NEW_STRIDE" \
  --resample_window_frames="$NEW_WINDOW" \
  --results_json="$OUT/coverage.json"
echo "   at $STRIDE/$WINDOW frames, then resampled to $NEW_STRIDE/$NEW_WINDOW:"
grep '^coverage@' "$LOGS/coverage.log" | sed 's/^/   /'
echo "   the training records:"
run "$LOGS/coverage.log" "$PY" tools/inspect_dataset.py \
  --pipeline_config_path="$CONFIG" --input_path="$RECORDS/$TRAIN_SUBSET.record"
tail -n 1 "$LOGS/coverage.log" | sed 's/^/   /'

echo "== 3/7 train + evaluate $CONFIG (log: $LOGS/train.log)"
steps=()
[ -n "${NUM_TRAIN_STEPS:-}" ] && steps+=("--num_train_steps=$NUM_TRAIN_STEPS")
overrides=()
[ -n "${CONFIG_OVERRIDE:-}" ] && overrides+=("--config_override=$CONFIG_OVERRIDE")
# Every saved checkpoint is evaluated (no wait between evaluations) on every
# test video (num_examples 0: to the end of the records), so best/ holds the
# best of all of them.
cat > "$OUT/eval_every_checkpoint.config" <<EOF
eval_config { eval_interval_secs: 0 num_examples: 0 }
EOF
run "$LOGS/train.log" "$PY" tools/model_main.py --pipeline_config_path="$CONFIG" \
  --config_override_file="$OUT/eval_every_checkpoint.config" \
  ${overrides[@]+"${overrides[@]}"} ${steps[@]+"${steps[@]}"} \
  --model_dir="$OUT/model" \
  --train_input_path="$RECORDS/$TRAIN_SUBSET.record" \
  --eval_input_path="$RECORDS/$TEST_SUBSET.record" \
  --label_map_path="$RECORDS/label_map.pbtxt"
if [ ! -f "$OUT/model/best/checkpoint" ]; then
  echo "reproduce_thumos14: error: $OUT/model/best: no best checkpoint after training (see $LOGS/train.log)" >&2
  exit 1
fi
echo "   best: $(head -n 1 "$OUT/model/best/checkpoint")"

echo "== 4/7 export the best checkpoint -> $OUT/exported (log: $LOGS/export.log)"
run "$LOGS/export.log" "$PY" tools/export_saved_model.py \
  --pipeline_config_path="$OUT/model/pipeline.config" \
  --checkpoint_dir="$OUT/model/best" --output_directory="$OUT/exported"

echo "== 5/7 $TEST_SUBSET features at 0.625 features/s -> $OUT/test_features"
# The model sees features at the records' rate, so inference gets the test
# videos resampled exactly as the converter resampled them.
"$PY" - "$FEATURES" "$ANNOTATIONS" "$TEST_SUBSET" "$OUT/test_features" \
  "$STRIDE" "$WINDOW" "$NEW_STRIDE" "$NEW_WINDOW" <<'PYEOF'
import json, os, sys
import numpy as np
from tal_detection.dataset_tools import feature_util
features, annotations, subset, out = sys.argv[1:5]
stride, window, new_stride, new_window = map(float, sys.argv[5:9])
with open(annotations, encoding='utf-8') as f:
  database = json.load(f)['database']
os.makedirs(out)
count = 0
for video_id, entry in sorted(database.items()):
  if str(entry.get('subset', '')).lower() != subset.lower():
    continue
  array = np.load(os.path.join(features, video_id + '.npy'))
  np.save(os.path.join(out, video_id + '.npy'), feature_util.resample_to_stride(
      array, stride, window, new_stride, new_window))
  count += 1
print('   %d videos' % count)
PYEOF

echo "== 6/7 inference (log: $LOGS/infer.log)"
# The time base (stride/window 48 frames) comes from the export's
# time_base.json; each video's fps from the annotations.
run "$LOGS/infer.log" "$PY" tools/infer.py --saved_model_dir="$OUT/exported" \
  --features="$OUT/test_features" --feature_layout=concat \
  --annotations_json="$ANNOTATIONS" --output="$OUT/detections.json"

echo "== 7/7 evaluation (log: $LOGS/evaluate.log)"
"$PY" tools/evaluate_detections.py --groundtruth="$ANNOTATIONS" \
  --detections="$OUT/detections.json" --subset="$TEST_SUBSET" \
  --protocol="$PROTOCOL" --tiou_thresholds=0.1,0.2,0.3,0.4,0.5,0.6,0.7 \
  > "$OUT/detection_metrics.json" 2>> "$LOGS/evaluate.log" \
  || { echo "failed; the end of $LOGS/evaluate.log:"; tail -n 20 "$LOGS/evaluate.log"; exit 1; }
"$PY" - "$OUT/detection_metrics.json" "$OUT/model/best/checkpoint" \
  "$PROTOCOL" > "$OUT/table5.md" <<'PYEOF'
import json, sys
metrics_path, best_path, protocol = sys.argv[1:4]
with open(metrics_path, encoding='utf-8') as f:
  ours = {float(t): v for t, v in json.load(f)['mAP'].items()}
with open(best_path, encoding='utf-8') as f:
  best = f.readline().split(':', 1)[1].strip().strip('"')
# TAL-Net, Table 5 of Chao et al., CVPR 2018 ("Ours", mAP % on THUMOS'14).
paper = {0.1: 59.8, 0.2: 57.1, 0.3: 53.2, 0.4: 48.5, 0.5: 42.8, 0.6: 33.8,
         0.7: 20.8}
thresholds = sorted(paper)
print('| mAP (%%) at tIoU | %s |' % ' | '.join('%g' % t for t in thresholds))
print('|---' * (len(thresholds) + 1) + '|')
print("| TAL-Net, paper (Table 5) | %s |" % ' | '.join(
    '%.1f' % paper[t] for t in thresholds))
print('| ours (%s, %s protocol) | %s |' % (best, protocol, ' | '.join(
    '%.1f' % (100.0 * ours[t]) for t in thresholds)))
PYEOF
cat "$OUT/table5.md"
echo "Wall time: $(( $(date +%s) - start )) s"
