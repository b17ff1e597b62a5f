"""What a test module left running in the session's Ray: live placement groups and actors that hold CPUs.

Ray Train removes its worker group's placement group and its controller when a run ends, a little
after ``fit`` returns; Ray Data's actor pools and Serve's replicas end likewise. Something left
behind keeps its CPUs from the next module's actors (the crawl's fetch actors, a Train worker group),
which then wait for resources that never come.
"""

from __future__ import annotations

import time


def _live_groups(ray) -> list[str]:
    out = []
    for pg_id, info in ray.util.placement_group_table().items():
        if info.get("state") != "REMOVED":
            bundles = info.get("bundles") or {}
            cpus = sum(float(b.get("CPU", 0)) for b in bundles.values())
            out.append(f"placement group {info.get('name') or pg_id[:8]} ({info.get('state')}, {cpus:g} CPU)")
    return out


def _live_actors(ray) -> list[str]:
    from ray.util.state import list_actors

    address = ray.get_runtime_context().gcs_address
    actors = list_actors(address=address, filters=[("state", "!=", "DEAD")], limit=1000, raise_on_missing_output=False)
    return [f"actor {a.class_name} {a.name or ''} ({a.state}, pid {a.pid})".replace("  ", " ") for a in actors]


def held(ray) -> list[str]:
    """The placement groups not removed and the actors not dead, one line each."""
    return _live_groups(ray) + _live_actors(ray)


def cpus_free(ray) -> tuple[float, float]:
    return float(ray.available_resources().get("CPU", 0.0)), float(ray.cluster_resources().get("CPU", 0.0))


def settle(ray, timeout_s: float = 30.0, clock=time.monotonic, sleep=time.sleep) -> list[str]:
    """Wait (up to ``timeout_s``) for every CPU to be free again; returns what still holds some, [] when all are free."""
    deadline = clock() + timeout_s
    while True:
        free, total = cpus_free(ray)
        if free >= total:
            return []
        if clock() >= deadline:
            return [f"{total - free:g} of {total:g} CPU held"] + held(ray)
        sleep(0.5)
