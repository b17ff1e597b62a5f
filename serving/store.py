"""Where generated pieces and uploaded MIDI files live: notes stored once by content, one record per request.

A piece's id is the first 20 hex digits of its MIDI's sha256, so the same notes are stored once and
an id says what it holds. Two requests that yield the same notes (different prompts can) each keep
their own record; neither overwrites the other::

    <pieces_dir>/<id>/piece.mid                      the notes
    <pieces_dir>/<id>/records/<time>_<request>.json  one serving.api.PieceRecord per request
    <pieces_dir>/<id>/piece.<fmt>                    each rendering, made on its first request
    <pieces_dir>/uploads/<id>/upload.mid             an uploaded MIDI file
    <pieces_dir>/uploads/<id>/records/<...>.json     who uploaded it, when

**Who reads what.** A record names the key that asked and that key's tenant. A key reads a piece,
its files and its records when one of the piece's records belongs to its tenant (a key without a
tenant is a tenant of its own); an admin key reads everything. To any other key the piece does not
exist (404, the same answer as for an id nobody made), so ids cannot be probed. Uploads follow the
same rule. A ``piece.json`` left by an older version (one record, no key) is read by admin keys only.

Every write goes to a temporary name first and is renamed into place, so a reader never sees half a
file and two replicas writing the same piece agree. Retention (:mod:`serving.retention`) deletes
through :meth:`PieceStore.remove`; a piece being rendered or served in this process is pinned.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Optional

from pydantic import ValidationError

from serving.api import PIECE_ID_CHARS, PieceInfo, PieceRecord

_ID = re.compile(PIECE_ID_CHARS)
_NOTES, _LEGACY = "piece.mid", "piece.json"
UPLOADS = "uploads"


class PieceNotFound(LookupError):
    """No stored piece or upload with that id (or none the caller may read)."""


@dataclass(frozen=True)
class Reader:
    """Who is reading or writing: a key's name, its tenant, and whether it reads everything."""

    key: str
    tenant: str
    admin: bool = False

    def may_read(self, tenant: str) -> bool:
        return self.admin or (bool(tenant) and tenant == self.tenant)


ADMIN = Reader(key="admin", tenant="", admin=True)  # the operator's own tools (pieces stats/prune)


def content_id(data: bytes) -> tuple[str, str]:
    """(id, sha256 hex) of a file's bytes."""
    sha = hashlib.sha256(data).hexdigest()
    return sha[:20], sha


def is_id(text: str) -> bool:
    return isinstance(text, str) and _ID.fullmatch(text) is not None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _write_atomic(path: Path, data: bytes) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(data)


def _record_name(created_at: str, request_id: str) -> str:
    stamp = re.sub(r"[^0-9]", "", created_at)[:17]
    return f"{stamp}_{re.sub(r'[^A-Za-z0-9]', '', request_id)[:32]}.json"


@dataclass
class Item:
    """One thing retention may remove: a rendering, a piece (notes + records) or an upload."""

    kind: str  # "render" | "piece" | "upload"
    id: str
    path: Path
    bytes: int
    at: float  # when it was last made or asked for (file modification time)
    owners: dict[str, str] = field(default_factory=dict)  # key name -> tenant, from the records


class PieceStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._pins: Counter = Counter()
        self._pins_lock = threading.Lock()

    # -- layout ---------------------------------------------------------------------------------
    def _folder(self, piece_id: str) -> Path:
        if not is_id(piece_id):
            raise PieceNotFound(f"no piece {piece_id!r} (ids are 20 hex digits)")
        return self.root / piece_id

    def _upload_folder(self, upload_id: str) -> Path:
        if not is_id(upload_id):
            raise PieceNotFound(f"no upload {upload_id!r} (ids are 20 hex digits)")
        return self.root / UPLOADS / upload_id

    @contextmanager
    def pin(self, piece_id: str) -> Iterator[None]:
        """While held, retention in this process leaves the piece (and its files) alone."""
        with self._pins_lock:
            self._pins[piece_id] += 1
        try:
            yield
        finally:
            with self._pins_lock:
                self._pins[piece_id] -= 1
                if self._pins[piece_id] <= 0:
                    del self._pins[piece_id]

    def pinned(self) -> set[str]:
        with self._pins_lock:
            return set(self._pins)

    # -- pieces ---------------------------------------------------------------------------------
    def save(self, midi: bytes, record: PieceRecord) -> int:
        """Store a piece's notes (once) and this request's record; the bytes written."""
        folder = self._folder(record.piece.id)
        if content_id(midi)[0] != record.piece.id:
            raise ValueError(f"piece id {record.piece.id} is not the MIDI's content id")
        written = 0
        if not (folder / _NOTES).exists():
            written += _write_atomic(folder / _NOTES, midi)
        else:
            os.utime(folder / _NOTES)  # asked for again: it is recent again
        path = folder / "records" / _record_name(record.created_at, record.request_id)
        return written + _write_atomic(path, record.model_dump_json(indent=1).encode())

    def _all_records(self, piece_id: str) -> list[PieceRecord]:
        folder = self._folder(piece_id)
        found = []
        for path in sorted((folder / "records").glob("*.json")):
            try:
                found.append(PieceRecord.model_validate_json(path.read_bytes()))
            except (OSError, ValidationError):
                continue  # removed by retention meanwhile, or damaged: the other records stand
        legacy = folder / _LEGACY
        if legacy.exists():
            try:
                info = PieceInfo.model_validate_json(legacy.read_bytes())
                found.insert(0, PieceRecord(request_id="legacy", key="", tenant="", created_at=info.created_at,
                                            piece=info))
            except (OSError, ValidationError):
                pass
        return found

    def records(self, piece_id: str, reader: Reader) -> list[PieceRecord]:
        """The piece's records ``reader`` may read, oldest first; :class:`PieceNotFound` when there are none."""
        visible = [r for r in self._all_records(piece_id) if reader.may_read(r.tenant)]
        if not visible or not (self._folder(piece_id) / _NOTES).exists():
            raise PieceNotFound(f"no piece {piece_id!r}")
        return visible

    def info(self, piece_id: str, reader: Reader) -> PieceInfo:
        """The piece as the newest request ``reader`` may read described it."""
        return self.records(piece_id, reader)[-1].piece

    def midi(self, piece_id: str) -> bytes:
        try:
            return (self._folder(piece_id) / _NOTES).read_bytes()
        except FileNotFoundError:
            raise PieceNotFound(f"no piece {piece_id!r}") from None

    def rendered(self, piece_id: str, fmt: str) -> Optional[Path]:
        """The path of the piece in ``fmt`` when it is stored already (the MIDI always is)."""
        path = self._folder(piece_id) / (_NOTES if fmt == "mid" else f"piece.{fmt}")
        return path if path.exists() else None

    def file(self, piece_id: str, fmt: str, render: Callable[[bytes, PieceInfo], bytes],
             reader: Reader) -> tuple[Path, int]:
        """The path of the piece in ``fmt`` and the bytes written to make it (0 when it was there)."""
        info = self.info(piece_id, reader)
        path = self.rendered(piece_id, fmt)
        if path is not None:
            return path, 0
        path = self._folder(piece_id) / f"piece.{fmt}"
        return path, _write_atomic(path, render(self.midi(piece_id), info))

    # -- uploads --------------------------------------------------------------------------------
    def save_upload(self, data: bytes, reader: Reader, request_id: str) -> tuple[str, str, int]:
        """(upload id, sha256, bytes written); the upload is stored once, each uploader keeps a record."""
        upload_id, sha = content_id(data)
        folder = self._upload_folder(upload_id)
        written = 0
        if not (folder / "upload.mid").exists():
            written += _write_atomic(folder / "upload.mid", data)
        created = _now()
        record = {"request_id": request_id, "key": reader.key, "tenant": reader.tenant, "created_at": created}
        written += _write_atomic(folder / "records" / _record_name(created, request_id), json.dumps(record).encode())
        return upload_id, sha, written

    def _upload_owners(self, folder: Path) -> dict[str, str]:
        owners = {}
        for path in (folder / "records").glob("*.json"):
            try:
                rec = json.loads(path.read_text())
                owners[str(rec["key"])] = str(rec["tenant"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return owners

    def upload(self, upload_id: str, reader: Reader) -> bytes:
        folder = self._upload_folder(upload_id)
        missing = PieceNotFound(f"no upload {upload_id!r}: POST the MIDI file to /v1/uploads first")
        if not any(reader.may_read(t) for t in self._upload_owners(folder).values()) and not reader.admin:
            raise missing
        try:
            return (folder / "upload.mid").read_bytes()
        except FileNotFoundError:
            raise missing from None

    # -- retention ------------------------------------------------------------------------------
    def scan(self) -> list[Item]:
        """Everything stored, as items retention can weigh and remove (sizes and times from the disk)."""
        items: list[Item] = []
        if not self.root.exists():
            return items
        for entry in os.scandir(self.root):
            if entry.is_dir() and is_id(entry.name):
                items.extend(self._scan_piece(Path(entry.path)))
        uploads = self.root / UPLOADS
        if uploads.exists():
            for entry in os.scandir(uploads):
                path = Path(entry.path)
                try:
                    if entry.is_dir() and is_id(entry.name):
                        size, at = tree_size(path)
                        items.append(Item("upload", entry.name, path, size, at, self._upload_owners(path)))
                    elif entry.name.endswith(".mid") and is_id(entry.name[:-4]):  # an older version's layout
                        st = entry.stat()
                        items.append(Item("upload", entry.name[:-4], path, st.st_size, st.st_mtime))
                except FileNotFoundError:
                    continue
        return items

    def _scan_piece(self, folder: Path) -> list[Item]:
        owners: dict[str, str] = {}
        items, size, at = [], 0, 0.0
        for entry in os.scandir(folder):
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            if entry.is_dir():
                if entry.name == "records":
                    rsize, rat = tree_size(Path(entry.path))
                    size, at = size + rsize, max(at, rat)
                continue
            if entry.name.startswith("piece.") and entry.name not in (_NOTES, _LEGACY):
                items.append(Item("render", folder.name, Path(entry.path), st.st_size, st.st_mtime))
            else:
                size, at = size + st.st_size, max(at, st.st_mtime)
        for record in self._all_records(folder.name):
            if record.key:
                owners[record.key] = record.tenant
        for item in items:
            item.owners = owners
        return [Item("piece", folder.name, folder, size, at, owners)] + items

    def remove(self, item: Item) -> int:
        """Delete a scanned item; the bytes freed (0 when it was gone already)."""
        try:
            if item.path.is_dir():
                shutil.rmtree(item.path, ignore_errors=True)
            else:
                item.path.unlink()
            return item.bytes
        except FileNotFoundError:
            return 0

    def drop_owner(self, item: Item, key: str) -> int:
        """Remove ``key``'s records from a shared piece or upload (the others keep it); the bytes freed."""
        freed = 0
        records = item.path / "records"
        for path in records.glob("*.json") if records.exists() else []:
            try:
                if json.loads(path.read_text()).get("key") == key:
                    size = path.stat().st_size
                    path.unlink()
                    freed += size
            except (OSError, ValueError):
                continue
        item.owners = {k: t for k, t in item.owners.items() if k != key}
        return freed


def tree_size(path: str | os.PathLike) -> tuple[int, float]:
    """(bytes, newest modification time) of every file under ``path``; files removed meanwhile are skipped."""
    size, at = 0, 0.0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.stat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            size, at = size + st.st_size, max(at, st.st_mtime)
    return size, at
