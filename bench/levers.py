#!/usr/bin/env python
"""Which levers win a six-minute leafsnap53 run? Each against the default, 3 seeds each, on one fixed schedule.

Every training lever trains exactly the schedule a closed-loop `--budget 6m` run planned and ran on this machine
(`--plan`, default `bench/levers_plan_6m.json`: bf16, `lr_find` 100 iterations, 1 frozen + 7 epochs at 64 px, 6 at
160 px), so that a lever is compared with the default on the same epochs, and the noise of a timing-driven plan (or of
other work on the same cores) stays out of the accuracy. A lever that costs time per epoch would buy fewer epochs under a
real budget: the script prints each run's training seconds beside it.

The prediction levers reuse each run's saved model (no retraining): fastai's TTA (4 augmented passes and the plain
one, what `leaves-train` predicts the test set with); the batch-norm statistics re-estimated with the final weights on
every training image, augmented as in training, at the trained size (`precise_bn`) and 32 px larger (`fixres32`: on a
fixed plan only since 2026-12-06, after it lost everywhere); and,
for the default on a fixed plan, a flip-only TTA (the plain pass and its mirror image), predicting at the trained size
+ 32 px, plain and with fastai's TTA, and the snapshot average (`snap_avg`: the kept model's probabilities plus those of
the model at the end of the small size's SGDR cycle, each at its own size; the default runs with `snapshots=True`).
Each run's last epoch is also scored on the lab scans and the field photos apart (`is_lab_scan`). Under `--budget`, the
`precise BN` lever re-estimates inside its budget (`fit_leaves(fixres=0)`, its `fixres0` column), and the default's kept
model is re-estimated the same way after its run (`kept_fp32`: its plain fp32 pass before, `fixres0` after). The
`snapshots` lever (under `--budget`) runs `fit_leaves(snapshots=True)`: the phase that ends training as two cosine
cycles, the models at their ends averaged, plain (`snap_avg`) and each with fastai's TTA (`snap_tta`). `submitted` is
the figure of what `leaves-train` would submit (the TTA passes the run's plan paid for, `tta_n`, of the kept model; of
both snapshots for that lever), and its gain, paired by seed, decides.

    python bench/levers.py --budget 6m --levers "default,snapshots" --out bench/_results/levers_snapshots

    python bench/levers.py --plan bench/levers_plan_6m_xeon.json --levers "default,leaf crop"   # the Xeon's 6m schedule
    python bench/levers.py --budget 6m --levers "default,precise BN" --seeds 0             # one seed's pair, on the clock

    python bench/levers.py                                       # every lever, seeds 0, 1, 2 (about 80 minutes on 2 cores)
    python bench/levers.py --levers default,dihedral --seeds 0   # some of them
    python bench/levers.py --table                               # the table from the runs already recorded

Each run appends one JSON line to `OUT/levers.jsonl` as it ends, and a run already there is not run again: the study can
be stopped and resumed. Validation accuracy is on each seed's own 20% split (`valid_pct=0.2`, split by the seed); the
ranking metric is the last epoch's (chosen on nothing), the kept epoch's (chosen on those same rows) and TTA beside it.
A lever enters the budget's plan only if its mean gain over the default, paired by seed, exceeds the spread (the standard
deviation of the paired gains).
"""
import json, os, re, time, warnings
from contextlib import contextmanager
from pathlib import Path
import numpy as np, pandas as pd, torch
from fastcore.script import call_parse, store_true
from budget_adherence import cpu_model  # bench/'s own, beside this script
from fastai.vision.all import Callback, accuracy
from PIL import Image
from timm.utils import ModelEmaV3

class WeightEMA(Callback):
    "Train the raw weights, validate and keep their exponential moving average (timm's `ModelEmaV3`), across every phase"
    order = 55  # before the model saver (a TrackerCallback, order 60), which then saves the averaged weights
    def __init__(self, decay=0.99): self.decay, self.ema, self.raw = decay, None, None
    def before_fit(self):
        if self.ema is None: self.ema = ModelEmaV3(self.learn.model, decay=self.decay)
    def before_train(self):
        if self.raw is not None: self.learn.model.load_state_dict(self.raw); self.raw = None
    def after_step(self): self.ema.update(self.learn.model)
    def before_validate(self):
        self.raw = {k: v.detach().clone() for k, v in self.learn.model.state_dict().items()}
        self.learn.model.load_state_dict(self.ema.module.state_dict())

