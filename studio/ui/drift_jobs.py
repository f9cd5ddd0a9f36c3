"""The Drift workspace's jobs: importing footage, analysing it, writing the report; drops.

A mixin of `DriftWorkspace`: it starts jobs through the runner (or, for the report of a
read-only project, on a thread of its own), follows them on the progress bar with Cancel, and
refreshes the workspace as their results are committed.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog

from studio.core.errors import Cancelled, StudioError
from studio.core.ids import new_id
from studio.core.jobs import CancelToken, Progress
from studio.core.text import plural
from studio.jobs import report
from studio.jobs.runner import ENDED, JobEvent
from studio.services import audit, drift, models, personas, review, shots
from studio.ui import dialogs
from studio.ui.footage_import import FootageImportDialog
from studio.ui.qt_bridge import JobBridge

FOOTAGE_FILTER = "Footage (*.mp4 *.mov *.m4v *.webm *.mkv *.gif *.avi);;All files (*)"
REPORT_FORMATS = {
    "HTML report (*.html)": "html",
    "CSV table (*.csv)": "csv",
    "JSON (*.json)": "json",
}


class DriftJobs:
    """Import, analyse and export for the Drift workspace, with the progress bar and Cancel."""

    def _init_jobs(self) -> None:
        self._import_jobs: dict[str, bool] = {}  # job id -> analyse when done
        self._analysis_jobs: set[str] = set()
        self._report_jobs: dict[str, str] = {}  # job id -> the report's path
        self._local_reports: dict[str, CancelToken] = {}  # reports of a read-only project
        self._tracked: str | None = None  # the job the progress bar shows
        # Reports of a read-only project run on a thread of their own (there is no job queue
        # to write to); their events come back through this bridge like the runner's.
        self._report_bridge = JobBridge(self)
        self._report_bridge.job_event.connect(self.on_job_event)

    def _forget_reports(self) -> None:
        """The project closes: its read-only reports stop (writing nothing) and are forgotten."""
        for token in self._local_reports.values():
            token.cancel()
        self._local_reports.clear()
        if self._tracked in self._report_jobs:
            self._tracked = None
            self.progress.hide()
            self.cancel_button.hide()
        self._report_jobs.clear()

    def _writable(self, what: str) -> bool:
        if self.runner is None or self.project is None:
            dialogs.show_error(
                self,
                StudioError(
                    f"{what} needs the project open for writing.",
                    hint="It is open read-only; close the other window using it and open it again.",
                ),
            )
            return False
        return True

    def import_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Import footage", "", FOOTAGE_FILTER)
        if files:
            self.ask_import(files)

    def import_sequence_dialog(self) -> FootageImportDialog | None:
        """Pick a folder of numbered images (one shot) and import it like a clip."""
        folder = QFileDialog.getExistingDirectory(self, "Import image sequence (a folder)")
        return self.ask_import([folder]) if folder else None

    def ask_import(self, paths: list[str]) -> FootageImportDialog | None:
        """Ask how to import these clips or folders, then import them (non-blocking)."""
        if not self._writable("Importing footage"):
            return None
        cast = [(p.id, p.name) for p in personas.list_personas(self.project)]
        outfits = {pid: shots.outfit_names(self.project, pid) for pid, _ in cast}
        dialog = FootageImportDialog(
            [str(p) for p in paths], cast, self, self.persona_id(), outfits
        )
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(
            lambda: self.import_footage(
                dialog.sources,
                dialog.persona_ids(),
                every=dialog.every.value(),
                max_frames=dialog.cap.value(),
                analyse=dialog.analyse.isChecked(),
                outfit=dialog.outfit_name(),
            )
        )
        dialog.open()
        return dialog

    def import_footage(
        self,
        paths: list[str],
        persona_ids: list[str],
        *,
        every: int = 1,
        max_frames: int = 1000,
        analyse: bool = True,
        outfit: str | None = None,
    ) -> str | None:
        """Import clips or folders of images as new shots (a job); returns the job id.

        outfit: the outfit the shots expect of every persona who has one of that name.
        """
        if not self._writable("Importing footage"):
            return None
        try:
            spec = shots.plan_footage_import(
                self.project,
                persona_ids,
                paths,
                every=every,
                max_frames=max_frames,
                outfits=[outfit] if outfit else (),
            )
        except StudioError as exc:
            dialogs.show_error(self, exc, "Cannot import footage")
            return None
        job = self.runner.submit(spec)
        self._import_jobs[job.id] = analyse
        self._track(job.id, "Importing")
        self.status_message.emit(f"Importing {plural(len(spec.sources), 'clip')}…")
        return job.id

    def analyse(self, thorough: bool = False) -> str | None:
        """Analyse every frame not analysed yet (a job); returns the job id, if one started.

        thorough: also search the frames where no face was found with the slow detector.
        """
        if not self._writable("Analysing"):
            return None
        status = models.engine_status(audit.default_engine(self.project))
        if not status.ready:
            dialogs.show_error(
                self,
                StudioError(
                    status.problem,
                    hint="Download the models from Library → Coverage, or choose the dlib "
                    "engine there.",
                ),
                "Cannot analyse",
            )
            return None
        try:
            spec = drift.plan_analysis(self.project, thorough=thorough)
        except StudioError as exc:
            dialogs.show_error(self, exc, "Nothing to analyse")
            return None
        if not spec.frames:
            self.status_message.emit("Every frame is analysed and up to date.")
            return None
        job = self.runner.submit(spec)
        self._analysis_jobs.add(job.id)
        self._track(job.id, "Analysing")
        return job.id

    def _track(self, job_id: str, what: str) -> None:
        self._tracked = job_id
        self.progress.setRange(0, 0)
        self.progress.setFormat(f"{what}…")
        self.progress.show()
        self.cancel_button.show()
        self.cancel_button.setEnabled(True)

    def cancel_job(self) -> None:
        """Stop the job the progress bar shows after the unit in flight."""
        if not self._tracked:
            return
        if self._tracked in self._local_reports:
            self._local_reports[self._tracked].cancel()
        elif self.runner is not None:
            self.runner.cancel(self._tracked)
        else:
            return
        self.cancel_button.setEnabled(False)
        what = "picture" if self._tracked in self._report_jobs else "frame"
        self.progress.setFormat(f"Stopping after this {what}…")

    def on_job_event(self, event) -> None:
        """Follow the workspace's imports and analyses; any job's committed change (a frame
        rendered, scored or imported) is shown from its change record."""
        if self.project is None:
            return
        self.apply_changes(event.changes)
        job_id = event.job_id
        mine = job_id in self._import_jobs or job_id in self._analysis_jobs
        if not mine and job_id not in self._report_jobs:
            return
        if job_id == self._tracked:
            p = event.progress
            if p.total and event.event in ("started", "progress"):
                self.progress.setRange(0, p.total)
                self.progress.setValue(p.done)
                if job_id in self._report_jobs:
                    self.progress.setFormat("Report: picture %v of %m")
                else:
                    verb = "Importing" if job_id in self._import_jobs else "Analysing"
                    self.progress.setFormat(f"{verb} %v of %m")
            if event.event in ENDED:
                self._tracked = None
                self.progress.hide()
                self.cancel_button.hide()
        if event.event not in ENDED:
            return
        if job_id in self._report_jobs:
            self._report_finished(event)
        elif event.job_id in self._import_jobs:
            analyse = self._import_jobs.pop(event.job_id)
            self.apply_pending()  # its shots are shown before the report speaks of them
            if event.event == "done":
                self._after_import(event.job_id, analyse)
            elif event.event == "failed":
                dialogs.show_error(self, StudioError(event.message), "The import stopped")
        else:
            self._analysis_jobs.discard(event.job_id)
            self.apply_pending()
            if event.event == "failed":
                dialogs.show_error(self, StudioError(event.message), "The analysis stopped")
            elif event.event == "done":
                self.status_message.emit(f"Analysis done: {self.summary_label.text()}")

    def _after_import(self, job_id: str, analyse: bool) -> None:
        rep = shots.footage_report(self.project, job_id)
        self.status_message.emit(rep.summary())
        if rep.rejected or rep.skipped or rep.capped:
            dialogs.show_error(
                self,
                StudioError(rep.summary(), hint="\n".join(rep.lines()[1:15])),
                "Footage import report",
            )
        if analyse and rep.imported:
            self.analyse()

    def export_dialog(self) -> None:
        if self.project is None:
            return
        suggestion = self.project.path.with_name(self.project.path.stem + " drift report.html")
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export drift report", str(suggestion), ";;".join(REPORT_FORMATS)
        )
        if path:
            self.export_report(path, REPORT_FORMATS.get(chosen))

    def export_report(self, path: str | Path, fmt: str | None = None) -> str | None:
        """Write the drift report as a job (progress and cancel in the bar); returns its id.

        Nothing is written when it is cancelled; a project open read-only writes it on a
        thread of its own, as the job would.
        """
        if self.project is None:
            return None
        try:
            spec = review.plan_report(self.project, fmt or "", path)
        except StudioError as exc:
            dialogs.show_error(self, exc, "Cannot write the report")
            return None
        if self.runner is not None:
            job_id = self.runner.submit(spec).id
        else:
            job_id = self._report_here(spec)
        self._report_jobs[job_id] = spec.output
        self._track(job_id, "Writing the report")
        self._update_actions()
        return job_id

    def _report_here(self, spec) -> str:
        """Run a report job on a thread without the queue (a read-only project); its id."""
        token = CancelToken()
        job_id = f"report-{new_id()}"
        self._local_reports[job_id] = token
        project, deliver = self.project, self._report_bridge.deliver

        def run() -> None:
            def said(event: str, p: Progress, message: str = "") -> None:
                deliver(JobEvent(job_id, event, spec.title, p, message or p.message))

            said("started", Progress(0, len(spec.thumbs), "Starting"))
            try:
                message = report.run_report(project, spec, lambda p: said("progress", p), token)
            except Cancelled:
                said("cancelled", Progress(0, len(spec.thumbs), "Cancelled"))
            except StudioError as exc:
                said("failed", Progress(0, 0, exc.message), str(exc))
            except Exception as exc:  # a bug: said once, never a silent stop
                said("failed", Progress(0, 0, "failed"), f"{type(exc).__name__}: {exc}")
            else:
                said("done", Progress(1, 1, message))

        threading.Thread(target=run, name="report", daemon=True).start()
        return job_id

    def _report_finished(self, event) -> None:
        path = self._report_jobs.pop(event.job_id)
        self._local_reports.pop(event.job_id, None)
        if event.event == "done":
            self.status_message.emit(f"Report written to {path}")
        elif event.event == "failed":
            dialogs.show_error(self, StudioError(event.message), "Cannot write the report")
        else:
            self.status_message.emit("Report cancelled: nothing was written.")
        self._update_actions()

    # -- drops ----------------------------------------------------------------------------------

    @staticmethod
    def _footage_paths(event) -> list[str]:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        paths = [u.toLocalFile() for u in urls if u.isLocalFile()]
        return [p for p in paths if not p.lower().endswith(".pstudio")]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if self.project is not None and self._footage_paths(event):
            event.acceptProposedAction()
        else:
            event.ignore()  # a project file goes on to the window

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        paths = self._footage_paths(event)
        if paths:
            event.acceptProposedAction()
            self.ask_import(paths)
        else:
            event.ignore()
