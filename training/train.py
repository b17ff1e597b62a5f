"""Train the generator on pinned lake data with the generic loop, track it in MLflow, put it through the gates.

    pin data versions -> fingerprint (reuse an identical registered version) -> MLflow run
    -> training.loop.fit(GeneratorTask) -> pyfunc model registered -> lifecycle.challenge:
       alias "challenger", evaluated, "champion" only when train.gates pass

The driver owns MLflow: it opens the run (Ray Train V2 takes no MLflow logger callback), hands
the run id to the workers, whose rank 0 logs the per-step loss, learning rate and tokens/s into
it, and after the fit logs and registers the model. A run is skipped when a registered version
already carries the same fingerprint (train config + tokenizer + data versions), so a second demo
never retrains. ``resume=True`` continues the newest interrupted generator run from its last
checkpoint, at the data versions that run pinned. The run's lifecycle (resume check, reuse, open,
KILLED/FAILED/FINISHED marking) is training.runs, shared with the CLAP trainer.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from typing import Any, Callable

import mlflow
import torch
from mlflow.entities import Param

from lake.delta import Lake
from common.cluster import init_ray
from common.runinfo import code_version
from training import lifecycle, registry, runs
from training.data import LICENCE_TAG, build_datasets, pin_versions
from training.generator import CHECKPOINT_FILE, GeneratorModel, save_checkpoint
from training.generator_task import GeneratorTask
from training.loop import TrainSettings, fit, load_checkpoint
from training.model import NoteModelConfig
from training.notes import FORMAT_ID

# Train settings that change the model; where results go, how often to log, check or checkpoint,
# how to recover and which gates judge it do not (the loop replays exactly, so neither do restarts).
_NOT_FINGERPRINTED = ("storage_path", "log_every", "eval_every", "checkpoint_every", "keep_checkpoints",
                      "max_failures", "gates", "preset", "cpus_per_worker")
KIND_TAG = registry.KIND_TAG
KIND = "train-generator"


NothingToResume = registry.NothingToResume


@dataclass
class TrainResult:
    run_id: str
    model_name: str
    model_version: int
    alias: str  # champion | challenger | "" (a reused version with neither)
    metrics: dict[str, float]
    data_versions: dict[str, int]
    fingerprint: str
    reused: bool
    decision: lifecycle.Decision | None = None
    resumed_from: int | None = None  # the checkpoint step a resumed run started from

    def summary(self) -> str:
        how = "reused (same config, tokenizer and data)" if self.reused else "trained"
        if self.resumed_from is not None:
            how = f"resumed from step {self.resumed_from} and trained"
        loss = ", ".join(f"{k} {v:.4f}" for k, v in sorted(self.metrics.items()) if k.endswith("loss")) or "no loss"
        data = ", ".join(f"{k} v{v}" for k, v in sorted(self.data_versions.items()))
        alias = f" @{self.alias}" if self.alias else ""
        line = (f"{how}: {self.model_name} v{self.model_version}{alias} | run {self.run_id} | {loss} | "
                f"data {data} | fingerprint {self.fingerprint}")
        return line + ("\n" + self.decision.summary() if self.decision is not None else "")


def fingerprint(train_cfg, tok_id: str, data_versions: dict[str, int], lake_uri: str) -> str:
    """What makes two runs the same model: the train config, the tokenizer, the lake and its data versions.

    The lake's URI is part of it: two lakes (another bucket, another prefix) can stand at the same
    table versions with other rows in them.
    """
    settings = {k: v for k, v in train_cfg.model_dump(mode="json").items() if k not in _NOT_FINGERPRINTED}
    blob = json.dumps({"train": settings, "tokenizer_id": tok_id, "data": data_versions, "lake": lake_uri},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _reuse(client, mv: registry.VersionInfo, fp: str) -> TrainResult:
    """Answer with an existing version as it stands (its gates were decided when it was registered)."""
    run = client.get_run(mv.run_id)
    return TrainResult(run_id=mv.run_id, model_name=registry.MODEL_NAME, model_version=int(mv.version),
                       alias=runs.alias_of(mv),
                       metrics=dict(run.data.metrics), data_versions=registry.data_versions(mv.tags), fingerprint=fp,
                       reused=True)


def run_training(cfg, force: bool = False, resume: bool = False,
                 evaluate: Callable[[Any, str], Any] | None = None) -> TrainResult:
    """Train on the lake as it is now, register the model and let the gates decide on champion.

    ``evaluate(cfg, ref)`` (e.g. ``training.evaluate.evaluate_version``) adds its metrics to the
    training losses before the gates (``cfg.train.gates``) are applied.
    """
    lake = Lake.from_config(cfg)
    tr = cfg.train
    tok_id = FORMAT_ID  # the note-step layout plays the tokenizer's part
    client = registry.client(cfg)
    previous_run = None
    if resume:
        previous_run, versions = registry.run_to_resume(client, cfg, KIND, "generator")
        fp = fingerprint(tr, tok_id, versions, lake.uri)
        runs.check_resumable(previous_run, fp, "another train config or tokenizer")
    else:
        versions = pin_versions(lake)
        fp = fingerprint(tr, tok_id, versions, lake.uri)
        if not force:
            previous = runs.registered_with(cfg, fp)
            if previous is not None:
                return _reuse(client, previous, fp)

    init_ray(cfg)
    data = build_datasets(lake, tr.block_size, versions=versions, seed=tr.seed, min_train_windows=tr.num_workers)
    mcfg = NoteModelConfig(block_size=tr.block_size, n_layer=tr.n_layer, n_head=tr.n_head, n_embd=tr.n_embd,
                           dropout=tr.dropout, pitch_warmth=tr.pitch_warmth,
                           onset_warmth=tr.onset_warmth)
    task = GeneratorTask(model_config=mcfg.to_dict())

    data_tags = {f"data.{name}.version": str(v) for name, v in versions.items()}
    tags = {"git_commit": code_version(), "tokenizer_id": tok_id, "fingerprint": fp, **data_tags,
            LICENCE_TAG: data.licence or "none recorded"}
    run_id, run_name, created = runs.open_run(client, cfg, previous_run, "train", KIND, tags)
    if created:
        params = {**{f"train.{k}": v for k, v in tr.model_dump(mode="json").items()},
                  "tokenizer_id": tok_id,
                  **{f"n_{k}": v for k, v in data.counts.items()}, **data_tags}
        client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])

    datasets = {"train": data.train, **({"validation": data.validation} if data.validation is not None else {})}
    with runs.tracked(client, run_id):
        result = fit(cfg, task, datasets, TrainSettings.from_section(tr), mlflow_run_id=run_id, run_name=run_name,
                     resume=resume)
        version = _register(client, run_id, result.checkpoint, task, tags)
    metrics = {k: float(v) for k, v in result.metrics.items() if k.endswith("loss")}
    decision = lifecycle.challenge(cfg, registry.MODEL_NAME, version, tr.gates, metrics=metrics, evaluate=evaluate)
    return TrainResult(run_id=run_id, model_name=registry.MODEL_NAME, model_version=version,
                       alias=registry.CHAMPION if decision.promoted else registry.CHALLENGER, metrics=metrics,
                       data_versions=dict(versions), fingerprint=fp, reused=False, decision=decision,
                       resumed_from=result.start_step if resume else None)


def _register(client, run_id: str, checkpoint, task: GeneratorTask, tags: dict[str, str]) -> int:
    """Log the pyfunc model into the run and register it, tagged like the run (no alias yet)."""
    from importlib.metadata import version as dist_version

    state = load_checkpoint(checkpoint)
    model = task.build_model()
    model.load_state_dict(state["model"])
    with tempfile.TemporaryDirectory() as tmp:
        ckpt_path = os.path.join(tmp, CHECKPOINT_FILE)
        save_checkpoint(ckpt_path, model, int(state["step"]), {"format_id": task.format_id})
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name="generator", python_model=GeneratorModel(),
                artifacts={"checkpoint": ckpt_path},
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}",
                                  f"miditok=={dist_version('miditok')}", f"symusic=={dist_version('symusic')}"],
                registered_model_name=registry.MODEL_NAME)
    version = int(info.registered_model_version)
    for key, value in tags.items():
        client.set_model_version_tag(registry.MODEL_NAME, str(version), key, value)
    return version
