"""Tune the personal model's order and mixture weights (models/personal.py) on validation text.

Reviews of one movie stand in for one person's text, as in ../shared/bench/personal_eval.py:
each sampled movie's first --history reviews (by review id) are learned, the next --evaluate
are scored piece by piece, by the served model alone and mixed with the user's model. For
each order, the weight of each context length k is the one that maximises the likelihood of
the scored pieces whose history's longest learned end is k pieces long (the buckets are
independent: each is a one-dimensional search). Prints per-piece perplexity (anonymous and
personal) and the weights to put in PersonalConfig.

The grouping of valid.txt is not shipped with the data: it is a TSV aligned with the file
(movie id, review id), built the way test_movies.tsv was (the NSMC raw crawl, by text).

    .venv/bin/python bench/personal_tune.py --model-dir models-data/nsmc-gru \\
        --file ../shared/data/nsmc/valid.txt --groups valid_movies.tsv --users 300
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import numpy as np

from models.lm import TokenSet
from models.loading import load_model
from models.personal import PersonalConfig, PersonalModel, adapter, normalise

GRID = np.concatenate([np.linspace(0.0, 0.2, 41), np.linspace(0.22, 0.9, 35)])


def users_of(file: str, groups: str, history: int, evaluate: int, count: int,
             seed: int) -> list[list[str]]:
    """Each sampled movie's reviews, oldest first (personal_eval.py's sampling)."""
    lines = Path(file).read_text(encoding="utf-8").split("\n")
    rows = [g.split("\t") for g in Path(groups).read_text(encoding="utf-8").split("\n") if g]
    by_movie: dict[str, list[tuple[int, str]]] = {}
    for line, (movie, review) in zip(lines, rows, strict=False):
        if line.strip() and movie:
            by_movie.setdefault(movie, []).append((int(review), line))
    movies = sorted(m for m, rs in by_movie.items() if len(rs) >= history + evaluate)
    chosen = random.Random(seed).sample(movies, min(count, len(movies)))
    return [[line for _, line in sorted(by_movie[m])][:history + evaluate] for m in chosen]


def simulate(engine, users: list[list[str]], history: int, configs: list[PersonalConfig],
             bench_dir: Path, ksr: bool = True) -> None:
    """personal_eval.py's figures in process: next-word hit@1 and KSR keys without the user's
    model and with it under each of ``configs``, by the benchmark's own functions
    (autocomplete_eval.py)."""
    sys.path.insert(0, str(bench_dir))
    from autocomplete_eval import Hits, K, ksr_hangul_keystrokes

    class Typist:
        adapt = None

        def complete(self, text: str) -> list[str]:
            return [c.text for c in engine.complete(text, k=K, adapt=self.adapt)]

    typist, figures = Typist(), []
    for config in [None, *configs]:
        hits, used, total = Hits(), 0, 0
        for reviews in users:
            model = PersonalModel(engine.tok.bos_id, engine.tok.eos_id, config,
                                  engine.tok.vocab_size)
            for j, text in enumerate(reviews[:history]):
                model.add(str(j), engine.tok.encode(normalise(text)))
            typist.adapt = adapter(model, engine.tok.starts_word) if config else None
            for ws in (r.split() for r in reviews[history:]):
                for i, word in enumerate(ws):
                    hits.add(word, typist.complete(" ".join(ws[:i]) + (" " if i else "")))
                if ksr:
                    u, t = ksr_hangul_keystrokes(typist, ws)
                    used, total = used + u, total + t
        hit1, keys = hits.top1 / max(hits.n, 1), 1 - used / max(total, 1)
        figures.append((hit1, keys))
        a1, ak = figures[0]
        name = "anonymous" if config is None else f"{config.weights}"
        print(f"{name:32s} next-word hit@1 {100 * hit1:5.2f}% (x{hit1 / max(a1, 1e-9):.3f})"
              + (f"  KSR keys {100 * keys:5.2f}% (x{keys / max(ak, 1e-9):.3f})" if ksr else ""),
              flush=True)


def user_word_prob(model: PersonalModel, history: tuple[int, ...], word: list[int],
                   boundary: TokenSet) -> float:
    """P_user(word, then a word boundary | history): what the search's word-level mixture
    mixes in (``PersonalConfig.posterior``)."""
    keep = model.config.order - 1
    uni_ids, uni = model.unigram()
    p = 1.0
    for w in word:
        j = int(np.searchsorted(uni_ids, w))
        if j >= len(uni_ids) or uni_ids[j] != w:
            return 0.0
        p *= float(model.probs(model.history_dist(history[-keep:]), uni_ids[j:j + 1])[0])
        history = (*history, w)
    mass = float(uni @ boundary.mask[uni_ids])
    return p * model.mass(model.history_dist(history[-keep:]), boundary, mass)


def tune_hits(engine, users: list[list[str]], history: int, order: int) -> None:
    """The prior weight of each bucket that gives the most next-word hits@1, from each
    position's candidates (the model's ten best words and the user model's ten best, each
    with P_model and P_user): the word-level mixture ranks them as the search would."""
    tok = engine.tok
    boundary = engine._boundary
    rows = []  # (bucket, true word, {word: (P_model, P_user)})
    t0 = time.perf_counter()
    for reviews in users:
        model = PersonalModel(tok.bos_id, tok.eos_id, PersonalConfig(order, (0.0,) * order),
                              tok.vocab_size)
        strong = PersonalModel(tok.bos_id, tok.eos_id, PersonalConfig(order, (0.99,) * order),
                               tok.vocab_size)
        for j, text in enumerate(reviews[:history]):
            model.add(str(j), tok.encode(normalise(text)))
            strong.add(str(j), tok.encode(normalise(text)))
        for ws in (r.split() for r in reviews[history:]):
            for i, word in enumerate(ws):
                context = " ".join(ws[:i]) + (" " if i else "")
                ctx = (tok.bos_id, *engine.context_ids(context))
                cands = {c.text: math.exp(c.log_prob) for c in engine.complete(context, k=10)}
                for c in engine.complete(context, k=10, adapt=adapter(strong, tok.starts_word)):
                    if c.text not in cands:
                        cands[c.text] = math.exp(engine.word_logprob(context, c.text))
                if word not in cands:
                    cands[word] = math.exp(engine.word_logprob(context, word))
                both = {w: (pb, user_word_prob(model, ctx, tok.encode(w), boundary))
                        for w, pb in cands.items()}
                rows.append((model.history_dist(ctx[-(order - 1):]).k, word, both))
    print(f"{len(rows)} positions ({time.perf_counter() - t0:.0f} s)", flush=True)

    def hits(sel: list, mu: float) -> int:
        return sum(max(c, key=lambda w: (1 - mu) * c[w][0] + mu * c[w][1]) == word
                   for _, word, c in sel)
    total_anon = total_best = 0
    weights = []
    for k in range(order):
        sel = [r for r in rows if r[0] == k]
        scores = [(hits(sel, mu), mu) for mu in GRID]
        anon = hits(sel, 0.0)
        best = max(scores, key=lambda x: (x[0], -abs(x[1] - 0.1)))
        weights.append(round(best[1], 3))
        total_anon, total_best = total_anon + anon, total_best + best[0]
        print(f"  k={k}: {len(sel)} positions, hits {anon} anonymous, {best[0]} at weight "
              f"{best[1]:.3f}; by weight " + " ".join(f"{m:.2f}:{h}" for h, m in scores[::4]))
    print(f"order {order}: hit@1 {total_anon} -> {total_best} of {len(rows)} "
          f"(x{total_best / max(total_anon, 1):.3f}); weights {tuple(weights)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", default="models-data/nsmc-gru")
    ap.add_argument("--file", required=True)
    ap.add_argument("--groups", required=True, help="TSV aligned with --file: movie, review id")
    ap.add_argument("--users", type=int, default=300)
    ap.add_argument("--history", type=int, default=20)
    ap.add_argument("--evaluate", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--orders", default="1,2,3,4,5,6")
    ap.add_argument("--simulate", metavar="W0,W1,...;...", help="instead of tuning: the "
                    "benchmark's figures in process with these weights (one per context "
                    "length: the order is their count; several sets apart by ';')")
    ap.add_argument("--scores", type=Path, help="a .npy file that keeps the model's scores "
                    "of the scored reviews between runs with the same sample")
    ap.add_argument("--by-count", action="store_true", help="also the best weight of each "
                    "bucket by how often its context was seen")
    ap.add_argument("--tune-hits", action="store_true", help="tune each bucket's prior "
                    "weight for next-word hit@1 instead of likelihood")
    ap.add_argument("--no-ksr", action="store_true", help="--simulate: next words only")
    ap.add_argument("--per-piece", action="store_true", help="tune the weight of each piece "
                    "(PersonalConfig.posterior off) instead of each word's prior")
    ap.add_argument("--bench-dir", type=Path, default=Path(__file__).resolve().parents[2]
                    / "shared" / "bench", help="where autocomplete_eval.py is")
    args = ap.parse_args()

    loaded = load_model(args.model_dir, None)  # the family the service serves
    tok, lm = loaded.engine.tok, loaded.engine.lm
    users = users_of(args.file, args.groups, args.history, args.evaluate, args.users, args.seed)
    if args.tune_hits:
        for order in [int(x) for x in args.orders.split(",")]:
            tune_hits(loaded.engine, users, args.history, order)
        return
    if args.simulate:
        configs = []
        for part in args.simulate.split(";"):
            weights = tuple(float(w) for w in part.split(","))
            configs.append(PersonalConfig(len(weights), weights, posterior=not args.per_piece))
        simulate(loaded.engine, users, args.history, configs, args.bench_dir,
                 ksr=not args.no_ksr)
        return
    histories = [[tok.encode(normalise(r)) for r in u[:args.history]] for u in users]
    targets = [[tok.encode(normalise(r)) + [tok.eos_id] for r in u[args.history:]] for u in users]
    t0 = time.perf_counter()
    if args.scores and args.scores.exists():  # the model's scores of the same run, kept
        flat = np.load(args.scores)
        base, at = [], 0
        for t in targets:
            base.append([flat[at + sum(len(x) for x in t[:j]):][:len(s)]
                         for j, s in enumerate(t)])
            at += sum(len(x) for x in t)
    else:
        base = [lm.token_logprobs_batch(t) for t in targets]
        if args.scores:
            np.save(args.scores, np.concatenate([x for b in base for x in b]))
    print(f"{loaded.family}: {len(users)} users, {sum(len(s) for t in targets for s in t)} pieces "
          f"scored ({time.perf_counter() - t0:.0f} s)")
    starts = tok.starts_word
    for order in [int(x) for x in args.orders.split(",")]:
        config = PersonalConfig(order, (0.0,) * order)
        # one item a word (piece by piece without --per-piece): ln P_model, P_user, bucket
        lb, pu, bucket, seen, pieces = [], [], [], [], 0
        for hist, tgt, lps in zip(histories, targets, base, strict=True):
            model = PersonalModel(tok.bos_id, tok.eos_id, config, tok.vocab_size)
            for j, ids in enumerate(hist):
                model.add(str(j), ids)
            uni_ids, _ = model.unigram()
            for ids, lp in zip(tgt, lps, strict=True):
                seq = (tok.bos_id, *ids)
                for j, w in enumerate(ids):
                    pieces += 1
                    dist = model.history_dist(seq[max(0, j + 1 - (order - 1)):j + 1]
                                              if order > 1 else ())
                    known = len(uni_ids) and uni_ids[min(np.searchsorted(uni_ids, w),
                                                         len(uni_ids) - 1)] == w
                    p = float(model.probs(dist, np.array([w]))[0]) if known else 0.0
                    if args.per_piece or j == 0 or starts[w] or w == tok.eos_id:
                        lb.append(float(lp[j]))  # a new word: its prior's bucket
                        pu.append(p)
                        bucket.append(dist.k)
                        seen.append(dist.seen)
                    else:  # the word goes on: its probabilities multiply
                        lb[-1] += float(lp[j])
                        pu[-1] *= p
        pb_, pu_, bk = np.exp(np.array(lb)), np.array(pu), np.array(bucket)
        weights, total = [], 0.0
        for k in range(order):
            sel = bk == k
            if not sel.any():
                weights.append(0.0)
                continue
            with np.errstate(divide="ignore"):
                ll = [np.log((1 - m) * pb_[sel] + m * pu_[sel]).sum() for m in GRID]
            best = int(np.argmax(ll))
            weights.append(float(GRID[best]))
            total += ll[best]
        if args.by_count:  # would the weight of a bucket depend on how often it was seen?
            sn = np.minimum(np.array(seen), 8)
            for k in range(1, order):
                for c in sorted(set(sn[bk == k].tolist())):
                    sel = (bk == k) & (sn == c)
                    with np.errstate(divide="ignore"):
                        ll = [np.log((1 - m) * pb_[sel] + m * pu_[sel]).sum() for m in GRID]
                    print(f"  k={k} seen={c}{'+' if c == 8 else ''}: {int(sel.sum())} words, "
                          f"best weight {GRID[int(np.argmax(ll))]:.3f}")
        anon = math.exp(-np.sum(lb) / pieces)
        mixed = math.exp(-total / pieces)
        print(f"order {order}: perplexity a piece {anon:.2f} -> {mixed:.2f} "
              f"({100 * (1 - mixed / anon):.1f}% lower); weights "
              f"{tuple(round(w, 3) for w in weights)}; "
              f"{'pieces' if args.per_piece else 'words'} a bucket "
              f"{[int((bk == k).sum()) for k in range(order)]}", flush=True)


if __name__ == "__main__":
    main()
