# The autocomplete service (and its trainer) on CPU PyTorch.
#
#   docker build -t autocomplete:local .                                   # base built here
#   docker build --build-arg BASE_IMAGE=python:3.11-slim-bookworm -t autocomplete:local .
#   docker run -p 8000:8000 -v models:/models autocomplete:local           # serve (default)
#   docker run -v models:/models autocomplete:local train --corpus data/sample_corpus.txt \
#       --out /models/default --arch lstm                                   # train
#
# BASE_IMAGE is any Debian-like image with python3.11 and its venv module. The default,
# autocomplete-base:bookworm, is Debian bookworm's own python3 built without any registry by
# deploy/base/build_base.sh (`make docker-base`); on a machine that can pull, name
# python:3.11-slim-bookworm instead. Both stages use the same base, so the venv's python
# symlinks stay valid.
#
# Where the wheels come from: torch from TORCH_INDEX_URL (CPU wheels by default), the rest
# from PIP_INDEX_URL; any wheel put in deploy/wheels/ is offered first, and with
# PIP_OFFLINE=1 nothing but deploy/wheels/ is used (a machine without internet). Whichever,
# each must have the sha256 that deploy/requirements.runtime.lock gives it.
ARG BASE_IMAGE=autocomplete-base:bookworm

# --- build: a virtual environment with the package and its dependencies ------------------
FROM ${BASE_IMAGE} AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_OFFLINE=
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_FIND_LINKS=/wheels \
    PIP_INDEX_URL=${PIP_INDEX_URL} \
    PYTHONDONTWRITEBYTECODE=1
SHELL ["/bin/sh", "-eu", "-c"]
RUN python3 -m venv /opt/venv
COPY deploy/wheels/ /wheels/
COPY deploy/requirements.runtime.lock /tmp/requirements.runtime.lock
# What pip-audit checked is what runs: the runtime packages at requirements.lock's versions,
# each wheel checked against its sha256 (--require-hashes; deploy/lock_runtime.py writes the
# file, and pip refuses a dependency it does not list). torch's CPU wheel (+cpu) exists only
# on TORCH_INDEX_URL, so no CUDA build can come from PyPI; local wheels are offered first.
RUN if [ -n "${PIP_OFFLINE}" ]; then set -- --no-index; \
    else set -- --extra-index-url "${TORCH_INDEX_URL}"; fi; \
    /opt/venv/bin/pip install --require-hashes --only-binary=:all: "$@" \
        -r /tmp/requirements.runtime.lock
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app/ app/
COPY models/ models/
# The project itself, without dependencies: nothing beyond the lock is resolved or fetched
# (only the build backend, setuptools, in pip's throwaway build environment); pip check
# fails the build if the lock does not satisfy the project.
RUN if [ -n "${PIP_OFFLINE}" ]; then export PIP_NO_INDEX=1; fi; \
    /opt/venv/bin/pip install --no-deps /src \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/pip uninstall --yes pip \
    && find /opt/venv -name __pycache__ -prune -exec rm -rf {} + \
    && rm -rf /opt/venv/lib/python3*/site-packages/torch/include \
              /opt/venv/lib/python3*/site-packages/torch/test
# (torch's C++ headers and test binaries, 150 MB, serve only building extensions and
# testing torch itself.)

# --- runtime: the venv, the scripts and the corpus; no compiler, no pip, not root --------
FROM ${BASE_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    AUTOCOMPLETE_HOST=0.0.0.0 \
    AUTOCOMPLETE_PORT=8000 \
    AUTOCOMPLETE_MODEL_DIR=/models/default \
    AUTOCOMPLETE_TORCH_THREADS=1 \
    WEB_CONCURRENCY=1
SHELL ["/bin/sh", "-eu", "-c"]
# The model directory's versions and its symlink live side by side, so the volume is the
# parent (/models) and the model is /models/default: train.py publishes by rename in it.
RUN groupadd --gid 10001 autocomplete \
    && useradd --uid 10001 --gid autocomplete --no-log-init --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin autocomplete \
    && mkdir -p /app /models \
    && chown autocomplete:autocomplete /models
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY scripts/ scripts/
COPY data/sample_corpus.txt data/sample_corpus.txt
COPY deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER 10001:10001
VOLUME ["/models"]
EXPOSE 8000
# Liveness only (the process answers); readiness, a model loaded, is /ready.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/health' % os.environ.get('AUTOCOMPLETE_PORT', '8000'), timeout=2)"]
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["serve"]
