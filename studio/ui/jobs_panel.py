"""The jobs panel: the project's queue with progress, time left, cancel, resume and clear;
a job that finished with problems shows them one click away (Details… or a double-click)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import StudioError
from studio.core.jobs import format_eta
from studio.core.records import JobRecord
from studio.core.states import FAILED, FINISHED_STATES, PROBLEMS, RESUMABLE_STATES
from studio.jobs.runner import JobEvent, JobRunner
from studio.services import jobs as job_service
from studio.ui import dialogs

STATE_LABELS = {
    "queued": "Waiting",
    "running": "Running",
    "done": "Done",
    "problems": "Finished with problems",
    "failed": "Failed",
    "cancelled": "Cancelled",
    "interrupted": "Interrupted",
}
# States that need a look stand out in both themes; the others keep the theme's text colour.
STATE_COLOURS = {PROBLEMS: "#d98c00", FAILED: "#d64545"}
COL_TITLE, COL_STATE, COL_PROGRESS, COL_ETA, COL_MESSAGE = range(5)


class JobsPanel(QWidget):
    """Lists jobs newest first; updates rows from job events instead of re-reading the queue."""

    active_count_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._project = None
        self._runner: JobRunner | None = None
        self._items: dict[str, QTreeWidgetItem] = {}
        self._states: dict[str, str] = {}

        self.tree = QTreeWidget()
        self.tree.setObjectName("jobsTree")
        self.tree.setColumnCount(5)
        self.tree.setHeaderLabels(["Job", "State", "Progress", "Time left", "Message"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setSectionResizeMode(COL_TITLE, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_MESSAGE, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(COL_STATE, 150)
        header.resizeSection(COL_PROGRESS, 160)
        header.resizeSection(COL_ETA, 90)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.tree.itemDoubleClicked.connect(lambda *_: self.show_details())

        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the selected job after the item in progress")
        self.cancel_button.clicked.connect(self.cancel_selected)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the selected job; finished items are kept")
        self.resume_button.clicked.connect(self.resume_selected)
        self.details_button = QPushButton("Details…")
        self.details_button.setToolTip("What the selected job did, and why anything was refused")
        self.details_button.clicked.connect(self.show_details)
        self.clear_button = QPushButton("Clear finished")
        self.clear_button.setToolTip(
            "Remove finished, failed and cancelled jobs from the list; interrupted ones stay"
        )
        self.clear_button.clicked.connect(self.clear_finished)
        self.summary = QLabel("No jobs")

        buttons = QHBoxLayout()
        buttons.addWidget(self.summary, 1)
        buttons.addWidget(self.details_button)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.tree)
        layout.addLayout(buttons)
        self._update_buttons()

    def set_project(self, project, runner: JobRunner | None) -> None:
        """Show the queue of a project (None clears the panel)."""
        self._project, self._runner = project, runner
        self.reload()

    def reload(self) -> None:
        """Read the whole queue once (on open); later changes arrive as events."""
        self.tree.clear()
        self._items.clear()
        self._states.clear()
        if self._project is not None:
            for job in job_service.list_jobs(self._project):
                self._add(job)
        self._update_summary()
        self._update_buttons()

    def _add(self, job: JobRecord, on_top: bool = False) -> QTreeWidgetItem:
        item = QTreeWidgetItem()
        item.setData(COL_TITLE, Qt.ItemDataRole.UserRole, job.id)
        item.setText(COL_TITLE, job.title)
        item.setToolTip(COL_TITLE, f"{job.kind} · {job.id}")
        if on_top:
            self.tree.insertTopLevelItem(0, item)
        else:
            self.tree.addTopLevelItem(item)
        bar = QProgressBar()
        bar.setTextVisible(True)
        bar.setMaximumHeight(18)
        self.tree.setItemWidget(item, COL_PROGRESS, bar)
        self._items[job.id] = item
        self._show(job.id, job.state, job.done, job.total, job.error or job.message, None)
        return item

    def _show(
        self, job_id: str, state: str, done: int, total: int, message: str, eta: float | None
    ) -> None:
        item = self._items[job_id]
        self._states[job_id] = state
        item.setText(COL_STATE, STATE_LABELS.get(state, state))
        colour = STATE_COLOURS.get(state)
        item.setForeground(COL_STATE, QBrush(QColor(colour)) if colour else QBrush())
        item.setText(COL_ETA, format_eta(eta).replace(" left", "") if state == "running" else "")
        item.setText(COL_MESSAGE, message.split("\n")[0])
        item.setToolTip(COL_MESSAGE, message)
        bar = self.tree.itemWidget(item, COL_PROGRESS)
        bar.setRange(0, max(total, 1))
        bar.setValue(
            min(done, max(total, 1)) if total else (1 if state in ("done", PROBLEMS) else 0)
        )
        bar.setFormat(f"{done} / {total}" if total else "")
        bar.setStyleSheet(
            "QProgressBar { text-align: center; border: 1px solid palette(mid);"
            " border-radius: 3px; }"
            f" QProgressBar::chunk {{ background: {STATE_COLOURS[state]}; }}"
            if state in STATE_COLOURS
            else ""
        )

    def on_job_event(self, event: JobEvent) -> None:
        """Apply one job event from the runner (through the Qt bridge)."""
        if self._project is None:
            return
        if event.job_id not in self._items:
            try:
                self._add(job_service.get_job(self._project, event.job_id), on_top=True)
            except StudioError:
                return
        state = event.state or {
            "queued": "queued",
            "started": "running",
            "progress": "running",
        }.get(event.event, event.event)
        p = event.progress
        self._show(event.job_id, state, p.done, p.total, event.message or p.message, p.eta_s)
        self._update_summary()
        self._update_buttons()

    def selected_job(self) -> str | None:
        items = self.tree.selectedItems()
        return items[0].data(COL_TITLE, Qt.ItemDataRole.UserRole) if items else None

    def cancel_selected(self) -> None:
        job_id = self.selected_job()
        if job_id and self._runner:
            self._runner.cancel(job_id)
            self._items[job_id].setText(COL_MESSAGE, "Cancelling after the current item…")

    def resume_selected(self) -> None:
        job_id = self.selected_job()
        if not (job_id and self._runner):
            return
        try:
            self._runner.resume(job_id)
        except StudioError as exc:
            dialogs.show_error(self, exc)

    def job_details(self, job_id: str) -> tuple[str, list[str]]:
        """The job's last message and its problems, a line each (what Details… shows)."""
        job = job_service.get_job(self._project, job_id)
        return job.message, job_service.problems(self._project, job_id)

    def show_details(self) -> QMessageBox | None:
        """Show the selected job's message and the reasons for anything it refused."""
        job_id = self.selected_job()
        if not job_id or self._project is None:
            return None
        try:
            message, problems = self.job_details(job_id)
        except StudioError as exc:
            dialogs.show_error(self, exc)
            return None
        state = self._states.get(job_id, "")
        box = QMessageBox(self)
        box.setObjectName("jobDetailsBox")
        box.setIcon(
            QMessageBox.Icon.Warning if state in STATE_COLOURS else QMessageBox.Icon.Information
        )
        box.setWindowTitle(self._items[job_id].text(COL_TITLE))
        box.setText(f"{STATE_LABELS.get(state, state)}: {message}" if message else state)
        shown = problems[:20] + ([f"… and {len(problems) - 20} more"] if len(problems) > 20 else [])
        box.setInformativeText("\n".join(shown) if problems else "Nothing was refused.")
        if len(problems) > 20:
            box.setDetailedText("\n".join(problems))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def clear_finished(self) -> int:
        """Remove finished, failed and cancelled jobs from the list and the project's queue."""
        if self._project is None or self._runner is None:
            return 0
        try:
            n = job_service.clear_finished(self._project)
        except StudioError as exc:
            dialogs.show_error(self, exc)
            return 0
        for job_id, state in list(self._states.items()):
            if state in FINISHED_STATES:
                item = self._items.pop(job_id)
                self._states.pop(job_id)
                self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(item))
        self._update_summary()
        self._update_buttons()
        return n

    def _update_buttons(self) -> None:
        job_id = self.selected_job()
        state = self._states.get(job_id or "", "")
        writable = self._runner is not None
        self.cancel_button.setEnabled(writable and state in ("queued", "running"))
        self.resume_button.setEnabled(writable and state in RESUMABLE_STATES)
        self.details_button.setEnabled(bool(job_id) and state not in ("queued", "running"))
        self.clear_button.setEnabled(
            writable and any(s in FINISHED_STATES for s in self._states.values())
        )

    def _update_summary(self) -> None:
        active = sum(1 for s in self._states.values() if s in ("queued", "running"))
        stopped = sum(1 for s in self._states.values() if s == "interrupted")
        troubled = sum(1 for s in self._states.values() if s == PROBLEMS)
        parts = []
        if active:
            parts.append(f"{active} running or waiting")
        if stopped:
            parts.append(f"{stopped} interrupted — select and Resume")
        if troubled:
            parts.append(f"{troubled} finished with problems — select and Details…")
        self.summary.setText(
            ", ".join(parts)
            if parts
            else (_finished_text(len(self._states)) if self._states else "No jobs")
        )
        self.active_count_changed.emit(active)


def _finished_text(n: int) -> str:
    return "1 job, finished" if n == 1 else f"{n} jobs, all finished"
