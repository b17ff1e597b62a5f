"""Connecting to Ray: a local Ray by default, a cluster when ``ray.address`` is set."""

from __future__ import annotations

import os
import socket
import sys


class RayUnreachable(ConnectionError):
    """The configured Ray cluster could not be joined (the message names the setting)."""


def init_ray(cfg, **extra):
    """Start or join Ray per ``cfg.ray``; a no-op when Ray is already up in this process."""
    import ray

    if ray.is_initialized():
        return ray.get_runtime_context()
    os.environ.setdefault("RAY_ACCEPT_CALLABLE_KEYWORD_ARGS", "1")
    _auth_env(cfg.ray)
    kwargs = dict(address=cfg.ray.address, include_dashboard=cfg.ray.include_dashboard,
                  log_to_driver=True, configure_logging=True, logging_level="warning")
    if cfg.ray.address is None:
        # read by the raylet this starts (Ray's RAY_worker_niceness); one already set in the environment wins
        os.environ.setdefault("RAY_worker_niceness", str(cfg.ray.worker_niceness))
        kwargs.update(num_cpus=cfg.ray.num_cpus, object_store_memory=cfg.ray.object_store_memory_mb * 1024 * 1024,
                      dashboard_host="127.0.0.1")
        # Ray's API server listens even without the dashboard: given no port, Ray takes 8265 or one of the next
        # 50 free ones itself; given one, it stops with a traceback when that port is taken
        if cfg.ray.include_dashboard:
            kwargs.update(dashboard_port=dashboard_port("127.0.0.1", cfg.ray.dashboard_port))
    kwargs.update(extra)
    try:
        ctx = ray.init(**kwargs)
    except ConnectionError as e:
        if cfg.ray.address is None:
            raise
        hint = ("set ray.auth_mode: token (and ray.auth_token_file) to the cluster's"
                if _caused_by(e, ray.exceptions.AuthenticationError) else "check ray.address, and that the cluster is up")
        raise RayUnreachable(f"Ray cluster at ray.address={cfg.ray.address!r} refused or did not answer: {hint}") from None
    quiet_ray_data()
    return ctx


def _bindable(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (tested as Ray tests it: a bind with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def dashboard_port(host: str, port: int) -> int:
    """``port`` when it is free; else (another Ray on this machine holds it, say) a free port, with one line on
    stderr naming it and the setting that chooses it. Ray itself would stop with a traceback."""
    if _bindable(host, port):
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        free = s.getsockname()[1]
    print(f"note: ray.dashboard_port {port} is taken on {host} (another Ray?); this run's Ray dashboard is at "
          f"http://{host}:{free} (choose one with --set ray.dashboard_port=N, or ray.include_dashboard=false)",
          file=sys.stderr, flush=True)
    return free


def _caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``kind`` is in the chain of causes of ``error``: as an exception, or as the text Ray passes on
    (its GCS client reports the last connection error as a formatted traceback inside a RuntimeError)."""
    while error is not None:
        if isinstance(error, kind) or kind.__name__ in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def _auth_env(ray_cfg) -> None:
    """Ray reads its auth mode and token path from the environment only (for this process and the ones it starts)."""
    changed = False
    if ray_cfg.auth_mode is not None and os.environ.get("RAY_AUTH_MODE") != ray_cfg.auth_mode:
        os.environ["RAY_AUTH_MODE"] = ray_cfg.auth_mode
        changed = True
    if ray_cfg.auth_token_file:
        os.environ["RAY_AUTH_TOKEN_PATH"] = os.path.expanduser(ray_cfg.auth_token_file)
        changed = True
    if changed:  # the core cached its config at import: re-read it, as Ray does when it turns token auth on itself
        from ray._raylet import Config

        Config.initialize("")


def quiet_ray_data() -> None:
    """Ray Data's per-operator bars flood a terminal shared with our own progress lines; keep them off."""
    from ray.data import DataContext

    import logging

    data_ctx = DataContext.get_current()
    data_ctx.enable_progress_bars = False
    data_ctx.enable_operator_progress_bars = False
    data_ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def dashboard_url() -> str | None:
    import ray

    if not ray.is_initialized():
        return None
    url = ray.get_runtime_context().worker.node.address_info.get("webui_url")
    return f"http://{url}" if url else None
