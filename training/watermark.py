"""A keyed watermark in the notes: generated lines lean to "green" intervals, and a detector counts them.

**The mark** (a Kirchenbauer-style green list, on intervals instead of tokens). Every pitched line
the sampler writes (melody, harmony, bass; a line is the role's top note per onset) has, before
each note, a context: the two intervals between its last three notes, in semitones (each clipped
to +-:data:`CLIP`). A keyed hash of (context, candidate interval) splits the candidate intervals
into a green share :data:`GAMMA` and the rest, and the sampler leans to the green ones (a preference,
not a rule: the masks still decide what may be played, and where the model is sure it still gets its
way). Two ways of leaning, per role:

* additive (every role by default): :func:`green_bias`, a bias of :mod:`training.masks`, adds :data:`DELTA`
  to the green candidates' logits before the temperature; the accompaniment's choices (which chord tone,
  which octave) carry most of the mark. Additive, the lean also moves probability between interval sizes
  (a likely step with a green leap beside it gives the leap mass), which a classifier of the melody's
  statistics reads (docs/copyright.md);
* within interval sizes (the roles of :data:`KEEP_SIZES`, none by default; measured for the melody):
  :func:`green_lean`, applied by the sampler's draw through :func:`within_sizes`, groups the candidates by
  the size of their interval (:data:`SIZE_CLASSES`: 0-2 semitones, 3-7, 8 or more, the realism
  statistics' own bounds); each group keeps the probability the model (its tempered logits, the masks and
  the other biases) gave it, and only within a group the green candidates gain, by the odds
  ``e ** within``: the mark decides which step or which leap (up or down, which of one size), never how
  often the tune steps or leaps. An additive part may come on top (:data:`ACROSS`).

**Keyed draws** (the roles of :data:`KEYED`: every pitched role by default). The sampler draws a value by an
exponential race (the largest ``p_i / E_i``); for a keyed role's pitch, :func:`keyed_noise` gives ``E_i = -log
u_i`` with ``u_i`` a keyed uniform of the line's last :data:`KEYED_CONTEXT` intervals and the candidate's interval
(:func:`u_row`) instead of the random generator's noise. Over contexts the ``u_i`` are independent uniforms, so a
draw follows the distribution it is drawn from exactly (after Aaronson's Gumbel-max watermark; Kuditipudi et
al. 2023): the mark moves nothing a listener or a classifier of the melody's statistics can hear, while the
chosen interval's ``u`` runs high. A keyed role leans only by :data:`KEYED_LEAN` (the melody a little, the
accompaniment, whose choices are few, as before). The detector adds each keyed note's ``-log(1 - u)`` (Exp(1)
without the mark) to the weighted green count, under an exact null (:func:`combined_tail`). A strict piece drawn
again (its stated key or tempo not heard, :func:`training.generator.another_draw`) draws under a subkey of its
own per draw (:func:`draw_subkey`; draw 0's is the subkey of before), so a draw again does not come back to the
first draw's choices; the detector reads the keyed score under each of the :data:`DRAW_KEYS` subkeys and takes
the best, its p-value exact over all of them (:func:`max_combined_tail`: at most that many times one subkey's).

**Keyed durations** (the roles of :data:`KEYED_DURS`; 2026-12-08, **off by default**: keyed durations took the
POP909 model's tempo heard from the notes from 92.5 to 85 % of ``training/eval_pop.yaml``'s 80 cases, six pieces
heard at twice or half their tempo and none the other way, where issue 16 asks 90 %; kept for measuring). A keyed note's
duration is drawn the same way, before its pitch: the race on keyed noise of the same pitch context and the candidate
duration in sixteenths (:func:`keyed_dur_noise`, :func:`dur_u_row`: a label of its own under the draw's subkey), so
it too follows the model's distribution while the chosen duration's ``u`` runs high. The detector reads each keyed
note's written duration (:func:`keyed_durs`) and adds its ``-log(1 - u)`` to the keyed score: a note carries two
keyed scores, which a short line (one part of a two-part piece left alone, 8 slow bars) needed. Durations are read
only where a track lies on the 16th grid as the sampler writes it (:func:`_steps`, :data:`DUR_SKIP_GCD`: not off the
grid, not all on the 1/8 grid, not all multiples of 3 sixteenths), a rule of the file, so quantized and re-timed
copies are read by their pitches as before. Pieces marked before keyed durations read their durations' score as the
null's, which costs their 8-bar cuts some z (``KEYED_DURS`` empty reads them as before).

Intervals make the pitch mark blind to transposition, and onsets play no part in it, so tempo changes,
quantization, velocities, cuts and re-saving leave it where it is.

**Detection** (:func:`detect`): every non-drum track of a MIDI file, its top note per onset in onset
order (the line), gives a triple of successive intervals per note from its fourth; the triples are counted
once each (a repeated phrase, a doubling track or a restated bar adds nothing, so repetition cannot inflate
the count). Each distinct triple carries a weight the file's notes decide, never the key (:data:`WEIGHTS`):
0 where the note is the top of several struck at one onset (the sampler leans only the note that starts an
onset, so such a top is green about half the time, marked or not: noise), less where it stands on a bar
line (its chord decides much of it), full elsewhere; and a stacked onset's lowest note, the one the sampler drew
first (a trained model draws a chord from the bottom up), read against the line's last top at :data:`LOW_WEIGHT`
(and keyed). Without the mark each triple is green with
probability :data:`GAMMA`, independently, so the weighted green sum has an exact null distribution
(:func:`score_weighted`: two binomials); its one-sided p-value is the evidence. A second reading unfolds
onsets of several notes off the downbeat in the file's order (quantization can put successive notes of a
line on one onset); where it reads other triples than the first, the smaller p of the two counts, doubled
(:func:`read`). A file is ours when that p is at most :data:`P_OURS` with at least :data:`MIN_SCORED`
weighted triples; its z is the normal quantile of that p (ours from :data:`Z_OURS`), the confidence ``1 - p``.
Figures: ``python -m training.watermark_bench`` (``make bench-watermark``); docs/copyright.md.

**The key** (:func:`load_key`): ``MUSICLAKE_WATERMARK_KEY`` (the secret itself, text), else the file
``MUSICLAKE_WATERMARK_KEY_FILE`` names, else ``./data/secrets/watermark.key`` (relative to the
working directory), which is made with 32 random bytes on first use (mode 0600) so a deployment
that configured nothing still marks its pieces with a key of its own. Several machines must share
one key (set the variable or the file on each); ``MUSICLAKE_WATERMARK=off`` turns marking off.
The key never enters the repository; tests set their own with :func:`use_key`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import secrets
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from statistics import NormalDist

import numpy as np

GAMMA = 0.5  # share of candidate intervals that are green in each context (one of each mirrored pair)
# the additive lean per role: a logit added to a green candidate's pitch before the temperature (green_bias).
# The accompaniment's choices (which chord tone, which octave) carry most of the mark; the melody, whose steps
# and leaps a listener hears, leans less (with v1's neighbouring pairs 3.0 took POP909-trained melodies from
# 0.72 to 0.58 steps; with mirrored pairs 2.5 keeps 0.61, the realism classifier at 0.72, issue 16; 1.5 left
# 8-bar cuts of some pieces unread). Additive, the lean moves probability between interval sizes (a likely
# step with a green leap beside it gives the leap mass): over 300 pieces of the demo model stepwise 0.620
# marked against 0.646 unmarked, leaps 0.036 against 0.029 (docs/copyright.md)
DELTA = {"melody": 2.5, "harmony": 5.0, "bass": 5.0}
# the melody's lean in a piece of at most two pitched parts (a tune and its accompaniment): a user who
# drops the accompaniment leaves the tune to carry the mark alone (with 2.5, 14 of 19 such tunes were
# read, 16 bars; with 4.0 the realism classifier against held-out songs stays at 0.72, issue 16)
DELTA_ALONE = 4.0
# the roles whose lean keeps the sizes of their intervals (green_lean, within_sizes): none by default. The
# melody's, measured on the demo model (docs/copyright.md, 2026-12-07): alone (WITHIN 6, ACROSS 0, the
# accompaniment at 8) the sizes' shares are kept but only 80 % of the melody's triples are green (86 %
# additive), and 8-bar cuts of re-timed pieces and of pieces without a track fall under the 95 %
# (92.7 %, 88.7 %), and the classifier still tells them apart (0.553 against the additive lean's 0.573: the
# lean still picks the tune's direction, and its range grows); with an additive part as well (ACROSS 1.5 / 5)
# the cuts come back (but one edit, 94.3 %) and so do the sizes' shifts. On the POP909 model (v2) the lean
# within sizes moves its tunes more than the additive one (pitch-class entropy +0.81 sd, range +0.64;
# classifier 0.67 against 0.62). Turn on with ``KEEP_SIZES = frozenset({"melody"})`` (the bench's --keep-sizes).
KEEP_SIZES: frozenset = frozenset()
# the interval sizes the lean keeps apart, as the largest size (semitones) of each group but the last:
# 0-2 (realism's "stepwise"), 3-7, 8 and more (realism's "leaps"). Within 0-2 the lean picks among the
# repeated note and the steps up and down; a group of its own for the repeated note left too little choice
# (the melody's triples 73 % green, against 80 %)
SIZE_CLASSES = (2, 7)
# a role of KEEP_SIZES: the log-odds a green candidate gains over the others of its interval size (after the
# temperature), per role and for a tune with at most one partner part; and the additive part on top
# (green_bias, before the temperature, across the sizes; 0: none)
WITHIN = {"melody": 6.0}
WITHIN_ALONE = 8.0
ACROSS = {"melody": 0.0}
ACROSS_ALONE = 0.0
# the roles whose pitch draws are keyed (keyed_noise: the sampler's exponential race run on keyed noise instead of
# the random generator's, so each draw still follows the distribution it is drawn from, over contexts: the keyed
# noise moves nothing between interval sizes). Every pitched role, by default (docs/copyright.md, 2026-12-07,
# "keyed draws"); the bench's --no-keyed turns it off (the green list's lean alone, as before)
KEYED: frozenset = frozenset({"melody", "harmony", "bass"})
# a keyed role's additive lean (green_bias, on the green list's pitches, as DELTA), in place of DELTA: the melody
# leans a little (1.0; 4.0 for a tune with at most one partner part, KEYED_LEAN_ALONE, which must carry the
# piece alone once its partner is dropped: with 3.0, 98.3 % of such whole pieces were read, with 4.0 99.0 %),
# the accompaniment harder than before (its choices are few, and a classifier of the melody's statistics does
# not read them). Measured on the demo model: melody 0 leaves a lone tune's 8-bar cuts unread (37 %); melody
# 1.0 and accompaniment 5 the melody-less ones (94 %). 300 pieces: the classifier 0.515 / 0.505 (docs)
KEYED_LEAN = {"melody": 1.0, "harmony": 8.0, "bass": 8.0}
KEYED_LEAN_ALONE = 4.0
# a keyed role's additive lean in a strict key's draw again (plan.key_push > 0: its first draw was heard in another
# key, and the key's tonic triad is leaned to harder, training.masks), in place of KEYED_LEAN / _ALONE where given
# (role -> lean; "alone" for a tune with at most one partner part): such a draw has fewer free choices (v2: 8-bar
# cuts held 32 weighted triples against 55, and the chosen candidates' keyed u ran lower). Empty: as any draw
PUSHED_LEAN: dict = {}
# the weight of the keyed score (the sum of -log(1 - u) over a file's keyed notes, Exp(1) each without the mark)
# against the weighted green count (weights 2 and 3 per green triple); used only when a role is keyed (else
# the detector reads the green count alone, as before). 1 read more 8-bar cuts than 2 or 3 (docs)
S_WEIGHT = 1.0
# whether a keyed role's draw in a context its line has had before is keyed too (True) or drawn from the
# random generator (False; the detector then reads only each context's first note in a line). With three
# intervals of context the realism statistics stay within noise either way, and keying repeats keeps the
# cuts of a piece's later bars readable (a context first met in bars 1-8 is keyed again in bars 9-16)
KEY_REPEATS = True
# how a strict piece's draws again (plan.draw > 0, training.generator.another_draw) race: "subkey" (the default),
# on keyed noise of their own, draw d under a subkey of the key and d (draw_subkey; draw 0's is the one every
# piece drew under before, so its pieces still verify), and the detector tries each (DRAW_KEYS, max_combined_tail);
# "generator", on the random generator's noise (the additive lean alone marks them: 74bf7a9's rule); "same", on
# draw 0's keyed noise (the same context gives the same choice again, so a draw again came back to the first
# draw's material and its misheard key: the rule of c2aff67). The bench's --redraws
REDRAWS = "subkey"
# whether a draw again (REDRAWS "subkey") keys a context its line has had before (True), or draws it from the random
# generator (False, the default): keyed again, a misheard figure came back within the piece, and v2's benchmark
# heard its stated key in 214 of 222 captions against 218 with the generator's noise in draws again; keying only a
# context's first note, 217, with a draw again's 8-bar cuts as before (142/156 against 143/156; docs/copyright.md).
# The detector reads every note either way (a repeat drawn from the generator mostly repeats the first's interval)
REDRAW_REPEATS = False
# the draws' subkeys the detector tries: training.generator.STRICT_DRAWS (a test holds them equal); 1 reads only
# draw 0's (a file of a draw again then scores by its green count)
DRAW_KEYS = 3
# the detector's handicap of each draw's keyed score (score units, subtracted before the draws' best is taken:
# max_combined_tail): 0 for draw 0; more for the draws again costs a first draw's file less of its p-value (the
# other subkeys' chance scores rarely win) and a draw again's more
DRAW_HANDICAP: tuple[float, ...] = (0.0, 0.0, 0.0)
# the roles whose duration draws are keyed too (keyed_dur_noise: the race on keyed noise of (the pitch's keyed context,
# the candidate duration in 16ths), under a subkey of the draw's own; distribution-free as the pitch's), and the
# detector's reading of them (keyed_durs: each keyed note's written duration, where it lies on the 16th grid): a
# second keyed score per note, so a short line (a tune or a chord part left alone, 8 slow bars) carries about
# twice the evidence. Empty (the default since they cost the tempo heard from the notes, see the module doc):
# durations drawn from the random generator and not read. frozenset({"melody", "harmony", "bass"}) turns them on
KEYED_DURS: frozenset = frozenset()
ALL_DURS: frozenset = frozenset({"melody", "harmony", "bass"})  # every pitched role: what the bench's --keyed-durs keys
# a track whose onsets and durations (in 16ths) all share one of these factors is not read for durations (_steps):
# 2, a piece quantized to 1/8 (its odd 16ths rounded: durations not the drawn ones); 3, a piece re-timed by x1.5 in
# ticks (its even 16ths become multiples of 3, its odd ones fall off the grid). An original that lies on the 1/8 grid
# loses its durations' score with them (v2 strict pieces, 8-bar cuts found as generated 100 -> 99.3 %; quantized to
# 1/8 96.2 -> 95.1 % with (3,) alone on 286 cuts, the draws again 83.3 -> 86.8 %)
DUR_SKIP_GCD: tuple[int, ...] = (2, 3)
# the grids (in sixteenths of the file's resolution) a track's durations are read on, the first that fits (_steps):
# as written, and re-timed x1.5 in ticks (the bench's re-timing; a finer unit, x0.5 or x0.75, would also fit a
# track with one note nudged off the grid and read its durations wrongly). (1.0,): as written only
DUR_UNITS: tuple[float, ...] = (1.0, 1.5)
DUR_SPAN = 64  # keyed uniforms per duration context: durations 0..DUR_SPAN-1 sixteenths (the sampler's: 1..32)
# how many intervals before a keyed draw key it (the line's last notes as the sampler tracks them: at most 3). The
# more, the more distinct contexts a tune runs through, so a fixed key's noise favours no interval size over
# many draws (with 2, keyed repeats took the demo model's melodies from 0.64 to 0.58 steps, a classifier 0.75);
# the fewer, the less a cut or a changed note takes from the detector
KEYED_CONTEXT = 3
_PARTS = ("melody", "harmony", "bass")
CLIP = 12  # context intervals are clipped to +-CLIP semitones
# the p-value (over both readings, see read) from which a file is ours: the rate at which a file not ours is
# called ours, at most (4.65e-4; the issue allows 0.1 %); it was "z >= 3.5 in the better of two readings"
P_OURS = 2 * 0.5 * math.erfc(3.5 / math.sqrt(2))
Z_OURS = NormalDist().inv_cdf(1 - P_OURS)  # the same p as a z-score: 3.31
MIN_SCORED = 12  # fewer distinct weighted triples than this: too little music to tell
# the detector's weight of a distinct triple by its last note (integers, for the exact null distribution):
# the top of a stacked onset (green 52 % in marked pieces of the demo model: the sampler leans only the note
# that starts an onset), a single note on a bar line (77 %: its chord decides much of it), any other (91 %)
WEIGHTS = (0, 2, 3)
STACKED, DOWNBEAT, OTHER = range(3)
# the weight of a stacked onset's lowest note, read against the line's last top (scored_lines with ``lows``): the
# sampler draws an onset's notes from the bottom up (the model learnt them so) and leans and keys only the first, so
# the lowest note of a chord carries the mark the top does not (v2's strict pieces, harmony: green 84 % and keyed
# score 1.36 per triple, against the top's 52 % and 1.00). 0: not read (the detector of before)
LOW_WEIGHT = 2
SPAN = 128  # candidate intervals -SPAN..SPAN-1 (any pitch from any pitch)
ENV_KEY, ENV_KEY_FILE, ENV_SWITCH = "MUSICLAKE_WATERMARK_KEY", "MUSICLAKE_WATERMARK_KEY_FILE", "MUSICLAKE_WATERMARK"
DEFAULT_KEY_FILE = "./data/secrets/watermark.key"
_VERSION = b"musiclake-watermark-v2"  # v2: mirrored pairs (v1 paired neighbouring intervals)


# -- the key ----------------------------------------------------------------------------------------------
class WatermarkKeyError(RuntimeError):
    """The configured key cannot be read."""


_lock = threading.Lock()
_key: bytes | None = None
_loaded = False
_failure: str | None = None
log = logging.getLogger(__name__)


def load_key() -> bytes | None:
    """The deployment's key (see the module doc); None when marking is off."""
    if os.environ.get(ENV_SWITCH, "").strip().lower() in ("off", "0", "false", "no"):
        return None
    text = os.environ.get(ENV_KEY)
    if text:
        return text.encode()
    path = Path(os.environ.get(ENV_KEY_FILE) or DEFAULT_KEY_FILE)
    if path.exists():
        data = path.read_bytes().strip()
        if not data:
            raise WatermarkKeyError(f"watermark key file {path} is empty")
        return data
    if os.environ.get(ENV_KEY_FILE):
        raise WatermarkKeyError(f"watermark key file {path} (from {ENV_KEY_FILE}) does not exist")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_hex(32).encode())
    finally:
        os.close(fd)
    return path.read_bytes().strip()


