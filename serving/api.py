"""The HTTP API's shape, defined once: request, attributes, response, error, routes.

The Ray Serve app, the CLI client and the tests all import these models, so a field renamed here is
renamed everywhere. Requests forbid unknown fields: a misspelled ``bmp`` is a 422 naming it, never a
silently ignored value. How a key is spelled is :func:`lake.vocab.parse_key`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lake.vocab import STYLES, normalize_style, parse_key
from training.request import (BARS_MAX, BARS_MIN, BPM_MAX, BPM_MIN, Attributes, PieceRequest, Role, Source,  # noqa: F401
                              TrackResult, parse_time_signature)
from training.tension import check as check_tension

API_VERSION = "v1"
RECOMMEND_PATH = f"/{API_VERSION}/recommend"
GENERATE_PATH = f"/{API_VERSION}/generate"
UPLOADS_PATH = f"/{API_VERSION}/uploads"
CONTINUE_PATH = f"/{API_VERSION}/continue"  # an upload + N bars after it (training.continuation)
INFILL_PATH = f"/{API_VERSION}/infill"  # an upload with bars i..j of one track, or all, written anew
PIECES_PATH = f"/{API_VERSION}/pieces"
MODELS_PATH = f"/{API_VERSION}/models"
EXERCISE_PATH = f"/{API_VERSION}/exercise"
HARMONIZE_PATH = f"/{API_VERSION}/harmonize"
TRANSFER_PATH = f"/{API_VERSION}/transfer"
SCREEN_PATH = f"/{API_VERSION}/screen"  # a MIDI file -> is its melody a near-copy of a lake piece (serving.screen)
VERIFY_PATH = f"/{API_VERSION}/verify"  # a MIDI file -> is it ours (the watermark), which stored piece (serving.verify)
SEARCH_PATH = f"/{API_VERSION}/search"  # text -> lake pieces (training.search; docs/understanding.md "Search")
HEALTH_PATH = "/healthz"
API_KEY_HEADER = "X-API-Key"  # or "Authorization: Bearer <key>"
REQUEST_ID_HEADER = "X-Request-ID"  # every answer carries one; the server log's lines for the request name it

BARS_DEFAULT = 8
FORMATS = ("mid", "wav", "musicxml", "png", "svg")  # GET {PIECES_PATH}/{id}.{format}
PIECE_ID_CHARS = r"[0-9a-f]{20}"  # the first 20 hex digits of the MIDI's sha256 (match it with re.fullmatch)
PIECE_ID = rf"^{PIECE_ID_CHARS}$"  # the same, anchored, for JSON Schema and path parameters


def base_url(cfg) -> str:
    """Where clients reach the endpoint ``cfg.serve`` describes (a wildcard bind is reached on loopback)."""
    host = "127.0.0.1" if cfg.serve.host in ("0.0.0.0", "::") else cfg.serve.host
    return f"http://{host}:{cfg.serve.port}"


def piece_url(piece_id: str, fmt: str | None = None) -> str:
    """The path of a stored piece's description (``fmt`` None) or of one of its files."""
    return f"{PIECES_PATH}/{piece_id}" + (f".{fmt}" if fmt else "")


def records_url(piece_id: str) -> str:
    """The path of a piece's request records (one per request that made it)."""
    return f"{PIECES_PATH}/{piece_id}/records"


ModelRefField = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                      description="registry alias or version number; default: the configured alias")


class _KeyAndMeter(BaseModel):
    """The checks of a model's optional ``key`` and ``time_signature`` fields (read into canonical form)."""

    @field_validator("key", check_fields=False)
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        return None if v is None else parse_key(v)

    @field_validator("time_signature", check_fields=False)
    @classmethod
    def _ts(cls, v: str | None) -> str | None:
        if v is None:
            return None
        num, den = parse_time_signature(v)
        return f"{num}/{den}"


