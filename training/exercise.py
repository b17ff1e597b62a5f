"""Practice material written by rule, note for note: scales, arpeggios, intervals and sight-reading melodies.

:func:`make_exercise` turns an :class:`ExerciseSpec` (kind, scale, tonic, range, tempo, instrument,
difficulty) into an :class:`Exercise`: the notes (MIDI pitch, onset and length in quarter notes), each
with its name spelled in the key ("F#", "Bb") and, for the piano's right hand where the standard
fingering is known, its finger. Nothing is sampled except the sight-reading melody, which a seed fixes.

* **scale**: up ``octaves`` octaves from the tonic and back down, every note one value (quarters at
  difficulty 1, eighths at 2, sixteenths from 3), the last tonic held for a half note. Melodic minor
  goes up melodic and down natural minor. Scales: major, natural/harmonic/melodic minor, major and minor
  pentatonic, the seven church modes, chromatic (sharps up, flats down).
* **arpeggio**: the tonic triad of the scale (its seventh chord from difficulty 4) up and back down.
* **interval**: from the tonic, each interval of the difficulty's set, melodic (one note then the other)
  at difficulties 1-2, harmonic (both at once) from 3; each second note named by its interval ("M3").
* **sight_reading**: ``bars`` bars in 4/4 (3/4 when asked) that start and end on the tonic, move mostly by
  step, leap at most the difficulty's interval, and use longer notes at lower difficulties.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from lake.vocab import PITCH_CLASSES, instrument_program, pitch_class

KINDS = ("scale", "arpeggio", "interval", "sight_reading")
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "natural_minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "melodic_minor": (0, 2, 3, 5, 7, 9, 11),  # ascending; it descends as natural minor
    "major_pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
    "ionian": (0, 2, 4, 5, 7, 9, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "locrian": (0, 1, 3, 5, 6, 8, 10),
    "chromatic": tuple(range(12)),
}
# the scale degree (0-6) each step of a pentatonic scale spells on: major pentatonic skips 4 and 7, minor 2 and 6
_PENTATONIC_DEGREES = {"major_pentatonic": (0, 1, 2, 4, 5), "minor_pentatonic": (0, 2, 3, 4, 6)}
INTERVAL_NAMES = ("P1", "m2", "M2", "m3", "M3", "P4", "TT", "P5", "m6", "M6", "m7", "M7", "P8")
# intervals asked at each difficulty (semitones above the tonic)
INTERVALS_BY_DIFFICULTY = {1: (0, 2, 4, 5, 7), 2: (2, 4, 5, 7, 9, 11, 12), 3: (3, 4, 7, 8, 9, 12),
                           4: tuple(range(1, 13)), 5: tuple(range(1, 13))}
NOTE_VALUE = {1: 1.0, 2: 0.5, 3: 0.25, 4: 0.25, 5: 0.25}  # scales and arpeggios, in quarter notes
MAX_LEAP = {1: 2, 2: 4, 3: 5, 4: 7, 5: 12}  # sight reading: the largest step between notes (semitones; at
# least the scale's own largest step)
# sight reading: the note values (quarters) a bar is filled from, longest first
RHYTHMS = {1: (2.0, 1.0), 2: (2.0, 1.0, 0.5), 3: (1.5, 1.0, 0.5), 4: (1.0, 0.5, 0.75, 0.25), 5: (1.0, 0.5, 0.75, 0.25)}
DEFAULT_RANGE = (60, 84)
_LETTERS = "CDEFGAB"
_NATURAL = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
# the right hand's standard fingering on the piano, for tonics whose scale starts on a white key with thumb 1
_RH_SCALE_TONICS = {"C", "D", "E", "G", "A"}


@dataclass(frozen=True)
class ExerciseSpec:
    kind: str = "scale"
    scale: str = "major"
    tonic: str = "C"
    octaves: int = 1
    low: int = DEFAULT_RANGE[0]  # the lowest and highest MIDI pitch the exercise may use
    high: int | None = None  # default: DEFAULT_RANGE's top, or higher when more octaves need it
    bpm: float = 80.0
    instrument: str = "piano"
    difficulty: int = 1  # 1 (easiest) .. 5
    bars: int = 4  # sight reading
    time_signature: str = "4/4"  # sight reading: 4/4 or 3/4
    seed: int = 0

    @property
    def top(self) -> int:
        return self.high if self.high is not None else max(DEFAULT_RANGE[1], self.low + 12 * self.octaves + 11)

    def check(self) -> None:
        """ValueError naming the field when the spec cannot be written."""
        if self.kind not in KINDS:
            raise ValueError(f"kind: {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.scale not in SCALES:
            raise ValueError(f"scale: {self.scale!r} is not one of {', '.join(SCALES)}")
        if not 1 <= self.difficulty <= 5:
            raise ValueError("difficulty: from 1 to 5")
        if not 1 <= self.octaves <= 3:
            raise ValueError("octaves: from 1 to 3")
        if not 0 <= self.low < self.top <= 127:
            raise ValueError("range: low must be below high, both MIDI pitches 0-127")
        if self.time_signature not in ("4/4", "3/4"):
            raise ValueError("time_signature: 4/4 or 3/4")
        if self.kind == "arpeggio" and self.scale == "chromatic":
            raise ValueError("scale: the chromatic scale has no arpeggio")
        try:
            program = instrument_program(self.instrument)
        except ValueError:
            program = -1
        if program < 0:
            raise ValueError(f"instrument: {self.instrument!r} is not a pitched General MIDI instrument")
        spell_tonic(self.tonic)


@dataclass(frozen=True)
class ExerciseNote:
    pitch: int
    onset: float  # quarter notes from the start
    duration: float
    name: str  # spelled in the key, with its octave: "F#4"
    finger: int | None = None  # the right hand's finger on the piano (1 thumb .. 5), where the fingering is standard
    label: str | None = None  # what the score prints under the note instead of the name (an interval, e.g. "M3")


@dataclass
class Exercise:
    spec: ExerciseSpec
    title: str
    key: str  # for the key signature, e.g. "D major" ("C major" for the chromatic scale)
    notes: list[ExerciseNote] = field(default_factory=list)
    numerator: int = 4
    denominator: int = 4

    @property
    def program(self) -> int:
        return instrument_program(self.spec.instrument)


def spell_tonic(text: str) -> str:
    """The tonic as written: a letter A-G and at most one sharp or flat ("F#", "Bb"); ValueError otherwise."""
    t = str(text).strip().replace("♯", "#").replace("♭", "b")
    if not t or t[0].upper() not in _LETTERS or len(t) > 2 or (len(t) == 2 and t[1] not in "#b"):
        raise ValueError(f"tonic: {text!r} is not a note name such as C, F#, Bb")
    return t[0].upper() + t[1:]


def _spell(tonic: str, degree: int, semitones: int) -> str:
    """The note ``semitones`` above ``tonic`` on the letter ``degree`` steps above it (E# in C# major)."""
    letter = _LETTERS[(_LETTERS.index(tonic[0]) + degree) % 7]
    target = (pitch_class(tonic) + semitones) % 12
    diff = (target - _NATURAL[letter] + 6) % 12 - 6
    return letter + ("#" * diff if diff > 0 else "b" * -diff)


def note_name(pitch: int, spelled: str) -> str:
    """``spelled`` (a letter and accidentals) with the octave that makes it ``pitch`` ("B#3" is MIDI 60)."""
    natural = _NATURAL[spelled[0]] + spelled.count("#") - spelled.count("b")
    octave = (pitch - natural) // 12 - 1
    return f"{spelled}{octave}"


def scale_spelling(tonic: str, scale: str, descending: bool = False) -> list[str]:
    """The letter names of the scale's steps from the tonic (chromatic: sharps up, flats down)."""
    steps = SCALES[scale]
    if scale == "chromatic":
        base = pitch_class(tonic)
        white = {v: k for k, v in _NATURAL.items()}
        names = [tonic]
        for st in steps[1:]:
            pc = (base + st) % 12
            if pc in white:
                names.append(white[pc])
            else:  # a black key: a sharp on the way up, a flat on the way down
                names.append(white[(pc + 1) % 12] + "b" if descending else white[(pc - 1) % 12] + "#")
        return names
    degrees = _PENTATONIC_DEGREES.get(scale, tuple(range(7)))
    return [_spell(tonic, d, s) for d, s in zip(degrees, steps)]


def _start_pitch(tonic: str, low: int, high: int, span: int) -> int:
    """The lowest pitch of the tonic at or above ``low`` from which ``span`` semitones fit under ``high``."""
    p = low + (pitch_class(tonic) - low) % 12
    if p + span > high:
        raise ValueError(f"range: {span} semitones from {tonic} do not fit between MIDI {low} and {high}")
    return p


KEYBOARDS = frozenset(range(0, 8)) | frozenset(range(16, 21))  # pianos, harpsichord, clavinet, organs


def _keyboard(instrument: str) -> bool:
    return instrument_program(instrument) in KEYBOARDS


def _scale_fingers(n_octaves: int, tonic: str, scale: str, instrument: str) -> list[int] | None:
    """The right hand's fingers going up (the top note 5), for the scales whose fingering is the C-major
    pattern (1 2 3 1 2 3 4 each octave): seven-note scales on C, D, E, G, A without a black-key start."""
    if not _keyboard(instrument) or \
            tonic not in _RH_SCALE_TONICS or len(SCALES[scale]) != 7:
        return None
    return [1, 2, 3, 1, 2, 3, 4] * n_octaves + [5]


def _scale(spec: ExerciseSpec, tonic: str) -> Exercise:
    steps = SCALES[spec.scale]
    start = _start_pitch(tonic, spec.low, spec.top, 12 * spec.octaves)
    up_names = scale_spelling(tonic, spec.scale)
    down_steps = SCALES["natural_minor"] if spec.scale == "melodic_minor" else steps
    down_names = scale_spelling(tonic, "natural_minor" if spec.scale == "melodic_minor" else spec.scale,
                                descending=True)
    up = [(start + 12 * o + s, up_names[i]) for o in range(spec.octaves) for i, s in enumerate(steps)]
    up.append((start + 12 * spec.octaves, tonic))
    down = [(start + 12 * o + s, down_names[i]) for o in reversed(range(spec.octaves))
            for i, s in reversed(list(enumerate(down_steps)))]
    value = NOTE_VALUE[spec.difficulty]
    fingers = _scale_fingers(spec.octaves, tonic, spec.scale, spec.instrument)
    down_fingers = list(reversed(fingers[:-1])) if fingers else None  # 4 3 2 1 3 2 1 ... on the way down
    notes, t = [], 0.0
    for i, (p, n) in enumerate(up):
        notes.append(ExerciseNote(p, t, value, note_name(p, n), fingers[i] if fingers else None))
        t += value
    for i, (p, n) in enumerate(down):
        last = i == len(down) - 1
        notes.append(ExerciseNote(p, t, 2.0 if last else value, note_name(p, n), down_fingers[i] if down_fingers else None))
        t += value
    mode = "minor" if spec.scale in ("natural_minor", "harmonic_minor", "melodic_minor", "aeolian", "minor_pentatonic") \
        else "major"
    return Exercise(spec, f"{tonic} {spec.scale.replace('_', ' ')} scale", _key_of(tonic, spec.scale, mode), notes)


def _key_of(tonic: str, scale: str, mode: str) -> str:
    """The key signature a scale is written in: its own tonic's major/minor; a church mode the major key whose
    notes it shares (D dorian in C major); the chromatic scale in C major."""
    from lake.vocab import key_name

    shift = {"dorian": 2, "phrygian": 4, "lydian": 5, "mixolydian": 7, "locrian": 11}.get(scale)
    if scale == "chromatic":
        return "C major"
    if shift is not None:
        return key_name(PITCH_CLASSES[(pitch_class(tonic) - shift) % 12], "major")
    return key_name(PITCH_CLASSES[pitch_class(tonic)], mode)


def chord_of_scale(scale: str, seventh: bool) -> tuple[int, ...]:
    """The scale's tonic triad (seventh chord) as scale-step indexes: 1-3-5(-7) of a seven-note scale; the
    pentatonic scales' own 1-3-5 (steps 0, 2, 3 of the major one: 1 3 5; of the minor one 0, 1, 3: 1 b3 5)."""
    if scale == "major_pentatonic":
        return (0, 2, 3)
    if scale == "minor_pentatonic":
        return (0, 1, 3, 4) if seventh else (0, 1, 3)
    return (0, 2, 4, 6) if seventh else (0, 2, 4)


def _arpeggio(spec: ExerciseSpec, tonic: str) -> Exercise:
    steps = SCALES[spec.scale]
    names = scale_spelling(tonic, spec.scale)
    chord = chord_of_scale(spec.scale, spec.difficulty >= 4)
    start = _start_pitch(tonic, spec.low, spec.top, 12 * spec.octaves)
    up = [(start + 12 * o + steps[i], names[i]) for o in range(spec.octaves) for i in chord]
    up.append((start + 12 * spec.octaves, tonic))
    down = list(reversed(up[:-1]))
    value = max(NOTE_VALUE[spec.difficulty], 0.5) if spec.difficulty < 3 else 0.5
    piano = _keyboard(spec.instrument)
    fingers = None
    if piano and len(chord) == 3 and tonic in {"C", "D", "E", "F", "G", "A"}:  # root-position triads: 1 2 3 (5 on top)
        fingers = [1, 2, 3] * spec.octaves + [5]
    notes, t = [], 0.0
    for i, (p, n) in enumerate(up):
        notes.append(ExerciseNote(p, t, value, note_name(p, n), fingers[i] if fingers else None))
        t += value
    for i, (p, n) in enumerate(down):
        last = i == len(down) - 1
        f = list(reversed(fingers[:-1]))[i] if fingers else None
        notes.append(ExerciseNote(p, t, 2.0 if last else value, note_name(p, n), f))
        t += value
    mode = "minor" if steps[2] == 3 or spec.scale == "minor_pentatonic" else "major"
    kind = "seventh arpeggio" if len(chord) == 4 else "arpeggio"
    return Exercise(spec, f"{tonic} {spec.scale.replace('_', ' ')} {kind}", _key_of(tonic, spec.scale, mode), notes)


def _interval_spelling(tonic: str, semitones: int) -> str:
    """The upper note of an interval above ``tonic`` on its own letter (a third on the third letter)."""
    degree = {0: 0, 1: 1, 2: 1, 3: 2, 4: 2, 5: 3, 6: 3, 7: 4, 8: 5, 9: 5, 10: 6, 11: 6, 12: 7}[semitones]
    return _spell(tonic, degree % 7, semitones)


def _intervals(spec: ExerciseSpec, tonic: str) -> Exercise:
    start = _start_pitch(tonic, spec.low, spec.top, 12)
    harmonic = spec.difficulty >= 3
    notes, t = [], 0.0
    for s in INTERVALS_BY_DIFFICULTY[spec.difficulty]:
        upper = _interval_spelling(tonic, s)
        notes.append(ExerciseNote(start, t, 2.0 if harmonic else 1.0, note_name(start, tonic)))
        second = t if harmonic else t + 1.0
        notes.append(ExerciseNote(start + s, second, 2.0 if harmonic else 1.0, note_name(start + s, upper),
                                  label=INTERVAL_NAMES[s]))
        t += 2.0 if harmonic else 2.0
    return Exercise(spec, f"Intervals above {tonic}", _key_of(tonic, "major", "major"), notes)


def _sight_reading(spec: ExerciseSpec, tonic: str) -> Exercise:
    scale = spec.scale if spec.scale != "chromatic" else "major"
    steps = SCALES[scale]
    names = scale_spelling(tonic, scale)
    num = int(spec.time_signature.split("/")[0])
    rng = random.Random(spec.seed * 7919 + spec.difficulty)
    lo, hi = spec.low, spec.top
    pool = [p for p in range(lo, hi + 1) if (p - pitch_class(tonic)) % 12 in steps]
    tonics = [p for p in pool if (p - pitch_class(tonic)) % 12 == 0]
    if not tonics:
        raise ValueError(f"range: no {tonic} between MIDI {lo} and {hi}")
    home = min(tonics, key=lambda p: abs(p - (lo + hi) / 2))
    gaps = [(b - a) for a, b in zip(pool, pool[1:])]
    leap = max([MAX_LEAP[spec.difficulty]] + gaps)  # a step of the scale is never too far
    pool = [p for p in pool if abs(p - home) <= 7 + leap]  # the tune stays around its tonic
    values = RHYTHMS[spec.difficulty]
    pitches: list[int] = []
    times: list[tuple[float, float]] = []
    current = home
    for bar in range(spec.bars):
        t, end = bar * num, (bar + 1) * num
        last_bar = bar == spec.bars - 1
        homeward = bar >= spec.bars - 2  # the last two bars walk back to the tonic
        while t < end - 1e-9:
            room = end - t
            if last_bar and room <= 2.0:  # the last note: the tonic, held to the bar line
                value, pitch = room, home
            else:
                fits = [v for v in values if v <= room + 1e-9 and (v >= 1.0 or t % 1.0 + v <= 1.0 + 1e-9)]
                value = rng.choice(fits or [room])
                if not pitches:
                    pitch = home
                else:
                    near = [p for p in pool if 0 < abs(p - current) <= leap]
                    if homeward:
                        closer = [p for p in near if abs(p - home) < abs(current - home)]
                        near = closer or ([home] if current == home else near)
                    steps_only = [p for p in near if abs(p - current) <= 2]
                    pick = steps_only if steps_only and rng.random() < 0.7 else near
                    pitch = rng.choice(pick or [current])
            pitches.append(pitch)
            times.append((t, value))
            current = pitch
            t += value
    for i in range(len(pitches) - 2, 0, -1):  # too far from the next note (the tonic at the end): step nearer
        if abs(pitches[i] - pitches[i + 1]) > leap:
            toward = [p for p in pool if abs(p - pitches[i + 1]) <= leap]
            if toward:
                pitches[i] = min(toward, key=lambda p: abs(p - pitches[i]))
    notes = [ExerciseNote(p, t, v, note_name(p, names[steps.index((p - pitch_class(tonic)) % 12)]))
             for p, (t, v) in zip(pitches, times)]
    mode = "minor" if steps[2] == 3 else "major"
    return Exercise(spec, f"Sight reading in {tonic} {scale.replace('_', ' ')}", _key_of(tonic, scale, mode), notes,
                    numerator=num)


def make_exercise(spec: ExerciseSpec) -> Exercise:
    """The exercise ``spec`` asks for; ValueError naming the field when it cannot be written."""
    spec.check()
    tonic = spell_tonic(spec.tonic)
    return {"scale": _scale, "arpeggio": _arpeggio, "interval": _intervals,
            "sight_reading": _sight_reading}[spec.kind](spec, tonic)


def to_midi(ex: Exercise) -> bytes:
    """The exercise as a one-track MIDI file (480 ticks a quarter, its tempo and meter)."""
    from symusic import Note, Score, Tempo, TimeSignature, Track

    tpq = 480
    score = Score(tpq)
    score.tempos.append(Tempo(0, qpm=float(ex.spec.bpm)))
    score.time_signatures.append(TimeSignature(0, ex.numerator, ex.denominator))
    track = Track(name=ex.spec.instrument, program=ex.program, is_drum=False)
    for n in ex.notes:
        track.notes.append(Note(int(round(n.onset * tpq)), max(1, int(round(n.duration * tpq))), n.pitch, 80))
    score.tracks.append(track)
    return score.dumps_midi()


def labels(ex: Exercise) -> list[tuple[int, float, int, str]]:
    """What the score prints under each note (track 0): the finger where known, else the interval's name or the
    note's name (without its octave)."""
    out = []
    for n in ex.notes:
        text = str(n.finger) if n.finger is not None else n.label or n.name.rstrip("-0123456789")
        out.append((0, n.onset, n.pitch, text))
    return out
