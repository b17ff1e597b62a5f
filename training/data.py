"""The generator's training data: pinned lake snapshots → note-step windows, through Ray Data.

``gold_text_music_pairs`` gives each piece its split and attributes (style, BPM, key, meter);
``bronze_midi_files`` its bytes. Both are read at explicit Delta versions that travel with the
model. Each piece is parsed with symusic, quantized to 16ths, given roles and a chord per bar
(``training.notes``), and cut into windows of ``block_size + 1`` steps that start at a bar line
behind the piece's prelude. Training pieces are also transposed (the key label moves with them),
so every key is seen; the role order inside bars is shuffled for half the copies, which teaches
filling one role given the others.

Labelled pieces: where gold holds an annotated set's bars and chords (``chord_source`` ``labels:...``,
``bar_start_s`` and ``bar_chords``, e.g. POP909's downbeats and chord labels), the bars and the chord
of each bar are those, and the meter is the one the downbeats make (most POP909 files declare 1/4,
which would make every beat a bar); every other piece keeps the bars of its meter and the chords of
its notes.

Held-out songs: :func:`held_out_shas` is the one place that decides which pieces never reach the
generator's rows (train or validation): the POP909 songs of ``training.realism.HELD_OUT_POP909``, the
songs the realism evaluation compares against, found by their annotation (``bronze_annotations``
format ``pop909``, item ``NNN``) or by where the file came from (source ``pop909``, ``.../NNN.mid``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lake.delta import Lake
from lake.schemas import BRONZE_ANNOTATIONS, BRONZE_MIDI, GOLD_PAIRS
from lake.vocab import KEY_NAMES, PITCH_CLASSES
from training.request import ROLES

TRANSPOSITIONS = 6  # shifted copies per training piece (plus the original)
WINDOW_STRIDE_BARS = 8


class NoTrainingData(RuntimeError):
    """The pinned lake snapshot has nothing to train on."""


@dataclass
class NoteData:
    train: object  # ray.data.Dataset with column "steps" (block_size + 1, N_FIELDS) int16
    validation: object | None
    versions: dict[str, int]
    counts: dict[str, int] = field(default_factory=dict)
    licences: dict[str, int] = field(default_factory=dict)  # "source licence" -> training pieces under it

    @property
    def licence(self) -> str:
        """The training data's licences in one line, e.g. ``pop909 MIT (720); demo-scores PD (310)``."""
        return licence_line(self.licences)


def pin_versions(lake: Lake) -> dict[str, int]:
    """The table versions training reads; ``bronze_annotations`` only where an annotated set was imported
    (it names the held-out songs), so a lake without one pins what it always did."""
    versions = {BRONZE_MIDI.name: lake.version(BRONZE_MIDI), GOLD_PAIRS.name: lake.version(GOLD_PAIRS)}
    # An empty table (made by a lake listing, or an import of unlabelled files) names nothing: pinning it would
    # change the fingerprint of a lake whose training data did not change, and a re-run would retrain.
    if lake.exists(BRONZE_ANNOTATIONS) and lake.info(BRONZE_ANNOTATIONS).rows > 0:
        versions[BRONZE_ANNOTATIONS.name] = lake.version(BRONZE_ANNOTATIONS)
    return versions


def licence_line(licences: dict[str, int]) -> str:
    return "; ".join(f"{k} ({n})" for k, n in sorted(licences.items(), key=lambda kv: (-kv[1], kv[0])))


def is_held_out(source: str | None, fmt: str | None, item: str | None = None, url: str | None = None) -> bool:
    """Whether a piece is a held-out POP909 song: by its annotation (format ``pop909``, item ``"010"``) or,
    for a file landed from source ``pop909``, by its file name (``.../010/010.mid``)."""
    from training.realism import is_held_out_pop909

    if fmt == "pop909" and item:
        return is_held_out_pop909(item)
    if source == "pop909" and url:
        return is_held_out_pop909(url.rstrip("/").rsplit("/", 1)[-1])
    return False


