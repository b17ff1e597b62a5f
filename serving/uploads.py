"""Uploaded MIDI: parsed on the lake's guarded path, and its melody laid on a piece's grid.

An upload goes through exactly the checks a crawled file gets before it reaches silver
(``lake.midi_features``: header and chunk bounds, size, track and note caps, absurd tempi, a
wall-clock limit), so a hostile file is a 422 with the lake's one-line reason, never a crash. The
melody is the non-drum track with the highest mean pitch, made one line (the highest note wins
where notes overlap) and quantised to the generator's 16th grid, bar by bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from symusic import Score

from lake.midi_features import Limits, MidiError, check_midi_bytes, check_score, parse_midi, time_limit
from training.request import STEPS_PER_QUARTER, Plan

Note = tuple[int, int, int, int, int]  # (bar, pos, pitch, dur, velocity), the sampler's ``given`` rows


@dataclass
class Upload:
    score: Score
    n_tracks: int
    n_notes: int
    duration_s: float
    melody: np.ndarray  # [n, 4]: onset tick, duration ticks, pitch, velocity; one line


def read_upload(data: bytes, limits: Limits) -> Upload:
    """Check and parse an uploaded file with the lake's limits; :class:`MidiError` says what is wrong."""
    check_midi_bytes(data, max_bytes=limits.max_bytes, max_tracks=limits.max_tracks)
    with time_limit(limits.max_seconds, "upload"):
        score = parse_midi(data)
        check_score(score, limits)
        melody = _melody_line(score)
    from symusic import TimeUnit

    return Upload(score=score, n_tracks=len(score.tracks), n_notes=int(score.note_num()),
                  duration_s=float(score.to(TimeUnit.second).end()), melody=melody)


def _melody_line(score: Score) -> np.ndarray:
    best, best_mean = None, -1.0
    for track in score.tracks:
        if track.is_drum or track.note_num() == 0:
            continue
        notes = track.notes.numpy()
        mean = float(notes["pitch"].mean())
        if mean > best_mean:
            best, best_mean = notes, mean
    if best is None:
        raise MidiError("no melody: every track with notes is a drum track", "empty")
    order = np.lexsort((-best["pitch"].astype(np.int64), best["time"]))
    time, dur = best["time"][order].astype(np.int64), best["duration"][order].astype(np.int64)
    pitch, vel = best["pitch"][order].astype(np.int64), best["velocity"][order].astype(np.int64)
    keep = np.ones(len(time), dtype=bool)
    keep[1:] = time[1:] != time[:-1]  # the highest note of each onset
    time, dur, pitch, vel = time[keep], dur[keep], pitch[keep], vel[keep]
    if len(time) > 1:  # one line: a note ends where the next begins
        dur[:-1] = np.minimum(dur[:-1], time[1:] - time[:-1])
    return np.stack([time, np.maximum(dur, 1), pitch, vel], axis=1)


def melody_notes(upload: Upload, plan: Plan) -> list[Note]:
    """The upload's melody on ``plan``'s grid: 16th onsets and durations, inside the plan's bars."""
    tpq = int(upload.score.ticks_per_quarter)
    per_step = tpq / STEPS_PER_QUARTER
    bar_steps = plan.bar_steps
    out: list[Note] = []
    last = -1
    for onset, dur, pitch, vel in upload.melody.tolist():
        step = int(round(onset / per_step))
        if step <= last:  # two onsets on one 16th: the first (highest) stays
            continue
        bar, pos = divmod(step, bar_steps)
        if bar >= plan.request.bars:
            break
        length = max(1, min(int(round(dur / per_step)), bar_steps - pos))
        out.append((bar, pos, int(pitch), length, int(vel)))
        last = step
    if not out:
        raise MidiError(f"no melody notes in the first {plan.request.bars} bars", "empty")
    return out
