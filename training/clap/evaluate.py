"""Retrieval evaluation of a CLAP model on held-out splits, beside chance and an attribute-matching baseline.

For each split (validation, test: the gold split never lets a duplicate cluster straddle two) and
each language (``en`` captions, ``zh`` captions, ``lyrics``):

* **text→music**: every text of that language queries the split's whole pool of pieces; the
  answer is its own piece. Pool size N = pieces in the split.
* **music→text**: every piece that has a text of that language queries the pool of those texts.

R@k is the share of queries whose answer ranks in the top k, MRR the mean of 1/rank. Chance is
R@k = k/N and MRR = H_N/N (the harmonic number over N). Equal scores are broken by pool order
(pieces sorted by sha256), the same for the model and the baseline.

The **baseline** reads style, key, mode, tempo (a BPM figure or a tempo word), mood and time
signature out of the text with the words of :mod:`lake.vocab` (English and Chinese), and ranks
pieces by how many of those match the piece's gold row. It reads the labels the captions were
written from, so on captions it is an upper-bound-like reference, not a weak one; it knows
nothing of lyrics.

**Search** (:func:`search_precision`): per piece of the split one short prompt per language naming
two of its attributes (``training.clap.search_prompts``, e.g. "melancholic in 3/4 time", "忧郁圆舞曲"); the
score is the share of the top 10 pieces that have both, beside chance (the share of the pool that
has them) and the baseline. Published anchor: CLaMP 3 reaches text→MIDI MRR 0.28 on MidiCaps (a larger
pool, real captions), see docs/models.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from lake.vocab import ACCIDENTAL, MOODS, STYLE_WORDS, TEMPO_WORDS, TEMPO_ZH, ZH_KEY, key_from_match, tempo_bin
from training.clap.data import LANGS, Pair

KS = (1, 10)
CLAMP3_MIDICAPS_T2M_MRR = 0.28


# -- metrics on a similarity matrix -----------------------------------------------------------
def ranks(sim: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """1-based rank of ``targets[q]`` in row ``q`` of ``sim`` (higher is better; ties: lower index first)."""
    sim = np.asarray(sim, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.int64)
    own = sim[np.arange(len(targets)), targets][:, None]
    before = (np.arange(sim.shape[1])[None, :] < targets[:, None])
    return 1 + (sim > own).sum(axis=1) + ((sim == own) & before).sum(axis=1)


def retrieval_metrics(sim: np.ndarray, targets: Sequence[int], ks: Sequence[int] = KS) -> dict[str, float]:
    r = ranks(sim, targets)
    out = {f"r{k}": float(np.mean(r <= k)) for k in ks}
    out["mrr"] = float(np.mean(1.0 / r))
    return out


def chance(n: int, ks: Sequence[int] = KS) -> dict[str, float]:
    """Expected metrics of a random ranking of a pool of ``n``: R@k = k/n, MRR = H_n / n."""
    out = {f"r{k}": min(k, n) / n for k in ks}
    out["mrr"] = float(sum(1.0 / i for i in range(1, n + 1)) / n)
    return out


# -- the attribute baseline -------------------------------------------------------------------
_EN_KEY = re.compile(rf"\b(?P<letter>[A-G])\s*(?P<acc>{ACCIDENTAL})?\s+(?P<mode>major|minor)\b", re.I)
_LOWER_A = re.compile(r"\ba\s+(major|minor)\b")  # "in a minor key": a mode, not A minor
_ZH_KEY = re.compile(ZH_KEY)
_BPM = re.compile(r"(\d{2,3}(?:\.\d+)?)\s*(?:bpm|beats per minute)|每分钟\s*(\d{2,3})\s*拍", re.I)
_METER = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?![\d/])")
_TEMPO_WORDS = sorted([(w, i) for i, w in enumerate(TEMPO_WORDS)] +
                      [(TEMPO_ZH[w], i) for i, w in enumerate(TEMPO_WORDS)], key=lambda x: -len(x[0]))


def _mentions(text: str, word: str) -> bool:
    """A Chinese word as a substring, anything else as a whole word (case-insensitive)."""
    if not word.isascii():
        return word in text
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, re.I) is not None


def _first_of(text: str, words: dict[str, Sequence[str]]) -> str | None:
    """The name whose word occurs earliest in ``text`` (so the caption's own word wins over later ones)."""
    best, at = None, len(text) + 1
    lowered = text.lower()
    for name, ws in words.items():
        for w in ws:
            if _mentions(text, w):
                pos = lowered.find(w.lower())
                if 0 <= pos < at:
                    best, at = name, pos
    return best


def parse_attributes(text: str) -> dict:
    """Style, key, mode, tempo bin, mood and meter a text names (only those it names)."""
    out: dict = {}
    masked = _LOWER_A.sub(r"\1", text)
    m = _EN_KEY.search(masked) or _ZH_KEY.search(text)
    if m is not None:
        out["key"] = key_from_match(m)
        out["mode"] = out["key"].split()[1]
    elif re.search(r"\bminor\b|小调", text, re.I):
        out["mode"] = "minor"
    elif re.search(r"\bmajor\b|大调", text, re.I):
        out["mode"] = "major"
    style = _first_of(text, STYLE_WORDS)
    if style is not None:
        out["style"] = style
    mood = _first_of(text, {name: m.words + (name,) for name, m in MOODS.items()})
    if mood is not None:
        out["mood"] = mood
    bpm = _BPM.search(text)
    if bpm is not None:
        out["tempo_bin"] = tempo_bin(float(bpm.group(1) or bpm.group(2)))
    else:
        word = next((i for w, i in _TEMPO_WORDS if _mentions(text, w)), None)
        if word is not None:
            out["tempo_bin"] = word
    meter = _METER.search(text)
    if meter is not None:
        out["time_signature"] = f"{int(meter.group(1))}/{int(meter.group(2))}"
    return out


def attribute_scores(query_attrs: Sequence[dict], piece_attrs: Sequence[dict]) -> np.ndarray:
    """[queries, pieces]: how many attributes a query names that the piece's gold row has."""
    out = np.zeros((len(query_attrs), len(piece_attrs)), dtype=np.float64)
    for i, q in enumerate(query_attrs):
        for j, p in enumerate(piece_attrs):
            out[i, j] = sum(p.get(k) == v for k, v in q.items())
    return out


# -- one evaluation ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    split: str
    direction: str  # "t2m" | "m2t"
    lang: str
    pool: int
    queries: int
    model: dict
    chance: dict
    baseline: dict


@dataclass(frozen=True)
class SearchRow:
    split: str
    lang: str
    pool: int
    queries: int
    k: int
    model: float  # mean share of the top k that have every attribute the prompt names
    chance: float  # the same for a random ranking: the mean share of the pool that has them
    baseline: float


@dataclass
class EvalReport:
    rows: list[Row] = field(default_factory=list)
    search: list[SearchRow] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        """Flat MLflow metrics: ``<split>.<direction>.<lang>.<r1|r10|mrr|mrr_over_chance|pool>``,
        and the same under ``baseline.`` / ``chance.``."""
        out = {}
        for r in self.rows:
            stem = f"{r.split}.{r.direction}.{r.lang}"
            out.update({f"{stem}.{k}": v for k, v in r.model.items()})
            out[f"{stem}.mrr_over_chance"] = r.model["mrr"] / r.chance["mrr"]
            out.update({f"baseline.{stem}.{k}": v for k, v in r.baseline.items()})
            out[f"baseline.{stem}.mrr_over_chance"] = r.baseline["mrr"] / r.chance["mrr"]
            out.update({f"chance.{stem}.{k}": v for k, v in r.chance.items()})
            out[f"{stem}.pool"] = float(r.pool)
        for r in self.search:
            stem = f"{r.split}.search.{r.lang}.p{r.k}"
            out.update({stem: r.model, f"baseline.{stem}": r.baseline, f"chance.{stem}": r.chance})
        return out

    def headline(self) -> dict[str, float]:
        """The few metrics a registered version carries (lifecycle tags): held-out MRR per direction and language."""
        return {k: v for k, v in self.metrics().items()
                if not k.startswith(("baseline.", "chance.", "train.")) and (
                    k.endswith(".mrr") or (k.startswith("validation.t2m.") and k.endswith(".mrr_over_chance"))
                    or ".search." in k)}

    def table(self) -> str:
        head = (f"{'split':<10} {'dir':<4} {'lang':<6} {'pool':>5} {'n':>5} | {'R@1':>5} {'R@10':>5} {'MRR':>5} | "
                f"{'chance R@1/R@10/MRR':>19} | {'baseline R@1/R@10/MRR':>21}")
        lines = [head, "-" * len(head)]
        for r in self.rows:
            m, c, b = r.model, r.chance, r.baseline
            lines.append(f"{r.split:<10} {r.direction:<4} {r.lang:<6} {r.pool:>5} {r.queries:>5} | "
                         f"{m['r1']:>5.3f} {m['r10']:>5.3f} {m['mrr']:>5.3f} | "
                         f"{c['r1']:>5.3f} {c['r10']:>6.3f} {c['mrr']:>6.3f} | "
                         f"{b['r1']:>6.3f} {b['r10']:>6.3f} {b['mrr']:>7.3f}")
        lines.append(f"anchor: CLaMP 3 text->MIDI MRR {CLAMP3_MIDICAPS_T2M_MRR} on MidiCaps (larger pool)")
        if self.search:
            lines.append("search prompts (2 attributes each, e.g. 'melancholic in 3/4 time'): share of the top k "
                         "that have both")
            lines.append(f"{'split':<10} {'lang':<6} {'pool':>5} {'n':>5} {'k':>3} | {'model':>6} {'chance':>6} "
                         f"{'baseline':>8}")
            for r in self.search:
                lines.append(f"{r.split:<10} {r.lang:<6} {r.pool:>5} {r.queries:>5} {r.k:>3} | {r.model:>6.3f} "
                             f"{r.chance:>6.3f} {r.baseline:>8.3f}")
        return "\n".join(lines)


def evaluate_pairs(encoder, pairs: Sequence[Pair], splits: Sequence[str] = ("validation", "test")) -> EvalReport:
    """Both directions, per language, for each split that has pieces; ``encoder`` is a ClapEncoder."""
    report = EvalReport()
    for split in splits:
        pool = sorted((p for p in pairs if p.split == split), key=lambda p: p.sha256)
        if len(pool) < 2:
            continue
        music = encoder.embed_tokens([p.tokens for p in pool])
        attrs = [p.attrs for p in pool]
        for lang in LANGS:
            idx = [i for i, p in enumerate(pool) if p.text(lang) is not None]
            if not idx:
                continue
            texts = [pool[i].text(lang) for i in idx]
            text_emb = encoder.embed_text(texts)
            parsed = [parse_attributes(t) for t in texts]
            base = attribute_scores(parsed, attrs)  # [texts, pieces]
            t2m = text_emb @ music.T
            report.rows.append(Row(split, "t2m", lang, len(pool), len(idx), retrieval_metrics(t2m, idx),
                                   chance(len(pool)), retrieval_metrics(base, idx)))
            if len(idx) >= 2:
                own = np.arange(len(idx))
                m2t = music[idx] @ text_emb.T
                report.rows.append(Row(split, "m2t", lang, len(idx), len(idx), retrieval_metrics(m2t, own),
                                       chance(len(idx)), retrieval_metrics(base[:, idx].T, own)))
        report.search.extend(search_precision(encoder, pool, split))
    return report


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best scores, ties by index (a stable sort of the negated scores)."""
    return np.argsort(-scores, kind="stable")[:k]


def search_precision(encoder, pool: Sequence[Pair], split: str, k: int = 10) -> list[SearchRow]:
    """Per language, one two-attribute prompt per piece of the pool (seeded by its hash, not the
    training prompts' seed): how many of the top ``k`` pieces have both attributes."""
    from training.clap.search_prompts import matches, prompt

    out, music, k = [], encoder.embed_tokens([p.tokens for p in pool]), min(k, len(pool))
    attrs = [p.attrs for p in pool]
    for lang in ("en", "zh"):
        asked = [prompt(p.attrs, lang, np.random.default_rng(int(p.sha256[32:48], 16)), n_facts=2) for p in pool]
        sims = encoder.embed_text([t for t, _ in asked]) @ music.T
        base = attribute_scores([parse_attributes(t) for t, _ in asked], attrs)
        hit = np.array([[matches(a, named) for a in attrs] for _, named in asked])  # [prompts, pieces]
        model = np.mean([hit[q, _top(sims[q], k)].mean() for q in range(len(asked))])
        baseline = np.mean([hit[q, _top(base[q], k)].mean() for q in range(len(asked))])
        out.append(SearchRow(split, lang, len(pool), len(asked), k, float(model), float(hit.mean()), float(baseline)))
    return out
