"""Every CLI verb that succeeded exits 0, also when native threads (pyarrow's I/O pool reading a Delta
table through deltalake's Python filesystem) are still around at interpreter exit."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from ingest.fetch import Outcome, Task
from ingest.landing import Lander
from lake.delta import Lake
from common.config import SourceConfig

RUNS = 10


def test_ingest_log_exits_0_every_time(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    now = datetime.now(timezone.utc)
    for batch in range(4):  # a few commits: a few files for the reader's threads
        lander = Lander(lake, SourceConfig(name="site", seeds=["http://example.org/"]), f"run-{batch}")
        for i in range(5):
            lander.add(Outcome(Task("midi", f"http://example.org/{batch}-{i}.mid"), now, error_stage="fetch",
                               reason="HTTP 404 Not Found"))
        lander.flush()
    script = Path(sys.executable).with_name("musiclake")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "musiclake.cli"]
    env = {**os.environ, "PYTHONFAULTHANDLER": ""}
    codes, outputs = [], []
    for _ in range(RUNS):
        proc = subprocess.run([*cmd, "ingest", "log", "--set", f"lake.uri={tmp_path}/lake"], capture_output=True,
                              text=True, env=env, timeout=120)
        codes.append(proc.returncode)
        outputs.append(proc.stdout)
        if proc.returncode:
            print(proc.stderr[-2000:])
    assert codes == [0] * RUNS
    assert all("HTTP 404 Not Found" in out and "run run-3" in out for out in outputs)  # output not lost


ENTRY_WITH_BARE_READ = """
import sys
import typer
from deltalake import DeltaTable
from musiclake.cli import app

@app.command("probe-read")
def probe_read(path: str):
    typer.echo(DeltaTable(path).to_pyarrow_table().num_rows)  # aborts at exit about half the time, bare

app(["probe-read", sys.argv[1]], prog_name="musiclake")
"""


def test_console_entry_exits_0_after_a_bare_delta_read(tmp_path):
    """The bare ``DeltaTable(...).to_pyarrow_table()`` dies at exit far more often than ``ingest log``
    does; through the console entry it must exit 0 with its output, every time."""
    lake = Lake(str(tmp_path / "lake"))
    lander = Lander(lake, SourceConfig(name="site", seeds=["http://example.org/"]), "run-1")
    lander.add(Outcome(Task("midi", "http://example.org/a.mid"), datetime.now(timezone.utc), error_stage="fetch",
                       reason="HTTP 404 Not Found"))
    lander.flush()
    table = str(tmp_path / "lake" / "bronze_crawl_log")
    runs = [subprocess.run([sys.executable, "-c", ENTRY_WITH_BARE_READ, table], capture_output=True, text=True,
                           timeout=120, cwd=Path(__file__).parents[2]) for _ in range(RUNS)]
    assert [p.returncode for p in runs] == [0] * RUNS, runs[-1].stderr[-2000:]
    assert all(p.stdout.strip() == "1" for p in runs)
