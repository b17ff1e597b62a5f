"""A trained CLAP model as an object: text, REMI tokens or MIDI bytes in, unit vectors out; its MLflow pyfunc.

The checkpoint is a plain dict: ``model_state`` (the weights), ``clap_config``, ``text_tokenizer``
(its JSON), ``music_vocab`` (the REMI ids the crops need), ``tokenizer_id`` (the lake tokenizer)
and ``step``, made from the generic loop's last checkpoint. The lake's miditok tokenizer travels
beside it as its JSON file, so a registered version embeds MIDI without the lake.
"""

from __future__ import annotations

from typing import Sequence

import mlflow.pyfunc
import numpy as np
import pydantic
import torch

from training.clap.data import MusicVocab, crop
from training.clap.model import Clap, ClapConfig
from training.clap.text import encode_texts, pad_batch

CHECKPOINT_FILE = "clap.pt"
TOKENIZER_FILE = "tokenizer.json"


class ClapEncoder:
    """Embeddings in the shared space (float32, unit length) for texts, token sequences and MIDI files."""

    def __init__(self, model: Clap, text_tok, vocab: MusicVocab, tokenizer_id: str, music_tokenizer=None):
        self.model = model.eval()
        self.cfg = model.cfg
        self.text_tok = text_tok
        self.vocab = vocab
        self.tokenizer_id = tokenizer_id
        self.music_tokenizer = music_tokenizer

    @classmethod
    def from_checkpoint(cls, ckpt: dict, music_tokenizer=None) -> "ClapEncoder":
        from tokenizers import Tokenizer

        model = Clap(ClapConfig(**ckpt["clap_config"]))
        model.load_state_dict(ckpt["model_state"])
        return cls(model, Tokenizer.from_str(ckpt["text_tokenizer"]), MusicVocab.from_dict(ckpt["music_vocab"]),
                   ckpt["tokenizer_id"], music_tokenizer)

    @classmethod
    def from_files(cls, checkpoint_path: str, tokenizer_path: str | None = None) -> "ClapEncoder":
        from lake.tokenizer import load_tokenizer

        ckpt = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        return cls.from_checkpoint(ckpt, load_tokenizer(tokenizer_path) if tokenizer_path else None)

    @property
    def dim(self) -> int:
        return self.cfg.embed_dim

    @property
    def logit_scale(self) -> float:
        return float(self.model.scale().detach())

    @torch.no_grad()
    def embed_text(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        ids = encode_texts(self.text_tok, list(texts), self.cfg.text_len)
        return self._embed(ids, self.model.encode_text, self.cfg.text_len, self.cfg.text_pad_id, batch_size)

    @torch.no_grad()
    def embed_tokens(self, token_seqs: Sequence[np.ndarray], batch_size: int = 64) -> np.ndarray:
        """Embeddings of REMI id sequences (each read from its start, ``music_len`` tokens)."""
        clips = [crop(np.asarray(s), self.cfg.music_len, self.vocab) for s in token_seqs]
        return self._embed(clips, self.model.encode_music, self.cfg.music_len, self.vocab.pad_id, batch_size)

    def embed_music(self, midis: Sequence[bytes], batch_size: int = 64) -> np.ndarray:
        """Embeddings of MIDI files, tokenised with the lake tokenizer the model was trained on."""
        from symusic import Score

        from lake.tokenizer import encode_ids

        if self.music_tokenizer is None:
            raise RuntimeError("this encoder has no music tokenizer: load it with from_files(..., tokenizer_path)")
        return self.embed_tokens([encode_ids(self.music_tokenizer, Score.from_midi(m)) for m in midis], batch_size)

    def _embed(self, seqs: list[np.ndarray], encode, length: int, pad_id: int, batch_size: int) -> np.ndarray:
        out = np.zeros((len(seqs), self.dim), dtype=np.float32)
        order = np.argsort([len(s) for s in seqs], kind="stable")  # similar lengths together: less padding
        for i in range(0, len(order), batch_size):
            idx = order[i:i + batch_size]
            batch = torch.from_numpy(pad_batch([seqs[j] for j in idx], length, pad_id))
            out[idx] = encode(batch).float().numpy()
        return out


class EmbedRequest(pydantic.BaseModel):
    """One input of the pyfunc model: a text or a MIDI file (exactly one of them)."""

    text: str | None = None
    midi: bytes | None = None


class Embedding(pydantic.BaseModel):
    kind: str  # "text" | "music"
    embedding: list[float]


class ClapPyfunc(mlflow.pyfunc.PythonModel):
    """The MLflow face of a :class:`ClapEncoder` (artifacts ``checkpoint`` and ``tokenizer``)."""

    def load_context(self, context) -> None:
        self.encoder = ClapEncoder.from_files(context.artifacts["checkpoint"], context.artifacts["tokenizer"])

    def predict(self, context, model_input: list[EmbedRequest], params=None) -> list[Embedding]:
        out = []
        for req in model_input:
            if (req.text is None) == (req.midi is None):
                raise ValueError("each request carries exactly one of 'text' and 'midi'")
            vec = self.encoder.embed_text([req.text])[0] if req.text is not None else self.encoder.embed_music([req.midi])[0]
            out.append(Embedding(kind="text" if req.text is not None else "music", embedding=vec.tolist()))
        return out
