"""The local score site: real music21 corpus pieces exported to MIDI, HTML around them, served over HTTP."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import requests
import symusic

from common.corpus_export import EXPORT_VERSION, VOICE, catalog, lyric_lines, quotas
from common.score_site import MANIFEST, ScoreSite, build_site, site_source
from tests.support.ingest_rows import SITE_LIMIT



@pytest.fixture(scope="module")
def site_dir(data_root):
    return data_root / "ingest-site"  # shared with the other ingest test modules: built once per session


@pytest.fixture(scope="module")
def manifest(site_dir):
    return build_site(site_dir, SITE_LIMIT)


def test_site_holds_limit_pieces_from_several_collections(manifest, site_dir):
    pieces = manifest["pieces"]
    assert len(pieces) >= SITE_LIMIT
    assert len({p["slug"] for p in pieces}) == len(pieces)
    assert {"bach-chorales", "essen-china"} <= {p["collection"] for p in pieces}
    assert {"classical", "folk"} <= {p["style"] for p in pieces}
    assert any(p["has_lyrics"] for p in pieces) and not all(p["has_lyrics"] for p in pieces)


def test_every_exported_midi_parses_and_matches_its_hash(manifest, site_dir):
    for p in manifest["pieces"]:
        data = (site_dir / p["midi"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == p["sha256"] and len(data) == p["size"]
        score = symusic.Score.from_midi(data)
        assert score.note_num() > 0, p["slug"]


def test_every_midi_carries_the_tempo_and_programs_its_manifest_entry_states(manifest, site_dir):
    pieces = manifest["pieces"]
    assert manifest["export_version"] == EXPORT_VERSION
    for p in pieces:
        score = symusic.Score.from_midi((site_dir / p["midi"]).read_bytes())
        assert p["tempo"]["source"] in ("marked", "assigned") and p["tempo"]["rule"], p["slug"]
        assert score.tempos[0].time == 0 and abs(score.tempos[0].qpm - p["tempo"]["bpm"]) < 0.01, p["slug"]
        assert {t.program for t in score.tracks if t.note_num()} == set(p["programs"]), p["slug"]
        assert set(p["programs"]) <= {part["program"] for part in p["parts"]}  # programs: of the parts with notes
    chorales = [p for p in pieces if p["collection"] == "bach-chorales"]
    assert chorales and all(VOICE in p["programs"] for p in chorales)
    folk = [p for p in pieces if p["style"] == "folk"]
    assert folk and all(p["programs"] != [0] for p in folk)
    assert len({p["tempo"]["bpm"] for p in pieces}) > len(pieces) // 2  # no longer one tempo for all


def test_lyrics_pages_exist_exactly_for_pieces_with_lyrics(manifest, site_dir):
    lyric_files = {f.name for f in (site_dir / "lyrics").iterdir()}
    assert lyric_files == {f"{p['slug']}.html" for p in manifest["pieces"] if p["has_lyrics"]}
    for p in manifest["pieces"]:
        if not p["has_lyrics"]:
            continue
        page = (site_dir / p["lyrics_page"]).read_text(encoding="utf-8")
        assert f'<html lang="{p["language"]}">' in page
        assert f'<a class="midi" href="/{p["midi"]}">' in page
        assert '<div class="lyrics">' in page and "<nav" in page
        assert p["lyrics"] and all(line in page.replace("&#x27;", "'") for line in p["lyrics"])


def test_index_pages_link_every_piece_and_the_faults(manifest, site_dir):
    index = (site_dir / "index.html").read_text()
    listing_pages = re.findall(r'<a class="page" href="/(page-\d+\.html)"', index)
    assert listing_pages
    hrefs = set()
    for name in listing_pages:
        hrefs |= set(re.findall(r'href="(/[^"]+)"', (site_dir / name).read_text()))
    assert {f"/{p['midi']}" for p in manifest["pieces"]} <= hrefs
    assert {f["url_path"] for f in manifest["fault_files"]} <= hrefs


def test_fault_files_are_what_the_manifest_says(manifest, site_dir):
    faults = {f["name"]: f for f in manifest["fault_files"]}
    assert set(faults) == {"not-midi", "truncated", "missing"}
    not_midi = (site_dir / faults["not-midi"]["url_path"].lstrip("/")).read_bytes()
    assert not not_midi.startswith(b"MThd") and not_midi.lstrip().startswith(b"<!DOCTYPE html>")
    truncated = (site_dir / faults["truncated"]["url_path"].lstrip("/")).read_bytes()
    first = (site_dir / manifest["pieces"][0]["midi"]).read_bytes()
    assert truncated.startswith(b"MThd") and first.startswith(truncated) and len(truncated) < len(first)
    assert hashlib.sha256(truncated).hexdigest() == faults["truncated"]["sha256"]
    assert not (site_dir / faults["missing"]["url_path"].lstrip("/")).exists()


def test_second_build_reuses_the_site(manifest, site_dir):
    before = {p: p.stat().st_mtime_ns for p in site_dir.rglob("*") if p.is_file()}
    again = build_site(site_dir, SITE_LIMIT - 2)  # a smaller limit is served by the bigger site too
    assert again == json.loads((site_dir / MANIFEST).read_text()) == manifest
    assert {p: p.stat().st_mtime_ns for p in site_dir.rglob("*") if p.is_file()} == before


def test_build_refuses_to_replace_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="holds no manifest.json"):
        build_site(tmp_path, 5)


def test_quotas_follow_the_shares_and_fill_from_other_groups():
    assert quotas(10, {"bach": 99, "china": 99, "irish": 99, "classical": 99, "songs": 99}) == \
        {"bach": 5, "china": 2, "irish": 2, "classical": 1, "songs": 0}
    q = quotas(100, {"bach": 99, "china": 99, "irish": 99, "classical": 99, "songs": 3})
    assert sum(q.values()) == 100 and q["songs"] == 3 and q["bach"] == 47


def test_catalog_is_deterministic_and_mixed():
    first, second = catalog(), catalog()
    assert first == second
    assert all(first[g] for g in ("bach", "china", "irish", "classical"))
    irish = first["irish"][:4]
    assert {c.collection for c in irish} == {"oneills-1850", "ryans-mammoth"}


def test_lyric_lines_split_phrases_and_verses():
    assert lyric_lines("Nun ruhen alle Wälder, Vieh,  Menschen; Städt und Felder.\nzweite Strophe") == \
        ["Nun ruhen alle Wälder, Vieh, Menschen;", "Städt und Felder.", "zweite Strophe"]
    assert lyric_lines("") == []


def test_server_serves_midi_as_audio_midi_and_404s_missing(manifest, site_dir):
    with ScoreSite(site_dir) as site:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", site.url)
        ok = requests.get(site.url + manifest["pieces"][0]["midi"], timeout=10)
        missing = requests.get(site.url + "midi/broken/missing.mid", timeout=10)
    assert ok.status_code == 200 and ok.headers["content-type"] == "audio/midi"
    assert ok.content == (site_dir / manifest["pieces"][0]["midi"]).read_bytes()
    assert missing.status_code == 404
    assert [e["status"] for e in site.access_log] == [200, 404]


def test_site_source_matches_the_site():
    src = site_source("http://127.0.0.1:8765")
    assert src.seeds == ["http://127.0.0.1:8765/index.html"]
    assert src.allow_private and "music21" in src.license
