"""Exporting from the Timeline: the selected shot's, or the whole timeline's, current frames as a
numbered PNG sequence (a folder) or one H.264 video (a .mp4 file).

The export runs as a job through the window's runner, so its progress shows in the Jobs panel;
a project open read-only has no job queue, so its export runs on a thread of its own and its
progress shows in the status bar. The job's message goes to the workspace's log and status bar.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QLabel,
    QWidget,
)

from studio.core.errors import Cancelled, StudioError
from studio.core.ids import new_id
from studio.core.jobs import CancelToken, Progress
from studio.jobs.export_kinds import run_export
from studio.jobs.runner import ENDED, JobEvent
from studio.services import export
from studio.ui import dialogs
from studio.ui.qt_bridge import JobBridge

PNG_SEQUENCE, VIDEO = "png", "mp4"


def _ask_folder(parent: QWidget, caption: str, start: str) -> str:
    return QFileDialog.getExistingDirectory(parent, caption, start)


def _ask_video(parent: QWidget, caption: str, start: str) -> str:
    path, _ = QFileDialog.getSaveFileName(parent, caption, start, "MP4 video (*.mp4)")
    if path and not path.lower().endswith(".mp4"):
        path += ".mp4"
    return path


class ExportDialog(QDialog):
    """What to export (the selected shot or the whole timeline) and as what (PNGs or MP4)."""

    def __init__(self, shot_name: str | None, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export")
        form = QFormLayout(self)
        self.scope = QComboBox()
        if shot_name is not None:
            self.scope.addItem(f"The selected shot, '{shot_name}'", "shot")
        self.scope.addItem("The whole timeline", "timeline")
        self.kind = QComboBox()
        self.kind.addItem("PNG sequence (a folder)", PNG_SEQUENCE)
        self.kind.addItem("MP4 video (one file)", VIDEO)
        note = QLabel(
            "Each shot's current frames are written; the next step asks for the folder or file."
        )
        note.setObjectName("sectionHint")
        note.setWordWrap(True)
        form.addRow("&Export:", self.scope)
        form.addRow("&As:", self.kind)
        form.addRow(note)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def whole_timeline(self) -> bool:
        return self.scope.currentData() == "timeline"

    def output_kind(self) -> str:
        return self.kind.currentData()


class TimelineExport(QObject):
    """The Timeline's Export…: asks what and where, then writes it as a job.

    `run_dialog`, `ask_folder` and `ask_video` are the seams the window's dialogs go through
    (a test answers them itself).
    """

    def __init__(self, workspace: Any):
        super().__init__(workspace)
        self.workspace = workspace
        self.run_dialog: Callable[[ExportDialog], int] = lambda dialog: dialog.exec()
        self.ask_folder: Callable[[QWidget, str, str], str] = _ask_folder
        self.ask_video: Callable[[QWidget, str, str], str] = _ask_video
        self.jobs: dict[str, str] = {}  # job id -> where it writes
        self._local: dict[str, CancelToken] = {}  # exports of a read-only project
        # A read-only project's export runs on a thread; its events come back through this
        # bridge as the runner's do.
        self._bridge = JobBridge(self)
        self._bridge.job_event.connect(self.on_job_event)

    @property
    def busy(self) -> bool:
        return bool(self.jobs)

    def export_dialog(self) -> str | None:
        """Ask what to export and where, then start it; the job's id (None when cancelled)."""
        ws = self.workspace
        if ws.project is None:
            return None
        rows = ws._selected_rows()
        shot = rows[0] if len(rows) == 1 else None
        dialog = ExportDialog(shot.name if shot else None, ws)
        if self.run_dialog(dialog) != QDialog.DialogCode.Accepted:
            return None
        whole = shot is None or dialog.whole_timeline()
        name = ws.project.path.stem if whole else shot.name
        start = str(ws.project.path.parent)
        if dialog.output_kind() == VIDEO:
            output = self.ask_video(ws, "Export as an MP4 video", str(Path(start, f"{name}.mp4")))
        else:
            output = self.ask_folder(ws, "Export the frames into a folder", start)
        if not output:
            return None
        return self.export(None if whole else shot.id, output)

    def export(self, shot_key: str | None, output: str | Path) -> str | None:
        """Write a shot's current frames (None: the whole timeline's) to a folder or .mp4 file
        as a job; its id, None when there is nothing to write (the reason is shown)."""
        ws = self.workspace
        if ws.project is None:
            return None
        try:
            spec = export.plan_export(ws.project, shot_key, output)
        except StudioError as exc:
            dialogs.show_error(ws, exc, "Cannot export")
            return None
        if ws.runner is not None:
            job_id = ws.runner.submit(spec).id
        else:
            job_id = self._export_here(spec)
        self.jobs[job_id] = spec.path or spec.folder
        ws.say(f"Exporting {spec.title}…" if spec.title else "Exporting…")
        ws._update_actions()
        return job_id

    def _export_here(self, spec) -> str:
        """Run an export on a thread without the queue (a read-only project); its id."""
        token = CancelToken()
        job_id = f"export-{new_id()}"
        self._local[job_id] = token
        project, deliver = self.workspace.project, self._bridge.deliver
        total = len(spec.frames)

        def run() -> None:
            def said(event: str, p: Progress, message: str = "") -> None:
                deliver(JobEvent(job_id, event, spec.title, p, message or p.message))

            said("started", Progress(0, total, "Starting"))
            try:
                message = run_export(project, spec, lambda p: said("progress", p), token)
            except Cancelled:
                said("cancelled", Progress(0, total, "Cancelled"))
            except StudioError as exc:
                said("failed", Progress(0, 0, exc.message), str(exc))
            except Exception as exc:  # a bug: said once, never a silent stop
                said("failed", Progress(0, 0, "failed"), f"{type(exc).__name__}: {exc}")
            else:
                said("done", Progress(total, total, message), message)

        threading.Thread(target=run, name="export", daemon=True).start()
        return job_id

    def forget(self) -> None:
        """The project closes: its read-only exports stop and every export is forgotten."""
        for token in self._local.values():
            token.cancel()
        self._local.clear()
        self.jobs.clear()

    def on_job_event(self, event) -> bool:
        """Follow this workspace's exports; True when the event was one of them."""
        if event.job_id not in self.jobs:
            return False
        ws = self.workspace
        if event.event == "progress" and event.job_id in self._local:
            ws.status_message.emit(f"{event.title}: {event.progress.message}")
        if event.event in ENDED:
            self.jobs.pop(event.job_id)
            self._local.pop(event.job_id, None)
            ws.say(f"{event.title}: {event.message}" if event.message else event.title)
            if event.event == "failed":
                dialogs.show_error(ws, StudioError(event.message), "The export stopped")
            ws._update_actions()
        return True
