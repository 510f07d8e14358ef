"""The locked dependencies (requirements.lock, written by ``make lock``): every dependency of
pyproject.toml is pinned there at a version it allows, and pip-audit finds no known
vulnerability in them. Without an advisory service to ask (offline, or a package index that
does not serve per-version metadata) the audit test skips and says why: it reports, it does
not block; a vulnerability found fails it with the package, the advisory and the fix."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
ADVISORIES = "https://pypi.org/pypi/pip/json"  # the service pip-audit asks by default


def locked() -> dict[str, str]:
    """{canonical name: version} of requirements.lock."""
    pins = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[\w.+!-]+", version), f"not a pin: {line!r}"
            pins[canonicalize_name(name)] = version
    return pins


def test_the_lock_pins_every_dependency_at_an_allowed_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"],
              *(r for extra in project["optional-dependencies"].values() for r in extra)]
    pins = locked()
    for spec in map(Requirement, wanted):
        name = canonicalize_name(spec.name)
        assert name in pins, f"{spec.name} is not in requirements.lock (make lock)"
        version = Version(pins[name])
        assert spec.specifier.contains(version, prereleases=True), \
            f"requirements.lock pins {spec.name} {version}, pyproject.toml wants {spec}"


@pytest.mark.network
@pytest.mark.timeout(300)
def test_locked_dependencies_have_no_known_vulnerabilities(tmp_path):
    pip_audit = Path(sys.executable).with_name("pip-audit")
    if not pip_audit.exists():
        pytest.skip("pip-audit is not installed (make setup installs the dev extras)")
    try:  # offline, each of ~90 look-ups would wait for its own timeout: ask once first
        httpx.get(ADVISORIES, timeout=10).raise_for_status()
    except httpx.HTTPError as e:
        pytest.skip(f"advisory service unreachable: {ADVISORIES}: {e}")
    # advisories name public versions: torch 2.13.0+cpu is audited as torch 2.13.0
    public = tmp_path / "requirements.txt"
    public.write_text("".join(f"{n}=={v.split('+')[0]}\n" for n, v in locked().items()))
    cmd = [str(pip_audit), "-r", str(public), "--no-deps", "--disable-pip", "--format", "json",
           "--progress-spinner", "off", "--timeout", "10"]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    except subprocess.TimeoutExpired:
        pytest.skip("advisory service unreachable: pip-audit had no answer within 240 s")
    try:
        report = json.loads(run.stdout)
    except ValueError:
        pytest.skip(f"advisory service unreachable: pip-audit could not run "
                    f"(exit {run.returncode}): {run.stderr.strip()[-600:]}")
    deps = report["dependencies"]
    found = [f"{d['name']} {d['version']}: {v['id']} {'/'.join(v.get('aliases', []))} "
             f"(fixed in {', '.join(v.get('fix_versions', [])) or 'no release yet'}): "
             f"{v.get('description', '')[:200]}"
             for d in deps for v in d.get("vulns", [])]
    assert not found, "known vulnerabilities in requirements.lock:\n" + "\n".join(found)
    unaudited = [d for d in deps if "skip_reason" in d]
    if len(unaudited) == len(deps):
        pytest.skip(f"advisory service unreachable: none of the {len(deps)} locked packages "
                    f"could be looked up (pip-audit: {unaudited[0]['skip_reason']})")
    if unaudited:
        warnings.warn(f"{len(unaudited)} of {len(deps)} locked packages were not audited: "
                      + "; ".join(d["skip_reason"] for d in unaudited[:5]), stacklevel=1)
