"""Faults for the training loop's tests: a worker that dies at a chosen step, once."""

from __future__ import annotations

import os

import torch


class DieAt:
    """Wraps a :class:`training.loop.Task`; rank ``rank`` exits the process at training step ``step``.

    Only once: the worker writes ``marker`` just before it dies, and a task that finds the marker
    never dies again, so the restarted (or resumed) run goes through.
    """

    def __init__(self, inner, step: int, rank: int, marker: str):
        self.inner, self.step, self.rank, self.marker = inner, step, rank, marker
        self.name = inner.name

    def build_model(self):
        return self.inner.build_model()

    def loss(self, model, batch):
        import ray.train

        from training.loop import current_step

        if (torch.is_grad_enabled() and current_step() == self.step and not os.path.exists(self.marker)
                and ray.train.get_context().get_world_rank() == self.rank):
            with open(self.marker, "w") as f:
                f.write(f"rank {self.rank} died at step {self.step}\n")
            os._exit(1)
        return self.inner.loss(model, batch)

    def checkpoint_extra(self):
        return self.inner.checkpoint_extra()
