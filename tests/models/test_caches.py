"""Caches bounded in bytes (models/caches.py), and the engine's state cache that uses one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.caches import BoundedCache, nbytes
from models.completion import CompletionEngine


def test_evicts_the_least_recently_used_until_the_bytes_fit():
    cache = BoundedCache(1000, size=lambda key, value: value.nbytes)
    for i in range(4):
        cache[i] = np.zeros(30)  # 240 bytes each
    assert len(cache) == 4 and cache.bytes == 960
    cache.move_to_end(0)  # 0 was used: 1 is now the oldest
    cache[4] = np.zeros(30)
    assert list(cache) == [2, 3, 0, 4] and cache.bytes == 960
    cache[5] = np.zeros(125)  # 1,000 bytes: everything else goes
    assert list(cache) == [5] and cache.bytes == 1000
    cache[6] = np.zeros(126)  # larger than the whole budget: not kept, nothing evicted
    assert 6 not in cache and list(cache) == [5]


def test_replacing_a_key_counts_it_once_and_entries_can_bound_too():
    cache = BoundedCache(10_000, max_entries=2, size=lambda key, value: len(value))
    cache["a"] = "x" * 100
    cache["a"] = "x" * 300
    assert cache.bytes == 300 and cache["a"] == "x" * 300
    cache["b"], cache["c"] = "b", "c"
    assert list(cache) == ["b", "c"] and cache.bytes == 2
    assert cache.popitem(last=False) == ("b", "b") and cache.bytes == 1
    assert dict(cache.items()) == {"c": "c"} and cache.get("zzz", 7) == 7
    cache.clear()
    assert len(cache) == 0 and cache.bytes == 0


def test_recall_is_a_use_and_entries_alone_can_bound():
    """What the n-gram, the mixture and the engine look up with: a hit moves to the end
    (the last to go), a miss is None; with no byte budget only ``max_entries`` evicts."""
    cache = BoundedCache(None, max_entries=3, size=lambda key, value: value.nbytes)
    for i in range(3):
        cache[i] = np.zeros(10**5)  # 800 KB each: no byte budget to exceed
    assert cache.recall(0) is cache[0] and cache.recall(9) is None
    cache[3] = np.zeros(1)
    assert list(cache) == [2, 0, 3] and cache.bytes == 2 * 800_000 + 8  # 1 was the oldest
    assert cache.get(2) is not None and list(cache)[0] == 2  # get is not a use
    empty = BoundedCache(None, max_entries=0)
    empty["a"] = 1
    assert len(empty) == 0


@dataclass(frozen=True)
class _State:
    hidden: object
    logprobs: np.ndarray


def test_nbytes_counts_what_a_state_holds():
    row = np.zeros(16000, dtype=np.float32)
    assert 64_000 <= nbytes(row) < 65_000
    batch = np.zeros((12, 16000), dtype=np.float32)
    assert nbytes(batch[3]) == nbytes(row)  # a view counts as its part
    ids = tuple(range(1000, 1600))
    assert 4_800 <= nbytes(ids) < 5_000  # references; the ids themselves are shared
    state = _State((np.zeros(64, dtype=np.float32),), row)
    assert nbytes(state) > nbytes(row) + 256
    assert nbytes((state, (1, 2, 3))) > nbytes(state)  # a mixture's state: both parts


def test_the_engines_state_cache_keeps_to_its_bytes_and_answers_the_same(engine):
    small = CompletionEngine(engine.tok, engine.lm, cache_bytes=20_000)
    texts = ["나는 밥을 머", "오늘 너무 재미", "this movie is rea", "I really liked the ",
             "나저녁에ㅂ", "영화 정말 재밌게 봤어요 배우들 연기가 "]
    for text in texts:
        assert small.complete(text, k=5, max_words=2) == \
            engine.complete(text, k=5, max_words=2, use_cache=False)
        assert 0 < small._cache.bytes <= 20_000
    assert small.cache_hits + small.cache_misses > 0
