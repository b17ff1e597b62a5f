"""Similarity screening: is a piece (generated here, or any MIDI file) a near-copy of a lake piece?

The index is the lake's ``gold_melody_index`` (built by the Spark job ``lake/jobs/melody_index.py``,
read by :func:`lake.jobs.melody_index.load_index`), held in memory per process and read again when the
table has a new version (checked at most every :data:`RELOAD_S` seconds). A check reads every line of
the file (the melody, the skyline, each track: :mod:`lake.similarity`; transposition-, tempo- and
re-timing-blind), finds the lake pieces sharing most of their figures, aligns each line with them, and
says which lake pieces matched, with their source, URL, licence, the line of the file and its bars.

Generation (serving/app.py) checks every piece before it is returned, and continue, infill, harmonize
and transfer check the material they wrote (the tracks and bars that are new: a user's own upload is
not a copy by us). A generated near-copy is written again with another seed, up to :data:`RESEEDS`
times, then refused; the response and the stored piece carry the verdict (``similarity``).
"""

from __future__ import annotations

import threading
import time

import numpy as np
from symusic import Score

from lake import similarity as sim
from serving.api import ClapNeighbor, LakeMatch, Similarity

RELOAD_S = 60.0
RESEEDS = 3  # a near-copy is written again with another seed this many times before the request is refused


