"""Pick pieces from music21's bundled corpus and export them to MIDI: the demo site's content.

The corpus is real music that nobody here wrote: Bach chorales with their German texts, Chinese
folk songs of the Essen collection, Irish dance tunes (O'Neill 1850, Ryan's Mammoth), a few
classical movements and two lead sheets. Selection is deterministic (fixed per-group order), so a
given ``limit`` always yields the same pieces; a piece that fails to export is skipped, logged and
replaced by the next one of its group.
"""

from __future__ import annotations

import logging
import random
import re
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from musiclake.progress import Progress

log = logging.getLogger(__name__)

# Share of the site per group, in fill order: when a group runs out, the next ones take its place.
GROUP_SHARES = (("bach", 0.45), ("china", 0.20), ("irish", 0.20), ("classical", 0.10), ("songs", 0.05))
CLASSICAL_MAX_BYTES = 25_000  # bigger movements take many seconds each to export
EXPORT_WORKERS = 2


@dataclass(frozen=True)
class Candidate:
    group: str
    corpus_path: str  # relative to music21's corpus root
    number: int | None  # tune number inside an ABC collection file
    slug: str  # unique across the whole site
    collection: str
    style: str
    language: str | None  # of the lyrics, when the piece has any
    title: str | None = None  # known title; else the score's metadata, else the lyrics' incipit
    default_title: str = "Untitled"  # when none of those exists
    suffix: str = ""  # appended to the title, e.g. " (BWV 10.7)"


def _corpus_root() -> Path:
    from music21 import corpus

    return Path(corpus.__file__).parent


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _tune_numbers(abc_file: Path) -> list[int]:
    return [int(m) for m in re.findall(r"^X:\s*(\d+)", abc_file.read_text(errors="replace"), flags=re.M)]


def _shuffled(items: list, group: str) -> list:
    random.Random(f"musiclake-site-{group}").shuffle(items)
    return items


def _bach(root: Path) -> list[Candidate]:
    from music21.corpus import chorales

    titles = chorales.ChoraleList().byBWV
    out = []
    for path in sorted((root / "bach").glob("bwv*.mxl")):
        bwv = path.stem[3:]
        known = titles.get(int(bwv)) if bwv.isdigit() else None
        out.append(Candidate("bach", f"bach/{path.name}", None, _slug(path.stem), "bach-chorales", "classical", "de",
                             title=known["title"] if known else None, default_title="Chorale",
                             suffix=f" (BWV {bwv})"))
    return _shuffled(out, "bach")


def _china(root: Path) -> list[Candidate]:
    out = []
    for name in ("han1", "han2"):
        for n in _tune_numbers(root / "essenFolksong" / f"{name}.abc"):
            out.append(Candidate("china", f"essenFolksong/{name}.abc", n, f"{name}-{n:03d}", "essen-china", "folk", None))
    return _shuffled(out, "china")


def _irish(root: Path) -> list[Candidate]:
    oneills, seen = [], set()
    for abc in sorted((root / "oneills1850").glob("*.abc")):
        for n in _tune_numbers(abc):
            if n not in seen:  # some files hold a second transcription of the same tunes
                seen.add(n)
                oneills.append(Candidate("irish", f"oneills1850/{abc.name}", n, f"oneills-{n:04d}", "oneills-1850",
                                         "folk", None))
    ryans = [Candidate("irish", f"ryansMammoth/{p.name}", None, "ryans-" + _slug(re.sub(r"(?<!^)(?=[A-Z])", " ", p.stem)),
                       "ryans-mammoth", "folk", None)
             for p in sorted((root / "ryansMammoth").glob("*.abc"))]
    _shuffled(oneills, "oneills")
    _shuffled(ryans, "ryans")
    mixed = [c for pair in zip(oneills, ryans) for c in pair]
    return mixed + oneills[len(ryans):] + ryans[len(oneills):]


_COMPOSERS = {"mozart": ("Mozart", None), "haydn": ("Haydn", None), "beethoven": ("Beethoven", None),
              "schumann_robert": ("Schumann", "de"), "handel": ("Handel", "it")}


def _classical(root: Path) -> list[Candidate]:
    out = []
    for folder, (composer, language) in _COMPOSERS.items():
        for path in sorted((root / folder).rglob("*.mxl")):
            if path.stat().st_size > CLASSICAL_MAX_BYTES:
                continue
            rel = path.relative_to(root).with_suffix("")
            work = ", ".join(re.sub(r"movement(\d)", r"movement \1", part.replace("_", " ")) for part in rel.parts[1:])
            work = re.sub(r"\bk(\d)", r"K\1", work)
            out.append((path.stat().st_size, Candidate("classical", str(path.relative_to(root)), None,
                                                       _slug(str(rel)), "classical", "classical", language,
                                                       title=f"{composer}: {work}")))
    return [c for _, c in sorted(out, key=lambda sc: (sc[0], sc[1].slug))]  # smallest (fastest) first


