"""Attribute tokens: after the tokenizer's ids, disjoint, and a prefix for every attribute."""

import pytest

from lake.tokenizer import build_tokenizer
from lake.vocab import KEY_NAMES, STYLES, TEMPO_BIN_EDGES, tempo_bin
from training.conditioning import PREFIX_LEN, Conditioning, attribute_vocab, canonical_key, for_tokenizer


@pytest.fixture(scope="module")
def tok(cfg):
    return build_tokenizer(cfg.tokenizer)


def test_attribute_ids_are_disjoint_from_tokenizer_ids_and_from_each_other(tok):
    cond = for_tokenizer(tok)
    tokenizer_ids = set(tok.vocab.values())
    groups = [set(cond.style_ids), set(cond.tempo_ids), set(cond.key_ids)]
    assert [len(g) for g in groups] == [len(STYLES), len(TEMPO_BIN_EDGES) + 1, len(KEY_NAMES)]
    for g in groups:
        assert not g & tokenizer_ids
    assert not (groups[0] & groups[1]) and not (groups[1] & groups[2]) and not (groups[0] & groups[2])
    assert set(cond.attribute_ids) == groups[0] | groups[1] | groups[2]
    assert cond.vocab_size == len(tok) + sum(len(g) for g in groups)
    assert (cond.pad_id, cond.bos_id, cond.eos_id) == (tok.pad_token_id, tok["BOS_None"], tok["EOS_None"])


def test_prefix_encodes_each_attribute(tok):
    cond = for_tokenizer(tok)
    prefix = cond.prefix("jazz", tempo_bin(120), "A minor")
    assert len(prefix) == PREFIX_LEN
    assert prefix == [cond.bos_id, cond.style_ids[STYLES.index("jazz")], cond.tempo_ids[tempo_bin(120)],
                      cond.key_ids[KEY_NAMES.index("A minor")]]
    assert cond.prefix("JAZZ ", 5, "a minor") == prefix
    assert cond.prefix("polka-techno", 0, "C major")[1] == cond.style_ids[STYLES.index("other")]
    assert cond.prefix(None, 0, "C major")[1] == cond.style_ids[STYLES.index("other")]


def test_every_prefix_id_is_masked_for_sampling():
    cond = attribute_vocab(100)
    banned = set(cond.never_sampled())
    assert {cond.pad_id, cond.bos_id} <= banned and cond.eos_id not in banned
    for style in STYLES:
        for b in range(cond.n_tempo_bins):
            assert set(cond.prefix(style, b, "D major")) <= banned


def test_key_spellings_and_errors():
    assert canonical_key("Db major") == "C# major"
    assert canonical_key("f# MINOR") == "F# minor"
    for bad in ("H major", "C dorian", "C", ""):
        with pytest.raises(ValueError):
            canonical_key(bad)
    with pytest.raises(ValueError, match="tempo bin"):
        attribute_vocab(10).prefix("pop", len(TEMPO_BIN_EDGES) + 1, "C major")


def test_round_trips_through_a_plain_dict():
    cond = attribute_vocab(321, pad_id=0, bos_id=1, eos_id=2)
    assert Conditioning.from_dict(cond.to_dict()) == cond
