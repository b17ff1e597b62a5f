"""The one Ray Train loop both models train with (the generator and the CLAP model).

A model plugs in as a :class:`Task`, three methods and a name::

    class Task(Protocol):
        name: str                                         # "generator" | "clap": progress lines, checkpoints
        def build_model(self) -> torch.nn.Module          # fresh weights (the loop seeds torch first)
        def loss(self, model, batch) -> tuple[Tensor, int]  # mean loss over the batch, and the tokens
                                                          # (or items) it covers, for the weighting and tokens/s
        def checkpoint_extra(self) -> dict                # what must travel with the weights (configs, vocab)

and is trained by::

    result = fit(cfg, task, {"train": ds, "validation": ds_val}, TrainSettings.from_section(cfg.train),
                 mlflow_run_id=run_id, run_name="train-...", resume=False)
    state = load_checkpoint(result.checkpoint)   # {"model", "optimizer", "step", "extra", ...}

Contract. The task object is pickled to every worker, so keep it a small module-level class holding
plain data (dicts of its model config, vocab). ``batch`` maps each dataset column to a tensor of
``batch_size`` rows on the worker's device; every column must be a fixed-shape numeric column (a
Ray Data tensor column). ``loss`` gets the DDP-wrapped model while training and the bare module
under ``torch.no_grad()`` in validation; every rank calls it the same number of times with the
same batch shapes, so a loss may hold collectives (CLAP gathers embeddings across ranks).
The validation loss is the token-weighted mean of ``loss`` over the ``validation`` dataset.

What the loop does. DDP over ``num_workers`` workers (CPU, or one GPU each with ``use_gpu``;
``precision`` bf16/fp16 autocast, fp16 with a gradient scaler); AdamW (decay on matrices only),
linear warm-up then cosine decay, gradient clipping. Rank 0 sends the per-step loss (token-weighted
over all ranks), learning rate and tokens/s to the MLflow run in one ``log_batch`` every
``log_every`` steps and prints a progress line. Every ``checkpoint_every`` steps, and at the end,
a checkpoint (a plain dict, nanoGPT style: model, optimizer, scaler, step, task extra) is reported
to Ray Train, which keeps it under ``storage_path/run_name``.

Resuming. A worker group that dies is restarted by Ray Train (``FailureConfig(max_failures)``)
and every worker continues from ``ray.train.get_checkpoint()``; ``resume=True`` continues an
interrupted run by re-using its ``run_name`` and ``storage_path``, where Ray Train V2 finds the
run's checkpoint list. Either way the continuation is exact, not approximate: every rank sees the
whole training set (no Ray Data split, whose row order is not fixed) and takes its rows from a
permutation that is a function of (seed, epoch, rank), and torch is reseeded from (seed, rank,
step) before every step, so batch and dropout masks at step k are the same whether or not the
run stopped before k; the checkpoint therefore needs no RNG or data-iterator state. Rows are put
in an order of their own (by a hash of their content) first, so a dataset rebuilt in another block
order on ``--resume`` replays the same batches. The price is
that each worker holds the training set in memory (token windows: 10^6 windows of 257 int64 ids
are 2 GB); a corpus beyond that wants streaming shards and loses the exact replay.
Steps replayed after a restart are logged again, with the same values.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch

CHECKPOINT_FILE = "state.pt"
CHECKPOINT_FORMAT = 1
_MLFLOW_BATCH = 900  # MLflow takes at most 1000 metrics per log_batch
_STEP = 0  # the step this worker is computing (see current_step)


@runtime_checkable
class Task(Protocol):
    name: str

    def build_model(self) -> torch.nn.Module: ...

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]: ...

    def checkpoint_extra(self) -> dict: ...


class RunExists(RuntimeError):
    """A fresh fit was asked for under a run name that already has results in storage."""


@dataclass(frozen=True)
class TrainSettings:
    """How the loop trains: the run-level knobs, independent of the model's own sizes."""

    storage_path: str
    num_workers: int = 2
    cpus_per_worker: int = 1
    use_gpu: bool = False
    precision: str = "fp32"  # fp32 | bf16 | fp16
    max_steps: int = 300
    batch_size: int = 16  # rows per worker per step
    learning_rate: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int | None = None  # None: 10% of max_steps, at most 50
    weight_decay: float = 0.1
    grad_clip: float = 1.0  # 0: off
    seed: int = 0
    log_every: int = 10
    eval_every: int = 0  # 0: validation only at the end
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    max_failures: int = 1

    def __post_init__(self):
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"precision must be fp32, bf16 or fp16, got {self.precision!r}")
        if self.max_steps < 1 or self.batch_size < 1 or self.num_workers < 1:
            raise ValueError("max_steps, batch_size and num_workers must be >= 1")
        if self.checkpoint_every < 1 or self.log_every < 1:
            raise ValueError("checkpoint_every and log_every must be >= 1")

    @classmethod
    def from_section(cls, section: Any, **overrides: Any) -> "TrainSettings":
        """Settings from any config section holding fields of these names (``cfg.train``, ``cfg.clap``)."""
        values = {f.name: getattr(section, f.name) for f in fields(cls) if hasattr(section, f.name)}
        return cls(**{**values, **overrides})

    @property
    def warmup(self) -> int:
        if self.warmup_steps is not None:
            return self.warmup_steps
        return max(1, min(50, self.max_steps // 10))

    def lr_at(self, step: int) -> float:
        """Linear warm-up to ``learning_rate``, then cosine decay to ``learning_rate * min_lr_ratio``."""
        peak, floor = self.learning_rate, self.learning_rate * self.min_lr_ratio
        if self.warmup and step <= self.warmup:
            return peak * step / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.max_steps - self.warmup))
        return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


