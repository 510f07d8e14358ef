"""What users teach: a store every replica shares, and what each replica caches of it.

    POST /learn ─► store.learn(user, text): appended; the oldest forgotten past the limits,
                   what is older than the expiry dropped; the user's revision changes
    /complete + user ─► Users.read: the user's revision in the store (one round trip)
        the revision this replica holds ─► its cached texts;  another ─► the texts, read
      ─► in the model thread, the user's model brought to those texts (only the new
         sentences counted, the gone ones forgotten: models/personal.py) and mixed in
    DELETE /users/<id> ─► store.delete, this replica's copies dropped; another replica
        drops its copy at the user's next request (no revision any more), or once the
        user has been idle for AUTOCOMPLETE_USER_CACHE_S
    store down (or slower than its timeout) ─► anonymous answers, /ready says why; the
        store is asked again after AUTOCOMPLETE_USER_STORE_RETRY_S

Stores, by AUTOCOMPLETE_USER_STORE: ``memory`` (SQLite in memory: this process only),
``sqlite:///path/users.db`` (a file: the workers of one host share it), ``redis://host:6379/0``
(every replica). A sentence is kept with the time it was learned; the texts are never
logged, and an error names the store and the cause, never what a user wrote.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sqlite3
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from models.completion import CompletionEngine
from models.personal import Adapter, PersonalConfig, PersonalModels, adapter, normalise

log = logging.getLogger("app.users")

Entry = tuple[str, float, str]  # key, time learned (time.time()), text


class StoreUnavailable(RuntimeError):
    """The store did not answer (down, unreachable, or slower than its timeout)."""


@dataclass(frozen=True)
class Limits:
    """What a store keeps of a user: the newest ``max_texts`` sentences, ``max_chars``
    characters in all, none older than ``ttl_s``."""

    max_texts: int = 200
    max_chars: int = 10000
    ttl_s: float = 30 * 86400.0


class UserStore(ABC):
    """The store's interface: a few calls, each one round trip (or one transaction)."""

    kind = "store"
    blocking = True  # calls wait on I/O: the service makes them in a thread

    def __init__(self, limits: Limits):
        self.limits = limits

    @abstractmethod
    def learn(self, user: str, text: str, now: float) -> None:
        """Append a sentence (normalised, at most ``max_chars``), trim, new revision."""

    @abstractmethod
    def revision(self, user: str, now: float) -> str | None:
        """The user's revision (changes with every learn), or None: nothing learned."""

    @abstractmethod
    def read(self, user: str, now: float) -> tuple[str, list[Entry]] | None:
        """The revision and the sentences, oldest first, or None: nothing learned."""

    @abstractmethod
    def delete(self, user: str) -> None:
        """Forget everything of the user."""

    @abstractmethod
    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""

    def close(self) -> None:  # noqa: B027 - a store without connections has nothing to do
        """Let go of connections."""


