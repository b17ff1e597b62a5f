"""Gold jobs on real Spark and Delta: align (lyrics aligned to the music, EN + ZH captions, source captions)
and split (train/validation/test per duplicate cluster, never straddling, reconciled in place)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

import pyarrow as pa
import pytest
from symusic import Note, Score, Tempo, TextMeta, TimeSignature, Track

from lake.captions import caption_en, caption_zh
from lake.delta import Lake
from lake.jobs.split import assign_splits
from lake.vocab import split_of
from lake.schemas import (BRONZE_LYRICS, BRONZE_MIDI, GOLD_LYRIC_SEGMENTS, GOLD_PAIRS, GOLD_SPLITS, SILVER_SCORES,
                          TABLES)
from tests.support.config import make_config
from tests.support.lake_rows import GOOD, LYRICS, bronze_rows, lyrics_rows, silver_jobs

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)
# One syllable per quarter note; verse 2 under verse 1; a rest of two beats after "star,".
SUNG = [("Twin", "Up"), ("kle", "a"), ("twin", "bove"), ("kle", "the"), ("lit", "world"), ("tle", "so"),
        ("star,", "high;"), None, None, ("how", "like"), ("I", "a"), ("won", "dia"), ("der", "mond"),
        ("what", "in"), ("you", "the"), ("are.", "sky.")]


def sung_midi() -> bytes:
    score = Score(480)
    score.tempos.append(Tempo(0, 120))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    track = Track(program=52, name="Voice")  # Choir Aahs
    for i, syl in enumerate(SUNG):
        if syl is None:
            continue
        track.notes.append(Note(i * 480, 480, 60 + (i % 5) * 2, 80))
        track.lyrics.append(TextMeta(i * 480, "\n".join(syl)))
    score.tracks.append(track)
    return score.dumps_midi()


SUNG_NAME = "twinkle-sung"
TRANSPOSED_NAME = "c-major-melody-up-a-fourth"


def transposed(content: bytes, semitones: int) -> bytes:
    return Score.from_midi(content).shift_pitch(semitones).dumps_midi()


def sha_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@pytest.fixture(scope="module")
def gold(tmp_path_factory, spark):
    from lake.jobs.align import run_align
    from lake.jobs.dedup import run_dedup
    from lake.jobs.split import run_split

    cfg = make_config(tmp_path_factory.mktemp("lake-gold"))
    lake = Lake.from_config(cfg)
    files = {**GOOD, SUNG_NAME: (sung_midi(), "pop"),
             TRANSPOSED_NAME: (transposed(GOOD["c-major-melody"][0], 5), "classical")}
    lake.insert_new(BRONZE_MIDI, bronze_rows(files))
    lake.insert_new(BRONZE_LYRICS, lyrics_rows(LYRICS))
    captioned = GOOD["d-minor-duo"][0]
    captions = TABLES["bronze_captions"]
    lake.append(captions, pa.Table.from_pylist([dict(
        source="midicaps", md5=hashlib.md5(captioned).hexdigest(), sha256=None,
        caption="A melancholic folk duet for piano and bass.", location="x/duo.mid", metadata_json="{}",
        license="cc-by-sa", origin="file:///captions.jsonl", line_no=1, ingested_at=T0, ingest_run_id="test")]))
    out = dict(cfg=cfg, lake=lake, files=files, reports={})
    for job in (*silver_jobs(), run_dedup):
        out["reports"][job.__name__] = job(cfg, spark)
    out["reports"]["split"] = run_split(cfg, spark)
    out["reports"]["align"] = run_align(cfg, spark)
    out["versions_after_align"] = {t.name: t.version for t in lake.describe()}
    out["reports"]["split-again"] = run_split(cfg, spark)
    out["reports"]["align-again"] = run_align(cfg, spark)
    out["versions_after_rerun"] = {t.name: t.version for t in lake.describe()}
    return out


def pairs_by_sha(gold) -> dict:
    return {r["sha256"]: r for r in gold["lake"].read(GOLD_PAIRS).to_pylist()}


def test_lyric_events_are_aligned_line_by_line(gold):
    sha = sha_of(gold["files"][SUNG_NAME][0])
    segs = sorted((r for r in gold["lake"].read(GOLD_LYRIC_SEGMENTS).to_pylist() if r["sha256"] == sha),
                  key=lambda r: (r["verse"], r["segment"]))
    got = [(r["verse"], r["segment"], r["level"], r["text"]) for r in segs]
    assert got == [(1, 0, "phrase", "Twin kle twin kle lit tle star,"), (1, 1, "line", "how I won der what you are."),
                   (2, 0, "line", "Up a bove the world so high;"), (2, 1, "line", "like a dia mond in the sky.")]
    first, second = segs[0], segs[1]
    assert (first["start_beat"], first["end_beat"]) == (0.0, 7.0)
    assert (second["start_beat"], second["end_beat"]) == (9.0, 16.0)
    assert second["start_s"] == pytest.approx(4.5) and second["end_s"] == pytest.approx(8.0)  # 120 BPM
    assert all(r["n_syllables"] == 7 for r in segs)
    pair = pairs_by_sha(gold)[sha]
    assert (pair["text_kind"], pair["lyrics_source"], pair["lyrics_level"], pair["n_lyric_segments"]) == (
        "lyrics", "midi", "line", 4)
    assert pair["text"] == "Twin kle twin kle lit tle star,\nhow I won der what you are."
    assert {r["split"] for r in segs} == {pair["split"]}
    assert gold["reports"]["align"].counts["lyric_segments"] == 4


def test_captions_in_both_languages_and_source_captions_take_precedence(gold):
    from lake.jobs.align import chords_spec

    pairs = pairs_by_sha(gold)
    scores = {r["sha256"]: r for r in gold["lake"].read(SILVER_SCORES).to_pylist()}
    if chords_spec() is not None:  # the features job's progression goes into the captions
        for r in gold["lake"].read(chords_spec(), columns=["sha256", "progression"]).to_pylist():
            scores[r["sha256"]]["progression"] = r["progression"]
            assert pairs[r["sha256"]]["chord_progression"] == r["progression"]
    duo = sha_of(GOOD["d-minor-duo"][0])
    assert pairs[duo]["caption"] == "A melancholic folk duet for piano and bass."
    assert pairs[duo]["caption_source"] == "midicaps" and pairs[duo]["text"] == pairs[duo]["caption"]
    assert pairs[duo]["feature_caption"] == caption_en(scores[duo])
    for sha, pair in pairs.items():
        assert pair["caption_zh"] == caption_zh(scores[sha]) and "情绪" in pair["caption_zh"]
        assert pair["mood"] in pair["feature_caption"]
        assert pair["instruments"] == scores[sha]["instruments"]
        if sha != duo:
            assert pair["caption_source"] == "features" and pair["caption"] == pair["feature_caption"]
    assert gold["reports"]["align"].counts["source_captions"] == 1
    page = pairs[sha_of(GOOD["c-major-melody"][0])]
    assert (page["lyrics_source"], page["lyrics_level"], page["n_lyric_segments"]) == ("page", "piece", 0)


def test_every_piece_has_one_split_and_gold_agrees(gold):
    lake = gold["lake"]
    splits = {r["sha256"]: r for r in lake.read(GOLD_SPLITS).to_pylist()}
    assert set(splits) == {sha_of(c) for c, _ in gold["files"].values()}
    twins = {sha_of(GOOD["c-major-melody"][0]), sha_of(gold["files"][TRANSPOSED_NAME][0])}
    cluster = min(twins)  # the dedup job names a cluster by its smallest sha256
    for sha, row in splits.items():
        if sha in twins:  # a transposed copy is a near duplicate: one cluster, one split
            assert (row["cluster_id"], row["cluster_method"], row["cluster_size"]) == (cluster, "duplicate_cluster", 2)
            assert row["split"] == split_of(cluster)
        else:
            assert (row["cluster_id"], row["cluster_method"], row["cluster_size"]) == (sha, "content_hash", 1)
            assert row["split"] == split_of(sha)
        assert row["source_table"] == SILVER_SCORES.name
    for sha, pair in pairs_by_sha(gold).items():
        assert (pair["split"], pair["cluster_id"]) == (splits[sha]["split"], splits[sha]["cluster_id"])
    rep = gold["reports"]["split"]
    assert rep.counts["pieces"] == len(splits) and rep.counts["assigned"] == len(splits) and rep.counts["moved"] == 0


def test_reruns_commit_nothing(gold):
    assert gold["versions_after_rerun"] == gold["versions_after_align"]
    assert not gold["reports"]["split-again"].outputs and gold["reports"]["split-again"].counts["assigned"] == 0
    assert "already aligned" in gold["reports"]["align-again"].note


def test_a_changed_split_is_reconciled_into_the_gold_tables(gold, spark):
    """A piece whose gold_splits row says 'test' (e.g. its cluster merged with a test cluster) moves there everywhere."""
    from lake.jobs.split import run_split

    lake = gold["lake"]
    sha = sha_of(gold["files"][SUNG_NAME][0])
    row = next(r for r in lake.read(GOLD_SPLITS).to_pylist() if r["sha256"] == sha)
    target = "test" if row["split"] != "test" else "validation"
    lake.upsert(GOLD_SPLITS, pa.Table.from_pylist([dict(row, split=target)], schema=GOLD_SPLITS.schema))
    before = lake.version(GOLD_PAIRS)
    report = run_split(gold["cfg"], spark)
    assert report.counts["assigned"] == 0  # the held split is sticky
    assert pairs_by_sha(gold)[sha]["split"] == target
    segs = [r for r in lake.read(GOLD_LYRIC_SEGMENTS).to_pylist() if r["sha256"] == sha]
    assert segs and {r["split"] for r in segs} == {target}
    assert report.outputs[GOLD_PAIRS.name] == (before + 1, 1)
    assert report.outputs[GOLD_LYRIC_SEGMENTS.name][1] == len(segs)
    assert lake.read(GOLD_PAIRS, version=before).to_pylist() != lake.read(GOLD_PAIRS).to_pylist()


def test_duplicate_clusters_never_straddle_splits(spark):
    """Clusters that merge take their most protected held split; new clusters draw one split for all members."""
    pieces = spark.createDataFrame([(f"p{i}",) for i in range(40)], "sha256 string")
    # p0..p9 in cluster A; p10..p19 in B; p20, p21 in C; the rest on their own.
    clusters = spark.createDataFrame([(f"p{i}", "A") for i in range(10)] + [(f"p{i}", "B") for i in range(10, 20)]
                                     + [("p20", "C"), ("p21", "C")], "sha256 string, cluster_id string")
    # Cluster A was two clusters before: p0 was held in train, p1 in test; B's members were all train.
    existing = spark.createDataFrame([("p0", "train"), ("p1", "test"), ("p10", "train"), ("p11", "train")],
                                     "sha256 string, split string")
    rows = {r["sha256"]: r for r in assign_splits(spark, pieces, clusters, existing).collect()}
    assert len(rows) == 40
    by_cluster: dict[str, set] = {}
    for r in rows.values():
        by_cluster.setdefault(r["cluster_id"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_cluster.values())
    assert by_cluster["A"] == {"test"} and by_cluster["B"] == {"train"} and by_cluster["C"] == {split_of("C")}
    assert rows["p0"]["cluster_size"] == 10 and rows["p20"]["cluster_size"] == 2
    assert rows["p30"]["cluster_id"] == "p30" and rows["p30"]["cluster_method"] == "content_hash"
    assert rows["p5"]["cluster_method"] == "duplicate_cluster"
    assert rows["p30"]["split"] == split_of("p30")


def test_split_of_is_deterministic_and_roughly_proportional():
    draws = [split_of(hashlib.sha256(str(i).encode()).hexdigest()) for i in range(5000)]
    share = {s: draws.count(s) / len(draws) for s in ("train", "validation", "test")}
    assert 0.77 < share["train"] < 0.83 and 0.08 < share["validation"] < 0.12 and 0.08 < share["test"] < 0.12
    assert draws == [split_of(hashlib.sha256(str(i).encode()).hexdigest()) for i in range(5000)]
