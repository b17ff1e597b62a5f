"""Ingest: a local score site from music21's corpus, and the Ray + DrissionPage crawler that lands
MIDI files, lyrics pages and crawl errors in the bronze Delta tables.

Data flow: ``score_site`` (what to crawl) -> ``frontier`` (what next) -> ``fetch`` + ``parse`` (in Ray
actors) -> ``landing`` (bronze tables via ``lake.delta.Lake``); ``crawler.run_ingest`` wires them.
"""
