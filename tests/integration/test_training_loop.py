"""The generic Ray Train loop on real Ray Train, Ray Data, torch DDP and MLflow, with the generator's task.

One uninterrupted tiny run is the reference; an interrupted run resumed with ``resume=True``, in
which a worker then dies (restarted by ``FailureConfig``), must log exactly the reference's loss at
every step, the step after each checkpoint it continued from included.
"""

import math

import numpy as np
import pyarrow as pa
import pytest
from mlflow import MlflowClient
from ray.train import TrainingFailedError

from common.config import ConfigError
from tests.support.config import make_config
from tests.support.training_faults import DieAt
from training.generator_task import GeneratorTask
from training.loop import RunExists, Task, TrainSettings, fit, load_checkpoint
from training.model import NoteModelConfig
from training.notes import F, FIELD_NAMES, NOTE, field_sizes

STEPS, EVERY = 12, 4  # checkpoints at 4, 8, 12


def _windows(n: int, seed: int) -> np.ndarray:
    """Rows of 65 note steps that repeat a short random motif: learnable within a few steps."""
    rng = np.random.default_rng(seed)
    sizes = field_sizes()
    rows = []
    for i in range(n):
        motif = np.stack([rng.integers(1, min(sizes[name], 12), size=3 + i % 4) for name in FIELD_NAMES], -1)
        motif[:, F["kind"]] = NOTE
        rows.append(np.tile(motif, (40, 1))[:65])
    return np.stack(rows).astype(np.int16)


def _dataset(rows: np.ndarray):
    import ray.data
    from ray.data.extensions import ArrowTensorArray

    return ray.data.from_arrow(pa.table({"steps": ArrowTensorArray.from_numpy(rows)}))


@pytest.fixture(scope="module")
def setup(tmp_path_factory, ray_session):
    root = tmp_path_factory.mktemp("training-loop")
    cfg = make_config(root)
    task = GeneratorTask(model_config=NoteModelConfig(block_size=64, n_layer=1, n_head=2, n_embd=32,
                                                      dropout=0.1).to_dict())
    datasets = {"train": _dataset(_windows(24, 0)), "validation": _dataset(_windows(6, 1))}
    client = MlflowClient(tracking_uri=cfg.mlflow.tracking_uri)
    experiment = client.create_experiment("loop", artifact_location=cfg.mlflow.artifact_location)
    return root, cfg, task, datasets, client, experiment


def _settings(cfg, **kw) -> TrainSettings:
    base = dict(num_workers=2, max_steps=STEPS, batch_size=4, learning_rate=1e-2, warmup_steps=3, log_every=3,
                checkpoint_every=EVERY, max_failures=0)
    return TrainSettings.from_section(cfg.train, **{**base, **kw})


def _history(client, run_id: str, key: str) -> dict[int, list[float]]:
    out: dict[int, list[float]] = {}
    for m in sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp)):
        out.setdefault(m.step, []).append(m.value)
    return out


@pytest.fixture(scope="module")
def reference(setup):
    _, cfg, task, datasets, client, experiment = setup
    run_id = client.create_run(experiment).info.run_id
    result = fit(cfg, task, datasets, _settings(cfg), mlflow_run_id=run_id, run_name="reference")
    return result, run_id, _history(client, run_id, "train_loss")


