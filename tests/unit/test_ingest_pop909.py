"""Annotated sets (POP909): label files parsed, landed beside the MIDI, bad folders logged and skipped."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.annotated import ANNOTATED_SETS, LabelError, import_annotated, parse_beats, parse_segments, read_pop909_song
from ingest.cli import app
from ingest.importers import ImportSource
from ingest.landing import run_log_summary
from lake.annotations import (bar_grid, chord_root, key_of_label, labelled_bar_chords, labels_on_grid, lake_chord,
                              main_key)
from lake.delta import Lake
from lake.schemas import BRONZE_ANNOTATIONS, BRONZE_CRAWL_ERRORS, BRONZE_CRAWL_LOG, BRONZE_MIDI

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pop909"
SONGS = ("098", "331", "764")
POP909 = ANNOTATED_SETS["pop909"]
runner = CliRunner()


@pytest.fixture
def lake(tmp_path):
    return Lake(str(tmp_path / "lake"))


@pytest.fixture
def songs(tmp_path):
    """A writable copy of the three fixture songs."""
    root = tmp_path / "pop909"
    for s in SONGS:
        shutil.copytree(FIXTURES / s, root / s)
    return root


# -- parsing ------------------------------------------------------------------------------------
def test_fixture_songs_parse_with_every_label():
    song = read_pop909_song(FIXTURES / "331")
    assert song.problems == [] and song.midi.name == "331.mid"
    labels = song.labels
    lines = (FIXTURES / "331" / "beat_midi.txt").read_text().splitlines()
    assert len(labels["beat_s"]) == len(lines) and labels["beat_s"][0] == float(lines[0].split()[0])
    assert labels["beat_downbeat"] == [line.split()[2] == "1.0" for line in lines]
    chords = (FIXTURES / "331" / "chord_midi.txt").read_text().splitlines()
    assert labels["chord_labels"] == [c.split("\t")[2] for c in chords]
    assert labels["key_labels"] == ["C:maj"] and labels["key_name"] == "C major"


def test_beats_must_be_numbers_in_order_with_0_1_flags_and_a_downbeat():
    assert parse_beats("0.5 1.0 1.0\n1.0 0 0\n")["beat_downbeat"] == [True, False]
    with pytest.raises(LabelError, match=r"beat_midi.txt line 2: 'x' is not a number"):
        parse_beats("0.5 1 1\nx 0 0\n")
    with pytest.raises(LabelError, match="line 2: beat at 0.4s does not come after"):
        parse_beats("0.5 1 1\n0.4 0 0\n")
    with pytest.raises(LabelError, match="line 1: flag '2' is neither 0 nor 1"):
        parse_beats("0.5 2 1\n")
    with pytest.raises(LabelError, match="line 1: expected 3 fields, got 2"):
        parse_beats("0.5 1\n")
    with pytest.raises(LabelError, match="no downbeat"):
        parse_beats("0.5 1 0\n1.0 0 0\n")
    with pytest.raises(LabelError, match="is empty"):
        parse_beats("\n \n")


def test_segments_check_their_labels_and_their_spans():
    from ingest.annotated import _chord_check

    assert parse_segments("0\t1.5\tG:maj/3\n1.5\t2\tN\n", "c.txt", _chord_check) == ([0.0, 1.5], [1.5, 2.0],
                                                                                    ["G:maj/3", "N"])
    with pytest.raises(LabelError, match=r"c.txt line 1: not a chord label 'Gmaj'"):
        parse_segments("0 1 Gmaj\n", "c.txt", _chord_check)
    with pytest.raises(LabelError, match=r"k.txt line 1: ends \(1s\) before it starts \(2s\)"):
        parse_segments("2 1 C:maj\n", "k.txt", key_of_label)
    with pytest.raises(LabelError, match="k.txt line 1: not a key label 'C:dorian'"):
        parse_segments("0 1 C:dorian\n", "k.txt", key_of_label)


def test_a_broken_folder_lists_each_problem_with_file_and_line(songs):
    (songs / "098" / "key_audio.txt").unlink()
    (songs / "098" / "chord_midi.txt").write_text("0.1\t0.5\tN\n0.5\t1.0\n")
    song = read_pop909_song(songs / "098")
    assert song.labels is None
    assert song.reason() == "098/: missing key_audio.txt; chord_midi.txt line 2: expected 3 fields, got 2"


# -- the lake's reading of the labels -----------------------------------------------------------
@pytest.mark.parametrize("label, lake", [
    ("G:maj/3", "G:maj"), ("F#:min7", "F#:min7"), ("D:sus4(b7)", "D:sus4"), ("Db:maj6", "C#:maj"),
    ("A:min6", "A:min"), ("C:minmaj7", "C:min"), ("Bb:9", "Bb:7"), ("E:hdim7", "E:hdim7"), ("N", "N"),
    ("C:maj7/7", "C:maj7"), ("C:weird", None), ("H:maj", None)])
def test_chord_labels_map_to_the_lake_vocabulary(label, lake):
    assert lake_chord(label) == lake


def test_roots_keys_and_the_key_held_longest():
    assert chord_root("Db:maj6") == 1 and chord_root("N") is None and chord_root("A:min7") == 9
    assert key_of_label("Gb:maj") == "F# major" and key_of_label("Eb:min") == "Eb minor"
    # a short Gb major intro, then four times as long in Eb minor
    assert main_key([0, 10], [10, 50], ["Gb:maj", "Eb:min"]) == "Eb minor"
    assert main_key([0, 0], [5, 5], ["C:maj", "C:maj"]) == "C major"  # repeated lines count once each


def test_labels_on_a_grid_take_the_segment_covering_most_of_each_cell():
    # segments: C 0-1.5, G 1.5-4, nothing after 4
    cells = labels_on_grid([0, 1.5], [1.5, 4], ["C:maj", "G:maj"], [0, 2, 4, 6])
    assert cells == ["C:maj", "G:maj", None]
    bars = labelled_bar_chords([0, 1.5], [1.5, 4], ["C:maj/5", "G:weird"], [0, 2, 4], last_end_s=6)
    assert bars == ["C:maj", "N", "N"]  # no lake chord for G:weird, nothing at all in the last bar
    assert bar_grid([0, 1, 2, 3, 4, 5, 6, 7], [True, False, False, False, True, False, False, False]).tolist() == [0, 4, 8]


# -- landing ------------------------------------------------------------------------------------
def test_import_lands_midi_and_labels_once_with_licence_and_roles(songs, lake):
    report = import_annotated(lake, songs, ImportSource("pop909", "MIT"), POP909, progress=False)
    assert (report.seen, report.landed, report.errors) == (3, 3, 0)
    assert (report.annotations_landed, report.annotation_errors) == (3, 0)
    assert report.table_rows[BRONZE_ANNOTATIONS.name] == 3 and report.table_rows[BRONZE_MIDI.name] == 3
    assert "bronze_annotations" in report.summary() and "3 rows" in report.summary()

    midi = {r["sha256"]: r for r in lake.read(BRONZE_MIDI).to_pylist()}
    labels = {r["item"]: r for r in lake.read(BRONZE_ANNOTATIONS).to_pylist()}
    assert set(labels) == set(SONGS)
    for item, row in labels.items():
        body = (songs / item / f"{item}.mid").read_bytes()
        assert row["sha256"] == hashlib.sha256(body).hexdigest() and row["sha256"] in midi
        assert midi[row["sha256"]]["license"] == row["license"] == "MIT"
        assert row["source"] == midi[row["sha256"]]["source"] == "pop909"
        assert row["track_names"] == ["MELODY", "BRIDGE", "PIANO"]
        assert row["track_roles"] == ["melody", "bridge", "accompaniment"]
        assert row["ingest_run_id"] == report.run_id
    assert labels["098"]["key_name"] == "Ab major" and labels["764"]["key_name"] == "F major"

    again = import_annotated(lake, songs, ImportSource("pop909", "MIT"), POP909, progress=False)
    assert (again.landed, again.duplicates, again.annotations_landed, again.annotations_unchanged) == (0, 3, 0, 3)
    assert lake.read(BRONZE_ANNOTATIONS).num_rows == 3

    # a corrected label file re-lands that song's labels (an update, not a second row)
    chords = songs / "331" / "chord_midi.txt"
    chords.write_text(chords.read_text().replace("C:maj", "C:maj7", 1))
    third = import_annotated(lake, songs, ImportSource("pop909", "MIT"), POP909, progress=False)
    assert (third.annotations_landed, third.annotations_unchanged) == (1, 2)
    rows = {r["item"]: r for r in lake.read(BRONZE_ANNOTATIONS).to_pylist()}
    assert len(rows) == 3 and "C:maj7" in rows["331"]["chord_labels"]


def test_bad_folders_get_one_logged_reason_and_the_import_goes_on(songs, lake):
    (songs / "098" / "beat_midi.txt").unlink()  # partial folder: its MIDI still lands
    (songs / "331" / "key_audio.txt").write_text("0\t80\tC:maj\n80\tabc\tG:maj\n")  # malformed line
    (songs / "999").mkdir()  # a folder without a song
    (songs / "999" / "beat_midi.txt").write_text("0 1 1\n")
    report = import_annotated(lake, songs, ImportSource("pop909", "MIT"), POP909, progress=False)
    assert (report.landed, report.errors, report.annotations_landed, report.annotation_errors) == (3, 0, 1, 3)
    assert [r["item"] for r in lake.read(BRONZE_ANNOTATIONS).to_pylist()] == ["764"]

    errors = {Path(r["url"].rstrip("/")).name: r for r in lake.read(BRONZE_CRAWL_ERRORS).to_pylist()}
    assert set(errors) == {"098", "331", "999"}
    assert all(r["stage"] == "annotations" and r["ingest_run_id"] == report.run_id for r in errors.values())
    assert errors["098"]["reason"] == "098/: missing beat_midi.txt"
    assert errors["331"]["reason"] == "331/: key_audio.txt line 2: 'abc' is not a number"
    assert errors["999"]["reason"] == "999/: no 999.mid; missing chord_midi.txt; missing key_audio.txt"
    log = lake.read(BRONZE_CRAWL_LOG, columns=["kind", "outcome"]).to_pylist()
    assert sorted((r["kind"], r["outcome"]) for r in log) == sorted(
        [("midi", "landed")] * 3 + [("annotations", "error")] * 3 + [("annotations", "landed")])
    summary = run_log_summary(lake, run_id=report.run_id)
    assert "missing beat_midi.txt" in summary and "is not a number" in summary


def test_cli_imports_an_annotated_set_by_its_source_name(songs, tmp_path):
    result = runner.invoke(app, ["import", str(songs), "--source", "pop909", "--set", f"lake.uri={tmp_path}/lake"])
    assert result.exit_code == 0, result.output
    assert "labels: 3 songs landed" in result.output and "bronze_annotations" in result.output
    rows = Lake(f"{tmp_path}/lake").read(BRONZE_ANNOTATIONS, columns=["license"]).to_pylist()
    assert [r["license"] for r in rows] == ["MIT"] * 3  # the set's licence when no source or --license names one

    bad = runner.invoke(app, ["import", str(songs / "098" / "098.mid"), "--source", "pop909",
                              "--set", f"lake.uri={tmp_path}/lake"])
    assert bad.exit_code == 2 and "folder of song folders" in bad.output
    unknown = runner.invoke(app, ["import", str(songs), "--source", "x", "--labels", "nope",
                                  "--set", f"lake.uri={tmp_path}/lake"])
    assert unknown.exit_code == 2 and "known label layouts are pop909" in unknown.output
