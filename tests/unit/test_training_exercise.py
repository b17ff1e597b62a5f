"""Exercises are exact: every note of every scale, arpeggio and interval, and the rules of a sight-reading tune."""

import pytest
from symusic import Score

from lake.vocab import pitch_class
from training.exercise import (INTERVAL_NAMES, MAX_LEAP, SCALES, ExerciseSpec, labels, make_exercise, note_name,
                               to_midi)

# every scale on C written out: up from C4 and back down (melodic minor comes down natural)
SCALE_NAMES = {
    "major": "C D E F G A B C", "natural_minor": "C D Eb F G Ab Bb C", "harmonic_minor": "C D Eb F G Ab B C",
    "melodic_minor": "C D Eb F G A B C", "major_pentatonic": "C D E G A C", "minor_pentatonic": "C Eb F G Bb C",
    "ionian": "C D E F G A B C", "dorian": "C D Eb F G A Bb C", "phrygian": "C Db Eb F G Ab Bb C",
    "lydian": "C D E F# G A B C", "mixolydian": "C D E F G A Bb C", "aeolian": "C D Eb F G Ab Bb C",
    "locrian": "C Db Eb F Gb Ab Bb C", "chromatic": "C C# D D# E F F# G G# A A# B C",
}
SEMITONES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def _pitch(name: str, octave: int) -> int:
    return 12 * (octave + 1) + SEMITONES[name[0]] + name.count("#") - name.count("b")


@pytest.mark.parametrize("scale", sorted(SCALE_NAMES))
def test_every_scale_on_c_note_for_note(scale):
    ex = make_exercise(ExerciseSpec(kind="scale", scale=scale, tonic="C", low=60))
    up = SCALE_NAMES[scale].split()
    up_pitches = [60 + s for s in SCALES[scale]] + [72]
    down_scale = "natural_minor" if scale == "melodic_minor" else scale
    down_pitches = [60 + s for s in reversed(SCALES[down_scale])]
    assert [n.pitch for n in ex.notes] == up_pitches + down_pitches
    names = [n.name.rstrip("0123456789") for n in ex.notes]
    assert names[:len(up)] == up
    if scale == "melodic_minor":
        assert names[len(up):] == ["Bb", "Ab", "G", "F", "Eb", "D", "C"]
    if scale == "chromatic":
        assert names[len(up):len(up) + 3] == ["B", "Bb", "A"]  # flats on the way down
    for n in ex.notes:  # every name is the pitch it says
        assert _pitch(n.name.rstrip("0123456789-"), int(n.name.lstrip("ABCDEFG#b"))) == n.pitch
    onsets = [n.onset for n in ex.notes]
    assert onsets == [float(i) for i in range(len(ex.notes))]  # quarters at difficulty 1, one after another
    assert ex.notes[-1].duration == 2.0


def test_two_octaves_in_d_major_with_the_right_hands_fingering_and_sixteenths():
    ex = make_exercise(ExerciseSpec(scale="major", tonic="D", octaves=2, low=60, difficulty=3))
    names = [n.name for n in ex.notes]
    assert names[:15] == ["D4", "E4", "F#4", "G4", "A4", "B4", "C#5", "D5", "E5", "F#5", "G5", "A5", "B5", "C#6", "D6"]
    assert names[15:] == list(reversed(names[:14]))
    fingers = [n.finger for n in ex.notes]
    assert fingers[:15] == [1, 2, 3, 1, 2, 3, 4, 1, 2, 3, 1, 2, 3, 4, 5]
    assert fingers[15:] == [4, 3, 2, 1, 3, 2, 1, 4, 3, 2, 1, 3, 2, 1]
    assert {n.duration for n in ex.notes[:-1]} == {0.25}


def test_sharp_keys_are_spelled_on_their_letters():
    ex = make_exercise(ExerciseSpec(scale="major", tonic="C#", low=60))
    assert [n.name for n in ex.notes[:8]] == ["C#4", "D#4", "E#4", "F#4", "G#4", "A#4", "B#4", "C#5"]
    assert ex.notes[0].finger is None  # no standard pattern claimed where it differs
    assert note_name(60, "B#") == "B#3"


