"""An accompaniment in a chosen style under a given melody and its chords, written by rule.

The melody stays note for note (in jazz its off-beat eighths are swung); every other part follows the
chords (:class:`ChordSpan`: from beat, to beat, root, quality). Styles (:data:`STYLES`):

* ``pop``: piano in eighth-note broken chords, electric bass on the root (beats 1 and 3 and a push), a
  backbeat kit (:func:`training.arranger.drums`).
* ``folk``: acoustic guitar "boom-chick" (the bass note on the strong beats, the chord between), no drums.
* ``jazz``: swing (off-beat eighths at two thirds of the beat), extended chords (maj7, m9, 9, 13) as rootless
  piano voicings on a Charleston rhythm, a walking bass in quarters (chord tones, a chromatic approach into
  each new root), ride and side stick; the tune on a saxophone.
* ``classical``: piano Alberti bass (low, high, middle, high in eighths) under the tune.
* ``string_quartet``: violin I the tune, violin II and viola the chord's upper tones held, cello the root.

Everything is written in ticks (:data:`TPQ` a quarter) so swing is exact; :func:`to_midi` makes the file.
"""

from __future__ import annotations

from dataclasses import dataclass

from lake.vocab import CHORD_QUALITIES

TPQ = 480
STYLES = ("pop", "folk", "jazz", "classical", "string_quartet")
SWING = 2 / 3  # where a swung off-beat eighth falls inside its beat
# style -> role -> (instrument name, GM program)
INSTRUMENTS: dict[str, dict[str, tuple[str, int]]] = {
    "pop": {"melody": ("piano", 0), "harmony": ("piano", 0), "bass": ("electric bass", 33), "drums": ("drums", -1)},
    "folk": {"melody": ("flute", 73), "harmony": ("acoustic guitar", 25)},
    "jazz": {"melody": ("saxophone", 65), "harmony": ("piano", 0), "bass": ("acoustic bass", 32),
             "drums": ("drums", -1)},
    "classical": {"melody": ("violin", 40), "harmony": ("piano", 0)},
    "string_quartet": {"melody": ("violin", 40), "harmony": ("violin", 40), "inner": ("viola", 41),
                       "bass": ("cello", 42)},
}
# jazz: each quality played extended, as intervals above the root (rootless voicings leave the root to the bass)
JAZZ_EXTENSIONS = {"maj": (4, 7, 11, 14), "min": (3, 7, 10, 14), "7": (4, 10, 14, 21), "min7": (3, 7, 10, 14),
                   "maj7": (4, 7, 11, 14), "dim": (3, 6, 9), "sus4": (5, 10, 14), "sus2": (2, 7, 10),
                   "aug": (4, 8, 10), "hdim7": (3, 6, 10), "dim7": (3, 6, 9)}

Event = tuple[int, int, int, int]  # start tick, duration ticks, pitch, velocity


@dataclass(frozen=True)
class ChordSpan:
    start: int  # beat
    end: int
    root: int  # pitch class
    quality: str


def _near(pc: int, around: int) -> int:
    """The pitch of class ``pc`` nearest ``around``."""
    return around + ((pc - around + 6) % 12) - 6


def _tones(span: ChordSpan) -> list[int]:
    return [(span.root + i) % 12 for i in CHORD_QUALITIES.get(span.quality, (0, 4, 7))]


def swing(events: list[Event], beat: int = TPQ) -> list[Event]:
    """Off-beat eighths moved to two thirds of their beat (the on-beat eighth before them lengthened)."""
    out = []
    half = beat // 2
    starts = {s for s, *_ in events}
    for s, d, p, v in events:
        pos = s % beat
        if pos == half:
            s2 = s - pos + int(round(SWING * beat))
            out.append((s2, max(1, d - (s2 - s)), p, v))
        elif pos == 0 and d == half and (s + half) in starts:
            out.append((s, int(round(SWING * beat)), p, v))
        else:
            out.append((s, d, p, v))
    return out


def _voicing(tones: list[int], low: int, high: int) -> list[int]:
    """The chord tones packed upward from ``low`` (close position), each under ``high``."""
    out, cur = [], low - 1
    for pc in tones:
        p = cur + 1 + (pc - (cur + 1)) % 12
        while p > high:
            p -= 12
        out.append(p)
        cur = p
    return sorted(set(out))


