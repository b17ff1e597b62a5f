"""``POST /v1/continue`` and ``POST /v1/infill``: the work of the two routes between the upload and the store.

The upload (already checked on the lake's guarded path by :func:`serving.uploads.read_upload`) is
continued or infilled by :mod:`training.continuation`; this module makes the piece's description: the
attributes read from the upload (key, tempo, meter, chords: "inferred"), one track result per track of
the file (``upload`` where it kept only the caller's notes, ``model`` where the model wrote notes in it,
``arranger`` for drums and doublings it repeated), and the bars written.
"""

from __future__ import annotations

from lake.vocab import instrument_name
from serving.api import ContinueRequest, InfillRequest
from training.continuation import Written, continue_piece, infill
from training.request import Attributes, TrackResult


def write(generator, req: ContinueRequest | InfillRequest, score, seed: int) -> Written:
    """The continued or infilled piece (ContinuationError: a one-line 422)."""
    common = dict(seed=seed, context_bars=req.context_bars, temperature=req.temperature, style=req.style)
    if isinstance(req, ContinueRequest):
        return continue_piece(score, generator, req.bars, **common)
    return infill(score, generator, req.first_bar, req.last_bar, track=req.track, **common)


def attributes(w: Written, style: str) -> Attributes:
    r = w.reading
    instruments = [instrument_name(-1 if t.is_drum else int(t.program)) for t in w.score.tracks if t.note_num()]
    inferred = {k: "inferred" for k in ("bpm", "key", "time_signature", "instruments", "chords")}
    return Attributes(style=style, bpm=round(r.bpm, 2), key=r.key, time_signature=f"{r.numerator}/{r.denominator}",
                      instruments=instruments or ["piano"], progression=[], chords=list(r.chords),
                      sources={"style": "request", **inferred},
                      because={"key": "music21's key analysis of the upload's notes",
                               "chords": "the chord each bar's notes make (training.analysis.chords_per_bar)"})


def tracks(w: Written) -> list[TrackResult]:
    r = w.reading
    role_of = {i: role for role, i in r.roles.items()} | {i: role for i, role in r.extra.items()}
    out = []
    for i, t in enumerate(w.score.tracks):
        if not t.note_num():
            continue
        role = "drums" if t.is_drum else role_of.get(i, "harmony")
        wrote = w.written.get(i, 0)
        source = "upload" if not wrote else ("model" if i in r.roles.values() else "arranger")
        out.append(TrackResult(role=role, instrument=instrument_name(-1 if t.is_drum else int(t.program)),
                               program=-1 if t.is_drum else int(t.program), source=source, n_notes=int(t.note_num()),
                               doubles=role if i in r.extra else None))
    return out
