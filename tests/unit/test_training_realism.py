"""Realism statistics on hand-built scores whose answers are known, and the classifier two-sample test.

Every score is written here with symusic (nothing outside the repository): a melody track named like
the generator names it, an accompaniment track, a 4/4 or 3/4 meter at 480 ticks per quarter. The
labels test reads the three POP909 songs in tests/fixtures/pop909.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from training import realism as R

TPQ = 480
Q = TPQ  # a quarter note
E8 = TPQ // 2  # an eighth


def score(melody: list[tuple[int, int, int]], accompaniment: list[tuple[int, int, int]] = (), num: int = 4,
          name: str = "melody", offset: int = 0) -> Score:
    """A score from (start, duration, pitch) notes; ``offset`` shifts every note (a grid that starts late)."""
    s = Score(TPQ)
    s.tempos.append(Tempo(0, 100.0))
    s.time_signatures.append(TimeSignature(0, num, 4))
    mel = Track(name, 73, False)
    for t, d, p in melody:
        mel.notes.append(Note(t + offset, d, p, 90))
    s.tracks.append(mel)
    if accompaniment:
        acc = Track("harmony", 0, False)
        for t, d, p in accompaniment:
            acc.notes.append(Note(t + offset, d, p, 70))
        s.tracks.append(acc)
    return s


def motif_melody(bars: int, transpose_each_bar: int) -> list[tuple[int, int, int]]:
    """A one-bar motif (quarter, two eighths, two quarters: 60 62 64 62 60), moved up every bar."""
    out = []
    for b in range(bars):
        base, shift = b * 4 * Q, (b * transpose_each_bar) % 7
        for t, d, p in ((0, Q, 60), (Q, E8, 62), (Q + E8, E8, 64), (2 * Q, Q, 62), (3 * Q, Q, 60)):
            out.append((base + t, d, p + shift))
    return out


def test_a_motif_repeated_transposed_repeats_and_moves_by_step():
    st = R.piece_stats(score(motif_melody(16, 2)).dumps_midi())
    assert st["n_bars"] == 16
    assert st["bar_repeat"] == pytest.approx(15 / 16)  # every bar after the first repeats it, transposed
    assert st["rhythm_repeat"] == pytest.approx(15 / 16)
    assert st["syncopation"] == pytest.approx(1 / 5)  # the eighth after beat 2 of five onsets a bar
    # steps inside the bar; between bars 60 -> 60+shift (shifts 0,2,4,6,1,3,5,0,...): leaps where the cycle turns
    assert 0.5 < st["stepwise"] < 1.0


def test_a_wandering_melody_does_not_repeat():
    rng = np.random.default_rng(3)
    notes = []
    for b in range(16):
        onsets = sorted(rng.choice(16, size=5, replace=False))
        notes += [(b * 4 * Q + int(o) * TPQ // 4, TPQ // 4, int(rng.integers(55, 80))) for o in onsets]
    st = R.piece_stats(score(notes))
    assert st["bar_repeat"] == 0.0


def test_a_melody_of_leaps_has_no_steps():
    pitches = [48, 60, 48, 60, 72, 60, 72, 84]  # octaves only
    notes = [(i * Q, Q, p) for i, p in enumerate(pitches * 4)]
    st = R.piece_stats(score(notes))
    assert st["stepwise"] == 0.0 and st["leaps"] == 1.0
    assert st["range"] == 36.0
    assert st["pc_entropy"] == pytest.approx(0.0)  # only Cs
    assert st["syncopation"] == 0.0


def test_melody_below_a_chord_is_never_on_top_and_above_it_always():
    melody = [(i * Q, Q, 55 + (i % 3)) for i in range(32)]
    chord_above = [(b * 4 * Q, 4 * Q, p) for b in range(8) for p in (60, 64, 67)]
    chord_below = [(b * 4 * Q, 4 * Q, p) for b in range(8) for p in (40, 44, 47)]
    assert R.piece_stats(score(melody, chord_above))["melody_on_top"] == 0.0
    assert R.piece_stats(score(melody, chord_below))["melody_on_top"] == 1.0
    # a melody with nothing under it is on top
    assert R.piece_stats(score(melody))["melody_on_top"] == 1.0


def test_range_entropy_and_the_window_of_sixteen_bars_with_melody():
    # two empty bars first (the accompaniment alone), then 20 bars of a scale; only 16 bars count
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    notes = [(2 * 4 * Q + i * Q, Q, scale[i % 8]) for i in range(80)]
    acc = [(b * 4 * Q, 4 * Q, 48) for b in range(22)]
    st = R.piece_stats(score(notes, acc))
    assert st["n_bars"] == 16 and st["n_notes"] == 64
    assert st["range"] == 12.0
    # 64 notes over 7 pitch classes: C twice per 8 notes
    counts = np.array([16, 8, 8, 8, 8, 8, 8], dtype=float)
    p = counts / counts.sum()
    assert st["pc_entropy"] == pytest.approx(float(-(p * np.log2(p)).sum()))
    assert st["muspy_scale_consistency"] == pytest.approx(1.0)
    assert st["muspy_pitch_class_entropy"] == pytest.approx(st["pc_entropy"])


def test_bars_follow_the_meter_and_a_grid_that_starts_late():
    # a motif of three quarters: in 3/4 every bar after the first repeats it; in 4/4 (12 bars) the
    # pattern comes back only every third bar, so the first three bars are new
    notes = [(i * Q, Q, (60, 64, 67)[i % 3]) for i in range(48)]
    assert R.piece_stats(score(notes, num=3))["bar_repeat"] == pytest.approx(15 / 16)
    assert R.piece_stats(score(notes, num=4))["bar_repeat"] == pytest.approx(9 / 12)
    # every note 40 ticks late (as POP909 files are): the grid moves with them, nothing reads as syncopated
    late = R.piece_stats(score(motif_melody(16, 2), offset=40))
    assert late["syncopation"] == pytest.approx(1 / 5) and late["bar_repeat"] == pytest.approx(15 / 16)


def test_the_melody_is_found_by_name_or_by_role_and_doublings_are_not_accompaniment():
    s = score(motif_melody(4, 0))  # the generator's names: melody, and melody:2 doubling it an octave up
    s.tracks.append(Track("melody:2", 40, False))
    for n in s.tracks[0].notes:
        s.tracks[1].notes.append(Note(n.time, n.duration, n.pitch + 12, 80))
    mel, acc = R.split_melody(s)
    assert mel.start.size == 20 and acc.start.size == 0
    st = R.piece_stats(s)
    assert st["range"] == 4.0 and st["n_notes"] == 20 and st["melody_on_top"] == 1.0
    # POP909's names: MELODY, and every other track (BRIDGE, PIANO) accompanies
    p = score(motif_melody(4, 0), [(0, 4 * Q, 72)], name="MELODY")
    p.tracks[1].name = "BRIDGE"
    mel, acc = R.split_melody(p)
    assert mel.start.size == 20 and acc.pitch.tolist() == [72]
    assert R.piece_stats(p)["melody_on_top"] == pytest.approx(0.75)  # the first bar's 5 onsets sit under the 72
    # no name: the lake's roles pick the monophonic high line over a low chordal track
    t = score(motif_melody(4, 0), [(b * 4 * Q, 2 * Q, p) for b in range(4) for p in (36, 43, 48)], name="Flute")
    mel, acc = R.split_melody(t)
    assert mel.pitch.min() >= 60 and acc.pitch.max() <= 48


def test_a_pop909_beat_file_gives_the_bar_lines(tmp_path):
    # the file says 1/4 (as most POP909 files do); the beat file's downbeats make 4-beat bars from tick 480
    s = score(motif_melody(16, 2), offset=Q, num=1)
    beats = "\n".join(f"{0.6 * k:.3f} {int(k % 2 == 1)} {int(k % 4 == 1)}" for k in range(0, 70))  # 100 BPM
    (tmp_path / "beat_midi.txt").write_text(beats + "\n")
    bars = R.bars_from_beat_file(s, tmp_path / "beat_midi.txt")
    assert bars.starts[0] == Q and np.all(np.diff(bars.starts) == 4 * Q) and bars.beat[0] == Q
    assert R.piece_stats(s, bars)["bar_repeat"] == pytest.approx(15 / 16)
    assert R.piece_stats(s)["n_bars"] == 16  # without it: 1/4 "bars" of one beat


def test_held_out_pop909_songs_are_one_fixed_list():
    assert len(R.HELD_OUT_POP909) == 80 and min(R.HELD_OUT_POP909) == 10 and max(R.HELD_OUT_POP909) == 800
    assert R.is_held_out_pop909("010") and R.is_held_out_pop909("120.mid") and R.is_held_out_pop909(800)
    assert not R.is_held_out_pop909("011") and not R.is_held_out_pop909(1)


def test_a_folder_of_pop909_layout_counts_only_held_out_songs(tmp_path):
    for n in (9, 10, 20):
        d = tmp_path / f"{n:03d}"
        d.mkdir()
        (d / f"{n:03d}.mid").write_bytes(score(motif_melody(4, n % 5), name="MELODY").dumps_midi())
    held = R.folder_set(tmp_path)
    assert held.kind == "pop909" and held.pieces == ["010/010.mid", "020/020.mid"]
    assert len(R.folder_set(tmp_path, held_out_only=False).stats) == 3
    assert R.real_set(path=tmp_path).digest == held.digest
    with pytest.raises(FileNotFoundError):
        R.real_set(path=tmp_path / "nowhere")


def _sample(rng, n: int, shift: float) -> list[dict]:
    return [{name: float(rng.normal(shift * (i % 3 + 1), 1.0)) for i, name in enumerate(R.STATS)} for _ in range(n)]


def test_the_classifier_cannot_tell_one_distribution_from_itself_but_tells_different_ones():
    rng = np.random.default_rng(0)
    same = R.classifier_test(_sample(rng, 120, 0.0), _sample(rng, 120, 0.0))
    assert abs(same.balanced_accuracy - 0.5) < 0.12 and same.n_generated == 120 and same.folds == 5
    apart = R.classifier_test(_sample(rng, 40, 3.0), _sample(rng, 60, 0.0))
    assert apart.balanced_accuracy > 0.95 and (apart.n_generated, apart.n_real) == (40, 60)
    assert math.isnan(R.classifier_test(_sample(rng, 1, 0.0), _sample(rng, 9, 0.0)).balanced_accuracy)


def test_the_classifier_on_real_statistics_tells_a_motif_from_wandering():
    rng = np.random.default_rng(1)
    motifs = [R.piece_stats(score(motif_melody(16, int(k)))) for k in rng.integers(1, 6, size=12)]
    wander = []
    for _ in range(12):
        notes = [(i * Q, Q, int(rng.integers(50, 86))) for i in range(64)]
        wander.append(R.piece_stats(score(notes)))
    res = R.classifier_test(wander, motifs)
    assert res.balanced_accuracy >= 0.9
    report = R.compare(wander, R.RealSet("12 motifs", motifs, [str(i) for i in range(12)]))
    m = report.metrics()
    assert m["realism.classifier_bacc"] == res.balanced_accuracy and m["realism.n_real"] == 12
    assert m["realism.real.bar_repeat"] > m["realism.bar_repeat"]
    table = report.table()
    assert "melody bars repeating an earlier bar" in table and "classifier balanced accuracy" in table


def test_the_bench_sets_two_halves_of_a_pop909_folder_side_by_side_and_skips_held_out_songs(tmp_path):
    for n in range(1, 13):
        d = tmp_path / f"{n:03d}"
        d.mkdir()
        (d / f"{n:03d}.mid").write_bytes(score(motif_melody(8, n % 4), name="MELODY").dumps_midi())
    text = R.bench(tmp_path, model=None)
    assert "odd songs against 5 even-numbered POP909 training songs; 6 odd ones beside" in text  # 010 held out
    assert "classifier balanced accuracy" in text and "(6 odd songs, 5 real" in text


def test_pop909_songs_carry_their_labels_and_the_held_out_loss_reads_them():
    from training.model import NoteModelConfig, NoteTransformer

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "pop909"
    songs = R.folder_set(fixtures, held_out_only=False)
    assert len(songs.labels) == len(songs.midi) == 3 and all(songs.labels)
    first = songs.labels[0]
    assert first["key"].endswith(("major", "minor")) and len(first["bar_chords"]) == len(first["bar_start_s"]) > 4
    assert all(a < b for a, b in zip(first["bar_start_s"], first["bar_start_s"][1:]))

    class Gen:  # an untrained model scores any note at about the log of its fields' sizes
        model = NoteTransformer(NoteModelConfig(n_layer=1, n_head=2, n_embd=32, block_size=64)).eval()

    labelled, note = R.loss_per_note(Gen(), songs)
    assert labelled is not None and 5 < labelled < 40 and note.startswith("3 songs")
    songs.labels = [None, None, None]  # the same songs read with the lake's own analysis: other bars, other notes
    analysed, _ = R.loss_per_note(Gen(), songs)
    assert analysed is not None and analysed != labelled
