"""Bronze: what the crawler and importers land, as fetched.

Identity and history of a file:

* ``bronze_midi_files`` holds each distinct content once (key: sha256; md5 kept too, the key the
  Lakh / MetaMIDI / GigaMIDI datasets use). ``url`` there is the first place it was found.
* ``bronze_urls`` holds every place a content was found (a URL or an archive member) with the
  HTTP validators seen with it: the same bytes at two URLs are one file row and two URL rows; a
  changed file at one URL is a new file row and a new URL row, and the old rows stay.
* ``bronze_crawl_log`` holds one row per URL outcome per run (landed, duplicate, not_modified,
  skipped, error, fetched), so counts and reasons are one query away.
"""

from __future__ import annotations

import pyarrow as pa

from lake.schemas.spec import TS, TableSpec

BRONZE_MIDI = TableSpec(
    name="bronze_midi_files",
    layer="bronze",
    key=("sha256",),
    description="Raw MIDI bytes as fetched, one row per distinct content (sha256), with where and how it was found.",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("md5", pa.string(), nullable=False),
        pa.field("content", pa.binary(), nullable=False),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("referrer", pa.string()),
        pa.field("title", pa.string()),
        pa.field("attrs_json", pa.string(), nullable=False),  # data-* attributes of the link, JSON object
        pa.field("source", pa.string(), nullable=False),
        pa.field("license", pa.string(), nullable=False),
        pa.field("http_status", pa.int32()),  # null for files imported from a folder or an archive
        pa.field("content_type", pa.string()),
        pa.field("fetched_at", TS, nullable=False),
        pa.field("ingest_run_id", pa.string(), nullable=False),
    ]),
)

BRONZE_LYRICS = TableSpec(
    name="bronze_lyrics_pages",
    layer="bronze",
    key=("url",),
    description="Lyrics pages as clean text, linked to the MIDI they belong to by the page's own link.",
    schema=pa.schema([
        pa.field("url", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),  # of the page body
        pa.field("title", pa.string()),
        pa.field("lyrics", pa.string(), nullable=False),
        pa.field("language", pa.string()),
        pa.field("midi_url", pa.string()),  # the MIDI the page links to, if any
        pa.field("match_method", pa.string(), nullable=False),  # "page_link" | "title" | "none"
        pa.field("source", pa.string(), nullable=False),
        pa.field("license", pa.string(), nullable=False),
        pa.field("http_status", pa.int32(), nullable=False),
        pa.field("content_type", pa.string()),
        pa.field("fetched_at", TS, nullable=False),
        pa.field("ingest_run_id", pa.string(), nullable=False),
    ]),
)

BRONZE_CRAWL_ERRORS = TableSpec(
    name="bronze_crawl_errors",
    layer="bronze",
    key=("ingest_run_id", "url", "stage"),
    description="Every URL the crawler could not land, with the reason (HTTP error, not MIDI, too large, ...).",
    schema=pa.schema([
        pa.field("url", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),  # "fetch" | "validate" | "parse_page" | "read" | "captions"
        pa.field("reason", pa.string(), nullable=False),
        pa.field("http_status", pa.int32()),
        pa.field("content_type", pa.string()),
        pa.field("size", pa.int64()),
        pa.field("referrer", pa.string()),
        pa.field("fetched_at", TS, nullable=False),
        pa.field("ingest_run_id", pa.string(), nullable=False),
    ]),
)

BRONZE_URLS = TableSpec(
    name="bronze_urls",
    layer="bronze",
    # one row per distinct (place, content, validators): a re-crawl that sees nothing new adds nothing
    key=("source", "url", "sha256", "validators"),
    description="Every URL or archive member a MIDI file or lyrics page was found at, with its ETag/Last-Modified.",
    schema=pa.schema([
        pa.field("source", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),  # http(s)://..., file:///..., tar:///archive!/member, zip:///...
        pa.field("sha256", pa.string(), nullable=False),  # the content found there (bronze_midi_files / bronze_lyrics_pages)
        pa.field("md5", pa.string()),
        pa.field("kind", pa.string(), nullable=False),  # "midi" | "lyrics"
        pa.field("validators", pa.string(), nullable=False),  # "etag|last_modified" as sent ("|" when neither)
        pa.field("etag", pa.string()),
        pa.field("last_modified", pa.string()),  # the HTTP-date exactly as the server sent it
        pa.field("final_url", pa.string()),  # after redirects
        pa.field("http_status", pa.int32()),
        pa.field("size", pa.int64(), nullable=False),
        pa.field("fetched_at", TS, nullable=False),  # when this (url, content, validators) was first seen
        pa.field("ingest_run_id", pa.string(), nullable=False),
    ]),
)

CRAWL_OUTCOMES = ("landed", "duplicate", "not_modified", "skipped", "error", "fetched")

