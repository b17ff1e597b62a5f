"""musiclake: the shell around the stages (config at the bottom, CLI and demo at the top)."""
__version__ = "0.1.0"