def active_key() -> bytes | None:
    """The key the sampler marks with (loaded once per process; :func:`use_key` overrides it). A key that
    cannot be read or made is logged once and nothing is marked (generation goes on; verifying says why)."""
    global _key, _loaded, _failure
    if not _loaded:
        with _lock:
            if not _loaded:
                try:
                    try:
                        _key = load_key()
                    except FileExistsError:  # another process made it between the check and the create
                        _key = load_key()
                except (WatermarkKeyError, OSError) as e:
                    _key, _failure = None, f"{type(e).__name__}: {e}"
                    log.warning("watermark: no key, pieces are not marked (%s)", _failure)
                _loaded = True
    return _key


def key_failure() -> str | None:
    """Why :func:`active_key` has no key although marking is on (None: it has one, or marking is off)."""
    return _failure


def use_key(key: bytes | str | None) -> None:
    """Mark with ``key`` from now on in this process (None: no mark); tests and benchmarks use it."""
    global _key, _loaded, _failure
    with _lock:
        _key = key.encode() if isinstance(key, str) else key
        _loaded, _failure = True, None


# -- the green list ---------------------------------------------------------------------------------------
W = 2 * CLIP + 1  # context values per interval


@lru_cache(maxsize=8)
def green_table(key: bytes) -> np.ndarray:
    """bool (W, W, 2 * SPAN): whether candidate interval ``d`` is green after context intervals
    ``(a, b)``, at ``[a + CLIP, b + CLIP, d + SPAN]``. The candidates come in mirrored pairs (``+d`` and
    ``-d`` semitones) and one of each pair is green (GAMMA = 1/2): every context keeps a green step of
    each size, up or down, so the lean moves a line's direction, never the size of its steps (how far
    a melody leaps, how often it steps, which of its chord's tones it picks: the statistics a listener
    hears and the realism evaluation measures, issue 16). A repeated note (``d = 0``) is green or not on
    a bit of its own. Which one: a keyed PRF, HMAC-SHA256 of the key over the context, one bit per pair."""
    sub = hmac.new(key, _VERSION, hashlib.sha256).digest()
    out = np.zeros((W, W, 2 * SPAN), dtype=bool)
    up = np.arange(1, SPAN)  # sizes 1..SPAN-1: +d at SPAN + d, -d at SPAN - d
    for a in range(W):
        for b in range(W):
            bits = np.unpackbits(np.frombuffer(hmac.new(sub, bytes((a, b)), hashlib.sha256).digest(),
                                               dtype=np.uint8)).astype(bool)
            out[a, b, SPAN + up] = bits[up]  # +d green when its bit is set, else -d
            out[a, b, SPAN - up] = ~bits[up]
            out[a, b, SPAN] = bits[0]  # the repeated note
            out[a, b, 0] = bits[SPAN]  # -SPAN, unpaired (out of any register)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=32)
