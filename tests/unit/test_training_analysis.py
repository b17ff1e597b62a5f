"""The note analysis behind the evaluator, on hand-made MIDI files whose answers are known.

Every piece is written with symusic here: notes on a tick grid, a tempo map, a meter. The tempo
tests put the tempo *event* and the sounding pulse at odds on purpose: the analysis must follow
the onsets.
"""

from __future__ import annotations

import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from training import analysis as A
from training.request import PieceRequest

TPQ = 480


def q(beats: float) -> int:
    """Quarter notes -> ticks."""
    return int(round(beats * TPQ))


def piece(bpm: float = 120.0, meter: tuple[int, int] = (4, 4), tpq: int = TPQ) -> Score:
    s = Score(tpq)
    s.tempos.append(Tempo(0, float(bpm)))
    s.time_signatures.append(TimeSignature(0, *meter))
    return s


def add(score: Score, notes, program: int = 0, drum: bool = False) -> Score:
    """Append a track of (start ticks, duration ticks, pitch, velocity) notes."""
    t = Track("", program, drum)
    for start, dur, pitch, vel in notes:
        t.notes.append(Note(int(start), int(dur), int(pitch), int(vel)))
    score.tracks.append(t)
    return score


def quarter_pulse(bpm: float, beats: int = 48) -> bytes:
    return add(piece(bpm), [(q(i), q(0.9), 60, 90) for i in range(beats)]).dumps_midi()