class _Attributes(_KeyAndMeter):
    """The attributes a client may fix itself; each one wins over what the prompt says."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=2000, description="free text, English or Chinese")
    bpm: float | None = Field(None, ge=BPM_MIN, le=BPM_MAX, description="tempo; overrides the prompt")
    key: str | None = Field(None, max_length=40, description="e.g. 'D minor', 'F#m', 'Bb major', 'D小调'; overrides the prompt")
    time_signature: str | None = Field(None, max_length=10, description="e.g. '3/4'; overrides the prompt")
    instruments: list[Annotated[str, Field(min_length=1, max_length=40)]] | None = Field(
        None, min_length=1, max_length=8, description="overrides the prompt")
    chords: list[Annotated[str, Field(min_length=1, max_length=16)]] | None = Field(
        None, min_length=1, max_length=BARS_MAX, description="one chord symbol per bar")
    progression: list[Annotated[str, Field(min_length=1, max_length=8)]] | None = Field(
        None, min_length=1, max_length=BARS_MAX, description="roman numerals in the key, e.g. ['I', 'V', 'vi', 'IV']")

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("prompt is blank")
        return v

    def explicit(self) -> dict:
        """The attributes this request fixes itself (they win over the prompt)."""
        return {k: getattr(self, k) for k in ("bpm", "key", "time_signature", "instruments", "chords", "progression")
                if getattr(self, k) is not None}


class RecommendRequest(_Attributes):
    """A prompt, and any attribute the client fixes; answered with every attribute and where it came from."""


class ModelInfo(BaseModel):
    name: str
    version: int
    ref: str = Field(description="what the request asked for: an alias or a version number")


class RecommendResponse(BaseModel):
    attributes: Attributes
    scores: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="the CLAP model's zero-shot probabilities, per attribute it was asked about")
    clap: ModelInfo | None = Field(None, description="the CLAP version consulted; None when rules decided everything")
    elapsed_ms: float


class GenerateRequest(_Attributes):
    """What a client asks for: a prompt, any attribute it fixes, and how to generate."""

    tracks: list[Role] | None = Field(None, max_length=4, description="only these roles (melody, harmony, bass, drums)")
    bars: int = Field(BARS_DEFAULT, ge=BARS_MIN, le=BARS_MAX)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    temperature: float = Field(0.9, ge=0.05, le=2.0)
    model: str | None = ModelRefField
    candidates: int = Field(1, ge=1, le=16, description="pieces to write (seeds seed, seed+1, ...); the CLAP model "
                                                         "keeps the one closest to the prompt")
    melody: str | None = Field(None, pattern=PIECE_ID, description=f"an upload's id (POST {UPLOADS_PATH}): its "
                                                                     "melody is kept and the other tracks written around it")
    structure: str | None = Field(None, min_length=1, max_length=16, pattern=r"^[A-Za-z]+$",
                                  description="one letter per 4-bar phrase, e.g. 'AABA' (default: drawn by the seed "
                                              "from real songs' plans): a returning "
                                              "letter restates that phrase's opening bars, moved to its chords")
    repetition: float | None = Field(None, ge=0.0, le=1.0, description="how much of a returning phrase is restated "
                                                                      "(0 none, 0.5 its first half; default 0.5 with "
                                                                      "a structure, else the drawn plan's)")
    registers: dict[Literal["melody", "harmony", "bass"],
                    Annotated[list[Annotated[int, Field(ge=0, le=127)]], Field(min_length=2, max_length=2)]] | None = (
        Field(None, description="lowest and highest MIDI pitch per role, e.g. {'melody': [62, 79]}; default melody "
                                "60-79, harmony and bass below it"))
    tension: float | list[float] | None = Field(None, description="film scoring: 0..1, or breakpoints spread "
                                                                  "evenly over the bars and joined by lines (e.g. "
                                                                  "[0, 1] builds to a climax); docs/film-scoring.md")

    @field_validator("tension")
    @classmethod
    def _tension(cls, v):
        if v is not None:
            check_tension(v)
        return v

    def piece_request(self, attrs: Attributes, seed: int | None = None) -> PieceRequest:
        """The generator's request: the recommended attributes (explicit ones already on top) and the settings."""
        phrasing = {k: v for k, v in (("structure", self.structure), ("repetition", self.repetition),
                                      ("registers", {r: tuple(p) for r, p in (self.registers or {}).items()} or None),
                                      ("tension", self.tension))
                    if v is not None}
        return attrs.to_request(bars=self.bars, tracks=self.tracks, seed=self.seed if seed is None else seed,
                                temperature=self.temperature, **phrasing)


class Candidate(BaseModel):
    seed: int
    score: float = Field(description="the CLAP model's cosine between the piece and the prompt")
    content_sha256: str


class Timings(BaseModel):
    recommend_ms: float
    generate_ms: float = Field(description="sampling and arranging, all candidates")
    rank_ms: float = 0.0
    store_ms: float
    total_ms: float


