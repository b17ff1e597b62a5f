"""Reading a piece for rendering: what the caller knows (:class:`PieceMeta`) and the notes of every MIDI track
(:class:`Piece`), read with symusic; mido says which of the file's track chunks hold notes, so the part names
the caller gives per chunk line up with the tracks symusic keeps."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

STEPS_PER_QUARTER = 4  # the notation grid: 16th notes


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
    # (onset in quarter notes, chord symbol such as "Am7") shown over the top staff
    chords: list[tuple[float, str]] | None = None
    # (index among the tracks with notes, onset in quarter notes, MIDI pitch, text) under a note: a digit 1-5 is
    # written as a fingering, anything else as a syllable (a note name)
    labels: list[tuple[int, float, int, str]] | None = None
    swing: bool = False  # the MIDI is swung: the score writes its off-beat eighths straight, under a "Swing" mark




@dataclass(frozen=True)
class Track:
    name: str
    program: int  # -1: drums
    notes: tuple[tuple[int, int, int, int], ...]  # (start tick, duration ticks, pitch, velocity)


@dataclass(frozen=True)
class Piece:
    tpq: int
    numerator: int
    denominator: int
    bpm: float
    end_tick: int
    end_s: float
    tracks: tuple[Track, ...]  # every MIDI track, empty ones too (so meta.parts lines up)


def read_piece(midi: bytes, meta: PieceMeta | None) -> Piece:
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
        tracks.append(Track(name=name, program=program, notes=notes))
    end_s = float(score.to(TimeUnit.second).end()) if score.note_num() else 0.0
    return Piece(tpq=int(score.ticks_per_quarter), numerator=num, denominator=den, bpm=bpm,
                  end_tick=int(score.end()) if score.note_num() else 0, end_s=end_s, tracks=tuple(tracks))


def _chunks_with_notes(midi: bytes) -> list[int] | None:
    """Indexes of the file's tracks that hold a sounding note-on (mido reads the chunks); None when mido
    cannot read the file."""
    import mido

    try:
        tracks = mido.MidiFile(file=io.BytesIO(midi), clip=True).tracks
    except Exception:  # noqa: BLE001 - mido raises many kinds on a damaged file; symusic decides what is readable
        return None
    return [i for i, t in enumerate(tracks) if any(m.type == "note_on" and m.velocity > 0 for m in t)]


def _default_name(track_name: str, program: int) -> str:
    try:
        from lake.vocab import instrument_name

        return instrument_name(program).title() if program >= 0 else "Drums"
    except Exception:
        return track_name or ("Drums" if program < 0 else f"Program {program}")


# ---------------------------------------------------------------------------------------------- audio
