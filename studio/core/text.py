"""Small wording helpers shared by messages, job titles and the window."""

from __future__ import annotations


def plural(n: int, word: str) -> str:
    """'1 reference', '3 references'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
