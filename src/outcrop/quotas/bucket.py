"""A token bucket refilled continuously: a per-minute quota of N holds at most N and regains N/60
every second, so a burst may spend the whole minute at once and then waits for the refill, with no
edge at the top of each minute where a fixed window would let twice the quota through."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Bucket:
    capacity: float
    per_second: float
    level: float
    updated: float  # the clock's time of the last refill

    @classmethod
    def full(cls, capacity: int, period_seconds: float, now: float) -> Bucket:
        return cls(float(capacity), capacity / period_seconds, float(capacity), now)

    def refill(self, now: float) -> float:
        """The level now (refilled since the last look, never above capacity)."""
        if now > self.updated:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.per_second)
            self.updated = now
        return self.level

    def seconds_until(self, amount: float, now: float) -> float:
        """How long until ``amount`` is there (infinity for more than the bucket holds)."""
        if amount > self.capacity:
            return float("inf")
        missing = amount - self.refill(now)
        return max(0.0, missing / self.per_second)

    def take(self, amount: float) -> None:
        self.level -= amount

    def give(self, amount: float) -> None:
        """Return an unused reservation (or, negative, charge more than was reserved)."""
        self.level = min(self.capacity, self.level + amount)
