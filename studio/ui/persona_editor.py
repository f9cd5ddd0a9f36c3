"""The Persona workspace: the cast, a form of every field of the record, history and compare.

The form never writes the record itself: each change becomes one undo command that calls
the `PersonaDocument`, and the form refreshes from the document's `record_changed` signal.

The prompt preview shows what a render gets: the prompt fitted to the render's token budget,
its CLIP token counts and the phrases left out. The tokenizer loads on a thread the first
time; until then the counts are estimates and say so.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QIcon, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core import persona as record_rules
from studio.core.errors import StudioError
from studio.core.persona import DEFAULT_TOKEN_BUDGET, FieldChange, Prompt
from studio.core.text import plural
from studio.services import drift
from studio.ui import dialogs
from studio.ui.persona_commands import (
    DELETE,
    AddItemCommand,
    RemoveItemCommand,
    RevertCommand,
    SetFieldCommand,
    field_label,
)
from studio.ui.persona_document import PersonaDocument
from studio.ui.persona_form import PersonaForm, TextBox, caption, is_hex, swatch_icon
from studio.ui.prompt_tokens import TokenCounter, caption_row, count_label
from studio.ui.workspace import Workspace

# Diff tints: translucent, so they read on the light and the dark palette alike.
DIFF_TINTS = {
    "added": QColor(46, 160, 67, 70),
    "removed": QColor(218, 54, 51, 70),
    "changed": QColor(214, 158, 46, 80),
}


def format_value(value: Any) -> str:
    """A record value as short text for tables."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ", ".join(format_value(v) for v in value) or "(none)"
    if isinstance(value, dict):  # a whole list item: its values read like a phrase
        return ", ".join(t for t in (format_value(v) for v in value.values()) if t)
    return str(value)


def _value_tip(value: Any) -> str:
    if isinstance(value, dict):
        return "\n".join(f"{k}: {format_value(v)}" for k, v in value.items())
    return format_value(value)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


TOKENS_TIP = (
    "Stable Diffusion's text encoder (CLIP) reads prompts in windows of 75 tokens; a render "
    f"encodes up to {DEFAULT_TOKEN_BUDGET} (two windows). Phrases are kept by priority: who "
    "the persona is first, then outfit and action, then lighting, posture and style. The "
    "lowest-priority phrases that do not fit are left out."
)


# --------------------------------------------------------------------------- the workspace


