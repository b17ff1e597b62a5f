"""The persisted crawl frontier: what a crawl has queued and what it has finished, so a killed run resumes."""

from __future__ import annotations

import pyarrow as pa

from lake.schemas.spec import TS, TableSpec

FRONTIER_STATES = ("started", "queued", "done", "finished")

INGEST_FRONTIER = TableSpec(
    name="ingest_frontier",
    layer="bronze",
    key=("source", "crawl_id", "url", "state"),
    description=("Append-only crawl state per source: a crawl is 'started', URLs are 'queued' when found and "
                 "'done' once their outcome is committed, and the crawl is 'finished' at the end; an unfinished "
                 "crawl is resumed by the next run."),
    schema=pa.schema([
        pa.field("source", pa.string(), nullable=False),
        pa.field("crawl_id", pa.string(), nullable=False),  # the run id that started the crawl
        pa.field("state", pa.string(), nullable=False),  # one of FRONTIER_STATES
        pa.field("url", pa.string(), nullable=False),  # "" for the crawl's started/finished rows
        pa.field("kind", pa.string()),  # "page" | "midi" | "lyrics" (queued rows)
        pa.field("depth", pa.int32()),
        pa.field("referrer", pa.string()),
        pa.field("title", pa.string()),
        pa.field("attrs_json", pa.string()),
        pa.field("run_id", pa.string(), nullable=False),  # the run that wrote the row
        pa.field("at", TS, nullable=False),
    ]),
)
