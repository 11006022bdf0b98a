#!/usr/bin/env bash
# Measures a liver/tumour model on fresh phantom cases, for docs/model-card.md: per-case Dice, HD95 and lesion-wise
# tumour detection, means per contrast phase and orientation, and pictures of the worst cases.
#
#   scripts/model-card.sh                       # the shipped model, 20 cases of seed 2001, in build/model-card
#   MODEL=my.pt CASES=50 SEED=7 WORK=/tmp/card scripts/model-card.sh
#   PREDICT_FLAGS=--tta WORK=/tmp/card-tta scripts/model-card.sh   # further TorchSegPredict flags
#
# The seeds of the default model's training (1001), validation (1002) and test (1003) phantoms are never used here.
# Outputs in $WORK: cases/ (phantoms, their tumour table), predictions/ (labels, per-case JSON), lesions.csv,
# lesion-kinds.csv (every reference lesion with its phantom tumour's kind and contrast), cases.csv, summary.md and
# pictures/ (comparison views of the worst liver case and of every missed tumour of at least 10 mm).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${TORCHSEG_BUILD_DIR:-$ROOT/build}
BIN=${TORCHSEG_BIN_DIR:-$BUILD/bin}
WORK=${WORK:-$BUILD/model-card}
MODEL=${MODEL:-$ROOT/Data/Models/torchseg-liver-default.pt}
CASES=${CASES:-20}
SEED=${SEED:-2001}
SIZE=${SIZE:-512}
THREADS=${THREADS:-2}
MIN_DIAMETER=${MIN_DIAMETER:-10}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

log() { printf '\033[1m[model-card]\033[0m %s\n' "$*" >&2; }
for app in TorchSegPhantom TorchSegPredict TorchSegEvaluate TorchSegRender; do
  [ -x "$BIN/$app" ] || { log "missing $BIN/$app: build the applications first (scripts/test.sh)"; exit 1; }
done
command -v jq >/dev/null || { log "jq is missing (apt-get install jq)"; exit 1; }
[ -f "$MODEL" ] || { log "model $MODEL not found"; exit 1; }
case $SEED in 1001 | 1002 | 1003 | 1004)
  log "seed $SEED made the default model's training, validation, test or post-processing cases: pick another"; exit 1 ;;
esac
read -r -a predict_flags <<<"${PREDICT_FLAGS:-}"
mkdir -p "$WORK/predictions" "$WORK/pictures"

if [ -f "$WORK/cases/list.csv" ] && [ -f "$WORK/cases/tumours.csv" ] &&
  [ "$(tail -n +2 "$WORK/cases/list.csv" | grep -c .)" -eq "$CASES" ]; then
  log "$CASES phantom case(s) already in $WORK/cases"
else
  log "generating $CASES phantom case(s) (seed $SEED)"
  "$BIN/TorchSegPhantom" --outputDirectory "$WORK/cases" --cases "$CASES" --seed "$SEED" --size "$SIZE" \
    --listFile "$WORK/cases/list.csv" --summaryFile "$WORK/cases/summary.csv" --tumourFile "$WORK/cases/tumours.csv" \
    --numberOfThreads "$THREADS" >/dev/null
fi

log "segmenting and evaluating with $MODEL"
nanoseconds=0
while IFS=, read -r case ct label phase _ _ _ _ _ _ orientation _; do
  [ "$case" = case ] && continue
  prediction=$WORK/predictions/${case}_prediction.nii.gz
  start=$(date +%s%N)
  "$BIN/TorchSegPredict" --model "$MODEL" --numberOfThreads "$THREADS" "${predict_flags[@]}" \
    "$WORK/cases/$ct" "$prediction" >/dev/null
  nanoseconds=$((nanoseconds + $(date +%s%N) - start))
  "$BIN/TorchSegEvaluate" --labels 1,2 --labelNames liver,tumour --lesionLabels 2 \
    --lesionMinimumDiameter "$MIN_DIAMETER" --json "$WORK/predictions/$case.json" \
    --lesionCsv "$WORK/predictions/${case}_lesions.csv" "$WORK/cases/$label" "$prediction" >/dev/null
  jq -r --arg case "$case" --arg phase "$phase" --arg orientation "$orientation" '
    def lab(n): .labels[] | select(.name == n);
    def num: if . == null then "" else tostring end;
    (.lesions[0]) as $l
    | [$case, $phase, $orientation, (lab("liver").dice | num), (lab("liver").hd95 | num),
       lab("tumour").status, (lab("tumour").dice | num), $l.referenceLesions, $l.detectedLesions,
       $l.aboveMinimumDiameter.referenceLesions, $l.aboveMinimumDiameter.detectedLesions, $l.falsePositiveComponents,
       (lab("tumour").referenceVolumeMl | num), (lab("tumour").predictionVolumeMl | num)] | @csv' \
    "$WORK/predictions/$case.json"
