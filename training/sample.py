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

Two paths, one set of constraints (``_sample_role``): the baseline (``fast=False``: torch modules,
a torch mask and ``torch.multinomial`` per field) and the fast path (``fast=``a
:class:`~training.model.FastNoteModel`, or True: one-row steps and the heads in numpy on the same
weights, masks cached, each draw ``argmax(logits / T + mask - log q)`` with ``q`` the exponential
noise that torch's one-sample multinomial would draw from the same generator). The fast path
consumes the baseline's random stream value for value, so the same seed writes the same notes;
only float rounding at a near-tie between two values could differ. Multi-row feeds (the prelude,
given notes, a cache rebuild) go through the torch model on both paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from lake.chords import QUALITIES
from lake.vocab import pitch_class, scale_pitch_classes
from training.model import FastNoteModel, NoteTransformer
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


class _FastContext(_Context):
    """The cached context of the fast path: a one-row feed is a numpy step (:class:`FastNoteModel`)
    into the same KV cache; multi-row feeds (prelude, given notes, a rebuild) go through the torch
    model as in :class:`_Context`. Hidden states come back as numpy arrays."""

    def __init__(self, model: NoteTransformer, fast: FastNoteModel):
        super().__init__(model, use_cache=True)
        self.fast = fast
        self.k, self.v = self.cache.k.numpy()[:, 0], self.cache.v.numpy()[:, 0]  # views: (L, H, capacity, D)

    def feed(self, rows: list[np.ndarray]) -> np.ndarray:
        visible = self.prelude + len(self.rows) + len(rows) - max(self.start, self.prelude)
        if len(rows) != 1 or visible > self.model.cfg.block_size:
            return super().feed(rows).numpy()
        self.rows.append(rows[0])
        self.steps += 1
        h = self.fast.step(rows[0], self.k, self.v, self.cache.length)
        self.cache.length += 1
        return h


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



class _TorchHeads:
    """The baseline's field draws: torch heads, a torch mask and ``torch.multinomial`` per field."""

    def __init__(self, model: NoteTransformer, temperature: float, rng: torch.Generator):
        self.model, self.temperature, self.rng = model, temperature, rng
        self.sizes = model.cfg.fields

    def more(self, h: torch.Tensor, ri: int) -> bool:
        """Whether the next step is another note of role ``ri`` (drawn from the kind and role heads)."""
        p_kind = torch.softmax(self.model.kind_logits(h) / self.temperature, -1)
        p_role = torch.softmax(self.model.role_logits(h) / self.temperature, -1)
        p_more = float(p_kind[NOTE] * p_role[ri + 1])
        return float(torch.rand(1, generator=self.rng)) < p_more

    def pos(self, h: torch.Tensor, ri: int, values) -> int:
        return _draw(self.model.pos_logits(h, torch.tensor(ri + 1)), _mask(self.sizes["pos"], values),
                     self.temperature, self.rng) - 1

    def note(self, h: torch.Tensor, ri: int, pos: int) -> None:
        """Condition the pitch, dur and vel draws on role ``ri`` at onset ``pos``."""
        self.logits = dict(zip(("pitch", "dur", "vel"),
                               self.model.note_logits(h, torch.tensor(ri + 1), torch.tensor(pos + 1))))

    def draw(self, name: str, values) -> int:
        """Index (raw value + 1) of field ``name`` among ``values`` (raw values)."""
        return _draw(self.logits[name], _mask(self.sizes[name], values), self.temperature, self.rng)


@lru_cache(maxsize=8192)
def _np_mask(size: int, values: tuple | range) -> np.ndarray:
    """0 where a value (raw + 1) is allowed, -inf elsewhere: added to the logits."""
    m = np.full(size, -np.inf, dtype=np.float32)
    idx = [v + 1 for v in values if 0 <= v + 1 < size]
    m[idx] = 0.0
    m.flags.writeable = False
    return m


class _NumpyHeads(_TorchHeads):
    """The fast path's field draws: the heads as numpy products (:class:`FastNoteModel`), masks cached,
    and the draw of ``torch.multinomial`` done by hand: multinomial with one sample is
    ``argmax(p / q)`` with ``q`` exponential noise from the generator (its own fast path), so taking
    ``q`` from the same torch generator, value for value, keeps the random stream of the baseline;
    the argmax is taken as ``argmax(logits / T + mask - log q)`` (the same order, no softmax needed).
    Same seed, same draws, up to float rounding at a near-tie."""

    def __init__(self, model: NoteTransformer, fast: FastNoteModel, temperature: float, rng: torch.Generator):
        super().__init__(model, temperature, rng)
        self.fast = fast
        self.noise = {n: torch.empty(n) for n in set(self.sizes.values())}  # one buffer per field size
        self.noise_np = {n: t.numpy() for n, t in self.noise.items()}

    def _probs(self, logits: np.ndarray) -> np.ndarray:
        z = np.exp(logits / np.float32(self.temperature) - logits.max() / np.float32(self.temperature))
        return z / z.sum()

    def more(self, h: np.ndarray, ri: int) -> bool:
        kind, role = self.fast.more_logits(h)
        p_more = float(self._probs(kind)[NOTE] * self._probs(role)[ri + 1])
        return float(torch.rand(1, generator=self.rng)) < p_more

    def _pick(self, logits: np.ndarray, allowed: np.ndarray) -> int:
        # argmax(p / q) == argmax(log p - log q): the log-softmax's shift is common to all, so drop it,
        # and the mask is an additive 0 / -inf row
        n = logits.shape[0]
        self.noise[n].exponential_(1, generator=self.rng)
        z = logits / self.temperature + allowed - np.log(self.noise_np[n])
        i = int(z.argmax())
        if not np.isfinite(z[i]):  # nothing allowed (or NaN logits): fail as torch.multinomial does
            raise RuntimeError("invalid multinomial distribution (no value allowed)")
        return i

    def pos(self, h: np.ndarray, ri: int, values) -> int:
        return self._pick(self.fast.pos_logits(h, ri + 1), _np_mask(self.sizes["pos"], _key(values))) - 1

    def note(self, h: np.ndarray, ri: int, pos: int) -> None:
        self.logits = dict(zip(("pitch", "dur", "vel"), self.fast.note_logits(h, ri + 1, pos + 1)))

    def draw(self, name: str, values) -> int:
        return self._pick(self.logits[name], _np_mask(self.sizes[name], _key(values)))


def _key(values):
    return values if isinstance(values, range) else tuple(values)


@torch.no_grad()
def sample(model: NoteTransformer, plan: Plan, seed: int, temperature: float = 0.9, use_cache: bool = True,
           given: Notes | None = None, fast: "FastNoteModel | bool" = False) -> Sampled:
    """The notes of every model role of ``plan`` (melody, harmony, bass), bar by bar; ``given`` roles are fed.

    ``fast`` (a :class:`FastNoteModel` of ``model``, or True to make one) takes the fast path: numpy
    steps and draws, same constraints, same random stream (see the module docstring); it implies the
    KV cache. False: the baseline (torch modules every step).
    """
    model.eval()
    given = given or {}
    rng = torch.Generator().manual_seed(int(seed))
    if fast is True:
        fast = FastNoteModel(model)
    if fast:
        ctx, heads = _FastContext(model, fast), _NumpyHeads(model, fast, temperature, rng)
    else:
        ctx, heads = _Context(model, use_cache), _TorchHeads(model, temperature, rng)
    req = plan.request
    sampled_roles = [t.role for t in plan.tracks if t.doubles is None and t.role in REGISTER and t.role not in given]
    order = [r for r in ROLES if r in given] + sampled_roles
    programs = {t.role: t.program for t in plan.tracks if t.doubles is None}
    prelude = [header(req.style, req.bpm, req.key, req.time_signature)]
    prelude += [track_step(r, programs.get(r, 0)) for r in order]
    ctx.feed(prelude)
    ctx.prelude = len(prelude)
    scale = set(scale_pitch_classes(req.key))
    if req.key.endswith("minor"):  # harmonic minor: the leading tone, which tells a minor key from its relatives
        tonic = pitch_class(req.key.split()[0])
        scale = (scale - {(tonic + 10) % 12}) | {(tonic + 11) % 12}
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
            if role in given:
                evs = given_by_bar[role].get(bar, [])
                if evs:
                    h = ctx.feed([note_step(role, p, pitch, d, v) for _, p, pitch, d, v in evs])
                    notes[role].extend(evs)
                continue
            h = _sample_role(heads, ctx, h, plan, role, bar, tones, root, scale, notes[role])
    return Sampled(notes={r: notes[r] for r in sampled_roles}, n_steps=ctx.steps)


def _sample_role(heads: _TorchHeads, ctx: _Context, h, plan, role, bar, tones, root, scale, out):
    """One role's notes in one bar: the constraints here, the model's numbers from ``heads``."""
    lo, hi = REGISTER[role]
    ri = ROLES.index(role)
    sizes = heads.sizes
    tonic = pitch_class(plan.request.key.split()[0])
    count, last_pos, last_pitch, covered = 0, -1, -1, set()
    while True:
        done = len(covered) >= len(tones) if role == "harmony" else count >= MIN_NOTES[role]
        if done:
            if count >= MAX_NOTES[role] or last_pos >= plan.bar_steps - 1 and role == "melody":
                break
            if not heads.more(h, ri):
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
        pos = heads.pos(h, ri, pos_values)
        heads.note(h, ri, pos)
        dur = heads.draw("dur", range(0, min(plan.bar_steps - pos, sizes["dur"] - 1)))
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
            pos = heads.pos(h, ri, later)
            heads.note(h, ri, pos)
            dur = min(dur, plan.bar_steps - pos)
            candidates = [p for p in range(lo, hi + 1) if p % 12 in pcs]
        pitch = heads.draw("pitch", candidates) - 1
        velocity = bin_velocity(heads.draw("vel", range(sizes["vel"] - 1)) - 1)
        out.append((bar, pos, pitch, dur, velocity))
        h = ctx.feed([note_step(role, pos, pitch, dur, velocity)])
        count += 1
        covered.add(pitch % 12)
        last_pos, last_pitch = pos, pitch
    return h
