"""Fit the CLAP model on pinned lake data with the generic loop, register it, gate it, embed the lake.

    pin data versions -> fingerprint (reuse an identical registered version) -> text tokenizer
    (BPE on the training texts) -> MLflow run -> training.loop.fit(ClapTask) -> pyfunc registered
    -> retrieval evaluation (and the champion's, on the same pool) -> lifecycle.challenge:
       alias "challenger", "champion" only when config.clap.gates pass -> gold_music_embeddings

The loop runs DDP over ``config.clap.num_workers`` Ray Train workers (the InfoNCE negatives are
the global batch: the task gathers embeddings across ranks), logs loss, learning rate and tokens/s
from rank 0, checkpoints every ``checkpoint_every`` steps, restarts a failed worker group from
the last checkpoint (``max_failures``) and continues an interrupted run with ``resume=True``
(the same MLflow run, data versions and text tokenizer).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from lake.delta import Lake
from lake.tokenizer import build_tokenizer, tokenizer_id
from common.runinfo import code_version
from training import lifecycle, registry, runs
from training.train import TrainResult
from training.clap import MODEL_NAME
from training.clap.config import NOT_FINGERPRINTED, ClapSettings, settings_for, train_settings
from training.clap.data import (MusicVocab, NoClapData, Pair, build_datasets, load_pairs, pin_versions,
                               training_texts)
from training.clap.encoder import CHECKPOINT_FILE, TOKENIZER_FILE, ClapEncoder
from training.clap.model import ClapConfig
from training.clap.task import ClapTask
from training.clap.text import text_tokenizer_id, train_tokenizer

KIND_TAG = registry.KIND_TAG
KIND = "train-clap"
TEXT_TOKENIZER_ARTIFACT = "text_tokenizer.json"
EVAL_SPLITS = ("validation", "test", "train")


NothingToResume = registry.NothingToResume


@dataclass
class ClapTrainResult(TrainResult):
    """A generator's TrainResult plus the retrieval table, the embedding pass and the stage timings."""

    table: str = ""  # the retrieval evaluation table (part of the summary)
    embeddings: str = ""  # what the embedding pass wrote
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        head, _, decision = super().summary().partition("\n")
        lines = [head]
        if self.timings:
            lines.append("took " + ", ".join(f"{k} {v:.1f}s" for k, v in self.timings.items()))
        if self.table:
            lines.append(self.table)
        if decision:
            lines.append(decision)
        if self.embeddings:
            lines.append(self.embeddings)
        return "\n".join(lines)


def fingerprint(settings: ClapSettings, loop_settings, tok_id: str, data_versions: dict[str, int],
                lake_uri: str) -> str:
    """What makes two runs the same model: its settings, the loop's, the lake tokenizer, the lake and its data versions."""
    from dataclasses import asdict

    loop = {k: v for k, v in asdict(loop_settings).items() if k not in NOT_FINGERPRINTED}
    blob = json.dumps({"clap": settings.to_dict(), "loop": loop, "tokenizer_id": tok_id, "data": data_versions,
                       "lake": lake_uri}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_clap_training(cfg, force: bool = False, resume: bool = False) -> ClapTrainResult:
    """Train on the lake as it is now, register, let the gates decide on champion, embed the lake.

    A registered version with the same fingerprint is reused (and its embeddings completed)
    unless ``force``; ``resume`` continues the newest interrupted CLAP run from its checkpoint.
    """
    timings, t0 = {}, time.monotonic()
    lake = Lake.from_config(cfg)
    settings = settings_for(cfg.clap)
    tok_id = tokenizer_id(cfg.tokenizer)
    client = registry.client(cfg)
    previous_run = None
    if resume:
        previous_run, versions = registry.run_to_resume(client, cfg, KIND, "CLAP")
    else:
        versions = pin_versions(lake)

    tokenizer = build_tokenizer(cfg.tokenizer)
    vocab = MusicVocab.from_tokenizer(tokenizer)
    pairs = load_pairs(lake, versions, tok_id)
    n_train = sum(p.split == "train" for p in pairs)
    batch = max(2, min(settings.batch_size, n_train // cfg.clap.num_workers))
    loop_settings = train_settings(cfg, settings, batch)
    fp = fingerprint(settings, loop_settings, tok_id, versions, lake.uri)
    if resume:
        runs.check_resumable(previous_run, fp, "other CLAP settings or data")
    elif not force:
        previous = runs.registered_with(cfg, fp, MODEL_NAME)
        if previous is not None:
            return _reuse(cfg, lake, client, previous, fp)

    if previous_run is not None:
        with open(client.download_artifacts(previous_run.info.run_id, TEXT_TOKENIZER_ARTIFACT)) as f:
            from tokenizers import Tokenizer

            text_tok = Tokenizer.from_str(f.read())
    else:
        text_tok = train_tokenizer([t for p in pairs if p.split == "train"
                                    for t in training_texts(p, settings.prompts_per_lang)], settings.text_vocab_size)
    from common.cluster import init_ray

    init_ray(cfg)  # before the first Ray Dataset: Ray Data would start a default Ray of its own
    data = build_datasets(pairs, text_tok, vocab, settings, versions, tok_id, min_train=2 * cfg.clap.num_workers)
    mcfg = ClapConfig(music_vocab_size=len(tokenizer), text_vocab_size=text_tok.get_vocab_size(),
                      music_len=settings.music_len, text_len=settings.text_len, music_layers=settings.music_layers,
                      text_layers=settings.text_layers, n_head=settings.n_head, n_embd=settings.n_embd,
                      embed_dim=settings.embed_dim, dropout=settings.dropout, music_pad_id=vocab.pad_id, text_pad_id=0)
    task = ClapTask(model_config=mcfg.to_dict(), first_crop_prob=settings.first_crop_prob,
                    extra={"text_tokenizer": text_tok.to_str(), "music_vocab": vocab.to_dict(), "tokenizer_id": tok_id})

    data_tags = {f"data.{name}.version": str(v) for name, v in versions.items()}
    tags = {"git_commit": code_version(), "tokenizer_id": tok_id, "text_tokenizer_id": text_tokenizer_id(text_tok),
            "fingerprint": fp, "preset": cfg.clap.preset, **data_tags}
    run_id, run_name, created = runs.open_run(client, cfg, previous_run, "clap", KIND, tags)
    if created:
        _log_start(client, run_id, settings, loop_settings, data.counts, text_tok, data_tags)
    timings["prepare"] = time.monotonic() - t0

    from training.loop import fit, load_checkpoint

    datasets = {"train": data.train, **({"validation": data.validation} if data.validation is not None else {})}
    from training.clap.evaluate import evaluate_pairs

    with runs.tracked(client, run_id):  # FINISHED once the retrieval metrics are in the run
        t = time.monotonic()
        result = fit(cfg, task, datasets, loop_settings, mlflow_run_id=run_id, run_name=run_name, resume=resume)
        timings["fit"] = time.monotonic() - t
        state = load_checkpoint(result.checkpoint)
        ckpt = {"model_state": state["model"], "step": int(state["step"]), **state["extra"]}
        encoder = ClapEncoder.from_checkpoint(ckpt, tokenizer)
        t = time.monotonic()
        version = _register(client, run_id, ckpt, tokenizer, tags)
        timings["register"] = time.monotonic() - t

        t = time.monotonic()
        report = evaluate_pairs(encoder, pairs, splits=EVAL_SPLITS)
        losses = {k: float(v) for k, v in result.metrics.items() if k.endswith("loss")}
        _log_metrics(client, run_id, {**report.metrics(), "logit_scale": encoder.logit_scale})
    _remeasure_champion(cfg, pairs, version)
    measured = report.metrics()
    carried = {**losses, **report.headline(), **{k: measured[k] for k in cfg.clap.gates if k in measured}}
    decision = lifecycle.challenge(cfg, MODEL_NAME, version, cfg.clap.gates, metrics=carried)
    timings["evaluate+gate"] = time.monotonic() - t

    t = time.monotonic()
    from training.clap.embeddings import embed_lake

    embedded = embed_lake(lake, encoder, MODEL_NAME, version)
    timings["embed"] = time.monotonic() - t
    timings["total"] = time.monotonic() - t0
    return ClapTrainResult(run_id=run_id, model_name=MODEL_NAME, model_version=version,
                           alias=registry.CHAMPION if decision.promoted else registry.CHALLENGER,
                           metrics=carried, data_versions=dict(versions), fingerprint=fp,
                           reused=False, decision=decision, table=report.table(), embeddings=embedded.summary(),
                           resumed_from=result.start_step if resume else None, timings=timings)


def _remeasure_champion(cfg, pairs: list[Pair], version: int) -> None:
    """The gates compare with the champion's ``metric.*`` tags: measure it again on today's pool first."""
    from training.clap.evaluate import evaluate_pairs

    try:
        champion = registry.resolve(cfg, registry.CHAMPION, MODEL_NAME)
    except registry.ModelNotFound:
        return
    if champion.version == version:
        return
    encoder = load_encoder(cfg, champion.version)
    lifecycle.record_metrics(cfg, MODEL_NAME, champion.version,
                             evaluate_pairs(encoder, pairs, splits=("validation", "test")).headline())


def _log_start(client, run_id: str, settings: ClapSettings, loop_settings, counts: dict, text_tok,
               data_tags: dict) -> None:
    from dataclasses import asdict

    from mlflow.entities import Param

    params = {**{f"clap.{k}": v for k, v in settings.to_dict().items()},
              **{f"loop.{k}": v for k, v in asdict(loop_settings).items()},
              "global_batch": loop_settings.batch_size * loop_settings.num_workers,
              "text_vocab_size": text_tok.get_vocab_size(), **{f"n_{k}": v for k, v in counts.items()}, **data_tags}
    client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
    client.log_text(run_id, text_tok.to_str(), TEXT_TOKENIZER_ARTIFACT)


def _log_metrics(client, run_id: str, metrics: dict[str, float]) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    rows = [Metric(k, float(v), now, 0) for k, v in metrics.items() if np.isfinite(v)]
    for lo in range(0, len(rows), 900):  # MLflow takes at most 1000 metrics per batch
        client.log_batch(run_id, metrics=rows[lo:lo + 900])


def _register(client, run_id: str, ckpt: dict, tokenizer, tags: dict[str, str]) -> int:
    """Log the pyfunc (weights + tokenizers; the lake tokenizer as its JSON beside) and register it (no alias yet)."""
    from importlib.metadata import version as dist_version

    import mlflow

    from training.clap.encoder import ClapPyfunc

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, CHECKPOINT_FILE)
        torch.save(ckpt, path)
        tokenizer.save(tmp, filename=TOKENIZER_FILE)
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name="clap", python_model=ClapPyfunc(),
                artifacts={"checkpoint": path, "tokenizer": os.path.join(tmp, TOKENIZER_FILE)},
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}",
                                  f"miditok=={dist_version('miditok')}", f"symusic=={dist_version('symusic')}",
                                  f"tokenizers=={dist_version('tokenizers')}"],
                registered_model_name=MODEL_NAME)
    version = int(info.registered_model_version)
    for key, value in tags.items():
        client.set_model_version_tag(MODEL_NAME, str(version), key, value)
    return version


def _reuse(cfg, lake: Lake, client, mv: registry.VersionInfo, fp: str) -> ClapTrainResult:
    """Answer with the registered version of this fingerprint as it stands; complete its embeddings."""
    from training.clap.embeddings import embed_lake

    run = client.get_run(mv.run_id)
    embedded = embed_lake(lake, load_encoder(cfg, mv.version), MODEL_NAME, mv.version)
    return ClapTrainResult(run_id=mv.run_id, model_name=MODEL_NAME, model_version=int(mv.version),
                           alias=runs.alias_of(mv),
                           metrics=dict(run.data.metrics), data_versions=registry.data_versions(mv.tags), fingerprint=fp,
                           reused=True, embeddings=embedded.summary())


def load_encoder(cfg, ref: str | int = registry.CHAMPION) -> ClapEncoder:
    """The encoder of a registered version (alias or number), through its pyfunc."""
    import mlflow

    model_ref = registry.resolve(cfg, str(ref), MODEL_NAME)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{model_ref.version}")
    return pyfunc.unwrap_python_model().encoder


__all__ = ["run_clap_training", "load_encoder", "fingerprint", "ClapTrainResult", "NothingToResume", "NoClapData"]
