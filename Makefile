# Targets the README names. Everything runs from the project's own venv (.venv).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
MODEL_DIR ?= models-data/default
CORPUS ?= data/sample_corpus.txt
NSMC ?= ../shared/data/nsmc

.PHONY: setup run model complete test lint nsmc evaluate clean

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

clean:
	rm -rf $(VENV) models-data .pytest_cache .ruff_cache
