"""``musiclake-clap`` in the MLflow model registry: resolve an alias or version, list versions, set aliases.

The same shapes as :mod:`training.registry` (the generator's), for the CLAP model's own name.
New versions enter as ``challenger``; ``champion`` moves only when the gates pass (train.py).
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException

from training.clap import MODEL_NAME
from training.registry import CHAMPION, ModelNotFound, ModelRef, VersionInfo, client

CHALLENGER = "challenger"
_NOT_FOUND = ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")

__all__ = ["MODEL_NAME", "CHAMPION", "CHALLENGER", "ModelNotFound", "ModelRef", "VersionInfo", "client", "resolve",
           "list_versions", "set_alias"]


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


def list_versions(cfg) -> list[VersionInfo]:
    """Every registered version, newest first, with its aliases and tags."""
    c = client(cfg)
    try:
        model = c.get_registered_model(MODEL_NAME)
    except MlflowException as e:
        if e.error_code not in _NOT_FOUND:
            raise
        return []
    aliases: dict[int, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(int(version), []).append(alias)
    return sorted((VersionInfo(version=int(mv.version), aliases=tuple(sorted(aliases.get(int(mv.version), ()))),
                               run_id=mv.run_id, tags=dict(mv.tags or {}), created_ms=int(mv.creation_timestamp or 0))
                   for mv in c.search_model_versions(f"name='{MODEL_NAME}'")), key=lambda v: -v.version)


def set_alias(cfg, alias: str, version: int) -> None:
    client(cfg).set_registered_model_alias(MODEL_NAME, alias, str(version))
