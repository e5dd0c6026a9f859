#!/usr/bin/env python
"""The page under load: `leaves-app` on 127.0.0.1, driven through Gradio's client API by K people at once.

For each model (a model file, served with fastai; its ONNX export, served without fastai or PyTorch) the server is
started as a person starts it (`leaves-app MODEL --port P`, with the queue settings given), and for each K in
`--clients` K threads, each its own client of Gradio's API, send one photo a request (real leaves from `--photos`,
in turn) for `--seconds`, at most `--max-requests` each. A thread samples the server's memory (its process and
children, resident) 20 times a second. The clients use Gradio's HTTP API (`--client http`: upload, call `/identify`,
read the event stream, as Gradio documents it for curl), which costs a few ms of CPU a request; `gradio_client`'s
Python client (`--client gradio_client`) costs about 230 ms a request on these 2 cores, four times what the server
spends, and would measure itself rather than the page. One row per K: requests a second, p50/p95/p99 latency (upload included, as a
person waits for it), errors (an exception, or an answer with no card), and the server's peak memory.

With `--hostile`, a second round on each server: 8 ordinary clients, as above, while one more sends hostile uploads in
turn: a smooth 16-bit PNG near PIL's limit (13,000 x 13,000), a decompression bomb (a 400-megapixel 1-bit PNG of 60
KB), a 60-megapixel JPEG, 50 photos in one request, a truncated JPEG, a text file named .jpg. It reports the ordinary
users' latency meanwhile, whether each hostile upload got a card, the server's peak memory, and whether it is alive.

Everything stays on 127.0.0.1, bounded in count and time. The photos and hostile files are made once in `--out`.

    python bench/app_load.py --model /tmp/run/model.pt.gz --photos ../shared/data/leafsnap53 --hostile
"""
import json, os, subprocess, sys, threading, time, warnings
from pathlib import Path
import numpy as np, pandas as pd
from fastcore.script import call_parse
from PIL import Image
from budget_adherence import cpu_model, markdown  # bench/'s own, beside this script

def _memory(pid, stop, peak):
    "Sample the resident memory of process `pid` and its children into `peak[0]` (MB) until `stop` is set"
    import psutil
    p = psutil.Process(pid)
    while not stop.is_set():
        try: rss = sum(q.memory_info().rss for q in [p, *p.children(recursive=True)])
        except psutil.Error: break
        peak[0] = max(peak[0], rss/2**20); time.sleep(0.05)

