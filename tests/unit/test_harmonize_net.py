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
    assert HN.WEIGHTS_PATH.stat().st_size <= 5_000_000
    loaded = HN.load_net()
    assert loaded is not None
    meta = loaded.meta
    # an ensemble: every network's own lineage beside the shared one, the bar network among them
    assert len(meta["members"]) == 1 + len(loaded.members) >= 2
    assert all(m["command"].startswith("nice -n 10 python -m training.harmonize_train") for m in meta["members"])
    assert {x.net.config.get("kind", "gru") for x in (loaded, *loaded.members)} == {"gru", "bars"}
    assert "MIT" in meta["licence"] and "POP909" in meta["data"]
    assert meta["train_songs"] and meta["validation_songs"]
    assert not set(meta["train_songs"]) & set(meta["validation_songs"])
    from training.realism import HELD_OUT_POP909

    assert not (set(meta["train_songs"]) | set(meta["validation_songs"])) & set(HELD_OUT_POP909)
    assert set(meta["decode"]) <= {"change_down", "change_mid", "change_other", "repeat", "repeat_self",
                                   "melody_fit", "by_root"}
    assert set(meta["decode"]) >= {"change_down", "change_mid", "change_other", "repeat", "melody_fit"}


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


def test_decoding_by_root_sums_the_qualities_and_gives_each_stretch_one_quality():
    q = len(HN.QUALITIES)
    down = np.zeros(8, bool)
    down[::4] = True
    p = np.full((8, 12 * q), 1e-4)
    # every beat: C split between maj (0.3) and 7 (0.3); G single, 0.35 as maj: by chord G wins, by root C
    p[:, 0 * q + 0] = p[:, 0 * q + 2] = 0.3
    p[:, 7 * q + 0] = 0.35
    lp = np.log(p / p.sum(axis=1, keepdims=True))
    by_chord = HN.decode(lp, down, "beat", HN.DecodeSettings(0, 0, 0, 1.0))
    assert set(by_chord.tolist()) == {7 * q}
    lp[:4, 0 * q + 2] += 0.1  # the first bar leans to C7, the second (more) to C
    lp[4:, 0 * q + 0] += 0.2
    by_root = HN.decode(lp, down, "beat", HN.DecodeSettings(0, 0, 0, 1.0, by_root=True))
    assert by_root.tolist() == [0 * q + 0] * 8  # root C throughout: one stretch, the quality it favours together
    rng = np.random.default_rng(3)
    noisy = np.log(rng.dirichlet(np.ones(12 * q), size=8))
    per_bar = HN.decode(noisy, down, "bar", HN.DecodeSettings(0, 0, 0, 1.0, by_root=True))
    assert len(set(per_bar[:4].tolist())) == len(set(per_bar[4:].tolist())) == 1


def test_training_reads_the_bridge_track_as_another_melody_over_the_same_chords(fixture_songs):
    from symusic import Score

    for name, song in zip(("098", "331", "764"), fixture_songs):
        bridge = load_song(FIXTURES / name, "BRIDGE")
        assert bridge is not None and bridge.ref == song.ref and bridge.key == song.key
        assert np.array_equal(bridge.melody.downbeat, song.melody.downbeat)
        notes = next(t for t in Score(str(FIXTURES / name / f"{name}.mid")).tracks if t.name.strip() == "BRIDGE").notes
        assert sorted(bridge.melody.pitch.tolist()) == sorted(n.pitch for n in notes)
        assert sorted(bridge.melody.pitch.tolist()) != sorted(song.melody.pitch.tolist())
    assert load_song(FIXTURES / "098", "NO SUCH TRACK") is None


def test_an_ensemble_file_splits_into_its_networks_each_with_its_own_lineage():
    from training.harmonize_train import networks_of

    loaded = HN.load_net()
    nets = networks_of(loaded)
    assert len(nets) == 1 + len(loaded.members)
    assert [n.meta["command"] for n in nets] == [m["command"] for m in loaded.meta["members"]]
    assert all(not n.members and n.meta["train_songs"] == loaded.meta["train_songs"] for n in nets)
    assert [n.net for n in nets] == [loaded.net, *(m.net for m in loaded.members)]


def test_the_hmm_takes_over_without_weights(monkeypatch, fixture_songs):
    m = fixture_songs[2].melody
    monkeypatch.setattr(HN, "load_net", lambda *a, **k: None)
    h = harmonize(m, per="bar")  # auto: the HMM
    assert len(h.beat_labels()) == m.n_beats
    with pytest.raises(ValueError, match="weights"):
        harmonize(m, per="bar", method="net")
    with pytest.raises(ValueError, match="method"):
        harmonize(m, method="guess")


