#!/usr/bin/env python
"""The Space folder on a machine that has none of the training stack: a new virtual environment, `pip install -r
requirements.txt` and nothing else, then `python app.py` as Hugging Face runs it.

It writes the folder (`leaves-export MODEL --space DIR --data PATH`), makes a fresh venv (no system site-packages),
installs the folder's requirements from the package index (a network or a local mirror is needed; `--pip-args` passes
e.g. `--find-links`), checks that neither torch nor fastai nor leaves_nbdev's training modules can be imported there,
starts `python app.py` on 127.0.0.1 and times it until the page answers, asks it one photo through Gradio's HTTP API,
and prints one table: install seconds, what was installed and its size, start seconds, the first answer, memory.

    python bench/space_start.py --model /tmp/run/model.pt.gz --data ../shared/data/leafsnap53
"""
import json, os, shutil, subprocess, sys, time
from pathlib import Path
import pandas as pd
from fastcore.script import call_parse
from budget_adherence import cpu_model, markdown  # bench/'s own, beside this script
from app_load import HttpClient, _memory

def _du(path) -> float: return sum(p.stat().st_size for p in Path(path).rglob('*') if p.is_file() and not p.is_symlink())/2**20

@call_parse
def main(model:str,                              # a model file written by leaves-train
         data:str='../shared/data/leafsnap53',    # the folder it was trained on: leaves to compare, and a photo to ask
         out:str='/tmp/space_start',             # work folder: the Space and the venv
         pip_args:str=''):                       # more arguments for pip install (a mirror, --find-links)
    "Install a Space's requirements into a fresh venv, start its app.py, time it, ask it one photo"
    import threading
    from leaves_nbdev.serve import free_port
    out = Path(out); shutil.rmtree(out, ignore_errors=True); out.mkdir(parents=True)
    space, venv = out/'space', out/'venv'
    subprocess.run([Path(sys.executable).parent/'leaves-export', model, '--space', str(space), '--data', data], check=True, capture_output=True)
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
    t = time.time()
    p = subprocess.run([venv/'bin/pip', 'install', '-q', '--disable-pip-version-check', '-r', str(space/'requirements.txt'), *pip_args.split()],
                       capture_output=True, text=True)
    if p.returncode: raise SystemExit(f'pip install failed: {p.stderr[-2000:]}')
    install_s = time.time() - t
    freeze = subprocess.run([venv/'bin/pip', 'freeze'], capture_output=True, text=True).stdout.split()
    absent = {m: subprocess.run([venv/'bin/python', '-c', f'import {m}'], capture_output=True).returncode != 0 for m in ('torch', 'fastai', 'fastcore')}
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(('VIRTUAL_ENV', 'PYTHON'))}
    env.update(GRADIO_SERVER_NAME='127.0.0.1', GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED='False')
    t = time.time()
    server = subprocess.Popen([venv/'bin/python', 'app.py'], cwd=space, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stop, peak = threading.Event(), [0.]
    threading.Thread(target=_memory, args=(server.pid, stop, peak), daemon=True).start()
    try:
        url = f'http://127.0.0.1:{port}/'
        import httpx
        for _ in range(1200):
            try:
                if httpx.get(url, timeout=1).status_code == 200: break
            except httpx.HTTPError: pass
            if server.poll() is not None: raise SystemExit(f'app.py exited: {server.stdout.read()[-2000:]}')
            time.sleep(0.05)
        start_s = time.time() - t
        photo = Path(data)/pd.read_csv(Path(data)/'test.csv').image[0]
        t = time.time(); html = HttpClient(url).predict([photo]); answer_s = time.time() - t
        species = html.split('class="leaf-answer"', 1)[-1].split('>', 1)[1].split('<', 1)[0] if 'leaf-answer' in html else \
                  ('not sure' if 'leaf-unsure' in html else 'no card')
    finally: stop.set(); server.terminate(); server.wait(timeout=30)
    site = next((venv/'lib').glob('python*/site-packages'))
    row = dict(requirements=' '.join((space/'requirements.txt').read_text().split()), pip_install_s=round(install_s, 1), packages=len(freeze),
               site_packages_mb=round(_du(site)), **{f'{m}_importable': not a for m, a in absent.items()}, start_s=round(start_s, 1),
               first_answer_s=round(answer_s, 2), first_answer=species, peak_mb=round(peak[0]))
    print(f"\n{cpu_model()}, {time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}\n\n" + markdown(pd.DataFrame([row]).T.reset_index().set_axis(['', 'value'], axis=1)))