def held_out_shas(lake: Lake, versions: dict[str, int], bronze: pa.Table | None = None) -> set[str]:
    """The sha256 of every piece the generator must never train on (the module's docstring says which).

    ``bronze``: ``bronze_midi_files`` rows with sha256, source and url, when already read."""
    if bronze is None:
        bronze = lake.read(BRONZE_MIDI, version=versions[BRONZE_MIDI.name], columns=["sha256", "source", "url"])
    out = {sha for sha, src, url in zip(bronze.column("sha256").to_pylist(), bronze.column("source").to_pylist(),
                                        bronze.column("url").to_pylist()) if is_held_out(src, None, url=url)}
    if BRONZE_ANNOTATIONS.name in versions:
        ann = lake.read(BRONZE_ANNOTATIONS, version=versions[BRONZE_ANNOTATIONS.name],
                        columns=["sha256", "format", "item"])
        out |= {sha for sha, fmt, item in zip(ann.column("sha256").to_pylist(), ann.column("format").to_pylist(),
                                              ann.column("item").to_pylist()) if is_held_out(None, fmt, item)}
    return out


def transpose_key(key: str, shift: int) -> str:
    tonic, mode = key.split()
    return f"{PITCH_CLASSES[(PITCH_CLASSES.index(tonic) + shift) % 12]} {mode}"


def piece_windows(midi: bytes, style: str, bpm: float, key: str, time_signature: str, block_size: int,
                  shifts: list[int], shuffle_seed: int | None, bar_start_s=None, bar_chords=None) -> list[np.ndarray]:
    """Windows of one piece under each transposition in ``shifts`` (0 = as written).

    ``bar_start_s`` / ``bar_chords``: labelled bars and their chords (see :func:`labelled_bars`); the
    header then carries the meter those bars make."""
    from dataclasses import replace

    from lake.midi_features import parse_midi
    from training.notes import encode, note_table

    table = note_table(parse_midi(midi), time_signature, bar_start_s=bar_start_s, bar_chords=bar_chords)
    if table.n_bars == 0:
        return []
    time_signature = table.time_signature or time_signature
    rng = np.random.default_rng(shuffle_seed) if shuffle_seed is not None else None
    drums = table.role == ROLES.index("drums")
    out = []
    for shift in shifts:
        pitch = np.where(drums, table.pitch, table.pitch + shift)
        if shift and (pitch.min() < 0 or pitch.max() > 127):
            continue
        chords = [(None if r is None else (r + shift) % 12, q) for r, q in table.chords]
        t = replace(table, pitch=pitch, chords=chords)
        order = list(ROLES)
        if rng is not None and rng.random() < 0.5:
            rng.shuffle(order)
        steps, bar_of = encode(t, style, bpm, transpose_key(key, shift), time_signature, order)
        out.extend(cut_windows(steps, bar_of, block_size))
    return out


def cut_windows(steps: np.ndarray, bar_of: np.ndarray, block_size: int) -> list[np.ndarray]:
    """Windows of ``block_size + 1`` rows: the prelude, then the music from a bar line on; zero-padded."""
    width = block_size + 1
    prelude = int(np.argmax(bar_of >= 0)) if (bar_of >= 0).any() else len(steps)
    room = width - prelude
    if room < 2:
        raise ValueError(f"a prelude of {prelude} steps leaves no room in block_size {block_size}")
    body, body_bars = steps[prelude:], bar_of[prelude:]
    starts = np.flatnonzero(np.append(True, body_bars[1:] != body_bars[:-1]) & (body_bars >= 0))
    bar_starts = {int(body_bars[i]): int(i) for i in starts}
    windows, bar = [], 0
    while bar in bar_starts:
        s = bar_starts[bar]
        chunk = body[s:s + room]
        row = np.zeros((width, steps.shape[1]), dtype=np.int16)
        row[:prelude] = steps[:prelude]
        row[prelude:prelude + len(chunk)] = chunk
        windows.append(row)
        if s + room >= len(body):
            break
        bar += WINDOW_STRIDE_BARS
    return windows


