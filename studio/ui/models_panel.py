"""The Models panel: the generative models a project renders with, registered where they are.

A row per model: its name, what it is, its family, size and short hash, the personas that use
it, and whether its files are still there unchanged (a missing model says so plainly, with
what to do). Add File… and Add Folder… register models as a job (hashing takes a while; the
panel shows its progress and can cancel it); Remove asks first and can be undone.
"""

from __future__ import annotations

import os
import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QBrush, QColor, QKeySequence, QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core import models as m
from studio.core.errors import StudioError
from studio.core.jobs import format_eta
from studio.jobs import model_kinds
from studio.jobs.runner import JobEvent, JobRunner
from studio.services import models
from studio.ui import dialogs

COLUMNS = ("Name", "What it is", "Family", "Size", "sha256", "Used by", "Files")
COL_NAME, COL_WHAT, COL_FAMILY, COL_SIZE, COL_HASH, COL_USERS, COL_FILES = range(len(COLUMNS))
STATE_TEXT = {models.PRESENT: "Present", models.MISSING: "Missing", models.CHANGED: "Changed"}
STATE_COLOURS = {models.MISSING: "#d64545", models.CHANGED: "#d98c00"}
MODEL_FILTER = "Model weights (*.safetensors);;Pickle weights, to convert (*.ckpt *.pt *.pth *.bin)"
_UNIT_DONE = re.compile(r"^\d+ of \d+$")  # the runner's word after each committed unit


def _files_text(status: models.ModelStatus) -> str:
    """The Files column: present, or what is wrong and what to do, in a few words."""
    name = os.path.basename(status.record.path.rstrip("/\\"))
    if status.state == models.MISSING:
        return f"Missing {name}: put it back, or remove it"
    if status.state == models.CHANGED:
        return f"{name} changed since it was hashed: if on purpose, remove it and add it again"
    return STATE_TEXT[status.state]


class RemoveModelCommand(QUndoCommand):
    """Unregister a model (its files stay); undo registers it again with its links."""

    def __init__(self, panel: ModelsPanel, removed: models.RemovedModel):
        super().__init__(f"Remove Model {removed.record.name}")
        self.panel, self.removed = panel, removed
        self._first = True  # the panel removed it already, to report a refusal before pushing

    def redo(self) -> None:
        if self._first:
            self._first = False
        else:
            try:
                self.removed = models.remove_model(self.panel.project, self.removed.record.id)
            except StudioError as exc:
                dialogs.show_error(self.panel, exc, "Cannot remove the model")
                return
        self.panel.models_changed(f"Removed {self.removed.record.name}")

    def undo(self) -> None:
        try:
            record = models.restore_model(self.panel.project, self.removed)
        except StudioError as exc:
            dialogs.show_error(self.panel, exc, "Cannot restore the model")
            return
        self.panel.models_changed(f"{record.name} is registered again")


