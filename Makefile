# Targets the README names. Everything runs from the project's own venv (.venv).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
MODEL_DIR ?= models-data/default
CORPUS ?= data/sample_corpus.txt
NSMC ?= ../shared/data/nsmc

.PHONY: setup run model complete test lint nsmc evaluate clean
.PHONY: docker-base docker-wheels docker-build docker-smoke deploy-lint

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

setup: $(VENV)/.installed

# The default model: tokenizer, 5-gram and a small LSTM from the bundled sample corpus
# (about a minute). .PRECIOUS: an interrupted build must not delete a published model.
.PRECIOUS: $(MODEL_DIR)/manifest.json
$(MODEL_DIR)/manifest.json: | $(VENV)/.installed
	$(PY) scripts/train.py --corpus $(CORPUS) --out $(MODEL_DIR) --max-minutes 1

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

# The n-gram model on the whole NSMC train split (a few minutes), then its figures.
nsmc: setup
	$(PY) scripts/train.py --corpus $(NSMC)/train.txt --valid $(NSMC)/valid.txt \
		--out models-data/nsmc

evaluate: setup
	$(PY) scripts/evaluate.py --model models-data/nsmc --file $(NSMC)/test.txt --sentences 300

# --- containers: README "Deploy and scale" ----------------------------------------------
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
		--implementation cp $(WHEEL_PLATFORMS) -r deploy/wheels/requirements.txt 'setuptools>=68'

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
