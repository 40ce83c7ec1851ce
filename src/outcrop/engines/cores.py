"""Which engines of this process are generating right now, so that CPU pools do not fight.

llama.cpp's threads spin at the barrier between operations; when a second pool (NumPy's BLAS
under the embedding model, which guardrails run on every streamed batch) takes a core from them,
each decode step waits for the descheduled thread and generation slows far more than the other
pool's share. Measured on 2 cores: a guarded ConverseStream at 0.53x the unguarded rate with
both pools at 2 threads, 0.73x with the embedding model on one thread while text is generated.
The text engines say when they hold running sequences; the embedding engine reads it.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_generating: set[int] = set()


def set_generating(engine: object, generating: bool) -> None:
    """Called by a text engine's worker whenever its running sequences become some or none."""
    with _lock:
        if generating:
            _generating.add(id(engine))
        else:
            _generating.discard(id(engine))


def generating() -> bool:
    """Whether any text engine in the process is generating."""
    return bool(_generating)


_embedding = 0  # embedding batches running now


class Embedding:
    """Context manager around an embedding batch, so text engines can give it a core."""

    def __enter__(self) -> None:
        global _embedding
        with _lock:
            _embedding += 1

    def __exit__(self, *exc: object) -> None:
        global _embedding
        with _lock:
            _embedding -= 1


def embedding() -> bool:
    """Whether an embedding batch is running."""
    return _embedding > 0
