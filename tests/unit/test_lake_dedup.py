"""Duplicate clusters (lake.dedup) from the fingerprints the features job computes."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from lake.dedup import BANDS, band_keys, build_clusters, similarity
from lake.midi_features import analyze, parse_midi
from tests.support.scores import edited, make_score, tune


def piece(notes, program=0, bpm=100, transpose=0, name="t", tpq_scale=1):
    s = make_score([(program, False, [(a, b, p + transpose) for a, b, p in notes])], bpm=bpm, meter=(4, 4))
    s.tracks[0].name = name
    if tpq_scale != 1:
        s = s.resample(480 * tpq_scale)
    data = s.dumps_midi()
    f = analyze(parse_midi(data)).features
    return dict(sha256=hashlib.sha256(data).hexdigest(), note_hash=f["note_hash"], minhash=f["minhash"],
                note_count=f["note_count"])


def clusters(pieces, **kw):
    return build_clusters([p["sha256"] for p in pieces], [p["note_hash"] for p in pieces],
                          [p["minhash"] for p in pieces], [p["note_count"] for p in pieces], **kw)


@pytest.fixture(scope="module")
def corpus():
    a, b, c = tune(1), tune(2), tune(3)
    return dict(
        a=piece(a), a_resaved=piece(a, program=40, name="violin copy", tpq_scale=2),  # same notes, other bytes
        a_transposed=piece(edited(a, 7, 3), transpose=5, bpm=132),  # near: transposed, faster, 3 notes edited
        b=piece(b), b_edit=piece(edited(b, 8, 4)),
        c=piece(c), short=piece(tune(4, n=3)),
    )


def test_exact_and_near_duplicates_cluster_and_others_do_not(corpus):
    rows = {r["sha256"]: r for r in clusters(list(corpus.values()))}
    sha = {k: v["sha256"] for k, v in corpus.items()}
    a_cluster = {sha["a"], sha["a_resaved"], sha["a_transposed"]}
    assert {s for s, r in rows.items() if r["cluster_id"] == min(a_cluster)} == a_cluster
    assert rows[sha["a"]]["method"] == rows[sha["a_resaved"]]["method"] == "exact"
    assert rows[sha["a_transposed"]]["method"] == "near"
    sims = sorted(rows[s]["similarity"] for s in a_cluster)  # to the representative: itself 1.0, the others < 1
    assert 0.6 <= sims[0] < 1 and sims[-1] == 1.0
    assert rows[sha["b"]]["cluster_id"] == rows[sha["b_edit"]]["cluster_id"] == min(sha["b"], sha["b_edit"])
    assert sha["c"] not in rows and sha["short"] not in rows, "unrelated and too-short pieces stay alone"
    assert all(r["cluster_size"] == len([x for x in rows.values() if x["cluster_id"] == r["cluster_id"]])
               for r in rows.values())


def test_clusters_do_not_depend_on_input_order(corpus):
    pieces = list(corpus.values())
    first = clusters(pieces)
    for seed in range(3):
        shuffled = [pieces[i] for i in np.random.default_rng(seed).permutation(len(pieces))]
        assert clusters(shuffled) == first


def test_representative_has_the_most_notes():
    base = tune(11)
    longer = piece(base + [(base[-1][0] + 2 + i, 1.0, 60 + i % 5) for i in range(4)])
    rows = clusters([piece(base), longer])
    assert len(rows) == 2 and all(r["representative"] == longer["sha256"] for r in rows)


def test_similarity_tracks_the_share_of_edits():
    base = tune(21)
    sims = [similarity(piece(base)["minhash"], piece(edited(base, 5, k))["minhash"]) for k in (0, 5, 40)]
    assert sims[0] == 1.0 and sims[0] > sims[1] > sims[2]


def test_band_keys_collide_exactly_when_a_band_agrees():
    rng = np.random.default_rng(0)
    sigs = rng.integers(-2**62, 2**62, size=(3, 64), dtype=np.int64)
    sigs[1] = sigs[0]
    sigs[1, 4:] = rng.integers(-2**62, 2**62, size=60)  # agrees with row 0 in band 0 only
    keys = band_keys(sigs)
    assert keys.shape == (3, BANDS) and keys[0, 0] == keys[1, 0] and (keys[0, 1:] != keys[1, 1:]).all()
    assert (keys[0] != keys[2]).all()


def test_a_huge_bucket_is_verified_in_linear_time():
    """5,000 identical signatures (e.g. near-empty files) make one cluster without comparing all pairs."""
    sig = list(range(64))
    n = 5000
    rows = build_clusters([f"{i:064x}" for i in range(n)], [None] * n, [sig] * n, [10] * n)
    assert len(rows) == n and len({r["cluster_id"] for r in rows}) == 1 and rows[0]["cluster_size"] == n
