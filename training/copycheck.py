"""Does the generator copy its training songs? The longest stretch of a piece's melody that repeats a song's.

A model that learns from a few hundred songs can learn to repeat them, and a copy looks perfectly
real. The rule (issue 16): no generated piece may repeat :data:`COPY_BARS` (4) bars or more of a
training song's melody, with the same intervals and rhythm at any transposition.

What is compared, per bar of a melody (the melody and the bar lines as :mod:`training.realism` finds
them: the track named ``melody`` / ``MELODY`` or the lake's melody role, its top note per onset; bars
from a POP909 folder's ``beat_midi.txt`` downbeats, a lake row's labelled downbeats, else the meter):

    onset    position in the bar on the 16th grid (a quarter note's ticks / 4)
    duration the note's length on the 16th grid (at least 1, at most :data:`MAX_DUR`), cut at the
             next onset of the line (a held note overlapping the next one counts up to it)
    interval the semitones from the previous note of the line: between successive notes inside the
             bar *and* across the bar line from the previous bar's last note

A window is ``window`` consecutive bars (default :data:`COPY_BARS`); its key is the bars' onsets and
durations (each note with its bar inside the window), and every interval between successive notes
in the window: the first note's pitch is not part of it (any transposition), the interval into the
window from before it is not either (what precedes a copy may differ), and the intervals across the
window's inner bar lines are. Two windows are the same melody when their keys are equal; the index
holds each key's hash (Python's hash of a tuple of ints: the same in every process). A window counts
only when its first and last bars hold an onset and it holds at least :data:`MIN_NOTES_PER_BAR`
notes per bar (``window`` bars of one held note each are not a melody anyone could own).

A match of ``b`` bars (``b >= window``) is a run of ``b - window + 1`` successive windows of the
piece equal to successive windows of the same song, in the same order: the windows overlap, so the
whole stretch of ``b`` bars has the same onsets, durations and intervals. :meth:`CopyIndex.longest_match`
gives the longest such run (0 bars when no window of the piece is in the index).

The songs indexed (:meth:`CopyIndex.add`): POP909 folders (:func:`from_folder`; by default the songs
training may use, i.e. not :data:`training.realism.HELD_OUT_POP909`), or the rows a registered
generator trained on (:func:`from_model`: the ``train`` split of :func:`training.data.training_rows`
at the table versions its ``data.<table>.version`` tags pin, held-out songs left out as training
leaves them).

``python -m training.copycheck --model champion --pieces 300 [--pop909 DIR]`` writes pieces for pop
prompts (English and Chinese, 16 bars; :func:`training.phrase_check.requests`) and prints the share
of pieces with a match of 4 bars or more (target: below 0.1 %) and the longest match with its song.
``musiclake evaluate`` measures its own pieces against the evaluated model's training rows
(``copy.share_4bar``, ``copy.longest_bars``), and the promotion gate refuses a challenger whose
``copy.share_4bar`` is above 0.001 (:mod:`training.lifecycle`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, NamedTuple

import numpy as np
from symusic import Score

from training.notes import MAX_DUR
from training.realism import (Bars, _is_pop909_song, _midi_files, bars_from_beat_file, bars_from_meter,
                              grid_offset, is_held_out_pop909, pop909_dir, split_melody)

COPY_BARS = 4  # a match this long or longer is a copy
MIN_NOTES_PER_BAR = 2  # a window needs at least this many notes per bar on average
SHARE_TARGET = 0.001  # the largest share of pieces with a copy that is acceptable


# -- a melody, bar by bar ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Melody:
    """A melody on the 16th grid: per note its bar, onset in the bar, duration and pitch (onset order)."""

    bar: np.ndarray
    pos: np.ndarray
    dur: np.ndarray
    pitch: np.ndarray
    n_bars: int

    @property
    def n_notes(self) -> int:
        return int(self.bar.size)


def melody_of(midi: bytes | Score | str | Path, bars: Bars | None = None) -> Melody:
    """The melody of a piece (see the module doc); ``bars`` overrides the bar lines."""
    if isinstance(midi, (str, Path)):
        midi = Path(midi).read_bytes()
    score = midi if isinstance(midi, Score) else Score.from_midi(bytes(midi))
    tpq = int(score.ticks_per_quarter)
    melody, acc = split_melody(score)
    empty = np.zeros(0, dtype=np.int64)
    if melody.start.size == 0:
        return Melody(empty, empty, empty, empty, 0)
    if bars is None:
        every = np.concatenate([melody.start, acc.start])
        bars = bars_from_meter(score, int(max(melody.end.max(), melody.start.max())), grid_offset(every, tpq))
    sixteenth = tpq / 4.0
    start, end, pitch = melody.start, melody.end, melody.pitch
    # durations cut at the next onset of the line
    end = np.minimum(end, np.append(start[1:], np.iinfo(np.int64).max))
    bar = np.searchsorted(bars.starts, start, side="right") - 1
    inside = (bar >= 0) & (bar < len(bars.starts) - 1)
    start, end, pitch, bar = start[inside], end[inside], pitch[inside], bar[inside]
    pos = np.round((start - bars.starts[bar]) / sixteenth).astype(np.int64)
    dur = np.clip(np.round((end - start) / sixteenth).astype(np.int64), 1, MAX_DUR)
    return Melody(bar.astype(np.int64), pos, dur, pitch.astype(np.int64), int(len(bars.starts) - 1))


def window_keys(mel: Melody, window: int = COPY_BARS) -> dict[int, int]:
    """``{first bar: key hash}`` of every window of ``window`` bars that counts (see the module doc)."""
    out: dict[int, int] = {}
    if mel.n_notes == 0:
        return out
    has_onset = np.zeros(mel.n_bars + 1, dtype=bool)
    has_onset[mel.bar] = True
    bounds = np.searchsorted(mel.bar, np.arange(mel.n_bars + 1))  # first note of each bar (mel.bar is sorted)
    min_notes = MIN_NOTES_PER_BAR * window
    for b in range(0, mel.n_bars - window + 1):
        if not (has_onset[b] and has_onset[b + window - 1]):
            continue
        lo, hi = int(bounds[b]), int(bounds[b + window])
        if hi - lo < min_notes:
            continue
        key = (window, tuple((mel.bar[lo:hi] - b).tolist()), tuple(mel.pos[lo:hi].tolist()),
               tuple(mel.dur[lo:hi].tolist()), tuple(np.diff(mel.pitch[lo:hi]).tolist()))
        out[b] = hash(key)
    return out


# -- the index --------------------------------------------------------------------------------------------
class Match(NamedTuple):
    """The longest match of a piece: ``bars`` (0: none of ``window`` bars or more), the song's id and
    ``where``: (first bar in the piece, first bar in the song), 0-based, or None."""

    bars: int
    song: str | None
    where: tuple[int, int] | None


NO_MATCH = Match(0, None, None)


class CopyIndex:
    """Hashed windows of the songs' melodies: key hash -> [(song number, first bar)]."""

    def __init__(self, window: int = COPY_BARS, name: str = ""):
        if window < 1:
            raise ValueError("window must be at least 1 bar")
        self.window = int(window)
        self.name = name
        self.songs: list[str] = []
        self.table: dict[int, list[tuple[int, int]]] = {}
        self.n_windows = 0
        self.skipped: list[str] = []  # songs that did not read, with why

    def __len__(self) -> int:
        return len(self.songs)

    def add(self, song: str, midi: bytes | Score | str | Path | Melody, bars: Bars | None = None) -> int:
        """Index one song; returns how many of its windows count."""
        mel = midi if isinstance(midi, Melody) else melody_of(midi, bars)
        number = len(self.songs)
        self.songs.append(str(song))
        keys = window_keys(mel, self.window)
        for b, h in keys.items():
            self.table.setdefault(h, []).append((number, b))
        self.n_windows += len(keys)
        return len(keys)

    def longest_match(self, piece: bytes | Score | str | Path | Melody, bars: Bars | None = None) -> Match:
        """The longest run of the piece's windows that equals a run of one song's windows, in order."""
        mel = piece if isinstance(piece, Melody) else melody_of(piece, bars)
        keys = window_keys(mel, self.window)
        best = NO_MATCH
        previous: dict[tuple[int, int], int] = {}  # (song, song bar) of the window ending a run -> run length
        last_bar = None
        for b in sorted(keys):
            hits = self.table.get(keys[b], ())
            if last_bar != b - 1:
                previous = {}
            current = {}
            for song, j in hits:
                run = previous.get((song, j - 1), 0) + 1
                current[(song, j)] = run
                bars_long = run + self.window - 1
                if bars_long > best.bars:
                    best = Match(bars_long, self.songs[song], (b - run + 1, j - run + 1))
            previous, last_bar = current, b
        return best

    def summary(self) -> str:
        return (f"{len(self.songs)} songs{f' ({self.name})' if self.name else ''}, {self.n_windows} windows of "
                f"{self.window} bars" + (f", {len(self.skipped)} unreadable" if self.skipped else ""))


