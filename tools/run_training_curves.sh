#!/usr/bin/env bash
# Training curves of the paper's config on the harder benchmark, with and
# without the regularisation options (issue 13 point 6):
#   bash tools/run_training_curves.sh OUT_DIR [--quick]
# 1. writes the thumos14_hard dataset (real THUMOS'14 segment times: 200 train
#    / 212 test videos, two STREAM_DIM-d streams at 48-frame steps) to
#    OUT_DIR/data and converts it to OUT_DIR/data/records;
# 2. trains configs/thumos14_i3d_tal_net.config for NUM_TRAIN_STEPS steps
#    twice, "paper" (as is) and "regularised" (+ configs/fragments/
#    regularised.config), concurrently (PARALLEL=0: one after the other),
#    checkpointing and evaluating every EVAL_EVERY_STEPS steps; each run's
#    model_main output goes to OUT_DIR/logs/<run>.log, its model to
#    OUT_DIR/<run> (replaced);
# 3. writes RESULTS.json and RESULTS.md (tools/summarize_training_curve.py:
#    mAP@0.5, AR@100 and eval losses per evaluation, best step per run).
# Environment (defaults): NUM_TRAIN_STEPS (10000), EVAL_EVERY_STEPS (1000),
# STREAM_DIM (1024, the paper config's width; other widths override the
# config's streams), NUM_TRAIN / NUM_TEST (all: 200 / 212), SEED (0),
# SIGNAL_TO_NOISE (the generator's default; its --signal_to_noise),
# PARALLEL (1), REUSE_DATA (0; 1 keeps OUT_DIR/data if its records exist),
# RESULTS (results/training_curve_thumos14_hard), CONFIG_OVERRIDE (text
# fragment merged into both runs last), PYTHON (python).
# --quick: a tiny end-to-end check (3 train / 2 test videos, 16-d streams, a
# small model, 10 steps evaluated every 5, RESULTS under OUT_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: bash tools/run_training_curves.sh OUT_DIR [--quick]"
if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
  echo "run_training_curves: error: $usage" >&2
  exit 2
fi
OUT="$1"
QUICK=0
if [ $# -eq 2 ]; then
  if [ "$2" != "--quick" ]; then
    echo "run_training_curves: error: unknown option $2; $usage" >&2
    exit 2
  fi
  QUICK=1
fi

PY="${PYTHON:-python}"
CONFIG=configs/thumos14_i3d_tal_net.config
REGULARISED=configs/fragments/regularised.config
if [ "$QUICK" = 1 ]; then
  STEPS="${NUM_TRAIN_STEPS:-10}"
  EVAL_EVERY="${EVAL_EVERY_STEPS:-5}"
  STREAM_DIM="${STREAM_DIM:-16}"
  NUM_TRAIN="${NUM_TRAIN:-3}"
  NUM_TEST="${NUM_TEST:-2}"
  RESULTS="${RESULTS:-$OUT/training_curve}"
  SIZE_OVERRIDE='model { tal_net {
    feature_reduction_depth: 16 segment_proposal_network { depth: 16 }
    second_stage_fc_depth: 16 } }
    eval_config { num_visualizations: 0 }'
else
  STEPS="${NUM_TRAIN_STEPS:-10000}"
  EVAL_EVERY="${EVAL_EVERY_STEPS:-1000}"
  STREAM_DIM="${STREAM_DIM:-1024}"
  NUM_TRAIN="${NUM_TRAIN:-}"
  NUM_TEST="${NUM_TEST:-}"
  RESULTS="${RESULTS:-results/training_curve_thumos14_hard}"
  SIZE_OVERRIDE=''
fi
SEED="${SEED:-0}"
PARALLEL="${PARALLEL:-1}"
REUSE_DATA="${REUSE_DATA:-0}"
DATA="$OUT/data"
LOGS="$OUT/logs"
export TF_CPP_MIN_LOG_LEVEL=2

# run LOG CMD...: see tools/shell_util.sh.
source tools/shell_util.sh

start=$(date +%s)
mkdir -p "$OUT"
if [ "$REUSE_DATA" = 1 ] && [ -f "$DATA/records/train.record" ] && \
   [ -f "$DATA/records/test.record" ]; then
  echo "== 1/3 reusing the dataset and records in $DATA"
