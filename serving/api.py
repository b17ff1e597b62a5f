"""The HTTP API's shape, defined once: request, attributes, response, error, routes, and how a key is spelled.

The Ray Serve app, the CLI client and the tests all import these models, so a field renamed here is
renamed everywhere. Requests forbid unknown fields: a misspelled ``bmp`` is a 422 naming it, never a
silently ignored value.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lake.vocab import STYLES, key_name

API_VERSION = "v1"
GENERATE_PATH = f"/{API_VERSION}/generate"
MODELS_PATH = f"/{API_VERSION}/models"
HEALTH_PATH = "/healthz"

BPM_MIN, BPM_MAX = 30.0, 300.0
BARS_MIN, BARS_MAX, BARS_DEFAULT = 1, 64, 8


def base_url(cfg) -> str:
    """Where clients reach the endpoint ``cfg.serve`` describes (a wildcard bind is reached on loopback)."""
    host = "127.0.0.1" if cfg.serve.host in ("0.0.0.0", "::") else cfg.serve.host
    return f"http://{host}:{cfg.serve.port}"


# Where an attribute came from, strongest first. "derived" marks chords computed from key and style.
Source = Literal["request", "prompt", "keyword", "derived", "default"]

# A key written in Latin letters: tonic letter, optional accidental, optional mode ("D minor", "F#m", "Bb major",
# "E flat minor", "Dmaj"; "DM" is major). A request may leave the mode out; a prompt search requires it.
ACCIDENTAL = r"(?:[#♯b♭]|-?\s?sharp|-?\s?flat)"
_EN_KEY = re.compile(rf"(?P<letter>[A-G])\s*(?P<acc>{ACCIDENTAL})?\s*(?P<mode>major|minor|maj|min|m)?", re.I)
# A key written the Chinese way: "D小调", "降B大调", "升F小调", "#F小调", "bB大调", "D调" (major).
# ZH_KEY (with 调) is what a prompt search uses; a request field may also drop the 调 ("D小").
_ZH_TONIC = r"(?P<pre>升|降|[#♯♭]|b(?=[A-G]))?\s*(?P<letter>[A-Ga-g])\s*(?P<acc>[#♯b♭])?\s*"
ZH_KEY = _ZH_TONIC + r"(?P<zmode>大调|小调|调)"
_ZH_KEY = re.compile(_ZH_TONIC + r"(?P<zmode>大调|小调|调|大|小)")


def _accidental(text: str | None) -> str:
    t = (text or "").replace(" ", "").replace("-", "").lower()
    if t in ("#", "♯", "sharp", "升"):
        return "#"
    if t in ("b", "♭", "flat", "降"):
        return "b"
    return ""


def key_from_match(m: re.Match) -> str:
    """The canonical key name ("D minor") of a match of the English or Chinese key pattern."""
    groups = m.groupdict()
    acc = _accidental(groups.get("acc") or groups.get("pre"))
    if groups.get("zmode"):
        mode = "minor" if groups["zmode"].startswith("小") else "major"
    else:
        word = groups.get("mode") or ""
        mode = "minor" if word == "m" or word.lower().startswith("min") else "major"
    return key_name(groups["letter"].upper() + acc, mode)


def parse_key(text: str) -> str:
    """Normalize a key as people write it ("d minor", "Dm", "F#m", "Bb major", "D小调") to "D minor".

    A key without a mode is major. Raises ValueError with a one-line message for anything else.
    """
    stripped = text.strip()
    m = _EN_KEY.fullmatch(stripped) or _ZH_KEY.fullmatch(stripped)
    if m is None:
        raise ValueError(f"unknown key {text!r}: write a tonic A-G, optional #/b, and major/minor, "
                         "e.g. 'D minor' or 'F#m'")
    try:
        return key_from_match(m)
    except ValueError as e:
        raise ValueError(f"unknown key {text!r}: {e}") from None


class GenerateRequest(BaseModel):
    """What a client asks for: a prompt, plus any attribute it wants to fix explicitly."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=2000, description="free text, English or Chinese")
    bpm: float | None = Field(None, ge=BPM_MIN, le=BPM_MAX, description="tempo; overrides the prompt")
    key: str | None = Field(None, description="e.g. 'D minor', 'F#m', 'Bb major', 'D小调'; overrides the prompt")
    bars: int = Field(BARS_DEFAULT, ge=BARS_MIN, le=BARS_MAX)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    model: str | None = Field(None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$",
                              description="registry alias or version number; default: serve.model_alias")

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("prompt is blank")
        return v

    @field_validator("key")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        return None if v is None else parse_key(v)


class Attributes(BaseModel):
    """The musical attributes recommended for a prompt, and where each one came from."""

    style: str
    bpm: float
    key: str
    time_signature: str
    instruments: list[str]
    progression: list[str] = Field(description="the chord progression as roman numerals, e.g. ['I', 'V', 'vi', 'IV']")
    chords: list[str] = Field(description="the progression as chord names in the key, e.g. ['C', 'G', 'Am', 'F']")
    mood: str | None = None
    sources: dict[str, Source]

    @field_validator("style")
    @classmethod
    def _style(cls, v: str) -> str:
        if v not in STYLES:
            raise ValueError(f"style {v!r} is not one of {', '.join(STYLES)}")
        return v


class ModelInfo(BaseModel):
    name: str
    version: int
    ref: str


class GenerateResponse(BaseModel):
    midi_base64: str
    attributes: Attributes
    model: ModelInfo
    n_notes: int
    duration_s: float
    elapsed_ms: float


class ErrorResponse(BaseModel):
    error: str = Field(description="one line saying what went wrong")
    detail: Any | None = None


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    default_model: str = Field(description="the alias or version a request without 'model' gets")
    loaded_models: list[ModelInfo] = Field(description="versions loaded in the replica that answered")


class RegisteredVersion(BaseModel):
    version: int
    aliases: list[str]
    run_id: str


class ModelsResponse(BaseModel):
    name: str
    default_model: str
    default_version: int | None = Field(description="the version default_model names now; None when none does")
    versions: list[RegisteredVersion] = Field(description="newest first")
