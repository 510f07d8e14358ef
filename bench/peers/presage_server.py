"""Presage, the predictive-text engine of on-screen keyboards, behind the benchmark's contract.

Presage 0.9.1 (Debian ``presage`` / ``libpresage-dev``) is driven through its C API in
``libpresage.so`` with ctypes; its ``SmoothedNgramPredictor`` (3-gram, deltas
0.01 0.1 0.89, the upstream defaults) reads a SQLite n-gram database that this script
builds itself: Debian's ``text2ngram`` splits words on single bytes of no-break space and
« », bytes that occur inside common Hangul syllables, so its tables cut Korean words.

The database is built from whitespace tokens, streamed line by line: ``_1_gram(word,
count)``, ``_2_gram(word_1, word, count)``, ``_3_gram(word_2, word_1, word, count)``
plus an index on ``_1_gram(count, word)`` (presage sums the unigram table on every
prediction). N-grams with a word that contains ``'`` are left out: presage pastes words
into its SQL unescaped, and such a word makes every query that meets it fail. Each line is preceded
by two empty tokens, which is what presage's context tracker reports before the first
word, so the first word of a review is predicted from line-start counts
(``--no-line-start`` leaves that out).

Limits of the engine, counted as such: presage splits the context on ASCII punctuation
and never suggests a token that contains any (``영화.``); it matches prefixes byte-wise
(SQL ``LIKE``), so a half-typed Hangul syllable (머 for 먹) only matches words that
start with that very syllable.

Only the n-gram predictor runs (no recency, abbreviation or user-learning predictor),
online learning is off and repeated suggestions are allowed, so the server is
stateless and deterministic.

    python bench/peers/presage_server.py --train ../shared/data/nsmc/train.txt \\
        --db /tmp/presage-nsmc.db --port 8102
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import os
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.peers.serve import serve  # noqa: E402

ORDER = 3
DELTAS = "0.01 0.1 0.89"  # upstream default; the number of deltas is the n-gram order

CONFIG = """<?xml version="1.0" encoding="UTF-8" standalone="no" ?>
<Presage>
  <PredictorRegistry>
    <LOGGER>ERROR</LOGGER>
    <PREDICTORS>BenchSmoothedNgramPredictor</PREDICTORS>
  </PredictorRegistry>
  <ContextTracker>
    <LOGGER>ERROR</LOGGER>
    <SLIDING_WINDOW_SIZE>80</SLIDING_WINDOW_SIZE>
    <LOWERCASE_MODE>no</LOWERCASE_MODE>
    <ONLINE_LEARNING>no</ONLINE_LEARNING>
  </ContextTracker>
  <Selector>
    <LOGGER>ERROR</LOGGER>
    <SUGGESTIONS>3</SUGGESTIONS>
    <REPEAT_SUGGESTIONS>yes</REPEAT_SUGGESTIONS>
    <GREEDY_SUGGESTION_THRESHOLD>0</GREEDY_SUGGESTION_THRESHOLD>
  </Selector>
  <PredictorActivator>
    <LOGGER>ERROR</LOGGER>
    <PREDICT_TIME>1000</PREDICT_TIME>
    <MAX_PARTIAL_PREDICTION_SIZE>60</MAX_PARTIAL_PREDICTION_SIZE>
    <COMBINATION_POLICY>Meritocracy</COMBINATION_POLICY>
  </PredictorActivator>
  <ProfileManager>
    <LOGGER>ERROR</LOGGER>
    <AUTOPERSIST>false</AUTOPERSIST>
  </ProfileManager>
  <Predictors>
    <BenchSmoothedNgramPredictor>
      <PREDICTOR>SmoothedNgramPredictor</PREDICTOR>
      <LOGGER>ERROR</LOGGER>
      <DBFILENAME>{db}</DBFILENAME>
      <DELTAS>{deltas}</DELTAS>
      <LEARN>false</LEARN>
      <DatabaseConnector>
        <LOGGER>ERROR</LOGGER>
      </DatabaseConnector>
    </BenchSmoothedNgramPredictor>
  </Predictors>
