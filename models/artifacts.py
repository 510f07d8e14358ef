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

A version may serve long after a newer one is published: a replica keeps the
version it loaded until it is told to reload (SIGHUP, /admin/reload, a restart),
and a training run publishes twice (the n-gram, then the neural model added to
it). So an old version is deleted only once it is neither among the newest
``KEEP_VERSIONS`` nor was current in the last ``KEEP_SUPERSEDED_S`` (the time it
was superseded is the stamp of the version after it); the current one never.
A later stage starts from the files of the version before (``base``): each is
checked against that version's hashes as it is copied, so a file damaged since
is refused by name rather than published again under a new hash.
"""

from __future__ import annotations

import calendar
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
KEEP_VERSIONS = 2  # the published version and the one before it, at least
# ... and every version that was current in the last day: replicas may still serve it
KEEP_SUPERSEDED_S = 24 * 3600
_STAMP = "%Y%m%dT%H%M%S"


class ModelDirectoryError(RuntimeError):
    """A model directory that is missing, incomplete or corrupted; the message names the file."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def copy_verified(source: Path, target: Path, expected: str, chunk: int = 1 << 20) -> None:
    """Copy ``source`` to ``target`` (with its times and mode), hashing what is copied;
    a ModelDirectoryError naming ``source`` if the sha256 is not ``expected``."""
    h = hashlib.sha256()
    with open(source, "rb") as src, open(target, "wb") as dst:
        while block := src.read(chunk):
            h.update(block)
            dst.write(block)
    if h.hexdigest() != expected:
        target.unlink()
        raise ModelDirectoryError(f"{source}: sha256 mismatch (corrupted or changed); "
                                  f"not carried over to the new version")
    shutil.copystat(source, target)


def _fingerprint(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


def _versions_dir(out: Path) -> Path:
    return out.parent / f".{out.name}.versions"


class ModelWriter:
    """Builds a new version of a model directory, then publishes it atomically.

    ``base`` copies the files of an existing version first, so a later stage
    (a neural model trained after the n-gram) adds to what was published. Each
    is verified against ``base``'s manifest as it is copied (ModelDirectoryError,
    naming the file, if it changed); publishing keeps those hashes for the files
    that were not written again instead of hashing them as new.

    Used as a context manager, a version not published when the block is left (an
    exception, an interrupt, a forgotten ``publish``) is abandoned::

        with ModelWriter(out, base=published) as writer:
            save_something(writer.path("lstm"))
            writer.publish()
    """

    def __init__(self, out: Path, base: Path | None = None):
        self.out = Path(out).absolute()
        versions = _versions_dir(self.out)
        versions.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="tmp-", dir=versions))
        self.manifest: dict[str, Any] = {"format_version": FORMAT_VERSION, "models": {}}
        # carried file -> (its verified sha256, the copy's inode, size and mtime)
        self.carried: dict[str, tuple[str, tuple[int, int, int]]] = {}
        self.published: Path | None = None  # the version, once published
        if base is not None:
            try:
                old = read_manifest(base)
                for rel, sha in old["files"].items():
                    target = self.dir / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    copy_verified(Path(base) / rel, target, sha)
                    self.carried[rel] = (sha, _fingerprint(target))
            except BaseException:
                self.abandon()
                raise
            self.manifest.update({k: v for k, v in old.items() if k != "files"})

    def path(self, rel: str) -> Path:
        """Where to write the file ``rel`` of the new version."""
        p = self.dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def publish(self) -> Path:
        """Hash every new file (a carried one keeps its verified hash unless it was written
        since), write the manifest, and swap the version in with one rename."""
        files = sorted(p for p in self.dir.rglob("*") if p.is_file() and p.name != MANIFEST)
        self.manifest["files"] = {str(p.relative_to(self.dir)): self._sha256(p) for p in files}
        self.manifest["created"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with open(self.dir / MANIFEST, "w", encoding="utf-8") as f:
            json.dump(self.manifest, f, ensure_ascii=False, indent=2)
            f.flush()
            os.fsync(f.fileno())
        stamp = time.strftime(_STAMP, time.gmtime())
        final = self.dir.with_name(f"{stamp}-{self.dir.name[4:]}")
        os.chmod(self.dir, 0o755)  # mkdtemp made it private
        os.rename(self.dir, final)
        link = self.out.with_name(f".{self.out.name}.link-{final.name}")
        os.symlink(os.path.relpath(final, self.out.parent), link)
        if self.out.exists() and not self.out.is_symlink():
            # a plain directory from elsewhere: keep it beside the versions
            os.rename(self.out, _versions_dir(self.out) / f"{stamp}-replaced")
        os.replace(link, self.out)
        self.published = final
        _prune_versions(self.out)
        return final

    def abandon(self) -> None:
        """Remove the unpublished version."""
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> ModelWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.published is None:
            self.abandon()

    def _sha256(self, path: Path) -> str:
        rel = str(path.relative_to(self.dir))
        carried = self.carried.get(rel)
        if carried is not None and carried[1] == _fingerprint(path):
            return carried[0]  # verified when copied, untouched since
        return sha256_file(path)


def _published_at(version: Path) -> float:
    """When a version was published: the UTC stamp its name begins with (its mtime if the
    name has none)."""
    try:
        return calendar.timegm(time.strptime(version.name[:15], _STAMP))
    except ValueError:
        return version.stat().st_mtime


def _written_ns(version: Path) -> int:
    """When a version's manifest was written, in ns: the order of versions published
    within one second (their names' stamps are equal)."""
    manifest = version / MANIFEST
    return (manifest if manifest.exists() else version).stat().st_mtime_ns


def _prune_versions(out: Path, now: float | None = None) -> None:
    """Delete the versions no replica can still be serving and stray temporaries of killed
    runs: a version goes once it is not among the newest KEEP_VERSIONS, is not current,
    and the version after it was published more than KEEP_SUPERSEDED_S ago."""
    versions = _versions_dir(out)
    current, now = out.resolve(), time.time() if now is None else now
    done = sorted((p for p in versions.iterdir() if not p.name.startswith("tmp-")),
                  key=lambda p: (_published_at(p), _written_ns(p)))
    for old, after in zip(done[:-KEEP_VERSIONS], done[1:], strict=False):
        superseded = _published_at(after)
        if old.resolve() != current and now - superseded > KEEP_SUPERSEDED_S:
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
