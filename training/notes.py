"""The generator's sequence format: one step per note (or bar line), each step a row of named fields.

A piece is a (T, N_FIELDS) int array. Every field holds ``value + 1``, 0 meaning "not set here":

    step kind  fields it sets
    ---------  -----------------------------------------------------------------
    HEADER     style, tempo bin, key, time signature         (the piece's attributes)
    TRACK      role, program                                 (one per role: the instrumentation)
    BAR        chord root, chord quality                     (the bar line and the bar's chord)
    NOTE       role, pos, pitch, dur, vel                    (onset in the bar, 16th grid)
    EOS        -

Within a bar the notes come role by role (a role's notes in onset order), the roles in the order
the TRACK steps declare. Training shuffles that order per piece, so "fill one role given the
others" is the same sequence with the known roles first: infilling is a property of the format.
The model predicts kind, role, pos, pitch, dur and vel of the next step; HEADER, TRACK and BAR
fields are always given (they are the controls), never sampled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lake.chords import QUALITIES, best_templates, segment_histograms, LABELS
from lake.vocab import KEY_NAMES, STYLES, TEMPO_BIN_EDGES, normalize_style, tempo_bin
from training.request import MAX_BAR_STEPS, ROLES, STEPS_PER_QUARTER, parse_time_signature

KINDS = ("HEADER", "TRACK", "BAR", "NOTE", "EOS")
HEADER, TRACK, BAR, NOTE, EOS = range(1, 6)  # stored +1 like every field; 0 is padding
QUALITY_NAMES = tuple(QUALITIES)
TIME_SIGNATURES = ("4/4", "3/4", "2/4", "6/8", "5/4", "7/4", "9/8", "12/8", "3/8", "2/2", "other")
MAX_DUR = 32  # 16ths: two 4/4 bars
N_VELOCITIES = 8
DRUM_PROGRAM = 128  # the program field's value for a drum kit

# name -> number of values (before the +1 shift)
FIELDS: dict[str, int] = {
    "kind": len(KINDS), "role": len(ROLES), "pos": MAX_BAR_STEPS, "pitch": 128, "dur": MAX_DUR,
    "vel": N_VELOCITIES, "program": 129, "chord_root": 13, "chord_quality": len(QUALITY_NAMES) + 1,
    "style": len(STYLES), "tempo": len(TEMPO_BIN_EDGES) + 1, "key": len(KEY_NAMES), "meter": len(TIME_SIGNATURES),
}
FIELD_NAMES = tuple(FIELDS)
F = {name: i for i, name in enumerate(FIELD_NAMES)}
N_FIELDS = len(FIELDS)
NO_CHORD_ROOT = 12


def _format_id() -> str:
    """Names this layout: a model trained on one layout reads only data of the same one."""
    import hashlib
    import json

    blob = json.dumps([FIELDS, TIME_SIGNATURES, QUALITY_NAMES, list(ROLES), STEPS_PER_QUARTER], sort_keys=True)
    return "notes-" + hashlib.sha256(blob.encode()).hexdigest()[:10]


FORMAT_ID = _format_id()


def field_sizes() -> dict[str, int]:
    """Embedding size of each field: its values + the 0 "not set" slot."""
    return {name: n + 1 for name, n in FIELDS.items()}


def velocity_bin(velocity: int) -> int:
    return min(N_VELOCITIES - 1, max(0, int(velocity) * N_VELOCITIES // 128))


def bin_velocity(b: int) -> int:
    return int((b + 0.5) * 128 / N_VELOCITIES)


def meter_index(time_signature: str) -> int:
    return TIME_SIGNATURES.index(time_signature) if time_signature in TIME_SIGNATURES else len(TIME_SIGNATURES) - 1


def step(**values: int) -> np.ndarray:
    """One step row; ``values`` are the fields' raw values (the +1 shift happens here)."""
    row = np.zeros(N_FIELDS, dtype=np.int64)
    for name, v in values.items():
        if not 0 <= int(v) < FIELDS[name]:
            raise ValueError(f"field {name}={v} outside 0..{FIELDS[name] - 1}")
        row[F[name]] = int(v) + 1
    return row


def header(style: str, bpm: float, key: str, time_signature: str) -> np.ndarray:
    return step(kind=HEADER - 1, style=STYLES.index(normalize_style(style)), tempo=tempo_bin(bpm),
                key=KEY_NAMES.index(key), meter=meter_index(time_signature))