</Presage>
"""


# --- the n-gram database ------------------------------------------------------------------


def count_ngrams(lines: Iterable[str], line_start: bool = True
                 ) -> tuple[list[str], list[Counter[tuple[int, ...]]]]:
    """Vocabulary and 1..ORDER-gram counts (of word ids) over whitespace tokens.

    N-grams do not cross lines. With ``line_start`` every line is preceded by
    ``ORDER - 1`` empty tokens (id 0), and ``("",)``, ``("", "")`` are counted once a
    line: they are the denominators of the line-start estimates. Presage does not
    offer the empty word as a suggestion.
    """
    vocab: dict[str, int] = {"": 0}
    counts: list[Counter[tuple[int, ...]]] = [Counter() for _ in range(ORDER)]
    pad = [0] * (ORDER - 1) if line_start else []
    lines_seen = 0
    for line in lines:
        words = line.split()
        if not words:
            continue
        lines_seen += 1
        ids = pad + [vocab.setdefault(w, len(vocab)) for w in words]
        start = len(pad)
        for n in range(1, ORDER + 1):
            table = counts[n - 1]
            # n-grams that end on a real word
            table.update(tuple(ids[i - n + 1: i + 1]) for i in range(max(start, n - 1), len(ids)))
    if line_start and lines_seen:
        for n in range(1, ORDER):  # histories made only of padding: ("",), ("", "")
            counts[n - 1][(0,) * n] = lines_seen
    words_by_id = list(vocab)
    return words_by_id, counts


def _meta(train: Path, line_start: bool) -> dict[str, str]:
    st = train.stat()
    return {"train": str(train.resolve()), "train_size": str(st.st_size),
            "train_mtime_ns": str(st.st_mtime_ns), "line_start": str(line_start),
            "order": str(ORDER)}


def db_is_current(db: Path, train: Path, line_start: bool) -> bool:
    """True when ``db`` was built by ``build_db`` from this very ``train`` with these options."""
    if not db.exists():
        return False
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            meta = dict(con.execute("SELECT key, value FROM bench_meta"))
        finally:
            con.close()
    except sqlite3.Error:
        return False
    return meta == _meta(train, line_start)


def build_db(train: Path, db: Path, line_start: bool = True) -> None:
    """Write presage's n-gram tables for ``train`` to ``db`` (atomically, via a temp file)."""
    t0 = time.perf_counter()
    with train.open(encoding="utf-8") as f:
        words, counts = count_ngrams(f, line_start)
    t1 = time.perf_counter()
    # presage pastes words into its SQL unescaped: a word with a quote fails the query
    unsafe = {i for i, w in enumerate(words) if "'" in w}
    tmp = db.with_name(db.name + ".tmp")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    for n in range(1, ORDER + 1):
        cols = [f"word_{i}" for i in range(n - 1, 0, -1)] + ["word"]
        con.execute(f"CREATE TABLE _{n}_gram ({', '.join(c + ' TEXT' for c in cols)}, "
                    f"count INTEGER, UNIQUE({', '.join(cols)}))")
        rows: Iterator[tuple[object, ...]] = (
            (*(words[i] for i in key), c) for key, c in sorted(counts[n - 1].items())
            if not any(i in unsafe for i in key))
        con.executemany(f"INSERT INTO _{n}_gram VALUES ({', '.join('?' * (n + 1))})", rows)
        counts[n - 1].clear()
    con.execute("CREATE INDEX _1_gram_count_word ON _1_gram(count, word)")
    con.execute("CREATE TABLE bench_meta (key TEXT PRIMARY KEY, value TEXT)")
    con.executemany("INSERT INTO bench_meta VALUES (?, ?)", _meta(train, line_start).items())
    con.commit()
    con.close()
    os.replace(tmp, db)
    print(f"presage db {db}: {len(words) - 1 - len(unsafe)} words ({len(unsafe)} with a quote "
          f"left out), counted in {t1 - t0:.0f} s, "
          f"written in {time.perf_counter() - t1:.0f} s", file=sys.stderr, flush=True)


# --- presage through its C API ------------------------------------------------------------

_STREAM_CB = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)


class PresageError(RuntimeError):
    """A presage C API call returned an error code."""


