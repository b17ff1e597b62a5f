"""A melody index over lake pieces that sees through transposition, tempo, re-timing, cuts and a few changed notes.

**What is compared.** A piece's melody line (the track named ``melody``, else the lake's melody role,
else the skyline of every pitched track; one note per onset, the highest) becomes tokens, one per
note from its third: ``(interval, rhythm)`` with ``interval`` the semitones from the previous note
(clipped to +-:data:`MAX_INTERVAL`) and ``rhythm`` the ratio of this inter-onset interval to the
previous one as a rounded log2 (clipped to +-:data:`MAX_RATIO`): blind to transposition, to the tempo
and to any uniform re-timing of the ticks. A shingle is :data:`K` successive tokens, hashed to 32
bits; a piece is the set of its shingles.

**The index** (:class:`MelodyIndex`): every piece's shingles in one sorted array with the piece's row
beside each (an inverted index in two numpy arrays; 8 bytes per shingle). A query looks each of its
shingles up (``searchsorted``) and counts, per indexed piece, how many of the query's shingles it holds:
the **containment** of the query in the piece. A cut of a piece is contained whole, a piece with a tenth
of its notes changed keeps about half its shingles (each change breaks the K + 1 shingles it touches),
an unrelated melody shares a few percent (common figures: scales, repeated notes).

``add`` pieces, then ``freeze`` (sorts once); a frozen index answers :meth:`MelodyIndex.query`.
Incremental: :meth:`MelodyIndex.merge` adds another frozen index (the rows of a new lake batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from symusic import Score

K = 5  # tokens per shingle
MAX_INTERVAL = 24
MAX_RATIO = 3  # rhythm tokens: round(log2(ioi / previous ioi)) clipped to +-MAX_RATIO
MATCH_CONTAINMENT = 0.15  # a query this much contained in one lake piece is a near-copy of it ...
MIN_SHARED = 5  # ... sharing at least this many of its shingles with it
MIN_SHINGLES = 8  # a melody with fewer shingles is too short to judge
COMMON_SHARE = 0.01  # a shingle more than this share of the pieces hold is left out of a query
COMMON_MIN = 20  # ... but never one held by this many pieces or fewer (small indexes)


# -- a melody's shingles -----------------------------------------------------------------------------------
def melody_line(score: Score) -> tuple[np.ndarray, np.ndarray]:
    """(onset ticks, pitches) of the melody line: see the module doc."""
    pitched = [t for t in score.tracks if not t.is_drum and t.note_num() > 0]
    named = [t for t in pitched if str(t.name).strip().lower() == "melody"]
    if not named and pitched:
        try:
            from lake.midi_features import check_score, describe_tracks

            roles = {d["track_index"]: d["role"] for d in describe_tracks(check_score(score))}
            named = [t for i, t in enumerate(score.tracks) if roles.get(i) == "melody" and t.note_num() > 0]
        except Exception:  # noqa: BLE001 - a score the lake's caps refuse: the skyline below
            named = []
    use = named[:1] or pitched
    if not use:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    arrs = [t.notes.numpy() for t in use]
    start = np.concatenate([a["time"] for a in arrs]).astype(np.int64)
    pitch = np.concatenate([a["pitch"] for a in arrs]).astype(np.int64)
    order = np.lexsort((-pitch, start))
    start, pitch = start[order], pitch[order]
    first = np.ones(start.size, dtype=bool)
    first[1:] = start[1:] != start[:-1]
    return start[first], pitch[first]


def tokens(start: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """int64 token per note from the third: interval and rhythm packed in one number."""
    if start.size < 3:
        return np.zeros(0, np.int64)
    interval = np.clip(np.diff(pitch)[1:], -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL
    ioi = np.maximum(np.diff(start), 1).astype(np.float64)
    ratio = np.clip(np.rint(np.log2(ioi[1:] / ioi[:-1])), -MAX_RATIO, MAX_RATIO).astype(np.int64) + MAX_RATIO
    return interval * (2 * MAX_RATIO + 1) + ratio


_MULT = np.uint64(0x9E3779B97F4A7C15)


def position_hashes(tok: np.ndarray) -> np.ndarray:
    """The 32-bit hash of the K tokens from each position (uint32, one per position, repeats kept)."""
    if tok.size < K:
        return np.zeros(0, np.uint32)
    h = np.zeros(tok.size - K + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(K):
            h = (h ^ tok[j:tok.size - K + 1 + j].astype(np.uint64)) * _MULT
            h ^= h >> np.uint64(29)
    return (h >> np.uint64(32)).astype(np.uint32)


def shingles_of_tokens(tok: np.ndarray) -> np.ndarray:
    """The distinct 32-bit hashes of every K successive tokens (sorted)."""
    return np.unique(position_hashes(tok))


def shingles(midi: bytes | Score) -> np.ndarray:
    """The melody shingles of a MIDI file (bytes or Score)."""
    score = midi if isinstance(midi, Score) else Score.from_midi(bytes(midi))
    return shingles_of_tokens(tokens(*melody_line(score)))


# -- the index ---------------------------------------------------------------------------------------------
@dataclass
class Match:
    piece: str  # the indexed piece's id (the lake's sha256, or any name given to add)
    containment: float  # share of the query's shingles the piece holds
    shared: int


@dataclass
class MelodyIndex:
    ids: list[str] = field(default_factory=list)
    _parts: list[np.ndarray] = field(default_factory=list)
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))

    def add(self, piece_id: str, sh: np.ndarray) -> None:
        """Index a piece's shingles (:func:`shingles`); call :meth:`freeze` before querying."""
        self._parts.append(np.asarray(sh, dtype=np.uint32))
        self.ids.append(piece_id)

    def freeze(self) -> "MelodyIndex":
        if self._parts:
            start = len(self.ids) - len(self._parts)
            rows = np.concatenate([np.full(p.size, start + i, np.int32) for i, p in enumerate(self._parts)])
            hashes = np.concatenate(self._parts)
            self._parts = []
            hashes, rows = np.concatenate([self.hashes, hashes]), np.concatenate([self.rows, rows])
            order = np.argsort(hashes, kind="stable")
            self.hashes, self.rows = hashes[order], rows[order]
        return self

    def merge(self, other: "MelodyIndex") -> "MelodyIndex":
        """This index plus ``other``'s pieces (both frozen): how a new batch of the lake joins."""
        other.freeze()
        offset = len(self.ids)
        self.ids.extend(other.ids)
        hashes = np.concatenate([self.hashes, other.hashes])
        rows = np.concatenate([self.rows, other.rows + offset])
        order = np.argsort(hashes, kind="stable")
        self.hashes, self.rows = hashes[order], rows[order]
        return self

    @property
    def nbytes(self) -> int:
        return int(self.hashes.nbytes + self.rows.nbytes)

    def query(self, sh: np.ndarray, top: int = 3) -> list[Match]:
        """The indexed pieces holding most of the query's shingles, best first. Shingles that more than
        :data:`COMMON_SHARE` of the pieces hold (a scale run, repeated notes) say nothing about which
        piece this is: they are left out of the count and of the containment's denominator."""
        sh = np.asarray(sh, dtype=np.uint32)
        if sh.size == 0 or self.hashes.size == 0:
            return []
        lo = np.searchsorted(self.hashes, sh, side="left")
        n = (np.searchsorted(self.hashes, sh, side="right") - lo).astype(np.int64)
        informative = n <= max(COMMON_MIN, COMMON_SHARE * len(self.ids))
        lo, n = lo[informative], n[informative]
        total = int(informative.sum())
        if total == 0 or n.sum() == 0:
            return []
        starts = np.repeat(lo - np.concatenate([[0], np.cumsum(n)[:-1]]), n)
        rows = self.rows[starts + np.arange(int(n.sum()))]
        found, counts = np.unique(rows, return_counts=True)  # a piece's shingles are distinct: one count each
        best = np.argsort(-counts, kind="stable")[:top]
        return [Match(self.ids[int(found[i])], float(counts[i]) / total, int(counts[i])) for i in best]


def verdict(matches: list[Match], n_shingles: int, threshold: float = MATCH_CONTAINMENT) -> Match | None:
    """The match that makes the query a near-copy, or None (too short to judge counts as none): the best
    match holds at least ``threshold`` of the query's informative shingles and at least :data:`MIN_SHARED`."""
    if n_shingles < MIN_SHINGLES or not matches:
        return None
    best = matches[0]
    return best if best.containment >= threshold and best.shared >= MIN_SHARED else None


__all__ = ["K", "MATCH_CONTAINMENT", "Match", "MelodyIndex", "melody_line", "position_hashes", "shingles",
           "shingles_of_tokens", "tokens", "verdict"]
