"""``musiclake exercise | harmonize | transfer``: the education tools on this machine (no endpoint needed).

They run the same code as ``POST /v1/exercise``, ``/v1/harmonize`` and ``/v1/transfer`` (:mod:`serving.education`)
on the lake's upload checks and write the files the renderer makes (``--formats mid,musicxml,svg,png,wav``). A bad
argument or file is one line on stderr and exit status 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from serving.api import FORMATS

FormatsOpt = typer.Option("mid,musicxml,svg", "--formats", help="comma list of mid,wav,musicxml,png,svg")


def _fail(message: str) -> None:
    typer.echo(f"error: {' '.join(str(message).split())}", err=True)
    raise typer.Exit(1)


def _formats(text: str) -> list[str]:
    wanted = [f.strip() for f in text.split(",") if f.strip()]
    if bad := [f for f in wanted if f not in FORMATS]:
        _fail(f"--formats: {', '.join(bad)} not one of {', '.join(FORMATS)}")
    return wanted


def _write(made, out: Path, formats: list[str]) -> list[Path]:
    """Every asked format of the piece beside ``out`` (the MIDI path)."""
    from common.config import ServeConfig
    from serving.education import piece_meta
    from serving.render import RenderError, render

    cfg = ServeConfig()
    meta = piece_meta(made)
    written = []
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        for fmt in formats:
            target = out if fmt == "mid" else out.with_suffix(f".{fmt}")
            data = made.midi if fmt == "mid" else render(fmt, made.midi, meta, soundfont=cfg.soundfont,
                                                         fluidsynth=cfg.fluidsynth, sample_rate=cfg.sample_rate)
            target.write_bytes(data)
            written.append(target)
    except RenderError as e:
        _fail(f"could not render: {e}")
    except OSError as e:
        _fail(f"cannot write {out}: {e.strerror or e}")
    return written


def _read(path: Path) -> bytes:
    from lake.midi_features import Limits, MidiError
    from serving.uploads import upload_midi

    try:
        data = path.read_bytes()
    except OSError as e:
        _fail(f"cannot read {path}: {e.strerror or e}")
    try:
        midi, _ = upload_midi(data, Limits())
    except MidiError as e:
        _fail(f"{path}: {e}")
    return midi


def exercise(kind: str = typer.Option("scale", "--kind", help="scale, arpeggio, interval, sight_reading"),
             scale: str = typer.Option("major", "--scale", help="major, natural_minor, harmonic_minor, melodic_minor, "
                                       "major_pentatonic, minor_pentatonic, dorian, ..., chromatic"),
             tonic: str = typer.Option("C", "--tonic"), octaves: int = typer.Option(1, "--octaves"),
             low: int = typer.Option(60, "--low", help="lowest MIDI pitch"),
             high: Optional[int] = typer.Option(None, "--high", help="highest MIDI pitch"),
             bpm: float = typer.Option(80.0, "--bpm"), instrument: str = typer.Option("piano", "--instrument"),
             difficulty: int = typer.Option(1, "--difficulty", help="1..5"),
             bars: int = typer.Option(4, "--bars", help="sight reading"),
             time_signature: str = typer.Option("4/4", "--time-signature"),
             seed: int = typer.Option(0, "--seed"), formats: str = FormatsOpt,
             out: Path = typer.Option(Path("exercise.mid"), "--out")) -> None:
    """Write a scale, arpeggio, interval drill or sight-reading tune: MIDI, MusicXML, an engraved score."""
    import pydantic

    from serving.api import ExerciseRequest
    from serving.education import exercise as make

    wanted = _formats(formats)
    try:
        req = ExerciseRequest(kind=kind, scale=scale, tonic=tonic, octaves=octaves, low=low, high=high, bpm=bpm,
                              instrument=instrument, difficulty=difficulty, bars=bars, time_signature=time_signature,
                              seed=seed)
        made = make(req)
    except pydantic.ValidationError as e:
        err = e.errors()[0]
        _fail(f"invalid request: {'.'.join(str(x) for x in err['loc'])}: {err['msg']}")
    except ValueError as e:
        _fail(f"invalid request: {e}")
    typer.echo(f"{made.extra['title']} ({made.extra['key']}): "
               + " ".join(n.name + (f"({n.finger})" if n.finger else "") for n in made.extra["notes"]))
    for path in _write(made, out, wanted):
        typer.echo(f"wrote {path}")


def harmonize(melody: Path = typer.Argument(..., help="a MIDI or MusicXML file; its highest line is the melody"),
              per: str = typer.Option("bar", "--per", help="bar, half (a bar's chord may change on beat 3) or beat"),
              style: str = typer.Option("pop", "--style", help="pop, folk, jazz, classical, string_quartet"),
              key: Optional[str] = typer.Option(None, "--key", help="fix the key instead of detecting it"),
              formats: str = FormatsOpt, as_json: bool = typer.Option(False, "--json", help="print the chords as JSON"),
              out: Path = typer.Option(Path("harmonized.mid"), "--out")) -> None:
    """Chords for a melody (per bar or beat, roman numerals in the detected key) and an accompaniment in a style."""
    import pydantic

    from lake.midi_features import Limits
    from serving.api import HarmonizeRequest
    from serving.education import harmonize as make

    wanted = _formats(formats)
    data = _read(melody)
    try:
        made = make(HarmonizeRequest(melody="0" * 20, per=per, style=style, key=key), data, Limits())
    except pydantic.ValidationError as e:
        err = e.errors()[0]
        _fail(f"invalid request: {'.'.join(str(x) for x in err['loc'])}: {err['msg']}")
    except ValueError as e:
        _fail(f"invalid request: {e}")
    chords = made.extra["chords"]
    if as_json:
        typer.echo(json.dumps({"key": made.extra["key"], "chords": [c.model_dump() for c in chords]}, indent=1))
    else:
        typer.echo(f"key {made.extra['key']}")
        for c in chords:
            typer.echo(f"  bar {c.bar + 1:>3} beat {c.beat + 1:>4}  {c.symbol:<7} {c.roman}")
    for path in _write(made, out, wanted):
        typer.echo(f"wrote {path}")


def transfer(piece: Path = typer.Argument(..., help="a MIDI or MusicXML file"),
             style: str = typer.Option("jazz", "--style", help="pop, folk, jazz, classical, string_quartet"),
             key: Optional[str] = typer.Option(None, "--key"), formats: str = FormatsOpt,
             out: Path = typer.Option(Path("transferred.mid"), "--out")) -> None:
    """Re-arrange a piece in another style, keeping its melody; print how much melody survived and how the style
    moved (measured from the notes)."""
    import pydantic

    from lake.midi_features import Limits
    from serving.api import TransferRequest
    from serving.education import transfer as make

    wanted = _formats(formats)
    data = _read(piece)
    try:
        made = make(TransferRequest(piece="0" * 20, style=style, key=key), data, Limits())
    except pydantic.ValidationError as e:
        err = e.errors()[0]
        _fail(f"invalid request: {'.'.join(str(x) for x in err['loc'])}: {err['msg']}")
    except ValueError as e:
        _fail(f"invalid request: {e}")
    x = made.extra
    typer.echo(f"key {x['key']}, chords: {' '.join(c.symbol for c in x['chords'])}")
    typer.echo(f"melody kept: intervals {x['melody'].intervals:.2f}, onsets {x['melody'].onsets:.2f}")
    for name in ("before", "after"):
        m = x[name]
        typer.echo(f"{name:<6} swing {m.swing:.2f}, extended chords {m.extended:.2f}, {', '.join(m.instruments)}")
    for path in _write(made, out, wanted):
        typer.echo(f"wrote {path}")
