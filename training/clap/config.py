"""Size presets of the CLAP model and the settings of one run: a preset plus ``config.clap`` overrides.

``tiny`` is for the tests and the demo (about a minute on 2 CPU cores over ~300 pieces), ``small``
for a workstation or a few GPUs over tens of thousands of pieces, ``base`` for a cluster over a
Lakh-sized lake. Everything a run depends on is in :class:`ClapSettings`, which is logged as the
run's params and hashed into its fingerprint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class ClapSettings:
    # model
    n_embd: int
    n_head: int
    music_layers: int
    text_layers: int
    embed_dim: int
    music_len: int
    text_len: int
    text_vocab_size: int
    dropout: float
    # optimisation
    batch_size: int  # pairs per worker and step; the loss sees batch_size * num_workers
    max_steps: int
    learning_rate: float
    weight_decay: float
    warmup_steps: int
    first_crop_prob: float  # else a crop from a random bar line
    # the run
    num_workers: int = 2
    use_gpu: bool = False
    mixed_precision: bool = False
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 100
    max_failures: int = 2

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, ClapSettings] = {
    "tiny": ClapSettings(n_embd=64, n_head=4, music_layers=2, text_layers=2, embed_dim=64, music_len=256,
                         text_len=64, text_vocab_size=2000, dropout=0.0, batch_size=16, max_steps=240,
                         learning_rate=2e-3, weight_decay=0.05, warmup_steps=20, first_crop_prob=0.5),
    "small": ClapSettings(n_embd=192, n_head=6, music_layers=4, text_layers=4, embed_dim=192, music_len=512,
                          text_len=96, text_vocab_size=8000, dropout=0.1, batch_size=32, max_steps=5000,
                          learning_rate=1e-3, weight_decay=0.1, warmup_steps=200, first_crop_prob=0.3),
    "base": ClapSettings(n_embd=384, n_head=8, music_layers=6, text_layers=6, embed_dim=256, music_len=1024,
                         text_len=128, text_vocab_size=16000, dropout=0.1, batch_size=64, max_steps=30000,
                         learning_rate=5e-4, weight_decay=0.1, warmup_steps=1000, first_crop_prob=0.3),
}

# Settings that do not change the model a run makes (how often to log or checkpoint, how to survive failures).
NOT_FINGERPRINTED = ("log_every", "checkpoint_every", "max_failures")


def settings_for(clap_cfg) -> ClapSettings:
    """The preset ``clap_cfg.preset`` with the run settings and overrides of ``config.clap``."""
    base = PRESETS[clap_cfg.preset]
    overrides = {k: getattr(clap_cfg, k) for k in ("max_steps", "batch_size", "learning_rate")
                 if getattr(clap_cfg, k) is not None}
    return replace(base, num_workers=clap_cfg.num_workers, use_gpu=clap_cfg.use_gpu,
                   mixed_precision=clap_cfg.mixed_precision, seed=clap_cfg.seed, log_every=clap_cfg.log_every,
                   checkpoint_every=clap_cfg.checkpoint_every, max_failures=clap_cfg.max_failures, **overrides)