def from_folder(path: str | Path | None = None, held_out: bool = False, window: int = COPY_BARS,
                progress: bool = False) -> CopyIndex:
    """An index of the MIDI files under ``path`` (default: ``POP909_DIR``). POP909 song folders
    (``NNN/NNN.mid``) use their ``beat_midi.txt`` downbeats and leave out the held-out songs unless
    ``held_out`` (the index is then of what training may use); other files use their meter."""
    root = Path(path) if path is not None else pop909_dir()
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder of MIDI files")
    files = [p for p in _midi_files(root) if held_out or not (_is_pop909_song(p) and is_held_out_pop909(p.stem))]
    index = CopyIndex(window, name=str(root))
    bar = _progress(f"index {root.name}", len(files), progress)
    for p in files:
        try:
            score = Score.from_midi(p.read_bytes())
            beat_file = p.parent / "beat_midi.txt"
            bars = bars_from_beat_file(score, beat_file) if _is_pop909_song(p) and beat_file.exists() else None
            index.add(f"pop909/{p.stem}" if _is_pop909_song(p) else str(p.relative_to(root)), score, bars)
        except Exception as e:  # noqa: BLE001 - a file that does not read is not a song to compare with
            index.skipped.append(f"{p.name}: {type(e).__name__}")
        if bar:
            bar.advance(1)
    if bar:
        bar.close()
    return index


