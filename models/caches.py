"""Caches bounded in bytes, not entries: what they hold is what memory they take.

An entry count bounds nothing by itself: a row of next-token log-probabilities over 16K
pieces is 128 KB in float64, over 800 pieces 6 KB, and a state cache's key is a whole
context of ids. ``BoundedCache`` is an LRU mapping whose keys and values are counted in
bytes (``nbytes``), so a budget means the same for every model. It is the one LRU of the
library: the n-gram's rows, the mixture's rows and the engine's states are all kept in one
(``recall`` is a lookup that counts as a use).
"""

from __future__ import annotations

import dataclasses
import sys
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def nbytes(obj: Any) -> int:
    """Bytes an object holds, estimated for what caches keep: numpy arrays (their own
    elements, a view counted as its part), torch tensors, tuples (of ids or of states),
    dataclasses (a neural state) and anything else by ``sys.getsizeof``. A tuple whose
    first item is an int is taken to hold ints only (token ids, n-gram states), counted
    as its references: ids are shared by the keys built from one context."""
    if hasattr(obj, "nbytes") and hasattr(obj, "dtype"):  # numpy
        return int(obj.nbytes) + 112
    if hasattr(obj, "element_size") and hasattr(obj, "nelement"):  # torch
        return int(obj.nelement() * obj.element_size()) + 80
    if isinstance(obj, tuple | list):
        size = sys.getsizeof(obj)
        if obj and not isinstance(obj[0], int):
            size += sum(nbytes(x) for x in obj)
        return size
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sys.getsizeof(obj) + sum(nbytes(getattr(obj, f.name))
                                        for f in dataclasses.fields(obj))
    return sys.getsizeof(obj)


class BoundedCache(Generic[K, V]):
    """Least recently used entries, bounded in bytes (``max_bytes``, counted with
    ``size(key, value)``; None: no byte bound) and, optionally, in entries
    (``max_entries``). The part of OrderedDict's interface the caches use: ``get``, ``[]``,
    ``move_to_end``, ``popitem``, ``len``, ``in``, ``items``, ``clear``; and ``recall``.
    Setting an item evicts the oldest until both bounds hold; an item larger than the
    whole budget is not kept."""

    def __init__(self, max_bytes: int | None, max_entries: int | None = None,
                 size: Callable[[Any, Any], int] | None = None):
        self.max_bytes, self.max_entries = max_bytes, max_entries
        self.size = size or (lambda key, value: nbytes(key) + nbytes(value))
        self.bytes = 0
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def get(self, key: K, default: V | None = None) -> V | None:
        item = self._items.get(key)
        return default if item is None else item[0]

    def recall(self, key: K) -> V | None:
        """The value of ``key``, now the most recently used, or None where it is absent."""
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def __getitem__(self, key: K) -> V:
        return self._items[key][0]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def items(self) -> Iterator[tuple[K, V]]:
        return ((key, value) for key, (value, _) in self._items.items())

    def move_to_end(self, key: K, last: bool = True) -> None:
        self._items.move_to_end(key, last)

    def __setitem__(self, key: K, value: V) -> None:
        if key in self._items:
            self.bytes -= self._items.pop(key)[1]
        size = self.size(key, value)
        limit = self.max_bytes if self.max_bytes is not None else float("inf")
        if size > limit:
            return
        self._items[key] = (value, size)
        self.bytes += size
        while self.bytes > limit or (
                self.max_entries is not None and len(self._items) > self.max_entries):
            self.popitem(last=False)

    def popitem(self, last: bool = True) -> tuple[K, V]:
        key, (value, size) = self._items.popitem(last)
        self.bytes -= size
        return key, value

    def clear(self) -> None:
        self._items.clear()
        self.bytes = 0
