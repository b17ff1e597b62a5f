"""``musiclake serve | generate | recommend``: run the endpoint, call it, or just see what a prompt means."""

from __future__ import annotations

import base64
import json
import signal
import time
from pathlib import Path
from typing import Optional

import typer
from pydantic import ValidationError

from musiclake.cli_common import ConfigOpt, SetOpt, load_or_exit
from serving.api import GENERATE_PATH, GenerateRequest, base_url

app = typer.Typer(help="Serve the generator with Ray Serve and call it.", no_args_is_help=True)



def _request(prompt: str, bpm: Optional[float], key: Optional[str], bars: int, seed: Optional[int],
             model: Optional[str]) -> GenerateRequest:
    """Validate locally first, so a bad --key fails here with the same message the endpoint would give."""
    try:
        return GenerateRequest(prompt=prompt, bpm=bpm, key=key, bars=bars, seed=seed, model=model)
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        typer.echo(f"invalid request: {field}: {first['msg'].removeprefix('Value error, ')}", err=True)
        raise typer.Exit(2) from None


def _show_attributes(attrs: dict) -> None:
    src = attrs["sources"]
    rows = [("style", attrs["style"]), ("bpm", f"{attrs['bpm']:g}"), ("key", attrs["key"]),
            ("time_signature", attrs["time_signature"]), ("mood", attrs.get("mood") or "-"),
            ("instruments", ", ".join(attrs["instruments"])),
            ("chords", f"{' - '.join(attrs['chords'])}  ({' - '.join(attrs['progression'])})")]
    for name, value in rows:
        typer.echo(f"  {name:<15}{value:<44}[{src.get(name, '-')}]")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@app.command()
def serve(config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Deploy the endpoint on Ray Serve and keep it up until Ctrl-C."""
    from serving import app as serving_app
    from training.registry import ModelNotFound, resolve

    cfg = load_or_exit(config, set_)
    url = serving_app.deploy(cfg)
    alias = cfg.serve.model_alias
    try:
        ref = resolve(cfg, alias)
        model_line = f"{alias} -> {ref.name} v{ref.version} (run {ref.run_id})"
    except ModelNotFound as e:
        model_line = f"{alias} -> none yet ({e}); requests answer 404 until a model is trained"
    body = json.dumps({"prompt": cfg.demo.prompt, "bars": 8, "seed": 7})
    typer.echo(f"serving at {url}  (POST {GENERATE_PATH}, GET /healthz, GET /v1/models)")
    typer.echo(f"model: {model_line}")
    typer.echo(f"try:   curl -s -X POST {url}{GENERATE_PATH} -H 'content-type: application/json' -d '{body}'")
    typer.echo("Ctrl-C to stop")
    for sig in (signal.SIGINT, signal.SIGTERM):  # either one stops Serve cleanly, even when run in the background
        signal.signal(sig, _interrupt)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        typer.echo("stopping")
    finally:
        serving_app.shutdown()


@app.command()
def generate(prompt: str = typer.Option(..., "--prompt", "-p", help="what to make, English or Chinese"),
             bpm: Optional[float] = typer.Option(None, "--bpm"),
             key: Optional[str] = typer.Option(None, "--key", help="e.g. 'D minor', 'F#m', 'D小调'"),
             bars: int = typer.Option(8, "--bars"),
             seed: Optional[int] = typer.Option(None, "--seed"),
             model: Optional[str] = typer.Option(None, "--model", help="alias or version (default: serve.model_alias)"),
             out: Optional[Path] = typer.Option(None, "--out", help="MIDI file (default: <demo.out_dir>/generated.mid)"),
             url: Optional[str] = typer.Option(None, "--url", help="endpoint base URL (default: serve.host:port)"),
             config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """POST a prompt to a running endpoint and write the MIDI it returns."""
    import requests

    cfg = load_or_exit(config, set_)
    body = _request(prompt, bpm, key, bars, seed, model).model_dump(exclude_none=True)
    endpoint = (url or base_url(cfg)).rstrip("/") + GENERATE_PATH
    try:
        resp = requests.post(endpoint, json=body, timeout=600)
    except requests.ConnectionError:
        typer.echo(f"error: no endpoint at {endpoint}; start one with `musiclake serve`", err=True)
        raise typer.Exit(1) from None
    payload = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
    if resp.status_code != 200:
        typer.echo(f"error: {resp.status_code} {payload.get('error') or resp.text[:300]}", err=True)
        raise typer.Exit(1)
    path = out or Path(cfg.demo.out_dir) / "generated.mid"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(payload["midi_base64"]))
    m = payload["model"]
    typer.echo(f"model {m['name']} v{m['version']} (asked for {m['ref']!r})")
    _show_attributes(payload["attributes"])
    typer.echo(f"wrote {path}: {payload['n_notes']} notes, {payload['duration_s']:.1f}s, "
               f"{payload['elapsed_ms']:.0f} ms")


@app.command()
def recommend(prompt: str = typer.Option(..., "--prompt", "-p", help="what to make, English or Chinese"),
              bpm: Optional[float] = typer.Option(None, "--bpm"),
              key: Optional[str] = typer.Option(None, "--key"),
              as_json: bool = typer.Option(False, "--json", help="print the attributes as JSON"),
              config: Optional[Path] = ConfigOpt, set_: Optional[list[str]] = SetOpt) -> None:
    """Print the attributes a prompt maps to (no model, no Ray) and where each came from."""
    from training.prompts import recommend as rules

    load_or_exit(config, set_)
    req = _request(prompt, bpm, key, 8, None, None)
    attrs = rules(req.prompt, bpm=req.bpm, key=req.key)
    if as_json:
        typer.echo(json.dumps(attrs.model_dump(), ensure_ascii=False, indent=2))
    else:
        _show_attributes(attrs.model_dump())