LEVERS = {  # the arguments each lever gives `fit_leaves`; 'ema' adds the callback above
    'default': {},
    'dihedral': dict(aug='dihedral'),    # all eight flips and quarter turns: a leaf has no up
    'ema 0.99': 'ema',
    'cutmix 1.0': dict(cutmix=1.0),       # fastai's default alpha
    'mixup 0.4': dict(mixup=0.4),         # fastai's default alpha
    'no label smoothing': dict(label_smoothing=0.),
    # a slower backbone buys fewer epochs: it runs under the closed-loop 6m budget itself, not the fixed schedule, and is
    # compared with the default's 6m budget runs (bench/budget_adherence.py, the same seeds and splits)
    'efficientnet_lite0 under a 6m budget': dict(arch='efficientnet_lite0', budget='6m', plan=None),
    # issue 27's: run with --budget (each lever under the same clock-driven budget, not the fixed plan)
    'leaf crop': dict(crop='leaf'),
    'leaf crop (box half the photo at least)': dict(crop='leaf'),  # `leaf_box(least_side=0.5)`: a small leaf stays smaller than a large one
    'snapshots': dict(snapshots=True),  # under a budget: the last phase as two cosine cycles, the two cycle-end models averaged (`snap_avg`, `snap_tta`)
    'precise BN': dict(fixres=0),  # `fit_leaves(fixres=0)`: the kept model's batch-norm statistics re-estimated inside the budget (`Learner.fixres`)
}
LEAST_SIDE = {'leaf crop (box half the photo at least)': 0.5}  # set for that lever's run, with its own image cache (the key does not know it)

@contextmanager
def crop_setting(name, cache_dir):
    "For a lever in `LEAST_SIDE`: `leaf_box`'s `least_side` and an image cache of its own (the cache's key does not know it), for the whole run"
    import leaves_nbdev.crop as crop_module
    defaults = crop_module.leaf_box.__defaults__
    if name in LEAST_SIDE:
        crop_module.leaf_box.__defaults__ = defaults[:-1] + (LEAST_SIDE[name],)
        os.environ['LEAVES_NBDEV_CACHE'] = str(cache_dir)
    try: yield
    finally:
        crop_module.leaf_box.__defaults__ = defaults
        if name in LEAST_SIDE: os.environ.pop('LEAVES_NBDEV_CACHE')

def is_lab_scan(fn) -> bool:
    "A Leafsnap lab scan (white paper, colour card, ruler), not a field photo: over 30% of its pixels near white (every channel above 225)"
    return float((np.asarray(Image.open(fn).convert('RGB')).min(-1) > 225).mean()) > 0.3

class LastValid(Callback):
    "Keep the last validation pass's per-image correctness (the last epoch's, chosen on nothing)"
    order = 100
    def before_validate(self): self.hits = []
    def after_batch(self):
        if not self.training and getattr(self, 'hits', None) is not None: self.hits.append((self.pred.argmax(1) == self.yb[0]).cpu())
    def after_validate(self): self.last = torch.cat(self.hits).numpy() if self.hits else None; self.hits = None

def fixres_accuracy(learn, extra=32, n_batches=None):
    "FixRes: batch-norm statistics re-estimated on the training images at the trained size + `extra` px (no gradient, augmentation as in training), then the validation set predicted there; `extra=0`: the statistics re-estimated with the final weights alone (precise BN)"
    import copy
    size = learn.leaves_recipe['size'] + extra
    dls = learn.dls_at(size)
    model, state = learn.model, copy.deepcopy(learn.model.state_dict())
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in bns: m.reset_running_stats(); m.momentum = None  # a cumulative average over what follows
    model.train()
    with torch.no_grad():
        for i, (xb, _) in enumerate(dls.train):
            model(xb)
            if n_batches and i + 1 >= n_batches: break
    for m in bns: m.momentum = 0.1
    old = learn.dls
    learn.dls = dls
    try:
        with learn.no_bar(), learn.no_logging(): acc = float(accuracy(*learn.get_preds(dl=dls.valid)))
    finally: learn.dls = old; model.load_state_dict(state)
    return acc

def package_precise_bn(learn, seed):
    "The kept model's fp32 validation accuracy, then the same after the package's `Learner.fixres(0)` (what `fit_leaves(fixres=0)` would have kept)"
    from fastai.vision.all import set_seed
    from leaves_nbdev.models import plain_precision
    with learn.no_bar(), learn.no_logging(), plain_precision(learn):
        plain = float(accuracy(*learn.get_preds(dl=learn.dls.valid)))
        set_seed(seed); learn.fixres(0)
        return plain, float(accuracy(*learn.get_preds(dl=learn.dls.valid)))

