"""The crawl frontier, owned by the driver: what to fetch next, breadth first, and what not to fetch.

Pages and files are nodes of one breadth-first walk (a file found on a page at depth d sits at
depth d + 1). A URL is fetched at most once per run; files already in bronze are not fetched again;
pages stop at ``max_depth`` hops from a seed and at ``max_pages``; hosts outside the allowed domains
and non-HTTP schemes are refused with a reason the caller records as a crawl error.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from urllib.parse import urldefrag, urlsplit

from ingest.fetch import Task
from musiclake.config import SourceConfig


def _host_port(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return host, f"{host}:{parts.port}" if parts.port else host


def allowed_hosts(source: SourceConfig) -> list[str]:
    """The source's ``allowed_domains``, else the hosts (with port) of its seeds."""
    return [d.lower() for d in source.allowed_domains] or sorted({_host_port(s)[1] for s in source.seeds})


def host_allowed(url: str, allowed: list[str]) -> bool:
    """``host:port`` entries match exactly; plain host entries match the host and its subdomains, any port."""
    host, host_port = _host_port(url)
    for entry in allowed:
        if ":" in entry:
            if host_port == entry:
                return True
        elif host == entry or host.endswith("." + entry):
            return True
    return False


class Frontier:
    def __init__(self, source: SourceConfig, known: dict[str, set[str]] | None = None):
        self.source = source
        self.allowed = allowed_hosts(source)
        self.known = known or {}  # kind -> URLs already landed in bronze
        self.seen: set[str] = set()
        self.skipped: Counter[str] = Counter()  # why URLs were left out, by kind of reason
        self.pages_queued = 0
        self._heap: list[tuple[int, int, Task]] = []
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
            return f"host {_host_port(url)[1]} not in allowed_domains ({', '.join(self.allowed)})"
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
        if url != task.url:
            task = Task(task.kind, url, task.depth, task.referrer, task.title, task.attrs)
        heapq.heappush(self._heap, (task.depth, next(self._seq), task))
        return None

    def pop_batch(self, n: int) -> list[Task]:
        """Up to ``n`` tasks, shallowest first, in discovery order within a depth."""
        return [heapq.heappop(self._heap)[2] for _ in range(min(n, len(self._heap)))]

    def __len__(self) -> int:
        return len(self._heap)