def _bias_rows(key: bytes, delta: float) -> np.ndarray:
    rows = green_table(key).astype(np.float32) * delta
    rows.flags.writeable = False
    return rows


def _clip(d: int) -> int:
    return min(CLIP, max(-CLIP, d)) + CLIP


def line_of(notes: list) -> tuple:
    """The line a role has so far, as the detector will read it: the top pitch of each of its last
    onsets (notes ``(bar, pos, pitch, dur, velocity)``), oldest first; the sampler's starting context."""
    tops: dict = {}
    for bar, pos, pitch, *_ in notes[-12:]:
        tops[(bar, pos)] = max(pitch, tops.get((bar, pos), -1))
    return tuple(tops[k] for k in sorted(tops)[-4:])


def extend_line(s, pitch: int) -> tuple:
    """``s.line`` after the note ``pitch`` at ``s.pos`` (call it before the slot counts the note): a new
    onset's note joins the line; one struck with others at the same onset replaces the onset's top when above it."""
    if s.count and s.pos == s.last_pos and s.line:
        return (*s.line[:-1], max(s.line[-1], pitch))
    return (*s.line[-3:], pitch)


def lean(s) -> float:
    """The logit a green pitch gets in ``s``'s role before the temperature (:func:`green_bias`):
    :data:`DELTA`, or :data:`DELTA_ALONE` for the melody of a piece with at most two pitched parts of its
    own (doublings aside); for a role of :data:`KEEP_SIZES` the additive part :data:`ACROSS` /
    :data:`ACROSS_ALONE`."""
    if s.role in KEEP_SIZES:
        return ACROSS_ALONE if _alone(s) else ACROSS.get(s.role, 0.0)
    if s.role in KEYED and s.role in KEYED_LEAN:
        if PUSHED_LEAN and getattr(s.plan, "key_push", 0):
            alone = _alone(s)
            got = PUSHED_LEAN.get("alone" if alone else s.role)
            if got is not None:
                return got
        return KEYED_LEAN_ALONE if _alone(s) else KEYED_LEAN[s.role]
    if _alone(s):
        return DELTA_ALONE
    return DELTA.get(s.role, 0.0)


