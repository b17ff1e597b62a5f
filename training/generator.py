"""From a trained checkpoint to MIDI: the :class:`Generator` (request in, piece out) and its MLflow pyfunc face.

The checkpoint is a plain dict (model weights, :class:`NoteModelConfig`, the step, the data
versions), so a registered version needs nothing from the lake to generate. ``generate`` takes the
one request type (:class:`training.request.PieceRequest`) and returns the one result type: the
model samples melody, harmony and bass under the request's constraints (``training.sample``), the
arranger adds drums and doublings, and every track says which of the two wrote it.

Two sampling paths, the same music:

* **fast** (the default): each one-row sampling step and every field draw run in numpy on the same
  weights (``training.model.FastNoteModel``, ``training.sample``), with the baseline's random stream;
  the same seed writes the same notes (checked by ``tests/unit/test_training_sample_fast.py``; only a
  float-rounding near-tie between two values could ever tell them apart). Several times faster:
  at this model size sampling is per-operation overhead, not arithmetic.
* **baseline**: torch modules every step (fp32, KV cache), as before; ``use_cache=False`` (baseline
  only) recomputes the whole context every step, for the benchmark.

Many requests at once: ``generate_many`` samples a list of requests together on the fast path, and a
:class:`BatchRunner` (what the service uses) does so continuously: requests arriving from many
threads join the pieces in hand between model steps, and every step feeds all of them in one
batched forward pass. Each piece is exactly the one ``generate`` writes for its request alone
(``tests/unit/test_training_sample_batched.py``).

Pick one with ``Generator(model, fast=...)`` / ``Generator.from_checkpoint(path, fast=...)``, or on a
loaded generator with ``gen.optimized()`` (fast) / ``gen.baseline()``; both return the generator.
``generate(req, fast=...)`` overrides it for one call.
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
from concurrent.futures import Future
from dataclasses import replace

import mlflow.pyfunc
import torch

from training.arranger import double, drums
from training.model import FastNoteModel, NoteModelConfig, NoteTransformer, one_blas_thread
from training.notes import to_score
from training.request import ROLES, PieceRequest, PieceResult, TrackResult
from training.sample import REGISTER, BatchSampler, Job, Notes, sample, sample_many
from training.tension import double_register

CHECKPOINT_FILE = "model.pt"
STRICT_DRAWS = 3  # draws of a piece whose key or tempo is strict (the caller's): the first, and up to two more


def misses(req: PieceRequest, result: PieceResult) -> tuple[bool, bool] | None:
    """(key not heard, tempo not heard) for a piece whose key or tempo is strict (the caller's), or None for a
    piece with neither: the key read back with :func:`training.analysis.heard_key` (the evaluator's key finder
    read fast), the tempo with :func:`training.analysis.find_pulse` in its tempo bin (a piece too sparse to read
    is not counted a miss)."""
    if not (req.strict_key or req.strict_tempo):
        return None
    from symusic import Score

    from training import analysis

    score = Score.from_midi(result.midi)  # parsed once for both readings
    key_missed = bool(req.strict_key and analysis.heard_key(score) not in (None, req.key))
    tempo_missed = False
    if req.strict_tempo:
        pulse = analysis.find_pulse(analysis.load_notes(score))
        tempo_missed = pulse is not None and not analysis.tempo_bin_hit(
            analysis.quarter_bpm(pulse.bpm, req.time_signature), req.bpm)
    return key_missed, tempo_missed


def another_draw(req: PieceRequest, plan, result: PieceResult, missed: tuple[bool, bool] | None = None):
    """The plan of the next draw of a piece whose strict key (``req.strict_key``) or strict tempo
    (``req.strict_tempo``) is not heard in its notes (:func:`misses`; ``missed`` when already read), or None:
    the same seed, the key's tonic triad leaned to harder (``Plan.key_push``, :func:`training.masks.tells_the_key`)
    and/or the beat told by the notes (``Plan.tempo_push``: the accompaniment's broken chords on the beats,
    :func:`training.masks.broken_chord_grid`; the tune's onsets on the beats, a beat long, and every part's
    accents on them, :func:`training.masks.beat_notes`, :func:`training.masks.beat_accents`). At most
    :data:`STRICT_DRAWS` draws; of them the piece keeps the one heard best (:class:`Kept`). Every path (alone,
    together, the batch runner) asks this after each draw, so a piece is the same whichever wrote it."""
    if not (req.strict_key or req.strict_tempo) or plan.draw + 1 >= STRICT_DRAWS:
        return None
    key_missed, tempo_missed = missed if missed is not None else misses(req, result)
    if not (key_missed or tempo_missed):
        return None
    return replace(plan, draw=plan.draw + 1, key_push=plan.key_push + int(key_missed),
                   tempo_push=plan.tempo_push + int(tempo_missed))


class Kept:
    """The draw a strict piece keeps: the one with the fewest strict attributes not heard (the later of equals),
    so a draw again that is heard in its tempo but loses the key it had (or the other way round) does not
    replace a better earlier draw. A piece that is not strict keeps its one draw."""

    def __init__(self):
        self.result: PieceResult | None = None
        self.missed = 3

    def offer(self, result: PieceResult, missed: tuple[bool, bool] | None) -> None:
        n = 0 if missed is None else int(missed[0]) + int(missed[1])
        if n <= self.missed:
            self.result, self.missed = result, n


def draw_again(req: PieceRequest, plan, result: PieceResult, kept: Kept):
    """One step of every path: read the draw (:func:`misses`), offer it to ``kept``, and return the next draw's
    plan (:func:`another_draw`) or None when ``kept.result`` is the piece."""
    missed = misses(req, result)
    kept.offer(result, missed)
    if missed is None:
        return None
    return another_draw(req, plan, result, missed)


def save_checkpoint(path: str, model: NoteTransformer, step: int, extra: dict | None = None) -> None:
    torch.save({"model_state": model.state_dict(), "model_config": model.cfg.to_dict(), "step": step,
                **(extra or {})}, path)


class Generator:
    """A trained note model: :class:`PieceRequest` in, :class:`PieceResult` (MIDI + provenance) out."""

    def __init__(self, model: NoteTransformer, fast: bool = True):
        self.model = model.eval()
        self._fast_model: FastNoteModel | None = None
        self.fast = False
        if fast:
            self.optimized()

    @classmethod
    def from_checkpoint(cls, path: str, fast: bool = True) -> "Generator":
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        model = NoteTransformer(NoteModelConfig(**ckpt["model_config"]))
        model.load_state_dict(ckpt["model_state"])
        return cls(model, fast=fast)

    def optimized(self) -> "Generator":
        """Sample on the fast path from now on (numpy steps; the weights are copied once, here)."""
        self._engine()
        self.fast = True
        return self

    @property
    def fast_model(self) -> FastNoteModel:
        """The fast path's model (its weights as numpy arrays; built on first use)."""
        return self._engine()

    def _engine(self) -> FastNoteModel:
        if self._fast_model is None:
            self._fast_model = FastNoteModel(self.model)
        return self._fast_model

    def baseline(self) -> "Generator":
        """Sample on the baseline path from now on (torch modules every step)."""
        self.fast = False
        return self

    @property
    def sampling(self) -> str:
        """``"fast"`` or ``"baseline"``: the path :meth:`generate` takes."""
        return "fast" if self.fast else "baseline"

    def generate(self, req: PieceRequest, given: Notes | None = None, use_cache: bool = True,
                 fast: bool | None = None) -> PieceResult:
        """Write the piece ``req`` asks for. ``given`` (role → notes) are kept as they are and the
        other roles are written around them (infilling / harmonising a melody). ``fast`` overrides
        the generator's path for this call; ``use_cache=False`` means the baseline without its cache."""
        t0 = time.perf_counter()
        req, plan = self._plan(req)
        fast = self.fast if fast is None else fast
        engine = self._engine() if fast and use_cache else False
        kept = Kept()
        while True:
            with torch.inference_mode():
                sampled = sample(self.model, plan, req.seed, req.temperature, use_cache=use_cache, given=given,
                                 fast=engine)
            result = self._result(req, plan, sampled, given, t0)
            plan = draw_again(req, plan, result, kept)
            if plan is None:
                return kept.result

    def generate_many(self, reqs: list[PieceRequest], givens: list[Notes | None] | None = None) -> list[PieceResult]:
        """:meth:`generate` for several requests, sampled together on the fast path (one model step for all
        of them, :func:`training.sample.sample_many`); each piece is exactly the one ``generate`` writes."""
        t0 = time.perf_counter()
        givens = givens or [None] * len(reqs)
        planned = [self._plan(r) for r in reqs]
        kept = [Kept() for _ in reqs]
        todo = list(range(len(reqs)))
        while todo:  # the pieces whose strict key or tempo asks for another draw go again, together
            jobs = [Job(planned[i][1], planned[i][0].seed, planned[i][0].temperature, givens[i]) for i in todo]
            with torch.inference_mode():
                sampled = sample_many(self.model, jobs, self._engine())
            again = []
            for i, s in zip(todo, sampled):
                r, plan = planned[i]
                nxt = draw_again(r, plan, self._result(r, plan, s, givens[i], t0), kept[i])
                if nxt is not None:
                    planned[i] = (r, nxt)
                    again.append(i)
            todo = again
        return [k.result for k in kept]

    @staticmethod
    def _plan(req: PieceRequest):
        """The request with its seed fixed (a random one when it has none), and its plan."""
        seed = req.seed if req.seed is not None else secrets.randbelow(2**31)
        req = req.model_copy(update={"seed": seed})
        return req, req.resolve()

    @staticmethod
    def _result(req: PieceRequest, plan, sampled, given: Notes | None, t0: float) -> PieceResult:
        """The piece: the model's roles as sampled (or given), the arranger's drums and doublings, the MIDI."""
        seed = req.seed
        parts: dict[str, Notes] = {}
        programs: dict[str, int] = {}
        tracks: list[TrackResult] = []
        for i, t in enumerate(plan.tracks):
            if t.doubles is not None:
                continue
            if given and t.role in given:
                part, source = list(given[t.role]), "model"
            elif t.role in REGISTER:
                part, source = sampled.notes.get(t.role, []), "model"
            else:  # drums
                part, source = drums(plan), "arranger"
            parts[t.role], programs[t.role] = part, t.program
            tracks.append(TrackResult(role=t.role, instrument=t.instrument, program=t.program, source=source,
                                      n_notes=len(part)))
        for i, t in enumerate(plan.tracks):
            if t.doubles is None:
                continue
            name = f"{t.role}:{i}"
            reg = double_register(plan, t.role, plan.registers.get(t.role, (40, 84)))
            parts[name] = double(parts.get(t.role, []), t.program, reg) if t.program >= 0 else drums(plan)
            programs[name] = t.program
            tracks.append(TrackResult(role=t.role, instrument=t.instrument, program=t.program, source="arranger",
                                      n_notes=len(parts[name]), doubles=t.role))
        score = to_score(parts, programs, req.bpm, plan.numerator, plan.denominator)
        from symusic import TimeUnit

        return PieceResult(midi=score.dumps_midi(), request=req, chords=list(plan.chords), tracks=tracks, seed=seed,
                           n_notes=int(score.note_num()), duration_s=float(score.to(TimeUnit.second).end()),
                           n_steps=sampled.n_steps, elapsed_ms=(time.perf_counter() - t0) * 1000)


class BatchRunner:
    """Continuous batching for one :class:`Generator`: :meth:`submit` hands a request to a worker thread that
    samples every piece in hand together (:class:`training.sample.BatchSampler`: one model step for all of
    them per round) and lets new requests join between rounds, up to ``max_batch`` pieces at once (more
    wait their turn in arrival order). A piece is exactly the one :meth:`Generator.generate` writes for its
    request. The answer is a :class:`concurrent.futures.Future` (a request's own error fails only its future).
    """

    def __init__(self, generator: Generator, max_batch: int = 16):
        self.generator, self.max_batch = generator, max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self.rounds = 0  # rounds stepped, and pieces stepped in them (for the mean batch size)
        self.pieces_stepped = 0
        self._thread = threading.Thread(target=self._run, name="musiclake-batch", daemon=True)
        self._thread.start()

    def submit(self, req: PieceRequest, given: Notes | None = None) -> Future:
        """The future piece for ``req``; after :meth:`close`, the piece is written alone in a thread of its own."""
        fut: Future = Future()
        if self._closed:
            threading.Thread(target=self._alone, args=(req, given, fut), daemon=True).start()
        else:
            self._queue.put((req, given, fut))
        return fut

    def _alone(self, req: PieceRequest, given: Notes | None, fut: Future) -> None:
        if not fut.set_running_or_notify_cancel():
            return
        try:
            fut.set_result(self.generator.generate(req, given, fast=True))
        except Exception as e:  # noqa: BLE001 - delivered to the request
            fut.set_exception(e)

    def close(self) -> None:
        """Stop batching: the pieces in hand are finished, later requests are written alone."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)

    @property
    def mean_batch(self) -> float:
        return self.pieces_stepped / self.rounds if self.rounds else 0.0

    def _run(self) -> None:
        gen = self.generator
        sampler = BatchSampler(gen.model, gen._engine())
        with one_blas_thread():  # for the thread's life (the limit is the process's): see FastNoteModel
            sampler.fast._row_plan()  # checked and timed now (~50 ms), not in the first request's first step
            self._loop(sampler)

    def _loop(self, sampler: BatchSampler) -> None:
        gen = self.generator
        pending: dict[int, tuple] = {}  # key -> (request, plan, given, future, t0, the draw kept so far)
        next_key = 0
        stopping = False
        while not (stopping and not sampler.live):
            while len(sampler) < self.max_batch and not stopping:
                try:  # wait for work only when nothing is in hand
                    item = self._queue.get(block=not sampler.live)
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                req, given, fut = item
                if not fut.set_running_or_notify_cancel():
                    continue
                t0 = time.perf_counter()
                try:
                    req, plan = gen._plan(req)
                    sampler.add(Job(plan, req.seed, req.temperature, given), next_key)
                except Exception as e:  # noqa: BLE001 - this request's error (a plan that cannot be made)
                    fut.set_exception(e)
                    continue
                pending[next_key] = (req, plan, given, fut, t0, Kept())
                next_key += 1
            if not sampler.live:
                continue
            self.rounds += 1
            self.pieces_stepped += len(sampler)
            with torch.inference_mode():
                finished = sampler.round()
            for key, result in finished:
                req, plan, given, fut, t0, kept = pending.pop(key)
                try:
                    if isinstance(result, BaseException):
                        raise result
                    nxt = draw_again(req, plan, gen._result(req, plan, result, given, t0), kept)
                    if nxt is not None:  # a strict key or tempo not heard: drawn again, with the pieces in hand
                        sampler.add(Job(nxt, req.seed, req.temperature, given), next_key)
                        pending[next_key] = (req, nxt, given, fut, t0, kept)
                        next_key += 1
                        continue
                    fut.set_result(kept.result)
                except Exception as e:  # noqa: BLE001 - delivered to the request that caused it
                    fut.set_exception(e)


class GeneratorModel(mlflow.pyfunc.PythonModel):
    """The MLflow pyfunc face of a :class:`Generator` (artifact ``checkpoint``); input: request dicts."""

    def load_context(self, context) -> None:
        self.generator = Generator.from_checkpoint(context.artifacts["checkpoint"])

    def predict(self, context, model_input, params=None):
        rows = model_input.to_dict("records") if hasattr(model_input, "to_dict") else list(model_input)
        out = []
        for row in rows:
            res = self.generator.generate(PieceRequest.model_validate(row))
            out.append(res.model_dump(exclude={"midi"}) | {"midi": res.midi})
        return out


__all__ = ["CHECKPOINT_FILE", "STRICT_DRAWS", "BatchRunner", "Generator", "GeneratorModel", "Kept", "ROLES", "another_draw",
           "draw_again", "misses", "save_checkpoint"]
