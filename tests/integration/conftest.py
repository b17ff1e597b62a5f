"""The served application, once per session: two generator versions and a CLAP version, trained for real.

Tests that use it are marked ``serving`` and run last (tests/conftest.py), so Serve's replicas
hold their CPUs only after the training tests are done.
"""

from dataclasses import dataclass

import pytest
import requests

from serving.api import API_KEY_HEADER
from serving.guard import ensure_keys
from tests.support.config import free_port, make_config
from tests.support.music_lake import write_music_lake


@dataclass
class Served:
    url: str
    cfg: object
    key: str

    @property
    def headers(self) -> dict:
        return {API_KEY_HEADER: self.key}

    def post(self, path: str, body, timeout: float = 300, **kw) -> requests.Response:
        return requests.post(self.url + path, json=body, headers=self.headers | kw.pop("headers", {}),
                             timeout=timeout, **kw)

    def get(self, path: str, timeout: float = 120, **kw) -> requests.Response:
        return requests.get(self.url + path, headers=self.headers | kw.pop("headers", {}), timeout=timeout, **kw)


@pytest.fixture(scope="session")
def served(tmp_path_factory, ray_session):
    from serving import app as serving_app
    from training.clap.train import run_clap_training
    from training.train import run_training

    # Small enough to train in seconds, trained enough (80 steps) that sampling reliably yields notes.
    cfg = make_config(tmp_path_factory.mktemp("serving"), "train.max_steps=80", "train.num_workers=1",
                      "train.n_embd=64", "train.n_head=2", "train.n_layer=1", "train.block_size=96",
                      "train.batch_size=4", "train.dropout=0.0", "train.log_every=20",
                      "clap.max_steps=30", "clap.batch_size=6", "clap.log_every=10", "clap.checkpoint_every=30",
                      "clap.num_workers=1", "clap.gates={train.t2m.en.mrr_over_chance: {min: 0}}",
                      f"serve.port={free_port()}", "serve.replica_cpus=0.5", "serve.max_models_per_replica=1",
                      "serve.rate_limit_per_min=100000", "serve.rate_burst=1000", "serve.max_queue=4",
                      # small lines, so test_serving_hostile.py can cross them in seconds
                      "serve.body_timeout_s=5", "serve.store_max_bytes=40000000", "serve.key_quota_bytes=24000000")
    write_music_lake(cfg, n=10, bars=8)
    # Two registered versions (v2 is champion) and a CLAP champion, all trained before Serve takes its CPU share.
    assert run_training(cfg).model_version == 1
    assert run_training(cfg, force=True).model_version == 2
    clap = run_clap_training(cfg)
    assert clap.model_version == 1 and clap.alias == "champion", clap.decision.summary()
    url = serving_app.deploy(cfg)
    keys, _ = ensure_keys(cfg.serve.api_keys_file)
    yield Served(url=url, cfg=cfg, key=keys[0]["key"])
    serving_app.shutdown()
