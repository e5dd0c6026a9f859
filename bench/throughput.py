#!/usr/bin/env python
"""Training and TTA throughput of the package's input pipeline, beside the training-step ceiling, in one process.

For each architecture:
1. ceiling: images/s of SGD training steps on a synthetic batch already on the device (bf16 autocast + channels_last
   on a GPU, fp32 on the CPU): no input pipeline at all;
2. end to end: `fit_leaves`' own pipeline (decoded-image cache, GPU batch augmentation, mixed precision, PyTorch's
   fused SGD through `torch_optimizer`) on a folder:
   images/s over the first epoch (cache build included) and over a later epoch, each timed from the epoch's first batch
   request to its last optimizer step, the validation pass timed separately; the ratio to the ceiling;
3. the same later epoch without the cache (files decoded every epoch), to show what the cache saves;
4. TTA inference images/s (4 augmented passes + 1 plain);
5. the input pipeline alone (one pass over the training loader with its augmentations, no model), from the cache
   (one gather per batch, `CachedImagesDL`) and from the files (fastai's per-item path): what each can feed the GPU.

    python bench/throughput.py --quick                       # CPU: small images, small folder
    python bench/throughput.py --path bench/_kaggle_sized    # GPU: 224 px, 18,353 images (see --make-kaggle-sized)
"""
import os, time, shutil, tempfile, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch
from fastcore.script import call_parse, store_true
from fastai.vision.all import Callback, accuracy, CrossEntropyLossFlat, set_seed
from fastai.callback.channelslast import ChannelsLast
from leaves_nbdev.data import leaves_dls, read_leaves_csv
from leaves_nbdev.models import leaves_learner, TORCHVISION_ARCHS
from leaves_nbdev.synthetic import make_synthetic_leaves
from leaves_nbdev.train import torch_optimizer

def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()

def ceiling(arch, size, bs, steps, dev, n_out=176):
    "Images/s of training steps on a synthetic batch already on `dev`"
    m = TORCHVISION_ARCHS[arch](weights=None, num_classes=n_out).to(dev)
    opt = torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9)
    x, y = torch.randn(bs, 3, size, size, device=dev), torch.randint(0, n_out, (bs,), device=dev)
    cuda = dev.type == 'cuda'
    if cuda: m, x = m.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    def step():
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=cuda):
            loss = torch.nn.functional.cross_entropy(m(x), y)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    for _ in range(3): step()
    sync(dev); t = time.time()
    for _ in range(steps): step()
    sync(dev)
    return bs*steps/(time.time() - t)

class EpochTimer(Callback):
    "Seconds of each training pass (first batch request to last optimizer step) and each validation pass"
    order = 99
    def before_fit(self): self.train_s, self.valid_s, self.n = [], [], []
    def before_train(self): sync(self.dls.device); self.t = time.time()
    def after_train(self): sync(self.dls.device); self.train_s.append(time.time() - self.t); self.n.append(len(self.dls.train)*self.dls.train.bs)
    def before_validate(self): self.t = time.time()
    def after_validate(self): sync(self.dls.device); self.valid_s.append(time.time() - self.t)

def end_to_end(path, arch, size, bs, epochs, cache_dir, cache=True):
    "Images/s of the first and last training epochs of the package pipeline; validation and TTA seconds"
    t0 = time.time()
    dls = leaves_dls(path, size=size, bs=bs, cache=cache_dir if cache else False, check=False)
    build_s = time.time() - t0
    learn = leaves_learner(dls, arch, pretrained=False, metrics=accuracy, loss_func=CrossEntropyLossFlat(), opt_func=torch_optimizer('sgd'))
    if dls.device.type == 'cuda': learn.to_bf16(); learn.add_cb(ChannelsLast())
    timer = EpochTimer()
    with learn.no_bar(), learn.no_logging(): learn.fit(epochs, 1e-3, cbs=timer)
    n = timer.n[0]
    first = n/(timer.train_s[0] + (build_s if cache else 0))
    later = n/timer.train_s[-1]
    loader = loader_only(dls.train)  # after the fit, so that the first epoch carries the cache's upload to the GPU
    dl = dls.valid
    sync(dls.device); t = time.time()
    with learn.no_bar(), learn.no_logging(): learn.tta(dl=dl, n=4)
    sync(dls.device)
    tta = len(dl.dataset)*5/(time.time() - t)
    return dict(first_epoch=first, later_epoch=later, valid_s=timer.valid_s[-1], tta=tta, cache_build_s=build_s, loader=loader)

