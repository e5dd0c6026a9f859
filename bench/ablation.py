#!/usr/bin/env python
"""One change at a time from the package's default recipe, on a Kaggle-layout folder's own validation split.

Prints one row per variant: what changed, validation accuracy, lr_find and training seconds. This is how the default
recipe is chosen: on the validation split only, never on test labels.

    python bench/ablation.py --path ../shared/data/leafsnap53 --quick      # CPU: 64 px, 1 frozen + 1 SGDR epoch
    python bench/ablation.py --size 64 --variants "default,lr_find minimum"  # the default's whole schedule at 64 px
"""
import time, warnings
from pathlib import Path
import torch
from fastcore.script import call_parse, store_true
from leaves_nbdev.train import fit_leaves

VARIANTS = {
    'default': {},
    'no label smoothing': dict(label_smoothing=0.),
    'seed augmentation': dict(aug='seed'),
    'SGD momentum .9': dict(opt='sgd'),
    'no frozen epoch': dict(freeze_epochs=0),
    'lr_find minimum': dict(suggest='minimum'),
    'mixup 0.2': dict(mixup=0.2),
}

@call_parse
def main(path:str='../shared/data/leafsnap53',  # Kaggle-layout folder
         variants:str=None,                     # comma-separated variant names (default: all)
         quick:store_true=False,                # 64 px, one SGDR cycle (a CPU budget)
         size:int=None,                         # image size (overrides the default's, and --quick's)
         n_cycles:int=None,                     # SGDR cycles (overrides the default's, and --quick's)
         seed:int=42,                           # random seed (the same split for every variant)
         out:str='bench/_results/ablation'):    # output folder
    "Train the default recipe and one-change variants; print validation accuracy and seconds"
    warnings.simplefilter('ignore')
    names = variants.split(',') if variants else list(VARIANTS)
    budget = dict(size=64, n_cycles=1) if quick else {}
    if size: budget['size'] = size
    if n_cycles: budget['n_cycles'] = n_cycles
    rows = []
    for name in names:
        t0 = time.time()
        learn = fit_leaves(path, seed=seed, out=Path(out)/name.replace(' ', '_'), bars=False, **{**budget, **VARIANTS[name]})
        r = learn.leaves_result
        rows.append(dict(variant=name, valid_accuracy=round(r['valid_accuracy'], 4), lr=f"{r['lr']:.2e}",
                         lr_find_s=r['lr_find_seconds'], total_s=round(time.time() - t0, 1)))
    dev = torch.cuda.get_device_name() if torch.cuda.is_available() else f'CPU ({torch.get_num_threads()} threads)'
    print(f"\n{time.strftime('%Y-%m-%d')}, {dev}, {path}, {budget or 'the default budget'}")
    print('| ' + ' | '.join(rows[0]) + ' |'); print('|' + ' --- |'*len(rows[0]))
    for r in rows: print('| ' + ' | '.join(map(str, r.values())) + ' |')
