"""Film scoring's tension control: a number 0..1, or a curve over the bars, for the sampler and the arranger.

A request's ``tension`` is one number (every bar the same) or a list of breakpoints spread evenly over
the bars and joined by straight lines: ``[0, 1]`` ramps from the first bar to the last, ``[0, 0, 1]``
holds still for half the cue and then builds, a list as long as the piece gives each bar its value.
:func:`bar_curve` makes the per-bar values a :class:`~training.request.Plan` carries (empty when the
tension is 0 throughout: then nothing here runs and the piece is the one written without it).

What a bar at tension ``t`` changes (every hook returns at once where the plan has no tension):

* **harmony**: the bar's chord gains tension tones as ``t`` rises (:func:`chord_tones`): the ninth,
  then the seventh, then the tritone (#11). The masks that read a chord's tones
  (the harmony plays them, the melody's main notes rest on them) then write clusters, added-note
  chords and appoggiaturas: dissonant intervals among the notes that sound together (a flat ninth as
  well made the share of dissonant pairs overshoot the brief's ~35 % at tension 1, so it is left out);
* **register**: the harmony's and the bass's floors drop (:func:`floor`) and their pitches lean down
  (:func:`pitch_bias`); the melody leans to the tension tones over the triad's;
* **rhythm**: the melody's onsets lean to the off-beat 16ths and its durations to short ones, the
  harmony moves on 16ths (:func:`harmony_grid`) and the bass may move on eighths (:func:`bass_step`):
  the gaps between onsets keep changing;
* **drums** (the arranger, :func:`drums`): 16th hats, kicks and toms at irregular places drawn from the
  piece's seed, louder hits.

Measured from the notes by :mod:`training.tension_measure`; ``python -m training.tension_report``
prints the figures at 0, 0.5 and 1 and for a ramped cue.
"""

from __future__ import annotations

import random
from functools import lru_cache

import numpy as np

TENSION_MAX_POINTS = 64
# Tension tones, in the order they join a chord as the tension rises (intervals above the root), and the
# tension from which each one joins: the ninth, the chord's seventh (major or minor, whichever it lacks),
# the tritone (#11).
ADDED = ((0.25, "9"), (0.5, "7"), (0.8, "#11"))
FLOOR_DROP = {"harmony": 3, "bass": 2}  # semitones the role's lowest pitch drops at tension 1
LOW_BIAS = 0.6  # logit per octave above the role's floor, taken off at tension 1 (harmony, bass)
TENSE_TONE_BIAS = 1.6  # logit added to the melody's tension tones at tension 1
SYNC_BIAS = 2.2  # logit added to the melody's off-beat 16th onsets at tension 1
SHORT_BIAS = 0.8  # logit per doubling of a melody note's length, taken off at tension 1
GRID_FROM = 0.45  # from this tension the harmony moves on 16ths
BASS_EIGHTHS_FROM = 0.4  # and from this one the bass may move on eighths


def bar_curve(tension: float | list[float] | tuple[float, ...] | None, bars: int) -> tuple[float, ...]:
    """Per-bar tension from a number or breakpoints spread evenly over the bars; () when it is 0 throughout."""
    if tension is None:
        return ()
    points = [float(tension)] if isinstance(tension, (int, float)) else [float(v) for v in tension]
    if not points or bars < 1:
        return ()
    if len(points) == 1 or bars == 1:
        curve = [points[0] if len(points) == 1 else points[-1]] * bars
    else:
        where = np.linspace(0.0, 1.0, len(points))
        curve = np.interp(np.linspace(0.0, 1.0, bars), where, points).tolist()
    curve = tuple(round(min(1.0, max(0.0, v)), 4) for v in curve)
    return curve if any(curve) else ()


def check(tension) -> None:
    """One-line ValueError for a tension that is not a number or breakpoints within 0..1."""
    points = [tension] if isinstance(tension, (int, float)) else list(tension)
    if not points or len(points) > TENSION_MAX_POINTS:
        raise ValueError(f"give a number 0..1 or 1..{TENSION_MAX_POINTS} breakpoints")
    for v in points:
        if not 0.0 <= float(v) <= 1.0:
            raise ValueError(f"must be within 0..1, got {v}")


def at(plan, bar: int) -> float:
    """The tension of ``bar`` (0 without a curve)."""
    curve = plan.tension
    return curve[bar] if curve and bar < len(curve) else 0.0


# -- harmony: tension tones ---------------------------------------------------------------------------
@lru_cache(maxsize=2048)
def chord_tones(root: int, intervals: tuple[int, ...], t: float) -> frozenset:
    """The chord's pitch classes with the tension tones that ``t`` adds (see :data:`ADDED`)."""
    pcs = {(root + i) % 12 for i in intervals}
    minor = 3 in intervals and 4 not in intervals
    for start, name in ADDED:
        if t < start:
            break
        if name == "9":
            pcs.add((root + 2) % 12)
        elif name == "7":
            if (root + 10) % 12 not in pcs and (root + 11) % 12 not in pcs:
                pcs.add((root + (10 if minor else 11)) % 12)
        elif name == "#11":
            pcs.add((root + 6) % 12)
    return frozenset(pcs)


