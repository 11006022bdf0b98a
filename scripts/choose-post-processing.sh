#!/usr/bin/env bash
# Chooses the label clean-up a liver/tumour model should recommend, on cases with reference labels, and writes a copy
# of the model that records it (TorchSegModel --postProcessing); TorchSegPredict then applies it by default.
#
#   scripts/choose-post-processing.sh MODEL LIST OUTPUT_MODEL     # LIST: "image,label" CSV, paths relative to it
#   VOLUMES="0 200 500" WORK=/tmp/pp scripts/choose-post-processing.sh model.pt val/list.csv model-clean.pt
#
# Every candidate keeps the largest liver component and removes tumour components outside the liver (the anatomy
# says so); the candidates differ in the smallest tumour component kept ($VOLUMES, mm^3). The score of a candidate is
# mean liver Dice + mean tumour Dice over the cases (tumour Dice over the cases with tumour in the reference or the
# prediction: a false tumour in a tumour-free case counts 0); the best score wins, the smaller volume on a tie.
# Choose on validation cases, never on the cases the model is reported on.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${TORCHSEG_BUILD_DIR:-$ROOT/build}
BIN=${TORCHSEG_BIN_DIR:-$BUILD/bin}
THREADS=${THREADS:-2}
VOLUMES=${VOLUMES:-0 250 1000}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

log() { printf '\033[1m[post-processing]\033[0m %s\n' "$*" >&2; }
[ $# -eq 3 ] || { log "usage: $0 MODEL LIST OUTPUT_MODEL"; exit 2; }
MODEL=$1 LIST=$2 OUTPUT=$3
[ -f "$MODEL" ] || { log "model $MODEL not found"; exit 1; }
[ -f "$LIST" ] || { log "case list $LIST not found"; exit 1; }
[ -e "$OUTPUT" ] && { log "$OUTPUT exists: remove it or name another output"; exit 1; }
for app in TorchSegPredict TorchSegEvaluate TorchSegModel; do
  [ -x "$BIN/$app" ] || { log "missing $BIN/$app: build the applications first (scripts/test.sh)"; exit 1; }
done
LIST_DIR=$(cd "$(dirname "$LIST")" && pwd)
WORK=${WORK:-$(mktemp -d)}
mkdir -p "$WORK"

best_score= best_volume=
for volume in $VOLUMES; do
  rm -f "$WORK/scores.csv"
  while IFS=, read -r image label; do
    [ "$image" = image ] && continue
    name=$(basename "$label")
    name=${name%%.*}
    prediction=$WORK/${name}_v$volume.nii.gz
    "$BIN/TorchSegPredict" --model "$MODEL" --noModelPostProcessing --numberOfThreads "$THREADS" --largestComponent \
      --removeTumourOutsideOrgan --minimumTumourVolume "$volume" "$LIST_DIR/$image" "$prediction" >/dev/null
    "$BIN/TorchSegEvaluate" --labels 1,2 --labelNames liver,tumour --csv "$WORK/$name.csv" "$LIST_DIR/$label" \
      "$prediction" >/dev/null
    tail -n +2 "$WORK/$name.csv" >>"$WORK/scores.csv"
  done <"$LIST"
  # Columns of TorchSegEvaluate's CSV: 4 name, 5 status, 6 dice.
  read -r liver tumour tumourCases < <(awk -F, '
    $4 == "liver" { l += $6; nl++ }
    $4 == "tumour" && $5 != "absent" { t += $6; nt++ }
    END { printf "%.4f %.4f %d\n", nl ? l / nl : 0, nt ? t / nt : 0, nt }' "$WORK/scores.csv")
  score=$(awk -v a="$liver" -v b="$tumour" 'BEGIN { printf "%.4f", a + b }')
  log "minimum tumour volume $volume mm^3: liver Dice $liver, tumour Dice $tumour over $tumourCases case(s), score $score"
  if [ -z "$best_score" ] || awk -v s="$score" -v b="$best_score" 'BEGIN { exit !(s > b) }'; then
    best_score=$score best_volume=$volume
  fi
done

log "chosen: largest liver component, tumours outside the liver removed, tumour components under $best_volume mm^3 removed"
"$BIN/TorchSegModel" --postProcessing "{\"organLabel\":1,\"tumourLabel\":2,\"keepLargestOrganComponent\":true,\"removeTumourOutsideOrgan\":true,\"minimumTumourVolume\":$best_volume}" \
  --outputModel "$OUTPUT" "$MODEL"
