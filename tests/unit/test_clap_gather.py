"""The cross-rank gather of the CLAP loss, in two real gloo processes (this module imports only torch and the model)."""

import math
import os
import socket

import torch

from training.clap.model import clip_loss


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rank_grads(rank: int, world: int, port: int, out_dir: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    w = torch.randn(6, 4, requires_grad=True)  # the same "model" on every rank
    x, y = torch.randn(8, 6), torch.randn(8, 6)  # the global batch; this rank takes its half
    rows = slice(rank * 4, rank * 4 + 4)
    m = torch.nn.functional.normalize(x[rows] @ w, dim=-1)
    t = torch.nn.functional.normalize(y[rows] @ w, dim=-1)
    loss = clip_loss(m, t, torch.tensor(5.0))
    loss.backward()
    dist.all_reduce(w.grad)  # what DDP does (then divides by world)
    torch.save({"grad": w.grad / world, "loss": loss.detach()}, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def test_cross_rank_gather_gives_the_gradient_of_the_global_batch(tmp_path):
    torch.multiprocessing.spawn(_rank_grads, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    torch.manual_seed(0)
    w = torch.randn(6, 4, requires_grad=True)
    x, y = torch.randn(8, 6), torch.randn(8, 6)
    m = torch.nn.functional.normalize(x @ w, dim=-1)
    t = torch.nn.functional.normalize(y @ w, dim=-1)
    logits = 5.0 * m @ t.T
    labels = torch.arange(8)
    # the mean over ranks of each rank's local loss is the mean over all 8 rows of the global matrix
    full = (torch.nn.functional.cross_entropy(logits, labels) + torch.nn.functional.cross_entropy(logits.T, labels)) / 2
    full.backward()
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert torch.allclose(r0["grad"], w.grad, atol=1e-5) and torch.allclose(r1["grad"], w.grad, atol=1e-5)
    assert math.isclose(float(r0["loss"] + r1["loss"]) / 2, float(full.detach()), rel_tol=1e-5)
