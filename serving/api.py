"""The HTTP API's shape, defined once: request, attributes, response, error, routes.

The Ray Serve app, the CLI client and the tests all import these models, so a field renamed here is
renamed everywhere. Requests forbid unknown fields: a misspelled ``bmp`` is a 422 naming it, never a
silently ignored value. How a key is spelled is :func:`lake.vocab.parse_key`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lake.vocab import parse_key
from training.request import (BARS_MAX, BARS_MIN, BPM_MAX, BPM_MIN, Attributes, PieceRequest, Role, Source,  # noqa: F401
                              TrackResult, parse_time_signature)

API_VERSION = "v1"
GENERATE_PATH = f"/{API_VERSION}/generate"
MODELS_PATH = f"/{API_VERSION}/models"
HEALTH_PATH = "/healthz"

BARS_DEFAULT = 8


def base_url(cfg) -> str:
    """Where clients reach the endpoint ``cfg.serve`` describes (a wildcard bind is reached on loopback)."""
    host = "127.0.0.1" if cfg.serve.host in ("0.0.0.0", "::") else cfg.serve.host
    return f"http://{host}:{cfg.serve.port}"



class GenerateRequest(BaseModel):
    """What a client asks for: a prompt, plus any attribute it wants to fix explicitly."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=2000, description="free text, English or Chinese")
    bpm: float | None = Field(None, ge=BPM_MIN, le=BPM_MAX, description="tempo; overrides the prompt")
    key: str | None = Field(None, description="e.g. 'D minor', 'F#m', 'Bb major', 'D小调'; overrides the prompt")
    time_signature: str | None = Field(None, description="e.g. '3/4'; overrides the prompt")
    instruments: list[str] | None = Field(None, min_length=1, max_length=8, description="overrides the prompt")
    chords: list[str] | None = Field(None, min_length=1, max_length=BARS_MAX, description="one chord symbol per bar")
    progression: list[str] | None = Field(None, min_length=1, max_length=BARS_MAX,
                                          description="roman numerals in the key, e.g. ['I', 'V', 'vi', 'IV']")
    tracks: list[Role] | None = Field(None, description="only these roles (melody, harmony, bass, drums)")
    bars: int = Field(BARS_DEFAULT, ge=BARS_MIN, le=BARS_MAX)
    seed: int | None = Field(None, ge=0, le=2**32 - 1)
    temperature: float = Field(0.9, gt=0.0, le=2.0)
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

    @field_validator("time_signature")
    @classmethod
    def _ts(cls, v: str | None) -> str | None:
        if v is None:
            return None
        num, den = parse_time_signature(v)
        return f"{num}/{den}"

    def explicit(self) -> dict:
        """The attributes this request fixes itself (they win over the prompt)."""
        return {k: getattr(self, k) for k in ("bpm", "key", "time_signature", "instruments", "chords", "progression")
                if getattr(self, k) is not None}

    def piece_request(self, attrs: Attributes) -> PieceRequest:
        """The generator's request: the recommended attributes (explicit ones already on top) and the settings."""
        return attrs.to_request(bars=self.bars, tracks=self.tracks, seed=self.seed, temperature=self.temperature)


class ModelInfo(BaseModel):
    name: str
    version: int
    ref: str


class GenerateResponse(BaseModel):
    midi_base64: str
    attributes: Attributes
    model: ModelInfo
    tracks: list[TrackResult] = Field(description="per track: role, instrument, GM program, and who wrote it")
    chords: list[str] = Field(description="the chord asked for in each bar")
    seed: int
    n_notes: int
    duration_s: float
    n_steps: int = Field(description="sampling steps the model took")
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
