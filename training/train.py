"""Fit the generator with Ray Train on pinned lake data, track it in MLflow, register it as champion.

The driver owns MLflow: it opens the run (Ray Train V2 takes no MLflow logger callback), hands
the run id to the workers, and after the fit logs and registers the model. Rank 0 logs the loss
curve into that run while training. A run is skipped when a registered version already carries
the same fingerprint (train config + tokenizer + data versions), so a second demo never retrains.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass

import mlflow
import torch
from mlflow.entities import Param

from lake.delta import Lake
from lake.tokenizer import build_tokenizer, tokenizer_id
from musiclake.cluster import init_ray
from musiclake.runinfo import code_version, new_run_id
from training import registry
from training.conditioning import for_tokenizer
from training.data import build_datasets, pin_versions
from training.generator import CHECKPOINT_FILE, TOKENIZER_FILE, GeneratorModel, save_checkpoint
from training.model import GeneratorConfig, MusicTransformer

# Train settings that change the model; where results are stored and how often to log do not.
_NOT_FINGERPRINTED = ("storage_path", "log_every")


@dataclass
class TrainResult:
    run_id: str
    model_name: str
    model_version: int
    alias: str
    metrics: dict[str, float]
    data_versions: dict[str, int]
    fingerprint: str
    reused: bool

    def summary(self) -> str:
        how = "reused (same config, tokenizer and data)" if self.reused else "trained"
        loss = ", ".join(f"{k} {v:.4f}" for k, v in sorted(self.metrics.items()) if k.endswith("loss")) or "no loss"
        data = ", ".join(f"{k} v{v}" for k, v in sorted(self.data_versions.items()))
        return (f"{how}: {self.model_name} v{self.model_version} @{self.alias} | run {self.run_id} | {loss} | "
                f"data {data} | fingerprint {self.fingerprint}")


def fingerprint(train_cfg, tok_id: str, data_versions: dict[str, int]) -> str:
    """What makes two runs the same model: the train config, the tokenizer and the data versions."""
    settings = {k: v for k, v in train_cfg.model_dump(mode="json").items() if k not in _NOT_FINGERPRINTED}
    blob = json.dumps({"train": settings, "tokenizer_id": tok_id, "data": data_versions}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _lr_at(step: int, max_steps: int, base: float) -> float:
    """Linear warm-up over the first 10% of steps (at most 50), then cosine decay to 10% of ``base``."""
    warmup = max(1, min(50, max_steps // 10))
    if step <= warmup:
        return base * step / warmup
    progress = (step - warmup) / max(1, max_steps - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def _batches_forever(shard, batch_size: int, seed: int):
    """Endless shuffled batches of a dataset shard, one pass after another."""
    epoch = 0
    while True:
        n = 0
        for batch in shard.iter_torch_batches(batch_size=batch_size, dtypes=torch.long,
                                              local_shuffle_buffer_size=batch_size * 4,
                                              local_shuffle_seed=seed + epoch):
            n += 1
            yield batch["tokens"]
        if n == 0:
            raise RuntimeError("this worker's training shard is empty")
        epoch += 1


@torch.no_grad()
def _eval_loss(model: MusicTransformer, shard, batch_size: int) -> float:
    """Token-weighted mean loss over the whole validation set."""
    model.eval()
    total, count = 0.0, 0
    for batch in shard.iter_torch_batches(batch_size=batch_size, dtypes=torch.long):
        x = batch["tokens"]
        n = int((x[:, 1:] != model.cfg.pad_id).sum())
        _, loss = model(x[:, :-1], x[:, 1:])
        total += loss.item() * n
        count += n
    model.train()
    return total / max(count, 1)


def _train_loop(config: dict) -> None:
    """One Ray Train worker: DDP over its shard of the windows for ``max_steps`` steps."""
    import ray.train
    import ray.train.torch
    import torch.distributed as dist
    from mlflow import MlflowClient

    from training.conditioning import Conditioning

    torch.set_num_threads(1)
    torch.manual_seed(config["seed"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    raw = MusicTransformer(GeneratorConfig(**config["model"]))
    model = ray.train.torch.prepare_model(raw)
    opt = torch.optim.AdamW(raw.parameters(), lr=config["learning_rate"], weight_decay=0.1, betas=(0.9, 0.95))
    batches = _batches_forever(ray.train.get_dataset_shard("train"), config["batch_size"], config["seed"] + rank)
    mlf = MlflowClient(tracking_uri=config["tracking_uri"]) if rank == 0 else None

    max_steps, log_every = config["max_steps"], config["log_every"]
    model.train()
    window_loss, window_steps, t0, last = 0.0, 0, time.monotonic(), float("nan")
    for step in range(1, max_steps + 1):
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, max_steps, config["learning_rate"])
        x = next(batches)
        _, loss = model(x[:, :-1], x[:, 1:])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(raw.parameters(), 1.0)
        opt.step()
        window_loss += loss.item()
        window_steps += 1
        if step % log_every == 0 or step == max_steps:
            mean = torch.tensor([window_loss / window_steps])
            if world > 1:
                dist.all_reduce(mean)
                mean /= world
            last = float(mean)
            window_loss, window_steps = 0.0, 0
            if mlf is not None:
                mlf.log_metric(config["mlflow_run_id"], "train_loss", last, step=step)
                rate = step / max(time.monotonic() - t0, 1e-9)
                print(f"train step {step}/{max_steps} | loss {last:.4f} | {rate:.2f} steps/s", flush=True)

    metrics = {"train_loss": last, "step": max_steps}
    if rank != 0:
        ray.train.report(metrics)
        return
    if config["has_validation"]:
        metrics["val_loss"] = _eval_loss(raw, ray.train.get_dataset_shard("validation"), config["batch_size"])
        mlf.log_metric(config["mlflow_run_id"], "val_loss", metrics["val_loss"], step=max_steps)
    with tempfile.TemporaryDirectory() as tmp:
        save_checkpoint(os.path.join(tmp, CHECKPOINT_FILE), raw, Conditioning.from_dict(config["conditioning"]),
                        config["tokenizer_id"], max_steps)
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))


def _experiment_id(client, cfg) -> str:
    exp = client.get_experiment_by_name(cfg.mlflow.experiment)
    if exp is not None:
        return exp.experiment_id
    return client.create_experiment(cfg.mlflow.experiment, artifact_location=cfg.mlflow.artifact_location)


def _find_version(cfg, fp: str) -> registry.VersionInfo | None:
    """The newest registered version trained with fingerprint ``fp``, if any."""
    return next((v for v in registry.list_versions(cfg) if v.tags.get("fingerprint") == fp), None)


def _reuse(client, mv: registry.VersionInfo, fp: str) -> TrainResult:
    """Answer with an existing version (promoting it to champion if it is not)."""
    if registry.CHAMPION not in mv.aliases:
        client.set_registered_model_alias(registry.MODEL_NAME, registry.CHAMPION, str(mv.version))
    run = client.get_run(mv.run_id)
    versions = {k[len("data."):-len(".version")]: int(v) for k, v in mv.tags.items()
                if k.startswith("data.") and k.endswith(".version")}
    return TrainResult(run_id=mv.run_id, model_name=registry.MODEL_NAME, model_version=int(mv.version),
                       alias=registry.CHAMPION, metrics=dict(run.data.metrics), data_versions=versions,
                       fingerprint=fp, reused=True)


def run_training(cfg, force: bool = False) -> TrainResult:
    """Train on the lake as it is now and register the model as champion (or reuse an identical one)."""
    from ray.train import DataConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    lake = Lake.from_config(cfg)
    tok_cfg, tr = cfg.tokenizer, cfg.train
    tok_id = tokenizer_id(tok_cfg)
    versions = pin_versions(lake)
    fp = fingerprint(tr, tok_id, versions)
    client = registry.client(cfg)
    if not force:
        previous = _find_version(cfg, fp)
        if previous is not None:
            return _reuse(client, previous, fp)

    init_ray(cfg)
    tokenizer = build_tokenizer(tok_cfg)
    cond = for_tokenizer(tokenizer)
    data = build_datasets(lake, cond, tok_id, tr.block_size, min_train_windows=tr.num_workers,
                          bar_id=tokenizer["Bar_None"], versions=versions)
    gcfg = GeneratorConfig(vocab_size=cond.vocab_size, block_size=tr.block_size, n_layer=tr.n_layer,
                           n_head=tr.n_head, n_embd=tr.n_embd, dropout=tr.dropout, pad_id=cond.pad_id)

    data_tags = {f"data.{name}.version": str(v) for name, v in versions.items()}
    tags = {"git_commit": code_version(), "tokenizer_id": tok_id, "fingerprint": fp, **data_tags}
    run = client.create_run(_experiment_id(client, cfg), run_name=new_run_id("train"), tags=tags)
    run_id = run.info.run_id
    params = {**{f"train.{k}": v for k, v in tr.model_dump(mode="json").items()},
              "tokenizer_id": tok_id, "vocab_size": cond.vocab_size, "base_vocab_size": cond.base_vocab_size,
              **{f"n_{k}": v for k, v in data.counts.items()}, **data_tags}
    client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])

    loop_config = {"model": gcfg.to_dict(), "conditioning": cond.to_dict(), "tokenizer_id": tok_id,
                   "seed": tr.seed, "learning_rate": tr.learning_rate, "batch_size": tr.batch_size,
                   "max_steps": tr.max_steps, "log_every": tr.log_every, "tracking_uri": cfg.mlflow.tracking_uri,
                   "mlflow_run_id": run_id, "has_validation": data.validation is not None}
    datasets = {"train": data.train, **({"validation": data.validation} if data.validation is not None else {})}
    trainer = TorchTrainer(
        _train_loop, train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=tr.num_workers, use_gpu=False),
        run_config=RunConfig(name=run.info.run_name, storage_path=tr.storage_path),
        datasets=datasets, dataset_config=DataConfig(datasets_to_split=["train"]))
    try:
        result = trainer.fit()
        version = _register(client, run_id, result.checkpoint, tokenizer, tags)
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    metrics = {k: float(v) for k, v in result.metrics.items() if k.endswith("loss")}
    return TrainResult(run_id=run_id, model_name=registry.MODEL_NAME, model_version=version,
                       alias=registry.CHAMPION, metrics=metrics, data_versions=dict(versions), fingerprint=fp,
                       reused=False)


def _register(client, run_id: str, checkpoint, tokenizer, tags: dict[str, str]) -> int:
    """Log the pyfunc model into the run, register it, tag it like the run and make it champion."""
    from importlib.metadata import version as dist_version

    with tempfile.TemporaryDirectory() as tmp:
        ckpt_path = os.path.join(tmp, CHECKPOINT_FILE)
        with checkpoint.as_directory() as ckpt_dir:
            shutil.copy(os.path.join(ckpt_dir, CHECKPOINT_FILE), ckpt_path)
        tokenizer.save(tmp, filename=TOKENIZER_FILE)
        with mlflow.start_run(run_id=run_id):
            info = mlflow.pyfunc.log_model(
                name="generator", python_model=GeneratorModel(),
                artifacts={"checkpoint": ckpt_path, "tokenizer": os.path.join(tmp, TOKENIZER_FILE)},
                pip_requirements=[f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}",
                                  f"miditok=={dist_version('miditok')}", f"symusic=={dist_version('symusic')}"],
                registered_model_name=registry.MODEL_NAME)
    version = int(info.registered_model_version)
    for key, value in tags.items():
        client.set_model_version_tag(registry.MODEL_NAME, str(version), key, value)
    client.set_registered_model_alias(registry.MODEL_NAME, registry.CHAMPION, str(version))
    return version