def within(s) -> float:
    """The log-odds a green pitch gains within its interval size in a role of :data:`KEEP_SIZES`
    (:func:`green_lean`): :data:`WITHIN`, or :data:`WITHIN_ALONE` for a tune with at most one partner part."""
    return WITHIN_ALONE if _alone(s) else WITHIN.get(s.role, 0.0)


def _green_row(s, size: int, delta: float) -> np.ndarray | None:
    """``delta`` on the pitches (shifted values, raw + 1) whose interval from the line's last note is green
    after its last two intervals, 0 elsewhere; None where nothing leans (see :func:`green_bias`)."""
    line = s.line
    if s.count and s.pos == s.last_pos:
        return None
    if len(line) < 3:
        return None
    key = active_key()
    if key is None:
        return None
    p0, p1, p2 = line[-3], line[-2], line[-1]
    row = _bias_rows(key, delta)[_clip(p1 - p0), _clip(p2 - p1)]
    start = _start(p2)
    if start < 0 or start + size > row.shape[0]:
        return None
    return row[start:start + size]


def _start(last: int) -> int:
    """The table column of shifted value 0 after the line's note ``last``: index i is pitch i - 1, the
    interval i - 1 - last, at column i - 1 - last + SPAN."""
    return SPAN - 1 - last


def _alone(s) -> bool:
    """Whether ``s`` is the melody of a piece with at most two pitched parts of its own (doublings aside)."""
    plan = getattr(s, "plan", None)
    return s.role == "melody" and plan is not None and \
        sum(1 for t in plan.tracks if t.role in _PARTS and t.doubles is None) <= 2


def green_bias(s, size: int) -> np.ndarray | None:
    """The additive part of the mark, as a bias of the sampler (:mod:`training.masks`): :func:`lean` (for a
    role of :data:`KEEP_SIZES`, whose lean is :func:`green_lean`, its additive part) on the pitches (shifted
    values, raw + 1) whose interval from the line's last note is green after its last two intervals.
    None where that is 0, when marking is off, the line is shorter than three onsets, or the note is struck with others
    at one onset: a stacked note could only lean by rising over the onset's top (the note the detector
    reads), and that pushed the harmony's chords up over the tune (melody on top 0.87 -> 0.81, a
    classifier told marked from unmarked pieces at 0.62; without it 0.49). A slice of a table made once per key."""
    delta = lean(s)
    return _green_row(s, size, delta) if delta > 0 else None


@dataclass(frozen=True, eq=False)
class Lean:
    """The mark of one draw that keeps its interval sizes: per shifted value (raw + 1), whether its interval
    is green (1.0) or not (0.0) and its interval's size group (:data:`SIZE_CLASSES`), and the lean (log-odds)."""

    green: np.ndarray
    group: np.ndarray
    delta: float


@lru_cache(maxsize=1)
def _size_groups() -> np.ndarray:
    """int (2 * SPAN,): the size group of the interval at each table column."""
    g = np.searchsorted(np.asarray(SIZE_CLASSES), np.abs(np.arange(2 * SPAN) - SPAN), side="left").astype(np.intp)
    g.flags.writeable = False
    return g


def green_lean(s, size: int) -> Lean | None:
    """The melody's mark (a role of :data:`KEEP_SIZES`), for the sampler's draw (:func:`within_sizes`): the
    green pitches after the line's last two intervals and each pitch's interval size from its last note.
    None for the other roles (their mark is :func:`green_bias`) and where nothing leans (as there)."""
    if s.role not in KEEP_SIZES:
        return None
    green = _green_row(s, size, 1.0)
    if green is None:
        return None
    start = _start(s.line[-1])
    return Lean(green, _size_groups()[start:start + size], within(s))


def within_sizes(z: np.ndarray, mark: Lean) -> np.ndarray:
    """``z`` (a draw's tempered logits, -inf where the masks forbid a value) leaned to the green values
    within each interval size group: a value of group ``c`` gets ``delta * green - log(1 + G_c / S_c *
    (e ** delta - 1))``, with ``S_c`` the probability ``softmax(z)`` gives the group and ``G_c`` its green
    values'. So each group keeps ``S_c`` exactly and within it a green value's odds against a red one grow
    by ``e ** delta``; a group with no green value, or no red one, is drawn as the model would. Returns a
    new array of ``z``'s dtype."""
    finite = np.isfinite(z)
    if not finite.any():
        return z
    zf = z.astype(np.float64)
    p = np.exp(np.where(finite, zf - zf[finite].max(), -np.inf))
    groups = int(mark.group.max()) + 1
    total = np.bincount(mark.group, weights=p, minlength=groups)
    green = np.bincount(mark.group, weights=p * mark.green, minlength=groups)
    share = np.divide(green, total, out=np.zeros(groups), where=total > 0)
    shift = mark.delta * mark.green - np.log1p(share[mark.group] * math.expm1(mark.delta))
    return (zf + shift).astype(z.dtype)


# -- keyed draws ------------------------------------------------------------------------------------------
_KEYED_VERSION = b"musiclake-watermark-keyed-v1"