done <"$WORK/cases/summary.csv" >"$WORK/cases.body"
{
  echo 'case,phase,orientation,liverDice,liverHD95,tumourStatus,tumourDice,lesions,detected,lesionsAboveMinimum,detectedAboveMinimum,falsePositiveComponents,tumourReferenceMl,tumourPredictionMl'
  tr -d '"' <"$WORK/cases.body"
} >"$WORK/cases.csv"
rm -f "$WORK/cases.body"
# Every lesion of every case in one table (the per-case CSVs share one header).
first=1
for f in "$WORK"/predictions/case*_lesions.csv; do
  if [ $first -eq 1 ]; then head -n 1 "$f" | sed 's/^/case,/'; first=0; fi
  c=$(basename "$f" _lesions.csv)
  tail -n +2 "$f" | sed "s/^/$c,/"
done >"$WORK/lesions.csv"

# Means: liver over every case; tumour Dice over the cases with tumour in the reference or the prediction (a
# tumour-free case with a false-positive tumour counts 0, one where both are empty does not count); detection rate
# pooled over all lesions of the test set.
awk -F, -v seconds="$((nanoseconds / 1000000))e-3" -v model="$MODEL" -v cases="$CASES" -v seed="$SEED" -v min="$MIN_DIAMETER" \
  -v flags="${PREDICT_FLAGS:-}" '
  NR == 1 { next }
  {
    n++; ld += $4; lh += $5; if ($4 < worstDice || n == 1) { worstDice = $4; worst = $1 }
    if ($6 != "absent") { tn++; td += $7 } else { absent++ }
    if ($13 > 0) { tr++; tdr += $7 }
    les += $8; det += $9; big += $10; bigDet += $11; fp += $12
    if ($6 == "referenceEmpty") { fpCases++ }
    key = $2; pn[key]++; pl[key] += $4; if ($6 != "absent") { pt[key] += $7; ptn[key]++ }
    key = $3; on[key]++; ol[key] += $4; if ($6 != "absent") { ot[key] += $7; otn[key]++ }
  }
  END {
    printf "Model `%s`%s, %d phantom cases of seed %d; inference %.1f s per case on average.\n\n", model,
      flags == "" ? "" : " (TorchSegPredict " flags ")", cases, seed, seconds / n
    printf "| measure | value |\n|---|---|\n"
    printf "| liver mean Dice | %.4f |\n", ld / n
    printf "| liver mean HD95 | %.2f mm |\n", lh / n
    printf "| tumour mean Dice (%d cases with tumour in the reference or the prediction) | %.4f |\n", tn, tn ? td / tn : 0
    printf "| tumour mean Dice (%d cases with tumour in the reference) | %.4f |\n", tr, tr ? tdr / tr : 0
    printf "| tumour-free cases with a false-positive tumour | %d of %d |\n", fpCases, fpCases + absent
    printf "| tumours detected, all sizes | %d of %d (%.1f %%) |\n", det, les, les ? 100 * det / les : 0
    printf "| tumours detected, >= %g mm | %d of %d (%.1f %%) |\n", min, bigDet, big, big ? 100 * bigDet / big : 0
    printf "| false-positive tumour components | %d |\n", fp
    printf "| worst liver case | %s (Dice %.4f) |\n\n", worst, worstDice
    printf "| group | cases | liver Dice | tumour Dice |\n|---|---|---|---|\n"
    for (k in pn) printf "| phase %s | %d | %.4f | %s |\n", k, pn[k], pl[k] / pn[k], ptn[k] ? sprintf("%.4f (%d)", pt[k] / ptn[k], ptn[k]) : "-"
    for (k in on) printf "| orientation %s | %d | %.4f | %s |\n", k, on[k], ol[k] / on[k], otn[k] ? sprintf("%.4f (%d)", ot[k] / otn[k], otn[k]) : "-"
    print worst > "/dev/stderr"
  }' "$WORK/cases.csv" 2>"$WORK/worst.txt" >"$WORK/summary.md"

