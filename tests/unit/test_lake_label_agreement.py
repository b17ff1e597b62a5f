"""The lake's chords and keys measured against POP909 labels, on the three fixture songs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.annotated import ANNOTATED_SETS, import_annotated, read_pop909_song
from ingest.importers import ImportSource
from lake.delta import Lake
from lake.label_agreement import agreement, piece_agreement, report
from lake.vocab import PITCH_CLASSES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pop909"


def _item(song: str, shift: int = 0) -> dict:
    """A piece as the report reads it; ``shift`` moves every label up by that many semitones."""
    s = read_pop909_song(FIXTURES / song)
    labels = dict(s.labels, item=song)
    if shift:
        def up(label: str) -> str:
            root, sep, rest = label.partition(":")
            if not sep:
                return label
            from lake.vocab import normalize_tonic
            return PITCH_CLASSES[(PITCH_CLASSES.index(normalize_tonic(root)) + shift) % 12] + ":" + rest
        labels["chord_labels"] = [up(c) for c in labels["chord_labels"]]
        tonic, mode = labels["key_name"].split()
        labels["key_name"] = f"{PITCH_CLASSES[(PITCH_CLASSES.index(tonic) + shift) % 12]} {mode}"
    return {"sha256": "x", "content": s.midi.read_bytes(), "labels": labels}


def test_the_lake_agrees_with_the_labels_of_a_fixture_song():
    row = piece_agreement(_item("331"))
    assert row["key"] == row["label_key"] == "C major" and row["key_relation"] == "exact"
    for measure in ("lake_bars", "label_bars", "segments"):
        t = row[measure]
        assert t["n"] > 10 and t["full"] <= t["root"] <= t["n"]
    # the chord finder on the labelled bars and segments agrees; the MIDI's own bar lines sit half a beat
    # before the labelled downbeats in this song, so its bars straddle two chords and agree less
    assert row["segments"]["root"] / row["segments"]["n"] > 0.7
    assert row["label_bars"]["root"] / row["label_bars"]["n"] > 0.6
    assert row["lake_bars"]["root"] / row["lake_bars"]["n"] < row["label_bars"]["root"] / row["label_bars"]["n"]


def test_labels_moved_a_semitone_stop_agreeing():
    right, wrong = piece_agreement(_item("764")), piece_agreement(_item("764", shift=1))
    assert wrong["key_relation"] == "other"
    for measure in ("lake_bars", "label_bars", "segments"):
        assert wrong[measure]["n"] == right[measure]["n"]
        assert wrong[measure]["root"] / wrong[measure]["n"] < 0.2 < right[measure]["root"] / right[measure]["n"]


@pytest.mark.parametrize("workers", [1])
def test_the_report_reads_the_imported_set_from_the_lake(tmp_path, workers):
    lake = Lake(str(tmp_path / "lake"))
    import_annotated(lake, FIXTURES, ImportSource("pop909", "MIT"), ANNOTATED_SETS["pop909"], progress=False)
    result = agreement(lake, "pop909", workers=workers, progress=False)
    assert (result["pieces"], result["analysed"]) == (3, 3)
    assert sum(result["key"]["counts"].values()) == 3
    assert result["chords"]["segments"]["n"] == sum(r["segments"]["n"] for r in result["rows"])
    text = report(result)
    assert "per labelled chord segment" in text and "exact" in text and "3 of 3 pieces" in text
    assert agreement(lake, "other-set", progress=False)["pieces"] == 0