@lru_cache(maxsize=32)
def draw_subkey(key: bytes, draw: int = 0) -> bytes:
    """The subkey of a piece's draw ``draw`` (0: its first; a strict piece's draws again 1, 2, ...) that keys its
    noise (:func:`u_row`): HMAC-SHA256 of the key over the keyed draws' version label, and for a draw again over
    that label and the draw's number (so draw 0's subkey is the one pieces were marked with before draws had
    subkeys). The subkeys of one key are independent PRF outputs, so are the noises they key."""
    label = _KEYED_VERSION if draw == 0 else _KEYED_VERSION + b"/draw/" + str(int(draw)).encode()
    return hmac.new(key, label, hashlib.sha256).digest()


@lru_cache(maxsize=1 << 16)
def u_row(key: bytes, ctx: tuple, draw: int = 0) -> np.ndarray:
    """float64 (2 * SPAN,) in (0, 1): the keyed uniform of each candidate interval ``d`` (at ``d + SPAN``) after
    the context ``ctx`` (the last :data:`KEYED_CONTEXT` intervals, clipped, as table indices 0..2 * CLIP) in a
    piece's draw ``draw``; independent of :func:`green_table`'s bits (another subkey) and of the other draws'.
    SHAKE-256 of the draw's subkey (:func:`draw_subkey`) and the context, read as 64-bit integers, the top 53
    bits of each centred in its cell (never 0 or 1)."""
    return _uniforms(hashlib.shake_256(draw_subkey(key, draw) + bytes(ctx)).digest(8 * 2 * SPAN))


def _uniforms(digest: bytes) -> np.ndarray:
    """A digest read as 64-bit integers, the top 53 bits of each centred in its cell: uniforms in (0, 1), never
    0 or 1 (read-only)."""
    raw = np.frombuffer(digest, dtype="<u8")
    out = ((raw >> np.uint64(11)).astype(np.float64) + 0.5) / 2.0 ** 53
    out.flags.writeable = False
    return out


@lru_cache(maxsize=1 << 16)
def _noise_row(key: bytes, ctx: tuple, draw: int = 0) -> np.ndarray:
    """float32 ``-log u``: the exponential noise of a keyed draw (what the sampler's race divides by)."""
    e = (-np.log(u_row(key, ctx, draw))).astype(np.float32)
    e.flags.writeable = False
    return e


def noise_draw(s) -> int | None:
    """Which draw's keyed noise ``s``'s pitch races on (:data:`REDRAWS`): the piece's draw (``plan.draw``, 0 for
    any piece but a strict one's draws again), draw 0's where draws again share it, None where they race on the
    random generator's noise."""
    draw = int(getattr(s.plan, "draw", 0) or 0)
    if draw == 0 or REDRAWS == "subkey":
        return draw
    return 0 if REDRAWS == "same" else None


def _context(line, end: int) -> tuple:
    """The keyed context of the note at ``line[end]``: the :data:`KEYED_CONTEXT` clipped intervals before it."""
    return tuple(_clip(line[i] - line[i - 1]) for i in range(end - KEYED_CONTEXT, end))


def contexts(notes: list) -> set:
    """The keyed contexts that have come before a note of the line of ``notes`` (the role's notes so far,
    ``(bar, pos, pitch, ...)``; the line: its top pitch per onset)."""
    tops: dict = {}
    for bar, pos, pitch, *_ in notes:
        tops[(bar, pos)] = max(pitch, tops.get((bar, pos), -1))
    line = [tops[k] for k in sorted(tops)]
    return {_context(line, i) for i in range(KEYED_CONTEXT + 1, len(line))}


def keyed_noise(s, size: int, notes: list) -> np.ndarray | None:
    """The exponential noise of a keyed pitch draw in a role of :data:`KEYED` (float32, per shifted value,
    raw + 1): ``-log u`` of each candidate's interval from the line's last note after its last
    :data:`KEYED_CONTEXT` intervals (:func:`u_row`). The sampler draws ``argmax(p_i / E_i)`` with this ``E`` in
    place of the random generator's: over contexts the keyed ``u`` are independent uniforms, so the draw follows
    the model's distribution, and the chosen interval's ``u`` runs high (what :func:`read` scores). None (draw
    from the random generator) for the other roles, when marking is off, where the line is too short, the note
    is struck with others at one onset, or (unless :data:`KEY_REPEATS`) the context has come before in the
    role's line (``notes``): the same context gives the same noise again and so, as often as not, the same
    choice (the detector then reads only a context's first note in a line, see :func:`keyed_triples`). A strict
    piece's draw again (``plan.draw`` > 0, :func:`training.generator.another_draw`) races on noise of its own
    draw's subkey (:func:`draw_subkey`, :data:`REDRAWS`): with the first draw's noise the same context gave the
    same choice, so a draw again came back to much of the first draw's material and its misheard key (the
    stated key heard in 93.5 % of v2's English benchmark captions, 97.1 % with the generator's noise there);
    the detector tries every draw's subkey (:func:`max_combined_tail`). In a draw again a context its line has had
    before is drawn from the random generator (unless :data:`REDRAW_REPEATS`), so a misheard figure is not restated
    as it was."""
    if s.role not in KEYED:
        return None
    keyed = _keyed_draw(s, notes)
    if keyed is None:
        return None
    start = _start(s.line[-1])
    if start < 0 or start + size > 2 * SPAN:
        return None
    return _noise_row(*keyed)[start:start + size]


def _keyed_draw(s, notes: list) -> tuple[bytes, tuple, int] | None:
    """(key, context, draw) of the keyed draw of ``s``'s next note, or None where it is drawn from the random
    generator: no draw's noise (:func:`noise_draw`), a note struck with others at one onset, too short a line,
    marking off, or a context the line has had before that its draw's rule leaves out."""
    draw = noise_draw(s)
    if draw is None:
        return None
    line = s.line
    if (s.count and s.pos == s.last_pos) or len(line) < KEYED_CONTEXT + 1:
        return None
    key = active_key()
    if key is None:
        return None
    ctx = _context(line, len(line))
    repeats = KEY_REPEATS and (draw == 0 or REDRAWS != "subkey" or REDRAW_REPEATS)  # a draw again's own rule
    if not repeats and ctx in contexts(notes):
        return None
    return key, ctx, draw


_DUR_LABEL = b"/dur"


@lru_cache(maxsize=1 << 16)
def dur_u_row(key: bytes, ctx: tuple, draw: int = 0) -> np.ndarray:
    """float64 (:data:`DUR_SPAN`,) in (0, 1): the keyed uniform of each candidate duration (16ths, at its index)
    of a note after the pitch context ``ctx`` (as :func:`u_row`'s) in a piece's draw ``draw``: SHAKE-256 of the
    draw's subkey, a label of the durations' own and the context, so independent of :func:`u_row`'s and of
    :func:`green_table`'s."""
    return _uniforms(hashlib.shake_256(draw_subkey(key, draw) + _DUR_LABEL + bytes(ctx)).digest(8 * DUR_SPAN))


@lru_cache(maxsize=1 << 16)
def _dur_noise_row(key: bytes, ctx: tuple, draw: int = 0) -> np.ndarray:
    e = (-np.log(dur_u_row(key, ctx, draw))).astype(np.float32)
    e.flags.writeable = False
    return e