class Presage:
    """One presage instance; ``predict`` is serialised by a lock (presage is not thread-safe)."""

    def __init__(self, config: Path, library: str | None = None):
        """Load ``libpresage.so`` and create presage with the XML ``config``."""
        lib = ctypes.CDLL(library or ctypes.util.find_library("presage") or "libpresage.so.1")
        self.lib = lib
        lib.presage_new_with_config.argtypes = [_STREAM_CB, ctypes.c_void_p, _STREAM_CB,
                                                ctypes.c_void_p, ctypes.c_char_p,
                                                ctypes.POINTER(ctypes.c_void_p)]
        lib.presage_predict.argtypes = [ctypes.c_void_p,
                                        ctypes.POINTER(ctypes.POINTER(ctypes.c_char_p))]
        lib.presage_free_string_array.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        lib.presage_config_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        lib.presage_config.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                       ctypes.POINTER(ctypes.c_char_p)]
        lib.presage_free_string.argtypes = [ctypes.c_char_p]
        lib.presage_free.argtypes = [ctypes.c_void_p]
        for fn in ("presage_new_with_config", "presage_predict", "presage_config_set",
                   "presage_config"):
            getattr(lib, fn).restype = ctypes.c_int
        self._past = ctypes.create_string_buffer(b"")
        self._empty = ctypes.create_string_buffer(b"")
        # the callbacks return a pointer into buffers this object keeps alive
        self._past_cb = _STREAM_CB(lambda _arg: ctypes.addressof(self._past))
        self._future_cb = _STREAM_CB(lambda _arg: ctypes.addressof(self._empty))
        self._handle = ctypes.c_void_p()
        self._check(lib.presage_new_with_config(self._past_cb, None, self._future_cb, None,
                                                str(config).encode(), ctypes.byref(self._handle)),
                    "presage_new_with_config")
        self._lock = threading.Lock()
        self._k = -1

    @staticmethod
    def _check(code: int, what: str) -> None:
        if code != 0:
            raise PresageError(f"{what} failed with presage error code {code}")

    def config(self, variable: str) -> str:
        """The value of a configuration variable, e.g. ``Presage.Selector.SUGGESTIONS``."""
        out = ctypes.c_char_p()
        self._check(self.lib.presage_config(self._handle, variable.encode(), ctypes.byref(out)),
                    "presage_config")
        value = (out.value or b"").decode("utf-8")
        return value

    def predict(self, past: str, k: int) -> list[str]:
        """Presage's suggestions (at most ``k``) after the text ``past``."""
        result = ctypes.POINTER(ctypes.c_char_p)()
        with self._lock:
            if k != self._k:
                self._check(self.lib.presage_config_set(
                    self._handle, b"Presage.Selector.SUGGESTIONS", str(k).encode()),
                    "presage_config_set")
                self._k = k
            self._past = ctypes.create_string_buffer(past.encode("utf-8"))
            self._check(self.lib.presage_predict(self._handle, ctypes.byref(result)),
                        "presage_predict")
        out: list[str] = []
        try:
            i = 0
            while result[i] is not None:
                # presage works on bytes; a suggestion cut inside a UTF-8 sequence shows as U+FFFD
                out.append(result[i].decode("utf-8", errors="replace"))
                i += 1
        finally:
            self.lib.presage_free_string_array(result)
        return out

    def close(self) -> None:
        """Free the presage instance."""
        if self._handle:
            self.lib.presage_free(self._handle)
            self._handle = ctypes.c_void_p()


def write_config(db: Path) -> Path:
    """Write the presage XML configuration for ``db`` next to it; returns its path."""
    path = db.with_name(db.name + ".xml")
    path.write_text(CONFIG.format(db=escape(str(db.resolve())), deltas=DELTAS), encoding="utf-8")
    return path


def make_completer(presage: Presage):
    """The contract's ``complete(text, k)`` on top of presage (ranks, no probabilities)."""

    def complete(text: str, k: int) -> list[tuple[str, float]]:
        # presage's C API gives the ranking only; report 1/rank as the "probability"
        return [(w, 1.0 / r) for r, w in enumerate(presage.predict(text, k), 1) if w][:k]

    return complete


def main() -> None:
    """Command line: build (or reuse) the database, then serve the contract."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True, type=Path, help="UTF-8 text, one sentence a line")
    ap.add_argument("--db", type=Path, default=Path("/tmp/presage-nsmc.db"))
    ap.add_argument("--rebuild", action="store_true",
                    help="rebuild the database even if it was built from this --train")
    ap.add_argument("--no-line-start", dest="line_start", action="store_false",
                    help="no line-start padding: the first word of a line gets unigram counts")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8102)
    args = ap.parse_args()

    if args.rebuild or not db_is_current(args.db, args.train, args.line_start):
        build_db(args.train, args.db, args.line_start)
    else:
        print(f"presage db {args.db}: reused (--rebuild to rebuild)", file=sys.stderr)
    presage = Presage(write_config(args.db))
    print(f"presage: predictors {presage.config('Presage.PredictorRegistry.PREDICTORS')}, "
          f"db {presage.config('Presage.Predictors.BenchSmoothedNgramPredictor.DBFILENAME')}",
          file=sys.stderr, flush=True)
    try:
        serve(make_completer(presage), args.host, args.port, "presage")
    finally:
        presage.close()


if __name__ == "__main__":
    main()