class SQLiteStore(UserStore):
    """SQLite: in memory (``:memory:``, this process) or a file (WAL: the processes of one
    host share it). One connection behind a lock; SQLite serialises writes anyway."""

    def __init__(self, path: str, limits: Limits):
        super().__init__(limits)
        self.path = path
        self.kind = "memory" if path == ":memory:" else "sqlite"
        self.blocking = path != ":memory:"
        self._lock = threading.Lock()
        self._purged = 0.0
        self._db: sqlite3.Connection | None = None  # opened at the first call

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                             timeout=5.0)
        try:
            if self.path != ":memory:":
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            db.executescript("""
                CREATE TABLE IF NOT EXISTS texts (user TEXT NOT NULL, key TEXT NOT NULL,
                    t REAL NOT NULL, chars INTEGER NOT NULL, text TEXT NOT NULL);
                CREATE INDEX IF NOT EXISTS texts_user ON texts (user);
                CREATE TABLE IF NOT EXISTS users (user TEXT PRIMARY KEY, rev TEXT NOT NULL,
                    t REAL NOT NULL);""")
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _run(self, fn: Any, *args: Any) -> Any:
        with self._lock:
            try:
                if self._db is None:
                    self._db = self._connect()
                return fn(*args)
            except sqlite3.Error as e:
                if self._db is not None and self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StoreUnavailable(f"{self.kind} store: {type(e).__name__}: {e}") from None

    def learn(self, user: str, text: str, now: float) -> None:
        self._run(self._learn, user, normalise(text)[-self.limits.max_chars:], now)

    def _learn(self, user: str, text: str, now: float) -> None:
        db, lim = self._db, self.limits
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO texts VALUES (?, ?, ?, ?, ?)",
                   (user, secrets.token_hex(8), now, len(text), text))
        rows = db.execute("SELECT rowid, chars, t FROM texts WHERE user = ? ORDER BY rowid DESC",
                          (user,)).fetchall()
        chars = 0
        for n, (rowid, c, t) in enumerate(rows):  # newest first: the first one over a limit
            chars += c
            if n and (n >= lim.max_texts or chars > lim.max_chars or t < now - lim.ttl_s):
                db.execute("DELETE FROM texts WHERE user = ? AND rowid <= ?", (user, rowid))
                break
        db.execute("INSERT INTO users VALUES (?, ?, ?) ON CONFLICT (user) DO UPDATE SET "
                   "rev = excluded.rev, t = excluded.t", (user, secrets.token_hex(8), now))
        if now - self._purged > 600:  # now and then, every user's expired texts go
            db.execute("DELETE FROM texts WHERE t < ?", (now - lim.ttl_s,))
            db.execute("DELETE FROM users WHERE t < ?", (now - lim.ttl_s,))
            self._purged = now
        db.execute("COMMIT")

    def revision(self, user: str, now: float) -> str | None:
        row = self._run(lambda: self._db.execute(
            "SELECT rev FROM users WHERE user = ? AND t >= ?",
            (user, now - self.limits.ttl_s)).fetchone())
        return row[0] if row else None

    def read(self, user: str, now: float) -> tuple[str, list[Entry]] | None:
        def read() -> tuple[str, list[Entry]] | None:
            oldest = now - self.limits.ttl_s
            row = self._db.execute("SELECT rev FROM users WHERE user = ? AND t >= ?",
                                   (user, oldest)).fetchone()
            if row is None:
                return None
            texts = self._db.execute("SELECT key, t, text FROM texts WHERE user = ? AND "
                                     "t >= ? ORDER BY rowid", (user, oldest)).fetchall()
            return row[0], [(k, t, x) for k, t, x in texts]
        return self._run(read)

    def delete(self, user: str) -> None:
        def delete() -> None:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM texts WHERE user = ?", (user,))
            self._db.execute("DELETE FROM users WHERE user = ?", (user,))
            self._db.execute("COMMIT")
        self._run(delete)

    def ping(self) -> None:
        self._run(lambda: self._db.execute("SELECT 1").fetchone())

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


# Append, then trim from the oldest: past the count, past the characters, expired. The
# revision is a fresh random token, so a user deleted and taught again never gets back a
# revision a replica still holds. Both keys expire with the last sentence.
_LEARN = """
redis.call('RPUSH', KEYS[1], ARGV[1])
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
local now, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local max_texts, max_chars = tonumber(ARGV[5]), tonumber(ARGV[6])
local n, chars = #entries, 0
for i = n, 1, -1 do
  local _, _, t, c = string.find(entries[i], '^[^\\t]*\\t([^\\t]*)\\t([^\\t]*)\\t')
  chars = chars + tonumber(c)
  if i < n and (n - i + 1 > max_texts or chars > max_chars or tonumber(t) * 1000 + ttl < now) then
    redis.call('LTRIM', KEYS[1], i, -1)
    break
  end
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return n
"""


