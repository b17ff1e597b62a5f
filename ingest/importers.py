"""Bulk import of MIDI collections and caption sets on the crawler's landing path.

* :func:`import_midi` takes a folder, a tar archive (``.tar``, ``.tar.gz``/``.tgz``, ``.tar.bz2``,
  ``.tar.xz``) or a ``.zip`` of MIDI files. Archives are streamed member by member (tar in
  ``r|*`` mode, zip member by member from its central directory), never unpacked to disk; the
  Lakh MIDI Dataset's ``lmd_full.tar.gz`` (``lmd_full/<x>/<md5>.mid``) is one such tar. Every
  member goes through the same checks as a crawled file (:func:`ingest.fetch.midi_problem`) and
  the same :class:`ingest.landing.Lander`, so the same bytes are stored once however many
  archives and sites hold them, every place is a ``bronze_urls`` row (``file:///...``,
  ``tar:///archive!/member``, ``zip:///archive!/member``), and a re-run lands nothing twice.
* :func:`import_captions` takes MidiCaps-style JSON lines (``{"location": "lmd_full/1/<md5>.mid",
  "caption": "...", ...}``) into ``bronze_captions``, joined to files by MD5: the ``md5`` field
  if present, else the 32-hex stem of ``location``. Lines that cannot be read are crawl errors.

Bad members and lines never stop an import: each becomes one ``bronze_crawl_errors`` row with the
reason, and a ``bronze_crawl_log`` row, and the import goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pyarrow as pa

from ingest.fetch import midi_problem
from ingest.landing import LAND_EVERY_BYTES, Lander, retry_commit
from lake.delta import Lake
from lake.schemas import BRONZE_CAPTIONS, BRONZE_CRAWL_ERRORS, BRONZE_CRAWL_LOG, BRONZE_MIDI, BRONZE_URLS
from common.progress import Progress
from common.runinfo import new_run_id

MIDI_SUFFIXES = (".mid", ".midi", ".kar", ".smf", ".rmi")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
MD5_RE = re.compile(r"^[0-9a-f]{32}$")
CAPTION_FIELDS = ("caption", "text", "description")
LOCATION_FIELDS = ("location", "path", "file", "filename")
CAPTION_BATCH = 5000


@dataclass(frozen=True)
class ImportSource:
    """What the lander needs to know of an import's source: its name and the licence its rows carry."""

    name: str
    license: str = "unknown"


@dataclass(frozen=True)
class ImportTask:
    kind: str
    url: str
    referrer: str | None = None
    title: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportOutcome:
    """One archive member or file, shaped like a fetch outcome so the lander treats both alike."""

    task: ImportTask
    fetched_at: datetime
    size: int | None = None
    body: bytes | None = None
    sha256: str | None = None
    md5: str | None = None
    error_stage: str | None = None
    reason: str | None = None
    http_status: int | None = None
    content_type: str | None = None
    lyrics: None = None

    @property
    def ok(self) -> bool:
        return self.error_stage is None


@dataclass
class Member:
    url: str  # file:///..., tar:///archive!/member, zip:///archive!/member
    name: str  # the path inside the folder or archive
    data: bytes | None  # None when it could not be read (see ``problem``)
    problem: str | None = None


