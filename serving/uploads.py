"""Uploaded MIDI or MusicXML: parsed on the lake's guarded path, and its melody laid on a piece's grid.

MusicXML (plain ``.musicxml``/``.xml``, or compressed ``.mxl``) is first checked for what could hurt a
parser (entity declarations, a zip that unpacks to more than the byte cap, more parts or notes than the
caps) and turned into a MIDI file by music21 (:func:`musicxml_to_midi`); from there it is a MIDI upload.
An upload goes through exactly the checks a crawled file gets before it reaches silver
(``lake.midi_features``: header and chunk bounds, size, track and note caps, absurd tempi, a
wall-clock limit), so a hostile file is a 422 with the lake's one-line reason, never a crash. The
melody is the non-drum track with the highest mean pitch, made one line (the highest note wins
where notes overlap) and quantised to the generator's 16th grid, bar by bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from symusic import Score

from lake.midi_features import Limits, MidiError, check_midi_bytes, check_score, parse_midi, time_limit
from training.request import STEPS_PER_QUARTER, Plan

Note = tuple[int, int, int, int, int]  # (bar, pos, pitch, dur, velocity), the sampler's ``given`` rows


@dataclass
class Upload:
    score: Score
    n_tracks: int
    n_notes: int
    duration_s: float
    melody: np.ndarray  # [n, 4]: onset tick, duration ticks, pitch, velocity; one line


def upload_format(data: bytes) -> str:
    """'mid', 'musicxml' or 'mxl' from the first bytes; :class:`MidiError` for anything else."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if data[:4] == b"MThd":
        return "mid"
    if data[:4] == b"PK\x03\x04":
        return "mxl"
    if head.startswith(b"<?xml") or head.startswith(b"<score-partwise") or head.startswith(b"<score-timewise") \
            or head.startswith(b"<!DOCTYPE score"):
        return "musicxml"
    raise MidiError("not a MIDI or MusicXML file (a MIDI file starts with MThd, MusicXML with <?xml or "
                    "<score-partwise, a compressed .mxl is a zip)", "not_midi")


def _mxl_inner(data: bytes, limits: Limits) -> bytes:
    """The score inside a compressed MusicXML file, after checking what it would unpack to."""
    import io
    import re
    import zipfile

    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        infos = z.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise MidiError("a damaged .mxl file (not a readable zip)", "not_midi") from None
    if len(infos) > 64 or sum(i.file_size for i in infos) > limits.max_bytes:
        raise MidiError(f"the .mxl file unpacks to more than {limits.max_bytes} bytes or 64 files", "too_large")
    names = [i.filename for i in infos]
    root = None
    if "META-INF/container.xml" in names:
        m = re.search(rb'full-path="([^"]+)"', z.read("META-INF/container.xml"))
        root = m.group(1).decode("utf-8", "replace") if m else None
    if root not in names:
        root = next((n for n in names if n.endswith((".musicxml", ".xml")) and not n.startswith("META-INF/")), None)
    if root is None:
        raise MidiError("the .mxl file holds no score", "empty")
    return z.read(root)


def musicxml_to_midi(data: bytes, limits: Limits, compressed: bool = False) -> bytes:
    """A MusicXML score as a MIDI file (music21 reads and writes it); :class:`MidiError` with one line when the
    file is hostile, over a cap or unreadable."""
    if compressed:
        data = _mxl_inner(data, limits)
    if len(data) > limits.max_bytes:
        raise MidiError(f"too large: {len(data)} bytes > cap of {limits.max_bytes}", "too_large")
    if b"<!ENTITY" in data:
        raise MidiError("MusicXML with entity declarations is refused", "not_midi")
    parts, notes = data.count(b"<score-part "), data.count(b"<note")
    if parts > limits.max_tracks:
        raise MidiError(f"too many tracks: {parts} parts > cap of {limits.max_tracks}", "too_many_tracks")
    if notes > limits.max_notes:
        raise MidiError(f"too many notes: {notes} > cap of {limits.max_notes}", "too_many_notes")
    try:
        from music21 import converter
        from music21.midi import translate

        score = converter.parseData(data.decode("utf-8", "replace"), format="musicxml")
        return translate.streamToMidiFile(score).writestr()
    except MidiError:
        raise
    except Exception as e:  # noqa: BLE001 - music21 raises many kinds on a broken score
        text = " ".join(str(e).split())[:120] or type(e).__name__
        raise MidiError(f"unreadable MusicXML: {text}", "not_midi") from None


