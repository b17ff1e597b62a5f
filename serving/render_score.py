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


def _element(pos_dur_members, drums: bool, names, marks: dict | None = None, bar_start: int = 0):
    from music21 import articulations, chord, note, percussion, tie as m21tie

    pos, dur, members = pos_dur_members
    ql = _ql(dur)
    built = []
    texts = []
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
        text = marks.get((bar_start + pos, pitch)) if marks and tie in (None, "start") else None
        if text is not None:
            texts.append(text)
        built.append(n)
    if len(built) == 1:
        el = built[0]
    else:
        el = percussion.PercussionChord(built) if drums else chord.Chord(built)
        el.duration.quarterLength = ql
        if drums:
            el.stemDirection = "up"
    for text in texts:
        if text.isdigit() and 1 <= int(text) <= 5:
            el.articulations.append(articulations.Fingering(int(text)))
        else:
            el.addLyric(text)
    return el


def _fill(container, items, bar_steps: int, drums: bool, names, hide_rests: bool = False, *,
          beat_steps: int = STEPS_PER_QUARTER, covered: set[int] | None = None, marks: dict | None = None,
          bar_start: int = 0) -> None:
    """Insert the chords/notes of one voice into ``container`` (a Measure or Voice), rests in the gaps: not
    printed when ``hide_rests`` (the second and later voices of a bar), nor where another voice sounds
    (``covered``: the bar's 16ths that another voice fills)."""
    cursor = 0
    for item in items:
        pos, dur, _ = item
        _rests(container, cursor, pos, hide_rests, beat_steps, covered)
        container.insert(float(_ql(pos)), _element(item, drums, names, marks, bar_start))
        cursor = pos + dur
    _rests(container, cursor, bar_steps, hide_rests, beat_steps, covered)


def rest_values(start: int, end: int, beat_steps: int) -> list[tuple[int, int]]:
    """(position, length) of the rests filling 16ths ``start``..``end``: plain values only (never dotted), none
    crossing a beat unless it starts on one and fills whole beats (a half rest on beat 1 or 3)."""
    out = []
    pos = start
    while pos < end:
        room = end - pos
        if pos % beat_steps == 0 and room >= beat_steps:
            c = beat_steps
            while c * 2 <= room and pos % (c * 2) == 0 and c * 2 <= 16:
                c *= 2
        else:
            limit = min(room, beat_steps - pos % beat_steps)
            c = 1
            while c * 2 <= limit and pos % (c * 2) == 0:
                c *= 2
        out.append((pos, c))
        pos += c
    return out


def _rests(container, start: int, end: int, hidden: bool, beat_steps: int = STEPS_PER_QUARTER,
           covered: set[int] | None = None) -> None:
    from music21 import note

    for pos, c in rest_values(start, end, beat_steps):
        r = note.Rest()
        r.duration.quarterLength = _ql(c)
        if hidden or (covered and all(x in covered for x in range(pos, pos + c))):
            r.style.hideObjectOnPrint = True
        container.insert(float(_ql(pos)), r)


def _instrument(program: int, name: str, abbreviation: str | None = None):
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
    inst.partAbbreviation = inst.instrumentAbbreviation = abbreviation or _short(name)
    return inst


def _short(name: str) -> str:
    base = name.split(" (")[0].strip()
    return base if len(base) <= 8 else base[:5].rstrip() + "."


def part_labels(names: list[str]) -> list[tuple[str, str]]:
    """(name, abbreviation) per part, every one different: a repeated name gets its number ("piano 2"); an
    abbreviation that would repeat keeps the role in brackets ("synth. (mel.)"), else the part's number."""
    seen: dict[str, int] = {}
    full = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        full.append(n if names.count(n) == 1 else f"{n} {seen[n]}")
    short = [_short(n) for n in full]
    for i, n in enumerate(full):
        if short.count(short[i]) > 1 and "(" in n:
            role = n.split("(", 1)[1].rstrip(")").strip()
            short[i] = f"{_short(n)} ({role[:3]}.)"
    for i in range(len(short)):
        if short.count(short[i]) > 1:
            dupes = [j for j in range(len(short)) if short[j] == short[i]]
            for k, j in enumerate(dupes):
                short[j] = f"{short[j]} {k + 1}"
    return list(zip(full, short))


