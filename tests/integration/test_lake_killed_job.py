"""A lake job killed with SIGKILL in the middle, then run again: every file is described exactly once.

``musiclake lake features`` runs in a child process (its own Spark) on 48 files with
``lake.chunk_files=6``, so it commits chunk after chunk. Once the first chunk is in silver_scores the
whole process group (the Python driver, the Spark JVM and its Python workers) gets SIGKILL. The
re-run, in this process, must do only the files no chunk committed, and every output must then hold
each file once; the killed run's staged files stay out of every table.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lake.delta import Lake
from lake.schemas import BRONZE_MIDI, SILVER_CHORDS, SILVER_QUARANTINE, SILVER_SCORES, SILVER_TRACKS
from tests.support.config import make_config
from tests.support.lake_faults import rows_in
from tests.support.lake_rows import bronze_rows
from tests.support.scores import make_score, tune

ROOT = Path(__file__).resolve().parents[2]
FILES = {f"tune-{seed}-{bpm}": (make_score([(0, False, tune(seed, 40))], bpm=bpm, meter=(4, 4)).dumps_midi(), "folk")
         for seed in range(12) for bpm in (72, 90, 110, 132)}
SETTINGS = ["lake.chunk_files=6"]


@pytest.fixture(scope="module")
def killed_and_rerun(tmp_path_factory, spark):
    from lake.jobs.features import run_features

    root = tmp_path_factory.mktemp("lake-killed")
    cfg = make_config(root, *SETTINGS)
    lake = Lake.from_config(cfg)
    names = sorted(FILES)
    for start in range(0, len(names), 12):  # bronze in four commits, as a crawler lands it
        lake.insert_new(BRONZE_MIDI, bronze_rows({n: FILES[n] for n in names[start:start + 12]}))
    sets = [a for s in (f"lake.uri={root}/lake", "spark.master=local[2]", "spark.driver_memory=1g", *SETTINGS)
            for a in ("--set", s)]
    proc = subprocess.Popen([sys.executable, "-m", "musiclake.cli", "lake", "features", *sets], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while rows_in(lake, SILVER_SCORES) == 0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    still_running = proc.poll() is None
    os.killpg(proc.pid, signal.SIGKILL)
    output = proc.communicate()[0].decode(errors="replace")
    before = rows_in(lake, SILVER_SCORES)
    report = run_features(cfg, spark)
    return dict(lake=lake, report=report, before=before, still_running=still_running, output=output)


def test_the_job_was_killed_after_some_chunks_and_before_the_end(killed_and_rerun):
    assert killed_and_rerun["still_running"], killed_and_rerun["output"][-2000:]
    assert 0 < killed_and_rerun["before"] < len(FILES)


def test_the_rerun_adds_only_what_no_chunk_committed(killed_and_rerun):
    report = killed_and_rerun["report"]
    # a file is pending until all three feature tables hold it (the kill may fall between two commits),
    # but silver_scores gets only the files it lacked
    assert report.outputs[SILVER_SCORES.name][1] == len(FILES) - killed_and_rerun["before"]
    assert len(FILES) - killed_and_rerun["before"] <= report.counts["files_in"] <= len(FILES)
    assert report.counts["ok"] == report.counts["files_in"]


@pytest.mark.parametrize("spec", [SILVER_SCORES, SILVER_CHORDS], ids=lambda s: s.name)
def test_every_file_is_described_exactly_once(killed_and_rerun, spec):
    keys = killed_and_rerun["lake"].read(spec, columns=["sha256"]).column("sha256").to_pylist()
    assert len(keys) == len(set(keys)) == len(FILES)


def test_tracks_are_not_doubled_and_nothing_is_quarantined(killed_and_rerun):
    lake = killed_and_rerun["lake"]
    tracks = lake.read(SILVER_TRACKS, columns=["sha256", "track_index"]).to_pylist()
    assert len(tracks) == len({(t["sha256"], t["track_index"]) for t in tracks}) == len(FILES)
    assert lake.read(SILVER_QUARANTINE).num_rows == 0


def test_the_last_chunk_records_the_bronze_version_so_a_third_run_commits_nothing(killed_and_rerun, spark):
    from lake.jobs.features import run_features

    lake = killed_and_rerun["lake"]
    cfg = make_config(Path(lake.uri).parent, *SETTINGS)
    before = lake.version(SILVER_SCORES)
    again = run_features(cfg, spark)
    assert "already described" in again.note and lake.version(SILVER_SCORES) == before
    chunks = [c.metadata.get("chunk") for c in lake.history(SILVER_SCORES) if c.job == "features"]
    assert "8/8" in chunks and len(chunks) > 1
