#!/usr/bin/env bash
# On the GPU machine, with bench/_bundle carried along (build it with `bash bench/gpu_bundle.sh`):
#   bash bench/gpu_run.sh [all|recipes|throughput|budget]
# installs the wheels, then runs the benchmarks, the baselines (seed and plain fastai) in the same call as the package
# default. What comes back (under $OUT, at most 8 files): gpu.txt, leafsnap.log, submission_<recipe>.csv (3),
# optimizer.log, throughput.log, budget.log (the time-budget planner's measured speeds and plans on this card, then a
# one-minute `leaves-train --budget 1m`); with ABLATION=1 the ablation is appended to leafsnap.log. Environment: RECIPES (default seed,fastai,default), ARCHS
# (default mobilenet_v2,resnet50).
# Estimated on an H100/H200: wheels 10 s, recipes 3-4 min, throughput 3-4 min (the 18,353-image cache build included):
# run the stages in separate calls if one call's limit is short.
set -euo pipefail
cd "$(dirname "$0")/.."
B=bench/_bundle; O=${OUT:-bench/_results}; R=/tmp/leaves_results; STAGE=${1:-all}
Q=$([ "${QUICK:-0}" = 1 ] && echo --quick || true)  # QUICK=1: the CPU-sized runs, to try this script without a GPU
mkdir -p $O $R
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $B/wheels/*.whl
export PYTHONPATH=$PWD:/tmp/site TORCH_HOME=$PWD/$B/torch PYTHONUNBUFFERED=1
{ date -u; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true; nproc;
  python3 -c "import torch, fastai; print('torch', torch.__version__, 'fastai', fastai.__version__)"; } | tee $O/gpu.txt
if [[ $STAGE == all || $STAGE == recipes ]]; then
  python3 bench/leafsnap.py --path $B/leafsnap53 --recipes ${RECIPES:-seed,fastai,default} --out $R/leafsnap $Q 2>&1 | tee $O/leafsnap.log
  for d in $R/leafsnap/*/; do
    if [ -f $d/submission.csv ]; then cp $d/submission.csv $O/submission_$(basename $d).csv; fi
  done
  if [ "${ABLATION:-0}" = 1 ]; then
    python3 bench/ablation.py --path $B/leafsnap53 --out $R/ablation $Q 2>&1 | tee -a $O/leafsnap.log  # appended: at most 8 files come back
  fi
fi
if [[ $STAGE == all || $STAGE == throughput ]]; then
  P=/tmp/kaggle_sized
  if [ -n "$Q" ]; then P=$B/leafsnap53; else python3 bench/throughput.py --make-kaggle-sized $B/leafsnap53 --path $P; fi
  python3 bench/optimizer.py --archs ${ARCHS:-mobilenet_v2,resnet50} 2>&1 | tee $O/optimizer.log
  python3 bench/throughput.py --path $P --archs ${ARCHS:-mobilenet_v2,resnet50} --cache-dir /tmp/leaves_cache $Q 2>&1 | tee $O/throughput.log
fi
if [[ $STAGE == all || $STAGE == budget ]]; then
  { python3 bench/budget_plan.py --path $B/leafsnap53 --budgets 30s,1m,2m,6m
    # the console script, as pip would install it (the wheels here go to /tmp/site without entry points)
    python3 -c "import sys; sys.argv = ['leaves-train', '$B/leafsnap53', '--budget', '1m', '--out', '$R/budget']; from leaves_nbdev.cli import leaves_train; leaves_train()"
  } 2>&1 | tee $O/budget.log
fi
