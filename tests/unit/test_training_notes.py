"""The note-step format, the note model (RoPE, KV cache) and the constrained sampler, without training."""

import numpy as np
import pytest
import torch
from symusic import Note, Score, Tempo, TimeSignature, Track

from lake.chords import QUALITIES
from lake.vocab import parse_chord, scale_pitch_classes
from training.data import cut_windows
from training.generator import Generator
from training.model import NoteModelConfig, NoteTransformer
from training.notes import BAR, F, NOTE, encode, note_table, prelude_length
from training.request import PieceRequest
from training.sample import sample

TINY = dict(n_layer=2, n_head=2, n_embd=32, block_size=64)


def _score() -> Score:
    """Two bars of 4/4 at 90 BPM: a melody in eighths over C major then G major half-note chords, a bass."""
    s = Score(480)
    s.tempos.append(Tempo(0, qpm=90))
    s.time_signatures.append(TimeSignature(0, 4, 4))
    mel = Track(name="flute", program=73)
    for i, p in enumerate([72, 74, 76, 77, 79, 77, 76, 74, 71, 72, 74, 71, 67, 71, 74, 79]):
        mel.notes.append(Note(i * 240, 240, p, 90))
    chords = Track(name="piano", program=0)
    for bar, pcs in enumerate([(60, 64, 67), (59, 62, 67)]):
        for p in pcs:
            chords.notes.append(Note(bar * 1920, 1920, p, 70))
    bass = Track(name="bass", program=32)
    for bar, root in enumerate([36, 43]):
        bass.notes.append(Note(bar * 1920, 960, root, 80))
        bass.notes.append(Note(bar * 1920 + 960, 960, root, 80))
    s.tracks.extend([mel, chords, bass])
    return s


def test_note_table_quantizes_assigns_roles_and_reads_chords():
    t = note_table(_score())
    assert t.n_bars == 2 and t.bar_steps == 16
    assert t.programs == {"melody": 73, "harmony": 0, "bass": 32}
    roles = {r: int((t.role == i).sum()) for i, r in enumerate(("melody", "harmony", "bass", "drums"))}
    assert roles == {"melody": 16, "harmony": 6, "bass": 4, "drums": 0}
    assert t.chords == [(0, "maj"), (7, "maj")]
    assert sorted(set(t.pos[t.role == 0].tolist())) == list(range(0, 16, 2))


def test_encode_lays_out_prelude_bars_and_notes_in_role_order():
    steps, bar_of = encode(note_table(_score()), "classical", 90, "C major", "4/4")
    kinds = steps[:, F["kind"]]
    assert prelude_length(steps) == 4  # HEADER + 3 TRACKs
    assert (kinds == BAR).sum() == 2 and (kinds == NOTE).sum() == 26
    first_bar = steps[(bar_of == 0) & (kinds == NOTE)]
    roles = first_bar[:, F["role"]] - 1
    assert list(roles) == sorted(roles)  # melody, then harmony, then bass
    with pytest.raises(ValueError):
        encode(note_table(_score()), "classical", 90, "H major", "4/4")


def test_windows_start_at_bar_lines_behind_the_prelude():
    steps, bar_of = encode(note_table(_score()), "pop", 90, "C major", "4/4")
    windows = cut_windows(steps, bar_of, block_size=20)
    assert windows
    for w in windows:
        assert (w[:4] == steps[:4]).all()
        assert w[4, F["kind"]] == BAR


def test_kv_cache_gives_the_same_hidden_states_as_the_full_pass():
    torch.manual_seed(0)
    model = NoteTransformer(NoteModelConfig(**TINY)).eval()
    steps, _ = encode(note_table(_score()), "pop", 90, "C major", "4/4")
    x = torch.from_numpy(steps[:30])[None]
    full = model.hidden(x)
    cache = model.new_cache()
    part = [model.hidden(x[:, :10], cache)]
    part += [model.hidden(x[:, i:i + 1], cache) for i in range(10, 30)]
    assert torch.allclose(torch.cat(part, dim=1), full, atol=1e-5)


