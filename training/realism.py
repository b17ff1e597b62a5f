"""Realism measured from the notes: does a piece's melody behave like the melodies of real songs?

Per piece, over the first :data:`WINDOW_BARS` bars that hold a melody onset (:func:`piece_stats`):

    bar_repeat      share of those bars that repeat an earlier one: same onsets and same intervals
                    between their notes, at any transposition
    rhythm_repeat   share repeating an earlier bar's onsets (pitches aside)
    stepwise        share of successive melody intervals of <= 2 semitones (repeated notes included)
    leaps           share of intervals larger than 7 semitones
    melody_on_top   share of melody onsets at or above every accompaniment note sounding then
                    (an onset with no accompaniment sounding counts as on top)
    range           highest minus lowest melody pitch, semitones
    pc_entropy      entropy of the melody's pitch-class histogram (note counts), bits
    syncopation     share of melody onsets that fall between beats
    muspy_*         muspy 0.5's pitch_class_entropy, scale_consistency, groove_consistency and
                    empty_beat_rate on the melody over the bars from the first to the last of the window

The melody is the track named ``melody`` (what the generator writes; its doublings ``melody:N`` are
neither melody nor accompaniment) or ``MELODY`` (POP909); otherwise the lake's own track roles
(:func:`lake.midi_features.describe_tracks`), and without a melody track the top line of the pitched
notes. Everything else that is pitched is accompaniment; drums are left out. Where a melody strikes
two notes at once, the top one counts.

Bars come from the file's time signatures and ticks per quarter, laid from the grid the notes sit
on: when most onsets share one offset from the 16th grid (POP909 files start their beat grid a few
ticks after 0) the bar lines move with it. A POP909 song folder's ``beat_midi.txt`` (third column:
the first beat of a 4-beat bar) gives the bar lines instead: most POP909 files declare 1/4 or 2/4,
which would make a "bar" one or two beats. Onsets are read on the 16th grid of their bar.

Real songs (:func:`real_set`): a folder of MIDI given by the caller, or POP909 (``POP909_DIR``,
default ``../shared/data/pop909``) restricted to :data:`HELD_OUT_POP909`, the song numbers training
must never use, or, with neither, the lake's test and validation pieces (which the generator never
trains on). :func:`classifier_test` is the two-sample test: the cross-validated balanced accuracy of
a logistic regression telling generated from real pieces by these statistics (0.5: it cannot).

``python -m training.realism bench`` prints the table for two halves of POP909 (a sanity check: ~0.5)
and, when a generator is registered, for it against the held-out songs.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from symusic import Score

# The POP909 songs the generator must never train on: every tenth song number (80 of songs 1-800).
# Importers and training read it from here; the realism evaluation compares against these songs.
HELD_OUT_POP909: frozenset[int] = frozenset(range(10, 801, 10))
POP909_ENV = "POP909_DIR"
DEFAULT_POP909_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pop909"

WINDOW_BARS = 16
STEPWISE_MAX = 2  # semitones
LEAP_MIN = 8  # semitones: larger than a fifth
GRID_SHARE = 0.5  # onsets sharing one offset from the 16th grid, for the bar lines to move with them
MIN_PIECES = 2  # per side, for the classifier (fewer: no figure)

# name -> label, in table order
STATS: dict[str, str] = {
    "bar_repeat": "melody bars repeating an earlier bar (any transposition)",
    "rhythm_repeat": "melody bars repeating an earlier bar's rhythm",
    "stepwise": "melody intervals <= 2 semitones",
    "leaps": "melody intervals > 7 semitones",
    "melody_on_top": "melody onsets on top of the accompaniment",
    "range": "melody range (semitones)",
    "pc_entropy": "melody pitch-class entropy (bits)",
    "syncopation": "melody onsets between beats",
    "muspy_pitch_class_entropy": "muspy pitch-class entropy (melody)",
    "muspy_scale_consistency": "muspy scale consistency (melody)",
    "muspy_groove_consistency": "muspy groove consistency (melody)",
    "muspy_empty_beat_rate": "muspy empty-beat rate (melody)",
}


def is_held_out_pop909(song: int | str) -> bool:
    """Whether a POP909 song (its number, or a name such as ``"010"`` or ``"010.mid"``) is held out."""
    if isinstance(song, str):
        m = re.match(r"\d+", Path(song).name)
        if m is None:
            return False
        song = int(m.group())
    return int(song) in HELD_OUT_POP909


def pop909_dir() -> Path:
    """Where POP909 is: ``POP909_DIR``, else ``../shared/data/pop909`` beside the repository."""
    return Path(os.environ.get(POP909_ENV) or DEFAULT_POP909_DIR)


# -- the melody, the accompaniment, the bars ------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    """Notes as arrays (ticks), sorted by onset."""

    start: np.ndarray
    end: np.ndarray
    pitch: np.ndarray

    @classmethod
    def of(cls, start, end, pitch) -> "Line":
        start, end, pitch = (np.asarray(a, dtype=np.int64) for a in (start, end, pitch))
        order = np.lexsort((-pitch, start))
        return cls(start[order], end[order], pitch[order])

    def top(self) -> "Line":
        """One note per onset: the highest."""
        first = np.append(True, self.start[1:] != self.start[:-1]) if self.start.size else np.zeros(0, bool)
        return Line(self.start[first], self.end[first], self.pitch[first])


def _arrays(track) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    arr = track.notes.numpy()
    start = arr["time"].astype(np.int64)
    return start, start + np.maximum(arr["duration"].astype(np.int64), 1), arr["pitch"].astype(np.int64)


def _concat(parts) -> Line:
    parts = list(parts)
    if not parts:
        return Line.of([], [], [])
    return Line.of(*(np.concatenate([p[i] for p in parts]) for i in range(3)))


def split_melody(score: Score) -> tuple[Line, Line]:
    """(melody, accompaniment) of a score; see the module doc for how the melody is found."""
    pitched = [i for i, t in enumerate(score.tracks) if not t.is_drum and t.note_num() > 0]
    names = {i: str(score.tracks[i].name).strip().lower() for i in pitched}
    named = [i for i in pitched if names[i] == "melody"]
    doublings = {i for i in pitched if names[i].startswith("melody:")}
    if not named:
        from lake.midi_features import check_score, describe_tracks

        try:
            roles = {t["track_index"]: t["role"] for t in describe_tracks(check_score(score))}
        except Exception:  # noqa: BLE001 - a score the lake's caps refuse: no role analysis, the skyline below
            roles = {}
        named = [i for i in pitched if roles.get(i) == "melody"]
    if named:
        melody = _concat([_arrays(score.tracks[named[0]])]).top()
        acc = _concat(_arrays(score.tracks[i]) for i in pitched if i != named[0] and i not in doublings)
        return melody, acc
    every = _concat(_arrays(score.tracks[i]) for i in pitched)
    first = np.append(True, every.start[1:] != every.start[:-1]) if every.start.size else np.zeros(0, bool)
    return (Line(every.start[first], every.end[first], every.pitch[first]),
            Line(every.start[~first], every.end[~first], every.pitch[~first]))


@dataclass(frozen=True)
class Bars:
    """Bar lines (ticks, ``n + 1`` of them: the last closes the last bar) and each bar's beat length."""

    starts: np.ndarray
    beat: np.ndarray  # ticks per beat, per bar


