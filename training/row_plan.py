"""How the rows of a batched sampling step are split into BLAS calls, so that a piece's numbers never depend
on the pieces stepped beside it, and as few padding rows as possible are computed.

:meth:`training.model.FastNoteModel.step_many` multiplies the rows of every piece in a step by each layer's
weights. BLAS picks its kernel by the shape of the call, and two kernels may round a row differently, so the
step used to pad the rows to a multiple of :data:`ROW_BLOCK` and multiply fixed 4-row blocks: the same kernel
for every row, whatever else was in the batch. Five pieces then cost eight rows of products.

Many row counts take the very kernel the 4-row block takes (OpenBLAS runs its general kernel for them; only
some sizes, such as one row, go to another path). :class:`RowPlan` finds out which, for each weight shape, by
multiplying test rows both ways at first use and keeping only the counts whose every number is bit-for-bit
the 4-row block's; it times the calls it may make and then, for each step's row count, picks the cheapest
way to cover it (with padding rows where they pay). Every way it may pick gives each row exactly the numbers
the 4-row blocks give, so the notes of every seed are the same as before, alone or batched; only the time
changes (figures in docs/models.md, "Fewer padding rows").

The check and the timings hold for the thread count they were made under: a plan is only used inside
:func:`training.model.one_blas_thread`, where it was made; elsewhere the step keeps the 4-row blocks.
"""
from __future__ import annotations

import time

import numpy as np

ROW_BLOCK = 4  # the reference: rows per product call the step's numbers are defined by
MAX_ROWS = 16  # row counts a single call is checked for (a step with more rows is split into several calls)
_TRIALS = 3  # random test inputs per weight shape (a different kernel differs on nearly every one)


