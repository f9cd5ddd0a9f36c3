"""The Library workspace: a persona's references as a grid, filters, an inspector and curation."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QMimeData, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QPixmap,
    QUndoCommand,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.errors import StudioError
from studio.core.library import pose_text
from studio.core.text import plural
from studio.services import audit, imports, library, models, personas
from studio.ui import dialogs
from studio.ui.image_viewer import FullSizeView
from studio.ui.library_model import (
    ROW_ROLE,
    LibraryRow,
    ReferenceFilterModel,
    ReferenceListModel,
    near_text,
)
from studio.ui.library_widgets import PoseChart, ReferenceTileDelegate, annotate
from studio.ui.workspace import Workspace

STATUS_FILTERS = (
    ("All", set()),
    ("Approved", {"approved"}),
    ("OK", {"ok"}),
    ("Suspect", {"suspect"}),
    ("Quarantined", {"quarantined"}),
    ("Not checked", {"pending"}),
)
FLAG_LABELS = {
    "": "Any quality",
    "no_face": "No face",
    "several_faces": "Several faces",
    "face_too_small": "Face too small",
    "blurred": "Blurred",
    "badly_exposed": "Badly exposed",
    "extreme_pose": "Extreme pose",
}
REF_MIME = "application/x-persona-studio-references"
NEAR_DUPLICATES = "near-duplicates"


class CurationCommand(QUndoCommand):
    """One curation edit (status, tags, rating, chosen face, persona) as one undo step.

    The service returns {reference id: (old, new)}; undo puts the old values back and redo the
    new ones through `audit.revert`, so both go through the same service the edit did.
    """

    def __init__(self, browser: LibraryBrowser, text: str, field: str, edit):
        super().__init__(text)
        self.browser, self.field, self.edit = browser, field, edit
        self.changes: dict | None = None

    def redo(self) -> None:
        project = self.browser.project
        if self.changes is None:
            self.changes = self.edit()
            if not self.changes:
                self.setObsolete(True)  # nothing changed: keep it off the stack
        else:
            inverse = {rid: (new, old) for rid, (old, new) in self.changes.items()}
            _revert(project, self.field, inverse)
        self.browser.references_changed()

    def undo(self) -> None:
        _revert(self.browser.project, self.field, self.changes or {})
        self.browser.references_changed()


class EngineCommand(QUndoCommand):
    """Choose the project's face engine (a project setting), then check with it."""

    def __init__(self, browser: LibraryBrowser, name: str):
        super().__init__(f"Use the {name} face engine")
        self.browser, self.name, self.old = browser, name, None

    def redo(self) -> None:
        self.old = audit.set_default_engine(self.browser.project, self.name)
        self.browser.show_engine()
        self.browser.start_audit()

    def undo(self) -> None:
        audit.set_default_engine(self.browser.project, self.old)
        self.browser.show_engine()
        self.browser.reload_rows()


class DeleteReferencesCommand(QUndoCommand):
    """Delete references as one undo step; undo restores their rows (the blobs never left)."""

    def __init__(self, browser: LibraryBrowser, ids: list[str]):
        super().__init__(f"Delete {plural(len(ids), 'reference')}")
        self.browser, self.ids = browser, ids
        self.deleted: library.DeletedReferences | None = None

    def redo(self) -> None:
        self.deleted = library.delete_references(self.browser.project, self.ids)
        self.browser.references_changed()

    def undo(self) -> None:
        if self.deleted is not None:
            library.restore_references(self.browser.project, self.deleted)
        self.browser.references_changed()
        self.browser.select_references(self.ids)


def _revert(project, field: str, changes: dict) -> None:
    if field == "persona_id":
        library.revert_move(project, changes)
    else:
        audit.revert(project, field, changes)


