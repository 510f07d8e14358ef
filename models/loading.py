"""Open a model directory: verify the files of one family, then load it.

    directory ─► manifest ─► family (given, or ``served_family``) ─► its files' sha256
              ─► each part loaded (ngram, neural, both for ``gru+ngram``) ─► CompletionEngine
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from safetensors import SafetensorError

from models.artifacts import ModelDirectoryError, family_files, read_manifest, verify_files
from models.completion import CompletionEngine
from models.families import NEURAL_FAMILIES, NGRAM, served_family
from models.lm import LanguageModel
from models.mixture import MixtureLM
from models.ngram import ROW_CACHE_BYTES, NgramModel
from models.tokenizer import Tokenizer

Loader = Callable[[Path], LanguageModel]


def _loaders(family: str | None = None) -> dict[str, Loader]:
    loaders: dict[str, Loader] = {NGRAM: NgramModel.load}
    if family == NGRAM:  # importing torch takes seconds: the n-gram starts without it
        return loaders
    try:  # the neural families need torch; the n-gram serves without it
        from models.neural import load_neural
    except ImportError:
        return loaders
    for family in NEURAL_FAMILIES:
        loaders[family] = load_neural
    return loaders


@dataclass
class LoadedModel:
    """A verified, loaded family with the manifest it came from."""

    family: str
    engine: CompletionEngine
    manifest: dict[str, Any]
    directory: Path
    load_seconds: float


def load_model(directory: Path | str, family: str | None = NGRAM, verify: bool = True,
               ngram_cache_bytes: int = ROW_CACHE_BYTES, **engine_options: Any) -> LoadedModel:
    """Load ``family`` from a model directory after checking the sha256 of its files
    (None: the family the service serves from it, ``served_family``).
    ``ngram_cache_bytes`` bounds each n-gram's cache of next-token rows; the other
    options go to the completion engine.

    Raises ModelDirectoryError, naming the file, for anything missing or corrupted.
    """
    t0 = time.perf_counter()
    directory = Path(directory).resolve()  # pin the published version we read
    manifest = read_manifest(directory)
    family = family or served_family(manifest)
    files = family_files(manifest, family)
    if verify:
        verify_files(directory, manifest, files)
    parts = family.split("+")
    loaders = _loaders(family)
    loaders[NGRAM] = partial(NgramModel.load, cache_bytes=ngram_cache_bytes)
    if any(p not in loaders for p in parts):
        raise ModelDirectoryError(f"{directory}: family {family!r} cannot be loaded here")
    lms = []
    for part in parts:
        info = manifest["models"][part]
        try:
            lms.append(loaders[part](directory / info["dir"]))
        except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as e:
            raise ModelDirectoryError(f"{directory / info['dir']}: cannot load ({e})") from e
    try:
        tokenizer = Tokenizer(directory / "tokenizer.model")
    except (OSError, RuntimeError) as e:
        raise ModelDirectoryError(f"{directory / 'tokenizer.model'}: cannot load ({e})") from e
    lm = lms[0]
    if len(lms) == 2:
        mix = manifest["models"][parts[0]].get("interpolation")
        if parts[1] != NGRAM or not mix:
            raise ModelDirectoryError(f"{directory}: no interpolation weight for {family!r}")
        lm = MixtureLM(lms[0], lms[1], mix["weight"])
    engine = CompletionEngine(tokenizer, lm, **engine_options)
    return LoadedModel(family, engine, manifest, directory, time.perf_counter() - t0)