def blocked(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``x @ w + b`` for rows x (n, K), n a multiple of :data:`ROW_BLOCK`, as one stacked product of
    ROW_BLOCK-row blocks: the reference every other split must equal."""
    n, k = x.shape
    out = np.matmul(x.reshape(n // ROW_BLOCK, ROW_BLOCK, k), w).reshape(n, w.shape[1])
    out += b
    return out


def _chunked(x: np.ndarray, w: np.ndarray, chunks: tuple[tuple[int, int], ...]) -> np.ndarray:
    out = np.empty((x.shape[0], w.shape[1]), dtype=np.float32)
    for a, c in chunks:
        np.matmul(x[a:c], w, out=out[a:c])
    return out


class RowPlan:
    """For the weights of one model (each layer's products): which row counts a single product call may take
    (:attr:`exact`), what each costs, and for each step size the padded row count and the calls.

    ``weights`` are the layer weights a step multiplies by (several may share a shape; a shape's check runs
    on the first of them); ``erf_width`` is the width of the rows ``torch.erf`` runs over in the step (the
    MLP's), whose per-call length must not change its numbers either (checked the same way)."""

    def __init__(self, weights: list[np.ndarray], erf_width: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.uses: dict[tuple[int, int], int] = {}
        first: dict[tuple[int, int], np.ndarray] = {}
        for w in weights:
            self.uses[w.shape] = self.uses.get(w.shape, 0) + 1
            first.setdefault(w.shape, w)
        self.exact = {shape: self._exact(w, rng) for shape, w in first.items()}
        self.cost = {shape: self._costs(first[shape], self.exact[shape], rng) for shape in first}
        self.erf_rows = self._erf_rows(erf_width, rng)  # rows one torch.erf call may take (see _erf_rows)
        self.free_padding = self.erf_rows > 0
        self._splits: dict[tuple[int, int], list[tuple[float, int]]] = {}
        self._padded: dict[int, int] = {}
        self._calls: dict[tuple[tuple[int, int], int], tuple[tuple[int, int], ...]] = {}

    @staticmethod
    def _exact(w: np.ndarray, rng) -> list[bool]:
        """``exact[m]``: a call of m rows gives every row exactly the numbers of the 4-row blocks (tested
        on rows at every offset a step may slice them at, fresh and as views)."""
        k = w.shape[0]
        exact = [False] + [True] * MAX_ROWS
        for _ in range(_TRIALS):
            x = rng.standard_normal((2 * MAX_ROWS, k), dtype=np.float32)
            ref = blocked(x, w, np.zeros(w.shape[1], dtype=np.float32))
            for m in range(1, MAX_ROWS + 1):
                for a in (0, 1, MAX_ROWS - m // 2):
                    if exact[m] and not np.array_equal(_chunked(x, w, ((a, a + m),))[a:a + m], ref[a:a + m]):
                        exact[m] = False
        exact[ROW_BLOCK] = True  # a 4-row call is the reference's own block
        return exact

    @staticmethod
    def _costs(w: np.ndarray, exact: list[bool], rng, repeats: int = 3, calls: int = 3) -> list[float]:
        """Seconds per call of m rows (the best of a few timings; inf where m is not exact)."""
        x = rng.standard_normal((MAX_ROWS, w.shape[0]), dtype=np.float32)
        out = np.empty((MAX_ROWS, w.shape[1]), dtype=np.float32)
        cost = [float("inf")] * (MAX_ROWS + 1)
        for m in range(1, MAX_ROWS + 1):
            if not exact[m]:
                continue
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                for _ in range(calls):
                    np.matmul(x[:m], w, out=out[:m])
                best = min(best, (time.perf_counter() - t0) / calls)
            cost[m] = best
        return cost

    @staticmethod
    def _erf_rows(width: int, rng) -> int:
        """How many rows one ``torch.erf`` call may take with each row's numbers those of a 4-row block call
        (its vector loop could end on a tail that depends on the length): MAX_ROWS where every count up to it
        is exact, ROW_BLOCK where only counts up to the block are, 0 where even a shorter block is not (the
        step then keeps whole blocks of rows, padding included)."""
        import torch

        v = rng.standard_normal((MAX_ROWS, width), dtype=np.float32) * 3
        ref = np.concatenate([torch.erf(torch.from_numpy(v[i:i + ROW_BLOCK])).numpy()
                              for i in range(0, MAX_ROWS, ROW_BLOCK)])
        exact = [np.array_equal(torch.erf(torch.from_numpy(v[:m])).numpy(), ref[:m]) for m in range(1, MAX_ROWS + 1)]
        if all(exact):
            return MAX_ROWS
        return ROW_BLOCK if all(exact[:ROW_BLOCK]) else 0

    def split(self, shape: tuple[int, int], n: int) -> tuple[float, tuple[tuple[int, int], ...]]:
        """(estimated seconds, calls as (first row, end row)) covering exactly n rows with exact call sizes,
        the cheapest by the timings (inf and no calls where none covers n)."""
        best = self._splits.setdefault(shape, [(0.0, 0)])  # per row count: (seconds, size of its first call)
        cost = self.cost[shape]
        for p in range(len(best), n + 1):  # bottom up, so a long prefill needs no recursion
            options = [(cost[m] + best[p - m][0], m) for m in range(1, min(p, MAX_ROWS) + 1) if cost[m] < float("inf")]
            best.append(min(options, default=(float("inf"), 0)))
        seconds, calls, a = best[n][0], [], 0
        while a < n and best[n - a][1]:
            m = best[n - a][1]
            calls.append((a, a + m))
            a += m
        return seconds, tuple(calls)

    def padded(self, n: int) -> int:
        """The row count a step of n rows computes: n itself, or up to the next multiple of the block where the
        padding rows make the products cheaper in all (always a multiple of the block when the erf check
        failed)."""
        got = self._padded.get(n)
        if got is None:
            whole = n + (-n % ROW_BLOCK)
            options = range(n, whole + 1) if self.free_padding else (whole,)
            got = min(options, key=lambda p: sum(self.split(s, p)[0] * k for s, k in self.uses.items()))
            self._padded[n] = got
        return got

    def dense(self, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``x @ w + b`` for the rows x (p, K), p a count :meth:`padded` gave: exactly :func:`blocked`'s rows."""
        calls = self._calls.get((w.shape, x.shape[0]))
        if calls is None:
            calls = self._calls[(w.shape, x.shape[0])] = self.split(w.shape, x.shape[0])[1]
        out = _chunked(x, w, calls)
        out += b
        return out
