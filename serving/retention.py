"""How long the piece store keeps things and how much it may hold: age, total size, per-key quota.

The policy lives in ``serve.*`` (``retention_days``, ``store_max_bytes``, ``key_quota_bytes``) and
is applied when a replica starts, every ``serve.prune_every_s``, as soon as a write takes the store
or a key past its line, and by ``musiclake pieces prune``. One pass, in this order:

1. **Age**: pieces (notes, records, renderings) and uploads not asked for within ``retention_days``.
2. **Per-key quota**: a key past ``key_quota_bytes`` loses, oldest first, renderings of its pieces
   (cheap to make again), then its pieces, then its uploads. A piece another key also asked for
   stays: only this key's record goes, and the piece no longer counts against it.
3. **Total**: while the store is over ``store_max_bytes``: renderings, then pieces, then uploads,
   oldest first.

A line counts as crossed past ``HIGH_WATER`` (98 %) of it, and a pass that has to cut goes on to
``LOW_WATER`` (90 %), so the next small write does not start another and writes that land during a
pass stay under the line. A render about to be written first asks for room for its estimated size.
Pinned pieces (being rendered or served by this process) are skipped; a file already opened for a
response stays readable to its end even when deleted (POSIX), so a response is never cut off.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field

from serving.store import Item, PieceStore

LOW_WATER = 0.9  # a pass that cuts goes down to this share of the line it crossed
HIGH_WATER = 0.98  # a replica prunes once its count passes this share: small writes landing meanwhile stay under
_ORDER = {"render": 0, "piece": 1, "upload": 2}


@dataclass(frozen=True)
class Policy:
    max_age_s: float
    max_bytes: int
    key_quota_bytes: int

    @classmethod
    def from_config(cls, cfg) -> "Policy":
        s = cfg.serve
        return cls(max_age_s=s.retention_days * 86400.0, max_bytes=s.store_max_bytes,
                   key_quota_bytes=s.key_quota_bytes)


@dataclass
class Usage:
    """What the store holds: bytes in all, per kind, per key; item counts per kind."""

    total: int = 0
    by_kind: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    by_key: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @classmethod
    def of(cls, items: list[Item]) -> "Usage":
        u = cls()
        for it in items:
            u.total += it.bytes
            u.by_kind[it.kind] += it.bytes
            u.counts[it.kind] += 1
            for key in it.owners:
                u.by_key[key] += it.bytes
        return u


@dataclass
class Report:
    before: Usage
    after: Usage
    removed: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # "age:piece" -> count
    freed: int = 0
    skipped_pinned: int = 0

    def summary(self) -> str:
        what = ", ".join(f"{n} {k}" for k, n in sorted(self.removed.items())) or "nothing"
        return (f"removed {what}; freed {human_size(self.freed)}; store {human_size(self.before.total)} -> "
                f"{human_size(self.after.total)}" + (f"; {self.skipped_pinned} in use left alone"
                                                 if self.skipped_pinned else ""))


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def prune(store: PieceStore, policy: Policy, now: float | None = None, pinned: set[str] | None = None,
          room: int = 0, room_key: str | None = None) -> Report:
    """Apply ``policy`` to ``store`` once; what was removed and the usage before and after.

    A line counts as crossed past ``HIGH_WATER`` of it; ``room`` bytes more are made free for ``room_key``
    (a render about to be written), under the key's quota and the store's ceiling alike."""
    now = time.time() if now is None else now
    pinned = store.pinned() if pinned is None else pinned
    items = store.scan()
    report = Report(before=Usage.of(items), after=Usage())
    alive = list(items)

    def renders_of(piece_id: str) -> list[Item]:
        return [it for it in alive if it.kind == "render" and it.id == piece_id]

    def remove(it: Item, reason: str) -> None:
        doomed = (renders_of(it.id) if it.kind == "piece" else []) + [it]  # renders first: each counted once
        for d in doomed:
            report.freed += store.remove(d)
            report.removed[f"{reason}:{d.kind}"] += 1
            alive.remove(d)

    def usable(it: Item) -> bool:
        if it.kind != "upload" and it.id in pinned:
            report.skipped_pinned += 1
            return False
        return True

    # 1. age: a piece or upload nobody asked for within the retention period
    for it in [i for i in alive if i.kind in ("piece", "upload") and now - i.at > policy.max_age_s]:
        if it in alive and usable(it):
            remove(it, "age")

    # 2. per-key quota
    usage = Usage.of(alive).by_key
    if room_key is not None:
        usage.setdefault(room_key, 0)
    quota_line = policy.key_quota_bytes * HIGH_WATER

    def need(key: str) -> int:
        return room if key == room_key else 0

    for key in sorted(k for k, b in usage.items() if b + need(k) > quota_line):
        if usage[key] + need(key) <= quota_line:  # back under: another key's cuts freed shared renders
            continue
        target = policy.key_quota_bytes * LOW_WATER - need(key)
        for it in sorted((i for i in alive if key in i.owners), key=lambda i: (_ORDER[i.kind], i.at)):
            if usage[key] <= target:
                break
            if it not in alive or not usable(it):
                continue
            if it.kind == "render" or set(it.owners) == {key}:
                doomed = [it] + (renders_of(it.id) if it.kind == "piece" else [])
                for d in doomed:
                    for owner in d.owners:
                        usage[owner] -= d.bytes
                remove(it, "quota")
            else:  # shared: this key's records go, the piece stays for the others
                freed = store.drop_owner(it, key)
                report.freed += freed
                report.removed[f"quota:{it.kind}-record"] += 1
                usage[key] -= it.bytes + sum(r.bytes for r in renders_of(it.id))

    # 3. the whole store's ceiling
    total = sum(i.bytes for i in alive)
    if total + room > policy.max_bytes * HIGH_WATER:
        target = policy.max_bytes * LOW_WATER - room
        for it in sorted(list(alive), key=lambda i: (_ORDER[i.kind], i.at)):
            if total <= target:
                break
            if it not in alive or not usable(it):
                continue
            before = sum(i.bytes for i in alive)
            remove(it, "size")
            total -= before - sum(i.bytes for i in alive)

    report.after = Usage.of(store.scan())
    return report


class Pruner:
    """A replica's view of the store's usage, kept between full passes, and the passes themselves.

    ``note`` adds what a request wrote; when the store or the writing key crosses its line, the
    caller runs :meth:`run` (in a worker thread) before answering, so the store stays under its
    ceiling however fast one key writes. ``room_for`` is asked before a large render.
    """

    def __init__(self, store: PieceStore, policy: Policy):
        self.store, self.policy = store, policy
        self._lock = threading.Lock()
        self.total, self.by_key = 0, defaultdict(int)
        self.last: Report | None = None

    def run(self, room: int = 0, key: str | None = None) -> Report:
        """A full pass; ``room`` bytes more are made free for ``key`` (a render about to be written)."""
        with self._lock:
            report = prune(self.store, self.policy, room=room, room_key=key)
            self.total, self.by_key = report.after.total, defaultdict(int, report.after.by_key)
            self.last = report
            return report

    def note(self, key: str, written: int) -> bool:
        """Count ``written`` bytes for ``key``; True when a pass is due now."""
        self.total += written
        self.by_key[key] += written
        return not self.room_for(key, 0)

    def room_for(self, key: str, size: int) -> bool:
        """True when ``size`` more bytes keep the store and ``key`` under their lines (no pass needed)."""
        return (self.total + size <= self.policy.max_bytes * HIGH_WATER
                and self.by_key[key] + size <= self.policy.key_quota_bytes * HIGH_WATER)
