"""The recommender's evaluator: labels read and checked, accuracy counted per language and attribute."""

import pytest

from training.recommend_eval import PROMPTS_PATH, Labelled, format_report, load_prompts, score, zero_shot_accuracy
from training.request import Attributes


def attrs(style="pop", bpm=110.0, key="C major", ts="4/4", mood=None, source="keyword"):
    return Attributes(style=style, bpm=bpm, key=key, time_signature=ts, instruments=["piano"], progression=["I"],
                      chords=["C"], mood=mood, sources={"style": source})


TINY = [
    Labelled.from_dict({"prompt": "a", "lang": "en", "style": "jazz", "mood": ["calm", "relaxed"], "bpm": [60, 90]}),
    Labelled.from_dict({"prompt": "b", "lang": "en", "style": "rock", "mode": "minor", "meter": "3/4"}),
    Labelled.from_dict({"prompt": "深夜", "style": "folk", "mood": ["sad"]}),  # lang from the characters
]
ANSWERS = {
    "a": attrs("jazz", bpm=95.0, mood="relaxed"),  # style, mood right; bpm out of range
    "b": attrs("pop", key="A minor", ts="3/4", source="default"),  # style wrong; mode, meter right
    "深夜": attrs("folk", mood=None, source="clap"),  # style right; no mood is a wrong mood
}


def test_accuracy_per_language_and_attribute():
    r = score(TINY, ANSWERS.__getitem__)
    assert TINY[2].lang == "zh"
    assert r.accuracy("en", "style") == 0.5 and r.accuracy("zh", "style") == 1.0
    assert r.accuracy("all", "style") == pytest.approx(2 / 3)
    assert r.accuracy("en", "mood") == 1.0 and r.accuracy("zh", "mood") == 0.0
    assert r.accuracy("en", "bpm") == 0.0 and r.accuracy("zh", "bpm") is None
    assert r.accuracy("en", "mode") == 1.0 and r.accuracy("en", "meter") == 1.0
    assert r.tallies["en"]["style"].total == 2 and "mode" not in r.tallies["zh"]
    assert r.style_sources["en"]["default"].correct == 0 and r.style_sources["zh"]["clap"].correct == 1
    assert r.misses == [("b", "rock", "pop (default)")]
    text = format_report("tiny", r, show_misses=True)
    assert "50.0%" in text and "miss: 'b'" in text


def test_zero_shot_alone_counts_the_top_label():
    class Scorer:
        def scores(self, text, group):
            if group == "style":
                return {"jazz": 0.6, "rock": 0.4} if text != "深夜" else {}
            return {"calm": 0.7, "sad": 0.3}

    t = zero_shot_accuracy(TINY, Scorer(), "style")
    assert (t["en"].correct, t["en"].total) == (1, 2)
    assert (t["zh"].correct, t["zh"].total) == (0, 1)  # no answer is a wrong answer
    m = zero_shot_accuracy(TINY, Scorer(), "mood")
    assert (m["all"].correct, m["all"].total) == (1, 2)  # only prompts with a mood label


def test_bad_labels_are_refused():
    with pytest.raises(ValueError, match="style"):
        Labelled.from_dict({"prompt": "x", "style": "other"})
    with pytest.raises(ValueError, match="mood"):
        Labelled.from_dict({"prompt": "x", "style": "pop", "mood": ["grumpy"]})


def test_the_shipped_prompt_set_is_big_enough_and_valid():
    splits = load_prompts(PROMPTS_PATH)
    assert set(splits) == {"dev", "test"}
    items = [i for part in splits.values() for i in part]
    assert len(items) >= 120 and sum(i.lang == "zh" for i in items) >= 40
    assert len({i.prompt for i in items}) == len(items)  # no prompt in both parts, none twice
    for part in splits.values():
        assert {i.style for i in part} == {"classical", "folk", "jazz", "pop", "rock", "electronic", "ambient", "film"}


def test_translation_pairs_are_read_from_a_labelled_prompt_file(tmp_path, capsys):
    from training.recommend_eval import main
    from training.understanding.parity import pairs_from_prompts

    items = [{"prompt": "忧伤的钢琴", "lang": "zh"}, {"prompt": "sad piano", "lang": "en"},
             {"prompt": "lonely", "lang": "en"},  # no Chinese beside it: left out
             {"prompt": "happy folk", "lang": "en"}, {"prompt": "快乐的民谣", "lang": "zh"}]
    assert pairs_from_prompts(items) == [("sad piano", "忧伤的钢琴"), ("happy folk", "快乐的民谣")]
    path = tmp_path / "p.yaml"
    path.write_text("dev:\n" + "".join(f"  - {{prompt: \"{i['prompt']}\", lang: {i['lang']}, style: pop}}\n"
                                       for i in items), encoding="utf-8")
    assert main(["--prompts", str(path), "--split", "dev", "--pairs-from-prompts", "--misses"]) == 0
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if ln.startswith("[pairs]"))
    assert "2 English prompts" in line and "mood 100 %" in line  # sad/忧伤 and happy/快乐 read alike
