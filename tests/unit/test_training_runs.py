"""The run lifecycle both trainers share (training.runs), against a real sqlite MLflow under tmp_path."""

from __future__ import annotations

import pytest

from tests.support.config import make_config
from training import registry, runs

KIND = "train-test"


@pytest.fixture
def cfg(tmp_path):
    return make_config(tmp_path)


@pytest.fixture
def client(cfg):
    return registry.client(cfg)


def _new_run(client, cfg, tags=None):
    run_id, run_name, created = runs.open_run(client, cfg, None, "train", KIND, tags or {"fingerprint": "fp1"})
    assert created and run_name.startswith("train-")
    return run_id


def _status(client, run_id):
    return client.get_run(run_id).info.status


def test_a_block_that_ends_cleanly_marks_the_run_finished(cfg, client):
    run_id = _new_run(client, cfg)
    assert _status(client, run_id) == "RUNNING"
    with runs.tracked(client, run_id):
        pass
    assert _status(client, run_id) == "FINISHED"
    assert registry.interrupted_run(client, cfg, KIND) is None


def test_an_interrupt_marks_the_run_killed_and_is_raised_again(cfg, client):
    run_id = _new_run(client, cfg)
    with pytest.raises(KeyboardInterrupt):
        with runs.tracked(client, run_id):
            raise KeyboardInterrupt
    assert _status(client, run_id) == "KILLED"
    assert registry.interrupted_run(client, cfg, KIND).info.run_id == run_id  # what --resume continues


def test_an_exception_marks_the_run_failed_and_is_raised_again(cfg, client):
    run_id = _new_run(client, cfg)
    with pytest.raises(RuntimeError, match="worker died"):
        with runs.tracked(client, run_id):
            raise RuntimeError("worker died")
    assert _status(client, run_id) == "FAILED"


def test_resuming_reopens_the_same_run_and_checks_its_fingerprint(cfg, client):
    run_id = _new_run(client, cfg, {"fingerprint": "fp1", "data.silver_tokens.version": "3"})
    with pytest.raises(KeyboardInterrupt):
        with runs.tracked(client, run_id):
            raise KeyboardInterrupt
    previous, versions = registry.run_to_resume(client, cfg, KIND, "test")
    assert versions == {"silver_tokens": 3}

    runs.check_resumable(previous, "fp1", "other settings")
    with pytest.raises(registry.NothingToResume, match=r"started with other settings \(fingerprint fp1, now fp2\)"):
        runs.check_resumable(previous, "fp2", "other settings")

    again_id, again_name, created = runs.open_run(client, cfg, previous, "train", KIND, {"fingerprint": "fp1"})
    assert (again_id, again_name, created) == (run_id, previous.info.run_name, False)
    assert _status(client, run_id) == "RUNNING"
    assert client.get_run(run_id).data.tags[registry.KIND_TAG] == KIND


def test_reuse_finds_the_newest_version_with_the_fingerprint_and_its_alias(cfg, client):
    assert runs.registered_with(cfg, "fp1") is None  # no registered model at all
    client.create_registered_model(registry.MODEL_NAME)
    made = {}
    for fp in ("fp1", "fp2", "fp1"):
        run_id = _new_run(client, cfg, {"fingerprint": fp})
        mv = client.create_model_version(registry.MODEL_NAME, source=f"runs:/{run_id}/generator", run_id=run_id,
                                         tags={"fingerprint": fp})
        made.setdefault(fp, []).append(int(mv.version))
    client.set_registered_model_alias(registry.MODEL_NAME, registry.CHALLENGER, str(made["fp1"][-1]))

    found = runs.registered_with(cfg, "fp1")
    assert found.version == made["fp1"][-1] == 3
    assert runs.alias_of(found) == registry.CHALLENGER
    assert runs.alias_of(runs.registered_with(cfg, "fp2")) == ""
    assert runs.registered_with(cfg, "fp3") is None
    assert runs.registered_with(cfg, "fp1", registry.CLAP_MODEL_NAME) is None  # another model's versions

    client.set_registered_model_alias(registry.MODEL_NAME, registry.CHAMPION, str(made["fp1"][-1]))
    assert runs.alias_of(runs.registered_with(cfg, "fp1")) == registry.CHAMPION
