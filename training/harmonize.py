"""Chords for a melody: a hidden Markov model over key-relative chords, decoded by Viterbi.

A melody is laid on its beats (:class:`BeatMelody`: onsets and durations in beats, which beats start a
bar). The hidden state of each beat is a chord named relative to the key: its root's distance from the
tonic of the major key (a minor key is read from its relative major, so A minor's Am is ``9:min``) and
its quality (:data:`QUALITIES`). Both tables the model needs were counted on the POP909 training songs
(:mod:`training.harmonize_eval` ``learn``; never a held-out song) and live in
``training/tables/harmony_pop909.json``:

* transitions from one beat's chord to the next, one table for beats that start a bar and one for the
  beats inside it (pop chords change on the downbeat);
* emissions: how the melody's pitch classes (relative to the tonic) spread over each chord, weighted by
  how long they sound.

The score of a beat under a chord is ``EMISSION_WEIGHT`` x the sum over the melody's sounding time of
log P(pitch class | chord), with notes that start on the beat counted a little more. Decoding tries
every tonic (the transitions are relative to it) and keeps the best path; the mode (major or its
relative minor) is the one Krumhansl–Schmuckler prefers for the melody. ``per="bar"`` lets the chord
change only on downbeats. The result names each chord as a lead-sheet symbol and a roman numeral in
the detected key (:func:`roman`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from lake.midi_features import estimate_key
from lake.vocab import CHORD_QUALITIES, PITCH_CLASSES, chord_symbol, key_name

TABLE_PATH = Path(__file__).parent / "tables" / "harmony_pop909.json"
QUALITIES = ("maj", "min", "7", "min7", "maj7", "dim", "sus4", "sus2")
EMISSION_WEIGHT = 2.0  # per beat of melody: log-probabilities of the melody against those of the transitions (tuned on training songs)
ONSET_BONUS = 0.5  # a note starting inside a beat weighs (1 + bonus) x its sounding time there
TRANSITION_WEIGHT = 1.0
PER = ("bar", "half", "beat")  # where a chord may change: downbeats; also mid-bar; any beat
MAX_BEATS = 4096  # a melody longer than this (about 17 minutes at 240 beats a minute) is refused


# -- the melody on its beats --------------------------------------------------------------------------
@dataclass(frozen=True)
class BeatMelody:
    """A melody on a beat grid: note onsets and durations in beats from the first beat, MIDI pitches, and
    which of the ``n_beats`` beats starts a bar."""

    onset: np.ndarray
    dur: np.ndarray
    pitch: np.ndarray
    downbeat: np.ndarray  # bool, one per beat
    beat_unit: float = 1.0  # the beat in quarter notes (1.5 in 6/8)

    @property
    def n_beats(self) -> int:
        return int(len(self.downbeat))

    def bars(self) -> list[tuple[int, int]]:
        """(first beat, end beat) of each bar; beats before the first downbeat make a bar of their own."""
        starts = list(np.flatnonzero(self.downbeat))
        if not starts or starts[0] != 0:
            starts = [0] + starts
        ends = starts[1:] + [self.n_beats]
        return list(zip(starts, ends))


def beat_weights(m: BeatMelody) -> np.ndarray:
    """[n_beats, 12]: each pitch class's sounding time per beat (beats), onsets inside the beat weighted up."""
    w = np.zeros((m.n_beats, 12))
    for on, du, p in zip(m.onset.tolist(), m.dur.tolist(), m.pitch.tolist()):
        end = on + max(du, 1e-3)
        first, last = int(math.floor(on)), int(math.ceil(end))
        for b in range(max(first, 0), min(last, m.n_beats)):
            overlap = min(end, b + 1) - max(on, b)
            if overlap <= 0:
                continue
            bonus = ONSET_BONUS if b == first else 0.0
            w[b, int(p) % 12] += overlap * (1.0 + bonus)
    return w


# -- the learned tables -------------------------------------------------------------------------------
def states() -> list[tuple[int, str]]:
    """Every hidden state: (root relative to the major tonic, quality)."""
    return [(r, q) for r in range(12) for q in QUALITIES]


