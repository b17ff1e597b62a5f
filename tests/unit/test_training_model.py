"""The generator network: shapes, gradients, PAD-free loss, learning, and constrained sampling."""

import torch
import torch.nn.functional as F

from training.model import GeneratorConfig, MusicTransformer

CFG = GeneratorConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, n_embd=32, dropout=0.0, pad_id=0)


def _model(cfg=CFG):
    torch.manual_seed(0)
    return MusicTransformer(cfg)


def test_forward_shapes_and_backward_reaches_every_parameter():
    model = _model()
    idx = torch.randint(1, CFG.vocab_size, (3, CFG.block_size))
    logits, loss = model(idx)
    assert logits.shape == (3, CFG.block_size, CFG.vocab_size) and loss is None
    _, loss = model(idx[:, :-1], idx[:, 1:])
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None and torch.any(p.grad != 0) for p in model.parameters())


def test_pad_targets_do_not_count_in_the_loss():
    model = _model().eval()
    x = torch.randint(3, CFG.vocab_size, (2, 10))
    y = torch.randint(3, CFG.vocab_size, (2, 10))
    y[:, 6:] = CFG.pad_id
    logits, loss = model(x, y)
    expected = F.cross_entropy(logits[:, :6].reshape(-1, CFG.vocab_size), y[:, :6].reshape(-1))
    assert torch.allclose(loss, expected, atol=1e-6)


def test_sequences_longer_than_the_block_are_refused():
    model = _model()
    try:
        model(torch.zeros(1, CFG.block_size + 1, dtype=torch.long))
    except ValueError as e:
        assert "block_size" in str(e)
    else:
        raise AssertionError("an over-long sequence was accepted")


def test_loss_falls_when_overfitting_one_batch():
    model = _model()
    batch = torch.randint(1, CFG.vocab_size, (4, CFG.block_size + 1))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        _, loss = model(batch[:, :-1], batch[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_generate_obeys_the_mask_the_stop_and_keeps_the_prefix():
    model = _model().eval()
    mask = torch.zeros(CFG.vocab_size, dtype=torch.bool)
    mask[:20] = True  # only ids 20..39 may be sampled
    prefix = torch.tensor([[1, 2, 3]])
    out = model.generate(prefix, max_new_tokens=40, top_k=5, logits_mask=mask, keep_prefix=3,
                         generator=torch.Generator().manual_seed(1))
    assert out.shape == (1, 43) and out[0, :3].tolist() == [1, 2, 3]
    assert bool((out[0, 3:] >= 20).all())

    seen = []
    stopped = model.generate(prefix, max_new_tokens=40, logits_mask=mask,
                             stop=lambda t: seen.append(t) or len(seen) == 5,
                             generator=torch.Generator().manual_seed(1))
    assert stopped.shape == (1, 8) and stopped[0, 3:].tolist() == seen


def test_generate_is_deterministic_for_a_seed():
    model = _model().eval()
    prefix = torch.tensor([[1, 2]])
    a, b, c = (model.generate(prefix, 12, generator=torch.Generator().manual_seed(s)) for s in (7, 7, 8))
    assert torch.equal(a, b) and not torch.equal(a, c)
