#!/usr/bin/env python
"""One change at a time from the package's default recipe, on a Kaggle-layout folder's own validation split.

Prints one row per variant: what changed, validation accuracy of the last epoch and of the best epoch (chosen on the
same rows, so optimistic: compare variants on the last), the best epoch's with TTA, the learning rate, lr_find and
total seconds. This is how the default recipe is chosen: on the validation split only, never on test labels.

    python bench/ablation.py --path ../shared/data/leafsnap53 --quick        # CPU: 64 px, 1 frozen + 1 SGDR epoch
    python bench/ablation.py --size 64 --variants "default,lr_find valley"   # the default's whole schedule at 64 px
    python bench/ablation.py                                                 # GPU: every variant at the default budget
    python bench/ablation.py --budget 6m --variants "budget,budget: fp32,budget: no cache,budget: one size"
                                                                             # the time-budget planner's levers, one at a time

With `--budget`, every variant runs under the planner (`fit_leaves(budget=...)`), and the `budget: ...` variants each
take one lever away from it; the table adds what the plan chose and its predicted beside its actual seconds (TTA, which
`leaves-train` adds to the plan, is timed here on the validation split instead, in its own column).
"""
import inspect, time, warnings
from pathlib import Path
import torch
from fastcore.script import call_parse, store_true
from fastai.vision.all import accuracy
from leaves_nbdev.train import fit_leaves
from leaves_nbdev.budget import plan_precision

# each variant: the arguments it changes, or a function of the run's base budget (size, n_cycles) that returns them
VARIANTS = {
    'default': {},
    'no label smoothing': dict(label_smoothing=0.),
    'seed augmentation': dict(aug='seed'),
    'no augmentation': dict(aug=None),
    'SGD momentum .9': dict(opt='sgd'),
    'no frozen epoch': dict(freeze_epochs=0),
    'lr_find valley': dict(suggest='valley'),
    'lr_find steep': dict(suggest='steep'),
    'mixup 0.2': dict(mixup=0.2),
    'cutmix 1.0': dict(cutmix=1.0),
    'one SGDR cycle fewer': lambda b: dict(n_cycles=max(1, b['n_cycles'] - 1)),
    'one SGDR cycle more': lambda b: dict(n_cycles=b['n_cycles'] + 1),
    'size x0.75': lambda b: dict(size=int(round(b['size']*0.75/16)*16)),
    'size x1.25': lambda b: dict(size=int(round(b['size']*1.25/16)*16)),
    # the time-budget planner's levers (with --budget): the plan as it chooses, then one lever taken away at a time
    'budget': {},
    'budget: fp32': dict(precision='fp32'),                  # no bf16 autocast, even where the CPU has bf16 units
    'budget: bf16': dict(precision='bf16'),                  # bf16 whether or not the plan would choose it
    'budget: no cache': dict(cache=False),                   # decode the JPEGs every epoch
    'budget: no channels-last': dict(channels_last=False),   # fp32/bf16 tensors in PyTorch's default memory format
    'budget: one size': dict(size=64),                       # no progressive resizing: every epoch at 64 px
    'budget: lr_find 100 iterations': dict(lr_find_iters=100),
    'budget: no frozen epoch': dict(freeze_epochs=0),
    'budget: batch 32': dict(bs=32),
    'budget: batch 128': dict(bs=128),
}

def tta_accuracy(learn):
    "Validation accuracy of the trained (best-epoch) model with fastai's test-time augmentation, and its seconds"
    t = time.time()
    with learn.no_bar(), learn.no_logging(): preds, targs = learn.tta(dl=learn.dls.valid)
    return float(accuracy(preds, targs)), round(time.time() - t, 1)

def _plan_summary(p):
    "What a plan chose, in a table cell"
    if p is None: return '-'
    sizes = f"{p['size']}" + (f"->{p['final_size']} px ({p['final_epochs']} ep)" if p['final_size'] and p['final_epochs'] else ' px')
    return f"{plan_precision(p)}; {sizes}, {p['cycle_len']} ep, lr_find {p['lr_find_iters']} it"

@call_parse
def main(path:str='../shared/data/leafsnap53',  # Kaggle-layout folder
         variants:str=None,                     # comma-separated variant names (default: all)
         quick:store_true=False,                # 64 px, one SGDR cycle (a CPU budget)
         size:int=None,                         # image size (overrides the default's, and --quick's)
         n_cycles:int=None,                     # SGDR cycles (overrides the default's, and --quick's)
         budget:str=None,                       # a time budget ('6m'): every variant planned by fit_leaves(budget=...)
         seed:int=42,                           # random seed (the same split for every variant)
         out:str='bench/_results/ablation'):    # output folder
    "Train the default recipe and one-change variants; print validation accuracy (with and without TTA) and seconds"
    warnings.simplefilter('ignore')
    names = variants.split(',') if variants else [n for n in VARIANTS if n.startswith('budget') == bool(budget)]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown: raise SystemExit(f"unknown variant(s) {unknown}: expected some of {list(VARIANTS)}")
    schedule = dict(size=64, n_cycles=1) if quick else {}
    if size: schedule['size'] = size
    if n_cycles: schedule['n_cycles'] = n_cycles
    if budget: schedule = dict(schedule, budget=budget)
    defaults = {k: v.default for k, v in inspect.signature(fit_leaves).parameters.items()}
    base = {'size': defaults['size'], 'n_cycles': defaults['n_cycles'], **schedule}
    rows = []
    for name in names:
        change = VARIANTS[name](base) if callable(VARIANTS[name]) else VARIANTS[name]
        t0 = time.time()
        learn = fit_leaves(path, seed=seed, out=Path(out)/name.replace(' ', '_').replace(':', ''), bars=False, **{**schedule, **change})
        r, total = learn.leaves_result, round(time.time() - t0, 1)
        tta, tta_s = tta_accuracy(learn)
        rows.append(dict(variant=name, change=', '.join(f'{k}={v}' for k, v in change.items()) or '-',
                         valid_accuracy_last=round(r['last_valid_accuracy'], 4), valid_accuracy_best=round(r['valid_accuracy'], 4),
                         valid_accuracy_best_tta=round(tta, 4), tta_s=tta_s,
                         lr=f"{r['lr']:.2e}", lr_find_s=r['lr_find_seconds'], total_s=total))
        if budget:
            p = r['plan']
            rows[-1].update(plan=_plan_summary(p), planned_s=round(p['predicted'] - p['seconds']['tta'] - p['seconds']['fixed'], 1))
        print(rows[-1], flush=True)
        del learn
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() else f'CPU ({torch.get_num_threads()} threads)'
    print(f"\n{time.strftime('%Y-%m-%d')}, {dev}, {path}, {schedule or 'the default schedule'}")
    print('| ' + ' | '.join(rows[0]) + ' |'); print('|' + ' --- |'*len(rows[0]))
    for r in rows: print('| ' + ' | '.join(map(str, r.values())) + ' |')
