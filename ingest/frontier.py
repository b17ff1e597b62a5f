"""The crawl frontier, owned by the driver: what to fetch next, partitioned by host, and what not to fetch.

Pages and files are nodes of one breadth-first walk (a file found on a page at depth d sits at
depth d + 1). Each host has its own queue, so the driver can keep every host busy up to its own
concurrency limit without one slow or rate-limited host holding up the others. A URL is queued at
most once per crawl; pages stop at ``max_depth`` hops from a seed and at ``max_pages``; hosts outside
the allowed domains and non-HTTP schemes are refused with a reason the caller records. A crawl that
was interrupted is rebuilt from its persisted state (:mod:`ingest.frontier_store`) with
:meth:`Frontier.restore`.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from dataclasses import replace
from urllib.parse import urldefrag, urlsplit

from ingest.fetch import Task, allowed_hosts, host_allowed, host_port, origin
from common.config import SourceConfig

__all__ = ["Frontier", "allowed_hosts", "host_allowed"]


class Frontier:
    def __init__(self, source: SourceConfig, known: dict[str, set[str]] | None = None):
        self.source = source
        self.allowed = allowed_hosts(source)
        self.known = known or {}  # kind -> URLs not to fetch again (already landed)
        self.seen: set[str] = set()
        self.skipped: Counter[str] = Counter()  # why URLs were left out, by kind of reason
        self.pages_queued = 0
        self._queues: dict[str, list[tuple[int, int, Task]]] = {}  # origin -> heap of (depth, seq, task)
        self._seq = itertools.count()

    def add(self, task: Task) -> str | None:
        """Queue ``task`` unless seen or out of bounds; returns a refusal reason to record, else None."""
        url = urldefrag(task.url)[0]
        if url in self.seen:
            return None
        self.seen.add(url)
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            return f"unsupported scheme {scheme or 'none'!r}: only http and https are crawled"
        if not host_allowed(url, self.allowed):
            return f"host {host_port(url)[1]} not in allowed_domains ({', '.join(self.allowed)})"
        if url in self.known.get(task.kind, ()):
            self.skipped[f"{task.kind}_already_present"] += 1
            return None
        if task.kind == "page":
            if task.depth > self.source.max_depth:
                self.skipped["beyond_max_depth"] += 1
                return None
            if self.pages_queued >= self.source.max_pages:
                self.skipped["beyond_max_pages"] += 1
                return None
            self.pages_queued += 1
        self._push(replace(task, url=url) if url != task.url else task)
        return None

    def restore(self, queued: list[Task], done: set[str]) -> None:
        """Rebuild an interrupted crawl: every queued URL counts as seen; those not done are queued again."""
        for task in queued:
            if task.url in self.seen:
                continue
            self.seen.add(task.url)
            self.pages_queued += task.kind == "page"
            if task.url not in done:
                self._push(task)

    def _push(self, task: Task) -> None:
        heapq.heappush(self._queues.setdefault(origin(task.url), []), (task.depth, next(self._seq), task))

    def hosts(self) -> list[str]:
        """Origins with queued URLs, the one holding the shallowest URL first."""
        return [h for _, h in sorted((q[0][:2], h) for h, q in self._queues.items() if q)]

    def queued(self, host: str) -> int:
        return len(self._queues.get(host, ()))

    def pop_batch(self, n: int, host: str | None = None) -> list[Task]:
        """Up to ``n`` tasks of one host (default: the host of the shallowest URL), shallowest first,
        in discovery order within a depth; with ``host=None`` and one host, simply the next ``n``."""
        if host is None:
            out = []
            while len(out) < n and len(self):
                out.append(self._pop(self.hosts()[0]))
            return out
        return [self._pop(host) for _ in range(min(n, self.queued(host)))]

    def _pop(self, host: str) -> Task:
        task = heapq.heappop(self._queues[host])[2]
        if not self._queues[host]:
            del self._queues[host]
        return task

    def __len__(self) -> int:
        return sum(len(q) for q in self._queues.values())
