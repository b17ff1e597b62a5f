"""Serving: prompt → style attributes by readable rules, and a Ray Serve endpoint that generates MIDI."""