def state_index(rel_root: int, quality: str) -> int:
    return (rel_root % 12) * len(QUALITIES) + QUALITIES.index(quality)


def quality_of_bits(bits) -> str | None:
    """The state quality of a chord given as 12 semitone flags above its root (mir_eval's encoding)."""
    b = [bool(x) for x in bits]
    third = 4 if b[4] else 3 if b[3] else None
    if third == 4:
        if b[10]:
            return "7"
        if b[11]:
            return "maj7"
        return "maj"  # maj, maj6, aug and maj/inversions are played as the major triad
    if third == 3:
        if b[6] and not b[7]:
            return "dim"
        if b[10]:
            return "min7"
        return "min"
    if b[5]:
        return "sus4"
    if b[2]:
        return "sus2"
    if b[7]:
        return "maj"  # a power chord
    return None


def beat_features(rel: np.ndarray, downbeat: np.ndarray) -> np.ndarray:
    """[n_beats, N_FEATURES]: what the classifier reads at each beat, from the melody's pitch classes relative
    to the tonic (``rel``, :func:`beat_weights` rolled): the beat's own, its neighbours' (one and two beats
    either side), its bar's and its half bar's, each scaled to sum 1, and its place in the bar (4 slots)."""
    n = len(rel)

    def unit(x: np.ndarray) -> np.ndarray:
        s = x.sum(axis=-1, keepdims=True)
        return np.where(s > 0, x / np.maximum(s, 1e-9), 0.0)

    pad = np.vstack([np.zeros((2, 12)), rel, np.zeros((2, 12))])
    bar_id = np.maximum(np.cumsum(downbeat) - 1, 0) if downbeat.any() else np.zeros(n, dtype=int)
    first = np.zeros(n, dtype=int)
    for b in range(n):
        first[b] = b if (downbeat[b] or b == 0) else first[b - 1]
    slot = np.arange(n) - first
    bar_sum = np.zeros((int(bar_id.max()) + 1 if n else 1, 12))
    np.add.at(bar_sum, bar_id, rel)
    half = bar_id * 2 + (slot >= 2)
    half_sum = np.zeros((int(half.max()) + 1 if n else 1, 12))
    np.add.at(half_sum, half, rel)
    place = np.zeros((n, 4))
    place[np.arange(n), np.minimum(slot, 3)] = 1.0
    return np.hstack([unit(rel), unit(pad[1:n + 1]), unit(pad[3:n + 3]), 0.5 * unit(pad[0:n]),
                      0.5 * unit(pad[4:n + 4]), unit(bar_sum[bar_id]), unit(half_sum[half]), place])


N_FEATURES = 12 * 7 + 4


@dataclass
class Table:
    """The counted tables, smoothed and as log-probabilities."""

    log_down: np.ndarray  # [S, S] from the previous beat's chord to a downbeat's
    log_inner: np.ndarray  # [S, S] to a beat inside the bar
    log_initial: np.ndarray  # [S]
    log_emit: np.ndarray  # [S, 12] melody pitch class (relative to the tonic) given the chord
    prior: np.ndarray  # [S] how often each chord sounds (the baseline's "most common")
    meta: dict = field(default_factory=dict)
    coef: np.ndarray | None = None  # [S, N_FEATURES] the beat classifier's weights (None: emissions only)
    intercept: np.ndarray | None = None  # [S]
    log_mid: np.ndarray | None = None  # [S, S] to the middle beat of a four-beat bar (None: as log_inner)
    log_quality: np.ndarray | None = None  # [len(QUALITIES), 12] each interval above the root per quality

    def emission(self, rel: np.ndarray, downbeat: np.ndarray, weight: float) -> np.ndarray:
        """[n_beats, S]: each chord's score at each beat: the classifier's log posterior over the log prior
        (a hybrid HMM), or without a classifier the melody's log-likelihood under the counted emissions."""
        if self.coef is None:
            return weight * rel @ self.log_emit.T
        z = beat_features(rel, downbeat) @ self.coef.T + self.intercept
        z = z - z.max(axis=1, keepdims=True)
        log_post = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        has = rel.sum(axis=1, keepdims=True) > 0
        return weight * np.where(has, log_post - np.log(np.maximum(self.prior, 1e-6)), 0.0)