@dataclass
class ImportReport:
    source: str
    run_id: str
    path: str
    seen: int = 0
    landed: int = 0
    duplicates: int = 0
    errors: int = 0
    ignored: int = 0  # not MIDI by name (README, .json, directories, links)
    bytes_landed: int = 0
    captions_landed: int = 0
    captions_matched: int = 0
    caption_errors: int = 0
    annotations_landed: int = 0  # songs of an annotated set whose labels were written (new or changed)
    annotations_unchanged: int = 0
    annotation_errors: int = 0  # song folders whose labels are missing or malformed
    elapsed_s: float = 0.0
    table_versions: dict[str, int] = field(default_factory=dict)
    table_rows: dict[str, int] = field(default_factory=dict)  # filled where the import counts them

    def summary(self) -> str:
        versions = ", ".join(f"{name}@v{v}" for name, v in self.table_versions.items())
        text = (f"import {self.source} ({self.run_id}) from {self.path}: {self.seen} MIDI members, {self.landed} landed "
                f"({self.bytes_landed / 1e6:.2f} MB), {self.duplicates} already present, {self.errors} errors, "
                f"{self.ignored} other members ignored in {self.elapsed_s:.1f}s "
                f"({self.seen / max(self.elapsed_s, 1e-9):.0f} files/s)")
        if self.captions_landed or self.caption_errors:
            text += (f"\n  captions: {self.captions_landed} new or changed ({self.captions_matched} matched to files), "
                     f"{self.caption_errors} bad lines")
        if self.annotations_landed or self.annotations_unchanged or self.annotation_errors:
            text += (f"\n  labels: {self.annotations_landed} songs landed, {self.annotations_unchanged} unchanged, "
                     f"{self.annotation_errors} song folders with missing or malformed labels "
                     f"(reasons: musiclake ingest log --run {self.run_id})")
        if self.table_rows:
            rows = "".join(f"\n    {name:<22} v{self.table_versions.get(name, '?'):<5} {n:>9} rows"
                           for name, n in self.table_rows.items())
            return text + "\n  tables:" + rows
        return text + f"\n  tables: {versions}"


# -- reading folders and archives, streamed -------------------------------------------------------
def _is_midi_name(name: str) -> bool:
    return name.lower().endswith(MIDI_SUFFIXES)


def _read_capped(f, cap: int) -> tuple[bytes | None, str | None]:
    data = f.read(cap + 1)
    if len(data) > cap:
        return None, f"too large: more than {cap} bytes (import_max_file_bytes)"
    return data, None


def archive_kind(path: Path) -> str:
    name = path.name.lower()
    if path.is_dir():
        return "folder"
    if name.endswith(TAR_SUFFIXES):
        return "tar"
    if name.endswith(".zip"):
        return "zip"
    if _is_midi_name(name):
        return "file"
    raise ValueError(f"{path}: not a folder, a MIDI file, a tar archive ({', '.join(TAR_SUFFIXES)}) or a .zip")


def iter_members(path: str | Path, max_bytes: int, ignored: list[str] | None = None) -> Iterator[Member]:
    """Every MIDI-named file of a folder or archive, in archive order, read one at a time."""
    path = Path(path).resolve()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    kind = archive_kind(path)
    ignored = ignored if ignored is not None else []
    if kind in ("folder", "file"):
        for p in [path] if kind == "file" else _walk(path):
            rel = p.name if kind == "file" else str(p.relative_to(path))
            if not _is_midi_name(p.name) or p.is_symlink():
                ignored.append(rel)
                continue
            try:
                with open(p, "rb") as f:
                    data, problem = _read_capped(f, max_bytes)
            except OSError as e:
                data, problem = None, f"unreadable: {e.strerror or e}"
            yield Member(p.as_uri(), rel, data, problem)
    elif kind == "tar":
        prefix = f"tar://{path}!/"
        try:
            with tarfile.open(path, mode="r|*") as tar:
                for m in tar:
                    if not m.isfile() or not _is_midi_name(m.name):
                        ignored.append(m.name)
                        continue
                    url = prefix + m.name.lstrip("/")
                    if m.size > max_bytes:
                        yield Member(url, m.name, None, f"too large: {m.size} bytes > {max_bytes} (import_max_file_bytes)")
                        continue
                    f = tar.extractfile(m)
                    data = f.read() if f is not None else None
                    yield Member(url, m.name, data, None if data is not None else "unreadable tar member")
        except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
            yield Member(f"tar://{path}!/", "", None, f"archive broken after the members above: {type(e).__name__}: {e}")
    else:
        prefix = f"zip://{path}!/"
        try:
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    if info.is_dir() or not _is_midi_name(info.filename):
                        ignored.append(info.filename)
                        continue
                    url = prefix + info.filename.lstrip("/")
                    if info.file_size > max_bytes:
                        yield Member(url, info.filename, None,
                                     f"too large: {info.file_size} bytes > {max_bytes} (import_max_file_bytes)")
                        continue
                    try:
                        with zf.open(info) as f:  # the declared size may lie: read at most the cap
                            data, problem = _read_capped(f, max_bytes)
                    except (zipfile.BadZipFile, OSError, NotImplementedError, zlib.error, EOFError) as e:
                        data, problem = None, f"unreadable zip member: {type(e).__name__}: {e}"
                    yield Member(url, info.filename, data, problem)
        except zipfile.BadZipFile as e:
            yield Member(prefix, "", None, f"not a readable zip archive: {e}")


