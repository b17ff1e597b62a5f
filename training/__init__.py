"""Training: the generator (a conditioned decoder-only transformer) and the CLAP text-music model.

Both are fit with Ray Train on the lake's gold tables, evaluated from the notes they write, gated and
registered in MLflow (``lifecycle``, ``registry``). The sampler (``sample``, ``request``, ``arranger``)
turns a request into a piece; ``prompts`` maps a prompt to style attributes; ``clap/`` is the
text-music model; ``evaluate`` / ``eval_cli`` measure a version.
"""
