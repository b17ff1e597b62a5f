"""A crawl whose fetch actors Ray cannot start stops with one clear error instead of waiting forever."""

from __future__ import annotations

import time

import pytest

from common.score_site import site_source
from ingest.crawler import FETCH_ACTOR_CPUS, FetchActorsNotReady, _wait_ready, run_ingest
from tests.support.config import make_config


@pytest.fixture
def cpus_held(ray_session):
    """Every CPU the session has free, held by a placement group (as a leaked Ray Train run would hold them);
    the test gets a function that gives them back."""
    from ray.util.placement_group import placement_group, remove_placement_group

    ray = ray_session
    free = ray.available_resources().get("CPU", 0.0)
    pg = placement_group([{"CPU": free}]) if free > 0 else None
    if pg is not None:
        ray.get(pg.ready(), timeout=60)
    held = [pg]

    def release():
        if held[0] is not None:
            remove_placement_group(held.pop())
            held.append(None)

    yield release
    release()


def test_a_crawl_with_no_cpu_for_its_fetch_actors_fails_naming_what_is_short(ray_session, cpus_held, tmp_path):
    ray = ray_session
    total = ray.cluster_resources()["CPU"]
    cfg = make_config(tmp_path, "ingest.workers=2", "ingest.actor_start_timeout_s=3")
    cfg.ingest.sources = [site_source("http://127.0.0.1:9/")]  # never fetched: no actor gets to run
    t0 = time.monotonic()
    with pytest.raises(FetchActorsNotReady) as caught:
        run_ingest(cfg)
    assert time.monotonic() - t0 < 60
    message = str(caught.value)
    assert message.startswith("2 of 2 fetch actors did not start within 3 s (ingest.actor_start_timeout_s): ")
    assert f"Ray is short of CPU: 0 of {total:g} free, each fetch actor needs {FETCH_ACTOR_CPUS:g}" in message
    assert "placement groups" in message

    # The crawl killed its pending actors on the way out: once the CPUs are back, none of them takes any.
    cpus_held()
    deadline = time.monotonic() + 30
    while ray.available_resources().get("CPU", 0.0) < total and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(3)
    assert ray.available_resources().get("CPU", 0.0) == total


def _slow_to_start(ray, start_s: float, n: int = 2) -> list:
    """``n`` actors (no CPU asked) whose constructor takes ``start_s``, with a ``ready`` method like a fetch actor's."""

    class SlowToStart:  # defined here, so Ray ships it by value (the test module is not importable in a worker)
        def __init__(self, start_s: float):
            time.sleep(start_s)

        def ready(self) -> bool:
            return True

    return [ray.remote(num_cpus=0)(SlowToStart).remote(start_s) for _ in range(n)]


def test_actors_still_starting_with_resources_free_are_told_apart(ray_session):
    ray = ray_session
    actors = _slow_to_start(ray, 30)
    try:
        with pytest.raises(FetchActorsNotReady, match=r"2 of 2 fetch actors did not start within 1 s .*: nothing "
                                                      r"they ask for is short \(CPU: [0-9.]+ free\); they may still "
                                                      r"be starting: raise ingest.actor_start_timeout_s"):
            _wait_ready(actors, 1)
    finally:
        for actor in actors:
            ray.kill(actor)


def test_actors_that_start_in_time_pass(ray_session):
    ray = ray_session
    actors = _slow_to_start(ray, 0)
    try:
        _wait_ready(actors, 60)
    finally:
        for actor in actors:
            ray.kill(actor)
