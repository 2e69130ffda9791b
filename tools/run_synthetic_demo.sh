#!/usr/bin/env bash
# The README's main command: on a fresh clone, install, write the embedded
# synthetic dataset, convert it to records, train and evaluate, export a SavedModel,
# run inference on the test features, evaluate that output, print a results table.
#   bash tools/run_synthetic_demo.sh [OUT_DIR]   (default: out/synthetic)
# The config's record paths are relative to the repository root, so it runs there.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-out/synthetic}"
VENV="${VENV:-.venv}"
STEPS="${NUM_TRAIN_STEPS:-1000}"
start=$(date +%s)

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -e ".[test]"
PY="$VENV/bin/python"
export TF_CPP_MIN_LOG_LEVEL=2

echo "== 1/6 synthetic dataset -> $OUT"
"$PY" tools/make_synthetic_dataset.py --output_dir="$OUT"
echo "== 2/6 records"
for subset in train test; do
  # The generator writes the ActionFormer layout: <OUT>/features/*.npy + json.
  "$PY" tools/create_tal_tf_record.py \
    --annotations_json="$OUT/annotations.json" --subset="$subset" \
    --features_dir="$OUT/features" --feature_layout=concat \
    --stream_names=rgb,flow --stream_dims=64,64 \
    --stride_frames=16 --window_frames=16 \
    --label_map_path="$OUT/records/label_map.pbtxt" \
    --output_path="$OUT/records/$subset.record"
done
echo "== 3/6 train + evaluate ($STEPS steps)"
rm -rf "$OUT/model" "$OUT/exported"
"$PY" tools/model_main.py --pipeline_config_path=configs/synthetic_tal_net.config \
  --model_dir="$OUT/model" --num_train_steps="$STEPS" \
  --train_input_path="$OUT/records/train.record*" \
  --eval_input_path="$OUT/records/test.record*" \
  --label_map_path="$OUT/records/label_map.pbtxt" 2> "$OUT/train.log" \
  || { tail -n 30 "$OUT/train.log"; exit 1; }
grep -E "loss = |global_step/sec" "$OUT/train.log" | tail -n 3 || true
echo "== 4/6 export"
"$PY" tools/export_saved_model.py \
  --pipeline_config_path="$OUT/model/pipeline.config" \
  --checkpoint_dir="$OUT/model" --output_directory="$OUT/exported" 2>> "$OUT/export.log"
echo "== 5/6 inference on the test videos"
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
"$PY" tools/infer.py --saved_model_dir="$OUT/exported" \
  --features="$OUT/test_features" --feature_layout=concat \
  --fps=10 --stride_frames=16 --window_frames=16 \
  --output="$OUT/detections.json" --plot="$OUT/timelines" 2>> "$OUT/infer.log"
echo "== 6/6 evaluation of the exported model's detections"
"$PY" tools/evaluate_detections.py --groundtruth="$OUT/annotations.json" \
  --detections="$OUT/detections.json" --subset=test > "$OUT/detection_metrics.json"
"$PY" tools/evaluate_detections.py --groundtruth="$OUT/annotations.json" \
  --detections="$OUT/detections.json" --subset=test --proposals \
  > "$OUT/proposal_metrics.json"
"$PY" tools/summarize_results.py --model_dir="$OUT/model" \
  --detection_metrics="$OUT/detection_metrics.json" \
  --proposal_metrics="$OUT/proposal_metrics.json"
echo "Wall time: $(( $(date +%s) - start )) s"
