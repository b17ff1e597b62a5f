"""A line index over lake pieces that sees through transposition, tempo, re-timing, cuts and changed notes.

**What is compared.** Every line of a piece: the track named ``melody`` (if any), the skyline of all
pitched tracks (the top note per onset: an unnamed tune), and each pitched track's own top line, at most
:data:`MAX_LINES`. A line becomes tokens, one per note from its third: ``(interval, rhythm)``, the
semitones from the previous note (clipped to +-:data:`MAX_INTERVAL`) and the ratio of this inter-onset
interval to the previous one in three classes (shorter than 0.7, about the same, longer than 1.4): blind
to transposition, to the tempo and to any uniform re-timing, and coarse enough that a quantization
grid moves few of them. A piece's lines are stored as one ``uint8`` sequence (lines joined by
:data:`SEP`).

**Two stages.**

1. *Candidates.* A shingle is :data:`K` successive tokens of one line, hashed to 32 bits; the index
   keeps every piece's shingles whose hash is 0 modulo :data:`SAMPLE` (a content-defined sample: a
   copy keeps the same sample) in one sorted array with the piece's row beside each (an inverted index,
   8 bytes a shingle). A query's sampled shingles are looked up (``searchsorted``); shingles that more
   than :data:`COMMON_SHARE` of the pieces hold (scale runs, repeated notes) are left out; the pieces
   holding most of the rest are the candidates (at most :data:`CANDIDATES`).
2. *Verification.* Each line of the query is aligned with each candidate's lines around the diagonal
   its shingles share, every place of each in the candidate voting (local alignment, Smith-Waterman
   with linear gaps, vectorised by rows). A token matching scores its information (the bits of its
   rarity in the lake, between 1 and :data:`MAX_WEIGHT`), so a run of repeated notes is worth little and a distinctive figure much; the
   same interval with another rhythm class scores a little, an interval a step or two off
   (a note moved) costs a little, anything else and a gap cost more. The best alignment's score, in
   bits, decides: from :data:`MATCH_SCORE` a near-copy (about four bars of a tune copied, or eight
   with a tenth of the notes changed). A query line of up to :data:`WHOLE` tokens (an 8-bar cut's) is
   aligned whole, a longer one in windows. The matches are ranked by the sum of the query lines' best
   scores with each piece: a copy of a piece matches it in several lines (the tune and its
   accompaniment), a stock figure (an arpeggio, a bass pattern) in one; before the ranking, the
   leading pieces' lines not aligned yet are aligned too (:data:`CONTENDERS`), so that they are compared
   on the same lines.

``add`` pieces (their token sequences, :func:`piece_tokens`), then ``freeze``; a frozen index answers
:meth:`LineIndex.query`. Incremental: :meth:`LineIndex.merge` adds another frozen index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit
from symusic import Score

SCHEME = 2  # the tokens and shingles written to gold_melody_index; rows of an older scheme are re-read
K = 4  # tokens per shingle
SAMPLE = 2  # the index keeps the shingles whose hash % SAMPLE == 0
MAX_INTERVAL = 24
RATIOS = 3  # rhythm classes: shorter, about the same, longer
SEP = 255  # between the lines of a piece's sequence (and the padding of an alignment)
MAX_LINES = 8
MAX_SEQ = 65_535  # tokens of a piece indexed (places are uint16)
COMMON_SHARE = 0.01  # a shingle more than this share of the pieces hold is left out of the candidates
COMMON_MIN = 20  # ... but never one held by this many pieces or fewer (small indexes)
CANDIDATES = 16  # pieces aligned per query
MIN_TOKENS = 10  # a query line with fewer tokens is not judged
MAX_WEIGHT = 5.0
MATCH_SCORE = 40.0  # bits of the best local alignment from which a line is a near-copy
WHOLE = 96  # a query line of up to this many tokens is aligned whole; a longer one ...
CHUNK = 48  # ... in windows of this many tokens ...
STRIDE = 32  # ... starting every this many
MAX_PAIRS = 40  # (query window, candidate) pairs aligned per query: those sharing most shingles
CONTENDERS = 4  # the leading pieces (by all lines' evidence, and as many by the best single score) whose ...
LONG = 256  # ... every line of up to this many tokens (each of its windows) is aligned before the ranking, ...
ENOUGH = 0.5  # ... where a piece scores at least this share of MATCH_SCORE (else there is no copy to name)
PAD = 12  # tokens either side of a shared diagonal that an alignment may reach
VOTE_CAP = 8  # places of one shingle in a candidate that vote for a diagonal (a repeated-note run has many)
HASHED_CACHE = 2048  # candidates whose sorted hashes a query keeps for the next (12 bytes per token)
GAP = 2.5


# -- lines and tokens ----------------------------------------------------------------------------------------
@dataclass
class Line:
    label: str  # "melody", "skyline" or the track's name
    start: np.ndarray  # onset ticks, one per note
    pitch: np.ndarray
    track: int | None = None  # the track's index (None: the skyline)


def _top(arrs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    start = np.concatenate([a["time"] for a in arrs]).astype(np.int64)
    pitch = np.concatenate([a["pitch"] for a in arrs]).astype(np.int64)
    order = np.lexsort((-pitch, start))
    start, pitch = start[order], pitch[order]
    first = np.ones(start.size, dtype=bool)
    first[1:] = start[1:] != start[:-1]
    return start[first], pitch[first]


def lines(score: Score, tracks: list[int] | None = None) -> list[Line]:
    """The lines of a score (see the module doc); ``tracks``: only these track indexes (new material)."""
    pitched = [(i, t) for i, t in enumerate(score.tracks) if not t.is_drum and t.note_num() > 0
               and (tracks is None or i in tracks)]
    if not pitched:
        return []
    arrs = {i: t.notes.numpy() for i, t in pitched}
    out: list[Line] = []
    named = [i for i, t in pitched if str(t.name).strip().lower() == "melody"]
    if named:
        out.append(Line("melody", *_top([arrs[named[0]]]), track=named[0]))
    if len(pitched) > 1:
        out.append(Line("skyline", *_top(list(arrs.values()))))
    for i, t in sorted(pitched, key=lambda it: -it[1].note_num()):
        if i not in named[:1]:
            out.append(Line(str(t.name).strip() or f"track {i + 1}", *_top([arrs[i]]), track=i))
    seen, kept = set(), []
    for ln in out:
        key = tokens(ln.start, ln.pitch).tobytes()
        if key not in seen and len(key) >= K:
            seen.add(key)
            kept.append(ln)
    return kept[:MAX_LINES]


def melody_line(score: Score) -> tuple[np.ndarray, np.ndarray]:
    """(onset ticks, pitches) of the piece's first line (the melody if named, else the skyline)."""
    ls = lines(score)
    return (ls[0].start, ls[0].pitch) if ls else (np.zeros(0, np.int64), np.zeros(0, np.int64))


