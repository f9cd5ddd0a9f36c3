"""The Timeline workspace: shots as lanes in story order, edited with undo, rendered from here.

A render's frames land in their lanes as the job commits them, with a live preview of the
frame being denoised; when it ends the new frames are analysed for drift and the lanes show the
verdicts. Lanes follow change records (a job's commits, another workspace's edits): only the
shots a record names are read again.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QSplitter,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from studio.core.changes import Changes
from studio.core.errors import StudioError
from studio.core.render import RenderSettings
from studio.core.text import plural
from studio.jobs.runner import ENDED
from studio.services import drift, library, personas, rendering, timeline
from studio.ui import dialogs
from studio.ui.render_bar import RenderBar
from studio.ui.render_preview import RenderPreview
from studio.ui.shot_editor import ShotEditor
from studio.ui.take_inspector import TakeInspector
from studio.ui.timeline_commands import (
    AddShotCommand,
    DeleteShotsCommand,
    DuplicateShotCommand,
    MoveShotCommand,
)
from studio.ui.timeline_export import TimelineExport
from studio.ui.timeline_lanes import TimelineLanes
from studio.ui.workspace import Workspace


class AddShotDialog(QDialog):
    """A new shot to render: its name, persona, action and number of frames."""

    def __init__(self, cast: list[tuple[str, str]], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Add Shot")
        form = QFormLayout(self)
        self.name = QLineEdit()
        self.name.setPlaceholderText("Stage left")
        self.persona = QComboBox()
        for persona_id, name in cast:
            self.persona.addItem(name, persona_id)
        self.action = QLineEdit()
        self.action.setPlaceholderText("laughing on stage")
        self.frames = QSpinBox()
        self.frames.setRange(1, 10_000)
        self.frames.setValue(RenderSettings().frames)
        form.addRow("&Name:", self.name)
        form.addRow("&Persona:", self.persona)
        form.addRow("&Action:", self.action)
        form.addRow("&Frames:", self.frames)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> dict:
        return {
            "name": self.name.text(),
            "persona_id": self.persona.currentData(),
            "action": self.action.text().strip(),
            "frames": self.frames.value(),
        }


class _VerdictSignals(QObject):
    read = Signal(int, object)  # which read, frame id -> verdict; emitted on its thread, queued


class TimelineWorkspace(Workspace):
    """Shots as lanes; select some and render them, reorder them by dragging."""

    name = "timeline"
    title = "Timeline"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.lanes = TimelineLanes()
        self.lanes.selection_changed.connect(self._selection_changed)
        self.lanes.move_requested.connect(self.move_shot)
        self.lanes.frame_opened.connect(self.open_frame)
        self.inspector: TakeInspector | None = None  # made when a frame is first opened
        self.log = QPlainTextEdit()
        self.log.setObjectName("timelineLog")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(500)
        self.log.setPlaceholderText("What the renders and analyses of these shots say")
        self.log.setMaximumHeight(110)

        self.add_action = self.workspace_action(
            "&Add Shot…", "Ctrl+Shift+N", self.add_shot_dialog, "Add a shot to render"
        )
        self.duplicate_action = self.workspace_action(
            "D&uplicate Shot",
            "Ctrl+D",
            self.duplicate_selection,
            "Copy the selected render shot: same settings, its own seeds, no frames yet",
        )
        self.delete_action = self.workspace_action(
            "&Delete Shots",
            "Del",
            self.delete_selection,
            "Delete the selected shots with their frames and takes (undo brings them back)",
        )
        self.render_action = self.workspace_action(
            "&Render",
            "Ctrl+R",
            self.render_selection,
            "Render the selected shots' frames that have no current take (runs as a job)",
        )
        self.exporter = TimelineExport(self)
        self.export_action = self.workspace_action(
            "E&xport…",
            "Ctrl+E",
            self.exporter.export_dialog,
            "Write the selected shot's or the whole timeline's frames as PNGs or an MP4 video",
        )
        tools = QToolBar()
        for action in (self.add_action, self.duplicate_action, self.delete_action):
            tools.addAction(action)
        tools.addSeparator()
        tools.addAction(self.render_action)
        tools.addAction(self.export_action)

        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(tools)
        column.addWidget(self.lanes, 1)
        self.render_bar = RenderBar()  # the render in flight: frames done, time left, Cancel
        self.render_bar.cancel_requested.connect(self.cancel_render)
        column.addWidget(self.render_bar)
        self.preview = RenderPreview()  # the frame being denoised, while a render runs
        column.addWidget(self.preview)
        column.addWidget(self.log)

        self.shot_editor = ShotEditor(self._undo)
        self.shot_editor.settings_changed.connect(self.refresh_shot)
        self.shot_editor.setMinimumWidth(280)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.shot_editor)
        splitter.setStretchFactor(0, 1)
        # The editor shows its prompt and references beside its fields.
        splitter.setSizes([840, 660])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self._render_jobs: dict[str, tuple[str, ...]] = {}  # job id -> the shots it renders
        self._landed: dict[str, set[str]] = {}  # job id -> the shots it has committed frames to
        self._analysis_jobs: dict[str, tuple[str, ...]] = {}
        self._portraits: dict[str, bytes | None] = {}  # persona id -> her portrait thumbnail
        self._reading = 0  # which read of the verdicts is the current one
        self._verdicts_read = _VerdictSignals(self)
        self._verdicts_read.read.connect(self._verdicts_came)
        self._update_actions()

    # -- project --------------------------------------------------------------------------------

    def set_project(self, project) -> None:
        """Show a project's shots (None clears the workspace)."""
        self.project = project
        self.take_pending()
        self._undo.clear()
        self._render_jobs.clear()
        self.preview.clear()  # a render of the last project never ends here
        self.render_bar.clear()
        self._landed.clear()
        self._analysis_jobs.clear()
        self.exporter.forget()
        self.log.clear()
        if self.inspector is not None:
            self.inspector.close()
        self.shot_editor.set_project(project)
        self.reload()

    def set_runner(self, runner) -> None:
        self.shot_editor.set_runner(runner)
        super().set_runner(runner)

    def reload(self, select: list[str] | None = None) -> None:
        """Read every lane again (after a project switch or a change of cast). The lanes show at
        once; their verdicts, the costly part, are read on a thread and marked when they come."""
        self._portraits = {}
        self._reading += 1  # a read still running for the last project is dropped when it ends
        if self.project is None:
            self._show([], select)
            return
        self._show(timeline.timeline_rows(self.project, verdicts=False), select)
        project, reading = self.project, self._reading

        def read() -> None:
            try:
                verdicts = timeline.frame_verdicts(project)
            except Exception:  # the project was closed meanwhile: nothing to show
                return
            self._verdicts_read.read.emit(reading, verdicts)

        threading.Thread(target=read, name="timeline verdicts", daemon=True).start()

    @property
    def reading_verdicts(self) -> bool:
        """Whether some lanes still wait for their verdicts."""
        return any(f.verdict == timeline.READING for r in self.lanes.rows() for f in r.frames)

    def _verdicts_came(self, reading: int, verdicts: dict) -> None:
        if reading != self._reading or self.project is None:
            return
        for row in self.lanes.rows():
            # A lane read since (a change record) has its verdicts already.
            if any(f.verdict == timeline.READING for f in row.frames):
                self.lanes.replace_row(timeline.with_verdicts(row, verdicts))
        inspector = self.inspector
        if inspector is not None and inspector.isVisible() and inspector.detail is not None:
            inspector.reload()

    def _show(self, rows: list[timeline.TimelineRow], select: list[str] | None) -> None:
        if self.project is None:
            self.lanes.set_rows(None, [], {})
        else:
            for pid in {pid for r in rows for pid in r.persona_ids} - set(self._portraits):
                self._portraits[pid] = library.portrait(self.project, pid)
            self.lanes.set_rows(self.project, rows, self._portraits)
        if select is not None:
            self.lanes.select(select)
        self._selection_changed()

    def refresh_cast(self) -> None:
        self.reload(self.lanes.selected_ids())

    def refresh_shot(self, shot_id: str) -> None:
        """Show one shot's lane anew after an edit here (its settings, its chosen takes); the
        other workspaces hear of it."""
        if self.project is None:
            return
        self.changed.emit(Changes.of(shots=[shot_id]))
        found = timeline.timeline_rows(self.project, [shot_id]) if self._exists(shot_id) else []
        if not found or not self.lanes.replace_row(found[0]):
            self.reload(self.lanes.selected_ids())
        inspector = self.inspector
        if inspector is not None and inspector.isVisible() and inspector.detail is not None:
            if inspector.detail.shot.id == shot_id:
                inspector.reload()

    def apply_pending(self) -> None:
        """Read the lanes the merged change records name; the others are kept."""
        changes = self.take_pending()
        if self.project is None or not changes:
            return
        if changes.everything:
            self.reload(self.lanes.selected_ids())
            return
        order = timeline.shot_order(self.project)
        shown = {r.id: r for r in self.lanes.rows()}
        wanted = [s for s in order if s not in shown or changes.touches(s, shown[s].persona_ids)]
        read = {r.id: r for r in timeline.timeline_rows(self.project, wanted)} if wanted else {}
        if order == list(shown):
            for row in read.values():
                self.lanes.replace_row(row)
        else:  # shots came or went (an import, another window's edit)
            self._show([read.get(s) or shown[s] for s in order], self.lanes.selected_ids())
        inspector = self.inspector
        if inspector is not None and inspector.isVisible() and inspector.detail is not None:
            if inspector.detail.shot.id in read:
                inspector.reload()

    # -- the frame inspector ----------------------------------------------------------------------

    def open_frame(self, shot_id: str, frame_index: int) -> TakeInspector | None:
        """Show a frame in the inspector with its provenance, takes and drift verdict."""
        if self.project is None:
            return None
        if self.inspector is None:
            self.inspector = TakeInspector(self, self)
        try:
            self.inspector.show_frame(shot_id, frame_index)
        except StudioError as exc:
            dialogs.show_error(self, exc)
            return None
        self.inspector.show()
        self.inspector.raise_()
        return self.inspector

    def render_again(self, take_id: str) -> str | None:
        """Render a take again exactly (a job); the new take becomes its frame's picture."""
        if self.runner is None or self.project is None:
            return None
        try:
            spec = rendering.plan_again(self.project, take_id)
        except StudioError as exc:
            dialogs.show_error(self, exc, "Cannot render again")
            return None
        job = self.runner.submit(spec)
        self._render_jobs[job.id] = tuple(s.shot_id for s in spec.shots)
        self._landed[job.id] = set()
        self.say(f"Rendering take {take_id[:10]} again…")
        return job.id

    def open_in_drift(self, frame_id: str) -> bool:
        """Show a frame in the Drift workspace's inspector and switch to it."""
        stack = self.parentWidget()
        siblings = stack.findChildren(Workspace) if stack is not None else []
        drift_ws = next((w for w in siblings if w.name == "drift"), None)
        if drift_ws is None:
            return False
        found = _frame_in(drift_ws.rows, frame_id)
        if found is None:  # rendered since the Drift workspace last read its shots
            drift_ws.reload()
            found = _frame_in(drift_ws.rows, frame_id)
        if found is None:
            return False
        drift_ws.heatmap.select(*found)
        drift_ws.inspect(*found)
        drift_ws.activation_requested.emit()
        return True

    def _exists(self, shot_id: str) -> bool:
        return any(r.id == shot_id for r in self.lanes.rows())

    def shots_changed(self, select: str | None = None) -> None:
        """An undo command changed the timeline: show it, with `select` chosen. Only shots new
        to the lanes are read; the others keep their lanes, in the new order."""
        if self.project is None:
            return
        order = timeline.shot_order(self.project)
        shown = {r.id: r for r in self.lanes.rows()}
        new = [s for s in order if s not in shown]
        read = {r.id: r for r in timeline.timeline_rows(self.project, new)} if new else {}
        self._show([shown.get(s) or read[s] for s in order], [select] if select else [])
        # The Drift workspace lists the same shots in the same order; it reads only the shots
        # added (and the one chosen, whose settings an undo may have put back).
        added = set(order) - set(shown)
        edited = added | ({select} if select else set())
        self.changed.emit(Changes(frozenset(edited), order=list(shown) != order))

    # -- edits ----------------------------------------------------------------------------------

    def _push(self, make) -> bool:
        try:
            self._undo.push(make())
        except StudioError as exc:
            dialogs.show_error(self, exc)
            return False
        return True

    def move_shot(self, shot_id: str, position: int) -> None:
        """Move a shot to a place in the timeline (0: first), as one undo step."""
        row = next((r for r in self.lanes.rows() if r.id == shot_id), None)
        if self.project is None or row is None or self.project.read_only:
            return
        self._push(lambda: MoveShotCommand(self, shot_id, row.name, position))

    def duplicate_selection(self) -> None:
        rows = self._selected_rows()
        if self.project is None or self.project.read_only or len(rows) != 1:
            return
        self._push(lambda: DuplicateShotCommand(self, rows[0].id, rows[0].name))

    def delete_selection(self) -> None:
        rows = self._selected_rows()
        if self.project is None or self.project.read_only or not rows:
            return
        text = (
            f"Delete '{rows[0].name}'" if len(rows) == 1 else f"Delete {plural(len(rows), 'shot')}"
        )
        if self._push(lambda: DeleteShotsCommand(self, [r.id for r in rows], text)):
            frames = sum(r.rendered for r in rows)
            self.status_message.emit(f"{text} ({plural(frames, 'frame')}); Undo brings it back")

    def add_shot_dialog(self) -> None:
        if self.project is None or self.project.read_only:
            return
        cast = [(p.id, p.name) for p in personas.list_personas(self.project)]
        if not cast:
            dialogs.show_error(
                self,
                StudioError(
                    "There is no persona to render yet.",
                    hint="Add one in the Persona workspace first.",
                ),
            )
            return
        dialog = AddShotDialog(cast, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.add_shot(**dialog.values())

    def add_shot(self, name: str, persona_id: str, action: str, frames: int) -> bool:
        """Add a render shot at the end of the timeline, as one undo step."""
        settings = RenderSettings(action=action, frames=frames)
        return self._push(lambda: AddShotCommand(self, name, persona_id, settings))

    def _selected_rows(self) -> list[timeline.TimelineRow]:
        chosen = set(self.lanes.selected_ids())
        return [r for r in self.lanes.rows() if r.id in chosen]

    def _selection_changed(self) -> None:
        ids = self.lanes.selected_ids()
        self.shot_editor.set_shot(ids[0] if len(ids) == 1 else None, len(ids))
        self._update_actions()

    def _update_actions(self) -> None:
        writable = self.project is not None and not self.project.read_only
        rows = self._selected_rows() if self.project is not None else []
        self.add_action.setEnabled(writable)
        self.duplicate_action.setEnabled(
            writable and len(rows) == 1 and rows[0].kind == timeline.RENDER_KIND
        )
        self.delete_action.setEnabled(writable and bool(rows))
        self.render_action.setEnabled(
            self.runner is not None
            and writable
            and any(r.kind == timeline.RENDER_KIND for r in rows)
        )
        self.export_action.setEnabled(self.project is not None and not self.exporter.busy)

    # -- rendering and analysis -------------------------------------------------------------------

    def say(self, text: str) -> None:
        """A line in the workspace's log and the window's status bar."""
        self.log.appendPlainText(text)
        self.status_message.emit(text)

    def render_selection(self) -> str | None:
        """Plan and start rendering the selected shots; returns the job's id."""
        if self.runner is None or self.project is None:
            return None
        from studio.jobs.tokens import count_tokens

        ids = self.lanes.selected_ids()
        # A shot in a render already queued or running here is left to it (rendering its
        # frames twice would only waste the time).
        busy = {s for shots in self._render_jobs.values() for s in shots}
        names = {r.id: r.name for r in self.lanes.rows()}
        for shot_id in (i for i in ids if i in busy):
            self.log.appendPlainText(f"'{names.get(shot_id, shot_id)}' is rendering already.")
        ids = [i for i in ids if i not in busy]
        if not ids:
            self.say("The selected shots are rendering already.")
            return None
        try:
            plan = rendering.plan_render(self.project, ids, count_tokens=count_tokens)
        except StudioError as exc:
            dialogs.show_error(self, exc, "Cannot render")
            return None
        for line in (*plan.skipped, *plan.notes):
            self.log.appendPlainText(line)
        if plan.empty:
            self.say("Every selected frame is rendered and up to date.")
            return None
        job = self.runner.submit(plan.spec)
        shots = tuple(s.shot_id for s in plan.spec.shots)
        self._render_jobs[job.id] = shots
        self._landed[job.id] = set()
        self.say(f"Rendering {plural(plan.frames, 'frame')} of {plural(len(shots), 'shot')}…")
        return job.id

    def cancel_render(self, job_id: str) -> None:
        """Stop a render of this workspace within its step in flight (its frames are kept)."""
        if self.runner is not None and job_id in self._render_jobs:
            self.runner.cancel(job_id)

    def analyse(self, shot_ids) -> str | None:
        """Score the shots' frames for drift (a job); returns its id, None when all are scored."""
        if self.runner is None or self.project is None:
            return None
        try:
            spec = drift.plan_analysis(self.project, list(shot_ids))
        except StudioError as exc:
            self.say(f"Not analysed: {exc.message}")
            return None
        if not spec.frames:
            return None
        job = self.runner.submit(spec)
        self._analysis_jobs[job.id] = tuple(shot_ids)
        return job.id

    def on_job_event(self, event) -> None:
        """Follow this workspace's renders and analyses. Any job's committed change (a frame
        rendered, scored or imported, wherever it was started) is shown from its record."""
        if self.project is None or self.exporter.on_job_event(event):
            return
        self.apply_changes(event.changes)
        job_id = event.job_id
        if job_id in self._render_jobs:
            self._render_event(job_id, event)
        elif job_id in self._analysis_jobs and event.event in ENDED:
            shots = self._analysis_jobs.pop(job_id)
            self.apply_pending()
            if event.event == "done":
                self.say(f"Drift verdicts in for {plural(len(shots), 'shot')}")

    def _render_event(self, job_id: str, event) -> None:
        self.preview.show_event(event)
        self.render_bar.follow(event)
        if event.changes is not None:
            self._landed[job_id] |= event.changes.shots
        if event.event in ENDED:
            self.apply_pending()
            shots = self._render_jobs.pop(job_id)
            landed = self._landed.pop(job_id, set())
            self.say(f"{event.title}: {event.message}")
            if event.event == "done":
                self.analyse([s for s in shots if s in landed])
        self._update_actions()


def _frame_in(rows, frame_id: str) -> tuple[int, int] | None:
    """(row, frame) of a frame among the Drift workspace's rows."""
    for i, row in enumerate(rows):
        for k, frame in enumerate(row.frames):
            if frame.id == frame_id:
                return i, k
    return None
