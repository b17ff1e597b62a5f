"""Prompt → attributes rules: English and Chinese, explicit values first, sources reported, sensible defaults."""

import pytest

from lake.vocab import KEY_NAMES, MOODS, STYLE_WORDS, STYLES, TEMPO_TERMS, chord_names
from training.prompts import DEFAULT_STYLE, STYLE_DEFAULTS, recommend

EXAMPLES = ["relaxed cafe afternoon with a touch of electronic", "咖啡馆午后的轻松氛围,带点电子音乐元素"]


@pytest.mark.parametrize("prompt", EXAMPLES)
def test_cafe_examples_in_both_languages(prompt):
    a = recommend(prompt)
    assert a.style == "electronic" and a.mood == "relaxed"
    assert 90 <= a.bpm <= 110
    # no key named: a major key (the relaxed mood) that electronic music often uses, labelled "likely"
    assert a.key.endswith("major") and a.time_signature == "4/4"
    assert {"electric piano", "synth pad"} <= set(a.instruments)
    assert a.progression == ["I", "V", "vi", "IV"] and a.chords == chord_names(["I", "V", "vi", "IV"], a.key)
    assert a.sources == {"style": "keyword", "mood": "keyword", "bpm": "inferred", "key": "likely",
                         "time_signature": "default", "instruments": "inferred", "chords": "derived"}


def test_both_languages_agree():
    en, zh = (recommend(p).model_dump(exclude={"because"}) for p in EXAMPLES)  # "because" quotes the words
    assert en == zh


@pytest.mark.parametrize("prompt, bpm", [
    ("chill electronic at 128 bpm", 128), ("chill electronic, BPM 90", 90), ("tempo: 84, sad piano", 84),
    ("ambient 72.5 beats per minute", 72.5), ("轻松的电子音乐,每分钟90拍", 90), ("爵士 110拍每分钟", 110),
    ("速度:76 的民谣", 76), ("电子 每分钟９６拍", 96),
])
def test_bpm_written_in_the_prompt_beats_keywords(prompt, bpm):
    a = recommend(prompt)
    assert a.bpm == bpm and a.sources["bpm"] == "prompt"


@pytest.mark.parametrize("prompt, key", [
    ("a sad song in D minor", "D minor"), ("jazz in f#m please", "F# minor"), ("pop, key of Bb major", "Bb major"),
    ("Eb Major ballad", "Eb major"), ("key: G, folk", "G major"), ("悲伤的D小调钢琴曲", "D minor"),
    ("降E大调的圆舞曲", "Eb major"), ("in A minor, slow", "A minor"),
])
def test_key_written_in_the_prompt_beats_the_mood(prompt, key):
    a = recommend(prompt)
    assert a.key == key and a.sources["key"] == "prompt"


def test_request_values_beat_everything_written_in_the_prompt():
    a = recommend("happy pop in D minor at 140 bpm", bpm=77.0, key="f# major")
    assert (a.bpm, a.key) == (77.0, "F# major")
    assert a.sources["bpm"] == a.sources["key"] == "request"
    assert a.chords == ["F#", "C#", "D#m", "B"]


def test_precedence_below_explicit_values():
    # tempo word beats the mood's tempo; the mood's tempo beats the style's
    assert recommend("slow happy pop").bpm == TEMPO_TERMS["slow"][2]  # the word's own tempo (happy's 120 is outside)
    assert recommend("happy rock").bpm == MOODS["happy"].bpm
    assert recommend("rock").bpm == STYLE_DEFAULTS["rock"].bpm
    # a minor mood picks a minor key and the style's minor progression
    sad = recommend("sad rock")
    assert sad.key.endswith("minor") and sad.progression == list(STYLE_DEFAULTS["rock"].minor)
    assert sad.sources["key"] == "likely"


@pytest.mark.parametrize("prompt", ["", "xyzzy qwerty 12345", "!!!", "今天天气不错", "a grave"])
def test_nonsense_prompt_gets_sensible_defaults(prompt):
    a = recommend(prompt)
    assert a.style == DEFAULT_STYLE and a.time_signature == "4/4" and a.mood is None
    assert a.bpm == STYLE_DEFAULTS[DEFAULT_STYLE].bpm
    assert a.instruments == list(STYLE_DEFAULTS[DEFAULT_STYLE].instruments)
    assert a.key == recommend("").key  # nothing said: the same likely key for the default style
    assert {k: v for k, v in a.sources.items() if k not in ("chords", "key")} == dict.fromkeys(
        ["style", "mood", "bpm", "time_signature", "instruments"], "default")
    assert a.sources["key"] == "likely"


