"""Fuzzing the per-file paths of the encode and features jobs with 10,000 mutated MIDI files.

A seeded mutator (:func:`tests.support.scores.mutate`; no hypothesis here) takes real MIDI bytes and
flips bits, cuts them, lies in chunk lengths, inserts and deletes bytes, declares huge lengths and
tracks, and plants absurd tempos and hours-long delta times. Every mutant goes through :func:`lake.jobs.encode.tokenize_midi`
(check, parse, caps, tokenize) and through :func:`lake.jobs.features.analyze_midi`:
nothing may raise, and every failure must be a quarantine result with a stage, a reason code and
a one-line error.
"""

from __future__ import annotations

import collections
import random

import pytest

from lake.jobs.encode import tokenize_midi
from lake.jobs.features import analyze_midi
from lake.midi_features import Limits
from lake.tokenizer import ProgramSplitter, build_tokenizer
from common.config import TokenizerConfig
from tests.support.scores import c_major_melody, d_minor_duo, drums_and_piano, make_score, mutate, tune

MUTANTS = 10_000
FEATURES_EVERY = 1  # every mutant also goes through the features path
STAGES = {"validate", "parse", "features", "tokenize"}
REASONS = {"empty_file", "too_large", "not_midi", "corrupted", "too_many_tracks", "empty", "too_many_notes",
           "too_long", "absurd_tempo", "timeout", "failed"}


def seeds() -> list[bytes]:
    band = make_score([(118, True, [(i * 0.5, 0.25, 36 + i % 3) for i in range(64)]),
                       (33, False, [(i * 2.0, 2.0, 40 + i % 5) for i in range(16)]),
                       (0, False, [(a, b, p) for a, b, p in tune(5, 60)])], bpm=124, meter=(4, 4))
    return [c_major_melody(), d_minor_duo(), drums_and_piano(), band.dumps_midi()]


@pytest.fixture(scope="module")
def tokenizer():
    tok = build_tokenizer(TokenizerConfig())
    return tok, ProgramSplitter(tok)


def check_result(result: dict, where: str, data: bytes) -> None:
    assert result["status"] in ("ok", "quarantined"), where
    if result["status"] == "quarantined":
        assert result["stage"] in STAGES, (where, result)
        assert result["reason"] in REASONS, (where, result)
        assert result["error"] and "\n" not in result["error"] and len(result["error"]) <= 300, (where, result)
    else:
        assert len(data) > 0


def test_ten_thousand_mutants_never_crash_and_every_failure_is_quarantined(tokenizer):
    tok, splitter = tokenizer
    limits = Limits(max_seconds=10.0)
    rng = random.Random(20240611)
    originals = seeds()
    outcomes: collections.Counter = collections.Counter()
    for n in range(MUTANTS):
        data = mutate(rng.choice(originals), rng)
        if rng.random() < 0.3:  # stack a second mutation now and then
            data = mutate(data, rng) if data else data
        result = tokenize_midi(data, tok, splitter, limits)
        check_result(result, f"encode mutant #{n}", data)
        outcomes[("encode", result.get("reason") or "ok")] += 1
        if n % FEATURES_EVERY == 0:
            result = analyze_midi(data, limits)
            check_result(result, f"features mutant #{n}", data)
            outcomes[("features", result.get("reason") or "ok")] += 1
    print("\n" + "\n".join(f"{job:<8} {reason:<16} {count}" for (job, reason), count in sorted(outcomes.items())))
    assert sum(v for (job, _), v in outcomes.items() if job == "encode") == MUTANTS
    bad = {reason for (_, reason), v in outcomes.items() if reason != "ok"}
    assert {"corrupted", "too_many_tracks", "absurd_tempo", "too_long"} <= bad, "the mutator reaches each kind of fault"
    assert outcomes[("encode", "ok")] > 0, "some mutants are still valid music"


@pytest.mark.parametrize("data, reason", [
    (b"", "empty_file"),
    (b"MThd", "corrupted"),
    (b"RIFF\x00\x00\x00\x00", "not_midi"),
    (b"MThd\x00\x00\x00\x06\x00\x01\x27\x10\x01\xe0", "too_many_tracks"),  # 10,000 tracks declared
])
def test_hostile_files_are_quarantined_by_both_paths(tokenizer, data, reason):
    tok, splitter = tokenizer
    for result in (tokenize_midi(data, tok, splitter), analyze_midi(data)):
        assert result["status"] == "quarantined" and result["reason"] == reason


def test_an_hours_long_file_and_an_absurd_tempo_are_stopped_before_the_tokenizer(tokenizer):
    tok, splitter = tokenizer
    long_file = make_score([(0, False, [(0, 1, 60), (2_000_000, 1, 62)])], bpm=120).dumps_midi()
    fast = make_score([(0, False, [(i, 1, 60 + i % 12) for i in range(64)])], bpm=1_000_000).dumps_midi()
    for data, reason in ((long_file, "too_long"), (fast, "absurd_tempo")):
        result = tokenize_midi(data, tok, splitter)
        assert (result["status"], result["stage"], result["reason"]) == ("quarantined", "features", reason)
