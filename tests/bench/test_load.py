"""bench/load.py, briefly: a rate the sample model holds is answered in full, and beyond the
concurrency cap the service refuses with fast 503s, never with timeouts."""

from __future__ import annotations

import json

import pytest

from bench import load
from tests.conftest import SAMPLE


@pytest.mark.slow
def test_a_held_rate_and_an_overload(model_dir, tmp_path):
    out = tmp_path / "held.json"
    assert load.main(["--model-dir", str(model_dir), "--file", str(SAMPLE), "--rates", "20",
                      "--seconds", "2", "--warmup", "0.5", "--json", str(out)]) == 0
    held = json.loads(out.read_text())
    phase = held["phases"][0]
    assert phase["held"] and phase["answered"] == phase["sent"] == 40 and not phase["errors"]
    assert phase["latency_ms"]["p99"] > 0 and phase["answered_by"] == {"ngram": 40}
    assert phase["rss_after_mb"] > 0 and held["ready_at_end"] == "200 ready"
    # both sides' CPU is measured: the server answered 40 requests, the client sent them
    assert phase["server_cpu"] > 0 and 0 < phase["client_cpu"] < 2.0
    assert phase["target"] == (phase["latency_ms"]["p99"] <= load.TARGET_P99_MS)

    # one request at a time: the others are refused at once. 100/s, not more: the client is
    # one Python thread, and on a busy machine it falls behind (its timeouts, not the server's)
    out = tmp_path / "overload.json"
    assert load.main(["--model-dir", str(model_dir), "--file", str(SAMPLE), "--rates", "100",
                      "--seconds", "2", "--warmup", "0.5", "--set", "max_concurrency=1",
                      "--set", "beam_size=64", "--json", str(out)]) == 0
    phase = json.loads(out.read_text())["phases"][0]
    assert not phase["held"] and set(phase["errors"]) == {"503"}, phase["errors"]
    assert phase["answered"] + phase["errors"]["503"] == phase["sent"]  # no timeout, no other


def test_cpu_seconds_counts_this_process_and_another():
    import os
    import subprocess
    import sys

    before = load.cpu_seconds()
    sum(i * i for i in range(2_000_000))  # some work of this process
    assert load.cpu_seconds() > before
    busy = subprocess.Popen([sys.executable, "-c", "sum(i * i for i in range(30_000_000))"])
    try:
        spent = 0.0
        while busy.poll() is None:
            spent = max(spent, load.cpu_seconds(busy.pid))
        assert spent > 0  # read from /proc while it ran
    finally:
        busy.wait()
    assert load.cpu_seconds(busy.pid) == 0.0  # gone: nothing to read
    assert load.cpu_seconds(os.getpid()) == pytest.approx(load.cpu_seconds(), abs=0.2)
