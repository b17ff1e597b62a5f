"""The harmonizer: chords that fit a melody, roman numerals that name them in the key, the learned table, the
metrics and the baseline; the accompaniment and the style transfer measured from their notes."""

import numpy as np
import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from lake.vocab import pitch_class, roman_chord
from training.accompany import STYLES, ChordSpan, accompany, swing
from training.harmonize import (BeatMelody, baseline, beat_melody_from_score, harmonize, load_table, roman,
                                spell_root, states)
from training.harmony_metrics import chord_pcs_of_label, tonal_distance, yeh_metrics
from training.transfer import harmonized_piece, measure, melody_survival, style_markers, transfer

ARPEGGIOS = {"C": (60, 64, 67, 72), "F": (65, 69, 72, 77), "G": (67, 71, 74, 79), "Am": (69, 72, 76, 81),
             "Dm": (62, 65, 69, 74), "G7": (67, 71, 74, 77), "Em": (64, 67, 71, 76)}


def tune(chords, tpq=480, transpose=0, meter=(4, 4)) -> Score:
    """A melody that spells each bar's chord in quarters (the chords a listener would put under it)."""
    s = Score(tpq)
    s.tempos.append(Tempo(0, qpm=100))
    s.time_signatures.append(TimeSignature(0, *meter))
    t = Track(name="tune", program=73)
    per_bar = meter[0]
    for b, c in enumerate(chords):
        for i in range(per_bar):
            t.notes.append(Note((b * per_bar + i) * tpq, tpq, ARPEGGIOS[c][i % 4] + transpose, 80))
    s.tracks.append(t)
    return s


def rows(score: Score) -> np.ndarray:
    n = score.tracks[0].notes.numpy()
    return np.stack([n["time"], n["duration"], n["pitch"], n["velocity"]], axis=1).astype(np.int64)


def melody(chords, **kw) -> BeatMelody:
    s = tune(chords, **kw)
    return beat_melody_from_score(s, rows(s))


@pytest.mark.parametrize("transpose, key", [(0, "C major"), (2, "D major"), (-3, "A major"), (5, "F major")])
def test_a_melody_spelling_its_chords_gets_them_back_in_any_key(transpose, key):
    seq = ["C", "F", "G", "C", "Am", "Dm", "G", "C"]
    h = harmonize(melody(seq, transpose=transpose), per="bar")
    assert h.key == key
    assert [c.roman for c in h.chords] == ["I", "IV", "V", "I", "vi", "ii", "V", "I"]
    want = [(pitch_class(c.rstrip("m7")) + transpose) % 12 for c in seq]
    assert [c.root for c in h.chords] == want
    assert [(c.start, c.end) for c in h.chords] == [(4 * i, 4 * i + 4) for i in range(8)]


def test_a_short_tune_is_heard_in_the_key_its_notes_fit():
    h = harmonize(melody(["C", "F", "G", "C"]), per="bar")  # B natural: C major, not F major's I-II-V
    assert h.key == "C major" and [c.roman for c in h.chords] == ["I", "IV", "V", "I"]


def test_per_bar_never_changes_inside_a_bar_and_per_beat_may():
    m = melody(["C", "F", "G", "C"])
    bar = harmonize(m, per="bar")
    assert all(c.start % 4 == 0 and c.end % 4 == 0 for c in bar.chords)
    assert len(harmonize(m, per="beat").beat_labels()) == m.n_beats
    with pytest.raises(ValueError, match="per"):
        harmonize(m, per="note")


def test_three_four_bars_and_a_fixed_key():
    m = melody(["C", "G", "C"], meter=(3, 4))
    assert m.n_beats == 9 and list(np.flatnonzero(m.downbeat)) == [0, 3, 6]
    h = harmonize(m, per="bar", key="A minor")
    assert h.key == "A minor"
    assert [c.roman for c in h.chords][:2] == ["III", "VII"]


def test_roman_numerals_name_the_chord_in_the_key():
    for key in ("C major", "Eb major", "A minor", "F# minor"):
        for r, q in states():
            if q in ("sus2",):
                continue
            numeral = roman(r, q, key)
            root, quality = roman_chord(numeral, key)
            assert pitch_class(root) == r, (numeral, key)
            if q in ("maj", "min", "dim", "maj7", "sus4"):
                assert quality == q, (numeral, key)
    assert roman(7, "7", "C major") == "V7" and roman(11, "dim", "C major") == "vii°"
    assert roman(10, "maj", "C major") == "bVII" and roman(5, "maj", "A minor") == "VI"
    assert spell_root(1, "Ab major") == "Db" and spell_root(6, "D major") == "F#"


def test_the_learned_table_is_a_distribution_counted_on_training_songs():
    t = load_table()
    assert np.allclose(np.exp(t.log_down).sum(axis=1), 1) and np.allclose(np.exp(t.log_emit).sum(axis=1), 1)
    assert len(t.meta["songs"]) >= 700 and all(n % 10 for n in t.meta["songs"])  # no held-out song counted
    s = states()
    i, v, iv = s.index((0, "maj")), s.index((7, "maj")), s.index((5, "maj"))
    assert t.prior[i] > t.prior[s.index((1, "maj"))]  # I is far more common than bII
    assert t.log_down[v, i] > t.log_down[v, s.index((6, "maj"))]  # V goes home, not to #IV
    assert np.argmax(t.log_emit[i]) in (0, 4, 7) and np.argmax(t.log_emit[iv]) in (5, 9, 0)


