"""The lake's Spark jobs on real Spark and real Delta tables: encode (bronze → silver) and align (silver → gold).

The tests land their own bronze rows (MIDI files built with symusic, a truncated file, an HTML
page and an empty body, plus lyrics pages) in a lake of their own, then follow the tables through
a first run, a re-run that must commit nothing, and an incremental run on one new file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest

from lake.captions import caption_en
from lake.delta import Lake
from lake.schemas import (BRONZE_LYRICS, BRONZE_MIDI, GOLD_PAIRS, SILVER_CHORDS, SILVER_QUARANTINE, SILVER_SCORES,
                          SILVER_TOKENS)
from lake.vocab import split_of
from common.runinfo import code_version
from tests.support.config import make_config
from tests.support.lake_rows import BAD, GOOD, LYRICS, bronze_rows, lyrics_rows, midi_url
from tests.support.scores import make_score, scale_notes

SILVER = (SILVER_SCORES, SILVER_TOKENS, SILVER_QUARANTINE)


EXPECTED_ERRORS = {"truncated": ("validate", "truncated: 1 of 2 track chunks"), "not-midi": ("validate", "not MIDI"),
                   "empty": ("validate", "empty file"), "silent": ("features", "empty: no notes")}
LATE = {"a-minor-tune": (make_score([(40, False, scale_notes([69, 72, 76, 81, 76, 72, 71, 68, 69, 64, 69]))],
                                     bpm=60, meter=(6, 8)).dumps_midi(), "film")}


def sha(name: str) -> str:
    content = {**GOOD, **BAD, **LATE}[name][0]
    return hashlib.sha256(content).hexdigest()


@dataclass
class Steps:
    """Each step's report plus the table versions right after it, so tests can read any step's state."""
    cfg: object
    lake: Lake
    reports: dict
    versions: dict

    def at(self, step: str, spec) -> list[dict]:
        return self.lake.read(spec, version=self.versions[step][spec.name]).to_pylist()


@pytest.fixture(scope="module")
def steps(tmp_path_factory, spark) -> Steps:
    from lake.jobs.align import run_align
    from lake.jobs.encode import run_encode
    from lake.jobs.features import run_features

    cfg = make_config(tmp_path_factory.mktemp("lake-jobs"))
    lake = Lake.from_config(cfg)
    s = Steps(cfg, lake, {}, {})

    def step(name, job):
        s.reports[name] = job(cfg, spark) if job else None
        s.versions[name] = {t.name: t.version for t in lake.describe()}

    for job in (run_features, run_encode):
        empty = job(cfg, spark)
        assert not empty.outputs and "no files" in empty.note
    lake.insert_new(BRONZE_MIDI, bronze_rows({**GOOD, **BAD}))
    lake.insert_new(BRONZE_LYRICS, lyrics_rows(LYRICS))
    step("features", run_features)  # bronze -> silver_scores (+ chords, tracks, quarantine)
    step("encode", run_encode)  # silver_scores -> silver_tokens
    step("align", run_align)
    step("features-again", run_features)
    step("encode-again", run_encode)
    step("align-again", run_align)
    lake.insert_new(BRONZE_MIDI, bronze_rows(LATE))
    step("features-late", run_features)
    step("encode-late", run_encode)
    step("align-late", run_align)
    return s


def test_good_files_become_scores_with_their_features(steps):
    scores = {r["sha256"]: r for r in steps.at("encode", SILVER_SCORES)}
    assert set(scores) == {sha(n) for n in GOOD}
    c, d, g = (scores[sha(n)] for n in GOOD)
    assert (c["key_tonic"], c["key_mode"], c["time_signature"], c["style"]) == ("C", "major", "3/4", "classical")
    assert c["bpm"] == pytest.approx(90, abs=0.01) and c["instruments"] == ["Acoustic Grand Piano"]
    assert c["url"] == midi_url("c-major-melody") and c["title"] == "C Major Melody" and c["source"] == "test-site"
    assert (d["key_tonic"], d["key_mode"], d["style"], d["n_tracks"]) == ("D", "minor", "folk", 2)
    assert d["programs"] == [0, 32]
    assert (g["programs"], g["style"]) == ([-1, 0], "other")
    assert all(r["note_count"] > 0 and r["duration_s"] > 0 for r in scores.values())


def test_tokens_decode_back_to_the_notes(steps):
    from lake.tokenizer import load_tokenizer, save_tokenizer, tokenizer_id

    tid = tokenizer_id(steps.cfg.tokenizer)
    tokens = steps.at("encode", SILVER_TOKENS)
    assert {r["sha256"] for r in tokens} == {sha(n) for n in GOOD}
    note_counts = {r["sha256"]: r["note_count"] for r in steps.at("encode", SILVER_SCORES)}
    tokenizer = load_tokenizer(save_tokenizer(steps.cfg.lake.uri, steps.cfg.tokenizer))  # the saved one, as training loads it
    for row in tokens:
        assert row["tokenizer_id"] == tid and row["n_tokens"] == len(row["tokens"]) > 0
        decoded = tokenizer.decode(row["tokens"])
        assert decoded.note_num() == note_counts[row["sha256"]]


def test_bad_files_are_quarantined_with_reasons_and_nothing_is_lost(steps):
    quarantine = {r["sha256"]: r for r in steps.at("encode", SILVER_QUARANTINE)}
    assert set(quarantine) == {sha(n) for n in BAD}
    for name, (stage, reason) in EXPECTED_ERRORS.items():
        row = quarantine[sha(name)]
        assert row["stage"] == stage and row["error"].startswith(reason) and "\n" not in row["error"]
        assert row["url"] == midi_url(name) and row["size"] == len(BAD[name][0])
    bronze = {r["sha256"] for r in steps.lake.read(BRONZE_MIDI, version=steps.reports["encode"].inputs[BRONZE_MIDI.name],
                                                   columns=["sha256"]).to_pylist()}
    scored = {r["sha256"] for r in steps.at("encode", SILVER_SCORES)}
    assert scored | set(quarantine) == bronze and not scored & set(quarantine)
    assert steps.reports["features"].counts == dict(files_in=7, ok=3, quarantined=4)


def test_silver_rows_carry_the_pinned_bronze_version(steps):
    features, tokens = (SILVER_SCORES, SILVER_QUARANTINE), (SILVER_TOKENS,)
    for step, specs in (("features", features), ("encode", tokens), ("features-late", features),
                        ("encode-late", tokens)):
        report = steps.reports[step]
        pinned = report.inputs[BRONZE_MIDI.name]
        for spec in specs:
            fresh = [r for r in steps.at(step, spec) if r["job_run_id"] == report.run_id]
            assert len(fresh) == report.outputs[spec.name][1]
            for r in fresh:
                assert (r["source_table"], r["source_version"], r["code_version"]) == (
                    BRONZE_MIDI.name, pinned, code_version())
                assert r["processed_at"].tzinfo is not None


def test_a_rerun_commits_nothing(steps):
    assert steps.versions["features-again"] == steps.versions["encode-again"] == steps.versions["align"]
    assert steps.versions["align-again"] == steps.versions["align"]
    assert not steps.reports["features-again"].outputs and "already described" in steps.reports["features-again"].note
    assert not steps.reports["encode-again"].outputs and "already encoded" in steps.reports["encode-again"].note
    assert not steps.reports["align-again"].outputs and "already aligned" in steps.reports["align-again"].note


def test_a_new_bronze_row_is_the_only_one_processed(steps):
    features, encode = steps.reports["features-late"], steps.reports["encode-late"]
    assert features.counts == encode.counts == dict(files_in=1, ok=1, quarantined=0)
    added = {name: n for report in (features, encode) for name, (_, n) in report.outputs.items()}
    assert (added[SILVER_SCORES.name], added[SILVER_TOKENS.name], added[SILVER_QUARANTINE.name]) == (1, 1, 0)
    scores = steps.at("encode-late", SILVER_SCORES)
    assert sorted(r["sha256"] for r in scores) == sorted(sha(n) for n in (*GOOD, *LATE))
    late = next(r for r in scores if r["sha256"] == sha("a-minor-tune"))
    assert (late["key_tonic"], late["key_mode"], late["time_signature"], late["style"]) == ("A", "minor", "6/8", "film")
    assert len(steps.at("encode-late", SILVER_QUARANTINE)) == len(BAD)


def test_align_pairs_lyrics_where_there_are_some_and_captions_elsewhere(steps):
    report = steps.reports["align"]
    pairs = {r["sha256"]: r for r in steps.at("align", GOLD_PAIRS)}
    assert set(pairs) == {sha(n) for n in GOOD}
    assert report.counts == dict(pairs=3, lyrics=1, captions=2)
    scores = {r["sha256"]: r for r in steps.at("encode", SILVER_SCORES)}
    sung = pairs[sha("c-major-melody")]
    assert sung["text_kind"] == "lyrics"
    assert sung["text"] == "Twinkle, twinkle, little star\nhow I wonder what you are", "the first page fetched wins"
    chords = {r["sha256"]: r for r in steps.at("encode", SILVER_CHORDS)}
    for key, pair in pairs.items():
        assert pair["caption"] == caption_en(dict(scores[key], progression=chords[key]["progression"]))
        assert pair["split"] == split_of(key)
        assert (pair["style"], pair["bpm"], pair["time_signature"]) == (
            scores[key]["style"], scores[key]["bpm"], scores[key]["time_signature"])
        assert pair["key_name"] == f"{scores[key]['key_tonic']} {scores[key]['key_mode']}"
        if key != sha("c-major-melody"):
            assert (pair["text_kind"], pair["text"]) == ("caption", pair["caption"])
    assert pairs[sha("c-major-melody")]["tempo_bin"] == 4  # 90 BPM: [90, 110)


def test_align_is_incremental_and_carries_the_pinned_silver_version(steps):
    late = steps.reports["align-late"]
    assert late.outputs[GOLD_PAIRS.name][1] == 1 and late.counts == dict(pairs=1, lyrics=0, captions=1)
    pairs = steps.at("align-late", GOLD_PAIRS)
    assert sorted(r["sha256"] for r in pairs) == sorted(sha(n) for n in (*GOOD, *LATE))
    for step in ("align", "align-late"):
        report = steps.reports[step]
        pinned = report.inputs[SILVER_SCORES.name]
        assert pinned == steps.versions[step.replace("align", "encode")][SILVER_SCORES.name]
        fresh = [r for r in pairs if r["job_run_id"] == report.run_id]
        assert fresh and all((r["source_table"], r["source_version"]) == (SILVER_SCORES.name, pinned) for r in fresh)
