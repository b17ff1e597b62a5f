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

Pick one with ``Generator(model, fast=...)`` / ``Generator.from_checkpoint(path, fast=...)``, or on a
loaded generator with ``gen.optimized()`` (fast) / ``gen.baseline()``; both return the generator.
``generate(req, fast=...)`` overrides it for one call.
"""

from __future__ import annotations

import secrets
import time

import mlflow.pyfunc
import torch

from training.arranger import double, drums
from training.model import FastNoteModel, NoteModelConfig, NoteTransformer
from training.notes import to_score
from training.request import ROLES, PieceRequest, PieceResult, TrackResult
from training.sample import REGISTER, Notes, sample

CHECKPOINT_FILE = "model.pt"


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
        seed = req.seed if req.seed is not None else secrets.randbelow(2**31)
        req = req.model_copy(update={"seed": seed})
        plan = req.resolve()
        fast = self.fast if fast is None else fast
        engine = self._engine() if fast and use_cache else False
        with torch.inference_mode():
            sampled = sample(self.model, plan, seed, req.temperature, use_cache=use_cache, given=given, fast=engine)
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
            reg = plan.registers.get(t.role, (40, 84))
            parts[name] = double(parts.get(t.role, []), t.program, reg) if t.program >= 0 else drums(plan)
            programs[name] = t.program
            tracks.append(TrackResult(role=t.role, instrument=t.instrument, program=t.program, source="arranger",
                                      n_notes=len(parts[name]), doubles=t.role))
        score = to_score(parts, programs, req.bpm, plan.numerator, plan.denominator)
        from symusic import TimeUnit

        return PieceResult(midi=score.dumps_midi(), request=req, chords=list(plan.chords), tracks=tracks, seed=seed,
                           n_notes=int(score.note_num()), duration_s=float(score.to(TimeUnit.second).end()),
                           n_steps=sampled.n_steps, elapsed_ms=(time.perf_counter() - t0) * 1000)


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


__all__ = ["CHECKPOINT_FILE", "Generator", "GeneratorModel", "ROLES", "save_checkpoint"]