def flip_tta_accuracy(learn, dl):
    "Accuracy of the mean of the plain and the mirrored pass's probabilities"
    learn.model.eval(); ps, ys = [], []
    with torch.no_grad():
        for xb, yb in dl: ps.append((learn.model(xb).softmax(1) + learn.model(xb.flip(-1)).softmax(1))/2); ys.append(yb)
    return float(accuracy(torch.cat(ps), torch.cat(ys)))

def snapshot_average_accuracy(learn):
    "The snapshot average: the mean of the kept model's validation probabilities (at its size) and those of each snapshot (the model at the end of an SGDR cycle, at the size it trained at)"
    from leaves_nbdev.train import weights_of
    with learn.no_bar(), learn.no_logging():
        probs, targs = learn.get_preds(dl=learn.dls.valid)
        for f in learn.leaves_result['snapshots']:
            with weights_of(learn, f): probs = probs + learn.get_preds(dl=learn.dls.valid)[0]
    return float(accuracy(probs, targs))

def planned_passes(learn, dl, n):
    "Probabilities and targets of `dl` as `leaves-train` predicts: fastai's TTA with the `n` augmented passes its plan paid for, or the plain pass where it paid for none"
    return learn.tta(dl=dl, n=n) if n else learn.get_preds(dl=dl)

def snapshot_tta_accuracy(learn, files, n=4):
    "What `leaves-train --snapshots` submits, scored on the validation split: fastai's TTA (`n` augmented passes) of each snapshot in `files` (at the size it trained at), averaged"
    from leaves_nbdev.train import weights_of
    probs = []
    with learn.no_bar(), learn.no_logging():
        for f in files:
            with weights_of(learn, f): p, targs = planned_passes(learn, learn.dls.valid, n)
            probs.append(p)
    return float(accuracy(torch.stack(probs).mean(0), targs))

def prediction_levers(learn):
    "The prediction levers on a trained learner: fastai TTA, flip TTA, and plain and TTA at the trained size + 32 px"
    with learn.no_bar(), learn.no_logging():
        res = dict(tta=float(accuracy(*learn.tta(dl=learn.dls.valid))), flip_tta=flip_tta_accuracy(learn, learn.dls.valid))
        big = learn.dls_at(learn.leaves_recipe['size'] + 32).valid  # the same split and normalisation, 32 px larger
        res.update(plus32=float(accuracy(*learn.get_preds(dl=big))), plus32_tta=float(accuracy(*learn.tta(dl=big))))
    return res

def table(runs:pd.DataFrame) -> pd.DataFrame:
    "One row per lever: mean ± std over seeds, and the mean paired gain over the default (same seed) ± its std"
    cols = [c for c in ('last', 'last_lab', 'last_field', 'kept', 'kept_fp32', 'fixres0', 'tta', 'flip_tta', 'plus32', 'plus32_tta', 'snap_avg', 'snap_tta',
                        'submitted', 'precise_bn', 'fixres32')
            if c in runs]
    base = runs[runs.lever == 'default'].set_index('seed')
    rows = []
    for lever, g in runs.groupby('lever', sort=False):
        row = dict(lever=lever, seeds=len(g))
        for c in cols:
            if g[c].notna().any(): row[c] = f"{g[c].mean():.4f} ± {g[c].std(ddof=1):.4f}" if len(g) > 1 else f"{g[c].mean():.4f}"
        for c in [c for c in ('last', 'last_field', 'submitted') if c in runs]:
            d = g.set_index('seed')[c] - base[c].reindex(g.seed).values
            if lever != 'default' and d.notna().any():
                row[f'gain_{c}'] = f"{d.mean():+.4f} ± {d.std(ddof=1):.4f}" if d.notna().sum() > 1 else f"{d.mean():+.4f}"
                if c == 'last': row['beats_spread'] = bool(d.notna().sum() > 1 and d.mean() > d.std(ddof=1))
        row['train_s'] = round(g.train_s.mean(), 1)
        rows.append(row)
    return pd.DataFrame(rows).fillna('-')

