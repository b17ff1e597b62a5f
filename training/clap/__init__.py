"""The CLAP-style text–music model: dual encoder, Ray Train fit, retrieval evaluation, lake embeddings, search.

    model.py       the two towers, the shared space, the symmetric InfoNCE (cross-rank gather)
    text.py        the byte-level BPE the text tower reads (EN, ZH, lyrics)
    data.py        gold pairs + REMI tokens at pinned versions, crops, Ray Datasets
    config.py      size presets (tiny / small / base) and the settings of a run
    task.py        the model as a training.loop.Task (the generic Ray Train loop): crops, text draw, loss
    train.py       fit on the loop, MLflow run, registration, lifecycle gates, lake embeddings
    evaluate.py    R@1 / R@10 / MRR per language vs chance and an attribute-matching baseline
    encoder.py     a trained model as an object (embed text, tokens, MIDI) and its MLflow pyfunc
    embeddings.py  gold_music_embeddings: every lake piece embedded per model version
    api.py         what serving uses: ClapModel.load(cfg, ref).embed_text / embed_music / zero_shot / rank / nearest
    cli.py         `musiclake clap train|evaluate|embed|search`, `musiclake search`
"""

__all__ = ["MODEL_NAME"]


def __getattr__(name: str):
    """``MODEL_NAME`` is training.registry.CLAP_MODEL_NAME ("musiclake-clap"), read on first use so that
    importing the model alone (training.clap.model) does not import MLflow."""
    if name == "MODEL_NAME":
        from training.registry import CLAP_MODEL_NAME

        return CLAP_MODEL_NAME
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
