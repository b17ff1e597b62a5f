"""Reliability faults a hostile-site probe found: sockets left open, private-host rules, robots.txt
rate limiting, reason grouping. Each test counts bytes, requests or connections; none times anything."""

from __future__ import annotations

import psutil
import pytest

from ingest.fetch import Fetcher, Task
from tests.support.hostile_site import HostileSite
from tests.support.clock import FakeClock

MiB = 1024 * 1024


def _open_connections_to(port: int) -> int:
    return sum(1 for c in psutil.Process().net_connections(kind="tcp")
               if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED)


class _RecordingGate:
    """Allows everything; at each ``leave`` records how many connections to the site are still open."""

    def __init__(self, port: int):
        self.port = port
        self.open_at_leave: list[int] = []

    def enter(self, url: str) -> str | None:
        return None

    def leave(self, url: str) -> None:
        self.open_at_leave.append(_open_connections_to(self.port))


def test_oversized_body_closes_its_connection_before_the_slot_is_released():
    with HostileSite(faults=True) as site:
        cap = 2 * MiB
        gate = _RecordingGate(site.port)
        fetcher = Fetcher(site.source(max_file_bytes=cap, max_request_s=30, timeout_s=10), gate=gate)
        try:
            out = fetcher.fetch(Task("midi", site.url + "endless/big.mid"))
            assert (out.error_stage, out.body) == ("validate", None)
            assert out.reason.startswith(f"too large: over {cap} bytes")
            assert gate.open_at_leave == [0], "the per-host slot was released with the connection still open"
            # the server's next write fails at once; 10 s is a safety net, not a measured bound
            assert site.hung_up["/endless/big.mid"].wait(10), "the server is still streaming the dropped body"
            assert site.sent["/endless/big.mid"] <= cap + 8 * MiB  # kernel buffers on loopback, at most
        finally:
            fetcher.close()


# -- allow_private and private_hosts ---------------------------------------------------------

from ingest.fetch import HostRefused, _Transport, _vetted_addresses, check_host  # noqa: E402


@pytest.mark.parametrize("allow_private", [False, True])
def test_private_hosts_are_the_only_private_hosts_allowed_whatever_allow_private_says(allow_private):
    listed = ["127.0.0.1:8000"]
    check_host("http://127.0.0.1:8000/a.mid", allow_private, listed)
    for url in ("http://127.0.0.1:9000/", "http://127.0.0.2:8000/", "http://10.1.2.3/", "http://[::1]:8000/"):
        with pytest.raises(HostRefused, match="refused non-public host .*not in private_hosts"):
            check_host(url, allow_private, listed)
    with pytest.raises(HostRefused, match="not in private_hosts"):
        _vetted_addresses("127.0.0.2", 8000, listed, allow_private=allow_private)


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://169.254.1.2:8080/",
                                 "http://[fd00:ec2::254]/", "http://[fe80::1]/", "http://[::ffff:169.254.169.254]/"])
def test_link_local_and_metadata_addresses_are_refused_even_with_allow_private(url):
    with pytest.raises(HostRefused, match="refused non-public host .*link-local"):
        check_host(url, allow_private=True)
    check_host("http://127.0.0.1/", allow_private=True)  # plain loopback is what allow_private is for
    host = url.split("//")[1].split("/")[0].rsplit(":", 1)[0] if "]" not in url else url.split("[")[1].split("]")[0]
    check_host(url, allow_private=True, private_hosts=[host])  # ... unless listed by name


def test_connect_time_guard_keeps_private_hosts_when_allow_private_is_set():
    with HostileSite(faults=False) as site:
        import requests as rq

        session = rq.Session()
        session.mount("http://", _Transport(guarded=True, private_hosts=["127.0.0.1:1"], allow_private=True))
        with pytest.raises(rq.ConnectionError, match="not in private_hosts"):
            session.get(site.url + "index.html", timeout=2)


