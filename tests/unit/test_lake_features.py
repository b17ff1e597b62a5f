"""MIDI checks and features (lake.midi_features) on scores built with symusic and on music21's corpus.

The score builders are in tests/support/scores.py (the integration tests' bronze files use them too).
"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from symusic import TimeSignature

from lake.midi_features import (Limits, MidiError, analyze, check_midi_bytes, check_score, extract_features, note_ngrams,
                                parse_midi, time_limit)
from lake.vocab import normalize_tonic
from tests.support.scores import (C_MAJOR_TUNE, D_MINOR_TUNE, TPQ, band_score, c_major_melody, chunk_ends,
                                  d_minor_duo, drums_and_piano, make_score, scale_notes)


def features_of(data: bytes) -> dict:
    check_midi_bytes(data)
    return extract_features(parse_midi(data))


def test_c_major_melody_features():
    f = features_of(c_major_melody())
    assert (f["key_tonic"], f["key_mode"]) == ("C", "major")
    assert 0.5 < f["key_confidence"] <= 1.0
    assert f["bpm"] == pytest.approx(90, abs=0.01)
    assert f["time_signature"] == "3/4"
    assert f["programs"] == [0] and f["instruments"] == ["Acoustic Grand Piano"]
    assert f["n_tracks"] == 1 and f["note_count"] == len(C_MAJOR_TUNE)
    assert f["duration_s"] == pytest.approx(len(C_MAJOR_TUNE) * 60 / 90, rel=1e-3)


def test_d_minor_duo_features():
    f = features_of(d_minor_duo())
    assert (f["key_tonic"], f["key_mode"]) == ("D", "minor")
    assert f["bpm"] == pytest.approx(72, abs=0.01) and f["time_signature"] == "4/4"
    assert f["programs"] == [0, 32] and f["instruments"] == ["Acoustic Grand Piano", "Acoustic Bass"]
    assert f["n_tracks"] == 2 and f["note_count"] == len(D_MINOR_TUNE) + 4


def test_drums_are_program_minus_one_and_do_not_sway_the_key():
    f = features_of(drums_and_piano())
    assert f["programs"] == [-1, 0] and f["instruments"] == ["Drums", "Acoustic Grand Piano"]
    assert (f["key_tonic"], f["key_mode"]) == ("G", "major")
    assert f["bpm"] == pytest.approx(128, abs=0.01)


def test_main_tempo_is_the_one_held_longest_and_defaults_apply():
    # 100 BPM for 4 beats (2.4 s), then 60 BPM for 12 beats (12 s): 60 wins though it comes second.
    notes = scale_notes([60, 62, 64, 65] * 4)
    changing = make_score([(0, False, notes)], tempos=[(0, 100), (4, 60)])
    assert extract_features(changing)["bpm"] == pytest.approx(60, abs=0.01)
    bare = extract_features(make_score([(0, False, notes)]))
    assert bare["bpm"] == 120 and bare["time_signature"] == "4/4"


def test_score_without_notes_is_an_error():
    with pytest.raises(MidiError, match="empty: no notes"):
        extract_features(make_score([(0, False, [])], bpm=100))


def test_truncation_between_tracks_is_caught_though_symusic_accepts_it():
    data = d_minor_duo()
    cut = data[:chunk_ends(data)[0]]
    assert parse_midi(cut).note_num() > 0, "symusic loads the first track of a cut file silently"
    with pytest.raises(MidiError, match=r"truncated: 1 of 2 track chunks"):
        check_midi_bytes(cut)


@pytest.mark.parametrize("cut", [10, 20, -7])
def test_truncated_inside_a_chunk_is_rejected(cut):
    data = c_major_melody()
    with pytest.raises(MidiError, match="truncated"):
        check_midi_bytes(data[:cut])


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"),
    (b"<html><body>Not found</body></html>", "not MIDI"),
    (b"MThd\x00\x00\x00\x07\x00\x01\x00\x01\x01\xe0", "length 7"),
    (b"MThd\x00\x00\x00\x06\x00\x03\x00\x01\x01\xe0", "format 3"),
    (b"MThd\x00\x00\x00\x06\x00\x01\x01\x2c\x01\xe0", "too many tracks: 300"),
    (b"MThd\x00\x00\x00\x06\x00\x00\x00\x02\x01\xe0", "format 0 with 2 tracks"),
])
def test_bad_bytes_are_rejected_with_the_reason(data, reason):
    with pytest.raises(MidiError, match=reason):
        check_midi_bytes(data)


def test_size_cap():
    data = c_major_melody()
    check_midi_bytes(data, max_bytes=len(data))
    with pytest.raises(MidiError, match=f"too large: {len(data)} bytes > cap of {len(data) - 1}"):
        check_midi_bytes(data, max_bytes=len(data) - 1)


def test_keys_agree_with_music21_on_bach_chorales(tmp_path):
    """Our Krumhansl–Schmuckler keys against music21's analyzers on 8 chorales exported to MIDI."""
    from music21 import corpus

    paths = sorted(corpus.getComposer("bach"), key=str)[:8]
    same_method = default_method = 0
    for i, path in enumerate(paths):
        piece = corpus.parse(path)
        ours = features_of(piece.write("midi", fp=tmp_path / f"{i}.mid").read_bytes())
        ours_key = (ours["key_tonic"], ours["key_mode"])
        ks = piece.analyze("krumhansl")
        default = piece.analyze("key")
        same_method += ours_key == (normalize_tonic(ks.tonic.name), ks.mode)
        default_method += ours_key == (normalize_tonic(default.tonic.name), default.mode)
    print(f"key agreement on {len(paths)} chorales: Krumhansl-Schmuckler {same_method}/{len(paths)}, "
          f"music21 default (Aarden-Essen) {default_method}/{len(paths)}")
    assert same_method >= 7, "the same algorithm should agree on nearly every piece"
    assert default_method >= 5, "another key profile should still agree on most pieces"


