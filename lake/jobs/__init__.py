"""The lake's Spark jobs: ``encode`` (bronze MIDI → silver scores, tokens, quarantine) and ``align`` (silver → gold pairs)."""