def keyed_dur_noise(s, size: int, notes: list) -> np.ndarray | None:
    """The exponential noise of a keyed duration draw in a role of :data:`KEYED_DURS` (float32, per index of the
    sampler's duration field: index ``i`` is ``i`` sixteenths): ``-log u`` of :func:`dur_u_row` after the line's
    last :data:`KEYED_CONTEXT` intervals, the context the note's pitch will be keyed by (:func:`keyed_noise`). None
    (draw from the random generator) where :func:`keyed_noise` would be None for the same reasons (not a keyed role,
    marking off, too short a line, a note struck with others at one onset, a repeat its rule leaves out)."""
    if s.role not in KEYED_DURS or s.role not in KEYED or size > DUR_SPAN:
        return None
    keyed = _keyed_draw(s, notes)
    return None if keyed is None else _dur_noise_row(*keyed)[:size]


# -- detection --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """What :func:`detect` read: ``green`` of the ``n`` distinct interval triples it weighed (weight above 0),
    the p-value of their weighted green sum (over both readings), its z-score, the verdict."""

    ours: bool
    z: float
    p_value: float
    n: int
    green: int
    keyed: int = 0  # first-context triples whose keyed score counted (0 where no role is keyed)
    score: float = 0.0  # their keyed score, sum of -log(1 - u) (about ``keyed`` without the mark), the best draw's
    draw: int = 0  # the draw whose subkey gave that score (0: a piece's first draw; 1, 2: a strict piece's draws again)

    @property
    def confidence(self) -> float:
        """1 - p: how sure the verdict "ours" is (0 when there was too little music to score)."""
        return 0.0 if self.n < MIN_SCORED else 1.0 - self.p_value


def _score(midi):
    from symusic import Score

    if isinstance(midi, (str, Path)):
        midi = Path(midi).read_bytes()
    return midi if isinstance(midi, Score) else Score.from_midi(bytes(midi))


def _bar_ticks(score) -> int:
    ts = score.time_signatures[0] if len(score.time_signatures) else None
    num, den = (ts.numerator, ts.denominator) if ts else (4, 4)
    return max(1, int(score.ticks_per_quarter * 4 * num // den))


def _onsets(arr, unfold: bool):
    """A track's notes (symusic's numpy view) as (time, pitch, duration) sorted by onset: by pitch within an onset,
    or (``unfold``) in the file's order."""
    order = np.argsort(arr["time"], kind="stable") if unfold else np.lexsort((arr["pitch"], arr["time"]))
    return arr["time"][order], arr["pitch"][order].astype(np.int64), arr["duration"][order]


def _steps(time, duration, step: float) -> list:
    """Each duration (ticks) in sixteenths (``step`` ticks each), None where it is out of :data:`DUR_SPAN`; all
    None where the track's notes do not lie on a grid the sampler's durations can be read from: for each unit of
    :data:`DUR_UNITS` (a sixteenth, then a sixteenth re-timed x1.5 in ticks, as a DAW's time stretch writes it), in
    order, the first on which every onset (from the track's first) and every duration falls, with those multiples
    not all sharing a factor of :data:`DUR_SKIP_GCD` (all even: quantized to 1/8, or re-timed x2, or written so;
    all multiples of 3: re-timed x1.5 from even sixteenths), gives the durations in that unit. A rule of the file's
    notes, never the key's, so the null stays exact."""
    if len(duration) == 0:
        return []
    t = np.asarray(time, dtype=np.float64)
    t = t - t.min()
    d = np.asarray(duration, dtype=np.float64)
    for unit in DUR_UNITS:
        dd, tt = d / (step * unit), t / (step * unit)
        r, rt = np.rint(dd), np.rint(tt)
        if (np.abs(dd - r) > 0.05).any() or (np.abs(tt - rt) > 0.05).any():
            continue
        g = int(np.gcd.reduce(np.r_[r, rt].astype(np.int64)))
        if g == 0 or any(g % k == 0 for k in DUR_SKIP_GCD):
            continue
        ok = (r >= 1) & (r < DUR_SPAN)
        return [int(x) if o else None for x, o in zip(r.tolist(), ok.tolist())]
    return [None] * d.size


def scored_lines(midi, unfold: bool = False, lows: bool = False) -> list[tuple]:
    """The pitch lines of a MIDI file (bytes, path or symusic Score), each with the class of every note
    (:data:`STACKED`, :data:`DOWNBEAT`, :data:`OTHER`): each non-drum track's top note per onset, in onset
    order. ``lows``: each line also with the lowest note of every stacked onset (None elsewhere), a third list
    (the note the sampler leans and keys in a chord, read by :func:`weighted_triples` and :func:`keyed_triples`
    at :data:`LOW_WEIGHT`), and a fourth: the duration in sixteenths of the note each keyed item reads (a single
    note's, a stacked onset's lowest's; None off the 16th grid), for :func:`keyed_durs`. ``unfold`` (the second reading, for quantized files): an onset of several notes off a bar's
    downbeat gives all its notes, in the file's order, each as a note of its own. Quantizing to 1/8 puts two
    or three successive 16ths of a melody on one onset, where the top-note reading keeps one of them and
    loses the intervals around it; the file still lists them in the order they were played (symusic, mido
    and pretty_midi keep the order of notes struck at one tick). A downbeat's notes (the harmony's chord)
    still give their top."""
    score = _score(midi)
    bar = _bar_ticks(score)
    step = score.ticks_per_quarter / 4  # a sixteenth
    out = []
    for t in score.tracks:
        if t.is_drum or not len(t.notes):
            continue
        time, pitch, duration = _onsets(t.notes.numpy(), unfold)
        steps = _steps(time, duration, step) if lows else None
        starts = np.flatnonzero(np.r_[True, time[1:] != time[:-1]])
        ends = np.r_[starts[1:], len(time)]
        if not unfold and (ends - starts == 1).all():  # one note per onset (a melody, a bass): no loop
            down = time % bar == 0
            got = (pitch.tolist(), np.where(down, DOWNBEAT, OTHER).tolist())
            out.append((*got, [None] * len(got[0]), steps) if lows else got)
            continue
        line: list[int] = []
        cls: list[int] = []
        low: list = []
        dur: list = []
        for i, j in zip(starts.tolist(), ends.tolist()):
            down = time[i] % bar == 0
            if j - i == 1:
                line.append(int(pitch[i]))
                cls.append(DOWNBEAT if down else OTHER)
                low.append(None)
                dur.append(steps[i] if lows else None)
            elif unfold and not down:
                line.extend(pitch[i:j].tolist())
                cls.extend([OTHER] * (j - i))
                low.extend([None] * (j - i))
                dur.extend(steps[i:j] if lows else [None] * (j - i))
            else:
                k = i + int(np.argmin(pitch[i:j]))
                line.append(int(pitch[i:j].max()))
                cls.append(STACKED)
                low.append(int(pitch[k]))
                dur.append(steps[k] if lows else None)
        out.append((line, cls, low, dur) if lows else (line, cls))
    return out


def lines(midi, unfold: bool = False) -> list[list[int]]:
    """The pitch lines of :func:`scored_lines`, without the classes."""
    return [line for line, _ in scored_lines(midi, unfold)]


def _triple_arrays(line) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    p = np.asarray(line, dtype=np.int64)
    if p.size < 4:
        return None
    d = np.diff(p)
    c = np.clip(d, -CLIP, CLIP) + CLIP
    return c[:-2], c[1:-1], d[2:] + SPAN


