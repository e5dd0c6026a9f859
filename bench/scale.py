#!/usr/bin/env python
"""The package at the competition's scale: each long step timed on a competition-sized folder of synthetic leaves, with its memory.

The folder has the competition's shape: 176 species of 51 to 353 training images (`competition_counts`), 18,353
training and 8,800 test images at 224 px, drawn by `make_synthetic_leaves` into `--out` once and reused by later runs
(`--redraw` draws and times it again). `--scale` shrinks it for a quick check: fewer images per species (at least 6)
and, below about a fifth of the size, fewer species.

Steps (`--steps`, comma-separated, default all):
  draw         drawing the folder (reused when `--out` already holds one of this scale and seed)
  check        `check_leaves_folder`: every training and test image decoded
  cache        `DecodedImageCache` of every image at `--cache-size` px (224: what a GPU run trains from): build, size on disk
  epoch_cache  one training epoch of resnet18 (from scratch, `fit_leaves`) at 64 px from the image cache (built first, timed
               apart), the validation pass, and TTA of the test images (`predict_leaves`: 4 augmented passes and a plain one)
  epoch_files  the same, decoding the image files (no cache)
  kfold        `fit_kfold`: 3 folds at 32 px, 1 epoch each, no TTA; at the end of each fold's training the resident set, the
               same after `gc.collect()` and `malloc_trim` (what is really held, not heap glibc keeps for reuse), and the
               `Learner`s alive. `fit_kfold` holds the previous fold's learner until the next returns, so from the second
               fold two are alive; flat from the second fold on means nothing accumulates from fold to fold
  budget       `leaves-train PATH --budget B` (`--budget`, default 20m), the whole command timed from outside as a user
               would run it (its defaults: MobileNetV2 with ImageNet weights, the image cache, TTA from the time left),
               into a fresh image cache: the share of the budget it used, the schedule as it ran, validation accuracy
               (last epoch; the kept epoch, chosen on those rows) and the command's peak memory (`ru_maxrss` of the
               child). Not in `all`: it takes the whole budget

Memory: every step runs in a child process of its own (this script, started again with `--child`), so what it holds
is its own. *peak RSS* is the child's `ru_maxrss` read at its end (the kernel's high-water mark of its resident set,
VmHWM): exact, but it counts the file pages the process maps, such as the image cache's memory map, which the kernel
can drop. *peak private* is the largest anonymous resident memory (RssAnon of /proc/self/status: arrays, tensors,
the heap) sampled every 50 ms by a thread: what the step really needs (a spike shorter than 50 ms can be missed).
*before* is the resident set after the imports (torch and fastai), before the step. Drawing's workers are processes
of their own: their largest peak is `ru_maxrss` of RUSAGE_CHILDREN, in the notes.

Children's output (progress lines, epoch lines) goes to stderr; stdout gets one markdown table.

    python bench/scale.py --scale 0.02 --out /tmp/scale_small      # a quick check: a few minutes on 2 CPUs
    python bench/scale.py                                           # the competition's size
    python bench/scale.py --steps budget --budget 20m               # leaves-train --budget 20m there (draws the folder first if needed)
"""
import json, os, platform, resource, shutil, subprocess, sys, tempfile, threading, time
from pathlib import Path
from fastcore.script import call_parse, store_true

N_TRAIN, N_TEST, N_SPECIES, LO, HI, SIZE = 18_353, 8_800, 176, 51, 353, 224
STEPS = ('draw', 'check', 'cache', 'epoch_cache', 'epoch_files', 'kfold', 'budget')
ALL = STEPS[:-1]  # `all`: every step but the budget's