def grid_offset(onsets: np.ndarray, tpq: int) -> int:
    """The offset from the 16th grid most onsets share (0 when no offset is shared by most)."""
    sixteenth = max(1, tpq // 4)
    if onsets.size == 0:
        return 0
    counts = np.bincount(np.asarray(onsets, dtype=np.int64) % sixteenth, minlength=sixteenth)
    best = int(np.argmax(counts))
    return best if counts[best] >= GRID_SHARE * onsets.size else 0


def bars_from_meter(score: Score, end_tick: int, offset: int = 0) -> Bars:
    """Bar lines from the time signatures and ticks per quarter, shifted by ``offset`` ticks."""
    tpq = int(score.ticks_per_quarter)
    ts = sorted(((int(t.time), int(t.numerator), int(t.denominator)) for t in score.time_signatures),
                key=lambda x: x[0]) or [(0, 4, 4)]
    if ts[0][0] > 0:
        ts.insert(0, (0, 4, 4))
    starts, beats = [], []
    tick = offset
    for k, (at, num, den) in enumerate(ts):
        until = ts[k + 1][0] + offset if k + 1 < len(ts) else end_tick + 1
        bar = max(1, num * tpq * 4 // max(den, 1))
        beat = tpq * 4 // max(den, 1) * (3 if den == 8 and num % 3 == 0 and num > 3 else 1)
        while tick < until or (k + 1 == len(ts) and tick <= end_tick):
            starts.append(tick)
            beats.append(max(1, beat))
            tick += bar
            if k + 1 == len(ts) and tick > end_tick:
                break
    starts.append(tick)
    return Bars(np.asarray(starts, dtype=np.int64), np.asarray(beats, dtype=np.int64))


def bars_from_beat_file(score: Score, path: str | Path) -> Bars:
    """Bar lines at the downbeats of a POP909 ``beat_midi.txt`` (seconds -> ticks by the tempo map)."""
    from lake.midi_features import TempoMap

    rows = np.atleast_2d(np.loadtxt(path, dtype=np.float64))
    down = rows[rows[:, 2] == 1, 0]
    beats_s = rows[:, 0]
    tempo = TempoMap(score)
    knots = np.append(tempo.ticks, tempo.ticks[-1] + 10**9).astype(np.float64)
    ticks = np.round(np.interp(down, tempo.seconds(knots), knots)).astype(np.int64)
    beat_ticks = np.diff(np.interp(beats_s, tempo.seconds(knots), knots))
    beat = int(round(float(np.median(beat_ticks)))) if beat_ticks.size else int(score.ticks_per_quarter)
    bar = int(np.median(np.diff(ticks))) if ticks.size > 1 else 4 * beat
    starts = np.append(ticks, ticks[-1] + bar)
    return Bars(starts, np.full(len(ticks), max(1, beat), dtype=np.int64))


# -- statistics of one piece ------------------------------------------------------------------------------
def _share(mask) -> float:
    mask = np.asarray(mask)
    return float(mask.mean()) if mask.size else math.nan


def _entropy(counts: np.ndarray) -> float:
    total = counts.sum()
    if total <= 0:
        return math.nan
    p = counts[counts > 0] / total
    return float(-(p * np.log2(p)).sum()) + 0.0


def _muspy_stats(melody: Line, tpq: int, origin: int, bar_ticks: int) -> dict[str, float]:
    import muspy

    notes = [muspy.Note(time=int(s - origin), pitch=int(p), duration=int(max(1, e - s)), velocity=64)
             for s, e, p in zip(melody.start, melody.end, melody.pitch)]
    music = muspy.Music(resolution=int(tpq), tracks=[muspy.Track(program=0, notes=notes)])
    out = {"muspy_pitch_class_entropy": muspy.pitch_class_entropy(music),
           "muspy_scale_consistency": muspy.scale_consistency(music),
           "muspy_empty_beat_rate": muspy.empty_beat_rate(music)}
    out["muspy_groove_consistency"] = muspy.groove_consistency(music, max(1, int(bar_ticks))) if notes else math.nan
    return {k: float(v) for k, v in out.items()}


def _window(score: Score, bars: Bars | None, window_bars: int):
    """(melody, accompaniment, bars, each melody note's bar, whether it is inside a bar, the first
    ``window_bars`` bars holding a melody onset), or None with no melody in any bar."""
    tpq = int(score.ticks_per_quarter)
    melody, acc = split_melody(score)
    if melody.start.size == 0:
        return None
    if bars is None:
        every = np.concatenate([melody.start, acc.start])
        bars = bars_from_meter(score, int(max(melody.end.max(), melody.start.max())), grid_offset(every, tpq))
    bar_of = np.searchsorted(bars.starts, melody.start, side="right") - 1
    inside = (bar_of >= 0) & (bar_of < len(bars.starts) - 1)
    with_melody = np.unique(bar_of[inside])[:window_bars]
    if with_melody.size == 0:
        return None
    return melody, acc, bars, bar_of, inside, with_melody


def piece_stats(midi: bytes | Score | str | Path, bars: Bars | None = None,
                window_bars: int = WINDOW_BARS) -> dict[str, float]:
    """The statistics of :data:`STATS` for one piece (NaN where a statistic has nothing to count).

    ``midi`` is MIDI bytes, a symusic Score or a path; ``bars`` overrides the bar lines (e.g.
    :func:`bars_from_beat_file`). ``n_bars`` and ``n_notes`` say what the window held.
    """
    if isinstance(midi, (str, Path)):
        midi = Path(midi).read_bytes()
    score = midi if isinstance(midi, Score) else Score.from_midi(bytes(midi))
    tpq = int(score.ticks_per_quarter)
    out = {name: math.nan for name in STATS} | {"n_bars": 0.0, "n_notes": 0.0}
    placed = _window(score, bars, window_bars)
    if placed is None:
        return out
    melody, acc, bars, bar_of, inside, with_melody = placed
    keep = inside & np.isin(bar_of, with_melody)
    mel = Line(melody.start[keep], melody.end[keep], melody.pitch[keep])
    mel_bar = bar_of[keep]
    sixteenth = tpq / 4.0
    pos16 = np.round((mel.start - bars.starts[mel_bar]) / sixteenth).astype(np.int64)
    beat16 = np.maximum(1, np.round(bars.beat[mel_bar] / sixteenth).astype(np.int64))

    # repetition: a bar's onsets (16th grid) and the intervals between its notes
    seen_full, seen_rhythm, full_rep, rhythm_rep = set(), set(), [], []
    for full in _signatures(with_melody, mel_bar, pos16, mel.pitch):
        rhythm = full[0]
        full_rep.append(full in seen_full)
        rhythm_rep.append(rhythm in seen_rhythm)
        seen_full.add(full)
        seen_rhythm.add(rhythm)
    steps = np.abs(np.diff(mel.pitch))
    # the accompaniment sounding at each melody onset
    on_top = np.ones(mel.start.size, dtype=bool)
    if acc.start.size:
        for i, (t, p) in enumerate(zip(mel.start, mel.pitch)):
            sounding = (acc.start <= t) & (acc.end > t)
            if sounding.any():
                on_top[i] = p >= acc.pitch[sounding].max()
    out.update(
        bar_repeat=_share(full_rep), rhythm_repeat=_share(rhythm_rep),
        stepwise=_share(steps <= STEPWISE_MAX), leaps=_share(steps >= LEAP_MIN),
        melody_on_top=_share(on_top), range=float(mel.pitch.max() - mel.pitch.min()),
        pc_entropy=_entropy(np.bincount(mel.pitch % 12, minlength=12).astype(np.float64)),
        syncopation=_share(pos16 % beat16 != 0),
        n_bars=float(with_melody.size), n_notes=float(mel.start.size))
    first, last = int(with_melody[0]), int(with_melody[-1])
    span = Line(*(a[(bar_of >= first) & (bar_of <= last) & inside] for a in (melody.start, melody.end, melody.pitch)))
    out.update(_muspy_stats(span, tpq, int(bars.starts[first]), int(bars.starts[first + 1] - bars.starts[first])))
    return out


def _signatures(bars: np.ndarray, mel_bar: np.ndarray, pos16: np.ndarray, pitch: np.ndarray) -> list[tuple]:
    """Per bar: (its onsets on the 16th grid, the intervals between its notes): equal for a repeat at any
    transposition."""
    out = []
    for b in bars:
        sel = mel_bar == b
        out.append((tuple(pos16[sel].tolist()), tuple(np.diff(pitch[sel]).tolist())))
    return out


def bar_signatures(midi: bytes | Score, bars: Bars | None = None, window_bars: int = WINDOW_BARS) -> list[tuple]:
    """The signature (:func:`_signatures`) of each of the first ``window_bars`` bars holding a melody onset:
    what :func:`piece_stats` compares for ``bar_repeat`` (and :mod:`training.structure` for phrases)."""
    score = midi if isinstance(midi, Score) else Score.from_midi(bytes(midi))
    placed = _window(score, bars, window_bars)
    if placed is None:
        return []
    melody, _, bars, bar_of, inside, with_melody = placed
    keep = inside & np.isin(bar_of, with_melody)
    pos16 = np.round((melody.start[keep] - bars.starts[bar_of[keep]]) / (score.ticks_per_quarter / 4.0)).astype(np.int64)
    return _signatures(with_melody, bar_of[keep], pos16, melody.pitch[keep])


# -- sets of pieces ---------------------------------------------------------------------------------------
@dataclass
class RealSet:
    """Real songs to compare with: per-piece statistics, and where they came from."""

    name: str  # what the table says, e.g. "80 held-out POP909 songs (../shared/data/pop909)"
    stats: list[dict[str, float]]
    pieces: list[str] = field(default_factory=list)  # names, in order
    midi: list[bytes] = field(default_factory=list)  # the files (for the held-out loss)
    kind: str = ""  # pop909 | folder | lake
    labels: list[dict | None] = field(default_factory=list)  # per piece: song_labels() of a POP909 folder, or None

    @property
    def digest(self) -> str:
        """Names the set: the same songs give the same digest (the gate compares only like with like)."""
        return hashlib.sha256("\n".join([self.kind, *self.pieces]).encode()).hexdigest()[:12]


def _midi_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".mid", ".midi"))