# What the missed tumours are: every reference lesion joined with the phantom tumour whose centre is nearest to its
# centroid (same case), for its kind and its contrast to the liver relative to the image noise.
awk -F, '
  FILENAME ~ /tumours.csv$/ { if (FNR > 1) { n[$1]++; k = $1 SUBSEP n[$1]; kind[k] = $3; x[k] = $5; y[k] = $6; z[k] = $7
      contrast[k] = $12; rim[k] = $13; noise[k] = $14 } next }
  FILENAME ~ /cases.csv$/ { phase[$1] = $2; next }
  FNR == 1 { for (i = 1; i <= NF; ++i) col[$i] = i
    print "case,phase,lesion,diameterMm,aboveMinimum,detected,dice,kind,contrastHU,rimContrastHU,noiseHU,contrastToNoise,distanceMm"
    next }
  $col["kind"] == "reference" {
    c = $1; best = -1; bestDistance = 1e30
    for (t = 1; t <= n[c]; ++t) {
      k = c SUBSEP t
      d = ($col["centroidX"] - x[k]) ^ 2 + ($col["centroidY"] - y[k]) ^ 2 + ($col["centroidZ"] - z[k]) ^ 2
      if (d < bestDistance) { bestDistance = d; best = t }
    }
    k = c SUBSEP best
    ratio = noise[k] > 0 ? (contrast[k] < 0 ? -contrast[k] : contrast[k]) / noise[k] : 0
    printf "%s,%s,%s,%.1f,%d,%d,%s,%s,%.1f,%.1f,%.1f,%.2f,%.1f\n", c, phase[c], $col["id"], $col["equivalentDiameterMm"],
      ($col["aboveMinimumDiameter"] == 1), ($col["detected"] == 1), $col["dice"], (best > 0 ? kind[k] : "unknown"),
      contrast[k], rim[k], noise[k], ratio, sqrt(bestDistance)
  }' "$WORK/cases/tumours.csv" "$WORK/cases.csv" "$WORK/lesions.csv" >"$WORK/lesion-kinds.csv"
awk -F, -v min="$MIN_DIAMETER" '
  NR == 1 || $5 != 1 { next }
  {
    g = "kind " $8; n[g]++; d[g] += $6
    g = "phase " $2; n[g]++; d[g] += $6
    r = $12; g = r < 0.5 ? "contrast/noise < 0.5" : r < 1 ? "contrast/noise 0.5-1" : r < 2 ? "contrast/noise 1-2" : "contrast/noise >= 2"
    n[g]++; d[g] += $6
  }
  END {
    printf "\n| tumours >= %g mm, by | lesions | detected |\n|---|---|---|\n", min
    split("contrast/noise >= 2|contrast/noise 1-2|contrast/noise 0.5-1|contrast/noise < 0.5|kind hypodense|" \
      "kind rim-enhancing|kind cystic|kind hyperdense|kind isodense|kind unknown|phase portal venous|" \
      "phase arterial|phase native", order, "|")
    for (i = 1; i in order; ++i) {
      g = order[i]
      if (g in n) printf "| %s | %d | %d (%.0f %%) |\n", g, n[g], d[g], 100 * d[g] / n[g]
    }
  }' "$WORK/lesion-kinds.csv" >>"$WORK/summary.md"

# Pictures: the worst liver case, and every missed tumour of at least the minimum diameter (views centred on it).
render() { # case picture-name [focus-point]
  local focus=()
  [ -n "${3:-}" ] && focus=(--focusPoint "$3" --fieldOfView 120)
  "$BIN/TorchSegRender" --mode compare --image "$WORK/cases/$1_ct.nii.gz" \
    --labels "$WORK/predictions/$1_prediction.nii.gz" --reference "$WORK/cases/$1_label.nii.gz" \
    --output "$WORK/pictures/$2.png" "${focus[@]}" --numberOfThreads "$THREADS" >/dev/null
}
rm -f "$WORK"/pictures/*.png
worst=$(cat "$WORK/worst.txt")
render "$worst" "${worst}_worst_liver"
for json in "$WORK"/predictions/case*.json; do
  c=$(basename "$json" .json)
  jq -r --argjson min "$MIN_DIAMETER" '.lesions[0].referenceLesionList[]?
      | select(.detected | not) | select(.equivalentDiameterMm >= $min)
      | "\(.id) \(.equivalentDiameterMm | floor) \(.centroid | map(tostring) | join(","))"' "$json" |
    while read -r id diameter centroid; do
      render "$c" "${c}_missed_lesion${id}_${diameter}mm" "$centroid"
    done
done
cat "$WORK/summary.md"
log "per case: $WORK/cases.csv; per lesion: $WORK/lesions.csv; pictures: $WORK/pictures"
