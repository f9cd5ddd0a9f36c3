"""The Timeline's render bar: the render in flight as frames done of all, where it is (shot,
frame, step), the time left, and Cancel, without looking for the job in the Jobs panel."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from studio.core.jobs import format_eta
from studio.jobs.runner import ENDED


class RenderBar(QWidget):
    """Follows one render job at a time (the first that speaks while none is followed)."""

    cancel_requested = Signal(str)  # the job's id

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("renderBar")
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.bar.setMinimumWidth(160)
        self.status = QLabel()
        self.status.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.status.setMinimumWidth(40)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip(
            "Stop the render within the step in flight; the frames already done are kept"
        )
        self.cancel_button.clicked.connect(self._cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.status, 2)
        layout.addWidget(self.cancel_button)
        self._job: str | None = None
        self._eta: float | None = None
        self.setVisible(False)

    @property
    def job_id(self) -> str | None:
        """The job followed; None while hidden."""
        return self._job

    def follow(self, event) -> None:
        """Show a render job's event (a runner JobEvent); hide when the followed job ends."""
        if event.event in ENDED:
            if event.job_id == self._job:
                self.clear()
            return
        if self._job is None:
            self._job, self._eta = event.job_id, None
            self.cancel_button.setEnabled(True)
            self.cancel_button.setText("Cancel")
        elif event.job_id != self._job:
            return  # a render queued behind the one shown
        p = event.progress
        if p.eta_s is not None:  # unit events carry it; step events keep the last one
            self._eta = p.eta_s
        self.bar.setRange(0, max(p.total, 1))
        self.bar.setValue(min(p.done, p.total))
        self.bar.setFormat(f"{p.done} of {p.total} frames")
        if self.cancel_button.isEnabled():
            left = format_eta(self._eta) if self._eta is not None and p.done else ""
            text = " · ".join(t for t in (p.message, left) if t)
            self.status.setText(text)
            self.status.setToolTip(text)
        self.setVisible(True)

    def _cancel(self) -> None:
        if self._job is None:
            return
        self.cancel_button.setEnabled(False)
        self.cancel_button.setText("Stopping…")
        self.status.setText("Stopping within this step; the frames done are kept")
        self.cancel_requested.emit(self._job)

    def clear(self) -> None:
        """Forget the job and hide."""
        self._job, self._eta = None, None
        self.status.clear()
        self.setVisible(False)
