#!/usr/bin/env python
"""How far does the numeric precision alone move one model's validation accuracy? Saved runs rescored, no training.

Each run folder's `model.pt.gz` is loaded into a learner on the same folder and split (its seed, from the folder's name
`..._seedN...`), and its validation split is scored in one plain pass in fp32 (as prediction runs it) and under bf16
autocast (as a budget's bf16 phase validated it); then the same after the package's batch-norm re-estimation
(`Learner.fixres(0)`, run in fp32 and, apart, under bf16 autocast). The same weights: any difference is the numerics'.

    python bench/precision_noise.py bench/_results/levers/default_seed0_budget6m bench/_results/levers/default_seed1_budget6m

Figures in bench/README.md, "Precise BN under `--budget 6m` on the clock".
"""
import json, re, warnings
from pathlib import Path
import pandas as pd, torch
from typing import Annotated
from fastcore.script import call_parse
from fastai.vision.all import accuracy, set_seed
from leaves_nbdev.train import folder_learner
from leaves_nbdev.models import read_leaves_model

def score(learn, bf16:bool) -> float:
    "Validation accuracy of `learn` in one plain pass, in fp32 or under bf16 autocast"
    with learn.no_bar(), learn.no_logging(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
        return float(accuracy(*learn.get_preds(dl=learn.dls.valid)))

@call_parse
def main(runs:Annotated[str, "run folders (each with model.pt.gz; the seed in the folder's name)", dict(nargs='+')],
         path:str='../shared/data/leafsnap53'):  # the Kaggle-layout folder the runs trained on
    "Score each run's model in fp32 and under bf16, before and after `Learner.fixres(0)`, and print the table"
    warnings.simplefilter('ignore')
    rows = []
    for run in runs:
        seed = int(re.search(r'seed(\d+)', Path(run).name).group(1))
        d = read_leaves_model(Path(run)/'model.pt.gz')
        learn = folder_learner(path, seed=seed, arch=d['recipe']['arch'], size=d['recipe']['size'], pretrained=True, cache=True, bars=False)
        learn.model.load_state_dict(d['state'])
        row = dict(run=Path(run).name, size=d['recipe']['size'], fp32=score(learn, False), bf16=score(learn, True))
        set_seed(seed); learn.fixres(0); row.update(fixres_fp32=score(learn, False), fixres_bf16=score(learn, True))
        learn.model.load_state_dict(d['state']); set_seed(seed)
        with torch.autocast('cpu', dtype=torch.bfloat16): learn.fixres(0)  # the statistics of bf16 activations
        row.update(fixres_in_bf16_fp32=score(learn, False), fixres_in_bf16_bf16=score(learn, True))
        print(json.dumps(row), flush=True); rows.append(row)
    t = pd.DataFrame(rows)
    d = t.bf16 - t.fp32
    print('| ' + ' | '.join(t.columns) + ' |'); print('|' + ' --- |'*len(t.columns))
    for r in t.round(4).itertuples(index=False): print('| ' + ' | '.join(map(str, r)) + ' |')
    print(f"\nbf16 - fp32, same weights: {d.mean():+.4f} ± {d.std(ddof=1):.4f} (from {d.min():+.4f} to {d.max():+.4f})")