@dataclass
class FitResult:
    checkpoint: Any  # ray.train.Checkpoint of the last step
    metrics: dict[str, float]  # train_loss (mean of the last log window), val_loss when validated
    steps: int  # the step the run ended at (= max_steps)
    start_step: int  # the step the last worker group started from (0: from scratch)
    path: str  # the run's folder in storage


def fit(cfg, task: Task, datasets: dict, settings: TrainSettings, *, mlflow_run_id: str, run_name: str,
        resume: bool = False) -> FitResult:
    """Train ``task`` on ``datasets["train"]`` (and validate on ``datasets["validation"]`` if given).

    ``cfg`` supplies Ray (``cfg.ray``) and the MLflow tracking URI the workers log to; the run
    ``mlflow_run_id`` must exist. ``run_name`` names the run's folder under ``storage_path``: a new
    fit refuses a name that already has one (:class:`RunExists`), ``resume=True`` continues it.
    """
    from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from common.cluster import init_ray

    if not isinstance(task, Task):
        raise TypeError(f"{type(task).__name__} is not a training.loop.Task (name, build_model, loss, checkpoint_extra)")
    unknown = set(datasets) - {"train", "validation"}
    if "train" not in datasets or unknown:
        raise ValueError(f"datasets must hold 'train' and may hold 'validation', got {sorted(datasets)}")
    exists = run_exists(settings.storage_path, run_name)
    if exists and not resume:
        raise RunExists(f"{settings.storage_path}/{run_name} already holds a run: resume it or pick a new name")
    if resume and not exists:
        print(f"{task.name}: nothing stored under {settings.storage_path}/{run_name}: starting from step 0", flush=True)

    init_ray(cfg)
    ingest = DataConfig.default_ingest_options()
    ingest.preserve_order = True
    resources = {"CPU": settings.cpus_per_worker, **({"GPU": 1} if settings.use_gpu else {})}
    trainer = TorchTrainer(
        _worker,
        train_loop_config={"task": task, "settings": asdict(settings), "tracking_uri": cfg.mlflow.tracking_uri,
                           "mlflow_run_id": mlflow_run_id, "has_validation": "validation" in datasets},
        scaling_config=ScalingConfig(num_workers=settings.num_workers, use_gpu=settings.use_gpu,
                                     resources_per_worker=resources),
        run_config=RunConfig(name=run_name, storage_path=settings.storage_path,
                             failure_config=FailureConfig(max_failures=settings.max_failures),
                             checkpoint_config=CheckpointConfig(num_to_keep=settings.keep_checkpoints)),
        datasets=datasets,
        dataset_config=DataConfig(datasets_to_split=[], execution_options=ingest))
    result = _fit_releasing_the_controller(trainer)
    done = result.return_value or {}
    return FitResult(checkpoint=result.checkpoint, metrics=dict(done.get("metrics", {})),
                     steps=int(done.get("steps", 0)), start_step=int(done.get("start_step", 0)), path=result.path)


