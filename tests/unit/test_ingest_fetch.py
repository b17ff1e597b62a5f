"""Fetching with a DrissionPage SessionPage against real local HTTP servers, and the crawl frontier."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ingest.fetch import Fetcher, HostRefused, Task, check_host
from ingest.frontier import Frontier, host_allowed
from common.score_site import ScoreSite, build_site, site_source
from tests.support.ingest_rows import SITE_LIMIT


@pytest.fixture(scope="module")
def site(data_root):
    site_dir = data_root / "ingest-site"
    manifest = build_site(site_dir, SITE_LIMIT)
    with ScoreSite(site_dir) as running:
        running.manifest = manifest
        yield running


@pytest.fixture
def fetcher(site):
    f = Fetcher(site_source(site.url))
    yield f
    f.close()


def test_honest_user_agent_is_sent(site, fetcher):
    seen = len(site.access_log)
    assert fetcher.fetch(Task("page", site.url + "index.html")).ok
    (entry,) = site.access_log[seen:]
    assert entry["path"] == "/index.html"
    assert entry["user_agent"] == fetcher.source.user_agent
    assert entry["user_agent"].startswith("musiclake-crawler/") and entry["referer"] is None


def test_referrer_is_the_page_the_link_was_found_on(site, fetcher):
    seen = len(site.access_log)
    piece = site.manifest["pieces"][0]
    assert fetcher.fetch(Task("midi", site.url + piece["midi"], referrer=site.url + "page-1.html")).ok
    assert site.access_log[seen]["referer"] == site.url + "page-1.html"


def test_page_fetch_reports_its_links(site, fetcher):
    out = fetcher.fetch(Task("page", site.url + "page-1.html"))
    assert out.ok and out.http_status == 200 and out.content_type.startswith("text/html")
    wanted = {site.url + p["midi"] for p in site.manifest["pieces"]}
    assert wanted & {l.url for l in out.links.midi}
    assert all(l.url.startswith(site.url) for l in out.links.midi + out.links.lyrics + out.links.pages)


def test_midi_fetch_returns_bytes_and_hashes(site, fetcher):
    piece = site.manifest["pieces"][0]
    out = fetcher.fetch(Task("midi", site.url + piece["midi"]))
    assert out.ok and out.body.startswith(b"MThd")
    assert (out.sha256, out.size, out.content_type) == (piece["sha256"], piece["size"], "audio/midi")
    assert len(out.md5) == 32


def test_http_error_and_non_midi_body_fail_with_reasons(site, fetcher):
    missing = fetcher.fetch(Task("midi", site.url + "midi/broken/missing.mid"))
    assert (missing.ok, missing.error_stage, missing.http_status) == (False, "fetch", 404)
    assert missing.reason == "HTTP 404 Not Found"
    html = fetcher.fetch(Task("midi", site.url + "midi/broken/not-midi.mid"))
    assert (html.ok, html.error_stage, html.content_type) == (False, "validate", "audio/midi")
    assert html.reason.startswith("not a MIDI file: body starts with b'<!DOCTYPE html")
    assert html.body is None


def test_too_large_is_refused(site):
    big = max(site.manifest["pieces"], key=lambda p: p["size"])
    assert big["size"] > 1024
    f = Fetcher(site_source(site.url).model_copy(update={"max_file_bytes": 1024}))
    out = f.fetch(Task("midi", site.url + big["midi"]))
    assert (out.ok, out.error_stage, out.body) == (False, "validate", None)
    assert out.reason == f"too large: {big['size']} bytes announced > max_file_bytes 1024"


def test_private_hosts_are_refused_before_any_request(site):
    f = Fetcher(site_source(site.url).model_copy(update={"allow_private": False}))
    seen = len(site.access_log)
    out = f.fetch(Task("page", site.url + "index.html"))
    assert (out.ok, out.error_stage, out.http_status) == (False, "fetch", None)
    assert out.reason.startswith("refused non-public host 127.0.0.1")
    assert len(site.access_log) == seen


@pytest.mark.parametrize("url", ["http://127.0.0.1/", "http://10.1.2.3:8080/x", "http://[::1]/", "http://169.254.169.254/",
                                 "http://localhost/"])
def test_check_host_refuses_non_public_addresses(url):
    with pytest.raises(HostRefused, match="refused non-public host"):
        check_host(url, allow_private=False)
    if "169.254." in url:  # link-local (cloud metadata): refused even with allow_private, unless listed
        with pytest.raises(HostRefused, match="link-local"):
            check_host(url, allow_private=True)
    else:
        check_host(url, allow_private=True)


def test_check_host_lets_public_addresses_through():
    check_host("http://93.184.215.14/", allow_private=False)


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(1.5)
        try:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"late")
        except ConnectionError:  # the client gave up long ago: that is the point
            pass

    def log_message(self, *args):
        pass


def test_timeout_is_a_fetch_error():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/slow.mid"
        src = site_source(url).model_copy(update={"timeout_s": 0.2})
        out = Fetcher(src).fetch(Task("midi", url))
    finally:
        server.shutdown()
        server.server_close()
    assert (out.ok, out.error_stage, out.reason) == (False, "fetch", "timed out after 0.2s")


# -- the frontier ------------------------------------------------------------------------

SRC = site_source("http://site.test:8000/").model_copy(update={"max_depth": 1, "max_pages": 3})


def test_frontier_is_breadth_first_and_fetches_each_url_once():
    f = Frontier(SRC)
    assert f.add(Task("page", "http://site.test:8000/index.html", 0)) is None
    assert f.add(Task("midi", "http://site.test:8000/deep.mid", 2)) is None
    assert f.add(Task("page", "http://site.test:8000/p1.html", 1)) is None
    assert f.add(Task("page", "http://site.test:8000/p1.html#again", 1)) is None
    assert [t.url for t in f.pop_batch(10)] == ["http://site.test:8000/index.html", "http://site.test:8000/p1.html",
                                                "http://site.test:8000/deep.mid"]
    assert len(f) == 0


def test_frontier_bounds_depth_and_pages_and_skips_known_files():
    f = Frontier(SRC, known={"midi": {"http://site.test:8000/old.mid"}})
    f.add(Task("page", "http://site.test:8000/too-deep.html", 2))
    for i in range(5):
        f.add(Task("page", f"http://site.test:8000/p{i}.html", 1))
    f.add(Task("midi", "http://site.test:8000/old.mid", 2))
    assert [t.url for t in f.pop_batch(10)] == [f"http://site.test:8000/p{i}.html" for i in range(3)]
    assert f.skipped == {"beyond_max_depth": 1, "beyond_max_pages": 2, "midi_already_present": 1}


def test_frontier_refuses_other_hosts_and_schemes():
    f = Frontier(SRC)
    assert f.add(Task("midi", "http://site.test:9999/a.mid", 1)) == \
        "host site.test:9999 not in allowed_domains (site.test:8000)"
    assert f.add(Task("midi", "file:///etc/passwd", 1)).startswith("unsupported scheme 'file'")
    assert len(f) == 0


def test_allowed_domains_match_hosts_subdomains_and_ports():
    assert host_allowed("https://www.example.org/a", ["example.org"])
    assert host_allowed("http://example.org:81/a", ["example.org"])
    assert not host_allowed("http://badexample.org/a", ["example.org"])
    assert host_allowed("http://h:8000/", ["h:8000"]) and not host_allowed("http://h/", ["h:8000"])


# -- SSRF at connect time, redirects, conditional requests, per-host frontier -----------------

def test_connect_time_guard_refuses_private_addresses_even_without_the_precheck(site):
    import requests as rq

    from ingest.fetch import _Transport

    session = rq.Session()
    session.mount("http://", _Transport(guarded=True))
    with pytest.raises(rq.ConnectionError, match="refused non-public host"):
        session.get(site.url + "index.html", timeout=2)
    allowed = rq.Session()
    allowed.mount("http://", _Transport(guarded=True, private_hosts=[site.url.split("/")[2]]))
    assert allowed.get(site.url + "index.html", timeout=2).status_code == 200


def test_private_hosts_allow_exactly_the_listed_host_and_port(site):
    host_port = site.url.split("/")[2]
    src = site_source(site.url).model_copy(update={"allow_private": False, "private_hosts": [host_port]})
    assert Fetcher(src).fetch(Task("page", site.url + "index.html")).ok
    other = Fetcher(src).fetch(Task("page", site.url.replace("127.0.0.1", "localhost") + "index.html"))
    assert other.reason.startswith("refused non-public host localhost")


def test_conditional_request_gets_304_and_no_body(site, fetcher):
    piece = site.manifest["pieces"][0]
    first = fetcher.fetch(Task("midi", site.url + piece["midi"]))
    assert first.last_modified
    again = fetcher.fetch(Task("midi", site.url + piece["midi"], last_modified=first.last_modified))
    assert (again.ok, again.not_modified, again.http_status, again.body, again.landable) == (True, True, 304, None, False)


def test_midi_must_parse_unless_the_source_checks_headers_only(site):
    trunc = site.url + "midi/broken/truncated.mid"
    strict = Fetcher(site_source(site.url).model_copy(update={"midi_check": "parse"})).fetch(Task("midi", trunc))
    assert (strict.error_stage, strict.reason.startswith("MIDI does not parse")) == ("validate", True)
    assert Fetcher(site_source(site.url)).fetch(Task("midi", trunc)).landable  # the demo site: header only


def test_frontier_partitions_by_host_and_restores_a_killed_crawl():
    src = SRC.model_copy(update={"allowed_domains": ["site.test", "other.test"]})
    f = Frontier(src)
    for url in ("http://site.test:8000/a.mid", "http://other.test/b.mid", "http://site.test:8000/c.mid"):
        f.add(Task("midi", url, 1))
    assert f.hosts() == ["http://site.test:8000", "http://other.test"]
    assert [t.url for t in f.pop_batch(5, "http://site.test:8000")] == ["http://site.test:8000/a.mid",
                                                                       "http://site.test:8000/c.mid"]
    assert f.hosts() == ["http://other.test"] and len(f) == 1
    g = Frontier(src)
    queued = [Task("page", "http://site.test:8000/i.html"), Task("midi", "http://site.test:8000/a.mid", 1)]
    g.restore(queued, done={"http://site.test:8000/i.html"})
    assert [t.url for t in g.pop_batch(5)] == ["http://site.test:8000/a.mid"] and g.pages_queued == 1
    assert g.add(Task("page", "http://site.test:8000/i.html")) is None and len(g) == 0