class Provenance(BaseModel):
    """Enough to trace a piece to the training run, the lake table versions it read, and so the source files."""

    generator: ModelInfo
    generator_run_id: str
    data_versions: dict[str, int] = Field(description="lake table -> Delta version the generator was trained on")
    clap: ModelInfo | None = None
    melody_upload: str | None = Field(None, description="the upload whose melody the piece keeps")


class LakeMatch(BaseModel):
    """A lake piece one of a checked file's lines aligns with (lake.similarity; serving.screen)."""

    sha256: str = Field(description="the lake piece (bronze_midi_files.sha256)")
    source: str
    url: str
    title: str | None = None
    license: str
    containment: float = Field(description="the alignment's score over the aligned stretch's own score (1: those "
                                           "notes' intervals and rhythm identical)")
    shared: int = Field(description="sampled shingles (4 interval-and-rhythm tokens) shared")
    score: float = Field(0.0, description="bits of the best local alignment of one of the file's lines with the piece "
                                          "(a near-copy from Similarity.threshold)")
    line: str = Field("", description="the file's line that aligned: melody, skyline or a track's name")
    bars: list[int] = Field(default_factory=list, description="bars (1-based) of the checked file the aligned "
                                                              "stretch spans")


class ClapNeighbor(BaseModel):
    """A lake piece near the checked file in the CLAP embedding (training.clap): how alike they sound, not a copy."""

    sha256: str
    score: float = Field(description="cosine similarity of the two embeddings")
    title: str | None = None
    url: str | None = None


class Similarity(BaseModel):
    """The screening verdict: is a line of the piece (melody, skyline, any track) a near-copy of a lake piece's
    (docs/copyright.md)?"""

    near_copy: bool
    verdict: str = Field(description="one line saying what was found")
    matches: list[LakeMatch] = Field(description="the best matches, best first (near-copy or not, the best one)")
    shingles: int = Field(description="sampled shingles read from the file's lines")
    lines: int = Field(0, description="lines of the file long enough to judge")
    threshold: float = Field(description="alignment score (bits) from which a match is a near-copy")
    index_pieces: int = Field(description="lake pieces in the index")
    index_version: int | None = Field(None, description="gold_melody_index version read (None: no index yet)")
    attempts: int = Field(1, description="pieces written for this request (a near-copy is written again with "
                                         "another seed)")
    clap_neighbors: list[ClapNeighbor] = Field(default_factory=list, description="the lake pieces nearest in the CLAP "
                                               "embedding (POST /v1/screen and musiclake screen; informational: they "
                                               "never make a near-copy, docs/copyright.md)")


class PieceInfo(BaseModel):
    """A stored piece: what was asked, what was made, by which versions, and where its files are."""

    id: str
    content_sha256: str = Field(description="sha256 of the MIDI file")
    created_at: str = Field(description="UTC, ISO 8601")
    request: dict[str, Any] = Field(description="the generate request as the client sent it (validated)")
    attributes: Attributes
    provenance: Provenance
    tracks: list[TrackResult] = Field(description="per track: role, instrument, GM program, and who wrote it")
    chords: list[str] = Field(description="the chord asked for in each bar")
    seed: int
    n_notes: int
    duration_s: float
    n_steps: int = Field(description="sampling steps the model took")
    urls: dict[str, str] = Field(description="format -> path of the file (mid, wav, musicxml, png, svg)")
    marks: ScoreMarks | None = Field(None, description="chord symbols, fingerings, note names for the score")
    similarity: Similarity | None = Field(None, description="the screening against the lake's melodies (generated "
                                                            "pieces)")


class ScoreMarks(BaseModel):
    """What the engraved score prints beside the notes (MusicXML, SVG)."""

    chords: list[tuple[float, str]] = Field(default_factory=list, description="(onset in quarter notes, chord "
                                                                                "symbol) over the top staff")
    labels: list[tuple[int, float, int, str]] = Field(default_factory=list, description="(track, onset in quarter "
                                                      "notes, MIDI pitch, text) under a note: a digit 1-5 is a "
                                                      "fingering, anything else a note name")
    swing: bool = Field(False, description="the piece is swung: the score writes straight eighths under 'Swing'")


class GenerateResponse(PieceInfo):
    candidates: list[Candidate] | None = Field(None, description="every candidate and its score, best first")
    timings: Timings
    elapsed_ms: float


class UploadResponse(BaseModel):
    id: str = Field(description="pass it as 'melody' to generate around the upload's melody")
    content_sha256: str
    n_tracks: int
    n_notes: int
    duration_s: float
    melody_notes: int = Field(description="notes in the track taken as the melody (the highest-pitched one)")
    format: Literal["mid", "musicxml", "mxl"] = Field("mid", description="what was uploaded (MusicXML is kept as "
                                                                          "the MIDI file it makes)")


