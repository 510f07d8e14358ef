"""The long fuzzing run: schemathesis against a real server, every operation, every check.

    .venv/bin/python bench/fuzz.py --examples 2000     (the default model, models-data/default)
    .venv/bin/python bench/fuzz.py --model-dir models-data/nsmc --examples 500 --seed 7

Starts ``uvicorn app.main:app`` as a real process on a free port (as bench/serve_bench.py does),
with the admin endpoint on, and runs ``schemathesis run`` on its ``/openapi.json``: schema-valid
and schema-invalid cases (``--mode all``), all checks (no 5xx, status codes, content types,
headers and bodies as documented, valid data accepted, invalid refused, auth not ignored), with
the project's ``schemathesis.toml`` (413 counts as a refusal) and a per-request timeout (a hang
is a failure). Prints the cases and status codes per operation, the failures, and schemathesis'
own summary; exits non-zero on any failure or if the server died. The same thing by hand,
against a server you started:

    .venv/bin/schemathesis --config-file schemathesis.toml run http://127.0.0.1:8000/openapi.json \\
        --checks all --mode all --max-examples 2000 --request-timeout 10 \\
        -H 'Authorization: Bearer <AUTOCOMPLETE_ADMIN_TOKEN>'
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serve_bench import Service  # noqa: E402

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def tally(ndjson: Path) -> tuple[dict[str, Counter], list[str]]:
    """Status codes per operation and the failures, from schemathesis' NDJSON event log."""
    codes: dict[str, Counter] = defaultdict(Counter)
    failures: list[str] = []

    def walk(node: Any, label: str | None = None) -> None:
        if isinstance(node, dict):
            label = node.get("label") if isinstance(node.get("label"), str) else label
            response = node.get("response")
            if isinstance(response, dict) and "status_code" in response and label:
                codes[label][response["status_code"]] += 1
            if node.get("status") == "failure" and isinstance(node.get("failure_info"), dict):
                failure = node["failure_info"].get("failure", {})
                failures.append(f"{failure.get('operation', label)} {failure.get('code')} "
                                f"{failure.get('title')}: {failure.get('message', '')}")
            for value in node.values():
                walk(value, label)
        elif isinstance(node, list):
            for value in node:
                walk(value, label)

    for line in ndjson.read_text(encoding="utf-8").splitlines():
        if line.strip():
            walk(json.loads(line))
    return codes, failures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", type=Path, default=ROOT / "models-data" / "default")
    ap.add_argument("--examples", type=int, default=2000, help="cases per operation and mode")
    ap.add_argument("--seed", type=int, help="reproduce a run (default: random)")
    ap.add_argument("--request-timeout", type=float, default=10.0, help="seconds: a hang")
    ap.add_argument("--workers", type=int, default=1, help="concurrent schemathesis workers")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="a service setting, e.g. --set prefer_neural=false")
    ap.add_argument("--report-dir", type=Path, help="keep schemathesis' reports here")
    args = ap.parse_args(argv)
    if not (args.model_dir / "manifest.json").is_file():
        sys.exit(f"{args.model_dir}: no model directory (make model, or scripts/train.py)")
    token = secrets.token_urlsafe(32)  # the service refuses tokens under 32 characters
    env = {"AUTOCOMPLETE_ADMIN_TOKEN": token}
    for item in args.set:
        name, _, value = item.partition("=")
        env["AUTOCOMPLETE_" + name.upper()] = value
    reports = args.report_dir or Path(tempfile.mkdtemp(prefix="fuzz-"))
    reports.mkdir(parents=True, exist_ok=True)
    service = Service(args.model_dir.absolute(), reports / "server.log", env)
    t0 = time.perf_counter()
    try:
        service.ready(300)
        cmd = [str(SCHEMATHESIS), "--no-color", "--config-file", str(ROOT / "schemathesis.toml"),
               "run", service.url + "/openapi.json", "--checks", "all", "--mode", "all",
               "--max-examples", str(args.examples), "--workers", str(args.workers),
               "--request-timeout", str(args.request_timeout), "--suppress-health-check", "all",
               "-H", f"Authorization: Bearer {token}", "--report", "ndjson",
               "--report-dir", str(reports)]
        if args.seed is not None:
            cmd += ["--seed", str(args.seed)]
        print("$", " ".join(c if "Bearer" not in c else "-H 'Authorization: Bearer ***'"
                            for c in cmd if c != "-H"), file=sys.stderr, flush=True)
        run = subprocess.run(cmd, cwd=reports, capture_output=True, text=True)  # its cache too
        alive = service.proc.poll() is None
    finally:
        service.stop()
    wall = time.perf_counter() - t0
    ndjson = next(reports.glob("*.ndjson"), None)
    codes, failures = tally(ndjson) if ndjson else ({}, [])
    print(run.stdout[-4000:])
    if run.stderr.strip():
        print(run.stderr[-2000:], file=sys.stderr)
    print(f"{'operation':<22} {'cases':>7}  status codes")
    for label in sorted(codes):
        seen = codes[label]
        print(f"{label:<22} {sum(seen.values()):>7}  "
              + " ".join(f"{code}: {n}" for code, n in sorted(seen.items())))
    total = sum(sum(c.values()) for c in codes.values())
    fives = sum(n for c in codes.values() for code, n in c.items() if code >= 500)
    print(f"{total} requests in {wall:.0f} s, {fives} 5xx, {len(failures)} failed checks, "
          f"server {'up to the end' if alive else 'DIED'}; schemathesis exit {run.returncode}; "
          f"reports in {reports}")
    for failure, n in Counter(failures).most_common(20):
        print(f"FAILURE x{n}", failure[:500])
    return 0 if run.returncode == 0 and alive and not fives else 1


if __name__ == "__main__":
    sys.exit(main())
