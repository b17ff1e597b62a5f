"""robots.txt rules, X-Robots-Tag and <meta name=robots> opt-outs, read the way RFC 9309 and the common
crawlers read them, and never crashing on a malformed file."""

from __future__ import annotations

from DrissionPage.common import make_session_ele
from requests.structures import CaseInsensitiveDict

from ingest.robots import header_opt_outs, meta_opt_outs, parse_robots, product_token, skip_reason

UA = "musiclake-crawler/0.1 (+https://example.org; research crawler)"

ROBOTS = """# comments are ignored
User-agent: *
Disallow: /private/
Allow: /private/public-
Disallow: /*.json$
Disallow: /search?
Crawl-delay: 2

User-agent: musiclake
User-agent: otherbot
Disallow: /no-music/
Crawl-delay: 0.5
"""


def test_product_token_is_the_first_word_of_the_user_agent():
    assert product_token(UA) == "musiclake-crawler"
    assert product_token("Mozilla/5.0 (X11)") == "mozilla"


def test_our_group_wins_over_the_star_group():
    rules = parse_robots(ROBOTS, UA)
    assert rules.crawl_delay == 0.5
    assert not rules.allowed("http://h/no-music/a.mid")
    assert rules.allowed("http://h/private/a.mid"), "the * group does not apply once our group exists"


def test_star_group_longest_match_wildcards_and_end_anchor():
    rules = parse_robots(ROBOTS, "somebot/1.0")
    assert rules.crawl_delay == 2
    assert not rules.allowed("http://h/private/a.mid")
    assert rules.blocking_rule("http://h/private/a.mid") == "Disallow: /private/"
    assert rules.allowed("http://h/private/public-a.mid"), "the longer Allow wins"
    assert not rules.allowed("http://h/data/x.json") and rules.allowed("http://h/data/x.json.mid")
    assert not rules.allowed("http://h/search?q=bach") and rules.allowed("http://h/search-help")
    assert rules.allowed("http://h/robots.txt") and rules.allowed("http://h/")


def test_allow_wins_a_tie_and_empty_disallow_allows_everything():
    rules = parse_robots("User-agent: *\nDisallow: /a\nAllow: /a\n", UA)
    assert rules.allowed("http://h/a/b")
    assert parse_robots("User-agent: *\nDisallow:\n", UA).allowed("http://h/anything")


def test_percent_encoding_is_compared_decoded():
    rules = parse_robots("User-agent: *\nDisallow: /%7Ejoe/\n", UA)
    assert not rules.allowed("http://h/~joe/song.mid")


def test_malformed_robots_keeps_what_it_can_read_and_notes_the_rest():
    text = ("\x00\x01 garbage without colon\n<html><body>oops</body></html>\nDisallow: /orphan/\n"
            "User-agent *\nUser-agent: *\nCrawl-delay: soon\nCrawl-delay: -3\nDisallow: /private/\nBogus: 1\n"
            + "x" * 5000 + "\n")
    rules = parse_robots(text, UA)
    assert not rules.allowed("http://h/private/x.mid")
    assert rules.allowed("http://h/orphan/x.mid"), "a rule before any user-agent belongs to no group"
    assert rules.crawl_delay is None
    assert len(rules.notes) == 8 and any("crawl-delay 'soon'" in n for n in rules.notes)


def test_binary_and_huge_robots_never_crash():
    assert parse_robots(bytes(range(256)) * 10, UA).allowed("http://h/x")
    big = ("User-agent: *\n" + "Disallow: /x\n" * 100_000).encode()
    assert not parse_robots(big, UA).allowed("http://h/x1")


def _headers(*values):
    h = CaseInsensitiveDict()
    h["X-Robots-Tag"] = ", ".join(values)  # requests joins repeated headers like this
    return h


def test_x_robots_tag_plain_and_scoped_to_us_or_to_others():
    assert header_opt_outs(_headers("noai"), UA) == {"noai"}
    assert header_opt_outs(_headers("noindex, nofollow"), UA) == {"noindex", "nofollow"}
    assert header_opt_outs(_headers("musiclake: noai"), UA) == {"noai"}
    assert header_opt_outs(_headers("googlebot: noindex", "MusicLake-Crawler: noai, noimageai"), UA) == {"noai", "noimageai"}
    assert header_opt_outs(_headers("otherbot: noai, noindex"), UA) == set()
    assert header_opt_outs(_headers("unavailable_after: 25 Jun 2010 15:00:00 PST"), UA) == {"unavailable_after"}
    assert header_opt_outs(CaseInsensitiveDict(), UA) == set()
    assert skip_reason({"noai", "nofollow"}, "X-Robots-Tag") == "X-Robots-Tag: noai"
    assert skip_reason({"nofollow"}, "X-Robots-Tag") is None


def test_meta_robots_generic_and_agent_specific():
    page = ('<html><head><meta name="robots" content="index, follow"><meta name="otherbot" content="noindex">'
            '<meta name="MusicLake" content="noai"></head><body></body></html>')
    assert meta_opt_outs(make_session_ele(page), UA) == {"index", "follow", "noai"}
    page = '<html><head><meta name="robots" content="none"></head><body></body></html>'
    assert skip_reason(meta_opt_outs(make_session_ele(page), UA), "meta robots") == "meta robots: none"