class _FromUpload(BaseModel):
    """Writing on from an upload (POST {UPLOADS_PATH}): docs/continuation.md."""

    model_config = ConfigDict(extra="forbid")

    upload: str = Field(pattern=PIECE_ID, description=f"an upload's id (POST {UPLOADS_PATH})")
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    temperature: float = Field(0.9, ge=0.05, le=2.0)
    model: str | None = ModelRefField
    style: str = Field("pop", max_length=20, description="the style the model is told (the upload's key, tempo and "
                                                          "meter are read from it)")
    context_bars: int = Field(8, ge=1, le=16, description="bars of the upload the model reads before what it writes")

    @field_validator("style")
    @classmethod
    def _style(cls, v: str) -> str:
        if v.strip().lower() not in STYLES:
            raise ValueError(f"{v!r} is not one of {', '.join(STYLES)}")
        return normalize_style(v.strip().lower())


class ContinueRequest(_FromUpload):
    bars: int = Field(8, ge=1, le=32, description="new bars after the upload's last bar line")


class InfillRequest(_FromUpload):
    first_bar: int = Field(ge=1, le=10_000, description="first bar written anew (1-based)")
    last_bar: int = Field(ge=1, le=10_000, description="last bar written anew (inclusive)")
    track: int | None = Field(None, ge=0, le=10_000, description="the upload's track index to rewrite; default: "
                                                                 "every pitched track (drums repeat the bar before)")

    @field_validator("last_bar")
    @classmethod
    def _order(cls, v: int, info) -> int:
        first = info.data.get("first_bar")
        if first is not None and v < first:
            raise ValueError(f"must be at least first_bar ({first})")
        return v


class FromUploadResponse(PieceInfo):
    region: list[int] = Field(description="the first and last bar written anew (1-based, inclusive)")
    upload: str
    elapsed_ms: float


class VerifyResponse(BaseModel):
    """Whether a MIDI file carries this deployment's watermark (training.watermark; docs/copyright.md)."""

    ours: bool = Field(description="the watermark is present (z at or above threshold_z)")
    confidence: float = Field(description="1 - p_value: how unlikely the green count is for a file we did not "
                                           "write (0 when there were too few notes to tell)")
    z: float = Field(description="z-score of the green interval triples against an unmarked file's share")
    p_value: float
    scored: int = Field(description="distinct interval triples read from the file's lines")
    green: int = Field(description="how many of them are green under the key")
    threshold_z: float
    piece_id: str | None = Field(None, description="the stored piece the file's notes come from, when the store "
                                                   "has it and this key may read it")
    piece_share: float | None = Field(None, description="share of the file's interval triples that piece holds")
    verdict: str = Field(description="one line saying what was found")


class ErrorResponse(BaseModel):
    error: str = Field(description="one line saying what went wrong (never a host, path, URI or exception text)")
    detail: Any | None = None
    request_id: str | None = Field(None, description="also in the X-Request-ID header; the server log's lines "
                                                     "for this request carry it")


class PieceRecord(BaseModel):
    """One request that made a piece: who asked, when, what, and with which versions (the piece's notes are
    stored once, by content; every request that yields them keeps its own record)."""

    request_id: str
    key: str = Field(description="the name of the API key that asked (never the key itself)")
    tenant: str = Field(description="the key's tenant: keys of one tenant read each other's pieces")
    created_at: str = Field(description="UTC, ISO 8601")
    piece: PieceInfo = Field(description="the piece as this request's answer described it")


class RecordsResponse(BaseModel):
    piece_id: str
    records: list[PieceRecord] = Field(description="the records the calling key may read, oldest first")


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    default_model: str = Field(description="the alias or version a request without 'model' gets")
    loaded_models: list[ModelInfo] = Field(description="versions loaded in the replica that answered")
    audio: Literal["ok", "unavailable"] = Field(description="whether WAV rendering works here (the server log "
                                                             "says why not)")


class RegisteredVersion(BaseModel):
    version: int
    aliases: list[str]
    run_id: str


class RegisteredModel(BaseModel):
    name: str
    default_model: str = Field(description="the alias a request without 'model' gets")
    default_version: int | None = Field(description="the version default_model names now; None when none does")
    versions: list[RegisteredVersion] = Field(description="newest first")


class ModelsResponse(BaseModel):
    generator: RegisteredModel
    clap: RegisteredModel


