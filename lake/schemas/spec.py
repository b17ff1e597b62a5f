"""What a table spec is, and the columns every silver and gold row carries."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")

# Lineage columns carried by every silver and gold row.
LINEAGE = [
    pa.field("source_table", pa.string(), nullable=False),
    pa.field("source_version", pa.int64(), nullable=False),
    pa.field("job_run_id", pa.string(), nullable=False),
    pa.field("code_version", pa.string(), nullable=False),
    pa.field("processed_at", TS, nullable=False),
]


@dataclass(frozen=True)
class TableSpec:
    name: str
    layer: str
    schema: pa.Schema
    key: tuple[str, ...]
    description: str
    partition_by: tuple[str, ...] = field(default_factory=tuple)

    @property
    def columns(self) -> list[str]:
        return self.schema.names
