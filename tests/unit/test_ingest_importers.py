"""Bulk import: folders, Lakh-layout tar.gz and zip archives streamed, bad members recorded, captions by MD5."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zipfile

import pytest
from typer.testing import CliRunner

from ingest.cli import app
from ingest.importers import ImportSource, import_captions, import_midi, iter_members
from ingest.lock import SourceLease
from lake.delta import Lake
from lake.schemas import BRONZE_CAPTIONS, BRONZE_CRAWL_ERRORS, BRONZE_CRAWL_LOG, BRONZE_MIDI, BRONZE_URLS
from tests.support.ingest_rows import lakh_archive, md5, midi_bytes

LAKH = ImportSource("lakh", "CC-BY-4.0")
runner = CliRunner()


@pytest.fixture
def lake(tmp_path):
    return Lake(str(tmp_path / "lake"))


def test_lakh_tar_gz_lands_every_good_member_once_and_records_bad_ones(tmp_path, lake):
    bodies = [midi_bytes(i) for i in range(30)]
    truncated = bodies[0][: len(bodies[0]) - 5]
    (tmp_path / "in").mkdir()
    archive = lakh_archive(tmp_path / "in" / "lmd_full.tar.gz", bodies, {
        "lmd_full/f/html.mid": b"<!DOCTYPE html><p>not found</p>",
        "lmd_full/f/truncated.mid": truncated,
        "lmd_full/f/huge.mid": b"MThd" + b"\0" * 5000,
        "lmd_full/README.txt": b"not a midi file, ignored",
    })
    report = import_midi(lake, archive, LAKH, max_bytes=4096, progress=False)
    assert os.listdir(tmp_path / "in") == ["lmd_full.tar.gz"]  # streamed: nothing unpacked next to the archive
    assert (report.seen, report.landed, report.duplicates, report.errors, report.ignored) == (33, 30, 0, 3, 2)

    midi = {r["sha256"]: r for r in lake.read(BRONZE_MIDI).to_pylist()}
    assert set(midi) == {hashlib.sha256(b).hexdigest() for b in bodies}
    for b in bodies:
        row = midi[hashlib.sha256(b).hexdigest()]
        assert row["md5"] == md5(b) and row["content"] == b and row["license"] == "CC-BY-4.0"
        assert row["url"] == f"tar://{archive}!/lmd_full/{md5(b)[0]}/{md5(b)}.mid"
        assert row["title"] is None and row["http_status"] is None and row["source"] == "lakh"
    errors = {r["url"].rsplit("/", 1)[1]: r for r in lake.read(BRONZE_CRAWL_ERRORS).to_pylist()}
    assert errors["html.mid"]["reason"].startswith("not a MIDI file: body starts with b'<!DOCTYPE")
    assert errors["truncated.mid"]["stage"] == "validate"
    assert errors["huge.mid"]["reason"] == "too large: 5004 bytes > 4096 (import_max_file_bytes)"
    log = lake.read(BRONZE_CRAWL_LOG).to_pylist()
    assert sorted(r["outcome"] for r in log) == ["error"] * 3 + ["landed"] * 30

    again = import_midi(lake, archive, LAKH, max_bytes=4096, progress=False)
    assert (again.landed, again.duplicates, again.errors) == (0, 30, 3)
    assert lake.read(BRONZE_MIDI).num_rows == 30 and lake.read(BRONZE_URLS).num_rows == 30


def test_folder_and_zip_share_files_by_content_with_one_url_row_per_place(tmp_path, lake):
    bodies = [midi_bytes(i) for i in range(40, 46)]
    folder = tmp_path / "collection"
    (folder / "sub").mkdir(parents=True)
    for i, b in enumerate(bodies[:4]):
        (folder / ("sub" if i % 2 else "") / f"Song {i}.MID").write_bytes(b)
    (folder / "notes.txt").write_text("ignored")
    with zipfile.ZipFile(tmp_path / "more.zip", "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i, b in enumerate(bodies[2:]):  # two files also in the folder, two new
            zf.writestr(f"midi/{i}.mid", b)
        zf.writestr("midi/bomb.mid", b"MThd" + b"\0" * 200_000)  # compresses to almost nothing

    folder_report = import_midi(lake, folder, ImportSource("mine"), max_bytes=100_000, progress=False)
    zip_report = import_midi(lake, tmp_path / "more.zip", ImportSource("mine"), max_bytes=100_000, progress=False)
    assert (folder_report.landed, folder_report.ignored) == (4, 1)
    assert (zip_report.landed, zip_report.duplicates, zip_report.errors) == (2, 2, 1)
    assert lake.read(BRONZE_MIDI).num_rows == 6
    urls = lake.read(BRONZE_URLS).to_pylist()
    assert len(urls) == 8  # 4 folder files + 4 zip members
    places = {}
    for r in urls:
        places.setdefault(r["sha256"], set()).add(r["url"].split(":", 1)[0])
    assert sum(p == {"file", "zip"} for p in places.values()) == 2
    titles = {r["title"] for r in lake.read(BRONZE_MIDI).to_pylist() if r["url"].startswith("file:")}
    assert titles == {"Song 0", "Song 1", "Song 2", "Song 3"}
    (bomb,) = lake.read(BRONZE_CRAWL_ERRORS).to_pylist()
    assert bomb["url"].endswith("more.zip!/midi/bomb.mid") and bomb["reason"].startswith("too large")


def test_broken_archive_keeps_what_was_read_and_says_where_it_broke(tmp_path, lake):
    bodies = [midi_bytes(i) for i in range(60, 70)]
    whole = lakh_archive(tmp_path / "whole.tar.gz", bodies).read_bytes()
    raw = gzip.decompress(whole)
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(gzip.compress(raw[: len(raw) // 2]))  # a download that stopped halfway
    members = list(iter_members(cut, 1 << 20))
    assert members[-1].problem.startswith("archive broken after the members above")
    report = import_midi(lake, cut, LAKH, progress=False)
    assert report.landed == sum(m.data is not None for m in members) >= 3 and report.errors == 1


def test_captions_join_by_md5_and_bad_lines_are_errors(tmp_path, lake):
    bodies = [midi_bytes(i) for i in range(80, 85)]
    import_midi(lake, lakh_archive(tmp_path / "lmd.tar.gz", bodies[:4]), LAKH, progress=False)
    caps = tmp_path / "midicaps.jsonl"
    lines = [json.dumps({"location": f"lmd_full/{md5(b)[0]}/{md5(b)}.mid", "caption": f"A calm piece number {i}.",
                         "genre": ["classical"], "tempo": 90 + i}) for i, b in enumerate(bodies)]
    lines += ["{not json", json.dumps({"location": "x/readme.mid", "caption": "no md5 here"}),
              json.dumps({"md5": md5(bodies[0])}), ""]
    caps.write_text("\n".join(lines) + "\n")
    report = import_captions(lake, caps, LAKH, progress=False)
    assert (report.captions_landed, report.captions_matched, report.caption_errors) == (5, 4, 3)
    rows = {r["md5"]: r for r in lake.read(BRONZE_CAPTIONS).to_pylist()}
    assert set(rows) == {md5(b) for b in bodies}
    first = rows[md5(bodies[0])]
    assert first["sha256"] == hashlib.sha256(bodies[0]).hexdigest() and first["caption"] == "A calm piece number 0."
    assert json.loads(first["metadata_json"]) == {"genre": ["classical"], "tempo": 90}
    assert rows[md5(bodies[4])]["sha256"] is None  # its file has not arrived yet
    reasons = sorted(r["reason"] for r in lake.read(BRONZE_CRAWL_ERRORS).to_pylist())
    assert reasons[0].startswith("line 6: not JSON") and "no md5" in reasons[1] and "no caption text" in reasons[2]

    # the missing file arrives; importing the same captions again fills its sha256 and changes nothing else
    import_midi(lake, lakh_archive(tmp_path / "late.tar.gz", bodies[4:]), LAKH, progress=False)
    again = import_captions(lake, caps, LAKH, progress=False)
    assert again.captions_landed == 1
    rows = {r["md5"]: r for r in lake.read(BRONZE_CAPTIONS).to_pylist()}
    assert len(rows) == 5 and rows[md5(bodies[4])]["sha256"] == hashlib.sha256(bodies[4]).hexdigest()


def test_cli_import_lands_and_skips_a_source_another_run_holds(tmp_path):
    bodies = [midi_bytes(i) for i in range(90, 94)]
    archive = lakh_archive(tmp_path / "lmd_full.tar.gz", bodies)
    caps = tmp_path / "caps.jsonl"
    caps.write_text("".join(json.dumps({"location": f"{md5(b)}.mid", "caption": "x"}) + "\n" for b in bodies))
    args = ["import", str(archive), "--source", "lakh", "--captions", str(caps), "--license", "CC-BY-4.0",
            "--set", f"lake.uri={tmp_path}/lake"]
    lake = Lake(f"{tmp_path}/lake")
    with SourceLease(lake, "lakh", ttl_s=60):
        held = runner.invoke(app, args)
    assert held.exit_code == 0 and "skipped: source 'lakh' is being ingested by lease-" in held.output
    assert lake.read(BRONZE_MIDI).num_rows == 0

    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "4 landed" in result.output and "captions: 4 new or changed (4 matched to files)" in result.output
    assert lake.read(BRONZE_MIDI).num_rows == 4 and lake.read(BRONZE_CAPTIONS).num_rows == 4
    log = runner.invoke(app, ["log", "--set", f"lake.uri={tmp_path}/lake"])
    assert log.exit_code == 0 and "landed" in log.output


def test_cli_import_names_a_bad_path_in_one_line(tmp_path):
    result = runner.invoke(app, ["import", str(tmp_path / "nope.tar.gz"), "--source", "lakh",
                                 "--set", f"lake.uri={tmp_path}/lake"])
    assert result.exit_code == 2 and result.output.strip() == f"PATH {tmp_path / 'nope.tar.gz'}: no such file or folder"