def _is_pop909_song(p: Path) -> bool:
    return p.stem.isdigit() and p.parent.name == p.stem


def song_labels(folder: Path) -> dict | None:
    """A POP909 song folder's labels as training lays them (:func:`lake.jobs.align.harmony`): the bars at
    the labelled downbeats (``bar_start_s``), the lake chord of each bar (``bar_chords``) and the key held
    longest (``key``); None where a label file is missing or unreadable."""
    from lake.annotations import bar_grid, labelled_bar_chords, main_key

    def rows(name: str) -> list[list[str]]:
        return [line.split() for line in (folder / name).read_text(encoding="utf-8").splitlines() if line.strip()]

    try:
        beats = np.array([[float(x) for x in r[:3]] for r in rows("beat_midi.txt")])
        chords = [(float(r[0]), float(r[1]), r[2]) for r in rows("chord_midi.txt")]
        keys = [(float(r[0]), float(r[1]), r[2]) for r in rows("key_audio.txt")]
        bars = bar_grid(beats[:, 0], beats[:, 2] == 1)
        if len(bars) < 2 or not chords or not keys:
            return None
        key = main_key(*zip(*keys))
        bar_chords = labelled_bar_chords(*zip(*chords), bars[:-1], last_end_s=float(bars[-1]))
    except (OSError, ValueError, IndexError):
        return None
    return {"bar_start_s": [float(x) for x in bars[:-1]], "bar_chords": bar_chords, "key": key}


