"""The models in the MLflow model registry: their names, the aliases, resolving and loading a version.

Two registered models: the generator (``musiclake-generator``, the default everywhere) and the
CLAP text-music model (``musiclake-clap``). Each has the aliases ``champion`` (what serving uses)
and ``challenger`` (the newest version under evaluation); ``training.lifecycle`` moves them.

Serving resolves an alias (or a version number) to one concrete version first and loads that
version, so a model loaded as "champion" always says exactly which version it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

if TYPE_CHECKING:
    from training.generator import Generator

MODEL_NAME = "musiclake-generator"
CLAP_MODEL_NAME = "musiclake-clap"
MODELS = {"generator": MODEL_NAME, "clap": CLAP_MODEL_NAME}  # short name -> registered model name
CHAMPION = "champion"
CHALLENGER = "challenger"
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


def model_name(model: str) -> str:
    """The registered name for ``model``: a short name ("generator", "clap") or a registered name."""
    if model in MODELS:
        return MODELS[model]
    if model in MODELS.values():
        return model
    raise ValueError(f"unknown model {model!r}: one of {', '.join(MODELS)}")


def client(cfg) -> MlflowClient:
    """A client on ``cfg.mlflow`` (tracking and registry share the same store)."""
    mlflow.set_tracking_uri(cfg.mlflow.tracking_uri)
    mlflow.set_registry_uri(cfg.mlflow.tracking_uri)
    return MlflowClient(tracking_uri=cfg.mlflow.tracking_uri, registry_uri=cfg.mlflow.tracking_uri)


def resolve(cfg, ref: str = CHAMPION, model: str = MODEL_NAME) -> ModelRef:
    """The version of ``model`` that ``ref`` (an alias such as "champion", or a version number) names now."""
    name = model_name(model)
    c = client(cfg)
    ref = str(ref).strip()
    try:
        mv = c.get_model_version(name, ref) if ref.isdigit() else c.get_model_version_by_alias(name, ref)
    except MlflowException as e:
        if e.error_code not in _NOT_FOUND:
            raise
        kind = "version" if ref.isdigit() else "alias"
        raise ModelNotFound(f"model {name!r} has no {kind} {ref!r} in {cfg.mlflow.tracking_uri}") from None
    return ModelRef(name=name, version=int(mv.version), ref=ref, run_id=mv.run_id)


def load_generator(cfg, ref: str = CHAMPION) -> tuple["Generator", ModelRef]:
    """Load the generator that ``ref`` names, with the concrete version it resolved to."""
    model_ref = resolve(cfg, ref)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{model_ref.version}")
    return pyfunc.unwrap_python_model().generator, model_ref


def list_versions(cfg, model: str = MODEL_NAME) -> list[VersionInfo]:
    """Every registered version of ``model``, newest first, with its aliases and tags."""
    name = model_name(model)
    c = client(cfg)
    try:
        registered = c.get_registered_model(name)
    except MlflowException as e:
        if e.error_code not in _NOT_FOUND:
            raise
        return []
    aliases: dict[int, list[str]] = {}
    for alias, version in (registered.aliases or {}).items():  # searched versions do not carry their aliases
        aliases.setdefault(int(version), []).append(alias)
    versions = c.search_model_versions(f"name='{name}'")
    return sorted((VersionInfo(version=int(mv.version), aliases=tuple(sorted(aliases.get(int(mv.version), ()))),
                               run_id=mv.run_id, tags=dict(mv.tags or {}), created_ms=int(mv.creation_timestamp or 0))
                   for mv in versions), key=lambda v: -v.version)


# -- runs: the experiment, the data versions a run or version carries, an unfinished run to resume ----------
KIND_TAG = "musiclake.kind"  # what a training run trains: "train-generator" | "train-clap"


def experiment_id(c: MlflowClient, cfg) -> str:
    """The id of ``cfg.mlflow.experiment``, created (with the configured artifact root) when missing."""
    exp = c.get_experiment_by_name(cfg.mlflow.experiment)
    if exp is not None:
        return exp.experiment_id
    return c.create_experiment(cfg.mlflow.experiment, artifact_location=cfg.mlflow.artifact_location)


def data_versions(tags: dict[str, str]) -> dict[str, int]:
    """``{table: version}`` from ``data.<table>.version`` tags."""
    return {k[len("data."):-len(".version")]: int(v) for k, v in tags.items()
            if k.startswith("data.") and k.endswith(".version")}


class NothingToResume(RuntimeError):
    """``--resume`` found no interrupted training run that matches this config."""


def run_to_resume(c: MlflowClient, cfg, kind: str, what: str):
    """The interrupted run of ``kind`` to continue and the data versions it pinned; NothingToResume if none."""
    run = interrupted_run(c, cfg, kind)
    if run is None:
        raise NothingToResume(f"no interrupted {what} run in experiment {cfg.mlflow.experiment!r} "
                              f"({cfg.mlflow.tracking_uri}) to resume")
    return run, data_versions(run.data.tags)


def interrupted_run(c: MlflowClient, cfg, kind: str):
    """The newest training run of ``kind`` that did not finish, if any."""
    exp = c.get_experiment_by_name(cfg.mlflow.experiment)
    if exp is None:
        return None
    runs = c.search_runs([exp.experiment_id], filter_string=f"tags.`{KIND_TAG}` = '{kind}'",
                         order_by=["attributes.start_time DESC"], max_results=50)
    return next((r for r in runs if r.info.status != "FINISHED"), None)
