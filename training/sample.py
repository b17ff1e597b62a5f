"""Constrained sampling of note steps: the model writes the notes, small named masks keep them on the request.

The loop walks the plan bar by bar. Each bar starts with a BAR step carrying the requested chord
(a control, never sampled). Then each role in turn: a *given* role (infilling: notes the caller
already has) is fed as it is; a *sampled* role draws notes one step at a time:

* ``continue``: the model's probability that the next step is another note of this role (kind NOTE
  and this role), until the role has its minimum notes in the bar, reaches its cap or the bar ends;
* ``pos``: not before the role's previous onset (a melody strictly after: it is one line), inside the bar;
  harmony and bass strike on the beats (dotted quarters in 6/8, 9/8, 12/8), their first note on the downbeat;
* ``dur``: ends inside the bar (drawn before the pitch, which depends on it);
* ``pitch``: the role's register; the key's scale for the melody (harmonic minor in minor keys; the
  bar's chord tones are always allowed), the bar's chord tones for its
  notes on strong beats or held a beat or more, and for harmony and bass (the bass starts on the
  root); harmony covers the chord's tones before it repeats any; a closing tonic bar puts the
  melody's main notes on the keynote;
* ``vel``: free.

Everything is one forward step per note with a KV cache (``use_cache=False`` recomputes the whole
context every step, for the benchmark). When the context outgrows the model's block, the cache is
rebuilt from the prelude and the most recent steps (RoPE positions are relative, so this is the
same picture the training windows gave).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lake.chords import QUALITIES
from lake.vocab import pitch_class, scale_pitch_classes
from training.model import NoteTransformer
from training.notes import NOTE, bar_step, bin_velocity, header, note_step, track_step
from training.request import ROLES, Plan

REGISTER = {"melody": (55, 88), "harmony": (45, 79), "bass": (28, 55)}
MIN_NOTES = {"melody": 1, "bass": 1}  # harmony plays at least every tone of its chord
MAX_NOTES = {"melody": 12, "harmony": 16, "bass": 8}
Notes = dict[str, list[tuple[int, int, int, int, int]]]  # role -> (bar, pos, pitch, dur, velocity)


@dataclass
class Sampled:
    notes: Notes
    n_steps: int  # rows the model read: the prelude, bar lines, given and sampled notes


def _beat_steps(plan: Plan) -> int:
    """16ths per beat: a dotted quarter in compound meters (6/8, 9/8, 12/8), else the denominator's note."""
    return 6 if plan.denominator == 8 and plan.numerator % 3 == 0 else 16 // plan.denominator


def _strong(pos: int, plan: Plan) -> bool:
    """Downbeats and the bar's main beats: quarters in x/4 (every other in 4/4), dotted quarters in x/8."""
    if plan.denominator == 8 and plan.numerator % 3 == 0:
        return pos % 6 == 0
    if plan.numerator == 4 and plan.denominator == 4:
        return pos % 8 == 0
    return pos % 4 == 0


class _Context:
    """The steps fed so far and the model state after them (cached or recomputed).

    The model sees the prelude plus ``rows[start:]``; when that outgrows the block, ``start`` jumps so
    the most recent half block stays. Both modes see exactly the same rows, so they write the same music.
    """

    def __init__(self, model: NoteTransformer, use_cache: bool):
        self.model, self.use_cache = model, use_cache
        self.rows: list[np.ndarray] = []
        self.prelude = 0
        self.start = 0
        self.cache = model.new_cache(capacity=model.cfg.block_size) if use_cache else None
        self.steps = 0  # rows fed (prelude, forced and sampled steps)

    def _visible(self) -> list[np.ndarray]:
        return self.rows[:self.prelude] + self.rows[max(self.start, self.prelude):]

    def feed(self, rows: list[np.ndarray]) -> torch.Tensor:
        """Append ``rows``; returns the hidden state after the last one (C,)."""
        self.rows.extend(rows)
        self.steps += len(rows)
        block = self.model.cfg.block_size
        slide = self.prelude + len(self.rows) - max(self.start, self.prelude) > block
        if slide:
            self.start = len(self.rows) - block // 2
        if not self.use_cache:
            return self.model.hidden(torch.from_numpy(np.stack(self._visible()))[None])[0, -1]
        if slide:  # rebuild the cache from what stays visible
            self.cache.reset()
            return self.model.hidden(torch.from_numpy(np.stack(self._visible()))[None], self.cache)[0, -1]
        return self.model.hidden(torch.from_numpy(np.stack(rows))[None], self.cache)[0, -1]


def _draw(logits: torch.Tensor, allowed: torch.Tensor, temperature: float, rng: torch.Generator) -> int:
    """One value from ``logits`` (V,) restricted to ``allowed`` (V,) bool; index in raw (unshifted) values."""
    lg = logits.masked_fill(~allowed, float("-inf")) / temperature
    return int(torch.multinomial(torch.softmax(lg, dim=-1), 1, generator=rng))


def _mask(size: int, values) -> torch.Tensor:
    m = torch.zeros(size, dtype=torch.bool)
    idx = [v + 1 for v in values if 0 <= v + 1 < size]
    if idx:
        m[idx] = True
    return m


