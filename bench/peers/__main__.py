"""Benchmark one peer: ``python -m bench.peers NAME --sentences N --json OUT``."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.peers import PEERS, TEST, TRAIN, run_peer


def main() -> None:
    """Command line around ``run_peer``."""
    ap = argparse.ArgumentParser(description="Serve a peer, run autocomplete_eval.py, stop it.")
    ap.add_argument("peer", choices=sorted(PEERS))
    ap.add_argument("--port", type=int, help="default: the peer's own (8101 MPC, 8102 presage)")
    ap.add_argument("--sentences", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, required=True, metavar="OUT")
    ap.add_argument("--train", type=Path, default=TRAIN)
    ap.add_argument("--test", type=Path, default=TEST)
    ap.add_argument("--nice", type=int, default=0, help="run server and benchmark under nice -n")
    ap.add_argument("--server-log", type=Path, help="the server's stderr (default: ours)")
    args = ap.parse_args()
    run_peer(args.peer, port=args.port, sentences=args.sentences, seed=args.seed, out=args.json,
             test=args.test, train=args.train, nice=args.nice, server_log=args.server_log)


if __name__ == "__main__":
    main()
