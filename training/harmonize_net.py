"""Chords for a melody from small learned sequence models in the frame of the melody's key, decoded with a
Viterbi over their posteriors. Two kinds of network (:func:`build_net`): a bidirectional GRU over the melody's
beats, and one that reads the song bar by bar (:func:`build_bar_net`: convolutions over beats, a transformer
over the song's bars), which may also read ``EXTRA_BLOCKS`` and ``EXTRA_META``; the shipped file may hold
several networks, whose log posteriors are averaged.

What the network reads at each beat (:func:`beat_inputs`) is a few pitch-class profiles of the melody
(``PC_BLOCKS``: what sounds in the beat, what starts in it, what sounds on the beat itself, the beat's bar and
half bar, the whole song) and its place in the bar (``META``). The profiles are first rotated into the frame
of the melody's key (:func:`frame_tonic`: the major tonic, a minor key counting as its relative major, from a
small learned key finder over the melody's pitch classes by sounding time, on downbeats, at its ends and at
phrase ends; 96 % right on the validation songs against 82 % for Krumhansl–Schmuckler), the network gives a posterior over 12 roots x ``QUALITIES`` per beat in that
frame, and the roots are rotated back. The frame is computed the same way in training and in use (never
from a label), so where it errs the network has seen it err; and because it moves with the melody,
transposing a melody transposes its chords exactly.

Decoding adds the melody's own fit to each chord (:func:`melody_fit`, weighted: the network, trained on
POP909's piano-led labels, hears a bar that spells F-A-C as ii as often as IV; the fit makes a melody
that spells its chords get them), averages the log posteriors of beats whose bars sing the same melody (a
song's verse returns with its chords), then runs a Viterbi (:func:`decode`) in which a chord change costs a penalty that depends on where
it falls (downbeat, the middle of a four-beat bar, elsewhere) and on ``per`` (chords per bar, half bar, beat).

Weights: ``training/tables/harmony_net_pop909.pt`` (trained by :mod:`training.harmonize_train` on the POP909
training songs; the lineage is in the file's ``meta`` and in ``training/tables/README.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

WEIGHTS_PATH = Path(__file__).parent / "tables" / "harmony_net_pop909.pt"
QUALITIES = ("maj", "min", "7", "min7", "maj7", "dim", "sus4", "sus2")
PC_BLOCKS = ("sounding", "onsets", "on the beat", "bar", "half bar", "song")
META = ("slot 0", "slot 1", "slot 2", "slot 3", "slot 4+", "three-beat bar", "silent")
# read by networks whose config says "extra": appended after PC_BLOCKS and META
EXTRA_BLOCKS = ("on the off-beat eighth", "leapt to or from", "lowest in the half bar", "previous bar", "next bar")
EXTRA_META = ("height", "notes")


def n_inputs(extra: bool = False) -> int:
    """The width of a beat's inputs, flattened: the profiles then ``meta``."""
    return (len(PC_BLOCKS) + len(EXTRA_BLOCKS) * extra) * 12 + len(META) + len(EXTRA_META) * extra


# -- what the network reads ---------------------------------------------------------------------------
def _unit(x: np.ndarray) -> np.ndarray:
    s = x.sum(axis=-1, keepdims=True)
    return np.where(s > 0, x / np.maximum(s, 1e-9), 0.0)


