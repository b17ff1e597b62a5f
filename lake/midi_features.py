"""MIDI checks and musical features with symusic: what the silver tables know about each piece.

symusic parses fast but forgives too much: a file cut exactly between two track chunks, or one
whose header promises more tracks than it holds, loads as a shorter piece without a word.
:func:`check_midi_bytes` walks the chunk structure first so such files are rejected with a reason.
:func:`check_score` then applies the per-file caps (:class:`Limits`: notes, duration, tempo, bars)
before any heavy work, so a 10,000-track, hours-long or absurd-tempo file is turned away in
microseconds; :func:`time_limit` bounds the wall clock of what is left.

Everything after the parse is numpy over the score's note arrays, in ticks:

* tempo map and main BPM (the tempo held longest), every time signature;
* key and mode by Krumhansl–Schmuckler: the duration-weighted pitch-class histogram of the pitched
  notes is correlated with the 24 rotations of the Krumhansl–Kessler probe-tone profiles, the best
  correlation is the key (and its confidence);
* a bar and beat grid from the time signatures, and the chord of every bar and beat (:mod:`lake.chords`);
* instruments (GM programs and families) and each track's role (:func:`track_roles`);
* pitch range, polyphony, note density, duration, quality flags;
* fingerprints for dedup (:mod:`lake.dedup`): a hash of the notes and a MinHash signature.

Failures are :class:`MidiError` with a one-line message and a short ``reason`` code; the jobs turn
them into quarantine rows.
"""

from __future__ import annotations

import signal
import struct
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from miditok.constants import INSTRUMENT_CLASSES, MIDI_INSTRUMENTS
from symusic import Score

from lake import chords as chordlib
from lake.vocab import PITCH_CLASSES

MAX_TRACKS = 256
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
DEFAULT_BPM = 120.0
DEFAULT_TIME_SIGNATURE = "4/4"
DRUMS = "Drums"
FAMILIES = tuple(c["name"] for c in INSTRUMENT_CLASSES[:16])  # GM families, 8 programs each
MAX_TEMPO_EVENTS = 4096  # tempo map entries kept per piece (flag 'tempo_map_truncated' beyond)

# Quality flags: facts about a usable piece that a training set may want to filter on.
TOO_SHORT_S = 10.0
FEW_NOTES = 32
PLAUSIBLE_BPM = (30.0, 300.0)

# Track roles.
MELODY, BASS, DRUM_ROLE, ACCOMPANIMENT = "melody", "bass", "drums", "accompaniment"
BASS_PITCH = 48  # a bass line sits mostly below C3
MONOPHONIC = 0.8  # share of notes that start after the previous ones have ended, for a melody
MELODY_MIN_SHARE = 0.25  # a melody holds at least this share of the busiest pitched track's notes

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
_KEY_PROFILES = np.array([np.roll(p, t) for p in (KK_MAJOR, KK_MINOR) for t in range(12)])
_KEY_Z = (_KEY_PROFILES - _KEY_PROFILES.mean(axis=1, keepdims=True)) / _KEY_PROFILES.std(axis=1, keepdims=True)

# Fingerprints.
MINHASH_PERMUTATIONS = 64
NGRAM = 4
IOI_STEPS_PER_BEAT = 12
_MINHASH_SEEDS = np.random.default_rng(20240611).integers(1, 2**63 - 1, size=MINHASH_PERMUTATIONS,
                                                           dtype=np.int64).astype(np.uint64)