def _normalise(counts: np.ndarray, smoothing: float) -> np.ndarray:
    c = np.asarray(counts, dtype=np.float64) + smoothing
    return np.log(c / c.sum(axis=-1, keepdims=True))


def table_from_counts(data: dict) -> Table:
    """A :class:`Table` from the JSON counts (:mod:`training.harmonize_eval` writes them)."""
    if tuple(data["qualities"]) != tuple(QUALITIES):
        raise ValueError(f"the harmony table counts qualities {data['qualities']}, this code wants {QUALITIES}")
    emit = np.asarray(data["emission"], dtype=np.float64)
    # chords heard rarely borrow the spread of their quality (the same intervals above the root)
    by_quality = np.zeros((len(QUALITIES), 12))
    for s, (r, q) in enumerate(states()):
        by_quality[QUALITIES.index(q)] += np.roll(emit[s], -r)
    shaped = np.stack([np.roll(by_quality[QUALITIES.index(q)], r) for r, q in states()])
    log_quality = np.log((by_quality + 1.0) / (by_quality + 1.0).sum(axis=1, keepdims=True))
    shaped = shaped / np.maximum(shaped.sum(axis=1, keepdims=True), 1e-9) * 20.0
    unigram = np.asarray(data["unigram"], dtype=np.float64)
    coef = np.asarray(data["coef"], dtype=np.float64) if "coef" in data else None
    intercept = np.asarray(data["intercept"], dtype=np.float64) if "intercept" in data else None
    return Table(coef=coef, intercept=intercept, log_down=_normalise(data["down"], 0.5), log_inner=_normalise(data["inner"], 0.5),
                 log_mid=_normalise(data["mid"], 0.5) if "mid" in data else None, log_quality=log_quality,
                 log_initial=_normalise(unigram, 1.0), log_emit=_normalise(emit + shaped, 0.1),
                 prior=unigram / max(unigram.sum(), 1.0), meta={k: data[k] for k in ("source", "licence", "songs")
                                                               if k in data})


@lru_cache(maxsize=2)
def load_table(path: str = str(TABLE_PATH)) -> Table:
    return table_from_counts(json.loads(Path(path).read_text(encoding="utf-8")))


# -- decoding -----------------------------------------------------------------------------------------
def middle_beats(downbeat: np.ndarray) -> np.ndarray:
    """Whether each beat is the third of a four-beat bar (where pop chords change inside a bar)."""
    n = len(downbeat)
    slot = np.zeros(n, dtype=np.int64)
    for b in range(1, n):
        slot[b] = 0 if downbeat[b] else slot[b - 1] + 1
    out = np.zeros(n, dtype=bool)
    starts = list(np.flatnonzero(downbeat)) + [n]
    for a, z in zip(starts, starts[1:]):
        if z - a == 4:
            out[a + 2] = True
    return out


def viterbi(emission: np.ndarray, log_down: np.ndarray, log_inner: np.ndarray, log_initial: np.ndarray,
            downbeat: np.ndarray, hold: np.ndarray | bool = False, log_mid: np.ndarray | None = None
            ) -> tuple[np.ndarray, float]:
    """The most likely state per step and its log score. ``hold``: per step, whether the chord must stay (True
    for every step but downbeats: chords per bar)."""
    n, s = emission.shape
    mid = middle_beats(downbeat)
    score = log_initial + emission[0]
    back = np.zeros((n, s), dtype=np.int32)
    stay = np.arange(s)
    for t in range(1, n):
        if (hold is True and not downbeat[t]) or (not isinstance(hold, bool) and hold[t]):
            back[t] = stay
            score = score + emission[t]
            continue
        trans = log_down if downbeat[t] else (log_mid if log_mid is not None and mid[t] else log_inner)
        cand = score[:, None] + trans
        back[t] = np.argmax(cand, axis=0)
        score = cand[back[t], stay] + emission[t]
    path = np.empty(n, dtype=np.int32)
    path[-1] = int(np.argmax(score))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path, float(score.max())


