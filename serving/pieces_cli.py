"""``musiclake pieces stats | prune``: what the piece store holds, and the retention policy applied now.

Both work on ``serve.pieces_dir`` directly (no running service needed); ``prune`` applies the same
policy a replica applies on start and every ``serve.prune_every_s`` (:mod:`serving.retention`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from common.cli_common import ConfigOpt, SetOpt, load_or_exit
from serving.retention import human_size as _size

app = typer.Typer(help="The piece store: its usage, and its retention policy applied now.", no_args_is_help=True)


def usage_lines(usage, policy, top: int = 10) -> list[str]:
    """The usage table: kinds, then the biggest keys against their quota."""
    lines = [f"  {'kind':<10}{'items':>8}{'size':>12}"]
    for kind in ("piece", "render", "upload"):
        lines.append(f"  {kind:<10}{usage.counts.get(kind, 0):>8}{_size(usage.by_kind.get(kind, 0)):>12}")
    share = usage.total / policy.max_bytes
    lines.append(f"  {'total':<10}{sum(usage.counts.values()):>8}{_size(usage.total):>12}   "
                 f"{share:.0%} of serve.store_max_bytes ({_size(policy.max_bytes)})")
    keys = sorted(usage.by_key.items(), key=lambda kv: -kv[1])[:top]
    if keys:
        lines.append(f"  {'key':<20}{'size':>12}   of quota {_size(policy.key_quota_bytes)}")
        lines.extend(f"  {k[:20]:<20}{_size(b):>12}   {b / policy.key_quota_bytes:.0%}" for k, b in keys)
    return lines


@app.command()
def stats(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Print what the store holds per kind and per key, against the configured lines."""
    from serving.retention import Policy, Usage
    from serving.store import PieceStore

    cfg = load_or_exit(config, set_)
    store = PieceStore(cfg.serve.pieces_dir)
    typer.echo(f"piece store {cfg.serve.pieces_dir}  (retention {cfg.serve.retention_days:g} days)")
    for line in usage_lines(Usage.of(store.scan()), Policy.from_config(cfg)):
        typer.echo(line)


@app.command()
def prune(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Apply the retention policy now: age, per-key quota, total size (renders go first)."""
    from serving.retention import Policy, prune as run_prune
    from serving.store import PieceStore

    cfg = load_or_exit(config, set_)
    policy = Policy.from_config(cfg)
    t0 = time.perf_counter()
    report = run_prune(PieceStore(cfg.serve.pieces_dir), policy)
    typer.echo(f"pruned {cfg.serve.pieces_dir} in {time.perf_counter() - t0:.2f} s: {report.summary()}")
    for line in usage_lines(report.after, policy):
        typer.echo(line)