BRONZE_CRAWL_LOG = TableSpec(
    name="bronze_crawl_log",
    layer="bronze",
    key=("ingest_run_id", "url", "kind"),
    description="One row per URL outcome per ingest run: landed, duplicate, not_modified, skipped, error or fetched (a page).",
    schema=pa.schema([
        pa.field("ingest_run_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("url", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # "page" | "midi" | "lyrics" | "robots" | "captions"
        pa.field("outcome", pa.string(), nullable=False),  # one of CRAWL_OUTCOMES
        pa.field("reason", pa.string()),  # why skipped / failed / a duplicate of what
        pa.field("http_status", pa.int32()),
        pa.field("sha256", pa.string()),
        pa.field("size", pa.int64()),  # bytes received (0 for a 304)
        pa.field("elapsed_ms", pa.float64()),
        pa.field("etag", pa.string()),
        pa.field("last_modified", pa.string()),
        pa.field("final_url", pa.string()),
        pa.field("referrer", pa.string()),
        pa.field("fetched_at", TS, nullable=False),
    ]),
)

BRONZE_CAPTIONS = TableSpec(
    name="bronze_captions",
    layer="bronze",
    key=("source", "md5"),
    description="Captions and metadata from caption files (MidiCaps-style JSON lines), joined to MIDI files by MD5.",
    schema=pa.schema([
        pa.field("source", pa.string(), nullable=False),  # the caption set, e.g. "midicaps"
        pa.field("md5", pa.string(), nullable=False),
        pa.field("sha256", pa.string()),  # of the matching bronze_midi_files row; null while no file matches
        pa.field("caption", pa.string(), nullable=False),
        pa.field("location", pa.string()),  # the file's path as the caption set names it
        pa.field("metadata_json", pa.string(), nullable=False),  # every other field of the line, JSON object
        pa.field("license", pa.string(), nullable=False),
        pa.field("origin", pa.string(), nullable=False),  # file:///...captions.jsonl
        pa.field("line_no", pa.int64(), nullable=False),
        pa.field("ingested_at", TS, nullable=False),
        pa.field("ingest_run_id", pa.string(), nullable=False),
    ]),
)

BRONZE_INGEST_LEASES = TableSpec(
    name="bronze_ingest_leases",
    layer="bronze",
    key=("source", "seq"),
    description="Per-source ingest leases: who may ingest a source now (acquire, renew, release), so overlapping runs wait.",
    schema=pa.schema([
        pa.field("source", pa.string(), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),  # also the Delta app transaction version of "ingest-lease:<source>"
        pa.field("event", pa.string(), nullable=False),  # "acquire" | "renew" | "release"
        pa.field("holder", pa.string(), nullable=False),  # run id of the holder
        pa.field("host", pa.string(), nullable=False),
        pa.field("pid", pa.int64(), nullable=False),
        pa.field("at", TS, nullable=False),
        pa.field("expires_at", TS, nullable=False),
    ]),
)

BRONZE_ANNOTATIONS = TableSpec(
    name="bronze_annotations",
    layer="bronze",
    key=("sha256", "source"),
    description="Labels an annotated set ships beside its MIDI files (e.g. POP909): beats and downbeats, chord "
                "segments, key segments and track roles, one row per MIDI content (sha256) and set, as written.",
    schema=pa.schema([
        pa.field("sha256", pa.string(), nullable=False),  # the MIDI file's content id (bronze_midi_files)
        pa.field("md5", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),  # the import's source name, e.g. "pop909"
        pa.field("format", pa.string(), nullable=False),  # the annotation layout read, e.g. "pop909"
        pa.field("item", pa.string(), nullable=False),  # the set's own id of the piece, e.g. "001"
        pa.field("origin", pa.string(), nullable=False),  # file:///.../001/ (the folder the files came from)
        pa.field("labels_sha256", pa.string(), nullable=False),  # of the label files' bytes: a changed label re-lands
        # beats: one entry per beat, in time order
        pa.field("beat_s", pa.list_(pa.float64()), nullable=False),
        pa.field("beat_downbeat", pa.list_(pa.bool_()), nullable=False),  # first beat of a bar (POP909: 3rd column)
        pa.field("beat_half_bar", pa.list_(pa.bool_())),  # first beat of a 2-beat group (POP909: 2nd column)
        # chord segments as written ("G:maj/3", "F#:min7", "N")
        pa.field("chord_start_s", pa.list_(pa.float64()), nullable=False),
        pa.field("chord_end_s", pa.list_(pa.float64()), nullable=False),
        pa.field("chord_labels", pa.list_(pa.string()), nullable=False),
        # key segments as written ("Gb:maj"); key_name: the key held longest, in the lake's spelling ("F# major")
        pa.field("key_start_s", pa.list_(pa.float64()), nullable=False),
        pa.field("key_end_s", pa.list_(pa.float64()), nullable=False),
        pa.field("key_labels", pa.list_(pa.string()), nullable=False),
        pa.field("key_name", pa.string(), nullable=False),
        # tracks: index among the MIDI file's tracks (as symusic reads them), name, role from the name
        pa.field("track_index", pa.list_(pa.int32()), nullable=False),
        pa.field("track_names", pa.list_(pa.string()), nullable=False),
        pa.field("track_roles", pa.list_(pa.string()), nullable=False),  # "melody" | "bridge" | "accompaniment" | "other"
        pa.field("license", pa.string(), nullable=False),
        pa.field("ingested_at", TS, nullable=False),
        pa.field("ingest_run_id", pa.string(), nullable=False),
    ]),
)
