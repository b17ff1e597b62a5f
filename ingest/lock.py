"""One ingest at a time per source: a lease kept in the Delta table ``bronze_ingest_leases``.

Landing is idempotent on its own (content MERGEs, app transactions), so two overlapping runs of
``musiclake ingest run --source NAME`` could not duplicate or lose anything; the lease keeps them
from crawling the same site twice at once, which would double the load on it.

How it is atomic on any storage delta-rs writes to (local disk, S3, GCS, ADLS): every lease event
(acquire, renew, release) is a row with the next sequence number ``seq`` of its source, inserted by
a MERGE on the key ``(source, seq)``. When two runs race for the same ``seq``, either delta-rs
refuses the later commit (a concurrent transaction added data it should have read) or the later
MERGE already sees the row and inserts nothing, so exactly one of them holds the lease. A holder
renews every third of the TTL from a background thread; a holder that died (SIGKILL, lost node)
stops renewing and its lease expires, after which the next run takes over; on the same host a
holder whose process is gone is seen as dead at once, so a killed run resumes without waiting.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pyarrow as pa
from deltalake.exceptions import CommitFailedError

from lake.delta import Lake
from lake.schemas import BRONZE_INGEST_LEASES
from common.runinfo import new_run_id

ACQUIRE_ATTEMPTS = 5


class LeaseHeld(RuntimeError):
    """Another live run holds the source's lease; the message says who and until when."""


@dataclass(frozen=True)
class LeaseRow:
    source: str
    seq: int
    event: str
    holder: str
    host: str
    pid: int
    at: datetime
    expires_at: datetime

    def live(self, now: datetime) -> bool:
        """Held: not released, not expired, and (when the holder ran on this host) its process is alive."""
        return self.event != "release" and self.expires_at > now and not self.holder_died()

    def holder_died(self) -> bool:
        """True when the holder ran on this machine and its process is gone (killed, crashed)."""
        if self.host != socket.gethostname() or self.pid == os.getpid():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


def current_lease(lake: Lake, source: str) -> LeaseRow | None:
    """The latest lease event of ``source`` (None before the first run)."""
    rows = lake.read(BRONZE_INGEST_LEASES, filters=[("source", "=", source)])
    if rows.num_rows == 0:
        return None
    latest = max(rows.to_pylist(), key=lambda r: r["seq"])
    return LeaseRow(**latest)


class SourceLease:
    """``with SourceLease(lake, "site"):`` holds the source's lease for the block, or raises :class:`LeaseHeld`."""

    def __init__(self, lake: Lake, source: str, ttl_s: float = 600.0, holder: str | None = None):
        self.lake, self.source, self.ttl = lake, source, timedelta(seconds=ttl_s)
        self.holder = holder or new_run_id("lease")
        self.lost: str | None = None  # set when a renewal found the lease taken over
        self.seq: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the one write ------------------------------------------------------------------------
    def _write(self, event: str, after: LeaseRow | None, expires_at: datetime) -> bool:
        """Insert the event as ``after.seq + 1``; False when another run got that seq first."""
        seq = (after.seq if after else 0) + 1
        row = {"source": self.source, "seq": seq, "event": event, "holder": self.holder, "host": socket.gethostname(),
               "pid": os.getpid(), "at": datetime.now(timezone.utc), "expires_at": expires_at}
        try:
            _, inserted = self.lake.insert_new(BRONZE_INGEST_LEASES,
                                               pa.Table.from_pylist([row], schema=BRONZE_INGEST_LEASES.schema),
                                               metadata={"job": "ingest-lease", "event": event, "holder": self.holder})
        except CommitFailedError:
            return False
        if inserted:
            self.seq = seq
        return bool(inserted)

    # -- acquire / renew / release ------------------------------------------------------------
    def acquire(self) -> "SourceLease":
        for _ in range(ACQUIRE_ATTEMPTS):
            latest = current_lease(self.lake, self.source)
            now = datetime.now(timezone.utc)
            if latest is not None and latest.holder != self.holder and latest.live(now):
                raise LeaseHeld(f"source {self.source!r} is being ingested by {latest.holder} "
                                f"(host {latest.host}, pid {latest.pid}) since {latest.at:%Y-%m-%d %H:%M:%S} UTC; "
                                f"its lease runs until {latest.expires_at:%H:%M:%S} UTC")
            if self._write("acquire", latest, now + self.ttl):
                return self
            # another run wrote the same seq first: look again
        raise LeaseHeld(f"source {self.source!r}: lease contended by other runs {ACQUIRE_ATTEMPTS} times in a row")

    def renew(self) -> bool:
        """Extend the lease; False (and ``lost`` set) if another run holds it now."""
        for _ in range(ACQUIRE_ATTEMPTS):
            latest = current_lease(self.lake, self.source)
            if latest is None or latest.holder != self.holder or latest.event == "release":
                self.lost = f"lease of {self.source!r} taken over by {latest.holder if latest else 'nobody'}"
                return False
            if self._write("renew", latest, datetime.now(timezone.utc) + self.ttl):
                return True
        return False

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for _ in range(ACQUIRE_ATTEMPTS):
            latest = current_lease(self.lake, self.source)
            if latest is None or latest.holder != self.holder or latest.event == "release":
                return
            if self._write("release", latest, datetime.now(timezone.utc)):
                return

    def _renew_loop(self) -> None:
        every = self.ttl.total_seconds() / 3
        while not self._stop.wait(every):
            try:
                if not self.renew():
                    return
            except Exception as e:  # storage hiccup: try again next period; the lease outlives two misses
                self.lost = f"renewal failed: {type(e).__name__}: {e}"

    def __enter__(self) -> "SourceLease":
        self.acquire()
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_loop, name=f"lease-{self.source}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
