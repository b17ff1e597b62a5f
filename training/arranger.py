"""Rule-based parts for roles the data cannot teach: drums, and doublings of a role by a second instrument.

The demo corpus (chorales, folk tunes, quartets) has almost no drum tracks, so a drum part is
written from a pattern per style and meter; every result says per track that the arranger, not
the model, wrote it. The melody never comes from here.
"""

from __future__ import annotations

from training import tension
from training.request import Plan

KICK, SNARE, CLOSED_HAT, RIDE, SIDE_STICK, CRASH = 36, 38, 42, 51, 37, 49
TOMS = (50, 48, 47, 45)  # high, high-mid, low-mid, low: a fill goes down them
Notes = list[tuple[int, int, int, int, int]]  # (bar, pos, pitch, dur, velocity) on the 16th grid

# Styles that want a light kit (ride and side stick) rather than a backbeat.
_LIGHT = {"jazz", "classical", "ambient", "film", "folk"}


def drums(plan: Plan) -> Notes:
    """A drum part: the downbeat on the kick, a backbeat (or the meter's main beats), a pulse on the hats;
    a fill on the toms over the last beat of a phrase, and a crash on the downbeat of the next one."""
    style = plan.request.style
    light = style in _LIGHT
    hat = RIDE if light else CLOSED_HAT
    back = SIDE_STICK if light else SNARE
    compound = plan.denominator == 8 and plan.numerator % 3 == 0
    beat = 6 if compound else 16 // plan.denominator  # steps per beat: a dotted quarter, else the denominator
    beats = max(1, plan.bar_steps // beat)
    pulse = 2  # the hats on eighths
    bars = plan.request.bars
    out: Notes = []
    for bar in range(bars):
        fill = beats >= 2 and bar < bars - 1 and plan.phrase_end(bar)
        fill_from = (beats - 1) * beat if fill else plan.bar_steps
        for b in range(beats):
            pos = b * beat
            if pos >= fill_from:
                break
            if b == 0:
                out.append((bar, pos, KICK, 2, 100))
                if bar and plan.phrase_end(bar - 1) and beats >= 2:
                    out.append((bar, pos, CRASH, 8, 72 if light else 96))
            elif beats == 4 and b == 2:
                out.append((bar, pos, KICK, 2, 88))
            if (beats == 4 and b in (1, 3)) or (beats == 2 and b == 1) or (beats == 3 and b in (1, 2)) \
                    or (beats not in (2, 3, 4) and b % 2 == 1):
                out.append((bar, pos, back, 2, 84 if b != 2 else 76))
        for pos in range(0, fill_from, pulse):
            accent = 78 if pos % beat == 0 else 60
            out.append((bar, pos, hat, 1, accent))
        if fill:  # down the toms in 16ths (eighths in light styles), getting louder into the next phrase
            step = 2 if light else 1
            hits = list(range(fill_from, plan.bar_steps, step))
            for i, pos in enumerate(hits):
                tom = TOMS[min(len(TOMS) - 1, i * len(TOMS) // len(hits))]
                out.append((bar, pos, tom, step, (60 if light else 80) + 4 * i))
    return tension.drums(plan, out) if plan.tension else out  # film scoring: denser, irregular, louder


def double(part: Notes, program: int, register: tuple[int, int] = (40, 84)) -> Notes:
    """A copy of ``part`` for another instrument, moved by octaves into ``register``."""
    if not part:
        return []
    lo, hi = register
    mean = sum(p for _, _, p, _, _ in part) / len(part)
    shift = 0
    while mean + shift > hi:
        shift -= 12
    while mean + shift < lo:
        shift += 12
    return [(bar, pos, min(127, max(0, pitch + shift)), dur, max(1, vel - 8)) for bar, pos, pitch, dur, vel in part]
