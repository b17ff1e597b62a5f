"""Ingest: getting music and its words into the bronze Delta tables, by crawling sites and by importing files.

Crawling (``musiclake ingest run``):

* ``crawler``: the crawl itself: Ray fetch actors pull per-host batches from a persisted frontier
  while the driver walks the links and lands what comes back (:func:`crawler.run_ingest`).
* ``frontier``: the breadth-first frontier, partitioned by host, with its depth, page and domain limits.
* ``frontier_store``: that frontier persisted in Delta (``ingest_frontier``), so a killed crawl resumes.
* ``fetch``: one URL fetched with a DrissionPage ``SessionPage``, safely (host checks, caps on bytes
  and time, redirects checked hop by hop) and judged (a MIDI that is not one, an opt-out).
* ``parse``: links to follow and clean lyrics text, read from HTML with DrissionPage locators.
* ``politeness``: robots.txt consent and the per-host rate and concurrency, shared by every fetch
  actor through one named Ray actor.
* ``robots``: reading robots.txt, ``X-Robots-Tag`` headers and ``<meta name="robots">``.

Importing (``musiclake ingest import``):

* ``importers``: folders and tar/zip archives of MIDI files, and MidiCaps-style caption sets.
* ``annotated``: POP909-style sets, whose label files (beats, chords, keys, track roles) become
  ``bronze_annotations`` rows.

Shared by both:

* ``landing``: the exactly-once landing of outcomes in the bronze tables through :class:`lake.delta.Lake`.
* ``lock``: one ingest at a time per source, a lease kept in ``bronze_ingest_leases``.
* ``cli``: the ``musiclake ingest`` commands (run, import, log, and the local score site's build and serve).
* ``bench``: ``make bench-ingest``, files/s and MB/s landed by the real crawler.

The local score site the demo crawls is :mod:`common.score_site`.
"""