def labelled_bars(chord_source, bar_start_s, bar_chords) -> tuple[list | None, list | None]:
    """A gold row's labelled (bar_start_s, bar_chords), or (None, None) when its chords are the lake's
    own analysis (``chord_source`` not ``labels:...``) or the bars are missing."""
    if not (isinstance(chord_source, str) and chord_source.startswith("labels:")):
        return None, None
    if bar_start_s is None or bar_chords is None or len(bar_start_s) < 2 or len(bar_start_s) != len(bar_chords):
        return None, None
    return [float(x) for x in bar_start_s], [str(x) for x in bar_chords]


def _encode_batch(batch: dict, block_size: int, train: bool, seed: int) -> dict:
    rows = []
    labelled = "chord_source" in batch
    for i in range(len(batch["sha256"])):
        sha = batch["sha256"][i]
        piece_seed = (int(sha[:8], 16) + seed) % 2**32
        if train:
            rng = np.random.default_rng(piece_seed)
            shifts = [0] + [int(s) for s in rng.choice([s for s in range(-6, 6) if s], TRANSPOSITIONS, replace=False)]
        else:
            shifts = [0]
        starts, chords = (labelled_bars(batch["chord_source"][i], batch["bar_start_s"][i], batch["bar_chords"][i])
                          if labelled else (None, None))
        try:
            rows.extend(piece_windows(batch["content"][i], batch["style"][i], float(batch["bpm"][i]),
                                      batch["key_name"][i], batch["time_signature"][i], block_size, shifts,
                                      piece_seed if train else None, bar_start_s=starts, bar_chords=chords))
        except Exception:  # noqa: BLE001 - a piece the lake parsed but the note table cannot use adds nothing
            continue
    width = block_size + 1
    from training.notes import N_FIELDS

    arr = np.stack(rows) if rows else np.zeros((0, width, N_FIELDS), dtype=np.int16)
    return {"steps": arr}


def training_rows(lake: Lake, versions: dict[str, int]) -> tuple[pa.Table, dict[str, int], dict[str, int]]:
    """(gold pairs joined with their MIDI bytes, held-out songs left out; counts; licences of the train rows)."""
    columns = ["sha256", "split", "style", "bpm", "key_name", "time_signature"]
    gold_version = lake.table(GOLD_PAIRS, versions[GOLD_PAIRS.name])
    present = set(gold_version.schema().to_arrow().names)
    label_columns = ["chord_source", "bar_start_s", "bar_chords"]
    if all(c in present for c in label_columns):  # a gold version written before the labels has none
        columns += label_columns
    gold = gold_version.to_pyarrow_table(columns=columns)
    gold = gold.filter(np.isin(np.asarray(gold.column("key_name").to_pylist(), dtype=object), list(KEY_NAMES)))
    # joined in Arrow, not as a delta-rs filter: a crawled table's strings may come back as string_view,
    # which delta-rs cannot compare with a filter's plain strings
    bronze = lake.read(BRONZE_MIDI, version=versions[BRONZE_MIDI.name],
                       columns=["sha256", "content", "source", "url", "license"])
    bronze = bronze.cast(pa.schema([pa.field("sha256", pa.string()), pa.field("content", pa.binary()),
                                    pa.field("source", pa.string()), pa.field("url", pa.string()),
                                    pa.field("license", pa.string())]))
    held = held_out_shas(lake, versions, bronze)
    n_gold = gold.num_rows
    gold = gold.filter(pc.invert(pc.is_in(gold.column("sha256"), value_set=pa.array(sorted(held), pa.string()))))
    shas = gold.column("sha256").to_pylist()
    bronze = bronze.filter(pc.is_in(bronze.column("sha256"), value_set=pa.array(shas, pa.string())))
    # joined by position (Arrow's join cannot carry the list columns of labelled bars)
    at = pc.index_in(gold.column("sha256"), value_set=bronze.column("sha256"))
    gold = gold.filter(pc.is_valid(at))
    at = at.filter(pc.is_valid(at))
    joined = gold
    for name in ("content", "source", "url", "license"):
        joined = joined.append_column(name, bronze.column(name).take(at))
    joined = joined.sort_by("sha256")
    train_rows = joined.filter(np.asarray(joined.column("split").to_pylist(), dtype=object) == "train")
    licences: dict[str, int] = {}
    for src, lic in zip(train_rows.column("source").to_pylist(), train_rows.column("license").to_pylist()):
        licences[f"{src} {lic}"] = licences.get(f"{src} {lic}", 0) + 1
    joined = joined.drop_columns(["source", "url", "license"])
    return joined, {"held_out_pieces": n_gold - gold.num_rows}, licences


