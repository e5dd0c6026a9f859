#!/usr/bin/env python
"""Accuracy per minute: `leaves-train --budget` against plain fastai given the same whole-command time, on one machine.

For each budget, one after the other, each timed from outside (the whole command: imports, reading the folder,
lr_find, training, TTA):

- **budget**: `leaves-train PATH --budget B --seed S` (the package: measured speeds, phases on the clock, TTA from the
  time left); figures from its own history and `bench/budget_adherence.py`'s TTA pass on its kept model.
- **plain fastai**: what a fastai user writes: `ImageDataLoaders.from_df` (20% split by the seed, `Resize`,
  `aug_transforms`), a MobileNetV2 with ImageNet weights (`vision_learner`, via `leaves_learner` only so the weights load
  offline), `lr_find` valley, `fine_tune(n)`, TTA on the validation split. It is given the best `n` and size it could
  know: this machine's speeds are measured once beforehand with the package's `measure_speeds` and `decode_per_s`
  (outside every budget, which only helps it), and it takes the largest size where at least 3 epochs after the frozen
  one fit, with `n` the most that fit there.

Validation accuracy only (leafsnap53's test labels are withheld): the last epoch's (chosen on nothing), the kept
epoch's (the budget run keeps its best epoch, chosen on those same rows), and TTA on the kept model. It prints one row
per run, a table of means and spreads, and saves `curve.png`.

    python bench/curve.py --budgets 1m,2m,4m,6m,10m,20m --seeds 2m:3,6m:3 --out /tmp/curve

`--resume` keeps the rows already in `OUT/curve.csv` (a run that was stopped, or budgets run on another day) and runs
only the missing ones. `--combine A/curve.csv,B/curve.csv` runs nothing: it tabulates and plots earlier studies together
into `OUT`, a later file's rows replacing an earlier one's for the same method and budget (a newer measurement of that
point).
"""
import json, subprocess, sys, time, warnings
from pathlib import Path
import numpy as np, pandas as pd
from fastcore.script import call_parse
from budget_adherence import cpu_model, one_run, markdown  # bench/'s own, beside this script

PLAIN = r'''
import json, sys, time, warnings
warnings.simplefilter('ignore')
from fastai.vision.all import *
from leaves_nbdev.models import leaves_learner
path, size, epochs, seed, out = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
set_seed(seed, reproducible=True)
df = pd.read_csv(path/'train.csv')
dls = ImageDataLoaders.from_df(df, path, valid_pct=0.2, seed=seed, item_tfms=Resize(size), batch_tfms=aug_transforms(), bs=64, num_workers=0)
learn = leaves_learner(dls, 'mobilenet_v2', pretrained=True, metrics=accuracy, path=out)
with learn.no_bar(), learn.no_logging(): lr = learn.lr_find(suggest_funcs=(valley,), show_plot=False).valley
with learn.no_bar(), learn.no_logging(): learn.fine_tune(epochs, lr)
accs = [float(v[2]) for v in learn.recorder.values]
with learn.no_bar(), learn.no_logging(): preds, targs = learn.tta(dl=dls.valid)
print(json.dumps(dict(lr=lr, valid_last=accs[-1], valid_best=max(accs), valid_tta=float(accuracy(preds, targs)), epochs=len(accs))))
'''