def _stats_of_files(files: list[Path]) -> tuple[list[dict], list[str], list[bytes], list[dict | None]]:
    stats, names, blobs, labels = [], [], [], []
    for p in files:
        try:
            data = p.read_bytes()
            score = Score.from_midi(data)
            beat_file = p.parent / "beat_midi.txt"
            bars = bars_from_beat_file(score, beat_file) if _is_pop909_song(p) and beat_file.exists() else None
            s = piece_stats(score, bars)
        except Exception:  # noqa: BLE001 - a file that does not parse is not a song to compare with
            continue
        if s["n_notes"] > 0:
            stats.append(s)
            names.append(str(p.relative_to(p.parents[1]) if _is_pop909_song(p) else p.name))
            blobs.append(data)
            labels.append(song_labels(p.parent) if _is_pop909_song(p) else None)
    return stats, names, blobs, labels


def folder_set(path: str | Path, held_out_only: bool = True, songs: set[int] | None = None) -> RealSet:
    """The MIDI files under ``path``. POP909 song folders (``NNN/NNN.mid``) count only when held out
    (:data:`HELD_OUT_POP909`), unless ``held_out_only`` is False; ``songs`` picks POP909 numbers."""
    path = Path(path)
    files = _midi_files(path)
    pop = [p for p in files if _is_pop909_song(p)]
    if pop and len(pop) == len(files):
        chosen = songs if songs is not None else (HELD_OUT_POP909 if held_out_only else None)
        files = [p for p in pop if chosen is None or int(p.stem) in chosen]
        kind, what = "pop909", "held-out POP909 songs" if songs is None and held_out_only else "POP909 songs"
    else:
        kind, what = "folder", "real pieces"
    stats, names, blobs, labels = _stats_of_files(files)
    return RealSet(f"{len(stats)} {what} ({path})", stats, names, blobs, kind, labels)


