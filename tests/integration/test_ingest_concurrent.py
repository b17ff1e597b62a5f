"""Concurrent ingest into the same tables: no duplicate, no lost commit; overlapping scheduled runs are harmless."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.cli import app
from ingest.lock import SourceLease
from common.score_site import ScoreSite, build_site, site_source
from lake.delta import Lake
from lake.schemas import BRONZE_CRAWL_LOG, BRONZE_INGEST_LEASES, BRONZE_MIDI, BRONZE_URLS
from tests.support.ingest_rows import lakh_archive
from tests.support.ingest_rows import SOURCE, midi_bytes, ok
from tests.support.ingest_rows import SITE_LIMIT

ROOT = Path(__file__).resolve().parents[2]

IMPORTER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from ingest.importers import ImportSource, import_midi
    from lake.delta import Lake
    lake_uri, archive, go = sys.argv[1:4]
    while not Path(go).exists():
        time.sleep(0.01)
    r = import_midi(Lake(lake_uri), archive, ImportSource("dump"), every_rows=7, progress=False)
    print(r.run_id, r.landed, r.duplicates, r.errors)
""")


def _check_exactly_once(lake: Lake, expected_shas: set[str], expected_urls: set[str]) -> list[dict]:
    midi = lake.read(BRONZE_MIDI, columns=["sha256"]).column("sha256").to_pylist()
    assert sorted(midi) == sorted(expected_shas)  # every file, each once
    urls = lake.read(BRONZE_URLS, columns=["url", "sha256"]).to_pylist()
    assert Counter(r["url"] for r in urls) == Counter(expected_urls)  # every place, each once
    assert {r["sha256"] for r in urls} == expected_shas
    return lake.read(BRONZE_CRAWL_LOG).to_pylist()


def test_two_processes_importing_overlapping_archives_at_once(tmp_path):
    bodies = [midi_bytes(i) for i in range(200, 290)]
    a = lakh_archive(tmp_path / "a.tar.gz", bodies[:60])
    b = lakh_archive(tmp_path / "b.tar.gz", bodies[30:])  # 30 files in both
    uri, go = str(tmp_path / "lake"), tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", IMPORTER, uri, str(arch), str(go)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for arch in (a, b)]
    time.sleep(1.0)
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        run_id, landed, dups, errors = out.split()[-4:]
        results.append((run_id, int(landed), int(dups), int(errors)))

    lake = Lake(uri)
    shas = {hashlib.sha256(x).hexdigest() for x in bodies}
    places = {f"tar://{arch}!/lmd_full/{hashlib.md5(x).hexdigest()[0]}/{hashlib.md5(x).hexdigest()}.mid"
              for arch, part in ((a, bodies[:60]), (b, bodies[30:])) for x in part}
    log = _check_exactly_once(lake, shas, places)
    # each file was landed by exactly one of the runs; the other logged it as a duplicate
    assert sum(r[1] for r in results) == len(shas) and all(r[3] == 0 for r in results)
    landed = Counter(r["sha256"] for r in log if r["outcome"] == "landed")
    assert set(landed) == shas and set(landed.values()) == {1}
    assert len(log) == 60 + 60


def test_two_ray_tasks_landing_overlapping_batches_at_once(tmp_path, ray_session):
    ray = ray_session
    uri = str(tmp_path / "lake")
    bodies = [midi_bytes(i) for i in range(300, 360)]

    @ray.remote(num_cpus=0.5)
    def land(lake_uri: str, items: list[tuple[str, bytes]], run_id: str, start_at: float) -> dict:
        from ingest.landing import Lander

        lander = Lander(Lake(lake_uri), SOURCE, run_id, every_rows=6)
        time.sleep(max(0.0, start_at - time.time()))
        for url, body in items:
            lander.add(ok(url, body))
        lander.flush()
        return lander.counts()

    first = [(f"http://mirror-a.example/{i}.mid", x) for i, x in enumerate(bodies[:40])]
    second = [(f"http://mirror-b.example/{i}.mid", x) for i, x in enumerate(bodies[20:])]
    Lake(uri).ensure(BRONZE_MIDI)
    start = time.time() + 3.0
    counts = ray.get([land.remote(uri, first, "run-a", start), land.remote(uri, second, "run-b", start)])

    lake = Lake(uri)
    shas = {hashlib.sha256(x).hexdigest() for x in bodies}
    log = _check_exactly_once(lake, shas, {u for u, _ in first + second})
    assert sum(c["midi_landed"] for c in counts) == len(shas)
    assert sum(c["midi_duplicates"] for c in counts) == 20
    assert Counter(r["outcome"] for r in log) == {"landed": 60, "duplicate": 20}


@pytest.fixture(scope="module")
def site(data_root):
    site_dir = data_root / "ingest-site"
    manifest = build_site(site_dir, SITE_LIMIT)
    with ScoreSite(site_dir) as served:
        yield served, manifest


def test_scheduled_run_is_harmless_when_overlapping_and_when_repeated(tmp_path, site, ray_session):
    served, manifest = site
    src = site_source(served.url).model_dump(mode="json", exclude_defaults=True)
    args = ["run", "--source", "score-site", "--set", f"lake.uri={tmp_path}/lake",
            "--set", f"ingest.sources=[{json.dumps(src)}]", "--set", "ray.num_cpus=2"]
    lake = Lake(f"{tmp_path}/lake")
    runner = CliRunner()

    with SourceLease(lake, "score-site", ttl_s=120):  # another run (cron, a CronJob, a Ray Job) is at work
        overlapping = runner.invoke(app, args)
    assert overlapping.exit_code == 0, overlapping.output
    assert "skipped: source 'score-site' is being ingested by" in overlapping.output
    assert lake.read(BRONZE_MIDI).num_rows == 0

    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    landed = lake.read(BRONZE_MIDI, columns=["sha256"]).column("sha256").to_pylist()
    assert {p["sha256"] for p in manifest["pieces"]} <= set(landed) and len(landed) == len(set(landed))
    version = lake.version(BRONZE_MIDI)

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert lake.version(BRONZE_MIDI) == version  # nothing landed twice
    events = [(r["event"], r["holder"]) for r in sorted(lake.read(BRONZE_INGEST_LEASES).to_pylist(), key=lambda r: r["seq"])]
    assert [e for e, _ in events] == ["acquire", "release"] * 3  # ours, then the two runs': each released its lease
    assert len({h for _, h in events}) == 3