def bar_slots(downbeat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per beat: its bar's number, its place in the bar (0 on the downbeat), its bar's length in beats. Beats
    before the first downbeat make a bar of their own."""
    n = len(downbeat)
    starts = np.flatnonzero(downbeat)
    if len(starts) == 0 or starts[0] != 0:
        starts = np.concatenate([[0], starts])
    bar = np.searchsorted(starts, np.arange(n), side="right") - 1
    slot = np.arange(n) - starts[bar]
    lengths = np.diff(np.concatenate([starts, [n]]))
    return bar, slot, lengths[bar]


def beat_inputs(onset: np.ndarray, dur: np.ndarray, pitch: np.ndarray, downbeat: np.ndarray, extra: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
    """``pc`` [n_beats, len(PC_BLOCKS), 12] and ``meta`` [n_beats, len(META)] for a melody on its beats
    (onsets and durations in beats from the first beat, MIDI pitches); with ``extra``, ``EXTRA_BLOCKS`` and
    ``EXTRA_META`` appended (what sounds on the beat's second eighth; notes reached or left by a leap of a
    minor third or more; the half bar's lowest note; the previous and next bar's profiles; the pitch of the
    notes starting in the beat against the song's mean, in octaves; how many start there, by four)."""
    n = len(downbeat)
    sounding, onsets, on_beat = np.zeros((n, 12)), np.zeros((n, 12)), np.zeros((n, 12))
    eighth, leap, height, count = np.zeros((n, 12)), np.zeros((n, 12)), np.zeros(n), np.zeros(n)
    order = np.argsort(np.asarray(onset, float), kind="stable")
    on_s, du_s, p_s = (np.asarray(onset, float)[order], np.asarray(dur, float)[order],
                       np.asarray(pitch, np.int64)[order])
    step = np.abs(np.diff(p_s)) >= 3
    leapt = np.zeros(len(p_s), bool)
    if len(p_s) > 1:
        leapt[1:] |= step
        leapt[:-1] |= step
    mean_pitch = float(p_s.mean()) if len(p_s) else 60.0
    for i, (on, du, p) in enumerate(zip(on_s.tolist(), du_s.tolist(), p_s.tolist())):
        end = on + max(du, 1e-3)
        pc = int(p) % 12
        first = int(math.floor(on))
        if 0 <= first < n:
            onsets[first, pc] += 1.0
            leap[first, pc] += float(leapt[i])
            height[first] += (p - mean_pitch) / 12
            count[first] += 1
        for b in range(max(first, 0), min(int(math.ceil(end)), n)):
            overlap = min(end, b + 1) - max(on, b)
            if overlap > 0:
                sounding[b, pc] += overlap
            head = min(end, b + 0.25) - max(on, b)  # the first sixteenth of the beat
            if head > 0:
                on_beat[b, pc] += head * 4
            off = min(end, b + 0.75) - max(on, b + 0.5)  # the first sixteenth of the second eighth
            if off > 0:
                eighth[b, pc] += off * 4
    bar, slot, length = bar_slots(np.asarray(downbeat, bool))
    half = bar * 2 + (slot >= np.maximum(length // 2, 1))
    bar_sum = np.zeros((int(bar.max()) + 1 if n else 1, 12))
    np.add.at(bar_sum, bar, sounding)
    half_sum = np.zeros((int(half.max()) + 1 if n else 1, 12))
    np.add.at(half_sum, half, sounding)
    song = np.broadcast_to(_unit(sounding.sum(axis=0)), (n, 12))
    pc = np.stack([np.minimum(sounding, 1.0), np.minimum(onsets, 2.0) / 2, np.minimum(on_beat, 1.0),
                   _unit(bar_sum[bar]), _unit(half_sum[half]), song], axis=1)
    meta = np.zeros((n, len(META)))
    meta[np.arange(n), np.minimum(slot, 4)] = 1.0
    meta[:, 5] = length == 3
    meta[:, 6] = sounding.sum(axis=1) == 0
    if extra:
        lowest = np.zeros((int(half.max()) + 1 if n else 1, 12))
        low_pitch = np.full(len(lowest), 1e9)
        for on, du, p in zip(on_s.tolist(), du_s.tolist(), p_s.tolist()):
            b = int(math.floor(on))
            if 0 <= b < n and p < low_pitch[half[b]]:
                low_pitch[half[b]] = p
                lowest[half[b]] = 0.0
                lowest[half[b], int(p) % 12] = 1.0
        bars = _unit(bar_sum)
        prev_bar = np.vstack([np.zeros((1, 12)), bars[:-1]])[bar]
        next_bar = np.vstack([bars[1:], np.zeros((1, 12))])[bar]
        pc = np.concatenate([pc, np.stack([np.minimum(eighth, 1.0), np.minimum(leap, 1.0), lowest[half],
                                           prev_bar, next_bar], axis=1)], axis=1)
        meta = np.concatenate([meta, np.stack([np.where(count > 0, height / np.maximum(count, 1), 0.0),
                                               np.minimum(count, 4) / 4], axis=1)], axis=1)
    return pc.astype(np.float32), meta.astype(np.float32)


# -- the network --------------------------------------------------------------------------------------
def _torch():
    import torch

    return torch


def build_net(hidden: int = 64, layers: int = 2, dropout: float = 0.1, kind: str = "gru", heads: int = 4,
              extra: bool = False):
    """The network: ``kind`` "gru" (per beat a linear layer, a bidirectional GRU, a linear layer to every chord)
    or "bars" (:func:`build_bar_net`: convolutions over beats and a transformer over the song's bars)."""
    if kind == "bars":
        return build_bar_net(hidden=hidden, layers=layers, dropout=dropout, heads=heads, extra=extra)
    torch = _torch()
    nn = torch.nn

    class ChordNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = {"hidden": hidden, "layers": layers, "dropout": dropout, "extra": extra}
            self.inp = nn.Linear(n_inputs(extra), hidden)
            self.gru = nn.GRU(hidden, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                              dropout=dropout if layers > 1 else 0.0)
            self.drop = nn.Dropout(dropout)
            self.out = nn.Linear(2 * hidden, 12 * len(QUALITIES))

        def forward(self, pc, meta):
            """pc [B, T, K, 12] (in the key's frame), meta [B, T, M] → logits [B, T, 12 * len(QUALITIES)]
            (root-major, roots in the frame)."""
            b, t, k, _ = pc.shape
            h = torch.relu(self.inp(torch.cat([pc.reshape(b, t, k * 12), meta], dim=-1)))
            h, _ = self.gru(self.drop(h))
            return self.out(self.drop(h))

    return ChordNet()


def build_bar_net(hidden: int = 128, layers: int = 3, dropout: float = 0.1, heads: int = 4, extra: bool = False):
    """The network that reads the whole song: each beat's inputs through a linear layer and two convolutions
    over neighbouring beats; each bar a token (its beats' vectors side by side, by place in the bar) and a
    transformer over every bar of the song, so a bar hears the bars whose melody returns (a verse, a chorus)
    and an intro hears the song it opens; each beat then reads its bar's vector back, through two more
    convolutions over beats, to a logit for every chord. Bars are where ``meta``'s "slot 0" is set; padded
    beats (``meta`` all zero) are masked."""
    torch = _torch()
    nn = torch.nn
    slots = 5

    class BarNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            d = hidden
            self.config = {"kind": "bars", "hidden": hidden, "layers": layers, "dropout": dropout, "heads": heads,
                           "extra": extra}
            self.inp = nn.Linear(n_inputs(extra), d)
            self.conv1 = nn.ModuleList([nn.Conv1d(d, d, 3, padding=1) for _ in range(2)])
            self.tok = nn.Linear(slots * d, d)
            self.bar_conv = nn.Conv1d(d, d, 3, padding=1)
            layer = nn.TransformerEncoderLayer(d, heads, 2 * d, dropout, batch_first=True, norm_first=True)
            self.bars = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
            self.back = nn.Linear(2 * d, d)
            self.conv2 = nn.ModuleList([nn.Conv1d(d, d, 3, padding=1) for _ in range(2)])
            self.drop = nn.Dropout(dropout)
            self.out = nn.Linear(d, 12 * len(QUALITIES))

        def _convs(self, convs, h, valid):
            for conv in convs:
                h = h + torch.relu(conv(self.drop(h * valid).transpose(1, 2)).transpose(1, 2))
            return h

        def forward(self, pc, meta):
            """pc [B, T, K, 12] (in the key's frame), meta [B, T, M] → logits [B, T, 12 * len(QUALITIES)]."""
            b, t, k, _ = pc.shape
            d = hidden
            valid = (meta.sum(-1) > 0).unsqueeze(-1).float()  # [B, T, 1]
            h = torch.relu(self.inp(torch.cat([pc.reshape(b, t, k * 12), meta], dim=-1))) * valid
            h = self._convs(self.conv1, h, valid)
            start = (meta[..., 0] > 0).long()
            bar = (torch.cumsum(start, dim=1) - 1).clamp(min=0)  # [B, T]
            nb = int(bar.max()) + 1
            slot = meta[..., :slots].argmax(-1)  # [B, T]
            cell = (bar * slots + slot).unsqueeze(-1).expand(b, t, d)
            grid = torch.zeros(b, nb * slots, d, dtype=h.dtype).scatter_add(1, cell, h * valid)
            has = torch.zeros(b, nb, dtype=h.dtype).scatter_add(1, bar, valid[..., 0]) > 0  # bars, not padding
            tokens = torch.relu(self.tok(grid.reshape(b, nb, slots * d))) * has.unsqueeze(-1)
            tokens = tokens + torch.relu(self.bar_conv(tokens.transpose(1, 2)).transpose(1, 2))
            pos = torch.arange(nb, dtype=h.dtype).unsqueeze(1)
            freq = torch.exp(torch.arange(0, d, 2, dtype=h.dtype) * (-math.log(1000.0) / d))
            pe = torch.zeros(nb, d, dtype=h.dtype)
            pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
            tokens = self.bars(tokens + pe, src_key_padding_mask=~has)
            ctx = torch.gather(tokens, 1, bar.unsqueeze(-1).expand(b, t, d))
            h = torch.relu(self.back(torch.cat([h, ctx], dim=-1))) * valid
            h = self._convs(self.conv2, h, valid)
            return self.out(self.drop(h))

    return BarNet()


@dataclass
class Loaded:
    net: object
    meta: dict
    key_weights: np.ndarray | None = None  # the key finder's (None: Krumhansl–Schmuckler)
    members: tuple = ()  # more networks (each a Loaded) whose log posteriors are averaged with this one's
    mode_weights: np.ndarray | None = None  # [len(KEY_FEATURES) * 12 + 1]: minor against major (None: K–S)


@lru_cache(maxsize=2)
def load_net(path: str = str(WEIGHTS_PATH)) -> Loaded | None:
    """The shipped network, or None where its weights are missing or unreadable (the HMM takes over)."""
    p = Path(path)
    if not p.is_file():
        return None
    torch = _torch()
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
        first, *more = [_member(b) for b in [blob] + list(blob.get("members", []))]
        mode_weights = blob.get("mode_weights")
        mode_weights = None if mode_weights is None else mode_weights.double().numpy()
    except (OSError, RuntimeError, KeyError, TypeError, ValueError, AttributeError):
        return None
    return Loaded(first.net, dict(blob.get("meta", {})), first.key_weights, tuple(more), mode_weights)


def _member(blob: dict) -> Loaded:
    net = build_net(**blob["config"])
    net.load_state_dict(blob["state"])
    net.eval()
    key_weights = blob.get("key_weights")
    return Loaded(net, {}, None if key_weights is None else key_weights.double().numpy())


def member_blob(loaded: Loaded) -> dict:
    """What :func:`load_net` reads back for one network: its shape, its weights (half precision), its key finder."""
    torch = _torch()
    out = {"config": dict(loaded.net.config), "state": {k: v.half() if v.is_floating_point() else v
                                                       for k, v in loaded.net.state_dict().items()}}
    if loaded.key_weights is not None:
        out["key_weights"] = torch.tensor(loaded.key_weights, dtype=torch.float32)
    return out


KEY_FEATURES = ("sounding", "sounding on downbeats", "last note", "first note", "phrase ends")


def key_features(onset, dur, pitch, pc: np.ndarray, meta: np.ndarray) -> np.ndarray:
    """[len(KEY_FEATURES), 12]: the melody's pitch classes as a key finder reads them, each scaled to sum 1:
    by sounding time, sounding on downbeats, its last and first note, and notes that end a phrase (a rest of a
    beat or more after them, or two beats long), by length (``pc``, ``meta``: :func:`beat_inputs`)."""
    order = np.argsort(np.asarray(onset, float), kind="stable")
    on, du = np.asarray(onset, float)[order], np.asarray(dur, float)[order]
    p = np.asarray(pitch)[order] % 12
    out = np.zeros((len(KEY_FEATURES), 12))
    out[0] = pc[:, 0].sum(axis=0)
    out[1] = (pc[:, 0] * meta[:, :1]).sum(axis=0)
    if len(p):
        out[2, p[-1]] = out[3, p[0]] = 1.0
        gap = np.append(on[1:] - (on[:-1] + du[:-1]), 4.0)
        np.add.at(out[4], p, ((gap >= 1) | (du >= 2)) * du)
    s = out.sum(axis=1, keepdims=True)
    return np.where(s > 0, out / np.maximum(s, 1e-9), 0.0)


_ROT = (np.arange(12)[:, None] + np.arange(12)[None, :]) % 12  # [t, j]: pitch class t + j


def tonic_scores(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """[12]: each major tonic's score, sum over k, j of weights[k, j] x features[k, t + j] (the same weights for
    every tonic, so the scores move with a transposed melody)."""
    return np.einsum("ktj,kj->t", features[:, _ROT], weights)


def frame_tonic(features: np.ndarray, weights: np.ndarray | None = None) -> int:
    """The major tonic of the melody's key (a minor key counts as its relative major): the learned key finder
    where ``weights`` are given, else the major tonic whose Krumhansl–Schmuckler profile (or its relative
    minor's) correlates best with the melody's sounding pitch classes."""
    if weights is not None:
        return int(np.argmax(tonic_scores(features, weights)))
    from lake.midi_features import key_fits

    hist = features[0]
    if hist.std() == 0:
        return int(np.argmax(hist)) if hist.any() else 0
    r = key_fits(hist)  # 12 major keys, then 12 minor
    return int(np.argmax(np.maximum(r[:12], r[12 + (np.arange(12) + 9) % 12])))


def fit_key_finder(features: np.ndarray, tonics: np.ndarray, steps: int = 600) -> np.ndarray:
    """The key finder's weights [len(KEY_FEATURES), 12], fitted by softmax regression over the 12 tonics on
    songs' :func:`key_features` [songs, K, 12] and their labelled major tonics."""
    torch = _torch()
    x = torch.tensor(features[:, :, _ROT], dtype=torch.float32)  # [songs, K, t, j]
    y = torch.tensor(tonics, dtype=torch.long)
    w = torch.zeros(features.shape[1], 12, requires_grad=True)
    opt = torch.optim.Adam([w], lr=0.05)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(torch.einsum("sktj,kj->st", x, w), y) + 1e-3 * (w ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach().numpy().astype(np.float64)


def is_minor(features: np.ndarray, tonic: int, weights: np.ndarray) -> bool:
    """Whether a melody whose major tonic is ``tonic`` is in the relative minor: a logistic regression over its
    :func:`key_features` rotated to that tonic (``weights``: coefficients then the intercept)."""
    x = np.roll(features, -tonic, axis=1).ravel()
    return float(x @ weights[:-1] + weights[-1]) > 0.0


def framed_inputs(onset, dur, pitch, downbeat, key_weights: np.ndarray | None = None, extra: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`beat_inputs` rotated into the frame of the melody's major tonic (:func:`frame_tonic`), and that
    tonic."""
    pc, meta = beat_inputs(onset, dur, pitch, downbeat, extra)
    tonic = frame_tonic(key_features(onset, dur, pitch, pc, meta), key_weights)
    return np.roll(pc, -tonic, axis=2), meta, tonic


def to_frame(chord: np.ndarray, tonic: int) -> np.ndarray:
    """Chord indices (root-major) moved into the frame of ``tonic`` (-1 stays -1)."""
    q = len(QUALITIES)
    return np.where(chord < 0, -1, ((chord // q - tonic) % 12) * q + chord % q)


def log_posteriors(loaded: Loaded, onset, dur, pitch, downbeat) -> np.ndarray:
    """[n_beats, 12 * len(QUALITIES)]: the network's log posterior of every chord (root-major, absolute roots)
    at every beat."""
    torch = _torch()
    pc, meta, tonic = framed_inputs(onset, dur, pitch, downbeat, loaded.key_weights,
                                    bool(loaded.net.config.get("extra", False)))
    with torch.no_grad():
        z = loaded.net(torch.from_numpy(pc)[None], torch.from_numpy(meta)[None])[0]
        lp = torch.log_softmax(z, dim=-1).numpy().astype(np.float64)
    n = len(lp)
    lp = np.roll(lp.reshape(n, 12, len(QUALITIES)), tonic, axis=1).reshape(n, -1)
    for other in loaded.members:
        lp = lp + log_posteriors(other, onset, dur, pitch, downbeat)
    return lp / (1 + len(loaded.members))


# -- decoding -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DecodeSettings:
    """How posteriors become chords (chosen on the validation songs, :mod:`training.harmonize_train`)."""

    change_down: float = 1.0  # the cost of a chord change on a downbeat (log units)
    change_mid: float = 2.0  # in the middle of a four-beat bar
    change_other: float = 4.0  # on any other beat
    repeat: float = 0.9  # bars whose melodies have at least this cosine share their posteriors (>= 1: off)
    repeat_self: float = 1.0  # a bar's own posterior's weight against each of its mates'
    melody_fit: float = 0.0  # the weight of the melody's log-likelihood under each chord (:func:`melody_fit`)
    by_root: bool = False  # the Viterbi over roots (the posterior summed over qualities), then each stretch's quality


def melody_fit(sounding: np.ndarray, log_quality: np.ndarray) -> np.ndarray:
    """[n_beats, 12 * len(QUALITIES)]: the melody's log-likelihood under each chord (root-major) at each beat:
    its pitch classes by sounding time (``sounding`` [n, 12]) against ``log_quality`` [len(QUALITIES), 12], the
    log-probability of each interval above the root for each quality (the HMM's counts, pooled over roots)."""
    profiles = np.stack([np.roll(log_quality[q], r) for r in range(12) for q in range(len(QUALITIES))])
    return sounding @ profiles.T


def pool_repeated_bars(lp: np.ndarray, sounding: np.ndarray, downbeat: np.ndarray, threshold: float,
                       self_weight: float = 1.0) -> np.ndarray:
    """Each beat's log posterior averaged with those of the same beat in every bar of the same length whose
    melody (pitch classes per beat, by sounding time) has a cosine of at least ``threshold`` with its bar's."""
    if threshold >= 1.0:
        return lp
    bar, slot, length = bar_slots(np.asarray(downbeat, bool))
    starts = np.flatnonzero(slot == 0)
    out = lp.copy()
    groups: dict[int, list[int]] = {}
    for s in starts.tolist():
        groups.setdefault(int(length[s]), []).append(s)
    for ln, group in groups.items():
        if len(group) < 2:
            continue
        vec = np.stack([sounding[s:s + ln].ravel() for s in group])
        norm = np.linalg.norm(vec, axis=1)
        ok = norm > 0
        unit = vec / np.maximum(norm[:, None], 1e-9)
        sim = unit @ unit.T
        blocks = np.stack([lp[s:s + ln] for s in group])
        for i, s in enumerate(group):
            if not ok[i]:
                continue
            mates = (sim[i] >= threshold) & ok
            mates[i] = False
            if mates.any():
                out[s:s + ln] = (self_weight * blocks[i] + blocks[mates].sum(axis=0)) / (self_weight + mates.sum())
    return out


def decode(lp: np.ndarray, downbeat: np.ndarray, per: str = "beat", settings: DecodeSettings = DecodeSettings()
           ) -> np.ndarray:
    """The chord index per beat: a Viterbi over ``lp`` [n, S] where staying is free and a change costs by
    the beat's place; ``per`` = "bar" allows changes on downbeats only, "half" also mid-bar. With
    ``settings.by_root`` the Viterbi runs over the 12 roots (each root's posterior summed over the qualities, so a
    root split between maj and 7 is not outvoted by a rival root's single quality), and each stretch of one root
    then takes the quality its beats' log posteriors favour together."""
    if not settings.by_root:
        return _viterbi(lp, downbeat, per, settings)
    n = len(lp)
    q = len(QUALITIES)
    by_quality = lp.reshape(n, 12, q)
    top = by_quality.max(axis=2, keepdims=True)
    roots = _viterbi((top[..., 0] + np.log(np.exp(by_quality - top).sum(axis=2))), downbeat, per, settings)
    path = np.empty(n, dtype=np.int32)
    start = 0
    for t in range(1, n + 1):
        if t == n or roots[t] != roots[start]:
            r = int(roots[start])
            path[start:t] = r * q + int(np.argmax(by_quality[start:t, r].sum(axis=0)))
            start = t
    return path


def _viterbi(lp: np.ndarray, downbeat: np.ndarray, per: str, settings: DecodeSettings) -> np.ndarray:
    """The best path through ``lp`` [n, S] (any S) under :func:`decode`'s change costs and ``per``."""
    n, s = lp.shape
    _, slot, length = bar_slots(np.asarray(downbeat, bool))
    mid = (slot == length // 2) & (length % 2 == 0) & (length >= 4)
    cost = np.where(slot == 0, settings.change_down, np.where(mid, settings.change_mid, settings.change_other))
    allowed = np.ones(n, bool)
    if per == "bar":
        allowed = slot == 0
    elif per == "half":
        allowed = (slot == 0) | mid
    score = lp[0].copy()
    back = np.zeros((n, s), dtype=np.int32)
    idx = np.arange(s)
    for t in range(1, n):
        if not allowed[t]:
            back[t] = idx
            score = score + lp[t]
            continue
        best = int(np.argmax(score))
        switch = score[best] - cost[t]
        stay = score >= switch
        back[t] = np.where(stay, idx, best)
        score = np.where(stay, score, switch) + lp[t]
    path = np.empty(n, dtype=np.int32)
    path[-1] = int(np.argmax(score))
    for t in range(n - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path
