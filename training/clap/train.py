"""Fit the CLAP model with Ray Train on pinned lake data, register it as challenger, gate it to champion.

The driver pins the table versions, learns the text tokenizer on the training texts, opens the
MLflow run (tagged with the data versions, the tokenizers, the git commit and the fingerprint),
and hands Ray Train materialised Ray Datasets. Each worker runs :func:`train_step` for
``max_steps`` steps under DDP; :func:`clip_loss` gathers the embeddings of every rank so the
InfoNCE negatives are the global batch. Rank 0 logs loss, learning rate, temperature and tokens/s
every ``log_every`` steps and reports a checkpoint every ``checkpoint_every`` steps, from which a
worker failure (``FailureConfig``) or ``--resume`` after a killed driver continue.

After the fit the model is registered as a new version with alias ``challenger``, evaluated on
the held-out splits beside the current champion on the same pool, and made ``champion`` only when
the gate passes (:func:`decide`). Then every lake piece is embedded for that version
(``gold_music_embeddings``). A run whose fingerprint (settings + tokenizers + data versions) a
registered version already carries is not repeated.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from lake.delta import Lake
from lake.tokenizer import build_tokenizer, tokenizer_id
from musiclake.runinfo import code_version, new_run_id
from training.clap import MODEL_NAME
from training.clap import registry as reg
from training.clap.config import NOT_FINGERPRINTED, ClapSettings, settings_for
from training.clap.data import MusicVocab, Pair, build_datasets, collate, load_pairs, pin_versions
from training.clap.encoder import CHECKPOINT_FILE, TOKENIZER_FILE, ClapEncoder, checkpoint_dict
from training.clap.model import Clap, ClapConfig, clip_loss
from training.clap.text import text_tokenizer_id, train_tokenizer

TEXT_TOKENIZER_ARTIFACT = "text_tokenizer.json"
RUN_KIND_TAG = "musiclake.model"


@dataclass
class ClapTrainResult:
    run_id: str
    model_name: str
    model_version: int
    aliases: tuple[str, ...]
    metrics: dict[str, float]
    data_versions: dict[str, int]
    fingerprint: str
    reused: bool
    decision: str = ""
    table: str = ""
    embeddings: str = ""
    extra: dict = field(default_factory=dict)

    def summary(self) -> str:
        how = "reused (same settings, tokenizers and data)" if self.reused else "trained"
        data = ", ".join(f"{k} v{v}" for k, v in sorted(self.data_versions.items()))
        head = (f"{how}: {self.model_name} v{self.model_version} @{','.join(self.aliases) or '-'} | run {self.run_id} | "
                f"train_loss {self.metrics.get('train_loss', float('nan')):.4f} | data {data} | "
                f"fingerprint {self.fingerprint}")
        return "\n".join(x for x in (head, self.decision, self.embeddings) if x)


def fingerprint(settings: ClapSettings, tok_id: str, data_versions: dict[str, int]) -> str:
    """What makes two runs the same model: the settings, the lake tokenizer and the data versions."""
    kept = {k: v for k, v in settings.to_dict().items() if k not in NOT_FINGERPRINTED}
    blob = json.dumps({"clap": kept, "tokenizer_id": tok_id, "data": data_versions}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def lr_at(step: int, max_steps: int, base: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 10% of ``base``."""
    warmup = max(1, min(warmup, max_steps // 2))
    if step <= warmup:
        return base * step / warmup
    progress = (step - warmup) / max(1, max_steps - warmup)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


# -- the worker side --------------------------------------------------------------------------
def train_step(model, raw: Clap, opt: torch.optim.Optimizer, music: torch.Tensor, text: torch.Tensor, lr: float,
               mixed_precision: bool = False) -> dict[str, float]:
    """One optimisation step on one (music, text) batch; the per-step body a generic loop can call.

    ``model`` is what the forward runs through (the DDP wrapper under Ray Train), ``raw`` the
    module itself (its parameters, its temperature). Returns the loss, the temperature and the
    number of real (non-padding) tokens the step read.
    """
    for group in opt.param_groups:
        group["lr"] = lr
    with torch.autocast(device_type=music.device.type, dtype=torch.bfloat16, enabled=mixed_precision):
        m, t, scale = model(music, text)
        loss = clip_loss(m.float(), t.float(), scale)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(raw.parameters(), 1.0)
    opt.step()
    tokens = int((music != raw.cfg.music_pad_id).sum()) + int((text != raw.cfg.text_pad_id).sum())
    return {"loss": float(loss.detach()), "logit_scale": float(scale.detach()), "tokens": tokens}


def _batches(shard, batch_size: int, seed: int):
    """Endless shuffled full batches of a dataset shard (every rank steps in lock-step: no short batch)."""
    epoch = 0
    while True:
        n = 0
        for batch in shard.iter_batches(batch_size=batch_size, batch_format="numpy", drop_last=True,
                                        local_shuffle_buffer_size=batch_size * 4, local_shuffle_seed=seed + epoch):
            n += 1
            yield batch
        if n == 0:
            raise RuntimeError(f"this worker's training shard holds fewer than {batch_size} pairs")
        epoch += 1


@torch.no_grad()
def _val_loss(raw: Clap, shard, vocab: MusicVocab, s: dict, device) -> float:
    """InfoNCE over the whole validation set at once (first crop, one text per piece drawn with a fixed seed)."""
    rows = {"tokens": [], "text_ids": [], "text_lang": []}
    for batch in shard.iter_batches(batch_size=256, batch_format="numpy"):
        for k in rows:
            rows[k].extend(batch[k])
    if len(rows["tokens"]) < 2:
        return float("nan")
    music, text, _ = collate(rows, np.random.default_rng(0), vocab, s["music_len"], s["text_len"], first_crop_prob=1.0)
    raw.eval()
    try:
        m, t, scale = raw(torch.from_numpy(music).to(device), torch.from_numpy(text).to(device))
        return float(clip_loss(m, t, scale, gather=False))
    finally:
        raw.train()


def _train_loop(config: dict) -> None:
    """One Ray Train worker: DDP over its shard of the pairs from the last checkpoint (or step 0) to ``max_steps``."""
    import ray.train
    import ray.train.torch
    import torch.distributed as dist
    from mlflow import MlflowClient
    from mlflow.entities import Metric
    from tokenizers import Tokenizer

    s = config["settings"]
    torch.set_num_threads(config["threads"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.manual_seed(s["seed"])
    vocab = MusicVocab.from_dict(config["music_vocab"])
    text_tok = Tokenizer.from_str(config["text_tokenizer"])
    raw = Clap(ClapConfig(**config["model"]))
    start, state = 0, None
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as d:
            state = torch.load(os.path.join(d, CHECKPOINT_FILE), map_location="cpu", weights_only=True)
        raw.load_state_dict(state["model_state"])
        start = int(state["step"])
    model = ray.train.torch.prepare_model(raw)
    device = ray.train.torch.get_device()
    opt = torch.optim.AdamW(raw.param_groups(s["weight_decay"]), lr=s["learning_rate"], betas=(0.9, 0.98), eps=1e-6)
    if state is not None:
        opt.load_state_dict(state["optimizer_state"])
    rng = np.random.default_rng([s["seed"], rank, start])
    batches = _batches(ray.train.get_dataset_shard("train"), config["batch_size"], s["seed"] * 1000 + rank + start)
    mlf = MlflowClient(tracking_uri=config["tracking_uri"]) if rank == 0 else None
    run_id, max_steps = config["mlflow_run_id"], s["max_steps"]
    if mlf is not None and start:
        print(f"clap: resumed from the checkpoint of step {start}", flush=True)

    window, t0, last = [], time.monotonic(), float("nan")
    for step in range(start + 1, max_steps + 1):
        music, text, _ = collate(next(batches), rng, vocab, s["music_len"], s["text_len"], s["first_crop_prob"])
        lr = lr_at(step, max_steps, s["learning_rate"], s["warmup_steps"])
        out = train_step(model, raw, opt, torch.from_numpy(music).to(device), torch.from_numpy(text).to(device), lr,
                         s["mixed_precision"])
        window.append((out["loss"], out["tokens"]))
        if step % s["log_every"] == 0 or step == max_steps:
            agg = torch.tensor([sum(l for l, _ in window), float(sum(n for _, n in window)), float(len(window))])
            if world > 1:
                dist.all_reduce(agg)
            elapsed = max(time.monotonic() - t0, 1e-9)
            last = float(agg[0] / agg[2])
            if mlf is not None:
                now = int(time.time() * 1000)
                mlf.log_batch(run_id, metrics=[Metric(k, v, now, step) for k, v in (
                    ("train_loss", last), ("lr", lr), ("logit_scale", out["logit_scale"]),
                    ("tokens_per_s", float(agg[1]) / elapsed), ("tokens_per_s_per_worker", float(agg[1]) / elapsed / world))])
                print(f"clap step {step}/{max_steps} | loss {last:.4f} | lr {lr:.2e} | scale {out['logit_scale']:.1f} | "
                      f"{float(agg[1]) / elapsed:,.0f} tokens/s", flush=True)
            window, t0 = [], time.monotonic()
        if step % s["checkpoint_every"] == 0 or step == max_steps:
            metrics = {"train_loss": last, "step": step}
            if step == max_steps and rank == 0 and config["has_validation"]:
                metrics["val_loss"] = _val_loss(raw, ray.train.get_dataset_shard("validation"), vocab, s, device)
                mlf.log_metric(run_id, "val_loss", metrics["val_loss"], step=step)
            _report(metrics, raw, opt, text_tok, vocab, config["tokenizer_id"], step, rank)


def _report(metrics: dict, raw: Clap, opt, text_tok, vocab: MusicVocab, tok_id: str, step: int, rank: int) -> None:
    """Every rank reports; rank 0 attaches the checkpoint (weights, optimizer, tokenizers, step)."""
    import ray.train

    if rank != 0:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(checkpoint_dict(raw, text_tok, vocab, tok_id, step, opt), os.path.join(tmp, CHECKPOINT_FILE))
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(tmp))


# -- the driver side --------------------------------------------------------------------------
def _experiment_id(client, cfg) -> str:
    exp = client.get_experiment_by_name(cfg.mlflow.experiment)
    if exp is not None:
        return exp.experiment_id
    return client.create_experiment(cfg.mlflow.experiment, artifact_location=cfg.mlflow.artifact_location)


def _unfinished_run(client, cfg, fp: str):
    """The newest MLflow run of this model and fingerprint that did not finish (to resume), if any."""
    exp = client.get_experiment_by_name(cfg.mlflow.experiment)
    if exp is None:
        return None
    runs = client.search_runs([exp.experiment_id], f"tags.`{RUN_KIND_TAG}` = '{MODEL_NAME}' and "
                              f"tags.fingerprint = '{fp}'", order_by=["attributes.start_time DESC"], max_results=5)
    return next((r for r in runs if r.info.status != "FINISHED"), None)


def run_clap_training(cfg, force: bool = False, resume: bool = False) -> ClapTrainResult:
    """Train on the lake as it is now, register, gate and embed (or reuse a version with the same fingerprint).

    ``resume`` continues the newest unfinished run of the same fingerprint from its last checkpoint
    (same MLflow run, same text tokenizer); without one it starts afresh.
    """
    from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    from tokenizers import Tokenizer

    from musiclake.cluster import init_ray

    lake = Lake.from_config(cfg)
    settings = settings_for(cfg.clap)
    tok_id = tokenizer_id(cfg.tokenizer)
    versions = pin_versions(lake)
    fp = fingerprint(settings, tok_id, versions)
    client = reg.client(cfg)
    if not force and not resume:
        previous = next((v for v in reg.list_versions(cfg) if v.tags.get("fingerprint") == fp), None)
        if previous is not None:
            return _reuse(cfg, lake, client, previous, fp)

    init_ray(cfg)
    tokenizer = build_tokenizer(cfg.tokenizer)
    vocab = MusicVocab.from_tokenizer(tokenizer)
    pairs = load_pairs(lake, versions, tok_id)
    train_pairs = [p for p in pairs if p.split == "train"]
    batch = min(settings.batch_size, len(train_pairs) // settings.num_workers)

    previous_run = _unfinished_run(client, cfg, fp) if resume else None
    if previous_run is not None:
        run_id, run_name = previous_run.info.run_id, previous_run.info.run_name
        text_tok = Tokenizer.from_str(open(client.download_artifacts(run_id, TEXT_TOKENIZER_ARTIFACT)).read())
        client.update_run(run_id, status="RUNNING")
    else:
        text_tok = train_tokenizer([t for p in train_pairs for t in p.texts], settings.text_vocab_size)
    data = build_datasets(pairs, text_tok, settings.text_len, versions, tok_id, min_train=2 * settings.num_workers)
    mcfg = ClapConfig(music_vocab_size=len(tokenizer), text_vocab_size=text_tok.get_vocab_size(),
                      music_len=settings.music_len, text_len=settings.text_len, music_layers=settings.music_layers,
                      text_layers=settings.text_layers, n_head=settings.n_head, n_embd=settings.n_embd,
                      embed_dim=settings.embed_dim, dropout=settings.dropout, music_pad_id=vocab.pad_id, text_pad_id=0)

    data_tags = {f"data.{name}.version": str(v) for name, v in versions.items()}
    tags = {RUN_KIND_TAG: MODEL_NAME, "git_commit": code_version(), "tokenizer_id": tok_id,
            "text_tokenizer_id": text_tokenizer_id(text_tok), "fingerprint": fp, "preset": cfg.clap.preset, **data_tags}
    if previous_run is None:
        run = client.create_run(_experiment_id(client, cfg), run_name=new_run_id("clap"), tags=tags)
        run_id, run_name = run.info.run_id, run.info.run_name
        _log_start(client, run_id, settings, data.counts, batch, text_tok, tags)

    loop_config = {"settings": settings.to_dict(), "model": mcfg.to_dict(), "music_vocab": vocab.to_dict(),
                   "text_tokenizer": text_tok.to_str(), "tokenizer_id": tok_id, "batch_size": batch,
                   "threads": max(1, (cfg.ray.num_cpus or os.cpu_count() or 1) // settings.num_workers),
                   "tracking_uri": cfg.mlflow.tracking_uri, "mlflow_run_id": run_id,
                   "has_validation": data.validation is not None}
    datasets = {"train": data.train, **({"validation": data.validation} if data.validation is not None else {})}
    trainer = TorchTrainer(
        _train_loop, train_loop_config=loop_config,
        scaling_config=ScalingConfig(num_workers=settings.num_workers, use_gpu=settings.use_gpu),
        run_config=RunConfig(name=run_name, storage_path=cfg.train.storage_path,
                             failure_config=FailureConfig(max_failures=settings.max_failures),
                             checkpoint_config=CheckpointConfig(num_to_keep=2)),
        datasets=datasets, dataset_config=DataConfig(datasets_to_split=["train"]))
    try:
        result = trainer.fit()
        with result.checkpoint.as_directory() as d:
            ckpt = torch.load(os.path.join(d, CHECKPOINT_FILE), map_location="cpu", weights_only=True)
        encoder = ClapEncoder.from_checkpoint(ckpt, tokenizer)
        version = _register(client, run_id, ckpt, tokenizer, {k: v for k, v in tags.items() if k != RUN_KIND_TAG})
        outcome = gate(cfg, lake, encoder, version, pairs)
        from training.clap.embeddings import embed_lake

        embedded = embed_lake(lake, encoder, MODEL_NAME, version)
        _log_metrics(client, run_id, outcome.metrics)
    except BaseException:
        client.set_terminated(run_id, status="FAILED")
        raise
    client.set_terminated(run_id, status="FINISHED")
    metrics = {k: float(v) for k, v in result.metrics.items() if k.endswith("loss")} | outcome.metrics
    aliases = next(v.aliases for v in reg.list_versions(cfg) if v.version == version)
    return ClapTrainResult(run_id=run_id, model_name=MODEL_NAME, model_version=version, aliases=aliases,
                           metrics=metrics, data_versions=dict(versions), fingerprint=fp, reused=False,
                           decision=outcome.decision, table=outcome.table, embeddings=embedded.summary())


def _log_start(client, run_id: str, settings: ClapSettings, counts: dict, batch: int, text_tok, tags: dict) -> None:
    from mlflow.entities import Param

    params = {**{f"clap.{k}": v for k, v in settings.to_dict().items()}, "batch_size_per_worker": batch,
              "global_batch": batch * settings.num_workers, "text_vocab_size": text_tok.get_vocab_size(),
              **{f"n_{k}": v for k, v in counts.items()}, **{k: v for k, v in tags.items() if k.startswith("data.")}}
    client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])
    client.log_text(run_id, text_tok.to_str(), TEXT_TOKENIZER_ARTIFACT)


def _log_metrics(client, run_id: str, metrics: dict[str, float]) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items() if np.isfinite(v)])


def _register(client, run_id: str, ckpt: dict, tokenizer, tags: dict[str, str]) -> int:
    """Log the pyfunc (weights without the optimizer, lake tokenizer beside) and register it as challenger."""
    from importlib.metadata import version as dist_version

    import mlflow

    from training.clap.encoder import ClapPyfunc

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, CHECKPOINT_FILE)
        torch.save({k: v for k, v in ckpt.items() if k != "optimizer_state"}, path)
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
    client.set_registered_model_alias(MODEL_NAME, reg.CHALLENGER, str(version))
    return version