def lake_set(cfg, splits: tuple[str, ...] = ("test", "validation"), limit: int = 200) -> RealSet:
    """The lake's pieces in ``splits`` (the generator trains on ``train`` only), up to ``limit``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from lake.delta import Lake
    from lake.schemas import BRONZE_MIDI, GOLD_PAIRS

    lake = Lake.from_config(cfg)
    gold = lake.read(GOLD_PAIRS, columns=["sha256", "split"])
    part = gold.filter(pc.is_in(gold.column("split").cast(pa.string()), value_set=pa.array(list(splits))))
    shas = sorted(set(part.column("sha256").cast(pa.string()).to_pylist()))[:limit]
    bronze = lake.read(BRONZE_MIDI, columns=["sha256", "content"])
    bronze = bronze.cast(pa.schema([pa.field("sha256", pa.string()), pa.field("content", pa.binary())]))
    bronze = bronze.filter(pc.is_in(bronze.column("sha256"), value_set=pa.array(shas, pa.string())))
    content = dict(zip(bronze.column("sha256").to_pylist(), bronze.column("content").to_pylist()))
    stats, names, blobs = [], [], []
    for sha in shas:
        if sha not in content:
            continue
        try:
            s = piece_stats(content[sha])
        except Exception:  # noqa: BLE001
            continue
        if s["n_notes"] > 0:
            stats.append(s)
            names.append(sha)
            blobs.append(content[sha])
    return RealSet(f"{len(stats)} lake pieces of the {'/'.join(splits)} split", stats, names, blobs, "lake")


def real_set(cfg=None, path: str | Path | None = None) -> RealSet | None:
    """The real songs an evaluation compares with: ``path``; else held-out POP909 when it is there;
    else the lake's test and validation pieces (with ``cfg``). None when there are none."""
    if path is not None:
        if not Path(path).is_dir():
            raise FileNotFoundError(f"{path}: no such folder of real MIDI files")
        return folder_set(path)
    if pop909_dir().is_dir():
        found = folder_set(pop909_dir())
        if found.stats:
            return found
    if cfg is not None:
        try:
            found = lake_set(cfg)
        except Exception:  # noqa: BLE001 - no lake (or no gold table yet): nothing to compare with
            return None
        return found if found.stats else None
    return None


