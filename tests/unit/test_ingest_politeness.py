"""Per-host politeness that holds for all fetch workers together: one robots.txt fetch per host, the
request rate and the concurrency limit measured at the server, and hosts skipped rather than stalled."""

from __future__ import annotations

import threading

import pytest
import ray

from ingest.crawler import FetchWorker
from ingest.fetch import Fetcher, Task
from ingest.politeness import Politeness, start_gate
from tests.support.clock import FakeClock
from tests.support.hostile_site import HostileSite


def _midi_times(site, prefix="/midi/good-"):
    return sorted(e["t"] for e in site.log if e["path"].startswith(prefix))


def test_rate_and_robots_hold_across_ray_workers(ray_session):
    interval = 0.1
    # One fake clock, a Ray actor, for the gate (it paces by it) and the site (it times arrivals by it): time moves
    # only by the gate's sleeps, so the spacing measured is exact however loaded the machine is. One request in
    # flight at a time, so that no request's sleep moves the clock while another is on its way (the concurrency
    # limit has its own test below); six concurrent batches on three actors still share the one gate.
    clock = ray.remote(FakeClock).remote()

    def now():
        return ray.get(clock.now.remote())

    def sleep(s):
        ray.get(clock.sleep.remote(s))

    with HostileSite(good=12, faults=False) as site:
        site.robots = "missing"  # no Crawl-delay: the source's own rate is the limit
        site.clock = now
        src = site.source(requests_per_second=1 / interval, per_host_concurrency=1, fetch_threads=2)
        gate = start_gate(src, "test-rate", concurrency=8, clock=now, sleep=sleep)
        actors = [ray.remote(max_concurrency=2)(FetchWorker).remote(src, gate) for _ in range(3)]
        paths = sorted(p for p in site.files)
        batches = [[Task("midi", site.url + p.lstrip("/")) for p in paths[i::6]] for i in range(6)]
        refs = [actors[i % 3].fetch_batch.remote(b) for i, b in enumerate(batches)]
        outcomes = [o for ref in refs for o in ray.get(ref)]
        for actor in [*actors, gate, clock]:
            ray.kill(actor)
    assert len(outcomes) == 12 and all(o.landable for o in outcomes)
    robots = [e["t"] for e in site.log if e["path"] == "/robots.txt"]
    assert len(robots) == 1, "robots.txt is fetched once per host for the whole run"
    times = _midi_times(site)
    assert len(times) == 12
    # every request one interval after the one before (robots.txt included), not less and not more
    gaps = [b - a for a, b in zip([robots[0], *times], times)]
    assert gaps == pytest.approx([interval] * 12, abs=1e-9)


def test_concurrency_limit_holds_at_the_server(ray_session):
    with HostileSite(good=10, faults=False, delay_s=0.3) as site:
        src = site.source(requests_per_second=0, per_host_concurrency=2, fetch_threads=4)
        gate = start_gate(src, "test-conc", concurrency=8)
        actors = [ray.remote(max_concurrency=4)(FetchWorker).remote(src, gate) for _ in range(2)]
        refs = [actors[i % 2].fetch_batch.remote([Task("midi", site.url + p.lstrip("/"))])
                for i, p in enumerate(sorted(site.files))]
        assert all(o.landable for ref in refs for o in ray.get(ref))
        for actor in [*actors, gate]:
            ray.kill(actor)
    assert site.max_in_flight == 2, "8 threads wanted the host at once; only 2 requests ran at a time"


def test_robots_crawl_delay_is_the_floor_of_the_interval():
    clock = FakeClock()  # spacing measured on a clock that moves only by the limiter's sleeps
    with HostileSite(good=4, faults=False) as site:
        site.clock = clock.now
        book = Politeness(site.source(requests_per_second=1000), clock=clock.now, sleep=clock.sleep)
        assert book.interval(book.rules(site.url)) == pytest.approx(0.01)  # robots Crawl-delay 0.01 > 1/1000
        fetcher = Fetcher(book.source, book)
        for p in sorted(site.files):
            assert fetcher.fetch(Task("midi", site.url + p.lstrip("/"))).landable
    times = _midi_times(site)
    assert min(b - a for a, b in zip(times, times[1:])) >= 0.01 - 1e-9


def test_huge_crawl_delay_skips_the_host_instead_of_stalling():
    with HostileSite(good=2, faults=False) as site:
        site.robots = "slow-crawl"
        fetcher = Fetcher(site.source(max_crawl_delay_s=30), Politeness(site.source(max_crawl_delay_s=30)))
        out = fetcher.fetch(Task("midi", site.url + "midi/good-0.mid"))
    assert out.ok and out.skipped == "robots.txt Crawl-delay 86400s exceeds max_crawl_delay_s 30: host skipped"
    assert site.requests_for("/midi/good-0.mid") == []


def test_unreachable_robots_disallows_the_host_and_missing_robots_allows_it():
    with HostileSite(good=2, faults=False) as site:
        site.robots = "error"
        book = Politeness(site.source())
        out = Fetcher(book.source, book).fetch(Task("midi", site.url + "midi/good-0.mid"))
        assert out.skipped.startswith("robots.txt unreachable (HTTP 503)")
        site.robots = "missing"
        book = Politeness(site.source())
        assert Fetcher(book.source, book).fetch(Task("midi", site.url + "midi/good-0.mid")).landable


def test_robots_off_fetches_disallowed_paths():
    with HostileSite(good=1) as site:
        book = Politeness(site.source(obey_robots=False))
        out = Fetcher(book.source, book).fetch(Task("midi", site.url + "private/secret.mid"))
    assert out.landable and site.requests_for("/robots.txt") == []


def test_threads_share_one_book():
    with HostileSite(good=8, faults=False) as site:
        book = Politeness(site.source(requests_per_second=50, per_host_concurrency=3))
        results = []

        def work(paths):
            fetcher = Fetcher(book.source, book)
            results.extend(fetcher.fetch(Task("midi", site.url + p.lstrip("/"))) for p in paths)

        paths = sorted(site.files)
        threads = [threading.Thread(target=work, args=(paths[i::4],)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == 8 and all(o.landable for o in results)
    assert book.stats()[site.url.rstrip("/")]["requests"] == 8 + 1  # robots.txt takes a slot too
    assert len(site.requests_for("/robots.txt")) == 1
    times = _midi_times(site)
    assert times[-1] - times[0] >= 7 * 0.02 * 0.95
