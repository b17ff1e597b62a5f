"""A crawl killed with SIGKILL in the middle, then run again: every file the site serves lands exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.crawler import run_ingest
from lake.delta import Lake
from lake.schemas import BRONZE_MIDI
from lake.schemas.frontier import INGEST_FRONTIER
from tests.support.config import make_config
from tests.support.hostile_site import HostileSite
from tests.support.lake_faults import rows_in

ROOT = Path(__file__).resolve().parents[2]


def _landed(lake: Lake) -> int:
    return rows_in(lake, BRONZE_MIDI)


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory, ray_session):
    root = tmp_path_factory.mktemp("ingest-resume")
    with HostileSite(good=120, faults=False, delay_s=0.04) as site:
        cfg = make_config(root, "ingest.workers=1", "ingest.checkpoint_s=0.3", "ingest.land_every_rows=8")
        cfg.ingest.sources = [site.source(name="resume", per_host_concurrency=2, fetch_threads=2)]
        child_cfg = cfg.model_copy(deep=True)
        child_cfg.ray.address = ray_session.get_runtime_context().gcs_address
        path = root / "child.json"
        path.write_text(json.dumps(child_cfg.model_dump(mode="json")))
        lake = Lake.from_config(cfg)

        proc = subprocess.Popen([sys.executable, "-m", "tests.support.crawl_child", str(path)], cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 240
        while _landed(lake) < 25 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        still_running = proc.poll() is None
        os.killpg(proc.pid, signal.SIGKILL)
        child_output = proc.communicate()[0].decode(errors="replace")
        before = _landed(lake)
        requests_before = len(site.log)

        requested_before_kill = {e["path"] for e in site.log[:requests_before]}
        (report,) = run_ingest(cfg)
        resumed_requests = [e["path"] for e in site.log[requests_before:]]
        # a request with validators for an unchanged file is answered 304: asked again, not downloaded again
        downloaded_again = [e["path"] for e in site.log[requests_before:] if e["path"].startswith("/midi/")
                            and e["path"] in requested_before_kill and not e["if_none_match"]]
        asked_again = [p for p in resumed_requests if p.startswith("/midi/") and p in requested_before_kill]
        yield {"cfg": cfg, "downloaded_again": downloaded_again, "asked_again": asked_again, "site": site, "lake": lake, "report": report, "before": before, "still_running": still_running,
               "child_output": child_output, "resumed_requests": resumed_requests}


def test_the_child_was_killed_mid_crawl(killed_and_resumed):
    k = killed_and_resumed
    assert k["still_running"], f"the crawl ended before the kill:\n{k['child_output'][-2000:]}"
    assert 25 <= k["before"] < len(k["site"].files)


def test_resume_lands_every_file_exactly_once(killed_and_resumed):
    k = killed_and_resumed
    rows = k["lake"].read(BRONZE_MIDI, columns=["sha256", "url"]).to_pylist()
    served = k["site"].landable()
    assert sorted(r["sha256"] for r in rows) == sorted(set(served.values())), "no file lost, none twice"
    assert {r["url"]: r["sha256"] for r in rows} == served


def test_the_second_run_resumed_the_killed_crawl_instead_of_starting_over(killed_and_resumed):
    k = killed_and_resumed
    report = k["report"]
    assert report.resumed and report.crawl_id != report.run_id
    fetched_again = [p for p in k["resumed_requests"] if p.startswith("/midi/")]
    assert len(fetched_again) < len(k["site"].files), "files marked done were not fetched again"
    assert "/index.html" not in k["resumed_requests"], "the seed page was done before the kill"
    assert report.midi_landed + k["before"] == len(k["site"].files)
    states = k["lake"].read(INGEST_FRONTIER, columns=["crawl_id", "state"],
                            filters=[("source", "=", "resume"), ("state", "=", "finished")]).to_pylist()
    assert [s["crawl_id"] for s in states] == [report.crawl_id]


def test_one_crawl_was_started_and_finished(killed_and_resumed):
    k = killed_and_resumed
    lake = k["lake"]
    started = lake.read(INGEST_FRONTIER, columns=["crawl_id"],
                        filters=[("source", "=", "resume"), ("state", "=", "started")]).column("crawl_id").to_pylist()
    assert started == [k["report"].crawl_id]


def test_a_kill_loses_at_most_the_results_in_flight_and_unlanded(killed_and_resumed):
    """What the kill costs is bounded by config: the fetch tasks in flight (at most per_host_concurrency
    of one host, each of at most min(batch_size, land_every_rows) URLs) and the lander's buffer (fewer
    than land_every_rows outcomes); files landed before the kill are never fetched again."""
    k = killed_and_resumed
    ingest, source = k["cfg"].ingest, k["cfg"].ingest.sources[0]
    in_flight = min(ingest.workers * source.fetch_threads, source.per_host_concurrency)
    bound = in_flight * min(ingest.batch_size, ingest.land_every_rows) + ingest.land_every_rows
    print(f"downloaded again after the kill: {len(k['downloaded_again'])} (bound {bound}; "
          f"{len(k['asked_again'])} asked again, the rest answered 304)")
    assert len(k["downloaded_again"]) <= bound, k["downloaded_again"]