class RedisStore(UserStore):
    """Redis: a list of sentences and a revision a user (``autocomplete:user:{id}:texts``,
    ``...:rev``), both expiring with the last sentence learned. Every call has a timeout."""

    kind = "redis"

    def __init__(self, url: str, limits: Limits, timeout_s: float = 0.25):
        super().__init__(limits)
        import redis  # only where a Redis store is configured

        self._errors = (redis.RedisError, OSError)
        self._redis = redis.Redis.from_url(url, socket_timeout=timeout_s,
                                           socket_connect_timeout=timeout_s,
                                           decode_responses=True)
        self._learn = self._redis.register_script(_LEARN)
        where = self._redis.connection_pool.connection_kwargs
        self.where = f"{where.get('host', '?')}:{where.get('port', '?')}"

    @staticmethod
    def _keys(user: str) -> tuple[str, str]:
        base = f"autocomplete:user:{{{user}}}"
        return f"{base}:texts", f"{base}:rev"

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except self._errors as e:
            raise StoreUnavailable(f"redis store {self.where}: {type(e).__name__}") from None

    def learn(self, user: str, text: str, now: float) -> None:
        text = normalise(text)[-self.limits.max_chars:]
        entry = f"{secrets.token_hex(8)}\t{now:.3f}\t{len(text)}\t{text}"
        self._call(self._learn, list(self._keys(user)),
                   [entry, secrets.token_hex(8), int(now * 1000), int(self.limits.ttl_s * 1000),
                    self.limits.max_texts, self.limits.max_chars])

    def revision(self, user: str, now: float) -> str | None:
        return self._call(self._redis.get, self._keys(user)[1])

    def read(self, user: str, now: float) -> tuple[str, list[Entry]] | None:
        texts, rev = self._keys(user)

        def read() -> tuple[str | None, list[str]]:
            pipe = self._redis.pipeline(transaction=True)
            pipe.get(rev)
            pipe.lrange(texts, 0, -1)
            return tuple(pipe.execute())
        got_rev, raw = self._call(read)
        if got_rev is None:
            return None
        oldest, entries = now - self.limits.ttl_s, []
        for item in raw:
            key, t, _, text = item.split("\t", 3)
            if float(t) >= oldest:
                entries.append((key, float(t), text))
        return got_rev, entries

    def delete(self, user: str) -> None:
        self._call(self._redis.delete, *self._keys(user))

    def ping(self) -> None:
        self._call(self._redis.ping)

    def close(self) -> None:
        self._redis.close()


def open_store(spec: str, limits: Limits, timeout_s: float = 0.25) -> UserStore:
    """The store AUTOCOMPLETE_USER_STORE names: ``memory``, ``sqlite:///path`` or
    ``redis://host:port/db`` (``rediss://`` for TLS)."""
    if spec in ("memory", "sqlite://", "sqlite:///:memory:"):
        return SQLiteStore(":memory:", limits)
    if spec.startswith("sqlite:///"):
        return SQLiteStore(spec[len("sqlite:///"):] or ":memory:", limits)
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(spec, limits, timeout_s)
    raise ValueError("AUTOCOMPLETE_USER_STORE must be memory, sqlite:///PATH or "
                     "redis://HOST:PORT/DB")


@dataclass(frozen=True)
class UserText:
    """What a replica read of one user: the revision and its sentences."""

    user: str
    rev: str
    entries: tuple[Entry, ...]


