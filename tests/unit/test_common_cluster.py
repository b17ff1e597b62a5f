"""common.cluster: which hint a refused Ray cluster gets; which port a local dashboard takes."""

from __future__ import annotations

import os

import ray

from common.cluster import _caused_by


def _wrapped(inner: BaseException) -> ConnectionError:
    # the shape ray.init raises: ConnectionError from RuntimeError whose text holds the inner traceback
    try:
        try:
            raise RuntimeError(f"Failed to connect to GCS. Last connection error: Traceback ...\n{type(inner).__name__}: x")
        except RuntimeError as mid:
            raise ConnectionError("Failed to connect to Ray cluster at 127.0.0.2:18379") from mid
    except ConnectionError as outer:
        return outer


def test_an_auth_refusal_is_found_in_the_text_ray_passes_on():
    err = _wrapped(ray.exceptions.AuthenticationError("RPC error: InvalidAuthToken"))
    assert _caused_by(err, ray.exceptions.AuthenticationError)


def test_an_auth_refusal_is_found_as_a_chained_exception():
    try:
        raise ConnectionError("no") from ray.exceptions.AuthenticationError("bad token")
    except ConnectionError as e:
        assert _caused_by(e, ray.exceptions.AuthenticationError)


def test_a_cluster_that_is_not_there_is_not_an_auth_problem():
    assert not _caused_by(_wrapped(TimeoutError("deadline exceeded")), ray.exceptions.AuthenticationError)


# -- the local dashboard's port: the configured one, or a free one when another program holds it --------------

def _listening():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_a_free_dashboard_port_is_kept(capsys):
    import socket

    from common.cluster import dashboard_port

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert dashboard_port("127.0.0.1", port) == port
    assert capsys.readouterr().err == ""


def test_a_taken_dashboard_port_is_replaced_by_a_free_one_in_one_line(capsys):
    import socket

    from common.cluster import dashboard_port

    with _listening() as taken:
        port = taken.getsockname()[1]
        chosen = dashboard_port("127.0.0.1", port)
        assert chosen != port
        with socket.socket() as s:  # the chosen one can be listened on
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", chosen))
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"ray.dashboard_port {port} is taken" in err and f"http://127.0.0.1:{chosen}" in err
    assert "--set ray.dashboard_port=N" in err


def _init_kwargs(monkeypatch, *overrides) -> dict:
    """What init_ray would hand ray.init for a config (Ray is not started)."""
    from common import cluster
    from common.config import load_config

    seen = {}
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: seen.update(kw))
    monkeypatch.setattr(cluster, "quiet_ray_data", lambda: None)
    cluster.init_ray(load_config(overrides=list(overrides), environ={}))
    return seen


def test_init_ray_starts_the_dashboard_on_the_port_chosen(monkeypatch):
    with _listening() as taken:
        port = taken.getsockname()[1]
        kwargs = _init_kwargs(monkeypatch, f"ray.dashboard_port={port}")
    assert kwargs["include_dashboard"] is True and kwargs["dashboard_port"] not in (None, port)


def test_without_the_dashboard_ray_picks_its_api_port_itself(monkeypatch):
    with _listening() as taken:
        kwargs = _init_kwargs(monkeypatch, "ray.include_dashboard=false",
                              f"ray.dashboard_port={taken.getsockname()[1]}")
    # given no port, Ray takes 8265 or one of the next free ones; given one, it fails when that one is taken
    assert kwargs["include_dashboard"] is False and "dashboard_port" not in kwargs


def test_a_local_rays_workers_run_at_the_configured_niceness(monkeypatch):
    """Ray's own default puts its workers at nice 15, below every other process on the machine (a load test's
    clients took the cores from the Serve samplers); init_ray hands the configured value to the raylet it
    starts, and a value already in the environment wins."""
    monkeypatch.delenv("RAY_worker_niceness", raising=False)
    _init_kwargs(monkeypatch)
    assert os.environ["RAY_worker_niceness"] == "0"
    monkeypatch.delenv("RAY_worker_niceness")
    _init_kwargs(monkeypatch, "ray.worker_niceness=7")
    assert os.environ["RAY_worker_niceness"] == "7"
    monkeypatch.setenv("RAY_worker_niceness", "3")
    _init_kwargs(monkeypatch, "ray.worker_niceness=7")
    assert os.environ["RAY_worker_niceness"] == "3"


def test_the_test_sessions_ray_workers_are_not_deprioritized(ray_session):
    """The real thing: a task of the session's local Ray runs at the configured niceness (0), not Ray's 15."""

    @ray.remote
    def niceness() -> int:
        return os.nice(0)

    assert ray.get(niceness.remote()) == 0
