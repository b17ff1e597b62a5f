"""Labels that came with a piece (``bronze_annotations``, e.g. POP909) in the lake's own vocabulary.

The importer stores labels as the set writes them; this module is the one place that reads them as
the lake speaks, for the align job (labels win over the lake's analysis where a piece has them) and
for the agreement report (:mod:`lake.label_agreement`).

Chord labels are Harte-style (``root:quality(additions)/bass``). The lake knows the 11 qualities of
:data:`lake.vocab.CHORD_QUALITIES` and names the root, not the inversion, so a label maps by:

* the bass after ``/`` is dropped (``G:maj/3`` -> ``G:maj``); additions in parentheses are dropped
  (``D:sus4(b7)`` -> ``D:sus4``, ``C:maj(9)`` -> ``C:maj``);
* the quality maps through :data:`QUALITY_MAP`: a lake quality to itself, sixths to their triad
  (``maj6`` -> ``maj``, ``min6`` -> ``min``), ``minmaj7`` -> ``min``, ninths, elevenths and
  thirteenths to their seventh (``9`` -> ``7``, ``maj9`` -> ``maj7``, ``min9`` -> ``min7``);
* ``N`` (no chord) stays ``N``; any other quality has no lake label (``None``).

Key labels are ``Tonic:maj`` / ``Tonic:min``; the piece's key is the one held longest.
"""

from __future__ import annotations

import re

import numpy as np

from lake.vocab import CHORD_QUALITIES, NO_CHORD, PITCH_CLASSES, key_name, normalize_tonic

QUALITY_MAP: dict[str, str] = {
    **{q: q for q in CHORD_QUALITIES},
    "maj6": "maj", "min6": "min", "minmaj7": "min", "6": "maj", "m6": "min",
    "9": "7", "11": "7", "13": "7", "maj9": "maj7", "maj11": "maj7", "maj13": "maj7",
    "min9": "min7", "min11": "min7", "min13": "min7", "hdim": "hdim7", "7sus4": "sus4",
}
CHORD_LABEL = re.compile(r"^(?P<root>[A-G][#b]*):(?P<quality>[A-Za-z0-9]*)(?P<add>\([^)]*\))?(?:/(?P<bass>[#b]*\d+))?$")
KEY_LABEL = re.compile(r"^(?P<tonic>[A-G][#b]*):(?P<mode>maj|min)$")


def is_chord_label(label: str) -> bool:
    """Whether ``label`` is written as a chord label at all (``N`` or ``root:quality...``)."""
    return label == NO_CHORD or CHORD_LABEL.match(label) is not None


def lake_chord(label: str) -> str | None:
    """The lake label (``G:maj``, ``N``) of a set's chord label, or None where the lake has no such chord."""
    if label == NO_CHORD:
        return NO_CHORD
    m = CHORD_LABEL.match(label.strip())
    if m is None:
        return None
    quality = QUALITY_MAP.get(m["quality"] or "maj")
    if quality is None:
        return None
    try:
        return f"{normalize_tonic(m['root'])}:{quality}"
    except ValueError:
        return None


def chord_root(label: str) -> int | None:
    """Pitch class of a label's root (a set's or the lake's); None for ``N`` or anything unreadable."""
    m = CHORD_LABEL.match(label) if label and label != NO_CHORD else None
    if m is None:
        return None
    try:
        return PITCH_CLASSES.index(normalize_tonic(m["root"]))
    except ValueError:
        return None


def key_of_label(label: str) -> str:
    """``Gb:maj`` -> ``F# major`` (the lake's spelling); ValueError for anything else."""
    m = KEY_LABEL.match(label.strip())
    if m is None:
        raise ValueError(f"not a key label {label!r}: expected Tonic:maj or Tonic:min, e.g. Gb:maj")
    return key_name(m["tonic"], "major" if m["mode"] == "maj" else "minor")


def main_key(starts, ends, labels) -> str:
    """The key (lake spelling) held longest over the segments; ties go to the one heard first."""
    held: dict[str, float] = {}
    for s, e, lab in zip(starts, ends, labels):
        name = key_of_label(lab)
        held[name] = held.get(name, 0.0) + max(float(e) - float(s), 0.0)
    if not held:
        raise ValueError("no key segment")
    order = list(held)
    return max(order, key=lambda k: (held[k], -order.index(k)))


def labels_on_grid(seg_start, seg_end, seg_labels, bounds) -> list[str | None]:
    """For each cell of ``bounds`` (C+1 ascending edges), the label covering most of it; None where none does.

    Ties go to the earlier segment.
    """
    bounds = np.asarray(bounds, dtype=np.float64)
    n_cells = max(len(bounds) - 1, 0)
    if n_cells == 0 or len(seg_labels) == 0:
        return [None] * n_cells
    s = np.asarray(seg_start, dtype=np.float64)[:, None]
    e = np.asarray(seg_end, dtype=np.float64)[:, None]
    overlap = np.minimum(e, bounds[None, 1:]) - np.maximum(s, bounds[None, :-1])  # (segments, cells)
    best = np.argmax(overlap, axis=0)
    covered = overlap[best, np.arange(n_cells)] > 0
    return [seg_labels[b] if ok else None for b, ok in zip(best.tolist(), covered.tolist())]


def bar_grid(beat_s, downbeat) -> np.ndarray:
    """Bar edges from labelled beats: each downbeat, then the end of the last bar (one bar length on)."""
    beats = np.asarray(beat_s, dtype=np.float64)
    down = beats[np.asarray(downbeat, dtype=bool)]
    if len(down) == 0:
        return np.zeros(0)
    if len(down) == 1:
        step = float(np.median(np.diff(beats))) * 4 if len(beats) > 1 else 2.0
    else:
        step = float(np.median(np.diff(down)))
    return np.append(down, down[-1] + step)


def labelled_bar_chords(chord_start_s, chord_end_s, chord_labels, bar_start_s, last_end_s: float | None = None
                        ) -> list[str]:
    """The lake chord label of each bar starting at ``bar_start_s`` from a set's chord segments.

    A bar takes the segment covering most of it (mapped by :func:`lake_chord`); ``N`` where no
    segment covers it or the label has no lake chord. The last bar ends at ``last_end_s`` (default:
    one median bar length after its start).
    """
    starts = np.asarray(bar_start_s, dtype=np.float64)
    if len(starts) == 0:
        return []
    if last_end_s is None:
        last_end_s = starts[-1] + (float(np.median(np.diff(starts))) if len(starts) > 1 else 2.0)
    bounds = np.append(starts, max(float(last_end_s), starts[-1] + 1e-6))
    cells = labels_on_grid(chord_start_s, chord_end_s, list(chord_labels), bounds)
    return [(lake_chord(c) or NO_CHORD) if c is not None else NO_CHORD for c in cells]
