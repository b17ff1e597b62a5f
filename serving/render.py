"""A generated piece (MIDI bytes) in the formats the product serves: MIDI, WAV, MusicXML, PNG, SVG.

One call::

    render(fmt, midi, meta=None, *, soundfont, fluidsynth="fluidsynth", sample_rate=44100) -> bytes

``fmt`` is one of :data:`FORMATS`; :data:`MEDIA_TYPES` gives the Content-Type of each. ``midi`` is a
standard MIDI file (as ``training.generator`` writes it with symusic: one track per part with its GM
program, drums on channel 10, one tempo, one time signature; other files work, read on a 16th grid).
:class:`PieceMeta` is what the caller knows and the MIDI may not say: the key (MusicXML/SVG key
signature and spelling), bpm and time signature (else read from the MIDI), a name per MIDI track in
order (part names; else the GM instrument name), a title.

- ``mid``: the bytes as given.
- ``wav``: FluidSynth (the CLI, fast render to a file in a temp dir, with a timeout) with the GM
  soundfont; 16-bit PCM stereo at ``sample_rate``, peak-normalised to -1 dBFS, at most
  :data:`TAIL_S` seconds of release kept after the last note ends (faded out when cut).
- ``musicxml``: built with music21 from the notes (not by music21's MIDI import): a part per track
  that has notes, named and with its instrument; notes quantised to the 16th grid, split at bar
  lines with ties, simultaneous notes of one length made chords, overlapping ones put in voices;
  drums as unpitched notes on a percussion staff. Uncompressed ``score-partwise`` XML.
- ``png``: a piano roll drawn with Pillow: time on x, pitch on y, one colour per track, bar lines,
  a legend; drums in a lane of their own under the pitched notes (one row per drum sound).
- ``svg``: the MusicXML engraved by verovio; every page stacked into ONE SVG document (pages are
  tall, so a piece up to a few dozen bars is one page).

Errors are :class:`RenderError` with a one-line message; a missing FluidSynth or soundfont names the
setting to change (``serve.fluidsynth`` / ``serve.soundfont``). :func:`check_audio` runs the same
checks without rendering (for service start).

``python -m serving.render [piece.mid]`` prints the time each format takes (a 16-bar 4-track piece
from a fresh untrained model when no file is given).
"""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import wave
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from serving.api import FORMATS  # noqa: F401 - the formats are the API's; this module renders them

MEDIA_TYPES = {
    "mid": "audio/midi",
    "wav": "audio/wav",
    "musicxml": "application/vnd.recordare.musicxml+xml",
    "png": "image/png",
    "svg": "image/svg+xml",
}

TAIL_S = 1.5  # release kept after the last note ends (WAV)
FADE_S = 0.25  # fade-out when the tail is cut
PEAK_DBFS = -1.0
GAIN = 0.5  # FluidSynth master gain (the float render is normalised afterwards, so this only sets headroom)
STEPS_PER_QUARTER = 4  # MusicXML grid: 16th notes


class RenderError(RuntimeError):
    """A piece could not be rendered; the message is one line and says what to change."""


@dataclass
class PieceMeta:
    """What the caller knows about a piece; every field is optional (then read from the MIDI)."""

    key: str | None = None  # "C major", "F# minor", "Bb major", "Dm" ... (lake.vocab.parse_key)
    bpm: float | None = None
    time_signature: str | None = None  # "3/4"
    parts: list[str] | None = field(default=None)  # a name per MIDI track chunk in the file's order (empty ones too)
    title: str | None = None


# ---------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Track:
    name: str
    program: int  # -1: drums
    notes: tuple[tuple[int, int, int, int], ...]  # (start tick, duration ticks, pitch, velocity)


@dataclass(frozen=True)
class _Piece:
    tpq: int
    numerator: int
    denominator: int
    bpm: float
    end_tick: int
    end_s: float
    tracks: tuple[_Track, ...]  # every MIDI track, empty ones too (so meta.parts lines up)


