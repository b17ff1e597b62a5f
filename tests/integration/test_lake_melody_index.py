"""The melody index job (lake/jobs/melody_index.py) on a real Spark session: every bronze file indexed once (a row
of the older, melody-only scheme read again and replaced), a re-run commits nothing, a new batch adds only
itself, and the loaded index finds a disguised copy with the lake piece's URL and licence."""

from datetime import datetime, timezone

import pyarrow as pa

from lake.delta import Lake
from lake.jobs.melody_index import load_index, run_melody_index
from lake.schemas import BRONZE_MIDI, GOLD_MELODY_INDEX
from lake.similarity import SCHEME, lines, tokens, verdict
from tests.support.config import make_config
from tests.support.lake_rows import HOSTILE, bronze_rows
from tests.unit.test_lake_similarity import _disguised, _song


def test_the_melody_index_grows_with_the_lake(tmp_path, spark):
    cfg = make_config(tmp_path)
    lake = Lake.from_config(cfg)
    files = {f"song-{i}": (_song(i, bars=16).dumps_midi(), "pop") for i in range(6)}
    files["broken"] = (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x50", None)
    files.update(HOSTILE)  # refused by the lake's caps: rows without shingles, the job goes on
    lake.append(BRONZE_MIDI, bronze_rows(files))
    old = lake.read(BRONZE_MIDI, columns=["sha256", "source", "url", "title", "license"]).slice(0, 1).to_pylist()[0]
    lake.insert_new(GOLD_MELODY_INDEX, pa.Table.from_pylist([dict(  # a row the melody-only scheme wrote
        old, shingles=[1, 2, 3], n_notes=5, source_table="bronze_midi_files", source_version=0, job_run_id="old",
        code_version="old", processed_at=datetime.now(timezone.utc))]))
    first = run_melody_index(cfg, spark)
    assert first.counts == {"indexed": 10, "without_melody": 4}, first.summary()
    rows = {r["sha256"]: r for r in lake.read(GOLD_MELODY_INDEX).to_pylist()}
    assert len(rows) == 10 and all(r["license"] == "cc0" and r["url"].endswith(".mid") for r in rows.values())
    assert all(r["scheme"] == SCHEME for r in rows.values()) and rows[old["sha256"]]["job_run_id"] != "old"
    assert sum(bool(r["tokens"]) for r in rows.values()) == 6
    again = run_melody_index(cfg, spark)
    assert again.counts["indexed"] == 0 and GOLD_MELODY_INDEX.name not in again.outputs

    lake.append(BRONZE_MIDI, bronze_rows({"late": (_song(99, bars=16).dumps_midi(), "pop")}))
    late = run_melody_index(cfg, spark)
    assert late.counts["indexed"] == 1 and late.outputs[GOLD_MELODY_INDEX.name][1] == 1

    index, about, stale = load_index(lake)
    assert len(index.ids) == 7 and stale == 0  # the files without tokens are not in the index
    q = [tokens(ln.start, ln.pitch) for ln in lines(_disguised(_song(99, bars=16), seed=3))]
    hit = verdict(index.query(q))
    assert hit is not None and about[hit.piece][1].endswith("late.mid") and about[hit.piece][3] == "cc0"
