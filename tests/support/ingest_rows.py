"""Builders the ingest tests share: MIDI bodies, fetch outcomes, a Lakh-style archive, the test site's size."""

from __future__ import annotations

import hashlib
import io
import tarfile
from datetime import datetime, timezone

from symusic import Note, Score, Tempo, Track

from ingest.fetch import Outcome, Task
from common.config import SourceConfig

SITE_LIMIT = 10  # pieces in the score site the ingest tests build once per session
SOURCE = SourceConfig(name="site", seeds=["http://example.org/"], license="CC0")


def midi_bytes(i: int) -> bytes:
    """A small valid MIDI file, different for every ``i`` (program, pitches, tempo)."""
    score = Score(480)
    track = Track(program=i % 128, is_drum=False, name=f"t{i}")
    for k in range(6):
        track.notes.append(Note(time=k * 480, duration=400, pitch=40 + (i * 7 + k) % 60, velocity=70 + k))
    score.tracks.append(track)
    score.tempos.append(Tempo(time=0, qpm=60 + i % 120))
    return score.dumps_midi()


def ok(url: str, body: bytes, etag: str | None = None, last_modified: str | None = None) -> Outcome:
    """The outcome of a successful MIDI fetch of ``url``."""
    return Outcome(task=Task("midi", url, 1, referrer="http://example.org/"), fetched_at=datetime.now(timezone.utc),
                   http_status=200, content_type="audio/midi", size=len(body), body=body,
                   sha256=hashlib.sha256(body).hexdigest(), md5=hashlib.md5(body).hexdigest(), etag=etag,
                   last_modified=last_modified, final_url=url, elapsed_ms=3.0)


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def lakh_archive(path, bodies: list[bytes], extra: dict[str, bytes] | None = None):
    """``lmd_full/<first hex digit>/<md5>.mid`` members, as in the Lakh MIDI Dataset's lmd_full.tar.gz."""
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("lmd_full"))  # a directory-less header, as tar writers emit
        for name, data in [*((f"lmd_full/{md5(b)[0]}/{md5(b)}.mid", b) for b in bodies), *(extra or {}).items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path