# -- the two-sample test ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassifierResult:
    balanced_accuracy: float  # NaN when either side has fewer than MIN_PIECES pieces
    n_generated: int
    n_real: int
    folds: int


def feature_matrix(stats: list[dict[str, float]], names: tuple[str, ...] = tuple(STATS)) -> np.ndarray:
    return np.array([[float(s.get(n, math.nan)) for n in names] for s in stats], dtype=np.float64).reshape(
        len(stats), len(names))


def classifier_test(generated: list[dict[str, float]], real: list[dict[str, float]], folds: int = 5,
                    seed: int = 0) -> ClassifierResult:
    """Cross-validated balanced accuracy of a logistic regression telling ``generated`` from ``real``
    by their statistics (missing values: the column's median; standardised; classes weighted)."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    n_gen, n_real = len(generated), len(real)
    k = min(folds, n_gen, n_real)
    if k < MIN_PIECES:
        return ClassifierResult(math.nan, n_gen, n_real, 0)
    x = feature_matrix(list(generated) + list(real))
    y = np.array([1] * n_gen + [0] * n_real)
    usable = ~np.all(np.isnan(x), axis=0)
    x = np.where(np.isnan(x[:, usable]), np.nanmedian(x[:, usable], axis=0), x[:, usable])
    model = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                          LogisticRegression(class_weight="balanced", max_iter=2000))
    pred = cross_val_predict(model, x, y, cv=StratifiedKFold(k, shuffle=True, random_state=seed))
    return ClassifierResult(round(float(balanced_accuracy_score(y, pred)), 4), n_gen, n_real, k)


def medians(stats: list[dict[str, float]]) -> dict[str, float]:
    """Each statistic's median over the pieces that have it (NaN when none does)."""
    out = {}
    for name in STATS:
        values = np.array([s.get(name, math.nan) for s in stats], dtype=np.float64)
        values = values[~np.isnan(values)]
        out[name] = round(float(np.median(values)), 4) if values.size else math.nan
    return out