def accompany(melody: list[Event], chords: list[ChordSpan], style: str, beats_per_bar: int = 4,
              beat: int = TPQ, seed: int = 0) -> dict[str, tuple[str, int, list[Event]]]:
    """role -> (instrument, GM program, events): the melody and the style's parts over ``chords``."""
    if style not in STYLES:
        raise ValueError(f"style {style!r} is not one of {', '.join(STYLES)}")
    inst = INSTRUMENTS[style]
    parts: dict[str, list[Event]] = {r: [] for r in inst}
    parts["melody"] = swing(melody, beat) if style == "jazz" else list(melody)
    half, bar = beat // 2, beat * beats_per_bar
    for i, c in enumerate(chords):
        a, b = c.start * beat, c.end * beat
        tones = _tones(c)
        nxt = chords[i + 1] if i + 1 < len(chords) else None
        root_low = _near(c.root, 40)
        if style == "pop":
            shape = _voicing(tones, 55, 72)
            pattern = [shape[0] - 12 if shape[0] - 12 >= 43 else shape[0], shape[-1], shape[1 % len(shape)],
                       shape[-1]]
            for k, t in enumerate(range(a, b, half)):
                parts["harmony"].append((t, half, pattern[k % 4], 66 if k % 2 else 74))
            for t in range(a, b, beat):
                if (t % bar) // beat in (0, 2) or t == a:
                    parts["bass"].append((t, beat + half if (t % bar) // beat == 0 else beat, root_low, 92))
                    if (t % bar) // beat == 0 and t + beat + half < b:
                        parts["bass"].append((t + beat + half, half, root_low, 80))
        elif style == "folk":
            shape = _voicing(tones, 55, 67)
            fifth = _near((c.root + 7) % 12, 45)
            for k, t in enumerate(range(a, b, beat)):
                slot = (t % bar) // beat
                if slot % 2 == 0:
                    parts["harmony"].append((t, beat, root_low + 12 if slot == 0 or beats_per_bar == 3 else fifth,
                                             84))
                else:
                    parts["harmony"] += [(t, beat, p, 64) for p in shape]
        elif style == "jazz":
            ext = [(c.root + i) % 12 for i in JAZZ_EXTENSIONS.get(c.quality, (4, 7, 11))]
            shape = _voicing(ext, 52, 70)
            for t in range(a, b, bar if b - a >= bar else b - a):
                parts["harmony"] += [(t, beat, p, 70) for p in shape]  # the Charleston: on 1 ...
                if t + beat + half < b:
                    parts["harmony"] += [(t + beat + half, half, p, 62) for p in shape]  # ... and the and of 2
            walk = [root_low, _near(tones[2 % len(tones)], root_low + 5), _near(tones[1], root_low + 3),
                    _near((c.root + 7) % 12, root_low + 6)]
            for k, t in enumerate(range(a, b, beat)):
                p = walk[k % 4]
                if t + beat >= b and nxt is not None:  # the last beat leans into the next root by a half step
                    target = _near(nxt.root, root_low)
                    p = target - 1 if (k % 2) else target + 1
                parts["bass"].append((t, beat, min(max(p, 28), 55), 88 if k % 4 == 0 else 78))
        elif style == "classical":
            shape = _voicing(tones, 48, 64)
            low, high, mid = shape[0], shape[-1], shape[len(shape) // 2]
            for k, t in enumerate(range(a, b, half)):
                parts["harmony"].append((t, half, (low, high, mid, high)[k % 4], 60 if k % 2 else 68))
        elif style == "string_quartet":
            upper = _voicing(tones, 60, 74)
            for t in range(a, b, 2 * beat if b - a >= 2 * beat else b - a):
                d = min(2 * beat, b - t)
                parts["harmony"].append((t, d, upper[-1], 70))
                parts["inner"].append((t, d, _near(tones[1], 55), 66))
                parts["bass"].append((t, d, _near(c.root, 43), 80))
    if style == "jazz":  # the comping's "and of 2" swings with the tune
        parts["harmony"] = swing(parts["harmony"], beat)
    if "drums" in inst:
        parts["drums"] = _drums(style, chords[-1].end if chords else 0, beats_per_bar, beat)
    return {r: (inst[r][0], inst[r][1], sorted(ev)) for r, ev in parts.items() if ev}


def _drums(style: str, n_beats: int, beats_per_bar: int, beat: int) -> list[Event]:
    """A kit: jazz rides in swing (ding, ding-a) with the side stick on 2 and 4; pop a kick/snare backbeat with
    eighth hats."""
    out = []
    half = beat // 2
    for b in range(n_beats):
        t = b * beat
        slot = b % beats_per_bar
        if style == "jazz":
            out.append((t, half, 51, 80 if slot % 2 else 70))
            if slot % 2:
                out.append((t + int(round(SWING * beat)), beat // 3, 51, 64))
                out.append((t, half, 37, 60))
        else:
            out += [(t, half, 42, 70), (t + half, half, 42, 56)]
            if slot % 2 == 0:
                out.append((t, half, 36, 96))
            else:
                out.append((t, half, 38, 88))
    return out


def to_midi(parts: dict[str, tuple[str, int, list[Event]]], bpm: float, numerator: int = 4, denominator: int = 4) -> bytes:
    """The parts as a MIDI file: a track per role (named after it), in the order of ``parts``."""
    from symusic import Note, Score, Tempo, TimeSignature, Track

    score = Score(TPQ)
    score.tempos.append(Tempo(0, qpm=float(bpm)))
    score.time_signatures.append(TimeSignature(0, numerator, denominator))
    for role, (_name, program, events) in parts.items():
        track = Track(name=role, program=max(0, program), is_drum=program < 0)
        for s, d, p, v in events:
            track.notes.append(Note(int(s), max(1, int(d)), int(p), int(v)))
        score.tracks.append(track)
    return score.dumps_midi()
