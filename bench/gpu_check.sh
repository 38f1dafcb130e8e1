#!/usr/bin/env bash
# The GPU check (issue 12): on a machine with an NVIDIA GPU, make a venv, generate 20,000 photos, index them with
# the full-size random ViT-B/32 in fp16 on CUDA through `python -m core index`, and print images/s end to end, the
# model alone at batch sizes 64, 256 and 1024, decoding with the decode pool sized to this machine's cores, and
# peak GPU memory. Well under 10 minutes on one modern GPU once the venv is installed.
#
#   bench/gpu_check.sh                          # the GPU run (venv in bench/out/gpu-venv, made if missing)
#   bench/gpu_check.sh --cpu-smoke              # the same steps on the CPU: 300 photos, the tiny model
#   bench/gpu_check.sh --venv .venv             # use (and pip install into) an existing venv
#   bench/gpu_check.sh --no-install --venv DIR  # an offline machine with the requirements already installed
#   bench/gpu_check.sh -- --photos 5000         # anything after -- goes to bench/gpu_check.py
#
# requirements.txt pins torch==2.13.0; from PyPI on Linux x86_64 that wheel is the CUDA build (the NVIDIA
# libraries come as pip dependencies, a few GB). This project's CPU machines take the CPU build from local disk.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
install=1
venv="bench/out/gpu-venv"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --cpu-smoke) smoke=1 ;;
    --no-install) install=0 ;;
    --venv) venv="$2"; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

started=$(date +%s)
if [ ! -x "$venv/bin/python" ]; then
  [ "$install" = 1 ] || { echo "no venv at $venv and --no-install given" >&2; exit 2; }
  echo "== creating venv $venv"
  python3 -m venv "$venv"
fi
if [ "$install" = 1 ]; then
  echo "== pip install -r requirements.txt"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt
fi
py="$venv/bin/python"
echo "== venv ready after $(( $(date +%s) - started )) s"

if [ "$smoke" = 1 ]; then
  args=(--device cpu --photos 300 --model tiny --batches 8 32 --index-batch 32 --model-seconds 1)
else
  if ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "nvidia-smi not found: this is not a GPU machine (use --cpu-smoke to check the steps on a CPU)" >&2
    exit 2
  fi
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  args=(--device cuda --photos 20000 --model full --batches 64 256 1024 --index-batch 256)
fi
# one budget for the whole check: well under 10 minutes on a GPU (the smoke run on a busy CPU is slower)
timeout "${GPU_CHECK_TIMEOUT:-900}" "$py" -m bench.gpu_check "${args[@]}" "${extra[@]}"
echo "== gpu_check done in $(( $(date +%s) - started )) s"
