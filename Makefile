# Targets the README names. Everything runs from the project's own venv (.venv).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
MODEL_DIR ?= models-data/default
CORPUS ?= data/sample_corpus.txt
NSMC ?= ../shared/data/nsmc

.PHONY: setup run model complete test lint nsmc nsmc-gpu evaluate bench bench-quick clean lock audit fuzz load
.PHONY: docker-base docker-wheels docker-build docker-smoke deploy-lint

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

# The default model, built as `make nsmc` builds the real one: its corpus is the bundled
# sample corpus followed by WORD_PRIOR lines of real Korean and English words drawn by their
# frequency (scripts/make_word_prior.py, from the lists the wordfreq package ships; 0: none).
# Every 20th line is held out: the tokenizer, the 5-gram and a small LSTM train on the rest,
# the LSTM stops at its best held-out BPC (at most DEFAULT_EPOCHS epochs), the interpolation
# with the n-gram is tuned there and served where it measures better; train.py prints each
# model's held-out BPC. Epochs, not minutes, bound it, so that a rebuild gives the same
# model. .PRECIOUS: an interrupted build must not delete a published model (each stage is
# published by one rename).
WORD_PRIOR ?= 20000
DEFAULT_EPOCHS ?= 3
DEFAULT_CORPUS := $(MODEL_DIR).corpus.txt
.PRECIOUS: $(MODEL_DIR)/manifest.json
$(MODEL_DIR)/manifest.json: | $(VENV)/.installed
	$(PY) scripts/make_word_prior.py --base $(CORPUS) --out $(DEFAULT_CORPUS) --lines $(WORD_PRIOR)
	$(PY) scripts/train.py --corpus $(DEFAULT_CORPUS) --holdout 20 --out $(MODEL_DIR) \
		--epochs $(DEFAULT_EPOCHS) --max-minutes 20

model: $(MODEL_DIR)/manifest.json

# The main job: the HTTP service on 127.0.0.1:8000 (demo page at /, API at /docs). The
# default model is built first if missing; AUTOCOMPLETE_MODEL_DIR serves another directory.
run: $(if $(AUTOCOMPLETE_MODEL_DIR),setup,model)
	AUTOCOMPLETE_MODEL_DIR=$(or $(AUTOCOMPLETE_MODEL_DIR),$(MODEL_DIR)) $(PY) -m app

# Completions as you type in the terminal, without the service.
complete: model
	$(PY) scripts/complete.py --model $(MODEL_DIR)

lint: setup
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q

# Every package of the venv at its installed version (what was tested and audited), then
# their known vulnerabilities by pip-audit (as in `make test`: a finding fails, an advisory
# service that cannot be reached only skips, saying why).
lock: setup
	{ echo "# make lock: pip list --format=freeze --exclude-editable of .venv (Python 3.11)"; \
	  $(VENV)/bin/pip list --format=freeze --exclude-editable; } > requirements.lock

audit: setup
	$(PY) -m pytest -q -rs -W always tests/test_dependencies.py

# The long runs (docs/operations.md): schemathesis against a real server, open-loop load.
fuzz: model
	$(PY) bench/fuzz.py --model-dir $(MODEL_DIR) --examples 2000

load: model
	$(PY) bench/load.py --model-dir $(MODEL_DIR) --seconds 60

# The NSMC model the service serves: SentencePiece 16K, 5-gram (5-gram singletons pruned),
# a GRU trained for 58 minutes (bf16 on CPUs that have it) with an adaptive softmax whose
# tails are 1,000-4,000 and 4,000-16,000 at half and a quarter of its width, interpolated
# with the n-gram. NSMC_ARCH=lstm trains the LSTM measured beside it (docs/training.md).
# NSMC_VOCAB=8000 NSMC_CUTOFFS="1000 3000" NSMC_DIV=4 NSMC_BATCH=4096 trains the earlier
# served model (docs/training.md). Two single-threaded torchrun processes train faster than one
# with two threads on a 2-core machine; --batch-tokens is per process (NSMC_BATCH; 2,048
# each learned more per epoch than 4,096). glibc is told to keep freed memory instead of
# mapping and faulting in each step's large tensors again. --fit-budget times a few steps
# first and narrows the GRU (384, 256) where the 58 minutes could not show it the corpus
# twice: on a CPU without bf16 (docs/training.md, "An hour on any CPU"). The figures behind
# each choice: docs/training.md, "Training a recurrent model on 2 cores".
NSMC_MALLOC := MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=4294967296
NSMC_ARCH ?= gru
NSMC_MODEL ?= models-data/nsmc-$(NSMC_ARCH)
NSMC_PROCS ?= 2
NSMC_VOCAB ?= 16000
NSMC_CUTOFFS ?= 1000 4000
NSMC_DIV ?= 2
NSMC_BATCH ?= 2048
$(NSMC_MODEL)/manifest.json: | $(VENV)/.installed
	$(NSMC_MALLOC) $(VENV)/bin/torchrun --standalone --nproc_per_node $(NSMC_PROCS) \
		scripts/train.py --corpus $(NSMC)/train.txt --valid $(NSMC)/valid.txt --vocab-size $(NSMC_VOCAB) \
		--out $(NSMC_MODEL) --prune 0 0 0 0 1 --arch $(NSMC_ARCH) --embed-dim 256 --hidden-size 512 \
		--cutoffs $(NSMC_CUTOFFS) --div-value $(NSMC_DIV) --dropout 0 --weight-decay 0.1 \
		--batch-tokens $(NSMC_BATCH) --max-minutes 58 --fit-budget

