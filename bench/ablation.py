#!/usr/bin/env python
"""One change at a time from the package's default recipe, on a Kaggle-layout folder's own validation split.

Prints one row per variant: what changed, validation accuracy of the last epoch and of the best epoch (chosen on the
same rows, so optimistic: compare variants on the last), the best epoch's with TTA, the learning rate, lr_find and
total seconds. This is how the default recipe is chosen: on the validation split only, never on test labels.

    python bench/ablation.py --path ../shared/data/leafsnap53 --quick        # CPU: 64 px, 1 frozen + 1 SGDR epoch
    python bench/ablation.py --size 64 --variants "default,lr_find valley"   # the default's whole schedule at 64 px
    python bench/ablation.py                                                 # GPU: every variant at the default budget
"""
import inspect, time, warnings
from pathlib import Path
import torch
from fastcore.script import call_parse, store_true
from fastai.vision.all import accuracy
from leaves_nbdev.train import fit_leaves

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
}

def tta_accuracy(learn):
    "Validation accuracy of the trained (best-epoch) model with fastai's test-time augmentation"
    with learn.no_bar(), learn.no_logging(): preds, targs = learn.tta(dl=learn.dls.valid)
    return float(accuracy(preds, targs))

@call_parse
def main(path:str='../shared/data/leafsnap53',  # Kaggle-layout folder
         variants:str=None,                     # comma-separated variant names (default: all)
         quick:store_true=False,                # 64 px, one SGDR cycle (a CPU budget)
         size:int=None,                         # image size (overrides the default's, and --quick's)
         n_cycles:int=None,                     # SGDR cycles (overrides the default's, and --quick's)
         seed:int=42,                           # random seed (the same split for every variant)
         out:str='bench/_results/ablation'):    # output folder
    "Train the default recipe and one-change variants; print validation accuracy (with and without TTA) and seconds"
    warnings.simplefilter('ignore')
    names = variants.split(',') if variants else list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown: raise SystemExit(f"unknown variant(s) {unknown}: expected some of {list(VARIANTS)}")
    budget = dict(size=64, n_cycles=1) if quick else {}
    if size: budget['size'] = size
    if n_cycles: budget['n_cycles'] = n_cycles
    defaults = {k: v.default for k, v in inspect.signature(fit_leaves).parameters.items()}
    base = {'size': defaults['size'], 'n_cycles': defaults['n_cycles'], **budget}
    rows = []
    for name in names:
        change = VARIANTS[name](base) if callable(VARIANTS[name]) else VARIANTS[name]
        t0 = time.time()
        learn = fit_leaves(path, seed=seed, out=Path(out)/name.replace(' ', '_'), bars=False, **{**budget, **change})
        r, total = learn.leaves_result, round(time.time() - t0, 1)
        rows.append(dict(variant=name, change=', '.join(f'{k}={v}' for k, v in change.items()) or '-',
                         valid_accuracy_last=round(r['last_valid_accuracy'], 4), valid_accuracy_best=round(r['valid_accuracy'], 4),
                         valid_accuracy_best_tta=round(tta_accuracy(learn), 4),
                         lr=f"{r['lr']:.2e}", lr_find_s=r['lr_find_seconds'], total_s=total))
        print(rows[-1], flush=True)
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() else f'CPU ({torch.get_num_threads()} threads)'
    print(f"\n{time.strftime('%Y-%m-%d')}, {dev}, {path}, {budget or 'the default budget'}")
    print('| ' + ' | '.join(rows[0]) + ' |'); print('|' + ' --- |'*len(rows[0]))
    for r in rows: print('| ' + ' | '.join(map(str, r.values())) + ' |')
