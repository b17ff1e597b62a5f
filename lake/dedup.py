"""Duplicate clusters: exact (same notes) and near (MinHash + LSH over transposition-invariant n-grams).

The fingerprints are computed once per piece by the features job (:mod:`lake.midi_features`):

* ``note_hash``: a hash of the notes themselves (onsets and lengths in beats, pitches, drum or
  not), so the same music saved with other metadata, instruments, track order or resolution is an
  *exact* duplicate;
* ``minhash``: a 64-value MinHash signature of the set of 4-grams of (pitch interval, inter-onset
  interval in 1/12 beats) over the pitched notes. Intervals make it transposition-invariant,
  beats make it tempo-invariant; the share of equal signature values estimates the Jaccard
  similarity of two pieces' n-gram sets.

Candidates come from LSH banding (:data:`BANDS` bands of :data:`ROWS` values: two pieces collide
in a band when those values all agree, which is likely above a Jaccard of about
``(1/BANDS) ** (1/ROWS)`` = 0.5). Each collision bucket is verified against its first member
(star verification, linear in the bucket's size, so a bucket of thousands of near-empty files
cannot blow up), pairs at or above :data:`NEAR_THRESHOLD` are joined, and union-find makes the
clusters. :func:`build_clusters` is pure numpy/Python over whatever rows it is given; the dedup job
hands it only the pieces Spark found in some bucket of two or more.
"""

from __future__ import annotations

import numpy as np

from lake.midi_features import MINHASH_PERMUTATIONS, _mix64

BANDS, ROWS = 16, 4
assert BANDS * ROWS == MINHASH_PERMUTATIONS
NEAR_THRESHOLD = 0.6
EXACT, NEAR = "exact", "near"


def band_keys(sigs: np.ndarray) -> np.ndarray:
    """(n, BANDS) int64 bucket keys of (n, 64) int64 signatures: one hash per band of ROWS values."""
    s = np.asarray(sigs, dtype=np.int64).view(np.uint64).reshape(len(sigs), BANDS, ROWS)
    h = np.zeros((len(sigs), BANDS), dtype=np.uint64)
    for r in range(ROWS):
        h = _mix64(h ^ s[:, :, r] ^ np.uint64(r + 1))
    return (h ^ np.arange(BANDS, dtype=np.uint64)[None, :]).view(np.int64)


def similarity(a, b) -> float:
    """Estimated Jaccard similarity of two signatures (share of equal values)."""
    return float(np.mean(np.asarray(a) == np.asarray(b)))


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _groups(keys: np.ndarray) -> list[np.ndarray]:
    """Index arrays of the rows sharing a key, for keys held by two rows or more (rows in input order)."""
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    starts = np.flatnonzero(np.append(True, k[1:] != k[:-1]))
    ends = np.append(starts[1:], len(k))
    return [order[a:b] for a, b in zip(starts, ends) if b - a >= 2]


def build_clusters(shas: list[str], note_hashes: list[str | None], sigs: list, note_counts: list[int],
                   threshold: float = NEAR_THRESHOLD) -> list[dict]:
    """Rows (sha256, cluster_id, method, representative, similarity, cluster_size) for pieces in clusters of two or more.

    ``sigs`` holds a 64-value signature or None per piece. ``cluster_id`` is the smallest sha256 in
    the cluster (deterministic, whatever the input order); ``representative`` the member with the
    most notes (ties: smallest sha256); ``method`` says how the piece is linked: ``exact`` when it
    shares its note hash with another member, else ``near``; ``similarity`` is its estimated
    Jaccard with the representative (1.0 for exact duplicates).
    """
    n = len(shas)
    order = sorted(range(n), key=lambda i: shas[i])  # input order never changes the answer
    shas = [shas[i] for i in order]
    note_hashes = [note_hashes[i] for i in order]
    sigs = [sigs[i] for i in order]
    note_counts = [int(note_counts[i]) for i in order]
    uf = _UnionFind(n)

    hashed = [i for i in range(n) if note_hashes[i]]
    if hashed:
        codes = np.unique(np.array([note_hashes[i] for i in hashed]), return_inverse=True)[1]
        for g in _groups(codes):
            members = [hashed[j] for j in g]
            for m in members[1:]:
                uf.union(members[0], m)

    with_sig = np.array([i for i in range(n) if sigs[i] is not None and len(sigs[i]) == MINHASH_PERMUTATIONS],
                        dtype=np.int64)
    if len(with_sig) >= 2:
        matrix = np.array([sigs[i] for i in with_sig], dtype=np.int64)
        keys = band_keys(matrix)
        for b in range(BANDS):
            for g in _groups(keys[:, b]):
                lead, rest = g[0], g[1:]
                sims = (matrix[rest] == matrix[lead]).mean(axis=1)
                for j in rest[sims >= threshold]:
                    uf.union(int(with_sig[lead]), int(with_sig[j]))

    clusters: dict[int, list[int]] = {}
    for i in range(n):
        clusters.setdefault(uf.find(i), []).append(i)
    rows = []
    for members in clusters.values():
        if len(members) < 2:
            continue
        rep = min(members, key=lambda i: (-note_counts[i], shas[i]))
        cluster_id = min(shas[i] for i in members)
        hash_counts: dict[str, int] = {}
        for i in members:
            if note_hashes[i]:
                hash_counts[note_hashes[i]] = hash_counts.get(note_hashes[i], 0) + 1
        for i in members:
            method = EXACT if note_hashes[i] and hash_counts[note_hashes[i]] > 1 else NEAR
            if note_hashes[i] and note_hashes[i] == note_hashes[rep]:
                sim = 1.0
            elif sigs[i] is not None and sigs[rep] is not None:
                sim = similarity(sigs[i], sigs[rep])
            else:
                sim = 0.0  # linked through other members; no signature to compare with the representative
            rows.append(dict(sha256=shas[i], cluster_id=cluster_id, method=method, representative=shas[rep],
                             similarity=round(sim, 4), cluster_size=len(members)))
    rows.sort(key=lambda r: (r["cluster_id"], r["sha256"]))
    return rows
