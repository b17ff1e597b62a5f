"""The CLAP pieces on their own: towers, loss, cross-rank gather, crops, text tokenizer, metrics, baseline, gate."""

import math

import numpy as np
import pytest
import torch

from training.clap.data import MusicVocab, crop, random_start, texts_of
from training.clap.evaluate import (attribute_scores, chance, parse_attributes, ranks, retrieval_metrics)
from training.clap.model import Clap, ClapConfig, clip_loss
from training.clap.text import CLS, encode_texts, pad_batch, text_tokenizer_id, train_tokenizer


@pytest.fixture(autouse=True)
def one_thread():
    """Small tensors: one thread is fastest and does not fight the other tests for the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _model(**kw) -> Clap:
    torch.manual_seed(0)
    return Clap(ClapConfig(music_vocab_size=40, text_vocab_size=50, music_len=16, text_len=8, n_embd=32, n_head=4,
                           embed_dim=16, **kw))


def test_embeddings_are_unit_vectors_and_padding_is_ignored():
    model = _model().eval()
    music = torch.randint(1, 40, (5, 16))
    m = model.encode_music(music)
    t = model.encode_text(torch.randint(1, 50, (5, 8)))
    assert m.shape == (5, 16) and t.shape == (5, 16)
    assert torch.allclose(m.norm(dim=-1), torch.ones(5), atol=1e-5)
    assert torch.allclose(t.norm(dim=-1), torch.ones(5), atol=1e-5)
    padded = torch.cat([music[:, :10], torch.zeros(5, 6, dtype=torch.long)], dim=1)
    assert torch.allclose(model.encode_music(padded), model.encode_music(music[:, :10]), atol=1e-5)
    assert torch.isfinite(model.encode_music(torch.zeros(2, 16, dtype=torch.long))).all()  # all padding: no NaN


def test_loss_is_symmetric_and_chance_level_for_unrelated_pairs():
    torch.manual_seed(1)
    m = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    t = torch.nn.functional.normalize(torch.randn(6, 8), dim=-1)
    scale = torch.tensor(10.0)
    assert torch.allclose(clip_loss(m, t, scale), clip_loss(t, m, scale))
    assert math.isclose(float(clip_loss(m, t, torch.tensor(0.0))), math.log(6), rel_tol=1e-6)  # uniform logits
    assert float(clip_loss(m, m, scale)) < float(clip_loss(m, t, scale))  # matching pairs: lower loss


def test_loss_falls_and_temperature_is_learned_on_a_toy_batch():
    model = _model()
    music = torch.arange(8)[:, None] * 4 + torch.arange(1, 5)[None, :]  # 8 clips of distinct tokens
    text = music % 45 + 3
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    start = float(model.logit_scale.detach())
    losses = []
    for _ in range(80):
        m, t, s = model(music, text)
        loss = clip_loss(m, t, s)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[0] > 1.5 and losses[-1] < 0.3 * losses[0]
    assert abs(float(model.logit_scale.detach()) - start) > 1e-3  # the temperature is a trained parameter


def test_logit_scale_is_clamped_and_stops_growing_there():
    aligned = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    log_scale = torch.tensor(1.0, requires_grad=True)
    clip_loss(aligned, aligned, log_scale.exp()).backward()
    assert float(log_scale.grad) < 0  # matched pairs: a sharper temperature lowers the loss
    model = _model(max_logit_scale=50.0)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(500.0))
    assert math.isclose(float(model.scale().detach()), 50.0, rel_tol=1e-5)
    m, t, s = model(torch.randint(1, 40, (4, 16)), torch.randint(1, 50, (4, 8)))
    clip_loss(m, t, s).backward()
    assert float(model.logit_scale.grad) == 0.0


def test_crop_keeps_the_meter_and_tempo_in_force_and_starts_on_a_bar():
    vocab = MusicVocab(pad_id=0, bar_id=1, tempo_ids=(2, 3), timesig_ids=(4, 5))
    ids = np.array([1, 4, 2, 10, 11, 1, 12, 3, 13, 1, 5, 14, 15, 1, 16, 17, 18, 19])
    assert crop(ids, 4, vocab).tolist() == [1, 4, 2, 10]
    assert crop(ids, 6, vocab, start=9).tolist() == [4, 3, 1, 5, 14, 15]  # meter 4 and tempo 3 before bar 9
    assert crop(ids[:3], 8, vocab, start=2).tolist() == [1, 4, 2]  # fits: whole piece
    rng = np.random.default_rng(0)
    starts = {random_start(ids, 6, vocab, rng) for _ in range(50)}
    assert starts <= {0, 5, 9, 13} and len(starts) > 1


def test_text_tokenizer_reads_english_chinese_and_lyrics_with_no_unknowns():
    texts = ["An allegro folk piece in E minor at 120 BPM, 2/4 time.", "一首快板民谣风格的E小调作品，每分钟120拍。",
             "Herr Jesu Christ, wahr'r Mensch und Gott"] * 3
    tok = train_tokenizer(texts, vocab_size=400)
    ids = encode_texts(tok, ["A calm piece", "一首平静的民谣", "ümlaut ß 🎵"], max_len=12)
    assert all(s[0] == tok.token_to_id(CLS) and 1 < len(s) <= 12 for s in ids)
    assert tok.decode(encode_texts(tok, ["一首平静的民谣"], 64)[0].tolist()).strip() == "一首平静的民谣"
    assert tok.decode(encode_texts(tok, ["ümlaut ß 🎵"], 64)[0].tolist()).strip() == "ümlaut ß 🎵"
    assert encode_texts(tok, ["A MINOR"], 64)[0].tolist() == encode_texts(tok, ["a minor"], 64)[0].tolist()
    assert text_tokenizer_id(tok) == text_tokenizer_id(train_tokenizer(texts, vocab_size=400))  # deterministic
    assert pad_batch([np.array([1, 2, 3]), np.array([4])], 8).tolist() == [[1, 2, 3], [4, 0, 0]]


def test_each_piece_gives_its_captions_and_lyrics():
    row = {"text": "Lobt Gott", "text_kind": "lyrics", "caption": "A calm piece.", "feature_caption": "A calm piece.",
           "caption_zh": "一首平静的作品。"}
    assert texts_of(row) == [("en", "A calm piece."), ("zh", "一首平静的作品。"), ("lyrics", "Lobt Gott")]
    assert texts_of({**row, "text_kind": "caption", "text": "A calm piece.", "caption_zh": None}) == [
        ("en", "A calm piece.")]


def test_ranks_and_metrics_on_a_hand_made_similarity_matrix():
    sim = np.array([[0.9, 0.1, 0.2, 0.0],   # answer 0 ranks 1
                    [0.5, 0.4, 0.6, 0.1],   # answer 1 ranks 3
                    [0.3, 0.3, 0.3, 0.3],   # all tied: answer 2 ranks after indices 0 and 1 -> 3
                    [0.2, 0.1, 0.0, 0.2]])  # tie with index 0, which ranks first -> 2
    targets = [0, 1, 2, 3]
    assert ranks(sim, targets).tolist() == [1, 3, 3, 2]
    got = retrieval_metrics(sim, targets, ks=(1, 2))
    assert got == pytest.approx({"r1": 0.25, "r2": 0.5, "mrr": (1 + 1 / 3 + 1 / 3 + 1 / 2) / 4})
    assert retrieval_metrics(np.eye(5), range(5))["mrr"] == 1.0
    assert chance(4, ks=(1, 10)) == pytest.approx({"r1": 0.25, "r10": 1.0, "mrr": (1 + 1 / 2 + 1 / 3 + 1 / 4) / 4})


def test_attributes_are_read_from_english_and_chinese_text():
    en = parse_attributes("An allegro folk piece in E minor at 120 BPM, 2/4 time. The mood is dramatic.")
    zh = parse_attributes("一首快板民谣风格的E小调作品，每分钟120拍，2/4拍，由钢琴演奏。情绪激昂。")
    assert en == zh == {"key": "E minor", "mode": "minor", "style": "folk", "mood": "dramatic", "tempo_bin": 5,
                        "time_signature": "2/4"}
    assert parse_attributes("melancholic waltz in a minor key") == {"mode": "minor", "mood": "melancholic"}
    assert parse_attributes("a calm jazz ballad in Bb major, adagio")["key"] == "Bb major"
    assert parse_attributes("Herr Jesu Christ, wahr Mensch und Gott") == {}


def test_baseline_ranks_the_exact_attribute_match_first():
    pieces = [{"style": "folk", "key": "D major", "mode": "major", "tempo_bin": 5, "mood": "joyful", "time_signature": "4/4"},
              {"style": "folk", "key": "E minor", "mode": "minor", "tempo_bin": 4, "mood": "melancholic", "time_signature": "2/4"},
              {"style": "folk", "key": "E minor", "mode": "minor", "tempo_bin": 5, "mood": "dramatic", "time_signature": "2/4"},
              {"style": "classical", "key": "E minor", "mode": "minor", "tempo_bin": 5, "mood": "dramatic", "time_signature": "3/4"}]
    query = parse_attributes("An allegro folk piece in E minor at 120 BPM, 2/4 time. The mood is dramatic.")
    scores = attribute_scores([query], pieces)
    assert scores.tolist() == [[2, 4, 6, 4]]
    assert ranks(scores, [2]).tolist() == [1]


def test_task_draws_clips_and_texts_in_training_and_reads_the_first_ones_in_validation():
    from training.clap.task import ClapTask

    model = _model()
    task = ClapTask(model_config=model.cfg.to_dict(), extra={}, first_crop_prob=0.0)
    crops = torch.stack([torch.full((3, 16), 5 + k) for k in range(3)], dim=1)[0].expand(6, 3, 16).clone()
    crops[:, :, 10:] = 0  # padding columns are trimmed away
    texts = torch.zeros(6, 4, 8, dtype=torch.long)
    texts[:, 0, :3], texts[:, 1, :5] = 7, 9  # two texts per piece; slots 2 and 3 empty
    batch = {"crops": crops, "texts": texts, "n_texts": torch.full((6,), 2)}
    seen = []

    def spy(music, text):
        seen.append((music.clone(), text.clone()))
        return model(music, text)

    spy.training = True
    torch.manual_seed(0)
    loss, n = task.loss(spy, batch)
    music, text = seen[-1]
    assert music.shape == (6, 10) and set(music[:, 0].tolist()) <= {6, 7}  # never clip 0 at first_crop_prob 0
    assert set(text[:, 0].tolist()) <= {7, 9} and torch.isfinite(loss) and n == int((music != 0).sum() + (text != 0).sum())
    spy.training = False
    task.loss(spy, batch)
    music, text = seen[-1]
    assert (music[:, 0] == 5).all() and (text == 7).sum() == 6 * 3  # validation: clip 0, first text


def test_crops_of_a_piece_are_the_same_every_time():
    from training.clap.data import piece_crops

    vocab = MusicVocab(pad_id=0, bar_id=1, tempo_ids=(2,), timesig_ids=(4,))
    ids = np.tile(np.array([1, 4, 2, 10, 11, 12, 13]), 20)
    a, b = piece_crops(ids, "ab" * 32, 12, 4, vocab), piece_crops(ids, "ab" * 32, 12, 4, vocab)
    assert a.shape == (4, 12) and (a == b).all() and (a[0] == ids[:12]).all()
    assert (piece_crops(ids[:5], "cd" * 32, 12, 3, vocab)[:, 5:] == 0).all()  # a short piece: padded, all alike


def test_default_gates_want_a_lift_over_chance_and_no_regression():
    from common.config import load_config
    from training.lifecycle import check_gates

    gates = load_config(None, [], {}).clap.gates
    good = {"validation.t2m.en.mrr_over_chance": 2.0, "validation.t2m.en.mrr": 0.30}
    assert all(c.passed for c in check_gates(good, gates))
    assert not all(c.passed for c in check_gates({**good, "validation.t2m.en.mrr_over_chance": 1.2}, gates))
    assert not all(c.passed for c in check_gates(good, gates, {"validation.t2m.en.mrr": 0.40}, 1))
    assert all(c.passed for c in check_gates(good, gates, {"validation.t2m.en.mrr": 0.31}, 1))
    assert not all(c.passed for c in check_gates({"validation.t2m.en.mrr": 0.3}, gates))  # unmeasured: fails


def test_prompts_name_only_attributes_the_piece_has_in_both_languages():
    from training.clap.search_prompts import matches, prompt, prompts_for

    attrs = {"style": "folk", "key": "C# minor", "mode": "minor", "tempo_bin": 3, "mood": "melancholic",
             "time_signature": "3/4", "instruments": ["Fiddle"]}
    other = {**attrs, "key": "D major", "mode": "major", "mood": "bright", "time_signature": "4/4", "instruments": []}
    rng = np.random.default_rng(0)
    for lang in ("en", "zh"):
        for _ in range(40):
            text, named = prompt(attrs, lang, rng, n_facts=2)
            assert text.strip() and 1 <= len(named) <= 2 and matches(attrs, named)
            assert not ({"key", "mode"} <= set(named) or {"pace", "tempo_bin"} <= set(named))
            assert lang == "en" or text.isascii() is False
    assert matches(attrs, {"meter": "3/4", "instrument": "Fiddle"}) and not matches(other, {"meter": "3/4"})
    assert not matches(other, {"instrument": "Fiddle"})
    sha = "0123456789abcdef" * 4
    made = prompts_for(attrs, sha, 2)
    assert made == prompts_for(attrs, sha, 2) and [lang for lang, _ in made] == ["en", "en", "zh", "zh"]