# Statuses every /v1 route may answer, beyond its own (documented in the OpenAPI spec).
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
COMMON_ERRORS = {
    401: {"model": ErrorResponse, "description": "no API key, or one that is not known"},
    408: {"model": ErrorResponse, "description": "the request body did not arrive within serve.body_timeout_s"},
    413: {"model": ErrorResponse, "description": "request body over the size limit"},
    422: {"model": ErrorResponse, "description": "a field is invalid; the message names it"},
    429: {"model": ErrorResponse, "description": "this key's rate limit; see Retry-After", "headers": _RETRY_AFTER},
    500: {"model": ErrorResponse, "description": "a fault of the server: the message carries only the request id"},
    503: {"model": ErrorResponse, "description": "busy (see Retry-After), or a part of the service is unavailable "
                                                 "(the key file, the model registry, audio rendering)",
          "headers": _RETRY_AFTER},
    504: {"model": ErrorResponse, "description": "no answer within serve.request_timeout_s"},
}
BUSY = {503: {"model": ErrorResponse, "description": "all generation (or render) slots and the queue are full; "
                                                 "see Retry-After", "headers": _RETRY_AFTER}}
NOT_FOUND = {404: {"model": ErrorResponse, "description": "no such model version, alias, upload or piece (or not "
                                                       "one this key may read)"}}
RENDER_ERRORS = {422: {"model": ErrorResponse, "description": "a field is invalid, or the piece is longer "
                                                          "(serve.render_max_seconds) or its file larger "
                                                          "(serve.render_max_bytes) than this server renders"}}


# -- education: exercises, harmonization, style transfer ------------------------------------------------------
ExerciseKind = Literal["scale", "arpeggio", "interval", "sight_reading"]
ScaleName = Literal["major", "natural_minor", "harmonic_minor", "melodic_minor", "major_pentatonic",
                    "minor_pentatonic", "ionian", "dorian", "phrygian", "lydian", "mixolydian", "aeolian", "locrian",
                    "chromatic"]
ArrangeStyle = Literal["pop", "folk", "jazz", "classical", "string_quartet"]
UploadIdField = Field(pattern=PIECE_ID, description=f"an upload's id (POST {UPLOADS_PATH}: MIDI or MusicXML)")


class ExerciseRequest(BaseModel):
    """A scale, arpeggio, interval drill or sight-reading tune, written note for note."""

    model_config = ConfigDict(extra="forbid")

    kind: ExerciseKind = "scale"
    scale: ScaleName = "major"
    tonic: str = Field("C", min_length=1, max_length=3, description="a note name: C, F#, Bb")
    octaves: int = Field(1, ge=1, le=3)
    low: int = Field(60, ge=0, le=127, description="the lowest MIDI pitch to use (60 = middle C)")
    high: int | None = Field(None, ge=1, le=127, description="the highest MIDI pitch (default: what the octaves need)")
    bpm: float = Field(80.0, ge=BPM_MIN, le=BPM_MAX)
    instrument: str = Field("piano", min_length=1, max_length=40)
    difficulty: int = Field(1, ge=1, le=5, description="1: quarters, small steps ... 5: sixteenths, wide leaps")
    bars: int = Field(4, ge=1, le=32, description="sight reading: its length")
    time_signature: Literal["4/4", "3/4"] = "4/4"
    seed: int = Field(0, ge=0, le=2**31 - 1, description="sight reading: which tune")


class ExerciseNote(BaseModel):
    pitch: int
    name: str = Field(description="spelled in the key, with its octave: 'F#4'")
    onset: float = Field(description="quarter notes from the start")
    duration: float
    finger: int | None = Field(None, description="the right hand's finger on a keyboard (1 thumb .. 5)")
    label: str | None = Field(None, description="an interval's name under its upper note, e.g. 'M3'")


class ExerciseResponse(BaseModel):
    id: str = Field(description="the stored piece: GET its files under /v1/pieces")
    title: str
    key: str
    notes: list[ExerciseNote]
    urls: dict[str, str]


class ChordSuggestion(BaseModel):
    bar: int = Field(description="the bar it starts in, from 0")
    beat: int = Field(description="the beat it starts on, counted from the start")
    beats: int = Field(description="how many beats it lasts")
    onset: float = Field(description="quarter notes from the start")
    symbol: str = Field(description="lead sheet, e.g. 'Am7'")
    roman: str = Field(description="in the detected key, e.g. 'vi7'")