def triples(pitch_lines: list[list[int]]) -> set[tuple[int, int, int]]:
    """The distinct (context a, context b, candidate interval) of every note from a line's fourth on,
    as table indices."""
    out = set()
    for line in pitch_lines:
        got = _triple_arrays(line)
        if got is not None:
            out.update(zip(*(x.tolist() for x in got)))
    return out


def weighted_triples(lines_: list[tuple[list[int], list[int]]]) -> dict[tuple[int, int, int], int]:
    """Every distinct triple of :func:`scored_lines`' lines with its weight (:data:`WEIGHTS` of its last
    note's class; a triple read more than once keeps the largest)."""
    out: dict[tuple[int, int, int], int] = {}
    for line, cls, *low in lines_:
        got = _triple_arrays(line)
        if got is None:
            continue
        for t, c in zip(zip(*(x.tolist() for x in got)), cls[3:]):
            w = WEIGHTS[c]
            if w > out.get(t, -1):
                out[t] = w
        if low and LOW_WEIGHT > 0:  # a stacked onset's lowest note, after the line's last top
            a, b, _ = got
            for i, p in enumerate(low[0][3:]):
                if p is not None:
                    t = (int(a[i]), int(b[i]), p - line[i + 2] + SPAN)
                    if LOW_WEIGHT > out.get(t, -1):
                        out[t] = LOW_WEIGHT
    return out


def _log_binom_pmf(n: int) -> np.ndarray:
    k = np.arange(n + 1)
    lg = np.array([math.lgamma(i + 1) for i in range(n + 1)])
    return lg[n] - lg[k] - lg[n - k] + k * math.log(GAMMA) + (n - k) * math.log(1 - GAMMA)


def weighted_tail(counts: dict[int, int], greens: dict[int, int]) -> float:
    """P(sum of w * Bernoulli(GAMMA) over ``counts[w]`` triples of each weight >= the observed sum), exactly:
    the chance a file not ours scores as high (the triples' green bits are independent under the null:
    a keyed PRF of distinct contexts; a mirrored pair of one context is anti-correlated, which only narrows
    the null)."""
    obs = sum(w * greens.get(w, 0) for w in counts)
    return float(min(1.0, _green_null(counts)[obs:].sum()))


def _green_null(counts: dict[int, int]) -> np.ndarray:
    """P(weighted green sum = g) for g = 0, 1, ... without the mark: ``counts[w]`` triples of weight ``w``,
    each green with probability GAMMA, independently."""
    dist = np.zeros(1)
    dist[0] = 1.0
    for w, n in counts.items():
        if n == 0 or w == 0:
            continue
        pmf = np.exp(_log_binom_pmf(n))
        step = np.zeros(w * n + 1)
        step[::w] = pmf
        dist = np.convolve(dist, step)
    return dist


def combined_tail(counts: dict[int, int], greens: dict[int, int], m: int, score: float, weight: float) -> float:
    """P(G + weight * S >= the observed) without the mark, exactly: G the weighted green sum (as
    :func:`weighted_tail`), S the keyed score of ``m`` first-context triples, a sum of ``m`` Exp(1) (so
    Gamma(m, 1)), independent of G (another keyed PRF). The sum over G's values of P(G = g) P(S >= (t - g) / weight)."""
    if m == 0 or weight <= 0:
        return weighted_tail(counts, greens)
    from scipy.special import gammaincc

    obs = sum(w * greens.get(w, 0) for w in counts) + weight * score
    dist = _green_null(counts)
    need = np.maximum((obs - np.arange(dist.size)) / weight, 0.0)
    return float(min(1.0, max(0.0, (dist * gammaincc(m, need)).sum())))


def _handicaps(handicaps: tuple[float, ...], draws: int) -> np.ndarray:
    """Each of ``draws`` draws' handicap (:data:`DRAW_HANDICAP`), 0 where ``handicaps`` names none."""
    return np.array([handicaps[d] if d < len(handicaps) else 0.0 for d in range(draws)])


