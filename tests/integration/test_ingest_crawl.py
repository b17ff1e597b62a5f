"""Crawl the tiny local score site with Ray + DrissionPage into real bronze Delta tables, twice."""

from __future__ import annotations

import json

import pytest

from ingest.crawler import run_ingest
from common.score_site import ScoreSite, build_site, site_source
from lake.delta import Lake
from lake.schemas import BRONZE_CRAWL_ERRORS, BRONZE_LYRICS, BRONZE_MIDI
from common.config import ConfigError
from tests.support.config import make_config
from tests.support.ingest_rows import SITE_LIMIT


@pytest.fixture(scope="module")
def crawl(data_root, tmp_path_factory, ray_session):
    site_dir = data_root / "ingest-site"
    manifest = build_site(site_dir, SITE_LIMIT)
    cfg = make_config(tmp_path_factory.mktemp("ingest-crawl"))
    with ScoreSite(site_dir) as site:
        cfg.ingest.sources = [site_source(site.url)]
        first = run_ingest(cfg)
        lake = Lake.from_config(cfg)
        snapshot = {spec.name: lake.read(spec) for spec in (BRONZE_MIDI, BRONZE_LYRICS, BRONZE_CRAWL_ERRORS)}
        second = run_ingest(cfg, ["score-site"])
        yield {"cfg": cfg, "site": site, "manifest": manifest, "first": first[0], "second": second[0],
               "lake": lake, "after_first": snapshot}


def _faults(manifest):
    return {f["name"]: f for f in manifest["fault_files"]}


def test_bronze_midi_holds_exactly_the_good_pieces_and_the_truncated_one(crawl):
    midi = crawl["after_first"][BRONZE_MIDI.name]
    expected = {p["sha256"] for p in crawl["manifest"]["pieces"]} | {_faults(crawl["manifest"])["truncated"]["sha256"]}
    assert set(midi.column("sha256").to_pylist()) == expected
    assert midi.num_rows == len(expected)
    report = crawl["first"]
    assert report.midi_landed == len(expected) and report.midi_already_present == 0
    assert report.bytes_landed == sum(midi.column("size").to_pylist())


def test_midi_rows_keep_where_and_how_they_were_found(crawl):
    site, manifest = crawl["site"], crawl["manifest"]
    rows = {r["sha256"]: r for r in crawl["after_first"][BRONZE_MIDI.name].to_pylist()}
    run_id = crawl["first"].run_id
    for p in manifest["pieces"]:
        row = rows[p["sha256"]]
        assert row["url"] == site.url + p["midi"]
        assert json.loads(row["attrs_json"]) == {"style": p["style"], "collection": p["collection"]}
        assert row["title"] == p["title"]
        assert row["referrer"].startswith(site.url + "page-")
        assert (row["source"], row["license"], row["http_status"]) == ("score-site", site_source(site.url).license, 200)
        assert row["content_type"] == "audio/midi" and row["ingest_run_id"] == run_id
        assert row["size"] == p["size"] and row["content"].startswith(b"MThd") and len(row["md5"]) == 32
        assert row["fetched_at"].tzinfo is not None


def test_lyrics_rows_are_clean_and_link_to_landed_midi(crawl):
    site, manifest = crawl["site"], crawl["manifest"]
    lyrics = crawl["after_first"][BRONZE_LYRICS.name].to_pylist()
    midi_urls = set(crawl["after_first"][BRONZE_MIDI.name].column("url").to_pylist())
    with_lyrics = {site.url + p["lyrics_page"]: p for p in manifest["pieces"] if p["has_lyrics"]}
    assert {r["url"] for r in lyrics} == set(with_lyrics)
    for row in lyrics:
        piece = with_lyrics[row["url"]]
        assert row["midi_url"] == site.url + piece["midi"] and row["midi_url"] in midi_urls
        assert row["match_method"] == "page_link"
        assert row["lyrics"] == "\n".join(piece["lyrics"])
        assert row["language"] == piece["language"] and row["title"] == piece["title"]
    assert crawl["first"].lyrics_landed == len(with_lyrics)


def test_crawl_errors_hold_the_404_and_the_html_body(crawl):
    site, report = crawl["site"], crawl["first"]
    errors = [r for r in crawl["after_first"][BRONZE_CRAWL_ERRORS.name].to_pylist()
              if r["ingest_run_id"] == report.run_id]
    by_url = {r["url"]: r for r in errors}
    assert set(by_url) == {site.url + "midi/broken/missing.mid", site.url + "midi/broken/not-midi.mid"}
    missing, html = by_url[site.url + "midi/broken/missing.mid"], by_url[site.url + "midi/broken/not-midi.mid"]
    assert (missing["stage"], missing["http_status"], missing["reason"]) == ("fetch", 404, "HTTP 404 Not Found")
    assert (html["stage"], html["http_status"], html["content_type"]) == ("validate", 200, "audio/midi")
    assert html["reason"].startswith("not a MIDI file: body starts with b'<!DOCTYPE html")
    assert all(r["referrer"].startswith(site.url + "page-") for r in errors)
    assert report.errors == 2


def test_second_run_lands_nothing_new(crawl):
    lake, first, second = crawl["lake"], crawl["first"], crawl["second"]
    for spec in (BRONZE_MIDI, BRONZE_LYRICS):
        assert lake.read(spec, columns=["url"]).num_rows == crawl["after_first"][spec.name].num_rows
        assert second.table_versions[spec.name] == first.table_versions[spec.name]
    assert (second.midi_landed, second.lyrics_landed, second.bytes_landed) == (0, 0, 0)
    assert second.midi_already_present == first.midi_landed
    assert second.lyrics_already_present == first.lyrics_landed
    assert second.errors == 2 and second.run_id != first.run_id
    assert "0 MIDI landed" in second.summary()


def test_unknown_source_is_a_config_error(crawl):
    with pytest.raises(ConfigError, match="no source named 'nope'"):
        run_ingest(crawl["cfg"], ["nope"])


def test_private_site_without_permission_lands_only_an_error(tmp_path_factory, crawl):
    cfg = make_config(tmp_path_factory.mktemp("ingest-private"))
    cfg.ingest.sources = [site_source(crawl["site"].url).model_copy(update={"allow_private": False})]
    (report,) = run_ingest(cfg)
    lake = Lake.from_config(cfg)
    assert (report.pages, report.midi_landed, report.errors) == (0, 0, 1)
    assert lake.read(BRONZE_MIDI).num_rows == 0
    (error,) = lake.read(BRONZE_CRAWL_ERRORS).to_pylist()
    assert error["url"] == crawl["site"].url + "index.html" and error["reason"].startswith("refused non-public host")
