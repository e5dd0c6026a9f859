#!/usr/bin/env bash
# On the GPU machine, with bench/_bundle carried along: install the wheels, then run both benchmarks in one process
# each, baselines (seed and plain fastai) in the same call as the package default.
set -euo pipefail
cd "$(dirname "$0")/.."
B=bench/_bundle
python3 -m pip install -q --no-deps --no-index $B/wheels/*.whl
export PYTHONPATH=$PWD TORCH_HOME=$PWD/$B/torch
nvidia-smi --query-gpu=name --format=csv,noheader
python3 bench/leafsnap.py --path $B/leafsnap53 --recipes seed,fastai,default --out ${OUT:-bench/_results}/leafsnap
[ "${ABLATION:-0}" = 1 ] && python3 bench/ablation.py --path $B/leafsnap53 --out ${OUT:-bench/_results}/ablation
python3 bench/throughput.py --make-kaggle-sized $B/leafsnap53 --path /tmp/kaggle_sized
python3 bench/throughput.py --path /tmp/kaggle_sized --archs mobilenet_v2,resnet50 --cache-dir /tmp/leaves_cache
