#!/usr/bin/env python
"""The plans `fit_leaves(budget=...)` would make on this machine, from speeds measured here, for several budgets; no training.

Prints the measured images/s at each size (fp32, and bf16 where the CPU has bf16 units; on a GPU the precision
`fit_leaves` trains in), then one plan per budget, as `leaves-train --budget` prints it, made by the same code
(`plan_fit`: each size in its faster precision, decoding measured). On a GPU this is how the planner's choice
for that card is shown before a run is spent on it; `bench/gpu_run.sh budget` runs it there with a short real run after it.

    python bench/budget_plan.py --path ../shared/data/leafsnap53 --budgets 2m,6m,20m
"""
import time, warnings
import torch
from fastcore.script import call_parse
from leaves_nbdev.data import leaves_dls, LeavesArgumentError
from leaves_nbdev.models import leaves_learner
from leaves_nbdev.budget import measure_speeds, describe_plan, cpu_has_bf16, plan_fit
from leaves_nbdev.train import _budget_precisions

@call_parse
def main(path:str='../shared/data/leafsnap53',  # Kaggle-layout folder
         arch:str='mobilenet_v2',               # architecture
         budgets:str='1m,2m,6m,20m',            # comma-separated budgets to plan
         max_size:int=224,                      # the largest size a plan may use
         bs:int=64):                            # batch size of the run
    "Measure this machine at each size, then print the plan for each budget"
    warnings.simplefilter('ignore')
    t0 = time.time()
    dls = leaves_dls(path, size=64, bs=bs, cache=True)
    learn = leaves_learner(dls, arch)
    gpu = torch.cuda.is_available()
    speeds = measure_speeds(learn, list(range(64, max_size + 1, 32)), _budget_precisions("auto"), bs=min(bs, 32), n_batches=2)  # as plan_fit measures
    dev = torch.cuda.get_device_name() if gpu else f'CPU ({torch.get_num_threads()} threads{", bf16 units" if cpu_has_bf16() else ""})'
    print(f"{time.strftime('%Y-%m-%d')}, {dev}, {arch}, {path}: measured in {time.time() - t0:.0f} s (folder read and cache build included)\n")
    print('| size | precision | training images/s | evaluation images/s |\n| --- | --- | --- | --- |')
    for r in speeds.itertuples(): print(f'| {r.size} | {r.precision} | {r.train:,.0f} | {r.eval:,.0f} |')
    spent = time.time() - t0
    for b in budgets.split(','):
        try: plan = plan_fit(learn, path, b, time.time() - spent, max_size, bs, _budget_precisions('auto'),
                             1 if learn.leaves_arch['pretrained'] else 0, True, None, True, 'RGB', speeds=speeds)
        except LeavesArgumentError as e: print(f'\n{b}: {e}'); continue
        print('\n' + describe_plan(plan) + f"\n  final size's batch: {plan['final_bs']} (`final_batch_size`: measured on a GPU, min(bs, 32) on a CPU)")
