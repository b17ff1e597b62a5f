"""From a trained checkpoint to MIDI: the :class:`Generator` and its MLflow pyfunc wrapper.

The checkpoint is a plain dict (model weights, :class:`GeneratorConfig`, the conditioning, the
tokenizer id); the tokenizer travels beside it as miditok's JSON, so a registered model version
needs nothing from the lake to generate.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass

import mlflow.pyfunc
import pydantic
import torch

from lake.vocab import tempo_bin
from training.conditioning import PREFIX_LEN, Conditioning
from training.model import GeneratorConfig, MusicTransformer

CHECKPOINT_FILE = "model.pt"
TOKENIZER_FILE = "tokenizer.json"
RETRIES = 3


class GenerationFailed(RuntimeError):
    """Sampling kept producing pieces without a single note."""


@dataclass(frozen=True)
class GeneratedPiece:
    midi: bytes
    n_notes: int
    duration_s: float
    n_tokens: int
    seed: int


def save_checkpoint(path: str, model: MusicTransformer, cond: Conditioning, tokenizer_id: str, step: int) -> None:
    torch.save({"model_state": model.state_dict(), "generator_config": model.cfg.to_dict(),
                "conditioning": cond.to_dict(), "tokenizer_id": tokenizer_id, "step": step}, path)


class Generator:
    """A trained model, its conditioning and its tokenizer: style + tempo + key in, MIDI out."""

    def __init__(self, model: MusicTransformer, cond: Conditioning, tokenizer, tokenizer_id: str):
        self.model = model.eval()
        self.cond = cond
        self.tokenizer = tokenizer
        self.tokenizer_id = tokenizer_id
        self.bar_id = tokenizer["Bar_None"]
        self._mask = torch.zeros(cond.vocab_size, dtype=torch.bool)
        self._mask[cond.never_sampled()] = True

    @classmethod
    def from_files(cls, checkpoint_path: str, tokenizer_path: str) -> "Generator":
        from lake.tokenizer import load_tokenizer

        ckpt = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        model = MusicTransformer(GeneratorConfig(**ckpt["generator_config"]))
        model.load_state_dict(ckpt["model_state"])
        return cls(model, Conditioning.from_dict(ckpt["conditioning"]), load_tokenizer(tokenizer_path),
                   ckpt["tokenizer_id"])

    def generate(self, style: str, bpm: float, key: str, bars: int = 8, seed: int | None = None,
                 temperature: float = 1.0, top_k: int = 32, max_tokens: int | None = None) -> GeneratedPiece:
        """Sample ``bars`` bars in ``style``/``key`` and return them as MIDI at exactly ``bpm``.

        Sampling stops after the bar line that closes bar ``bars``, at EOS, or at ``max_tokens``
        (default 128 per bar). The same seed gives the same piece; a piece without notes is
        resampled with the next seed, up to a few times.
        """
        if bars < 1:
            raise ValueError(f"bars must be >= 1, got {bars}")
        if not 0 < bpm <= 1000:
            raise ValueError(f"bpm must be in (0, 1000], got {bpm}")
        prefix = self.cond.prefix(style, tempo_bin(bpm), key)
        cap = max_tokens or 128 * bars
        first = secrets.randbelow(2**31) if seed is None else int(seed)
        for attempt in range(RETRIES):
            piece = self._sample(prefix, bpm, bars, first + attempt, temperature, top_k, cap)
            if piece.n_notes > 0:
                return piece
        raise GenerationFailed(f"no notes in {RETRIES} samples (seeds {first}..{first + RETRIES - 1}) "
                               f"for style={style!r} bpm={bpm} key={key!r}")

    def _sample(self, prefix: list[int], bpm: float, bars: int, seed: int, temperature: float, top_k: int,
                cap: int) -> GeneratedPiece:
        from symusic import Tempo, TimeUnit

        rng = torch.Generator().manual_seed(seed)
        seen = {"bars": 0}

        def stop(token: int) -> bool:
            if token == self.bar_id:
                seen["bars"] += 1
            return token == self.cond.eos_id or seen["bars"] > bars

        out = self.model.generate(torch.tensor([prefix]), cap, temperature=temperature, top_k=top_k,
                                  logits_mask=self._mask, stop=stop, keep_prefix=PREFIX_LEN, generator=rng)
        music = out[0, len(prefix):].tolist()
        if music and (music[-1] == self.cond.eos_id or seen["bars"] > bars):
            music = music[:-1]  # the closing EOS or bar line carries no notes
        score = self.tokenizer.decode(music) if music else None
        if score is None or score.note_num() == 0:
            return GeneratedPiece(b"", 0, 0.0, len(music), seed)
        score.tempos.clear()
        score.tempos.append(Tempo(0, qpm=float(bpm)))
        return GeneratedPiece(midi=score.dumps_midi(), n_notes=score.note_num(),
                              duration_s=float(score.to(TimeUnit.second).end()), n_tokens=len(music), seed=seed)


class GenerateRequest(pydantic.BaseModel):
    """One request to the pyfunc model (the arguments of :meth:`Generator.generate`)."""

    style: str
    bpm: float
    key: str
    bars: int = 8
    seed: int | None = None
    temperature: float = 1.0
    top_k: int = 32


class GeneratedMidi(pydantic.BaseModel):
    midi: bytes
    n_notes: int
    duration_s: float
    n_tokens: int
    seed: int


class GeneratorModel(mlflow.pyfunc.PythonModel):
    """The MLflow pyfunc face of a :class:`Generator` (artifacts: ``checkpoint`` and ``tokenizer``).

    Typed with pydantic models, so MLflow infers the signature and validates requests.
    """

    def load_context(self, context) -> None:
        self.generator = Generator.from_files(context.artifacts["checkpoint"], context.artifacts["tokenizer"])

    def predict(self, context, model_input: list[GenerateRequest], params=None) -> list[GeneratedMidi]:
        return [GeneratedMidi(**asdict(self.generator.generate(**req.model_dump()))) for req in model_input]
