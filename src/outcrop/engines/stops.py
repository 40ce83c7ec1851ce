"""Stop-sequence matching over streamed text.

Text that could still turn into a stop sequence is held back until it is clear, so a client
never sees half of a stop sequence, and the stop sequence itself is never emitted (as on AWS).
"""

from __future__ import annotations


class StopMatcher:
    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self._held = ""

    def feed(self, text: str) -> tuple[str, str | None]:
        """Return (text safe to emit now, the stop sequence that matched or None)."""
        if not self.stops:
            return text, None
        buffer = self._held + text
        best: tuple[int, str] | None = None
        for stop in self.stops:
            at = buffer.find(stop)
            if at >= 0 and (best is None or at < best[0]):
                best = (at, stop)
        if best is not None:
            self._held = ""
            return buffer[: best[0]], best[1]
        hold = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(buffer)), 0, -1):
                if buffer.endswith(stop[:k]):
                    hold = max(hold, k)
                    break
        self._held = buffer[len(buffer) - hold :]
        return buffer[: len(buffer) - hold], None

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held