class ModelsPanel(QWidget):
    """The table of registered models with Add File…, Add Folder…, Remove and Undo."""

    status_message = Signal(str)
    models_updated = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.project = None
        self._runner: JobRunner | None = None
        self._jobs: dict[str, str] = {}  # job id -> what it does, for jobs this panel started
        self.last_scan: list[str] = []  # what the last folder scan found, a line each
        self.undo_stack = QUndoStack(self)

        self.tree = QTreeWidget()
        self.tree.setObjectName("modelsTree")
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setSortingEnabled(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.tree.header()
        header.setStretchLastSection(True)
        widths = {COL_NAME: 200, COL_WHAT: 290, COL_FAMILY: 60, COL_SIZE: 70, COL_HASH: 105}
        for col, width in widths.items():
            header.resizeSection(col, width)
        header.resizeSection(COL_USERS, 230)
        self.tree.itemSelectionChanged.connect(self._update_buttons)

        self.add_button = QPushButton("Add File…")
        self.add_button.setToolTip(
            "Register model files where they are: .safetensors checkpoints, LoRAs, IP-Adapters"
        )
        self.add_button.clicked.connect(self.add_file_dialog)
        self.scan_button = QPushButton("Add Folder…")
        self.scan_button.setToolTip(
            "Register every model in a folder: a model's own folder, the Hugging Face cache,"
            " a ComfyUI or AUTOMATIC1111 models folder"
        )
        self.scan_button.clicked.connect(self.scan_dialog)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Unregister the selected model (its files stay)")
        self.remove_button.clicked.connect(self.remove_selected)
        self.undo_button = QPushButton("Undo")
        self.undo_button.clicked.connect(self.undo_stack.undo)
        self.undo_stack.canUndoChanged.connect(lambda _: self._update_buttons())
        self.undo_stack.undoTextChanged.connect(lambda _: self._update_buttons())

        self.remove_action = QAction("Remove Model", self)
        self.remove_action.setShortcut(QKeySequence.StandardKey.Delete)
        self.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.remove_action.triggered.connect(self.remove_selected)
        self.addAction(self.remove_action)
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.undo_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.addAction(self.undo_action)

        self.job_label = QLabel()
        self.job_label.setObjectName("modelsJobLabel")
        self.job_bar = QProgressBar()
        self.job_bar.setMaximumWidth(260)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop registering after the model being hashed")
        self.cancel_button.clicked.connect(self.cancel_jobs)
        self.summary = QLabel()
        self.summary.setObjectName("modelsSummary")

        job_row = QHBoxLayout()
        job_row.addWidget(self.job_label, 1)
        job_row.addWidget(self.job_bar)
        job_row.addWidget(self.cancel_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.summary, 1)
        for b in (self.add_button, self.scan_button, self.remove_button, self.undo_button):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.tree)
        layout.addLayout(job_row)
        layout.addLayout(buttons)
        self._show_job(None)
        self._update_buttons()

    # -- project ---------------------------------------------------------------------------------

    def set_project(self, project, runner: JobRunner | None) -> None:
        """Show a project's models (None clears the panel); registering needs a runner."""
        self.project, self._runner = project, runner
        self._jobs.clear()
        self.undo_stack.clear()
        self._show_job(None)
        self.reload()

    def reload(self) -> None:
        """Read every model and its files' state again."""
        selected = self.selected_model()
        self.tree.setSortingEnabled(False)
        self.tree.clear()
        rows = models.list_models(self.project) if self.project is not None else []
        for status in rows:
            item = self._item(status)
            self.tree.addTopLevelItem(item)
            if status.record.name == selected:
                item.setSelected(True)
        self.tree.setSortingEnabled(True)
        self.tree.sortItems(COL_NAME, Qt.SortOrder.AscendingOrder)
        missing = sum(1 for s in rows if not s.present)
        if self.project is None:
            text = "No project open"
        elif not rows:
            text = (
                "No models yet: add a model file, or a folder of them (the Hugging Face cache,"
                " ComfyUI, AUTOMATIC1111)"
            )
        else:
            text = f"{len(rows)} model{'s' if len(rows) != 1 else ''}"
            if missing:
                text += f", {missing} needing attention"
        self.summary.setText(text)
        self._update_buttons()

    def _item(self, status: models.ModelStatus) -> QTreeWidgetItem:
        r = status.record
        item = QTreeWidgetItem()
        item.setData(COL_NAME, Qt.ItemDataRole.UserRole, r.name)
        texts = {
            COL_NAME: r.name,
            COL_WHAT: status.description(),
            COL_FAMILY: m.FAMILY_SHORT.get(r.family, "any" if r.kind == m.IMAGE_ENCODER else ""),
            COL_SIZE: m.size_text(r.size),
            COL_HASH: r.sha256[:12],
            COL_USERS: self._users(status),
            COL_FILES: _files_text(status),
        }
        for col, text in texts.items():
            item.setText(col, text)
        item.setTextAlignment(COL_SIZE, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        why = "; ".join((r.meta or {}).get("why") or ())
        item.setToolTip(COL_NAME, f"{r.path}\nRegistered {r.added_at[:16].replace('T', ' ')}")
        item.setToolTip(COL_WHAT, why or status.description())
        item.setToolTip(COL_HASH, f"sha256 {r.sha256}")
        item.setToolTip(COL_FILES, f"{status.problem}\n{status.hint}" if status.problem else r.path)
        if not status.present:
            brush = QBrush(QColor(STATE_COLOURS[status.state]))
            item.setForeground(COL_FILES, brush)
            item.setForeground(COL_NAME, brush)
        return item

    @staticmethod
    def _users(status: models.ModelStatus) -> str:
        if status.personas:
            return status.users()
        if status.record.kind == m.IP_ADAPTER:
            if status.encoder:
                return f"reads with {status.encoder}"
            if m.NEEDS_ENCODER.get(status.record.variant, True):
                return "no image encoder yet"
        return ""

    def models_changed(self, message: str = "") -> None:
        """A model was added, removed or restored: show the table as it is now."""
        self.reload()
        self.models_updated.emit()
        if message:
            self.status_message.emit(message)

    def selected_model(self) -> str | None:
        items = self.tree.selectedItems()
        return items[0].data(COL_NAME, Qt.ItemDataRole.UserRole) if items else None

    def select(self, name: str) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.text(COL_NAME).lower() == name.lower():
                self.tree.setCurrentItem(item)
                return

    # -- adding -----------------------------------------------------------------------------------

    def add_file_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add model files", "", MODEL_FILTER)
        if files:
            self.add_files(files)

    def scan_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Add the models in a folder (a model's folder, the HF cache, ComfyUI, A1111)"
        )
        if folder:
            self.scan_folder(folder)

    def add_files(self, paths: list[str]) -> str | None:
        """Register files (a pickle file is converted first, beside it); returns the job id."""
        if self.project is None or self._runner is None:
            return None
        pickles = [p for p in paths if m.is_pickle(p)]
        try:
            specs = [models.plan_convert(self.project, p) for p in pickles]
            rest = [p for p in paths if p not in pickles]
            if rest:
                specs.insert(0, models.plan_register(self.project, rest))
        except StudioError as exc:
            dialogs.show_error(self, exc, "Cannot add the model")
            return None
        job_id = None
        for spec in specs:
            job_id = self._submit(spec)
        return job_id

    def scan_folder(self, folder: str) -> str | None:
        """Register the models in a folder (a model folder itself, or a folder of them)."""
        if self.project is None or self._runner is None:
            return None
        try:
            plan = model_kinds.scan_folder(self.project, folder)
        except StudioError as exc:
            dialogs.show_error(self, exc, "Cannot scan the folder")
            return None
        self.last_scan = plan.lines()
        self.summary.setToolTip("\n".join(self.last_scan))
        left = len(plan.skipped)
        note = f"; {left} left out (hover the count below for why)" if left else ""
        if plan.spec is None:
            found = "no model" if not plan.found else "nothing new"
            self.status_message.emit(f"{folder}: {found} to register{note}")
            return None
        self.status_message.emit(f"{folder}: registering {len(plan.spec.items)} models{note}")
        return self._submit(plan.spec)

    def _submit(self, spec) -> str:
        job = self._runner.submit(spec)
        self._jobs[job.id] = spec.title
        self._show_job(job.title, 0, 0, "Waiting")
        return job.id

    def cancel_jobs(self) -> None:
        """Stop this panel's registrations after the model in progress (finished ones stay)."""
        if self._runner is not None:
            for job_id in list(self._jobs):
                self._runner.cancel(job_id)

    def on_job_event(self, event: JobEvent) -> None:
        """Follow this panel's jobs: progress while they run, the table when a model is in."""
        if event.job_id not in self._jobs:
            return
        p = event.progress
        if event.event in ("queued", "started", "progress"):
            self._show_job(event.title, p.done, p.total, p.message, p.eta_s)
            if event.event == "progress" and _UNIT_DONE.match(p.message or ""):
                self.reload()  # a model was committed
            return
        self._jobs.pop(event.job_id, None)
        self._show_job(None)
        self.models_changed(f"{event.title}: {event.message}")
        if event.event == "failed":
            dialogs.show_error(self, event.message, "The model was not registered")

    def _show_job(
        self,
        title: str | None,
        done: int = 0,
        total: int = 0,
        message: str = "",
        eta: float | None = None,
    ) -> None:
        running = title is not None
        for w in (self.job_label, self.job_bar, self.cancel_button):
            w.setVisible(running)
        if not running:
            return
        self.job_bar.setRange(0, 1000)
        self.job_bar.setValue(int(1000 * done / total) if total else 0)
        when = format_eta(eta)
        self.job_label.setText(f"{title}: {message}" + (f" ({when})" if when else ""))

    # -- removing --------------------------------------------------------------------------------

    def remove_selected(self) -> None:
        """Ask, then unregister the selected model (undoable)."""
        name = self.selected_model()
        if self.project is None or name is None:
            return
        status = models.model_status(self.project, name)
        details = f"Its files stay in {status.record.path}."
        if status.personas:
            who = ", ".join(link.persona_name for link in status.personas)
            details += f" {who} will no longer use it."
        dialogs.ask(
            self,
            "Remove model",
            f"Remove {name} from this project?",
            details + " You can undo this.",
            "Remove",
            lambda: self.remove(name),
        )

    def remove(self, name: str) -> bool:
        """Unregister a model now (one undo step); False if it was refused."""
        try:
            removed = models.remove_model(self.project, name)
        except StudioError as exc:
            dialogs.show_error(self, exc, "Cannot remove the model")
            return False
        self.undo_stack.push(RemoveModelCommand(self, removed))
        return True

    def _update_buttons(self) -> None:
        has = self.project is not None
        writable = has and self._runner is not None
        self.add_button.setEnabled(writable)
        self.scan_button.setEnabled(writable)
        self.remove_button.setEnabled(writable and self.selected_model() is not None)
        self.remove_action.setEnabled(self.remove_button.isEnabled())
        self.undo_button.setEnabled(self.undo_stack.canUndo())
        text = self.undo_stack.undoText()
        self.undo_button.setToolTip(f"Undo {text}" if text else "Nothing to undo")