def track_step(role: str, program: int) -> np.ndarray:
    return step(kind=TRACK - 1, role=ROLES.index(role), program=DRUM_PROGRAM if program < 0 else program)


def bar_step(root: int | None, quality: str | None) -> np.ndarray:
    if root is None:
        return step(kind=BAR - 1, chord_root=NO_CHORD_ROOT, chord_quality=len(QUALITY_NAMES))
    return step(kind=BAR - 1, chord_root=root % 12, chord_quality=QUALITY_NAMES.index(quality))


def note_step(role: str, pos: int, pitch: int, dur: int, vel: int) -> np.ndarray:
    return step(kind=NOTE - 1, role=ROLES.index(role), pos=pos, pitch=pitch, dur=min(MAX_DUR, max(1, dur)) - 1,
                vel=velocity_bin(vel))


def eos_step() -> np.ndarray:
    return step(kind=EOS - 1)


# -- from a score ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class NoteTable:
    """A piece's notes on the 16th grid, by role: what the encoder and the decoder share."""

    bar_steps: int
    n_bars: int
    bar: np.ndarray
    pos: np.ndarray
    pitch: np.ndarray
    dur: np.ndarray
    vel: np.ndarray
    role: np.ndarray  # index into ROLES
    programs: dict[str, int]  # role -> program (-1 drums)
    chords: list[tuple[int | None, str | None]]  # per bar: (root, quality) or (None, None)
    # the meter the bars stand for when they came from labels (e.g. "4/4" for POP909's downbeats, whose
    # files declare 1/4); None: the meter the table was asked for or the file declares
    time_signature: str | None = None


