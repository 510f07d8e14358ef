"""The self-describing model directory that ``train.py`` writes and the service reads.

Layout::

    MODEL_DIR -> .MODEL_DIR.versions/20261127T101500-1a2b3c   (a symlink)
        manifest.json       format version, creation time, corpus fingerprint,
                            configs, validation figures, sha256 of every file
        tokenizer.model     SentencePiece
        ngram/*.npy, ngram/ngram.json
        <family>/model.safetensors, <family>/config.json   (neural models)

A version is written in full to a temporary directory, then published by
replacing the symlink in one ``rename``: a reader sees the old version or the
new one, never half of one, and a killed writer leaves only a stray temporary
directory. The reader checks every hash before it trusts a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
KEEP_VERSIONS = 2  # the published version and the one before it


class ModelDirectoryError(RuntimeError):
    """A model directory that is missing, incomplete or corrupted; the message names the file."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _versions_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.versions"


class ModelWriter:
    """Builds a new version of a model directory, then publishes it atomically.

    ``base`` copies the files of an existing version first, so a later stage
    (a neural model trained after the n-gram) adds to what was published.
    """

    def __init__(self, out: Path, base: Path | None = None):
        self.out = Path(out).absolute()
        versions = _versions_dir(self.out)
        versions.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="tmp-", dir=versions))
        self.manifest: dict[str, Any] = {"format_version": FORMAT_VERSION, "models": {}}
        if base is not None:
            old = read_manifest(base)
            for rel in old["files"]:
                target = self.dir / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(Path(base) / rel, target)
            self.manifest.update({k: v for k, v in old.items() if k != "files"})

    def path(self, rel: str) -> Path:
        """Where to write the file ``rel`` of the new version."""
        p = self.dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def publish(self) -> Path:
        """Hash every file, write the manifest, and swap the version in with one rename."""
        files = sorted(p for p in self.dir.rglob("*") if p.is_file() and p.name != MANIFEST)
        self.manifest["files"] = {str(p.relative_to(self.dir)): sha256_file(p) for p in files}
        self.manifest["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with open(self.dir / MANIFEST, "w", encoding="utf-8") as f:
            json.dump(self.manifest, f, ensure_ascii=False, indent=2)
            f.flush()
            os.fsync(f.fileno())
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        final = self.dir.with_name(f"{stamp}-{self.dir.name[4:]}")
        os.chmod(self.dir, 0o755)  # mkdtemp made it private
        os.rename(self.dir, final)
        link = self.out.with_name(f".{self.out.name}.link-{final.name}")
        os.symlink(os.path.relpath(final, self.out.parent), link)
        if self.out.exists() and not self.out.is_symlink():
            # a plain directory from elsewhere: keep it beside the versions
            os.rename(self.out, _versions_dir(self.out) / f"{stamp}-replaced")
        os.replace(link, self.out)
        _prune_versions(self.out)
        return final

    def abandon(self) -> None:
        """Remove the unpublished version."""
        shutil.rmtree(self.dir, ignore_errors=True)


def _prune_versions(out: Path) -> None:
    """Delete old versions and stray temporaries of killed runs, keeping the newest few."""
    versions = _versions_dir(out)
    current = out.resolve()
    done = sorted((p for p in versions.iterdir() if not p.name.startswith("tmp-")),
                  key=lambda p: p.name)
    for old in done[:-KEEP_VERSIONS]:
        if old.resolve() != current:
            shutil.rmtree(old, ignore_errors=True)
    for tmp in versions.glob("tmp-*"):
        if time.time() - tmp.stat().st_mtime > 24 * 3600:  # surely dead by now
            shutil.rmtree(tmp, ignore_errors=True)


def read_manifest(directory: Path | str) -> dict[str, Any]:
    """The manifest of a model directory, or a ModelDirectoryError that says what is wrong."""
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelDirectoryError(f"{path}: no manifest; is this a model directory?") from None
    except (OSError, ValueError) as e:
        raise ModelDirectoryError(f"{path}: unreadable manifest ({e})") from None
    if manifest.get("format_version") != FORMAT_VERSION or "files" not in manifest:
        raise ModelDirectoryError(f"{path}: unsupported format {manifest.get('format_version')}")
    return manifest


def verify_files(directory: Path | str, manifest: dict[str, Any], rels: Iterable[str]) -> None:
    """Check that each file exists and has the sha256 the manifest gives."""
    for rel in rels:
        path = Path(directory) / rel
        expected = manifest["files"].get(rel)
        if expected is None:
            raise ModelDirectoryError(f"{path}: not listed in the manifest")
        if not path.is_file():
            raise ModelDirectoryError(f"{path}: missing")
        if sha256_file(path) != expected:
            raise ModelDirectoryError(f"{path}: sha256 mismatch (corrupted or changed)")


def family_files(manifest: dict[str, Any], family: str) -> list[str]:
    """The files a family needs: its own folder and the tokenizer (an interpolated
    family such as ``lstm+ngram`` needs both parts)."""
    if "+" in family:
        parts = [family_files(manifest, part) for part in family.split("+")]
        return sorted({f for files in parts for f in files})
    if family not in manifest["models"]:
        raise ModelDirectoryError(f"no {family!r} model in this directory "
                                  f"(it has {sorted(manifest['models'])})")
    folder = manifest["models"][family]["dir"] + "/"
    return ["tokenizer.model"] + [f for f in manifest["files"] if f.startswith(folder)]


def corpus_fingerprint(path: Path) -> dict[str, Any]:
    """sha256, size and name of a corpus file, for the manifest."""
    return {"path": str(path), "name": Path(path).name, "sha256": sha256_file(path),
            "bytes": Path(path).stat().st_size}
