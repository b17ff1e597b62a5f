"""The HTTP API's shape, defined once: request, attributes, response, error, routes.

The Ray Serve app, the CLI client and the tests all import these models, so a field renamed here is
renamed everywhere. Requests forbid unknown fields: a misspelled ``bmp`` is a 422 naming it, never a
silently ignored value. How a key is spelled is :func:`lake.vocab.parse_key`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lake.vocab import parse_key
from training.request import Attributes, Source  # noqa: F401 - part of the API's shape

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