@dataclass(frozen=True)
class Chord:
    start: int  # beat
    end: int
    root: int  # pitch class
    quality: str
    symbol: str  # lead sheet, e.g. "Am7"
    roman: str  # in the detected key, e.g. "vi7"
    label: str  # mir_eval / lake label, e.g. "A:min7"


@dataclass(frozen=True)
class Harmonization:
    key: str  # e.g. "A minor"
    per: str
    chords: list[Chord]  # one per change (consecutive equal chords merged)
    beat_states: np.ndarray  # the state of every beat
    tonic: int  # pitch class of the major tonic the states are relative to

    def beat_labels(self) -> list[str]:
        """A label per beat (mir_eval spelling)."""
        out: list[str] = []
        for c in self.chords:
            out += [c.label] * (c.end - c.start)
        return out

    def bar_chords(self, melody: BeatMelody) -> list[str]:
        """The symbol sounding longest in each bar."""
        labels = [c for c in self.chords for _ in range(c.end - c.start)]
        out = []
        for a, b in melody.bars():
            held: dict[str, int] = {}
            for c in labels[a:b]:
                held[c.symbol] = held.get(c.symbol, 0) + 1
            out.append(max(held, key=held.get) if held else (out[-1] if out else "C"))
        return out


_MAJOR_NUMERALS = ("I", "bII", "II", "bIII", "III", "IV", "#IV", "V", "bVI", "VI", "bVII", "VII")
_MINOR_NUMERALS = ("I", "bII", "II", "III", "#III", "IV", "#IV", "V", "VI", "#VI", "VII", "#VII")
_ROMAN_SUFFIX = {"maj": "", "min": "", "7": "7", "min7": "7", "maj7": "maj7", "dim": "°", "sus4": "sus4",
                 "sus2": "sus2", "hdim7": "ø7", "dim7": "°7", "aug": "+"}
_LOWER = {"min", "min7", "dim", "hdim7", "dim7"}


def roman(root: int, quality: str, key: str) -> str:
    """The chord's roman numeral in ``key`` ("C major"/"A minor"): upper case major, lower case minor,
    b/# for roots off the scale (natural minor's in a minor key): (7, "7", "C major") → "V7"."""
    tonic, mode = key.split()
    interval = (root - PITCH_CLASSES.index(tonic)) % 12
    numeral = (_MAJOR_NUMERALS if mode == "major" else _MINOR_NUMERALS)[interval]
    acc = numeral.rstrip("IV")
    body = numeral[len(acc):]
    if quality in _LOWER:
        body = body.lower()
    return acc + body + _ROMAN_SUFFIX[quality]


_FLAT_SPELLING = ("C", "Db", "D", "Eb", "E", "F", "Gb", "G", "Ab", "A", "Bb", "B")
_SHARP_SPELLING = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLAT_KEYS = {"F major", "Bb major", "Eb major", "Ab major", "C# major", "D minor", "G minor", "C minor",
              "F minor", "Bb minor", "Eb minor"}
_SHARP_KEYS = {"G major", "D major", "A major", "E major", "B major", "F# major", "E minor", "B minor",
               "F# minor", "C# minor", "Ab minor"}


def spell_root(root: int, key: str) -> str:
    """A root's name as the key writes it: flats in flat keys (Db in Ab major), sharps in sharp keys."""
    if key in _FLAT_KEYS:
        return _FLAT_SPELLING[root % 12]
    if key in _SHARP_KEYS:
        return _SHARP_SPELLING[root % 12]
    return PITCH_CLASSES[root % 12]


def _label(root: int, quality: str) -> str:
    return f"{PITCH_CLASSES[root]}:{quality}"