# -- issue 4: tempo map, meters, roles, ranges, quality flags, limits, fingerprints -----------------


def test_track_roles_and_families():
    a = analyze(band_score())
    roles = {t["program"]: t["role"] for t in a.tracks}
    assert roles == {-1: "drums", 33: "bass", 0: "accompaniment", 73: "melody"}
    fam = {t["program"]: t["family"] for t in a.tracks}
    assert fam == {-1: "Drums", 33: "Bass", 0: "Piano", 73: "Pipe"}
    piano = next(t for t in a.tracks if t["program"] == 0)
    assert piano["polyphony"] == pytest.approx(3.0) and piano["monophonic"] == pytest.approx(1 / 3, abs=0.01)
    flute = next(t for t in a.tracks if t["program"] == 73)
    assert flute["monophonic"] == 1.0 and (flute["pitch_min"], flute["pitch_max"]) == (74, 81)
    assert a.features["families"] == ["Drums", "Piano", "Bass", "Pipe"]  # aligned with sorted programs [-1, 0, 33, 73]
    assert a.features["programs"] == [-1, 0, 33, 73]


def test_roles_without_a_bass_or_a_monophonic_line():
    solo = analyze(make_score([(0, False, [(i, 1.0, p) for i in range(8) for p in (60, 64, 67)])], bpm=100))
    assert [t["role"] for t in solo.tracks] == ["accompaniment"], "one chordal track: no melody, no bass"
    tune = analyze(make_score([(40, False, scale_notes(C_MAJOR_TUNE))], bpm=100))
    assert [t["role"] for t in tune.tracks] == ["melody"]
    low_solo = analyze(make_score([(0, False, scale_notes([36, 38, 40, 41] * 4))], bpm=100))
    assert [t["role"] for t in low_solo.tracks] == ["melody"], "a low line alone is not called bass"


def test_range_polyphony_density_and_grid():
    f = analyze(band_score(bpm=120)).features
    assert (f["pitch_min"], f["pitch_max"]) == (38, 81)
    assert f["polyphony_max"] == 5  # bass + three chord notes + melody
    assert f["n_bars"] == 8 and f["n_beats"] == 32
    assert f["duration_s"] == pytest.approx(16.0)
    assert f["note_density"] == pytest.approx(f["note_count"] / 16.0, rel=1e-3)
    assert f["quality_flags"] == []


