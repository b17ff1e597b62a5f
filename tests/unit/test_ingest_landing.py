"""Landing exactly once: content identity, URL history, crawl log, crash at any point, races, leases."""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timezone

import pytest

from ingest.fetch import Outcome, Task
from ingest.landing import Lander, load_url_state, run_log_summary
from ingest.lock import LeaseHeld, SourceLease, current_lease
from lake.delta import Lake
from lake.schemas import (BRONZE_CRAWL_ERRORS, BRONZE_CRAWL_LOG, BRONZE_INGEST_LEASES, BRONZE_LYRICS, BRONZE_MIDI,
                          BRONZE_URLS)
from tests.support.ingest_rows import SOURCE, midi_bytes, ok

def rows(lake: Lake, spec, version=None) -> list[dict]:
    return lake.read(spec, version=version).to_pylist()


@pytest.fixture
def lake(tmp_path):
    return Lake(str(tmp_path / "lake"))


def test_same_bytes_at_two_urls_are_one_file_and_two_url_rows(lake):
    body = midi_bytes(1)
    lander = Lander(lake, SOURCE, "run-1")
    assert lander.add(ok("http://example.org/a.mid", body, etag='"a"')) == "landed"
    assert lander.add(ok("http://example.org/mirror/a.mid", body)) == "duplicate"
    lander.flush()
    (midi,) = rows(lake, BRONZE_MIDI)
    assert (midi["sha256"], midi["md5"], midi["url"]) == (hashlib.sha256(body).hexdigest(),
                                                        hashlib.md5(body).hexdigest(), "http://example.org/a.mid")
    urls = {r["url"]: r for r in rows(lake, BRONZE_URLS)}
    assert set(urls) == {"http://example.org/a.mid", "http://example.org/mirror/a.mid"}
    assert {r["sha256"] for r in urls.values()} == {midi["sha256"]}
    assert urls["http://example.org/a.mid"]["etag"] == '"a"'
    log = {r["url"]: r for r in rows(lake, BRONZE_CRAWL_LOG)}
    assert log["http://example.org/a.mid"]["outcome"] == "landed"
    assert log["http://example.org/mirror/a.mid"]["outcome"] == "duplicate"
    assert lander.counts()["midi_landed"] == 1 and lander.counts()["midi_duplicates"] == 1


def test_changed_file_is_a_new_version_and_the_old_one_stays(lake):
    url = "http://example.org/song.mid"
    old, new = midi_bytes(2), midi_bytes(3)
    first = Lander(lake, SOURCE, "run-1")
    first.add(ok(url, old, etag='"v1"', last_modified="Mon, 01 Jan 2024 00:00:00 GMT"))
    first.flush()
    version_after_first = lake.version(BRONZE_MIDI)
    state = load_url_state(lake, "site")[url]
    assert (state.sha256, state.etag, state.last_modified) == (hashlib.sha256(old).hexdigest(), '"v1"',
                                                               "Mon, 01 Jan 2024 00:00:00 GMT")

    second = Lander(lake, SOURCE, "run-2")
    assert second.add(ok(url, new, etag='"v2"')) == "landed"
    second.flush()
    shas = {r["sha256"] for r in rows(lake, BRONZE_MIDI)}
    assert shas == {hashlib.sha256(old).hexdigest(), hashlib.sha256(new).hexdigest()}
    history = [(r["sha256"], r["etag"]) for r in sorted(rows(lake, BRONZE_URLS), key=lambda r: r["fetched_at"])]
    assert history == [(hashlib.sha256(old).hexdigest(), '"v1"'), (hashlib.sha256(new).hexdigest(), '"v2"')]
    assert load_url_state(lake, "site")[url].sha256 == hashlib.sha256(new).hexdigest()
    # time travel: the version after the first run still reads the old file only
    assert [r["sha256"] for r in rows(lake, BRONZE_MIDI, version_after_first)] == [hashlib.sha256(old).hexdigest()]