def _mode(weights: np.ndarray, tonic: int, path_roots: np.ndarray) -> str:
    """Major at ``tonic`` or its relative minor: Krumhansl–Schmuckler on the melody, restricted to the two,
    with the chords' time on I and on vi breaking a near tie."""
    from lake.midi_features import _KEY_Z  # the two profiles, z-scored, rotated to every tonic

    hist = weights.sum(axis=0)
    if hist.std() == 0:
        return "major"
    z = (hist - hist.mean()) / hist.std()
    r_major = float(_KEY_Z[tonic] @ z) / 12.0
    r_minor = float(_KEY_Z[12 + (tonic + 9) % 12] @ z) / 12.0
    on_i = float(np.mean(path_roots == 0)) if len(path_roots) else 0.0
    on_vi = float(np.mean(path_roots == 9)) if len(path_roots) else 0.0
    return "minor" if r_minor - r_major + 0.2 * (on_vi - on_i) > 0 else "major"


REPEAT_SIMILARITY = 1.0  # off: pooling returning bars did not help on the tuning songs


def pool_repeats(emission: np.ndarray, weights: np.ndarray, melody: BeatMelody,
                 threshold: float = REPEAT_SIMILARITY) -> np.ndarray:
    """Emissions shared among bars whose melody returns: each beat's score becomes the mean of its own and
    those of the same beat in every bar of the same length whose melody (pitch classes per beat, by
    sounding time) has a cosine of at least ``threshold`` with its bar's. A song sings its verse again; the
    chords under it usually return too, and each return adds evidence."""
    if threshold >= 1.0:
        return emission
    bars = [(a, b) for a, b in melody.bars()]
    out = emission.copy()
    by_len: dict[int, list[tuple[int, int]]] = {}
    for a, b in bars:
        by_len.setdefault(b - a, []).append((a, b))
    for length, group in by_len.items():
        if len(group) < 2:
            continue
        vec = np.stack([weights[a:b].ravel() for a, b in group])
        norm = np.linalg.norm(vec, axis=1)
        ok = norm > 0
        unit = np.where(ok[:, None], vec / np.maximum(norm[:, None], 1e-9), 0.0)
        sim = unit @ unit.T
        blocks = np.stack([emission[a:b] for a, b in group])  # [bars, length, S]
        for i, (a, b) in enumerate(group):
            if not ok[i]:
                continue
            mates = np.flatnonzero((sim[i] >= threshold) & ok)
            out[a:b] = blocks[mates].mean(axis=0)
    return out


KEY_WEIGHT = 0.5  # the Krumhansl–Schmuckler fit of each tonic beside the Viterbi score (tuned on training songs)


def _key_fit(weights: np.ndarray, tonic: int) -> float:
    """How well the melody's pitch classes (by sounding time) fit the major key at ``tonic`` or its relative
    minor: the better Krumhansl–Schmuckler correlation of the two, times the melody's length in beats."""
    from lake.midi_features import _KEY_Z

    hist = weights.sum(axis=0)
    if hist.std() == 0:
        return 0.0
    z = (hist - hist.mean()) / hist.std()
    r = max(float(_KEY_Z[tonic] @ z), float(_KEY_Z[12 + (tonic + 9) % 12] @ z)) / 12.0
    return r * float(hist.sum())


METHODS = ("auto", "net", "hmm")  # auto: the network where its weights load, else the HMM


def _named(path_states: np.ndarray, tonic: int, name: str, per: str) -> Harmonization:
    """A :class:`Harmonization` from key-relative states per beat (consecutive equal chords merged)."""
    st = states()
    chords: list[Chord] = []
    start = 0
    for t in range(1, len(path_states) + 1):
        if t == len(path_states) or path_states[t] != path_states[start]:
            r, q = st[path_states[start]]
            root = (r + tonic) % 12
            chords.append(Chord(start, t, root, q, chord_symbol(spell_root(root, name), q), roman(root, q, name),
                                _label(root, q)))
            start = t
    return Harmonization(key=name, per=per, chords=chords, beat_states=np.asarray(path_states), tonic=tonic)