def _skyline(start: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """True for the highest note of each onset: a tune out of a chordal track."""
    top = np.zeros(len(start), dtype=bool)
    order = np.lexsort((-pitch, start))
    first = np.append(True, start[order][1:] != start[order][:-1])
    top[order[first]] = True
    return top


def note_table(score, time_signature: str | None = None, bar_start_s=None, bar_chords=None) -> NoteTable:
    """The notes of a symusic Score quantized to 16ths, by role, with a chord per bar from its notes.

    With labelled bars (``bar_start_s``: each bar's downbeat in seconds, ``bar_chords``: the lake chord
    label of each, e.g. ``"G:maj"`` or ``"N"``, as gold holds them for an annotated set), the bars are
    those downbeats and the chords those labels instead (:func:`labelled_grid`).
    """
    from lake.midi_features import check_score, describe_tracks

    p = check_score(score)
    labelled = labelled_grid(score, p, bar_start_s, bar_chords)
    ts = time_signature or (f"{score.time_signatures[0].numerator}/{score.time_signatures[0].denominator}"
                            if len(score.time_signatures) else "4/4")
    try:
        num, den = parse_time_signature(ts)
    except ValueError:
        num, den = 4, 4
    bar_steps = num * STEPS_PER_QUARTER * 4 // den
    tick_per_step = p.tpq / STEPS_PER_QUARTER
    if labelled is not None:
        bar_steps, tick_per_step = labelled.bar_steps, labelled.tick_per_step
    tracks = describe_tracks(p)
    role_of = {}
    for t in tracks:
        role_of[t["track_index"]] = {"accompaniment": "harmony"}.get(t["role"], t["role"])
    roles = np.array([ROLES.index(role_of.get(int(o), "harmony")) for o in p.track], dtype=np.int64)
    pitched = ~p.drum
    if not (roles == ROLES.index("melody")).any() and pitched.any():  # a chordal texture: its top line sings
        top = _skyline(np.where(pitched, p.start, -1), p.pitch) & pitched & (roles == ROLES.index("harmony"))
        roles[top] = ROLES.index("melody")
    q_start = np.round(p.start / tick_per_step).astype(np.int64)
    q_dur = np.maximum(1, np.round((p.end - p.start) / tick_per_step).astype(np.int64))
    vel = np.full(len(p.start), 80, dtype=np.int64)
    vels = []
    for t in score.tracks:
        if t.note_num():
            vels.append(t.notes.numpy()["velocity"].astype(np.int64))
    if vels:
        vel = np.concatenate(vels)
    bar, pos = labelled.place(p.start) if labelled is not None else np.divmod(q_start, bar_steps)
    n_bars = int(bar.max()) + 1 if len(bar) else 0
    programs: dict[str, int] = {}
    for t in tracks:
        r = role_of[t["track_index"]]
        programs.setdefault(r, t["program"])
    if (roles == ROLES.index("melody")).any() and "melody" not in programs:
        programs["melody"] = programs.get("harmony", 0)
    bounds = np.arange(n_bars + 1) * bar_steps * tick_per_step
    chords: list[tuple[int | None, str | None]] = []
    if labelled is not None:
        chords = labelled.chords[:n_bars]
    elif n_bars:
        hist, bass = segment_histograms(p.start[pitched], p.end[pitched], p.pitch[pitched], bounds.astype(np.float64))
        for b in best_templates(hist, bass):
            if b >= len(LABELS):
                chords.append((None, None))
            else:
                root, quality = LABELS[b].split(":")
                chords.append((_pc(root), quality))
    return NoteTable(bar_steps=bar_steps, n_bars=n_bars, bar=bar, pos=pos, pitch=p.pitch.astype(np.int64),
                     dur=q_dur, vel=vel, role=roles, programs=programs, chords=chords,
                     time_signature=labelled.time_signature if labelled is not None else None)


# -- labelled bars (an annotated set's downbeats and chords) --------------------------------------
@dataclass(frozen=True)
class LabelledGrid:
    """Bars from labelled downbeats, in ticks: ``edges`` (n_bars + 1), a chord per bar, the meter they make."""

    edges: np.ndarray
    chords: list[tuple[int | None, str | None]]
    bar_steps: int
    tick_per_step: float
    time_signature: str

    def place(self, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(bar, onset in the bar on the 16th grid) of onsets in ticks: each bar's length is split into
        ``bar_steps`` equal steps, so a played bar a little longer or shorter than its meter still fills it."""
        start = np.asarray(start, dtype=np.float64)
        bar = np.clip(np.searchsorted(self.edges, start, side="right") - 1, 0, len(self.edges) - 2)
        length = self.edges[bar + 1] - self.edges[bar]
        pos = np.round((start - self.edges[bar]) / length * self.bar_steps).astype(np.int64)
        over = pos >= self.bar_steps  # rounds onto the next downbeat
        last = len(self.edges) - 2
        bar = np.where(over & (bar < last), bar + 1, bar)
        pos = np.where(over, np.where(bar == last, np.minimum(pos, self.bar_steps - 1), 0), pos)
        return bar.astype(np.int64), np.maximum(pos, 0)


def seconds_to_ticks(score, seconds) -> np.ndarray:
    """Ticks of times in seconds through the score's tempo map (120 BPM before or without a tempo)."""
    secs = np.asarray(seconds, dtype=np.float64)
    tpq = float(score.ticks_per_quarter)
    tempos = sorted(((int(t.time), float(t.mspq)) for t in score.tempos), key=lambda x: x[0])
    if not tempos or tempos[0][0] > 0:
        tempos.insert(0, (0, 500_000.0))
    ticks = np.array([t for t, _ in tempos], dtype=np.float64)
    sec_per_tick = np.array([m for _, m in tempos], dtype=np.float64) / 1e6 / tpq
    at = np.concatenate([[0.0], np.cumsum(np.diff(ticks) * sec_per_tick[:-1])])  # seconds at each tempo change
    i = np.clip(np.searchsorted(at, secs, side="right") - 1, 0, len(at) - 1)
    return ticks[i] + (secs - at[i]) / sec_per_tick[i]


def _chord_of_label(label) -> tuple[int | None, str | None]:
    """``"G:maj"`` -> (7, "maj"); ``"N"``, empty or unknown -> (None, None)."""
    if not label or ":" not in str(label):
        return None, None
    root, quality = str(label).split(":", 1)
    if quality not in QUALITY_NAMES:
        return None, None
    try:
        return _pc(root), quality
    except ValueError:
        return None, None


def labelled_grid(score, p, bar_start_s, bar_chords) -> LabelledGrid | None:
    """The bars of labelled downbeats, or None when there are none to use (fewer than 2, or chords that do
    not match the bars one to one).

    The meter is the median bar length in quarter notes under the tempo map (4 -> ``4/4``). Notes before
    the first downbeat (a pickup) and after the last bar get bars of the median length, without a chord.
    """
    if bar_start_s is None or bar_chords is None:
        return None
    starts, labels = [float(x) for x in bar_start_s], list(bar_chords)
    if len(starts) < 2 or len(labels) != len(starts) or any(b <= a for a, b in zip(starts, starts[1:])):
        return None
    edges = seconds_to_ticks(score, starts)
    bar_len = float(np.median(np.diff(edges)))
    quarters = int(round(bar_len / p.tpq))
    if not 1 <= quarters <= MAX_BAR_STEPS // STEPS_PER_QUARTER or bar_len <= 0:
        return None
    edges = np.append(edges, edges[-1] + bar_len)
    chords = [_chord_of_label(x) for x in labels]
    first = float(p.start.min()) if len(p.start) else edges[0]
    while first < edges[0]:
        edges = np.insert(edges, 0, edges[0] - bar_len)
        chords.insert(0, (None, None))
    last = float(p.start.max()) if len(p.start) else edges[-1]
    while last >= edges[-1]:
        edges = np.append(edges, edges[-1] + bar_len)
        chords.append((None, None))
    bar_steps = quarters * STEPS_PER_QUARTER
    return LabelledGrid(edges=edges, chords=chords, bar_steps=bar_steps, tick_per_step=bar_len / bar_steps,
                        time_signature=f"{quarters}/4")


def _pc(name: str) -> int:
    from lake.vocab import PITCH_CLASSES

    return PITCH_CLASSES.index(name)


def encode(table: NoteTable, style: str, bpm: float, key: str, time_signature: str,
           role_order: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(steps, bar_index_of_step) for a piece: HEADER, TRACKs, then per bar BAR + notes role by role, EOS.

    ``bar_index_of_step`` is -1 for the prelude and EOS, so windows can start at bar lines.
    """
    present = [ROLES[r] for r in sorted(set(table.role.tolist()))]
    order = [r for r in (role_order or ROLES) if r in present]
    rows = [header(style, bpm, key, time_signature)]
    rows += [track_step(r, table.programs.get(r, 0)) for r in order]
    bar_of = [-1] * len(rows)
    keep = (table.pos < MAX_BAR_STEPS)
    sort = np.lexsort((table.pitch, table.pos, np.array([order.index(ROLES[r]) for r in table.role]), table.bar))
    sort = sort[keep[sort]]
    notes_by_bar = np.split(sort, np.searchsorted(table.bar[sort], np.arange(1, table.n_bars)))
    for b in range(table.n_bars):
        root, quality = table.chords[b] if b < len(table.chords) else (None, None)
        rows.append(bar_step(root, quality))
        bar_of.append(b)
        for i in notes_by_bar[b] if b < len(notes_by_bar) else []:
            rows.append(note_step(ROLES[table.role[i]], int(table.pos[i]), int(table.pitch[i]), int(table.dur[i]),
                                  int(table.vel[i])))
            bar_of.append(b)
    rows.append(eos_step())
    bar_of.append(-1)
    return np.stack(rows), np.asarray(bar_of, dtype=np.int64)


def prelude_length(steps: np.ndarray) -> int:
    """Steps before the first BAR: the HEADER and the TRACK declarations."""
    bars = np.flatnonzero(steps[:, F["kind"]] == BAR)
    return int(bars[0]) if len(bars) else len(steps)


# -- back to MIDI ---------------------------------------------------------------------------------
def to_score(notes: dict[str, list[tuple[int, int, int, int, int]]], programs: dict[str, int], bpm: float,
             numerator: int, denominator: int, tpq: int = 480):
    """A symusic Score from notes per role ``(bar, pos, pitch, dur, velocity)`` on the 16th grid.

    ``programs`` maps a track name (a role, or e.g. "harmony:2" for a doubling) to its GM program.
    """
    from symusic import Note, Score, Tempo, TimeSignature, Track

    score = Score(tpq)
    score.tempos.append(Tempo(0, qpm=float(bpm)))
    score.time_signatures.append(TimeSignature(0, numerator, denominator))
    tick = tpq // STEPS_PER_QUARTER
    bar_steps = numerator * STEPS_PER_QUARTER * 4 // denominator
    for name, events in notes.items():
        program = programs[name]
        track = Track(name=name, program=max(0, program), is_drum=program < 0)
        for bar, pos, pitch, dur, vel in sorted(events):
            track.notes.append(Note((bar * bar_steps + pos) * tick, max(1, dur) * tick, int(pitch), int(vel)))
        score.tracks.append(track)
    return score