def loader_only(dl):
    "Images/s of one pass over `dl` with its augmentations and no model: what the input pipeline alone can feed"
    sync(dl.device); t, n = time.time(), 0
    for x, y in dl: n += len(x)
    sync(dl.device)
    return n/(time.time() - t)

def build_kaggle_sized(src, dest, n=18353):
    "A folder of `n` training rows made of `src`'s photos repeated (hard links under new names)"
    src, dest = Path(src), Path(dest)
    df = read_leaves_csv(src)
    (dest/'images').mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        r = df.iloc[i % len(df)]
        name = f'images/{i}.jpg'
        if not (dest/name).exists():
            try: os.link(src/r.image, dest/name)
            except OSError: shutil.copy(src/r.image, dest/name)
        rows.append((name, r.label))
    pd.DataFrame(rows, columns=['image', 'label']).to_csv(dest/'train.csv', index=False)
    return dest

@call_parse
def main(path:str=None,                       # Kaggle-layout folder (default: synthetic leaves with --quick, else required)
         archs:str='mobilenet_v2,resnet18,resnet50',  # comma-separated architectures
         size:int=224,                        # image size
         bs:int=256,                          # batch size
         epochs:int=2,                        # epochs of the end-to-end run (first and later are reported)
         steps:int=30,                        # training steps for the ceiling
         quick:store_true=False,              # CPU-sized: 64 px, batch 32, a small synthetic folder
         make_kaggle_sized:str=None,          # build an 18,353-image folder from this Kaggle-layout folder into --path, then exit
         cache_dir:str=None):                 # image cache folder (default: a fresh temporary folder)
    "Print images/s of the ceiling and of the package's pipeline, per architecture"
    if make_kaggle_sized: print(build_kaggle_sized(make_kaggle_sized, path)); return
    warnings.simplefilter('ignore')
    set_seed(0)
    dev = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if quick: size, bs, steps = 64, 32, 5
    if path is None:
        if not quick: raise SystemExit('--path is required without --quick')
        path = make_synthetic_leaves(Path(tempfile.mkdtemp())/'leaves', n_species=10, n_per_species=50, n_test=10, size=96, seed=0)
    cache_dir = Path(cache_dir or tempfile.mkdtemp())
    n = len(read_leaves_csv(path))
    name = torch.cuda.get_device_name() if dev.type == 'cuda' else f'CPU ({torch.get_num_threads()} threads)'
    print(f"{time.strftime('%Y-%m-%d')}, {name}, {n} images at {size} px, batch {bs}")
    cols = ['arch', 'ceiling img/s', 'cache build s', 'first epoch img/s (cache build incl.)', 'later epoch img/s', 'later / first', 'later / ceiling',
            'later epoch img/s, no cache', 'cache speed-up', 'valid pass s', 'TTA img/s',
            'loader alone img/s: cache / files']
    print('| ' + ' | '.join(cols) + ' |'); print('|' + ' --- |'*len(cols))
    for arch in archs.split(','):
        c = ceiling(arch, size, bs, steps, dev)
        shutil.rmtree(cache_dir, ignore_errors=True)
        e = end_to_end(path, arch, size, bs, epochs, cache_dir)
        p = end_to_end(path, arch, size, bs, epochs, cache_dir, cache=False)
        print(f"| {arch} | {c:,.0f} | {e['cache_build_s']:.1f} | {e['first_epoch']:,.0f} | {e['later_epoch']:,.0f} | "
              f"{e['later_epoch']/e['first_epoch']:.2f}x | {e['later_epoch']/c:.0%} | "
              f"{p['later_epoch']:,.0f} | {e['later_epoch']/p['later_epoch']:.2f}x | {e['valid_s']:.1f} | {e['tta']:,.0f} | "
              f"{e['loader']:,.0f} / {p['loader']:,.0f} |", flush=True)