def test_every_style_has_words_and_defaults_and_is_reachable():
    assert set(STYLE_WORDS) == set(STYLE_DEFAULTS) == set(STYLES)
    for style, words in STYLE_WORDS.items():
        english = [w for w in words if w.isascii()]
        chinese = [w for w in words if not w.isascii()]
        assert english and chinese, style
        for word in words:
            assert recommend(f"something {word} please").style == style, word


def test_every_mood_is_reachable():
    for name, mood in MOODS.items():
        for word in mood.words:
            a = recommend(word)
            assert a.mood == name, word
            assert a.key.endswith(mood.mode), word


def test_words_match_whole_words_only():
    assert recommend("popular breakfast").sources["style"] == "default"  # neither "pop" nor "fast"
    assert recommend("breakfast").sources["bpm"] == "default"
    assert recommend("grand piano solo").mood is None


def test_instruments_named_in_the_prompt_replace_the_style_defaults():
    a = recommend("jazz with electric piano, upright bass and brushed drums")
    assert a.instruments == ["electric piano", "acoustic bass", "drums"] and a.sources["instruments"] == "prompt"
    assert recommend("电钢琴和大提琴的爵士").instruments == ["electric piano", "cello"]


def test_meter_from_numbers_and_keywords():
    six_eight = recommend("folk in 6/8")
    assert (six_eight.time_signature, six_eight.sources["time_signature"]) == ("6/8", "prompt")
    assert recommend("a gentle waltz").time_signature == "3/4"
    assert recommend("华尔兹").sources["time_signature"] == "inferred"  # a dance form implies its meter


def test_progression_written_in_the_prompt():
    a = recommend("jazz ballad over ii7-V7-Imaj7 in Bb major")
    assert a.progression == ["ii7", "V7", "Imaj7"] and a.chords == ["Cm7", "F7", "Bbmaj7"]
    assert a.sources["chords"] == "prompt"


@pytest.mark.parametrize("progression, key, names", [
    (["I", "V", "vi", "IV"], "C major", ["C", "G", "Am", "F"]),
    (["I", "V", "vi", "IV"], "C# major", ["C#", "G#", "A#m", "F#"]),
    (["I", "IV", "V"], "F major", ["F", "Bb", "C"]),
    (["i", "VI", "III", "VII"], "A minor", ["Am", "F", "C", "G"]),
    (["i", "iv", "V", "i"], "Eb minor", ["Ebm", "Abm", "Bb", "Ebm"]),
    (["I", "bVII", "IV"], "D major", ["D", "C", "G"]),
    (["iiø7", "V7", "i7"], "D minor", ["Em7b5", "A7", "Dm7"]),
    (["vii°", "I+"], "C major", ["Bdim", "Caug"]),
])
def test_chord_names_are_spelled_in_the_key(progression, key, names):
    assert chord_names(progression, key) == names


def test_every_key_and_style_renders_chords():
    for key in KEY_NAMES:
        for style in STYLES:
            a = recommend(f"{style} in {key}")
            assert a.key == key and len(a.chords) == len(a.progression) >= 2


# -- the zero-shot fallback (clap=) -----------------------------------------------------------------
# A deterministic stand-in with the fallback's interface (scores(text, group) -> {label: p}); the real CLAP
# and MiniLM scorers are measured by `python -m training.recommend_eval --fallback clap+minilm`.
class FixedScorer:
    def __init__(self, style=None, mood=None, p=0.9):
        self.best = {"style": style, "mood": mood}
        self.p = p
        self.calls: list[tuple[str, str]] = []

    def scores(self, text, group):
        self.calls.append((text, group))
        from training.prompts import FALLBACK_LABELS
        labels = FALLBACK_LABELS[group]
        best = self.best[group]
        if best is None:
            return {}
        rest = (1 - self.p) / (len(labels) - 1)
        return {label: (self.p if label == best else rest) for label in labels}


NO_CLUE = "something for a quiet moment of thought"  # no style word; "quiet" is a mood word


ABOUT_RAIN = "a tune about the rain"  # content the rules read (a concept), no style or mood word


