"""The shot settings editor of the Timeline workspace: one render shot's settings, with undo.

Every edit is one `SetShotSettingsCommand` on the workspace's undo stack; the fields refresh
from the stored settings after each change, so a refused edit (the service's message is shown
beside the fields and in a dialog) leaves both the project and the fields as they were.

Beside the fields: the prompt the shot renders with (its token counts and the phrases the budget
leaves out, read-only), and the references that condition it through IP-Adapter: the library's
picks, or the ones the artist pinned by dragging them from the Library workspace's grid (Delete
removes a pin; "Use the library's picks" clears them). Each change of the pins is one command.
The prompt follows the action text as it is typed; the tokenizer loads on a thread the first
time, and until then the counts are estimates and say so.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QIcon, QKeySequence, QPixmap, QUndoStack
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core import models as m
from studio.core.errors import StudioError
from studio.core.library import THUMBNAIL_SIZE
from studio.core.persona import Prompt
from studio.core.render import (
    MAX_FRAMES,
    NATIVE_SIZE,
    REFERENCE_RANGE,
    SAMPLER_NAMES,
    RenderSettings,
)
from studio.core.text import plural
from studio.services import audit, library, models, personas, rendering, renders, shots
from studio.ui import dialogs
from studio.ui.library_browser import REF_MIME
from studio.ui.persona_editor import TOKENS_TIP
from studio.ui.persona_form import TextBox, caption
from studio.ui.prompt_tokens import TokenCounter, caption_row, count_label
from studio.ui.shot_commands import OUTFIT, SetShotSettingsCommand, ShotSettingsDocument

EMPTY, FOOTAGE, EDITOR = range(3)  # the pages
FOOTAGE_TEXT = "Imported footage: nothing to set"
THUMB = 64  # the references' icon size in the list


class _WheelWithFocus:
    """Takes the mouse wheel only once it has focus: scrolling the form over a field scrolls
    the form instead of storing a new value."""

    def __init__(self):
        super().__init__()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def wheelEvent(self, event) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()  # the scroll area behind gets it


class _Spin(_WheelWithFocus, QSpinBox):
    """A spin box that takes the wheel only with focus."""


class _DoubleSpin(_WheelWithFocus, QDoubleSpinBox):
    """A spin box of decimals that takes the wheel only with focus."""


class _Combo(_WheelWithFocus, QComboBox):
    """A menu that takes the wheel only with focus."""


class ReferenceList(QListWidget):
    """The shot's references; takes references dragged from the Library workspace's grid."""

    dropped = Signal(list)  # reference ids, in the order they were dragged
    remove_requested = Signal()  # Delete on the selected pins

    def __init__(self):
        super().__init__()
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.accepting = True  # False while nothing can be pinned (no shot, read-only project)

    @staticmethod
    def reference_ids(mime) -> list[str]:
        """The reference ids a drag from the library carries ([] for anything else)."""
        if not mime.hasFormat(REF_MIME):
            return []
        text = bytes(mime.data(REF_MIME).data()).decode("utf-8", "replace")
        return [line.strip() for line in text.splitlines() if line.strip()]

    def dragEnterEvent(self, event) -> None:
        if self.accepting and self.reference_ids(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        ids = self.reference_ids(event.mimeData()) if self.accepting else []
        if not ids:
            event.ignore()
            return
        event.acceptProposedAction()
        self.dropped.emit(ids)

    def keyPressEvent(self, event) -> None:
        if event.matches(QKeySequence.StandardKey.Delete) or event.key() == Qt.Key.Key_Backspace:
            self.remove_requested.emit()
            return
        super().keyPressEvent(event)


def _spin(lo: int, hi: int, step: int = 1, tip: str = "") -> QSpinBox:
    box = _Spin()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setKeyboardTracking(False)  # one edit per value entered, not per keystroke
    box.setToolTip(tip)
    return box


def _dspin(lo: float, hi: float, step: float, decimals: int, suffix: str = "") -> QDoubleSpinBox:
    box = _DoubleSpin()
    box.setRange(lo, hi)
    box.setSingleStep(step)
    box.setDecimals(decimals)
    box.setSuffix(suffix)
    box.setKeyboardTracking(False)
    return box


class ShotEditor(QWidget):
    """Edits one render shot's settings; shows its composed prompt and picked references."""

    settings_changed = Signal(str)  # the shot id whose settings were stored (edit, undo, redo)

    def __init__(self, undo_stack: QUndoStack, parent: QWidget | None = None):
        super().__init__(parent)
        self.undo_stack = undo_stack
        self.document = ShotSettingsDocument(self)
        self.runner: Any = None
        self.shot_id: str | None = None
        self._selected = 0  # shots selected when none is shown
        self.shot: Any = None
        self.settings: RenderSettings | None = None
        self.prompt: Prompt | None = None  # what the prompt view shows
        self.picks: list = []  # the references the shot is conditioned on (picked or pinned)
        self._persona_id: str | None = None
        self._filling = False
        self.tokens = TokenCounter(self)
        self.tokens.changed.connect(self._update_prompt)
        self._build()
        self._connect()
        self._show_page(EMPTY)

    # -- public -----------------------------------------------------------------------------

    @property
    def project(self) -> Any:
        return self.document.project

    def set_project(self, project: Any) -> None:
        """Work on a project (None: nothing); the undo stack's edits of the last one go."""
        self.undo_stack.clear()  # its commands would write to the project that closed
        self.document.project = project
        self.set_shot(None)

    def set_runner(self, runner: Any) -> None:
        """The job runner of the window (kept for the renders this editor will start)."""
        self.runner = runner

    def set_shot(self, shot_id: str | None, selected: int = 0) -> None:
        """Show a shot's settings; footage shots say there is nothing to set. selected: how many
        shots are selected when none is shown (several: the editor says so)."""
        self.shot_id = shot_id
        self._selected = selected
        self._hide_error()
        self.refresh()

    def refresh(self) -> None:
        """Read the shown shot again and fill every field, the prompt and the references."""
        self.settings = None
        self.prompt = None
        self.picks = []
        if self.project is None or self.shot_id is None:
            if self.project is None:
                text = "Open a project to set its shots."
            elif self._selected > 1:
                text = (
                    f"{self._selected} shots are selected: Render (Ctrl+R) renders them all."
                    " Choose one to set it up."
                )
            else:
                text = "Choose a shot."
            self.empty_label.setText(text)
            self._show_page(EMPTY)
            return
        try:
            shot = shots.get_shot(self.project, self.shot_id)
            if shot.source_kind != renders.RENDER_KIND:
                self.footage_label.setText(f"{shot.name}\n\n{FOOTAGE_TEXT}")
                self._show_page(FOOTAGE)
                return
            shot, settings = renders.render_shot(self.project, self.shot_id)
        except StudioError as exc:
            self.empty_label.setText(str(exc))
            self._show_page(EMPTY)
            dialogs.show_error(self, exc)
            return
        self.shot = shot
        self.settings = settings
        self._persona_id = shot.persona_ids[0] if shot.persona_ids else None
        self._fill(shot, settings)
        self._show_page(EDITOR)
        self._update_prompt()
        self._update_references()

    # -- layout -----------------------------------------------------------------------------

    def _build(self) -> None:
        self.pages = QStackedWidget()
        self.empty_label = QLabel()
        self.empty_label.setObjectName("sectionHint")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.footage_label = QLabel(FOOTAGE_TEXT)
        self.footage_label.setObjectName("sectionHint")
        self.footage_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.footage_label.setWordWrap(True)
        self.pages.addWidget(self.empty_label)
        self.pages.addWidget(self.footage_label)
        self.pages.addWidget(self._build_editor())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.pages)

    def _build_editor(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(6, 6, 6, 6)
        self.title_label = QLabel()
        font = self.title_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title_label.setFont(font)
        layout.addWidget(self.title_label)
        self.error_label = QLabel()
        self.error_label.setObjectName("shotSettingsError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #d64545;")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.error_label)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        form = QWidget()
        form_layout = QVBoxLayout(form)
        form_layout.setContentsMargins(0, 0, 6, 0)
        form_layout.addWidget(self._build_shot_group())
        form_layout.addWidget(self._build_render_group())
        form_layout.addWidget(self._build_adapter_group())
        form_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(form)
        scroll.setMinimumWidth(380)
        splitter.addWidget(scroll)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(6, 0, 0, 0)
        side_layout.addWidget(self._build_prompt_group())
        side_layout.addWidget(self._build_reference_group(), 1)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        layout.addWidget(splitter, 1)
        return page

    def _build_shot_group(self) -> QGroupBox:
        box = QGroupBox("Shot")
        form = QFormLayout(box)
        self.action_edit = QLineEdit()
        self.action_edit.setPlaceholderText("What she does, e.g. pouring coffee at a window")
        self.framing_edit = QLineEdit()
        self.framing_edit.setPlaceholderText("close-up, medium shot, full body…")
        self.camera_edit = QLineEdit()
        self.camera_edit.setPlaceholderText("85mm, eye level")
        self.outfit_combo = _Combo()
        self.outfit_combo.setToolTip("The outfit she wears in the shot")
        self.lighting_combo = _Combo()
        self.lighting_combo.setToolTip("The one lighting setup of the shot (hers allowed)")
        form.addRow("Action", self.action_edit)
        form.addRow("Framing", self.framing_edit)
        form.addRow("Camera", self.camera_edit)
        form.addRow("Outfit", self.outfit_combo)
        form.addRow("Lighting", self.lighting_combo)
        return box

    def _build_render_group(self) -> QGroupBox:
        box = QGroupBox("Render")
        form = QFormLayout(box)
        self.model_combo = _Combo()
        self.model_combo.setToolTip("The base model the frames are rendered with")
        self.motion_combo = _Combo()
        self.motion_combo.setToolTip(
            "Animate a keyframe of the shot into a clip of its frames with this video model"
        )
        self.sampler_combo = _Combo()
        self.sampler_combo.addItem("The model's own", "")
        for name in SAMPLER_NAMES:
            self.sampler_combo.addItem(name, name)
        self.frames_spin = _spin(1, MAX_FRAMES, tip="How many frames the shot has")
        self.width_spin = _spin(0, 4096, 64, "Frame width in pixels (a multiple of 8)")
        self.height_spin = _spin(0, 4096, 64, "Frame height in pixels (a multiple of 8)")
        size = QHBoxLayout()
        size.addWidget(self.width_spin, 1)
        size.addWidget(QLabel("×"))
        size.addWidget(self.height_spin, 1)
        self.steps_spin = _spin(1, 200, tip="Denoising steps; 25 is typical")
        self.guidance_spin = _dspin(0.0, 30.0, 0.5, 1)
        self.guidance_spin.setToolTip("How closely the frames follow the prompt; 5-8 is typical")
        self.seed_spin = _spin(0, 2**31 - 1, tip="Frame i renders with seed base + offset + i")
        form.addRow("Model", self.model_combo)
        form.addRow("Motion", self.motion_combo)
        form.addRow("Sampler", self.sampler_combo)
        form.addRow("Frames", self.frames_spin)
        form.addRow("Size", size)
        form.addRow("Steps", self.steps_spin)
        form.addRow("Guidance", self.guidance_spin)
        form.addRow("Seed offset", self.seed_spin)
        return box

    def _build_adapter_group(self) -> QGroupBox:
        box = QGroupBox("Adapters and references")
        layout = QVBoxLayout(box)
        layout.addWidget(caption("LoRA weights"))
        self.lora_table = self._use_table("LoRA", "Weight")
        layout.addWidget(self.lora_table)
        layout.addWidget(caption("IP-Adapter scales"))
        self.adapter_table = self._use_table("IP-Adapter", "Scale")
        layout.addWidget(self.adapter_table)
        form = QFormLayout()
        lo, hi = REFERENCE_RANGE
        self.references_spin = _spin(lo, hi, tip="How many library references IP-Adapter reads")
        self.yaw_spin = _dspin(-90.0, 90.0, 5.0, 0, "°")
        self.yaw_spin.setToolTip("The head yaw the picked references should cover")
        self.pitch_spin = _dspin(-90.0, 90.0, 5.0, 0, "°")
        self.pitch_spin.setToolTip("The head pitch the picked references should cover")
        pose = QHBoxLayout()
        pose.addWidget(QLabel("yaw"))
        pose.addWidget(self.yaw_spin, 1)
        pose.addWidget(QLabel("pitch"))
        pose.addWidget(self.pitch_spin, 1)
        form.addRow("References", self.references_spin)
        form.addRow("Head pose", pose)
        layout.addLayout(form)
        return box

    @staticmethod
    def _use_table(what: str, value: str) -> QTableWidget:
        table = QTableWidget(0, 3)
        table.setHorizontalHeaderLabels([what, value, ""])
        table.verticalHeader().hide()
        table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        table.setMinimumHeight(90)
        table.setMaximumHeight(150)
        table.setToolTip(f"Tick a {what} to use it in the shot")
        return table

    def _build_prompt_group(self) -> QGroupBox:
        box = QGroupBox("Prompt")
        layout = QVBoxLayout(box)
        self.positive_view = TextBox(7, 3)
        self.negative_view = TextBox(3, 2)
        for view in (self.positive_view, self.negative_view):
            view.setReadOnly(True)
            view.setObjectName("promptView")
        self.tokens_label = count_label()
        self.negative_tokens_label = count_label()
        self.dropped_label = QLabel()
        self.dropped_label.setObjectName("droppedPhrases")
        self.dropped_label.setWordWrap(True)
        self.dropped_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.dropped_label.hide()
        layout.addLayout(caption_row("Positive", self.tokens_label))
        layout.addWidget(self.positive_view)
        layout.addWidget(self.dropped_label)
        layout.addLayout(caption_row("Negative", self.negative_tokens_label))
        layout.addWidget(self.negative_view)
        layout.addStretch(1)
        return box

    def _build_reference_group(self) -> QGroupBox:
        box = QGroupBox("References")
        layout = QVBoxLayout(box)
        self.reference_note = QLabel()
        self.reference_note.setObjectName("sectionHint")
        self.reference_note.setWordWrap(True)
        layout.addWidget(self.reference_note)
        self.reference_list = ReferenceList()
        self.reference_list.setIconSize(QSize(THUMB, THUMB))
        self.reference_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.reference_list.setMinimumHeight(THUMB + 16)
        self.reference_list.setToolTip(
            "Drag references here from the Library to pin them; Delete removes a pinned one"
        )
        self.reference_list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.unpin_action = QAction("Remove from the Shot's References", self.reference_list)
        self.unpin_action.triggered.connect(self.unpin_selected)
        self.reference_list.addAction(self.unpin_action)
        layout.addWidget(self.reference_list, 1)
        self.library_picks_button = QPushButton("Use the library's picks")
        self.library_picks_button.setToolTip(
            "Forget the pinned references: the library picks them for the shot's head pose"
        )
        self.library_picks_button.clicked.connect(self.use_library_picks)
        layout.addWidget(self.library_picks_button, 0, Qt.AlignmentFlag.AlignRight)
        self.reference_warnings = QLabel()
        self.reference_warnings.setObjectName("referenceWarnings")
        self.reference_warnings.setWordWrap(True)
        self.reference_warnings.setStyleSheet("color: #c07a10;")
        self.reference_warnings.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
        )
        layout.addWidget(self.reference_warnings)
        return box

    def _connect(self) -> None:
        self.document.changed.connect(self._on_stored)
        self.document.edit_failed.connect(self._on_edit_failed)
        for key, edit in (
            ("action", self.action_edit),
            ("framing", self.framing_edit),
            ("camera", self.camera_edit),
        ):
            edit.editingFinished.connect(lambda k=key, e=edit: self._edit(k, e.text().strip()))
            edit.textEdited.connect(self._update_prompt)
        for key, combo in (
            (OUTFIT, self.outfit_combo),
            ("lighting_setup", self.lighting_combo),
            ("model", self.model_combo),
            ("motion", self.motion_combo),
            ("sampler", self.sampler_combo),
        ):
            combo.currentIndexChanged.connect(
                lambda _i, k=key, c=combo: self._edit(k, c.currentData())
            )
        for key, spin in (
            ("frames", self.frames_spin),
            ("width", self.width_spin),
            ("height", self.height_spin),
            ("steps", self.steps_spin),
            ("guidance", self.guidance_spin),
            ("seed_offset", self.seed_spin),
            ("references", self.references_spin),
            ("yaw", self.yaw_spin),
            ("pitch", self.pitch_spin),
        ):
            spin.valueChanged.connect(lambda value, k=key: self._edit(k, value))
        self.reference_list.dropped.connect(self.pin_references)
        self.reference_list.remove_requested.connect(self.unpin_selected)
        self.reference_list.itemSelectionChanged.connect(self._update_pin_actions)
        self.lora_table.itemChanged.connect(lambda item: self._on_use_ticked("loras", item))
        self.adapter_table.itemChanged.connect(
            lambda item: self._on_use_ticked("ip_adapters", item)
        )

    def _show_page(self, page: int) -> None:
        self.pages.setCurrentIndex(page)

    # -- filling ----------------------------------------------------------------------------

    def _fill(self, shot, settings: RenderSettings) -> None:
        self._filling = True
        try:
            names = self._persona_names(shot)
            self.title_label.setText(f"{shot.name} — {names}" if names else shot.name)
            for edit, value in (
                (self.action_edit, settings.action),
                (self.framing_edit, settings.framing),
                (self.camera_edit, settings.camera),
            ):
                if edit.text() != value:
                    edit.setText(value)
            record = self._record()
            self._fill_outfits(record, shot)
            self._fill_lighting(record, settings)
            registered = models.list_records(self.project)
            self._fill_models(registered, settings)
            self._set_combo(self.sampler_combo, settings.sampler)
            family = self._family(registered, settings)
            native = NATIVE_SIZE.get(family)
            for spin, value, i in (
                (self.width_spin, settings.width, 0),
                (self.height_spin, settings.height, 1),
            ):
                spin.setSpecialValueText(f"native ({native[i]})" if native else "native")
                spin.setValue(value)
            self.frames_spin.setValue(settings.frames)
            self.steps_spin.setValue(settings.steps)
            self.guidance_spin.setValue(settings.guidance)
            self.seed_spin.setValue(min(settings.seed_offset, self.seed_spin.maximum()))
            self.references_spin.setValue(settings.references)
            self.yaw_spin.setValue(settings.yaw)
            self.pitch_spin.setValue(settings.pitch)
            own = self._own_loras()
            self._fill_uses(
                self.lora_table,
                [r for r in registered if r.kind == m.LORA],
                settings.loras,
                own,
                (-4.0, 4.0),
                1.0,
            )
            self._fill_uses(
                self.adapter_table,
                [r for r in registered if r.kind == m.IP_ADAPTER],
                settings.ip_adapters,
                {},
                (0.0, 2.0),
                0.6,
            )
        finally:
            self._filling = False

    def _persona_names(self, shot) -> str:
        out = []
        for pid in shot.persona_ids:
            try:
                out.append(personas.get_persona(self.project, pid).name)
            except StudioError:
                continue
        return ", ".join(out)

    def _record(self) -> dict:
        if self._persona_id is None:
            return {}
        return personas.get_version(self.project, self._persona_id).record

    def _fill_outfits(self, record: dict, shot) -> None:
        wardrobe = record.get("wardrobe") or {}
        default = wardrobe.get("default_outfit") or ""
        combo = self.outfit_combo
        combo.clear()
        combo.addItem(f"Any of hers (default: {default})" if default else "Any of hers", None)
        for outfit in wardrobe.get("outfits") or []:
            name = outfit.get("name", "")
            if name:
                combo.addItem(name, name)
        current = shot.outfit_for(self._persona_id) if self._persona_id else None
        self._set_combo(combo, current)

    def _fill_lighting(self, record: dict, settings: RenderSettings) -> None:
        allowed = (record.get("lighting") or {}).get("allowed_setups") or []
        combo = self.lighting_combo
        combo.clear()
        combo.addItem(f"Her first ({allowed[0]})" if allowed else "Any setup", "")
        for setup in allowed:
            combo.addItem(setup, setup)
        self._set_combo(combo, settings.lighting_setup)

    def _fill_models(self, registered: list[m.ModelRecord], settings: RenderSettings) -> None:
        combo = self.model_combo
        combo.clear()
        combo.addItem("The persona's own, or the project default", "")
        for record in registered:
            if record.kind in (m.BASE, m.DREAMBOOTH):
                family = m.FAMILY_SHORT.get(record.family, record.family)
                kind = " DreamBooth" if record.kind == m.DREAMBOOTH else ""
                combo.addItem(f"{record.name} ({family}{kind})", record.name)
        self._set_combo(combo, settings.model)
        motion = self.motion_combo
        motion.clear()
        motion.addItem("A still shot", "")
        for record in registered:
            if record.kind == m.VIDEO:
                family = m.FAMILY_SHORT.get(record.family, record.family)
                motion.addItem(f"{record.name} ({family})", record.name)
        self._set_combo(motion, settings.motion)

    @staticmethod
    def _set_combo(combo: QComboBox, value: Any) -> None:
        index = combo.findData(value) if value else 0
        if index < 0:  # stored but no longer offered: shown as it is stored
            combo.addItem(f"{value} (not available)", value)
            index = combo.count() - 1
        combo.setCurrentIndex(index)

    def _family(self, registered: list[m.ModelRecord], settings: RenderSettings) -> str:
        """The family the shot renders with, as the render plan chooses its base model."""
        by_name = {r.name: r for r in registered}
        if settings.model in by_name:
            return by_name[settings.model].family
        if self._persona_id:
            for record, role, _ in models.persona_models(self.project, self._persona_id):
                if role == m.DREAMBOOTH:
                    return record.family
        bases = [r for r in registered if r.kind in (m.BASE, m.DREAMBOOTH)]
        return bases[0].family if len(bases) == 1 else ""

    def _own_loras(self) -> dict[str, float]:
        if not self._persona_id:
            return {}
        return {
            record.name: weight
            for record, role, weight in models.persona_models(self.project, self._persona_id)
            if role == m.LORA
        }

    def _fill_uses(
        self,
        table: QTableWidget,
        offered: list[m.ModelRecord],
        uses: tuple[tuple[str, float], ...],
        own: dict[str, float],
        bounds: tuple[float, float],
        default: float,
    ) -> None:
        used = dict(uses)
        rows = [(r.name, m.FAMILY_SHORT.get(r.family, r.family)) for r in offered]
        rows += [(name, "not registered") for name in used if name not in {n for n, _ in rows}]
        table.setRowCount(0)
        table.setRowCount(len(rows))
        for row, (name, family) in enumerate(rows):
            item = QTableWidgetItem(name)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if name in used else Qt.CheckState.Unchecked)
            item.setData(Qt.ItemDataRole.UserRole, name)
            table.setItem(row, 0, item)
            spin = _dspin(bounds[0], bounds[1], 0.05, 2)
            spin.setValue(used.get(name, own.get(name, default)))
            spin.valueChanged.connect(
                lambda value, t=table, n=name: self._on_use_value(t, n, value)
            )
            table.setCellWidget(row, 1, spin)
            note = family
            if name in own:
                note += f" · hers at {own[name]:g}" + ("" if name in used else ", applied")
            note_item = QTableWidgetItem(note)
            note_item.setFlags(Qt.ItemFlag.ItemIsEnabled)
            table.setItem(row, 2, note_item)
        if not rows:
            table.setRowCount(1)
            empty = QTableWidgetItem("None registered (Models tab)")
            empty.setFlags(Qt.ItemFlag.ItemIsEnabled)
            table.setItem(0, 0, empty)

    # -- editing ----------------------------------------------------------------------------

    def _edit(self, key: str, value: Any) -> None:
        """Push one undo command for a field's new value (nothing when it is unchanged)."""
        if self._filling or self.settings is None or self.shot_id is None:
            return
        current = self.document.values(self.shot_id, [key])[key]
        if value == current:
            return
        self.undo_stack.push(SetShotSettingsCommand(self.document, self.shot_id, {key: value}))

    def _uses(self, table: QTableWidget) -> list[tuple[str, float, bool]]:
        out = []
        for row in range(table.rowCount()):
            item = table.item(row, 0)
            spin = table.cellWidget(row, 1)
            name = item.data(Qt.ItemDataRole.UserRole) if item else None
            if name and isinstance(spin, QDoubleSpinBox):
                out.append((name, spin.value(), item.checkState() == Qt.CheckState.Checked))
        return out

    def _changed_uses(self, key: str, name: str, value: float | None) -> tuple:
        """The stored uses with one changed: added or re-weighted (value), or removed (None)."""
        current = list(getattr(self.settings, key))
        names = [n for n, _ in current]
        if value is None:
            return tuple((n, w) for n, w in current if n != name)
        if name in names:
            return tuple((n, value if n == name else w) for n, w in current)
        return (*current, (name, value))

    def _on_use_ticked(self, key: str, item: QTableWidgetItem) -> None:
        if self._filling or self.settings is None or item.column() != 0:
            return
        name = item.data(Qt.ItemDataRole.UserRole)
        if not name:
            return
        table = self.lora_table if key == "loras" else self.adapter_table
        value = next((v for n, v, _ in self._uses(table) if n == name), None)
        ticked = item.checkState() == Qt.CheckState.Checked
        self._edit(key, self._changed_uses(key, name, value if ticked else None))

    def _on_use_value(self, table: QTableWidget, name: str, value: float) -> None:
        if self._filling or self.settings is None:
            return
        key = "loras" if table is self.lora_table else "ip_adapters"
        if name in dict(getattr(self.settings, key)):  # an unticked row's weight waits
            self._edit(key, self._changed_uses(key, name, value))

    def _on_stored(self, shot_id: str) -> None:
        self._hide_error()
        if shot_id == self.shot_id:
            self.refresh()
        self.settings_changed.emit(shot_id)

    def _on_edit_failed(self, error: StudioError) -> None:
        self.error_label.setText(
            f"{error.message}\n{error.hint}" if getattr(error, "hint", "") else str(error)
        )
        self.error_label.show()
        self.refresh()  # the fields go back to what is stored
        dialogs.show_error(self, error)

    def _hide_error(self) -> None:
        self.error_label.clear()
        self.error_label.hide()

    # -- prompt -----------------------------------------------------------------------------

    def _update_prompt(self) -> None:
        """Compose the prompt from the stored settings and the action text as typed."""
        self.prompt = None
        if self.settings is None or self._persona_id is None:
            self._show_prompt_text("", "")
            return
        typed = self.settings.with_changes(
            action=self.action_edit.text().strip(),
            framing=self.framing_edit.text().strip(),
            camera=self.camera_edit.text().strip(),
        )
        try:
            prompt = personas.compose_for_render(
                self.project,
                self._persona_id,
                action=rendering.prompt_action(typed),
                outfit=self.shot.outfit_for(self._persona_id),
                lighting_setup=typed.lighting_setup or None,
                count_tokens=self.tokens.counter(),
            )
        except StudioError as exc:
            self._show_prompt_text(str(exc), "")
            return
        self.prompt = prompt
        self.positive_view.setPlainText(prompt.positive)
        self.negative_view.setPlainText(prompt.negative)
        about = "≈ " if prompt.estimated else ""
        budget = f" / {prompt.budget}" if prompt.budget else ""
        self.tokens_label.setText(f"{about}{prompt.tokens}{budget} tokens")
        self.negative_tokens_label.setText(f"{about}{plural(prompt.negative_tokens, 'token')}")
        if not prompt.estimated:
            tip = TOKENS_TIP
        elif self.tokens.failed:
            tip = f"Estimated: the CLIP tokenizer could not be loaded ({self.tokens.error}).\n\n"
            tip += TOKENS_TIP
        else:
            tip = f"Estimated while the CLIP tokenizer loads.\n\n{TOKENS_TIP}"
        for label in (self.tokens_label, self.negative_tokens_label):
            label.setToolTip(tip)
        self.dropped_label.setVisible(bool(prompt.dropped))
        self.dropped_label.setText(
            f"Left out to fit {prompt.budget} tokens: " + "; ".join(prompt.dropped)
        )

    def _show_prompt_text(self, positive: str, negative: str) -> None:
        self.positive_view.setPlainText(positive)
        self.negative_view.setPlainText(negative)
        for label in (self.tokens_label, self.negative_tokens_label):
            label.setText("")
        self.dropped_label.hide()

    # -- references -------------------------------------------------------------------------

    def _update_references(self) -> None:
        self.reference_list.clear()
        self.reference_warnings.clear()
        self.picks = []
        settings = self.settings
        self.reference_list.accepting = settings is not None and not self.project.read_only
        self._update_pin_actions()
        if settings is None or self._persona_id is None:
            self.reference_note.setText("")
            return
        pins = settings.pinned_references
        count = len(pins) if pins else settings.references
        if not settings.ip_adapters:
            self.reference_note.setText(
                f"The shot uses no IP-Adapter, so these {'pinned ' if pins else ''}references "
                "condition it only once one is ticked above."
            )
        elif pins:
            self.reference_note.setText(
                f"IP-Adapter reads the {plural(count, 'reference')} pinned here, in this order "
                f"(the head is posed at yaw {settings.yaw:g}°, pitch {settings.pitch:g}°)."
            )
        else:
            self.reference_note.setText(
                f"IP-Adapter reads these {count} references, picked for a head "
                f"at yaw {settings.yaw:g}°, pitch {settings.pitch:g}°. Drag others here from "
                "the Library to pin them."
            )
        try:
            if pins:
                picks = renders.pinned_picks(
                    self.project, self._persona_id, pins, settings.yaw, settings.pitch
                )
            else:
                picks = audit.pick_references(
                    self.project,
                    self._persona_id,
                    settings.yaw,
                    settings.pitch,
                    settings.references,
                )
        except StudioError as exc:
            self._list_pins_by_name(pins)
            self.reference_warnings.setText(
                f"{exc.message} {exc.hint}" if getattr(exc, "hint", "") else str(exc)
            )
            self.reference_warnings.show()
            return
        self.picks = list(picks)
        for pick in picks:
            ref = pick.reference
            pinned = "pinned · " if pins else ""
            text = f"{ref.file_name}\n{pinned}pose gap {pick.pose_gap:.0f}°"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, ref.id)
            item.setToolTip(pick.pose_note or pick.why)
            pixmap = self._thumbnail(ref.blob_sha)
            if pixmap is not None:
                item.setIcon(QIcon(pixmap))
            self.reference_list.addItem(item)
        self.reference_warnings.setText("\n".join(picks.warnings))
        self.reference_warnings.setVisible(bool(picks.warnings))

    def _list_pins_by_name(self, pins: tuple[str, ...]) -> None:
        """Pins the planner refuses are still listed, so the artist can remove them."""
        if not pins:
            return
        names = {r.id: r.file_name for r in library.list_references(self.project)}
        for ref_id in pins:
            item = QListWidgetItem(f"{names.get(ref_id, ref_id)}\npinned")
            item.setData(Qt.ItemDataRole.UserRole, ref_id)
            self.reference_list.addItem(item)

    # -- pins -------------------------------------------------------------------------------

    def pinned(self) -> tuple[str, ...]:
        """The reference ids pinned to the shown shot, in order (() when the library picks)."""
        return self.settings.pinned_references if self.settings is not None else ()

    def pin_references(self, reference_ids: list[str]) -> None:
        """Pin references to the shown shot after those pinned already (one undo step)."""
        if self.settings is None or self.shot_id is None or self.project.read_only:
            return
        current = self.pinned()
        new = [r for r in dict.fromkeys(reference_ids) if r not in current]
        if not new:
            return
        text = "Pin a reference" if len(new) == 1 else f"Pin {len(new)} references"
        self._edit_pins((*current, *new), text)

    def unpin_selected(self) -> None:
        """Remove the selected pinned references from the shot (one undo step)."""
        current = self.pinned()
        chosen = {i.data(Qt.ItemDataRole.UserRole) for i in self.reference_list.selectedItems()}
        keep = tuple(r for r in current if r not in chosen)
        if not current or len(keep) == len(current):
            return
        gone = len(current) - len(keep)
        text = "Unpin a reference" if gone == 1 else f"Unpin {gone} references"
        self._edit_pins(keep, text)

    def use_library_picks(self) -> None:
        """Forget every pin: the library picks the shot's references again (one undo step)."""
        if self.pinned():
            self._edit_pins((), "Use the library's picks")

    def _edit_pins(self, pins: tuple[str, ...], text: str) -> None:
        change = {"pinned_references": tuple(pins)}
        self.undo_stack.push(SetShotSettingsCommand(self.document, self.shot_id, change, text))

    def _update_pin_actions(self) -> None:
        writable = self.project is not None and not self.project.read_only
        pins = set(self.pinned())
        chosen = {i.data(Qt.ItemDataRole.UserRole) for i in self.reference_list.selectedItems()}
        self.unpin_action.setEnabled(writable and bool(pins & chosen))
        self.library_picks_button.setEnabled(writable and bool(pins))

    def _thumbnail(self, sha: str) -> QPixmap | None:
        data = library.get_thumbnail(self.project, sha, THUMBNAIL_SIZE)
        if not data:
            return None
        pixmap = QPixmap()
        if not pixmap.loadFromData(data):
            return None
        return pixmap.scaled(
            THUMB,
            THUMB,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )
