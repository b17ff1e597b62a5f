"""The lifecycle of one training run in MLflow, shared by the generator (training.train) and CLAP (training.clap.train).

    fingerprint -> resume: the interrupted run must carry the same fingerprint (``check_resumable``)
                -> fresh: a registered version with that fingerprint is reused (``registered_with``)
    -> the run: reopened when resuming, else created with its tags (``open_run``)
    -> fit and register inside ``tracked``: an interrupt marks the run KILLED, any other exception
       FAILED, a clean exit FINISHED

A run left KILLED or FAILED is what ``registry.interrupted_run`` finds for ``--resume``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from mlflow import MlflowClient

from common.runinfo import new_run_id
from training import registry

KILLED, FAILED, FINISHED = "KILLED", "FAILED", "FINISHED"


def check_resumable(previous_run, fp: str, differs: str) -> None:
    """NothingToResume unless the interrupted ``previous_run`` was started with fingerprint ``fp``.

    ``differs`` names what may have changed, e.g. "another train config or tokenizer".
    """
    started = previous_run.data.tags.get("fingerprint")
    if fp != started:
        raise registry.NothingToResume(
            f"run {previous_run.info.run_name} was started with {differs} (fingerprint {started}, now {fp}): "
            "resume needs the same settings; train afresh without --resume")


def registered_with(cfg, fp: str, model: str = registry.MODEL_NAME) -> registry.VersionInfo | None:
    """The newest registered version of ``model`` trained with fingerprint ``fp``, if any."""
    return next((v for v in registry.list_versions(cfg, model) if v.tags.get("fingerprint") == fp), None)


def alias_of(mv: registry.VersionInfo) -> str:
    """The alias a reused version answers with: champion, else challenger, else ""."""
    return next((a for a in (registry.CHAMPION, registry.CHALLENGER) if a in mv.aliases), "")


def open_run(client: MlflowClient, cfg, previous_run, name_prefix: str, kind: str,
             tags: dict[str, str]) -> tuple[str, str, bool]:
    """``(run_id, run_name, created)``: the interrupted ``previous_run`` set RUNNING again, or a new run.

    A new run is named ``<name_prefix>-...`` and carries ``tags`` and the kind tag that
    ``registry.interrupted_run`` searches by; the caller logs its parameters when ``created``.
    """
    if previous_run is not None:
        client.update_run(previous_run.info.run_id, status="RUNNING")
        return previous_run.info.run_id, previous_run.info.run_name, False
    run = client.create_run(registry.experiment_id(client, cfg), run_name=new_run_id(name_prefix),
                            tags={**tags, registry.KIND_TAG: kind})
    return run.info.run_id, run.info.run_name, True


@contextmanager
def tracked(client: MlflowClient, run_id: str) -> Iterator[None]:
    """Mark the run when the block ends: KILLED on KeyboardInterrupt, FAILED on any other exception, else FINISHED.

    The exception is raised again after marking.
    """
    try:
        yield
    except KeyboardInterrupt:
        client.set_terminated(run_id, status=KILLED)
        raise
    except BaseException:
        client.set_terminated(run_id, status=FAILED)
        raise
    client.set_terminated(run_id, status=FINISHED)
