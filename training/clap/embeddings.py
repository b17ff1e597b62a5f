"""``gold_music_embeddings``: every tokenized lake piece embedded by one registered CLAP version.

Rows are keyed by (sha256, model_name, model_version) and written with a MERGE that inserts only
missing keys, after reading which keys the version already has: a re-run for the same version
embeds and adds nothing twice, and a run killed midway keeps the chunks it committed. The music
tower reads each piece's ``silver_tokens`` row (under the tokenizer the model was trained on) at
one pinned version, recorded in the rows' lineage and the commit metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pds

from lake.delta import Lake
from lake.schemas import GOLD_MUSIC_EMBEDDINGS, SILVER_TOKENS
from common.runinfo import code_version, new_run_id

CHUNK_ROWS = 2048  # pieces embedded and committed at a time


@dataclass(frozen=True)
class EmbedReport:
    model_name: str
    model_version: int
    source_version: int
    embedded: int
    already: int
    table_version: int

    def summary(self) -> str:
        return (f"{GOLD_MUSIC_EMBEDDINGS.name}@v{self.table_version}: {self.model_name} v{self.model_version} "
                f"+{self.embedded} pieces ({self.already} already there) from {SILVER_TOKENS.name}@v{self.source_version}")


def embedded_keys(lake: Lake, model_name: str, model_version: int) -> set[str]:
    t = lake.read(GOLD_MUSIC_EMBEDDINGS, columns=["sha256"],
                  filters=[("model_name", "=", model_name), ("model_version", "=", int(model_version))])
    return set(t.column("sha256").to_pylist())


def embed_lake(lake: Lake, encoder, model_name: str, model_version: int) -> EmbedReport:
    """Embed every piece of ``silver_tokens`` (the encoder's tokenizer) that this version has not embedded yet."""
    source_version = lake.version(SILVER_TOKENS)
    done = embedded_keys(lake, model_name, model_version)
    run_id = new_run_id("clap-embed")
    meta = {"job": "clap-embed", "job_run_id": run_id, "source_table": SILVER_TOKENS.name,
            "source_version": source_version, "model_name": model_name, "model_version": model_version,
            "code_version": code_version()}
    dataset = lake.table(SILVER_TOKENS, source_version).to_pyarrow_dataset()
    batches = dataset.to_batches(columns=["sha256", "tokens"], filter=pds.field("tokenizer_id") == encoder.tokenizer_id,
                                 batch_size=CHUNK_ROWS)
    embedded, already, seen, version = 0, 0, set(), lake.version(GOLD_MUSIC_EMBEDDINGS)
    for batch in batches:
        shas, tokens = [], []
        for sha, ids in zip(batch.column("sha256").to_pylist(), batch.column("tokens").to_numpy(zero_copy_only=False)):
            if sha in seen:
                continue
            seen.add(sha)
            if sha in done:
                already += 1
                continue
            shas.append(sha)
            tokens.append(np.asarray(ids))
        if not shas:
            continue
        vectors = encoder.embed_tokens(tokens)
        version, inserted = lake.insert_new(GOLD_MUSIC_EMBEDDINGS, _rows(shas, vectors, model_name, model_version,
                                                                           encoder.tokenizer_id, source_version, run_id),
                                            metadata=meta)
        embedded += inserted
    return EmbedReport(model_name, int(model_version), source_version, embedded, already, version)


def _rows(shas, vectors: np.ndarray, model_name: str, model_version: int, tokenizer_id: str, source_version: int,
          run_id: str) -> pa.Table:
    n, dim = vectors.shape
    now = datetime.now(timezone.utc)
    return pa.table({
        "sha256": shas, "model_name": [model_name] * n, "model_version": pa.array([model_version] * n, pa.int32()),
        "embedding": pa.array(list(vectors.astype(np.float32)), pa.list_(pa.float32())),
        "dim": pa.array([dim] * n, pa.int32()), "tokenizer_id": [tokenizer_id] * n,
        "source_table": [SILVER_TOKENS.name] * n, "source_version": pa.array([source_version] * n, pa.int64()),
        "job_run_id": [run_id] * n, "code_version": [code_version()] * n,
        "processed_at": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
    })


def load_embeddings(lake: Lake, model_name: str, model_version: int) -> tuple[list[str], np.ndarray]:
    """(sha256s sorted, [n, dim] float32) of one model version, for search."""
    t = lake.read(GOLD_MUSIC_EMBEDDINGS, columns=["sha256", "embedding", "dim"],
                  filters=[("model_name", "=", model_name), ("model_version", "=", int(model_version))])
    if t.num_rows == 0:
        return [], np.zeros((0, 0), dtype=np.float32)
    t = t.sort_by("sha256")
    dim = int(t.column("dim")[0].as_py())
    flat = t.column("embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    return t.column("sha256").to_pylist(), flat.astype(np.float32).reshape(t.num_rows, dim)
