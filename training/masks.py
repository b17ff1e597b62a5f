"""The sampler's rules: small named masks and biases, one function each, composed in one loop.

A mask is ``(slot, allowed values) -> the values the rule keeps``; a bias is ``(slot, size) -> a logit
added per shifted value`` (a preference, not a rule). :func:`constrain` applies every mask of a role's
field in turn (a soft one, :data:`SOFT`, only where it leaves something) and sums its biases.
:mod:`training.sample` walks the bars and calls it for every field it draws.

* onsets: ``one_line`` (each role is a line, not a block), ``downbeat_first`` / ``downbeat_chord``
  (the accompaniment starts on the downbeat, the harmony with up to three notes there),
  ``broken_chord_grid`` (then one note per eighth: a broken chord), ``on_the_beats`` (the bass),
  ``room_for_the_chord``; bias ``offbeats`` (the melody leans to off-beat eighths);
* durations: ``ends_in_the_bar``; ``holds_the_root`` (the bass's first note of a bar rings a beat);
* pitches: ``in_register`` (the plan's register per role: melody on top, harmony below, bass
  below that), ``in_key`` (harmonic minor in minor keys), ``chord_tone_when_heard`` (strong beats
  and long notes), ``stable_phrase_end`` (a phrase's last bar rests on the triad),
  ``closing_keynote``, ``within_a_leap`` (leaps of at most an octave), ``chord_tones``,
  ``covers_the_chord``, ``a_new_note``, ``under_the_tune`` (the accompaniment sounds below
  the melody notes the ear follows), ``root_first`` and ``roots_and_fifths`` (the bass, walking into a new phrase); biases
  ``stepwise`` (the melody prefers steps), ``leans_home`` (its main notes lean to the tonic triad)
  and ``near_the_last`` (the accompaniment moves little); where the chords leave the requested key in
  doubt (``key_in_doubt``: a stated loop heard in another key), ``tells_the_key`` (the melody's main
  notes lean hard to the tonic triad, which ``chord_tone_when_heard`` then lets sound over any chord)
  and ``accompanies_the_key`` (the accompaniment's notes lean to it too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from lake.chords import QUALITIES
from lake.vocab import scale_pitch_classes
from training import tension as _tension
from training.request import Plan
from training.watermark import green_bias

def _beat_steps(plan: Plan) -> int:
    """16ths per beat: a dotted quarter in compound meters (6/8, 9/8, 12/8), else the denominator's note."""
    return 6 if plan.denominator == 8 and plan.numerator % 3 == 0 else 16 // plan.denominator


def _strong(pos: int, plan: Plan) -> bool:
    """Downbeats and the bar's main beats: quarters in x/4 (every other in 4/4), dotted quarters in x/8."""
    if plan.denominator == 8 and plan.numerator % 3 == 0:
        return pos % 6 == 0
    if plan.numerator == 4 and plan.denominator == 4:
        return pos % 8 == 0
    return pos % 4 == 0


# -- what the masks see -------------------------------------------------------------------------------
@dataclass
class Slot:
    """One note being drawn: the plan, the bar, the role's line so far and the fields drawn already."""

    plan: Plan
    role: str
    bar: int
    root: int
    quality: str
    scale: frozenset
    tonic: int
    above: list  # the melody's notes in this bar (what the accompaniment stays under)
    prev_pitch: int | None  # the role's previous note, in this bar or an earlier one
    count: int = 0  # notes of the role in this bar so far
    last_pos: int = -1
    covered: set = field(default_factory=set)  # pitch classes the role has played in this bar
    struck: list = field(default_factory=list)  # pitches struck at the role's last onset
    pos: int = 0
    dur: int = 1
    line: tuple = ()  # the top pitch of the role's last onsets, oldest first (training.watermark's context)

    @property
    def tones(self) -> frozenset:
        if self.plan.tension:  # film scoring: the chord with the bar's tension tones (training.tension)
            return _tension.chord_tones(self.root, QUALITIES[self.quality], _tension.at(self.plan, self.bar))
        return _chord_tones(self.root, self.quality)

    @property
    def beat(self) -> int:
        return _beat_steps(self.plan)

    @property
    def main_note(self) -> bool:
        """A note the ear hears as harmony: on a strong beat or held a beat or more."""
        return _strong(self.pos, self.plan) or self.dur >= self.beat


