"""REMI token ids for a whole score in numpy: the lake's hot path, identical to miditok's ``encode``.

miditok builds one Python ``Event`` object per token and walks them one by one to place the
``Bar`` and ``Position`` tokens; on a 2-core machine that loop is most of the lake's encode time.
:class:`FastREMI` keeps everything miditok decides (its preprocessing of the score, its vocabulary,
its duration table, its bar arithmetic) and only replaces the per-event loop with array work:

1. ``tokenizer.preprocess_score`` (miditok's own) resamples, quantizes and merges the score;
2. every time signature, tempo and note becomes one *item* with a time and 1 or 4 token ids
   (``Program, Pitch|PitchDrum, Velocity, Duration`` for a note), in miditok's event order;
3. a stable sort by time gives miditok's order; consecutive items at one time form a *group*
   (a time signature always closes its group, as miditok re-emits a position after one);
4. the bar index of each group follows from the time-signature segment it lies in, a running
   maximum gives the ``Bar`` tokens each group adds and the tick of the current bar, which gives
   its ``Position``; the time tokens and item tokens are then scattered into one array.

It covers exactly one configuration: REMI in one stream with programs, velocities and durations,
optional tempos and time signatures, and nothing else (no rests, chords, pedals, pitch bends,
controls, pitch intervals, attribute controls, bar-end or trailing-bar tokens, trained model).
:meth:`FastREMI.supports` says whether a tokenizer is that one; anything else, and any score
whose values fall outside the vocabulary's tables, goes through miditok's ``encode`` unchanged, so
the ids are miditok's in every case. ``tests/unit/test_lake_remi_fast.py`` compares the two on
corpus pieces, variations and thousands of mutated files.
"""

from __future__ import annotations

import numpy as np
from miditok.constants import TIME_SIGNATURE
from miditok.utils import compute_ticks_per_bar, compute_ticks_per_beat, get_score_ticks_per_beat
from symusic import TimeSignature

_TS, _TEMPO, _NOTE = 0, 1, 2


def _lut(vocab: dict[str, int], head: str, lo: int, hi: int) -> np.ndarray:
    """ids of ``<head>_<v>`` for v in [lo, hi], -1 where the vocabulary has none (index v - lo)."""
    return np.array([vocab.get(f"{head}_{v}", -1) for v in range(lo, hi + 1)], dtype=np.int64)