def test_baseline_takes_the_commonest_diatonic_triad_under_the_longest_note():
    s = Score(480)
    s.time_signatures.append(TimeSignature(0, 4, 4))
    t = Track(name="tune", program=0)
    # bar 1: C long (-> C, the commonest chord holding C), bar 2: B long (-> G), bar 3: F long (-> F or Dm)
    for start, dur, p in [(0, 960, 72), (960, 480, 64), (1440, 480, 67), (1920, 960, 71), (2880, 480, 74),
                          (3360, 480, 67), (3840, 960, 65), (4800, 480, 69), (5280, 480, 72)]:
        t.notes.append(Note(start, dur, p, 80))
    s.tracks.append(t)
    labels = baseline(beat_melody_from_score(s, rows(s)))
    assert 0 in chord_pcs_of_label(labels[0]) and 11 in chord_pcs_of_label(labels[4])
    assert 5 in chord_pcs_of_label(labels[8])
    assert all(chord_pcs_of_label(x) <= {0, 2, 4, 5, 7, 9, 11} for x in labels)  # diatonic triads of C / A minor
    assert all(labels[i] == labels[i - i % 4] for i in range(len(labels)))


def test_metrics_on_a_known_case():
    m = melody(["C", "G"])
    fits = yeh_metrics(m, ["C:maj"] * 4 + ["G:maj"] * 4)
    clash = yeh_metrics(m, ["F#:maj"] * 4 + ["Db:maj"] * 4)
    assert fits["CC"] == 2 and fits["CHE"] == pytest.approx(np.log(2))
    assert fits["CTnCTR"] == 1.0 and clash["CTnCTR"] < 0.5
    assert fits["PCS"] > 0.3 > clash["PCS"]
    assert fits["MCTD"] < clash["MCTD"]
    assert tonal_distance(chord_pcs_of_label("C:maj"), chord_pcs_of_label("A:min")) < \
        tonal_distance(chord_pcs_of_label("C:maj"), chord_pcs_of_label("F#:maj"))
    assert chord_pcs_of_label("G:7/3") == frozenset({7, 11, 2, 5}) and chord_pcs_of_label("N") == frozenset()


def _accompanied(style):
    s = tune(["C", "F", "G7", "C"])
    return s, harmonized_piece(s, rows(s), style=style)


@pytest.mark.parametrize("style", STYLES)
def test_every_style_keeps_the_melody_and_follows_the_chords(style):
    s, a = _accompanied(style)
    m = measure(s.dumps_midi(), a.midi)
    assert m["melody"]["onsets"] == 1.0 and m["melody"]["intervals"] == 1.0
    out = Score.from_midi(a.midi)
    roles = [t.name for t in out.tracks]
    assert roles[0] == "melody" and len(roles) >= 2
    for t in out.tracks:  # every pitched note of the accompaniment in bar 2 belongs to F major or its extensions
        if t.is_drum or t.name == "melody":
            continue
        bar2 = [n.pitch % 12 for n in t.notes if 4 * 480 <= n.time < 8 * 480]
        allowed = {5, 9, 0, 4, 7, 2} if style == "jazz" else {5, 9, 0}
        assert bar2 and set(bar2) <= allowed | {4, 6, 11}  # a walking bass's approach notes into G


def test_jazz_swings_extends_and_walks():
    s, a = _accompanied("jazz")
    after = style_markers(Score.from_midi(a.midi))
    before = style_markers(s)
    assert before["swing"] == 0.0 and after["swing"] == 1.0
    assert after["extended"] > 0.9 and before["extended"] == 0.0
    assert {"saxophone", "acoustic bass", "drums"} <= set(after["instruments"])
    bass = next(t for t in Score.from_midi(a.midi).tracks if t.name == "bass")
    onsets = [n.time for n in bass.notes]
    assert onsets == list(range(0, 16 * 480, 480))  # a walking bass: a quarter on every beat
    # swing moves an off-beat eighth to two thirds of the beat
    assert swing([(0, 240, 60, 80), (240, 240, 62, 80)]) == [(0, 320, 60, 80), (320, 160, 62, 80)]


def test_string_quartet_is_four_strings():
    s, a = _accompanied("string_quartet")
    programs = sorted(t.program for t in Score.from_midi(a.midi).tracks)
    assert programs == [40, 40, 41, 42]


def test_transfer_uses_the_uploads_own_chords_and_survival_falls_when_the_tune_changes():
    s = tune(["C", "Am", "F", "G"])
    piano = Track(name="piano", program=0)
    for b, chord in enumerate([(48, 52, 55), (45, 48, 52), (41, 45, 48), (43, 47, 50)]):
        for p in chord:
            piano.notes.append(Note(b * 1920, 1920, p, 70))
    s.tracks.append(piano)
    t = transfer(s, rows(s), "jazz")
    assert [c.symbol for c in t.chords] == ["C", "Am", "F", "G"]
    other = tune(["C", "G", "F", "Am"])
    surv = melody_survival(s, other)
    assert surv["intervals"] < 0.8 and surv["onsets"] == 1.0


def test_accompany_refuses_an_unknown_style():
    with pytest.raises(ValueError, match="style"):
        accompany([], [ChordSpan(0, 4, 0, "maj")], "polka")


def test_per_half_bar_changes_only_on_beats_1_and_3():
    m = melody(["C", "F", "G", "C", "Am", "Dm", "G", "C"])
    h = harmonize(m, per="half")
    assert all(c.start % 2 == 0 for c in h.chords)
    assert [c.roman for c in h.chords] == ["I", "IV", "V", "I", "vi", "ii", "V", "I"]
