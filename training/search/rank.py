"""Rank the lake's pieces for a query: the written key, mode and time signature filter (when any piece has them),
every attribute the query asks for scores each piece, and the CLAP similarity orders pieces the labels leave
level.

A hit's ``score`` is calibrated to 0-1: the weighted share of the query's demands the piece meets (a tempo
near the asked one, or an instrument of the asked family, counts in part), mixed with ``CLAP_WEIGHT`` of
the CLAP similarity turned into a percentile-like value (a logistic of its z-score over the lake). A piece that
meets everything asked scores at least 0.9; one that meets none at most 0.1. A query that asks for nothing the
labels know is ranked by CLAP alone. ``matched`` and ``missed`` name the attributes behind the score.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lake.vocab import CAPTION_MOODS, GM_NAMES, MOODS, tempo_bin
from training.search.index import SearchIndex, load_index
from training.search.query import Want, read_query

WEIGHTS = {"key": 3.0, "mode": 2.0, "tempo": 1.5, "meter": 2.0, "instruments": 1.5, "style": 1.5, "mood": 1.5,
           "collection": 2.0, "form": 1.5}
CLAP_WEIGHT = 0.1  # the CLAP share of a score where the query asks for labels; 1 where it asks for none
MATCHED = 0.5  # a partial match at least this good is listed as matched


def _pace(bpm: float) -> str:
    b = tempo_bin(bpm)
    return "slow" if b <= 2 else "moderate" if b <= 4 else "fast"


_RELATIVE = {}
for _i, _pc in enumerate(("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")):
    _minor = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")[(_i + 9) % 12]
    _RELATIVE[f"{_pc} major"], _RELATIVE[f"{_minor} minor"] = f"{_minor} minor", f"{_pc} major"


@dataclass
class Hit:
    sha256: str
    score: float  # 0-1, see the module doc
    title: str | None
    url: str | None
    collection: str
    style: str
    key: str
    time_signature: str
    bpm: float
    mood: str
    instruments: list[str]
    matched: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    clap: float | None = None  # the cosine, where the piece has a CLAP embedding
    source: str | None = None
    license: str | None = None  # the licence the file was collected under (bronze_midi_files)


@dataclass
class SearchResult:
    query: str
    want: Want
    hits: list[Hit]
    candidates: int  # pieces left after the hard filters
    total: int
    notes: list[str]
    ranked_by: str  # "labels + CLAP" | "labels" | "CLAP"


class Searcher:
    """A loaded index with its columns as arrays; :meth:`search` is a few numpy passes over the lake."""

    def __init__(self, index: SearchIndex):
        self.index = index
        t = index.table
        col = lambda n: t.column(n).to_pylist()  # noqa: E731
        self.sha, self.title, self.url = col("sha256"), col("title"), col("url")
        self.source = col("source")
        self.license = col("license") if "license" in t.column_names else [None] * t.num_rows
        self.key = np.array(col("key"), dtype=object)
        self.mode = np.array(col("mode"), dtype=object)
        self.bpm = np.array(col("bpm"), dtype=float)
        self.meter = np.array(col("time_signature"), dtype=object)
        self.mood = np.array(col("mood"), dtype=object)
        self.collection = np.array(col("collection"), dtype=object)
        self.style = col("style")
        self.styles = [set(s or ()) for s in col("styles")]
        self.programs = [set(p or ()) for p in col("programs")]
        self.families = [{p // 8 if p >= 0 else -1 for p in ps} for ps in self.programs]
        self.forms = [set(f or ()) for f in col("forms")]
        self.instruments = col("instruments")
        self.pace = np.array([_pace(b) for b in self.bpm], dtype=object)
        self.split = col("split")

    @classmethod
    def load(cls, cfg, clap_ref: str = "champion", rebuild: bool = False) -> "Searcher":
        return cls(load_index(cfg, clap_ref, rebuild=rebuild))

    def __len__(self) -> int:
        return len(self.sha)

    # -- per attribute: a match in [0, 1] for every piece, and its label ------------------------------------------
    def _parts(self, w: Want) -> list[tuple[str, float, np.ndarray, str]]:
        n = len(self)
        parts = []
        if w.key:
            m = (self.key == w.key).astype(float) + 0.25 * (self.key == _RELATIVE.get(w.key)).astype(float)
            parts.append(("key", WEIGHTS["key"] * (1 if w.key_stated else 0.67), m, f"key {w.key}"))
        elif w.mode:
            parts.append(("mode", WEIGHTS["mode"], (self.mode == w.mode).astype(float), f"{w.mode} mode"))
        if w.bpm is not None:
            m = np.clip(1 - np.abs(self.bpm - w.bpm) / 25.0, 0, 1)
            parts.append(("tempo", WEIGHTS["tempo"], m, f"{w.bpm:g} BPM"))
        elif w.tempo is not None:
            lo, hi = w.tempo
            gap = np.maximum(lo - self.bpm, 0) + np.maximum(self.bpm - hi, 0)
            parts.append(("tempo", WEIGHTS["tempo"], np.clip(1 - gap / 20.0, 0, 1),
                          f"{w.tempo_word} ({lo:g}-{hi:g} BPM)"))
        if w.meter:
            parts.append(("meter", WEIGHTS["meter"] * (1 if w.meter_stated else 0.67),
                          (self.meter == w.meter).astype(float), f"{w.meter} time"))
        if w.programs:
            want = set(w.programs)
            fams = {p // 8 if p >= 0 else -1 for p in want}
            m = np.array([(len(want & ps) + 0.5 * len({p // 8 if p >= 0 else -1 for p in want - ps} & fs)) / len(want)
                          for ps, fs in zip(self.programs, self.families)]) if fams else np.zeros(n)
            parts.append(("instruments", WEIGHTS["instruments"], m,
                          ", ".join(GM_NAMES[p] if p >= 0 else "Drums" for p in w.programs)))
        if w.styles:
            want = set(w.styles)
            parts.append(("style", WEIGHTS["style"], np.array([float(bool(want & s)) for s in self.styles]),
                          "/".join(w.styles)))
        if w.moods:
            best = np.zeros(n)
            for name in w.moods:
                mood = MOODS[name]
                if name in CAPTION_MOODS.values():
                    m = (self.mood == name).astype(float)
                else:
                    m = 0.6 * (self.mode == mood.mode) + 0.4 * (self.pace == _pace(mood.bpm))
                best = np.maximum(best, m)
            parts.append(("mood", WEIGHTS["mood"], best, "/".join(w.moods)))
        if w.collections:
            want = set(w.collections)
            parts.append(("collection", WEIGHTS["collection"],
                          np.array([float(c in want) for c in self.collection]), "/".join(w.collections)))
        if w.forms:
            want = set(w.forms)
            parts.append(("form", WEIGHTS["form"], np.array([float(bool(want & f)) for f in self.forms]),
                          "/".join(w.forms)))
        return parts

    def _hard(self, w: Want) -> list[tuple[str, np.ndarray]]:
        out = []
        if w.key and w.key_stated:
            out.append((f"key {w.key}", self.key == w.key))
        elif w.mode:
            out.append((f"{w.mode} mode", self.mode == w.mode))
        if w.meter and w.meter_stated:
            out.append((f"{w.meter} time", self.meter == w.meter))
        return out

    def clap_scores(self, query: str) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(cosine per piece, calibrated 0-1 per piece) or (None, None) without a CLAP version."""
        idx = self.index
        if idx.tower is None or idx.embeddings is None or not idx.has_embedding.any():
            return None, None
        q = idx.tower.embed([query])[0]
        cos = idx.embeddings @ q
        have = idx.has_embedding
        mu, sd = float(cos[have].mean()), float(cos[have].std()) or 1.0
        cal = np.where(have, 1 / (1 + np.exp(-1.7 * (cos - mu) / sd)), 0.5)
        return np.where(have, cos, np.nan), cal

    def filter_mask(self, filters: dict) -> np.ndarray:
        """Pieces that have every value ``filters`` names exactly: key, time_signature, style, collection, mood,
        bpm_min, bpm_max (None: not asked). Unlike what a query says, a filter never relaxes."""
        keep = np.ones(len(self), dtype=bool)
        f = {k: v for k, v in (filters or {}).items() if v is not None}
        if "key" in f:
            keep &= self.key == f["key"]
        if "time_signature" in f:
            keep &= self.meter == f["time_signature"]
        if "collection" in f:
            keep &= self.collection == f["collection"]
        if "mood" in f:
            keep &= self.mood == f["mood"]
        if "style" in f:
            keep &= np.array([f["style"] == s or f["style"] in ss for s, ss in zip(self.style, self.styles)],
                             dtype=bool)
        if "bpm_min" in f:
            keep &= self.bpm >= float(f["bpm_min"])
        if "bpm_max" in f:
            keep &= self.bpm <= float(f["bpm_max"])
        return keep

    def search(self, query: str, k: int = 10, use_clap: bool = True, use_labels: bool = True,
               want: Want | None = None, filters: dict | None = None) -> SearchResult:
        want = want if want is not None else read_query(query)
        if not use_labels:
            want = Want()
        notes = list(want.notes)
        n = len(self)
        if n == 0:
            return SearchResult(query, want, [], 0, 0, notes + ["the lake holds no described pieces"], "nothing")
        keep = self.filter_mask(filters) if filters else np.ones(n, dtype=bool)
        if filters and not keep.any():
            notes.append("no lake piece passes the filters")
        for label, mask in self._hard(want):
            if (keep & mask).any():
                keep &= mask
            else:
                notes.append(f"no piece has {label}" + (" with the rest asked" if keep.sum() < n else "") +
                             ": the nearest are shown")
        parts = []
        for part in self._parts(want):  # a demand no piece of the lake meets ranks nothing: said, then left out
            if part[2].max() > 0:
                parts.append(part)
            else:
                notes.append(f"no lake piece has {part[3]}: not counted")
        cos, cal = self.clap_scores(query) if use_clap else (None, None)
        if parts:
            total = sum(wt for _, wt, _, _ in parts)
            labels = sum(wt * m for _, wt, m, _ in parts) / total
            score = labels if cal is None else (1 - CLAP_WEIGHT) * labels + CLAP_WEIGHT * cal
            ranked_by = "labels" if cal is None else "labels + CLAP"
        elif cal is not None:
            score, ranked_by = cal, "CLAP"
        else:
            score, ranked_by = np.zeros(n), "nothing (no label asked for, no CLAP version)"
            notes.append("the query names nothing the lake's labels know and no CLAP version is registered")
        order = sorted(np.flatnonzero(keep), key=lambda i: (-score[i], self.sha[i]))[:k]
        hits = []
        for i in order:
            matched = [label if m[i] >= 0.999 else f"{label} (in part)" for _, _, m, label in parts if m[i] >= MATCHED]
            missed = [label for _, _, m, label in parts if m[i] < MATCHED]
            hits.append(Hit(self.sha[i], round(float(score[i]), 4), self.title[i], self.url[i], self.collection[i],
                            self.style[i], self.key[i], self.meter[i], float(self.bpm[i]), self.mood[i],
                            list(self.instruments[i]), matched, missed,
                            None if cos is None or np.isnan(cos[i]) else round(float(cos[i]), 4),
                            self.source[i], self.license[i]))
        return SearchResult(query, want, hits, int(keep.sum()), n, notes, ranked_by)

