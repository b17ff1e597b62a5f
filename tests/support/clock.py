"""A clock for politeness tests: time moves only when someone sleeps, so request spacing is exact."""


class FakeClock:
    """Time that moves only when someone sleeps: request spacing is then exact, not wall-clock luck."""

    def __init__(self):
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += max(0.0, s)
