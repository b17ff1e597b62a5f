"""The features, encode and dedup jobs on real Spark and real Delta tables, hostile files included.

A lake of its own gets bronze rows: good pieces (from the spine's job tests), duplicates of one of
them (the same notes saved differently; a transposed, edited copy), bad and hostile files (cut,
not MIDI, empty, silent, hours long, absurd tempo, 10,000 tracks declared). The tests follow the
tables through features → encode → dedup, re-runs that must commit nothing, a crash between two
commits and its re-run, and an incremental run on one new file.
"""

from __future__ import annotations

import hashlib

import pytest

from lake.delta import Lake
from lake.midi_features import analyze
from lake.schemas import (BRONZE_MIDI, SILVER_CHORDS, SILVER_DUPLICATES, SILVER_QUARANTINE, SILVER_SCORES,
                          SILVER_TOKENS, SILVER_TRACK_TOKENS, SILVER_TRACKS)
from common.runinfo import code_version
from tests.support.config import make_config
from tests.support.lake_faults import Crash, crash_after_commits
from tests.support.lake_rows import BAD, DUPES, GOOD, HOSTILE, LATE, bronze_rows
from tests.support.scores import band_score

ALL = {**GOOD, **BAD, **DUPES, **HOSTILE, **LATE}
USABLE = {**GOOD, **DUPES}
EXPECTED_REASONS = {"truncated": "corrupted", "not-midi": "not_midi", "empty": "empty_file", "silent": "empty",
                    "hours-long": "too_long", "absurd-tempo": "absurd_tempo", "ten-thousand-tracks": "too_many_tracks"}


def sha(name: str) -> str:
    return hashlib.sha256(ALL[name][0]).hexdigest()


@pytest.fixture(scope="module")
def run(tmp_path_factory, spark):
    from lake.jobs.dedup import run_dedup
    from lake.jobs.encode import run_encode
    from lake.jobs.features import run_features

    cfg = make_config(tmp_path_factory.mktemp("lake-features"))
    lake = Lake.from_config(cfg)
    state = dict(cfg=cfg, lake=lake, reports={}, versions={})

    def step(name, job):
        state["reports"][name] = job(cfg, spark)
        state["versions"][name] = {t.name: t.version for t in lake.describe()}

    lake.insert_new(BRONZE_MIDI, bronze_rows({**GOOD, **BAD, **DUPES, **HOSTILE}))
    # a crash after the first of the four commits: the re-run must finish the others, adding nothing twice
    with crash_after_commits(1), pytest.raises(Crash):
        run_features(cfg, spark)
    state["versions"]["crashed"] = {t.name: t.version for t in lake.describe()}
    step("features", run_features)
    step("features-again", run_features)
    step("encode", run_encode)
    step("encode-again", run_encode)
    step("dedup", run_dedup)
    step("dedup-again", run_dedup)
    lake.insert_new(BRONZE_MIDI, bronze_rows(LATE))
    step("features-late", run_features)
    step("encode-late", run_encode)
    step("dedup-late", run_dedup)
    return state


def at(run, step, spec):
    return run["lake"].read(spec, version=run["versions"][step][spec.name]).to_pylist()


def test_crash_then_rerun_commits_each_row_once(run):
    crashed = run["versions"]["crashed"]
    assert crashed[SILVER_SCORES.name] >= 1 and crashed[SILVER_CHORDS.name] == 0, "only the first output committed"
    report = run["reports"]["features"]
    assert report.outputs[SILVER_SCORES.name][1] == 0, "the scores committed before the crash are not written again"
    scores = at(run, "features", SILVER_SCORES)
    assert sorted(r["sha256"] for r in scores) == sorted(sha(n) for n in USABLE)
    for spec in (SILVER_CHORDS, SILVER_QUARANTINE):
        keys = [r["sha256"] for r in at(run, "features", spec)]
        assert len(keys) == len(set(keys))
    assert sorted(r["sha256"] for r in at(run, "features", SILVER_CHORDS)) == sorted(sha(n) for n in USABLE)


def test_hostile_and_bad_files_are_quarantined_with_reasons(run):
    quarantine = {r["sha256"]: r for r in at(run, "features", SILVER_QUARANTINE)}
    assert set(quarantine) == {sha(n) for n in {**BAD, **HOSTILE}}
    for name, reason in EXPECTED_REASONS.items():
        row = quarantine[sha(name)]
        assert row["reason"] == reason and row["job"] == "features" and row["error"] and "\n" not in row["error"]
    assert "10000 > cap of 256" in quarantine[sha("ten-thousand-tracks")]["error"]


