"""Crawl a site that misbehaves on purpose (tests/support/hostile_site.py) with Ray + DrissionPage into
real Delta tables: every fault ends as a recorded error or skip with its reason, the good files land,
nothing crashes or stalls; then crawl it again after one file changed."""

from __future__ import annotations

import contextlib
import io
import re

import pytest

from ingest.crawler import run_ingest
from lake.delta import Lake
from lake.schemas import BRONZE_CRAWL_ERRORS, BRONZE_CRAWL_LOG, BRONZE_LYRICS, BRONZE_MIDI
from tests.support.config import make_config
from tests.support.hostile_site import FAULTS, LYRICS, HostileSite

CHANGED = "/midi/good-3.mid"


@pytest.fixture(scope="module")
def crawled(tmp_path_factory, ray_session):
    cfg = make_config(tmp_path_factory.mktemp("ingest-hostile"), "ingest.workers=2")
    with HostileSite(good=12) as site:
        cfg.ingest.sources = [site.source()]
        lake = Lake.from_config(cfg)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            (first,) = run_ingest(cfg)
        after_first = {spec.name: lake.read(spec) for spec in (BRONZE_MIDI, BRONZE_LYRICS, BRONZE_CRAWL_ERRORS,
                                                               BRONZE_CRAWL_LOG)}
        first_served = site.landable()
        version_after_first = lake.version(BRONZE_MIDI)
        log_len = len(site.log)
        old_body = site.files[CHANGED]
        new_body = site.change(CHANGED)
        (second,) = run_ingest(cfg)
        yield {"cfg": cfg, "site": site, "lake": lake, "first": first, "second": second, "tables": after_first,
               "served": first_served, "progress": err.getvalue(), "second_requests": site.log[log_len:],
               "old": old_body, "new": new_body, "version_after_first": version_after_first}


def _log(crawled, run_id=None):
    rows = crawled["tables"][BRONZE_CRAWL_LOG.name].to_pylist() if run_id is None else \
        crawled["lake"].read(BRONZE_CRAWL_LOG, filters=[("ingest_run_id", "=", run_id)]).to_pylist()
    return {r["url"]: r for r in rows}


def test_every_good_file_lands_once_and_nothing_else(crawled):
    midi = crawled["tables"][BRONZE_MIDI.name]
    assert {r["url"]: r["sha256"] for r in midi.select(["url", "sha256"]).to_pylist()} == crawled["served"]
    assert crawled["first"].midi_landed == len(crawled["served"])
    assert set(midi.column("license").to_pylist()) == {"test-only"}


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.expect == "error"], ids=lambda f: f.path)
def test_each_hostile_response_is_a_crawl_error_with_its_reason(crawled, fault):
    errors = {r["url"]: r for r in crawled["tables"][BRONZE_CRAWL_ERRORS.name].to_pylist()}
    row = errors[crawled["site"].url + fault.path.lstrip("/")]
    assert row["stage"] == fault.stage and fault.reason in row["reason"], row["reason"]
    assert _log(crawled)[row["url"]]["outcome"] == "error"


@pytest.mark.parametrize("fault", [f for f in FAULTS if f.expect == "skip"], ids=lambda f: f.path)
def test_each_opt_out_is_a_recorded_skip_and_nothing_lands(crawled, fault):
    url = crawled["site"].url + fault.path.lstrip("/")
    row = _log(crawled)[url]
    assert row["outcome"] == "skipped" and fault.reason in row["reason"], row["reason"]
    landed = set(crawled["tables"][BRONZE_MIDI.name].column("url").to_pylist()) | \
        set(crawled["tables"][BRONZE_LYRICS.name].column("url").to_pylist())
    assert url not in landed


def test_robots_disallowed_file_is_never_requested_and_robots_is_fetched_once(crawled):
    site = crawled["site"]
    assert site.requests_for("/private/secret.mid") == []
    assert len(site.requests_for("/robots.txt")) == 2, "once per run"


def test_nofollow_page_links_are_not_followed(crawled):
    site = crawled["site"]
    assert len(site.requests_for("/nofollow.html")) >= 1 and site.requests_for("/midi/hidden.mid") == []
    assert _log(crawled)[site.url + "nofollow.html"]["reason"] == "meta robots: nofollow (links not followed)"
    assert len(site.requests_for("/header-nofollow.html")) >= 1 and site.requests_for("/midi/hidden2.mid") == []
    assert _log(crawled)[site.url + "header-nofollow.html"]["reason"] == "X-Robots-Tag: nofollow (links not followed)"


