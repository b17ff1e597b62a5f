"""What serving uses of the CLAP model: embed, zero-shot labels, rank candidates, nearest lake pieces.

    clap = ClapModel.load(cfg, ref="champion")          # or a version number, "3"
    clap.embed_text(["a calm folk piece", "一首平静的民谣"])  # [2, dim] float32, unit rows
    clap.embed_music([midi_bytes])                      # tokenised with the model's own lake tokenizer
    clap.zero_shot(midi_bytes)                          # {"style": {"folk": 0.61, ...}, "mood": {...}}
    clap.rank("a sad waltz", [midi_a, midi_b])          # [(1, 0.42), (0, 0.13)]: best first
    clap.nearest("melancholic waltz in a minor key", k=5)   # [Neighbor(sha256, score, title, url, ...)]

``nearest`` searches ``gold_music_embeddings`` rows of exactly the loaded version; a MIDI query
that is itself in the lake does not answer with itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from lake.delta import Lake
from lake.schemas import SILVER_SCORES
from lake.vocab import CAPTION_MOODS, STYLES, sha256_hex
from training import registry as reg
from training.clap import MODEL_NAME
from training.clap.embeddings import load_embeddings

# The label sets the captions teach: styles (but "other") and the six caption moods.
DEFAULT_LABELS = {"style": [s for s in STYLES if s != "other"], "mood": sorted(set(CAPTION_MOODS.values()))}
# Prompts in the captions' own words ("A moderato folk piece in ...", "The mood is calm.").
DEFAULT_TEMPLATES = {"style": "a {} piece", "mood": "the mood is {}."}


class NoEmbeddings(LookupError):
    """The model version has no rows in gold_music_embeddings yet."""


@dataclass(frozen=True)
class Neighbor:
    sha256: str
    score: float  # cosine similarity
    title: str | None = None
    url: str | None = None
    style: str | None = None
    key_name: str | None = None


class ClapModel:
    """A registered CLAP version (the one ``ref`` named when loaded) with the lake it searches."""

    def __init__(self, encoder, ref: reg.ModelRef, lake: Lake | None = None):
        self.encoder = encoder
        self.ref = ref
        self.lake = lake
        self._index: tuple[list[str], np.ndarray] | None = None

    @classmethod
    def load(cls, cfg, ref: str | int = reg.CHAMPION) -> "ClapModel":
        """Resolve ``ref`` to one concrete version and load it (``ModelNotFound`` when nothing answers)."""
        from training.clap.train import load_encoder

        model_ref = reg.resolve(cfg, str(ref), MODEL_NAME)
        return cls(load_encoder(cfg, model_ref.version), model_ref, Lake.from_config(cfg))

    @property
    def name(self) -> str:
        return MODEL_NAME

    @property
    def version(self) -> int:
        return self.ref.version

    @property
    def dim(self) -> int:
        return self.encoder.dim

    # -- embeddings ---------------------------------------------------------------------------
    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        return self.encoder.embed_text(list(texts))

    def embed_music(self, midis: Sequence[bytes]) -> np.ndarray:
        return self.encoder.embed_music(list(midis))

    def _embed_query(self, query: str | bytes) -> np.ndarray:
        if isinstance(query, (bytes, bytearray)):
            return self.embed_music([bytes(query)])[0]
        return self.embed_text([str(query)])[0]

    # -- zero-shot labels and ranking ---------------------------------------------------------
    def zero_shot(self, query: str | bytes, labels: dict[str, Sequence[str]] | None = None,
                  templates: dict[str, str] | None = None) -> dict[str, dict[str, float]]:
        """Per label set, a probability per label (softmax of the scaled cosine to each label's prompt).

        ``query`` is a MIDI file (bytes) or a text. Prompts are ``templates[set].format(label)``
        (:data:`DEFAULT_TEMPLATES` for "style" and "mood"), the bare label for a set without one.
        """
        labels = DEFAULT_LABELS if labels is None else labels
        templates = {**DEFAULT_TEMPLATES, **(templates or {})}
        q = self._embed_query(query)
        out = {}
        for group, names in labels.items():
            names = list(names)
            if not names:
                continue
            prompts = [templates.get(group, "{}").format(n) for n in names]
            logits = self.encoder.logit_scale * (self.embed_text(prompts) @ q)
            p = np.exp(logits - logits.max())
            p /= p.sum()
            out[group] = {n: float(x) for n, x in sorted(zip(names, p), key=lambda x: -x[1])}
        return out

    def rank(self, prompt: str, midis: Sequence[bytes]) -> list[tuple[int, float]]:
        """Candidate MIDI files by similarity to ``prompt``, best first: (index into ``midis``, cosine)."""
        if not midis:
            return []
        scores = self.embed_music(midis) @ self.embed_text([prompt])[0]
        order = sorted(range(len(midis)), key=lambda i: (-scores[i], i))
        return [(i, float(scores[i])) for i in order]

    # -- the lake -----------------------------------------------------------------------------
    def index(self) -> tuple[list[str], np.ndarray]:
        """(sha256s, [n, dim]) of this version's lake embeddings (read once)."""
        if self._index is None:
            if self.lake is None:
                raise NoEmbeddings("this model was loaded without a lake")
            shas, vectors = load_embeddings(self.lake, MODEL_NAME, self.version)
            if not shas:
                raise NoEmbeddings(f"{MODEL_NAME} v{self.version} has no rows in gold_music_embeddings: "
                                   f"run `musiclake clap embed --model {self.version}`")
            self._index = (shas, vectors)
        return self._index

    def nearest(self, query: str | bytes, k: int = 10) -> list[Neighbor]:
        """The ``k`` lake pieces closest to a text or a MIDI file (not the file itself), best first."""
        shas, vectors = self.index()
        scores = vectors @ self._embed_query(query)
        skip = sha256_hex(bytes(query)) if isinstance(query, (bytes, bytearray)) else None
        order = [i for i in sorted(range(len(shas)), key=lambda i: (-scores[i], shas[i])) if shas[i] != skip][:k]
        info = self._describe([shas[i] for i in order])
        return [Neighbor(shas[i], float(scores[i]), **info.get(shas[i], {})) for i in order]

    def _describe(self, shas: list[str]) -> dict[str, dict]:
        if not shas or self.lake is None:
            return {}
        t = self.lake.read(SILVER_SCORES, columns=["sha256", "title", "url", "style", "key_tonic", "key_mode"],
                           filters=[("sha256", "in", shas)])
        return {r["sha256"]: {"title": r["title"], "url": r["url"], "style": r["style"],
                              "key_name": f"{r['key_tonic']} {r['key_mode']}"} for r in t.to_pylist()}
