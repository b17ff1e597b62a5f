"""The education routes' work, off the event loop: exercises, harmonization and style transfer as stored pieces.

Each function takes the validated request (and the stored upload's bytes) and returns a :class:`Made`: the
MIDI, the description the store keeps (:class:`serving.api.PieceInfo` without its id and time) and what the
route answers beyond it. The rules write these pieces, not a registered model, so their provenance names the
rule set (``musiclake-exercise``, ``musiclake-harmonize``, ``musiclake-transfer``) with version 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lake.midi_features import Limits, MidiError
from serving.api import (ChordSuggestion, ExerciseNote, ExerciseRequest, HarmonizeRequest, MelodySurvival,
                         ModelInfo, PieceInfo, Provenance, ScoreMarks, StyleMarkers, TransferRequest, TrackResult)
from serving.uploads import read_upload
from training.request import Attributes

RULES_VERSION = 1


@dataclass
class Made:
    midi: bytes
    maker: str  # the rule set
    attributes: Attributes
    tracks: list[TrackResult]
    bar_chords: list[str]
    n_notes: int
    duration_s: float
    marks: ScoreMarks
    extra: dict = field(default_factory=dict)

    def info(self, piece_id: str, sha: str, created: str, request: dict, urls: dict) -> PieceInfo:
        return PieceInfo(id=piece_id, content_sha256=sha, created_at=created, request=request,
                         attributes=self.attributes,
                         provenance=Provenance(generator=ModelInfo(name=self.maker, version=RULES_VERSION, ref="rules"),
                                               generator_run_id="", data_versions={},
                                               melody_upload=request.get("melody") or request.get("piece")),
                         tracks=self.tracks, chords=self.bar_chords, seed=int(request.get("seed", 0)),
                         n_notes=self.n_notes, duration_s=round(self.duration_s, 3), n_steps=0, urls=urls,
                         marks=self.marks)


def piece_meta(made: Made):
    """What the renderer needs beyond the MIDI: key, tempo, meter, part names, chord symbols, fingerings."""
    from serving.render import PieceMeta

    a = made.attributes
    return PieceMeta(key=a.key, bpm=a.bpm, time_signature=a.time_signature,
                     parts=[f"{t.instrument} ({t.role})" for t in made.tracks if t.n_notes],
                     chords=made.marks.chords or None, labels=made.marks.labels or None, swing=made.marks.swing,
                     title=made.extra.get("title"))


def _attributes(style: str, bpm: float, key: str, ts: str, instruments: list[str], chords: list[str],
                progression: list[str], key_source: str) -> Attributes:
    return Attributes(style=style if style in ("pop", "folk", "jazz", "classical") else "classical", bpm=bpm, key=key,
                      time_signature=ts, instruments=instruments, progression=progression, chords=chords,
                      sources={"style": "request", "bpm": "request", "key": key_source, "time_signature": "request",
                               "instruments": "derived", "chords": "derived", "progression": "derived"})


def _stats(midi: bytes) -> tuple[int, float]:
    from symusic import Score, TimeUnit

    s = Score.from_midi(midi)
    return int(s.note_num()), float(s.to(TimeUnit.second).end())


def _meter(midi: bytes) -> str:
    from symusic import Score

    s = Score.from_midi(midi)
    if len(s.time_signatures):
        return f"{s.time_signatures[0].numerator}/{s.time_signatures[0].denominator}"
    return "4/4"


def exercise(req: ExerciseRequest) -> Made:
    """The exercise as a stored piece: one track, its fingering or note names as score marks."""
    from training.exercise import ExerciseSpec, labels, make_exercise, to_midi

    ex = make_exercise(ExerciseSpec(**req.model_dump()))
    midi = to_midi(ex)
    n, dur = _stats(midi)
    ts = f"{ex.numerator}/{ex.denominator}"
    attrs = _attributes("classical", req.bpm, ex.key, ts, [req.instrument], [], [], "derived")
    track = TrackResult(role="melody", instrument=req.instrument, program=ex.program, source="arranger",
                        n_notes=len(ex.notes))
    notes = [ExerciseNote(pitch=x.pitch, name=x.name, onset=x.onset, duration=x.duration, finger=x.finger,
                          label=x.label) for x in ex.notes]
    return Made(midi, "musiclake-exercise", attrs, [track], [], n, dur, ScoreMarks(labels=labels(ex)),
                {"title": ex.title, "key": ex.key, "notes": notes})


def _upload(data: bytes, limits: Limits, field_name: str):
    try:
        return read_upload(data, limits)
    except MidiError as e:
        raise ValueError(f"{field_name}: {e}") from None


def _suggestions(arranged) -> list[ChordSuggestion]:
    out = []
    for c in arranged.chords:
        out.append(ChordSuggestion(bar=c.start // arranged.beats_per_bar, beat=c.start, beats=c.end - c.start,
                                   onset=round(c.start * arranged.beat_unit, 4), symbol=c.symbol, roman=c.roman))
    return out


def _tracks(arranged, melody_source: str = "upload") -> list[TrackResult]:
    from symusic import Score

    counts = {t.name: int(t.note_num()) for t in Score.from_midi(arranged.midi).tracks}
    return [TrackResult(role=role if role in ("melody", "harmony", "bass", "drums") else "harmony",
                        instrument=name, program=program, source=melody_source if role == "melody" else "arranger",
                        n_notes=counts.get(role, 0), doubles=None) for role, name, program in arranged.parts]


def _bar_chords(arranged) -> list[str]:
    by_bar: dict[int, str] = {}
    for c in arranged.chords:
        for b in range(c.start, c.end):
            by_bar.setdefault(b // arranged.beats_per_bar, c.symbol)
    return [by_bar[b] for b in sorted(by_bar)]


def _made(arranged, maker: str, key_source: str) -> Made:
    n, dur = _stats(arranged.midi)
    style = arranged.style if arranged.style != "string_quartet" else "classical"
    attrs = _attributes(style, arranged.bpm, arranged.key, _meter(arranged.midi), [name for _, name, _ in arranged.parts], _bar_chords(arranged),
                        [c.roman for c in arranged.chords], key_source)
    return Made(arranged.midi, maker, attrs, _tracks(arranged), _bar_chords(arranged), n, dur,
                ScoreMarks(chords=arranged.chord_marks(), swing=arranged.style == "jazz"))


def harmonize(req: HarmonizeRequest, upload: bytes, limits: Limits) -> Made:
    """Chords for the upload's melody and the piece in the asked style."""
    from training.transfer import harmonized_piece

    up = _upload(upload, limits, "melody")
    arranged = harmonized_piece(up.score, up.melody, style=req.style, per=req.per, key=req.key)
    made = _made(arranged, "musiclake-harmonize", "request" if req.key else "derived")
    made.extra = {"key": arranged.key, "per": req.per, "style": req.style, "chords": _suggestions(arranged)}
    return made


def transfer(req: TransferRequest, upload: bytes, limits: Limits) -> Made:
    """The upload re-arranged in the asked style, with how much of its melody survived and how its style moved."""
    from training.transfer import measure, transfer as rearrange

    up = _upload(upload, limits, "piece")
    arranged = rearrange(up.score, up.melody, req.style, key=req.key)
    m = measure(upload, arranged.midi)
    made = _made(arranged, "musiclake-transfer", "request" if req.key else "derived")
    made.extra = {"key": arranged.key, "style": req.style, "chords": _suggestions(arranged),
                  "melody": MelodySurvival(**m["melody"]), "before": StyleMarkers(**m["before"]),
                  "after": StyleMarkers(**m["after"])}
    return made

