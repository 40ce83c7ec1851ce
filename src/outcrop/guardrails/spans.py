"""A detected span of text, shared by the detectors, and overlap resolution for masking."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str
    label: str  # the PII type, regex name or word the span stands for


def non_overlapping(spans: list[Span]) -> list[Span]:
    """Longest-first, then leftmost: the spans to mask when detections overlap."""
    chosen: list[Span] = []
    for span in sorted(spans, key=lambda s: (-(s.end - s.start), s.start)):
        if all(span.end <= c.start or span.start >= c.end for c in chosen):
            chosen.append(span)
    return sorted(chosen, key=lambda s: s.start)


def mask(text: str, spans: list[tuple[Span, str]]) -> str:
    """Replace each span with its placeholder, right to left so offsets stay valid."""
    for span, placeholder in sorted(spans, key=lambda p: -p[0].start):
        text = text[: span.start] + placeholder + text[span.end :]
    return text