def build_datasets(lake: Lake, block_size: int, versions: dict[str, int] | None = None, seed: int = 0,
                        min_train_windows: int = 1) -> NoteData:
    """Train and validation Ray Datasets of note windows from the lake at ``versions`` (default: now)."""
    import ray.data

    versions = versions or pin_versions(lake)
    joined, counts, licences = training_rows(lake, versions)
    out = {}
    for split, train in (("train", True), ("validation", False)):
        part = joined.filter(np.asarray(joined.column("split").to_pylist(), dtype=object) == split)
        counts[f"{split}_pieces"] = part.num_rows
        if part.num_rows == 0:
            out[split] = None
            counts[f"{split}_windows"] = 0
            continue
        ds = ray.data.from_arrow(part).map_batches(_encode_batch, batch_size=16, batch_format="numpy",
                                                   fn_kwargs={"block_size": block_size, "train": train,
                                                              "seed": seed}).materialize()
        counts[f"{split}_windows"] = ds.count()
        out[split] = ds if counts[f"{split}_windows"] else None
    if counts["train_windows"] < min_train_windows:
        raise NoTrainingData(
            f"{GOLD_PAIRS.name} v{versions[GOLD_PAIRS.name]} joined with {BRONZE_MIDI.name} "
            f"v{versions[BRONZE_MIDI.name]} gives {counts['train_windows']} train windows, need at least "
            f"{min_train_windows}: run ingest and the lake jobs first")
    return NoteData(train=out["train"], validation=out["validation"], versions=dict(versions), counts=counts,
                    licences=licences)


# -- the licence of a registered version's data ---------------------------------------------------
LICENCE_TAG = "data_licence"


def record_licence(cfg, version: int | None = None) -> tuple[int, str]:
    """Tag a registered generator version (default: the newest) with ``data_licence``: the licences of the
    training rows its ``data.<table>.version`` tags pin, e.g. ``pop909 MIT (720); ...``. Returns (version, tag)."""
    from training import registry

    client = registry.client(cfg)
    mvs = registry.list_versions(cfg)
    if not mvs:
        raise SystemExit(f"no version of {registry.MODEL_NAME} registered in {cfg.mlflow.tracking_uri}")
    mv = max(mvs, key=lambda v: int(v.version)) if version is None else \
        next(v for v in mvs if int(v.version) == int(version))
    _, _, licences = training_rows(Lake.from_config(cfg), registry.data_versions(mv.tags))
    line = licence_line(licences)
    client.set_model_version_tag(registry.MODEL_NAME, str(mv.version), LICENCE_TAG, line)
    return int(mv.version), line


def main(argv=None) -> None:
    import argparse

    from common.config import load_config

    ap = argparse.ArgumentParser(description="python -m training.data licence: tag a generator version with "
                                             "the licences of its training data")
    ap.add_argument("command", choices=["licence"])
    ap.add_argument("--version", type=int, default=None, help="model version (default: the newest)")
    ap.add_argument("--config", default=None)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args(argv)
    version, line = record_licence(load_config(path=args.config, overrides=args.overrides), args.version)
    print(f"musiclake-generator v{version}: {LICENCE_TAG} = {line}")


if __name__ == "__main__":
    main()
