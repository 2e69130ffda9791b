#!/usr/bin/env bash
# The README's main command: on a fresh clone, install, write the embedded
# synthetic dataset, convert it to records, train and evaluate, export a SavedModel,
# run inference on the test features, evaluate that output, print a results table.
#   bash tools/run_synthetic_demo.sh [OUT_DIR [RESULTS_MD]]   (default: out/synthetic)
# Prints stage headers, progress and the final tables; each tool's full output
# goes to OUT_DIR/logs/<stage>.log (the install's to <venv>/install.log).
# RESULTS_MD (e.g. results/synthetic_demo.md) also receives the tables and the
# wall time; tools/render_readme.py puts that file into the README.
# The config's record paths are relative to the repository root, so it runs there.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-out/synthetic}"
RESULTS_MD="${2:-}"
VENV="${VENV:-.venv}"
STEPS="${NUM_TRAIN_STEPS:-1000}"
LOGS="$OUT/logs"

# TensorFlow 2.15 (the last release with tf.estimator) has wheels for Python
# 3.9-3.11 only; a newer python3 would fail deep inside pip.
supported() {
  "$1" -c 'import sys; sys.exit(not (3, 9) <= sys.version_info[:2] <= (3, 11))' \
    2>/dev/null
}
if [ -x "$VENV/bin/python" ]; then
  if ! supported "$VENV/bin/python"; then
    echo "run_synthetic_demo: $VENV uses $("$VENV/bin/python" -V 2>&1); TensorFlow 2.15 needs Python 3.9-3.11: remove $VENV and run again" >&2
    exit 1
  fi
else
  PYTHON=""
  for candidate in python3 python3.11 python3.10 python3.9; do
    if command -v "$candidate" >/dev/null && supported "$candidate"; then
      PYTHON="$candidate"
      break
    fi
  done
  if [ -z "$PYTHON" ]; then
    echo "run_synthetic_demo: needs Python 3.9, 3.10 or 3.11 (TensorFlow 2.15 has no wheels for $(python3 -V 2>&1 || echo 'no python3')): install python3.11 (with its venv module) and run again" >&2
    exit 1
  fi
  "$PYTHON" -m venv "$VENV"
fi
install_start=$(date +%s)
echo "== 0/6 install into $VENV (log: $VENV/install.log)"
{ "$VENV/bin/pip" install --upgrade pip && "$VENV/bin/pip" install -e ".[cpu,test]"; } \
  > "$VENV/install.log" 2>&1 || { tail -n 20 "$VENV/install.log"; exit 1; }
PY="$VENV/bin/python"
export TF_CPP_MIN_LOG_LEVEL=2
start=$(date +%s)
echo "   installed in $(( start - install_start )) s"

# run LOG CMD...: see tools/shell_util.sh.
source tools/shell_util.sh

echo "== 1/6 synthetic dataset -> $OUT (log: $LOGS/dataset.log)"
# The generator replaces OUT as a whole, so its log waits outside until then.
dataset_log="$(mktemp)"
run "$dataset_log" "$PY" tools/make_synthetic_dataset.py --output_dir="$OUT"
mkdir -p "$LOGS"
mv "$dataset_log" "$LOGS/dataset.log"
echo "== 2/6 records (log: $LOGS/records.log)"
for subset in train test; do
  # The generator writes the ActionFormer layout: <OUT>/features/*.npy + json.
  # stderr stays on the terminal for the converter's progress line (and its
  # warnings, if any); the summary goes to the log.
  "$PY" tools/create_tal_tf_record.py \
    --annotations_json="$OUT/annotations.json" --subset="$subset" \
    --features_dir="$OUT/features" --feature_layout=concat \
    --stream_names=rgb,flow --stream_dims=64,64 \
    --stride_frames=16 --window_frames=16 \
    --label_map_path="$OUT/records/label_map.pbtxt" \
    --output_path="$OUT/records/$subset.record" >> "$LOGS/records.log" \
    || { echo "failed; the end of $LOGS/records.log:"; tail -n 20 "$LOGS/records.log"; exit 1; }
done
echo "== 3/6 train + evaluate ($STEPS steps; log: $LOGS/train.log)"
rm -rf "$OUT/model" "$OUT/exported"
# Only the training progress lines (step, loss, steps/s, ETA) reach the screen.
"$PY" tools/model_main.py --pipeline_config_path=configs/synthetic_tal_net.config \
  --model_dir="$OUT/model" --num_train_steps="$STEPS" \
  --train_input_path="$OUT/records/train.record*" \
  --eval_input_path="$OUT/records/test.record*" \
  --label_map_path="$OUT/records/label_map.pbtxt" 2>&1 \
  | tee "$LOGS/train.log" | sed -un 's/^.*\] \(step [0-9][0-9]*\/.*\)$/  \1/p' \
  || { echo "failed; the end of $LOGS/train.log:"; tail -n 30 "$LOGS/train.log"; exit 1; }
echo "== 4/6 export (log: $LOGS/export.log)"
run "$LOGS/export.log" "$PY" tools/export_saved_model.py \
  --pipeline_config_path="$OUT/model/pipeline.config" \
  --checkpoint_dir="$OUT/model" --output_directory="$OUT/exported"
echo "== 5/6 inference on the test videos (log: $LOGS/infer.log)"
mkdir -p "$OUT/test_features"
"$PY" - "$OUT" <<'PYEOF'
import json, os, shutil, sys
out = sys.argv[1]
db = json.load(open(os.path.join(out, 'annotations.json')))['database']
for vid, entry in db.items():
  if entry['subset'].lower() == 'test':
    shutil.copy(os.path.join(out, 'features', vid + '.npy'),
                os.path.join(out, 'test_features', vid + '.npy'))
PYEOF
# The time base (10 fps, stride 16, window 16) comes from the export's
# time_base.json, written from the training records.
run "$LOGS/infer.log" "$PY" tools/infer.py --saved_model_dir="$OUT/exported" \
  --features="$OUT/test_features" --feature_layout=concat \
  --output="$OUT/detections.json" --plot="$OUT/timelines" \
  --groundtruth="$OUT/annotations.json"
echo "   detections: $OUT/detections.json; timelines: $OUT/timelines/<video>.png"
echo "== 6/6 evaluation of the exported model's detections (log: $LOGS/evaluate.log)"
# Their stdout is the metrics json; only stderr goes to the log.
for kind in detection proposal; do
  extra=""
  [ "$kind" = proposal ] && extra="--proposals"
  "$PY" tools/evaluate_detections.py --groundtruth="$OUT/annotations.json" \
    --detections="$OUT/detections.json" --subset=test $extra \
    > "$OUT/${kind}_metrics.json" 2>> "$LOGS/evaluate.log" \
    || { echo "failed; the end of $LOGS/evaluate.log:"; tail -n 20 "$LOGS/evaluate.log"; exit 1; }
done
echo
"$PY" tools/summarize_results.py --model_dir="$OUT/model" \
  --detection_metrics="$OUT/detection_metrics.json" \
  --proposal_metrics="$OUT/proposal_metrics.json" > "$OUT/summary.md"
cat "$OUT/summary.md"
wall=$(( $(date +%s) - start ))
echo
echo "Wall time: $wall s (after the install)"
if [ -n "$RESULTS_MD" ]; then
  "$PY" tools/render_readme.py --write_demo_results="$RESULTS_MD" \
    --demo_summary="$OUT/summary.md" --demo_wall_time="$wall" \
    --demo_steps="$STEPS"
  echo "Results written to $RESULTS_MD"
fi
