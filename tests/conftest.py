"""Session-scoped real services for the tests: one local Ray, one local Spark, a config on tmp dirs."""

from __future__ import annotations

import os

import pytest

from tests.support.config import make_config

os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
# Ray Train's controller polls its workers every 2 s by default; the tests' runs last seconds.
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")
# the generator marks its pieces (training.watermark): the tests' key, never a deployment's
os.environ.setdefault("MUSICLAKE_WATERMARK_KEY", "musiclake-tests-watermark-key")


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("musiclake-data")


@pytest.fixture(scope="session")
def cfg(data_root):
    return make_config(data_root)


@pytest.fixture(scope="session")
def ray_session(cfg):
    import ray

    from common.cluster import init_ray

    init_ray(cfg)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def spark(cfg):
    from lake.spark import spark_session

    s = spark_session(cfg, app_name="musiclake-tests")
    yield s
    s.stop()


def pytest_collection_modifyitems(session, config, items):
    """The whole-pipeline test runs first, on a Ray session no earlier test has used.

    Run after the ingest, lake and training tests in the same session, its crawl waited forever on
    fetch batches that no actor was running (seen twice in full runs here; the test passes alone and
    after the training tests alone); the cause is not found yet, so it goes first. The crawl now stops
    with FetchActorsNotReady naming what Ray is short of (ingest.actor_start_timeout_s) instead of
    hanging. Run after test_ingest_resume and test_training_loop (both CPUs free and no placement
    group left after each module), its crawl passed but its generator fit stalled: the TrainController
    logged "Requesting resources: {'CPU': 1} * 2" and never started the worker group while Ray had both
    CPUs free and nothing pending, and did not answer Ray Train's abort on Ctrl-C. Other Ray instances
    ran on the machine then, and every run's PlacementGroupCleaner monitor thread died with "Found
    multiple active Ray instances" (it calls the state API without an address).
    The tests of the served application run last, so its replicas hold their CPUs only at the end.
    """
    items.sort(key=lambda item: 0 if item.get_closest_marker("e2e") else 2 if item.get_closest_marker("serving") else 1)
