#!/usr/bin/env bash
# Installs what is missing, builds, and runs the main job on the shipped defaults: generates a phantom CT (NIfTI and
# DICOM), segments it with the shipped model, evaluates against the phantom's labels, and draws the pictures.
#   scripts/quickstart.sh [OUTPUT_DIRECTORY]     (default: ./quickstart-output)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

out=${1:-$PWD/quickstart-output}
torchseg_install_packages
torchseg_build
bin="$TORCHSEG_BUILD_DIR/bin"
mkdir -p "$out"
out=$(cd "$out" && pwd)
start=$(date +%s)

torchseg_log "1/5 generating a synthetic abdominal CT (NIfTI and DICOM) in $out/phantom"
"$bin/TorchSegPhantom" --outputDirectory "$out/phantom" --cases 1 --seed 2026 --size 512 --slices 120
"$bin/TorchSegPhantom" --outputDirectory "$out/phantom-dicom" --cases 1 --seed 2026 --size 512 --slices 120 \
  --format dicom

torchseg_log "2/5 segmenting the DICOM series with the shipped model"
"$bin/TorchSegPredict" "$out/phantom-dicom/case000_ct" "$out/case000_prediction.nii.gz"
"$bin/TorchSegPredict" "$out/phantom/case000_ct.nii.gz" "$out/case000_prediction.seg.nrrd"

torchseg_log "3/5 evaluating against the phantom's reference labels (overlap, surface distances, tumour detection)"
"$bin/TorchSegEvaluate" --labels 1,2 --labelNames liver,tumour --lesionLabels 2 \
  --json "$out/case000_evaluation.json" --csv "$out/case000_evaluation.csv" --lesionCsv "$out/case000_lesions.csv" \
  "$out/phantom/case000_label.nii.gz" "$out/case000_prediction.nii.gz" | grep -v '^<'


torchseg_log "4/5 drawing slice and comparison pictures"
"$bin/TorchSegRender" --mode slices --image "$out/phantom/case000_ct.nii.gz" \
  --labels "$out/case000_prediction.nii.gz" --output "$out/case000_slices.png"
"$bin/TorchSegRender" --mode compare --image "$out/phantom/case000_ct.nii.gz" \
  --labels "$out/case000_prediction.nii.gz" --reference "$out/phantom/case000_label.nii.gz" \
  --output "$out/case000_compare.png"

torchseg_log "5/5 rendering the 3D surfaces"
render3d=("$bin/TorchSegRender" --mode surface --image "$out/phantom/case000_ct.nii.gz"
  --labels "$out/case000_prediction.nii.gz" --output "$out/case000_surface.png" --surfaces "$out/surfaces")
if [ -n "${DISPLAY:-}" ]; then
  "${render3d[@]}"
elif command -v xvfb-run >/dev/null; then
  xvfb-run -a -s "-screen 0 1280x1024x24" "${render3d[@]}"
else
  torchseg_log "no display and no xvfb-run: skipping the 3D picture"
fi

torchseg_log "done in $(( $(date +%s) - start )) s after the build. Results in $out:"
cat >&2 <<EOF
  phantom/case000_ct.nii.gz, phantom/case000_label.nii.gz   the synthetic CT and its reference labels
  phantom-dicom/case000_ct/                                 the same CT as a DICOM series
  case000_prediction.nii.gz, case000_prediction.seg.nrrd    the segmentation (NIfTI; 3D Slicer segmentation)
  case000_evaluation.json, .csv, case000_lesions.csv        Dice, IoU, surface distances, tumour detection
  case000_slices.png, case000_compare.png                   slice views; prediction against reference
  case000_surface.png, surfaces/                            3D picture; label surfaces (.vtp, .stl)
EOF
