"""The CLAP-style text–music model: dual encoder, Ray Train fit, retrieval evaluation, lake embeddings, search.

    model.py       the two towers, the shared space, the symmetric InfoNCE (cross-rank gather)
    text.py        the byte-level BPE the text tower reads (EN, ZH, lyrics)
    data.py        gold pairs + REMI tokens at pinned versions, crops, Ray Datasets
    config.py      size presets (tiny / small / base) and the settings of a run
    train.py       Ray Train TorchTrainer fit, MLflow run, registration, challenger -> champion
    evaluate.py    R@1 / R@10 / MRR per language vs chance and an attribute-matching baseline
    encoder.py     a trained model as an object (embed text, tokens, MIDI) and its MLflow pyfunc
    embeddings.py  gold_music_embeddings: every lake piece embedded per model version
    api.py         what serving uses: ClapModel.load(cfg, ref).embed_text / embed_music / zero_shot / rank / nearest
    cli.py         `musiclake clap train|evaluate|embed|search`, `musiclake search`
"""

MODEL_NAME = "musiclake-clap"