def _walk(root: Path) -> Iterator[Path]:
    """Files under ``root`` in a stable order (sorted names, depth first)."""
    for d, dirs, names in os.walk(root):
        dirs.sort()
        for n in sorted(names):
            yield Path(d) / n


def _title(name: str) -> str | None:
    stem = Path(name).stem
    return None if MD5_RE.match(stem.lower()) else stem  # Lakh names files by their md5: no title there


def _outcome(member: Member, archive_uri: str, check: str) -> ImportOutcome:
    task = ImportTask("midi", member.url, referrer=archive_uri, title=_title(member.name) if member.name else None,
                      attrs={"member": member.name} if member.name else {})
    out = ImportOutcome(task, datetime.now(timezone.utc))
    if member.problem is not None:
        out.error_stage, out.reason = "read", member.problem
        return out
    data = member.data
    out.size = len(data)
    problem = midi_problem(data, parse=check == "parse")
    if problem is not None:
        out.error_stage, out.reason = "validate", problem
        return out
    out.body, out.sha256, out.md5 = data, hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
    return out


def import_midi(lake: Lake, path: str | Path, source: ImportSource, run_id: str | None = None,
                max_bytes: int = 8 * 1024 * 1024, check: str = "parse", every_rows: int = 500,
                progress: bool = True) -> ImportReport:
    """Land every MIDI file of a folder or archive in bronze (see the module doc); returns the counts."""
    t0 = time.monotonic()
    path = Path(path).resolve()
    report = ImportReport(source.name, run_id or new_run_id("import"), str(path))
    lander = Lander(lake, source, report.run_id, every_rows=every_rows, every_bytes=LAND_EVERY_BYTES)
    lander.metadata["job"] = "import"
    ignored: list[str] = []
    line = Progress(f"import {source.name}", unit="files") if progress else None
    try:
        for member in iter_members(path, max_bytes, ignored):
            outcome = lander.add(_outcome(member, path.as_uri(), check))
            report.seen += 1
            if line is not None:
                line.advance(1, landed=int(outcome == "landed"), duplicates=int(outcome == "duplicate"),
                             errors=int(outcome == "error"), bytes=member.data and len(member.data) or 0)
        lander.flush()
    finally:
        if line is not None:
            line.close()
    report.landed, report.duplicates = lander.landed["midi"], lander.duplicates["midi"]
    report.errors, report.bytes_landed, report.ignored = lander.errors, lander.bytes_landed, len(ignored)
    report.table_versions = {s.name: lake.version(s) for s in (BRONZE_MIDI, BRONZE_URLS, BRONZE_CRAWL_LOG,
                                                               BRONZE_CRAWL_ERRORS)}
    report.elapsed_s = time.monotonic() - t0
    return report


# -- captions ---------------------------------------------------------------------------------------
def caption_md5(record: dict) -> tuple[str | None, str | None]:
    """The MD5 a caption line names (its ``md5`` field, else the md5 stem of its location) and the location."""
    location = next((record[k] for k in LOCATION_FIELDS if isinstance(record.get(k), str)), None)
    md5 = record.get("md5")
    if not isinstance(md5, str) and location:
        md5 = Path(location).stem
    md5 = md5.strip().lower() if isinstance(md5, str) else None
    return (md5 if md5 and MD5_RE.match(md5) else None), location