def plain_plan(path, budget_s, overhead=20.):
    "The size and `fine_tune` epochs plain fastai gets for `budget_s`: this machine's speeds, measured once, outside the budget"
    from leaves_nbdev.budget import measure_speeds, decode_per_s
    from leaves_nbdev.data import leaves_dls
    from leaves_nbdev.models import leaves_learner
    df = pd.read_csv(Path(path)/'train.csv')
    n_valid = int(round(0.2*len(df))); n_train = len(df) - n_valid
    if not hasattr(plain_plan, 'speeds'):
        learn = leaves_learner(leaves_dls(path, size=64, bs=64), 'mobilenet_v2', pretrained=True)
        plain_plan.speeds = measure_speeds(learn, (64, 96, 128, 160, 192, 224), ('fp32',), channels_last=False, bs=64, n_batches=2)
        plain_plan.decode = decode_per_s(path, df.image, n=64)  # every epoch decodes its JPEGs again: no cache in plain fastai
    sp, dec = plain_plan.speeds.set_index('size'), plain_plan.decode
    rows = []
    for size in sorted(sp.index, reverse=True):
        tr, ev = sp.loc[size, 'train'], sp.loc[size, 'eval']
        epoch = n_train*(1/tr + 1/dec) + n_valid*(1/ev + 1/dec) + 1.
        lr_find = 100*64*(1/tr + 1/dec)
        tta = 5*n_valid*(1/ev + 1/dec)
        n = int((budget_s - overhead - lr_find - tta)//epoch) - 1  # fine_tune(n): one frozen epoch, then n
        rows.append((size, n))
        if n >= 3: return size, n
    size, n = max(rows, key=lambda r: r[1])
    return size, max(n, 1)

def plain_run(path, budget, seed, out):
    "One timed plain-fastai command for `budget`, and its row"
    from leaves_nbdev.budget import parse_budget
    b = parse_budget(budget)
    size, n = plain_plan(path, b)
    out.mkdir(parents=True, exist_ok=True)
    t = time.time()
    p = subprocess.run([sys.executable, '-c', PLAIN, str(path), str(size), str(n), str(seed), str(out)], capture_output=True, text=True)
    took = time.time() - t
    if p.returncode: return dict(method='plain fastai', budget=budget, seed=seed, error=p.stderr.strip().splitlines()[-1])
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return dict(method='plain fastai', budget=budget, seed=seed, seconds=round(took, 1), used=round(took/b, 3), ran=f'fine_tune({n}) at {size} px',
                valid_last=round(r['valid_last'], 4), valid_kept=round(r['valid_last'], 4), valid_kept_tta=round(r['valid_tta'], 4))

def summarize(df, cpu, out):
    "Print the rows and the means per method and budget; save `out/curve.png`"
    keep = ['method', 'budget', 'seed', 'seconds', 'used', 'ran', 'valid_last', 'valid_kept', 'valid_kept_tta', 'study']  # study: --combine's file
    print(f"\n{cpu}, {time.strftime('%Y-%m-%d')}\n\n" + markdown(df[[c for c in keep if c in df]]))
    ok = df[df.get('valid_last').notna()] if 'valid_last' in df else df.iloc[:0]
    s = ok.groupby(['method', 'budget'], sort=False).agg(minutes=('seconds', lambda v: round(v.mean()/60, 2)), runs=('seed', 'size'),
                                                        used=('used', 'max'), last=('valid_last', 'mean'), last_sd=('valid_last', 'std'),
                                                        tta=('valid_kept_tta', 'mean'), tta_sd=('valid_kept_tta', 'std')).reset_index().sort_values(['method', 'minutes'], kind='stable')
    print('\n' + markdown(s.round(4)))
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for m, g in s.groupby('method', sort=False):
        ax.errorbar(g.minutes, g.tta, yerr=g.tta_sd.fillna(0), marker='o', capsize=3, label=f'{m}: TTA, kept model')
        ax.plot(g.minutes, g['last'], ls=':', marker='.', label=f'{m}: last epoch')
    ax.set_xscale('log'); ax.set_xlabel('whole command, minutes'); ax.set_ylabel('validation accuracy')
    ax.set_title(f'leafsnap53, {cpu}', fontsize=9); ax.legend(fontsize=7); fig.tight_layout()
    fig.savefig(out/'curve.png', dpi=90); print(f"\n{out/'curve.png'}")

@call_parse
def main(path:str='../shared/data/leafsnap53',   # Kaggle-layout folder
         budgets:str='1m,2m,4m,6m,10m,20m',       # comma-separated whole-command budgets
         seeds:str='2m:3,6m:3',                   # budget:number of seeds where more than one (seeds 0, 1, 2...)
         out:str='/tmp/curve',                    # work folder
         methods:str='budget,plain',              # which of the two to run
         resume:bool=False,                       # keep the rows of `out/curve.csv` that ran, run only the others
         combine:str=None):                       # comma-separated curve.csv files to tabulate and plot together; runs nothing
    "Run both methods at each budget, print the rows and the summary, save curve.png"
    if combine:
        dfs = [pd.read_csv(f) for f in combine.split(',')]
        for i, d in enumerate(dfs): d['study'] = i
        df = pd.concat(dfs, ignore_index=True)
        newest = df.groupby(['method', 'budget']).study.transform('max')
        Path(out).mkdir(parents=True, exist_ok=True)
        return summarize(df[df.study == newest], cpu_model(), Path(out))
    n_seeds = {k: int(v) for k, v in (o.split(':') for o in seeds.split(',') if o)}
    rows, cpu, out = [], cpu_model(), Path(out)
    done = set()
    if resume and (out/'curve.csv').exists():
        old = pd.read_csv(out/'curve.csv')
        old = old[old.error.isna() | old.error.str.contains('too short', na=False)] if 'error' in old else old
        rows = old.to_dict('records'); done = {(r['method'], r['budget'], r['seed']) for r in rows}
    for budget in budgets.split(','):
        for seed in range(n_seeds.get(budget, 1)):
            for m in methods.split(','):
                if (m if m == 'budget' else 'plain fastai', budget, seed) in done: continue
                run_out = out/f'{m}_{budget}_seed{seed}'
                r = (dict(method='budget', **one_run(Path(path), budget, seed, run_out, [])) if m == 'budget'
                     else plain_run(Path(path), budget, seed, run_out))
                rows.append(r); print(pd.DataFrame([r]).to_string(index=False), flush=True)
                pd.DataFrame(rows).to_csv(out/'curve.csv', index=False)  # after each run, so an interrupted study resumes
    df = pd.DataFrame(rows)
    df.to_csv(out/'curve.csv', index=False)
    summarize(df, cpu, out)