def _fit_releasing_the_controller(trainer):
    """``trainer.fit()``, then the SIGINT handler it found put back. Ray Train (2.60) installs a Ctrl-C
    handler whose closure holds the run's TrainController and never restores the previous one, so a
    finished controller lives on until a later fit replaces the handler, and dies then, while that fit
    (or a crawl) is starting actors: in the test session's failing order the driver's GCS actor channel
    went unanswered from that death on (tests/conftest.py). Put back, the handle goes with this fit."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    try:
        return trainer.fit()
    finally:
        if main and previous is not None:
            signal.signal(signal.SIGINT, previous)


def current_step() -> int:
    """The training step this worker is computing now (1-based; 0 before the first), for a task that needs it."""
    return _STEP


def run_exists(storage_path: str, run_name: str) -> bool:
    """Whether ``storage_path/run_name`` exists (a local folder or an object-store prefix)."""
    import pyarrow.fs as pafs

    fs, root = pafs.FileSystem.from_uri(storage_path)
    return fs.get_file_info(f"{root.rstrip('/')}/{run_name}").type != pafs.FileType.NotFound


def load_checkpoint(checkpoint) -> dict:
    """The state dict a checkpoint of this loop holds (tensors on CPU)."""
    with checkpoint.as_directory() as path:
        return torch.load(os.path.join(path, CHECKPOINT_FILE), map_location="cpu", weights_only=True)


# ---------------------------------------------------------------- on the workers


class _Rows:
    """One dataset held as numpy columns, handing out batches by row index."""

    def __init__(self, columns: dict[str, np.ndarray]):
        self.columns = columns
        self.n = len(next(iter(columns.values()))) if columns else 0

    @classmethod
    def read(cls, shard) -> "_Rows":
        parts: dict[str, list[np.ndarray]] = {}
        for batch in shard.iter_batches(batch_size=4096, batch_format="numpy"):
            for name, values in batch.items():
                parts.setdefault(name, []).append(values)
        columns = {}
        for name, chunks in sorted(parts.items()):
            values = np.concatenate(chunks)
            if not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
                raise TypeError(f"dataset column {name!r} is {values.dtype}, not a fixed-shape numeric tensor column")
            columns[name] = values
        return cls(columns).canonical()

    def canonical(self) -> "_Rows":
        """The rows sorted by a hash of their content: an order that does not depend on how the
        dataset's blocks were produced (a rebuilt dataset on ``--resume`` may come in another order)."""
        import hashlib

        if self.n == 0:
            return self
        cols = list(self.columns.values())
        keys = np.fromiter((int.from_bytes(hashlib.blake2b(b"".join(c[i].tobytes() for c in cols),
                                                           digest_size=8).digest(), "little")
                            for i in range(self.n)), dtype=np.uint64, count=self.n)
        order = np.argsort(keys, kind="stable")
        return _Rows({k: v[order] for k, v in self.columns.items()})

    def take(self, idx: np.ndarray, device) -> dict[str, torch.Tensor]:
        return {k: torch.from_numpy(np.ascontiguousarray(v[idx])).to(device, non_blocking=True)
                for k, v in self.columns.items()}