def test_features_chords_and_tracks_land_with_lineage(run):
    pinned = run["reports"]["features"].inputs[BRONZE_MIDI.name]
    band = next(r for r in at(run, "features", SILVER_SCORES) if r["sha256"] == sha("band"))
    assert band["programs"] == [-1, 0, 33, 73] and band["families"] == ["Drums", "Piano", "Bass", "Pipe"]
    assert band["style"] == "rock" and band["n_bars"] == 8 and band["polyphony_max"] == 5
    assert band["tempo_bpms"] == [110.0] and band["time_signatures"] == ["4/4"] and band["quality_flags"] == []
    assert len(band["minhash"]) == 64 and len(band["note_hash"]) == 32
    chords = next(r for r in at(run, "features", SILVER_CHORDS) if r["sha256"] == sha("band"))
    expected = analyze(band_score()).chords  # what the function computes is what the job stores
    assert {k: chords[k] for k in expected} == expected
    assert chords["bar_chords"][0] == "D:maj" and len(chords["beat_chords"]) == 32
    tracks = {r["program"]: r for r in at(run, "features", SILVER_TRACKS) if r["sha256"] == sha("band")}
    assert {p: t["role"] for p, t in tracks.items()} == {-1: "drums", 33: "bass", 0: "accompaniment", 73: "melody"}
    for spec in (SILVER_SCORES, SILVER_CHORDS, SILVER_TRACKS, SILVER_QUARANTINE):
        for r in at(run, "features", spec):
            assert (r["source_table"], r["source_version"], r["code_version"]) == (BRONZE_MIDI.name, pinned,
                                                                                   code_version())


def test_reruns_commit_nothing(run):
    v = run["versions"]
    assert v["features-again"] == v["features"] and "already described" in run["reports"]["features-again"].note
    assert v["encode-again"] == v["encode"] and "already encoded" in run["reports"]["encode-again"].note
    assert v["dedup-again"] == v["dedup"] and "already deduplicated" in run["reports"]["dedup-again"].note


def test_tokens_and_per_program_tokens_decode_to_the_notes(run):
    from lake.tokenizer import load_tokenizer, save_tokenizer, tokenizer_id

    tid = tokenizer_id(run["cfg"].tokenizer)
    tokens = at(run, "encode", SILVER_TOKENS)
    assert sorted(r["sha256"] for r in tokens) == sorted(sha(n) for n in USABLE)
    assert run["reports"]["encode"].counts == dict(files_in=len(USABLE), ok=len(USABLE), quarantined=0)
    tokenizer = load_tokenizer(save_tokenizer(run["cfg"].lake.uri, run["cfg"].tokenizer))
    per_track = at(run, "encode", SILVER_TRACK_TOKENS)
    tracks = at(run, "features", SILVER_TRACKS)
    for r in per_track:
        assert r["tokenizer_id"] == tid and r["n_tokens"] == len(r["tokens"])
        expected = sum(t["n_notes"] for t in tracks if t["sha256"] == r["sha256"] and t["program"] == r["program"])
        decoded = tokenizer.decode(r["tokens"])
        assert decoded.note_num() == expected
    assert sorted(r["program"] for r in per_track if r["sha256"] == sha("band")) == [-1, 0, 33, 73]


def test_duplicates_cluster_and_follow_new_pieces(run):
    rows = {r["sha256"]: r for r in at(run, "dedup", SILVER_DUPLICATES)}
    family = {sha("tune"), sha("tune-resaved"), sha("tune-edited")}
    assert set(rows) == family
    assert {r["cluster_id"] for r in rows.values()} == {min(family)}
    assert rows[sha("tune")]["method"] == rows[sha("tune-resaved")]["method"] == "exact"
    assert rows[sha("tune-edited")]["method"] == "near"
    assert run["reports"]["dedup"].counts["clusters"] == 1
    late = run["reports"]["dedup-late"]
    assert late.counts["clusters"] == 1 and at(run, "dedup-late", SILVER_DUPLICATES) == at(run, "dedup",
                                                                                        SILVER_DUPLICATES)


def test_a_new_bronze_file_is_the_only_one_processed(run):
    assert run["reports"]["features-late"].counts == dict(files_in=1, ok=1, quarantined=0)
    assert run["reports"]["encode-late"].counts == dict(files_in=1, ok=1, quarantined=0)
    late = next(r for r in at(run, "features-late", SILVER_SCORES) if r["sha256"] == sha("late-tune"))
    assert late["time_signature"] == "3/4" and late["style"] == "jazz"
    assert len(at(run, "encode-late", SILVER_TOKENS)) == len(USABLE) + 1
