#!/usr/bin/env python
"""Benchmark the named recipes (`leaves_nbdev.recipes.RECIPES`) on a Kaggle-layout folder, side by side.

Each recipe trains, predicts the test set and writes a submission under `--out`; one table row per recipe is printed:
recipe, architecture, epochs, validation accuracy of the last epoch and of the best epoch (chosen on those same rows,
so optimistic), which of the two models predicted the test set, lr_find seconds, training seconds, seconds of lr_find + training
until the validation accuracy first reached --target (None if never), training images/s, device.

    python bench/leafsnap.py ../shared/data/leafsnap53 --quick      # CPU: every recipe shrunk to one 64 px epoch
    python bench/leafsnap.py data/leafsnap53                         # GPU: the real figures
"""
import time, warnings
from pathlib import Path
import torch
from fastcore.script import call_parse, store_true
from leaves_nbdev.recipes import fit_recipe, RECIPES

def device_name():
    return torch.cuda.get_device_name() if torch.cuda.is_available() else f'CPU ({torch.get_num_threads()} threads)'

def print_table(rows):
    cols = ['recipe', 'arch', 'epochs', 'valid_accuracy_last', 'valid_accuracy_best', 'kept', 'lr_find_seconds', 'train_seconds',
            'seconds_to_target', 'images_per_second', 'device']
    print('| ' + ' | '.join(cols) + ' |'); print('|' + ' --- |'*len(cols))
    for r in rows: print('| ' + ' | '.join(f'{r[c]:.4f}' if c.startswith('valid_accuracy') else str(r[c]) for c in cols) + ' |')

@call_parse
def main(path:str='../shared/data/leafsnap53',  # Kaggle-layout folder
         recipes:str='seed,fastai,default',     # comma-separated recipe names
         quick:store_true=False,                # shrink every recipe to one 64 px epoch (a CPU check of the path)
         weights:str=None,                      # ImageNet MobileNetV2 weights file (else the torch hub cache)
         seed:int=42,                           # random seed
         target:float=0.995,                    # validation accuracy for the time-to-accuracy column
         out:str='bench/_results/leafsnap'):    # output folder (one subfolder per recipe)
    "Train each recipe on `path`, write its submission, and print a table of the figures"
    rows = []
    for r in recipes.split(','):
        if r not in RECIPES: raise SystemExit(f"unknown recipe {r!r}: expected one of {list(RECIPES)}")
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', FutureWarning)
            res = fit_recipe(path, r, quick=quick, out=Path(out)/r, seed=seed, target=target, **({'weights': weights} if weights else {}))
        res['device'] = device_name()
        rows.append(res)
        print(f"{r}: submission {res['submission']}", flush=True)
    print(f"\n{time.strftime('%Y-%m-%d')}, {path}{' (quick)' if quick else ''}")
    print_table(rows)
