"""Who may call the API and how often: API keys, per-key rate limits, and request admission.

* **Keys** live in ``serve.api_keys_file`` (JSON ``{"keys": [{"name", "key", "created_at"}]}``,
  mode 0600). The embedded default makes one key, named "default", the first time the service or
  ``musiclake keys`` runs and says where it is. Add keys with ``musiclake keys --add NAME``;
  remove one by deleting its entry (replicas re-read the file when it changes). An entry may say
  ``"tenant": "team-a"`` (keys of one tenant read each other's pieces; default: the key's own name)
  and ``"admin": true`` (reads every piece and record). A file that turns unreadable leaves the
  keys read last in force (and says so in the server log); with none ever read, requests get 503.
* **Rate limits**: a token bucket per key, ``serve.rate_burst`` deep, refilled at
  ``serve.rate_limit_per_min``; a key's entry may set its own ``rate_limit_per_min`` and ``rate_burst``. An empty bucket is a 429 whose Retry-After says when a token is back.
  The bucket is per replica: with N replicas a key's ceiling is N times the setting.
* **Admission**: a replica runs ``serve.max_concurrent`` generations and lets ``serve.max_queue``
  wait. A request beyond that is answered at once with 503 and a Retry-After estimated from the
  recent generation time, instead of waiting behind a growing queue.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import math
import os
import secrets
import threading
import time
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path


class KeyFileError(RuntimeError):
    """The API key file cannot be read or written (the message names ``serve.api_keys_file``)."""


def _read_keys(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text())
        keys = data["keys"]
        if not all(isinstance(k.get("key"), str) and k["key"] for k in keys):
            raise ValueError("an entry has no 'key'")
        return keys
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise KeyFileError(f"serve.api_keys_file {path}: not a key file ({type(e).__name__}: {e})") from None


def _write_keys(path: Path, keys: list[dict]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"keys": keys}, f, indent=1)
        os.replace(tmp, path)
    except OSError as e:
        raise KeyFileError(f"serve.api_keys_file {path}: cannot write ({e.strerror})") from None


def new_key() -> str:
    return "mlk_" + secrets.token_urlsafe(24)


def ensure_keys(path: str | os.PathLike) -> tuple[list[dict], bool]:
    """The keys in ``path``, making the file with one "default" key when it does not exist; (keys, made)."""
    path = Path(path)
    if path.exists():
        return _read_keys(path), False
    keys = [{"name": "default", "key": new_key(), "created_at": datetime.now(timezone.utc).isoformat()}]
    _write_keys(path, keys)
    return keys, True


def add_key(path: str | os.PathLike, name: str, tenant: str | None = None, admin: bool = False) -> str:
    """Make a key named ``name`` (in ``tenant``: keys of one tenant read each other's pieces; ``admin``: reads
    all); returns the key, which is shown only now."""
    path = Path(path)
    keys, _ = ensure_keys(path)
    if any(k.get("name") == name for k in keys):
        raise KeyFileError(f"serve.api_keys_file {path}: a key named {name!r} exists already")
    key = new_key()
    entry = {"name": name, "key": key, "created_at": datetime.now(timezone.utc).isoformat()}
    entry |= ({"tenant": tenant} if tenant else {}) | ({"admin": True} if admin else {})
    _write_keys(path, keys + [entry])
    return key


class KeyRing:
    """The known keys, re-read when the file's modification time changes; ``entry(key)`` or None.

    A file that cannot be read keeps the keys read before in force; ``problem`` says why (for the
    server log). With no good read ever, :class:`KeyFileError` is raised to the caller (a 503).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._mtime = -1.0
        self._keys: dict[str, dict] | None = None
        self._lock = threading.Lock()
        self.problem: str | None = None
        try:
            ensure_keys(self.path)
        except KeyFileError as e:
            self.problem = str(e)

    def _refresh(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            mtime = -2.0  # the file was removed: no key is valid until it is back
        if mtime != self._mtime:
            with self._lock:
                try:
                    keys = _read_keys(self.path) if mtime >= 0 else []
                    self.problem = None
                    self._keys = {k["key"]: k for k in keys}
                except KeyFileError as e:
                    self.problem = str(e)
                    if self._keys is None:
                        raise
                self._mtime = mtime

    def entry(self, key: str | None) -> dict | None:
        """The key file's entry for ``key`` (name, optional own rate limits), or None for an unknown key."""
        if not key:
            return None
        self._refresh()
        if self._keys is None:
            raise KeyFileError(self.problem or f"serve.api_keys_file {self.path}: not read")
        found = None
        for known, entry in self._keys.items():  # compare with every key, in constant time each
            if hmac.compare_digest(known.encode(), key.encode()):
                found = entry
        return found


class RateLimiter:
    """Token buckets per key: ``take(key)`` is 0 when the request may go, else seconds until it may."""

    def __init__(self, per_minute: float, burst: int):
        self.per_minute, self.burst = per_minute, burst
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str, now: float | None = None, per_minute: float | None = None,
             burst: int | None = None, cost: float = 1.0) -> float:
        """Spend ``cost`` of ``key``'s tokens; ``per_minute`` and ``burst`` override the defaults for this key."""
        now = time.monotonic() if now is None else now
        rate = (per_minute or self.per_minute) / 60.0
        depth = float(burst or self.burst)
        tokens, at = self._buckets.get(key, (depth, now))
        tokens = min(depth, tokens + (now - at) * rate)
        cost = min(float(cost), depth)  # a cost above the bucket's depth could never be paid
        if tokens >= cost:
            self._buckets[key] = (tokens - cost, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (cost - tokens) / rate


class Busy(Exception):
    """Every generation slot and queue place is taken; ``retry_after`` is whole seconds."""

    def __init__(self, retry_after: int, waiting: int):
        super().__init__(f"busy: {waiting} generations waiting; retry in {retry_after} s")
        self.retry_after = retry_after


class Admission:
    """At most ``slots`` holders at once and ``queue`` waiting; beyond that :class:`Busy` at once."""

    def __init__(self, slots: int, queue: int):
        self.slots, self.queue = slots, queue
        self._sem = asyncio.Semaphore(slots)
        self.running = 0
        self.waiting = 0
        self._mean_s = 1.0  # moving average of how long a slot is held

    def retry_after(self) -> int:
        return max(1, math.ceil((self.waiting + 1) / self.slots * self._mean_s))

    def check(self) -> None:
        """:class:`Busy` now if a request arriving now would be refused (before any work is done for it)."""
        if self.running >= self.slots and self.waiting >= self.queue:
            raise Busy(self.retry_after(), self.waiting)

    @asynccontextmanager
    async def slot(self):
        self.check()
        self.waiting += 1
        try:
            await self._sem.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.running -= 1
            self._mean_s = 0.8 * self._mean_s + 0.2 * (time.monotonic() - t0)
            self._sem.release()
