#!/usr/bin/env python
"""fastai against onnxruntime on this CPU: one photo's latency and a batch's throughput, from image files to probabilities.

Both predict through `predict_photos` (the same opening and resizing of the files; only the network runs differently):
the model file with fastai (`load_leaves_learner`, `test_dl`, `get_preds`) and its ONNX export with onnxruntime, each
loaded once (a `Learner`, an `OnnxLeaves`: what a server keeps) and from the file at every call (what one
`leaves-predict` pays, imports aside). The page's latency (`LeafIdentifier.html`: prediction, thumbnails and HTML for
one photo) is timed beside them.

    python bench/onnx_speed.py --model bench/_results/levers/default_seed0/model.pt.gz --size 224

`--size` rewrites the model file's recipe to that size first (a MobileNetV2 runs at any size; the speed, not the
accuracy, is measured). Medians of `--repeats` runs after one warm-up; the photos are leafsnap53's test images.
"""
import re, statistics, time, warnings
from pathlib import Path
import gzip, torch, pandas as pd
from fastcore.script import call_parse
from budget_adherence import cpu_model  # bench/'s own, beside this script
from leaves_nbdev.models import read_leaves_model
from leaves_nbdev.predict import predict_photos
from leaves_nbdev.export import export_onnx, OnnxLeaves
from leaves_nbdev.models import load_leaves_learner
from leaves_nbdev.app import LeafIdentifier

def median_seconds(f, repeats):
    f(); ts = []
    for _ in range(repeats): t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)

@call_parse
def main(model:str='bench/_results/levers/default_seed0/model.pt.gz',  # a model file
         path:str='../shared/data/leafsnap53',                           # photos: this folder's test images
         size:int=224,                                                   # predict at this size (the recipe rewritten)
         batch:int=64,                                                   # photos in the throughput run
         repeats:int=10,                                                 # timed runs (median)
         out:str='bench/_results/onnx_speed'):                           # the resized model file and its ONNX export
    "Print photos/s and seconds per photo of fastai and onnxruntime on this CPU"
    warnings.simplefilter('ignore')
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    d = read_leaves_model(model); d['recipe']['size'] = size
    with gzip.open(out/'model.pt.gz', 'wb') as f: torch.save(d, f)
    onnx = export_onnx(out/'model.pt.gz', out/'model.onnx')
    photos = [Path(path)/o for o in pd.read_csv(Path(path)/'test.csv').image[:batch]]
    rows = []
    for runtime, m, loaded in (('fastai (PyTorch)', out/'model.pt.gz', load_leaves_learner(out/'model.pt.gz')),
                               ('onnxruntime', onnx, OnnxLeaves(onnx))):
        one_file = median_seconds(lambda: predict_photos(m, photos[:1], bars=False), repeats)
        one = median_seconds(lambda: predict_photos(loaded, photos[:1], bars=False), repeats)
        many = median_seconds(lambda: predict_photos(loaded, photos, bars=False), max(3, repeats//3))
        rows.append(dict(runtime=runtime, size=size, one_photo_loaded_once_s=round(one, 3), one_photo_from_file_s=round(one_file, 3),
                         batch=batch, batch_s=round(many, 2), photos_per_s=round(batch/many, 1)))
    ident = LeafIdentifier(out/'model.pt.gz', data=path, k=5)
    page = median_seconds(lambda: ident.html(photos[:1]), repeats)
    rows.append(dict(runtime='the page (fastai, one photo: prediction, thumbnails, HTML)', size=size, one_photo_loaded_once_s=round(page, 3),
                     one_photo_from_file_s='-', batch='-', batch_s='-', photos_per_s='-'))
    print(f"\n{time.strftime('%Y-%m-%d')}, {cpu_model()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"{d['recipe']['arch']}, {len(d['vocab'])} species, at {size} px")
    t = pd.DataFrame(rows)
    print('| ' + ' | '.join(t.columns) + ' |'); print('|' + ' --- |'*len(t.columns))
    for r in t.itertuples(index=False): print('| ' + ' | '.join(map(str, r)) + ' |')