def eighths_over_bass(bpm: float, bars: int = 12) -> bytes:
    s = piece(bpm)
    add(s, [(q(i / 2), q(0.45), 72 + (i * 3) % 7, 85) for i in range(bars * 8)], program=73)
    add(s, [(q(i), q(0.95), 36 + (i // 4) % 5, 90) for i in range(bars * 4)], program=32)
    return s.dumps_midi()


def waltz(bpm: float, bars: int = 12) -> bytes:
    """Oom-pah-pah: the bass on one, chords on two and three, a tune in half and quarter notes."""
    s = piece(bpm, (3, 4))
    acc = []
    for bar in range(bars):
        r = (0, 5, 7, 0)[bar % 4]
        acc.append((q(bar * 3), q(0.95), 43 + r, 95))
        acc += [(q(bar * 3 + beat), q(0.9), p + r, 70) for beat in (1, 2) for p in (60, 64, 67)]
    add(s, acc)
    add(s, [(q(bar * 3 + k), q(1.9 if k == 0 else 0.9), 72 + (bar + k) % 5, 85) for bar in range(bars) for k in (0, 2)],
        program=40)
    return s.dumps_midi()


def six_eight(quarter_bpm: float, bars: int = 12) -> bytes:
    """6/8: bass on both dotted quarters, an eighth-note arpeggio, the tempo event counting quarters."""
    s = piece(quarter_bpm, (6, 8))
    notes = []
    for bar in range(bars):
        base, r = bar * 3.0, (0, 5, 7, 0)[bar % 4]
        notes += [(q(base), q(1.45), 40 + r, 95), (q(base + 1.5), q(1.45), 47 + r, 90)]
        notes += [(q(base + k / 2), q(0.45), 60 + r + (0, 4, 7, 4, 7, 4)[k], 80 if k % 3 == 0 else 60)
                  for k in range(6)]
    return add(s, notes).dumps_midi()


def four_four_song(bpm: float, bars: int = 12) -> bytes:
    """Tune in quarters and eighths, a chord per bar struck on every beat, bass on one and three, drums."""
    s = piece(bpm)
    roots = (0, 7, 9, 5)  # C G Am F
    tune, t, i, pattern = [], 0.0, 0, (1, 0.5, 0.5, 1, 1, 0.5, 0.5, 0.5, 0.5, 2)
    while t < bars * 4:
        tune.append((q(t), q(pattern[i % len(pattern)] * 0.9), 72 + (0, 2, 4, 7, 4)[i % 5], 85))
        t += pattern[i % len(pattern)]
        i += 1
    chords, bass, kit = [], [], []
    for bar in range(bars):
        r = roots[bar % 4]
        third = 3 if r == 9 else 4
        chords += [(q(bar * 4 + b), q(0.9), 48 + r + iv, 65) for b in range(4) for iv in (12, 12 + third, 19)]
        bass += [(q(bar * 4 + b), q(1.8), 36 + r, 90) for b in (0, 2)]
        for e in range(8):
            kit.append((q(bar * 4 + e / 2), q(0.1), 42, 60))
            if e in (0, 4):
                kit.append((q(bar * 4 + e / 2), q(0.1), 36, 100))
            if e in (2, 6):
                kit.append((q(bar * 4 + e / 2), q(0.1), 38, 100))
    add(s, tune, program=73)
    add(s, chords, program=0)
    add(s, bass, program=32)
    add(s, kit, drum=True)
    return s.dumps_midi()


# -- onset tempo ---------------------------------------------------------------------------------
@pytest.mark.parametrize("bpm", [60, 90, 120, 150, 180])
def test_quarter_note_pulses_read_at_their_tempo(bpm):
    assert A.onset_bpm(quarter_pulse(bpm)) == pytest.approx(bpm, rel=0.005)


@pytest.mark.parametrize("bpm", [60, 100, 150])
def test_eighth_melody_over_quarter_bass_reads_the_quarter(bpm):
    assert A.onset_bpm(eighths_over_bass(bpm)) == pytest.approx(bpm, rel=0.005)


def test_a_song_with_drums_reads_the_quarter():
    for bpm in (72, 128, 176):
        assert A.onset_bpm(four_four_song(bpm)) == pytest.approx(bpm, rel=0.005)


def test_the_tempo_event_is_not_read_only_where_the_notes_sound():
    # the tempo event says 120, but the quarter notes sit 640 ticks apart: 2/3 s, a 90 BPM pulse
    said_120 = add(piece(120), [(i * 640, 600, 60, 90) for i in range(40)]).dumps_midi()
    assert A.onset_bpm(said_120) == pytest.approx(90.0, rel=0.005)
    # the same pulse written honestly: a tempo map of 90 and notes on the quarter grid
    assert A.onset_bpm(add(piece(90), [(q(i), q(0.9), 60, 90) for i in range(40)]).dumps_midi()) == \
        pytest.approx(90.0, rel=0.005)
    # the tempo event halves midway but the notes become eighths: they still sound at 120
    s = piece(120)
    s.tempos.append(Tempo(q(16), 60.0))
    add(s, [(q(i), q(0.9), 60, 90) for i in range(16)] + [(q(16 + i / 2), q(0.45), 60, 90) for i in range(32)])
    assert A.onset_bpm(s.dumps_midi()) == pytest.approx(120.0, rel=0.005)


def test_equal_dotted_eighths_are_their_own_pulse():
    # 100 BPM in the file, equal notes every dotted eighth (0.45 s): with no accent to say they are
    # syncopations, the notes are the beat, 60 / 0.45 = 133.3 BPM (the module doc says so)
    s = add(piece(100), [(i * 360, 330, 60 + i % 5, 90) for i in range(80)])
    assert A.onset_bpm(s.dumps_midi()) == pytest.approx(400 / 3, rel=0.005)


def test_waltz_reads_the_quarter_not_the_bar():
    for bpm in (90, 150):
        assert A.onset_bpm(waltz(bpm)) == pytest.approx(bpm, rel=0.005)


def test_six_eight_beats_in_dotted_quarters():
    midi = six_eight(120)
    assert A.onset_bpm(midi) == pytest.approx(80.0, rel=0.005)  # the dotted quarter
    assert A.quarter_bpm(A.onset_bpm(midi), "6/8") == pytest.approx(120.0, rel=0.005)
    assert A.quarter_bpm(100.0, "3/4") == 100.0


def test_too_few_onsets_give_no_tempo():
    assert A.onset_bpm(add(piece(), [(0, q(1), 60, 90), (q(1), q(1), 62, 90)]).dumps_midi()) == 0.0


def test_bpm_error_and_tempo_bins():
    assert A.bpm_error_pct(102.0, 100.0) == pytest.approx(2.0)
    assert A.bpm_error_pct(95.0, 100.0) == pytest.approx(5.0)
    assert A.tempo_bin_hit(115.0, 135.0)  # both in [110, 140)
    assert not A.tempo_bin_hit(108.0, 112.0)  # across the 110 edge
    assert not A.tempo_bin_hit(60.0, 120.0)  # half tempo
    assert not A.tempo_bin_hit(0.0, 30.0)  # nothing measured


# -- key -------------------------------------------------------------------------------------------
def scale_and_cadence(tonic: int, steps: tuple[int, ...], chords: tuple[tuple[int, ...], ...]) -> bytes:
    """A scale up in quarters from ``tonic`` (MIDI), then whole-note chords (intervals above the tonic)."""
    s = piece(100)
    notes = [(q(i), q(0.95), tonic + st, 90) for i, st in enumerate(steps)]
    for b, chord in enumerate(chords):
        notes += [(q(len(steps) + 4 * b), q(3.9), tonic + iv, 80) for iv in chord]
    return add(s, notes).dumps_midi()


MAJOR = (0, 2, 4, 5, 7, 9, 11, 12)
I_IV_V_I = ((-12, 0, 4, 7), (-7, 0, 5, 9), (-5, -1, 2, 7), (-12, 0, 4, 7))


def test_key_of_c_major_scale_and_cadence():
    assert A.analyzed_key(scale_and_cadence(60, MAJOR, I_IV_V_I)) == "C major"


def test_key_of_a_minor():
    harmonic_minor = (0, 2, 3, 5, 7, 8, 11, 12)
    i_iv_v_i = ((-12, 0, 3, 7), (-7, 0, 5, 8), (-5, -1, 2, 7), (-12, 0, 3, 7))
    assert A.analyzed_key(scale_and_cadence(57, harmonic_minor, i_iv_v_i)) == "A minor"


def test_key_of_e_flat_major_is_spelled_with_a_flat():
    assert A.analyzed_key(scale_and_cadence(63, MAJOR, I_IV_V_I)) == "Eb major"


def test_key_ignores_drum_notes():
    s = Score.from_midi(scale_and_cadence(60, MAJOR, I_IV_V_I))
    add(s, [(q(i / 2), q(0.1), p, 100) for i in range(48) for p in (42, 46, 49)], drum=True)  # F#, A#, C# "pitches"
    assert A.analyzed_key(s.dumps_midi()) == "C major"


def test_key_relations():
    assert A.key_relation("C major", "C major") == "exact"
    assert A.key_relation("A minor", "C major") == "relative"
    assert A.key_relation("Eb major", "C minor") == "relative"
    assert A.key_relation("D# minor", "F# major") == "relative"  # enharmonic spelling
    assert A.key_relation("C minor", "C major") == "parallel"
    assert A.key_relation("G major", "C major") == "other"
    assert A.key_relation("E minor", "C major") == "other"
    assert A.key_relation(None, "C major") == "other"


# -- chords ----------------------------------------------------------------------------------------
# C, G/B, Am, F/C, Dm7, G7: block chords over a bar each, inversions in the bass
PROGRESSION = ((48, 52, 55, 60), (47, 50, 55, 62), (45, 48, 52, 57), (48, 53, 57, 60), (50, 53, 57, 60),
               (43, 47, 50, 53))


def block_chords(meter=(4, 4), voicings=PROGRESSION) -> bytes:
    beats = meter[0] * 4 / meter[1]
    s = piece(90, meter)
    notes = [(q(b * beats), q(beats * 0.98), p, 80) for b, v in enumerate(voicings) for p in v]
    notes.append((q(0.5), q(0.5), 62, 70))  # a passing D over the C chord
    return add(s, notes).dumps_midi()


def test_chords_per_bar_with_inversions():
    assert A.chords_per_bar(block_chords(), 4, 4) == ["C:maj", "G:maj", "A:min", "F:maj", "D:min7", "G:7"]


def test_chords_per_bar_follow_the_requested_meter():
    midi = block_chords((3, 4))
    assert A.chords_per_bar(midi, 3, 4) == ["C:maj", "G:maj", "A:min", "F:maj", "D:min7", "G:7"]
    assert A.chords_per_bar(midi, 3, 4, bars=8)[6:] == ["N", "N"]  # bars the notes do not reach


def test_chord_accuracy_rule():
    measured = ["C:maj", "G:maj", "A:min", "F:maj", "D:min7", "G:7"]
    assert A.chord_accuracy(measured, ["C", "G", "Am", "F", "Dm7", "G7"]) == 1.0
    assert A.chord_accuracy(measured, ["C7", "G", "Am7", "Fmaj7", "Dm", "G"]) == 1.0  # sevenths count as triads
    assert A.chord_accuracy(measured, ["C", "G", "C", "F", "Dm", "G"]) == pytest.approx(5 / 6)  # Am is not C
    assert A.chord_accuracy(measured, ["Cm", "G", "Am", "F", "Dm", "G"]) == pytest.approx(5 / 6)  # mode counts
    assert A.chord_accuracy(measured[:3], ["C", "G", "Am", "F"]) == pytest.approx(3 / 4)  # missing bars miss
    assert not A.chord_match("N", "C")
    assert A.chord_match("Bb:maj", "A#")  # enharmonic roots
    assert not A.chord_match("B:dim", "Bm")


# -- instruments -----------------------------------------------------------------------------------
def band() -> bytes:
    s = piece(100)
    add(s, [(q(i), q(0.9), 76, 80) for i in range(8)], program=73)  # flute
    add(s, [(q(4 * i), q(3.9), p, 70) for i in range(2) for p in (60, 64, 67)], program=0)  # piano
    add(s, [(q(2 * i), q(1.9), 36, 90) for i in range(4)], program=32)  # acoustic bass
    add(s, [(q(i / 2), q(0.1), 42, 70) for i in range(16)], program=0, drum=True)  # a kit on "program 0"
    add(s, [], program=40)  # an empty violin track
    return s.dumps_midi()


def test_instruments_present_counts_tracks_with_notes():
    midi = band()
    assert A.instruments_present(midi, [73, 0, 32, -1]) == 1.0
    assert A.instruments_present(midi, ["flute", "piano", "acoustic bass", "drums"]) == 1.0
    assert A.instruments_present(midi, ["flute", "violin"]) == 0.5  # the violin track is empty
    assert A.instruments_present(midi, [73, 73, 40]) == 0.5  # each program once
    assert A.tracks_with_notes(midi) == 4
    assert A.programs_with_notes(midi) == {73, 0, 32, -1}


def test_a_drum_track_is_drums_whatever_its_program():
    s = add(piece(), [(q(i), q(0.1), 36, 100) for i in range(8)], program=0, drum=True)
    assert A.instruments_present(s.dumps_midi(), [0]) == 0.0
    assert A.instruments_present(s.dumps_midi(), [-1]) == 1.0


# -- meter -----------------------------------------------------------------------------------------
def test_meter_three_four_against_four_four():
    assert A.meter_estimate(waltz(120)) == "3/4"
    assert A.meter_estimate(four_four_song(110)) == "4/4"
    assert A.time_signature_hit("3/4", "3/4")
    assert not A.time_signature_hit("3/4", "6/8")
    assert not A.time_signature_hit(None, "4/4")


def test_meter_six_eight():
    assert A.meter_estimate(six_eight(135)) == "6/8"


def test_meter_two_four_from_a_chord_per_two_beats():
    s = piece(100, (2, 4))
    notes = []
    for bar in range(16):
        r = (0, 7, 0, 5)[bar % 4]
        notes.append((q(bar * 2), q(0.9), 41 + r, 95))
        notes += [(q(bar * 2 + 1), q(0.5), p + r, 70) for p in (60, 64, 67)]
        notes += [(q(bar * 2 + o), q(d * 0.9), 72 + (bar + k) % 5, 85)
                  for k, (o, d) in enumerate(((0, 0.5), (0.5, 0.5), (1, 0.25), (1.25, 0.25), (1.5, 0.5)))]
    assert A.meter_estimate(add(s, notes).dumps_midi()) == "2/4"


# -- one piece against its request -----------------------------------------------------------------
def test_measure_a_piece_against_its_request():
    req = PieceRequest(style="pop", bpm=128, key="C major", time_signature="4/4", chords=["C", "G", "Am", "F"],
                       instruments=["flute", "piano", "acoustic bass", "drums"], bars=12)
    m = A.measure(four_four_song(128), req)
    assert m.bpm_error_pct < 1.0 and m.tempo_bin_hit
    assert m.key_measured == "C major" and m.key_relation == "exact"
    assert m.chords_measured == ["C:maj", "G:maj", "A:min", "F:maj"] * 3
    assert m.chord_accuracy == 1.0
    assert m.instruments_present == 1.0 and m.instruments_missing == []
    assert m.tracks_with_notes == 4
    assert m.meter_measured == "4/4" and m.time_signature_hit


def test_measure_reports_what_is_missing():
    req = PieceRequest(bpm=90, key="D minor", time_signature="3/4", instruments=["violin", "piano", "cello"],
                       chords=["Dm", "Gm", "A", "Dm"], bars=12)
    m = A.measure(waltz(120), req)  # the wrong tempo, key and chords; no cello
    assert m.bpm_error_pct == pytest.approx(100 * 30 / 90, rel=0.01)
    assert not m.tempo_bin_hit
    assert m.key_relation != "exact"
    assert m.chord_accuracy == 0.0
    assert m.instruments_missing == [42] and m.instruments_present == pytest.approx(2 / 3, abs=1e-4)
    assert m.time_signature_hit


def test_tempo_bin_reads_the_estimate_at_a_tenth_of_a_bpm():
    from training.analysis import tempo_bin_hit

    assert tempo_bin_hit(69.996, 70) and tempo_bin_hit(140.04, 140)
    assert not tempo_bin_hit(69.9, 70) and not tempo_bin_hit(139.8, 140)


def test_measured_tempo_bin_is_the_one_reading_of_an_estimate():
    """The end-to-end caption benchmark bins an estimate the way the evaluator does: notes on a 60 or 70
    BPM grid read 59.94 / 69.94 by the onset grid are in the bin of 60 / 70, a tenth of a BPM off is not."""
    from lake.vocab import tempo_bin
    from training.analysis import measured_tempo_bin

    assert measured_tempo_bin(59.97) == tempo_bin(60) != tempo_bin(59.97)
    assert measured_tempo_bin(69.96) == tempo_bin(70) != tempo_bin(69.96)
    assert measured_tempo_bin(69.9) == tempo_bin(69.9) != tempo_bin(70)
    assert measured_tempo_bin(100.0) == tempo_bin(100.0)