def test_tiny_generator_trains_loss_falls_and_every_step_is_logged(setup, reference):
    root, cfg, task, _, client, _ = setup
    result, run_id, losses = reference
    assert isinstance(task, Task)
    assert (result.steps, result.start_step) == (STEPS, 0)
    assert sorted(losses) == list(range(1, STEPS + 1)) and all(len(v) == 1 for v in losses.values())
    first, last = np.mean([losses[s][0] for s in (1, 2, 3)]), np.mean([losses[s][0] for s in (10, 11, 12)])
    assert last < first - 0.3, (first, last)
    assert result.metrics["train_loss"] == pytest.approx(np.mean([losses[s][0] for s in (10, 11, 12)]), rel=0.05)

    lr = {s: v[0] for s, v in _history(client, run_id, "lr").items()}
    assert sorted(lr) == list(range(1, STEPS + 1))
    assert lr[1] < lr[2] < lr[3] == pytest.approx(1e-2)  # linear warm-up over 3 steps
    assert all(lr[s] > lr[s + 1] for s in range(3, STEPS)) and lr[STEPS] == pytest.approx(1e-3)  # cosine to 10%
    speed = _history(client, run_id, "tokens_per_s")
    assert sorted(speed) == list(range(1, STEPS + 1)) and all(v[0] > 0 for v in speed.values())
    val = _history(client, run_id, "val_loss")
    assert list(val) == [STEPS] and val[STEPS][0] == pytest.approx(result.metrics["val_loss"])
    assert 0 < result.metrics["val_loss"] < math.log(48)

    state = load_checkpoint(result.checkpoint)
    assert state["step"] == STEPS and state["task"] == "generator" and state["world_size"] == 2
    assert state["extra"] == task.checkpoint_extra()
    model = task.build_model()
    model.load_state_dict(state["model"])  # the weights fit the task's model exactly
    assert {"optimizer", "scaler", "settings"} <= set(state)
    kept = sorted(p.name for p in (root / "ray_results" / "reference").glob("checkpoint_step*"))
    assert kept == ["checkpoint_step00000008", "checkpoint_step00000012"]  # keep_checkpoints=2


def test_interrupted_run_resumes_and_a_killed_worker_restarts_with_the_same_losses(setup, reference, tmp_path):
    """Stopped at step 7 (checkpoint 4), resumed; in the resumed run a worker dies at step 10 (checkpoint 8)."""
    _, cfg, task, datasets, client, experiment = setup
    _, _, expected = reference
    dying = DieAt(task, steps=(7, 10), rank=1, marker_dir=tmp_path)
    run_id = client.create_run(experiment).info.run_id
    with pytest.raises(TrainingFailedError):  # max_failures=0: the run stops
        fit(cfg, dying, datasets, _settings(cfg), mlflow_run_id=run_id, run_name="interrupted")
    assert (tmp_path / "died-at-7").read_text() == "rank 1 died at step 7\n"
    assert sorted(_history(client, run_id, "train_loss")) == list(range(1, 7))  # flushed at 3, 4 (checkpoint), 6
    with pytest.raises(RunExists):
        fit(cfg, dying, datasets, _settings(cfg), mlflow_run_id=run_id, run_name="interrupted")

    result = fit(cfg, dying, datasets, _settings(cfg, max_failures=1), mlflow_run_id=run_id, run_name="interrupted",
                 resume=True)
    assert (tmp_path / "died-at-10").exists()
    # The resumed group started at checkpoint 4; the group Ray Train restarted after the death at 10, at checkpoint 8.
    assert (result.steps, result.start_step) == (STEPS, 2 * EVERY)
    losses = _history(client, run_id, "train_loss")
    assert losses[EVERY + 1] == [expected[EVERY + 1][0]] * 2  # step 5: before the stop, and after the resume
    assert losses[2 * EVERY + 1] == [expected[2 * EVERY + 1][0]] * 2  # step 9: before the death, and after it
    assert {s: set(v) for s, v in losses.items()} == {s: set(v) for s, v in expected.items()}
    assert result.metrics["val_loss"] == reference[0].metrics["val_loss"]
    assert load_checkpoint(result.checkpoint)["step"] == STEPS


def test_presets_set_the_sizes_and_explicit_keys_win(tmp_path):
    tiny = make_config(tmp_path).train
    assert (tiny.preset, tiny.n_layer, tiny.n_embd, tiny.block_size, tiny.max_steps) == ("tiny", 2, 128, 256, 200)
    small = make_config(tmp_path, "train.preset=small", "train.max_steps=7").train
    assert (small.n_layer, small.n_head, small.n_embd, small.block_size, small.max_steps) == (6, 8, 384, 512, 7)
    base = make_config(tmp_path, "train.preset=base").train
    assert (base.n_layer, base.n_embd, base.block_size) == (12, 768, 1024)
    with pytest.raises(ConfigError, match="train.preset"):
        make_config(tmp_path, "train.preset=huge")
    settings = TrainSettings.from_section(small)
    assert (settings.max_steps, settings.batch_size, settings.storage_path) == (7, 32, small.storage_path)
    with pytest.raises(ValueError, match="precision"):
        TrainSettings.from_section(small, precision="int8")
