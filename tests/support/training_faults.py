"""Faults for the training loop's tests: a worker that dies at chosen steps, once each."""

from __future__ import annotations

import os

import torch


class DieAt:
    """Wraps a :class:`training.loop.Task`; rank ``rank`` exits its process at each training step in ``steps``.

    Once per step: the worker writes ``marker_dir/died-at-<step>`` just before it dies, and a task
    that finds that marker goes on, so the restarted (or resumed) run gets past that step.
    """

    def __init__(self, inner, steps: tuple[int, ...], rank: int, marker_dir: str):
        self.inner, self.steps, self.rank, self.marker_dir = inner, tuple(steps), rank, str(marker_dir)
        self.name = inner.name

    def marker(self, step: int) -> str:
        return os.path.join(self.marker_dir, f"died-at-{step}")

    def build_model(self):
        return self.inner.build_model()

    def loss(self, model, batch):
        import ray.train

        from training.loop import current_step

        step = current_step()
        if (torch.is_grad_enabled() and step in self.steps and not os.path.exists(self.marker(step))
                and ray.train.get_context().get_world_rank() == self.rank):
            with open(self.marker(step), "w") as f:
                f.write(f"rank {self.rank} died at step {step}\n")
            os._exit(1)
        return self.inner.loss(model, batch)

    def checkpoint_extra(self):
        return self.inner.checkpoint_extra()