def _read(midi: bytes, meta: PieceMeta | None) -> _Piece:
    from symusic import Score, TimeUnit

    try:
        score = Score.from_midi(midi)
    except Exception as e:  # symusic raises RuntimeError/ValueError on junk
        raise RenderError(f"not a readable MIDI file: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    meta = meta or PieceMeta()
    num, den = 4, 4
    if meta.time_signature:
        try:
            n, d = (int(x) for x in str(meta.time_signature).strip().split("/"))
        except ValueError:
            raise RenderError(f"time signature {meta.time_signature!r} must look like '3/4'") from None
        num, den = n, d
    elif len(score.time_signatures):
        num, den = int(score.time_signatures[0].numerator), int(score.time_signatures[0].denominator)
    if num < 1 or den not in (1, 2, 4, 8, 16, 32):
        raise RenderError(f"time signature {num}/{den} cannot be written")
    bpm = float(meta.bpm) if meta.bpm else (float(score.tempos[0].qpm) if len(score.tempos) else 120.0)
    names = list(meta.parts or [])
    chunks = _chunks_with_notes(midi)  # symusic drops tracks without notes: line names up with the file's chunks
    index = chunks if chunks is not None and len(chunks) == len(score.tracks) else list(range(len(score.tracks)))
    tracks = []
    for i, tr in zip(index, score.tracks):
        program = -1 if tr.is_drum else int(tr.program)
        name = names[i] if i < len(names) and names[i] else _default_name(tr.name, program)
        notes = tuple(sorted((int(n.time), int(n.duration), int(n.pitch), int(n.velocity)) for n in tr.notes))
        tracks.append(_Track(name=name, program=program, notes=notes))
    end_s = float(score.to(TimeUnit.second).end()) if score.note_num() else 0.0
    return _Piece(tpq=int(score.ticks_per_quarter), numerator=num, denominator=den, bpm=bpm,
                  end_tick=int(score.end()) if score.note_num() else 0, end_s=end_s, tracks=tuple(tracks))


def _chunks_with_notes(midi: bytes) -> list[int] | None:
    """Indexes of the file's MTrk chunks that hold a note-on; None when the file cannot be walked."""
    try:
        if midi[:4] != b"MThd":
            return None
        pos = 8 + int.from_bytes(midi[4:8], "big")
        out, chunk = [], 0
        while pos + 8 <= len(midi):
            kind, length = midi[pos:pos + 4], int.from_bytes(midi[pos + 4:pos + 8], "big")
            start, end = pos + 8, min(len(midi), pos + 8 + length)
            pos = start + length
            if kind != b"MTrk":
                continue
            if _has_note_on(midi, start, end):
                out.append(chunk)
            chunk += 1
        return out
    except IndexError:
        return None


def _varlen(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    while True:
        b = data[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, pos


def _has_note_on(data: bytes, pos: int, end: int) -> bool:
    status = 0
    while pos < end:
        _, pos = _varlen(data, pos)
        b = data[pos]
        if b == 0xFF:  # meta event
            length, pos = _varlen(data, pos + 2)
            pos += length
            continue
        if b in (0xF0, 0xF7):  # sysex
            length, pos = _varlen(data, pos + 1)
            pos += length
            continue
        if b >= 0x80:
            status, pos = b, pos + 1
        kind = status & 0xF0
        if kind == 0x90 and data[pos + 1] > 0:
            return True
        pos += 1 if kind in (0xC0, 0xD0) else 2
    return False


def _default_name(track_name: str, program: int) -> str:
    try:
        from lake.vocab import instrument_name

        return instrument_name(program).title() if program >= 0 else "Drums"
    except Exception:
        return track_name or ("Drums" if program < 0 else f"Program {program}")


# ---------------------------------------------------------------------------------------------- audio


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def check_audio(fluidsynth: str, soundfont: str) -> str:
    """Raise :class:`RenderError` (one line, naming the setting) unless WAV rendering can work;
    return the FluidSynth executable's resolved path."""
    exe = shutil.which(fluidsynth) if fluidsynth else None
    if exe is None:
        raise RenderError(f"FluidSynth executable {fluidsynth!r} not found: set serve.fluidsynth to its path "
                          "(Debian: apt-get install fluidsynth)")
    if not soundfont or not os.path.isfile(soundfont):
        raise RenderError(f"soundfont {soundfont!r} not found: set serve.soundfont to a General MIDI .sf2 file "
                          "(Debian: apt-get install fluid-soundfont-gm)")
    try:
        with open(soundfont, "rb") as f:
            head = f.read(12)
    except OSError as e:
        raise RenderError(f"soundfont {soundfont!r} cannot be read ({e.strerror}): set serve.soundfont "
                          "to a readable General MIDI .sf2 file") from None
    if head[:4] != b"RIFF" or head[8:12] != b"sfbk":
        raise RenderError(f"soundfont {soundfont!r} is not a SoundFont 2 file: set serve.soundfont "
                          "to a General MIDI .sf2 file")
    return exe


def render_wav(midi: bytes, *, soundfont: str, fluidsynth: str = "fluidsynth", sample_rate: int = 44100,
               timeout_s: float = 120.0, piece: _Piece | None = None) -> bytes:
    """The piece played by FluidSynth with ``soundfont``: 16-bit PCM stereo WAV bytes."""
    exe = check_audio(fluidsynth, soundfont)
    piece = piece or _read(midi, None)
    rate = int(sample_rate)
    with tempfile.TemporaryDirectory(prefix="musiclake-wav-") as tmp:
        mid_path, raw_path = os.path.join(tmp, "in.mid"), os.path.join(tmp, "out.raw")
        with open(mid_path, "wb") as f:
            f.write(midi)
        cmd = [exe, "-n", "-i", "-q", "-F", raw_path, "-T", "raw", "-O", "float", "-E", "little",
               "-r", str(rate), "-g", str(GAIN), soundfont, mid_path]
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise RenderError(f"FluidSynth did not finish within {timeout_s:g} s") from None
        except OSError as e:
            raise RenderError(f"FluidSynth {exe!r} could not start ({e.strerror}): check serve.fluidsynth") from None
        if proc.returncode != 0 or not os.path.exists(raw_path):
            err = [ln for ln in proc.stderr.decode(errors="replace").splitlines() if ln.strip()]
            raise RenderError(f"FluidSynth failed (exit {proc.returncode}): {_one_line(err[-1]) if err else 'no output'}")
        samples = np.fromfile(raw_path, dtype="<f4")
    frames = samples[: len(samples) // 2 * 2].reshape(-1, 2)
    keep = int(round((piece.end_s + TAIL_S) * rate))
    if len(frames) > keep:  # cut the release after TAIL_S and fade it out so the cut does not click
        frames = frames[:keep].copy()
        fade = min(int(FADE_S * rate), len(frames))
        if fade:
            frames[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    min_frames = max(1, int(round(piece.end_s * rate)))
    if len(frames) < min_frames:  # an empty piece, or FluidSynth stopped early: pad with silence
        frames = np.concatenate([frames, np.zeros((min_frames - len(frames), 2), np.float32)])
    frames = np.nan_to_num(frames)
    peak = float(np.max(np.abs(frames))) if frames.size else 0.0
    if peak > 1e-6:
        frames = frames * (10 ** (PEAK_DBFS / 20) / peak)
    pcm = np.clip(np.round(frames * 32767.0), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- MusicXML

_SHARP_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_NAMES = ("C", "D-", "D", "E-", "E", "F", "G-", "G", "A-", "A", "B-", "B")
# GM drum pitch -> (display step, octave, notehead) on a 5-line percussion staff (common drum-set notation)
_DRUM_DISPLAY = {
    35: ("F", 4, None), 36: ("F", 4, None), 37: ("C", 5, "x"), 38: ("C", 5, None), 39: ("C", 5, "x"),
    40: ("C", 5, None), 41: ("A", 4, None), 42: ("G", 5, "x"), 43: ("A", 4, None), 44: ("D", 4, "x"),
    45: ("D", 5, None), 46: ("G", 5, "circle-x"), 47: ("D", 5, None), 48: ("E", 5, None),
    49: ("A", 5, "x"), 50: ("E", 5, None), 51: ("F", 5, "x"), 52: ("A", 5, "x"), 53: ("F", 5, "diamond"),
    55: ("A", 5, "x"), 56: ("E", 5, "triangle"), 57: ("A", 5, "x"), 59: ("F", 5, "x"),
}


def _music21_key(text: str | None):
    """A music21 Key from 'C major' / 'Bb minor' / 'F#m' ..., or None."""
    if not text:
        return None
    from music21 import key as m21key

    try:
        from lake.vocab import parse_key

        tonic, mode = parse_key(text).split()
    except Exception:
        parts = str(text).split()
        if len(parts) != 2 or parts[1].lower() not in ("major", "minor"):
            raise RenderError(f"key {text!r} must look like 'C major' or 'F# minor'") from None
        tonic, mode = parts[0], parts[1].lower()
    m21_tonic = tonic[0].upper() + tonic[1:].replace("b", "-").replace("♭", "-").replace("♯", "#")
    try:
        return m21key.Key(m21_tonic, mode)
    except Exception:
        raise RenderError(f"key {text!r} cannot be written") from None


_CHUNKS = (32, 24, 16, 12, 8, 6, 4, 3, 2, 1)  # note values in 16ths: breve .. 16th, dotted ones included


def _chunks(steps: int) -> list[int]:
    """``steps`` sixteenths as written note values (largest first), e.g. 5 -> [4, 1] (a quarter tied to a 16th)."""
    out = []
    while steps > 0:
        c = next(c for c in _CHUNKS if c <= steps)
        out.append(c)
        steps -= c
    return out


def _segments(track: _Track, tpq: int, bar_steps: int):
    """The track's notes on the 16th grid, split at bar lines and into written values: per bar, a list
    of (pos, dur, pitch, tie); ``tie`` is None, 'start', 'continue' or 'stop'.

    A note repeated on the same onset and pitch is kept once (the longest)."""
    step = tpq / STEPS_PER_QUARTER
    best: dict[tuple[int, int], int] = {}
    for start, dur, pitch, _vel in track.notes:
        s = int(round(start / step))
        e = max(s + 1, int(round((start + dur) / step)))
        best[(s, pitch)] = max(best.get((s, pitch), 0), e - s)
    if track.program < 0:  # drums: a hit lasts until the next hit (at most a quarter, never over the bar line)
        onsets = sorted({s for s, _ in best})
        nxt = dict(zip(onsets, onsets[1:] + [None]))
        for (s, pitch) in best:
            limit = min(STEPS_PER_QUARTER, bar_steps - s % bar_steps)
            best[(s, pitch)] = min(limit, nxt[s] - s) if nxt[s] is not None else limit
    bars: dict[int, list[tuple[int, int, int, str | None]]] = {}
    for (s, pitch), d in sorted(best.items()):
        e = s + d
        pos = s
        while pos < e:
            bar = pos // bar_steps
            seg_end = min(e, (bar + 1) * bar_steps)
            for c in _chunks(seg_end - pos):
                first, last = pos == s, pos + c == e
                tie = None if (first and last) else "start" if first else "stop" if last else "continue"
                bars.setdefault(bar, []).append((pos - bar * bar_steps, c, pitch, tie))
                pos += c
    return bars


def _voices(items):
    """Group simultaneous same-length segments into chords and spread overlapping chords over voices."""
    groups: dict[tuple[int, int], list] = {}
    for pos, dur, pitch, tie in items:
        groups.setdefault((pos, dur), []).append((pitch, tie))
    voices: list[list[tuple[int, int, list]]] = []
    ends: list[int] = []
    for (pos, dur), members in sorted(groups.items()):
        for v, end in enumerate(ends):
            if end <= pos:
                voices[v].append((pos, dur, members))
                ends[v] = pos + dur
                break
        else:
            voices.append([(pos, dur, members)])
            ends.append(pos + dur)
    return voices


def _ql(steps: int):
    return Fraction(steps, STEPS_PER_QUARTER)


def _element(pos_dur_members, drums: bool, names):
    from music21 import chord, note, percussion, tie as m21tie

    _pos, dur, members = pos_dur_members
    ql = _ql(dur)
    built = []
    for pitch, tie in members:
        if drums:
            step, octave, head = _DRUM_DISPLAY.get(pitch, ("E", 4, "x"))
            n = note.Unpitched(displayName=f"{step}{octave}")
            if head:
                n.notehead = head
        else:
            n = note.Note(f"{names[pitch % 12]}{pitch // 12 - 1}")
        n.duration.quarterLength = ql
        if tie:
            n.tie = m21tie.Tie(tie)
        if drums:
            n.stemDirection = "up"
        built.append(n)
    if len(built) == 1:
        return built[0]
    c = percussion.PercussionChord(built) if drums else chord.Chord(built)
    c.duration.quarterLength = ql
    if drums:
        c.stemDirection = "up"
    return c


def _fill(container, items, bar_steps: int, drums: bool, names, hide_rests: bool = False) -> None:
    """Insert the chords/notes of one voice into ``container`` (a Measure or Voice), rests in the gaps
    (not printed when ``hide_rests``: the second and later voices of a bar)."""
    cursor = 0
    for item in items:
        pos, dur, _ = item
        _rests(container, cursor, pos, hide_rests)
        container.insert(float(_ql(pos)), _element(item, drums, names))
        cursor = pos + dur
    _rests(container, cursor, bar_steps, hide_rests)


def _rests(container, start: int, end: int, hidden: bool) -> None:
    from music21 import note

    for c in _chunks(end - start):
        r = note.Rest()
        r.duration.quarterLength = _ql(c)
        if hidden:
            r.style.hideObjectOnPrint = True
        container.insert(float(_ql(start)), r)
        start += c


def _instrument(program: int, name: str):
    from music21 import instrument

    if program < 0:
        inst = instrument.Percussion()
        inst.midiChannel = 9
    else:
        try:
            inst = instrument.instrumentFromMidiProgram(program)
        except Exception:
            inst = instrument.Instrument()
        inst.midiProgram = program
    inst.partName = inst.instrumentName = name
    inst.partAbbreviation = inst.instrumentAbbreviation = name if len(name) <= 8 else name[:5].rstrip() + "."
    return inst


def to_music21(midi: bytes, meta: PieceMeta | None = None, piece: _Piece | None = None):
    """The piece as a music21 Score (a part per track with notes; see the module docstring)."""
    from music21 import bar, clef, metadata, meter, stream, tempo
    from music21.stream.makeNotation import makeBeams

    meta = meta or PieceMeta()
    piece = piece or _read(midi, meta)
    num, den = piece.numerator, piece.denominator
    bar_steps = num * STEPS_PER_QUARTER * 4 // den
    if bar_steps < 1 or (num * STEPS_PER_QUARTER * 4) % den:
        raise RenderError(f"time signature {num}/{den} does not fit the 16th grid")
    k = _music21_key(meta.key)
    names = _FLAT_NAMES if k is not None and k.sharps < 0 else _SHARP_NAMES
    tracks = [t for t in piece.tracks if t.notes]
    per_track = [_segments(t, piece.tpq, bar_steps) for t in tracks]
    n_bars = max([max(b) + 1 for b in per_track if b] + [1])
    score = stream.Score()
    score.metadata = metadata.Metadata()
    score.metadata.title = meta.title or ""
    score.metadata.composer = "musiclake"
    if not tracks:  # an empty piece: one part of rests
        tracks, per_track = [_Track(name="Piano", program=0, notes=())], [{}]
    for ti, (track, bars) in enumerate(zip(tracks, per_track)):
        drums = track.program < 0
        part = stream.Part(id=f"P{ti + 1}")
        part.partName = track.name
        part.insert(0, _instrument(track.program, track.name))
        for b in range(n_bars):
            m = stream.Measure(number=b + 1)
            if b == 0:
                if drums:
                    m.insert(0, clef.PercussionClef())
                else:
                    pitches = [n[2] for n in track.notes]
                    m.insert(0, clef.BassClef() if pitches and sorted(pitches)[len(pitches) // 2] < 57
                             else clef.TrebleClef())
                if k is not None and not drums:
                    m.insert(0, k.asKeySignature() if hasattr(k, "asKeySignature") else k)
                m.insert(0, meter.TimeSignature(f"{num}/{den}"))
                if ti == 0:
                    m.insert(0, tempo.MetronomeMark(number=round(piece.bpm, 2)))
            voices = _voices(bars.get(b, []))
            if len(voices) <= 1:
                _fill(m, voices[0] if voices else [], bar_steps, drums, names)
            else:
                for vi, items in enumerate(voices):
                    v = stream.Voice(id=str(vi + 1))
                    _fill(v, items, bar_steps, drums, names, hide_rests=vi > 0)
                    m.insert(0, v)
            if b == n_bars - 1:
                m.rightBarline = bar.Barline("final")
            part.append(m)
        key_alters = {p.step: p.alter for p in k.alteredPitches} if k is not None else {}
        for m in part.getElementsByClass(stream.Measure):
            makeBeams(m, inPlace=True)
            if not drums:
                _accidentals(m, key_alters)
        score.insert(0, part)
    return score


def _accidentals(measure, key_alters: dict[str, float]) -> None:
    """Show an accidental where the pitch differs from the key signature or from an earlier note of the bar
    on the same staff position (naturals included); hide it otherwise and on tied-over notes."""
    from music21 import pitch as m21pitch

    heads = []
    for el in measure.recurse().notes:
        for n in (el.notes if el.isChord else (el,)):
            heads.append((el.offset, n))
    state: dict[tuple[str, int], float] = {}
    for _off, n in sorted(heads, key=lambda h: h[0]):
        p = n.pitch
        where = (p.step, p.octave)
        want = p.accidental.alter if p.accidental is not None else 0.0
        have = state.get(where, key_alters.get(p.step, 0.0))
        state[where] = want
        if n.tie is not None and n.tie.type in ("stop", "continue"):
            show = False
        else:
            show = want != have
        if show and p.accidental is None:
            p.accidental = m21pitch.Accidental("natural")
        if p.accidental is not None:
            p.accidental.displayStatus = show


def render_musicxml(midi: bytes, meta: PieceMeta | None = None, piece: _Piece | None = None) -> bytes:
    """Uncompressed MusicXML (score-partwise) bytes."""
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    score = to_music21(midi, meta, piece)
    try:
        exporter = GeneralObjectExporter(score)
        exporter.makeNotation = False  # the score is already notated (measures, values, ties, beams, accidentals)
        return exporter.parse()
    except Exception as e:
        raise RenderError(f"MusicXML export failed: {_one_line(e) or type(e).__name__}") from None


# ---------------------------------------------------------------------------------------------- SVG

SVG_PAGE_HEIGHT = 29700  # verovio units (A4 width 2100 = 840 px at scale 40): about 12000 px a page
_verovio = threading.local()
_SVG_SIZE = re.compile(r'<svg\b[^>]*?\bwidth="([\d.]+)px"[^>]*?\bheight="([\d.]+)px"')


def _toolkit():
    tk = getattr(_verovio, "tk", None)
    if tk is None:
        import verovio

        verovio.enableLog(verovio.LOG_OFF)
        tk = verovio.toolkit()
        # Only the thread that imported verovio finds its fonts by default; every other thread's toolkit
        # looks in the wheel's build-time path and cannot load any MusicXML. Point each one at the package.
        tk.setResourcePath(os.path.join(os.path.dirname(verovio.__file__), "data"))
        _verovio.tk = tk
    return tk


def render_svg(midi: bytes, meta: PieceMeta | None = None, piece: _Piece | None = None,
               musicxml: bytes | None = None) -> bytes:
    """The score engraved by verovio: one SVG document (pages stacked top to bottom)."""
    xml = musicxml if musicxml is not None else render_musicxml(midi, meta, piece)
    tk = _toolkit()
    tk.resetOptions()
    tk.setOptions({"pageWidth": 2100, "pageHeight": SVG_PAGE_HEIGHT, "adjustPageHeight": True, "scale": 40,
                   "pageMarginTop": 50, "pageMarginBottom": 50, "pageMarginLeft": 50, "pageMarginRight": 50,
                   "breaks": "auto", "footer": "none", "header": "auto", "svgViewBox": False})
    if not tk.loadData(xml.decode("utf-8") if isinstance(xml, bytes) else xml):
        raise RenderError("verovio could not read the MusicXML")
    pages = [tk.renderToSVG(p) for p in range(1, tk.getPageCount() + 1)]
    if not pages:
        raise RenderError("verovio rendered no page")
    if len(pages) == 1:
        return pages[0].encode("utf-8")
    body, width, y = [], 0.0, 0.0
    for svg in pages:
        svg = re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", svg)
        m = _SVG_SIZE.search(svg)
        w, h = (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)
        body.append(svg.replace("<svg", f'<svg x="0" y="{y:g}"', 1))
        width, y = max(width, w), y + h
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" '
            f'width="{width:g}px" height="{y:g}px">' + "".join(body) + "</svg>").encode("utf-8")


# ---------------------------------------------------------------------------------------------- PNG

PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
           (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))
BACKGROUND = (255, 255, 255)


def track_colours(n: int) -> list[tuple[int, int, int]]:
    """The colour of each of ``n`` tracks (in the order of the tracks that have notes), as the PNG draws them."""
    return [PALETTE[i % len(PALETTE)] for i in range(n)]


def render_png(midi: bytes, meta: PieceMeta | None = None, piece: _Piece | None = None, *,
               max_width: int = 1600) -> bytes:
    """A piano roll: x = time (bar lines), y = pitch, a colour per track; drums in a lane below."""
    from PIL import Image, ImageDraw, ImageFont

    piece = piece or _read(midi, meta)
    tracks = [t for t in piece.tracks if t.notes]
    colours = track_colours(len(tracks))
    tpq = piece.tpq
    bar_ticks = tpq * 4 * piece.numerator / piece.denominator
    n_bars = max(1, math.ceil(piece.end_tick / bar_ticks)) if piece.end_tick else 1
    total = n_bars * bar_ticks
    pitched = sorted({n[2] for t in tracks if t.program >= 0 for n in t.notes})
    drum_rows = sorted({n[2] for t in tracks if t.program < 0 for n in t.notes})
    lo, hi = (pitched[0] - 2, pitched[-1] + 2) if pitched else (58, 70)
    n_rows = hi - lo + 1
    row = max(2, min(8, 360 // n_rows))
    drow = 5 if drum_rows else 0
    legend_h, left, right = 18, 36, 8
    width = int(min(max_width, max(480, 24 * total / tpq)) + left + right)
    plot_w = width - left - right
    pitched_h = n_rows * row
    gap = 6 if drum_rows else 0
    height = legend_h + pitched_h + gap + drow * len(drum_rows) + 4
    img = Image.new("RGB", (width, height), BACKGROUND)
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    top = legend_h

    def x_of(tick: float) -> float:
        return left + plot_w * tick / total

    for p in range(lo, hi + 1):  # black-key rows shaded, C rows labelled
        y = top + (hi - p) * row
        if p % 12 in (1, 3, 6, 8, 10):
            d.rectangle([left, y, left + plot_w, y + row - 1], fill=(244, 244, 246))
        if p % 12 == 0 and row * 12 >= 24:
            d.text((2, y - 4), f"C{p // 12 - 1}", fill=(120, 120, 120), font=font)
    drum_top = top + pitched_h + gap
    if drum_rows:
        d.rectangle([left, drum_top, left + plot_w, drum_top + drow * len(drum_rows) - 1], fill=(240, 240, 240))
    beat_ticks = tpq * 4 / piece.denominator
    n_beats = int(round(total / beat_ticks))
    for bt in range(n_beats + 1):
        x = x_of(bt * beat_ticks)
        is_bar = bt % piece.numerator == 0
        d.line([x, top, x, height - 4], fill=(150, 150, 150) if is_bar else (225, 225, 225), width=1)
    drum_index = {p: i for i, p in enumerate(drum_rows)}
    for t, colour in zip(tracks, colours):
        for start, dur, pitch, vel in t.notes:
            x0 = x_of(start)
            if t.program < 0:
                y0 = drum_top + drum_index[pitch] * drow
                d.rectangle([x0, y0, max(x0 + 1, x_of(start + min(dur, tpq / 4)) - 1), y0 + drow - 2], fill=colour)
            else:
                y0 = top + (hi - pitch) * row
                x1 = max(x0 + 1, x_of(start + dur) - 1)
                d.rectangle([x0, y0, x1, y0 + row - 1], fill=colour, outline=tuple(int(c * 0.6) for c in colour))
    x = left
    for t, colour in zip(tracks, colours):  # legend
        d.rectangle([x, 5, x + 9, 14], fill=colour)
        label = t.name[:28]
        d.text((x + 13, 4), label, fill=(40, 40, 40), font=font)
        x += 13 + int(d.textlength(label, font=font)) + 14
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- render


def render(fmt: str, midi: bytes, meta: PieceMeta | None = None, *, soundfont: str = "",
           fluidsynth: str = "fluidsynth", sample_rate: int = 44100, timeout_s: float = 120.0) -> bytes:
    """The piece ``midi`` in format ``fmt`` (one of :data:`FORMATS`) as bytes; see the module docstring."""
    fmt = fmt.lower().lstrip(".")
    fmt = {"midi": "mid", "xml": "musicxml", "mxl": "musicxml"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise RenderError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    if fmt == "mid":
        return bytes(midi)
    if fmt == "wav":
        return render_wav(midi, soundfont=soundfont, fluidsynth=fluidsynth, sample_rate=sample_rate,
                          timeout_s=timeout_s)
    piece = _read(midi, meta)
    if fmt == "musicxml":
        return render_musicxml(midi, meta, piece)
    if fmt == "png":
        return render_png(midi, meta, piece)
    return render_svg(midi, meta, piece)


__all__ = ["FORMATS", "MEDIA_TYPES", "PieceMeta", "RenderError", "check_audio", "render", "render_musicxml",
           "render_png", "render_svg", "render_wav", "to_music21", "track_colours"]


def _bench(path: str | None = None) -> None:
    import sys
    import time

    if path:
        with open(path, "rb") as f:
            midi = f.read()
        meta = None
    else:
        from training.generator import Generator
        from training.model import NoteModelConfig, NoteTransformer
        from training.request import PieceRequest

        import torch

        torch.manual_seed(0)
        gen = Generator(NoteTransformer(NoteModelConfig(n_layer=1, n_head=2, n_embd=32, block_size=64)))
        res = gen.generate(PieceRequest(style="pop", bpm=100, key="C major", bars=16,
                                        instruments=["flute", "piano", "acoustic bass", "drums"], seed=1))
        midi = res.midi
        meta = PieceMeta(key="C major", bpm=100, time_signature="4/4",
                         parts=[f"{t.instrument} ({t.role})" for t in res.tracks])
        print(f"piece: {res.n_notes} notes, {len(res.tracks)} tracks, {res.duration_s:.1f} s", file=sys.stderr)
    from common.config import ServeConfig

    cfg = ServeConfig()
    for fmt in FORMATS:
        times = []
        for _ in range(4):
            t0 = time.perf_counter()
            try:
                out = render(fmt, midi, meta, soundfont=cfg.soundfont, fluidsynth=cfg.fluidsynth,
                             sample_rate=cfg.sample_rate)
            except RenderError as e:
                print(f"{fmt:9s} error: {e}")
                break
            times.append(1000 * (time.perf_counter() - t0))
        else:
            print(f"{fmt:9s} first {times[0]:7.1f} ms  best of 3 more {min(times[1:]):7.1f} ms  {len(out):9d} bytes")

if __name__ == "__main__":
    import sys

    _bench(sys.argv[1] if len(sys.argv) > 1 else None)