@torch.no_grad()
def sample(model: NoteTransformer, plan: Plan, seed: int, temperature: float = 0.9, use_cache: bool = True,
           given: Notes | None = None) -> Sampled:
    """The notes of every model role of ``plan`` (melody, harmony, bass), bar by bar; ``given`` roles are fed."""
    model.eval()
    given = given or {}
    rng = torch.Generator().manual_seed(int(seed))
    req = plan.request
    sampled_roles = [t.role for t in plan.tracks if t.doubles is None and t.role in REGISTER and t.role not in given]
    order = [r for r in ROLES if r in given] + sampled_roles
    programs = {t.role: t.program for t in plan.tracks if t.doubles is None}
    ctx = _Context(model, use_cache)
    prelude = [header(req.style, req.bpm, req.key, req.time_signature)]
    prelude += [track_step(r, programs.get(r, 0)) for r in order]
    ctx.feed(prelude)
    ctx.prelude = len(prelude)
    scale = set(scale_pitch_classes(req.key))
    if req.key.endswith("minor"):  # harmonic minor: the leading tone, which tells a minor key from its relatives
        tonic = pitch_class(req.key.split()[0])
        scale = (scale - {(tonic + 10) % 12}) | {(tonic + 11) % 12}
    sizes = model.cfg.fields
    notes: Notes = {r: [] for r in order}
    given_by_bar = {r: {} for r in given}
    for r, evs in given.items():
        for ev in sorted(evs):
            given_by_bar[r].setdefault(ev[0], []).append(ev)
    for bar in range(req.bars):
        root, quality = plan.chord_pcs[bar]
        tones = sorted({(root + i) % 12 for i in QUALITIES[quality]})
        h = ctx.feed([bar_step(root, quality)])
        for role in order:
            ri = ROLES.index(role)
            if role in given:
                evs = given_by_bar[role].get(bar, [])
                if evs:
                    h = ctx.feed([note_step(role, p, pitch, d, v) for _, p, pitch, d, v in evs])
                    notes[role].extend(evs)
                continue
            h = _sample_role(model, ctx, h, plan, role, ri, bar, tones, root, scale, sizes, temperature, rng,
                             notes[role])
    return Sampled(notes={r: notes[r] for r in sampled_roles}, n_steps=ctx.steps)


def _sample_role(model, ctx, h, plan, role, ri, bar, tones, root, scale, sizes, temperature, rng, out) -> torch.Tensor:
    lo, hi = REGISTER[role]
    tonic = pitch_class(plan.request.key.split()[0])
    count, last_pos, last_pitch, covered = 0, -1, -1, set()
    role_t = torch.tensor(ri + 1)
    while True:
        done = len(covered) >= len(tones) if role == "harmony" else count >= MIN_NOTES[role]
        if done:
            if count >= MAX_NOTES[role] or last_pos >= plan.bar_steps - 1 and role == "melody":
                break
            p_kind = torch.softmax(model.kind_logits(h) / temperature, -1)
            p_role = torch.softmax(model.role_logits(h) / temperature, -1)
            p_more = float(p_kind[NOTE] * p_role[ri + 1])
            if float(torch.rand(1, generator=rng)) >= p_more:
                break
        # onset
        first = count == 0
        if first and role in ("harmony", "bass"):
            pos_values = [0]
        elif role == "melody":
            pos_values = range(last_pos + 1, plan.bar_steps)
        else:  # harmony and bass strike on the beats: the pulse is heard where the meter puts it
            beat = _beat_steps(plan)
            pos_values = range(max(last_pos, 0) + (-max(last_pos, 0)) % beat, plan.bar_steps, beat)
        if not pos_values:
            break
        pos = _draw(model.pos_logits(h, role_t), _mask(sizes["pos"], pos_values), temperature, rng) - 1
        pos_t = torch.tensor(pos + 1)
        pitch_l, dur_l, vel_l = model.note_logits(h, role_t, pos_t)
        dur = _draw(dur_l, _mask(sizes["dur"], range(0, min(plan.bar_steps - pos, sizes["dur"] - 1))), temperature, rng)
        # pitch: a melody note on a strong beat, or held for a beat or more, is a chord tone
        if role == "melody":
            pcs = set(tones) if _strong(pos, plan) or dur >= _beat_steps(plan) else scale | set(tones)
            if bar == plan.request.bars - 1 and root == tonic and pcs == set(tones):
                pcs = {tonic}  # a closing tonic bar: its main notes land on the keynote
        elif role == "bass" and first:
            pcs = {root}
        elif role == "harmony" and len(covered) < len(tones):
            pcs = set(tones) - covered
        else:
            pcs = set(tones)
        floor = last_pitch + 1 if (pos == last_pos and role != "melody") else lo
        candidates = [p for p in range(max(lo, floor), hi + 1) if p % 12 in pcs]
        if not candidates and role == "harmony" and len(covered) < len(tones):  # the chord comes first
            candidates = [p for p in range(lo, hi + 1) if p % 12 in pcs]
        if not candidates and pos == last_pos:  # no room above this onset's top note: a later onset
            beat = _beat_steps(plan)
            later = range(last_pos + beat - last_pos % beat, plan.bar_steps, beat)
            if not later:
                break
            pos = _draw(model.pos_logits(h, role_t), _mask(sizes["pos"], later), temperature, rng) - 1
            pos_t = torch.tensor(pos + 1)
            pitch_l, dur_l, vel_l = model.note_logits(h, role_t, pos_t)
            dur = min(dur, plan.bar_steps - pos)
            candidates = [p for p in range(lo, hi + 1) if p % 12 in pcs]
        pitch = _draw(pitch_l, _mask(sizes["pitch"], candidates), temperature, rng) - 1
        velocity = bin_velocity(_draw(vel_l, _mask(sizes["vel"], range(sizes["vel"] - 1)), temperature, rng) - 1)
        out.append((bar, pos, pitch, dur, velocity))
        h = ctx.feed([note_step(role, pos, pitch, dur, velocity)])
        count += 1
        covered.add(pitch % 12)
        last_pos, last_pitch = pos, pitch
    return h
