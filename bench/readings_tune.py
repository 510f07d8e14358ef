"""Tune the penalties of the other readings (initials, layout, typo) on validation text.

    python bench/readings_tune.py models-data/nsmc-gru:gru+ngram \
        --file ../shared/data/nsmc/valid.txt --sentences 150 --seed 1

Every word is typed the ways ``shared/bench/korean_input_eval.py`` types it (initials of
its first two syllables and of all, its first two syllables in Latin keys after a Hangul
or a Latin context, with one neighbouring key wrong), and, for what exact typing may
lose, typed right (``clean``: its first two syllables, the typo's comparison), key by
key as ``autocomplete_eval.py``'s KSR keys types it (every screen), and English words by
their first two letters. Each text is completed once with every reading on at no
penalty (20 completions) and once as typed (3); each penalty is then applied to those
lists, as the engine ranks (ln P, plus the penalty for a word of another reading). The
context's own reading (a context typed in English mode read as Hangul) is decided at no
penalty here; the engine's uses the layout penalty. Prints, for each reading and
penalty, hit@1 / hit@3 of the words typed that way, and the screens of exact typing
whose top 3 gained or lost the word being typed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_BENCH = ROOT.parent / "shared" / "bench"
sys.path.insert(0, str(SHARED_BENCH))

from models.evaluation import sample_sentences, typed_before  # noqa: E402
from models.hangul import screens  # noqa: E402
from models.loading import load_model  # noqa: E402
from models.readings import LITERAL, Readings  # noqa: E402
from models.threads import limit_threads  # noqa: E402

K = 3
GRID = (0.0, -1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -8.0, -10.0)
KIND_OF = {"initials2": "initials", "initials_all": "initials", "layout_partial": "layout",
           "layout_all": "layout", "typo": "typo", "clean": "typo"}


def ranked(offered: list[tuple[str, float, str]], kind: str, cost: float) -> list[str]:
    """The first K texts once words of ``kind`` pay ``cost`` (the others of other kinds
    are left out: each kind is tuned on its own)."""
    scored = [(lp + (cost if m == kind else 0.0), t) for t, lp, m in offered
              if m in ("exact", kind)]
    return [t for _, t in sorted(scored, key=lambda x: -x[0])[:K]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", metavar="DIR:FAMILY")
    ap.add_argument("--file", type=Path, required=True, help="validation text (never test)")
    ap.add_argument("--sentences", type=int, default=150)
    ap.add_argument("--screens", type=int, default=60,
                    help="sentences typed key by key for what exact typing may lose")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--english", type=Path, default=ROOT / "data" / "sample_corpus.txt",
                    help="its ASCII lines: English words typed by two letters")
    args = ap.parse_args()
    import korean_input_eval as kie  # the shared benchmark's ways of typing

    limit_threads(1)
    directory, _, family = args.model.rpartition(":")
    engine = load_model(Path(directory), family).engine
    free = Readings(initials_cost=0.0, layout_cost=0.0, typo_cost=0.0)

    def offered(text: str) -> list[tuple[str, float, str]]:
        free_out = engine.complete(text, k=20, readings=free)
        out = [(c.text, c.log_prob, c.match) for c in free_out]
        if any(c.context is not None for c in free_out):
            return out  # the context was read as Hangul: its literal words (Latin) hardly count
        # the literal words on their own too: 20 words of another reading at no penalty
        # could leave out the literal third
        shown = {t for t, _, _ in out}
        return out + [(c.text, c.log_prob, c.match) for c in engine.complete(
            text, k=K, readings=LITERAL) if c.text not in shown]

    lines = [x for x in args.file.read_text(encoding="utf-8").split("\n") if x.strip()]
    sentences = sample_sentences(lines, args.sentences, args.seed)
    t0 = time.perf_counter()
    typed: dict[str, list] = {name: [] for name in KIND_OF}
    position = 0
    for ws in sentences:
        for i, word in enumerate(ws):
            position += 1
            run, context = kie.syllables(word), typed_before(ws, i)
            if len(run) < 2:
                continue
            typed["initials2"].append((word, offered(context + kie.initials(run[:2]))))
            typed["initials_all"].append((word, offered(context + kie.initials(run))))
            typed["layout_partial"].append((word, offered(context + kie.latin(run[:2]))))
            typed["layout_all"].append((word, offered(kie.latin(context) + kie.latin(run[:2]))))
            typo = kie.with_typo(run[:2], random.Random(args.seed * 1_000_003 + position))
            if typo is not None:
                typed["typo"].append((word, offered(context + typo)))
                typed["clean"].append((word, offered(context + run[:2])))
    # exact typing: every screen of every word, and English words by two letters
    exact: list[tuple[str, list]] = []
    for ws in sentences[: args.screens]:
        for i, word in enumerate(ws):
            context = typed_before(ws, i)
            exact += [(word, offered(context + s)) for s in screens(word)[:-1]]
    english = [line.split() for line in args.english.read_text(encoding="utf-8").split("\n")
               if line.strip() and line.isascii()]
    for ws in english:
        for i, word in enumerate(ws):
            if word.isalpha() and len(word) >= 3:
                exact.append((word, offered(typed_before(ws, i) + word[:2])))
    print(f"{sum(map(len, typed.values())) + len(exact)} texts in {time.perf_counter() - t0:.0f} s"
          f" ({len(sentences)} sentences of {args.file.name}, seed {args.seed}; "
          f"{len(exact)} screens of exact typing)")
    for kind in ("initials", "layout", "typo"):
        names = [n for n, k in KIND_OF.items() if k == kind]
        print(f"\n{kind}: penalty | " + " | ".join(f"{n} hit@1 hit@3" for n in names)
              + " | exact typing: top 3 gained / lost the word (of screens it changed)")
        for cost in GRID:
            cells = []
            for n in names:
                hits = Counter()
                for word, out in typed[n]:
                    top = ranked(out, kind, cost)
                    hits["1"] += top[:1] == [word]
                    hits["3"] += word in top
                cells.append(f"{100 * hits['1'] / max(len(typed[n]), 1):5.1f}% "
                             f"{100 * hits['3'] / max(len(typed[n]), 1):5.1f}%")
            gained = lost = changed = 0
            for word, out in exact:
                literal, top = ranked(out, "exact", 0.0), ranked(out, kind, cost)
                changed += literal != top
                gained += word in top and word not in literal
                lost += word in literal and word not in top
            print(f"  {cost:6.1f} | " + " | ".join(cells) + f" | +{gained} / -{lost} ({changed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
