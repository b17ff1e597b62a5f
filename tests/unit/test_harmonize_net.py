"""The harmonizer's learned network: the shipped weights load with their lineage, harmonize real POP909
melodies with chords measured to fit them, move exactly with a transposed melody, and the HMM takes over
where the weights are missing."""

from pathlib import Path

import numpy as np
import pytest

import training.harmonize_net as HN
from lake.vocab import PITCH_CLASSES
from training.harmonize import BeatMelody, baseline, harmonize
from training.harmonize_eval import chord_scores, chord_tone_share, load_song

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pop909"


@pytest.fixture(scope="module")
def fixture_songs():
    out = [load_song(FIXTURES / n) for n in ("098", "331", "764")]
    assert all(s is not None for s in out)
    return out


def test_the_shipped_weights_load_small_with_their_lineage():
    assert HN.WEIGHTS_PATH.stat().st_size <= 2_000_000
    loaded = HN.load_net()
    assert loaded is not None
    meta = loaded.meta
    assert "MIT" in meta["licence"] and "POP909" in meta["data"]
    assert meta["train_songs"] and meta["validation_songs"]
    assert not set(meta["train_songs"]) & set(meta["validation_songs"])
    from training.realism import HELD_OUT_POP909

    assert not (set(meta["train_songs"]) | set(meta["validation_songs"])) & set(HELD_OUT_POP909)
    assert set(meta["decode"]) == {"change_down", "change_mid", "change_other", "repeat", "repeat_self",
                                   "melody_fit"}


def test_real_melodies_get_chords_whose_tones_the_melody_sings(fixture_songs):
    rng = np.random.default_rng(0)
    ours, simple = [], []
    for song in fixture_songs:
        h = harmonize(song.melody, per="beat", method="net")
        labels = h.beat_labels()
        assert len(labels) == song.melody.n_beats
        fit = chord_tone_share(song.melody, labels)
        # what fitting the melody is measured against: the same chords in a shuffled order, and a tritone away
        shuffled = [labels[i] for i in rng.permutation(len(labels))]
        away = [f"{PITCH_CLASSES[(c.root + 6) % 12]}:{c.quality}" for c in h.chords for _ in range(c.end - c.start)]
        assert fit >= 0.6 and fit > chord_tone_share(song.melody, shuffled) + 0.05
        assert chord_tone_share(song.melody, away) < fit - 0.4
        assert h.key == song.key
        ours.append(chord_scores(song.ref, labels, song.beat_s)["root"])
        simple.append(chord_scores(song.ref, baseline(song.melody), song.beat_s)["root"])
    # the songs' own chords (mir_eval's root per beat): more often than the baseline's (training songs, so a floor)
    assert np.mean(ours) > np.mean(simple) + 0.05


def test_a_transposed_melody_gets_its_chords_transposed(fixture_songs):
    m = fixture_songs[1].melody
    base = harmonize(m, per="half", method="net")
    for k in (1, 5, -4):
        moved = BeatMelody(onset=m.onset, dur=m.dur, pitch=m.pitch + k, downbeat=m.downbeat)
        h = harmonize(moved, per="half", method="net")
        assert [(c.start, c.end, c.quality) for c in h.chords] == [(c.start, c.end, c.quality) for c in base.chords]
        assert [c.root for c in h.chords] == [(c.root + k) % 12 for c in base.chords]
        assert [c.roman for c in h.chords] == [c.roman for c in base.chords]


def test_per_bar_and_per_half_change_only_where_allowed(fixture_songs):
    m = fixture_songs[0].melody
    starts = set(np.flatnonzero(m.downbeat).tolist())
    for c in harmonize(m, per="bar", method="net").chords[1:]:
        assert c.start in starts
    half = harmonize(m, per="half", method="net")
    mids = {s + 2 for s in starts if s + 4 in starts or s + 4 == m.n_beats}
    assert all(c.start in starts | mids for c in half.chords[1:])


def test_decoding_changes_cost_and_repeated_bars_share_their_posteriors():
    rng = np.random.default_rng(1)
    lp = np.log(rng.dirichlet(np.ones(6), size=16))
    down = np.zeros(16, bool)
    down[::4] = True
    free = HN.decode(lp, down, "beat", HN.DecodeSettings(0, 0, 0, 1.0))
    assert (free == lp.argmax(axis=1)).all()
    dear = HN.decode(lp, down, "beat", HN.DecodeSettings(100, 100, 100, 1.0))
    assert len(set(dear.tolist())) == 1
    sounding = np.zeros((16, 12))
    sounding[0:4, 0] = sounding[8:12, 0] = 1.0  # bars 1 and 3 sing the same
    sounding[4:8, 7] = sounding[12:16, 2] = 1.0
    pooled = HN.pool_repeated_bars(lp, sounding, down, 0.9)
    assert np.allclose(pooled[0:4], pooled[8:12]) and np.allclose(pooled[0:4], (lp[0:4] + lp[8:12]) / 2)
    assert np.allclose(pooled[4:8], lp[4:8])


def test_the_hmm_takes_over_without_weights(monkeypatch, fixture_songs):
    m = fixture_songs[2].melody
    monkeypatch.setattr(HN, "load_net", lambda *a, **k: None)
    h = harmonize(m, per="bar")  # auto: the HMM
    assert len(h.beat_labels()) == m.n_beats
    with pytest.raises(ValueError, match="weights"):
        harmonize(m, per="bar", method="net")
    with pytest.raises(ValueError, match="method"):
        harmonize(m, method="guess")