class _Order:
    """Which training rows a rank uses at a step: a fresh permutation each epoch, equal shares per rank."""

    def __init__(self, n: int, batch_size: int, seed: int, rank: int, world: int):
        self.per_rank = n // world
        if self.per_rank < 1:
            raise ValueError(f"{n} training rows cannot feed {world} workers")
        self.batch_size = min(batch_size, self.per_rank)
        self.batches_per_epoch = math.ceil(self.per_rank / self.batch_size)
        self.n, self.seed, self.rank, self.world = n, seed, rank, world
        self._epoch, self._rows = -1, np.empty(0, dtype=np.int64)

    def rows(self, step: int) -> np.ndarray:
        epoch, j = divmod(step - 1, self.batches_per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            perm = torch.randperm(self.n, generator=gen).numpy()
            self._epoch, self._rows = epoch, perm[self.rank::self.world][:self.per_rank]
        return self._rows[j * self.batch_size:(j + 1) * self.batch_size]


def _say(line: str) -> None:
    """A progress line on the worker's stdout, which Ray forwards to the driver.

    Written to the process's own stdout: Ray Train patches ``print`` and, once a library (MLflow)
    has wrapped ``sys.stdout``, a plain print would come out twice.
    """
    print(line, file=sys.__stdout__, flush=True)


def _step_seed(seed: int, rank: int, step: int) -> int:
    return (seed * 1_000_003 + rank * 7919 + step) % (2**63 - 1)


def _optimizer(model: torch.nn.Module, s: TrainSettings) -> torch.optim.AdamW:
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    keep = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": s.weight_decay}, {"params": keep, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=s.lr_at(1), betas=(0.9, 0.95))


def _autocast(device: torch.device, precision: str):
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def _all_sum(values: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        import torch.distributed as dist

        dist.all_reduce(values)
    return values


@torch.no_grad()
def _validate(task: Task, model: torch.nn.Module, rows: _Rows, s: TrainSettings, rank: int, world: int,
              device) -> float | None:
    """Token-weighted mean loss over equal contiguous shares of the validation rows (the remainder is left out)."""
    per = rows.n // world
    if per == 0:
        return None
    torch.manual_seed(_step_seed(s.seed, rank, -1))
    model.eval()
    total = torch.zeros(2, dtype=torch.float64, device=device)
    for lo in range(rank * per, (rank + 1) * per, s.batch_size):
        idx = np.arange(lo, min(lo + s.batch_size, (rank + 1) * per))
        with _autocast(device, s.precision):
            loss, n = task.loss(model, rows.take(idx, device))
        total[0] += float(loss) * n
        total[1] += n
    model.train()
    total = _all_sum(total, world)
    return float(total[0] / total[1]) if total[1] > 0 else None


class _Log:
    """Rank 0's link to the MLflow run: buffered per-step metrics, sent with one log_batch per flush."""

    def __init__(self, tracking_uri: str, run_id: str):
        from mlflow import MlflowClient

        self.client, self.run_id, self.pending = MlflowClient(tracking_uri=tracking_uri), run_id, []

    def add(self, key: str, value: float, step: int) -> None:
        from mlflow.entities import Metric

        self.pending.append(Metric(key, float(value), int(time.time() * 1000), int(step)))

    def flush(self) -> None:
        for lo in range(0, len(self.pending), _MLFLOW_BATCH):
            self.client.log_batch(self.run_id, metrics=self.pending[lo:lo + _MLFLOW_BATCH], synchronous=True)
        self.pending = []


def _worker(config: dict) -> dict:
    """One Ray Train worker: restore, train to ``max_steps``, validate, checkpoint."""
    import ray.train
    import ray.train.torch

    task: Task = config["task"]
    s = TrainSettings(**config["settings"])
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.set_num_threads(s.cpus_per_worker)
    device = ray.train.torch.get_device()
    if isinstance(device, list):
        device = device[0]

    torch.manual_seed(s.seed)
    raw = task.build_model().to(device)
    raw.train()
    opt = _optimizer(raw, s)
    scaler = torch.amp.GradScaler(device.type, enabled=s.precision == "fp16")
    start, metrics = 0, {}
    restored = ray.train.get_checkpoint()
    if restored is not None:
        state = load_checkpoint(restored)
        if state.get("task") != task.name:
            raise ValueError(f"checkpoint is of task {state.get('task')!r}, not {task.name!r}")
        raw.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        start, metrics = int(state["step"]), dict(state.get("metrics", {}))
    model = ray.train.torch.prepare_model(raw, move_to_device=False)

    train = _Rows.read(ray.train.get_dataset_shard("train"))
    val = _Rows.read(ray.train.get_dataset_shard("validation")) if config["has_validation"] else None
    order = _Order(train.n, s.batch_size, s.seed, rank, world)
    log = _Log(config["tracking_uri"], config["mlflow_run_id"]) if rank == 0 else None
    if rank == 0:
        how = f"from the checkpoint at step {start}" if start else "from scratch"
        _say(f"{task.name}: {world} worker(s), {train.n} training rows, {order.batches_per_epoch} steps per epoch, "
             f"{how}")

    global _STEP
    window: list[tuple[int, float, float, float, float]] = []  # step, loss * n, n, lr, seconds
    for step in range(start + 1, s.max_steps + 1):
        t0 = time.perf_counter()
        _STEP = step
        lr = s.lr_at(step)
        for group in opt.param_groups:
            group["lr"] = lr
        torch.manual_seed(_step_seed(s.seed, rank, step))
        batch = train.take(order.rows(step), device)
        with _autocast(device, s.precision):
            loss, n = task.loss(model, batch)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if s.grad_clip > 0:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(raw.parameters(), s.grad_clip)
        scaler.step(opt)
        scaler.update()
        window.append((step, float(loss.detach()) * n, float(n), lr, time.perf_counter() - t0))

        checkpoint_now = step % s.checkpoint_every == 0 or step == s.max_steps
        validate_now = step == s.max_steps or (s.eval_every and step % s.eval_every == 0)
        if step % s.log_every == 0 or checkpoint_now or validate_now:
            metrics["train_loss"] = _flush(window, log, task.name, s, world, device)
            window = []
        if validate_now and val is not None:
            val_loss = _validate(task, raw, val, s, rank, world, device)
            if val_loss is not None:
                metrics["val_loss"] = val_loss
                if log is not None:
                    log.add("val_loss", val_loss, step)
                    log.flush()
                    _say(f"{task.name} step {step}/{s.max_steps} | val_loss {val_loss:.4f}")
        if checkpoint_now:
            _report(task, raw, opt, scaler, s, step, metrics, rank, world)
    return {"metrics": metrics, "steps": s.max_steps, "start_step": start}


def _flush(window: list, log: _Log | None, name: str, s: TrainSettings, world: int, device) -> float:
    """All-reduce the window's per-step losses and tokens; rank 0 logs and prints them. Returns the window's mean loss."""
    sums = torch.tensor([[w[1] for w in window], [w[2] for w in window]], dtype=torch.float64)
    sums = _all_sum(sums.to(device), world).cpu()
    losses = (sums[0] / sums[1].clamp(min=1)).tolist()
    tokens = sums[1].tolist()
    if log is not None:
        for (step, _, _, lr, secs), loss, tok in zip(window, losses, tokens):
            log.add("train_loss", loss, step)
            log.add("lr", lr, step)
            log.add("tokens_per_s", tok / max(secs, 1e-9), step)
        log.flush()
        rate = sum(tokens) / max(sum(w[4] for w in window), 1e-9)
        cores = world * s.cpus_per_worker
        _say(f"{name} step {window[-1][0]}/{s.max_steps} | loss {losses[-1]:.4f} | lr {window[-1][3]:.2e} | "
             f"{rate:,.0f} tok/s ({rate / cores:,.0f} per core)")
    return float(sums[0].sum() / sums[1].sum().clamp(min=1))


def _report(task: Task, raw: torch.nn.Module, opt, scaler, s: TrainSettings, step: int, metrics: dict,
            rank: int, world: int) -> None:
    """Every rank reports (a barrier); rank 0 attaches the checkpoint and waits until Ray Train has registered it."""
    import ray.train

    reported = {"step": step, **metrics}
    name = f"checkpoint_step{step:08d}"
    if rank != 0:
        ray.train.report(reported, checkpoint=None, checkpoint_dir_name=name)
        return
    state = {"format": CHECKPOINT_FORMAT, "task": task.name, "step": step, "model": raw.state_dict(),
             "optimizer": opt.state_dict(), "scaler": scaler.state_dict(), "metrics": dict(metrics),
             "settings": asdict(s), "world_size": world, "extra": task.checkpoint_extra()}
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(state, os.path.join(tmp, CHECKPOINT_FILE))
        ray.train.report(reported, checkpoint=ray.train.Checkpoint.from_directory(tmp), checkpoint_dir_name=name)
    # The controller registers a report when it next polls the workers; a worker group that died
    # before that would restart from the checkpoint before. Wait until this one is on record.
    ray.train.get_all_reported_checkpoints(consistency_mode=ray.train.CheckpointConsistencyMode.COMMITTED)
