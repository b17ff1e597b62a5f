"""MIDI checks and musical features with symusic: what the silver tables know about each piece.

symusic parses fast but forgives too much: a file cut exactly between two track chunks, or one
whose header promises more tracks than it holds, loads as a shorter piece without a word.
:func:`check_midi_bytes` walks the chunk structure first so such files are rejected with a reason.

Keys come from the Krumhansl–Schmuckler algorithm: the duration-weighted pitch-class histogram
of the pitched notes is correlated with the 24 rotations of the Krumhansl–Kessler probe-tone
profiles, and the best correlation is the key (and its confidence).
"""

from __future__ import annotations

import struct

import numpy as np
from miditok.constants import MIDI_INSTRUMENTS
from symusic import Score

from lake.vocab import PITCH_CLASSES

MAX_TRACKS = 256
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_BPM = 120.0
DEFAULT_TIME_SIGNATURE = "4/4"
DRUMS = "Drums"

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


class MidiError(ValueError):
    """A MIDI file that cannot become a silver row; the message is the one-line reason."""


def check_midi_bytes(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES, max_tracks: int = MAX_TRACKS) -> None:
    """Reject anything that is not a complete Standard MIDI File within the size caps."""
    size = len(data)
    if size == 0:
        raise MidiError("empty file (0 bytes)")
    if size > max_bytes:
        raise MidiError(f"too large: {size} bytes > cap of {max_bytes}")
    if data[:4] != b"MThd":
        raise MidiError(f"not MIDI: no MThd header (starts with {bytes(data[:8])!r})")
    if size < 14:
        raise MidiError(f"truncated: header cut at byte {size} of 14")
    length, fmt, ntrks, division = struct.unpack(">IHHH", data[4:14])
    if length != 6:
        raise MidiError(f"bad header: length {length}, expected 6")
    if fmt not in (0, 1, 2):
        raise MidiError(f"bad header: format {fmt}, expected 0, 1 or 2")
    if ntrks == 0:
        raise MidiError("bad header: 0 tracks")
    if ntrks > max_tracks:
        raise MidiError(f"too many tracks: {ntrks} > cap of {max_tracks}")
    if fmt == 0 and ntrks != 1:
        raise MidiError(f"bad header: format 0 with {ntrks} tracks")
    if division == 0:
        raise MidiError("bad header: division 0")
    pos, found = 14, 0
    while found < ntrks:
        if pos + 8 > size:
            raise MidiError(f"truncated: {found} of {ntrks} track chunks present ({size} bytes)")
        tag, chunk_len = struct.unpack(">4sI", data[pos:pos + 8])
        if pos + 8 + chunk_len > size:
            raise MidiError(f"truncated: chunk {tag!r} at byte {pos} declares {chunk_len} bytes, "
                            f"{size - pos - 8} present")
        if tag == b"MTrk":
            found += 1
        pos += 8 + chunk_len


def parse_midi(data: bytes) -> Score:
    """symusic's parse with its errors turned into :class:`MidiError` (call :func:`check_midi_bytes` first)."""
    try:
        return Score.from_midi(data)
    except Exception as e:  # symusic raises RuntimeError with C++ iostream details
        raise MidiError(f"unparseable: {one_line(e)}") from None


def one_line(e: BaseException, limit: int = 300) -> str:
    """An exception as one short line (for quarantine rows and logs)."""
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def instrument_name(program: int) -> str:
    """The General MIDI instrument name of a program; 'Drums' for -1 (drum tracks)."""
    return DRUMS if program < 0 else MIDI_INSTRUMENTS[program]["name"]


def extract_features(score: Score) -> dict:
    """Tempo, meter, key, instruments, size and duration of a parsed score; ``n_tracks`` counts tracks with notes."""
    secs = score.to("second")
    tracks = [t for t in secs.tracks if t.note_num() > 0]
    note_count = sum(t.note_num() for t in tracks)
    if note_count == 0:
        raise MidiError("empty: no notes")
    duration = max(_track_end(t) for t in tracks)
    tonic, mode, confidence = estimate_key(_pitch_class_histogram(tracks))
    programs = sorted({-1 if t.is_drum else int(t.program) for t in tracks})
    return dict(
        bpm=main_tempo(secs, duration),
        time_signature=_first_time_signature(secs),
        key_tonic=tonic,
        key_mode=mode,
        key_confidence=confidence,
        programs=programs,
        instruments=[instrument_name(p) for p in programs],
        n_tracks=len(tracks),
        note_count=int(note_count),
        duration_s=round(duration, 3),
    )


def _track_end(track) -> float:
    arr = track.notes.numpy()
    return float((arr["time"] + arr["duration"]).max())


def main_tempo(secs: Score, end_s: float) -> float:
    """The tempo in force for the longest stretch of [0, end_s] (120 BPM before the first event)."""
    events = sorted(((float(t.time), float(t.qpm)) for t in secs.tempos), key=lambda e: e[0])
    if not events:
        return DEFAULT_BPM
    if events[0][0] > 0:
        events.insert(0, (0.0, DEFAULT_BPM))
    held: dict[float, float] = {}
    for i, (start, qpm) in enumerate(events):
        stop = events[i + 1][0] if i + 1 < len(events) else end_s
        bpm = round(qpm, 2)
        held[bpm] = held.get(bpm, 0.0) + max(0.0, min(stop, end_s) - start)
    if not any(held.values()):
        return round(events[0][1], 2)
    return max(held.items(), key=lambda kv: kv[1])[0]


def _first_time_signature(score: Score) -> str:
    if len(score.time_signatures) == 0:
        return DEFAULT_TIME_SIGNATURE
    first = min(score.time_signatures, key=lambda ts: ts.time)
    return f"{first.numerator}/{first.denominator}"


def _pitch_class_histogram(tracks) -> np.ndarray:
    hist = np.zeros(12)
    for t in tracks:
        if t.is_drum:
            continue
        arr = t.notes.numpy()
        np.add.at(hist, arr["pitch"].astype(np.int64) % 12, arr["duration"].astype(np.float64))
    return hist


def estimate_key(hist: np.ndarray) -> tuple[str, str, float]:
    """(tonic, mode, confidence) by Krumhansl–Schmuckler; C major with confidence 0 when no pitched notes."""
    if not np.any(hist > 0) or np.allclose(hist, hist[0]):
        return PITCH_CLASSES[0], "major", 0.0
    best = (-2.0, 0, "major")
    for mode, profile in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        for tonic in range(12):
            r = float(np.corrcoef(hist, np.roll(profile, tonic))[0, 1])
            if r > best[0]:
                best = (r, tonic, mode)
    r, tonic, mode = best
    return PITCH_CLASSES[tonic], mode, round(r, 4)
