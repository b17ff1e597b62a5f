"""Labels win: POP909 songs imported with their labels go through the real Spark jobs into gold.

Three fixture songs (one with its key label changed to a key the lake's analysis does not find)
and one unlabelled file land in a lake of their own; features and align run on real Spark and
Delta. Gold must take key, bars and chord per bar from the labels where a piece has them, and from
silver where it does not.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.annotated import ANNOTATED_SETS, import_annotated, read_pop909_song
from ingest.importers import ImportSource
from lake.annotations import bar_grid, labelled_bar_chords
from lake.delta import Lake
from lake.schemas import BRONZE_ANNOTATIONS, BRONZE_MIDI, GOLD_PAIRS, SILVER_CHORDS, SILVER_SCORES
from tests.support.config import make_config
from tests.support.lake_rows import GOOD, bronze_rows

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pop909"


@pytest.fixture(scope="module")
def gold(tmp_path_factory, spark):
    from lake.jobs.align import run_align
    from lake.jobs.features import run_features

    root = tmp_path_factory.mktemp("pop909-lake")
    songs = root / "pop909"
    shutil.copytree(FIXTURES, songs)
    key = songs / "764" / "key_audio.txt"  # the lake hears F major here; the labels now say D minor
    key.write_text(key.read_text().replace("F:maj", "D:min"))
    cfg = make_config(root)
    lake = Lake.from_config(cfg)
    import_annotated(lake, songs, ImportSource("pop909", "MIT"), ANNOTATED_SETS["pop909"], progress=False)
    lake.insert_new(BRONZE_MIDI, bronze_rows({"c-major-melody": GOOD["c-major-melody"]}))
    run_features(cfg, spark)
    report = run_align(cfg, spark)
    return lake, songs, report


def test_labelled_pieces_take_key_bars_and_chords_from_their_labels(gold):
    lake, songs, report = gold
    assert report.counts["pairs"] == 4 and report.counts["labelled"] == 3
    assert report.inputs[BRONZE_ANNOTATIONS.name] == lake.version(BRONZE_ANNOTATIONS)
    pairs = {r["sha256"]: r for r in lake.read(GOLD_PAIRS).to_pylist()}
    scores = {r["sha256"]: r for r in lake.read(SILVER_SCORES).to_pylist()}
    labels = {r["item"]: r for r in lake.read(BRONZE_ANNOTATIONS).to_pylist()}
    for item, lab in labels.items():
        pair = pairs[lab["sha256"]]
        assert pair["key_source"] == pair["chord_source"] == "labels:pop909"
        assert pair["key_name"] == lab["key_name"]
        song = read_pop909_song(songs / item).labels
        bars = bar_grid(song["beat_s"], song["beat_downbeat"])
        assert pair["bar_start_s"] == pytest.approx(bars[:-1].tolist(), abs=1e-3)
        assert pair["bar_chords"] == labelled_bar_chords(song["chord_start_s"], song["chord_end_s"],
                                                         song["chord_labels"], bars[:-1], last_end_s=bars[-1])
        assert any(c != "N" for c in pair["bar_chords"])
    changed = pairs[labels["764"]["sha256"]]
    silver = scores[labels["764"]["sha256"]]
    assert f"{silver['key_tonic']} {silver['key_mode']}" == "F major"  # the lake's own reading ...
    assert changed["key_name"] == "D minor" and "D minor" in changed["caption"]  # ... loses to the label


def test_unlabelled_pieces_keep_the_lakes_analysis(gold):
    lake, _, _ = gold
    labelled = set(lake.read(BRONZE_ANNOTATIONS, columns=["sha256"]).column("sha256").to_pylist())
    chords = {r["sha256"]: r for r in lake.read(SILVER_CHORDS).to_pylist()}
    scores = {r["sha256"]: r for r in lake.read(SILVER_SCORES).to_pylist()}
    (pair,) = [r for r in lake.read(GOLD_PAIRS).to_pylist() if r["sha256"] not in labelled]
    silver = scores[pair["sha256"]]
    assert pair["key_source"] == pair["chord_source"] == "analysis"
    assert pair["key_name"] == f"{silver['key_tonic']} {silver['key_mode']}"
    assert pair["bar_chords"] == chords[pair["sha256"]]["bar_chords"]
    assert pair["bar_start_s"] == chords[pair["sha256"]]["bar_start_s"]
