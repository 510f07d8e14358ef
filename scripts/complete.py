"""Type a line and watch the completions follow every keystroke.

    python scripts/complete.py --model models-data/default

In a terminal the suggestions are redrawn after each key (Tab accepts the
first one, Enter ends the line, Ctrl-D quits). With input from a pipe, each
line is answered once.
"""

from __future__ import annotations

import argparse
import os
import sys
import termios
import tty
from pathlib import Path

from models.artifacts import ModelDirectoryError
from models.completion import CompletionEngine, split_text
from models.loading import load_model


def show(engine: CompletionEngine, text: str, k: int) -> str:
    """One line: each completion with its probability."""
    return "  ".join(f"{c.text} ({c.probability:.0%})" for c in engine.complete(text, k=k))


def interactive(engine: CompletionEngine, k: int) -> None:
    """Raw-mode loop: redraw the typed text and its completions after every key."""
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    text, pending = "", b""
    try:
        tty.setcbreak(fd)
        while True:
            sys.stdout.write(f"\r\x1b[K> {text}\n\x1b[K  {show(engine, text, k)}\x1b[1A\r"
                             f"\x1b[{len(text.encode('utf-16-le')) // 2 + 2}C")
            sys.stdout.flush()
            byte = os.read(fd, 1)
            if byte in (b"\x04", b""):
                break
            if byte in (b"\r", b"\n"):
                sys.stdout.write("\n\n")
                text = ""
            elif byte == b"\t":
                best = engine.complete(text, k=1)
                if best:
                    text = split_text(text)[0] + best[0].text + " "
            elif byte in (b"\x7f", b"\x08"):
                text = text[:-1]
            else:
                pending += byte
                try:
                    text += pending.decode("utf-8")
                    pending = b""
                except UnicodeDecodeError:
                    continue  # the rest of a multi-byte character is on its way
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        sys.stdout.write("\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=Path("models-data/default"))
    ap.add_argument("--family", help="default: the one the service serves from the directory")
    ap.add_argument("-k", type=int, default=5)
    args = ap.parse_args(argv)
    try:
        loaded = load_model(args.model, args.family)
    except ModelDirectoryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if sys.stdin.isatty():
        print(f"{args.model} ({loaded.family}). Type; Tab accepts, Enter starts over, "
              "Ctrl-D quits.")
        interactive(loaded.engine, args.k)
    else:
        for line in sys.stdin:
            text = line.rstrip("\n")
            print(f"{text!r}: {show(loaded.engine, text, args.k)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
