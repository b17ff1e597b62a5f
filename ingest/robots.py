"""Consent signals a site gives crawlers: robots.txt, ``X-Robots-Tag`` headers, ``<meta name="robots">``.

* :func:`parse_robots` reads a robots.txt (RFC 9309) leniently: lines it cannot read are ignored,
  never fatal, so a malformed file costs at most its own broken lines. The group for our product
  token wins over ``*``; within a group the longest matching rule decides (``Allow`` on a tie);
  ``*`` and ``$`` work as in the RFC; ``Crawl-delay`` is kept.
* :func:`header_opt_outs` and :func:`meta_opt_outs` return the directives (``noai``, ``noindex``,
  ``none``, ``nofollow``, ...) that apply to us, plain or scoped to our user agent
  (``X-Robots-Tag: musiclake: noai``, ``<meta name="musiclake" content="noai">``).

The product token is the user agent's first word before ``/`` (``musiclake-crawler``); a record for
agent ``X`` applies to us when ``X`` is part of that token, as Python's ``urllib.robotparser`` does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309 asks crawlers to read at least 500 KiB
SKIP_DIRECTIVES = ("noai", "noindex", "none")  # the content must not be taken
NOFOLLOW_DIRECTIVES = ("nofollow", "none")  # the page's links must not be followed
_VALUED = {"max-snippet", "max-image-preview", "max-video-preview", "unavailable_after"}


def product_token(user_agent: str) -> str:
    return (user_agent.split("/")[0].split() or [""])[0].lower()


def _agent_matches(agent: str, token: str) -> bool:
    agent = agent.strip().lower()
    return bool(agent) and agent != "*" and agent in token


@dataclass(frozen=True)
class Rule:
    allow: bool
    pattern: str
    _regex: re.Pattern = field(compare=False, repr=False)

    @classmethod
    def make(cls, allow: bool, pattern: str) -> "Rule":
        anchored = pattern.endswith("$")
        body = pattern[:-1] if anchored else pattern
        regex = ".*".join(re.escape(_norm(part)) for part in body.split("*"))
        return cls(allow, pattern, re.compile(regex + ("$" if anchored else ""), re.S))

    def length(self) -> int:
        return len(self.pattern)


def _norm(path: str) -> str:
    """Percent-decode for comparison (``%7E`` and ``~`` are the same path), keeping ``%2F`` distinct."""
    return unquote(path.replace("%2F", "%252F").replace("%2f", "%252F"))


@dataclass
class RobotsRules:
    rules: list[Rule] = field(default_factory=list)
    crawl_delay: float | None = None
    disallow_all_reason: str | None = None  # robots.txt unreachable: RFC 9309 says assume complete disallow
    notes: list[str] = field(default_factory=list)  # lines that could not be read

    def allowed(self, url: str) -> bool:
        return self.blocking_rule(url) is None

    def blocking_rule(self, url: str) -> str | None:
        """The rule text that forbids ``url`` (for the skip reason), else None."""
        if self.disallow_all_reason:
            return self.disallow_all_reason
        parts = urlsplit(url)
        path = _norm((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
        if path == "/robots.txt":
            return None
        best: Rule | None = None
        for rule in self.rules:
            if rule.pattern and rule._regex.match(path):
                if best is None or rule.length() > best.length() or (rule.length() == best.length() and rule.allow):
                    best = rule
        if best is None or best.allow:
            return None
        return f"Disallow: {best.pattern}"


ALLOW_ALL = RobotsRules()


def parse_robots(text: str | bytes, user_agent: str) -> RobotsRules:
    """The rules of a robots.txt that apply to ``user_agent``; unreadable lines are noted and skipped."""
    if isinstance(text, bytes):
        text = text[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace")
    token = product_token(user_agent)
    groups: list[tuple[list[str], list[Rule], list[float]]] = []
    agents: list[str] = []
    rules: list[Rule] = []
    delays: list[float] = []
    in_rules = False
    notes: list[str] = []
    for no, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if ":" not in line:
            notes.append(f"line {no}: no 'field: value'")
            continue
        key, value = (s.strip() for s in line.split(":", 1))
        key = key.lower().replace("_", "-")
        if key in ("user-agent", "useragent"):
            if in_rules:  # a user-agent after rules opens a new group
                groups.append((agents, rules, delays))
                agents, rules, delays, in_rules = [], [], [], False
            agents.append(value)
        elif key in ("allow", "disallow"):
            if not agents:
                notes.append(f"line {no}: {key} before any user-agent")
                continue
            in_rules = True
            if value:  # an empty Disallow allows everything: no rule
                rules.append(Rule.make(key == "allow", value if value.startswith(("/", "*")) else "/" + value))
        elif key == "crawl-delay":
            in_rules = True
            try:
                delay = float(value)
                if delay < 0 or delay != delay or delay == float("inf"):
                    raise ValueError
                delays.append(delay)
            except ValueError:
                notes.append(f"line {no}: crawl-delay {value[:40]!r} is not a number of seconds")
        elif key == "sitemap":
            continue
        else:
            notes.append(f"line {no}: unknown field {key[:40]!r}")
    if agents:
        groups.append((agents, rules, delays))

    mine = [g for g in groups if any(_agent_matches(a, token) for a in g[0])]
    if not mine:
        mine = [g for g in groups if any(a.strip() == "*" for a in g[0])]
    merged = RobotsRules(notes=notes)
    for _, group_rules, group_delays in mine:  # several groups for the same agent are merged (RFC 9309 2.2.1)
        merged.rules.extend(group_rules)
        if group_delays:
            merged.crawl_delay = max(merged.crawl_delay or 0.0, *group_delays)
    return merged


def _directives(values: list[str], token: str) -> set[str]:
    """Directives for us from ``X-Robots-Tag``-style values: ``noai, noindex`` or ``agent: noai, ...``."""
    found: set[str] = set()
    for value in values:
        scope_mine = True  # unscoped directives apply to every crawler
        for item in value.split(","):
            item = item.strip().lower()
            if not item:
                continue
            m = re.match(r"^([a-z0-9_.\-]+)\s*:\s*(.*)$", item)
            if m and m.group(1) not in _VALUED:
                scope_mine = _agent_matches(m.group(1), token)
                item = m.group(2).strip()
                if not item:
                    continue
            if scope_mine:
                found.add(item.split(":", 1)[0].strip())
    return found


def header_opt_outs(headers, user_agent: str) -> set[str]:
    """Directives of the response's ``X-Robots-Tag`` headers that apply to ``user_agent``."""
    values = headers.get_all("x-robots-tag") if hasattr(headers, "get_all") else None
    if values is None:
        value = headers.get("x-robots-tag")
        values = [value] if value else []
    return _directives(values, product_token(user_agent))


def meta_opt_outs(root, user_agent: str) -> set[str]:
    """Directives of ``<meta name="robots">`` and ``<meta name="<our token>">`` in a parsed page."""
    token = product_token(user_agent)
    values = []
    for meta in root.eles("xpath://meta[@name]"):
        name = (meta.attr("name") or "").strip().lower()
        if name == "robots" or _agent_matches(name, token):
            values.append(meta.attr("content") or "")
    return _directives(values, token)


def skip_reason(directives: set[str], where: str) -> str | None:
    hits = sorted(d for d in directives if d in SKIP_DIRECTIVES)
    return f"{where}: {', '.join(hits)}" if hits else None