def test_tempo_map_and_meter_changes():
    notes = scale_notes([60, 62, 64, 65, 67, 69, 71, 72] * 2)
    s = make_score([(0, False, notes)], tempos=[(0, 100), (4, 60), (8, 150)], meter=(4, 4))
    s.time_signatures.append(TimeSignature(8 * TPQ, 3, 4))
    f = analyze(s).features
    assert f["tempo_bpms"] == [100.0, 60.0, 150.0]
    assert f["tempo_times_s"] == pytest.approx([0.0, 2.4, 6.4])
    assert f["time_signatures"] == ["4/4", "3/4"] and f["time_signature_times_s"] == pytest.approx([0.0, 6.4])
    assert f["time_signature"] == "4/4"
    assert f["n_bars"] == 2 + 3  # two 4/4 bars, then 8 beats of 3/4 -> 3 bars (the last one partial)
    assert f["duration_s"] == pytest.approx(6.4 + 8 * 0.4)


def test_compound_meter_beats_in_dotted_quarters():
    s = make_score([(0, False, scale_notes([60, 64, 67] * 4, beats=1.5))], bpm=90, meter=(6, 8))
    f = analyze(s).features
    assert f["time_signature"] == "6/8" and f["n_bars"] == 6 and f["n_beats"] == 12


@pytest.mark.parametrize("score, flag", [
    (make_score([(0, False, scale_notes([60, 62, 64]))], bpm=120), "too_short"),
    (make_score([(0, False, scale_notes([60, 62, 64] * 4))], bpm=120), "few_notes"),
    (make_score([(118, True, [(i, 0.5, 36) for i in range(64)])], bpm=100), "drums_only"),
    (make_score([(0, False, scale_notes([60, 62, 64, 65] * 10))], bpm=400), "implausible_tempo"),
])
def test_quality_flags(score, flag):
    f = analyze(score).features
    assert flag in f["quality_flags"]


def test_drums_only_has_no_pitch_range_and_no_chords():
    a = analyze(make_score([(118, True, [(i, 0.5, 36) for i in range(64)])], bpm=100))
    assert a.features["pitch_min"] is None and a.features["minhash"] is None
    assert set(a.chords["bar_chords"]) == {"N"} and a.chords["progression"] == []


@pytest.mark.parametrize("score, limits, reason, message", [
    (make_score([(0, False, [(0, 1, 60), (200_000, 1, 62)])], bpm=120), Limits(), "too_long", "too long: 27.8 h"),
    (make_score([(0, False, scale_notes([60, 62] * 20))], bpm=3), Limits(), "absurd_tempo", "absurd tempo: 3 BPM"),
    (make_score([(0, False, scale_notes([60, 62] * 20))], bpm=5000), Limits(), "absurd_tempo", "absurd tempo"),
    (make_score([(0, False, scale_notes([60, 62] * 20))], bpm=120), Limits(max_notes=10), "too_many_notes",
     "too many notes: 40 > cap of 10"),
    (make_score([(0, False, [(0, 1, 60), (4000, 1, 62)])], bpm=600), Limits(max_bars=500), "too_long",
     "too long: 1001 bars > cap of 500"),
])
def test_limits_reject_with_a_reason(score, limits, reason, message):
    with pytest.raises(MidiError, match=message) as e:
        analyze(score, limits)
    assert e.value.reason == reason


def test_time_limit_interrupts_python_work():
    import time as _time

    with pytest.raises(MidiError, match="timeout") as e:
        with time_limit(0.2, "features"):
            while True:
                _time.sleep(0.01)
    assert e.value.reason == "timeout"
    with time_limit(5):  # and leaves nothing armed behind it
        pass
    _time.sleep(0.3)


def test_check_score_lays_out_notes_and_duration():
    p = check_score(parse_midi(d_minor_duo()))
    assert len(p.start) == len(D_MINOR_TUNE) + 4 and p.duration_s == pytest.approx(16 * 60 / 72, rel=1e-3)
    assert p.bpm == pytest.approx(72, abs=0.01) and not p.drum.any()