# the staff lines' pitches: treble E4..F5, bass G2..A3; a note further out needs ledger lines
_TREBLE, _BASS, _ALTO = (62, 79), (41, 59), (52, 69)  # alto: F3..G4 on the staff
VIOLA = 41
GRAND_STAFF_PROGRAMS = frozenset(range(0, 8)) | frozenset(range(16, 21))  # pianos, organs
SPLIT_PITCH = 60  # a grand staff: middle C and up on the upper staff


def ledger_cost(pitches, staff: tuple[int, int]) -> float:
    """About how many ledger lines ``pitches`` need on a staff whose notes without ledger lines span ``staff``."""
    lo, hi = staff
    return sum(max(0, lo - p) / 3.5 + max(0, p - hi) / 3.5 for p in pitches)


def clef_for(pitches) -> str:
    """'treble' or 'bass': the clef under which ``pitches`` need fewer ledger lines."""
    pitches = list(pitches)
    if not pitches:
        return "treble"
    return "bass" if ledger_cost(pitches, _BASS) < ledger_cost(pitches, _TREBLE) else "treble"


def wants_grand_staff(track: Track) -> bool:
    """A keyboard part with notes on both sides of middle C, or any part one clef would fill with ledger lines."""
    if track.program < 0 or not track.notes:
        return False
    pitches = [n[2] for n in track.notes]
    both = min(pitches) < SPLIT_PITCH - 3 and max(pitches) >= SPLIT_PITCH + 3
    if track.program in GRAND_STAFF_PROGRAMS:
        return both
    best = min(ledger_cost(pitches, _TREBLE), ledger_cost(pitches, _BASS)) / len(pitches)
    return both and best > 1.0


def _chord_symbol(text: str):
    """A music21 ChordSymbol for a lead-sheet symbol ("Bbm7"), or a plain text mark when music21 cannot read it."""
    from music21 import expressions, harmony

    root, rest = text[:1], text[1:]
    if rest[:1] in ("b", "#"):
        root, rest = root + ("-" if rest[0] == "b" else "#"), rest[1:]
    try:
        cs = harmony.ChordSymbol(root + rest)
        cs.writeAsChord = False
        return cs
    except Exception:  # noqa: BLE001 - music21 raises several kinds for a figure it does not know
        te = expressions.TextExpression(text)
        te.placement = "above"
        return te