def folder_shape(scale):
    "Species, per-species bounds and image counts of a folder `scale` times the competition's"
    n_train, n_test = max(12, round(N_TRAIN*scale)), max(1, round(N_TEST*scale))
    lo = max(6, round(LO*scale))  # 3 folds and a validation split need a few images of every species
    hi = max(6*lo, round(HI*scale))
    n_species = min(N_SPECIES, max(2, n_train // max(2*lo, round(n_train/N_SPECIES))))
    return dict(n_species=n_species, lo=lo, hi=hi, n_train=n_train, n_test=n_test)

# --- memory of this process

def status_mb(field):
    "A field of /proc/self/status (VmRSS, RssAnon, VmHWM) in MB; None where there is no /proc"
    try:
        for line in Path('/proc/self/status').read_text().splitlines():
            if line.startswith(field + ':'): return int(line.split()[1])/1024
    except OSError: return None

def maxrss_mb(who=resource.RUSAGE_SELF):
    "`ru_maxrss` in MB (kilobytes on Linux, bytes on macOS)"
    r = resource.getrusage(who).ru_maxrss
    return r/2**20 if sys.platform == 'darwin' else r/1024

class PeakSampler(threading.Thread):
    "The largest anonymous resident memory (RssAnon) of this process, sampled every `every` seconds until `stop()`"
    def __init__(self, every=0.05):
        super().__init__(daemon=True)
        self.every, self.peak, self.done = every, status_mb('RssAnon') or 0., threading.Event()
    def run(self):
        while not self.done.is_set():
            v = status_mb('RssAnon')
            if v is not None: self.peak = max(self.peak, v)
            self.done.wait(self.every)
    def stop(self): self.done.set(); self.join(); return self.peak or None  # None: no /proc to read

# --- the steps, each run in a child process

def all_images(path):
    "Training then test images, as `leaves_dls(cache=...)` lists them for its cache"
    from leaves_nbdev.data import read_leaves_csv
    trn = list(read_leaves_csv(path).image)
    seen = set(trn)
    return trn + [o for o in read_leaves_csv(path, 'test.csv', cols=('image',)).image if o not in seen]

def step_draw(a, path):
    from leaves_nbdev.synthetic import make_synthetic_leaves, competition_counts
    sh = folder_shape(a.scale)
    if path.exists(): shutil.rmtree(path)  # checked by the parent: a folder this script drew (another scale or seed, or unfinished)
    path.mkdir(parents=True)
    marker = path/'scale_bench.json'
    marker.write_text(json.dumps(dict(scale=a.scale, seed=a.seed, complete=False)))
    counts = competition_counts(a.seed, sh['n_train'], sh['n_species'], sh['lo'], sh['hi'])
    t = time.time()
    make_synthetic_leaves(path, sh['n_species'], counts, sh['n_test'], size=SIZE, seed=a.seed, n_workers=a.workers)
    s = time.time() - t
    marker.write_text(json.dumps(dict(scale=a.scale, seed=a.seed, complete=True)))
    n_workers = a.workers or (len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count())
    return [dict(what=f"draw {sh['n_train']:,} + {sh['n_test']:,} images at {SIZE} px", seconds=s, n=sh['n_train'] + sh['n_test'],
                 notes=f"{n_workers} worker processes (forked: the parent's pages they share included), "
                       f"the largest peaking at {maxrss_mb(resource.RUSAGE_CHILDREN):,.0f} MB")]

def step_check(a, path):
    from leaves_nbdev.data import check_leaves_folder
    t = time.time()
    trn, tst = check_leaves_folder(path)
    return [dict(what=f'check_leaves_folder: decode {len(trn) + len(tst):,} images', seconds=time.time() - t, n=len(trn) + len(tst))]

def step_cache(a, path):
    from leaves_nbdev.data import DecodedImageCache
    images, d = all_images(path), Path(a.cache_dir)/'cache'
    shutil.rmtree(d, ignore_errors=True)
    t = time.time()
    c = DecodedImageCache(path, images, size=a.cache_size, cache_dir=d)
    s, size = time.time() - t, c.fname.stat().st_size
    del c; shutil.rmtree(d, ignore_errors=True)
    return [dict(what=f'image cache of {len(images):,} images at {a.cache_size} px', seconds=s, n=len(images),
                 notes=f'{size/2**30:.2f} GiB on disk')]

def epoch_timer():
    "A callback timing the training pass (first batch request to last step) and the validation pass, counting images"
    import torch
    from fastai.vision.all import Callback
    def sync():
        if torch.cuda.is_available(): torch.cuda.synchronize()
    class EpochTimer(Callback):
        order = 99
        def before_fit(self): self.train_s = self.valid_s = 0.; self.n_train = self.n_valid = 0
        def before_train(self): sync(); self.t = time.time()
        def after_train(self): sync(); self.train_s += time.time() - self.t
        def before_validate(self): sync(); self.t = time.time()
        def after_validate(self): sync(); self.valid_s += time.time() - self.t
        def after_batch(self):
            if self.training: self.n_train += len(self.yb[0])
            else: self.n_valid += len(self.yb[0])
    return EpochTimer()

def step_epoch(a, path, cached):
    import torch
    from leaves_nbdev.data import DecodedImageCache
    from leaves_nbdev.train import fit_leaves
    from leaves_nbdev.predict import predict_leaves
    rows, src = [], 'the cache' if cached else 'the files'
    cache = False
    if cached:
        d = Path(a.cache_dir)/'cache_64'; shutil.rmtree(d, ignore_errors=True)
        images = all_images(path)
        t = time.time()
        c = DecodedImageCache(path, images, size=64, cache_dir=d)  # what fit_leaves(cache=d) finds and reads
        rows.append(dict(what=f'image cache of {len(images):,} images at 64 px, for the epoch', seconds=time.time() - t, n=len(images),
                         notes=f'{c.fname.stat().st_size/2**20:,.0f} MiB on disk'))
        del c; cache = str(d)
    timer = epoch_timer()
    with tempfile.TemporaryDirectory() as out:
        learn = fit_leaves(path, arch='resnet18', pretrained=False, lr=a.lr, n_cycles=1, cycle_len=1, freeze_epochs=0, size=64, bs=a.bs,
                           cache=cache, check=False, record=False, bars=False, out=out, cbs=[timer])
        rows.append(dict(what=f'1 training epoch, resnet18 at 64 px, batch {a.bs}, from {src}', seconds=timer.train_s, n=timer.n_train))
        rows.append(dict(what=f'validation pass, from {src}', seconds=timer.valid_s, n=timer.n_valid))
        t = time.time()
        probs = predict_leaves(learn, path, tta=True, bs=a.bs, check=False)
        rows.append(dict(what=f'TTA of {len(probs):,} test images (5 passes), from {src}', seconds=time.time() - t, n=len(probs)))
    if cached: shutil.rmtree(cache, ignore_errors=True)
    return rows

def step_kfold(a, path):
    import torch
    import ctypes, gc
    from fastai.vision.all import Callback, Learner
    from leaves_nbdev.ensemble import fit_kfold
    class RSSAfterFit(Callback):
        "At each fold's training end: the resident set; the same after `gc.collect()` and glibc's `malloc_trim`; the live `Learner`s"
        order = 100
        def __init__(self):
            self.rss, self.rss_gc, self.learners = [], [], []
            try: self.trim = ctypes.CDLL('libc.so.6').malloc_trim
            except (OSError, AttributeError): self.trim = None  # not glibc: the figure is after gc.collect() alone
        def after_fit(self):
            self.rss.append(status_mb('VmRSS') or maxrss_mb())
            gc.collect()
            if self.trim: self.trim(0)
            self.rss_gc.append(status_mb('VmRSS') or maxrss_mb())
            self.learners.append(sum(isinstance(o, Learner) for o in gc.get_objects()))
    rss = RSSAfterFit()
    cache = str(Path(a.cache_dir)/'cache_kfold') if torch.cuda.is_available() else False
    with tempfile.TemporaryDirectory() as out:
        t = time.time()
        res = fit_kfold(path, n_folds=3, seed=a.seed, out=out, tta=False, arch='resnet18', pretrained=False, lr=a.lr, n_cycles=1,
                        cycle_len=1, freeze_epochs=0, size=32, bs=a.bs, bars=False, cache=cache, cbs=[rss])
        s = time.time() - t
    if cache: shutil.rmtree(cache, ignore_errors=True)
    def mb(r): return f"{' / '.join(f'{v:,.0f}' for v in r)} MB ({r[-1] - r[0]:+,.0f} MB from the first fold to the last)"
    return [dict(what='fit_kfold: 3 folds at 32 px, 1 epoch each, no TTA', seconds=s, n=None,
                 notes=f"resident set at the end of each fold's training: {mb(rss.rss)}; after gc.collect(){' and malloc_trim' if rss.trim else ''}: {mb(rss.rss_gc)}; "
                       f"Learners alive: {' / '.join(map(str, rss.learners))}; out-of-fold accuracy {res['oof_accuracy']:.3f}")]

def step_budget(a, path):
    "The whole `leaves-train --budget` command, timed from outside, into a fresh image cache; its peak memory is the command's"
    import pandas as pd
    from leaves_nbdev.budget import parse_budget, plan_precision
    sys.path.insert(0, str(Path(__file__).parent))
    from budget_adherence import phases
    cache = Path(a.cache_dir)/'cache_budget'; shutil.rmtree(cache, ignore_errors=True)
    with tempfile.TemporaryDirectory() as out:
        t = time.time()
        p = subprocess.Popen([str(Path(sys.executable).parent/'leaves-train'), str(path), '--budget', a.budget, '--seed', str(a.seed),
                              '--cache', str(cache), '--out', out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        for line in p.stdout: sys.stderr.write(line); lines.append(line.rstrip())  # shown as it runs, kept for the TTA line
        p.wait(); s = time.time() - t
        if p.returncode: raise SystemExit(f'leaves-train --budget {a.budget}: {(lines or ["exit " + str(p.returncode)])[-1]}')
        plan, h = json.loads((Path(out)/'plan.json').read_text()), pd.read_csv(Path(out)/'history.csv')
    cut = [l for l in lines if l.startswith('TTA: ')]  # printed when the deadline cut augmented passes: "TTA: 2 of 4 augmented passes ..."
    ran = cut[-1].split()[1] if cut else plan['tta_n']
    shutil.rmtree(cache, ignore_errors=True)
    b = parse_budget(a.budget)
    return [dict(what=f'leaves-train --budget {a.budget}: the whole command (lr_find, training, TTA of the test set, the submission)',
                 seconds=s, n=None,
                 notes=f"{s/b:.1%} of the budget; ran {phases(plan)} ({plan_precision(plan)}), TTA {ran} of {plan['tta_n']} planned augmented passes run; validation "
                       f"accuracy last epoch {h.accuracy.iloc[-1]:.4f}, kept epoch {h.accuracy[h.kept].iloc[0]:.4f} (chosen on those rows); "
                       f"the command's peak RSS {maxrss_mb(resource.RUSAGE_CHILDREN):,.0f} MB")]

def run_child(a, step):
    "Run `step` in this process (a child of the parent run) and write its rows and memory to `a.result`"
    import torch, fastai.vision.all, leaves_nbdev.train, leaves_nbdev.predict, leaves_nbdev.ensemble  # the same imports before every step
    before = status_mb('VmRSS') or maxrss_mb()
    sampler = PeakSampler(); sampler.start()
    path = Path(a.out)
    if step == 'draw': rows = step_draw(a, path)
    elif step == 'check': rows = step_check(a, path)
    elif step == 'cache': rows = step_cache(a, path)
    elif step == 'epoch_cache': rows = step_epoch(a, path, cached=True)
    elif step == 'epoch_files': rows = step_epoch(a, path, cached=False)
    elif step == 'kfold': rows = step_kfold(a, path)
    elif step == 'budget': rows = step_budget(a, path)
    else: raise SystemExit(f'unknown step {step!r}')
    mem = dict(peak_rss=maxrss_mb(), peak_private=sampler.stop(), before=before)
    Path(a.result).write_text(json.dumps(dict(rows=rows, mem=mem)))

# --- the parent: one child per step, one table

def machine():
    import torch
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'
    import fastai
    return (f"{platform.system()}, {cpus} CPUs (torch {torch.get_num_threads()} threads), {gpu}; "
            f"Python {platform.python_version()}, torch {torch.__version__}, fastai {fastai.__version__}")

def fmt(v, spec=',.1f'): return '' if v is None else format(v, spec)

@call_parse
def main(scale:float=1.0,                          # fraction of the competition's size (0.02 for a quick check)
         out:str='bench/_results/scale_data',      # the synthetic folder: drawn once, reused while it has this scale and seed
         steps:str='all',                          # comma-separated: draw,check,cache,epoch_cache,epoch_files,kfold,budget; epoch (both); all (but budget)
         redraw:store_true=False,                  # draw (and time) the folder again even when --out holds it
         cache_dir:str=None,                       # where the image caches are built (default: beside --out); removed after
         cache_size:int=224,                       # image size of the `cache` step's cache
         lr:float=2e-3,                            # learning rate of the training steps (no lr_find)
         bs:int=64,                                # batch size of the training steps
         workers:int=None,                         # processes drawing the folder (default: one per CPU)
         budget:str='20m',                         # the `budget` step's --budget
         seed:int=42,                              # seed of the folder and the training
         child:str=None,                           # (internal) run this one step in this process
         result:str=None):                         # (internal) where the child writes its result
    "Time each long step of the package on a competition-sized synthetic folder, each in a child process, and print one table"
    import warnings; warnings.simplefilter('ignore')
    a = type('Args', (), dict(scale=scale, out=out, cache_dir=cache_dir or str(Path(out).parent/(Path(out).name + '_caches')),
                              cache_size=cache_size, lr=lr, bs=bs, workers=workers, seed=seed, budget=budget, redraw=redraw, result=result))
    if child: return run_child(a, child)
    names = [s.strip() for s in steps.split(',') if s.strip()]
    todo = list(ALL) if names == ['all'] else [t for s in names for t in (('epoch_cache', 'epoch_files') if s == 'epoch' else (s,))]
    unknown = [s for s in todo if s not in STEPS]
    if unknown: raise SystemExit(f'--steps: unknown {unknown}; expected some of {STEPS} or all')
    path, sh = Path(out), folder_shape(scale)
    marker = path/'scale_bench.json'
    drawn = marker.exists() and json.loads(marker.read_text()) == dict(scale=scale, seed=seed, complete=True)
    if path.exists() and any(path.iterdir()) and not marker.exists():
        raise SystemExit(f'{path} holds files this script did not draw: give another --out')
    draw = redraw or not drawn
    if not draw: todo = [s for s in todo if s != 'draw']  # a row says it was reused
    elif 'draw' not in todo: todo.insert(0, 'draw')  # no folder yet: it has to be drawn, and is timed
    header = (f"{time.strftime('%Y-%m-%d %H:%M %Z')}: {machine()}\n\nFolder: {sh['n_train']:,} training and {sh['n_test']:,} test "
              f"images at {SIZE} px, {sh['n_species']} species of {sh['lo']} to {sh['hi']} training images (scale {scale:g} of the "
              f"competition), {path}{'' if draw else ', drawn by an earlier run'}.")
    print(f'{header}\n', file=sys.stderr, flush=True)
    table, t0 = [], time.time()
    if not draw and 'draw' in (ALL if names == ['all'] else names):
        table.append(['draw', 'reused the folder an earlier run drew (--redraw to draw and time it again)'] + ['']*6)
    for step in todo:
        print(f'--- {step}', file=sys.stderr, flush=True)
        with tempfile.NamedTemporaryFile(suffix='.json', delete=False) as f: res_file = f.name
        try:
            p = subprocess.run([sys.executable, __file__, *sys.argv[1:], '--child', step, '--result', res_file], stdout=sys.stderr)
            if p.returncode: raise SystemExit(f'step {step} failed (exit {p.returncode}): see its output above')
            res = json.loads(Path(res_file).read_text())
        finally: os.remove(res_file)
        for i, r in enumerate(res['rows']):
            m = res['mem'] if i == 0 else None
            table.append([step, r['what'], fmt(r['seconds']), fmt(r['n']/r['seconds'] if r['n'] and r['seconds'] else None, ',.0f'),
                          fmt(m and m['peak_rss'], ',.0f'), fmt(m and m['peak_private'], ',.0f'), fmt(m and m['before'], ',.0f'),
                          r.get('notes', '')])
            if i: table[-1][4] = '(same process)'
    cols = ['step', 'what', 'seconds', 'images/s', 'peak RSS MB', 'peak private MB', 'RSS before MB', 'notes']
    print(header + '\n')
    print('| ' + ' | '.join(cols) + ' |'); print('|' + ' --- |'*len(cols))
    for row in table: print('| ' + ' | '.join(row) + ' |')
    print(f"\nEach step in a child process of its own: peak RSS is its ru_maxrss (file pages it maps included), peak private its "
          f"largest RssAnon sampled every 50 ms, RSS before its resident set after importing torch and fastai. "
          f"Total {time.time() - t0:,.0f} s.", flush=True)
