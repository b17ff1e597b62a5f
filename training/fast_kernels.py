"""The sampler's compiled kernels (numba): the parts of :meth:`training.model.FastNoteModel.step_many` and of
a field's draw that numpy runs as many small calls, each a few microseconds of overhead at these sizes.

- :func:`attend`: one row's cached attention. Sampling steps one note of each piece at a time, so each row
  attends over its own piece's KV cache; in numpy that was nine small calls per row and layer (write the key
  and value, scores, max, exp, sum, weighted sum, divide, store), whose overhead, not their arithmetic, was
  a quarter of a sampling step for the POP909 preset.
- :func:`norm0` (a LayerNorm without its affine part) and :func:`rope` (the rotary positions of the queries
  and keys), each one call for all the rows of a step instead of five or six.
- :func:`pick`: one field's draw (bias, temperature, mask, the noise's log, argmax), four times a note.

In :func:`attend` each position's key and value are ``head_dim`` contiguous floats (:class:`FastCache`), so the scores are
one dot product per position and the weighted sum runs along rows of values, four positions per pass; the
compiler turns these loops into vector instructions and the rows stream from memory in order (a transposed
layout, positions contiguous, was slower in place: 48 short streams per head). The softmax's exponential is
written out (a degree-7 polynomial on ``[-ln2/2, ln2/2]`` times a power of two built from its exponent
bits; relative error under 1e-7 where float32 itself carries 6e-8) because a call to ``exp`` per score is
not vectorized. The figures are in docs/models.md ("The sampler's attention, compiled").

A row's numbers depend only on its own inputs (its cache, query and position): every loop runs over one
row in a fixed order, so a piece gets exactly the same numbers stepped alone or beside others (what
:class:`training.sample.BatchSampler` promises). ``fastmath`` lets the compiler split the sums into vector
lanes; the split depends on the loop's length only, so that still holds.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_FAST = {"reassoc", "contract", "nsz", "arcp"}


class FastCache:
    """One piece's keys and values on the fast path, each ``(n_layer, n_head, capacity, head_dim)`` float32,
    and how many positions are filled."""

    def __init__(self, n_layer: int, n_head: int, head_dim: int, capacity: int):
        self.k = np.zeros((n_layer, n_head, capacity, head_dim), dtype=np.float32)
        self.v = np.zeros_like(self.k)
        self.length = 0

    @property
    def kv(self) -> tuple[np.ndarray, np.ndarray]:
        return self.k, self.v

    def reset(self) -> None:
        self.length = 0


@njit(cache=True, nogil=True, fastmath=_FAST)
def attend(k_cache, v_cache, layer, t, q, k_new, v_new, out):  # pragma: no cover - compiled
    """Write ``k_new``/``v_new`` (H, D) at position ``t`` of ``layer`` in ``k_cache``/``v_cache``
    (n_layer, H, capacity, D), then ``out`` (H, D) = softmax(keys[:t+1] @ q) @ values[:t+1] per head; ``q``
    (H, D) already carries the 1/sqrt(D) scale."""
    n_head, dim = q.shape
    n = t + 1
    scores = np.empty(n, dtype=np.float32)
    bits = np.empty(n, dtype=np.int32)
    powers = bits.view(np.float32)  # 2^m for each score, written as float32 exponent bits
    acc = np.empty(dim, dtype=np.float32)
    for h in range(n_head):
        keys, values, qh = k_cache[layer, h], v_cache[layer, h], q[h]  # (capacity, D), (capacity, D), (D,)
        for d in range(dim):
            keys[t, d] = k_new[h, d]
            values[t, d] = v_new[h, d]
        for u in range(n):
            row = keys[u]
            s = np.float32(0.0)
            for d in range(dim):
                s += row[d] * qh[d]
            scores[u] = s
        top = scores[0]
        for u in range(1, n):
            top = max(top, scores[u])
        for u in range(n):  # exp(x) for x <= 0 as 2^m e^f, m = round(x / ln2), |f| <= ln2 / 2
            x = max(scores[u] - top, np.float32(-87.0))
            m = np.floor(x * np.float32(1.4426950408889634) + np.float32(0.5))
            f = x - m * np.float32(0.693359375) + m * np.float32(2.12194440e-4)  # ln2 in two parts
            p = np.float32(1.0 / 5040.0)
            p = p * f + np.float32(1.0 / 720.0)
            p = p * f + np.float32(1.0 / 120.0)
            p = p * f + np.float32(1.0 / 24.0)
            p = p * f + np.float32(1.0 / 6.0)
            p = p * f + np.float32(0.5)
            p = p * f + np.float32(1.0)
            p = p * f + np.float32(1.0)
            scores[u] = p
            bits[u] = (np.int32(m) + 127) << 23
        total = np.float32(0.0)
        for u in range(n):
            e = scores[u] * powers[u]
            scores[u] = e
            total += e
        for d in range(dim):
            acc[d] = 0.0
        u = 0
        while u + 4 <= n:  # four positions per pass: a quarter of the stores to acc and loads back
            w0, w1, w2, w3 = scores[u], scores[u + 1], scores[u + 2], scores[u + 3]
            r0, r1, r2, r3 = values[u], values[u + 1], values[u + 2], values[u + 3]
            for d in range(dim):
                acc[d] += (w0 * r0[d] + w1 * r1[d]) + (w2 * r2[d] + w3 * r3[d])
            u += 4
        while u < n:
            w0, r0 = scores[u], values[u]
            for d in range(dim):
                acc[d] += w0 * r0[d]
            u += 1
        inv = np.float32(1.0) / total
        for d in range(dim):
            out[h, d] = acc[d] * inv


@njit(cache=True, nogil=True, fastmath=_FAST)
def norm0(x, eps, out):  # pragma: no cover - compiled
    """``out`` = each row of ``x`` (n, C) less its mean, over its standard deviation (``eps`` inside the root)."""
    n, c = x.shape
    inv_c = np.float32(1.0) / np.float32(c)
    for i in range(n):
        row, dst = x[i], out[i]
        s = np.float32(0.0)
        for j in range(c):
            s += row[j]
        mean = s * inv_c
        s = np.float32(0.0)
        for j in range(c):
            d = row[j] - mean
            dst[j] = d
            s += d * d
        inv = np.float32(1.0) / np.sqrt(s * inv_c + np.float32(eps))
        for j in range(c):
            dst[j] *= inv
    return out


@njit(cache=True, nogil=True, fastmath=_FAST)
def rope(z, cos, sin, width, out):  # pragma: no cover - compiled
    """``out`` (n, width) = the first ``width`` columns of ``z`` (the queries and keys), each pair (a, b)
    turned to (a cos + b sin, b cos' + a sin') by its row's tables (n, width; the rotation's sign is in ``sin``)."""
    n = z.shape[0]
    for i in range(n):
        src, dst, c, s = z[i], out[i], cos[i], sin[i]
        for j in range(0, width, 2):
            a, b = src[j], src[j + 1]
            dst[j] = a * c[j] + b * s[j]
            dst[j + 1] = b * c[j + 1] + a * s[j + 1]
    return out


@njit(cache=True, nogil=True)
def pick(logits, bias, temperature, allowed, noise):  # pragma: no cover - compiled
    """Index of the largest ``(logits + bias) / temperature + allowed - log(noise)`` (all float32, same length;
    ``bias`` of length 0 for none), or -1 where no value is finite (nothing allowed, or NaN logits). The same
    float32 operations in the same order as that numpy expression, without ``fastmath``, so a draw can differ
    from numpy's only where two values tie to the last bit of the noise's logarithm."""
    n = logits.shape[0]
    has_bias = bias.shape[0] == n
    scale = np.float32(temperature)
    best = np.float32(-np.inf)
    at = -1
    for j in range(n):
        v = logits[j]
        if has_bias:
            v = v + bias[j]
        z = v / scale + allowed[j] - np.log(noise[j])
        if z != z:  # NaN: the draw is invalid, as torch.multinomial would say
            return -1
        if z > best:
            best, at = z, j
    return at


def warm() -> None:
    """Compile every kernel now (or read it from numba's cache), on tiny inputs of the types a sampling step
    passes, so that a process's first piece does not wait for the compiler (about 2 s on a machine where
    nothing is cached yet)."""
    cache = FastCache(1, 1, 2, 4)
    k, v = cache.kv
    row = np.zeros((1, 2), dtype=np.float32)
    attend(k, v, 0, 0, row, row, row, np.zeros((1, 2), dtype=np.float32))
    x = np.ones((4, 2), dtype=np.float32)
    norm0(x, 1e-5, np.empty_like(x))
    rope(np.ones((4, 6), dtype=np.float32), x, x, 2, np.empty((4, 2), dtype=np.float32))
    for bias_ro in (False, True):  # the masks and biases the sampler caches are read-only arrays: types of their own
        for allowed_ro in (False, True):
            bias, allowed = np.zeros(3, np.float32), np.zeros(3, np.float32)
            bias.flags.writeable, allowed.flags.writeable = not bias_ro, not allowed_ro
            pick(np.zeros(3, np.float32), bias, 1.0, allowed, np.ones(3, np.float32))
