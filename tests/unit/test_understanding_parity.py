"""Chinese on a par with English (issue 17 item 3): a Chinese prompt gets the same attributes as its English
translation. Pairs written for this test (not from the held-out prompts nor the caption benchmark)."""

import pytest

from training.understanding import recommend

PAIRS = [
    ("a sad piano ballad in D minor", "D小调的悲伤钢琴情歌"),
    ("relaxing jazz with saxophone and upright bass", "轻松的爵士乐，有萨克斯和低音提琴"),
    ("an energetic rock song with electric guitar and drums at 140 bpm", "充满活力的摇滚歌曲，电吉他和架子鼓，每分钟140拍"),
    ("a calm ambient soundscape with synth pads", "平静的氛围音乐，合成器铺底"),
    ("a romantic waltz for strings", "浪漫的弦乐圆舞曲"),
    ("epic orchestral film music with french horns and timpani", "史诗般的管弦电影配乐，圆号和定音鼓"),
    ("a happy folk tune with acoustic guitar and harmonica", "快乐的民谣，木吉他和口琴"),
    ("dark electronic music with synth bass, fast tempo", "黑暗的电子音乐，合成贝斯，快节奏"),
    ("nostalgic lo-fi beats for studying", "怀旧的低保真音乐，适合学习"),
    ("a joyful Chinese style piece with guzheng and dizi", "欢快的中国风乐曲，古筝和笛子"),
    ("melancholic cello solo, slow", "忧郁的大提琴独奏，慢速"),
    ("a festive march in B flat major", "喜庆的降B大调进行曲"),
    ("a dreamy piece with music box and strings in 3/4", "梦幻的八音盒和弦乐，3/4拍"),
    ("a tense horror soundtrack", "紧张的恐怖片配乐"),
    ("a cheerful children's song with piano", "欢乐的儿歌，钢琴伴奏"),
    ("a slow sad blues in E minor", "E小调的慢速悲伤蓝调"),
    ("a bright pop song with chord progression C G Am F", "明亮的流行歌曲，和弦进行C G Am F"),
    ("a peaceful meditation track with flute", "宁静的冥想音乐，长笛"),
    ("an energetic dance track with drums and synth bass at 128 bpm", "动感的舞曲，鼓和合成贝斯，每分钟128拍"),
    ("a heroic epic battle theme", "英雄史诗般的战斗音乐"),
    ("quiet piano, a bit sad", "安静的钢琴，有点忧伤"),
    ("light pop for a travel video, with drums and bass", "轻快的流行乐，适合旅行视频，有鼓和贝斯"),
    ("a lonely violin melody on a rainy night", "雨夜孤独的小提琴旋律"),
    ("heavy metal with distorted guitars", "重金属，失真吉他"),
    ("a classical string quartet in G major", "G大调的古典弦乐四重奏"),
    ("a relaxing bossa nova with nylon guitar", "轻松的波萨诺瓦，尼龙弦吉他"),
    ("a sweet love song with piano and strings", "甜蜜的情歌，钢琴和弦乐"),
    ("a fast-paced techno track", "快节奏的科技舞曲"),
    ("an erhu solo, sorrowful", "二胡独奏，哀伤"),
    ("jazz in F major with a walking bass, moderate tempo", "F大调爵士乐，行走贝斯，中速"),
]


@pytest.mark.parametrize("en, zh", PAIRS)
def test_a_chinese_prompt_gets_what_its_english_translation_gets(en, zh):
    a, b = recommend(en), recommend(zh)
    skip = {"because", "notes"}  # these quote the prompt's own words
    assert a.model_dump(exclude=skip) == b.model_dump(exclude=skip)


# -- several mood words: the same moods lead alike in either language (seventh session) ------------------------------
# Development pairs (paired_prompts.yaml, dev) whose two sides name their moods in another order, one of them
# twice, or with a broad mood one side adds ("温柔" beside "爱情", "早晨" beside "欢快"), and topic words one
# side's table missed (冬夜, 晨练, heroic, friend, 惊悚片 ...).
MOOD_PAIRS = [
    ("a nostalgic, wistful tune about an old friend", "怀念老朋友的怀旧惆怅小曲"),
    ("a mysterious, ethereal space journey", "神秘空灵的太空旅程"),
    ("a cheerful, energetic morning workout track", "欢快有活力的晨练音乐"),
    ("a quiet and lonely winter night", "安静孤独的冬夜"),
    ("an epic, heroic anthem", "史诗般的英雄颂歌"),
    ("a snowy morning in the village", "村庄里下雪的早晨"),
    ("studying late at night in the library", "深夜在图书馆学习"),
    ("a tender love duet for violin and piano", "小提琴与钢琴温柔的爱情二重奏"),
    ("an upbeat and playful ukulele tune", "欢快俏皮的尤克里里小曲"),
    ("a farewell at the train station", "火车站的告别"),
    ("a love song for my girlfriend", "写给女朋友的情歌"),
    ("a video game boss battle", "游戏里的boss战"),
    ("a tense, suspenseful thriller scene", "紧张悬疑的惊悚片场景"),
]


@pytest.mark.parametrize("en, zh", MOOD_PAIRS)
def test_a_translation_naming_its_moods_otherwise_gets_the_same_mood_tempo_and_key(en, zh):
    a, b = recommend(en), recommend(zh)
    for attr in ("style", "mood", "bpm", "key", "time_signature", "instruments", "chords"):
        assert getattr(a, attr) == getattr(b, attr), attr


@pytest.mark.parametrize("first, second", [
    ("quiet, lonely piano", "lonely, quiet piano"),
    ("a dark and mysterious yet calm cello piece", "a calm cello piece, mysterious and dark"),
    ("安静又孤独的钢琴", "孤独又安静的钢琴"),
    ("cheerful happy joyful folk", "joyful folk, cheerful"),
])
def test_the_order_and_repetition_of_mood_words_change_nothing(first, second):
    a, b = recommend(first), recommend(second)
    skip = {"because", "notes", "moods"}  # the moods are listed as written
    assert a.model_dump(exclude=skip) == b.model_dump(exclude=skip)
    assert set(a.moods) == set(b.moods)


@pytest.mark.parametrize("en, zh", [
    ("a scary piano piece", "可怕的钢琴曲"),  # the usual translations of English mood words the table reads
    ("a carefree ukulele song", "无忧无虑的尤克里里歌曲"),
    ("a wistful flute melody", "怅然的长笛旋律"),
    ("a turbulent string piece", "动荡的弦乐作品"),
    ("a majestic orchestral theme", "雄伟的管弦乐主题"),  # 管弦乐 implies the orchestra as "orchestral" does
    ("a ghost story at midnight", "午夜的鬼故事"),  # a scene that implies a mood in both languages
    ("a storm over the sea", "海上的暴风雨"),
    ("a video game soundtrack", "电子游戏配乐"),  # 电子 (electronic) inside 电子游戏 (a video game) is no style
    ("indie folk", "独立民谣"),  # folk, not indie rock
    ("a jazz ballad", "爵士抒情曲"),  # a ballad's tempo in both
])
def test_mood_words_and_their_usual_translations_agree(en, zh):
    a, b = recommend(en), recommend(zh)
    assert a.mood is not None
    for attr in ("style", "mood", "bpm", "key", "instruments"):
        assert getattr(a, attr) == getattr(b, attr), attr
