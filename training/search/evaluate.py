"""How well search finds what a query says: queries written from held-out pieces' labels (the ``test`` split of
``gold_text_music_pairs``), in English and Chinese, against the whole lake.

Query sets (one query per held-out piece and language, wording drawn with a generator seeded by the piece):

* ``labels``        - style, key, time signature, instruments and mood ("a melancholic pop piece in C# minor,
  1/4 time, for piano"; "一首忧郁的流行作品，升C小调，1/4拍，钢琴");
* ``labels+tempo``  - the same and the tempo marking of its bin;
* ``caption``       - the piece's own caption from the gold table (``caption`` / ``caption_zh``).

Methods: ``search`` (labels + CLAP, what ``musiclake search`` does), ``labels`` (no CLAP), ``clap`` (CLAP
alone, the search before), ``filter`` (the pieces whose labels equal everything the query says, in lake
order: a label-filter baseline), ``chance``. Figures: R@10 (the piece itself among the first 10), MRR, key
precision (share of the first 10 in the query's key), label precision (share of the first min(10, n) hits
that have every label the query names, n the lake's pieces that have them all), and the separation of the
scores: AUC = the chance that a piece having every named label scores above one that lacks one (pieces
outside the hard filter count as scored 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lake.vocab import GM_NAMES, MOODS, STYLE_ZH, TEMPO_WORDS, TEMPO_ZH, instrument_zh, key_zh
from training.search.query import read_query
from training.search.rank import Searcher

QUERY_SETS = ("labels", "labels+tempo", "caption")
METHODS = ("search", "labels", "clap", "filter", "chance")
K = 10


def _style(i: int, s: Searcher) -> str | None:
    styles = sorted(s.styles[i])
    return styles[0] if styles else None


def label_query(s: Searcher, i: int, lang: str, tempo: bool) -> str:
    """A query naming piece ``i``'s labels, worded by a generator seeded by its hash."""
    rng = np.random.default_rng(int(s.sha[i][:12], 16) + (1 if lang == "zh" else 0) + (2 if tempo else 0))
    pick = lambda options: options[int(rng.integers(len(options)))]  # noqa: E731
    style, key, meter, mood = _style(i, s), s.key[i], s.meter[i], s.mood[i]
    programs = sorted(s.programs[i])[:3]
    word = TEMPO_WORDS[int(np.searchsorted([40, 60, 70, 90, 110, 140, 160, 210], s.bpm[i], side="right"))]
    if lang == "en":
        insts = " and ".join(GM_NAMES[p] if p >= 0 else "drums" for p in programs)
        head = f"{mood} {style} piece" if style else f"{mood} piece"
        parts = [pick([f"a {head}", head, f"{head}"]), pick([f"in {key}", f"key of {key}"]),
                 pick([f"{meter} time", f"in {meter}"]), pick([f"for {insts}", f"played on {insts}"]) if insts else ""]
        if tempo:
            parts.insert(1, pick([f"{word}", f"at a {word} tempo"]))
        return pick([", ", " "]).join(p for p in parts if p)
    insts = "和".join(w for w in (instrument_zh(p) for p in programs) if w)
    head = MOODS[mood].zh + "的" + (STYLE_ZH[style] if style else "") + pick(["作品", "音乐", "曲子"])
    parts = [pick(["一首", ""]) + head, key_zh(key), f"{meter}拍", (pick(["由", "用"]) + insts + "演奏") if insts else ""]
    if tempo:
        parts.insert(1, TEMPO_ZH[word])
    return "，".join(p for p in parts if p)


def _has_all(s: Searcher, i: int, want) -> bool:
    """Whether piece ``i`` has every label the query names (exactly)."""
    if want.key and s.key[i] != want.key:
        return False
    if not want.key and want.mode and s.mode[i] != want.mode:
        return False
    if want.meter and s.meter[i] != want.meter:
        return False
    if want.programs and not set(want.programs) <= s.programs[i]:
        return False
    if want.styles and not set(want.styles) & s.styles[i]:
        return False
    if want.moods and s.mood[i] not in want.moods:
        return False
    if want.tempo and not want.tempo[0] <= s.bpm[i] <= want.tempo[1]:
        return False
    if want.bpm is not None and abs(s.bpm[i] - want.bpm) > 2:
        return False
    return True


