"""``musiclake continue FILE --bars N`` and ``musiclake infill FILE --bars I-J [--track K]``: a running
endpoint writes on from your MIDI file (POST /v1/uploads, then /v1/continue or /v1/infill); the piece's
MIDI is written beside it (docs/continuation.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError

from common.cli_common import ConfigOpt, SetOpt, load_or_exit
from serving.api import API_KEY_HEADER, CONTINUE_PATH, INFILL_PATH, UPLOADS_PATH, ContinueRequest, InfillRequest, base_url
from serving.cli import _fetch, _refused, api_key

PLACEHOLDER_ID = "0" * 20  # the request is checked before the upload exists


def _run(path: Path, route: str, fields: dict, out: Optional[Path], url: Optional[str], key_: Optional[str],
         config, set_) -> None:
    import requests

    cfg = load_or_exit(config, set_)
    shape = ContinueRequest if route == CONTINUE_PATH else InfillRequest
    try:
        shape(upload=PLACEHOLDER_ID, **fields)
    except ValidationError as e:
        first = e.errors()[0]
        typer.echo(f"invalid request: {'.'.join(map(str, first['loc']))}: "
                   f"{first['msg'].removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from None
    try:
        data = path.read_bytes()
    except OSError as e:
        typer.echo(f"error: cannot read {path}: {e.strerror or e}", err=True)
        raise typer.Exit(1) from None
    base = (url or base_url(cfg)).rstrip("/")
    session = requests.Session()
    secret = api_key(cfg, key_)
    if secret:
        session.headers[API_KEY_HEADER] = secret
    try:
        up = session.post(base + UPLOADS_PATH, data=data, headers={"Content-Type": "audio/midi"}, timeout=120)
        if up.status_code != 200:
            _refused(cfg, up.status_code, up.json().get("error", up.text[:300]))
        resp = session.post(base + route, json={"upload": up.json()["id"], **fields}, timeout=600)
    except requests.ConnectionError:
        typer.echo(f"error: no endpoint at {base}; start one with `musiclake serve`, or give --url", err=True)
        raise typer.Exit(1) from None
    if resp.status_code != 200:
        _refused(cfg, resp.status_code, resp.json().get("error", resp.text[:300]))
    piece = resp.json()
    target = out or path.with_name(f"{path.stem}-{route.rsplit('/', 1)[1]}.mid")
    _fetch(cfg, session, base + piece["urls"]["mid"], target)
    a, b = piece["region"]
    attrs = piece["attributes"]
    typer.echo(f"piece {piece['id']}: bars {a}-{b} written in {attrs['key']}, {attrs['bpm']:g} bpm, "
               f"{attrs['time_signature']} ({piece['elapsed_ms']:.0f} ms)")
    typer.echo(f"wrote {target}")


_URL = typer.Option(None, "--url", help="endpoint base URL (default: serve.host:port)")
_KEY = typer.Option(None, "--api-key", help="default: $MUSICLAKE_API_KEY or serve.api_keys_file")
_OUT = typer.Option(None, "--out", help="MIDI file to write (default: beside FILE, -continue.mid / -infill.mid)")


def continue_cmd(file: Path = typer.Argument(..., help="a MIDI file"),
                 bars: int = typer.Option(8, "--bars", help="new bars after its last bar line"),
                 seed: Optional[int] = typer.Option(None, "--seed"),
                 out: Optional[Path] = _OUT, url: Optional[str] = _URL, key_: Optional[str] = _KEY,
                 config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Continue a MIDI file by N bars in its key, tempo and meter."""
    fields = {"bars": bars} | ({"seed": seed} if seed is not None else {})
    _run(file, CONTINUE_PATH, fields, out, url, key_, config, set_)


def infill_cmd(file: Path = typer.Argument(..., help="a MIDI file"),
               bars: str = typer.Option(..., "--bars", help="the bars to write anew, e.g. 5-8 (1-based, inclusive)"),
               track: Optional[int] = typer.Option(None, "--track", help="the track index to rewrite (default: all)"),
               seed: Optional[int] = typer.Option(None, "--seed"),
               out: Optional[Path] = _OUT, url: Optional[str] = _URL, key_: Optional[str] = _KEY,
               config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Write bars I-J of one track (or all) of a MIDI file anew, keeping every other note."""
    try:
        first, last = (int(x) for x in (bars.split("-") if "-" in bars else (bars, bars)))
    except ValueError:
        typer.echo(f"invalid request: --bars: {bars!r} is not a bar range like 5-8", err=True)
        raise typer.Exit(2) from None
    fields = {"first_bar": first, "last_bar": last} | ({"track": track} if track is not None else {}) \
        | ({"seed": seed} if seed is not None else {})
    _run(file, INFILL_PATH, fields, out, url, key_, config, set_)