def _melody(bars: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    onset = np.arange(0, bars * 4, 0.5)
    pitch = 60 + rng.integers(0, 12, len(onset))
    down = np.zeros(bars * 4, bool)
    down[::4] = True
    return onset, np.full(len(onset), 0.5), pitch, down


def test_the_bar_network_reads_a_song_the_same_alone_or_padded_in_a_batch():
    import torch

    torch.manual_seed(0)
    net = HN.build_net(hidden=16, layers=1, kind="bars", extra=True).eval()
    short, long = _melody(5, 0), _melody(9, 1)
    (pa, ma), (pb, mb) = HN.beat_inputs(*short, extra=True), HN.beat_inputs(*long, extra=True)
    pad_p, pad_m = np.zeros_like(pb), np.zeros_like(mb)
    pad_p[:len(pa)], pad_m[:len(ma)] = pa, ma
    with torch.no_grad():
        alone = net(torch.from_numpy(pa)[None], torch.from_numpy(ma)[None])[0]
        batch = net(torch.from_numpy(np.stack([pad_p, pb])), torch.from_numpy(np.stack([pad_m, mb])))
        other = net(torch.from_numpy(pb)[None], torch.from_numpy(mb)[None])[0]
    assert alone.shape == (20, 12 * len(HN.QUALITIES))
    assert torch.allclose(batch[0, :20], alone, atol=1e-5) and torch.allclose(batch[1], other, atol=1e-5)
    # a bar hears the others: changing the last bar's melody moves the first bar's logits
    changed = list(short)
    changed[2] = short[2].copy()
    changed[2][short[0] >= 16] += 5
    pc, meta = HN.beat_inputs(*changed, extra=True)
    with torch.no_grad():
        moved = net(torch.from_numpy(pc)[None], torch.from_numpy(meta)[None])[0]
    assert not torch.allclose(moved[:4], alone[:4], atol=1e-4)


def test_the_extra_inputs_mark_leaps_the_second_eighth_and_the_neighbouring_bars():
    onset = np.array([0.0, 0.5, 1.0, 2.0, 4.0])
    pitch = np.array([60, 62, 69, 67, 64])  # C D (step), A (a leap of a seventh), G, E
    down = np.array([1, 0, 0, 0, 1, 0, 0, 0], bool)
    pc, meta = HN.beat_inputs(onset, np.full(5, 0.5), pitch, down, extra=True)
    plain, plain_meta = HN.beat_inputs(onset, np.full(5, 0.5), pitch, down)
    blocks = len(HN.PC_BLOCKS)
    assert pc.shape == (8, blocks + len(HN.EXTRA_BLOCKS), 12) and meta.shape == (8, len(HN.META) + len(HN.EXTRA_META))
    assert np.array_equal(pc[:, :blocks], plain) and np.array_equal(meta[:, :len(HN.META)], plain_meta)
    eighth, leap, lowest, prev_bar, next_bar = (pc[:, blocks + i] for i in range(5))
    assert eighth[0, 2] == 1.0 and eighth[0].sum() == 1.0  # D sounds on the first beat's second eighth
    assert leap[0, 2] == 1.0 and leap[1, 9] == 1.0 and leap[0, 0] == 0.0  # D and A meet by a leap; C steps
    assert lowest[0, 0] == 1.0 and lowest[2, 7] == 1.0  # the lowest note of each half bar
    assert np.allclose(next_bar[0], pc[4, 3]) and np.allclose(prev_bar[4], pc[0, 3]) and not prev_bar[0].any()
    assert meta[2, -1] == 0.25 and meta[1, -2] > 0 > meta[4, -2]  # one note starts on beat 2: A above the mean, E below


def test_the_root_loss_scores_the_root_summed_over_qualities():
    import torch

    from training.harmonize_train import root_marginal_loss

    q = len(HN.QUALITIES)
    z = torch.randn(1, 3, 12 * q)
    tgt = torch.tensor([[2 * q + 1, -1, 7 * q]])
    p = torch.softmax(z, dim=-1).reshape(1, 3, 12, q).sum(-1)
    want = -(torch.log(p[0, 0, 2]) + torch.log(p[0, 2, 7])) / 2
    assert torch.allclose(root_marginal_loss(z, tgt), want, atol=1e-6)