# -- challenger -> champion -------------------------------------------------------------------
@dataclass
class GateOutcome:
    promoted: bool
    decision: str
    metrics: dict[str, float]
    table: str


def decide(metric: str, challenger: dict, champion: dict | None, min_lift: float, tolerance: float) -> tuple[bool, str]:
    """Promote when the challenger's ``metric`` reaches ``min_lift`` x chance and is at most ``tolerance``
    below the champion's (both measured now, on the same pool)."""
    value, floor = challenger.get(metric), challenger.get(f"chance.{metric}")
    if value is None or floor is None:
        return False, f"gate: {metric} not measured (no pieces in that split?): kept as challenger"
    if value < min_lift * floor:
        return False, f"gate: {metric} {value:.3f} < {min_lift:g} x chance {floor:.3f}: kept as challenger"
    if champion is not None and metric in champion and value < champion[metric] - tolerance:
        return False, (f"gate: {metric} {value:.3f} < champion's {champion[metric]:.3f} - {tolerance:g}: "
                       "kept as challenger")
    against = f", champion {champion[metric]:.3f}" if champion is not None and metric in champion else ", no champion yet"
    return True, f"gate: {metric} {value:.3f} >= {min_lift:g} x chance {floor:.3f}{against}: promoted to champion"


def gate(cfg, lake: Lake, encoder: ClapEncoder, version: int, pairs: list[Pair]) -> GateOutcome:
    """Evaluate the new version (and the champion, on the same pairs), promote it if the gate passes."""
    from training.clap.evaluate import evaluate_pairs

    client = reg.client(cfg)
    report = evaluate_pairs(encoder, pairs, splits=("validation", "test", "train"))
    mine = report.metrics()
    champion_metrics = None
    try:
        champion = load_encoder(cfg, reg.CHAMPION)
        champion_metrics = evaluate_pairs(champion, pairs, splits=("validation",)).metrics()
    except reg.ModelNotFound:
        pass
    ok, decision = decide(cfg.clap.gate_metric, mine, champion_metrics, cfg.clap.gate_min_lift, cfg.clap.gate_tolerance)
    client.set_model_version_tag(MODEL_NAME, str(version), "gate", decision)
    if ok:
        reg.set_alias(cfg, reg.CHAMPION, version)
    return GateOutcome(ok, decision, mine, report.table())


def _reuse(cfg, lake: Lake, client, mv, fp: str) -> ClapTrainResult:
    """Answer with the registered version of this fingerprint; make sure its embeddings are complete."""
    from training.clap.embeddings import embed_lake

    run = client.get_run(mv.run_id)
    versions = {k[len("data."):-len(".version")]: int(v) for k, v in mv.tags.items()
                if k.startswith("data.") and k.endswith(".version")}
    encoder = load_encoder(cfg, mv.version)
    embedded = embed_lake(lake, encoder, MODEL_NAME, mv.version)
    return ClapTrainResult(run_id=mv.run_id, model_name=MODEL_NAME, model_version=mv.version, aliases=mv.aliases,
                           metrics=dict(run.data.metrics), data_versions=versions, fingerprint=fp, reused=True,
                           decision=mv.tags.get("gate", ""), embeddings=embedded.summary())


def load_encoder(cfg, ref: str | int = reg.CHAMPION) -> ClapEncoder:
    """The encoder of a registered version (alias or number), through its pyfunc."""
    import mlflow

    model_ref = reg.resolve(cfg, str(ref))
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{model_ref.version}")
    return pyfunc.unwrap_python_model().encoder
