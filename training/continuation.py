"""Writing on from a user's own music: continue an uploaded piece by N bars, or write bars i..j of it anew.

Both read the upload as the model reads music: its pitched tracks take the roles (the highest line is
the melody, the lowest, when it sits low, the bass, the fullest other track the harmony), their notes
on the 16th grid of the upload's own bars (a track named "melody" or "vocal" is the melody), the key the notes say (music21's analyzer), the tempo and
meter the file declares, a chord per bar read from the notes (:func:`training.analysis.chords_per_bar`),
each role's register from its notes. The sampler is given the context bars (the role's notes are fed
as they are) and writes only the bars asked for (``Plan.fill``), under the same masks as any piece.

* :func:`continue_piece`: the last ``context_bars`` bars are the context; the new bars follow the
  upload's last bar line, over the chords of its last phrase (ending on the tonic). Drum tracks go on
  with the upload's last bar of drums. The result is the upload, untouched, with the new bars after it.
* :func:`infill`: bars ``first..last`` (1-based, inclusive) of one pitched track, or of every track,
  are written anew over the upload's own chords of those bars, the ``context_bars`` before them as
  context. Every other note of the file is kept as it was (time, length, pitch, velocity). A note of a
  rewritten track that starts before the region and rings into it is kept (it is the upload's); new
  notes end by the region's end. A melody written alone is lifted by octaves, a bar at a time, where it
  would sound under the kept accompaniment (:func:`over_the_kept`). With ``track=None`` every pitched track is rewritten (a
  role's other tracks double the role's new part) and drum tracks repeat the bar before the region.

Measured (joins, key, tempo, realism of new bars against the context) by ``python -m
training.continuation_report``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass

import numpy as np
from symusic import Note, Score

from lake.vocab import instrument_name, parse_chord
from training.arranger import double
from training.realism import grid_offset
from training.request import BPM_MAX, BPM_MIN, STEPS_PER_QUARTER, PieceRequest, TrackPlan, parse_time_signature

CONTEXT_BARS = 8
MAX_NEW_BARS = 32
LOW_MEAN = 55  # a track whose mean pitch is under this (G3) is the bass when it is not the melody
ROLE_ORDER = ("melody", "harmony", "bass")
MELODY_NAMES = {"melody", "vocal", "vocals", "voice", "lead", "lead vocal"}


class ContinuationError(ValueError):
    """The upload cannot be continued or infilled as asked (one line, for a 422)."""


@dataclass
class Reading:
    """An upload as the sampler sees it."""

    score: Score
    tpq: int
    numerator: int
    denominator: int
    bar_ticks: int
    bar_steps: int
    step_ticks: float
    n_bars: int
    bpm: float
    key: str
    roles: dict[str, int]  # role -> the index of its main track
    extra: dict[int, str]  # other pitched tracks -> the role they double
    drums: list[int]  # drum track indices
    chords: list[str]  # per bar, a label parse_chord reads ("C:maj", or the key's tonic where "N")
    offset: int = 0  # ticks from 0 to the first bar line: the offset from the 16th grid most onsets share
    first_bar: int = 0  # the upload's number (from 0) of this reading's bar 0: earlier bars are in another meter
    total_bars: int | None = None  # the upload's bars in every meter (None: n_bars)


def meter_sections(score: Score) -> list[tuple[int, int, int]]:
    """(start tick, numerator, denominator) of each stretch of the upload in one meter, in order: every time
    signature the file declares, a repeat of the meter before it left out, and one-beat bars (1/4: POP909
    declares no meter) left out."""
    out: list[tuple[int, int, int]] = []
    for ts in sorted(score.time_signatures, key=lambda t: int(t.time)):
        num, den = int(ts.numerator), int(ts.denominator)
        if num == 1:
            continue
        if out and out[-1][0] == int(ts.time):
            out[-1] = (int(ts.time), num, den)
        elif not out or (out[-1][1], out[-1][2]) != (num, den):
            out.append((int(ts.time), num, den))
    return out


def _section_reading(score: Score, sections: list[tuple[int, int, int]], bar: int | None) -> Reading:
    """The reading of the meter section holding the upload's bar ``bar`` (from 0; None: the last section):
    its bars laid from its own time signature, its chords from its own notes."""
    from training.analysis import chords_per_bar

    tpq = int(score.ticks_per_quarter)
    pitched = [t for t in score.tracks if not t.is_drum and t.note_num()]
    if not pitched:
        raise ContinuationError("the upload has no pitched notes")
    end = max(int((t.notes.numpy()["time"] + t.notes.numpy()["duration"]).max()) for t in pitched)
    counts, first = [], 0
    for k, (start, num, den) in enumerate(sections):
        bar_ticks = num * 4 * tpq // den
        stop = sections[k + 1][0] if k + 1 < len(sections) else max(end, start + 1)
        counts.append((first, max(1, math.ceil((stop - start) / bar_ticks))))
        first += counts[-1][1]
    k = len(sections) - 1
    if bar is not None:
        k = next((i for i, (g, n) in enumerate(counts) if g <= bar < g + n), k)
    start, num, den = sections[k]
    try:
        parse_time_signature(f"{num}/{den}")
    except ValueError as e:
        raise ContinuationError(f"the upload's meter: {e}") from None
    base = _read_roles(score, num, den, start)
    n_bars = counts[k][1]
    section = score.clip(start, start + n_bars * base.bar_ticks).shift_time(-start)
    tonic_chord = base.key.split()[0] + (":min" if base.key.endswith("minor") else ":maj")
    labels = chords_per_bar(section, num, den, bars=n_bars)
    return dataclasses.replace(base, n_bars=n_bars, first_bar=counts[k][0], total_bars=first,
                               chords=[c if c != "N" and _readable(c) else tonic_chord for c in labels])


def read(score: Score, bar: int | None = None) -> Reading:
    """Roles, grid, key, tempo, meter and chords of an upload; ContinuationError for one that cannot be read so.
    An upload that changes meter is read one meter at a time (:func:`meter_sections`): the section holding its
    bar ``bar`` (from 0), or its last section (the one a continuation goes on from)."""
    from training.analysis import chords_per_bar

    sections = meter_sections(score)
    if len(sections) > 1:
        return _section_reading(score, sections, bar)
    num, den = 4, 4
    if len(score.time_signatures):
        ts = score.time_signatures[-1]
        num, den = int(ts.numerator), int(ts.denominator)
    if num == 1:  # a one-beat "bar" (POP909 declares 1/4) is no meter: the one the accents imply
        from training.analysis import meter_estimate

        num, den = (int(x) for x in (meter_estimate(score) or "4/4").split("/"))
    try:
        parse_time_signature(f"{num}/{den}")
    except ValueError as e:
        raise ContinuationError(f"the upload's meter: {e}") from None
    r = _read_roles(score, num, den, None)
    key = r.key
    tonic_chord = key.split()[0] + (":min" if key.endswith("minor") else ":maj")
    labels = chords_per_bar(score, num, den, bars=r.n_bars)
    return dataclasses.replace(r, chords=[c if c != "N" and _readable(c) else tonic_chord for c in labels])


def _read_roles(score: Score, num: int, den: int, start: int | None) -> Reading:
    """A reading in ``num``/``den`` with bars from ``start`` (None: the grid offset most onsets share), its
    chords not yet read."""
    from training.analysis import analyzed_key

    tpq = int(score.ticks_per_quarter)
    bar_ticks = num * 4 * tpq // den
    pitched = [(i, t) for i, t in enumerate(score.tracks) if not t.is_drum and t.note_num()]
    if not pitched:
        raise ContinuationError("the upload has no pitched notes")
    means = {i: float(t.notes.numpy()["pitch"].mean()) for i, t in pitched}
    named = [i for i, t in pitched if t.name.strip().lower() in MELODY_NAMES]
    melody = named[0] if named else max(means, key=means.get)  # a track called "melody" (POP909), else the highest
    rest = [i for i, _ in pitched if i != melody]
    roles = {"melody": melody}
    low = min(rest, key=means.get) if rest else None
    if low is not None and means[low] < LOW_MEAN:
        roles["bass"] = low
        rest.remove(low)
    if rest:
        roles["harmony"] = max(rest, key=lambda i: score.tracks[i].note_num())
    extra = {i: ("harmony" if i != roles.get("bass") else "bass") for i in rest if i != roles.get("harmony")}
    arrays = [t.notes.numpy() for _, t in pitched]
    end = max(int((a["time"] + a["duration"]).max()) for a in arrays)  # notes only (controls may run on)
    offset = grid_offset(np.concatenate([a["time"] for a in arrays]), tpq) if start is None else start
    n_bars = max(1, math.ceil((end - offset) / bar_ticks))
    bpm = float(score.tempos[-1].qpm) if len(score.tempos) else 120.0
    key = analyzed_key(score.dumps_midi()) or "C major"
    chords: list[str] = []
    return Reading(score=score, tpq=tpq, numerator=num, denominator=den, bar_ticks=bar_ticks,
                   bar_steps=num * STEPS_PER_QUARTER * 4 // den, step_ticks=tpq / STEPS_PER_QUARTER,
                   n_bars=n_bars, bpm=min(BPM_MAX, max(BPM_MIN, bpm)), key=key, roles=roles, extra=extra,
                   drums=[i for i, t in enumerate(score.tracks) if t.is_drum and t.note_num()], chords=chords,
                   offset=offset)


def _readable(label: str) -> bool:
    try:
        parse_chord(label)
        return True
    except ValueError:
        return False


def grid_notes(r: Reading, track: int, first_bar: int, last_bar: int, skip: tuple[int, int] | None = None) -> list:
    """A track's notes in bars ``first_bar..last_bar`` on the 16th grid, renumbered from ``first_bar``, one per
    16th (the highest), each kept inside its bar; ``skip``: a range of bars left out."""
    arr = r.score.tracks[track].notes.numpy()
    order = np.lexsort((-arr["pitch"].astype(np.int64), arr["time"]))
    out, taken = [], set()
    for i in order:
        step = int(round((int(arr["time"][i]) - r.offset) / r.step_ticks))
        bar, pos = divmod(step, r.bar_steps)
        if pos >= r.bar_steps or not first_bar <= bar <= last_bar or (skip and skip[0] <= bar <= skip[1]):
            continue
        if (step, int(arr["pitch"][i])) in taken:
            continue
        taken.add((step, int(arr["pitch"][i])))
        dur = max(1, min(int(round(int(arr["duration"][i]) / r.step_ticks)), r.bar_steps - pos))
        out.append((bar - first_bar, pos, int(arr["pitch"][i]), dur, max(1, int(arr["velocity"][i]))))
    return sorted(out)


def _register(notes: list, default: tuple[int, int]) -> tuple[int, int]:
    if not notes:
        return default
    lo, hi = min(n[2] for n in notes), max(n[2] for n in notes)
    if hi - lo < 12:  # at least an octave, around the notes
        pad = (12 - (hi - lo) + 1) // 2
        lo, hi = max(0, lo - pad), min(127, hi + pad)
    return lo, hi


def _plan(r: Reading, roles: dict[str, int], chords: list[str], given: dict, fill: dict, seed: int,
          temperature: float, style: str, cadence: bool):
    req = PieceRequest(style=style, bpm=r.bpm, key=r.key, time_signature=f"{r.numerator}/{r.denominator}",
                       chords=chords, bars=len(chords), cadence=cadence, seed=seed, temperature=temperature,
                       structure="A", repetition=0.0)
    plan = req.resolve()
    tracks = tuple(TrackPlan(role, instrument_name(r.score.tracks[i].program), int(r.score.tracks[i].program))
                   for role, i in sorted(roles.items(), key=lambda kv: ROLE_ORDER.index(kv[0])))
    registers = {role: _register(given.get(role, []), plan.registers[role]) for role in plan.registers}
    return dataclasses.replace(plan, tracks=tracks, registers=registers, fill=fill)


def _sample(generator, plan, given: dict):
    from training.sample import sample

    engine = generator._engine() if generator.fast else False
    return sample(generator.model, plan, plan.request.seed, plan.request.temperature, given=given, fast=engine)


def _add(track, notes: list, origin: int, r: Reading) -> int:
    """Grid notes (bar counted from ``origin``'s bar) into a symusic track; returns how many."""
    for bar, pos, pitch, dur, vel in notes:
        start = origin + bar * r.bar_ticks + int(round(pos * r.step_ticks))
        track.notes.append(Note(start, max(1, int(round(dur * r.step_ticks))), int(pitch), int(vel)))
    return len(notes)


@dataclass
class Written:
    """The piece written and where: ``region`` is the 1-based inclusive bar range written anew."""

    score: Score
    reading: Reading
    region: tuple[int, int]
    written: dict[int, int]  # track index -> new notes
    n_steps: int


def continue_piece(score: Score, generator, bars: int, seed: int, context_bars: int = CONTEXT_BARS,
                   temperature: float = 0.9, style: str = "pop") -> Written:
    """The upload with ``bars`` new bars after its last bar line (see the module docstring)."""
    if not 1 <= bars <= MAX_NEW_BARS:
        raise ContinuationError(f"bars must be 1..{MAX_NEW_BARS}, got {bars}")
    r = read(score)
    k = max(1, min(context_bars, r.n_bars))
    first = r.n_bars - k
    given = {role: grid_notes(r, i, first, r.n_bars - 1) for role, i in r.roles.items()}
    phrase = r.chords[first:][-4:]
    new_chords = [phrase[i % len(phrase)] for i in range(bars)]
    chords = r.chords[first:] + new_chords
    fill = {role: frozenset(range(k, k + bars)) for role in r.roles}
    plan = _plan(r, r.roles, chords, given, fill, seed, temperature, style, cadence=True)
    sampled = _sample(generator, plan, given)
    out = copy.deepcopy(score)
    origin = r.offset + r.n_bars * r.bar_ticks
    written = {}
    for role, i in r.roles.items():
        new = [(b - k, p, pi, d, v) for b, p, pi, d, v in sampled.notes.get(role, []) if b >= k]
        written[i] = _add(out.tracks[i], new, origin, r)
    for i in r.drums:  # the drums go on with the upload's last bar of drums
        arr = score.tracks[i].notes.numpy()
        last = (arr["time"] >= r.offset + (r.n_bars - 1) * r.bar_ticks)
        n = 0
        for b in range(bars):
            for t, d, p, v in zip(arr["time"][last], arr["duration"][last], arr["pitch"][last], arr["velocity"][last]):
                out.tracks[i].notes.append(Note(int(t) + (b + 1) * r.bar_ticks, int(d), int(p), int(v)))
                n += 1
        written[i] = n
    for t in out.tracks:
        t.notes.sort()
    return Written(out, r, (r.first_bar + r.n_bars + 1, r.first_bar + r.n_bars + bars), written, sampled.n_steps)


def over_the_kept(notes: list, score: Score, melody: int, origin: int, r: Reading, ceiling: int) -> list:
    """Grid melody notes (bars from ``origin``'s) lifted, a bar at a time, by the fewest octaves (none, one or two,
    every note staying up to ``ceiling``) that put the most of the bar's notes above every note of the score's
    other pitched tracks sounding at their onsets: a tune written alone over a kept accompaniment is heard on
    top of it (the sampler's masks keep only a sampled accompaniment under a tune), and its steps inside a bar
    stay steps."""
    spans = []
    for i, t in enumerate(score.tracks):
        if i == melody or t.is_drum or not t.note_num():
            continue
        a = t.notes.numpy()
        spans.append((a["time"].astype(np.int64), (a["time"] + a["duration"]).astype(np.int64), a["pitch"]))

    def top(at: int) -> int:
        tops = [int(p[(s <= at) & (e > at)].max()) for s, e, p in spans if ((s <= at) & (e > at)).any()]
        return max(tops, default=-1)

    by_bar: dict[int, list] = {}
    for n in notes:
        by_bar.setdefault(n[0], []).append(n)
    out = []
    for bar, group in sorted(by_bar.items()):
        under = [top(origin + bar * r.bar_ticks + int(round(pos * r.step_ticks))) for _, pos, _, _, _ in group]
        best, lift = -1, 0
        for k in (0, 12, 24):
            if any(n[2] + k > ceiling for n in group):
                break
            over = sum(n[2] + k > u for n, u in zip(group, under))
            if over > best:
                best, lift = over, k
        out += [(b, pos, pitch + lift, dur, vel) for b, pos, pitch, dur, vel in group]
    return out


def infill(score: Score, generator, first: int, last: int, seed: int, track: int | None = None,
           context_bars: int = CONTEXT_BARS, temperature: float = 0.9, style: str = "pop") -> Written:
    """Bars ``first..last`` (1-based, inclusive) of ``track`` (an index into the upload's tracks; None: every
    track) written anew, every other note kept (see the module docstring)."""
    r = read(score, bar=first - 1)
    total = r.total_bars or r.n_bars
    if not 1 <= first <= last <= total:
        raise ContinuationError(f"bars {first}..{last}: the upload has bars 1..{total}")
    if not r.first_bar < first <= last <= r.first_bar + r.n_bars:
        raise ContinuationError(f"bars {first}..{last} cross a change of meter (bars {r.first_bar + 1}.."
                                f"{r.first_bar + r.n_bars} are in {r.numerator}/{r.denominator}): infill one meter "
                                "at a time")
    first, last = first - r.first_bar, last - r.first_bar  # bars of the reading's meter section
    asked = (first + r.first_bar, last + r.first_bar)
    if last - first + 1 > MAX_NEW_BARS:
        raise ContinuationError(f"at most {MAX_NEW_BARS} bars at once, asked for {last - first + 1}")
    if track is not None:
        if not 0 <= track < len(score.tracks) or not score.tracks[track].note_num():
            raise ContinuationError(f"track {track}: the upload's tracks with notes are "
                                    f"{[i for i, t in enumerate(score.tracks) if t.note_num()]}")
        if score.tracks[track].is_drum:
            raise ContinuationError(f"track {track} is a drum track: infill rewrites pitched tracks")
    i0, j0 = first - 1, last - 1
    c0 = max(0, i0 - context_bars)
    roles = dict(r.roles)
    if track is not None:
        role = next((ro for ro, i in r.roles.items() if i == track), None) or r.extra[track]
        roles[role] = track  # the chosen track speaks for its role
        targets = {role: track}
    else:
        targets = dict(roles)
    given = {role: grid_notes(r, i, c0, j0) for role, i in roles.items()}
    fill = {role: frozenset(range(i0 - c0, j0 - c0 + 1)) for role in targets}
    plan = _plan(r, roles, r.chords[c0:j0 + 1], given, fill, seed, temperature, style, cadence=False)
    sampled = _sample(generator, plan, given)
    out = copy.deepcopy(score)
    lo_tick, hi_tick = r.offset + i0 * r.bar_ticks, r.offset + (j0 + 1) * r.bar_ticks
    rewrite = set(targets.values()) | (set(r.extra) if track is None else set())
    for i in rewrite:  # the rewritten tracks lose the notes that start in the region
        kept = [n for n in out.tracks[i].notes if not lo_tick <= n.time < hi_tick]
        out.tracks[i].notes.clear()
        for n in kept:
            out.tracks[i].notes.append(n)
    written = {}
    parts = {}
    for role, i in targets.items():
        new = [(b - (i0 - c0), p, pi, d, v) for b, p, pi, d, v in sampled.notes.get(role, []) if i0 - c0 <= b]
        if role == "melody" and track is not None:  # a new tune over a kept accompaniment stays on top of it
            new = over_the_kept(new, out, i, lo_tick, r, min(127, plan.registers["melody"][1] + 12))
        parts[role] = new
        written[i] = _add(out.tracks[i], new, lo_tick, r)
    if track is None:
        for i, role in r.extra.items():  # a role's other tracks double its new part in their own register
            own = [n.pitch for n in score.tracks[i].notes]
            reg = (min(own), max(max(own), min(own) + 11)) if own else (40, 84)
            written[i] = _add(out.tracks[i], double(parts.get(role, []), int(score.tracks[i].program), reg),
                              lo_tick, r)
        src = i0 - 1 if i0 > 0 else j0 + 1
        for i in r.drums:  # drum tracks: the bar before the region (after it, for bar 1), once per bar
            arr = score.tracks[i].notes.numpy()
            if src >= r.n_bars:
                continue
            kept = [n for n in out.tracks[i].notes if not lo_tick <= n.time < hi_tick]
            out.tracks[i].notes.clear()
            for n in kept:
                out.tracks[i].notes.append(n)
            sel = (arr["time"] >= r.offset + src * r.bar_ticks) & (arr["time"] < r.offset + (src + 1) * r.bar_ticks)
            n_new = 0
            for b in range(i0, j0 + 1):
                for t, d, p, v in zip(arr["time"][sel], arr["duration"][sel], arr["pitch"][sel], arr["velocity"][sel]):
                    start = int(t) + (b - src) * r.bar_ticks
                    out.tracks[i].notes.append(Note(start, int(min(d, hi_tick - start)), int(p), int(v)))
                    n_new += 1
            written[i] = n_new
    for t in out.tracks:
        t.notes.sort()
    return Written(out, r, asked, written, sampled.n_steps)