class HarmonizeRequest(BaseModel):
    """Chords for an uploaded melody, and an accompaniment in a style."""

    model_config = ConfigDict(extra="forbid")

    melody: str = UploadIdField
    per: Literal["bar", "half", "beat"] = Field("bar", description="a chord per bar, per half bar (a four-beat "
                                                                     "bar may change on beat 3), or on any beat")
    style: ArrangeStyle = "pop"
    key: str | None = Field(None, max_length=40, description="fix the key instead of detecting it")

    @field_validator("key")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        return None if v is None else parse_key(v)


class HarmonizeResponse(BaseModel):
    id: str = Field(description="the stored piece (melody + accompaniment)")
    key: str
    per: str
    style: str
    chords: list[ChordSuggestion]
    tracks: list[TrackResult]
    urls: dict[str, str]
    similarity: Similarity | None = Field(None, description="screening of the accompaniment against the lake")


class StyleMarkers(BaseModel):
    swing: float = Field(description="share of off-beat eighths at 2/3 of the beat (0 straight, 1 swung)")
    extended: float = Field(description="share of accompaniment chords with more than three pitch classes")
    instruments: list[str]


class MelodySurvival(BaseModel):
    intervals: float = Field(description="share of the original's melodic intervals kept, in order")
    onsets: float = Field(description="onset F-measure of the melody, within a sixth of a beat")


class TransferRequest(BaseModel):
    """An uploaded piece re-arranged in another style, its melody kept."""

    model_config = ConfigDict(extra="forbid")

    piece: str = UploadIdField
    style: ArrangeStyle = "jazz"
    key: str | None = Field(None, max_length=40)

    @field_validator("key")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        return None if v is None else parse_key(v)


class TransferResponse(BaseModel):
    id: str
    key: str
    style: str
    chords: list[ChordSuggestion]
    tracks: list[TrackResult]
    melody: MelodySurvival
    before: StyleMarkers
    after: StyleMarkers
    urls: dict[str, str]
    similarity: Similarity | None = Field(None, description="screening of the new arrangement against the lake")


# -- search ------------------------------------------------------------------------------------------------------
class SearchFilters(_KeyAndMeter):
    """Exact values a hit must have (unlike what the query says, a filter never relaxes to the nearest)."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(None, max_length=40, description="e.g. 'D minor', 'F#m', 'D小调'")
    time_signature: str | None = Field(None, max_length=10, description="e.g. '3/4'")
    style: str | None = Field(None, description=f"one of {', '.join(STYLES)}")
    collection: str | None = Field(None, min_length=1, max_length=40, description="e.g. 'irish', 'bach-chorales'")
    mood: str | None = Field(None, min_length=1, max_length=20)
    bpm_min: float | None = Field(None, ge=0, le=BPM_MAX)
    bpm_max: float | None = Field(None, ge=0, le=BPM_MAX)

    @field_validator("style")
    @classmethod
    def _style(cls, v: str | None) -> str | None:
        if v is not None and v not in STYLES:
            raise ValueError(f"style {v!r} is not one of {', '.join(STYLES)}")
        return v


class SearchRequest(BaseModel):
    """Free text (English or Chinese): what it states (key, meter, tempo, instruments, style, mood, collection)
    is matched on the lake's labels, the CLAP model orders within."""

    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=2000)
    k: int = Field(10, ge=1, le=100, description="how many pieces")
    filters: SearchFilters | None = None

    @field_validator("query")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("query is blank")
        return v


class SearchHit(BaseModel):
    piece: str = Field(description="the lake piece's sha256")
    score: float = Field(description="0-1: the share of what the query asks that the piece has (CLAP orders ties)")
    title: str | None
    source: str | None
    url: str | None
    license: str | None = Field(description="the licence the file was collected under")
    collection: str
    style: str
    key: str
    time_signature: str
    bpm: float
    mood: str
    instruments: list[str]
    matched: list[str] = Field(description="what the query asks that the piece has")
    missed: list[str] = Field(description="what the query asks that the piece lacks")


SEARCH_UNAVAILABLE = {503: {"model": ErrorResponse, "description": "the lake's search index could not be read or "
                                                               "built"}}


class SearchResponse(BaseModel):
    query: str
    hits: list[SearchHit]
    total: int = Field(description="lake pieces searched")
    candidates: int = Field(description="pieces left after the written key / mode / meter and the filters")
    ranked_by: str
    notes: list[str] = Field(description="what could not be matched as asked, and what was done instead")
    elapsed_ms: float
