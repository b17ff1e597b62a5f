"""A generated piece (MIDI bytes) in the formats the product serves: MIDI, WAV, MusicXML, PNG, SVG.

One call::

    render(fmt, midi, meta=None, *, soundfont, fluidsynth="fluidsynth", sample_rate=44100) -> bytes

``fmt`` is one of :data:`FORMATS`; :data:`MEDIA_TYPES` gives the Content-Type of each. ``midi`` is a
standard MIDI file (as ``training.generator`` writes it with symusic: one track per part with its GM
program, drums on channel 10, one tempo, one time signature; other files work, read on a 16th grid).
:class:`PieceMeta` is what the caller knows and the MIDI may not say: the key (MusicXML/SVG key
signature and spelling), bpm and time signature (else read from the MIDI), a name per MIDI track in
order (part names; else the GM instrument name), a title.

- ``mid``: the bytes as given.
- ``wav``: FluidSynth (the CLI, fast render to a file in a temp dir, with a timeout) with the GM
  soundfont; 16-bit PCM stereo at ``sample_rate``, peak-normalised to -1 dBFS, at most
  :data:`TAIL_S` seconds of release kept after the last note ends (faded out when cut).
- ``musicxml``: built with music21 from the notes (not by music21's MIDI import): a part per track
  that has notes, uniquely named and with its instrument, in the clef its register needs (a piano on a
  grand staff); notes quantised to the 16th grid, split at bar lines with ties, simultaneous notes of
  one length made chords, overlapping ones put in voices; drums as unpitched notes on a percussion
  staff; chord symbols over the top staff and fingerings or note names where ``meta`` gives them.
  Uncompressed ``score-partwise`` XML.
- ``png``: a piano roll drawn with Pillow: time on x, pitch on y, one colour per track, bar lines,
  a legend; drums in a lane of their own under the pitched notes (one row per drum sound).
- ``svg``: the MusicXML engraved by verovio; every page stacked into ONE SVG document (pages are
  tall, so a piece up to a few dozen bars is one page).

Errors are :class:`RenderError` with a one-line message; a missing FluidSynth or soundfont names the
setting to change (``serve.fluidsynth`` / ``serve.soundfont``). :func:`check_audio` runs the same
checks without rendering (for service start).

One module per format: :mod:`serving.render_read` (the notes, :class:`PieceMeta`), :mod:`serving.render_audio`
(WAV), :mod:`serving.render_score` (MusicXML), :mod:`serving.render_engrave` (SVG), :mod:`serving.render_roll`
(PNG). ``python -m serving.render_bench [piece.mid]`` prints the time each format takes.
"""

from __future__ import annotations

from serving.api import FORMATS  # noqa: F401 - the formats are the API's; this module renders them
from serving.render_audio import TAIL_S, check_audio, render_wav  # noqa: F401
from serving.render_engrave import render_svg
from serving.render_read import PieceMeta, RenderError, read_piece  # noqa: F401
from serving.render_roll import BACKGROUND, PALETTE, render_png, track_colours  # noqa: F401
from serving.render_score import render_musicxml, to_music21  # noqa: F401

MEDIA_TYPES = {
    "mid": "audio/midi",
    "wav": "audio/wav",
    "musicxml": "application/vnd.recordare.musicxml+xml",
    "png": "image/png",
    "svg": "image/svg+xml",
}


def render(fmt: str, midi: bytes, meta: PieceMeta | None = None, *, soundfont: str = "",
           fluidsynth: str = "fluidsynth", sample_rate: int = 44100, timeout_s: float = 120.0) -> bytes:
    """The piece ``midi`` in format ``fmt`` (one of :data:`FORMATS`) as bytes; see the module docstring."""
    fmt = fmt.lower().lstrip(".")
    fmt = {"midi": "mid", "xml": "musicxml", "mxl": "musicxml"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise RenderError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    if fmt == "mid":
        return bytes(midi)
    if fmt == "wav":
        return render_wav(midi, soundfont=soundfont, fluidsynth=fluidsynth, sample_rate=sample_rate,
                          timeout_s=timeout_s)
    piece = read_piece(midi, meta)
    if fmt == "musicxml":
        return render_musicxml(midi, meta, piece)
    if fmt == "png":
        return render_png(midi, meta, piece)
    return render_svg(midi, meta, piece)


__all__ = ["FORMATS", "MEDIA_TYPES", "PieceMeta", "RenderError", "check_audio", "render", "render_musicxml",
           "render_png", "render_svg", "render_wav", "to_music21", "track_colours"]