def _date(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return iso or ""


class PersonaEditor(Workspace):
    """The Persona workspace: cast on the left, the record's form, preview and history."""

    name = "persona"
    title = "Persona"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = PersonaDocument(self)
        self._session = 0  # bumped when a field loses focus, so later typing is a new command
        self.prompt: Prompt | None = None  # what the preview shows
        self.tokens = TokenCounter(self)
        self.tokens.changed.connect(self._update_preview)
        self._build()
        self._connect()
        self._show_state()

    def set_project(self, project: Any) -> None:
        """Show a project's cast (its first persona opens), or nothing for None."""
        self._undo.clear()
        try:
            self.document.set_project(project)
        except StudioError as exc:
            dialogs.show_error(self, exc)

    # -- layout -----------------------------------------------------------------------------

    def _build(self) -> None:
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._build_cast())
        splitter.addWidget(self._build_centre())
        splitter.addWidget(self._build_side())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 2)
        splitter.setSizes([210, 700, 490])
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)

        self.save_action = self.workspace_action(
            "&Save Version…",
            QKeySequence.StandardKey.Save,
            self.ask_save_version,
            "Save the working record as a new version of the persona",
        )
        self.add_persona_action = self.workspace_action(
            "&Add Persona…", None, self.ask_add_persona, "Add a persona to the cast"
        )

    def _build_cast(self) -> QWidget:
        panel = QWidget()
        panel.setMinimumWidth(150)
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(caption("Cast"))
        self.cast_list = QListWidget()
        self.cast_list.setObjectName("castList")
        self.cast_list.setIconSize(QSize(40, 40))
        self.cast_list.setSpacing(2)
        self.cast_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        layout.addWidget(self.cast_list, 1)
        self.add_persona_button = QPushButton("Add Persona…")
        self.add_persona_button.clicked.connect(self.ask_add_persona)
        layout.addWidget(self.add_persona_button)
        return panel

    def _build_centre(self) -> QWidget:
        panel = QWidget()
        panel.setMinimumWidth(440)
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(self._build_header())

        self.banner = QFrame()
        self.banner.setObjectName("banner")
        self.banner.setFrameShape(QFrame.Shape.StyledPanel)
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(10, 6, 6, 6)
        self.banner_label = QLabel()
        self.banner_label.setWordWrap(True)
        banner_layout.addWidget(self.banner_label, 1)
        close = QToolButton()
        close.setText("Dismiss")
        close.setAutoRaise(True)
        close.clicked.connect(self.banner.hide)
        banner_layout.addWidget(close)
        self.banner.hide()
        layout.addWidget(self.banner)

        self.form = PersonaForm()
        self.scroll = QScrollArea()
        self.scroll.setObjectName("personaForm")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setWidget(self.form)

        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setObjectName("sectionHint")
        self.empty_label.setWordWrap(True)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.empty_label)
        self.pages.addWidget(self.scroll)
        layout.addWidget(self.pages, 1)
        return panel

    def _build_header(self) -> QWidget:
        header = QWidget()
        layout = QHBoxLayout(header)
        layout.setContentsMargins(4, 2, 4, 6)
        titles = QVBoxLayout()
        titles.setSpacing(0)
        self.title_label = QLabel()
        self.title_label.setObjectName("personaTitle")
        font = self.title_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.45)
        font.setBold(True)
        self.title_label.setFont(font)
        self.state_label = QLabel()
        self.state_label.setObjectName("sectionHint")
        titles.addWidget(self.title_label)
        titles.addWidget(self.state_label)
        layout.addLayout(titles, 1)
        self.problem_label = QLabel()
        self.problem_label.setObjectName("problemCount")
        layout.addWidget(self.problem_label)
        self.save_button = QPushButton("Save Version…")
        self.save_button.setDefault(False)
        self.save_button.setMinimumWidth(130)
        self.save_button.setToolTip("Save the working record as a new version (Ctrl+S)")
        self.save_button.clicked.connect(self.ask_save_version)
        layout.addWidget(self.save_button)
        return header

    def _build_side(self) -> QWidget:
        side = QSplitter(Qt.Orientation.Vertical)
        side.setChildrenCollapsible(False)
        side.setMinimumWidth(320)
        side.addWidget(self._build_preview())
        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_history(), "History")
        self.tabs.addTab(self._build_compare(), "Compare")
        side.addWidget(self.tabs)
        side.setStretchFactor(0, 0)
        side.setStretchFactor(1, 1)
        return side

    def _build_preview(self) -> QWidget:
        box = QGroupBox("Prompt preview")
        layout = QVBoxLayout(box)
        layout.setContentsMargins(10, 12, 10, 10)
        self.action_edit = QLineEdit()
        self.action_edit.setPlaceholderText("Action, e.g. pouring coffee at a galley window")
        self.outfit_combo = QComboBox()
        self.outfit_combo.setMinimumWidth(140)
        self.outfit_combo.setToolTip("The outfit the shot uses")
        self.lighting_combo = QComboBox()
        self.lighting_combo.setMinimumWidth(140)
        self.lighting_combo.setToolTip("The one lighting setup the shot uses")
        layout.addWidget(self.action_edit)
        row = QHBoxLayout()
        row.addWidget(QLabel("Outfit"))
        row.addWidget(self.outfit_combo, 1)
        row.addWidget(QLabel("Lighting"))
        row.addWidget(self.lighting_combo, 1)
        layout.addLayout(row)
        self.positive_view = self._prompt_view(8, 3)
        self.negative_view = self._prompt_view(3, 2)
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
        return box

    @staticmethod
    def _prompt_view(lines: int, min_lines: int) -> QPlainTextEdit:
        view = TextBox(lines, min_lines)
        view.setReadOnly(True)
        view.setObjectName("promptView")
        return view

    def _build_history(self) -> QWidget:
        self.history_tree = QTreeWidget()
        self.history_tree.setObjectName("historyTree")
        self.history_tree.setHeaderLabels(["Version", "Saved", "Note"])
        self.history_tree.setRootIsDecorated(False)
        self.history_tree.setUniformRowHeights(True)
        self.history_tree.setAlternatingRowColors(True)
        self.history_tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.history_tree.setToolTip("Double-click a version to compare it with the head")
        header = self.history_tree.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        return self.history_tree

    def _build_compare(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(6, 8, 6, 6)
        self.compare_a = QComboBox()
        self.compare_b = QComboBox()
        for combo in (self.compare_a, self.compare_b):
            combo.setMinimumWidth(120)
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(14)
        picks = QHBoxLayout()
        picks.addWidget(QLabel("From"))
        picks.addWidget(self.compare_a, 1)
        picks.addWidget(QLabel("to"))
        picks.addWidget(self.compare_b, 1)
        layout.addLayout(picks)
        self.compare_summary = QLabel()
        self.compare_summary.setObjectName("sectionHint")
        layout.addWidget(self.compare_summary)
        self.compare_tree = QTreeWidget()
        self.compare_tree.setObjectName("compareTree")
        self.compare_tree.setHeaderLabels(["Field", "Version A", "Version B"])
        self.compare_tree.setRootIsDecorated(False)
        self.compare_tree.setWordWrap(True)
        header = self.compare_tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.compare_tree, 1)
        legend = QHBoxLayout()
        for kind, colour in DIFF_TINTS.items():
            chip = QLabel(kind)
            chip.setObjectName("diffLegend")
            chip.setAutoFillBackground(True)
            chip.setContentsMargins(6, 1, 6, 1)
            palette = chip.palette()
            palette.setColor(chip.backgroundRole(), colour)
            chip.setPalette(palette)
            legend.addWidget(chip)
        legend.addStretch(1)
        layout.addLayout(legend)
        return page

    def _connect(self) -> None:
        doc = self.document
        doc.record_changed.connect(self._on_record_changed)
        doc.persona_changed.connect(self._on_persona_changed)
        doc.history_changed.connect(self._fill_history)
        doc.cast_changed.connect(self._fill_cast)
        # The other workspaces' cast lists follow (not when the project closes).
        doc.cast_changed.connect(lambda: doc.project is not None and self.cast_changed.emit())
        doc.draft_restored.connect(self._on_draft_restored)
        doc.edit_failed.connect(self._on_edit_failed)
        self.form.edited.connect(self._on_edited)
        self.form.item_added.connect(self._on_item_added)
        self.form.item_removed.connect(self._on_item_removed)
        self.form.editing_finished.connect(self._end_session)
        self.cast_list.currentItemChanged.connect(self._on_cast_selected)
        self._undo.cleanChanged.connect(lambda _clean: self._show_state())
        self.action_edit.textChanged.connect(lambda _text: self._update_preview())
        self.outfit_combo.currentIndexChanged.connect(lambda _i: self._update_preview())
        self.lighting_combo.currentIndexChanged.connect(lambda _i: self._update_preview())
        self.history_tree.itemDoubleClicked.connect(self._on_history_double_clicked)
        self.history_tree.customContextMenuRequested.connect(self._history_menu)
        self.compare_a.currentIndexChanged.connect(lambda _i: self._fill_compare())
        self.compare_b.currentIndexChanged.connect(lambda _i: self._fill_compare())

    # -- public actions ---------------------------------------------------------------------

    def save_version(self, note: str) -> int | None:
        """Save the working record as a new version with note; its number, or None."""
        try:
            version = self.document.save_version(note)
        except StudioError as exc:
            dialogs.show_error(self, exc)
            return None
        self._undo.setClean()
        saved = f"Saved version {version.number} of {self.document.persona.name}."
        stale = drift.stale_message(drift.stale_scores(self.document.project, version.persona_id))
        self.status_message.emit(f"{saved} {stale}".strip())
        return version.number

    def ask_save_version(self) -> None:
        """Ask for a note, then save a version (the Save button and Ctrl+S)."""
        if not self.save_button.isEnabled():
            if self.document.issues():
                self.status_message.emit("Fix the problems marked in red before saving")
            return
        note, ok = QInputDialog.getText(
            self,
            "Save version",
            "What changed in this version?",
            QLineEdit.EchoMode.Normal,
            self.suggested_note(),
        )
        if ok:
            self.save_version(note)

    def suggested_note(self) -> str:
        """A note from the undo history since the last save: 'Change eye colour; Add garment'."""
        start = max(self._undo.cleanIndex(), 0)
        texts: list[str] = []
        for i in range(start, self._undo.index()):
            text = self._undo.text(i)
            if text not in texts:
                texts.append(text)
        return "; ".join(texts)

    def add_persona(self, name: str) -> str | None:
        """Add a persona (its record holds only who it is) and open it; its id, or None."""
        self._undo.clear()
        try:
            persona = self.document.add_persona(name)
        except StudioError as exc:
            dialogs.show_error(self, exc)
            return None
        self.status_message.emit(f"Added {persona.name}")
        return persona.id

    def ask_add_persona(self) -> None:
        name, ok = QInputDialog.getText(self, "Add persona", "Name of the new persona:")
        if ok:
            self.add_persona(name)

    def revert_to_version(self, number: int) -> bool:
        """Load an older version's record as the working record (one undo command)."""
        try:
            record = self.document.version_record(number)
        except StudioError as exc:
            dialogs.show_error(self, exc)
            return False
        if record == self.document.record:
            self.status_message.emit(f"The working record already matches version {number}")
            return False
        self._undo.push(RevertCommand(self.document, number, record))
        self.status_message.emit(f"Reverted to version {number}; save to keep it")
        return True

    def compare_versions(self, a: int, b: int) -> None:
        """Show the Compare tab with versions a and b."""
        for combo, number in ((self.compare_a, a), (self.compare_b, b)):
            combo.blockSignals(True)
            combo.setCurrentIndex(combo.findData(number))
            combo.blockSignals(False)
        self._fill_compare()
        self.tabs.setCurrentIndex(1)

    def open_persona(self, key: str) -> None:
        """Open a persona of the cast by id or name."""
        try:
            self.document.open_persona(key)
        except StudioError as exc:
            dialogs.show_error(self, exc)

    # -- edits ------------------------------------------------------------------------------

    def _end_session(self) -> None:
        self._session += 1

    def _on_edited(self, path: str, value: Any, noun: str, mergeable: bool) -> None:
        doc = self.document
        old = doc.value(path, DELETE)
        if _same(old, value):
            return
        key = (self._session, path) if mergeable else None
        text = f"Clear {noun}" if value is DELETE else f"Change {noun}"
        m = re.fullmatch(r"wardrobe\.outfits\[\d+\]\.name", path)
        if m and doc.value("wardrobe.default_outfit") == old:
            # Renaming the default outfit keeps it the default.
            wardrobe = record_rules.set_path(doc.record, path, value)["wardrobe"]
            wardrobe["default_outfit"] = value
            path, old, value = "wardrobe", doc.value("wardrobe"), wardrobe
        self._undo.push(SetFieldCommand(doc, path, old, value, text, merge_key=key))

    def _on_item_added(self, list_path: str, item: Any, noun: str) -> None:
        command = AddItemCommand(self.document, list_path, item, noun)
        item_path = command.item_path
        self._undo.push(command)
        widget = self.form.focus_first(item_path)
        if widget is not None:
            self.scroll.ensureWidgetVisible(widget, 40, 80)

    def _on_item_removed(self, item_path: str, noun: str) -> None:
        self._undo.push(RemoveItemCommand(self.document, item_path, noun))

    def _on_edit_failed(self, exc: StudioError) -> None:
        dialogs.show_error(self, exc)
        self.form.load(self.document.record)  # put the widget back to the record's value

    # -- document → view --------------------------------------------------------------------

    def _on_persona_changed(self) -> None:
        self._undo.clear()
        self._session += 1
        self.banner.hide()
        doc = self.document
        self._select_in_cast(doc.persona.id if doc.persona else None)
        if doc.read_only and doc.persona is not None:
            self._show_banner("This project is open read-only: you can look and compare, not edit.")
        self.form.setEnabled(not doc.read_only)
        self.add_persona_button.setEnabled(doc.project is not None and not doc.read_only)

    def _on_record_changed(self, _path: str) -> None:
        record = self.document.record
        self.form.load(record)
        self._fill_outfit_choices()
        self._fill_lighting_choices()
        self._show_state()
        self._update_preview()
        self._mark_draft_in_cast(only_current=True)

    def _on_draft_restored(self, message: str) -> None:
        self._show_banner(message + ". Save a version to keep them, or undo them one by one.")
        self.status_message.emit(message)

    def _show_banner(self, text: str) -> None:
        self.banner_label.setText(text)
        self.banner.show()

    def _show_state(self) -> None:
        doc = self.document
        if doc.persona is None or doc.record is None:
            self.pages.setCurrentIndex(0)
            self.empty_label.setText(
                "Open a project to edit its personas."
                if doc.project is None
                else "This project has no personas yet. Click “Add Persona…” to create one."
            )
            self.title_label.setText("No persona" if doc.project is not None else "")
            self.state_label.setText("")
            self.problem_label.setText("")
            self.save_button.setEnabled(False)
            self.save_action.setEnabled(False)
            return
        self.pages.setCurrentIndex(1)
        issues = doc.issues()
        self.form.mark_issues(issues)
        self.title_label.setText(doc.record.get("identity", {}).get("name") or doc.persona.name)
        modified = doc.is_modified()
        state = "unsaved changes" if modified else "no unsaved changes"
        self.state_label.setText(f"Based on version {doc.base.number} · {state}")
        self.problem_label.setText(plural(len(issues), "problem") if issues else "")
        self.problem_label.setToolTip(
            "\n".join(f"{field_label(i.path)}: {i.message}" for i in issues)
        )
        can_save = modified and not issues and not doc.read_only
        self.save_button.setEnabled(can_save)
        self.save_action.setEnabled(can_save)
        if issues:
            self.save_button.setToolTip("Fix the problems marked in red to save a version")
        elif not modified:
            self.save_button.setToolTip("Nothing changed since the last version")
        else:
            self.save_button.setToolTip("Save the working record as a new version (Ctrl+S)")

    def _fill_outfit_choices(self) -> None:
        names = [o.get("name", "") for o in self.document.value("wardrobe.outfits", []) or []]
        default = self.document.value("wardrobe.default_outfit", "")
        current = self.outfit_combo.currentData()
        self.outfit_combo.blockSignals(True)
        self.outfit_combo.clear()
        # No default outfit set: the prompt wears none unless the shot names one.
        self.outfit_combo.addItem(f"Default ({default})" if default else "No outfit", None)
        for name in names:
            self.outfit_combo.addItem(name, name)
        index = self.outfit_combo.findData(current) if current else 0
        self.outfit_combo.setCurrentIndex(max(index, 0))
        self.outfit_combo.blockSignals(False)

    def _fill_lighting_choices(self) -> None:
        setups = self.document.value("lighting.allowed_setups", []) or []
        current = self.lighting_combo.currentData()
        self.lighting_combo.blockSignals(True)
        self.lighting_combo.clear()
        # A shot uses one setup: the first allowed one unless it names another.
        self.lighting_combo.addItem(f"First ({setups[0]})" if setups else "No setup", None)
        for setup in setups:
            self.lighting_combo.addItem(setup, setup)
        index = self.lighting_combo.findData(current) if current else 0
        self.lighting_combo.setCurrentIndex(max(index, 0))
        self.lighting_combo.blockSignals(False)

    def _update_preview(self) -> None:
        record = self.document.record
        self.prompt = None
        if record is None:
            self._show_prompt_text("", "")
            return
        try:
            prompt = record_rules.compose_prompt(
                record,
                action=self.action_edit.text(),
                outfit=self.outfit_combo.currentData(),
                lighting_setup=self.lighting_combo.currentData(),
                token_budget=DEFAULT_TOKEN_BUDGET,
                count_tokens=self.tokens.counter(),
            )
        except StudioError as exc:
            issues = getattr(exc, "issues", None)
            if issues:
                # A contradiction is one message on two fields: said once, naming both.
                fields: dict[str, list[str]] = {}
                for issue in issues:
                    fields.setdefault(issue.message, []).append(field_label(issue.path))
                text = f"Fix the {plural(len(issues), 'problem')} in the form to see the prompt:"
                for message, labels in list(fields.items())[:4]:
                    text += f"\n• {' and '.join(labels)}: {message}"
                if len(fields) > 4:
                    text += f"\n• and {len(fields) - 4} more, marked in red"
            else:
                text = str(exc)
            self._show_prompt_text(text, "")
            return
        self.prompt = prompt
        self.positive_view.setPlainText(prompt.positive)
        self.negative_view.setPlainText(prompt.negative)
        about = "≈ " if prompt.estimated else ""
        self.tokens_label.setText(f"{about}{prompt.tokens} / {prompt.budget} tokens")
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
        self.dropped_label.setToolTip(
            f"{plural(len(prompt.dropped), 'phrase')}, the lowest priority first. "
            "A shorter action, or fewer words in the record, brings them back."
        )

    def _show_prompt_text(self, positive: str, negative: str) -> None:
        self.positive_view.setPlainText(positive)
        self.negative_view.setPlainText(negative)
        for label in (self.tokens_label, self.negative_tokens_label):
            label.setText("")
        self.dropped_label.hide()

    # -- cast -------------------------------------------------------------------------------

    def _fill_cast(self) -> None:
        self.cast_list.blockSignals(True)
        self.cast_list.clear()
        for persona in self.document.personas():
            item = QListWidgetItem(persona.name)
            item.setData(Qt.ItemDataRole.UserRole, persona.id)
            self.cast_list.addItem(item)
        self.cast_list.blockSignals(False)
        self.refresh_portraits()
        self._select_in_cast(self.document.persona.id if self.document.persona else None)
        self._mark_draft_in_cast()

    def refresh_cast(self) -> None:
        """Another workspace changed the cast."""
        self._fill_cast()

    def refresh_portraits(self) -> None:
        """Show each persona's first reference beside its name (once its thumbnail exists)."""
        for row in range(self.cast_list.count()):
            item = self.cast_list.item(row)
            data = self.document.portrait(item.data(Qt.ItemDataRole.UserRole))
            pixmap = QPixmap()
            if data and pixmap.loadFromData(data):
                side = min(pixmap.width(), pixmap.height())
                square = pixmap.copy((pixmap.width() - side) // 2, 0, side, side)
                item.setIcon(QIcon(square))

    def _select_in_cast(self, persona_id: str | None) -> None:
        self.cast_list.blockSignals(True)
        self.cast_list.setCurrentRow(-1)
        for row in range(self.cast_list.count()):
            item = self.cast_list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == persona_id:
                self.cast_list.setCurrentItem(item)
        self.cast_list.blockSignals(False)

    def _mark_draft_in_cast(self, only_current: bool = False) -> None:
        """Italic names have unsaved changes (the open one's follow each edit)."""
        current = self.document.persona.id if self.document.persona else None
        for row in range(self.cast_list.count()):
            item = self.cast_list.item(row)
            pid = item.data(Qt.ItemDataRole.UserRole)
            if only_current and pid != current:
                continue
            unsaved = (
                self.document.is_modified() if pid == current else self.document.has_draft(pid)
            )
            font = item.font()
            font.setItalic(unsaved)
            item.setFont(font)
            item.setToolTip("Unsaved changes" if unsaved else "")

    def _on_cast_selected(self, item: QListWidgetItem | None, _previous) -> None:
        if item is not None:
            self.open_persona(item.data(Qt.ItemDataRole.UserRole))

    # -- history and compare ----------------------------------------------------------------

    def _fill_history(self) -> None:
        doc = self.document
        versions = doc.versions() if doc.persona is not None else []
        head_id = doc.persona.head_version_id if doc.persona else None
        self.history_tree.clear()
        for v in versions:
            head = v["id"] == head_id
            label = f"v{v['number']}" + ("  (head)" if head else "")
            item = QTreeWidgetItem([label, _date(v["created_at"]), v["note"] or ""])
            item.setData(0, Qt.ItemDataRole.UserRole, v["number"])
            item.setToolTip(2, v["note"] or "")
            if head:
                font = item.font(0)
                font.setBold(True)
                for col in range(3):
                    item.setFont(col, font)
            self.history_tree.addTopLevelItem(item)
        self._fill_compare_choices(versions, head_id)

    def _fill_compare_choices(self, versions: list[dict], head_id: str | None) -> None:
        numbers = [v["number"] for v in versions]
        keep_a, keep_b = self.compare_a.currentData(), self.compare_b.currentData()
        for combo in (self.compare_a, self.compare_b):
            combo.blockSignals(True)
            combo.clear()
            for v in versions:
                text = f"v{v['number']}" + (" (head)" if v["id"] == head_id else "")
                if v["note"]:
                    text += f" — {v['note']}"
                combo.addItem(text, v["number"])
                combo.setItemData(combo.count() - 1, v["note"], Qt.ItemDataRole.ToolTipRole)
        head = numbers[0] if numbers else None
        default_a = numbers[1] if len(numbers) > 1 else head
        a = keep_a if keep_a in numbers else default_a
        b = keep_b if keep_b in numbers else head
        self.compare_a.setCurrentIndex(self.compare_a.findData(a))
        self.compare_b.setCurrentIndex(self.compare_b.findData(b))
        for combo in (self.compare_a, self.compare_b):
            combo.blockSignals(False)
        self._fill_compare()

    def _fill_compare(self) -> None:
        self.compare_tree.clear()
        a, b = self.compare_a.currentData(), self.compare_b.currentData()
        if self.document.persona is None or a is None or b is None:
            self.compare_summary.setText("")
            return
        try:
            va, vb, changes = self.document.diff(a, b)
        except StudioError as exc:
            dialogs.show_error(self, exc)
            return
        self.compare_tree.setHeaderLabels(["Field", f"v{va.number}", f"v{vb.number}"])
        for change in changes:
            self.compare_tree.addTopLevelItem(self._diff_item(change))
        if a == b:
            self.compare_summary.setText("Pick two different versions to compare.")
        elif not changes:
            self.compare_summary.setText(f"v{a} and v{b} are the same.")
        else:
            self.compare_summary.setText(
                f"{plural(len(changes), 'field')} differ from v{a} to v{b}."
            )

    @staticmethod
    def _diff_item(change: FieldChange) -> QTreeWidgetItem:
        item = QTreeWidgetItem(
            [field_label(change.path), format_value(change.old), format_value(change.new)]
        )
        item.setData(0, Qt.ItemDataRole.UserRole, change.path)
        item.setData(0, Qt.ItemDataRole.UserRole + 1, change.kind)
        item.setToolTip(0, f"{change.path} ({change.kind})")
        for col, value in ((1, change.old), (2, change.new)):
            item.setToolTip(col, _value_tip(value))
            if is_hex(value):
                item.setIcon(col, swatch_icon(value))
        for col in range(3):
            item.setBackground(col, DIFF_TINTS[change.kind])
        return item

    def _on_history_double_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        versions = self.document.versions()
        if versions:
            self.compare_versions(item.data(0, Qt.ItemDataRole.UserRole), versions[0]["number"])

    def _history_menu(self, pos) -> None:
        item = self.history_tree.itemAt(pos)
        if item is None:
            return
        number = item.data(0, Qt.ItemDataRole.UserRole)
        menu = QMenu(self)
        head = self.document.versions()[0]["number"]
        menu.addAction("Compare with Head", lambda: self.compare_versions(number, head))
        revert = menu.addAction("Revert to This Version", lambda: self.revert_to_version(number))
        revert.setEnabled(not self.document.read_only)
        menu.popup(self.history_tree.viewport().mapToGlobal(pos))