class MidiError(ValueError):
    """A MIDI file that cannot become a silver row; the message is the one-line reason.

    ``reason`` is a short code for grouping: empty_file, too_large, not_midi, corrupted,
    too_many_tracks, empty, too_many_notes, too_long, absurd_tempo, timeout.
    """

    def __init__(self, message: str, reason: str = "corrupted"):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Limits:
    """Per-file caps: a file beyond any of them is quarantined, never processed."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_tracks: int = MAX_TRACKS
    max_notes: int = 300_000
    max_duration_s: float = 3600.0
    min_bpm: float = 8.0  # main tempo outside [min_bpm, max_bpm] is absurd
    max_bpm: float = 1000.0
    max_bars: int = 20_000
    max_seconds: float = 20.0  # wall clock per file (parse + features + tokens)

    @classmethod
    def from_config(cls, cfg) -> "Limits":
        """From ``config.tokenizer.max_file_bytes`` plus ``config.lake.limits`` when the config has such a section."""
        extra = getattr(getattr(cfg, "lake", None), "limits", None)
        values = dict(extra) if isinstance(extra, dict) else (extra.model_dump() if extra is not None else {})
        tok = getattr(cfg, "tokenizer", None)
        if tok is not None and "max_bytes" not in values:
            values["max_bytes"] = tok.max_file_bytes
        return cls(**values)


# -- bytes ------------------------------------------------------------------------------------
def check_midi_bytes(data: bytes, max_bytes: int = DEFAULT_MAX_BYTES, max_tracks: int = MAX_TRACKS) -> None:
    """Reject anything that is not a complete Standard MIDI File within the size caps."""
    size = len(data)
    if size == 0:
        raise MidiError("empty file (0 bytes)", "empty_file")
    if size > max_bytes:
        raise MidiError(f"too large: {size} bytes > cap of {max_bytes}", "too_large")
    if data[:4] != b"MThd":
        raise MidiError(f"not MIDI: no MThd header (starts with {bytes(data[:8])!r})", "not_midi")
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
        raise MidiError(f"too many tracks: {ntrks} > cap of {max_tracks}", "too_many_tracks")
    if fmt == 0 and ntrks != 1:
        raise MidiError(f"bad header: format 0 with {ntrks} tracks")
    if division == 0:
        raise MidiError("bad header: division 0")
    if division & 0x8000:
        raise MidiError(f"unsupported: SMPTE time division 0x{division:04x}")
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


@contextmanager
def time_limit(seconds: float, what: str = "file"):
    """Raise :class:`MidiError` (reason ``timeout``) if the block runs longer than ``seconds``.

    A SIGALRM interval timer in the calling process (a Spark Python worker runs its partition
    function on its main thread), so it interrupts Python code; a single call into native code is
    interrupted when it returns, which the byte, note and duration caps keep short. Off the main
    thread it only checks the elapsed time at the end.
    """
    t0 = time.monotonic()
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        if seconds > 0 and time.monotonic() - t0 > seconds:
            raise MidiError(f"timeout: {what} took {time.monotonic() - t0:.1f} s > limit of {seconds:g} s", "timeout")
        return

    def on_alarm(signum, frame):
        raise MidiError(f"timeout: {what} took more than {seconds:g} s", "timeout")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- names ------------------------------------------------------------------------------------
def instrument_name(program: int) -> str:
    """The General MIDI instrument name of a program; 'Drums' for -1 (drum tracks)."""
    return DRUMS if program < 0 else MIDI_INSTRUMENTS[program]["name"]


def family_name(program: int) -> str:
    """The General MIDI family of a program ('Piano', 'Bass', ...); 'Drums' for -1."""
    return DRUMS if program < 0 else FAMILIES[program // 8]


# -- the score, checked and in arrays ---------------------------------------------------------
class TempoMap:
    """Tick -> seconds for a score's tempo events (120 BPM before the first one)."""

    def __init__(self, score: Score):
        tpq = score.ticks_per_quarter
        arr = score.tempos.numpy()
        ticks = arr["time"].astype(np.int64)
        mspq = np.maximum(arr["mspq"].astype(np.float64), 1.0)
        if len(ticks):
            order = np.argsort(ticks, kind="stable")
            ticks, mspq = ticks[order], mspq[order]
            last = np.append(ticks[1:] != ticks[:-1], True)  # of events at one tick the last one counts
            ticks, mspq = ticks[last], mspq[last]
        if not len(ticks) or ticks[0] > 0:
            ticks = np.insert(ticks, 0, 0)
            mspq = np.insert(mspq, 0, 60e6 / DEFAULT_BPM)
        self.ticks = ticks
        self.bpm = 60e6 / mspq
        self.sec_per_tick = mspq / 1e6 / tpq
        self.start_s = np.concatenate([[0.0], np.cumsum(np.diff(ticks) * self.sec_per_tick[:-1])])

    def seconds(self, ticks) -> np.ndarray:
        t = np.asarray(ticks, dtype=np.float64)
        i = np.clip(np.searchsorted(self.ticks, t, side="right") - 1, 0, len(self.ticks) - 1)
        return self.start_s[i] + (t - self.ticks[i]) * self.sec_per_tick[i]

    def held(self, end_tick: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bpm, seconds held, ticks held) of each tempo event up to ``end_tick``."""
        stops = np.append(self.ticks[1:], max(end_tick, self.ticks[-1])).astype(np.float64)
        stops = np.minimum(stops, end_tick)
        ticks_held = np.maximum(stops - self.ticks, 0.0)
        return self.bpm, ticks_held * self.sec_per_tick, ticks_held


def _mode_by_weight(values: np.ndarray, weights: np.ndarray) -> float:
    rounded = np.round(values, 2)
    uniq, inv = np.unique(rounded, return_inverse=True)
    sums = np.bincount(inv, weights=weights, minlength=len(uniq))
    return float(uniq[int(np.argmax(sums))]) if sums.max() > 0 else float(rounded[0])


@dataclass
class Prepared:
    """A parsed score that passed the caps, as arrays (ticks): what features and tokens start from."""

    score: Score
    tpq: int
    start: np.ndarray  # int64 note onsets
    end: np.ndarray  # int64 note ends
    pitch: np.ndarray  # int64
    track: np.ndarray  # int64 index into score.tracks
    drum: np.ndarray  # bool
    tempo: TempoMap
    end_tick: int
    duration_s: float
    bpm: float
    notes_per_track: dict[int, int] = field(default_factory=dict)


def repair_restrikes(start: np.ndarray, end: np.ndarray, pitch: np.ndarray, track: np.ndarray) -> np.ndarray:
    """Note ends with symusic's first-in-first-out pairing undone where it slid, per track and pitch.

    Valid MIDI never sounds a pitch twice at once on a channel, so a note that lasts past the next
    onset of its pitch in its track was paired with the wrong note-off. That happens when a writer
    puts a zero-length note's note-off before its note-on at the same tick (music21 does, for grace
    notes): the parser keeps that note-on open, and from then on every note of the pitch gets the
    note-off of the one after it. Such a note ends where its predecessor was made to end, when that
    falls between its onset and the next one; otherwise, or with no predecessor, it ends at the
    next onset. Notes that do not overlap the next one are left alone.
    """
    if start.size < 2:
        return end
    order = np.lexsort((start, pitch, track))
    s, e = start[order], end[order]
    same_next = (pitch[order][1:] == pitch[order][:-1]) & (track[order][1:] == track[order][:-1])
    next_start = np.full(s.size, np.iinfo(np.int64).max)
    next_start[:-1] = np.where(same_next, s[1:], next_start[:-1])
    slid = e > next_start
    if not slid.any():
        return end
    prev_end = np.full(s.size, -1, dtype=np.int64)
    prev_end[1:] = np.where(same_next, e[:-1], -1)
    shifted = (prev_end >= s) & (prev_end <= next_start)
    fixed = np.where(slid, np.where(shifted, prev_end, next_start), e)
    out = end.copy()
    out[order] = fixed
    return out


def check_score(score: Score, limits: Limits = Limits()) -> Prepared:
    """Apply the caps to a parsed score and lay its notes out as arrays; raises :class:`MidiError`."""
    tpq = int(score.ticks_per_quarter)
    if tpq <= 0:
        raise MidiError(f"bad header: {tpq} ticks per quarter")
    total = int(score.note_num())
    if total == 0:
        raise MidiError("empty: no notes", "empty")
    if total > limits.max_notes:
        raise MidiError(f"too many notes: {total} > cap of {limits.max_notes}", "too_many_notes")
    starts, durs, pitches, owners, drums, per_track = [], [], [], [], [], {}
    for i, t in enumerate(score.tracks):
        n = t.note_num()
        if n == 0:
            continue
        arr = t.notes.numpy()
        starts.append(arr["time"].astype(np.int64))
        durs.append(np.maximum(arr["duration"].astype(np.int64), 0))
        pitches.append(arr["pitch"].astype(np.int64))
        owners.append(np.full(n, i, dtype=np.int64))
        drums.append(np.full(n, bool(t.is_drum)))
        per_track[i] = n
    start = np.concatenate(starts)
    owner, pitch = np.concatenate(owners), np.concatenate(pitches)
    end = repair_restrikes(start, start + np.concatenate(durs), pitch, owner)
    tempo = TempoMap(score)
    end_tick = int(end.max())
    duration_s = float(tempo.seconds(end_tick))
    if duration_s > limits.max_duration_s:
        raise MidiError(f"too long: {duration_s / 3600:.1f} h ({duration_s:.0f} s) > cap of "
                        f"{limits.max_duration_s:.0f} s", "too_long")
    bpm_values, secs_held, ticks_held = tempo.held(end_tick)
    bpm = _mode_by_weight(bpm_values, secs_held)
    by_beats = _mode_by_weight(bpm_values, ticks_held)
    for b in (bpm, by_beats):
        if not limits.min_bpm <= b <= limits.max_bpm:
            raise MidiError(f"absurd tempo: {b:g} BPM held for most of the piece, outside "
                            f"[{limits.min_bpm:g}, {limits.max_bpm:g}]", "absurd_tempo")
    return Prepared(score, tpq, start, end, pitch, owner, np.concatenate(drums), tempo, end_tick, duration_s, bpm,
                    per_track)


# -- meter and grid ---------------------------------------------------------------------------
def _time_signatures(score: Score) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(ticks, numerators, denominators) of the valid time signature changes, first at tick 0; and whether any was invalid."""
    arr = score.time_signatures.numpy()
    ticks = arr["time"].astype(np.int64)
    num = arr["numerator"].astype(np.int64)
    den = arr["denominator"].astype(np.int64)
    valid = (num >= 1) & (den >= 1) & (den <= 64) & ((den & (den - 1)) == 0) & (ticks >= 0)
    bad = bool((~valid).any())
    ticks, num, den = ticks[valid], num[valid], den[valid]
    if len(ticks):
        order = np.argsort(ticks, kind="stable")
        ticks, num, den = ticks[order], num[order], den[order]
        last = np.append(ticks[1:] != ticks[:-1], True)
        ticks, num, den = ticks[last], num[last], den[last]
        change = np.insert((num[1:] != num[:-1]) | (den[1:] != den[:-1]), 0, True)
        ticks, num, den = ticks[change], num[change], den[change]
        ticks[0] = 0  # the first meter also holds before it
    else:
        ticks, num, den = np.array([0]), np.array([4]), np.array([4])
    return ticks, num, den, bad


