"""Constrained sampling of note steps: the model writes the notes, small named masks keep them on the request.

The loop walks the plan bar by bar. Each bar starts with a BAR step carrying the requested chord
(a control, never sampled). Then each role in turn: a *given* role (infilling: notes the caller
already has) is fed as it is; a bar the phrase plan restates (``Plan.copy_of``: a returning A
phrase) gets the melody of its earlier bar again, moved to the new chord and kept inside the
masks (:func:`_restate`); any other bar of a *sampled* role draws notes one step at a time: the
model's probability that the next step is another note of this role decides whether the role goes
on (past its minimum: a note for melody and bass, every chord tone for the harmony), then each
field (onset, duration, pitch, velocity) is drawn from the model's logits restricted by the
role's masks and shifted by its biases (:mod:`training.masks`: one function per rule, composed
in one loop by :func:`~training.masks.constrain`).

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
only float rounding at a near-tie between two values could differ. On the fast path every feed is
numpy, multi-row ones too (the prelude, given notes, a restated bar, a cache rebuild: a causal
prefill in the same step); the baseline feeds them through the torch model.

**Many pieces at once** (:func:`sample_many`, :class:`BatchSampler`): the loop of one piece is a
generator (:func:`_piece`) that yields the rows it needs fed and is sent the hidden state back; a
driver feeds every live piece once per round, the rows of all of them in one
:meth:`~training.model.FastNoteModel.step_many` (each piece with its own KV cache and length).
Each piece keeps its own random generator, and ``step_many`` gives a row the same numbers whatever
rows come with it, so a piece sampled with others gets exactly the notes it gets alone
(:func:`sample` feeds its one piece through the same call). Pieces may join a running batch between
rounds (continuous batching: ``training.generator.BatchRunner``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generator, Hashable

import numpy as np
import torch

from lake.vocab import pitch_class, scale_pitch_classes
from training.fast_kernels import pick
from training.masks import Slot, constrain
from training.model import FastNoteModel, NoteTransformer, one_blas_thread
from training.notes import NOTE, bar_step, bin_velocity, header, note_step, track_step
from training.request import DEFAULT_REGISTERS, ROLES, Plan
from training.watermark import Lean, extend_line, green_lean, keyed_dur_noise, keyed_noise, line_of, within_sizes

REGISTER = DEFAULT_REGISTERS  # the roles the model samples; each plan carries its own registers
MIN_NOTES = {"melody": 1, "bass": 1}  # harmony plays at least every tone of its chord
MAX_NOTES = {"melody": 12, "harmony": 16, "bass": 8}
Notes = dict[str, list[tuple[int, int, int, int, int]]]  # role -> (bar, pos, pitch, dur, velocity)


@dataclass
class Sampled:
    notes: Notes
    n_steps: int  # rows the model read: the prelude, bar lines, given and sampled notes


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
    """The cached context of the fast path, all in numpy (:class:`FastNoteModel`), into its
    :class:`~training.fast_kernels.FastCache`: a feed of any number of rows (one sampled note, the prelude,
    given notes, a restated bar, the rebuild after a slide) is one :meth:`FastNoteModel.step_many` call with the piece's rows in
    order, each at its own position (its attention sees the rows before it: a causal prefill). Hidden
    states come back as numpy arrays. A batch driver takes :meth:`to_step` of several pieces, steps all
    their rows in one call and hands each piece its last row's state."""

    def __init__(self, model: NoteTransformer, fast: FastNoteModel):
        super().__init__(model, use_cache=False)
        self.fast = fast
        self.cache = fast.new_cache()  # the model's block, as the torch context's
        self.kv = self.cache.kv

    def to_step(self, rows: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
        """Record ``rows`` as fed; returns the rows to step into the cache and the cache position of the first
        (the rows themselves after the cached ones, or, when the block overflows, every visible row from 0),
        and sets the cache length past them."""
        self.rows.extend(rows)
        self.steps += len(rows)
        if self.prelude + len(self.rows) - max(self.start, self.prelude) > self.model.cfg.block_size:
            self.start = len(self.rows) - self.model.cfg.block_size // 2
            rows, self.cache.length = self._visible(), 0
        t0 = self.cache.length
        self.cache.length += len(rows)
        return rows, t0

    def feed(self, rows: list[np.ndarray]) -> np.ndarray:
        rows, t0 = self.to_step(rows)
        return self.fast.step_many(np.stack(rows), [self.kv] * len(rows), list(range(t0, t0 + len(rows))))[-1]


def _draw(logits: torch.Tensor, allowed: torch.Tensor, temperature: float, rng: torch.Generator,
          bias: np.ndarray | None = None, lean: Lean | None = None, keyed: np.ndarray | None = None) -> int:
    """One value from ``logits`` (V,) restricted to ``allowed`` (V,) bool, ``bias`` (V,) added first, the
    watermark's ``lean`` applied to the tempered logits (:func:`~training.watermark.within_sizes`); the
    index is in shifted values (raw + 1). ``keyed`` (V,): the watermark's keyed exponential noise
    (:func:`~training.watermark.keyed_noise`), raced against instead of the generator's (which is drawn all the
    same and left unused, so later draws keep their places in the random stream)."""
    if bias is not None:
        logits = logits + torch.tensor(bias)  # a copy: cached biases are read-only arrays
    lg = logits.masked_fill(~allowed, float("-inf")) / temperature
    if lean is not None:
        lg = torch.from_numpy(within_sizes(lg.detach().numpy(), lean))
    if keyed is not None:  # the fast path's race (argmax of the log-probabilities less log E), on the key's E
        torch.empty(lg.shape[0]).exponential_(1, generator=rng)  # a draw's noise, unused: the stream keeps its place
        z = lg.detach().numpy().astype(np.float32) - np.log(keyed)
        i = int(z.argmax())
        if not np.isfinite(z[i]):
            raise RuntimeError("invalid multinomial distribution (no value allowed)")
        return i
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

    def pos(self, h: torch.Tensor, ri: int, values, bias: np.ndarray | None = None) -> int:
        return _draw(self.model.pos_logits(h, torch.tensor(ri + 1)), _mask(self.sizes["pos"], values),
                     self.temperature * _onset_warmth(self.model.cfg, ri), self.rng, bias) - 1

    def note(self, h: torch.Tensor, ri: int, pos: int) -> None:
        """Condition the pitch, dur and vel draws on role ``ri`` at onset ``pos``."""
        self.logits = dict(zip(("pitch", "dur", "vel"),
                               self.model.note_logits(h, torch.tensor(ri + 1), torch.tensor(pos + 1))))

    def draw(self, name: str, values, bias: np.ndarray | None = None, lean: Lean | None = None,
             keyed: np.ndarray | None = None) -> int:
        """Index (raw value + 1) of field ``name`` among ``values`` (raw values), ``bias`` added to the logits,
        the watermark's ``lean`` (pitches) to the tempered ones, its ``keyed`` noise in the race."""
        return _draw(self.logits[name], _mask(self.sizes[name], values), self.temperature * self.warmer(name),
                     self.rng, bias, lean, keyed)

    def warmer(self, name: str) -> float:
        """How much warmer than the request's temperature field ``name`` is drawn: pitches at the model's
        ``pitch_warmth`` (a model trained on real songs picks pitches more sharply than singers: the POP909
        preset's melodies kept to 2.1 bits of pitch classes against the songs' 2.5); durations at the
        request's own, as their regularity carries the tempo a listener hears (onsets: :func:`_onset_warmth`)."""
        return self.model.cfg.pitch_warmth if name == "pitch" else 1.0


def _onset_warmth(cfg, ri: int) -> float:
    """How much warmer than the request's temperature role ``ri``'s onsets are drawn: the melody's at the
    model's ``onset_warmth`` (saved with it: the POP909 preset's 1.3, as its melodies repeated earlier bars'
    rhythms more than the songs do; the demo model's 1.0, warmer its classifier figure went 0.81 -> 0.89),
    the accompaniment's at the request's own."""
    return cfg.onset_warmth if ri == 0 else 1.0


_NO_BIAS = np.empty(0, dtype=np.float32)


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

    def more(self, h: np.ndarray, ri: int) -> bool:
        kind, role = self.fast.more_logits(h)
        p_more = _softmax_at(kind.tolist(), NOTE, self.temperature) * _softmax_at(role.tolist(), ri + 1,
                                                                                  self.temperature)
        return float(torch.rand(1, generator=self.rng)) < p_more

    def _pick(self, logits: np.ndarray, allowed: np.ndarray, bias: np.ndarray | None = None, warmer: float = 1.0,
              lean: Lean | None = None, keyed: np.ndarray | None = None) -> int:
        # argmax(p / q) == argmax(log p - log q): the log-softmax's shift is common to all, so drop it,
        # and the mask is an additive 0 / -inf row; the watermark's lean reweighs the tempered, masked logits;
        # a keyed draw races on the watermark's noise; it still takes its noise from the generator (unused, as the
        # baseline), so every later draw keeps its place in the random stream
        n = logits.shape[0]
        self.noise[n].exponential_(1, generator=self.rng)
        if keyed is not None:
            self.noise_np[n][:] = keyed
        if lean is None:  # the common case in one compiled call: the same arithmetic as below
            i = pick(logits, _NO_BIAS if bias is None else bias, self.temperature * warmer, allowed, self.noise_np[n])
        else:
            if bias is not None:
                logits = logits + bias
            z = within_sizes(logits / (self.temperature * warmer) + allowed, lean) - np.log(self.noise_np[n])
            i = int(z.argmax())
            if not np.isfinite(z[i]):
                i = -1
        if i < 0:  # nothing allowed (or NaN logits): fail as torch.multinomial does
            raise RuntimeError("invalid multinomial distribution (no value allowed)")
        return i

    def pos(self, h: np.ndarray, ri: int, values, bias: np.ndarray | None = None) -> int:
        return self._pick(self.fast.pos_logits(h, ri + 1), _np_mask(self.sizes["pos"], _key(values)), bias,
                          _onset_warmth(self.model.cfg, ri)) - 1

    def note(self, h: np.ndarray, ri: int, pos: int) -> None:
        self.logits = dict(zip(("pitch", "dur", "vel"), self.fast.note_logits(h, ri + 1, pos + 1)))

    def draw(self, name: str, values, bias: np.ndarray | None = None, lean: Lean | None = None,
             keyed: np.ndarray | None = None) -> int:
        return self._pick(self.logits[name], _np_mask(self.sizes[name], _key(values)), bias, self.warmer(name),
                          lean, keyed)


def _softmax_at(logits: list[float], i: int, temperature: float) -> float:
    """``softmax(logits / temperature)[i]`` in Python floats: for the few values of the kind and role heads
    cheaper than numpy's per-call overhead (float64, so it matches the float32 softmax to rounding)."""
    top = max(logits)
    weights = [math.exp((v - top) / temperature) for v in logits]
    return weights[i] / sum(weights)


def _key(values):
    return values if isinstance(values, range) else tuple(values)


# -- the loop -----------------------------------------------------------------------------------------
Feed = Generator[list[np.ndarray], Any, Sampled]  # yields rows to feed, is sent the hidden state after them


@dataclass
class Job:
    """One piece to sample: its plan, seed, temperature and given roles (as :func:`sample` takes them)."""

    plan: Plan
    seed: int
    temperature: float = 0.9
    given: Notes | None = None


def _start(model: NoteTransformer, job: Job, fast: "FastNoteModel | bool", use_cache: bool = True):
    """The context and the loop (not started) of one piece."""
    rng = torch.Generator().manual_seed(int(job.seed))
    if fast:
        ctx, heads = _FastContext(model, fast), _NumpyHeads(model, fast, job.temperature, rng)
    else:
        ctx, heads = _Context(model, use_cache), _TorchHeads(model, job.temperature, rng)
    return ctx, _piece(heads, ctx, job.plan, job.given or {})


@torch.no_grad()
def sample(model: NoteTransformer, plan: Plan, seed: int, temperature: float = 0.9, use_cache: bool = True,
           given: Notes | None = None, fast: "FastNoteModel | bool" = False) -> Sampled:
    """The notes of every model role of ``plan`` (melody, harmony, bass), bar by bar; ``given`` roles are fed.

    ``fast`` (a :class:`FastNoteModel` of ``model``, or True to make one) takes the fast path: numpy
    steps and draws, same constraints, same random stream (see the module docstring); it implies the
    KV cache. False: the baseline (torch modules every step).
    """
    model.eval()
    if fast is True:
        fast = FastNoteModel(model)
    ctx, piece = _start(model, Job(plan, seed, temperature, given), fast, use_cache)
    with one_blas_thread():
        rows = next(piece)
        try:
            while True:
                rows = piece.send(ctx.feed(rows))
        except StopIteration as done:
            return done.value


@torch.no_grad()
def sample_many(model: NoteTransformer, jobs: list[Job], fast: "FastNoteModel | bool" = True) -> list[Sampled]:
    """:func:`sample` for several pieces at once on the fast path, stepped together (:class:`BatchSampler`);
    each gets exactly the notes it gets alone. The first piece that fails raises its error."""
    sampler = BatchSampler(model, fast if isinstance(fast, FastNoteModel) else FastNoteModel(model))
    out: dict[Hashable, Sampled] = {}
    with one_blas_thread():  # the adds too: each allocates its piece's cache (torch.zeros, one thread)
        for i, job in enumerate(jobs):
            sampler.add(job, i)
        while len(sampler):
            for key, result in sampler.round():
                if isinstance(result, BaseException):
                    raise result
                out[key] = result
    return [out[i] for i in range(len(jobs))]


@dataclass(eq=False)
class _Live:
    key: Hashable
    ctx: _FastContext
    piece: Feed
    rows: list[np.ndarray]


class BatchSampler:
    """Pieces sampled together on the fast path: :meth:`add` starts one, each :meth:`round` feeds every live
    piece once (all one-row feeds in one :meth:`FastNoteModel.step_many`) and returns the pieces that
    finished, as ``(key, Sampled)`` or ``(key, exception)`` when a piece's loop raised (the others go on).
    Pieces may be added between rounds. Not thread-safe: one thread drives it."""

    def __init__(self, model: NoteTransformer, fast: FastNoteModel):
        self.model, self.fast = model.eval(), fast
        self.live: list[_Live] = []
        self._done: list[tuple[Hashable, Any]] = []

    def __len__(self) -> int:
        return len(self.live)

    def add(self, job: Job, key: Hashable) -> None:
        ctx, piece = _start(self.model, job, self.fast)
        self._next(_Live(key, ctx, piece, []), None)

    def _next(self, p: _Live, h) -> None:
        """Send ``h`` (None: start) to the piece's loop; keep it live with the rows it asks for next, or finish it."""
        try:
            p.rows = next(p.piece) if h is None else p.piece.send(h)
        except StopIteration as done:
            self._done.append((p.key, done.value))
        except Exception as e:  # noqa: BLE001 - this piece's failure, reported with its key
            self._done.append((p.key, e))
        else:
            if p not in self.live:
                self.live.append(p)
            return
        if p in self.live:
            self.live.remove(p)

    def round(self) -> list[tuple[Hashable, Any]]:
        """Feed every live piece once: the rows of all of them in one :meth:`FastNoteModel.step_many`.
        Call it under ``torch.no_grad()`` (or inference mode) and :func:`~training.model.one_blas_thread`,
        as :func:`sample_many` does (they cost more per round than they would here)."""
        live, rows, caches, positions, last = list(self.live), [], [], [], []
        for p in live:
            fed, t0 = p.ctx.to_step(p.rows)
            rows.extend(fed)
            caches.extend([p.ctx.kv] * len(fed))
            positions.extend(range(t0, t0 + len(fed)))
            last.append(len(rows) - 1)
        if not live:
            return []
        try:
            hs = self.fast.step_many(np.stack(rows), caches, positions)
        except Exception as e:  # noqa: BLE001 - the shared step failed: every piece in it fails
            self.live.clear()
            self._done.extend((p.key, e) for p in live)
        else:
            for p, i in zip(live, last):
                self._next(p, hs[i])
        done, self._done = self._done, []
        return done


def _piece(heads: _TorchHeads, ctx: _Context, plan: Plan, given: Notes) -> Feed:
    """The loop of one piece: yields the rows to feed (the driver feeds ``ctx`` and sends back the hidden
    state after them); returns its :class:`Sampled`."""
    req = plan.request
    sampled_roles = [t.role for t in plan.tracks if t.doubles is None and t.role in REGISTER and t.role not in given]
    order = [r for r in ROLES if r in given] + sampled_roles
    programs = {t.role: t.program for t in plan.tracks if t.doubles is None}
    prelude = [header(req.style, req.bpm, req.key, req.time_signature)]
    prelude += [track_step(r, programs.get(r, 0)) for r in order]
    yield prelude
    ctx.prelude = len(prelude)
    tonic = pitch_class(req.key.split()[0])
    scale = set(scale_pitch_classes(req.key))
    if req.key.endswith("minor"):  # harmonic minor: the leading tone, which tells a minor key from its relatives
        scale = (scale - {(tonic + 10) % 12}) | {(tonic + 11) % 12}
    scale = frozenset(scale)
    notes: Notes = {r: [] for r in order}
    given_by_bar = {r: {} for r in given}
    for r, evs in given.items():
        for ev in sorted(evs):
            given_by_bar[r].setdefault(ev[0], []).append(ev)
    for bar in range(req.bars):
        root, quality = plan.chord_pcs[bar]
        h = yield [bar_step(root, quality)]
        for role in order:
            if role in given and bar not in plan.fill.get(role, ()):  # fill: bars of a given role written anew
                evs = given_by_bar[role].get(bar, [])
                if evs:
                    h = yield [note_step(role, p, pitch, d, v) for _, p, pitch, d, v in evs]
                    notes[role].extend(evs)
                continue
            melody = notes.get("melody", [])
            slot = Slot(plan=plan, role=role, bar=bar, root=root, quality=quality, scale=scale, tonic=tonic,
                        above=[n for n in melody if n[0] == bar] if role != "melody" else [],
                        prev_pitch=notes[role][-1][2] if notes[role] else None,
                        line=line_of(notes[role]))
            src = plan.copy_of[bar] if role == "melody" and bar < len(plan.copy_of) else None
            if src is not None and any(n[0] == src for n in notes[role]):
                h = yield from _restate(slot, [n for n in notes[role] if n[0] == src], plan.chord_pcs[src][0],
                                        notes[role], h)
            else:
                h = yield from _sample_role(heads, h, slot, notes[role])
    written = sampled_roles + [r for r in plan.fill if r in given]
    return Sampled(notes={r: notes[r] for r in written}, n_steps=ctx.steps)


def _restate(s: Slot, source: list, source_root: int, out: list, h):
    """The melody of an earlier bar again (copy with variation): moved by the distance between the two
    bars' chord roots (nearest way, so an unchanged chord is an exact repeat), each note kept where the
    masks allow it, else the nearest pitch they allow. The notes are fed like given ones."""
    shift = (s.root - source_root + 6) % 12 - 6
    rows = []
    for _, pos, pitch, dur, vel in source:
        s.pos, s.dur = pos, dur
        allowed, _ = constrain(s, "pitch", range(128), 0)
        if not allowed:
            continue
        want = pitch + shift
        p = want if want in allowed else min(allowed, key=lambda a: (abs(a - want), a))
        out.append((s.bar, pos, p, dur, vel))
        rows.append(note_step(s.role, pos, p, dur, vel))
        s.prev_pitch, s.last_pos, s.count = p, pos, s.count + 1
    if not rows:
        return h
    return (yield rows)


def _sample_role(heads: _TorchHeads, h, s: Slot, out: list):
    """One role's notes in one bar: the masks say what may be drawn, the model's numbers from ``heads``."""
    ri = ROLES.index(s.role)
    sizes = heads.sizes
    plan = s.plan
    while True:
        done = len(s.covered) >= len(s.tones) if s.role == "harmony" else s.count >= MIN_NOTES[s.role]
        if done:
            if s.count >= MAX_NOTES[s.role] or s.last_pos >= plan.bar_steps - 1:
                break
            if not heads.more(h, ri):
                break
        pos_values, pos_bias = constrain(s, "pos", range(plan.bar_steps), sizes["pos"])
        if not pos_values:
            break
        s.pos = heads.pos(h, ri, pos_values, pos_bias)
        heads.note(h, ri, s.pos)
        dur_values, dur_bias = constrain(s, "dur", range(1, sizes["dur"]), sizes["dur"])
        s.dur = heads.draw("dur", [d - 1 for d in dur_values], dur_bias, None,  # raw value d - 1 is d steps
                           keyed_dur_noise(s, sizes["dur"], out))
        pitches, pitch_bias = constrain(s, "pitch", range(128), sizes["pitch"])
        if not pitches:  # no room (a stacked onset at the top of the register): the bar's part ends here
            break
        pitch = heads.draw("pitch", pitches, pitch_bias, green_lean(s, sizes["pitch"]),
                           keyed_noise(s, sizes["pitch"], out)) - 1
        vel_values, vel_bias = constrain(s, "vel", range(sizes["vel"] - 1), sizes["vel"])
        velocity = bin_velocity(heads.draw("vel", vel_values, vel_bias) - 1)
        out.append((s.bar, s.pos, pitch, s.dur, velocity))
        h = yield [note_step(s.role, s.pos, pitch, s.dur, velocity)]
        s.line = extend_line(s, pitch)
        s.struck = s.struck + [pitch] if s.count and s.pos == s.last_pos else [pitch]
        s.count += 1
        s.covered.add(pitch % 12)
        s.last_pos, s.prev_pitch = s.pos, pitch
    return h
