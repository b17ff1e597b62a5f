"""lake.jobs.silver: features + encode in one pass give what the two jobs give, and hand over to them when they must.

Two lakes get the same bronze rows (good, bad and hostile files). One runs ``features`` then
``encode``; the other runs :func:`run_silver`. The rows must be the same (lineage aside), the
transactions must make later runs of either job commit nothing, and states where one pass would not
be exact (half-committed outputs after a crash, pieces not yet tokenized) must go to the two jobs.
"""

from __future__ import annotations

import pytest

from lake.delta import Lake
from lake.jobs.encode import app_id
from lake.schemas import (BRONZE_MIDI, SILVER_CHORDS, SILVER_QUARANTINE, SILVER_SCORES, SILVER_TOKENS,
                          SILVER_TRACK_TOKENS, SILVER_TRACKS)
from lake.tokenizer import tokenizer_id
from tests.support.config import make_config
from tests.support.lake_faults import Crash, crash_after_commits
from tests.support.lake_rows import BAD, DUPES, GOOD, HOSTILE, LATE, bronze_rows

TABLES = (SILVER_SCORES, SILVER_CHORDS, SILVER_TRACKS, SILVER_TOKENS, SILVER_TRACK_TOKENS, SILVER_QUARANTINE)
LINEAGE = {"job_run_id", "processed_at", "source_version"}
FIRST = {**GOOD, **BAD, **DUPES, **HOSTILE}


def rows(lake: Lake, spec) -> list[tuple]:
    out = []
    for r in lake.read(spec).to_pylist():
        out.append(tuple((k, repr(v)) for k, v in sorted(r.items()) if k not in LINEAGE))
    return sorted(out)


@pytest.fixture(scope="module")
def lakes(tmp_path_factory, spark):
    from lake.jobs.encode import run_encode
    from lake.jobs.features import run_features
    from lake.jobs.silver import run_silver

    two_cfg = make_config(tmp_path_factory.mktemp("two-jobs"))
    one_cfg = make_config(tmp_path_factory.mktemp("one-pass"))
    two, one = Lake.from_config(two_cfg), Lake.from_config(one_cfg)
    for lake in (two, one):
        lake.insert_new(BRONZE_MIDI, bronze_rows(FIRST))
    state = dict(two=two, one=one, one_cfg=one_cfg, reports={})
    run_features(two_cfg, spark)
    run_encode(two_cfg, spark)
    state["reports"]["silver"] = run_silver(one_cfg, spark)
    state["versions"] = {t.name: one.version(t) for t in TABLES}
    state["reports"]["features-after"] = run_features(one_cfg, spark)
    state["reports"]["encode-after"] = run_encode(one_cfg, spark)
    state["reports"]["silver-again"] = run_silver(one_cfg, spark)
    state["versions-again"] = {t.name: one.version(t) for t in TABLES}
    for lake in (two, one):
        lake.insert_new(BRONZE_MIDI, bronze_rows(LATE))
    run_features(two_cfg, spark)
    run_encode(two_cfg, spark)
    state["reports"]["silver-late"] = run_silver(one_cfg, spark)
    return state


def test_one_pass_is_taken_and_counts_both_jobs(lakes):
    [report] = lakes["reports"]["silver"]
    assert report.job == "features+encode"
    assert report.counts["files_in"] == len(FIRST)
    assert report.counts["ok"] == len(GOOD) + len(DUPES)
    assert report.counts["quarantined"] == len(BAD) + len(HOSTILE)
    assert set(report.outputs) == {t.name for t in TABLES}


@pytest.mark.parametrize("spec", TABLES, ids=lambda s: s.name)
def test_one_pass_writes_the_rows_the_two_jobs_write(lakes, spec):
    assert rows(lakes["one"], spec) == rows(lakes["two"], spec)
    assert len(rows(lakes["one"], spec)) > 0


def test_later_runs_of_either_job_see_their_work_done(lakes):
    assert "already described" in lakes["reports"]["features-after"].note
    assert "already encoded" in lakes["reports"]["encode-after"].note
    assert [r.note for r in lakes["reports"]["silver-again"]] and all(
        r.note for r in lakes["reports"]["silver-again"])
    assert lakes["versions-again"] == lakes["versions"], "nothing committed again"


def test_commits_carry_each_jobs_transaction(lakes):
    one, cfg = lakes["one"], lakes["one_cfg"]
    tid = tokenizer_id(cfg.tokenizer)
    scores_version = lakes["versions"][SILVER_SCORES.name]
    for spec in (SILVER_TOKENS, SILVER_TRACK_TOKENS, SILVER_QUARANTINE):
        assert one.already_committed(spec, app_id(tid), scores_version)
    for spec in (SILVER_SCORES, SILVER_CHORDS, SILVER_TRACKS, SILVER_QUARANTINE):
        assert one.already_committed(spec, "features", 1)
    latest = one.history(SILVER_TOKENS, limit=1)[0]
    assert latest.job == "features+encode" and latest.metadata["tokenizer_id"] == tid


def test_an_incremental_pass_adds_only_the_new_file(lakes):
    [report] = lakes["reports"]["silver-late"]
    assert report.job == "features+encode" and report.counts["files_in"] == len(LATE)
    for spec in TABLES:
        assert rows(lakes["one"], spec) == rows(lakes["two"], spec)


def test_a_crash_mid_pass_hands_over_to_the_two_jobs_without_duplicates(tmp_path, spark):
    from lake.jobs.silver import run_silver

    cfg = make_config(tmp_path)
    lake = Lake.from_config(cfg)
    lake.insert_new(BRONZE_MIDI, bronze_rows({**GOOD, **BAD}))
    with crash_after_commits(2) as done, pytest.raises(Crash):  # silver_scores and silver_chords, the rest not
        run_silver(cfg, spark)
    assert done == [SILVER_SCORES.name, SILVER_CHORDS.name]
    reports = run_silver(cfg, spark)
    assert [r.job for r in reports] == ["features", "encode"], "a half-committed pass is finished by the two jobs"
    for spec in TABLES:
        keys = [(r["sha256"], r.get("program"), r.get("track_index")) for r in lake.read(spec).to_pylist()]
        assert len(keys) == len(set(keys)), spec.name
    assert {r["sha256"] for r in lake.read(SILVER_TOKENS).to_pylist()} == {
        r["sha256"] for r in lake.read(SILVER_SCORES).to_pylist()}