# -- the report -------------------------------------------------------------------------------------------
@dataclass
class RealismReport:
    generated: list[dict[str, float]]
    real: RealSet
    classifier: ClassifierResult
    loss_per_note: float | None = None  # the model's mean loss per note on the real songs (nats)
    loss_note: str = ""  # how it was measured, or why it was not
    generated_name: str = "generated"

    def metrics(self) -> dict[str, float]:
        """``realism.<stat>`` (generated medians), ``realism.real.<stat>``, ``realism.classifier_bacc``,
        the sample sizes, ``realism.real_set_id`` (the real set, as a number) and the loss per note."""
        out: dict[str, float] = {}
        for name, v in medians(self.generated).items():
            out[f"realism.{name}"] = v
        for name, v in medians(self.real.stats).items():
            out[f"realism.real.{name}"] = v
        out["realism.classifier_bacc"] = self.classifier.balanced_accuracy
        out["realism.n_generated"] = float(self.classifier.n_generated)
        out["realism.n_real"] = float(self.classifier.n_real)
        out["realism.real_set_id"] = float(int(self.real.digest[:12], 16))
        if self.loss_per_note is not None:
            out["realism.real_loss_per_note"] = round(float(self.loss_per_note), 4)
        return {k: v for k, v in out.items() if not (isinstance(v, float) and math.isnan(v))}

    def table(self) -> str:
        gen, real = medians(self.generated), medians(self.real.stats)
        heads = ["statistic (median over pieces)", f"{self.generated_name} ({len(self.generated)})",
                 f"real ({len(self.real.stats)})"]
        rows = [[label, _cell(gen[n]), _cell(real[n])] for n, label in STATS.items()]
        widths = [max(len(r[i]) for r in [heads] + rows) for i in range(3)]

        def fmt(r):
            return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

        c = self.classifier
        bacc = "-" if math.isnan(c.balanced_accuracy) else f"{c.balanced_accuracy:.2f}"
        lines = [f"realism: {self.generated_name} against {self.real.name}", fmt(heads),
                 "  ".join("-" * w for w in widths), *map(fmt, rows),
                 f"classifier balanced accuracy (logistic regression, {c.folds}-fold): {bacc} "
                 f"({c.n_generated} {self.generated_name}, {c.n_real} real; 0.5 = indistinguishable)"]
        if self.loss_per_note is not None:
            lines.append(f"held-out loss per note on the real songs: {self.loss_per_note:.3f} nats ({self.loss_note})")
        elif self.loss_note:
            lines.append(f"held-out loss per note on the real songs: not measured ({self.loss_note})")
        return "\n".join(lines)


def _cell(v: float) -> str:
    return "-" if v is None or math.isnan(v) else f"{v:.2f}"


def compare(generated: list[dict[str, float]], real: RealSet, generated_name: str = "generated",
            seed: int = 0) -> RealismReport:
    """Medians side by side and the classifier test of ``generated`` against ``real``."""
    gen = [s for s in generated if s.get("n_notes", 0) > 0]
    return RealismReport(gen, real, classifier_test(gen, real.stats, seed=seed), generated_name=generated_name)


# -- the model's loss on real songs -----------------------------------------------------------------------
def loss_per_note(generator, real: RealSet, limit: int = 20) -> tuple[float | None, str]:
    """The generator's mean loss per note step (nats; the sum of its kind, role, onset, pitch,
    duration and velocity cross-entropies) on the real songs, in windows of its block size laid as
    training lays them (style ``pop``; tempo from the lake's own analysis; a labelled song's bars,
    chords and key from its labels, as training takes them, else the lake's analysis)."""
    import torch

    from lake.midi_features import analyze, parse_midi
    from lake.vocab import KEY_NAMES
    from training.data import cut_windows
    from training.notes import FIELD_NAMES, NOTE, TIME_SIGNATURES, encode, note_table

    model = getattr(generator, "model", None)
    if model is None or not hasattr(model, "hidden"):
        return None, "the generator has no note model to score with"
    total, notes, pieces = 0.0, 0, 0
    block = int(model.cfg.block_size)
    fields = {name: i for i, name in enumerate(FIELD_NAMES)}
    labels = real.labels or [None] * len(real.midi)
    for blob, lab in list(zip(real.midi, labels))[:limit]:
        try:
            score = parse_midi(blob)
            feats = analyze(score).features
            key = lab["key"] if lab else f"{feats.get('key_tonic')} {feats.get('key_mode')}"
            key = key if key in KEY_NAMES else "C major"
            bpm = float(feats.get("bpm") or 120.0)
            ts = feats.get("time_signature") if feats.get("time_signature") in TIME_SIGNATURES else "4/4"
            table = note_table(score, ts, bar_start_s=lab and lab["bar_start_s"], bar_chords=lab and lab["bar_chords"])
            ts = table.time_signature or ts
            steps, bar_of = encode(table, "pop", bpm, key, ts)
            windows = cut_windows(steps, bar_of, block)
        except Exception:  # noqa: BLE001 - a song the note format cannot hold is left out
            continue
        x = torch.as_tensor(np.stack(windows)).long()
        inp, tgt = x[:, :-1], x[:, 1:]
        with torch.inference_mode():
            h = model.hidden(inp)
            is_note = tgt[..., fields["kind"]] == NOTE
            role, pos = tgt[..., fields["role"]], tgt[..., fields["pos"]]
            pitch_l, dur_l, vel_l = model.note_logits(h, role, pos)
            logits = {"kind": model.kind_logits(h), "role": model.role_logits(h), "pos": model.pos_logits(h, role),
                      "pitch": pitch_l, "dur": dur_l, "vel": vel_l}
            for name, lg in logits.items():
                ce = torch.nn.functional.cross_entropy(lg[is_note], tgt[..., fields[name]][is_note], reduction="sum")
                total += float(ce)
        notes += int(is_note.sum())
        pieces += 1
    if notes == 0:
        return None, "no real song fits the note format"
    return total / notes, f"{pieces} songs, {notes} notes"


