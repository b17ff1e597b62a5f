"""A live progress line: counts and rate, redrawn in place on a terminal, one line every few seconds otherwise."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, total: int | None = None, unit: str = "items", every_s: float = 0.5, stream=None):
        self.label, self.total, self.unit = label, total, unit
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.every_s = every_s if self.tty else max(every_s, 5.0)
        self.done = 0
        self.counts: dict[str, int] = {}
        self.t0 = time.monotonic()
        self._last = 0.0

    def advance(self, n: int = 1, **counts: int) -> None:
        self.done += n
        for k, v in counts.items():
            self.counts[k] = self.counts.get(k, 0) + v
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self._draw(final=False)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.t0, 1e-9)
        total = f"/{self.total}" if self.total is not None else ""
        extra = "".join(f" {k}={v}" for k, v in self.counts.items())
        return f"{self.label}: {self.done}{total} {self.unit}{extra} | {self.done / elapsed:.1f} {self.unit}/s | {elapsed:.1f}s"

    def _draw(self, final: bool) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + self.line() + ("\n" if final else ""))
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def close(self) -> str:
        self._draw(final=True)
        return self.line()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