class Users:
    """One replica's side of the store: reads with a cache, the user models of each loaded
    engine, the store's health. Never raises to a /complete: a store that fails gives None
    (anonymous answers) and is left alone for ``retry_s``."""

    def __init__(self, store: UserStore, max_users: int = 500, cache_s: float = 300.0,
                 retry_s: float = 2.0, config: PersonalConfig | None = None):
        self.store, self.max_users, self.cache_s, self.retry_s = store, max_users, cache_s, \
            retry_s
        self.config = config  # the user models' order and weights (None: models/personal.py's)
        self._lock = threading.Lock()
        self._texts: OrderedDict[str, tuple[UserText, float]] = OrderedDict()  # + last used
        self._models: weakref.WeakKeyDictionary[CompletionEngine, PersonalModels] = \
            weakref.WeakKeyDictionary()
        self._down_until = 0.0
        self.reason: str | None = None  # why the store is away, while it is
        self._sweeper: threading.Thread | None = None
        self._closed = threading.Event()
        self.clock = time.time  # the time texts are learned at and expire by

    # --- the store, in a thread when it blocks ------------------------------------
    async def _ask(self, fn: Any, *args: Any) -> Any:
        if self.store.blocking:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    def _failed(self, error: StoreUnavailable) -> None:
        if self.reason is None:
            log.warning("user store unavailable, answering anonymously: %s", error)
        self.reason = str(error)
        self._down_until = time.monotonic() + self.retry_s

    def _answered(self) -> None:
        if self.reason is not None:
            log.info("user store answers again")
        self.reason = None

    @property
    def down(self) -> bool:
        return self.reason is not None and time.monotonic() < self._down_until

    async def read(self, user: str) -> UserText | None:
        """The user's texts at the store's revision, or None: nothing learned, or the store
        is away (anonymous answers either way)."""
        if self.down:
            return None
        now = self.clock()
        try:
            rev = await self._ask(self.store.revision, user, now)
            held = self._held(user)
            if rev is not None and (held is None or held.rev != rev):
                got = await self._ask(self.store.read, user, now)
                rev, entries = got if got else (None, [])
                held = UserText(user, rev, tuple(entries)) if rev else None
        except StoreUnavailable as e:
            self._failed(e)
            return None
        self._answered()
        if rev is None:
            self.drop(user)  # deleted or expired elsewhere: no copy kept here
            return None
        assert held is not None
        self._keep(held)
        return held

    async def learn(self, user: str, text: str) -> None:
        """Teach the store a sentence; StoreUnavailable if it cannot."""
        try:
            await self._ask(self.store.learn, user, text, self.clock())
        except StoreUnavailable as e:
            self._failed(e)
            raise
        self._answered()

    async def forget(self, user: str) -> None:
        """Delete the user from the store and from this replica; StoreUnavailable if the
        store cannot (then nothing is dropped here either, and the client must retry)."""
        try:
            await self._ask(self.store.delete, user)
        except StoreUnavailable as e:
            self._failed(e)
            raise
        self._answered()
        self.drop(user)

    async def health(self) -> dict[str, Any]:
        """For /ready: the store's kind and whether it answers now."""
        try:
            await self._ask(self.store.ping)
        except StoreUnavailable as e:
            self._failed(e)
        else:
            self._answered()
        return {"kind": self.store.kind, "status": "down" if self.reason else "ok",
                "reason": self.reason, "users_cached": len(self._texts)}

    # --- this replica's copies ----------------------------------------------------
    def _held(self, user: str) -> UserText | None:
        with self._lock:
            held = self._texts.get(user)
        return held[0] if held else None

    def _keep(self, text: UserText) -> None:
        with self._lock:
            self._texts[text.user] = (text, time.monotonic())
            self._texts.move_to_end(text.user)
            while len(self._texts) > self.max_users:
                self._texts.popitem(last=False)
        self._start_sweeper()

    def drop(self, user: str) -> None:
        """Forget the user on this replica: texts and every engine's model."""
        with self._lock:
            self._texts.pop(user, None)
            models = list(self._models.values())
        for m in models:
            m.drop(user)

    def sweep(self) -> int:
        """Drop the users idle for ``cache_s``; how many."""
        limit = time.monotonic() - self.cache_s
        with self._lock:
            idle = [u for u, (_, used) in self._texts.items() if used < limit]
        for user in idle:
            self.drop(user)
        return len(idle)

    def _start_sweeper(self) -> None:
        if self._sweeper is not None:
            return
        ref = weakref.ref(self)
        closed = self._closed

        def run() -> None:
            while not closed.wait(min(self.cache_s, 60.0)):
                users = ref()
                if users is None:
                    return
                users.sweep()
                del users
        self._sweeper = threading.Thread(target=run, name="users-sweep", daemon=True)
        self._sweeper.start()

    def close(self) -> None:
        self._closed.set()
        self.store.close()

    # --- in the model thread ------------------------------------------------------
    def adapter(self, text: UserText, engine: CompletionEngine) -> Adapter | None:
        """The search's adapter for the user on this engine (its model brought up to
        ``text``), or None if nothing of the user is left (expired)."""
        with self._lock:
            models = self._models.get(engine)
            if models is None:
                models = self._models[engine] = PersonalModels(
                    engine.tok, self.max_users, self.config,
                    max_context_chars=engine.max_context_chars)
        model = models.sync(text.user, text.rev, text.entries,
                            oldest=self.clock() - self.store.limits.ttl_s)
        return adapter(model, engine.tok.starts_word) if model is not None else None
