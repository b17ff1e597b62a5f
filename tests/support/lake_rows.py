"""Bronze rows for the lake's job tests, and the sets of files they land.

- :func:`bronze_rows` turns ``{name: (content, style)}`` into ``bronze_midi`` rows as the crawler
  would write them (from :data:`SITE`, fetched at :data:`T0`, at :func:`midi_url`);
  :func:`lyrics_rows` turns ``[(page, text, piece, minutes)]`` into ``bronze_lyrics`` rows.
- The spine's files: :data:`GOOD` (three pieces from :mod:`tests.support.scores`), :data:`BAD`
  (cut between its tracks, not MIDI, empty, silent) and :data:`LYRICS` (two pages for one tune, one
  for none).
- The features jobs' files: :data:`DUPES` (one tune saved three ways, plus the band score),
  :data:`HOSTILE` (hours long, absurd tempo, 10,000 tracks declared) and :data:`LATE` (one new file
  for the incremental run; ``test_lake_jobs`` has a LATE of its own).
- :func:`silver_jobs`: the jobs that fill silver from bronze, in order.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta, timezone

import pyarrow as pa

from lake.schemas import BRONZE_LYRICS, BRONZE_MIDI
from tests.support.scores import (band_score, c_major_melody, chunk_ends, d_minor_duo, drums_and_piano, edited,
                                  make_score, tune)

SITE = "http://scores.test"
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)


def midi_url(name: str) -> str:
    return f"{SITE}/midi/{name}.mid"


def bronze_rows(files: dict[str, tuple[bytes, str | None]]) -> pa.Table:
    rows = []
    for name, (content, style) in files.items():
        rows.append(dict(sha256=hashlib.sha256(content).hexdigest(), md5=hashlib.md5(content).hexdigest(),
                         content=content, size=len(content), url=midi_url(name), referrer=f"{SITE}/index.html",
                         title=name.replace("-", " ").title(), attrs_json=json.dumps({"style": style} if style else {}),
                         source="test-site", license="cc0", http_status=200, content_type="audio/midi",
                         fetched_at=T0, ingest_run_id="ingest-test"))
    return pa.Table.from_pylist(rows, schema=BRONZE_MIDI.schema)


def lyrics_rows(pages: list[tuple[str, str, str | None, int]]) -> pa.Table:
    rows = [dict(url=f"{SITE}/lyrics/{page}.html", sha256=hashlib.sha256(text.encode()).hexdigest(), title=page,
                 lyrics=text, language="en", midi_url=midi_url(piece) if piece else None,
                 match_method="page_link" if piece else "none", source="test-site", license="cc0",
                 http_status=200, content_type="text/html", fetched_at=T0 + timedelta(minutes=minutes),
                 ingest_run_id="ingest-test")
            for page, text, piece, minutes in pages]
    return pa.Table.from_pylist(rows, schema=BRONZE_LYRICS.schema)


# -- the spine's files (test_lake_jobs) ------------------------------------------------------------

GOOD = {"c-major-melody": (c_major_melody(), "Classical"), "d-minor-duo": (d_minor_duo(), "folk"),
        "drums-and-piano": (drums_and_piano(), None)}
BAD = {"truncated": (d_minor_duo()[:chunk_ends(d_minor_duo())[0]], "folk"),  # cut between its two tracks
       "not-midi": (b"<html><body>404 Not Found</body></html>", None),
       "empty": (b"", None), "silent": (make_score([(0, False, [])], bpm=100).dumps_midi(), None)}
LYRICS = [("second-page", "A later page for the same tune", "c-major-melody", 30),
          ("first-page", "  Twinkle, twinkle, little star\nhow I wonder what you are  ", "c-major-melody", 10),
          ("orphan", "Words that link to no tune", None, 0)]

# -- the features jobs' files (test_lake_features_jobs) --------------------------------------------

TUNE = tune(7, 100)
DUPES = {
    "tune": (make_score([(0, False, TUNE)], bpm=96, meter=(4, 4)).dumps_midi(), "folk"),
    "tune-resaved": (make_score([(24, False, TUNE)], bpm=96, meter=(4, 4)).resample(960).dumps_midi(), "folk"),
    "tune-edited": (make_score([(0, False, [(a, b, p - 3) for a, b, p in edited(TUNE, 3, 2)])], bpm=120,
                               meter=(4, 4)).dumps_midi(), "folk"),
    "band": (band_score().dumps_midi(), "rock"),
}
HOSTILE = {
    "hours-long": (make_score([(0, False, [(0, 1, 60), (2_000_000, 1, 62)])], bpm=120).dumps_midi(), None),
    "absurd-tempo": (make_score([(0, False, [(i, 1, 60 + i % 7) for i in range(40)])], bpm=2_000_000).dumps_midi(),
                     None),
    "ten-thousand-tracks": (b"MThd\x00\x00\x00\x06\x00\x01\x27\x10\x01\xe0" + b"MTrk\x00\x00\x00\x04\x00\xff\x2f\x00",
                            None),
}
LATE = {"late-tune": (make_score([(0, False, tune(8, 80))], bpm=88, meter=(3, 4)).dumps_midi(), "jazz")}


def silver_jobs():
    """The jobs that fill silver from bronze, in order (features, when the build has that job, then encode)."""
    from lake.jobs.encode import run_encode
    try:
        from lake.jobs.features import run_features
    except ImportError:
        return [run_encode]
    return [run_features, run_encode]
