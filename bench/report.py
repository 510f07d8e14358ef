"""Writes ``docs/benchmarks.md`` and its plots from the figures ``bench/quality.py`` gathered."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FAMILY_COLOURS = {"ngram": "tab:gray", "window": "tab:orange", "rnn": "tab:red",
                  "gru": "tab:green", "lstm": "tab:blue"}


def colour(family: str) -> str:
    """The plot colour of a family (an interpolated one takes its neural part's)."""
    return FAMILY_COLOURS.get(family.split("+")[0], "black")


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def _k(vocab: int) -> str:
    """8000 → "8K": a vocabulary size as the report names it."""
    return f"{vocab / 1000:g}K"


def _row(name: str, r: dict[str, Any]) -> str:
    nw, px, lat = r["next_word"], r["prefix"], r["latency_ms"]
    mb = lambda b: "–" if b is None else f"{b / 1e6:.1f}"  # noqa: E731
    train = r.get("train_seconds")
    return (f"| {name} | {r['bpc']:.3f} | {pct(nw['hit@1'])} / {pct(nw['hit@3'])} | "
            f"{pct(px['hit@1'])} / {pct(px['hit@3'])} | {pct(r['ksr']['ksr'])} | "
            f"{pct(r['ksr_keys']['ksr'])} | {mb(r['disk_bytes'])} | {mb(r['memory_bytes'])} | "
            f"{'–' if train is None else f'{train / 60:.1f}'} | "
            f"{lat['p50']:.2f} / {lat['p99']:.2f} |")


def _peer_row(name: str, r: dict[str, Any]) -> str:
    nw, px, lat = r["next_word"], r["prefix"], r["latency_ms"]
    return (f"| {name} ({r['sentences']} sentences) | – | {pct(nw['hit@1'])} / "
            f"{pct(nw['hit@3'])} | {pct(px['hit@1'])} / {pct(px['hit@3'])} | "
            f"{pct(r['ksr']['ksr'])} | {pct(r['ksr_keys']['ksr'])} | – | – | – | "
            f"{lat['p50']:.2f} / {lat['p99']:.2f} (HTTP) |")


def _plots(rows: list[dict[str, Any]], docs: Path) -> list[str]:
    made = []
    fig, ax = plt.subplots(figsize=(6, 4))
    placed: list[tuple[float, float]] = []
    for r in sorted((r for r in rows if r.get("train_seconds")),
                    key=lambda r: (r["train_seconds"], -r["bpc"])):
        x, y = r["train_seconds"] / 60, r["bpc"]
        ax.scatter(x, y, color=colour(r["family"]), label=r["name"])
        # labels of points that nearly coincide are stacked, not printed over each other
        near = sum(abs(x - px) < 6 and abs(y - py) < 0.05 for px, py in placed)
        placed.append((x, y))
        ax.annotate(r["name"], (x, y), xytext=(4, 2 - 9 * near), textcoords="offset points",
                    fontsize=7)
    ax.set_xlabel("training time (minutes on this 2-core machine)")
    ax.set_ylabel("test BPC (lower is better)")
    ax.set_title("Bits per character against training time")
    fig.tight_layout()
    fig.savefig(docs / "bpc_vs_time.png", dpi=120)
    made.append("bpc_vs_time.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    names = [r["name"] for r in rows]
    ax.bar(names, [100 * r["ksr_keys"]["ksr"] for r in rows],
           color=[colour(r["family"]) for r in rows])
    ax.set_ylabel("keystroke savings, keyboard keys (%)")
    ax.set_title("KSR (Hangul typed jamo by jamo, 3 suggestions)")
    ax.tick_params(axis="x", rotation=45, labelsize=7)
    fig.tight_layout()
    fig.savefig(docs / "ksr.png", dpi=120)
    made.append("ksr.png")
    plt.close(fig)

    grams = sorted((r for r in rows if r["name"].startswith("ngram")),
                   key=lambda r: int(r["name"][5:]))
    if grams:
        fig, ax1 = plt.subplots(figsize=(6, 4))
        orders = [int(r["name"][5:]) for r in grams]
        ax1.plot(orders, [r["disk_bytes"] / 1e6 for r in grams], "o-", color="tab:gray")
        ax1.set_xlabel("n-gram order")
        ax1.set_ylabel("size on disk (MB)")
        ax1.set_xticks(orders)
        ax2 = ax1.twinx()
        ax2.plot(orders, [r["bpc"] for r in grams], "s--", color="tab:blue")
        ax2.set_ylabel("test BPC", color="tab:blue")
        ax1.set_title("n-gram: size grows with the order, BPC barely moves")
        fig.tight_layout()
        fig.savefig(docs / "ngram_order.png", dpi=120)
        made.append("ngram_order.png")
        plt.close(fig)
    return made


def write_report(rows: list[dict[str, Any]], peers: dict[str, dict[str, Any] | None],
                 serving: dict[str, Any] | None, docs: Path, meta: dict[str, Any]) -> None:
    """The markdown report and the PNG plots, in ``docs``."""
    docs.mkdir(parents=True, exist_ok=True)
    plots = _plots(rows, docs)
    vocabs = Counter(r["vocab"] for r in rows if r.get("vocab"))
    common = vocabs.most_common(1)[0][0] if vocabs else 8000
    head = ("| model | BPC | next-word hit@1 / @3 | prefix hit@1 / @3 | KSR chars | KSR keys "
            "| disk MB | memory MB | training min | ms per keystroke p50 / p99 |\n"
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python bench/quality.py" + (" --quick" if meta["quick"] else "") +
        "` (`make bench`); do not edit by hand.",
        "",
        f"Machine: {meta['machine']}; load average {meta.get('load', '?')} when this run "
        f"began. This run took {meta['wall_minutes']} minutes; figures already in "
        "`--workdir/results` from earlier runs of the same models are reused (delete that "
        "folder to measure everything again), so earlier rows may have been measured on a "
        "busier machine. Neural families trained with another budget "
        "(`scripts/train.py --out models-data/bench/models/ARCH-Nmin ...`) are listed too.",
        "",
        "Trained on `../shared/data/nsmc/train.txt` (616K reviews, SentencePiece "
        f"{_k(common)} pieces shared by every model"
        + (" unless its row names another vocabulary" if len(vocabs) > 1 else "") +
        "), validated on `valid.txt`, measured on `test.txt`: BPC over "
        + ("the first 1,000 lines" if meta["quick"] else "every line") + " (each scored as a "
        "whole sentence, end included); accuracy and keystroke savings (KSR) on the shared "
        f"benchmark's sample ({meta['sentences']} sentences, seed 0; "
        f"{meta['family_sentences']} for the neural families trained here) with 3 suggestions. "
        f"Neural families: {meta['minutes']:g} minutes of training each (adaptive softmax, "
        "256/512, bf16 autocast where the CPU has it); `served-*` is the model directory the "
        "service serves, with the budget it was trained with. Our models are called in "
        "process here; the peers over HTTP (their latency includes the HTTP round trip).",
        "",
        head,
    ]
    lines += [_row(r["name"] + (f" ({_k(r['vocab'])} pieces)" if r.get("vocab", common) != common
                                else ""), r) for r in rows]
    lines += [_peer_row(n, r) for n, r in peers.items() if r]
    missing = [n for n, r in peers.items() if not r]
    if missing:
        lines += ["", f"Peers that could not run here: {', '.join(missing)}."]
    lines += ["", "Peers: `mpc-*` is most-popular completion (`bench/peers/mpc.py`): unigram = "
              "the k most frequent words with the typed prefix; bigram = followers of the "
              "previous word first; `-jamo` matches Hangul by keystrokes as we do. `presage` is "
              "Presage 0.9.1's smoothed 3-gram predictor through its C API, on SQLite tables "
              "built from whitespace words (Debian's text2ngram breaks Korean), 1/rank as its "
              "probability; words with `'` are left out of its tables (its SQL does not escape "
              "them)."]
    if serving:
        lines += ["", "## Serving latency (`bench/serve_bench.py`, real uvicorn process)", "",
                  f"Model directory `{Path(serving['model_dir']).name}`, NSMC test sentences "
                  "typed key by key (Hangul by keystroke), each phase "
                  f"{serving['seconds']:g} s.", "",
                  "| typists | endpoint | requests/s | p50 ms | p95 ms | p99 ms | answered by | "
                  "errors |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for p in serving["phases"]:
            lat = p["latency_ms"]
            who = ", ".join(f"{k} {v}" for k, v in sorted(p["answered_by"].items())) or "–"
            errors = sum(p["errors"].values()) if isinstance(p["errors"], dict) else p["errors"]
            lines.append(f"| {p['typists']} | {p['endpoint']} | {p['req_per_s']:.0f} | "
                         f"{lat['p50']:.2f} | {lat['p95']:.2f} | {lat['p99']:.2f} | {who} | "
                         f"{errors} |")
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    (docs / "benchmarks.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
