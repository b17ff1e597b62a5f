"""The generator's training data: pinned lake snapshots → note-step windows, through Ray Data.

``gold_text_music_pairs`` gives each piece its split and attributes (style, BPM, key, meter);
``bronze_midi_files`` its bytes. Both are read at explicit Delta versions that travel with the
model. Each piece is parsed with symusic, quantized to 16ths, given roles and a chord per bar
(``training.notes``), and cut into windows of ``block_size + 1`` steps that start at a bar line
behind the piece's prelude. Training pieces are also transposed (the key label moves with them),
so every key is seen; the role order inside bars is shuffled for half the copies, which teaches
filling one role given the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lake.delta import Lake
from lake.schemas import BRONZE_MIDI, GOLD_PAIRS
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


def pin_versions(lake: Lake) -> dict[str, int]:
    return {BRONZE_MIDI.name: lake.version(BRONZE_MIDI), GOLD_PAIRS.name: lake.version(GOLD_PAIRS)}


def transpose_key(key: str, shift: int) -> str:
    tonic, mode = key.split()
    return f"{PITCH_CLASSES[(PITCH_CLASSES.index(tonic) + shift) % 12]} {mode}"


def piece_windows(midi: bytes, style: str, bpm: float, key: str, time_signature: str, block_size: int,
                  shifts: list[int], shuffle_seed: int | None) -> list[np.ndarray]:
    """Windows of one piece under each transposition in ``shifts`` (0 = as written)."""
    from dataclasses import replace

    from lake.midi_features import parse_midi
    from training.notes import encode, note_table

    table = note_table(parse_midi(midi), time_signature)
    if table.n_bars == 0:
        return []
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


def _encode_batch(batch: dict, block_size: int, train: bool, seed: int) -> dict:
    rows = []
    for i in range(len(batch["sha256"])):
        sha = batch["sha256"][i]
        piece_seed = (int(sha[:8], 16) + seed) % 2**32
        if train:
            rng = np.random.default_rng(piece_seed)
            shifts = [0] + [int(s) for s in rng.choice([s for s in range(-6, 6) if s], TRANSPOSITIONS, replace=False)]
        else:
            shifts = [0]
        try:
            rows.extend(piece_windows(batch["content"][i], batch["style"][i], float(batch["bpm"][i]),
                                      batch["key_name"][i], batch["time_signature"][i], block_size, shifts,
                                      piece_seed if train else None))
        except Exception:  # noqa: BLE001 - a piece the lake parsed but the note table cannot use adds nothing
            continue
    width = block_size + 1
    from training.notes import N_FIELDS

    arr = np.stack(rows) if rows else np.zeros((0, width, N_FIELDS), dtype=np.int16)
    return {"steps": arr}


def build_datasets(lake: Lake, block_size: int, versions: dict[str, int] | None = None, seed: int = 0,
                        min_train_windows: int = 1) -> NoteData:
    """Train and validation Ray Datasets of note windows from the lake at ``versions`` (default: now)."""
    import ray.data

    versions = versions or pin_versions(lake)
    gold = lake.read(GOLD_PAIRS, version=versions[GOLD_PAIRS.name],
                     columns=["sha256", "split", "style", "bpm", "key_name", "time_signature"])
    gold = gold.filter(np.isin(np.asarray(gold.column("key_name").to_pylist(), dtype=object), list(KEY_NAMES)))
    shas = gold.column("sha256").to_pylist()
    # joined in Arrow, not as a delta-rs filter: a crawled table's strings may come back as string_view,
    # which delta-rs cannot compare with a filter's plain strings
    bronze = lake.read(BRONZE_MIDI, version=versions[BRONZE_MIDI.name], columns=["sha256", "content"])
    bronze = bronze.cast(pa.schema([pa.field("sha256", pa.string()), pa.field("content", pa.binary())]))
    bronze = bronze.filter(pc.is_in(bronze.column("sha256"), value_set=pa.array(shas, pa.string())))
    joined = gold.join(bronze, "sha256", join_type="inner").sort_by("sha256")
    counts = {}
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
    return NoteData(train=out["train"], validation=out["validation"], versions=dict(versions), counts=counts)