class ReferenceGrid(QListView):
    """Icon grid with uniform tiles; drags out the original files, takes files dropped in."""

    files_dropped = Signal(list)

    def __init__(self, browser: LibraryBrowser):
        super().__init__()
        self.browser = browser
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setGridSize(QSize(184, 214))
        self.setSpacing(2)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(200)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(False)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragDrop)
        self.viewport().setAcceptDrops(True)  # drops land on the viewport, not the view

    def startDrag(self, actions) -> None:
        from PySide6.QtGui import QDrag

        rows = self.browser.selected_rows()
        if not rows:
            return
        drag = QDrag(self)
        drag.setMimeData(self.browser.mime_for(rows))
        first = self.model().data(self.selectedIndexes()[0], Qt.ItemDataRole.DecorationRole)
        if isinstance(first, QPixmap) and not first.isNull():
            drag.setPixmap(first.scaled(64, 64, Qt.AspectRatioMode.KeepAspectRatio))
        drag.exec(Qt.DropAction.CopyAction | Qt.DropAction.MoveAction, Qt.DropAction.CopyAction)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _local_files(event.mimeData()) and not event.mimeData().hasFormat(REF_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if _local_files(event.mimeData()) and not event.mimeData().hasFormat(REF_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        files = _local_files(event.mimeData())
        if files and not event.mimeData().hasFormat(REF_MIME):
            event.acceptProposedAction()
            self.files_dropped.emit(files)


class CastDropList(QListWidget):
    """The cast: choosing a persona shows its references; dropping references moves them."""

    references_dropped = Signal(str, list)  # persona id, reference ids
    files_dropped = Signal(str, list)  # persona id, paths

    def __init__(self):
        super().__init__()
        self.setAcceptDrops(True)
        self.setIconSize(QSize(36, 36))

    def _target(self, event) -> QListWidgetItem | None:
        return self.itemAt(event.position().toPoint())

    def dragEnterEvent(self, event) -> None:
        md = event.mimeData()
        if md.hasFormat(REF_MIME) or _local_files(md):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        item = self._target(event)
        if item is None:
            event.ignore()
            return
        pid = item.data(Qt.ItemDataRole.UserRole)
        md = event.mimeData()
        event.acceptProposedAction()
        if md.hasFormat(REF_MIME):
            ids = bytes(md.data(REF_MIME)).decode().split("\n")
            self.references_dropped.emit(pid, [i for i in ids if i])
        else:
            self.files_dropped.emit(pid, _local_files(md))


def _local_files(md: QMimeData) -> list[str]:
    return [u.toLocalFile() for u in md.urls() if u.isLocalFile()] if md.hasUrls() else []


class LibraryBrowser(Workspace):
    """The reference library of the open project."""

    name = "library"
    title = "Library"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.persona_id: str | None = None
        self._export_dir = tempfile.TemporaryDirectory(prefix="persona-studio-drag-")
        self._import_jobs: set[str] = set()
        self._groups_key: tuple | None = None
        self._groups: dict[str, tuple[int, tuple[str, ...]]] = {}
        self._audit_jobs: set[str] = set()
        self._download_jobs: dict[str, bool] = {}  # job id -> check references when done

        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(400)
        self._reload_timer.timeout.connect(self._reload_after_jobs)
        self.model = ReferenceListModel(self)
        self.proxy = ReferenceFilterModel(self)
        self.proxy.setSourceModel(self.model)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_cast())
        splitter.addWidget(self._build_centre())
        splitter.addWidget(self._build_side())
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([200, 800, 360])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)
        self._update_actions()

    # -- building -------------------------------------------------------------------------------

    def _build_cast(self) -> QWidget:
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        title = QLabel("<b>Cast</b>")
        self.cast = CastDropList()
        self.cast.setObjectName("libraryCast")
        self.cast.currentItemChanged.connect(self._cast_selected)
        self.cast.references_dropped.connect(self.move_to_persona)
        self.cast.files_dropped.connect(lambda pid, files: self.import_files(files, pid))
        hint = QLabel(
            "Drop images here or on the grid to import; drop references on another "
            "persona to move them."
        )
        hint.setWordWrap(True)
        hint.setObjectName("sectionHint")
        v.addWidget(title)
        v.addWidget(self.cast, 1)
        v.addWidget(hint)
        return box

    def _build_centre(self) -> QWidget:
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        self.status_buttons = QButtonGroup(self)
        for i, (label, _) in enumerate(STATUS_FILTERS):
            b = QToolButton()
            b.setText(label)
            b.setCheckable(True)
            b.setChecked(i == 0)
            self.status_buttons.addButton(b, i)
            bar.addWidget(b)
        self.status_buttons.idClicked.connect(
            lambda i: self.proxy.set_filter(statuses=STATUS_FILTERS[i][1]) or self._counts()
        )
        bar.addStretch(1)
        self.import_button = QToolButton()
        self.import_button.setText("Import…")
        self.import_button.setToolTip("Import image files; the arrow offers a whole folder")
        self.import_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.import_button.clicked.connect(self.import_dialog)
        import_menu = QMenu(self.import_button)
        import_menu.addAction("Images…", self.import_dialog)
        import_menu.addAction("A folder…", self.import_folder_dialog)
        self.import_button.setMenu(import_menu)
        bar.addWidget(self.import_button)
        v.addLayout(bar)
        bar = QHBoxLayout()
        self.flag_combo = QComboBox()
        for key, label in FLAG_LABELS.items():
            self.flag_combo.addItem(label, key)
        self.flag_combo.addItem("Near-duplicates", NEAR_DUPLICATES)
        self.flag_combo.currentIndexChanged.connect(self._flag_filter_changed)
        bar.addWidget(self.flag_combo)
        self.pose_combo = QComboBox()
        for label, rng in (
            ("Any pose", None),
            ("Frontal", (-15, 15)),
            ("Left side", (-90, -15)),
            ("Right side", (15, 90)),
        ):
            self.pose_combo.addItem(label, rng)
        self.pose_combo.currentIndexChanged.connect(
            lambda _: (
                self.proxy.set_filter(yaw_range=self.pose_combo.currentData()) or self._counts()
            )
        )
        bar.addWidget(self.pose_combo)
        self.sort_combo = QComboBox()
        for label, key in (
            ("Newest first", "date"),
            ("Best agreement", "agreement"),
            ("Best quality", "quality"),
            ("Name", "name"),
        ):
            self.sort_combo.addItem(label, key)
        self.sort_combo.currentIndexChanged.connect(self._sort_changed)
        bar.addWidget(self.sort_combo)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search tag or file name")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda t: self.proxy.set_filter(text=t) or self._counts())
        bar.addWidget(self.search, 1)
        v.addLayout(bar)

        self.grid = ReferenceGrid(self)
        self.grid.setObjectName("referenceGrid")
        self.grid.setModel(self.proxy)
        self.grid.setItemDelegate(ReferenceTileDelegate(self.grid))
        self.grid.files_dropped.connect(self.import_files)
        self.grid.doubleClicked.connect(lambda index: self.show_full_size(index.data(ROW_ROLE)))
        self.grid.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.grid.customContextMenuRequested.connect(
            lambda pos: self.context_menu(pos).exec(self.grid.viewport().mapToGlobal(pos))
        )
        self.grid.selectionModel().selectionChanged.connect(self._selection_changed)
        v.addWidget(self.grid, 1)

        actions = QHBoxLayout()
        self.count_label = QLabel()
        actions.addWidget(self.count_label, 1)
        self.approve_button = QPushButton("Approve")
        self.approve_button.clicked.connect(lambda: self.set_status("approved"))
        self.quarantine_button = QPushButton("Quarantine")
        self.quarantine_button.setToolTip("Never used for training or conditioning")
        self.quarantine_button.clicked.connect(lambda: self.set_status("quarantined"))
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Back to the audit's verdict")
        self.reset_button.clicked.connect(lambda: self.set_status("pending"))
        self.tag_edit = QLineEdit()
        self.tag_edit.setPlaceholderText("Tag")
        self.tag_edit.setMaximumWidth(140)
        self.tag_edit.returnPressed.connect(lambda: self.tag_selection(self.tag_edit.text(), True))
        self.rating_combo = QComboBox()
        self.rating_combo.addItem("Rate…", None)
        for n in range(6):
            self.rating_combo.addItem("☆ unrated" if n == 0 else "★" * n, n)
        self.rating_combo.activated.connect(self._rating_chosen)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Remove the selected references from the persona (Delete)")
        self.delete_button.clicked.connect(self.delete_selection)
        # In the window's Library menu; the key works wherever the focus is in the workspace (a
        # text field keeps its own Delete).
        self.delete_action = self.workspace_action(
            "&Delete References",
            QKeySequence.StandardKey.Delete,
            self.delete_selection,
            "Remove the selected references from the persona (undo brings them back)",
        )
        self.untag_button = QPushButton("Remove tag")
        self.untag_button.clicked.connect(lambda: self.tag_selection(self.tag_edit.text(), False))
        for w in (
            self.approve_button,
            self.quarantine_button,
            self.reset_button,
            self.rating_combo,
            self.tag_edit,
            self.untag_button,
            self.delete_button,
        ):
            actions.addWidget(w)
        v.addLayout(actions)
        return box

    def _build_side(self) -> QWidget:
        self.side = QTabWidget()
        inspector = QWidget()
        v = QVBoxLayout(inspector)
        self.preview = QLabel("Select a reference")
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setMinimumSize(220, 200)
        self.preview.setObjectName("referencePreview")
        v.addWidget(self.preview, 1)
        facts_box = QWidget()
        self.facts = QFormLayout(facts_box)
        self.facts.setContentsMargins(0, 0, 0, 0)
        self._fact_labels: dict[str, QLabel] = {}
        for key in (
            "File",
            "Size",
            "Status",
            "Faces",
            "Agreement",
            "Face size",
            "Pose",
            "Sharpness",
            "Exposure",
            "Flags",
            "Near-duplicate",
            "Tags",
            "Rating",
            "Imported",
        ):
            label = QLabel("—")
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self._fact_labels[key] = label
            self.facts.addRow(key, label)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(facts_box)
        v.addWidget(scroll, 1)
        self.meta = QPlainTextEdit()
        self.meta.setReadOnly(True)
        self.meta.setMaximumHeight(90)
        self.meta.setPlaceholderText("Generation parameters, when the file carries them")
        v.addWidget(self.meta)
        self.side.addTab(inspector, "Inspector")

        coverage = QWidget()
        c = QVBoxLayout(coverage)
        self.pose_chart = PoseChart()
        self.missing_label = QLabel()
        self.missing_label.setWordWrap(True)
        self.calibration_label = QLabel()
        self.calibration_label.setWordWrap(True)
        c.addWidget(QLabel("<b>Pose coverage</b> (yaw × pitch of usable references)"))
        c.addWidget(self.pose_chart, 1)
        c.addWidget(self.missing_label)
        c.addWidget(self.calibration_label)
        engine_row = QHBoxLayout()
        engine_row.addWidget(QLabel("Face engine"))
        self.engine_combo = QComboBox()
        for choice in audit.engine_choices():
            self.engine_combo.addItem(choice.label, choice.name)
        self.engine_combo.activated.connect(self._engine_chosen)
        engine_row.addWidget(self.engine_combo, 1)
        c.addLayout(engine_row)
        self.engine_note = QLabel()
        self.engine_note.setWordWrap(True)
        self.engine_note.setObjectName("engineNote")
        c.addWidget(self.engine_note)
        models_row = QHBoxLayout()
        self.models_label = QLabel()
        self.models_label.setWordWrap(True)
        self.models_label.setObjectName("modelsNote")
        models_row.addWidget(self.models_label, 1)
        self.download_button = QPushButton("Download models…")
        self.download_button.setToolTip("Download the engine's model pack, checked by its sha256")
        self.download_button.clicked.connect(self.offer_download)
        models_row.addWidget(self.download_button)
        c.addLayout(models_row)
        self.audit_button = QPushButton("Check references again")
        self.audit_button.setToolTip("Run the face check on images this engine has not seen")
        self.audit_button.clicked.connect(self.start_audit)
        c.addWidget(self.audit_button)
        self.side.addTab(coverage, "Coverage")

        pick = QWidget()
        p = QVBoxLayout(pick)
        form = QFormLayout()
        self.pick_yaw = QSpinBox()
        self.pick_yaw.setRange(-90, 90)
        self.pick_yaw.setSuffix("°")
        self.pick_pitch = QSpinBox()
        self.pick_pitch.setRange(-60, 60)
        self.pick_pitch.setSuffix("°")
        self.pick_count = QSpinBox()
        self.pick_count.setRange(3, 5)
        self.pick_count.setValue(4)
        form.addRow("Head turn (yaw)", self.pick_yaw)
        form.addRow("Head tilt (pitch)", self.pick_pitch)
        form.addRow("How many", self.pick_count)
        p.addLayout(form)
        self.pick_button = QPushButton("Pick references")
        self.pick_button.clicked.connect(self.pick)
        p.addWidget(self.pick_button)
        self.pick_list = QListWidget()
        self.pick_list.setIconSize(QSize(72, 72))
        self.pick_list.setWordWrap(True)
        self.pick_list.itemClicked.connect(
            lambda item: self.select_reference(item.data(Qt.ItemDataRole.UserRole))
        )
        p.addWidget(self.pick_list, 1)
        self.pick_reason = QLabel()
        self.pick_reason.setWordWrap(True)
        self.pick_reason.setTextFormat(Qt.TextFormat.PlainText)
        self.pick_reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        p.addWidget(self.pick_reason)
        self.side.addTab(pick, "Pick for a shot")
        return self.side

    # -- project and persona --------------------------------------------------------------------

    def set_project(self, project) -> None:
        """Show a project's library (None clears it)."""
        self.project = project
        self._undo.clear()
        self._groups_key = None
        self.cast.blockSignals(True)
        self.cast.clear()
        if project is not None:
            for p in personas.list_personas(project):
                item = QListWidgetItem(p.name)
                item.setData(Qt.ItemDataRole.UserRole, p.id)
                self.cast.addItem(item)
        self.cast.blockSignals(False)
        self.persona_id = None
        self.show_engine()
        if self.cast.count():
            self.cast.setCurrentRow(0)
        else:
            self.model.set_rows(project, [])
        self._update_actions()

    def references_changed(self) -> None:
        """A curation edit or its undo: show it, and let the other workspaces follow (the
        cast's portraits, the drift scores that depend on the references)."""
        self.reload_rows()
        self.cast_changed.emit()

    def refresh_cast(self) -> None:
        """Another workspace added, renamed or removed a persona: the cast list follows, and
        the chosen persona stays chosen while she is in it."""
        if self.project is None:
            return
        chosen = self.persona_id
        self.cast.blockSignals(True)
        self.cast.clear()
        for p in personas.list_personas(self.project):
            item = QListWidgetItem(p.name)
            item.setData(Qt.ItemDataRole.UserRole, p.id)
            self.cast.addItem(item)
            if p.id == chosen:
                self.cast.setCurrentItem(item)
        self.cast.blockSignals(False)
        if self.cast.currentItem() is None:  # she was removed: show the first persona
            if self.cast.count():
                self.cast.setCurrentRow(0)
            else:
                self._cast_selected(None)
        self._update_actions()

    def _cast_selected(self, item, _previous=None) -> None:
        self.persona_id = item.data(Qt.ItemDataRole.UserRole) if item else None
        self.reload_rows(reset=True)

    def reload_rows(self, reset: bool = False) -> None:
        """Read the persona's references and their audit once; tiles paint from memory."""
        if self.project is None or self.persona_id is None:
            self.model.set_rows(self.project, [])
            self._counts()
            return
        selected = {r.id for r in self.selected_rows()}
        rows = [
            LibraryRow(
                reference=a.reference,
                status=a.status,
                faces=a.faces,
                agreement=a.agreement,
                flags=tuple(a.flags),
                face=a.face,
                quality=_quality(a.face),
            )
            for a in audit.audit_rows(self.project, self.persona_id)
        ]
        if reset or len(rows) != self.model.rowCount():
            self.model.set_rows(self.project, rows)
        else:
            self.model.update_rows(rows)
        self._apply_groups()
        self.proxy.invalidate()
        if not reset:
            self._reselect(selected)
        self._refresh_coverage()
        self._counts()
        self._selection_changed()

    def _reselect(self, ids: set[str]) -> None:
        sel = self.grid.selectionModel()
        for r in range(self.proxy.rowCount()):
            index = self.proxy.index(r, 0)
            if index.data(ROW_ROLE).id in ids:
                sel.select(index, sel.SelectionFlag.Select)

    def _counts(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self.count_label.setText(
            f"{shown} of {total} references" if shown != total else f"{total} references"
        )

    def _flag_filter_changed(self, _index: int = 0) -> None:
        key = self.flag_combo.currentData()
        groups = key == NEAR_DUPLICATES
        if groups:
            self._apply_groups()
        self.proxy.set_filter(flag="" if groups else key, near_duplicates_only=groups)
        if groups:
            self.proxy.sort(0, Qt.SortOrder.AscendingOrder)
        else:
            self._sort_changed()
        self._counts()

    def _apply_groups(self) -> None:
        """Mark resized or re-encoded copies of one picture: a shared group number for the
        badge, and the others' file names for the tooltip and the inspector."""
        rows = self.model.rows()
        # Curation edits do not change which pictures look alike: regroup only when the
        # persona's references do (an import, a delete, a move).
        key = (self.persona_id, tuple(r.id for r in rows))
        if key != self._groups_key:
            groups = imports.near_duplicate_groups(self.project, self.persona_id)
            self._groups = {
                ref.id: (i, tuple(o.file_name for o in group if o.id != ref.id))
                for i, group in enumerate(groups)
                for ref in group
            }
            self._groups_key = key
        changed = []
        for r in rows:
            group, near_of = self._groups.get(r.id, (None, ()))
            if (group, near_of) != (r.group, r.near_of):
                changed.append(replace(r, group=group, near_of=near_of))
        self.model.update_rows(changed)

    def _sort_changed(self) -> None:
        key = self.sort_combo.currentData()
        self.proxy.sort_key = key
        order = Qt.SortOrder.AscendingOrder if key == "name" else Qt.SortOrder.DescendingOrder
        self.proxy.sort(0, order)

    # -- selection and inspector ----------------------------------------------------------------

    def selected_rows(self) -> list[LibraryRow]:
        return [i.data(ROW_ROLE) for i in self.grid.selectionModel().selectedIndexes()]

    def select_reference(self, reference_id: str) -> None:
        for r in range(self.proxy.rowCount()):
            index = self.proxy.index(r, 0)
            if index.data(ROW_ROLE).id == reference_id:
                self.grid.setCurrentIndex(index)
                self.grid.scrollTo(index)
                self.side.setCurrentIndex(0)
                return

    def select_references(self, ids: list[str]) -> None:
        """Select these references (those shown), e.g. after undoing their delete."""
        wanted = set(ids)
        sel = self.grid.selectionModel()
        sel.clearSelection()
        for r in range(self.proxy.rowCount()):
            index = self.proxy.index(r, 0)
            if index.data(ROW_ROLE).id in wanted:
                sel.select(index, sel.SelectionFlag.Select)
        self._selection_changed()

    def _selection_changed(self, *_) -> None:
        rows = self.selected_rows()
        self._update_actions()
        if len(rows) != 1:
            self.preview.setPixmap(QPixmap())
            self.preview.setText(f"{len(rows)} selected" if rows else "Select a reference")
            for label in self._fact_labels.values():
                label.setText("—")
            self.meta.setPlainText("")
            return
        self._inspect(rows[0])

    def _inspect(self, row: LibraryRow) -> None:
        ref = row.reference
        pixmap = QPixmap()
        try:
            pixmap.loadFromData(library.read_blob(self.project, ref.blob_sha))
        except StudioError as exc:
            self.preview.setText(exc.message)
        if not pixmap.isNull():
            faces = audit.faces_of(self.project, ref) if row.faces else []
            pixmap = annotate(pixmap, faces, ref.face_index if hasattr(ref, "face_index") else None)
            self.preview.setPixmap(
                pixmap.scaled(
                    self.preview.size(),
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            )
        f = row.face
        facts = {
            "File": ref.file_name,
            "Size": f"{ref.width} × {ref.height}",
            "Status": row.status,
            "Faces": "not checked yet" if row.faces is None else str(row.faces),
            "Agreement": "—" if row.agreement is None else f"{row.agreement:.3f}",
            "Face size": "—" if f is None else f"{f.size_px:.0f} px",
            "Pose": "—"
            if f is None
            else f"yaw {f.yaw:+.0f}°, pitch {f.pitch:+.0f}°, roll {f.roll:+.0f}°",
            "Sharpness": "—" if f is None else f"{f.sharpness:.2f}",
            "Exposure": "—" if f is None else f"{f.exposure:.2f}",
            "Flags": ", ".join(FLAG_LABELS.get(x, x) for x in row.flags) or "none",
            "Near-duplicate": f"of {near_text(row.near_of)}" if row.near_of else "none",
            "Tags": ", ".join(ref.tags) or "none",
            "Rating": "★" * ref.rating if ref.rating else "unrated",
            "Imported": ref.imported_at[:16].replace("T", " "),
        }
        for key, text in facts.items():
            self._fact_labels[key].setText(text)
        meta = ref.meta.get("generation") or ref.meta.get("parameters") or ""
        self.meta.setPlainText(meta if isinstance(meta, str) else str(meta))

    # -- edits ------------------------------------------------------------------------------------

    def _push(self, text: str, field: str, edit) -> None:
        try:
            self._undo.push(CurationCommand(self, text, field, edit))
        except StudioError as exc:
            dialogs.show_error(self, exc)

    def set_status(self, status: str) -> None:
        ids = [r.id for r in self.selected_rows()]
        if ids and self.project is not None:
            word = {"approved": "Approve", "quarantined": "Quarantine", "pending": "Reset"}[status]
            self._push(
                f"{word} {plural(len(ids), 'reference')}",
                "status",
                lambda: audit.set_status(self.project, ids, status),
            )

    def _rating_chosen(self, index: int) -> None:
        rating = self.rating_combo.itemData(index)
        self.rating_combo.setCurrentIndex(0)
        if rating is not None:
            self.rate_selection(rating)

    def rate_selection(self, rating: int) -> None:
        ids = [r.id for r in self.selected_rows()]
        if ids and self.project is not None:
            self._push(
                f"Rate {plural(len(ids), 'reference')} {rating}",
                "rating",
                lambda: audit.set_rating(self.project, ids, rating),
            )

    def tag_selection(self, tag: str, add: bool) -> None:
        tag = tag.strip()
        ids = [r.id for r in self.selected_rows()]
        if tag and ids and self.project is not None:
            kw = {"add": (tag,)} if add else {"remove": (tag,)}
            text = f"{'Tag' if add else 'Untag'} {plural(len(ids), 'reference')} '{tag}'"
            self._push(text, "tags", lambda: audit.set_tags(self.project, ids, **kw))
            self.tag_edit.clear()

    def show_full_size(self, row: LibraryRow | None = None) -> FullSizeView | None:
        """Open a reference's image at full size (the selected one when none is given)."""
        if row is None:
            rows = self.selected_rows()
            row = rows[0] if rows else None
        if row is None or self.project is None:
            return None
        pixmap = QPixmap()
        try:
            pixmap.loadFromData(library.read_blob(self.project, row.reference.blob_sha))
        except StudioError as exc:
            dialogs.show_error(self, exc)
            return None
        view = FullSizeView(pixmap, row.reference.file_name, self)
        view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        view.open()
        return view

    def context_menu(self, pos) -> QMenu:
        """The grid's right-click menu: the edits of the buttons, for the tile under the mouse."""
        index = self.grid.indexAt(pos)
        sel = self.grid.selectionModel()
        if index.isValid() and not sel.isSelected(index):
            self.grid.setCurrentIndex(index)  # right-click on an unselected tile selects it
        menu = QMenu(self)
        has = bool(self.selected_rows())
        writable = has and self.project is not None and not self.project.read_only
        for text, slot, enabled in (
            ("Show Full Size", lambda: self.show_full_size(), has),
            (None, None, None),
            ("Approve", lambda: self.set_status("approved"), writable),
            ("Quarantine", lambda: self.set_status("quarantined"), writable),
            ("Reset to the Check's Verdict", lambda: self.set_status("pending"), writable),
            ("Tag…", self.ask_tag, writable),
            (None, None, None),
            ("Delete", self.delete_selection, writable),
        ):
            if text is None:
                menu.addSeparator()
                continue
            action = menu.addAction(text, slot)
            action.setEnabled(bool(enabled))
        return menu

    def ask_tag(self) -> None:
        tag, ok = QInputDialog.getText(self, "Tag references", "Tag")
        if ok and tag.strip():
            self.tag_selection(tag, True)

    def delete_selection(self) -> None:
        """Delete the selected references (undoable)."""
        ids = [r.id for r in self.selected_rows()]
        if not ids or self.project is None or self.project.read_only:
            return
        try:
            self._undo.push(DeleteReferencesCommand(self, ids))
        except StudioError as exc:
            dialogs.show_error(self, exc)

    def move_to_persona(self, persona_id: str, ids: list[str]) -> None:
        if self.project is None or not ids or persona_id == self.persona_id:
            return
        target = personas.get_persona(self.project, persona_id)
        self._push(
            f"Move {plural(len(ids), 'reference')} to {target.name}",
            "persona_id",
            lambda: library.move_references(self.project, ids, persona_id),
        )

    def mime_for(self, rows: list[LibraryRow]) -> QMimeData:
        """Reference ids for moves inside the studio, and the original files for other apps."""
        md = QMimeData()
        md.setData(REF_MIME, "\n".join(r.id for r in rows).encode())
        urls = []
        folder = Path(self._export_dir.name)
        for r in rows:
            dest = library.export_original(self.project, r.reference, folder)
            urls.append(QUrl.fromLocalFile(str(dest)))
        md.setUrls(urls)
        return md

    # -- import, audit, pick ----------------------------------------------------------------------

    def import_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self,
            "Import references",
            "",
            "Images (*.jpg *.jpeg *.png *.webp *.tif *.tiff *.bmp *.gif);;All files (*)",
        )
        if files:
            self.import_files(files)

    def import_folder_dialog(self) -> None:
        """Import every image in a folder (and its subfolders) into the current persona."""
        folder = QFileDialog.getExistingDirectory(self, "Import a folder of references")
        if folder:
            self.import_files([folder])

    def import_files(self, files: list[str], persona_id: str | None = None) -> None:
        """Import dropped or chosen files and folders as a job, then audit them."""
        persona_id = persona_id or self.persona_id
        if self.runner is None or persona_id is None:
            dialogs.show_error(
                self,
                StudioError(
                    "References cannot be imported into a project opened read-only.",
                    hint="Open the project for writing.",
                ),
            )
            return
        try:
            spec = imports.plan_import(self.project, persona_id, files)
        except StudioError as exc:
            dialogs.show_error(self, exc)
            return
        job = self.runner.submit(spec)
        self._import_jobs.add(job.id)
        self.status_message.emit(f"Importing {len(spec.paths)} files…")

    def on_job_event(self, event) -> None:
        """Refresh when one of the library's jobs commits work."""
        if self.project is None:
            return
        if event.event == "done" and event.job_id in self._import_jobs:
            self._import_jobs.discard(event.job_id)
            self.after_import(event.job_id)
        if event.event == "failed" and event.job_id in self._audit_jobs | self._import_jobs:
            # e.g. the chosen engine's model files are missing: say where to put them.
            dialogs.show_error(self, StudioError(event.message), "The check could not run")
        if event.job_id in self._download_jobs and event.event in ("done", "failed", "cancelled"):
            self.after_download(event)
        if event.event in ("done", "failed", "cancelled"):
            self._audit_jobs.discard(event.job_id)
        if event.event in ("done", "progress"):
            # Coalesce: a 1,000-file import must not re-read the library 1,000 times.
            if not self._reload_timer.isActive():
                self._reload_timer.start()

    def show_engine(self) -> None:
        """Show the project's face engine and what the user must know about it."""
        if self.project is None:
            return
        name = audit.default_engine(self.project)
        index = self.engine_combo.findData(name.partition(":")[0])
        self.engine_combo.setCurrentIndex(max(0, index))
        note = next((c.note for c in audit.engine_choices() if c.name == name), "")
        self.engine_note.setText(note)
        self.engine_note.setVisible(bool(note))
        status = models.engine_status(name)
        downloading = bool(self._download_jobs)
        if status.ready:
            self.models_label.setText(f"Models: {status.folder}" if status.folder else "")
        elif downloading:
            self.models_label.setText(f"Downloading the {status.pack} models…")
        else:
            self.models_label.setText(
                f"{status.problem} Download the pack, or put {status.files} there yourself."
            )
        self.models_label.setVisible(bool(self.models_label.text()))
        self.download_button.setVisible(status.downloadable)
        self.download_button.setEnabled(status.downloadable and not downloading)

    def _engine_chosen(self, index: int) -> None:
        name = self.engine_combo.itemData(index)
        if self.project is not None and name != audit.default_engine(self.project):
            self._undo.push(EngineCommand(self, name))

    def start_audit(self) -> None:
        """Check the persona's references with the project's engine (a job).

        When the engine's models are missing the user is asked to download them first (the
        check follows the download), or told where to put them.
        """
        if self.runner is None or self.persona_id is None:
            return
        status = models.engine_status(audit.default_engine(self.project))
        if not status.ready:
            if status.downloadable:
                self.offer_download(then_check=True)
            else:
                dialogs.show_error(self, StudioError(status.problem, hint=status.hint))
            return
        job = self.runner.submit(audit.plan_audit(self.project, self.persona_id))
        self._audit_jobs.add(job.id)

    def offer_download(self, then_check: bool = False) -> None:
        """Ask before downloading the engine's model pack; on yes, download it as a job."""
        if self.runner is None or self.project is None or self._download_jobs:
            return
        status = models.engine_status(audit.default_engine(self.project))
        if not status.downloadable:
            return
        note = next((c.note for c in audit.engine_choices() if c.name == "insightface"), "")

        def download() -> None:
            job = self.runner.submit(models.plan_download(status))
            self._download_jobs[job.id] = then_check
            self.show_engine()

        dialogs.ask(
            self,
            "Download face models",
            f"The {status.pack} face models are not on this computer. "
            f"Download them now ({models.size_text(status.size)}) into {status.folder}?",
            f"{status.problem} The archive is checked against its sha256 before it is "
            f"unpacked. {note}",
            "Download",
            download,
        )

    def after_download(self, event) -> None:
        then_check = self._download_jobs.pop(event.job_id)
        self.show_engine()
        if event.event == "failed":
            dialogs.show_error(self, StudioError(event.message), "The download did not finish")
        elif event.event == "done":
            self.status_message.emit(event.progress.message)
            if then_check:
                self.start_audit()

    def _reload_after_jobs(self) -> None:
        if self.project is not None:
            self.model.forget_thumbnails()
            self.reload_rows()

    def after_import(self, job_id: str) -> None:
        report = imports.import_report(self.project, job_id)
        self.status_message.emit(report.summary())
        if report.rejected:
            dialogs.show_error(
                self,
                StudioError(
                    report.summary(),
                    hint="\n".join(f"{Path(p).name}: {why}" for p, why in report.rejected[:12]),
                ),
                "Import report",
            )
        self.start_audit()

    def _refresh_coverage(self) -> None:
        if self.project is None or self.persona_id is None:
            return
        cov = audit.pose_coverage(self.project, self.persona_id)
        self.pose_chart.set_points(cov.points)
        self.missing_label.setText(
            "Lacks: " + ", ".join(cov.missing) if cov.missing else "Every angle is covered."
        )
        cal = audit.calibration(self.project, self.persona_id)
        self.calibration_label.setText(
            cal.describe() if cal else "Not calibrated yet: needs 3 references with a face."
        )

    def pick(self) -> None:
        self.pick_list.clear()
        yaw, pitch = self.pick_yaw.value(), self.pick_pitch.value()
        try:
            picks = audit.pick_references(
                self.project,
                self.persona_id,
                target_yaw=yaw,
                target_pitch=pitch,
                count=self.pick_count.value(),
            )
        except StudioError as exc:
            self.pick_reason.setText(str(exc))
            return
        palette = self.pick_list.palette()
        for pk in picks:
            pose = pose_text(pk.face.yaw, pk.face.pitch)
            lines = [pk.reference.file_name]
            if pk.pose_note:
                lines.append(f"⚠ {pose}: {pk.pose_note}")
            else:
                lines.append(f"{pose}: {pk.pose_gap:.0f}° from the shot's pose")
            if pk.copies:
                n = len(pk.copies)
                lines.append(
                    f"{n} {'copy' if n == 1 else 'copies'} of this photo left out: "
                    + ", ".join(c.file_name for c in pk.copies)
                )
            item = QListWidgetItem("\n".join(lines))
            item.setToolTip(pk.why)
            item.setData(Qt.ItemDataRole.UserRole, pk.reference.id)
            if pk.pose_note:
                item.setForeground(palette.color(palette.ColorRole.Link))
            pixmap = self.model.cached_pixmap(pk.reference.blob_sha)
            if pixmap is not None:
                item.setIcon(pixmap)
            self.pick_list.addItem(item)
        summary = f"{plural(len(picks), 'distinct photo')} picked for {pose_text(yaw, pitch)}."
        self.pick_reason.setText("\n".join([summary, *(f"⚠ {w}" for w in picks.warnings)]))

    def _update_actions(self) -> None:
        has_sel = bool(self.selected_rows()) if self.project is not None else False
        writable = self.project is not None and not self.project.read_only
        for w in (
            self.approve_button,
            self.quarantine_button,
            self.reset_button,
            self.untag_button,
            self.tag_edit,
            self.rating_combo,
            self.delete_button,
        ):
            w.setEnabled(has_sel and writable)
        self.import_button.setEnabled(writable and self.runner is not None)
        for w in (self.engine_combo, self.audit_button):
            w.setEnabled(writable and self.runner is not None)
        self.pick_button.setEnabled(self.project is not None and self.persona_id is not None)


def _quality(face) -> float | None:
    if face is None:
        return None
    size = min(1.0, face.size_px / 300)
    exposure = 1.0 - min(1.0, abs(face.exposure - 0.5) * 2)
    return round(0.5 * face.sharpness + 0.3 * size + 0.2 * exposure, 4)
