#!/usr/bin/env python
"""The README's picture of the page: `make demo`'s model served by `leaves_app`, two of its test leaves dropped on it in
a headless Chromium, the page saved as a PNG (`make screenshot`). Needs Chromium and its driver (Debian: chromium,
chromium-driver)."""
import warnings
from pathlib import Path
import pandas as pd
from fastcore.script import call_parse
from leaves_nbdev.app import leaves_app, serve_app, browse_app

@call_parse
def main(model:str='leaves_demo/run/model.pt.gz',   # a model file
         data:str='leaves_demo/data',               # the folder it was trained on
         out:str='nbs/images/leaves_app.png'):      # the screenshot
    warnings.simplefilter('ignore')
    demo = leaves_app(model, data=data, k=3)
    url = serve_app(demo)
    try:
        photos = [Path(data)/o for o in pd.read_csv(Path(data)/'test.csv').image[:2]]
        for card in browse_app(url, photos, screenshot=out): print(card['text'].replace('\n', ' | '))
    finally: demo.close()
    print(f"screenshot: {out}")
