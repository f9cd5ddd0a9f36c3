"""Identifiers and timestamps."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime


def new_id() -> str:
    """A 26-character id that sorts by creation time (48-bit ms timestamp + 80 random bits)."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    out = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        out.append(alphabet[rem])
    return "".join(reversed(out))


def now_iso() -> str:
    """The current UTC time as ISO 8601 with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")
