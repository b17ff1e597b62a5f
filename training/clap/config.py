"""Size presets of the CLAP model, and the settings of one run: a preset plus ``config.clap``.

``tiny`` is for the tests and the demo (about a minute on 2 CPU cores over ~300 pieces), ``small``
for a workstation or a few GPUs over tens of thousands of pieces, ``base`` for a cluster over a
Lakh-sized lake. :class:`ClapSettings` holds what the model is (sizes, crops, the optimiser's
schedule); the run-level knobs (workers, GPU, precision, checkpoints, failures) are the generic
loop's :class:`training.loop.TrainSettings`, read from ``config.clap``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class ClapSettings:
    # the towers
    n_embd: int
    n_head: int
    music_layers: int
    text_layers: int
    embed_dim: int
    music_len: int  # tokens per music clip
    text_len: int  # BPE tokens per text, [CLS] included
    text_vocab_size: int
    dropout: float
    # the data: crops per piece (the first one + some from random bars), drawn with this probability the first;
    # short attribute prompts per piece and language added to its training texts (training.clap.search_prompts)
    crops_per_piece: int
    first_crop_prob: float
    prompts_per_lang: int
    # the optimiser (the loop's schedule: warm-up, cosine decay to 10%)
    batch_size: int  # pairs per worker and step; the loss sees batch_size * num_workers
    max_steps: int
    learning_rate: float
    weight_decay: float
    warmup_steps: int

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, ClapSettings] = {
    "tiny": ClapSettings(n_embd=64, n_head=4, music_layers=2, text_layers=2, embed_dim=64, music_len=256,
                         text_len=64, text_vocab_size=2000, dropout=0.0, crops_per_piece=8, first_crop_prob=0.5,
                         prompts_per_lang=1, batch_size=16, max_steps=240, learning_rate=2e-3, weight_decay=0.05,
                         warmup_steps=20),
    "small": ClapSettings(n_embd=192, n_head=6, music_layers=4, text_layers=4, embed_dim=192, music_len=512,
                          text_len=96, text_vocab_size=8000, dropout=0.1, crops_per_piece=8, first_crop_prob=0.3,
                          prompts_per_lang=3, batch_size=32, max_steps=5000, learning_rate=1e-3, weight_decay=0.1,
                          warmup_steps=200),
    "base": ClapSettings(n_embd=384, n_head=8, music_layers=6, text_layers=6, embed_dim=256, music_len=1024,
                         text_len=128, text_vocab_size=16000, dropout=0.1, crops_per_piece=8, first_crop_prob=0.3,
                         prompts_per_lang=3, batch_size=64, max_steps=30000, learning_rate=5e-4, weight_decay=0.1,
                         warmup_steps=1000),
}

# Loop settings that do not change the model a run makes (the loop replays exactly after a restart).
NOT_FINGERPRINTED = ("storage_path", "log_every", "eval_every", "checkpoint_every", "keep_checkpoints", "max_failures",
                     "cpus_per_worker")


def settings_for(clap_cfg) -> ClapSettings:
    """The preset ``clap_cfg.preset`` with the steps, batch and learning rate ``config.clap`` sets."""
    overrides = {k: getattr(clap_cfg, k) for k in ("max_steps", "batch_size", "learning_rate")
                 if getattr(clap_cfg, k) is not None}
    return replace(PRESETS[clap_cfg.preset], **overrides)


def train_settings(cfg, settings: ClapSettings, batch_size: int | None = None):
    """The generic loop's settings for a CLAP run: ``config.clap`` knobs, the preset's schedule."""
    from training.loop import TrainSettings

    return TrainSettings.from_section(
        cfg.clap, storage_path=cfg.train.storage_path, max_steps=settings.max_steps,
        batch_size=batch_size or settings.batch_size, learning_rate=settings.learning_rate,
        warmup_steps=settings.warmup_steps, weight_decay=settings.weight_decay)