def _caption_row(record, source: ImportSource, origin: str, line_no: int, run_id: str, now: datetime) -> dict:
    if not isinstance(record, dict):
        raise ValueError(f"a JSON object was expected, got {type(record).__name__}")
    md5, location = caption_md5(record)
    if md5 is None:
        raise ValueError(f"no md5: neither an 'md5' field nor a {'/'.join(LOCATION_FIELDS)} named <md5>.mid")
    used = next((k for k in CAPTION_FIELDS if isinstance(record.get(k), str) and record[k].strip()), None)
    if used is None:
        raise ValueError(f"no caption text in any of {', '.join(CAPTION_FIELDS)}")
    rest = {k: v for k, v in record.items() if k not in ("md5", used, *LOCATION_FIELDS)}
    return {"source": source.name, "md5": md5, "sha256": None, "caption": record[used].strip(), "location": location,
            "metadata_json": json.dumps(rest, sort_keys=True, ensure_ascii=False), "license": source.license,
            "origin": origin, "line_no": line_no, "ingested_at": now, "ingest_run_id": run_id}


def import_captions(lake: Lake, path: str | Path, source: ImportSource, run_id: str | None = None,
                    report: ImportReport | None = None, progress: bool = True) -> ImportReport:
    """Land a caption JSONL file in ``bronze_captions`` keyed by (source, md5); see the module doc.

    A caption that is new, or whose text or metadata changed, is written (a MERGE that updates the
    row; the old text stays in the table's history); an unchanged one adds nothing. ``sha256`` is
    filled from ``bronze_midi_files`` by md5, and filled in later imports once the file arrives.
    """
    t0 = time.monotonic()
    path = Path(path).resolve()
    origin = path.as_uri()
    report = report or ImportReport(source.name, run_id or new_run_id("import"), str(path))
    run_id = report.run_id
    files = lake.read(BRONZE_MIDI, columns=["md5", "sha256"])
    sha_of = dict(zip(files.column("md5").to_pylist(), files.column("sha256").to_pylist()))
    have = lake.read(BRONZE_CAPTIONS, columns=["md5", "sha256", "caption", "metadata_json", "location"],
                     filters=[("source", "=", source.name)])
    current = {r["md5"]: r for r in have.to_pylist()}
    lander = Lander(lake, source, run_id, known_midi=set(), known_lyrics=set())
    lander.metadata["job"] = "import-captions"
    now = datetime.now(timezone.utc)
    rows: dict[str, dict] = {}
    line = Progress(f"captions {source.name}", unit="lines") if progress else None

    def land() -> None:
        if rows:
            data = pa.Table.from_pylist(list(rows.values()), schema=BRONZE_CAPTIONS.schema)
            retry_commit(lambda: lake.upsert(BRONZE_CAPTIONS, data, metadata=lander.metadata))
            report.captions_landed += len(rows)
            rows.clear()

    try:
        with open(path, "rb") as f:
            for line_no, raw in enumerate(f, start=1):
                if not raw.strip():
                    continue
                task = ImportTask("captions", f"{origin}#L{line_no}", referrer=origin)
                try:
                    row = _caption_row(json.loads(raw), source, origin, line_no, run_id, now)
                except json.JSONDecodeError as e:
                    reason = f"line {line_no}: not JSON: {e.msg} at column {e.colno}"
                except ValueError as e:  # no md5, no caption, not an object, not UTF-8
                    reason = f"line {line_no}: {e}"
                else:
                    reason = None
                if reason is not None:
                    lander.add(ImportOutcome(task, now, size=len(raw), error_stage="captions", reason=reason[:300]))
                    report.caption_errors += 1
                    if line is not None:
                        line.advance(1, errors=1)
                    continue
                row["sha256"] = sha_of.get(row["md5"])
                report.captions_matched += row["sha256"] is not None
                old = current.get(row["md5"])
                if old is None or any(old[k] != row[k] for k in ("sha256", "caption", "metadata_json", "location")):
                    rows[row["md5"]] = row
                    current[row["md5"]] = row
                if len(rows) >= CAPTION_BATCH:
                    land()
                if line is not None:
                    line.advance(1, matched=int(row["sha256"] is not None))
        land()
        lander.flush()
    finally:
        if line is not None:
            line.close()
    report.table_versions[BRONZE_CAPTIONS.name] = lake.version(BRONZE_CAPTIONS)
    report.elapsed_s += time.monotonic() - t0
    return report