class FastREMI:
    """``encode(score)`` → the int32 ids miditok's REMI ``encode(score).ids`` gives, computed with numpy."""

    def __init__(self, tokenizer):
        if not self.supports(tokenizer):
            raise ValueError("FastREMI covers REMI in one stream with programs only (see FastREMI.supports)")
        self.tokenizer = tokenizer
        cfg = tokenizer.config
        vocab = tokenizer.vocab
        self.vocab = vocab
        self.use_tempos = cfg.use_tempos
        self.use_time_signatures = cfg.use_time_signatures
        self.pitchdrum = cfg.use_pitchdrum_tokens
        self.max_pos_per_beat = cfg.max_num_pos_per_beat
        self.bar = vocab["Bar_None"]
        self.program = _lut(vocab, "Program", -1, 127)  # index program + 1
        self.pitch = _lut(vocab, "Pitch", 0, 127)
        self.pitch_drum = _lut(vocab, "PitchDrum", 0, 127) if self.pitchdrum else self.pitch
        self.velocity = _lut(vocab, "Velocity", 0, 127)
        n_pos = max((int(t.split("_")[1]) for t in vocab if t.startswith("Position_")), default=-1) + 1
        self.position = _lut(vocab, "Position", 0, max(n_pos - 1, 0))
        # Duration ids per ticks-per-beat value: ticks -> id (miditok's _tpb_ticks_to_tokens as arrays)
        self.duration: dict[int, np.ndarray] = {}
        for tpb, table in tokenizer._tpb_ticks_to_tokens.items():
            lut = np.full(max(table) + 1, -1, dtype=np.int64)
            for ticks, value in table.items():
                lut[ticks] = vocab.get(f"Duration_{value}", -1)
            self.duration[int(tpb)] = lut

    @staticmethod
    def supports(tokenizer) -> bool:
        """True when ``tokenizer`` is the configuration this encoder reproduces exactly."""
        if type(tokenizer).__name__ != "REMI" or tokenizer.is_trained:
            return False
        c = tokenizer.config
        extra = c.additional_params
        return bool(
            c.use_programs and c.one_token_stream_for_programs and not c.program_changes
            and c.use_velocities and set(range(-1, 128)) <= set(c.use_note_duration_programs)
            and not (c.use_rests or c.use_chords or c.use_sustain_pedals or c.use_pitch_bends
                     or c.use_control_changes or c.use_pitch_intervals or c.use_key_signatures)
            and not tokenizer.attribute_controls
            and not extra.get("use_bar_end_tokens") and not extra.get("add_trailing_bars")
            and extra.get("max_bar_embedding") is None
        )

    # -- the public call ----------------------------------------------------------------------
    def encode(self, score) -> np.ndarray:
        """Token ids of ``score`` (not preprocessed): miditok's own ``encode`` when the arrays cannot express it."""
        pre = self.tokenizer.preprocess_score(score)
        ids = self.encode_preprocessed(pre)
        if ids is None:  # a value outside this encoder's tables: miditok decides (and raises if it must)
            return np.asarray(self.tokenizer.encode(pre, no_preprocess_score=True).ids, dtype=np.int32)
        return ids

    # -- the arrays ---------------------------------------------------------------------------
    def encode_preprocessed(self, score) -> np.ndarray | None:
        """ids of a score miditok has preprocessed, or None when a value is outside the tables."""
        td = int(score.ticks_per_quarter)
        times, kinds, toks, ts_values = [], [], [], []
        vocab = self.vocab
        if self.use_time_signatures:
            for ts in score.time_signatures:
                tid = vocab.get(f"TimeSig_{ts.numerator}/{ts.denominator}")
                if tid is None:
                    return None
                times.append(ts.time), kinds.append(_TS), toks.append((tid, -1, -1, -1))
                ts_values.append((ts.numerator, ts.denominator))
        if self.use_tempos:
            for tempo in score.tempos:
                tid = vocab.get(f"Tempo_{round(tempo.tempo, 2)}")
                if tid is None:
                    return None
                times.append(tempo.time), kinds.append(_TEMPO), toks.append((tid, -1, -1, -1))
        g_time = np.array(times, dtype=np.int64)
        g_kind = np.array(kinds, dtype=np.int8)
        g_tok = np.array(toks, dtype=np.int64).reshape(-1, 4)

        n_time, n_tok = self._notes(score, td)
        if n_time is None:
            return None
        time = np.concatenate([g_time, n_time])
        kind = np.concatenate([g_kind, np.full(n_time.size, _NOTE, dtype=np.int8)])
        tok = np.concatenate([g_tok, n_tok])
        if time.size == 0:
            return np.zeros(0, dtype=np.int32)
        order = np.argsort(time, kind="stable")  # miditok: events.sort(key=time), stable
        time, kind, tok = time[order], kind[order], tok[order]
        return self._with_time_tokens(time, kind, tok, ts_values, td)

    def _notes(self, score, td: int):
        """(onset ticks, [n, 4] ids) of every note, tracks in order; (None, None) outside the tables."""
        if self.use_time_signatures and len(score.time_signatures) > 0:
            tpb = get_score_ticks_per_beat(score)
        else:
            tpb = np.array([[score.end(), self.tokenizer.time_division]])
        ends, tpb_values = tpb[:, 0], tpb[:, 1]
        all_time, all_tok = [np.zeros(0, dtype=np.int64)], [np.zeros((0, 4), dtype=np.int64)]
        for track in score.tracks:
            notes = track.notes.numpy()
            start = notes["time"].astype(np.int64)
            if start.size == 0:
                continue
            pitch, vel = notes["pitch"].astype(np.int64), notes["velocity"].astype(np.int64)
            dur = notes["duration"].astype(np.int64)
            program = -1 if track.is_drum else int(track.program)
            if pitch.min() < 0 or pitch.max() > 127 or vel.min() < 0 or vel.max() > 127 or dur.min() < 0:
                return None, None
            section = np.searchsorted(ends, start, side="right")
            if section.max() >= len(ends):
                return None, None
            dur_ids = np.empty(start.size, dtype=np.int64)
            for s in np.unique(section):
                lut = self.duration.get(int(tpb_values[s]))
                here = section == s
                if lut is None or dur[here].max() >= lut.size:
                    return None, None
                dur_ids[here] = lut[dur[here]]
            ids = np.empty((start.size, 4), dtype=np.int64)
            ids[:, 0] = self.program[program + 1]
            ids[:, 1] = (self.pitch_drum if track.is_drum else self.pitch)[pitch]
            ids[:, 2] = self.velocity[vel]
            ids[:, 3] = dur_ids
            if (ids < 0).any():
                return None, None
            all_time.append(start)
            all_tok.append(ids)
        return np.concatenate(all_time), np.concatenate(all_tok)

    def _with_time_tokens(self, time, kind, tok, ts_values, td: int) -> np.ndarray | None:
        """Insert REMI's Bar / TimeSig / Position tokens before each group of items, as miditok's loop does."""
        n = time.size
        is_ts = kind == _TS
        # a group starts where the time changes or right after a time signature
        start = np.ones(n, dtype=bool)
        start[1:] = (time[1:] != time[:-1]) | is_ts[:-1]
        first = np.flatnonzero(start)  # first item of each group
        group = np.cumsum(start) - 1  # group of each item
        g_time, g_ts = time[first], is_ts[first]
        G = first.size

        # time-signature segments: params in force for each group (a TS group still uses the old ones)
        first_ts = ts_values[0] if (self.use_time_signatures and ts_values) else TIME_SIGNATURE
        ts_times = g_time[g_ts]
        b0, t0 = [0], [0]
        sig = [first_ts]
        tpbar = [compute_ticks_per_bar(TimeSignature(0, *first_ts), td)]
        for k, t in enumerate(ts_times.tolist()):
            b0.append(b0[-1] + (t - t0[-1]) // tpbar[-1])
            t0.append(t)
            sig.append(ts_values[k])
            tpbar.append(compute_ticks_per_bar(TimeSignature(t, *ts_values[k]), td))
        tppos = [compute_ticks_per_beat(s[1], td) // self.max_pos_per_beat for s in sig]
        if min(tpbar) <= 0 or min(tppos) <= 0:
            return None
        sig_ids = [self.vocab.get(f"TimeSig_{a}/{b}", -1) for a, b in sig]
        if self.use_time_signatures and min(sig_ids) < 0:
            return None
        seg = np.cumsum(g_ts) - g_ts  # TS groups strictly before
        b0, t0, tpbar, tppos = (np.array(v, dtype=np.int64) for v in (b0, t0, tpbar, tppos))

        bar_index = b0[seg] + (g_time - t0[seg]) // tpbar[seg]
        current = np.maximum(np.maximum.accumulate(bar_index), -1)
        new_bars = np.diff(current, prepend=-1)
        # tick of the current bar: set where bars were added, carried forward; 0 before any
        tick_new = t0[seg] + (current - b0[seg]) * tpbar[seg]
        last_new = np.maximum.accumulate(np.where(new_bars > 0, np.arange(G), -1))
        tick_bar = np.where(last_new >= 0, tick_new[np.maximum(last_new, 0)], 0)
        pos = (g_time - tick_bar) // tppos[seg]

        # time tokens per group: (Bar, TimeSig) per new bar, the last TimeSig dropped before a TS item,
        # then a Position unless the group is a time signature
        per_bar = 2 if self.use_time_signatures else 1
        bars_part = per_bar * new_bars - ((g_ts & (new_bars > 0)) if self.use_time_signatures else 0)
        count = bars_part + (~g_ts)
        pos_ids = np.full(G, -1, dtype=np.int64)
        inside = (pos >= 0) & (pos < self.position.size)
        pos_ids[inside] = self.position[pos[inside]]
        if (pos_ids[~g_ts] < 0).any():
            return None

        total_time = int(count.sum())
        t_group = np.repeat(np.arange(G), count)
        local = np.arange(total_time) - np.repeat(np.cumsum(count) - count, count)
        sig_of_group = np.array(sig_ids, dtype=np.int64)[seg] if self.use_time_signatures else None
        in_bars = local < bars_part[t_group]
        if self.use_time_signatures:
            bar_tok = np.where(local % 2 == 0, self.bar, sig_of_group[t_group])
        else:
            bar_tok = np.full(total_time, self.bar, dtype=np.int64)
        time_tok = np.where(in_bars, bar_tok, pos_ids[t_group])

        # item tokens in sorted order, each item 1 (TS, tempo) or 4 (note) ids
        width = np.where(kind == _NOTE, 4, 1)
        flat_mask = np.arange(4)[None, :] < width[:, None]
        item_tok = tok[flat_mask]
        item_group = np.repeat(group, width)
        cum_count = np.cumsum(count)  # time tokens up to and including each group
        before_items = np.cumsum(width) - width  # item tokens before each item
        out = np.empty(total_time + item_tok.size, dtype=np.int64)
        out[np.arange(item_tok.size) + cum_count[item_group]] = item_tok
        items_before_group = before_items[first]
        out[np.arange(total_time) + items_before_group[t_group]] = time_tok
        return out.astype(np.int32)
