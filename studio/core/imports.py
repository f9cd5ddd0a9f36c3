"""Reference import types: what the import read from a file, and the report it gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Two perceptual hashes this close (of 64 bits) are the same picture resized or re-encoded.
NEAR_DUPLICATE_DISTANCE = 6

IMPORTED, DUPLICATE, REJECTED = "imported", "duplicate", "rejected"


def hamming(a: str, b: str) -> int:
    """How many bits differ between two hex perceptual hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


@dataclass(frozen=True)
class ImportedFile:
    """One file as the import read it off-thread; `reason` is set when it was refused."""

    path: str
    data: bytes = b""
    sha256: str = ""
    mime: str = ""
    format: str = ""
    width: int = 0
    height: int = 0
    note: str = ""
    phash: str = ""
    thumbnail: bytes = b""
    metadata: dict[str, Any] = field(default_factory=dict)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason


@dataclass(frozen=True)
class ImportReport:
    """What one import did with each file.

    imported: (path, reference id, note); duplicates and near_duplicates: (path, the file it
    repeats); rejected: (path, one-line reason); pending: files a cancelled import has not
    reached yet (resume the job to import them).
    """

    job_id: str = ""
    imported: tuple[tuple[str, str, str], ...] = ()
    duplicates: tuple[tuple[str, str], ...] = ()
    near_duplicates: tuple[tuple[str, str], ...] = ()
    rejected: tuple[tuple[str, str], ...] = ()
    pending: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Whether every file of the import was dealt with."""
        return not self.pending

    def summary(self) -> str:
        """One line: '12 imported, 2 exact duplicates, 1 near-duplicate, 3 rejected'."""

        def count(n: int, word: str) -> str:
            return f"{n} {word if n == 1 else word + 's'}"

        parts = [f"{len(self.imported)} imported"]
        if self.duplicates:
            parts.append(count(len(self.duplicates), "exact duplicate"))
        if self.near_duplicates:
            parts.append(count(len(self.near_duplicates), "near-duplicate"))
        if self.rejected:
            parts.append(f"{len(self.rejected)} rejected")
        if self.pending:
            parts.append(f"{len(self.pending)} not yet imported")
        return ", ".join(parts)

    def lines(self) -> list[str]:
        """The report as text: the summary, then one line per file that needs a word."""
        out = [self.summary()]
        out += [f"  duplicate: {p}: exact duplicate of {of}" for p, of in self.duplicates]
        out += [f"  near-duplicate: {p}: looks like {of}" for p, of in self.near_duplicates]
        out += [f"  rejected: {p}: {reason}" for p, reason in self.rejected]
        out += [f"  note: {p}: {note}" for p, _, note in self.imported if note]
        return out

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON data."""
        return {
            "job_id": self.job_id,
            "summary": self.summary(),
            "imported": [{"path": p, "reference": r, "note": n} for p, r, n in self.imported],
            "duplicates": [{"path": p, "of": of} for p, of in self.duplicates],
            "near_duplicates": [{"path": p, "of": of} for p, of in self.near_duplicates],
            "rejected": [{"path": p, "reason": reason} for p, reason in self.rejected],
            "pending": list(self.pending),
        }