def _harmonize_net(melody: BeatMelody, per: str, key: str | None, loaded) -> Harmonization:
    """Chords from the network (:mod:`training.harmonize_net`); the key is the given one or the network's key
    finder's major tonic, major or its relative minor as the shipped mode classifier says (Krumhansl–Schmuckler
    and the chords where the weights have none)."""
    from training import harmonize_net as HN

    lp = HN.log_posteriors(loaded, melody.onset, melody.dur, melody.pitch, melody.downbeat)
    settings = HN.DecodeSettings(**loaded.meta.get("decode", {}))
    weights = beat_weights(melody)
    sounding = HN.beat_inputs(melody.onset, melody.dur, melody.pitch, melody.downbeat)[0][:, 0]
    if settings.melody_fit:
        lp = lp + settings.melody_fit * HN.melody_fit(sounding, load_table().log_quality)
    lp = HN.pool_repeated_bars(lp, sounding, melody.downbeat, settings.repeat, settings.repeat_self)
    path = HN.decode(lp, melody.downbeat, per, settings)
    nq = len(HN.QUALITIES)
    roots = path // nq
    quals = [HN.QUALITIES[i % nq] for i in path.tolist()]
    if key is not None:
        t, mode = key.split()
        tonic = (PITCH_CLASSES.index(t) + (3 if mode == "minor" else 0)) % 12
    else:
        pc, meta = HN.beat_inputs(melody.onset, melody.dur, melody.pitch, melody.downbeat)
        features = HN.key_features(melody.onset, melody.dur, melody.pitch, pc, meta)
        tonic = HN.frame_tonic(features, loaded.key_weights)
        if loaded.mode_weights is not None:
            mode = "minor" if HN.is_minor(features, tonic, loaded.mode_weights) else "major"
        else:
            mode = _mode(weights, tonic, (roots - tonic) % 12)
    rel = np.array([state_index((r - tonic) % 12, q) for r, q in zip(roots.tolist(), quals)])
    name = key_name(PITCH_CLASSES[tonic if mode == "major" else (tonic + 9) % 12], mode)
    return _named(rel, tonic, name, per)


