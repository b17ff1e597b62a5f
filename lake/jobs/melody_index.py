"""Spark job: bronze MIDI files → gold_melody_index (every piece's lines as tokens and shingles, lake.similarity).

Incremental like the other gold tables: it pins the bronze snapshot, leaves out the pieces the index
holds already at the current :data:`lake.similarity.SCHEME` (an anti-join on ``sha256``; rows of an
older scheme are read again and replaced), and the executors read the lines of each new file (melody,
skyline, each track), their tokens and sampled shingles (``mapInArrow``, on the lake's guarded path:
the size, track, note and time caps of ``lake.midi_features``); the driver MERGEs the rows in chunks
(on ``sha256``), so a re-run commits nothing and a killed run keeps the chunks it finished. A file
that does not parse gets a row with no tokens (it is not read again). Each row carries the bronze
row's source, URL, title and licence: what a screening verdict names.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa

from common.runinfo import code_version, new_run_id
from lake.delta import Lake
from lake.jobs.common import Clock, JobReport, read_snapshot
from lake.schemas import BRONZE_MIDI, GOLD_MELODY_INDEX

JOB = "melody-index"
CHUNK_ROWS = 20_000
ROW_SCHEMA = pa.schema([pa.field("sha256", pa.string()), pa.field("shingles", pa.list_(pa.int64())),
                        pa.field("n_notes", pa.int32()), pa.field("source", pa.string()),
                        pa.field("url", pa.string()), pa.field("title", pa.string()),
                        pa.field("license", pa.string()), pa.field("tokens", pa.binary())])


def _shingle_rows(batches, limits=None):
    from lake.midi_features import Limits, check_midi_bytes, check_score, parse_midi, time_limit
    from lake.similarity import piece_tokens, shingles

    limits = limits or Limits()
    for batch in batches:
        shas, shs, notes, toks = [], [], [], []
        for sha, content in zip(batch.column("sha256").to_pylist(), batch.column("content").to_pylist()):
            try:  # the lake's guarded path: size and track caps, then parse and caps under a wall-clock limit
                check_midi_bytes(content, max_bytes=limits.max_bytes, max_tracks=limits.max_tracks)
                with time_limit(limits.max_seconds, "melody index"):
                    score = parse_midi(content)
                    check_score(score, limits)
                    seq = piece_tokens(score)
                sh = shingles(seq).astype(np.int64)
            except Exception:  # noqa: BLE001 - a file the caps refuse or that does not parse: a row with no tokens
                seq, sh = np.zeros(0, np.uint8), np.zeros(0, np.int64)
            shas.append(sha)
            shs.append(sh)
            notes.append(int(seq.size))
            toks.append(seq.tobytes())
        yield pa.RecordBatch.from_arrays(
            [pa.array(shas, pa.string()), pa.array(shs, pa.list_(pa.int64())), pa.array(notes, pa.int32()),
             batch.column("source"), batch.column("url"), batch.column("title"), batch.column("license"),
             pa.array(toks, pa.binary())],
            schema=ROW_SCHEMA)


def run_melody_index(cfg, spark) -> JobReport:
    """Index the lines of the bronze files the index does not hold yet (at this scheme); returns what was read
    and committed."""
    from lake.similarity import SCHEME

    clock = Clock()
    lake = Lake.from_config(cfg)
    run_id = new_run_id(JOB)
    version, bronze = read_snapshot(spark, lake, BRONZE_MIDI,
                                    columns=["sha256", "content", "source", "url", "title", "license"])
    report = JobReport(JOB, run_id, inputs={BRONZE_MIDI.name: version})
    if bronze is None:
        report.note = f"{BRONZE_MIDI.name} holds no files yet"
        report.elapsed_s = clock.elapsed()
        return report
    bronze = bronze.dropDuplicates(["sha256"])
    if lake.exists(GOLD_MELODY_INDEX):
        lake.ensure(GOLD_MELODY_INDEX)  # an older table gets the tokens and scheme columns
        _, done = read_snapshot(spark, lake, GOLD_MELODY_INDEX, columns=["sha256", "scheme"])
        if done is not None:
            bronze = bronze.join(done.where(done.scheme == SCHEME).select("sha256"), "sha256", "left_anti")
    from functools import partial

    from lake.midi_features import Limits

    rows = bronze.mapInArrow(partial(_shingle_rows, limits=Limits.from_config(cfg)), "sha256 string, shingles array<bigint>, n_notes int, source string, "
                                            "url string, title string, license string, tokens binary")
    meta = dict(job=JOB, job_run_id=run_id, source_table=BRONZE_MIDI.name, source_version=version,
                code_version=code_version())
    added, indexed, empty = 0, 0, 0
    out_version = lake.version(GOLD_MELODY_INDEX) if lake.exists(GOLD_MELODY_INDEX) else -1
    chunk: list = []

    def flush():
        nonlocal added, out_version
        if not chunk:
            return
        now = datetime.now(timezone.utc)
        n = len(chunk)
        table = pa.table({
            "sha256": [r["sha256"] for r in chunk],
            "shingles": pa.array([list(r["shingles"]) for r in chunk], pa.list_(pa.int64())),
            "n_notes": pa.array([r["n_notes"] for r in chunk], pa.int32()),
            "source": [r["source"] for r in chunk], "url": [r["url"] for r in chunk],
            "title": [r["title"] for r in chunk], "license": [r["license"] for r in chunk],
            "tokens": pa.array([bytes(r["tokens"]) for r in chunk], pa.binary()),
            "scheme": pa.array([SCHEME] * n, pa.int32()),
            "source_table": [BRONZE_MIDI.name] * n, "source_version": pa.array([version] * n, pa.int64()),
            "job_run_id": [run_id] * n, "code_version": [code_version()] * n,
            "processed_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
        })
        out_version, updated, inserted = lake.upsert(GOLD_MELODY_INDEX, table, metadata=meta)
        added += inserted + updated
        chunk.clear()

    for r in rows.toLocalIterator():
        chunk.append(r)
        indexed += 1
        empty += not r["tokens"]
        if len(chunk) >= CHUNK_ROWS:
            flush()
    flush()
    if indexed:
        report.outputs[GOLD_MELODY_INDEX.name] = (out_version, added)
    else:
        report.note = f"every piece of {BRONZE_MIDI.name}@v{version} is indexed already"
    report.counts = dict(indexed=indexed, without_melody=empty)
    report.elapsed_s = clock.elapsed()
    return report


def load_index(lake: Lake, version: int | None = None):
    """The line index of the lake (``lake.similarity.LineIndex``, frozen), per piece what a verdict names
    (``{sha256: (source, url, title, license)}``), and how many rows are of an older scheme (left out:
    ``musiclake lake melody-index`` reads them again)."""
    from lake.similarity import SCHEME, LineIndex

    index, about = LineIndex(), {}
    if not lake.exists(GOLD_MELODY_INDEX):
        return index.freeze(), about, 0
    from deltalake import DeltaTable

    dt = DeltaTable(lake.table_uri(GOLD_MELODY_INDEX), version=version, storage_options=lake.storage_options)
    if "scheme" not in {f.name for f in dt.schema().fields}:  # read only: the job adds the columns
        return index.freeze(), about, dt.to_pyarrow_table(columns=["sha256"]).num_rows
    t = dt.to_pyarrow_table(columns=["sha256", "shingles", "tokens", "scheme", "source", "url", "title", "license"])
    scheme = np.asarray(t.column("scheme").fill_null(1).to_numpy(zero_copy_only=False))
    stale = int((scheme != SCHEME).sum())
    lists = t.column("shingles").combine_chunks()
    flat = lists.flatten().to_numpy(zero_copy_only=False).astype(np.int64)  # place << 32 | hash
    bounds = lists.offsets.to_numpy()
    cols = [t.column(c).to_pylist() for c in ("sha256", "tokens", "source", "url", "title", "license")]
    for i, (sha, tok, src, url, title, lic) in enumerate(zip(*cols)):
        if scheme[i] != SCHEME or not tok:
            continue
        index.add(sha, np.frombuffer(tok, np.uint8), flat[bounds[i]:bounds[i + 1]])
        about[sha] = (src, url, title, lic)
    return index.freeze(), about, stale
