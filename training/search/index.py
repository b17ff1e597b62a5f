"""The search index: one row per lake piece with the labels search matches on and its CLAP embedding, plus the
CLAP text tower's weights, cached on local disk and rebuilt when what it was made from changes.

Made from ``silver_scores`` (title, URL, source, bpm, meter, GM programs), ``gold_text_music_pairs`` (the
labelled key, mood, split, captions) and ``gold_music_embeddings`` (the CLAP version's vectors), each at the
version read, and the CLAP version the alias named. Loading checks those table versions (a Delta log read each)
and, where the MLflow store is a local SQLite file, its size and mtime: unchanged, the alias is not resolved
again, so a search loads no MLflow and no torch. Anything else changed, the index is rebuilt (seconds).

Files: ``index.parquet`` (the labels), ``embeddings.npy`` (the CLAP vectors, row for row), ``tower.npz`` and
``tower.json`` (the text tower), ``meta.json`` (what it was made from; written last). The cache lives in
``$MUSICLAKE_SEARCH_CACHE`` (default ``~/.cache/musiclake/search``), one folder per lake URI; it is derived data
and never written into the lake or the model store.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lake.schemas import BRONZE_MIDI, GOLD_MUSIC_EMBEDDINGS, GOLD_PAIRS, SILVER_SCORES
from lake.vocab import COLLECTION_FORMS, COLLECTIONS, GM_NAMES, collection_of, key_name, mood_of, tempo_bin, title_forms

INDEX_FORMAT = 5  # bump when the columns change: an older index is rebuilt
TABLES = (SILVER_SCORES, GOLD_PAIRS, GOLD_MUSIC_EMBEDDINGS, BRONZE_MIDI)  # bronze: each file's licence


@dataclass
class SearchIndex:
    """Every piece's labels (a pyarrow table, one row per piece) and, where it has one, its CLAP vector."""

    table: pa.Table
    embeddings: np.ndarray | None  # [n, dim], zero rows where a piece has none
    has_embedding: np.ndarray  # [n] bool
    tower: object | None  # a TextTower, None without a CLAP version
    meta: dict

    def __len__(self) -> int:
        return self.table.num_rows

    def column(self, name: str) -> list:
        return self.table.column(name).to_pylist()


def cache_root() -> Path:
    return Path(os.environ.get("MUSICLAKE_SEARCH_CACHE") or Path.home() / ".cache" / "musiclake" / "search")


def index_path(cfg) -> Path:
    """The folder of this lake's index."""
    return cache_root() / hashlib.sha256(str(cfg.lake.uri).encode()).hexdigest()[:16]


def _registry_stamp(cfg) -> str | None:
    """Size and mtime of a local SQLite MLflow store; None for anything else (then the alias is resolved)."""
    uri = str(cfg.mlflow.tracking_uri)
    if not uri.startswith("sqlite:///"):
        return None
    path = Path(uri[len("sqlite:///"):])
    try:
        st = path.stat()
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}"


def _table_versions(lake) -> dict[str, int]:
    return {spec.name: int(lake.version(spec)) for spec in TABLES}


def _resolve_clap(cfg, ref: str):
    """(version, TextTower weights, config) of the CLAP version ``ref`` names; None when none is registered."""
    import mlflow.pyfunc  # noqa: F401  (first: its import sets warning filters of its own)

    with warnings.catch_warnings():  # MLflow's type-hint advice to the pyfunc is for whoever logs models
        warnings.simplefilter("ignore")
        warnings.showwarning = lambda *a, **k: None  # MLflow adds filters of its own while loading
        from training.clap import MODEL_NAME
        from training.clap.train import load_encoder
        from training.registry import ModelNotFound, resolve
        from training.search.texttower import export

        try:
            model_ref = resolve(cfg, str(ref), MODEL_NAME)
        except ModelNotFound:
            return None
        encoder = load_encoder(cfg, model_ref.version)
    return model_ref.version, *export(encoder)