def labelled_bars_of(score: Score, bar_start_s) -> Bars | None:
    """Bars at labelled downbeats (seconds, as gold holds them), the last one as long as the median bar."""
    from training.notes import seconds_to_ticks

    if bar_start_s is None or len(bar_start_s) < 2:
        return None
    edges = np.round(seconds_to_ticks(score, [float(x) for x in bar_start_s])).astype(np.int64)
    if np.any(np.diff(edges) <= 0):
        return None
    edges = np.append(edges, edges[-1] + int(np.median(np.diff(edges))))
    return Bars(edges, np.full(len(edges) - 1, int(score.ticks_per_quarter), dtype=np.int64))


def from_model(cfg, ref: str | int = "champion", window: int = COPY_BARS, progress: bool = False) -> CopyIndex:
    """An index of the pieces the registered generator ``ref`` trained on: the ``train`` rows of
    :func:`training.data.training_rows` at the table versions the version's tags pin."""
    import pyarrow as pa

    from lake.delta import Lake
    from lake.schemas import BRONZE_MIDI
    from training import registry
    from training.data import labelled_bars, training_rows

    model_ref = registry.resolve(cfg, str(ref))
    mv = registry.client(cfg).get_model_version(model_ref.name, str(model_ref.version))
    versions = registry.data_versions(dict(mv.tags or {}))
    if not versions:
        raise LookupError(f"{model_ref.name} v{model_ref.version} has no data.<table>.version tags")
    lake = Lake.from_config(cfg)
    rows, _, _ = training_rows(lake, versions)
    rows = rows.filter(np.asarray(rows.column("split").to_pylist(), dtype=object) == "train")
    bronze = lake.read(BRONZE_MIDI, version=versions[BRONZE_MIDI.name], columns=["sha256", "url"])
    bronze = bronze.cast(pa.schema([pa.field("sha256", pa.string()), pa.field("url", pa.string())]))
    url_of = dict(zip(bronze.column("sha256").to_pylist(), bronze.column("url").to_pylist()))
    index = CopyIndex(window, name=f"{model_ref.name} v{model_ref.version} training rows")
    cols = rows.column_names
    labelled = "chord_source" in cols
    bar = _progress("index training rows", rows.num_rows, progress)
    for i in range(rows.num_rows):
        sha = rows.column("sha256")[i].as_py()
        name = f"{sha[:12]} {_short(url_of.get(sha))}".strip()
        try:
            score = Score.from_midi(rows.column("content")[i].as_py())
            bars = None
            if labelled:
                starts, _ = labelled_bars(rows.column("chord_source")[i].as_py(), rows.column("bar_start_s")[i].as_py(),
                                          rows.column("bar_chords")[i].as_py())
                bars = labelled_bars_of(score, starts)
            index.add(name, score, bars)
        except Exception as e:  # noqa: BLE001
            index.skipped.append(f"{name}: {type(e).__name__}")
        if bar:
            bar.advance(1)
    if bar:
        bar.close()
    return index


def _short(url: str | None) -> str:
    if not url:
        return ""
    parts = url.rstrip("/").split("/")
    return "/".join(parts[-2:])


def _progress(label: str, total: int, on: bool):
    if not on:
        return None
    from common.progress import Progress

    return Progress(label, total=total, unit="songs")


