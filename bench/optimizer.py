#!/usr/bin/env python
"""Milliseconds per optimizer step: fastai's own Adam and SGD (a Python loop over parameter tensors) against PyTorch's
AdamW and SGD as `torch_optimizer` gives them (fused on a GPU), on the parameters of real architectures.

    python bench/optimizer.py                          # on the GPU if there is one, else the CPU
    python bench/optimizer.py --archs mobilenet_v2 --steps 50
"""
import time, warnings
import torch
from fastcore.script import call_parse
from fastai.vision.all import Adam, SGD, partial
from leaves_nbdev.models import TORCHVISION_ARCHS
from leaves_nbdev.train import torch_optimizer

def ms_per_step(opt, steps, dev):
    for _ in range(3): opt.step()
    if dev.type == 'cuda': torch.cuda.synchronize()
    t = time.time()
    for _ in range(steps): opt.step()
    if dev.type == 'cuda': torch.cuda.synchronize()
    return (time.time() - t)/steps*1000

@call_parse
def main(archs:str='mobilenet_v2,resnet50',  # comma-separated architectures
         steps:int=20):                      # timed steps per optimizer
    "Print one row per architecture: ms per step of each optimizer"
    warnings.simplefilter('ignore')
    dev = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    name = torch.cuda.get_device_name() if dev.type == 'cuda' else f'CPU ({torch.get_num_threads()} threads)'
    opts = {'fastai Adam': partial(Adam, mom=0.9), 'torch AdamW (torch_optimizer)': torch_optimizer('adam'),
            'fastai SGD': partial(SGD, mom=0.9), 'torch SGD (torch_optimizer)': torch_optimizer('sgd')}
    print(f"{time.strftime('%Y-%m-%d')}, {name}, ms per optimizer step (weight decay 0.01)")
    cols = ['arch', 'parameter tensors'] + list(opts)
    print('| ' + ' | '.join(cols) + ' |'); print('|' + ' --- |'*len(cols))
    for arch in archs.split(','):
        params = list(TORCHVISION_ARCHS[arch](weights=None, num_classes=176).to(dev).parameters())
        for p in params: p.grad = torch.randn_like(p)
        row = []
        for f in opts.values():
            opt = f(params, lr=1e-3); opt.set_hypers(wd=0.01)
            row.append(f'{ms_per_step(opt, steps, dev):.2f}')
        print(f"| {arch} | {len(params)} | " + ' | '.join(row) + ' |', flush=True)
