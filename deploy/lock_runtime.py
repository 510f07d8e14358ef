"""Write deploy/requirements.runtime.lock: what the image installs, with the sha256 of each
wheel, so that what pip-audit checked (requirements.lock) is what runs.

    .venv/bin/python deploy/lock_runtime.py          (make docker-wheels' platform: x86-64)

The runtime packages are the project's dependencies (not its dev extra), followed through
the installed distributions' own requirements, at the versions requirements.lock pins (a
package missing from it is an error: it was not audited). Each is downloaded by pip, for
CPython 3.11 on manylinux x86-64 as the image is, from the indexes pip is configured with
(torch's CPU wheel from download.pytorch.org or a local folder), and hashed. The Dockerfile
installs the file with ``--require-hashes``: a wheel whose bytes differ is refused, and
pip checks that every dependency is in the file.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
OUT = ROOT / "deploy" / "requirements.runtime.lock"
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64", "manylinux_2_5_x86_64"]
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"


def pins(lock: Path) -> dict[str, str]:
    """Canonical name -> version, from ``name==version`` lines."""
    out = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            out[canonicalize_name(name)] = version.split()[0]
    return out


def closure(root: str = "autocomplete") -> set[str]:
    """The canonical names of what ``root`` needs at run time (extras followed, markers
    evaluated for Linux and Python 3.11, the project's own dev extra left out)."""
    env = default_environment() | {"sys_platform": "linux", "platform_system": "Linux",
                                   "python_version": "3.11", "platform_machine": "x86_64"}
    seen: set[str] = set()
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        for text in md.requires(name) or []:
            req = Requirement(text)
            if req.marker and not any(req.marker.evaluate(env | {"extra": e})
                                      for e in (extras or {""})):
                continue
            key = canonicalize_name(req.name)
            if key not in seen or req.extras:
                seen.add(key)
                todo.append((req.name, frozenset(req.extras)))
    return seen


def main() -> int:
    pinned = pins(LOCK)
    names = sorted(closure())
    missing = [n for n in names if n not in pinned]
    if missing:
        sys.exit(f"not in requirements.lock (not audited): {', '.join(missing)}")
    lines = ["# deploy/lock_runtime.py: the image's packages at requirements.lock's versions,",
             "# each with the sha256 of its CPython 3.11 manylinux x86-64 wheel (--require-hashes)"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            spec = f"{name}=={pinned[name]}"
            before = set(Path(tmp).iterdir())
            platform = [a for p in PLATFORMS for a in ("--platform", p)]
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                            "--only-binary=:all:", "--python-version", "3.11",
                            "--implementation", "cp", *platform,
                            *(["--extra-index-url", TORCH_INDEX] if name == "torch" else []),
                            "-d", tmp, spec], check=True)
            (wheel,) = set(Path(tmp).iterdir()) - before
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            lines.append(f"{spec} \\\n    --hash=sha256:{digest}")
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{OUT.relative_to(ROOT)}: {len(names)} packages")
    return 0


if __name__ == "__main__":
    assert re.match(r"3\.11", sys.version), "run it with the project's Python 3.11 venv"
    sys.exit(main())