def test_every_request_sent_the_honest_user_agent(crawled):
    agents = {e["user_agent"] for e in crawled["site"].log}
    assert agents == {crawled["cfg"].ingest.sources[0].user_agent}


def test_lyrics_are_clean_have_a_language_and_are_linked_with_the_method_recorded(crawled):
    site = crawled["site"]
    rows = {r["url"]: r for r in crawled["tables"][BRONZE_LYRICS.name].to_pylist()}
    assert set(rows) == {site.url + f"lyrics/{slug}.html" for slug, *_ in LYRICS}
    methods = {}
    for slug, title, lang, lines, style in LYRICS:
        row = rows[site.url + f"lyrics/{slug}.html"]
        assert row["midi_url"] == site.url + f"midi/song-{slug}.mid"
        methods[slug] = row["match_method"]
        assert row["title"] == title
        assert not re.search(r"\[[A-G]|\b(Am7|G/B|A7|Dm|E7)\b|not lyrics|Home", row["lyrics"]), row["lyrics"]
        assert len(row["lyrics"].splitlines()) == 2
    assert methods == {"river": "page_link", "wiegenlied": "listing", "chanson": "title"}
    assert rows[site.url + "lyrics/wiegenlied.html"]["language"] == "de", "guessed: the page has no lang"
    assert rows[site.url + "lyrics/chanson.html"]["language"] == "fr"
    assert crawled["first"].lyrics_matches == {"page_link": 1, "listing": 1, "title": 1}


def test_progress_line_and_summary_show_the_counts(crawled):
    first = crawled["first"]
    last = crawled["progress"].strip().splitlines()[-1]
    for key in ("pages=", "files=", "bytes=", "skips=", "errors=", "urls/s"):
        assert key in last, last
    assert f"skips={first.skipped}" in last and f"pages={first.pages}" in last
    n_skip = sum(f.expect == "skip" for f in FAULTS) + 2  # + the two nofollow pages
    assert first.skipped == n_skip
    assert first.errors == sum(f.expect == "error" for f in FAULTS)
    summary = first.summary()
    assert f"{first.midi_landed} MIDI landed" in summary and f"{first.skipped} skipped" in summary


def test_recrawl_sends_validators_and_downloads_only_the_changed_file(crawled):
    site, second = crawled["site"], crawled["second"]
    good = [e for e in crawled["second_requests"] if e["path"].startswith("/midi/good-")]
    assert good and all(e["if_none_match"] for e in good), "every known file was asked for conditionally"
    assert second.midi_landed == 1 and second.not_modified >= len(good) - 1
    log = _log(crawled, second.run_id)
    assert log[site.url + CHANGED.lstrip("/")]["outcome"] == "landed"
    assert log[site.url + "midi/good-0.mid"]["outcome"] == "not_modified"


def test_changed_file_is_a_new_version_and_the_old_one_stays(crawled):
    import hashlib

    lake = crawled["lake"]
    url = crawled["site"].url + CHANGED.lstrip("/")
    now = {r["sha256"] for r in lake.read(BRONZE_MIDI, columns=["sha256", "url"]).to_pylist()}
    assert {hashlib.sha256(crawled["old"]).hexdigest(), hashlib.sha256(crawled["new"]).hexdigest()} <= now
    old_snapshot = lake.read(BRONZE_MIDI, version=crawled["version_after_first"], columns=["sha256"])
    assert hashlib.sha256(crawled["new"]).hexdigest() not in old_snapshot.column("sha256").to_pylist()
    assert lake.version(BRONZE_MIDI) == crawled["version_after_first"] + 1
    assert url in set(lake.read(BRONZE_MIDI, columns=["url"]).column("url").to_pylist())


def test_malformed_robots_does_not_stop_the_crawl(tmp_path_factory, ray_session):
    cfg = make_config(tmp_path_factory.mktemp("ingest-robots"), "ingest.workers=1")
    with HostileSite(good=5) as site:
        site.robots = "malformed"
        cfg.ingest.sources = [site.source(name="malformed")]
        (report,) = run_ingest(cfg)
        lake = Lake.from_config(cfg)
        landed = set(lake.read(BRONZE_MIDI, columns=["url"]).column("url").to_pylist())
        assert {site.url + f"midi/good-{i}.mid" for i in range(5)} <= landed
        assert site.requests_for("/private/secret.mid") == [], "the readable Disallow line still holds"
        # without the file's Allow line, /private/ok-allowed.mid falls under the Disallow too
        assert site.requests_for("/private/ok-allowed.mid") == []
        assert report.midi_landed == len(site.files) - 1
