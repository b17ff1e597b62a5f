"""Every Delta table of the lake, defined once: name, layer, schema, key, description.

One module per layer (``bronze``, ``silver``, ``gold``); this package re-exports every spec and the
registry ``TABLES``. Everything else (the crawler, the Spark jobs, training) imports these specs;
nothing restates a column list. Tables stay on the simplest Delta protocol: UTC microsecond
timestamps, no deletion vectors, no column mapping, so both delta-rs and Spark read them.
"""

from __future__ import annotations

from lake.schemas.bronze import (BRONZE_ANNOTATIONS, BRONZE_CAPTIONS, BRONZE_CRAWL_ERRORS, BRONZE_CRAWL_LOG, BRONZE_INGEST_LEASES,
                                 BRONZE_LYRICS, BRONZE_MIDI, BRONZE_URLS)
from lake.schemas.frontier import INGEST_FRONTIER
from lake.schemas.gold import GOLD_LYRIC_SEGMENTS, GOLD_MELODY_INDEX, GOLD_MUSIC_EMBEDDINGS, GOLD_PAIRS, GOLD_SPLITS
from lake.schemas.silver import (SILVER_CHORDS, SILVER_DUPLICATES, SILVER_QUARANTINE, SILVER_SCORES, SILVER_TOKENS,
                                 SILVER_TRACK_TOKENS, SILVER_TRACKS)
from lake.schemas.spec import LINEAGE, TS, TableSpec

TABLES: dict[str, TableSpec] = {t.name: t for t in (
    BRONZE_MIDI, BRONZE_LYRICS, BRONZE_CRAWL_ERRORS,
    BRONZE_URLS, BRONZE_CRAWL_LOG, BRONZE_CAPTIONS, BRONZE_ANNOTATIONS, BRONZE_INGEST_LEASES, INGEST_FRONTIER,
    SILVER_SCORES, SILVER_CHORDS, SILVER_TRACKS, SILVER_TOKENS, SILVER_TRACK_TOKENS, SILVER_DUPLICATES,
    SILVER_QUARANTINE,
    GOLD_PAIRS, GOLD_LYRIC_SEGMENTS, GOLD_SPLITS, GOLD_MUSIC_EMBEDDINGS, GOLD_MELODY_INDEX,
)}


def spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"no table named {name!r}; known: {', '.join(TABLES)}") from None


__all__ = ["TABLES", "TableSpec", "LINEAGE", "TS", "spec", "BRONZE_MIDI", "BRONZE_LYRICS", "BRONZE_CRAWL_ERRORS",
           "BRONZE_URLS", "BRONZE_CRAWL_LOG", "BRONZE_CAPTIONS", "BRONZE_ANNOTATIONS", "BRONZE_INGEST_LEASES", "INGEST_FRONTIER",
           "SILVER_SCORES", "SILVER_CHORDS", "SILVER_TRACKS", "SILVER_TOKENS",
           "SILVER_TRACK_TOKENS", "SILVER_DUPLICATES", "SILVER_QUARANTINE", "GOLD_PAIRS", "GOLD_LYRIC_SEGMENTS", "GOLD_SPLITS",
           "GOLD_MUSIC_EMBEDDINGS", "GOLD_MELODY_INDEX"]