# -- the sampler's hooks (training.masks) -------------------------------------------------------------
def floor(s, lo: int) -> int:
    """The role's lowest pitch in this bar: lowered by up to :data:`FLOOR_DROP` as the tension rises."""
    t = at(s.plan, s.bar)
    drop = FLOOR_DROP.get(s.role, 0)
    return max(0, lo - int(round(drop * t))) if t and drop else lo


def harmony_grid(s, grid: int) -> int:
    return 1 if at(s.plan, s.bar) >= GRID_FROM else grid


def bass_step(s, beat: int) -> int:
    return min(beat, 2) if at(s.plan, s.bar) >= BASS_EIGHTHS_FROM else beat


def pitch_bias(s, size: int) -> np.ndarray | None:
    """Harmony and bass lean down (a logit per octave above their floor); the melody leans to the bar's
    tension tones (those of :func:`chord_tones` that the plain chord lacks)."""
    if not s.plan.tension:
        return None
    t = at(s.plan, s.bar)
    if not t:
        return None
    if s.role == "melody":
        return _tense_bias(s.root, s.quality, round(t, 2), size)
    lo = s.plan.registers[s.role][0]
    return _low_bias(lo, round(t, 2), size)


@lru_cache(maxsize=512)
def _low_bias(lo: int, t: float, size: int) -> np.ndarray:
    pitch = np.arange(size) - 1
    b = (-LOW_BIAS * t * np.maximum(pitch - lo, 0) / 12.0).astype(np.float32)
    return b


@lru_cache(maxsize=512)
def _tense_bias(root: int, quality: str, t: float, size: int) -> np.ndarray:
    from lake.chords import QUALITIES

    plain = {(root + i) % 12 for i in QUALITIES[quality]}
    tense = chord_tones(root, tuple(QUALITIES[quality]), t) - plain
    b = np.zeros(size, dtype=np.float32)
    b[np.isin((np.arange(size) - 1) % 12, list(tense))] = TENSE_TONE_BIAS * t
    return b


def pos_bias(s, size: int) -> np.ndarray | None:
    """The melody's onsets lean to the off-beat 16ths (between the eighths)."""
    if not s.plan.tension:
        return None
    t = at(s.plan, s.bar)
    return _sync_bias(round(t, 2), s.plan.bar_steps, size) if t else None


@lru_cache(maxsize=256)
def _sync_bias(t: float, bar_steps: int, size: int) -> np.ndarray:
    b = np.zeros(size, dtype=np.float32)
    b[1 + np.arange(1, min(bar_steps, size - 1), 2)] = SYNC_BIAS * t
    return b


def dur_bias(s, size: int) -> np.ndarray | None:
    """The melody's notes lean short: each doubling of a length costs."""
    if not s.plan.tension:
        return None
    t = at(s.plan, s.bar)
    return _short_bias(round(t, 2), size) if t else None


@lru_cache(maxsize=128)
def _short_bias(t: float, size: int) -> np.ndarray:
    steps = np.maximum(np.arange(size), 1)  # shifted value d is a length of d steps (0: unset)
    b = (-SHORT_BIAS * t * np.log2(steps)).astype(np.float32)
    return b


# -- the arranger's hooks (training.arranger) ---------------------------------------------------------
KICK, SNARE, CLOSED_HAT, LOW_TOM, HIGH_TOM, CRASH = 36, 38, 42, 45, 50, 49


def drums(plan, part: list) -> list:
    """The drum part with each bar's tension added: 16th hats from :data:`GRID_FROM`, kicks, snares and toms
    on irregular 16ths (drawn from the piece's seed, a different set each bar), every hit louder."""
    if not plan.tension:
        return part
    rng = random.Random(f"tension-drums-{plan.request.seed}")
    out = []
    for bar, pos, pitch, dur, vel in part:
        t = at(plan, bar)
        out.append((bar, pos, pitch, dur, min(127, int(vel + 24 * t))))
    taken = {(b, p) for b, p, *_ in part}
    for bar in range(plan.request.bars):
        t = at(plan, bar)
        if not t:
            continue
        if t >= GRID_FROM:  # the hats fill in the 16ths between the eighths
            out += [(bar, pos, CLOSED_HAT, 1, int(48 + 20 * t)) for pos in range(1, plan.bar_steps, 2)
                    if (bar, pos) not in taken]
        n = int(round(7 * t))  # irregular hits: kicks, a snare, toms: as many as the tension says
        spots = rng.sample(range(plan.bar_steps), min(n, plan.bar_steps))
        for i, pos in enumerate(sorted(spots)):
            pitch = (KICK, SNARE, LOW_TOM, KICK, HIGH_TOM)[i % 5]
            out.append((bar, pos, pitch, 1, int(70 + 40 * t)))
    return sorted(out)


def double_register(plan, role: str, register: tuple[int, int]) -> tuple[int, int]:
    """Where an arranger's doubling of ``role`` sits: an octave lower at the piece's highest tension over 0.5."""
    top = max(plan.tension) if plan.tension else 0.0
    if top <= 0.5 or role == "drums":
        return register
    return max(0, register[0] - 12), max(11, register[1] - 12)
