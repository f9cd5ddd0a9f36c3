"""Job specs, progress reports and the cancel token shared by the runner, services and engines."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Protocol

from studio.core.errors import Cancelled


@dataclass(frozen=True)
class JobSpec:
    """Everything one job needs, immutable and JSON-serialisable; subclasses set `kind`."""

    kind: ClassVar[str] = ""
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON data (tuples become lists)."""
        return asdict(self)


@dataclass(frozen=True)
class Progress:
    """Where a job stands: units done of total, a message and an estimate of time left.

    A render's step reports may carry a preview of the frame being made: a small JPEG (longest
    side at most 256 px) and a label saying which shot, frame and step it shows. Previews are
    shown while they come and never stored.
    """

    done: int
    total: int
    message: str = ""
    eta_s: float | None = None
    preview: bytes | None = field(default=None, repr=False)
    preview_label: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


class ProgressSink(Protocol):
    def __call__(self, progress: Progress) -> None: ...


class CancelToken:
    """A flag the user sets and the job checks between units of work."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Stop the job here if the user asked to cancel."""
        if self._event.is_set():
            raise Cancelled()


@dataclass
class EtaEstimator:
    """Estimates time left from the pace of the units done in this run (resumed units excluded)."""

    total: int
    start_done: int = 0
    clock: Callable[[], float] = time.monotonic
    _t0: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._t0 = self.clock()

    def eta(self, done: int) -> float | None:
        """Seconds left, or None before the first unit of this run has finished."""
        ran = done - self.start_done
        if ran <= 0 or self.total <= 0:
            return None
        per_unit = (self.clock() - self._t0) / ran
        return max(0.0, per_unit * (self.total - done))


def format_eta(seconds: float | None) -> str:
    """'1:05 left', '2 h 03 min left' or '' when unknown."""
    if seconds is None:
        return ""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min left"
    return f"{s // 60}:{s % 60:02d} left"