def _rows(lake, versions: dict[str, int], clap_version: int | None) -> tuple[pa.Table, np.ndarray | None, np.ndarray]:
    scores = lake.read(SILVER_SCORES, versions[SILVER_SCORES.name],
                       columns=["sha256", "title", "url", "source", "style", "bpm", "time_signature", "key_tonic",
                                "key_mode", "programs"]).to_pylist()
    gold = {r["sha256"]: r for r in lake.read(
        GOLD_PAIRS, versions[GOLD_PAIRS.name],
        columns=["sha256", "key_name", "mood", "split", "caption", "caption_zh", "time_signature"]).to_pylist()}
    licences = dict(zip(*lake.read(BRONZE_MIDI, versions[BRONZE_MIDI.name], columns=["sha256", "license"])
                        .to_pydict().values())) if versions.get(BRONZE_MIDI.name) is not None else {}
    vectors: dict[str, np.ndarray] = {}
    if clap_version is not None:
        from training.clap import MODEL_NAME

        t = lake.read(GOLD_MUSIC_EMBEDDINGS, versions[GOLD_MUSIC_EMBEDDINGS.name], columns=["sha256", "embedding"],
                      filters=[("model_name", "=", MODEL_NAME), ("model_version", "=", int(clap_version))])
        vectors = {s: np.asarray(e, dtype=np.float32) for s, e in zip(t.column("sha256").to_pylist(),
                                                                       t.column("embedding").to_pylist())}
    out: dict[str, list] = {k: [] for k in ("sha256", "title", "url", "source", "license", "collection", "style",
                                            "styles", "key", "mode", "bpm", "tempo_bin", "time_signature", "programs",
                                            "instruments", "mood", "split", "forms", "caption", "caption_zh")}
    seen = set()
    for r in sorted(scores, key=lambda r: r["sha256"]):
        if r["sha256"] in seen:
            continue
        seen.add(r["sha256"])
        g = gold.get(r["sha256"], {})
        key = g.get("key_name") or key_name(r["key_tonic"], r["key_mode"])  # the labelled key where there is one
        collection = collection_of(r["source"], r["url"])
        styles = {s for s in (r["style"], COLLECTIONS.get(collection, (None,))[0]) if s and s != "other"}
        programs = sorted(set(int(p) for p in (r["programs"] or [])))
        row = {"sha256": r["sha256"], "title": r["title"], "url": r["url"], "source": r["source"],
               "license": licences.get(r["sha256"]),
               "collection": collection, "style": r["style"], "styles": sorted(styles), "key": key,
               "mode": key.split()[1], "bpm": float(r["bpm"]), "tempo_bin": tempo_bin(r["bpm"]),
               "time_signature": g.get("time_signature") or r["time_signature"], "programs": programs,
               "instruments": [GM_NAMES[p] if p >= 0 else "Drums" for p in programs],
               "mood": g.get("mood") or mood_of(key.split()[1], r["bpm"]), "split": g.get("split"),
               "forms": list(dict.fromkeys(title_forms(r["title"]) + list(COLLECTION_FORMS.get(collection, ())))),
               "caption": g.get("caption"), "caption_zh": g.get("caption_zh")}
        for k, v in row.items():
            out[k].append(v)
    table = pa.table(out)
    has = np.array([s in vectors for s in out["sha256"]], dtype=bool)
    if not vectors:
        return table, None, has
    dim = len(next(iter(vectors.values())))
    emb = np.zeros((len(out["sha256"]), dim), dtype=np.float32)
    for i, s in enumerate(out["sha256"]):
        if s in vectors:
            emb[i] = vectors[s]
    return table, emb, has


def build_index(cfg, clap_ref: str = "champion") -> SearchIndex:
    """Read the lake (and the CLAP version ``clap_ref`` names) and write the index to :func:`index_path`."""
    from lake.delta import Lake

    lake = Lake.from_config(cfg)
    versions = _table_versions(lake)
    clap = _resolve_clap(cfg, clap_ref)
    clap_version, weights, tower_cfg = clap if clap else (None, None, None)
    table, emb, has = _rows(lake, versions, clap_version)
    meta = {"format": INDEX_FORMAT, "lake_uri": str(cfg.lake.uri), "tables": versions, "clap_ref": str(clap_ref),
            "clap_version": clap_version, "registry": _registry_stamp(cfg), "pieces": table.num_rows,
            "embedded": int(has.sum()), "dim": int(emb.shape[1]) if emb is not None else 0,
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    folder = index_path(cfg)
    folder.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}"
    pq.write_table(table.append_column("has_embedding", pa.array(has)), folder / f"index.parquet.{tag}")
    if emb is not None:
        with open(folder / f"embeddings.npy.{tag}", "wb") as f:
            np.save(f, emb)
    if weights is not None:
        with open(folder / f"tower.npz.{tag}", "wb") as f:  # a file object: np.savez adds no ".npz" to it
            np.savez(f, **weights)
        (folder / f"tower.json.{tag}").write_text(json.dumps(tower_cfg))
    (folder / f"meta.json.{tag}").write_text(json.dumps(meta, indent=1))
    # meta last: it says the rest is whole
    for name in ("index.parquet", "embeddings.npy", "tower.npz", "tower.json", "meta.json"):
        tmp = folder / f"{name}.{tag}"
        if tmp.exists():
            tmp.replace(folder / name)
    return _from_files(folder, meta)


def _from_files(folder: Path, meta: dict) -> SearchIndex:
    full = pq.ParquetFile(folder / "index.parquet").read()  # not read_table: that imports pyarrow.dataset and pandas
    has = np.array(full.column("has_embedding").to_pylist(), dtype=bool)
    emb = np.load(folder / "embeddings.npy") if meta.get("embedded") else None
    tower = None
    if meta.get("clap_version") is not None and (folder / "tower.npz").exists():
        from training.search.texttower import TextTower

        with np.load(folder / "tower.npz") as z:
            weights = {k: z[k] for k in z.files}
        tower = TextTower(weights, json.loads((folder / "tower.json").read_text()))
    return SearchIndex(full.drop_columns(["has_embedding"]), emb, has, tower, meta)


def is_current(cfg, index: SearchIndex) -> bool:
    """Whether ``index`` was built from the lake tables' current versions and the registry as it is now (a
    few Delta log reads and a stat: about 10-20 ms; what a long-lived server checks before each search)."""
    from lake.delta import Lake

    stamp = _registry_stamp(cfg)
    return (stamp is not None and stamp == index.meta.get("registry")
            and _table_versions(Lake.from_config(cfg)) == index.meta.get("tables"))


def load_index(cfg, clap_ref: str = "champion", rebuild: bool = False) -> SearchIndex:
    """The cached index when the lake tables, the CLAP reference and the registry are as it was built from;
    else (or with ``rebuild``) a new one."""
    from lake.delta import Lake

    folder = index_path(cfg)
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        meta = None
    if meta and not rebuild and meta.get("format") == INDEX_FORMAT and meta.get("clap_ref") == str(clap_ref):
        current = _table_versions(Lake.from_config(cfg))
        stamp = _registry_stamp(cfg)
        if current == meta.get("tables") and stamp is not None and stamp == meta.get("registry"):
            try:
                return _from_files(folder, meta)
            except (OSError, ValueError, KeyError):
                pass
    return build_index(cfg, clap_ref)
