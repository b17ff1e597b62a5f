"""Scores and MIDI bytes for the lake's tests, built with symusic: the pieces the unit tests analyse and
the integration tests land in bronze.

- :func:`make_score` builds a :class:`symusic.Score` from ``(program, is_drum, [(start beat, beats, pitch)])``
  tracks (at :data:`TPQ` ticks per quarter), with an optional tempo, meter and tempo changes;
  :func:`scale_notes` lays pitches out one after another.
- Fixed pieces, as MIDI bytes: :func:`c_major_melody` (piano, 90 BPM, 3/4), :func:`d_minor_duo`
  (piano and bass, 72 BPM, 4/4), :func:`drums_and_piano` (G major over drums, 128 BPM, 4/4); and,
  as a score, :func:`band_score` (drums, bass, piano chords and a flute melody, 8 bars of 4/4).
- Seeded lines of notes: :func:`tune` (a random but musical line) and :func:`edited` (the same line
  with a few notes moved a step: a near duplicate).
- Byte surgery: :func:`chunk_ends` (where each chunk of a MIDI file ends) and :func:`mutate` (one
  seeded random corruption of MIDI bytes, as the fuzz tests use).
"""

from __future__ import annotations

import random
import struct

import numpy as np
from symusic import Note, Score, Tempo, TimeSignature, Track

TPQ = 480


def make_score(tracks: list[tuple[int, bool, list[tuple[float, float, int]]]], bpm: float | None = None,
               meter: tuple[int, int] | None = None, tempos: list[tuple[float, float]] = ()) -> Score:
    """A score from (program, is_drum, [(start beat, beats, pitch)]) tracks, one tempo and one meter."""
    score = Score(TPQ)
    for program, is_drum, notes in tracks:
        track = Track(name=f"p{program}{'d' if is_drum else ''}", program=program, is_drum=is_drum)
        for start, beats, pitch in notes:
            track.notes.append(Note(int(start * TPQ), int(beats * TPQ), pitch, 90))
        score.tracks.append(track)
    if bpm is not None:
        score.tempos.append(Tempo(0, qpm=bpm))
    for beat, qpm in tempos:
        score.tempos.append(Tempo(int(beat * TPQ), qpm=qpm))
    if meter is not None:
        score.time_signatures.append(TimeSignature(0, *meter))
    return score


def scale_notes(pitches: list[int], beats: float = 1.0, start: float = 0.0):
    return [(start + i * beats, beats, p) for i, p in enumerate(pitches)]


C_MAJOR_TUNE = [60, 64, 67, 72, 67, 64, 60, 62, 65, 69, 67, 65, 64, 62, 60, 60, 67, 60]
D_MINOR_TUNE = [62, 65, 69, 74, 73, 69, 70, 67, 65, 64, 62, 69, 65, 62, 61, 62]


def c_major_melody() -> bytes:
    """A C-major melody (piano) at 90 BPM in 3/4."""
    return make_score([(0, False, scale_notes(C_MAJOR_TUNE))], bpm=90, meter=(3, 4)).dumps_midi()


def d_minor_duo() -> bytes:
    """A D-minor piece for piano and acoustic bass at 72 BPM in 4/4."""
    bass = [(i * 4.0, 4.0, p) for i, p in enumerate([38, 46, 45, 38])]
    return make_score([(0, False, scale_notes(D_MINOR_TUNE)), (32, False, bass)], bpm=72, meter=(4, 4)).dumps_midi()


def drums_and_piano() -> bytes:
    """A G-major piano part over a drum groove at 128 BPM in 4/4."""
    groove = [(i * 0.5, 0.25, 36 if i % 2 == 0 else 42) for i in range(32)]
    piano = scale_notes([67, 71, 74, 79, 74, 71, 67, 66, 69, 72, 74, 71, 67, 62, 67, 67])
    return make_score([(118, True, groove), (0, False, piano)], bpm=128, meter=(4, 4)).dumps_midi()


def bass_line(bars: int = 8) -> list[tuple[float, float, int]]:
    return [(i * 2.0, 2.0, p) for i, p in enumerate([38, 45, 41, 43] * (bars // 2))]


def band_score(transpose: int = 0, bpm: float = 110) -> Score:
    """Drums, a bass line, block chords on piano and a flute melody: 8 bars of 4/4."""
    chords = []
    for bar, root in enumerate([50, 57, 53, 55] * 2):
        chords += [(bar * 4.0, 4.0, root + transpose + i) for i in (12, 16, 19)]
    melody = scale_notes([p + transpose for p in [74, 76, 77, 79, 81, 79, 77, 76] * 4], beats=1.0)
    groove = [(i * 1.0, 0.5, 36 if i % 2 == 0 else 38) for i in range(32)]
    return make_score([(118, True, groove), (33, False, [(s, d, p + transpose) for s, d, p in bass_line()]),
                       (0, False, chords), (73, False, melody)], bpm=bpm, meter=(4, 4))


def tune(seed: int, n: int = 120) -> list[tuple[float, float, int]]:
    """A random but musical line: steps and small leaps, varied rhythm."""
    rng = np.random.default_rng(seed)
    pitch, t, notes = 64, 0.0, []
    for _ in range(n):
        pitch = int(np.clip(pitch + rng.choice([-4, -2, -1, 1, 2, 3, 5]), 50, 84))
        dur = float(rng.choice([0.5, 1.0, 1.0, 1.5, 2.0]))
        notes.append((t, dur, pitch))
        t += dur
    return notes


def edited(notes, seed: int, changes: int):
    """The same line with ``changes`` notes moved a step (a near duplicate: another edition, a typo)."""
    rng = np.random.default_rng(seed)
    out = list(notes)
    for i in rng.choice(len(out), size=changes, replace=False):
        a, b, p = out[i]
        out[i] = (a, b, p + 1)
    return out


def chunk_ends(data: bytes) -> list[int]:
    pos, ends = 14, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos + 4:pos + 8])
        pos += 8 + length
        ends.append(pos)
    return ends


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