def test_arpeggios_triad_and_seventh():
    ex = make_exercise(ExerciseSpec(kind="arpeggio", scale="harmonic_minor", tonic="A", octaves=2, low=57))
    assert [n.pitch for n in ex.notes] == [57, 60, 64, 69, 72, 76, 81, 76, 72, 69, 64, 60, 57]
    assert [n.finger for n in ex.notes[:7]] == [1, 2, 3, 1, 2, 3, 5]
    ex = make_exercise(ExerciseSpec(kind="arpeggio", scale="mixolydian", tonic="G", low=55, difficulty=4))
    assert [n.name for n in ex.notes[:5]] == ["G3", "B3", "D4", "F4", "G4"]
    with pytest.raises(ValueError, match="chromatic"):
        make_exercise(ExerciseSpec(kind="arpeggio", scale="chromatic"))


def test_intervals_melodic_then_harmonic():
    ex = make_exercise(ExerciseSpec(kind="interval", tonic="Eb", low=60, difficulty=2))
    pairs = [(ex.notes[i], ex.notes[i + 1]) for i in range(0, len(ex.notes), 2)]
    assert [b.pitch - a.pitch for a, b in pairs] == [2, 4, 5, 7, 9, 11, 12]
    assert [b.label for _, b in pairs] == [INTERVAL_NAMES[s] for s in (2, 4, 5, 7, 9, 11, 12)]
    assert [b.name for _, b in pairs][:2] == ["F4", "G4"]
    assert all(b.onset == a.onset + 1 for a, b in pairs)  # melodic: one after the other
    ex = make_exercise(ExerciseSpec(kind="interval", tonic="Eb", low=60, difficulty=3))
    pairs = [(ex.notes[i], ex.notes[i + 1]) for i in range(0, len(ex.notes), 2)]
    assert all(b.onset == a.onset for a, b in pairs)  # harmonic: together
    assert [b.name for _, b in pairs][:2] == ["Gb4", "G4"]  # a minor third above Eb is Gb, not F#


@pytest.mark.parametrize("difficulty", [1, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sight_reading_follows_its_rules(difficulty, seed):
    spec = ExerciseSpec(kind="sight_reading", scale="natural_minor", tonic="D", low=57, high=76, bars=4,
                        difficulty=difficulty, seed=seed, time_signature="3/4")
    ex = make_exercise(spec)
    assert ex == make_exercise(spec)  # the seed fixes it
    steps = SCALES["natural_minor"]
    assert all((n.pitch - pitch_class("D")) % 12 in steps and 57 <= n.pitch <= 76 for n in ex.notes)
    assert ex.notes[0].pitch % 12 == ex.notes[-1].pitch % 12 == 2
    assert all(abs(b.pitch - a.pitch) <= MAX_LEAP[difficulty] for a, b in zip(ex.notes, ex.notes[1:]))
    ends = [n.onset + n.duration for n in ex.notes]
    assert [n.onset for n in ex.notes[1:]] == pytest.approx(ends[:-1])  # no gaps, no overlaps
    assert ends[-1] == pytest.approx(12.0)
    for n in ex.notes:  # no note crosses a bar line
        assert int(n.onset // 3) == int((n.onset + n.duration - 1e-9) // 3)


def test_midi_and_labels_carry_every_note():
    ex = make_exercise(ExerciseSpec(scale="major", tonic="G", low=55, bpm=72, instrument="violin"))
    score = Score.from_midi(to_midi(ex))
    assert score.tracks[0].program == 40
    got = [(n.time / score.ticks_per_quarter, n.pitch) for n in score.tracks[0].notes]
    assert got == [(n.onset, n.pitch) for n in ex.notes]
    assert round(score.tempos[0].qpm) == 72
    assert [t for *_, t in labels(ex)][:3] == ["G", "A", "B"]  # no fingering for a violin: the names


@pytest.mark.parametrize("bad, field", [({"kind": "étude"}, "kind"), ({"scale": "bebop"}, "scale"),
                                        ({"tonic": "H"}, "tonic"), ({"difficulty": 9}, "difficulty"),
                                        ({"low": 80, "high": 70}, "range"), ({"instrument": "drums"}, "instrument"), ({"instrument": "kazoo"}, "instrument")])
def test_bad_specs_name_the_field(bad, field):
    with pytest.raises(ValueError, match=field):
        make_exercise(ExerciseSpec(**bad))


def test_instrument_names_as_the_prompt_vocabulary_reads_them():
    ex = make_exercise(ExerciseSpec(instrument="Grand Piano"))
    assert ex.program == 0 and ex.notes[0].finger == 1
    ex = make_exercise(ExerciseSpec(instrument="小提琴"))
    assert ex.program == 40 and ex.notes[0].finger is None
