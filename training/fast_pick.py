"""One field's draw on the fast path, compiled (numba): the arithmetic of ``_NumpyHeads._pick`` in
:mod:`training.sample` in one call instead of six numpy calls (add the bias, temper, mask, the noise's log,
subtract, argmax), each a few microseconds of overhead on a vector of 9 to 129 values, four times a note.

The same float32 operations in the same order as the numpy expression it replaces
(``(logits + bias) / temperature + mask - log(noise)``, then the first largest), so a draw can differ from
it only where two values tie to the last bit of the noise's logarithm.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def pick(logits, bias, temperature, allowed, noise):  # pragma: no cover - compiled
    """Index of the largest ``(logits + bias) / temperature + allowed - log(noise)`` (all float32, same length;
    ``bias`` of length 0 for none), or -1 where no value is finite (nothing allowed, or NaN logits)."""
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