class Screener:
    def __init__(self, cfg):
        self.cfg = cfg
        self._lock = threading.Lock()
        self._index: sim.LineIndex | None = None
        self._about: dict = {}
        self._stale = 0
        self._version: int | None = None
        self._checked_at = 0.0

    def _current(self) -> tuple[sim.LineIndex, dict, int | None, int]:
        with self._lock:
            now = time.monotonic()
            if self._index is None or now - self._checked_at > RELOAD_S:
                self._checked_at = now
                from deltalake import DeltaTable

                from lake.delta import Lake
                from lake.jobs.melody_index import load_index
                from lake.schemas import GOLD_MELODY_INDEX

                lake = Lake.from_config(self.cfg)
                version = (DeltaTable(lake.table_uri(GOLD_MELODY_INDEX), storage_options=lake.storage_options)
                           .version() if lake.exists(GOLD_MELODY_INDEX) else None)
                if self._index is None or version != self._version:
                    self._index, self._about, self._stale = load_index(lake, version)
                    self._version = version
            return self._index, self._about, self._version, self._stale

    def check(self, midi: bytes | Score, tracks: list[int] | None = None, bars: tuple[int, int] | None = None,
              clap=None) -> Similarity:
        """The verdict on one file (bytes already checked by the caller, or a Score). ``tracks``: only these
        track indexes are screened; ``bars``: only these bars (1-based, inclusive; the bars reported stay the
        file's own); ``clap``: a ``training.clap.api.ClapModel`` whose nearest lake pieces are reported too."""
        score = midi if isinstance(midi, Score) else Score.from_midi(bytes(midi))
        neighbors = clap_neighbors(clap, midi if isinstance(midi, bytes) else score.dumps_midi()) if clap else []
        index, about, version, stale = self._current()
        bar = _bar_ticks(score)
        first_bar = 1
        if bars is not None:
            first_bar = bars[0]
            score = score.clip((bars[0] - 1) * bar, bars[1] * bar).shift_time(-(bars[0] - 1) * bar)
        lines = sim.lines(score, tracks)
        toks = [sim.tokens(ln.start, ln.pitch) for ln in lines]
        matches = index.query(toks, top=3)
        hit = sim.verdict(matches)
        n_shingles = int(sum(sim.shingles(t).size for t in toks))
        out = []
        for m in matches:
            src, url, title, lic = about.get(m.piece, ("", "", None, ""))
            ln = lines[m.line]
            notes = ln.start[m.first + 1:m.last + 3]  # token j reads notes j .. j + 2
            out.append(LakeMatch(sha256=m.piece, source=src, url=url, title=title, license=lic,
                                 containment=round(min(m.share, 1.0), 4), shared=m.shared, score=round(m.score, 1),
                                 line=ln.label,
                                 bars=sorted({int(t // max(bar, 1)) + first_bar for t in notes})))
        checked = len([t for t in toks if t.size >= sim.MIN_TOKENS])
        if version is None:
            line = "no lake melody index yet (musiclake lake melody-index): nothing to compare with"
        elif not checked:
            line = f"too short to judge (no line of {sim.MIN_TOKENS + 2} notes or more)"
        elif hit is not None:
            top = out[0]
            line = (f"near-copy of lake piece {top.title or top.url} ({top.source}, {top.license}): the {top.line} "
                    f"line, bars {_span(top.bars)}, aligns with it at {top.score:.0f} bits "
                    f"({100 * top.containment:.0f} % of its own)")
        else:
            line = "no near-copy in the lake"
        if stale and version is not None:
            line += f" ({stale} lake pieces indexed by an older scheme are left out: musiclake lake melody-index)"
        return Similarity(near_copy=hit is not None, verdict=line, matches=out if hit is not None else out[:1],
                          shingles=n_shingles, lines=checked, threshold=sim.MATCH_SCORE,
                          index_pieces=len(index.ids), index_version=version, clap_neighbors=neighbors)


def clap_neighbors(clap, midi: bytes, k: int = 3) -> list[ClapNeighbor]:
    """The ``k`` lake pieces nearest to the file in ``clap``'s embedding (none where the version has no lake
    embeddings yet or the file cannot be embedded: they are informational)."""
    try:
        return [ClapNeighbor(sha256=n.sha256, score=round(n.score, 4), title=n.title, url=n.url)
                for n in clap.nearest(midi, k=k)]
    except Exception:  # noqa: BLE001 - NoEmbeddings, a file the encoder refuses: no neighbours, the verdict stands
        return []


def _bar_ticks(score: Score) -> int:
    ts = score.time_signatures[0] if len(score.time_signatures) else None
    return int(score.ticks_per_quarter * 4 * (ts.numerator / ts.denominator if ts else 1))


def _span(bars: list[int]) -> str:
    return f"{bars[0]}-{bars[-1]}" if bars else "-"


def new_tracks(midi: bytes | Score, upload_names: tuple[str, ...] = ("melody",)) -> list[int]:
    """The tracks of a piece that are not the upload's: every track but those named after the roles the user
    gave (``melody``, and its doublings ``melody:2`` ...; generate, harmonize and transfer name tracks by role)."""
    score = midi if isinstance(midi, Score) else Score.from_midi(bytes(midi))
    return [i for i, t in enumerate(score.tracks) if str(t.name).strip().lower().split(":")[0] not in upload_names]


def screen_command(file: str, config: str | None = None, set_: list[str] | None = None, as_json: bool = False) -> None:
    """``musiclake screen FILE``: the screening verdict on a local MIDI file against the configured lake's line
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
    clap = None
    try:
        from training.clap.api import ClapModel

        clap = ClapModel.load(cfg, cfg.serve.clap_alias)
    except Exception:  # noqa: BLE001 - no CLAP version registered: the melodic verdict alone
        pass
    res = Screener(cfg).check(up.score, clap=clap)
    if as_json:
        typer.echo(json.dumps(res.model_dump()))
        return
    typer.echo(f"{file}: {res.verdict}")
    for m in res.matches:
        typer.echo(f"  {m.score:6.0f} bits ({m.containment:4.0%})  {m.line}  {m.title or '-'}  {m.url}  "
                   f"({m.source}, {m.license})" + (f"  bars {_span(m.bars)}" if m.bars else ""))
    for n in res.clap_neighbors:
        typer.echo(f"  CLAP {n.score:.4f}  {n.title or '-'}  {n.url or n.sha256}  (sounds alike; not a copy verdict)")


__all__ = ["RESEEDS", "Screener", "clap_neighbors", "new_tracks", "screen_command"]