def test_fallback_fills_the_style_the_rules_miss_with_source_clap():
    plain = recommend(ABOUT_RAIN)
    assert plain.sources["style"] == "default" and plain.style == DEFAULT_STYLE
    a = recommend(ABOUT_RAIN, clap=FixedScorer(style="jazz", mood="sad"))
    assert a.style == "jazz" and a.sources["style"] == "clap"
    assert a.mood == "sad" and a.sources["mood"] == "clap"
    # what follows from a guessed style and mood is marked as the guess, not as a rule
    assert a.bpm == MOODS["sad"].bpm and a.sources["bpm"] == "clap"
    assert a.key.endswith("minor") and a.sources["key"] == "clap"
    assert a.instruments == list(STYLE_DEFAULTS["jazz"].instruments) and a.sources["instruments"] == "clap"
    assert a.progression == list(STYLE_DEFAULTS["jazz"].minor)
    # the fallback is asked the prompt's English gloss; words no rule reads give none, and nothing is asked
    unread = FixedScorer(style="jazz", mood="sad")
    z = recommend("xyzzy plugh", clap=unread)
    assert unread.calls == [] and (z.style, z.sources["style"]) == (DEFAULT_STYLE, "default")


def test_fallback_never_overrides_keywords_or_explicit_values():
    scorer = FixedScorer(style="rock", mood="dark")
    a = recommend("happy folk song in D major at 100 bpm", clap=scorer, time_signature="3/4")
    assert (a.style, a.mood) == ("folk", "happy")
    assert a.sources["style"] == a.sources["mood"] == "keyword"
    assert (a.bpm, a.key, a.time_signature) == (100.0, "D major", "3/4")
    assert scorer.calls == []  # nothing to guess: the scorer is not even asked
    b = recommend(ABOUT_RAIN, clap=scorer, bpm=77, key="F# minor", instruments=["flute"])
    assert b.style == "rock" and b.sources["style"] == "clap"
    assert (b.bpm, b.key, b.instruments) == (77.0, "F# minor", ["flute"])
    assert {b.sources[k] for k in ("bpm", "key", "instruments")} == {"request"}


def test_fallback_asks_only_for_what_is_missing():
    scorer = FixedScorer(style="ambient", mood="romantic")
    a = recommend(NO_CLUE, clap=scorer)
    assert a.style == "ambient" and a.sources["style"] == "clap"
    assert a.mood == "calm" and a.sources["mood"] == "keyword"
    assert [g for _, g in scorer.calls] == ["style"]


def test_a_scorer_with_no_answer_leaves_the_defaults():
    a = recommend("xyzzy", clap=FixedScorer())
    assert a.style == DEFAULT_STYLE and a.sources["style"] == "default" and a.mood is None
    assert a.model_dump() == recommend("xyzzy").model_dump()


def test_bad_fallback_is_refused():
    with pytest.raises(TypeError, match="clap="):
        recommend("xyzzy", clap=object())


def test_zero_shot_combination_and_label_cache():
    """TextScorer over a toy encoder: nearest description wins, descriptions are embedded once, weights mix."""
    import numpy as np

    from training.prompts import TextScorer, ZeroShotFallback, label_descriptions

    desc = label_descriptions("style", "en")
    assert "a jazz piece" in desc["jazz"] and "bebop music" in desc["jazz"]
    assert all(not any("\u4e00" <= c <= "\u9fff" for c in t) for ts in desc.values() for t in ts)
    zh = label_descriptions("style", "zh")
    assert "爵士" in zh["jazz"]
    embedded = []

    def toy(texts):  # a text is "about" jazz when it says bebop, else about rock
        embedded.extend(texts)
        return np.array([[1.0, 0.0] if "bebop" in t else [0.0, 1.0] for t in texts], dtype=np.float32)

    s = TextScorer("toy", toy, scale=10.0, langs=("en",))
    p = s.scores("bebop tonight", "style")
    assert max(p, key=p.get) == "jazz" and abs(sum(p.values()) - 1) < 1e-6
    n = len(embedded)
    s.scores("more bebop", "style")
    assert len(embedded) == n + 1  # only the prompt: the label descriptions are cached
    assert not s.handles("深夜的爵士")
    other = FixedScorer(style="film", p=1.0)
    mixed = ZeroShotFallback([s, other], [1.0, 3.0]).scores("bebop tonight", "style")
    assert max(mixed, key=mixed.get) == "film"
    # a Chinese prompt: the English-only scorer sits out, the other one answers alone (weights renormalised)
    zh_p = ZeroShotFallback([s, other], [1.0, 3.0]).scores("深夜", "style")
    assert zh_p["film"] == pytest.approx(1.0)
    assert ZeroShotFallback([s]).scores("深夜", "style") == {}
