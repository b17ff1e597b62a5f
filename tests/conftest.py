"""Session-scoped real services for the tests: one local Ray, one local Spark, a config on tmp dirs."""

from __future__ import annotations

import os

import pytest

from tests.support.config import make_config

os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
# Ray Train's controller polls its workers every 2 s by default; the tests' runs last seconds.
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.2")


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


@pytest.fixture(scope="module", autouse=True)
def ray_left_free(request):
    """After each module: every CPU of the session's Ray free again (within 10 s), else what holds them is
    reported as a warning in the summary (a module that leaks a placement group or an actor starves the
    next one's actors). The served application's modules keep Serve's replicas up by design: not checked."""
    yield
    import ray

    if not ray.is_initialized() or request.node.get_closest_marker("serving"):
        return
    from tests.support.ray_state import settle

    left = settle(ray, timeout_s=10.0)
    if left:
        import warnings

        warnings.warn("Ray left busy after this module: " + "; ".join(left), RuntimeWarning, stacklevel=1)


def pytest_collection_modifyitems(session, config, items):
    """The tests of the served application run last, so Serve's replicas hold their CPUs only at the end.

    (The whole-pipeline test no longer goes first. It once did, to dodge a crawl that waited on fetch
    actors Ray never started when it ran after the ingest and training tests, seen in full runs on a
    machine where other Ray instances ran beside the suite. Run in that order again, with another Ray
    instance training beside it, it passed; a crawl that cannot start its actors now stops with
    FetchActorsNotReady, and ``ray_left_free`` names whatever a module leaves holding CPUs.)
    """
    items.sort(key=lambda item: 1 if item.get_closest_marker("serving") else 0)
