"""The peers of the benchmark report, each behind the service's HTTP contract.

* ``mpc.py``: most-popular completion (unigram or bigram; plain or jamo-aware prefixes).
* ``presage_server.py``: Presage 0.9.1's smoothed 3-gram predictor through its C API.

``run_peer`` starts one of them, waits for its port, runs
``../shared/bench/autocomplete_eval.py`` against it and stops it::

    from bench.peers import run_peer
    result = run_peer("mpc-bigram", sentences=300, out=Path("/tmp/mpc-bigram.json"))

or from the shell: ``python -m bench.peers mpc-bigram --sentences 20 --json /tmp/x.json``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
EVAL = SHARED / "bench" / "autocomplete_eval.py"
TRAIN = SHARED / "data" / "nsmc" / "train.txt"
TEST = SHARED / "data" / "nsmc" / "test.txt"
HERE = Path(__file__).resolve().parent

#: name -> (script arguments after ``--train TRAIN``, default port)
PEERS: dict[str, tuple[list[str], int]] = {
    "mpc-unigram": ([str(HERE / "mpc.py"), "--mode", "unigram"], 8101),
    "mpc-bigram": ([str(HERE / "mpc.py"), "--mode", "bigram"], 8101),
    "mpc-unigram-jamo": ([str(HERE / "mpc.py"), "--mode", "unigram", "--jamo"], 8101),
    "mpc-bigram-jamo": ([str(HERE / "mpc.py"), "--mode", "bigram", "--jamo"], 8101),
    "presage": ([str(HERE / "presage_server.py"), "--db", "/tmp/presage-nsmc.db"], 8102),
}


def peer_command(name: str, port: int | None = None, train: Path = TRAIN,
                 host: str = "127.0.0.1") -> tuple[list[str], int]:
    """The command line that serves peer ``name``, and its port."""
    args, default_port = PEERS[name]
    port = default_port if port is None else port
    script, *rest = args
    return ([sys.executable, script, "--train", str(train), *rest,
             "--host", host, "--port", str(port)], port)


def _port_open(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until ``proc`` listens on ``host:port``; raise if it exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not _port_open(host, port):
        if proc.poll() is not None:
            raise RuntimeError(f"peer server exited with status {proc.returncode} before "
                               f"listening on {host}:{port}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"peer server not listening on {host}:{port} after {timeout:.0f} s")
        time.sleep(0.5)


def run_peer(name: str | list[str], *, port: int | None = None, sentences: int = 300,
             seed: int = 0, out: Path, test: Path = TEST, train: Path = TRAIN,
             host: str = "127.0.0.1", ready_timeout: float = 1800.0, nice: int = 0,
             server_log: Path | None = None, extra_eval_args: list[str] | None = None) -> dict:
    """Serve a peer, benchmark it with ``autocomplete_eval.py``, stop it; the result JSON.

    ``name`` is a key of ``PEERS`` or a full command line (then ``port`` is required).
    ``nice`` runs both the server and the benchmark under ``nice -n NICE``. The server's
    stderr goes to ``server_log`` when given, else to ours. Refuses to start when
    something already listens on the port, so a stale server is never measured.
    """
    for path in (EVAL, test, train):
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing (the shared folder is ../shared)")
    if isinstance(name, str):
        cmd, port = peer_command(name, port, train, host)
    elif port is None:
        raise ValueError("port is required with a command line")
    else:
        cmd = list(name)
    prefix = ["nice", "-n", str(nice)] if nice else []
    if _port_open(host, port):
        raise RuntimeError(f"something already listens on {host}:{port}")
    log = server_log.open("ab") if server_log else None
    proc = subprocess.Popen(prefix + cmd, stdout=log or sys.stderr, stderr=log or sys.stderr,
                            cwd=ROOT)
    try:
        wait_for_port(host, port, proc, ready_timeout)
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(prefix + [sys.executable, str(EVAL), "--url", f"http://{host}:{port}",
                                 "--file", str(test), "--sentences", str(sentences),
                                 "--seed", str(seed), "--json", str(out),
                                 *(extra_eval_args or [])],
                       check=True, cwd=ROOT)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if log:
            log.close()
    return json.loads(out.read_text(encoding="utf-8"))