def test_not_modified_skipped_and_errors_land_no_content_but_a_log_row_each(lake):
    url = "http://example.org/x.mid"
    body = midi_bytes(4)
    seed = Lander(lake, SOURCE, "run-1")
    seed.add(ok(url, body, etag='"x"'))
    seed.flush()
    midi_version, urls_version = lake.version(BRONZE_MIDI), lake.version(BRONZE_URLS)

    lander = Lander(lake, SOURCE, "run-2")
    now = datetime.now(timezone.utc)
    assert lander.add(Outcome(Task("midi", url, etag='"x"'), now, http_status=304, not_modified=True)) == "not_modified"
    assert lander.add(Outcome(Task("midi", "http://example.org/private/y.mid"), now,
                              skipped="robots.txt disallows /private/")) == "skipped"
    assert lander.add(Outcome(Task("midi", "http://example.org/z.mid"), now, http_status=503,
                              error_stage="fetch", reason="HTTP 503 Service Unavailable")) == "error"
    lander.skip(Task("midi", "http://example.org/noai.mid"), "X-Robots-Tag: noai")
    lander.flush()
    assert (lake.version(BRONZE_MIDI), lake.version(BRONZE_URLS)) == (midi_version, urls_version)
    log = {r["url"]: r for r in rows(lake, BRONZE_CRAWL_LOG) if r["ingest_run_id"] == "run-2"}
    assert (log[url]["outcome"], log[url]["sha256"], log[url]["http_status"]) == ("not_modified",
                                                                                 hashlib.sha256(body).hexdigest(), 304)
    assert log["http://example.org/private/y.mid"]["reason"] == "robots.txt disallows /private/"
    assert log["http://example.org/noai.mid"]["outcome"] == "skipped"
    assert log["http://example.org/z.mid"]["outcome"] == "error"
    (error,) = rows(lake, BRONZE_CRAWL_ERRORS)
    assert (error["url"], error["http_status"], error["reason"]) == ("http://example.org/z.mid", 503,
                                                                     "HTTP 503 Service Unavailable")
    summary = run_log_summary(lake, run_id="run-2")
    assert "not_modified" in summary and "robots.txt disallows /private/" in summary and "4 URLs" in summary


class CrashingLake(Lake):
    """A real lake whose ``n``-th write raises, as if the process died right there."""

    def __init__(self, uri: str, crash_at: int):
        super().__init__(uri)
        self.crash_at, self.writes = crash_at, 0

    def _tick(self):
        self.writes += 1
        if self.writes == self.crash_at:
            raise KeyboardInterrupt(f"crash at write {self.writes}")

    def insert_new(self, *a, **k):
        self._tick()
        return super().insert_new(*a, **k)

    def append(self, *a, **k):
        self._tick()
        return super().append(*a, **k)


# writes per flush: 1 midi MERGE, 2 urls MERGE, 3 errors append, 4 log append
@pytest.mark.parametrize("crash_at", [1, 2, 3, 4, 5, 8])
def test_crash_at_any_write_then_rerun_neither_duplicates_nor_loses(tmp_path, crash_at):
    uri = str(tmp_path / "lake")
    outcomes = [ok(f"http://example.org/{i}.mid", midi_bytes(i % 7)) for i in range(12)]  # 7 contents, 12 URLs
    outcomes.append(Outcome(Task("midi", "http://example.org/bad.mid"), datetime.now(timezone.utc), http_status=404,
                            error_stage="fetch", reason="HTTP 404 Not Found"))
    crashing = Lander(CrashingLake(uri, crash_at), SOURCE, "run-1", every_rows=5)
    with pytest.raises(KeyboardInterrupt):
        for out in outcomes:
            crashing.add(out)
        crashing.flush()

    lake = Lake(uri)
    done = set(load_url_state(lake, "site"))  # what the re-run (the crawler) treats as done
    rerun = Lander(lake, SOURCE, "run-2", every_rows=5)
    for out in outcomes:
        if out.task.url not in done:
            rerun.add(out)
    rerun.flush()
    midi = rows(lake, BRONZE_MIDI)
    assert sorted(r["sha256"] for r in midi) == sorted({o.sha256 for o in outcomes if o.sha256})
    urls = rows(lake, BRONZE_URLS)
    assert sorted(r["url"] for r in urls) == sorted(o.task.url for o in outcomes if o.sha256)
    assert {r["sha256"] for r in urls} <= {r["sha256"] for r in midi}  # a URL row never points at nothing


def test_a_batch_another_run_landed_first_is_logged_as_duplicates(lake):
    shared = [ok(f"http://example.org/s{i}.mid", midi_bytes(20 + i)) for i in range(4)]
    mine = ok("http://example.org/only-b.mid", midi_bytes(30))
    a, b = Lander(lake, SOURCE, "run-a"), Lander(lake, SOURCE, "run-b")  # both read an empty lake
    for out in shared:
        a.add(out)
    for out in [*shared, mine]:
        b.add(out)
    a.flush()
    b.flush()  # its MERGE inserts only the one file run-a did not land
    assert lake.read(BRONZE_MIDI).num_rows == 5
    assert (b.landed["midi"], b.duplicates["midi"]) == (1, 4)
    outcomes = {r["url"]: (r["outcome"], r["reason"]) for r in rows(lake, BRONZE_CRAWL_LOG) if r["ingest_run_id"] == "run-b"}
    assert outcomes["http://example.org/only-b.mid"] == ("landed", None)
    assert all(outcomes[o.task.url] == ("duplicate", "landed concurrently by run-a") for o in shared)