@dataclass
class Row:
    r10: list[float]
    rr: list[float]
    key_p: list[float]
    label_p: list[float]
    auc: list[float]


def _auc(scores: np.ndarray, good: np.ndarray) -> float | None:
    if good.all() or not good.any():
        return None
    pos, neg = scores[good], scores[~good]
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    ranks[order] = np.arange(1, len(order) + 1)
    allv = np.concatenate([pos, neg])  # average ranks over ties
    for v in np.unique(allv):
        tie = allv == v
        ranks[tie] = ranks[tie].mean()
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def evaluate(s: Searcher, limit: int | None = None) -> dict:
    """{query set: {lang: {method: Row}}} and the number of held-out pieces."""
    held = [i for i, sp in enumerate(s.split) if sp == "test"][:limit]
    n = len(s)
    out: dict = {}
    for qs in QUERY_SETS:
        out[qs] = {}
        for lang in ("en", "zh"):
            rows = {m: Row([], [], [], [], []) for m in METHODS}
            for i in held:
                if qs == "caption":
                    col = "caption" if lang == "en" else "caption_zh"
                    q = s.index.table.column(col)[i].as_py()
                    if not q:
                        continue
                else:
                    q = label_query(s, i, lang, tempo=qs == "labels+tempo")
                want = read_query(q)
                good = np.array([_has_all(s, j, want) for j in range(n)])
                target_key = s.key[i]
                for m in METHODS:
                    if m == "chance":
                        rank = (n + 1) / 2
                        top = None
                        rows[m].r10.append(min(1.0, K / n))
                        rows[m].rr.append(float(np.mean(1 / np.arange(1, n + 1))))
                        rows[m].key_p.append(float(np.mean(s.key == (want.key or target_key))))
                        rows[m].label_p.append(float(good.mean()))  # a random piece has them all this often
                        continue
                    if m == "filter":
                        order = [j for j in range(n) if good[j]]  # the lake's order (by hash)
                        score = good.astype(float)
                    else:
                        r = s.search(q, k=n, use_clap=m != "labels", use_labels=m != "clap", want=want)
                        index_of = {sha: j for j, sha in enumerate(s.sha)}
                        order = [index_of[h.sha256] for h in r.hits]
                        score = np.zeros(n)
                        for h in r.hits:
                            score[index_of[h.sha256]] = h.score
                        a = _auc(score, good)
                        if a is not None:
                            rows[m].auc.append(a)
                    rank = order.index(i) + 1 if i in order else None
                    top = order[:K]
                    rows[m].r10.append(float(rank is not None and rank <= K))
                    rows[m].rr.append(1.0 / rank if rank else 0.0)
                    key = want.key or target_key
                    rows[m].key_p.append(float(np.mean([s.key[j] == key for j in top])) if top else 0.0)
                    first = order[:max(1, min(K, int(good.sum())))]  # as many hits as there are pieces to find
                    rows[m].label_p.append(float(np.mean([good[j] for j in first])) if first else 0.0)
            out[qs][lang] = rows
    return {"results": out, "held_out": len(held), "pieces": n}


def table(report: dict) -> str:
    lines = [f"{report['held_out']} held-out pieces (test split) x 2 languages, against all {report['pieces']} "
             f"lake pieces; first {K} hits",
             "| queries | lang | method | R@10 | MRR | key precision | label precision | AUC |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    pct = lambda xs: f"{100 * np.mean(xs):.1f} %" if xs else "-"  # noqa: E731
    for qs, langs in report["results"].items():
        for lang, rows in langs.items():
            for m, r in rows.items():
                mrr = f"{np.mean(r.rr):.3f}" if r.rr else "-"
                auc = f"{np.mean(r.auc):.3f}" if r.auc else "-"
                lines.append(f"| {qs} | {lang} | {m} | {pct(r.r10)} | {mrr} | {pct(r.key_p)} | {pct(r.label_p)} "
                             f"| {auc} |")
    return "\n".join(lines)
