"""Musical vocabularies shared by the lake, training and serving: tempo bins, keys, styles, splits."""

from __future__ import annotations

import bisect
import hashlib

# Tempo bin edges (BPM) as MidiCaps uses them; bin i covers [EDGES[i-1], EDGES[i]).
TEMPO_BIN_EDGES = (40, 60, 70, 90, 110, 140, 160, 210)
TEMPO_WORDS = ("grave", "largo", "adagio", "andante", "moderato", "allegro", "vivace", "presto", "prestissimo")

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_ALIASES = {"Db": "C#", "D#": "Eb", "Gb": "F#", "G#": "Ab", "A#": "Bb", "Cb": "B", "Fb": "E", "E#": "F", "B#": "C"}
KEY_NAMES = tuple(f"{pc} {mode}" for mode in ("major", "minor") for pc in PITCH_CLASSES)

VALIDATION_PERCENT = 10


def tempo_bin(bpm: float) -> int:
    """Index of the tempo bin holding ``bpm`` (0 .. len(TEMPO_BIN_EDGES))."""
    return bisect.bisect_right(TEMPO_BIN_EDGES, float(bpm))


def tempo_word(bpm: float) -> str:
    return TEMPO_WORDS[tempo_bin(bpm)]


def bin_center(b: int) -> float:
    """A representative BPM for a tempo bin (used when only the bin is known)."""
    edges = (20,) + TEMPO_BIN_EDGES + (240,)
    return (edges[b] + edges[b + 1]) / 2


def normalize_tonic(name: str) -> str:
    name = name.strip()
    name = name[:1].upper() + name[1:].replace("-", "b").replace("♭", "b").replace("♯", "#")
    name = _ALIASES.get(name, name)
    if name not in PITCH_CLASSES:
        raise ValueError(f"unknown tonic {name!r}")
    return name


def key_name(tonic: str, mode: str) -> str:
    mode = mode.lower()
    if mode not in ("major", "minor"):
        raise ValueError(f"unknown mode {mode!r}")
    return f"{normalize_tonic(tonic)} {mode}"


def split_of(sha256: str) -> str:
    """Deterministic train/validation split by content hash (same bytes, same split, everywhere)."""
    bucket = int(sha256[:8], 16) % 100
    return "validation" if bucket < VALIDATION_PERCENT else "train"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()

# Styles the product speaks of; a piece whose style is unknown gets "other".
STYLES = ("classical", "folk", "jazz", "pop", "rock", "electronic", "ambient", "film", "other")


def normalize_style(style: str | None) -> str:
    s = (style or "").strip().lower()
    return s if s in STYLES else "other"
