"""The generator in the MLflow model registry: its name, the champion alias, loading a version.

Serving resolves an alias (or a version number) to one concrete version first and loads that
version, so a model loaded as "champion" always says exactly which version it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from training.generator import Generator

MODEL_NAME = "musiclake-generator"
CHAMPION = "champion"
# What MLflow answers for a missing model or version, and for a missing alias.
_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")


class ModelNotFound(LookupError):
    """No registered version answers to the requested alias or version."""


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: int
    ref: str
    run_id: str


@dataclass(frozen=True)
class VersionInfo:
    version: int
    aliases: tuple[str, ...]
    run_id: str
    tags: dict[str, str]
    created_ms: int


def client(cfg) -> MlflowClient:
    """A client on ``cfg.mlflow`` (tracking and registry share the same store)."""
    mlflow.set_tracking_uri(cfg.mlflow.tracking_uri)
    mlflow.set_registry_uri(cfg.mlflow.tracking_uri)
    return MlflowClient(tracking_uri=cfg.mlflow.tracking_uri, registry_uri=cfg.mlflow.tracking_uri)


def resolve(cfg, ref: str = CHAMPION) -> ModelRef:
    """The version that ``ref`` (an alias such as "champion", or a version number) names now."""
    c = client(cfg)
    ref = str(ref).strip()
    try:
        mv = c.get_model_version(MODEL_NAME, ref) if ref.isdigit() else c.get_model_version_by_alias(MODEL_NAME, ref)
    except MlflowException as e:
        if e.error_code not in _NOT_FOUND:
            raise
        kind = "version" if ref.isdigit() else "alias"
        raise ModelNotFound(f"model {MODEL_NAME!r} has no {kind} {ref!r} in {cfg.mlflow.tracking_uri}") from None
    return ModelRef(name=MODEL_NAME, version=int(mv.version), ref=ref, run_id=mv.run_id)


def load_generator(cfg, ref: str = CHAMPION) -> tuple[Generator, ModelRef]:
    """Load the generator that ``ref`` names, with the concrete version it resolved to."""
    model_ref = resolve(cfg, ref)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{model_ref.version}")
    return pyfunc.unwrap_python_model().generator, model_ref


def list_versions(cfg) -> list[VersionInfo]:
    """Every registered version of the generator, newest first, with its aliases and tags."""
    c = client(cfg)
    try:
        model = c.get_registered_model(MODEL_NAME)
    except MlflowException as e:
        if e.error_code not in _NOT_FOUND:
            raise
        return []
    aliases: dict[int, list[str]] = {}
    for alias, version in (model.aliases or {}).items():  # searched versions do not carry their aliases
        aliases.setdefault(int(version), []).append(alias)
    versions = c.search_model_versions(f"name='{MODEL_NAME}'")
    return sorted((VersionInfo(version=int(mv.version), aliases=tuple(sorted(aliases.get(int(mv.version), ()))),
                               run_id=mv.run_id, tags=dict(mv.tags or {}), created_ms=int(mv.creation_timestamp or 0))
                   for mv in versions), key=lambda v: -v.version)
