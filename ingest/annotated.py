"""Import of annotated sets: MIDI files with label files beside them (POP909 and sets laid out like it).

    musiclake ingest import ../shared/data/pop909 --source pop909

A set is a folder of song folders. A POP909 song folder ``NNN/`` holds ``NNN.mid`` (tracks
``MELODY``, ``BRIDGE``, ``PIANO``), ``beat_midi.txt`` (time, then two 0/1 flags: first beat of a
2-beat group, first beat of a 4-beat bar), ``chord_midi.txt`` (start, end, chord label) and
``key_audio.txt`` (start, end, key label). The MIDI lands exactly as :func:`ingest.importers.import_midi`
lands a file (same checks, same :class:`ingest.landing.Lander`, a ``bronze_urls`` row per place);
the labels become one ``bronze_annotations`` row keyed by the MIDI's sha256 and the source, with the
licence and run id every import row carries, and track roles read from the MIDI's track names.

A folder whose labels are missing or malformed gets one ``bronze_crawl_errors`` row (stage
``annotations``) naming each file and line at fault, its MIDI still lands, and the import goes on.
Labels are all or nothing per song: a piece carries either every label of its folder or none.
A re-run lands nothing twice; a song whose label files changed is updated in place.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pyarrow as pa

from common.progress import Progress
from common.runinfo import new_run_id
from ingest.importers import ImportOutcome, ImportReport, ImportSource, ImportTask, Member, _outcome, _read_capped
from ingest.landing import Lander, retry_commit
from lake.annotations import is_chord_label, key_of_label, main_key
from lake.delta import Lake
from lake.schemas import BRONZE_ANNOTATIONS, BRONZE_CRAWL_ERRORS, BRONZE_CRAWL_LOG, BRONZE_MIDI, BRONZE_URLS

LAND_EVERY_SONGS = 100
MAX_PROBLEMS = 3  # problems named in one folder's reason (the count says how many more)
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


class LabelError(ValueError):
    """A label file that cannot be read; the message names the file and the line."""


@dataclass
class Song:
    """One song folder as read: its MIDI file, its labels (None when a file is missing or malformed)."""

    item: str
    folder: Path
    midi: Path | None
    labels: dict | None = None
    labels_sha256: str | None = None
    problems: list[str] = field(default_factory=list)

    def reason(self) -> str:
        shown = "; ".join(self.problems[:MAX_PROBLEMS])
        more = len(self.problems) - MAX_PROBLEMS
        return f"{self.item}/: {shown}" + (f" (and {more} more)" if more > 0 else "")


@dataclass(frozen=True)
class AnnotatedSet:
    """A layout of labelled songs: how to read one song folder, and the licence the set ships under."""

    name: str
    license: str
    read_song: Callable[[Path], Song]
    roles: dict[str, str]  # track name (upper case) -> role


# -- reading label files ----------------------------------------------------------------------
def _fields(text: str, name: str, n: int) -> list[tuple[int, list[str]]]:
    lines = [(i, line.split()) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise LabelError(f"{name} is empty")
    for i, parts in lines:
        if len(parts) != n:
            raise LabelError(f"{name} line {i}: expected {n} fields, got {len(parts)}")
    return lines


def _float(value: str, name: str, line: int) -> float:
    if not _NUMBER.match(value):
        raise LabelError(f"{name} line {line}: {value[:40]!r} is not a number")
    return float(value)


def parse_beats(text: str, name: str = "beat_midi.txt") -> dict:
    """``time flag flag`` per line -> beat times, 2-beat group starts, bar starts (downbeats)."""
    beat_s, half, down = [], [], []
    for i, (t, a, b) in _fields(text, name, 3):
        when = _float(t, name, i)
        flags = []
        for v in (a, b):
            f = _float(v, name, i)
            if f not in (0.0, 1.0):
                raise LabelError(f"{name} line {i}: flag {v!r} is neither 0 nor 1")
            flags.append(f == 1.0)
        if beat_s and when <= beat_s[-1]:
            raise LabelError(f"{name} line {i}: beat at {when:g}s does not come after the one before ({beat_s[-1]:g}s)")
        beat_s.append(when)
        half.append(flags[0])
        down.append(flags[1])
    if not any(down):
        raise LabelError(f"{name}: no downbeat (third column never 1)")
    return {"beat_s": beat_s, "beat_half_bar": half, "beat_downbeat": down}


def parse_segments(text: str, name: str, check: Callable[[str], object]) -> tuple[list[float], list[float], list[str]]:
    """``start end label`` per line -> starts, ends, labels; ``check(label)`` raises ValueError for a bad label."""
    starts, ends, labels = [], [], []
    for i, (a, b, label) in _fields(text, name, 3):
        s, e = _float(a, name, i), _float(b, name, i)
        if e < s:
            raise LabelError(f"{name} line {i}: ends ({e:g}s) before it starts ({s:g}s)")
        try:
            check(label)
        except ValueError as err:
            raise LabelError(f"{name} line {i}: {err}") from None
        starts.append(s)
        ends.append(e)
        labels.append(label)
    return starts, ends, labels


def _chord_check(label: str) -> None:
    if not is_chord_label(label):
        raise ValueError(f"not a chord label {label[:40]!r}: expected root:quality[/bass] or N, e.g. G:maj/3")


POP909_FILES = ("beat_midi.txt", "chord_midi.txt", "key_audio.txt")


def read_pop909_song(folder: Path) -> Song:
    """The MIDI path and the parsed labels of one POP909 song folder (problems listed, never raised)."""
    item = folder.name
    mids = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".mid", ".midi"))
    named = [p for p in mids if p.stem == item]
    midi = named[0] if named else (mids[0] if len(mids) == 1 else None)
    song = Song(item, folder, midi)
    if midi is None:
        song.problems.append(f"no {item}.mid" if not mids else f"{len(mids)} MIDI files and none named {item}.mid")
    texts: dict[str, str] = {}
    digest = hashlib.sha256()
    for name in POP909_FILES:
        path = folder / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            song.problems.append(f"missing {name}")
            continue
        except OSError as e:
            song.problems.append(f"{name} unreadable: {e.strerror or e}")
            continue
        digest.update(name.encode() + b"\0" + data + b"\0")
        try:
            texts[name] = data.decode("utf-8")
        except UnicodeDecodeError:
            song.problems.append(f"{name} is not text (UTF-8)")
    labels: dict = {}
    for name, parse in (("beat_midi.txt", lambda t: parse_beats(t)),
                        ("chord_midi.txt", lambda t: dict(zip(("chord_start_s", "chord_end_s", "chord_labels"),
                                                              parse_segments(t, "chord_midi.txt", _chord_check)))),
                        ("key_audio.txt", lambda t: dict(zip(("key_start_s", "key_end_s", "key_labels"),
                                                             parse_segments(t, "key_audio.txt", key_of_label))))):
        if name in texts:
            try:
                labels.update(parse(texts[name]))
            except LabelError as e:
                song.problems.append(str(e))
    if not song.problems:
        labels["key_name"] = main_key(labels["key_start_s"], labels["key_end_s"], labels["key_labels"])
        song.labels, song.labels_sha256 = labels, digest.hexdigest()
    return song


ANNOTATED_SETS: dict[str, AnnotatedSet] = {
    "pop909": AnnotatedSet("pop909", "MIT", read_pop909_song,
                           roles={"MELODY": "melody", "BRIDGE": "bridge", "PIANO": "accompaniment"}),
}


def annotated_set(name: str) -> AnnotatedSet:
    try:
        return ANNOTATED_SETS[name]
    except KeyError:
        raise ValueError(f"no annotated set layout named {name!r}; known: {', '.join(ANNOTATED_SETS)}") from None


def song_folders(path: Path) -> list[Path]:
    """The song folders under ``path`` (sorted), or ``path`` itself when it is one song's folder."""
    if not path.is_dir():
        raise ValueError(f"{path}: an annotated set is imported from a folder of song folders (or one song folder)")
    if any(p.is_file() and p.suffix.lower() in (".mid", ".midi") for p in path.iterdir()):
        return [path]
    return sorted((p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def track_roles(names: list[str], roles: dict[str, str]) -> list[str]:
    return [roles.get(n.strip().upper(), "other") for n in names]


def _tracks(data: bytes) -> tuple[list[int], list[str]]:
    from symusic import Score

    score = Score.from_midi(data)
    return list(range(len(score.tracks))), [str(t.name) for t in score.tracks]


# -- landing ----------------------------------------------------------------------------------
def import_annotated(lake: Lake, path: str | Path, source: ImportSource, layout: AnnotatedSet,
                     run_id: str | None = None, max_bytes: int = 8 * 1024 * 1024, check: str = "parse",
                     every_songs: int = LAND_EVERY_SONGS, progress: bool = True) -> ImportReport:
    """Land every song folder of an annotated set: its MIDI in bronze, its labels in ``bronze_annotations``."""
    t0 = time.monotonic()
    path = Path(path).resolve()
    folders = song_folders(path)
    report = ImportReport(source.name, run_id or new_run_id("import"), str(path))
    lander = Lander(lake, source, report.run_id, every_rows=10 * every_songs)
    lander.metadata["job"] = f"import:{layout.name}"
    have = lake.read(BRONZE_ANNOTATIONS, columns=["sha256", "labels_sha256"], filters=[("source", "=", source.name)])
    held = dict(zip(have.column("sha256").to_pylist(), have.column("labels_sha256").to_pylist()))
    pending: dict[str, dict] = {}
    line = Progress(f"import {source.name}", total=len(folders), unit="songs") if progress else None

    def land() -> None:
        lander.flush()  # the MIDI rows first: a label row never names a file the lake does not hold
        if pending:
            rows = pa.Table.from_pylist(list(pending.values()), schema=BRONZE_ANNOTATIONS.schema)
            retry_commit(lambda: lake.upsert(BRONZE_ANNOTATIONS, rows, metadata=lander.metadata))
            pending.clear()

    try:
        for n, folder in enumerate(folders, start=1):
            song = layout.read_song(folder)
            counts = {"landed": 0, "duplicates": 0, "errors": 0, "labelled": 0, "label_errors": 0}
            folder_uri = folder.as_uri() + "/"
            outcome = None
            if song.midi is not None:
                try:
                    with open(song.midi, "rb") as f:
                        data, problem = _read_capped(f, max_bytes)
                except OSError as e:
                    data, problem = None, f"unreadable: {e.strerror or e}"
                member = Member(song.midi.as_uri(), f"{song.item}/{song.midi.name}", data, problem)
                out = _outcome(member, path.as_uri(), check)
                outcome = lander.add(out)
                report.seen += 1
                counts["landed" if outcome == "landed" else "duplicates" if outcome == "duplicate" else "errors"] += 1
            label_task = ImportTask("annotations", folder_uri, referrer=path.as_uri(), title=song.item)
            if song.problems or outcome not in ("landed", "duplicate"):
                if not song.problems:
                    song.problems.append(f"labels not landed: {song.midi.name} did not land")
                lander.add(ImportOutcome(label_task, datetime.now(timezone.utc), error_stage="annotations",
                                         reason=song.reason()[:500]))
                report.annotation_errors += 1
                counts["label_errors"] += 1
            else:
                sha = out.sha256
                if held.get(sha) == song.labels_sha256:
                    lander.note(label_task, "duplicate", f"labels already in {BRONZE_ANNOTATIONS.name}", sha256=sha)
                    report.annotations_unchanged += 1
                else:
                    names_index, names = _tracks(out.body)
                    pending[sha] = dict(song.labels, sha256=sha, md5=out.md5, source=source.name, format=layout.name,
                                        item=song.item, origin=folder_uri, labels_sha256=song.labels_sha256,
                                        track_index=names_index, track_names=names,
                                        track_roles=track_roles(names, layout.roles), license=source.license,
                                        ingested_at=datetime.now(timezone.utc), ingest_run_id=report.run_id)
                    held[sha] = song.labels_sha256
                    lander.note(label_task, "landed", None, sha256=sha)
                    report.annotations_landed += 1
                counts["labelled"] += 1
            if line is not None:
                line.advance(1, **counts)
            if n % every_songs == 0:
                land()
        land()
    finally:
        if line is not None:
            line.close()
    report.landed, report.duplicates = lander.landed["midi"], lander.duplicates["midi"]
    report.errors, report.bytes_landed = lander.errors - report.annotation_errors, lander.bytes_landed
    for spec in (BRONZE_MIDI, BRONZE_ANNOTATIONS, BRONZE_URLS, BRONZE_CRAWL_LOG, BRONZE_CRAWL_ERRORS):
        info = lake.info(spec)
        report.table_versions[spec.name] = info.version
        report.table_rows[spec.name] = info.rows
    report.elapsed_s = time.monotonic() - t0
    return report