def harmonize(melody: BeatMelody, per: str = "bar", key: str | None = None, table: Table | None = None,
              emission_weight: float = EMISSION_WEIGHT, transition_weight: float = TRANSITION_WEIGHT,
              repeat: float = REPEAT_SIMILARITY, key_weight: float | None = None, method: str = "auto"
              ) -> Harmonization:
    """Chords for ``melody``: one per bar (``per="bar"``, changing on downbeats) or per beat; ``key`` (e.g.
    "D minor") fixes the key instead of detecting it. ``method``: "net" (the learned network,
    :mod:`training.harmonize_net`), "hmm" (the counted tables), "auto" (the network where its weights load,
    else the HMM; an explicit ``table`` means the HMM)."""
    if per not in PER:
        raise ValueError(f"per must be one of {', '.join(PER)}, not {per!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    if melody.n_beats == 0 or len(melody.pitch) == 0:
        raise ValueError("the melody has no notes")
    if melody.n_beats > MAX_BEATS:
        raise ValueError(f"the melody lasts {melody.n_beats} beats: this harmonizer takes up to {MAX_BEATS}")
    if method == "net" or (method == "auto" and table is None):
        from training.harmonize_net import load_net

        loaded = load_net()
        if loaded is not None:
            return _harmonize_net(melody, per, key, loaded)
        if method == "net":
            raise ValueError("the harmonizer's network weights are missing (training/tables/harmony_net_pop909.pt)")
    table = table or load_table()
    weights = beat_weights(melody)
    down, inner = transition_weight * table.log_down, transition_weight * table.log_inner
    fixed = None
    if key is not None:
        t, mode = key.split()
        fixed = (PITCH_CLASSES.index(t) + (3 if mode == "minor" else 0)) % 12
    key_weight = KEY_WEIGHT if key_weight is None else key_weight
    hold: np.ndarray | bool = per == "bar"
    if per == "half":
        hold = ~(melody.downbeat | middle_beats(melody.downbeat))
    best = None
    for tonic in ([fixed] if fixed is not None else range(12)):
        rel = np.roll(weights, -tonic, axis=1)  # pitch classes relative to this tonic
        emission = pool_repeats(table.emission(rel, melody.downbeat, emission_weight), weights, melody, repeat)
        path, score = viterbi(emission, down, inner, table.log_initial, melody.downbeat, hold,
                              None if table.log_mid is None else transition_weight * table.log_mid)
        score += key_weight * _key_fit(weights, tonic)
        if best is None or score > best[2]:
            best = (tonic, path, score)
    tonic, path, _ = best
    st = states()
    roots = np.array([st[i][0] for i in path])
    mode = key.split()[1] if key is not None else _mode(weights, tonic, roots)
    key_tonic = tonic if mode == "major" else (tonic + 9) % 12
    return _named(path, tonic, key_name(PITCH_CLASSES[key_tonic], mode), per)


# -- a simple baseline ----------------------------------------------------------------------------------
_DIATONIC = {"major": ((0, "maj"), (2, "min"), (4, "min"), (5, "maj"), (7, "maj"), (9, "min"), (11, "dim")),
             "minor": ((0, "min"), (2, "dim"), (3, "maj"), (5, "min"), (7, "min"), (8, "maj"), (10, "maj"))}


def baseline(melody: BeatMelody, table: Table | None = None) -> list[str]:
    """A label per beat: in the Krumhansl–Schmuckler key of the melody, each bar gets the diatonic triad most
    common in the training songs among those containing the bar's longest note (the last chord where a bar
    has none)."""
    table = table or load_table()
    weights = beat_weights(melody)
    tonic_name, mode, _ = estimate_key(weights.sum(axis=0))
    tonic = PITCH_CLASSES.index(tonic_name)
    major_tonic = tonic if mode == "major" else (tonic + 3) % 12
    out: list[str] = []
    last = _label(tonic, "maj" if mode == "major" else "min")
    for a, b in melody.bars():
        inside = (melody.onset < b) & (melody.onset + melody.dur > a)
        if inside.any():
            clipped = np.minimum(melody.onset + melody.dur, b) - np.maximum(melody.onset, a)
            pc = int(melody.pitch[inside][int(np.argmax(clipped[inside]))]) % 12
            fits = [((tonic + i) % 12, q) for i, q in _DIATONIC[mode]
                    if pc in {(tonic + i + x) % 12 for x in CHORD_QUALITIES[q]}]
            if fits:
                root, q = max(fits, key=lambda c: table.prior[state_index((c[0] - major_tonic) % 12, c[1])])
                last = _label(root, q)
        out += [last] * (b - a)
    return out


# -- a melody from a score ------------------------------------------------------------------------------
def beat_melody_from_score(score, melody: np.ndarray) -> BeatMelody:
    """The uploaded melody (rows of onset tick, duration ticks, pitch, velocity) on the score's beats: the
    first time signature's beat (a dotted quarter in compound meters), bars from its numerator."""
    tpq = int(score.ticks_per_quarter)
    num, den = 4, 4
    if len(score.time_signatures):
        ts = score.time_signatures[0]
        num, den = int(ts.numerator), int(ts.denominator)
    compound = den == 8 and num % 3 == 0 and num > 3
    beat_q = 1.5 if compound else 4.0 / den
    per_bar = num // 3 if compound else num
    beat_ticks = tpq * beat_q
    onset = melody[:, 0] / beat_ticks
    dur = melody[:, 1] / beat_ticks
    n_bars = int(math.ceil(float((onset + dur).max()) / per_bar - 1e-9)) if len(onset) else 0
    n_beats = max(n_bars, 1) * per_bar
    downbeat = np.zeros(n_beats, dtype=bool)
    downbeat[::per_bar] = True
    return BeatMelody(onset=onset, dur=dur, pitch=melody[:, 2].astype(np.int64), downbeat=downbeat, beat_unit=beat_q)
