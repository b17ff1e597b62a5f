"""MusicXML: a score built with music21 from the notes (not by music21's MIDI import).

A part per track that has notes, named (unique names and abbreviations) and with its instrument; notes
quantised to the 16th grid, split at bar lines with ties, simultaneous notes of one length made chords,
overlapping ones put in voices; drums as unpitched notes on a percussion staff. The clef is the one that
needs the fewest ledger lines for the part's notes; a piano (or any part spanning both clefs widely) gets a
grand staff, notes from middle C up on the upper staff. Rests are written on the beat (no dotted rests) and
hidden in a voice where another voice sounds. :class:`serving.render_read.PieceMeta` may add chord symbols over
the top staff and a fingering or a note name under chosen notes.
"""

from __future__ import annotations

from fractions import Fraction

from serving.render_read import STEPS_PER_QUARTER, Piece, PieceMeta, RenderError, Track, read_piece


def _one_line(text) -> str:
    return " ".join(str(text).split())


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


def _segments(track: Track, tpq: int, bar_steps: int):
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


def to_music21(midi: bytes, meta: PieceMeta | None = None, piece: Piece | None = None):
    """The piece as a music21 Score (a part per track with notes; see the module docstring)."""
    from music21 import bar, clef, metadata, meter, stream, tempo
    from music21.stream.makeNotation import makeBeams

    meta = meta or PieceMeta()
    piece = piece or read_piece(midi, meta)
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
        tracks, per_track = [Track(name="Piano", program=0, notes=())], [{}]
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


def render_musicxml(midi: bytes, meta: PieceMeta | None = None, piece: Piece | None = None) -> bytes:
    """Uncompressed MusicXML (score-partwise) bytes."""
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    score = to_music21(midi, meta, piece)
    try:
        exporter = GeneralObjectExporter(score)
        exporter.makeNotation = False  # the score is already notated (measures, values, ties, beams, accidentals)
        return exporter.parse()
    except Exception as e:
        raise RenderError(f"MusicXML export failed: {_one_line(e) or type(e).__name__}") from None