def test_rope_scores_depend_only_on_relative_positions():
    from training.model import _rope_tables, _rotate

    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 5, 16), torch.randn(1, 1, 5, 16)
    cos, sin = _rope_tables(16, 64, 10000.0)

    def scores(offset):
        c, s = cos[offset:offset + 5], sin[offset:offset + 5]
        return _rotate(q, c, s) @ _rotate(k, c, s).transpose(-1, -2)

    assert torch.allclose(scores(0), scores(9), atol=1e-4)
    assert not torch.allclose(scores(0), q @ k.transpose(-1, -2), atol=1e-3)  # positions do matter


def test_loss_falls_when_fitting_one_piece():
    torch.manual_seed(0)
    model = NoteTransformer(NoteModelConfig(**TINY))
    steps, _ = encode(note_table(_score()), "pop", 90, "C major", "4/4")
    x = torch.from_numpy(steps)[None]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss, parts = model(x[:, :-1], x[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]
    assert set(parts) == {"kind", "role", "pos", "pitch", "dur", "vel"}


@pytest.mark.parametrize("key,ts,chords", [("D minor", "4/4", None), ("Eb major", "3/4", ["Eb", "Cm", "Ab", "Bb7"]),
                                            ("A major", "6/8", None)])
def test_sampler_keeps_every_note_on_the_request(key, ts, chords):
    torch.manual_seed(1)
    model = NoteTransformer(NoteModelConfig(**TINY))
    req = PieceRequest(style="pop", bpm=100, key=key, time_signature=ts, chords=chords, bars=6, seed=5,
                       instruments=["flute", "piano", "acoustic bass"])
    plan = req.resolve()
    out = sample(model, plan, seed=5).notes
    scale = set(scale_pitch_classes(plan.request.key))  # natural minor; a major V's leading tone is a chord tone
    assert set(out) == {"melody", "harmony", "bass"}
    for role, notes in out.items():
        bars = {n[0] for n in notes}
        assert bars == set(range(6)), role  # every bar has notes of every role
        for bar, pos, pitch, dur, vel in notes:
            root, quality = parse_chord(plan.chords[bar])
            tones = {(root + i) % 12 for i in QUALITIES[quality]}
            assert 0 <= pos and pos + dur <= plan.bar_steps
            if role == "melody":
                assert pitch % 12 in scale | tones
            else:
                assert pitch % 12 in tones
    for bar in range(6):
        first_bass = min(n for n in out["bass"] if n[0] == bar)
        assert first_bass[1] == 0 and first_bass[2] % 12 == parse_chord(plan.chords[bar])[0]
        harmony_pcs = {n[2] % 12 for n in out["harmony"] if n[0] == bar}
        root, quality = parse_chord(plan.chords[bar])
        assert harmony_pcs == {(root + i) % 12 for i in QUALITIES[quality]}


def test_same_seed_same_piece_and_cache_does_not_change_the_music():
    torch.manual_seed(2)
    gen = Generator(NoteTransformer(NoteModelConfig(**TINY)))
    req = PieceRequest(style="jazz", bpm=120, key="F major", bars=4, seed=11,
                       instruments=["saxophone", "piano", "acoustic bass", "drums"])
    a, b = gen.generate(req), gen.generate(req)
    c = gen.generate(req, use_cache=False)
    assert a.midi == b.midi == c.midi
    assert [t.source for t in a.tracks] == ["model", "model", "model", "arranger"]
    assert a.request.seed == 11 and a.chords == ["Gm7", "C7", "Fmaj7", "F"]  # jazz's ii7-V7-Imaj7, home


def test_infilling_keeps_the_given_melody():
    torch.manual_seed(3)
    gen = Generator(NoteTransformer(NoteModelConfig(**TINY)))
    melody = [(bar, pos, 72 + (pos % 5), 2, 90) for bar in range(4) for pos in range(0, 16, 4)]
    req = PieceRequest(style="pop", bpm=100, key="C major", bars=4, seed=1, instruments=["flute", "piano", "acoustic bass"])
    res = gen.generate(req, given={"melody": melody})
    from lake.midi_features import parse_midi
    score = parse_midi(res.midi)
    flute = next(t for t in score.tracks if t.program == 73)
    assert sorted((n.time, n.pitch) for n in flute.notes) == sorted(((b * 16 + p) * 120, pitch)
                                                                      for b, p, pitch, _, _ in melody)
    assert np.all([t.n_notes > 0 for t in res.tracks])