# -- the benchmark: real against real, and today's generator ----------------------------------------------
def bench(pop909: str | Path | None = None, model: str | None = "champion", per_half: int | None = None,
          config: str | None = None, checkpoint: str | Path | None = None) -> str:
    """The realism table of two halves of POP909's training songs (odd against even song numbers: the
    classifier should sit near 0.5), and, when a generator is registered, of it against the held-out songs."""
    import time

    root = Path(pop909) if pop909 else pop909_dir()
    out = []
    if root.is_dir():
        train_songs = sorted(int(p.stem) for p in _midi_files(root) if _is_pop909_song(p)
                             and not is_held_out_pop909(p.stem))
        odd = {n for n in train_songs if n % 2 == 1}
        even = set(train_songs) - odd
        if per_half:
            odd, even = set(sorted(odd)[:per_half]), set(sorted(even)[:per_half])
        t0 = time.perf_counter()
        a, b = folder_set(root, songs=odd), folder_set(root, songs=even)
        report = compare(a.stats, b, generated_name="odd songs")
        report.real.name = f"{len(b.stats)} even-numbered POP909 training songs; {len(a.stats)} odd ones beside"
        out += [report.table(), f"({time.perf_counter() - t0:.1f} s for {len(a.stats) + len(b.stats)} songs)", ""]
    else:
        out.append(f"no POP909 at {root} (set {POP909_ENV}): real-against-real skipped")
    if model or checkpoint:
        from common.config import load_config
        from training import registry
        from training.evaluate import evaluate, load_eval_set

        cfg = load_config(config)
        if checkpoint:
            from training.generator import Generator

            generator, name = Generator.from_checkpoint(str(checkpoint)), f"checkpoint {Path(checkpoint).name}"
        else:
            try:
                generator, ref = registry.load_generator(cfg, model)
            except Exception as e:  # noqa: BLE001 - no registry, no model: the real-against-real table stands alone
                out.append(f"no generator {model!r} registered ({type(e).__name__}): generator table skipped")
                return "\n".join(out)
            name = f"{ref.name} v{ref.version}"
        real = folder_set(root) if root.is_dir() else real_set(cfg)
        if real is None or not real.stats:
            out.append("no real songs to compare the generator with")
            return "\n".join(out)
        report = evaluate(generator, load_eval_set(), progress=False, real=real)
        report.realism.generated_name = name
        out.append(report.realism.table())
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m training.realism",
                                 description="realism tables: POP909 against itself, and the registered generator")
    ap.add_argument("command", choices=["bench"])
    ap.add_argument("--pop909", help=f"POP909 folder (default: ${POP909_ENV} or ../shared/data/pop909)")
    ap.add_argument("--model", default="champion", help="generator alias or version; 'none' to skip")
    ap.add_argument("--per-half", type=int, default=None, help="at most this many songs per half")
    ap.add_argument("--config", default=None, help="config file (default: the project's)")
    ap.add_argument("--checkpoint", default=None, help="a generator checkpoint file instead of a registered model")
    args = ap.parse_args(argv)
    print(bench(args.pop909, None if args.model == "none" else args.model, args.per_half, args.config,
                args.checkpoint), flush=True)


if __name__ == "__main__":  # pragma: no cover
    main()