@lru_cache(maxsize=64)
def _natural_scale(key: str) -> frozenset:
    return frozenset(scale_pitch_classes(key))


@lru_cache(maxsize=512)
def _chord_tones(root: int, quality: str) -> frozenset:
    return frozenset((root + i) % 12 for i in QUALITIES[quality])


# -- the masks: one rule each; (slot, allowed values) -> the values the rule keeps -------------------
# onset (a step of the bar)
def one_line(s: Slot, v):
    """Each role is one line: an onset after the role's previous one (a broken chord, not a block)."""
    return [p for p in v if p > s.last_pos]


def downbeat_chord(s: Slot, v):
    """The harmony may strike up to DOWNBEAT_NOTES notes together on the downbeat; after it, one line."""
    if s.last_pos == 0 and 0 < s.count < DOWNBEAT_NOTES:
        return [p for p in v if p >= 0]
    return [p for p in v if p > s.last_pos]


def downbeat_first(s: Slot, v):
    """The accompaniment's first note of a bar sounds on its downbeat."""
    return [p for p in v if p == 0] if s.count == 0 else v


def on_the_beats(s: Slot, v):
    """The bass moves on the beats (dotted quarters in 6/8, 9/8, 12/8)."""
    step = _tension.bass_step(s, s.beat) if s.plan.tension else s.beat
    return [p for p in v if p % step == 0]


def _harmony_grid(s: Slot) -> int:
    """Eighths; quarters (the beat) under SLOW_BPM, where eighths would be heard as the beat itself, where
    a held instrument keeps the time alone (:func:`keeps_time_alone`), and in a strict tempo's draw again
    (``plan.tempo_push``: its first draw was heard at another tempo, mostly twice its own)."""
    slow = s.plan.request.bpm < SLOW_BPM or keeps_time_alone(s.plan) or s.plan.tempo_push > 0
    g = s.beat if slow else min(HARMONY_GRID, s.beat)
    return _tension.harmony_grid(s, g) if s.plan.tension else g


# GM families that hold a note rather than strike it: organ, strings and ensembles, brass, reeds, pipes, synth
# leads and pads (program // 8)
HELD_FAMILIES = frozenset({2, 5, 6, 7, 8, 9, 10, 11})


def keeps_time_alone(plan: Plan) -> bool:
    """No drums, and the harmony on a held instrument (strings, brass, pads ...): its broken chord moves on the
    beats, as a section playing alone would. Eighths on strings or a pad under a tune that also runs in
    eighths leave nothing on the beat to hear it by (issue 16: such pieces of the POP909 model were heard at
    twice their tempo)."""
    if any(t.role == "drums" for t in plan.tracks):
        return False
    harmony = plan.track("harmony")
    return harmony is not None and harmony.program // 8 in HELD_FAMILIES


def broken_chord_grid(s: Slot, v):
    """The harmony's broken chord moves on the eighths (on the beats in slow pieces)."""
    g = _harmony_grid(s)
    return [p for p in v if p % g == 0]


