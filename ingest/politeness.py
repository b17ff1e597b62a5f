"""Per-host politeness that holds across every fetch worker of a run: robots.txt, rate, concurrency.

:class:`Politeness` is the book for one source: for each origin (scheme://host:port) it fetches
robots.txt once and keeps its rules, and hands out request slots so that, all workers together,

* no more than ``per_host_concurrency`` requests are in flight to the host, and
* consecutive requests start at least ``max(1 / requests_per_second, robots Crawl-delay)`` apart.

The robots.txt request itself takes a slot like any other (before its rules are known, at the
rate limit's interval). A Crawl-delay above ``max_crawl_delay_s`` skips the host rather than stalling the run. The crawler
runs one book per run as a named Ray actor (:func:`start_gate`) that every fetch actor calls through
:class:`RemoteGate`; tests and single-process use call a :class:`Politeness` directly.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ingest.robots import ALLOW_ALL, RobotsRules, product_token
from common.config import SourceConfig


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


@dataclass
class _Host:
    cond: threading.Condition = field(default_factory=threading.Condition)
    robots_lock: threading.Lock = field(default_factory=threading.Lock)
    rules: RobotsRules | None = None
    in_flight: int = 0
    next_at: float = 0.0
    last_at: float = 0.0  # when the last request's slot began
    requests: int = 0
    waited_s: float = 0.0


class Politeness:
    def __init__(self, source: SourceConfig, clock=time.monotonic, sleep=time.sleep):
        self.source = source
        self._clock, self._sleep = clock, sleep  # tests give a clock they control
        self.token = product_token(source.user_agent)
        self._lock = threading.Lock()
        self._hosts: dict[str, _Host] = {}

    def _host(self, url: str) -> _Host:
        key = _origin(url)
        with self._lock:
            host = self._hosts.get(key)
            if host is None:
                host = self._hosts[key] = _Host()
            return host

    def rules(self, url: str) -> RobotsRules:
        """robots.txt rules for ``url``'s origin, fetched once (other callers wait for that one fetch)."""
        if not self.source.obey_robots:
            return ALLOW_ALL
        host = self._host(url)
        if host.rules is None:
            with host.robots_lock:
                if host.rules is None:
                    from ingest.fetch import Fetcher

                    self._take_slot(host, self.interval(ALLOW_ALL))  # robots.txt is a request to the host too
                    fetcher = Fetcher(self.source)
                    try:
                        rules = fetcher.fetch_robots(url)
                    finally:
                        fetcher.close()
                        self._release(host)
                    with host.cond:  # a Crawl-delay spaces the next request from the robots.txt one as well
                        host.next_at = max(host.next_at, host.last_at + self.interval(rules))
                    host.rules = rules
        return host.rules

    def _take_slot(self, host: _Host, gap: float) -> None:
        """Wait until fewer than ``per_host_concurrency`` requests are in flight and ``gap`` has passed
        since the last request started; then count this one in flight."""
        with host.cond:
            host.cond.wait_for(lambda: host.in_flight < self.source.per_host_concurrency)
            host.in_flight += 1
            now = self._clock()
            slot = max(now, host.next_at)
            host.next_at = slot + gap
            host.last_at = slot
            host.requests += 1
            host.waited_s += slot - now
        if slot > now:
            self._sleep(slot - now)

    def _release(self, host: _Host) -> None:
        with host.cond:
            host.in_flight = max(0, host.in_flight - 1)
            host.cond.notify()

    def interval(self, rules: RobotsRules) -> float:
        rate = 1.0 / self.source.requests_per_second if self.source.requests_per_second > 0 else 0.0
        return max(rate, rules.crawl_delay or 0.0)

    def enter(self, url: str) -> str | None:
        """Wait for a slot for ``url``; or return, without waiting, why it must not be fetched."""
        rules = self.rules(url)
        blocked = rules.blocking_rule(url)
        if blocked is not None:
            if rules.disallow_all_reason:
                return blocked
            parts = urlsplit(url)
            return f"robots.txt disallows {parts.path or '/'} for {self.token} ({blocked})"
        if rules.crawl_delay is not None and rules.crawl_delay > self.source.max_crawl_delay_s:
            return (f"robots.txt Crawl-delay {rules.crawl_delay:g}s exceeds max_crawl_delay_s "
                    f"{self.source.max_crawl_delay_s:g}: host skipped")
        self._take_slot(self._host(url), self.interval(rules))
        return None

    def leave(self, url: str) -> None:
        self._release(self._host(url))

    def stats(self) -> dict[str, dict]:
        with self._lock:
            hosts = dict(self._hosts)
        return {k: {"requests": h.requests, "waited_s": round(h.waited_s, 3),
                    "crawl_delay": h.rules.crawl_delay if h.rules else None,
                    "robots": ("unreachable" if h.rules and h.rules.disallow_all_reason else
                               "rules" if h.rules and h.rules.rules else "none") if self.source.obey_robots else "off"}
                for k, h in hosts.items()}


def needs_gate(source: SourceConfig) -> bool:
    """With robots.txt off and no rate limit, the driver's per-host batch limit is all the politeness there is."""
    return source.obey_robots or source.requests_per_second > 0


class RemoteGate:
    """The :class:`ingest.fetch.Gate` a fetch actor uses: one shared :class:`Politeness` actor."""

    def __init__(self, handle):
        self.handle = handle

    def enter(self, url: str) -> str | None:
        import ray

        return ray.get(self.handle.enter.remote(url))

    def leave(self, url: str) -> None:
        self.handle.leave.remote(url)


def start_gate(source: SourceConfig, run_id: str, concurrency: int, clock=None, sleep=None):
    """The run's politeness actor, named ``ingest-gate-<source>-<run_id>`` (threads: one per fetch thread).
    ``clock`` and ``sleep`` replace ``time.monotonic`` and ``time.sleep`` in it (tests pace it on a fake clock)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    actor = ray.remote(num_cpus=0, max_concurrency=concurrency + 8)(Politeness)
    # On the driver's node (soft): a worker node lost mid-crawl does not take the gate with it. Should it go
    # anyway, it is started again (its pacing starts afresh) and the calls in flight are sent again.
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=True)
    timing = {k: v for k, v in (("clock", clock), ("sleep", sleep)) if v is not None}
    return actor.options(name=f"ingest-gate-{source.name}-{run_id}", max_restarts=-1, max_task_retries=-1,
                         scheduling_strategy=here).remote(source, **timing)
