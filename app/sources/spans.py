"""Spans of a source's archived text that are not part of the document: links injected into
the copy, page furniture, boilerplate. The text is kept byte for byte (its digest and every
locator depend on it); the spans say which parts of it the document does not include."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

# (char_start, char_end): code-point offsets, end exclusive, like quote locators.
Span = tuple[int, int]


def spans_of(stored: Iterable[Any] | None) -> tuple[Span, ...]:
    """The (start, end) pairs of spans as stored (dicts) or given (models), in text order."""
    pairs = []
    for span in stored or ():
        if isinstance(span, dict):
            pairs.append((int(span["char_start"]), int(span["char_end"])))
        else:
            pairs.append((span.char_start, span.char_end))
    return tuple(sorted(pairs))


def overlapping(spans: Sequence[Span], start: int, end: int) -> Span | None:
    """The first span that shares a character with [start, end), if any."""
    for span_start, span_end in spans:
        if span_start < end and start < span_end:
            return span_start, span_end
    return None


def without_spans(text: str, spans: Sequence[Span]) -> str:
    """The text with the spans cut out; a line break stands in for each, so that the words on
    either side of a span do not run together."""
    if not spans:
        return text
    parts, position = [], 0
    for start, end in spans:
        parts.append(text[position:start])
        position = max(position, end)
    parts.append(text[position:])
    return "\n".join(parts)