def room_for_the_chord(s: Slot, v):
    """The harmony leaves an onset for each chord tone it has still to play in the bar."""
    left = len(s.tones - s.covered) - 1
    if left <= 0:
        return v
    g = _harmony_grid(s)
    return [p for p in v if (s.plan.bar_steps - 1 - p) // g >= left]


def _breath_from(s: Slot) -> int | None:
    """Where the melody falls silent in a bar that closes a phrase (not the piece's last): its last
    :func:`breath_beats` beats, and a 16th before them, so they are heard empty. None in other bars."""
    if s.bar == s.plan.request.bars - 1 or not s.plan.phrase_end(s.bar):
        return None
    beats = min(breath_beats(s.plan.request.seed, s.bar), s.plan.bar_steps // s.beat - 1)  # a beat sings
    return None if beats <= 0 else s.plan.bar_steps - beats * s.beat - 1


def breath_beats(seed: int | None, bar: int) -> int:
    """Beats of silence closing the phrase that ends at ``bar``: drawn from :data:`BREATHS` by the seed and
    the bar (reproducible), as singers take short and long breaths (POP909's melodies leave 2-10 % of
    their beats empty; one fixed beat per phrase gave every piece the same 5 %)."""
    return BREATHS[((seed or 0) * 7919 + bar * 104729) % len(BREATHS)]


def breathe(s: Slot, v):
    """A phrase ends with a breath: the melody's notes in a phrase's closing bar start before its last beat
    (with room for a note of a 16th), as a singer's phrases end before the next one starts."""
    end = _breath_from(s)
    return v if end is None else [p for p in v if p < end]


# duration (steps)
def ends_in_the_bar(s: Slot, v):
    return [d for d in v if s.pos + d <= s.plan.bar_steps]


def holds_the_root(s: Slot, v):
    """(soft) The bass's first note of a bar, its root (:func:`root_first`), rings a beat or more, as the
    lowest note struck on a downbeat does in POP909's piano parts (held a beat or more in 86 % of bars,
    median 1.5 beats; v2's bass held 39 % before this rule): the bar's root is heard, so its chord is. Not
    under film scoring's tension, whose bass moves on its own grid (:func:`training.tension.bass_step`)."""
    if s.count or s.plan.tension:
        return v
    return [d for d in v if d >= s.beat]


def ends_before_the_breath(s: Slot, v):
    """The notes of a phrase's closing bar end before its breath (:func:`breathe`)."""
    end = _breath_from(s)
    return v if end is None else [d for d in v if s.pos + d <= end]


# pitch
def in_register(s: Slot, v):
    lo, hi = s.plan.registers[s.role]
    if s.plan.tension:
        lo = _tension.floor(s, lo)
    if isinstance(v, range) and v.step == 1:  # the first pitch mask: all of range(128), cut without a loop
        return range(max(lo, v.start), min(hi + 1, v.stop))
    return [p for p in v if lo <= p <= hi]


def in_key(s: Slot, v):
    """The melody keeps to the key's scale (natural minor in minor keys, as pop melodies do); the bar's chord
    tones always pass (so the leading tone comes with a major V)."""
    ok = _natural_scale(s.plan.request.key) | s.tones
    return [p for p in v if p % 12 in ok]


def chord_tone_when_heard(s: Slot, v):
    """A melody note on a strong beat, or held a beat or more, is a tone of the bar's chord (or, where the
    chords leave the key in doubt, of the key's tonic triad: :func:`_heard_tones`)."""
    if not s.main_note:
        return v
    tones = _heard_tones(s, s.tones)
    return [p for p in v if p % 12 in tones]


def _heard_tones(s: Slot, tones: frozenset) -> frozenset:
    """The tones a main note may take: ``tones``, and where the chords leave the key in doubt
    (:func:`key_in_doubt`) the key's tonic triad too, sounding over a chord that lacks it as an added sixth
    or a suspension does (over D in G major: G, B; over B in C# minor: C#, E, G#): the tune can tell the
    key in every bar, not only where the chord holds its triad."""
    if not key_in_doubt(s.plan):
        return tones
    return tones | _tonic_triad(s.plan.request.key, s.tonic)


def stable_phrase_end(s: Slot, v):
    """In a phrase's closing bar the main notes rest on the triad (root, third, fifth), not a seventh."""
    if not (s.main_note and s.plan.phrase_end(s.bar)):
        return v
    triad = _heard_tones(s, frozenset((s.root + i) % 12 for i in QUALITIES[s.quality][:3]))
    return [p for p in v if p % 12 in triad]


@lru_cache(maxsize=64)
def _tonic_triad(key: str, tonic: int) -> frozenset:
    third = 3 if key.endswith("minor") else 4
    return frozenset({tonic, (tonic + third) % 12, (tonic + 7) % 12})


def closing_keynote(s: Slot, v):
    """A closing tonic bar puts the melody's main notes on the keynote."""
    if s.bar == s.plan.request.bars - 1 and s.root == s.tonic and s.main_note:
        return [p for p in v if p % 12 == s.tonic]
    return v


def within_a_leap(s: Slot, v):
    """(soft) The melody leaps at most MAX_LEAP semitones (an octave) from its previous note."""
    return v if s.prev_pitch is None else [p for p in v if abs(p - s.prev_pitch) <= MAX_LEAP]


def a_new_note(s: Slot, v):
    """A note struck with others at one onset is none of theirs (no unison doubling)."""
    if not (s.count and s.pos == s.last_pos):
        return v
    struck = set(s.struck)
    return [p for p in v if p not in struck]


def chord_tones(s: Slot, v):
    tones = s.tones
    return [p for p in v if p % 12 in tones]


def covers_the_chord(s: Slot, v):
    """(soft) The harmony plays every tone of its chord before it repeats one."""
    todo = s.tones - s.covered
    return [p for p in v if p % 12 in todo] if todo else v


def under_the_tune(s: Slot, v):
    """(soft) The accompaniment sounds below every melody note it overlaps in the upper part of the
    melody's register (TUNE_CLEAR semitones over its floor and up): there the tune stays on top. Where
    the tune dips low, a chord tone may ring above it, as a pianist's right hand does over a low vocal
    line (POP909's melodies are on top at about 80 % of their onsets, not all)."""
    clear = s.plan.registers["melody"][0] + TUNE_CLEAR
    over = [pitch for _, pos, pitch, dur, _ in s.above
            if pos < s.pos + s.dur and pos + dur > s.pos and pitch >= clear]
    if not over:
        return v
    top = min(over)
    return [p for p in v if p < top]


def root_first(s: Slot, v):
    """The bass starts each bar on the chord's root."""
    return [p for p in v if p % 12 == s.root] if s.count == 0 else v


def roots_and_fifths(s: Slot, v):
    """The bass plays the chord's root and fifth; on the last beat of a phrase it may walk into the next
    one: a scale tone a step above or below the next bar's root (a fill, leading to the change)."""
    ok = {s.root, (s.root + QUALITIES[s.quality][2]) % 12}
    plan = s.plan
    if s.pos >= plan.bar_steps - s.beat and s.bar + 1 < plan.request.bars and plan.phrase_end(s.bar):
        nxt = plan.chord_pcs[s.bar + 1][0]
        ok |= {(nxt + d) % 12 for d in (-2, -1, 1, 2)} & _natural_scale(plan.request.key)
    return [p for p in v if p % 12 in ok]


# skipped where they would leave nothing (room_for_the_chord: a slow 2/4 bar has two beats for a triad, so the
# chord is struck together on the downbeat rather than not at all)
SOFT = frozenset({within_a_leap, covers_the_chord, under_the_tune, room_for_the_chord, holds_the_root})

# -- the biases: (slot) -> values -> logit added (a preference, not a rule) --------------------------
MAX_LEAP = 12
DOWNBEAT_NOTES = 3  # the harmony's notes struck together on a downbeat, at most
HARMONY_GRID = 2  # steps between the harmony's onsets at the closest
SLOW_BPM = 100.0
# by interval in semitones (0..12): steps of a tone or less preferred, a repeated note a little dear, thirds and
# fourths dearer, leaps past a fifth rare (POP909: ~66 % steps, ~4 % leaps over a fifth)
STEP_BIAS = (-0.3, 0.6, 0.6, -0.3, -0.3, -0.6, -0.8, -0.8, -0.9, -0.9, -0.9, -0.9, -0.9)
FRESH_BIAS = 0.25  # logit taken from a pitch class per time it sounds among the melody's last notes
BREATHS = (0, 1, 1, 1, 1, 2, 2, 3)  # beats of silence closing a phrase, drawn per phrase
HOME_BIAS = 0.8  # logit added to the tonic triad's pitch classes for the melody's main notes
TUNE_CLEAR = 17  # semitones over the melody's floor from where the accompaniment stays under the tune
OFFBEAT_BIAS = 1.0  # melody onsets on the off-beat eighths: pop syncopates


def stepwise(s: Slot, size: int) -> np.ndarray | None:
    """The melody prefers steps: each semitone of leap beyond a tone costs."""
    if s.prev_pitch is None:
        return None
    return _step_bias(s.prev_pitch, size)


@lru_cache(maxsize=1024)
def _step_bias(prev: int, size: int) -> np.ndarray:
    d = np.abs(np.arange(size) - 1 - prev)
    return _frozen(np.asarray(STEP_BIAS, dtype=np.float32)[np.minimum(d, len(STEP_BIAS) - 1)])


def _frozen(b: np.ndarray) -> np.ndarray:
    """A cached bias, shared by every call: read-only (constrain sums biases into new arrays)."""
    b.flags.writeable = False
    return b


def fresh(s: Slot, size: int) -> np.ndarray | None:
    """The melody moves on to other pitch classes: each sounding among its last notes (``Slot.line``)
    costs FRESH_BIAS (real tunes use more of the scale than a model that circles its chord tones)."""
    if not s.line:
        return None
    return _fresh_bias(tuple(p % 12 for p in s.line), size)


@lru_cache(maxsize=4096)
def _fresh_bias(recent: tuple, size: int) -> np.ndarray:
    pcs = (np.arange(size) - 1) % 12
    b = np.zeros(size, dtype=np.float32)
    for pc in recent:
        b[pcs == pc] -= FRESH_BIAS
    return _frozen(b)


def leans_home(s: Slot, size: int) -> np.ndarray | None:
    """The melody's main notes lean to the key's tonic triad: over a I-V-vi-IV loop a tune that sits on
    the vi chord's tones is heard in the relative minor; the key's own 1, 3 and 5 tell the key."""
    if not s.main_note:
        return None
    return _triad_bias(s.plan.request.key, s.tonic, size, HOME_BIAS)


# -- a key the chords leave in doubt: the tune and the accompaniment tell it -----------------------------
KEY_MARGIN = 0.1  # the chords' own key must lead every other key's fit by this much to tell the key alone
TELL_BIAS = 4.0  # logit added to the tonic triad for the melody's main notes where the chords leave the key in doubt
ACCOMPANY_BIAS = 3.0  # the same for the accompaniment's notes (harmony and bass)


PUSH_STEP = 0.5  # a strict key drawn again (Plan.key_push): each draw adds this share of the biases above
PASSING_BIAS = 2.0  # ... and the melody's passing notes lean to the tonic triad by this much then (x the same)


def key_push_scale(plan: Plan) -> float:
    """How hard the key's tonic triad is leaned to: 1, and more on a strict key's later draws."""
    return 1.0 + PUSH_STEP * plan.key_push


def key_in_doubt(plan: Plan) -> bool:
    """Whether the bars' chords, as block chords, leave the requested key in doubt: the lake's key finder
    (Krumhansl-Schmuckler over the chords' tones, the profiles of :func:`lake.midi_features.estimate_key`)
    fits another key better than the key, or the key by less than KEY_MARGIN: "D minor" over C#m F#m E F#m
    (a stated loop heard in F# minor), "F major" over Fmaj7 Bbmaj7 (D minor's notes as much). The styles' usual
    progressions in their key are not, at any length from 8 bars (pop's I-V-vi-IV loop leads by 0.105, jazz's
    ii-V-I-vi by 0.12, the others by 0.18 or more), except ambient's Imaj7-IVmaj7; pieces of 2-4 bars
    (one or two chords) are. A strict key drawn again (``plan.key_push``, :func:`training.generator.another_draw`)
    is in doubt whatever its chords: its first draw was heard in another key."""
    return plan.key_push > 0 or _key_in_doubt(plan.chord_pcs, plan.request.key)


@lru_cache(maxsize=1024)
def _key_in_doubt(chord_pcs: tuple, key: str) -> bool:
    from lake.midi_features import key_fits
    from lake.vocab import PITCH_CLASSES

    hist = np.zeros(12)
    for root, quality in chord_pcs:
        for i in QUALITIES[quality]:
            hist[(root + i) % 12] += 1.0
    if hist.std() == 0:
        return True
    r = key_fits(hist)  # 12 major keys, then 12 minor
    tonic, mode = key.split()
    k = PITCH_CLASSES.index(tonic) + (12 if mode == "minor" else 0)
    return bool(r[k] - np.max(np.delete(r, k)) < KEY_MARGIN)


def tells_the_key(s: Slot, size: int) -> np.ndarray | None:
    """Where the chords leave the key in doubt (:func:`key_in_doubt`), the melody's main notes (strong beats,
    long notes: what a listener weighs) lean hard to the key's tonic triad (TELL_BIAS): the tune tells the
    key the chords do not. Passing notes are left to the model (their steps keep the line singable), but in
    a strict key's draw again (its first draw was heard in another key) they lean too (PASSING_BIAS). None
    elsewhere: a piece whose chords tell the key draws exactly what it drew before."""
    if not key_in_doubt(s.plan):
        return None
    if not s.main_note:
        if not s.plan.key_push:
            return None
        return _triad_bias(s.plan.request.key, s.tonic, size, PASSING_BIAS * key_push_scale(s.plan))
    return _triad_bias(s.plan.request.key, s.tonic, size, TELL_BIAS * key_push_scale(s.plan))


def accompanies_the_key(s: Slot, size: int) -> np.ndarray | None:
    """Where the chords leave the key in doubt, the accompaniment's notes (the chord tone the harmony doubles
    or moves to, the bass's root or fifth) lean to the key's tonic triad (ACCOMPANY_BIAS). None elsewhere."""
    if not key_in_doubt(s.plan):
        return None
    return _triad_bias(s.plan.request.key, s.tonic, size, ACCOMPANY_BIAS * key_push_scale(s.plan))


@lru_cache(maxsize=256)  # 24 keys x three amounts (home, tell, accompany) x the field sizes
def _triad_bias(key: str, tonic: int, size: int, amount: float) -> np.ndarray:
    b = np.zeros(size, dtype=np.float32)
    b[np.isin((np.arange(size) - 1) % 12, list(_tonic_triad(key, tonic)))] = amount
    return _frozen(b)


def near_the_last(s: Slot, size: int) -> np.ndarray | None:
    """The accompaniment moves to near notes (a chord broken within the hand, a bass that walks)."""
    if s.prev_pitch is None:
        return None
    return _near_bias(s.prev_pitch, size)


@lru_cache(maxsize=1024)
def _near_bias(prev: int, size: int) -> np.ndarray:
    d = np.abs(np.arange(size) - 1 - prev).astype(np.float32)
    return _frozen(-0.12 * np.maximum(d - 4.0, 0.0))


def offbeats(s: Slot, size: int) -> np.ndarray | None:
    """The melody leans to the off-beat eighths, as sung pop does; in a strict tempo's draw again
    (``plan.tempo_push``) to the beats instead (:func:`_beat_bias`)."""
    if s.plan.tempo_push:
        return _beat_bias(s.beat, s.plan.bar_steps, size, BEAT_LEAN * s.plan.tempo_push)
    return _offbeat_bias(s.beat, s.plan.bar_steps, size)


@lru_cache(maxsize=64)
def _offbeat_bias(beat: int, bar_steps: int, size: int) -> np.ndarray:
    b = np.zeros(size, dtype=np.float32)
    b[1 + np.arange(beat // 2, min(bar_steps, size - 1), beat)] = OFFBEAT_BIAS
    return _frozen(b)


# -- a strict tempo drawn again: the beats told by the notes ---------------------------------------------------
# A strict tempo's draw that was heard at another tempo (training.generator.another_draw: mostly twice its own, the
# off-beat eighths of the tune and the broken chord carrying as much as the beats; some at half, the tune in half
# notes) is drawn again with the beat in the notes: the tune's onsets on the beats, a beat long, and every part's
# notes on the beats louder than those between them. Each further draw leans harder (x plan.tempo_push).
BEAT_LEAN = 1.5  # logit added to the melody's onsets on the beats (the off-beat lean dropped)
BEAT_NOTE_LEAN = 1.0  # logit added to a melody note on a beat lasting one beat
ACCENT_LEAN = 0.6  # logit per velocity bin (x the bin's distance from the middle): louder on the beats, softer off them


@lru_cache(maxsize=64)
def _beat_bias(beat: int, bar_steps: int, size: int, amount: float) -> np.ndarray:
    b = np.zeros(size, dtype=np.float32)
    b[1 + np.arange(0, min(bar_steps, size - 1), beat)] = amount
    return _frozen(b)


def beat_notes(s: Slot, size: int) -> np.ndarray | None:
    """In a strict tempo's draw again, a melody note on a beat leans to lasting one beat (BEAT_NOTE_LEAN): held
    longer, the next beat is not struck (a tune in half notes is heard at half the tempo); shorter, the off-beat
    after it is (and heard at twice). None elsewhere."""
    if not s.plan.tempo_push or s.pos % s.beat:
        return None
    return _one_value_bias(s.beat, size, BEAT_NOTE_LEAN * s.plan.tempo_push)


@lru_cache(maxsize=64)
def _one_value_bias(value: int, size: int, amount: float) -> np.ndarray:
    b = np.zeros(size, dtype=np.float32)
    if 0 <= value < size:
        b[value] = amount  # a duration of d steps is raw value d - 1, shifted by one: index d
    return _frozen(b)


def beat_accents(s: Slot, size: int) -> np.ndarray | None:
    """In a strict tempo's draw again, every part's notes on the beats lean loud and those between them soft
    (ACCENT_LEAN per velocity bin from the middle): the beat is heard by its accents. None elsewhere."""
    if not s.plan.tempo_push:
        return None
    return _accent_bias(size, ACCENT_LEAN * s.plan.tempo_push * (1 if s.pos % s.beat == 0 else -1))


@lru_cache(maxsize=64)
def _accent_bias(size: int, slope: float) -> np.ndarray:
    bins = np.arange(size - 1, dtype=np.float32)  # velocity bins 0 .. size-2 at indices 1 .. size-1
    b = np.zeros(size, dtype=np.float32)
    b[1:] = slope * (bins - (size - 2) / 2.0)
    return _frozen(b)


# field -> masks, in order; field -> biases, summed
MASKS = {
    "melody": {"pos": (one_line, breathe), "dur": (ends_in_the_bar, ends_before_the_breath),
               "pitch": (in_register, in_key, chord_tone_when_heard, stable_phrase_end, closing_keynote,
                         within_a_leap)},
    "harmony": {"pos": (downbeat_chord, downbeat_first, broken_chord_grid, room_for_the_chord), "dur": (ends_in_the_bar,),
                "pitch": (in_register, chord_tones, a_new_note, under_the_tune, covers_the_chord)},
    "bass": {"pos": (one_line, downbeat_first, on_the_beats), "dur": (ends_in_the_bar, holds_the_root),
             "pitch": (in_register, root_first, roots_and_fifths, under_the_tune)},
}
BIASES = {"melody": {"pos": (offbeats,), "dur": (beat_notes,), "vel": (beat_accents,),
                     "pitch": (stepwise, fresh, leans_home, tells_the_key, green_bias)},
          "harmony": {"pitch": (near_the_last, accompanies_the_key, green_bias), "vel": (beat_accents,)},
          "bass": {"pitch": (near_the_last, accompanies_the_key, green_bias), "vel": (beat_accents,)}}

# film scoring's tension (training.tension): each returns None at once where the plan has no tension
for _role, _field, _fn in (("melody", "pos", _tension.pos_bias), ("melody", "dur", _tension.dur_bias),
                           ("melody", "pitch", _tension.pitch_bias), ("harmony", "pitch", _tension.pitch_bias),
                           ("bass", "pitch", _tension.pitch_bias)):
    BIASES[_role][_field] = BIASES[_role].get(_field, ()) + (_fn,)


def constrain(s: Slot, name: str, values, size: int) -> tuple[list[int], np.ndarray | None]:
    """The one loop: every mask of the role's field in turn (a soft one only where it leaves something),
    then the sum of its biases. Returns (allowed raw values, bias per shifted value or None)."""
    allowed = values  # a range or a list; each mask returns a list (or a range: in_register)
    for mask in MASKS[s.role].get(name, ()):
        kept = mask(s, allowed)
        if kept or mask not in SOFT:
            allowed = kept
    bias = None
    for fn in BIASES[s.role].get(name, ()):
        b = fn(s, size)
        if b is not None:
            bias = b if bias is None else bias + b
    return allowed, bias