def tokens(start: np.ndarray, pitch: np.ndarray) -> np.ndarray:
    """uint8 token per note from the third: interval and rhythm class packed in one number (< SEP)."""
    if start.size < 3:
        return np.zeros(0, np.uint8)
    interval = np.clip(np.diff(pitch)[1:], -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL
    ioi = np.maximum(np.diff(start), 1).astype(np.float64)
    r = np.log2(ioi[1:] / ioi[:-1])
    ratio = np.where(r < -0.5, 0, np.where(r > 0.5, 2, 1))
    return (interval * RATIOS + ratio).astype(np.uint8)


def join(parts: list[np.ndarray]) -> np.ndarray:
    """Lines' tokens as one sequence, SEP between them."""
    out: list[np.ndarray] = []
    for p in parts:
        if out:
            out.append(np.array([SEP], np.uint8))
        out.append(np.asarray(p, np.uint8))
    return np.concatenate(out) if out else np.zeros(0, np.uint8)


def piece_tokens(midi: bytes | Score) -> np.ndarray:
    """The token sequence of every line of a MIDI file (what the index stores for a piece)."""
    score = midi if isinstance(midi, Score) else Score.from_midi(bytes(midi))
    return join([tokens(ln.start, ln.pitch) for ln in lines(score)])


_MULT = np.uint64(0x9E3779B97F4A7C15)


def position_hashes(seq: np.ndarray) -> np.ndarray:
    """The 32-bit hash of the K tokens from each position (uint32; a window holding SEP hashes to 1, which
    :data:`SAMPLE` never keeps)."""
    seq = np.asarray(seq)
    if seq.size < K:
        return np.zeros(0, np.uint32)
    n = seq.size - K + 1
    h = np.zeros(n, dtype=np.uint64)
    bad = np.zeros(n, dtype=bool)
    with np.errstate(over="ignore"):
        for j in range(K):
            part = seq[j:n + j]
            bad |= part == SEP
            h = (h ^ part.astype(np.uint64)) * _MULT
            h ^= h >> np.uint64(29)
    out = (h >> np.uint64(32)).astype(np.uint32)
    out[bad] = 1
    return out


def sampled(h: np.ndarray) -> np.ndarray:
    return h[h % SAMPLE == 0]


def shingles(seq: np.ndarray) -> np.ndarray:
    """The sampled shingles of a token sequence, each once (its first place): int64 ``place << 32 | hash``,
    what the index holds of a piece (the place lets a query find the diagonal it shares without hashing
    the piece again)."""
    h = position_hashes(seq)
    keep = np.flatnonzero(h % SAMPLE == 0)
    _, first = np.unique(h[keep], return_index=True)
    at = keep[first]
    return (at.astype(np.int64) << 32) | h[at].astype(np.int64)


# -- alignment -----------------------------------------------------------------------------------------------
def score_table(weights: np.ndarray) -> np.ndarray:
    """float32 [256, 256]: the score of aligning token a with token b (see the module doc)."""
    t = np.arange(256)
    iv, rh = t // RATIOS, t % RATIOS
    w = np.asarray(weights, np.float32)
    same_iv = iv[:, None] == iv[None, :]
    same_rh = rh[:, None] == rh[None, :]
    near = np.abs(iv[:, None] - iv[None, :]) <= 2
    pair_w = np.minimum(w[:, None], w[None, :])
    s = np.where(same_iv & same_rh, w[:, None], np.where(same_iv, 0.25 * pair_w, np.where(near, -1.0, -2.0)))
    s = s.astype(np.float32)
    s[SEP, :] = s[:, SEP] = -50.0
    return s


def align(q: np.ndarray, w: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Local alignment of each query row with each window row (uint8 [P, Lq] and [P, W], SEP-padded):
    (best score, query index of its end, window index of its end), one each per row pair; the first best
    cell in (query, window) order where several tie."""
    p = q.shape[0]
    best = np.empty(p, np.float32)
    end_q, end_w = np.empty(p, np.int64), np.empty(p, np.int64)
    ramp = GAP * np.arange(w.shape[1], dtype=np.float32)
    _align_rows(np.ascontiguousarray(q), np.ascontiguousarray(w), table, np.float32(GAP), ramp, best, end_q, end_w)
    return best, end_q, end_w


@njit(cache=True, nogil=True)
def _align_rows(q, w, table, gap, ramp, best, end_q, end_w):  # pragma: no cover - compiled
    """:func:`align`'s dynamic programme, compiled, one row pair at a time over two rows of cells: a cell is
    the best of the diagonal step (``table`` score), a gap in the window, 0 (a local alignment starts
    anywhere), and a gap in the query (the running best of the row, less ``gap`` per cell, taken as
    ``max(cell + ramp) - ramp`` with ``ramp`` = gap * column, in float32, the order the scores were
    calibrated with)."""
    n_pairs, lq = q.shape
    width = w.shape[1]
    prev = np.zeros(width + 1, np.float32)  # column 0: the boundary, always 0
    cur = np.zeros(width + 1, np.float32)
    zero = np.float32(0.0)
    for r in range(n_pairs):
        prev[:] = zero
        top, at_q, at_w = np.float32(-np.inf), 0, 0
        for i in range(lq):
            a = q[r, i]
            run = np.float32(-np.inf)
            for j in range(width):
                t = prev[j] + table[a, w[r, j]]
                g = prev[j + 1] - gap
                if g > t:
                    t = g
                if t < zero:
                    t = zero
                t = t + ramp[j]
                if t > run:
                    run = t
                v = run - ramp[j]
                cur[j + 1] = v
                if v > top:
                    top, at_q, at_w = v, i, j
            prev, cur = cur, prev
        best[r], end_q[r], end_w[r] = top, at_q, at_w


# -- the index -----------------------------------------------------------------------------------------------
@dataclass
class Match:
    piece: str  # the indexed piece's id (the lake's sha256, or any name given to add)
    score: float  # bits of the best local alignment of one query line with the piece
    line: int  # the query line it aligned (index into the query's lines)
    first: int  # the query line's tokens first .. last (inclusive) aligned
    last: int
    shared: int  # sampled shingles the piece shares with the query
    line_scores: dict[int, float] = field(default_factory=dict)  # per query line, its best score with the piece
    share: float = 0.0  # the best alignment's score over the aligned query window's own score (1: identical)


@dataclass
class LineIndex:
    ids: list[str] = field(default_factory=list)
    _parts: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    places: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint16))
    seq: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(256, np.int64))
    table: np.ndarray | None = None
    # a candidate's every K-token hash, sorted, and the places they come from (:meth:`_votes`), for the pieces
    # queried most recently: the same few lake pieces are candidates for many queries
    _hashed: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False, compare=False)

    def add(self, piece_id: str, seq: np.ndarray, sh: np.ndarray | None = None) -> None:
        """Index a piece's token sequence (:func:`piece_tokens`; its :func:`shingles` if already made);
        call :meth:`freeze` before querying."""
        seq = np.asarray(seq, np.uint8)[:MAX_SEQ]
        sh = shingles(seq) if sh is None else np.asarray(sh, np.int64)
        self._parts.append((seq, sh[(sh >> 32) < seq.size]))
        self.ids.append(piece_id)

    def freeze(self) -> "LineIndex":
        if self._parts:
            start = len(self.ids) - len(self._parts)
            seqs = [p[0] for p in self._parts]
            shs = [p[1] for p in self._parts]
            rows = np.concatenate([np.full(s.size, start + i, np.int32) for i, s in enumerate(shs)])
            sh = np.concatenate(shs)
            self._append((sh & 0xFFFFFFFF).astype(np.uint32), rows, (sh >> 32).astype(np.uint16), seqs)
            self._parts = []
        if self.table is None:
            self._weigh()
        return self

    def _append(self, hashes, rows, places, seqs) -> None:
        hashes = np.concatenate([self.hashes, hashes])
        order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[order]
        self.rows = np.concatenate([self.rows, rows])[order]
        self.places = np.concatenate([self.places, places])[order]
        lens = np.array([s.size for s in seqs], np.int64)
        self.offsets = np.concatenate([self.offsets, self.offsets[-1] + np.cumsum(lens)])
        self.seq = np.concatenate([self.seq, *seqs]) if seqs else self.seq
        self.counts = self.counts + np.bincount(np.concatenate(seqs) if seqs else np.zeros(0, np.uint8),
                                                minlength=256)
        self.table = None

    def _weigh(self) -> None:
        c = self.counts.astype(np.float64).copy()
        c[SEP] = 0
        p = (c + 1.0) / (c.sum() + 256.0)
        self.table = score_table(np.clip(-np.log2(p) - 3.0, 1.0, MAX_WEIGHT))

    def merge(self, other: "LineIndex") -> "LineIndex":
        """This index plus ``other``'s pieces (both frozen): how a new batch of the lake joins."""
        other.freeze()
        offset = len(self.ids)
        self.ids.extend(other.ids)
        seqs = [other.seq[other.offsets[i]:other.offsets[i + 1]] for i in range(len(other.ids))]
        self._append(other.hashes, other.rows + offset, other.places, seqs)
        self._weigh()
        return self

    @property
    def nbytes(self) -> int:
        return int(self.hashes.nbytes + self.rows.nbytes + self.places.nbytes + self.seq.nbytes
                   + self.offsets.nbytes)

    def piece_seq(self, row: int) -> np.ndarray:
        return self.seq[self.offsets[row]:self.offsets[row + 1]]

    def _hits(self, query_lines: list[np.ndarray]):
        """Every (query line, place in it, indexed row, place in the row) of a shared informative shingle, each
        of the query's shingles once (at its first place): the index holds a shingle once per piece
        (:func:`shingles`), so each (row, shingle) comes once."""
        line_of, pos_of, hs = [], [], []
        for k, t in enumerate(query_lines):
            h = position_hashes(t)
            at = np.flatnonzero((h % SAMPLE == 0) & (h != 1))
            line_of.append(np.full(at.size, k, np.int64))
            pos_of.append(at)
            hs.append(h[at])
        if not hs or self.hashes.size == 0:
            return None
        h, line_of, pos_of = np.concatenate(hs), np.concatenate(line_of), np.concatenate(pos_of)
        h, first = np.unique(h, return_index=True)  # each shingle once (its first place), in hash order: the
        line_of, pos_of = line_of[first], pos_of[first]  # binary searches below then walk the index forward
        lo = np.searchsorted(self.hashes, h, side="left")
        n = (np.searchsorted(self.hashes, h, side="right") - lo).astype(np.int64)
        n[n > max(COMMON_MIN, COMMON_SHARE * len(self.ids))] = 0  # says nothing about which piece this is
        total = int(n.sum())
        if total == 0:
            return None
        starts = np.repeat(lo - np.concatenate([[0], np.cumsum(n)[:-1]]), n) + np.arange(total)
        which = np.repeat(np.arange(h.size), n)
        return line_of[which], pos_of[which], h[which], self.rows[starts], self.places[starts].astype(np.int64)

    def candidates(self, query_lines: list[np.ndarray], hits=None) -> list[tuple[int, int]]:
        """(row, shared sampled shingles) of the pieces sharing most of the query's informative shingles."""
        hits = self._hits(query_lines) if hits is None else hits
        if hits is None:
            return []
        # a shingle counts once per piece: each (row, shingle) comes once (:meth:`_hits`); counted per row (a
        # count over every row where the hits outnumber a quarter of the pieces), and only the rows that can be
        # among the first CANDIDATES sorted (by count, then row: as a full sort of them all would)
        rows = hits[3]
        if rows.size * 4 < len(self.ids):
            found, counts = np.unique(rows, return_counts=True)
        else:
            counts = np.bincount(rows, minlength=len(self.ids))
            found = np.flatnonzero(counts)
            counts = counts[found]
        if counts.size > CANDIDATES:  # the CANDIDATES-th highest count, from the counts' own histogram
            at_least = np.cumsum(np.bincount(counts)[::-1])  # [i]: rows counting max - i or more
            keep = np.flatnonzero(counts >= at_least.size - 1 - int(np.searchsorted(at_least, CANDIDATES)))
            found, counts = found[keep], counts[keep]
        best = np.argsort(-counts, kind="stable")[:CANDIDATES]
        return [(int(found[i]), int(counts[i])) for i in best]

    def _votes(self, query_lines: list[np.ndarray], cands: list[tuple[int, int]]) -> np.ndarray | None:
        """One key per (candidate, query line, window, diagonal) for every place a candidate holds a K-token
        shingle of a judged query line (at most :data:`VOTE_CAP` places per shingle): the candidates'
        sequences are hashed again here, so every restatement of a phrase votes, not only the first place
        the index keeps (which in a tune that restates its phrases with changes can point at the wrong one)."""
        ql, qp, qh, qw = [], [], [], []
        for k, t in enumerate(query_lines):
            if t.size < MIN_TOKENS:
                continue
            h = position_hashes(t)
            at = np.flatnonzero(h != 1)
            ql.append(np.full(at.size, k, np.int64))
            qp.append(at)
            qh.append(h[at])
            qw.append(at // STRIDE if t.size > WHOLE else np.zeros(at.size, np.int64))
        if not qh:
            return None
        lines_, pos_q, h_q, win_q = np.concatenate(ql), np.concatenate(qp), np.concatenate(qh), np.concatenate(qw)
        parts = []
        for rank, (row, _) in enumerate(cands):
            h_c, pos_c = self._sorted_hashes(row)
            lo = np.searchsorted(h_c, h_q, side="left")
            n = np.minimum(np.searchsorted(h_c, h_q, side="right") - lo, VOTE_CAP).astype(np.int64)
            total = int(n.sum())
            if total == 0:
                continue
            at = np.repeat(lo - np.concatenate([[0], np.cumsum(n)[:-1]]), n) + np.arange(total)
            which = np.repeat(np.arange(h_q.size), n)
            pos = pos_q[which]
            diag = pos_c[at] - pos + (1 << 20)
            parts.append(((rank * MAX_LINES + lines_[which]) * 4096 + win_q[which]) << 22 | diag)
        return np.concatenate(parts) if parts else None

    def _sorted_hashes(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """The piece's K-token hashes (windows holding SEP left out), sorted, and each one's place; the last
        :data:`HASHED_CACHE` pieces asked for are kept (a piece's tokens never change once indexed)."""
        got = self._hashed.get(row)
        if got is None:
            h = position_hashes(self.piece_seq(row))
            pos = np.flatnonzero(h != 1)
            order = np.argsort(h[pos], kind="stable")
            got = self._hashed[row] = (h[pos][order], pos[order])
            if len(self._hashed) > HASHED_CACHE:
                del self._hashed[next(iter(self._hashed))]  # the oldest first
        return got

    def query(self, query_lines: list[np.ndarray], top: int = 3) -> list[Match]:
        """The indexed pieces best aligned with one of the query's lines (token arrays), best first.

        A query line of up to :data:`WHOLE` tokens is aligned whole, a longer one in windows (:data:`CHUNK`
        tokens every :data:`STRIDE`); a line or window is aligned with a candidate around the diagonal (place in
        the piece - place in the line) its shared shingles agree on most, every place of each in the candidate
        voting (:meth:`_votes`). The :data:`MAX_PAIRS` pairs sharing most shingles are aligned first; then, if
        a piece scores :data:`ENOUGH` of :data:`MATCH_SCORE`, every line (up to :data:`LONG` tokens) of each
        leading piece (:data:`CONTENDERS` by the total of all lines, as many by the best single score) not
        aligned yet with it, so that the final ranking compares the leaders on the same lines."""
        self.freeze()
        hits = self._hits(query_lines)
        cands = self.candidates(query_lines, hits) if hits is not None else []
        if not cands:
            return []
        key = self._votes(query_lines, cands)
        if key is None:
            return []
        keys, counts = np.unique(key, return_counts=True)
        group = keys >> 22
        pick = np.lexsort((-counts, group))
        firsts = np.ones(pick.size, bool)
        firsts[1:] = group[pick][1:] != group[pick][:-1]
        pick = pick[firsts]  # each (candidate, line, window)'s best diagonal
        window_diag = dict(zip(group[pick].tolist(), ((keys[pick] & ((1 << 22) - 1)) - (1 << 20)).tolist()))
        pick = pick[np.argsort(-counts[pick], kind="stable")[:MAX_PAIRS]]
        shared_of = dict(cands)
        pairs, qs, ws = [], [], []
        for g in group[pick].tolist():
            c, k = g % 4096, (g // 4096) % MAX_LINES
            row = cands[g // 4096 // MAX_LINES][0]
            a0, a1 = _window(query_lines[k].size, c)
            self._pair(pairs, qs, ws, row, shared_of[row], k, query_lines[k], a0, a1, window_diag[g])
        if not pairs:
            return []
        best, end_q, end_w = _align_list(qs, ws, self.table)
        if CONTENDERS and best.max() >= ENOUGH * MATCH_SCORE:
            # a leading piece may hold the copied lines that the first pairs left out (they went to pieces sharing
            # more shingles, such as another piece's stock figures), and a line aligned in part scores less than
            # whole: the leaders' every line is aligned before they are ranked
            by_total = list(dict.fromkeys(pairs[i][0] for i in _ranked(pairs, best)))
            by_best = sorted(by_total, key=lambda r: -max(float(b) for p, b in zip(pairs, best) if p[0] == r))
            done = {(p[0], p[2], p[3]) for p in pairs}
            line_diag = _line_diagonals(keys, counts)
            rank_of = {row: r for r, (row, _) in enumerate(cands)}
            n0 = len(pairs)
            for row in dict.fromkeys(by_total[:CONTENDERS] + by_best[:CONTENDERS]):
                for k, t in enumerate(query_lines):
                    g = rank_of[row] * MAX_LINES + k
                    if g not in line_diag or t.size > LONG:
                        continue  # no shingle of this line is in the piece, or the line is too long to do all
                    for c in range(_windows(t.size)):
                        a0, a1 = _window(t.size, c)
                        if (row, k, a0) not in done:
                            d = window_diag.get(g * 4096 + c, line_diag[g])
                            self._pair(pairs, qs, ws, row, shared_of[row], k, t, a0, a1, d)
            if len(pairs) > n0:
                more = _align_list(qs[n0:], ws[n0:], self.table)
                best, end_q, end_w = (np.concatenate([a, b]) for a, b in zip((best, end_q, end_w), more))
        # ranked by the evidence of all lines together: a copy of a piece matches it in several of its lines,
        # a stock figure (an arpeggio, a bass pattern) in one
        lines_of = _line_scores(pairs, best)
        ranked, seen = [], set()
        for i in _ranked(pairs, best):  # each piece once, by its best pair
            if pairs[i][0] not in seen and len(ranked) < top:
                seen.add(pairs[i][0])
                ranked.append(i)
        starts = _starts([qs[i][:int(end_q[i]) + 1] for i in ranked], [ws[i][:int(end_w[i]) + 1] for i in ranked],
                         self.table)
        out = []
        for i, first in zip(ranked, starts):
            row, shared, k, a0 = pairs[i]
            own = float(self.table[qs[i], qs[i]].sum())
            out.append(Match(self.ids[row], float(best[i]), k, a0 + first, a0 + int(end_q[i]), shared,
                             lines_of[row], float(best[i]) / max(own, 1e-9)))
        return out

    def _pair(self, pairs, qs, ws, row, shared, k, t, a0, a1, d) -> None:
        """Query tokens a0 .. a1 (exclusive) of line ``k`` (``t``) and the stretch of ``row``'s sequence around
        diagonal ``d`` (:data:`PAD` either side), added to the pairs to align if both are long enough to judge."""
        q = t[a0:a1]
        cs = self.piece_seq(row)
        a, b = max(0, a0 + d - PAD), min(cs.size, a0 + d + q.size + PAD)
        if b - a < MIN_TOKENS or q.size < MIN_TOKENS:
            return
        pairs.append((row, shared, k, a0))
        qs.append(q)
        ws.append(cs[a:b])


def _align_list(qs: list[np.ndarray], ws: list[np.ndarray], table: np.ndarray):
    """:func:`align` of each query stretch with its window (lists of token arrays, padded with SEP here)."""
    qm = np.full((len(qs), max(q.size for q in qs)), SEP, np.uint8)
    wm = np.full((len(ws), max(w.size for w in ws)), SEP, np.uint8)
    for i, (q, w) in enumerate(zip(qs, ws)):
        qm[i, :q.size] = q
        wm[i, :w.size] = w
    return align(qm, wm, table)


def _line_scores(pairs: list, best: np.ndarray) -> dict[int, dict[int, float]]:
    """row -> {query line: its best score with the row}."""
    out: dict[int, dict[int, float]] = {}
    for (row, _, k, _), b in zip(pairs, best.tolist()):
        got = out.setdefault(row, {})
        got[k] = max(got.get(k, 0.0), b)
    return out


def _ranked(pairs: list, best: np.ndarray) -> list[int]:
    """Pair indexes by their piece's total over the query lines (each line's best score), then their own score."""
    total = {row: sum(v.values()) for row, v in _line_scores(pairs, best).items()}
    return sorted(range(len(pairs)), key=lambda i: (-total[pairs[i][0]], -float(best[i])))


def _line_diagonals(keys: np.ndarray, counts: np.ndarray) -> dict[int, int]:
    """(candidate rank * MAX_LINES + query line) -> the diagonal most of the line's votes agree on (its windows'
    votes summed), from :meth:`LineIndex._votes`' distinct keys and their counts."""
    g = (keys >> 22) // 4096
    u, inv = np.unique(g << 22 | (keys & ((1 << 22) - 1)), return_inverse=True)
    c = np.bincount(inv, weights=counts)
    gu = u >> 22
    pick = np.lexsort((-c, gu))
    firsts = np.ones(pick.size, bool)
    firsts[1:] = gu[pick][1:] != gu[pick][:-1]
    pick = pick[firsts]
    return {int(gu[i]): int(u[i] & ((1 << 22) - 1)) - (1 << 20) for i in pick}


def _windows(size: int) -> int:
    """How many windows a query line of ``size`` tokens is aligned in (:func:`_window`)."""
    return 1 if size <= WHOLE else -(-(size - CHUNK) // STRIDE) + 1


def _window(size: int, c: int) -> tuple[int, int]:
    """The query tokens a0 .. a1 (exclusive) of window ``c`` of a line of ``size`` tokens: the whole line up to
    :data:`WHOLE` tokens, else :data:`CHUNK` tokens from ``c`` * :data:`STRIDE` (the last ends at the line's end)."""
    if size <= WHOLE:
        return 0, size
    a0 = min(c * STRIDE, max(0, size - CHUNK))
    return a0, a0 + CHUNK


def _starts(qs: list[np.ndarray], ws: list[np.ndarray], table: np.ndarray) -> list[int]:
    """Where each best alignment ending at q[-1], w[-1] begins in q (the reversed sequences' alignment)."""
    if not qs:
        return []
    qm = np.full((len(qs), max(q.size for q in qs)), SEP, np.uint8)
    wm = np.full((len(ws), max(w.size for w in ws)), SEP, np.uint8)
    for i, (q, w) in enumerate(zip(qs, ws)):
        qm[i, :q.size] = q[::-1]
        wm[i, :w.size] = w[::-1]
    _, end_q, _ = align(qm, wm, table)
    return [int(q.size - 1 - e) for q, e in zip(qs, end_q)]


def verdict(matches: list[Match], threshold: float = MATCH_SCORE) -> Match | None:
    """The first match (by the evidence of all lines) whose best alignment reaches ``threshold`` bits: the
    query is a near-copy of it; None: no near-copy."""
    return next((m for m in matches if m.score >= threshold), None)


MelodyIndex = LineIndex  # the name the index had when it read the melody only

__all__ = ["K", "MATCH_SCORE", "SCHEME", "Line", "LineIndex", "Match", "MelodyIndex", "align", "join", "lines",
           "melody_line", "piece_tokens", "position_hashes", "shingles", "tokens", "verdict"]
