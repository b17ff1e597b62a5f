"""``python -m training.transfer_report``: folk tunes re-arranged in each style, measured from the notes.

The tunes are the first of each of the first ``--tunes`` Essen folk-song files bundled with music21 (German
folk songs in ABC), written out as MusicXML and read through the upload path (:mod:`serving.uploads`), so what is
measured is what a user uploading them gets. For each target style: how much of the melody survived
(:func:`training.transfer.melody_survival`), the style's marks before and after
(:func:`training.transfer.style_markers`), and the share of melody notes that are chord tones of the chords put
under them. With ``--clap champion``, the registered CLAP model's zero-shot probability of the target style and of
"folk", before and after.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from training.accompany import STYLES


def folk_tunes(n: int) -> list[tuple[str, bytes]]:
    """(name, MusicXML bytes) of ``n`` Essen folk songs."""
    from music21 import corpus
    from music21.musicxml.m21ToXml import GeneralObjectExporter

    paths = sorted(p for p in corpus.corpora.CoreCorpus().getPaths() if "essenFolksong" in str(p))
    out = []
    for p in paths:
        if len(out) >= n:
            break
        try:
            parsed = corpus.parse(str(p), number=1) if str(p).endswith(".abc") else corpus.parse(str(p))
            out.append((p.stem, GeneralObjectExporter(parsed).parse()))
        except Exception:  # noqa: BLE001 - a file music21 cannot read is skipped
            continue
    return out


def main(argv: list[str] | None = None) -> None:
    from lake.midi_features import Limits
    from serving.uploads import read_upload, upload_midi
    from training.harmonize import beat_melody_from_score
    from training.harmonize_eval import chord_tone_share
    from training.transfer import measure, transfer

    ap = argparse.ArgumentParser(prog="python -m training.transfer_report", description=__doc__.splitlines()[0])
    ap.add_argument("--tunes", type=int, default=20)
    ap.add_argument("--clap", default=None, help="also score the style zero-shot with this registered CLAP version "
                                                 "or alias (e.g. champion), before and after")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    clap = None
    if args.clap:
        from common.config import load_config
        from training.clap.api import ClapModel

        clap = ClapModel.load(load_config(), args.clap)
    tunes = folk_tunes(args.tunes)
    rows: dict[str, list[dict]] = {s: [] for s in STYLES}
    for _name, xml in tunes:
        midi, _ = upload_midi(xml, Limits())
        up = read_upload(midi, Limits())
        bm = beat_melody_from_score(up.score, up.melody)
        before = clap.zero_shot(midi)["style"] if clap else {}
        for style in STYLES:
            a = transfer(up.score, up.melody, style)
            m = measure(midi, a.midi)
            labels = [c.label for c in a.chords for _ in range(c.end - c.start)]
            if clap:  # the CLAP model's probability of the target style (a string quartet is "classical")
                target = "classical" if style == "string_quartet" else style
                after = clap.zero_shot(a.midi)["style"]
                clap_row = {"CLAP target before": before.get(target, 0.0), "CLAP target after": after.get(target, 0.0),
                            "CLAP folk before": before.get("folk", 0.0), "CLAP folk after": after.get("folk", 0.0)}
            else:
                clap_row = {}
            rows[style].append({"intervals": m["melody"]["intervals"], "onsets": m["melody"]["onsets"],
                                "swing before": m["before"]["swing"], "swing after": m["after"]["swing"],
                                "extended before": m["before"]["extended"], "extended after": m["after"]["extended"],
                                "chord tones": chord_tone_share(bm, labels),
                                "instruments": ", ".join(m["after"]["instruments"]), **clap_row})
    cols = ("intervals", "onsets", "swing before", "swing after", "extended before", "extended after", "chord tones")
    if clap:
        cols += ("CLAP target before", "CLAP target after", "CLAP folk before", "CLAP folk after")
    print(f"{len(tunes)} Essen folk tunes (music21's corpus) uploaded as MusicXML, re-arranged per style "
          "(means over the tunes)")
    print("| style | " + " | ".join(cols) + " | instruments after |")
    print("|---" * (len(cols) + 2) + "|")
    for style, rs in rows.items():
        if not rs:
            continue
        cells = [f"{np.mean([r[c] for r in rs]):.3f}" for c in cols]
        print(f"| {style} | " + " | ".join(cells) + f" | {rs[0]['instruments']} |")
    if clap:
        print(f"CLAP: {clap.name} v{clap.version} (asked for {args.clap!r}), zero-shot over the lake's styles")
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