def max_combined_tail(counts: dict[int, int], greens: dict[int, int], m: int, scores: list[float],
                      weight: float, handicaps: tuple[float, ...] = ()) -> float:
    """P(max over the draws' subkeys of G + weight * S_d - c_d >= the observed) without the mark, exactly: as
    :func:`combined_tail`, with one keyed score S_d per subkey tried (``scores``; the same ``m`` triples read
    under each), independent Gamma(m, 1) sums given G (independent PRFs) and G shared; ``c_d`` the draw's
    handicap (``handicaps``, 0 where not given: :data:`DRAW_HANDICAP`). The sum over G's values of P(G = g)
    (1 - prod_d (1 - P(S >= (t - g + c_d) / weight))): with no handicaps at most D times the tail of one
    subkey (Bonferroni), less where G carries the evidence. One subkey: :func:`combined_tail`."""
    if len(scores) <= 1:
        return combined_tail(counts, greens, m, scores[0] if scores else 0.0, weight)
    if m == 0 or weight <= 0:
        return weighted_tail(counts, greens)
    from scipy.special import gammaincc

    c = _handicaps(handicaps, len(scores))
    obs = sum(w * greens.get(w, 0) for w in counts) + max(weight * s - cd for s, cd in zip(scores, c))
    dist = _green_null(counts)
    need = np.maximum((obs - np.arange(dist.size)[:, None] + c[None, :]) / weight, 0.0)
    one = np.clip(gammaincc(m, need), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        any_of = -np.expm1(np.log1p(-one).sum(axis=1))  # 1 - prod (1 - q_d), accurate for small q
    return float(min(1.0, max(0.0, (dist * any_of).sum())))


def _keyed_positions(line: list[int]):
    """(index, context) of each note of ``line`` the sampler may have keyed: every note after the line's first
    :data:`KEYED_CONTEXT` intervals, a context's first only unless :data:`KEY_REPEATS`."""
    seen: set = set()
    for i in range(KEYED_CONTEXT + 1, len(line)):
        ctx = _context(line, i)
        if ctx in seen and not KEY_REPEATS:
            continue
        seen.add(ctx)
        yield i, ctx


def keyed_triples(lines_: list[tuple[list[int], list[int]]]) -> set[tuple[int, ...]]:
    """The notes whose keyed score counts, as (context intervals (:data:`KEYED_CONTEXT`, clipped), interval
    + SPAN): in each line every note after its first :data:`KEYED_CONTEXT` intervals, unless it is the top of a
    stacked onset (never keyed) or (unless :data:`KEY_REPEATS`) its context came before in that line (the
    sampler keys only a context's first draw, :func:`keyed_noise`); distinct over all lines."""
    out: set = set()
    for line, cls, *low in lines_:
        for i, ctx in _keyed_positions(line):
            if cls[i] != STACKED:
                out.add((*ctx, line[i] - line[i - 1] + SPAN))
            elif low and LOW_WEIGHT > 0 and low[0][i] is not None:  # its lowest note: the one the sampler keyed
                out.add((*ctx, low[0][i] - line[i - 1] + SPAN))
    return out


def keyed_durs(lines_: list[tuple]) -> set[tuple[int, ...]]:
    """The keyed durations the detector reads (:data:`KEYED_DURS`), as (context intervals, duration in 16ths):
    of each note :func:`keyed_triples` reads (a stacked onset's lowest), where the line's fourth list
    (:func:`scored_lines` with ``lows``) gives its duration on the grid; distinct over all lines. Empty without
    that list or with no role's durations keyed."""
    out: set = set()
    if not KEYED_DURS:
        return out
    for line, cls, *rest in lines_:
        if len(rest) < 2:
            continue
        low, dur = rest[0], rest[1]
        for i, ctx in _keyed_positions(line):
            if dur[i] is not None and (cls[i] != STACKED or (LOW_WEIGHT > 0 and low[i] is not None)):
                out.add((*ctx, dur[i]))
    return out


def dur_score(found: set, key: bytes, draw: int = 0) -> tuple[int, float]:
    """(how many, the sum of ``-log(1 - u)``) over ``found`` (:func:`keyed_durs`) under draw ``draw``'s subkey
    (:func:`dur_u_row`): Gamma(m, 1) without the mark, independent of :func:`keyed_score`'s."""
    if not found:
        return 0, 0.0
    u = np.array([dur_u_row(key, t[:-1], draw)[t[-1]] for t in found])
    return len(found), float(-np.log1p(-u).sum())


def keyed_score(found: set, key: bytes, draw: int = 0) -> tuple[int, float]:
    """(how many, the sum of ``-log(1 - u)``) over ``found`` (:func:`keyed_triples`) under draw ``draw``'s subkey
    (:func:`draw_subkey`): Gamma(m, 1) without the mark."""
    if not found:
        return 0, 0.0
    u = np.array([u_row(key, t[:-1], draw)[t[-1]] for t in found])
    return len(found), float(-np.log1p(-u).sum())


def _draws() -> int:
    """How many draws' subkeys the detector tries: :data:`DRAW_KEYS` where draws again are keyed on subkeys of
    their own (:data:`REDRAWS` "subkey"), else 1 (draw 0's: the only keyed noise there is)."""
    return max(1, DRAW_KEYS) if REDRAWS == "subkey" else 1


def _weight() -> float:
    """The keyed score's weight in the detector's sum: :data:`S_WEIGHT` where a role is keyed, else 0."""
    return S_WEIGHT if KEYED else 0.0


def score_all(lines_: list[tuple[list[int], list[int]]], key: bytes) -> tuple[float, int, int, int, float, int]:
    """(one-sided p-value, weighted triples, green, keyed triples, keyed score, draw) of one reading's lines: the
    weighted green count and, where a role is keyed, the keyed score, as one sum; the keyed score is read under
    each draw's subkey (:func:`_draws`) and the best counts, its p-value exact over all of them
    (:func:`max_combined_tail`); ``draw``: which subkey gave it."""
    found = weighted_triples(lines_)
    weight = _weight()
    if weight <= 0:
        p, n, green = score_weighted(found, key)
        return p, n, green, 0, 0.0, 0
    counts, greens, n, green = _green_counts(found, key)
    keyed = keyed_triples(lines_)
    durs = keyed_durs(lines_)
    scored = [keyed_score(keyed, key, d) for d in range(_draws())]
    dscored = [dur_score(durs, key, d) for d in range(_draws())]
    m = scored[0][0] + dscored[0][0]  # one Gamma(m, 1) sum without the mark: pitches' and durations' keyed scores
    scores = [s + ds for (_, s), (_, ds) in zip(scored, dscored)]
    best = int(np.argmax(weight * np.array(scores) - _handicaps(DRAW_HANDICAP, len(scores))))
    return max_combined_tail(counts, greens, m, scores, weight, DRAW_HANDICAP), n, green, m, scores[best], best


def _green_counts(found: dict[tuple[int, int, int], int], key: bytes) -> tuple[dict, dict, int, int]:
    items = [(t, w) for t, w in found.items() if w > 0]
    if not items:
        return {}, {}, 0, 0
    table = green_table(key)
    idx = np.array([t for t, _ in items], dtype=np.int64)
    w = np.array([w for _, w in items], dtype=np.int64)
    g = table[idx[:, 0], idx[:, 1], idx[:, 2]]
    counts = {int(k): int((w == k).sum()) for k in np.unique(w)}
    greens = {int(k): int(g[w == k].sum()) for k in np.unique(w)}
    return counts, greens, len(items), int(g.sum())


def score_weighted(found: dict[tuple[int, int, int], int], key: bytes) -> tuple[float, int, int]:
    """(one-sided p-value, weighted triples scored, how many are green) of :func:`weighted_triples`."""
    counts, greens, n, green = _green_counts(found, key)
    if not n:
        return 1.0, 0, 0
    return weighted_tail(counts, greens), n, green


def z_of(p: float) -> float:
    """The z-score of a one-sided p-value (the normal quantile the verdict reports)."""
    return float(-NormalDist().inv_cdf(min(max(p, 1e-300), 1 - 1e-16)))


READINGS = 2  # the detector's readings of a file (its lines; its lines with onsets off the downbeat unfolded)


def read(midi, key: bytes) -> tuple[Verdict, set]:
    """The verdict on ``midi`` under ``key``, and the distinct triples of its lines (for finding the piece).
    Two readings (:func:`scored_lines`, then with ``unfold``); where they read the same weighted triples
    there was one look, else the smaller p counts, doubled (Bonferroni: two looks at one file), so an
    unmarked file's chance of ``ours`` stays within :data:`P_OURS`."""
    score = _score(midi)
    base_lines = scored_lines(score, lows=True)
    more_lines = scored_lines(score, unfold=True, lows=True)
    got = score_all(base_lines, key)
    if weighted_triples(more_lines) != weighted_triples(base_lines) or \
            (_weight() > 0 and (keyed_triples(more_lines) != keyed_triples(base_lines)
                                or keyed_durs(more_lines) != keyed_durs(base_lines))):
        got2 = score_all(more_lines, key)
        if got2[0] < got[0]:
            got = got2
        got = (min(1.0, READINGS * got[0]), *got[1:])
    p, n, green, m, s, draw = got
    ours = bool(n >= MIN_SCORED and p <= P_OURS)
    return Verdict(ours, z_of(p), p, n, green, m, s, draw), triples([line for line, *_ in base_lines])


def detect(midi, key: bytes | str | None = None) -> Verdict:
    """Whether ``midi`` (bytes, path or Score) carries the mark of ``key`` (default: the active key).
    Raises ValueError when the file is not MIDI, WatermarkKeyError when no key is configured."""
    key = key.encode() if isinstance(key, str) else key
    key = key if key is not None else active_key()
    if key is None:
        raise WatermarkKeyError(f"no watermark key: marking is off ({ENV_SWITCH}=off)")
    try:
        return read(midi, key)[0]
    except (RuntimeError, ValueError, IndexError) as e:
        raise ValueError(f"not a readable MIDI file: {e}") from None


__all__ = ["DELTA", "DELTA_ALONE", "DRAW_KEYS", "GAMMA", "KEYED", "REDRAWS", "combined_tail", "draw_subkey",
           "max_combined_tail", "keyed_noise", "keyed_triples", "u_row", "P_OURS", "Verdict", "WEIGHTS", "Z_OURS", "active_key", "detect", "green_bias",
           "green_lean", "green_table", "lean", "Lean", "lines", "load_key", "read", "scored_lines", "triples", "use_key", "weighted_triples", "within_sizes"]
