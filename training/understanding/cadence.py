"""Stated chords framed by a stated key's cadence.

A caption may state a key and a chord loop heard in another key ("D major" with Bm F#m Bm D: the lake labels a
piece's key over the whole piece and its progression from a short excerpt). Both are stated; the generator
follows the chords, so the notes were heard in the chords' key. Decision (the lead's, issue 17): the stated
chords are looped, and where they contradict the stated key, the key's cadence frames them: the last bar is the
key's tonic chord, the bar before it its dominant, and the first bar opens on the tonic where the loop has no
tonic chord of its own. The frame is written into the chords per bar the request sends; the sampler is not
touched.
"""

from __future__ import annotations

from lake.vocab import chord_names, parse_chord, parse_key
from training.understanding.implied import key_from_chords

UNIT_BARS = 8  # without a length: the framed unit, so 8-, 16- and 32-bar pieces close on the cadence


def contradicts(chords: list[str], key: str) -> bool:
    """Whether ``chords`` are heard in another key than ``key`` (:func:`implied.key_from_chords`)."""
    return bool(chords) and key_from_chords(chords) != parse_key(key)


def _is_tonic(symbol: str, key: str) -> bool:
    tonic = chord_names(["i" if key.endswith("minor") else "I"], key)[0]
    return parse_chord(symbol)[0] == parse_chord(tonic)[0] and \
        (parse_chord(symbol)[1] in ("min", "min7")) == key.endswith("minor")


def unit_length(loop: int, bars: int | None = None) -> int:
    """Bars of the framed unit: the piece's length when known, else 8 (a loop longer than that: its length
    rounded up to whole 4-bar phrases)."""
    if bars:
        return bars
    return max(UNIT_BARS, -(-loop // 4) * 4)


def frame(chords: list[str], key: str, bars: int | None = None) -> list[str]:
    """``chords`` looped over one unit (:func:`unit_length`), closing V-I in ``key`` and opening on its tonic
    where the loop has no tonic chord. The request loops the unit over the piece."""
    minor = key.endswith("minor")
    tonic, dominant = chord_names(["i" if minor else "I", "V"], key)
    n = unit_length(len(chords), bars)
    out = [chords[i % len(chords)] for i in range(n)]
    if n >= 2:
        out[-2:] = [dominant, tonic]
    else:
        out[-1] = tonic
    if n >= 4 and not any(_is_tonic(c, key) for c in chords):
        out[0] = tonic
    return out
