#!/usr/bin/env python
"""How often does the unsure flag fire on images the model never saw, against its own validation split?

Two models and two data sets, each model shown the other's images: a leafsnap53 MobileNetV2 (real leaf photos) and
`make demo`'s synthetic-leaves ResNet18. For each model, its validation split is cut in two halves at random (a seed
of its own): the unsure threshold is chosen on the first half (95% of its correct predictions reach it:
`unsure_threshold`), and the share flagged is reported on the second half, rows that chose nothing, and on the other
data set's images. (The kept epoch was still chosen on the whole validation split, both halves.)

    python bench/unsure_rate.py --leafsnap-model bench/_results/levers/default_seed0/model.pt.gz --leafsnap-seed 0
"""
import re, time, warnings
from pathlib import Path
import pandas as pd, torch
from fastcore.script import call_parse
from budget_adherence import cpu_model  # bench/'s own, beside this script
from fastai.vision.all import Normalize
from leaves_nbdev.data import leaves_dls
from leaves_nbdev.models import load_leaves_learner, read_leaves_model
from leaves_nbdev.predict import predict_photos
from leaves_nbdev.train import unsure_threshold

def valid_threshold(model, path, seed, half_seed=0):
    "The unsure threshold of `model` chosen on one random half of its validation split (the split `fit_leaves(seed=seed)` made); the flagged share and accuracy on the other half"
    learn, r = load_leaves_learner(model), read_leaves_model(model)['recipe']
    norm = [Normalize.from_stats(*r['normalize'])] if r.get('normalize') else []
    dls = leaves_dls(path, size=r['size'], bs=64, seed=seed, aug=r.get('aug', 'fastai'), img_mode=r.get('img_mode', 'RGB'),
                     vocab=learn.dls.vocab, check=False, extra_batch_tfms=norm)
    with learn.no_bar(), learn.no_logging(): probs, targs = learn.get_preds(dl=dls.valid)
    order = torch.randperm(len(targs), generator=torch.Generator().manual_seed(half_seed))
    chose, report = order[:len(order)//2], order[len(order)//2:]  # the threshold's rows, and the rows it is judged on
    t = unsure_threshold(probs[chose], targs[chose])
    top, pred = probs[report].max(1)
    return t, float((top < t).float().mean()), float((pred == targs[report]).float().mean()), len(report)

@call_parse
def main(leafsnap:str='../shared/data/leafsnap53',                                  # real leaf photos (Kaggle layout)
         leafsnap_model:str='bench/_results/levers/default_seed0/model.pt.gz',     # a model trained on it
         leafsnap_seed:int=0,                                                       # the seed its split was made with
         synthetic:str='leaves_demo/data',                                          # `make demo`'s synthetic leaves
         synthetic_model:str='leaves_demo/run/model.pt.gz',                         # `make demo`'s model
         synthetic_seed:int=42,                                                     # `make demo`'s seed
         n_other:int=500):                                                          # images of the other data set shown
    "Print, per model, the unsure threshold and the share flagged on its validation split and on the other data set"
    warnings.simplefilter('ignore')
    rows = []
    for name, model, path, seed, other, other_name in (
            ('leafsnap53 MobileNetV2', leafsnap_model, leafsnap, leafsnap_seed, synthetic, 'synthetic leaves'),
            ('synthetic-leaves ResNet18 (make demo)', synthetic_model, synthetic, synthetic_seed, leafsnap, 'leafsnap53 photos')):
        t, flagged_valid, acc, n_valid = valid_threshold(model, path, seed)
        photos = [Path(other)/o for o in pd.read_csv(Path(other)/'train.csv').image[:n_other]]
        top = predict_photos(model, photos, bars=False).probability
        rows.append(dict(model=name, threshold=round(t, 4), held_out_accuracy=round(acc, 4), held_out_flagged=f"{flagged_valid:.1%} of {n_valid}",
                         other_data=other_name, other_flagged=f"{float((top < t).mean()):.1%} of {len(top)}",
                         other_top_p_median=round(float(top.median()), 3)))
    print(f"\n{time.strftime('%Y-%m-%d')}, {cpu_model()}")
    t = pd.DataFrame(rows)
    print('| ' + ' | '.join(t.columns) + ' |'); print('|' + ' --- |'*len(t.columns))
    for r in t.itertuples(index=False): print('| ' + ' | '.join(map(str, r)) + ' |')