def beat_grid(ts_ticks, num, den, tpq: int, end_tick: int, max_bars: int) -> tuple[np.ndarray, np.ndarray]:
    """Bar and beat boundaries (ticks, float) covering [0, end_tick]; compound meters beat in dotted quarters."""
    bar_len = num * 4.0 * tpq / den
    compound = (den >= 8) & (num % 3 == 0) & (num > 3)
    beats_per_bar = np.where(compound, num // 3, num)
    seg_end = np.append(ts_ticks[1:], max(end_tick, int(ts_ticks[-1]) + 1)).astype(np.float64)
    n_bars = np.maximum(np.ceil((seg_end - ts_ticks) / bar_len), 1).astype(np.int64)
    total = int(n_bars.sum())
    if total > max_bars:
        raise MidiError(f"too long: {total} bars > cap of {max_bars}", "too_long")
    seg = np.repeat(np.arange(len(ts_ticks)), n_bars)
    k = np.arange(total) - np.repeat(np.cumsum(n_bars) - n_bars, n_bars)
    bar_starts = ts_ticks[seg] + k * bar_len[seg]
    bar_ends = np.minimum(bar_starts + bar_len[seg], seg_end[seg])
    bar_ends[-1] = bar_starts[-1] + bar_len[seg[-1]]
    bpb = beats_per_bar[seg]
    bar_of_beat = np.repeat(np.arange(total), bpb)
    j = np.arange(len(bar_of_beat)) - np.repeat(np.cumsum(bpb) - bpb, bpb)
    beat_starts = bar_starts[bar_of_beat] + j * (bar_len[seg] / bpb)[bar_of_beat]
    beat_starts = beat_starts[beat_starts < bar_ends[bar_of_beat]]
    return np.append(bar_starts, bar_ends[-1]), np.append(beat_starts, bar_ends[-1])


# -- key ----------------------------------------------------------------------------------------
def key_fits(hist: np.ndarray) -> np.ndarray:
    """The correlation (-1..1) of a pitch-class histogram that is not flat with each of the 24 key profiles
    (Krumhansl–Schmuckler): 12 major keys from C, then 12 minor."""
    hist = np.asarray(hist, dtype=np.float64)
    return _KEY_Z @ ((hist - hist.mean()) / hist.std()) / 12.0


def estimate_key(hist: np.ndarray) -> tuple[str, str, float]:
    """(tonic, mode, confidence) by Krumhansl–Schmuckler; C major with confidence 0 when no pitched notes."""
    hist = np.asarray(hist, dtype=np.float64)
    if not np.any(hist > 0) or np.allclose(hist, hist[0]):
        return PITCH_CLASSES[0], "major", 0.0
    r = key_fits(hist)
    best = int(np.argmax(r))
    return PITCH_CLASSES[best % 12], ("major", "minor")[best // 12], round(float(r[best]), 4)


# -- tracks -------------------------------------------------------------------------------------
def _line_stats(start: np.ndarray, end: np.ndarray, tolerance: float) -> tuple[float, float]:
    """(mean polyphony while sounding, share of notes starting after all earlier ones ended)."""
    order = np.argsort(start, kind="stable")
    s, e = start[order].astype(np.float64), end[order].astype(np.float64)
    reach = np.maximum.accumulate(e)
    fresh = np.ones(len(s), dtype=bool)
    fresh[1:] = s[1:] >= reach[:-1] - tolerance
    new_block = np.ones(len(s), dtype=bool)
    new_block[1:] = s[1:] >= reach[:-1]
    idx = np.flatnonzero(new_block)
    union = float((np.maximum.reduceat(e, idx) - s[idx]).sum())
    poly = float((e - s).sum() / union) if union > 0 else 1.0
    return poly, float(fresh.mean())


def track_roles(tracks: list[dict]) -> list[str]:
    """A role per track from its summary (``is_drum``, ``program``, ``n_notes``, ``pitch_mean``, ``low_share``, ``monophonic``).

    * drums: a drum track (MIDI channel 10).
    * bass: the pitched track with the lowest mean pitch among those whose notes lie mostly
      below C3 (or whose program is in the GM Bass family), when the piece has another pitched
      track or the program says bass.
    * melody: of the remaining pitched tracks that are mostly monophonic and hold a fair share of
      notes, the one with the highest mean pitch.
    * accompaniment: everything else (chords, pads, counter-lines).
    """
    roles = [DRUM_ROLE if t["is_drum"] else ACCOMPANIMENT for t in tracks]
    pitched = [i for i, t in enumerate(tracks) if not t["is_drum"]]
    if not pitched:
        return roles
    bass_like = [i for i in pitched if (32 <= tracks[i]["program"] < 40)
                 or (len(pitched) > 1 and tracks[i]["low_share"] >= 0.5)]
    bass = min(bass_like, key=lambda i: (tracks[i]["pitch_mean"], i)) if bass_like else None
    if bass is not None:
        roles[bass] = BASS
    busiest = max(tracks[i]["n_notes"] for i in pitched)
    melodic = [i for i in pitched if i != bass and tracks[i]["monophonic"] >= MONOPHONIC
               and tracks[i]["n_notes"] >= MELODY_MIN_SHARE * busiest]
    if melodic:
        roles[max(melodic, key=lambda i: (tracks[i]["pitch_mean"], -i))] = MELODY
    return roles


def describe_tracks(p: Prepared) -> list[dict]:
    """One summary per track with notes: index, name, program, family, notes, pitch stats, polyphony, role."""
    out = []
    order = np.argsort(p.track, kind="stable")
    track_sorted = p.track[order]
    idx = np.flatnonzero(np.append(True, track_sorted[1:] != track_sorted[:-1]))
    bounds = np.append(idx, len(order))
    tol = p.tpq / 8.0
    for a, b in zip(bounds[:-1], bounds[1:]):
        sel = order[a:b]
        ti = int(track_sorted[a])
        t = p.score.tracks[ti]
        pitches = p.pitch[sel]
        poly, mono = _line_stats(p.start[sel], p.end[sel], tol)
        program = -1 if t.is_drum else int(t.program)
        first_s, last_s = p.tempo.seconds([p.start[sel].min(), p.end[sel].max()])
        out.append(dict(track_index=ti, name=str(t.name)[:200], program=program, is_drum=bool(t.is_drum),
                        instrument=instrument_name(program), family=family_name(program), n_notes=int(len(sel)),
                        pitch_min=int(pitches.min()), pitch_max=int(pitches.max()),
                        pitch_mean=round(float(pitches.mean()), 3),
                        low_share=round(float((pitches < BASS_PITCH).mean()), 4),
                        polyphony=round(poly, 4), monophonic=round(mono, 4),
                        start_s=round(float(first_s), 3), end_s=round(float(last_s), 3)))
    for t, role in zip(out, track_roles(out)):
        t["role"] = role
    return out


# -- fingerprints -------------------------------------------------------------------------------
def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer on uint64 (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def note_ngrams(start: np.ndarray, pitch: np.ndarray, tpq: int, n: int = NGRAM) -> np.ndarray:
    """The distinct n-grams (uint64) of (pitch interval, quantized inter-onset interval) over the pitched notes.

    Notes are ordered by onset then pitch; intervals make the set transposition-invariant and
    inter-onset intervals in beats make it tempo-invariant.
    """
    if len(start) <= n:
        return np.array([], dtype=np.uint64)
    order = np.lexsort((pitch, start))
    s, q = start[order], pitch[order]
    interval = np.diff(q) + 128
    ioi = np.clip(np.rint(np.diff(s) * IOI_STEPS_PER_BEAT / tpq), 0, 8 * IOI_STEPS_PER_BEAT).astype(np.int64)
    elem = (interval * 256 + ioi).astype(np.uint64)  # < 2**16
    grams = np.zeros(len(elem) - n + 1, dtype=np.uint64)
    for k in range(n):
        grams = (grams << np.uint64(16)) | elem[k:len(elem) - n + 1 + k]
    return np.unique(grams)


def minhash(grams: np.ndarray, permutations: int = MINHASH_PERMUTATIONS) -> np.ndarray | None:
    """MinHash signature (int64, bit-cast from uint64) of a set of uint64 items; None for an empty set."""
    if len(grams) == 0:
        return None
    seeds = _MINHASH_SEEDS[:permutations]
    sig = np.full(permutations, np.iinfo(np.uint64).max, dtype=np.uint64)
    for lo in range(0, len(grams), 8192):  # bounded memory: 8192 x permutations at a time
        block = _mix64(grams[lo:lo + 8192, None] ^ seeds[None, :])
        np.minimum(sig, block.min(axis=0), out=sig)
    return sig.view(np.int64)


def note_hash(p: Prepared) -> str:
    """Hash of the notes themselves (onset and length in 1/48 beats from the first onset, pitch, drum or not).

    Same music in different bytes (other metadata, track order, instruments, resolution) gets the same hash.
    """
    import hashlib

    scale = 48.0 / p.tpq
    on = np.rint((p.start - p.start.min()) * scale).astype(np.int64)
    ln = np.rint((p.end - p.start) * scale).astype(np.int64)
    rows = np.stack([on, p.pitch, ln, p.drum.astype(np.int64)], axis=1)
    rows = rows[np.lexsort(rows.T[::-1])]
    return hashlib.blake2b(np.ascontiguousarray(rows).tobytes(), digest_size=16).hexdigest()


# -- everything ---------------------------------------------------------------------------------
@dataclass
class Analysis:
    features: dict  # the silver_scores columns
    chords: dict  # the silver_chords columns
    tracks: list[dict]  # the silver_tracks rows


def analyze(score: Score, limits: Limits = Limits(), prepared: Prepared | None = None) -> Analysis:
    """Every feature of a parsed score (see the module doc); raises :class:`MidiError` for unusable ones."""
    p = prepared or check_score(score, limits)
    tracks = describe_tracks(p)
    pitched = ~p.drum
    flags = []

    # key
    if pitched.any():
        hist = np.bincount(p.pitch[pitched] % 12, weights=(p.end - p.start)[pitched].astype(np.float64), minlength=12)
    else:
        hist = np.zeros(12)
        flags.append("drums_only")
    tonic, mode, confidence = estimate_key(hist)

    # tempo map and meter
    bpm_values = p.tempo.bpm
    tempo_times = p.tempo.start_s
    if len(bpm_values) > MAX_TEMPO_EVENTS:
        bpm_values, tempo_times = bpm_values[:MAX_TEMPO_EVENTS], tempo_times[:MAX_TEMPO_EVENTS]
        flags.append("tempo_map_truncated")
    ts_ticks, num, den, bad_ts = _time_signatures(score)
    during = ts_ticks < max(p.end_tick, 1)  # meter changes after the last note do not make bars
    ts_ticks, num, den = ts_ticks[during], num[during], den[during]
    if bad_ts:
        flags.append("bad_time_signature")
    meters = [f"{a}/{b}" for a, b in zip(num.tolist(), den.tolist())]
    first_ts = meters[0] if meters else DEFAULT_TIME_SIGNATURE  # the meter the piece starts in

    # grid and chords
    bars, beats = beat_grid(ts_ticks, num, den, p.tpq, p.end_tick, limits.max_bars)
    ps, pe, pp = p.start[pitched], p.end[pitched], p.pitch[pitched]
    bar_chords, beat_chords = chordlib.bar_and_beat_chords(ps, pe, pp, bars, beats)

    # size, polyphony, quality
    note_count = int(len(p.start))
    if pitched.any():
        times = np.concatenate([ps, pe])
        steps = np.concatenate([np.ones(len(ps), dtype=np.int64), -np.ones(len(pe), dtype=np.int64)])
        order = np.lexsort((steps, times))  # ends before starts at the same tick
        poly_max = int(np.cumsum(steps[order]).max())
        poly_mean, _ = _line_stats(ps, pe, 0.0)
        pitch_min, pitch_max = int(pp.min()), int(pp.max())
    else:
        poly_max, poly_mean, pitch_min, pitch_max = 0, 0.0, None, None
    if p.duration_s < TOO_SHORT_S:
        flags.append("too_short")
    if note_count < FEW_NOTES:
        flags.append("few_notes")
    if not PLAUSIBLE_BPM[0] <= p.bpm <= PLAUSIBLE_BPM[1]:
        flags.append("implausible_tempo")

    programs = sorted({t["program"] for t in tracks})
    sig = minhash(note_ngrams(ps, pp, p.tpq))
    features = dict(
        bpm=p.bpm,
        time_signature=first_ts,
        key_tonic=tonic,
        key_mode=mode,
        key_confidence=confidence,
        programs=programs,
        instruments=[instrument_name(x) for x in programs],
        n_tracks=len(tracks),
        note_count=note_count,
        duration_s=round(p.duration_s, 3),
        tempo_times_s=[round(float(x), 4) for x in tempo_times],
        tempo_bpms=[round(float(x), 3) for x in bpm_values],
        time_signatures=meters,
        time_signature_times_s=[round(float(x), 4) for x in p.tempo.seconds(ts_ticks)],
        families=[family_name(x) for x in programs],
        pitch_min=pitch_min,
        pitch_max=pitch_max,
        polyphony_mean=round(poly_mean, 4),
        polyphony_max=poly_max,
        note_density=round(note_count / p.duration_s, 4) if p.duration_s > 0 else 0.0,
        n_bars=len(bars) - 1,
        n_beats=len(beats) - 1,
        quality_flags=flags,
        note_hash=note_hash(p),
        minhash=None if sig is None else sig.tolist(),
    )
    chords = dict(
        n_bars=len(bars) - 1,
        bar_start_s=[round(float(x), 4) for x in p.tempo.seconds(bars[:-1])],
        bar_chords=bar_chords,
        beat_start_s=[round(float(x), 4) for x in p.tempo.seconds(beats[:-1])],
        beat_chords=beat_chords,
        progression=[chordlib.chord_symbol(c) for c in chordlib.progression(bar_chords)],
    )
    return Analysis(features, chords, tracks)


def extract_features(score: Score, limits: Limits = Limits()) -> dict:
    """The silver_scores features of a parsed score (see :func:`analyze`); ``n_tracks`` counts tracks with notes."""
    return analyze(score, limits).features
