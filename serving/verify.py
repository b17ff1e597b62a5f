"""Is this MIDI file ours? The watermark's verdict, and the stored piece it came from when the store has it.

A file is checked on the lake's guarded path (:func:`lake.midi_features.check_midi_bytes`,
``parse_midi``, ``check_score``: a hostile file is a :class:`MidiError`), then read by
:func:`training.watermark.detect` under the deployment's key.

**Which piece.** The store keys pieces by the sha256 of their bytes, which any edit changes, so a
file is matched by its notes instead: the distinct interval triples of its lines
(:func:`training.watermark.triples`, blind to transposition, tempo, quantization and re-saving).
The stored piece holding the largest share of the file's triples is its source when that share is at
least :data:`MATCH_SHARE` (a cut, a dropped track or a few changed notes keep most of them; another
piece of ours shares few). Each stored piece's triples are read once and kept per process (keyed by
the piece's id: ids are content hashes, so a kept entry never goes stale). Only pieces the caller may
read are named (:class:`serving.store.Reader`), as everywhere else in the store.
"""

from __future__ import annotations

import threading
from pathlib import Path

from lake.midi_features import Limits, check_midi_bytes, check_score, parse_midi, time_limit
from serving.api import VerifyResponse
from serving.store import PieceNotFound, PieceStore, Reader, is_id
from training import watermark as wm

MATCH_SHARE = 0.5  # share of the file's interval triples a stored piece must hold to be named its source
_NOTES = "piece.mid"


class PieceIndex:
    """The interval triples of every stored piece, read lazily and kept (see the module doc)."""

    def __init__(self, store: PieceStore):
        self.store = store
        self._triples: dict[str, frozenset] = {}
        self._lock = threading.Lock()

    def _of(self, piece_id: str, path: Path) -> frozenset:
        with self._lock:
            got = self._triples.get(piece_id)
        if got is None:
            try:
                got = frozenset(wm.triples(wm.lines(path.read_bytes())))
            except (OSError, RuntimeError, ValueError):
                got = frozenset()
            with self._lock:
                self._triples[piece_id] = got
        return got

    def best(self, found: set, reader: Reader) -> tuple[str | None, float]:
        """(id, share of ``found`` it holds) of the readable stored piece holding most of ``found``."""
        if not found or not self.store.root.exists():
            return None, 0.0
        ranked = []
        for folder in self.store.root.iterdir():
            if not is_id(folder.name) or not (folder / _NOTES).exists():
                continue
            share = len(found & self._of(folder.name, folder / _NOTES)) / len(found)
            if share >= MATCH_SHARE:
                ranked.append((share, folder.name))
        for share, piece_id in sorted(ranked, reverse=True):
            try:
                self.store.records(piece_id, reader)
            except PieceNotFound:
                continue  # not this caller's to see
            return piece_id, share
        return None, 0.0


def verify(data: bytes, limits: Limits, index: PieceIndex | None, reader: Reader) -> VerifyResponse:
    """The verdict on an uploaded file; :class:`lake.midi_features.MidiError` when it is not a usable MIDI
    file, :class:`training.watermark.WatermarkKeyError` when this deployment marks nothing or its key cannot be read."""
    key = wm.active_key()
    if key is None:
        if wm.key_failure():
            raise wm.WatermarkKeyError("the watermark key cannot be read (the server log says why)")
        raise wm.WatermarkKeyError(f"the watermark is off here ({wm.ENV_SWITCH}=off): nothing to verify against")
    check_midi_bytes(data, max_bytes=limits.max_bytes, max_tracks=limits.max_tracks)
    with time_limit(limits.max_seconds, "verify"):
        score = parse_midi(data)
        check_score(score, limits)
        v, found = wm.read(score, key)
    piece_id, share = (index.best(found, reader) if index is not None else (None, 0.0))
    if v.n < wm.MIN_SCORED:
        verdict = f"too few notes to tell ({v.n} interval triples; {wm.MIN_SCORED} needed)"
    elif v.ours:
        verdict = "ours: the watermark is present"
    else:
        verdict = "not ours: no watermark found"
    if piece_id:
        verdict += f"; stored piece {piece_id} holds {100 * share:.0f} % of its notes' intervals"
    return VerifyResponse(ours=v.ours, confidence=round(v.confidence, 6), z=round(v.z, 3), p_value=v.p_value,
                          scored=v.n, green=v.green, threshold_z=wm.Z_OURS, piece_id=piece_id,
                          piece_share=round(share, 3) if piece_id else None, verdict=verdict)




def verify_command(file: str, config: str | None = None, set_: list[str] | None = None, as_json: bool = False) -> None:
    """``musiclake verify FILE``: the verdict on a local MIDI file under this deployment's key, and the piece
    in the configured store (``serve.pieces_dir``, read as the operator) it comes from. One line, exit 1, on
    a file that is not usable MIDI or a key that cannot be read."""
    import json

    import typer

    from common.cli_common import load_or_exit
    from lake.midi_features import MidiError
    from serving.store import ADMIN

    cfg = load_or_exit(config, set_)
    path = Path(file)
    try:
        data = path.read_bytes()
    except OSError as e:
        typer.echo(f"musiclake verify: cannot read {file}: {e.strerror or e}", err=True)
        raise typer.Exit(1) from None
    limits = Limits.from_config(cfg)
    try:
        res = verify(data, limits, PieceIndex(PieceStore(cfg.serve.pieces_dir)), ADMIN)
    except MidiError as e:
        typer.echo(f"musiclake verify: {file}: {e}", err=True)
        raise typer.Exit(1) from None
    except wm.WatermarkKeyError as e:
        typer.echo(f"musiclake verify: {e}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(res.model_dump()))
        return
    typer.echo(f"{file}: {res.verdict}")
    typer.echo(f"  z {res.z:.2f} (ours from {res.threshold_z:g}), confidence {res.confidence:.6f}, "
               f"{res.green} of {res.scored} interval triples green")


__all__ = ["MATCH_SHARE", "PieceIndex", "verify", "verify_command"]