else
  echo "== 1/3 thumos14_hard dataset -> $DATA, records (log: $LOGS/dataset.log)"
  # The generator replaces DATA as a whole (records included).
  counts=()
  [ -n "$NUM_TRAIN" ] && counts+=("--num_train=$NUM_TRAIN")
  [ -n "$NUM_TEST" ] && counts+=("--num_test=$NUM_TEST")
  [ -n "${SIGNAL_TO_NOISE:-}" ] && counts+=("--signal_to_noise=$SIGNAL_TO_NOISE")
  mkdir -p "$LOGS"
  run "$LOGS/dataset.log" "$PY" tools/make_synthetic_dataset.py \
    --profile=thumos14_hard --output_dir="$DATA" --stream_dim="$STREAM_DIM" \
    --seed="$SEED" ${counts[@]+"${counts[@]}"}
  for subset in train test; do
    run "$LOGS/dataset.log" "$PY" tools/create_tal_tf_record.py \
      --annotations_json="$DATA/annotations.json" --subset="$subset" \
      --features_dir="$DATA/features" --feature_layout=concat \
      --stream_names=rgb,flow --stream_dims="$STREAM_DIM,$STREAM_DIM" \
      --stride_frames=48 --window_frames=48 \
      --label_map_path="$DATA/label_map.pbtxt" \
      --output_path="$DATA/records/$subset.record"
  done
  echo "   $(( $(date +%s) - start )) s"
fi
mkdir -p "$LOGS"

# The runs' own fragments (merged after the config and, for "regularised",
# after its fragment; CONFIG_OVERRIDE last).
FRAGMENTS="$OUT/fragments"
mkdir -p "$FRAGMENTS"
fragments=("--config_override_file=$FRAGMENTS/schedule.config")
# Evaluate every EVAL_EVERY steps (a checkpoint each time, no wait between
# evaluations), on every test video (num_examples 0: to the end of the data).
cat > "$FRAGMENTS/schedule.config" <<EOF
train_config { save_checkpoints_steps: $EVAL_EVERY }
eval_config { eval_interval_secs: 0 num_examples: 0 }
EOF
if [ "$STREAM_DIM" != 1024 ]; then
  cat > "$FRAGMENTS/streams.config" <<EOF
model { tal_net { streams { name: "rgb" feature_dim: $STREAM_DIM }
                  streams { name: "flow" feature_dim: $STREAM_DIM } } }
EOF
  fragments+=("--config_override_file=$FRAGMENTS/streams.config")
fi
if [ -n "$SIZE_OVERRIDE" ]; then
  echo "$SIZE_OVERRIDE" > "$FRAGMENTS/size.config"
  fragments+=("--config_override_file=$FRAGMENTS/size.config")
fi
user_override=()
[ -n "${CONFIG_OVERRIDE:-}" ] && user_override+=("--config_override=$CONFIG_OVERRIDE")

train() {
  local name="$1"
  shift
  rm -rf "${OUT:?}/$name"
  "$PY" tools/model_main.py --pipeline_config_path="$CONFIG" "$@" \
    "${fragments[@]}" ${user_override[@]+"${user_override[@]}"} \
    --model_dir="$OUT/$name" --num_train_steps="$STEPS" \
    --train_input_path="$DATA/records/train.record" \
    --eval_input_path="$DATA/records/test.record" \
    --label_map_path="$DATA/label_map.pbtxt" > "$LOGS/$name.log" 2>&1
}

echo "== 2/3 train paper + regularised, $STEPS steps, eval every $EVAL_EVERY (logs: $LOGS/{paper,regularised}.log)"
train_start=$(date +%s)
status=0
if [ "$PARALLEL" = 1 ]; then
  train paper & paper_pid=$!
  train regularised --config_override_file="$REGULARISED" & regularised_pid=$!
  wait "$paper_pid" || { echo "paper failed; the end of $LOGS/paper.log:"; tail -n 20 "$LOGS/paper.log"; status=1; }
  wait "$regularised_pid" || { echo "regularised failed; the end of $LOGS/regularised.log:"; tail -n 20 "$LOGS/regularised.log"; status=1; }
else
  train paper || { echo "paper failed; the end of $LOGS/paper.log:"; tail -n 20 "$LOGS/paper.log"; status=1; }
  if [ "$status" = 0 ]; then
    train regularised --config_override_file="$REGULARISED" || { echo "regularised failed; the end of $LOGS/regularised.log:"; tail -n 20 "$LOGS/regularised.log"; status=1; }
  fi
fi
[ "$status" = 0 ] || exit 1
echo "   $(( $(date +%s) - train_start )) s"

echo "== 3/3 training curves -> $RESULTS.{json,md}"
run "$LOGS/summary.log" "$PY" tools/summarize_training_curve.py \
  --run="paper:$OUT/paper" --run="regularised:$OUT/regularised" \
  --output="$RESULTS"
cat "$RESULTS.md"
for name in paper regularised; do
  if [ -f "$OUT/$name/best/checkpoint" ]; then
    echo "$name: best checkpoint kept in $OUT/$name/best ($(head -n 1 "$OUT/$name/best/checkpoint"))"
  fi
done
echo "Wall time: $(( $(date +%s) - start )) s"
