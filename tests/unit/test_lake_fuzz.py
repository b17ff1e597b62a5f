"""Fuzzing the per-file paths of the encode and features jobs with 10,000 mutated MIDI files.

A seeded mutator (no hypothesis here) takes real MIDI bytes and flips bits, cuts them, lies in
chunk lengths, inserts and deletes bytes, declares huge lengths and tracks, and plants absurd
tempos and hours-long delta times. Every mutant goes through :func:`lake.jobs.encode.tokenize_midi`
(check, parse, caps, tokenize) and through :func:`lake.jobs.features.analyze_midi`:
nothing may raise, and every failure must be a quarantine result with a stage, a reason code and
a one-line error.
"""

from __future__ import annotations

import collections
import random
import struct

import pytest

from lake.jobs.encode import tokenize_midi
from lake.jobs.features import analyze_midi
from lake.midi_features import Limits
from lake.tokenizer import ProgramSplitter, build_tokenizer
from musiclake.config import TokenizerConfig
from tests.unit.test_lake_dedup import tune
from tests.unit.test_lake_features import c_major_melody, d_minor_duo, drums_and_piano, make_score

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


def chunk_offsets(data: bytes) -> list[int]:
    """Offsets of the chunks that fit in the data (a mutated file may have none)."""
    pos, out = 14, []
    while pos + 8 <= len(data):
        end = pos + 8 + struct.unpack(">I", data[pos + 4:pos + 8])[0]
        if end > len(data):
            break
        out.append(pos)
        pos = end
    return out


def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    kind = rng.randrange(12)
    if kind == 0:  # bit flips
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncation
        b = b[:rng.randrange(len(b))]
    elif kind == 2:  # a chunk that lies about its length
        offs = chunk_offsets(data)
        if offs:
            o = rng.choice(offs)
            b[o + 4:o + 8] = struct.pack(">I", rng.choice([0, 1, 7, len(b), len(b) * 2, rng.randrange(1 << 32)]))
    elif kind == 3:  # inserted random bytes
        i = rng.randrange(len(b))
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    elif kind == 4:  # deleted bytes
        i = rng.randrange(len(b))
        del b[i:i + rng.randint(1, 32)]
    elif kind == 5:  # huge declared lengths everywhere
        for o in chunk_offsets(data):
            b[o + 4:o + 8] = b"\xff\xff\xff\xff"
    elif kind == 6:  # header fields: format, track count, division
        field = rng.choice([8, 10, 12])
        b[field:field + 2] = struct.pack(">H", rng.choice([0, 1, 2, 3, 255, 10_000, 0x7FFF, 0x8000, 0xE728, 0xFFFF]))
    elif kind == 7:  # interesting byte values
        for _ in range(rng.randint(1, 16)):
            b[rng.randrange(len(b))] = rng.choice([0x00, 0x7F, 0x80, 0xFF, 0xF0, 0xF7, 0x90, 0xB0])
    elif kind == 8:  # an absurd tempo: every set-tempo event gets 1 or 2**24-1 microseconds per quarter
        i = b.find(b"\xff\x51\x03")
        while i != -1:
            b[i + 3:i + 6] = rng.choice([b"\x00\x00\x01", b"\xff\xff\xff", b"\x00\x00\x00"])
            i = b.find(b"\xff\x51\x03", i + 6)
    elif kind == 9:  # an hours-long delta time before the track's last event
        offs = chunk_offsets(data)
        if offs:
            o = rng.choice(offs)
            end = min(o + 8 + struct.unpack(">I", data[o + 4:o + 8])[0], len(b))
            bomb = b"\x8f\xff\xff\x7f\x90\x3c\x40\x00\x80\x3c\x40"  # delta 2**28-1 ticks, then a note
            b[end - 4:end - 4] = bomb
            b[o + 4:o + 8] = struct.pack(">I", struct.unpack(">I", data[o + 4:o + 8])[0] + len(bomb))
    elif kind == 10:  # a repeated region (duplicated events or chunks)
        i = rng.randrange(len(b))
        j = min(len(b), i + rng.randint(1, 256))
        b[j:j] = b[i:j] * rng.randint(1, 8)
    else:  # a header that declares thousands of tracks
        b[10:12] = struct.pack(">H", rng.choice([257, 1000, 10_000, 65_535]))
    return bytes(b)


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
