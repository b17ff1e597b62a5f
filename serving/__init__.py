"""Serving: the Ray Serve app (page + ``/v1`` API) and what guards and keeps its outputs.

``api`` (the HTTP shapes, defined once), ``app`` (the Serve deployment and routes), ``gate`` (key,
body and deadlines before any route), ``guard`` (keys, rate limits, admission), ``store`` and
``retention`` (pieces, records, uploads and how long they stay), ``files`` (sending a stored file),
``render`` (WAV, MusicXML, piano roll, score), ``uploads`` (a client's MIDI melody), ``cli`` and
``pieces_cli`` (the commands), ``bench`` (latency and load figures).
"""