def start_server(model, port, extra=()):
    "`leaves-app MODEL` on 127.0.0.1:`port`, and its startup seconds once it answers"
    from gradio_client import Client
    tool = Path(sys.executable).parent/'leaves-app'
    t = time.time()
    server = subprocess.Popen([tool, str(model), '--port', str(port), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                              env={**os.environ, 'PYTHONWARNINGS': 'ignore'})
    for _ in range(600):
        try: Client(f'http://127.0.0.1:{port}/', verbose=False); return server, time.time() - t
        except Exception: time.sleep(0.1)
        if server.poll() is not None: raise SystemExit(f'leaves-app {model} exited with {server.returncode}')
    raise SystemExit(f'leaves-app {model} did not answer in 60 s')

class HttpClient:
    "Gradio's HTTP API, as its docs give it for curl: upload the files, call `/identify`, read the answer's event stream (a few ms of CPU a request)"
    def __init__(self, url):
        import httpx
        self.url, self.http = url, httpx.Client(timeout=120)
    def predict(self, files):
        up = self.http.post(self.url + 'gradio_api/upload', files=[('files', (Path(f).name, Path(f).read_bytes())) for f in files])
        up.raise_for_status()
        data = [[{'path': p, 'orig_name': Path(f).name, 'meta': {'_type': 'gradio.FileData'}} for p, f in zip(up.json(), files)]]
        ev = self.http.post(self.url + 'gradio_api/call/identify', json={'data': data}); ev.raise_for_status()
        text = self.http.get(self.url + f"gradio_api/call/identify/{ev.json()['event_id']}").text
        if 'event: complete' not in text: raise RuntimeError(text[-300:])
        return json.loads(text.split('event: complete\ndata: ', 1)[1].split('\n', 1)[0])[0]

class GradioClient:
    "`gradio_client.Client`: Gradio's Python client (on these 2 cores it costs about 4 times the server's CPU per request)"
    def __init__(self, url):
        from gradio_client import Client
        self.c = Client(url, verbose=False)
    def predict(self, files):
        from gradio_client import handle_file
        return self.c.predict([handle_file(str(f)) for f in files], api_name='/identify')

CLIENTS = dict(http=HttpClient, gradio_client=GradioClient)

def _client_loop(url, photos, until, max_requests, lat, errs, offset=0, client='http'):
    "One person: a photo a request, in turn, until the time or the count is up"
    c = CLIENTS[client](url)
    for i in range(max_requests):
        if time.time() > until: break
        t = time.time()
        try: ok = 'class="leaf-card' in c.predict([photos[(offset + i) % len(photos)]])
        except Exception as e: ok = False
        lat.append(time.time() - t)
        if not ok: errs.append(1)

def _cpu_s(pid=None) -> float:
    "CPU seconds (user + system) used so far by process `pid` (default: this one, the clients) and its children"
    import psutil
    p = psutil.Process(pid)
    return sum(sum(q.cpu_times()[:2]) for q in [p, *p.children(recursive=True)])

def load_round(url, photos, k, seconds, max_requests, server_pid=None, client='http'):
    "K clients for `seconds`: requests, requests a second, p50/p95/p99 seconds, errors, and the CPU milliseconds a request cost the server and the clients"
    lat, errs, until = [], [], time.time() + seconds
    cpu0 = (_cpu_s(server_pid), _cpu_s()) if server_pid else None
    ts = [threading.Thread(target=_client_loop, args=(url, photos, until, max_requests, lat, errs, 7*j, client)) for j in range(k)]
    t = time.time()
    for th in ts: th.start()
    for th in ts: th.join()
    took = time.time() - t
    q = np.percentile(lat, [50, 95, 99]) if lat else [np.nan]*3
    cpu = {} if not cpu0 else dict(server_cpu_ms=round((_cpu_s(server_pid) - cpu0[0])*1000/max(len(lat), 1)),
                                   client_cpu_ms=round((_cpu_s() - cpu0[1])*1000/max(len(lat), 1)))
    return dict(clients=k, requests=len(lat), req_per_s=round(len(lat)/took, 1), p50_s=round(q[0], 3), p95_s=round(q[1], 3),
                p99_s=round(q[2], 3), errors=len(errs), **cpu)

def hostile_files(out:Path, photos) -> dict:
    "The hostile uploads, made once in `out`: name -> list of files sent in one request"
    out.mkdir(parents=True, exist_ok=True)
    f16, bomb, big, cut, txt = out/'gradient16.png', out/'bomb.png', out/'big60mp.jpg', out/'truncated.jpg', out/'notes.jpg'
    if not f16.exists():
        n = 13000  # 169 megapixels, under PIL's 179-megapixel refusal; a smooth gradient compresses to a few MB
        a = (np.add.outer(np.arange(n, dtype=np.uint32), np.arange(n, dtype=np.uint32))*65535//(2*n - 2)).astype(np.uint16)
        Image.fromarray(a).save(f16); del a
    if not bomb.exists(): Image.new('1', (20000, 20000)).save(bomb)
    if not big.exists(): Image.open(photos[0]).convert('RGB').resize((9500, 6400)).save(big, quality=80)
    if not cut.exists(): b = Path(photos[1]).read_bytes(); cut.write_bytes(b[:len(b)//2])
    if not txt.exists(): txt.write_text('not a photo at all\n'*100)
    return {'16-bit PNG 13000x13000': [f16], 'decompression bomb 20000x20000': [bomb], 'JPEG 9500x6400': [big],
            '50 photos in one request': list(photos[:50]), 'truncated JPEG': [cut], 'text file named .jpg': [txt]}

def hostile_round(url, photos, hostile, seconds, max_requests, k=8, client='http'):
    "K ordinary clients while the hostile uploads arrive in turn: the ordinary latency, and what each hostile upload got"
    lat, errs, until, got = [], [], time.time() + seconds, {}
    ts = [threading.Thread(target=_client_loop, args=(url, photos, until, max_requests, lat, errs, 7*j, client)) for j in range(k)]
    for th in ts: th.start()
    c = CLIENTS[client](url)
    while time.time() < until:
        for name, files in hostile.items():
            t = time.time()
            try:
                html = c.predict(files)
                n = html.count('class="leaf-card')
                got[name] = (f"{n} card(s)" + (', an error card' if 'leaf-error' in html else ''), round(time.time() - t, 2))
            except Exception as e: got[name] = (f'no answer ({type(e).__name__})', round(time.time() - t, 2))
    for th in ts: th.join()
    q = np.percentile(lat, [50, 95, 99]) if lat else [np.nan]*3
    return dict(clients=k, requests=len(lat), p50_s=round(q[0], 3), p95_s=round(q[1], 3), p99_s=round(q[2], 3), errors=len(errs)), got

@call_parse
def main(model:str,                              # a model file written by leaves-train
         photos:str='../shared/data/leafsnap53',  # a Kaggle-layout folder: its test images are the photos people send
         clients:str='1,4,16,32',                 # concurrent clients, one round each
         seconds:float=20,                        # each round's length
         max_requests:int=400,                    # at most this many requests per client per round
         runtimes:str='file,onnx',                # serve the model file (fastai), its ONNX export, or both
         concurrency:int=None,                    # leaves-app --concurrency (None: its default)
         max_batch:int=None,                      # leaves-app --max-batch (None: its default)
         hostile:bool=False,                      # a second round with hostile uploads among ordinary traffic
         client:str='http',                       # http: Gradio's HTTP API (curl's); gradio_client: its Python client
         out:str='/tmp/app_load'):                # work folder: the ONNX export, the hostile files
    "Drive leaves-app with K concurrent clients through Gradio's client API; print latency, throughput, errors and memory"
    warnings.simplefilter('ignore')
    out, photos_dir = Path(out), Path(photos)
    out.mkdir(parents=True, exist_ok=True)
    test = pd.read_csv(photos_dir/'test.csv').image
    photos = [photos_dir/o for o in test[:200]]
    extra = [*(['--concurrency', str(concurrency)] if concurrency else []), *(['--max-batch', str(max_batch)] if max_batch else [])]
    models = {}
    for r in runtimes.split(','):
        if r == 'file': models['model file (fastai)'] = Path(model)
        else:
            onnx = out/(Path(model).name.split('.')[0] + '.onnx')
            if not onnx.exists(): subprocess.run([Path(sys.executable).parent/'leaves-export', model, '--onnx', str(onnx)], check=True, capture_output=True)
            models['ONNX (onnxruntime)'] = onnx
    hostile_set = hostile_files(out/'hostile', photos) if hostile else None
    from leaves_nbdev.serve import free_port
    rows, hrows, cpu = [], [], cpu_model()
    for name, m in models.items():
        port = free_port()
        server, started = start_server(m, port, extra)
        url = f'http://127.0.0.1:{port}/'
        stop, peak = threading.Event(), [0.]
        mem = threading.Thread(target=_memory, args=(server.pid, stop, peak), daemon=True); mem.start()
        time.sleep(0.3); idle = peak[0]
        try:
            load_round(url, photos, 2, 3, 20, client=client)  # warm-up: first predictions, thread pools
            for k in map(int, clients.split(',')):
                peak[0] = 0.
                r = dict(model=name, started_s=round(started, 1), idle_mb=round(idle), **load_round(url, photos, k, seconds, max_requests, server.pid, client), peak_mb=round(peak[0]))
                rows.append(r); print(pd.DataFrame([r]).to_string(index=False), flush=True)
            if hostile_set:
                peak[0] = 0.
                h, got = hostile_round(url, photos, hostile_set, seconds, max_requests, client=client)
                alive = server.poll() is None and load_round(url, photos, 1, 2, 3, client=client)['errors'] == 0
                hrows.append(dict(model=name, **h, peak_mb=round(peak[0]), alive=alive, **{k: f'{v[0]} in {v[1]}s' for k, v in got.items()}))
                print(pd.DataFrame([hrows[-1]]).T.to_string(header=False), flush=True)
        finally:
            stop.set(); server.terminate(); server.wait(timeout=30)
    settings = f"leaves-app {' '.join(extra) or '(default queue)'}, clients: {client}"
    print(f"\n{cpu}, {time.strftime('%Y-%m-%d')}, {settings}, {seconds:g} s a round, one photo a request, "
          f"{len(photos)} leafsnap53 test photos\n\n" + markdown(pd.DataFrame(rows)))
    if hrows:
        h = pd.DataFrame(hrows)
        print('\nWith hostile uploads among 8 ordinary clients:\n\n' + markdown(h[['model', 'clients', 'requests', 'p50_s', 'p95_s', 'p99_s', 'errors', 'peak_mb', 'alive']]))
        print('\nWhat each hostile upload got (the last time it was sent):\n\n' + markdown(h.drop(columns=['clients', 'requests', 'p50_s', 'p95_s', 'p99_s', 'errors', 'peak_mb', 'alive']).set_index('model').T.reset_index().rename(columns={'index': 'upload'})))