@call_parse
def main(path:str='../shared/data/leafsnap53',      # Kaggle-layout folder
         plan:str='bench/levers_plan_6m.json',       # the schedule every run trains (a run's plan.json)
         levers:str=None,                            # comma-separated lever names (default: all)
         seeds:str='0,1,2',                          # seeds: each gives its own split, initialisation and order
         out:str='bench/_results/levers',            # run folders and levers.jsonl
         budget:str=None,                            # train each lever under this budget on the clock (e.g. 6m) instead of the fixed plan
         table_only:store_true=False):               # only print the table of the runs recorded in OUT
    "Train each lever on the fixed schedule for each seed, then print the lever table"
    warnings.simplefilter('ignore')
    out = Path(out); out.mkdir(parents=True, exist_ok=True); log = out/'levers.jsonl'
    done = [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []
    names = levers.split(',') if levers else list(LEVERS)
    unknown = [n for n in names if n not in LEVERS]
    if unknown: raise SystemExit(f"error: unknown lever(s) {unknown}: expected some of {list(LEVERS)}")
    if not table_only:
        from leaves_nbdev.train import fit_leaves
        for name in names:
            for seed in map(int, seeds.split(',')):
                if any(d['lever'] == name and d['seed'] == seed and d.get('budget') == budget for d in done): continue
                change = LEVERS[name]
                cbs = [WeightEMA(0.99)] if change == 'ema' else []
                cbs.append(last := LastValid())
                t0 = time.time()
                tag = f"{re.sub(r'[^A-Za-z0-9.]+', '_', name)}_seed{seed}" + (f'_budget{budget}' if budget else '')
                when = dict(budget=budget, plan=None, budget_start=t0) if budget else dict(plan=plan)
                args = dict(**when, seed=seed, out=out/tag, bars=False, record=False, cbs=cbs)
                if name == 'default' and not budget: args['snapshots'] = True  # the model at the small size's cycle end, for the snapshot average
                with crop_setting(name, out/f'cache_{tag}'):
                    learn = fit_leaves(path, **{**args, **(change if isinstance(change, dict) else {})})
                    r = learn.leaves_result
                    row = dict(lever=name, seed=seed, last=r['last_valid_accuracy'], kept=r['valid_accuracy'],
                               train_s=round(time.time() - t0, 1), cpu=cpu_model(), date=time.strftime('%Y-%m-%d'), budget=budget)
                    # lab scans and field photos apart (the last epoch's), the final size the schedule reached, then the prediction levers
                    lab = np.array([is_lab_scan(Path(path)/o) for o in learn.dls.valid.items.image])
                    row.update(last_lab=float(last.last[lab].mean()), last_field=float(last.last[~lab].mean()), n_lab=int(lab.sum()),
                               n_field=int((~lab).sum()), schedule=r.get('schedule', {}).get('final_size'))
                    with learn.no_bar(), learn.no_logging(): row['tta'] = float(accuracy(*learn.tta(dl=learn.dls.valid)))
                    if name == 'default' and not budget: row['snap_avg'] = snapshot_average_accuracy(learn); row.update(prediction_levers(learn))
                    n = row['tta_n'] = (r.get('plan') or {}).get('tta_n', 4)  # the TTA passes a budget's plan paid for
                    if budget and r.get('averaged_snapshots'):  # what `leaves-train --snapshots` submits: the two cycle-end snapshots averaged
                        row.update(snap_avg=r['snapshot_valid_accuracy'], snap_tta=snapshot_tta_accuracy(learn, r['averaged_snapshots']),
                                   kept_fp32=r['fp32_valid_accuracy'])
                        row['submitted'] = row['snap_tta'] if n == 4 else snapshot_tta_accuracy(learn, r['averaged_snapshots'], n)
                    else:  # (before the re-estimation below changes the model)
                        with learn.no_bar(), learn.no_logging(): row['submitted'] = row['tta'] if n == 4 else float(accuracy(*planned_passes(learn, learn.dls.valid, n)))
                    if budget and not r.get('averaged_snapshots'):  # the package's own re-estimation (`Learner.fixres(0)`): the lever's inside its budget, the default's here, after it
                        if r.get('fixres') is not None: row['fixres0'] = r['fp32_valid_accuracy']
                        else: row['kept_fp32'], row['fixres0'] = package_precise_bn(learn, seed)
                    elif not budget: row['precise_bn'], row['fixres32'] = fixres_accuracy(learn, 0), fixres_accuracy(learn, 32)
                    with open(log, 'a') as f: f.write(json.dumps(row) + '\n')
                    print(row, flush=True); done.append(row)
                del learn
    runs = pd.DataFrame(done)
    if 'budget' not in runs: runs['budget'] = None
    runs = runs[runs.budget.isin([budget])] if budget else runs[runs.budget.isna()]
    if runs.empty: return print('no runs recorded yet')
    print(f"\n{', '.join(sorted(set(runs.cpu)))}; {', '.join(sorted(set(runs.date)))}; " + (f"budget {budget} on the clock" if budget else f"plan {plan}"))
    t = table(runs[runs.lever.isin(names)])
    print('| ' + ' | '.join(t.columns) + ' |'); print('|' + ' --- |'*len(t.columns))
    for r in t.itertuples(index=False): print('| ' + ' | '.join(map(str, r)) + ' |')