# -- over many pieces -------------------------------------------------------------------------------------
@dataclass
class CopyReport:
    """The longest match of each piece against one index."""

    index: str  # what was indexed
    matches: list[Match] = field(default_factory=list)
    failed: int = 0  # pieces whose melody could not be read
    threshold: int = COPY_BARS

    @property
    def n(self) -> int:
        return len(self.matches)

    @property
    def copies(self) -> list[Match]:
        return [m for m in self.matches if m.bars >= self.threshold]

    @property
    def share(self) -> float:
        return len(self.copies) / self.n if self.n else math.nan

    @property
    def longest(self) -> Match:
        return max(self.matches, key=lambda m: m.bars, default=NO_MATCH)

    def metrics(self, prefix: str = "copy") -> dict[str, float]:
        """``copy.share_4bar`` (share of pieces with a match of 4 bars or more), ``copy.longest_bars``,
        ``copy.n_pieces``."""
        if not self.n:
            return {}
        return {f"{prefix}.share_{self.threshold}bar": round(self.share, 6),
                f"{prefix}.longest_bars": float(self.longest.bars), f"{prefix}.n_pieces": float(self.n)}

    def line(self) -> str:
        if not self.n:
            return f"copying: no pieces measured against {self.index}"
        top = self.longest
        found = (f"longest match {top.bars} bars: piece bars {top.where[0] + 1}-{top.where[0] + top.bars} = "
                 f"{top.song} bars {top.where[1] + 1}-{top.where[1] + top.bars}") if top.bars else \
            "no window matched"
        return (f"copying: {len(self.copies)} of {self.n} pieces ({100 * self.share:.2f} %) repeat "
                f">= {self.threshold} bars of a song's melody (target < {100 * SHARE_TARGET:g} %); {found}; "
                f"against {self.index}" + (f"; {self.failed} pieces unreadable" if self.failed else ""))


def check_pieces(index: CopyIndex, pieces: Iterable[bytes], threshold: int = COPY_BARS) -> CopyReport:
    """The longest match of every piece (MIDI bytes) against ``index``."""
    report = CopyReport(index.summary(), threshold=threshold)
    for midi in pieces:
        try:
            report.matches.append(index.longest_match(midi))
        except Exception:  # noqa: BLE001 - a piece without a readable melody cannot be a copy
            report.failed += 1
    return report


# -- the command ------------------------------------------------------------------------------------------
def generate_pieces(generator, n: int, bars: int = 16, progress: bool = True) -> list[bytes]:
    """``n`` pieces for pop prompts in English and Chinese (seeds 1000, 1001, ...)."""
    from training.phrase_check import requests

    out = []
    bar = None
    if progress:
        from common.progress import Progress

        bar = Progress("generate", total=n, unit="pieces")
    for req in requests(n, bars):
        out.append(generator.generate(req).midi)
        if bar:
            bar.advance(1)
    if bar:
        bar.close()
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m training.copycheck", description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="champion", help="registered generator: alias or version number")
    ap.add_argument("--checkpoint", default=None, help="a generator checkpoint file instead of --model "
                                                       "(then only --pop909 can be indexed)")
    ap.add_argument("--config", default=None, help="config file (default: the project's)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    ap.add_argument("--pieces", type=int, default=300)
    ap.add_argument("--bars", type=int, default=16)
    ap.add_argument("--pop909", default=None, help="also index this POP909 folder (its non-held-out songs)")
    ap.add_argument("--no-lake", action="store_true", help="do not index the model's training rows")
    ap.add_argument("--window", type=int, default=COPY_BARS,
                    help=f"bars per hashed window (default {COPY_BARS}; smaller finds shorter matches)")
    args = ap.parse_args(argv)

    from common.config import load_config

    cfg = load_config(path=args.config, overrides=args.overrides)
    t0 = time.perf_counter()
    if args.checkpoint:
        from training.generator import Generator

        generator, what = Generator.from_checkpoint(args.checkpoint), f"checkpoint {args.checkpoint}"
    else:
        from training import registry

        generator, ref = registry.load_generator(cfg, args.model)
        what = f"{ref.name} v{ref.version} ({args.model})"
    print(f"model: {what}", flush=True)
    indexes = []
    if not args.checkpoint and not args.no_lake:
        indexes.append(from_model(cfg, args.model, args.window, progress=True))
    if args.pop909:
        indexes.append(from_folder(args.pop909, window=args.window, progress=True))
    if not indexes:
        raise SystemExit("nothing to compare with: give --pop909 DIR (or a registered --model)")
    for index in indexes:
        print(f"indexed {index.summary()}", flush=True)
    print(f"{args.pieces} pieces, pop prompts (English and Chinese), {args.bars} bars", flush=True)
    pieces = generate_pieces(generator, args.pieces, args.bars)
    for index in indexes:
        report = check_pieces(index, pieces, threshold=max(COPY_BARS, args.window))
        print(report.line(), flush=True)
        if args.window < COPY_BARS:
            print(f"  (window {args.window}: the longest match counts from {args.window} bars)")
    print(f"({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