def upload_midi(data: bytes, limits: Limits) -> tuple[bytes, str]:
    """(the upload as MIDI bytes, its format): MIDI as given, MusicXML converted (:func:`musicxml_to_midi`)."""
    try:
        fmt = upload_format(data)
    except MidiError:  # neither: the lake's own reason (empty, not MIDI, too large), saying MusicXML was tried too
        try:
            check_midi_bytes(data, max_bytes=limits.max_bytes, max_tracks=limits.max_tracks)
        except MidiError as lake:
            raise MidiError(f"{lake}; nor MusicXML", lake.reason) from None
        raise
    if fmt == "mid":
        return data, fmt
    with time_limit(limits.max_seconds, "upload"):
        return musicxml_to_midi(data, limits, compressed=fmt == "mxl"), fmt


def read_upload(data: bytes, limits: Limits) -> Upload:
    """Check and parse an uploaded MIDI file with the lake's limits; :class:`MidiError` says what is wrong
    (MusicXML goes through :func:`upload_midi` first)."""
    check_midi_bytes(data, max_bytes=limits.max_bytes, max_tracks=limits.max_tracks)
    with time_limit(limits.max_seconds, "upload"):
        score = parse_midi(data)
        check_score(score, limits)
        melody = _melody_line(score)
    from symusic import TimeUnit

    return Upload(score=score, n_tracks=len(score.tracks), n_notes=int(score.note_num()),
                  duration_s=float(score.to(TimeUnit.second).end()), melody=melody)


def _melody_line(score: Score) -> np.ndarray:
    best, best_mean = None, -1.0
    for track in score.tracks:
        if track.is_drum or track.note_num() == 0:
            continue
        notes = track.notes.numpy()
        mean = float(notes["pitch"].mean())
        if mean > best_mean:
            best, best_mean = notes, mean
    if best is None:
        raise MidiError("no melody: every track with notes is a drum track", "empty")
    order = np.lexsort((-best["pitch"].astype(np.int64), best["time"]))
    time, dur = best["time"][order].astype(np.int64), best["duration"][order].astype(np.int64)
    pitch, vel = best["pitch"][order].astype(np.int64), best["velocity"][order].astype(np.int64)
    keep = np.ones(len(time), dtype=bool)
    keep[1:] = time[1:] != time[:-1]  # the highest note of each onset
    time, dur, pitch, vel = time[keep], dur[keep], pitch[keep], vel[keep]
    if len(time) > 1:  # one line: a note ends where the next begins
        dur[:-1] = np.minimum(dur[:-1], time[1:] - time[:-1])
    return np.stack([time, np.maximum(dur, 1), pitch, vel], axis=1)


def melody_notes(upload: Upload, plan: Plan) -> list[Note]:
    """The upload's melody on ``plan``'s grid: 16th onsets and durations, inside the plan's bars."""
    tpq = int(upload.score.ticks_per_quarter)
    per_step = tpq / STEPS_PER_QUARTER
    bar_steps = plan.bar_steps
    out: list[Note] = []
    last = -1
    for onset, dur, pitch, vel in upload.melody.tolist():
        step = int(round(onset / per_step))
        if step <= last:  # two onsets on one 16th: the first (highest) stays
            continue
        bar, pos = divmod(step, bar_steps)
        if bar >= plan.request.bars:
            break
        length = max(1, min(int(round(dur / per_step)), bar_steps - pos))
        out.append((bar, pos, int(pitch), length, int(vel)))
        last = step
    if not out:
        raise MidiError(f"no melody notes in the first {plan.request.bars} bars", "empty")
    return out