def unswing(notes, tpq: int):
    """Notes whose onsets or ends fall at two thirds of a beat (swung eighths) moved to its half, as swing is
    written: straight eighths under a "Swing" mark."""
    third = tpq * 2 // 3
    tol = max(1, tpq // 24)

    def straight(t: int) -> int:
        pos = t % tpq
        return t - pos + tpq // 2 if abs(pos - third) <= tol else t

    out = []
    for start, dur, pitch, vel in notes:
        s, e = straight(start), straight(start + dur)
        out.append((s, max(1, e - s), pitch, vel))
    return tuple(sorted(out))


def to_music21(midi: bytes, meta: PieceMeta | None = None, piece: Piece | None = None):
    """The piece as a music21 Score (a part per track with notes; see the module docstring)."""
    from music21 import bar, clef, layout, metadata, meter, stream, tempo
    from music21.stream.makeNotation import makeBeams

    meta = meta or PieceMeta()
    piece = piece or read_piece(midi, meta)
    num, den = piece.numerator, piece.denominator
    bar_steps = num * STEPS_PER_QUARTER * 4 // den
    if bar_steps < 1 or (num * STEPS_PER_QUARTER * 4) % den:
        raise RenderError(f"time signature {num}/{den} does not fit the 16th grid")
    compound = den == 8 and num % 3 == 0 and num > 3
    beat_steps = (6 if compound else 16 // den) if den <= 16 else 1
    k = _music21_key(meta.key)
    names = _FLAT_NAMES if k is not None and k.sharps < 0 else _SHARP_NAMES
    tracks = [t for t in piece.tracks if t.notes]
    if not tracks:  # an empty piece: one part of rests
        tracks = [Track(name="Piano", program=0, notes=())]
    if meta.swing:
        tracks = [Track(t.name, t.program, unswing(t.notes, piece.tpq)) for t in tracks]
    labels = part_labels([t.name for t in tracks])
    marks_by_track: dict[int, dict] = {}
    for ti, onset_q, pitch, text in meta.labels or []:
        marks_by_track.setdefault(int(ti), {})[(int(round(onset_q * STEPS_PER_QUARTER)), int(pitch))] = str(text)
    # each track becomes one staff, or two (a grand staff): (track index, Track, clef name)
    staves: list[tuple[int, Track, str]] = []
    for ti, t in enumerate(tracks):
        if wants_grand_staff(t):
            staves.append((ti, Track(t.name, t.program, tuple(n for n in t.notes if n[2] >= SPLIT_PITCH)), "treble"))
            staves.append((ti, Track(t.name, t.program, tuple(n for n in t.notes if n[2] < SPLIT_PITCH)), "bass"))
        else:
            clef_name = "percussion" if t.program < 0 else clef_for(n[2] for n in t.notes)
            if t.program == VIOLA and ledger_cost([n[2] for n in t.notes], _ALTO) <= \
                    ledger_cost([n[2] for n in t.notes], _TREBLE if clef_name == "treble" else _BASS):
                clef_name = "alto"  # a viola reads the alto clef
            staves.append((ti, t, clef_name))
    per_staff = [_segments(t, piece.tpq, bar_steps) for _, t, _ in staves]
    n_bars = max([max(b) + 1 for b in per_staff if b] + [1])
    if meta.chords:
        last = max(float(q) for q, _ in meta.chords)
        n_bars = max(n_bars, int(last * STEPS_PER_QUARTER // bar_steps) + 1)
    score = stream.Score()
    score.metadata = metadata.Metadata()
    score.metadata.title = meta.title or ""
    score.metadata.composer = "musiclake"
    chord_staff = next((i for i, (_, t, c) in enumerate(staves) if c != "percussion"), 0)
    groups: dict[int, list] = {}
    for si, ((ti, track, clef_name), bars) in enumerate(zip(staves, per_staff)):
        drums = track.program < 0
        grand = sum(1 for x in staves if x[0] == ti) > 1
        part = stream.PartStaff(id=f"P{si + 1}") if grand else stream.Part(id=f"P{si + 1}")
        name, short = labels[ti]
        part.partName = name
        part.insert(0, _instrument(track.program, name, short))
        marks = marks_by_track.get(ti)
        for b in range(n_bars):
            m = stream.Measure(number=b + 1)
            if b == 0:
                m.insert(0, {"percussion": clef.PercussionClef, "bass": clef.BassClef,
                             "alto": clef.AltoClef}.get(clef_name, clef.TrebleClef)())
                if k is not None and not drums:
                    m.insert(0, k.asKeySignature() if hasattr(k, "asKeySignature") else k)
                m.insert(0, meter.TimeSignature(f"{num}/{den}"))
                if si == 0:
                    m.insert(0, tempo.MetronomeMark(number=round(piece.bpm, 2)))
                    if meta.swing:
                        from music21 import expressions

                        mark = expressions.TextExpression("Swing")
                        mark.placement = "above"
                        m.insert(0, mark)
            voices = _voices(bars.get(b, []))
            start = b * bar_steps
            if len(voices) <= 1:
                _fill(m, voices[0] if voices else [], bar_steps, drums, names, beat_steps=beat_steps, marks=marks,
                      bar_start=start)
            else:
                for vi, items in enumerate(voices):
                    others = {x for wj, other in enumerate(voices) if wj != vi for pos, dur, _ in other
                              for x in range(pos, pos + dur)}
                    v = stream.Voice(id=str(vi + 1))
                    _fill(v, items, bar_steps, drums, names, hide_rests=vi > 0, beat_steps=beat_steps,
                          covered=others, marks=marks, bar_start=start)
                    m.insert(0, v)
            if si == chord_staff and meta.chords:
                for onset_q, text in meta.chords:
                    at = int(round(float(onset_q) * STEPS_PER_QUARTER))
                    if start <= at < start + bar_steps and text and text != "N":
                        m.insert(float(_ql(at - start)), _chord_symbol(text))
            if b == n_bars - 1:
                m.rightBarline = bar.Barline("final")
            part.append(m)
        key_alters = {p.step: p.alter for p in k.alteredPitches} if k is not None else {}
        for m in part.getElementsByClass(stream.Measure):
            makeBeams(m, inPlace=True)
            if not drums:
                _accidentals(m, key_alters)
        score.insert(0, part)
        if grand:
            groups.setdefault(ti, []).append(part)
    for parts in groups.values():
        score.insert(0, layout.StaffGroup(parts, name=parts[0].partName,
                                          abbreviation=parts[0].getInstrument().partAbbreviation, symbol="brace",
                                          barTogether=True))
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