nsmc: $(NSMC_MODEL)/manifest.json

# With a CUDA GPU (`--device auto` takes it): a bigger GRU (embedding 512, 2 layers of
# 1024, dropout 0.2) on steps of 64K tokens, for NSMC_GPU_MINUTES; what it reached on one
# H200: docs/training.md, "Training on a GPU".
NSMC_GPU_MODEL ?= models-data/nsmc-gru-gpu
NSMC_GPU_MINUTES ?= 4.5
$(NSMC_GPU_MODEL)/manifest.json: | $(VENV)/.installed
	$(PY) scripts/train.py --corpus $(NSMC)/train.txt --valid $(NSMC)/valid.txt --vocab-size 8000 \
		--out $(NSMC_GPU_MODEL) --prune 0 0 0 0 1 --arch gru --device cuda --embed-dim 512 \
		--hidden-size 1024 --num-layers 2 --cutoffs 1000 3000 --div-value 2 --dropout 0.2 \
		--weight-decay 0.1 --lr 2e-3 --batch-tokens 65536 --epochs 60 --max-minutes $(NSMC_GPU_MINUTES)

nsmc-gpu: $(NSMC_GPU_MODEL)/manifest.json

evaluate: nsmc
	$(PY) scripts/evaluate.py --model $(NSMC_MODEL) --file $(NSMC)/test.txt --sentences 300

# docs/benchmarks.md and its plots, from the NSMC model (make nsmc); `make bench-quick`
# runs small budgets and samples.
bench: nsmc
	$(PY) bench/quality.py

bench-quick: setup
	$(PY) bench/quality.py --quick

# --- containers: docs/deploy.md (README "Docker and scaling") ---------------------------
BASE_IMAGE ?= autocomplete-base:bookworm
IMAGE ?= autocomplete:local
PIP_OFFLINE ?=
WHEEL_PLATFORMS := $(foreach p,manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 \
	manylinux2014 manylinux_2_12 manylinux2010 manylinux_2_5 manylinux1,--platform $(p)_x86_64)

# The registry-free base image (Debian bookworm's python3 via debootstrap; root, a Docker engine).
docker-base:
	deploy/base/build_base.sh $(BASE_IMAGE)

# Every wheel the image needs, for Python 3.11 on x86-64 Linux, into deploy/wheels (git-ignored);
# then build with PIP_OFFLINE=1.
docker-wheels: setup
	$(PY) -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > deploy/wheels/requirements.txt
	$(PY) -m pip download --quiet -d deploy/wheels --only-binary=:all: --python-version 3.11 \
		--implementation cp $(WHEEL_PLATFORMS) -r deploy/wheels/requirements.txt 'setuptools>=77'

docker-build:
	docker build -t $(IMAGE) --build-arg BASE_IMAGE=$(BASE_IMAGE) --build-arg PIP_OFFLINE=$(PIP_OFFLINE) .
	docker build -t autocomplete-nginx:local --build-arg BASE_IMAGE=$(BASE_IMAGE) deploy/nginx

# Build, train a tiny model, 2 replicas behind nginx, Korean and English requests, one replica down.
docker-smoke:
	BASE_IMAGE=$(BASE_IMAGE) PIP_OFFLINE=$(PIP_OFFLINE) scripts/docker_smoke.sh

# Dockerfile lint, compose config and the manifests' checks, without a Docker engine.
deploy-lint: setup
	$(VENV)/bin/hadolint Dockerfile deploy/nginx/Dockerfile
	$(VENV)/bin/docker-compose --profile train config --quiet
	$(PY) -m pytest -q tests/test_deploy.py

clean:
	rm -rf $(VENV) models-data .pytest_cache .ruff_cache
