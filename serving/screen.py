"""Similarity screening: is a piece (generated here, or any MIDI file) a near-copy of a lake piece's melody?

The index is the lake's ``gold_melody_index`` (built by the Spark job ``lake/jobs/melody_index.py``,
read by :func:`lake.jobs.melody_index.load_index`), held in memory per process and read again when the
table has a new version (checked at most every :data:`RELOAD_S` seconds). A check reads the file's
melody shingles (:mod:`lake.similarity`: transposition-, tempo- and re-timing-blind), asks the index
for the pieces that hold most of them, and says which lake pieces matched, with their source, URL,
licence, and the bars of the checked file whose notes the best match shares.

Generation (serving/app.py) checks every piece before it is returned: a near-copy is written again
with another seed, up to :data:`RESEEDS` times, then refused; the response and the stored piece carry
the verdict (``similarity``).
"""

from __future__ import annotations

import threading
import time

import numpy as np
from symusic import Score

from lake import similarity as sim
from serving.api import LakeMatch, Similarity

RELOAD_S = 60.0
RESEEDS = 3  # a near-copy is written again with another seed this many times before the request is refused


class Screener:
    def __init__(self, cfg):
        self.cfg = cfg
        self._lock = threading.Lock()
        self._index: sim.MelodyIndex | None = None
        self._about: dict = {}
        self._version: int | None = None
        self._checked_at = 0.0

    def _current(self) -> tuple[sim.MelodyIndex, dict, int | None]:
        with self._lock:
            now = time.monotonic()
            if self._index is None or now - self._checked_at > RELOAD_S:
                self._checked_at = now
                from lake.delta import Lake
                from lake.jobs.melody_index import load_index
                from lake.schemas import GOLD_MELODY_INDEX

                lake = Lake.from_config(self.cfg)
                version = lake.version(GOLD_MELODY_INDEX) if lake.exists(GOLD_MELODY_INDEX) else None
                if self._index is None or version != self._version:
                    self._index, self._about = load_index(lake, version)
                    self._version = version
            return self._index, self._about, self._version

    def check(self, midi: bytes | Score) -> Similarity:
        """The verdict on one file (bytes already checked by the caller, or a Score)."""
        score = midi if isinstance(midi, Score) else Score.from_midi(bytes(midi))
        index, about, version = self._current()
        start, pitch = sim.melody_line(score)
        tok = sim.tokens(start, pitch)
        sh = sim.shingles_of_tokens(tok)
        matches = index.query(sh, top=3)
        hit = sim.verdict(matches, sh.size)
        out = []
        for m in matches:
            src, url, title, lic = about.get(m.piece, ("", "", None, ""))
            bars = _bars(score, start, tok, index, m.piece) if m is matches[0] else []
            out.append(LakeMatch(sha256=m.piece, source=src, url=url, title=title, license=lic,
                                 containment=round(m.containment, 4), shared=m.shared, bars=bars))
        if version is None:
            line = "no lake melody index yet (musiclake lake melody-index): nothing to compare with"
        elif sh.size < sim.MIN_SHINGLES:
            line = f"melody too short to judge ({sh.size} shingles; {sim.MIN_SHINGLES} needed)"
        elif hit is not None:
            top = out[0]
            line = (f"near-copy of lake piece {top.title or top.url} ({top.source}, {top.license}): "
                    f"{100 * top.containment:.0f} % of the melody's figures, bars {_span(top.bars)}")
        else:
            line = "no near-copy in the lake"
        return Similarity(near_copy=hit is not None, verdict=line, matches=out if hit is not None else out[:1],
                          shingles=int(sh.size), threshold=sim.MATCH_CONTAINMENT, index_pieces=len(index.ids),
                          index_version=version)


def _bars(score: Score, start: np.ndarray, tok: np.ndarray, index: sim.MelodyIndex, piece: str) -> list[int]:
    """The bars (1-based) of ``score`` whose melody notes lie in shingles the matched piece holds."""
    if tok.size < sim.K:
        return []
    row = index.ids.index(piece)
    hashes = sim.position_hashes(tok)
    lo = np.searchsorted(index.hashes, hashes, side="left")
    hi = np.searchsorted(index.hashes, hashes, side="right")
    shared = np.array([row in index.rows[a:b] for a, b in zip(lo, hi)], dtype=bool)
    notes = np.zeros(start.size, dtype=bool)
    for j in np.flatnonzero(shared):  # shingle j reads notes j .. j + K + 1 (each token needs two before it)
        notes[j:j + sim.K + 2] = True
    ts = score.time_signatures[0] if len(score.time_signatures) else None
    bar = int(score.ticks_per_quarter * 4 * (ts.numerator / ts.denominator if ts else 1))
    return sorted({int(t // max(bar, 1)) + 1 for t in start[notes]})


def _span(bars: list[int]) -> str:
    return f"{bars[0]}-{bars[-1]}" if bars else "-"


def screen_command(file: str, config: str | None = None, set_: list[str] | None = None, as_json: bool = False) -> None:
    """``musiclake screen FILE``: the screening verdict on a local MIDI file against the configured lake's melody
    index. One line, exit 1, on a file that is not usable MIDI."""
    import json
    from pathlib import Path

    import typer

    from common.cli_common import load_or_exit
    from lake.midi_features import Limits, MidiError
    from serving.uploads import read_upload

    cfg = load_or_exit(config, set_)
    try:
        data = Path(file).read_bytes()
    except OSError as e:
        typer.echo(f"musiclake screen: cannot read {file}: {e.strerror or e}", err=True)
        raise typer.Exit(1) from None
    try:
        up = read_upload(data, Limits.from_config(cfg))
    except MidiError as e:
        typer.echo(f"musiclake screen: {file}: {e}", err=True)
        raise typer.Exit(1) from None
    res = Screener(cfg).check(up.score)
    if as_json:
        typer.echo(json.dumps(res.model_dump()))
        return
    typer.echo(f"{file}: {res.verdict}")
    for m in res.matches:
        typer.echo(f"  {m.containment:6.1%} {m.shared:4d} shared  {m.title or '-'}  {m.url}  ({m.source}, {m.license})"
                   + (f"  bars {_span(m.bars)}" if m.bars else ""))


__all__ = ["RESEEDS", "Screener", "screen_command"]
