#!/usr/bin/env python
"""Does `leaves-train --budget` hold its budget on this machine, and what does the time buy?

Runs the real command (`leaves-train PATH --budget B --seed S`), timed from outside as `/usr/bin/time` would, once per
budget and seed, then prints one row per run: the CPU, the whole command's seconds and the share of the budget it used,
the plan it first made and the schedule as it ran (the controller's re-plans counted), the last epoch's and the kept
epoch's validation accuracy, and the kept model's validation accuracy with fastai's TTA (computed afterwards, outside
the budget). Target: every run uses 97-100% of its budget (each phase on the clock since issue 24).

    python bench/budget_adherence.py --path ../shared/data/leafsnap53                      # 2m and 6m, seed 0
    python bench/budget_adherence.py --budgets 6m --seeds 0,1,2 --out /tmp/adherence       # the accuracy table: 3 seeds

Validation accuracy is on the run's own split (`valid_pct=0.2`, by `--seed`): the last epoch's is chosen on nothing,
the kept epoch's was chosen on those same rows (optimistic).
"""
import json, re, subprocess, sys, time, warnings
from pathlib import Path
import pandas as pd
from fastcore.script import call_parse
from fastai.vision.all import Normalize, accuracy

def cpu_model() -> str:
    "The CPU's model name, as /proc/cpuinfo gives it"
    try: return re.search(r'^model name\s*:\s*(.*)$', Path('/proc/cpuinfo').read_text(), re.M).group(1).strip()
    except (OSError, AttributeError): return 'unknown CPU'

def tta_valid_accuracy(path, out, seed):
    "The kept model's validation accuracy with fastai's TTA, on the split the run trained with"
    from leaves_nbdev.data import leaves_dls
    from leaves_nbdev.models import load_leaves_learner, read_leaves_model
    r = read_leaves_model(out/'model.pt.gz')['recipe']
    learn = load_leaves_learner(out/'model.pt.gz')
    norm = [Normalize.from_stats(*r['normalize'])] if r.get('normalize') else []
    dls = leaves_dls(path, size=r['size'], bs=64, seed=seed, aug=r.get('aug', 'fastai'), img_mode=r.get('img_mode', 'RGB'),
                     vocab=learn.dls.vocab, check=False, cache=True, extra_batch_tfms=norm)
    with learn.no_bar(), learn.no_logging(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        preds, targs = learn.tta(dl=dls.valid)
    return float(accuracy(preds, targs))

def markdown(df) -> str:
    "A data frame as a markdown table (no `tabulate` needed)"
    rows = [list(map(str, df.columns))] + [['' if pd.isna(v) else str(v) for v in r] for r in df.values.tolist()]
    return '\n'.join('| ' + ' | '.join(r) + ' |' for r in rows[:1] + [['---']*len(df.columns)] + rows[1:])

def phases(p) -> str:
    "A schedule in one line: frozen + small-size epochs, a warm restart, the final size's epochs"
    s = f"{p['freeze_epochs']}f+{p['cycle_len']}@{p['size']}"
    if p.get('restart_epochs'): s += f"+{p['restart_epochs']}r@{p['size']}"
    if p.get('final_size') and p.get('final_epochs'): s += f"+{p['final_epochs']}@{p['final_size']}"
    return s

def one_run(path, budget, seed, out, extra):
    "One timed `leaves-train --budget` and its row"
    from leaves_nbdev.budget import plan_precision
    tool = Path(sys.executable).parent/'leaves-train'
    t = time.time()
    p = subprocess.run([str(tool), str(path), '--budget', budget, '--seed', str(seed), '--out', str(out), *extra], capture_output=True, text=True)
    took = time.time() - t
    if p.returncode: return dict(budget=budget, seed=seed, error=(p.stderr.strip().splitlines() or [f'exit code {p.returncode}'])[-1])
    plan = json.loads((out/'plan.json').read_text())
    h = pd.read_csv(out/'history.csv')
    first = re.search(r'^budget \S+ [^:]*: (.*); predicted', p.stdout, re.M)
    return dict(budget=budget, seed=seed, seconds=round(took, 1), used=round(took/plan['budget'], 3),
                first_plan=first.group(1) if first else '', ran=phases(plan), replans=len([n for n in plan['notes'] if not n.startswith('time left')]),
                batches='+'.join(map(str, (plan.get('phase_batches') or {}).values())),
                at_end=all(v == 1 for v in (plan.get('phase_end') or {}).values()), tta_n=plan['tta_n'], precision=plan_precision(plan),
                valid_last=round(float(h.accuracy.iloc[-1]), 4), valid_kept=round(float(h.accuracy[h.kept].iloc[0]), 4),
                valid_kept_tta=round(tta_valid_accuracy(path, out, seed), 4), epoch_seconds=plan.get('epoch_seconds_report', ''))

@call_parse
def main(path:str='../shared/data/leafsnap53',  # Kaggle-layout folder
         budgets:str='2m,6m',                    # comma-separated budgets
         seeds:str='0',                          # comma-separated seeds
         out:str='/tmp/budget_adherence',        # work folder (one run folder each)
         args:str=''):                           # more leaves-train options, e.g. "--arch efficientnet_lite0"
    "Time `leaves-train --budget` from outside, per budget and seed, and print the table"
    rows, cpu = [], cpu_model()
    for budget in budgets.split(','):
        for seed in map(int, seeds.split(',')):
            rows.append(dict(cpu=cpu, **one_run(Path(path), budget, seed, Path(out)/f'{budget}_seed{seed}', args.split())))
            print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    df = pd.DataFrame(rows)
    print(f"\n{cpu}, {time.strftime('%Y-%m-%d')}\n")
    print(markdown(df.drop(columns=['cpu', 'epoch_seconds'], errors='ignore')))
    print('\n' + '\n'.join(f"{r.budget} seed {r.seed}: {r.epoch_seconds}" for r in df.itertuples() if isinstance(getattr(r, 'epoch_seconds', None), str)))
    for b, g in df.groupby('budget', sort=False):
        if 'valid_last' in g and len(g) > 1:
            print(f"{b}: valid_last {g.valid_last.mean():.4f} ± {g.valid_last.std():.4f}, TTA {g.valid_kept_tta.mean():.4f} ± "
                  f"{g.valid_kept_tta.std():.4f}, used {g.used.min():.0%}-{g.used.max():.0%} ({len(g)} seeds)")
