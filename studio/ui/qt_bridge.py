"""Turns job runner callbacks (any thread) into queued signals on the GUI thread."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from studio.jobs.runner import JobEvent


class JobBridge(QObject):
    """Pass `deliver` to the runner as its listener; connect to `job_event` in the GUI."""

    job_event = Signal(object)  # a JobEvent; cross-thread emission is queued by Qt

    def deliver(self, event: JobEvent) -> None:
        self.job_event.emit(event)