def _songs(root: Path) -> list[Candidate]:
    return [c for c in (
        Candidate("songs", "leadSheet/berlinAlexandersRagtime.mxl", None, "alexanders-ragtime-band", "lead-sheets",
                  "jazz", "en", title="Alexander's Ragtime Band"),
        Candidate("songs", "leadSheet/fosterBrownHair.mxl", None, "jeanie-with-the-light-brown-hair", "lead-sheets",
                  "pop", "en", title="Jeanie with the Light Brown Hair"),
        Candidate("songs", "joplin/maple_leaf_rag.mxl", None, "maple-leaf-rag", "ragtime", "jazz", None,
                  title="Maple Leaf Rag"),
    ) if (root / c.corpus_path).exists()]


def catalog() -> dict[str, list[Candidate]]:
    """Every candidate piece per group, in the deterministic order the site takes them."""
    root = _corpus_root()
    groups = {"bach": _bach(root), "china": _china(root), "irish": _irish(root),
              "classical": _classical(root), "songs": _songs(root)}
    slugs = [c.slug for cands in groups.values() for c in cands]
    if len(slugs) != len(set(slugs)):
        raise RuntimeError("corpus catalog: two candidates share a slug")
    return groups


def quotas(limit: int, available: dict[str, int]) -> dict[str, int]:
    """Pieces per group for ``limit`` (largest remainder), capped by what each group has."""
    raw = {g: limit * share for g, share in GROUP_SHARES}
    out = {g: int(v) for g, v in raw.items()}
    for g in sorted(raw, key=lambda g: raw[g] - out[g], reverse=True)[:limit - sum(out.values())]:
        out[g] += 1
    spare = 0
    for g in out:
        if out[g] > available.get(g, 0):
            spare += out[g] - available.get(g, 0)
            out[g] = available.get(g, 0)
    for g, _ in GROUP_SHARES:
        take = min(spare, available.get(g, 0) - out[g])
        out[g] += take
        spare -= take
    return out


def lyric_lines(assembled: str) -> list[str]:
    """music21's assembled lyrics (one line per verse) as short lines, split after phrase punctuation."""
    lines = []
    for verse in assembled.splitlines():
        for phrase in re.split(r"(?<=[;:.!?])\s+", verse):
            phrase = " ".join(phrase.split())
            if phrase:
                lines.append(phrase)
    return lines


def export_piece(c: Candidate, dest: str) -> dict:
    """Parse one corpus piece and write it as MIDI to ``dest``; runs in a worker process."""
    from music21 import corpus, text

    try:
        score = corpus.parse(c.corpus_path, number=c.number)
        lines = lyric_lines(text.assembleAllLyrics(score))
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        score.write("midi", fp=dest)
    except Exception as e:  # music21 raises many kinds; any of them means "skip this piece"
        message = re.sub(r",? ?(id\(\)=\d+|0x[0-9a-f]+)", "", str(e))  # no memory addresses: stable manifests
        return {"error": f"{type(e).__name__}: {message[:200]}"}
    incipit = " ".join(re.split(r"[;:.,!?]", lines[0])[0].split()[:6]) if lines else None
    title = c.title or (score.metadata.title if score.metadata else None) or incipit or c.default_title
    return {"title": " ".join((title + c.suffix).split()), "lyrics": lines}


def export_pieces(limit: int, midi_dir: Path, workers: int = EXPORT_WORKERS) -> tuple[list[dict], list[dict]]:
    """Export ``limit`` pieces under ``midi_dir/<collection>/<slug>.mid``; returns (pieces, skipped)."""
    groups = catalog()
    want = quotas(limit, {g: len(c) for g, c in groups.items()})
    order = {c: (gi, i) for gi, cands in enumerate(groups.values()) for i, c in enumerate(cands)}
    queues = {g: iter(cands[want[g]:]) for g, cands in groups.items()}  # replacements, in order
    done: dict[Candidate, dict] = {}
    skipped: list[dict] = []

    def dest(c: Candidate) -> Path:
        return midi_dir / c.collection / f"{c.slug}.mid"

    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool, \
            Progress("site export", total=limit, unit="pieces") as progress:
        pending: dict[Future, Candidate] = {}

        def submit(c: Candidate) -> None:
            pending[pool.submit(export_piece, c, str(dest(c)))] = c

        def replace(group: str) -> None:
            for g in [group] + [g for g, _ in GROUP_SHARES if g != group]:
                nxt = next(queues[g], None)
                if nxt is not None:
                    submit(nxt)
                    return

        for g, cands in groups.items():
            for c in cands[:want[g]]:
                submit(c)
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                c = pending.pop(fut)
                result = fut.result()
                if "error" in result:
                    log.warning("site export: skipping %s #%s: %s", c.corpus_path, c.number, result["error"])
                    skipped.append({"corpus_path": c.corpus_path, "number": c.number, "error": result["error"]})
                    dest(c).unlink(missing_ok=True)
                    progress.advance(0, skipped=1)
                    replace(c.group)
                else:
                    done[c] = result
                    progress.advance(1)

    pieces = []
    for c in sorted(done, key=order.__getitem__):
        pieces.append({"slug": c.slug, "title": done[c]["title"], "style": c.style, "collection": c.collection,
                       "midi": dest(c).relative_to(midi_dir.parent).as_posix(), "language": c.language,
                       "lyrics": done[c]["lyrics"], "corpus_path": c.corpus_path, "number": c.number})
    return pieces, skipped