def test_note_hash_ignores_bytes_instruments_and_resolution_but_not_notes():
    base = analyze(band_score()).features["note_hash"]
    renamed = band_score()
    renamed.tracks[1].name = "another name"
    renamed.tracks[2].program = 1
    assert analyze(renamed).features["note_hash"] == base
    assert analyze(band_score().resample(960)).features["note_hash"] == base
    assert analyze(band_score(transpose=2)).features["note_hash"] != base


def test_ngrams_are_transposition_and_tempo_invariant():
    a = analyze(band_score()).features["minhash"]
    assert analyze(band_score(transpose=5)).features["minhash"] == a
    assert analyze(band_score(bpm=70)).features["minhash"] == a
    p = check_score(band_score())
    grams = note_ngrams(p.start[~p.drum], p.pitch[~p.drum], p.tpq)
    assert grams.dtype == np.uint64 and len(grams) == len(np.unique(grams)) > 10



def test_meter_changes_after_the_last_note_make_no_bars():
    s = make_score([(0, False, scale_notes([60, 62, 64, 65] * 4))], bpm=120, meter=(4, 4))
    s.time_signatures.append(TimeSignature(2_000_000_000, 3, 4))  # a stray meta event far past the music
    f = analyze(s).features
    assert f["n_bars"] == 4 and f["time_signatures"] == ["4/4"]


def test_per_file_limits_come_from_the_config():
    from lake.midi_features import Limits
    from common.config import ConfigError, load_config

    cfg = load_config(environ={}, overrides=["lake.limits.max_notes=5", "tokenizer.max_file_bytes=2048"])
    limits = Limits.from_config(cfg)
    assert (limits.max_notes, limits.max_bytes) == (5, 2048)
    with pytest.raises(ConfigError, match="lake.limits.max_notez: unknown key"):
        load_config(environ={}, overrides=["lake.limits.max_notez=5"])


def _raw_midi(events, tpq: int = 480) -> bytes:
    """One-track MIDI bytes from (delta ticks, status, data1, data2) events, written as given."""
    def vlq(n: int) -> bytes:
        out = [n & 0x7F]
        n >>= 7
        while n:
            out.append((n & 0x7F) | 0x80)
            n >>= 7
        return bytes(reversed(out))

    body = b"".join(vlq(d) + bytes(m) for d, *m in events) + b"\x00\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq) + b"MTrk" + struct.pack(">I", len(body)) + body


def test_a_note_off_written_before_its_note_on_does_not_stretch_the_notes_after_it():
    # a zero-length grace note written note-off first (as music21 writes them), then three notes on C4
    data = _raw_midi([(0, 0x80, 60, 0), (0, 0x90, 60, 64),
                      (480, 0x90, 60, 64), (240, 0x80, 60, 0), (240, 0x90, 60, 64), (240, 0x80, 60, 0),
                      (240, 0x90, 60, 64), (240, 0x80, 60, 0), (0, 0x90, 64, 64), (480, 0x80, 64, 0)])
    score = parse_midi(data)
    raw = sorted((n.start, n.end) for n in score.tracks[0].notes if n.pitch == 60)
    assert any(end > nxt for (_, end), (nxt, _) in zip(raw, raw[1:])), "symusic pairs them first in, first out"
    p = check_score(score)
    c4 = sorted(zip(p.start[p.pitch == 60].tolist(), p.end[p.pitch == 60].tolist()))
    assert all(end <= nxt for (_, end), (nxt, _) in zip(c4, c4[1:])), "no C4 sounds past the next C4"
    assert c4[1] == (480, 720), "the first real note ends at its own note-off"
    e4 = list(zip(p.start[p.pitch == 64].tolist(), p.end[p.pitch == 64].tolist()))
    assert e4 == [(1680, 2160)], "other pitches are left alone"


def test_clean_files_keep_their_note_ends():
    score = parse_midi(d_minor_duo())
    p = check_score(score)
    raw = np.concatenate([t.notes.numpy()["time"] + t.notes.numpy()["duration"] for t in score.tracks if t.note_num()])
    assert sorted(p.end.tolist()) == sorted(raw.tolist())