def test_lease_is_exclusive_until_released_or_expired(lake):
    first = SourceLease(lake, "site", ttl_s=60).acquire()
    with pytest.raises(LeaseHeld, match="source 'site' is being ingested by lease-"):
        SourceLease(lake, "site", ttl_s=60).acquire()
    SourceLease(lake, "other", ttl_s=60).acquire()  # other sources are independent
    first.release()
    second = SourceLease(lake, "site", ttl_s=5).acquire()
    assert current_lease(lake, "site").holder == second.holder
    # a holder that died leaves an expiring lease: once expired, the next run takes over
    expired = SourceLease(lake, "dead", ttl_s=5)
    expired._write("acquire", current_lease(lake, "dead"), datetime(2000, 1, 1, tzinfo=timezone.utc))
    taker = SourceLease(lake, "dead", ttl_s=60).acquire()
    assert current_lease(lake, "dead").holder == taker.holder and taker.seq == 2


def test_racing_acquirers_get_exactly_one_lease(lake):
    lake.ensure(BRONZE_INGEST_LEASES)
    barrier, results = threading.Barrier(4), []

    def race():
        lease = SourceLease(lake, "race", ttl_s=60)
        barrier.wait()
        try:
            lease.acquire()
            results.append(lease.holder)
        except LeaseHeld:
            results.append(None)

    threads = [threading.Thread(target=race) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [h for h in results if h]
    assert len(results) == 4 and len(winners) == 1
    assert current_lease(lake, "race").holder == winners[0]
    acquires = [r for r in rows(lake, BRONZE_INGEST_LEASES) if r["source"] == "race"]
    assert [r["holder"] for r in acquires] == winners


def test_changed_lyrics_page_keeps_the_landed_version_and_says_so(lake):
    from ingest.parse import LyricsPage

    def page(text: str) -> Outcome:
        body = text.encode()
        return Outcome(Task("lyrics", "http://example.org/lyrics/a.html"), datetime.now(timezone.utc), http_status=200,
                       size=len(body), sha256=hashlib.sha256(body).hexdigest(),
                       lyrics=LyricsPage("A", text, "en", "http://example.org/a.mid", "page_link"))

    first = Lander(lake, SOURCE, "run-1")
    first.add(page("la la la"))
    first.flush()
    second = Lander(lake, SOURCE, "run-2")
    second.add(page("la la la, revised"))
    second.flush()
    (kept,) = lake.read(BRONZE_LYRICS).to_pylist()
    assert (kept["lyrics"], kept["match_method"], kept["ingest_run_id"]) == ("la la la", "page_link", "run-1")
    (log,) = [r for r in rows(lake, BRONZE_CRAWL_LOG) if r["ingest_run_id"] == "run-2"]
    assert (log["outcome"], log["reason"]) == ("duplicate", "bronze_lyrics_pages keeps the version landed by run-1")
    assert (second.landed["lyrics"], second.duplicates["lyrics"]) == (0, 1)
    assert len(load_url_state(lake, "site")) == 1  # the URL's history has both versions; the latest is the new one
    assert len(rows(lake, BRONZE_URLS)) == 2


def test_a_lease_whose_holder_process_is_gone_is_taken_over_at_once(tmp_path):
    """A run killed with SIGKILL on this host leaves a lease that the next run may take immediately."""
    import subprocess
    import sys

    from ingest.lock import SourceLease, current_lease
    from lake.delta import Lake

    lake = Lake(str(tmp_path / "lake"))
    child = subprocess.run([sys.executable, "-c", (
        "import os, sys; from ingest.lock import SourceLease; from lake.delta import Lake; "
        f"SourceLease(Lake({str(tmp_path / 'lake')!r}), 'site', ttl_s=600).acquire(); os._exit(0)")],
        capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    stale = current_lease(lake, "site")
    assert stale.event == "acquire" and stale.holder_died()
    with SourceLease(lake, "site", ttl_s=600) as lease:
        assert current_lease(lake, "site").holder == lease.holder
