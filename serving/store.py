"""Where generated pieces and uploaded MIDI files live: one folder per piece, named by its content.

A piece's id is the first 20 hex digits of its MIDI's sha256, so the same notes are stored once
and an id says what it holds. ``<pieces_dir>/<id>/`` has ``piece.mid``, ``piece.json`` (the
:class:`serving.api.PieceInfo`: the request, the attributes, the seed, the model versions, the
run and the lake table versions they were trained on) and each rendering once it was asked for
(``piece.wav``, ``piece.musicxml``, ...): a format is rendered on its first request, not before,
so generating stays fast. Uploads go to ``<pieces_dir>/uploads/<id>.mid``.

Every write goes to a temporary name first and is renamed into place, so a reader never sees half
a file and two replicas writing the same piece agree (same bytes, same name).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Callable

from serving.api import PIECE_ID, PieceInfo

_ID = re.compile(PIECE_ID)


class PieceNotFound(LookupError):
    """No stored piece or upload with that id."""


def content_id(data: bytes) -> tuple[str, str]:
    """(id, sha256 hex) of a file's bytes."""
    sha = hashlib.sha256(data).hexdigest()
    return sha[:20], sha


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class PieceStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _folder(self, piece_id: str) -> Path:
        if not _ID.match(piece_id):
            raise PieceNotFound(f"no piece {piece_id!r} (ids are 20 hex digits)")
        return self.root / piece_id

    # -- pieces ---------------------------------------------------------------------------------
    def save(self, midi: bytes, info: PieceInfo) -> None:
        """Store a piece's MIDI and description under ``info.id`` (which must be ``content_id(midi)``)."""
        folder = self._folder(info.id)
        if content_id(midi)[0] != info.id:
            raise ValueError(f"piece id {info.id} is not the MIDI's content id")
        _write_atomic(folder / "piece.mid", midi)
        _write_atomic(folder / "piece.json", info.model_dump_json(indent=1).encode())

    def info(self, piece_id: str) -> PieceInfo:
        path = self._folder(piece_id) / "piece.json"
        try:
            return PieceInfo.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            raise PieceNotFound(f"no piece {piece_id!r}") from None

    def midi(self, piece_id: str) -> bytes:
        try:
            return (self._folder(piece_id) / "piece.mid").read_bytes()
        except FileNotFoundError:
            raise PieceNotFound(f"no piece {piece_id!r}") from None

    def file(self, piece_id: str, fmt: str, render: Callable[[bytes, PieceInfo], bytes]) -> Path:
        """The path of the piece in ``fmt``, rendered from its MIDI (and description) the first time."""
        folder = self._folder(piece_id)
        path = folder / f"piece.{fmt}"
        if path.exists():
            return path
        midi, info = self.midi(piece_id), self.info(piece_id)
        _write_atomic(path, render(midi, info))
        return path

    # -- uploads --------------------------------------------------------------------------------
    def save_upload(self, data: bytes) -> tuple[str, str]:
        upload_id, sha = content_id(data)
        path = self.root / "uploads" / f"{upload_id}.mid"
        if not path.exists():
            _write_atomic(path, data)
        return upload_id, sha

    def upload(self, upload_id: str) -> bytes:
        if not _ID.match(upload_id):
            raise PieceNotFound(f"no upload {upload_id!r} (ids are 20 hex digits)")
        try:
            return (self.root / "uploads" / f"{upload_id}.mid").read_bytes()
        except FileNotFoundError:
            raise PieceNotFound(f"no upload {upload_id!r}: POST the MIDI file to /v1/uploads first") from None