def test_redirect_to_metadata_or_unlisted_private_host_is_refused_as_such_with_allow_private():
    with HostileSite() as site:
        everywhere = ["127.0.0.1", "127.0.0.2", "169.254.169.254"]  # allowed_domains must not be what refuses
        listed = Fetcher(site.source(allow_private=True, allowed_domains=everywhere))
        bare = Fetcher(site.source(allow_private=True, allowed_domains=everywhere, private_hosts=[]))
        try:
            meta = listed.fetch(Task("midi", site.url + "to-metadata.mid"))
            assert meta.reason.startswith("refused non-public host 169.254.169.254"), meta.reason
            other = listed.fetch(Task("midi", site.url + "to-private.mid"))
            assert other.reason.startswith("refused non-public host 127.0.0.2"), other.reason
            meta = bare.fetch(Task("midi", site.url + "to-metadata.mid"))
            assert meta.reason.startswith("refused non-public host 169.254.169.254") and "link-local" in meta.reason
            assert listed.fetch(Task("midi", site.url + "midi/good-0.mid")).landable
        finally:
            listed.close()
            bare.close()


# -- ingest log: reasons grouped by kind ------------------------------------------------------

def test_log_groups_reasons_that_differ_only_in_numbers_urls_and_quoted_values(tmp_path):
    from datetime import datetime, timezone

    from ingest.fetch import Outcome
    from ingest.landing import Lander, reason_kind, run_log_summary
    from lake.delta import Lake
    from common.config import SourceConfig

    assert reason_kind("too large: 9000000 bytes announced > max_file_bytes 8388608") == \
        reason_kind("too large: 12 bytes announced > max_file_bytes 1024")
    assert reason_kind("refused non-public host 10.0.0.7 (10.0.0.7): not in private_hosts (redirected from "
                       "http://a.example/x.mid)") == \
        reason_kind("refused non-public host 192.168.1.1 (192.168.1.1): not in private_hosts (redirected from "
                    "https://b.example:8443/y/z.mid?q=1)")
    assert reason_kind("not a MIDI file: body starts with b'<!DOCTYPE html'") == \
        reason_kind("not a MIDI file: body starts with b'\\x00\\x01'")
    assert reason_kind("HTTP 404 Not Found") != reason_kind("too slow: body not complete after 1.5s")

    lake = Lake(str(tmp_path / "lake"))
    lander = Lander(lake, SourceConfig(name="site", seeds=["http://example.org/"]), "run-1")
    now = datetime.now(timezone.utc)
    for i in range(12):  # twelve faults of one kind, each with its own byte count
        lander.add(Outcome(Task("midi", f"http://example.org/big-{i}.mid"), now, error_stage="validate",
                           reason=f"too large: {9_000_000 + i} bytes announced > max_file_bytes 8388608"))
    for i in range(3):
        lander.add(Outcome(Task("midi", f"http://example.org/r-{i}.mid"), now, error_stage="fetch",
                           reason=f"redirect to host h{i}.example.org:{8000 + i} outside allowed_domains"))
    lander.add(Outcome(Task("midi", "http://example.org/missing.mid"), now, error_stage="fetch",
                       reason="HTTP 404 Not Found"))
    lander.flush()
    summary = run_log_summary(lake, run_id="run-1", top=2)
    reasons = summary.split("most common reasons:\n", 1)[1].splitlines()
    counts = [line.split()[0] for line in reasons if line.split()[0].isdigit()]
    assert counts == ["12", "3"], summary  # two kinds in the top 2, not two single byte counts
    assert "too large: N bytes announced > max_file_bytes N" in summary
    assert "e.g. validate: too large: 9000000 bytes announced > max_file_bytes 8388608" in summary
    assert "outside allowed_domains" in summary and "HTTP 404" not in summary


# -- robots.txt under the per-host rate limit -------------------------------------------------

def test_robots_fetch_takes_a_token_from_the_per_host_limiter():
    from ingest.politeness import Politeness

    clock = FakeClock()
    with HostileSite() as site:
        site.clock = clock.now
        src = site.source(requests_per_second=20, per_host_concurrency=1)
        gate = Politeness(src, clock=clock.now, sleep=clock.sleep)
        fetcher = Fetcher(src, gate=gate)
        try:
            for i in range(6):
                assert fetcher.fetch(Task("midi", site.url + f"midi/good-{i}.mid")).landable
        finally:
            fetcher.close()
        times = [e["t"] for e in site.log]
        paths = [e["path"] for e in site.log]
    assert paths[0] == "/robots.txt" and len(paths) == 7
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 1 / 20 - 1e-9, gaps  # robots.txt included: never two requests within 50 ms
    assert max(sum(1 for t in times if start <= t < start + 1) for start in times) <= 20
    assert gate.stats()[site.url.rstrip("/")]["requests"] == 7  # the robots.txt request is counted too
