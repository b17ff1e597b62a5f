"""What every stage's command line shares: the ``--config`` / ``--set`` options and loading the config.

A config mistake prints its one line on stderr and exits with status 2, in every command alike.
"""

from __future__ import annotations

from typing import Optional

import typer

from common.config import Config, ConfigError, load_config

ConfigOpt = typer.Option(None, "--config", "-c", help="YAML config file (default: $MUSICLAKE_CONFIG or ./musiclake.yaml)")
SetOpt = typer.Option(None, "--set", help="override one key, e.g. --set spark.master=local[2] (repeatable)")


def load_or_exit(config: Optional[str], overrides: Optional[list[str]] = None) -> Config:
    try:
        return load_config(config, list(overrides or []))
    except ConfigError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
