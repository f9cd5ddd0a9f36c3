"""The Persona workspace: the cast, a form of every field of the record, history and compare.

The form never writes the record itself: each change becomes one undo command that calls
the `PersonaDocument`, and the form refreshes from the document's `record_changed` signal.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QFont,
    QIcon,
    QKeySequence,
    QPixmap,
    QUndoCommand,
    QUndoStack,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGridLayout,
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
    QSizePolicy,
    QSpinBox,
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
from studio.core.persona import (
    NEGATIVE_PLACEHOLDERS,
    POSITIVE_PLACEHOLDERS,
    FieldChange,
    RecordIssue,
    format_path,
    get_path,
    parse_path,
)
from studio.ui import dialogs
from studio.ui.persona_document import PersonaDocument


class _Delete:
    """The value of an optional field the user cleared: the field is removed."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE: Any = _Delete()

# Diff tints: translucent, so they read on the light and the dark palette alike.
DIFF_TINTS = {
    "added": QColor(46, 160, 67, 70),
    "removed": QColor(218, 54, 51, 70),
    "changed": QColor(214, 158, 46, 80),
}
NEW_COLOUR = "#808080"

# --------------------------------------------------------------------------- schema helpers

_SINGULAR = {
    "Outfits": "Outfit",
    "Garments": "Garment",
    "Accessories": "Accessory",
    "Distinguishing marks": "Mark",
    "Wardrobe rules": "Rule",
    "Expression range": "Expression",
    "Allowed setups": "Setup",
    "Never show": "Never show",
}


@cache
def _schema() -> dict:
    return record_rules.schema()


def _resolve(node: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = _schema()
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def schema_at(path: str) -> dict:
    """The JSON Schema of the field at path ({} when the schema does not describe it)."""
    node: Any = _schema()
    for part in parse_path(path):
        node = _resolve(node)
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part, {})
    return _resolve(node)


def field_title(path: str) -> str:
    """The schema's title of the field at path, e.g. 'Eye colour'."""
    parts = parse_path(path)
    if parts and isinstance(parts[-1], int):
        title = schema_at(format_path(parts[:-1])).get("title", "item")
        return _SINGULAR.get(title, title)
    return schema_at(path).get("title") or str(parts[-1] if parts else "record")


def field_label(path: str) -> str:
    """A short readable name for a field path: 'Outfit 1 › Garment 2 › Colour', 'Hair length'.

    Section titles are left out (the leaf titles already say what they are), list items are
    numbered from 1, and a sub-group's title stays where the leaf's alone would be vague
    ('Apparent age › From').
    """
    parts = parse_path(path)
    words: list[str] = []
    for i, part in enumerate(parts):
        if isinstance(part, int):
            title = schema_at(format_path(parts[:i])).get("title", "Item")
            words.append(f"{_SINGULAR.get(title, title)} {part + 1}")
            continue
        last = i == len(parts) - 1
        if not last and (i == 0 or isinstance(parts[i + 1], int)):
            continue  # a section, or a list named by its item's number
        title = schema_at(format_path(parts[: i + 1])).get("title") or part
        if last and words:
            if title.lower().startswith(words[-1].lower()):
                words.pop()  # 'Hair › Hair colour' says it twice
            elif words[-1].lower().startswith(title.lower()):
                title = part.replace("_", " ").capitalize()  # 'Outfit 1 › Name'
        words.append(title)
    return " › ".join(words) or "Record"


def _noun(text: str) -> str:
    """A title as a noun for command texts: 'Eye colour' -> 'eye colour', 'Lens (mm)' -> 'lens'."""
    text = re.sub(r"\s*\([^)]*\)$", "", text)
    return text[:1].lower() + text[1:] if text[1:2].islower() or len(text) == 1 else text


def _deletes_when_empty(path: str) -> bool:
    """An optional field whose empty value would be invalid (aperture) is removed instead."""
    parts = parse_path(path)
    parent = schema_at(format_path(parts[:-1])) if len(parts) > 1 else _resolve(_schema())
    sub = schema_at(path)
    required = parts[-1] in parent.get("required", [])
    return not required and ("pattern" in sub or sub.get("minLength", 0) >= 1)


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


def _is_hex(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", value) is not None


def swatch_icon(hex_colour: str, size: int = 14) -> QIcon:
    pix = QPixmap(size, size)
    pix.fill(QColor(hex_colour) if _is_hex(hex_colour) else QColor(0, 0, 0, 0))
    return QIcon(pix)


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


# --------------------------------------------------------------------------- undo commands


class _RecordCommand(QUndoCommand):
    """Applies a change once through the document, then undoes/redoes by restoring snapshots."""

    def __init__(self, document: PersonaDocument, path: str, text: str):
        super().__init__(text)
        self.document = document
        self.path = path
        self.before = copy.deepcopy(document.record)
        self.after: dict | None = None

    def _apply(self) -> bool:
        raise NotImplementedError

    def redo(self) -> None:
        if self.after is None:
            if self._apply():
                self.after = copy.deepcopy(self.document.record)
            else:
                self.setObsolete(True)  # the service refused: QUndoStack drops the command
        else:
            self.document.restore_record(self.after, self.path)

    def undo(self) -> None:
        self.document.restore_record(self.before, self.path)


class SetFieldCommand(_RecordCommand):
    """Set one field (or remove it, with value DELETE). Keystrokes in one field merge."""

    MERGE_ID = 0x5E7

    def __init__(
        self,
        document: PersonaDocument,
        path: str,
        old: Any,
        new: Any,
        text: str | None = None,
        *,
        merge_key: Any = None,
    ):
        super().__init__(document, path, text or f"Change {_noun(field_title(path))}")
        self.old = old
        self.new = new
        self.merge_key = merge_key

    def _apply(self) -> bool:
        if self.new is DELETE:
            return self.document.delete_field(self.path)
        return self.document.apply_field(self.path, self.new)

    def id(self) -> int:
        return self.MERGE_ID if self.merge_key is not None else -1

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (
            isinstance(other, SetFieldCommand)
            and other.path == self.path
            and other.merge_key == self.merge_key
            and other.after is not None
        ):
            return False
        self.new = other.new
        self.after = other.after
        if self.after == self.before:
            self.setObsolete(True)  # typed back to where it started: nothing to undo
        return True


class AddItemCommand(_RecordCommand):
    """Append an item to a list field."""

    def __init__(self, document: PersonaDocument, list_path: str, item: Any, noun: str):
        super().__init__(document, list_path, f"Add {noun}")
        self.item = item

    @property
    def item_path(self) -> str:
        return f"{self.path}[{len(get_path(self.before, self.path, []))}]"

    def _apply(self) -> bool:
        return self.document.apply_field(self.item_path, self.item)


class RemoveItemCommand(_RecordCommand):
    """Remove one item of a list field."""

    def __init__(self, document: PersonaDocument, item_path: str, noun: str):
        super().__init__(document, item_path, f"Remove {noun}")

    def _apply(self) -> bool:
        return self.document.delete_field(self.path)


class RevertCommand(_RecordCommand):
    """Make an older version's record the working record."""

    def __init__(self, document: PersonaDocument, number: int, record: dict):
        super().__init__(document, "", f"Revert to version {number}")
        self.record = record

    def _apply(self) -> bool:
        return self.document.restore_record(self.record)


# --------------------------------------------------------------------------- form widgets


class _TextBox(QPlainTextEdit):
    """A few lines of plain text; `editingFinished` when it loses focus, like a QLineEdit."""

    editingFinished = Signal()

    def __init__(self, lines: int, min_lines: int | None = None):
        super().__init__()
        self.setTabChangesFocus(True)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        if min_lines is None:
            self.setFixedHeight(self._height(lines))
        else:  # may shrink to min_lines when the window is short
            self.setMinimumHeight(self._height(min_lines))
            self.setMaximumHeight(self._height(lines))

    def _height(self, lines: int) -> int:
        margins = self.contentsMargins().top() + self.contentsMargins().bottom()
        text = self.fontMetrics().lineSpacing() * lines + 2 * self.document().documentMargin()
        return int(text + margins + 6)

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        self.editingFinished.emit()


class ColourSwatch(QPushButton):
    """A button that shows a colour and its hex code; clicking it opens a colour dialog."""

    def __init__(self):
        super().__init__()
        self.setIconSize(QSize(18, 18))
        self.setMinimumWidth(104)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.hex = ""

    def set_colour(self, hex_colour: str) -> None:
        self.hex = hex_colour
        self.setIcon(swatch_icon(hex_colour, 18))
        self.setText(hex_colour or "none")


class _WheelGuard:
    """Scrolling the form must not spin a value the pointer happens to pass over."""

    def wheelEvent(self, event) -> None:
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()  # the scroll area gets it


class _Combo(_WheelGuard, QComboBox):
    def __init__(self):
        super().__init__()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)


class _Spin(_WheelGuard, QSpinBox):
    def __init__(self):
        super().__init__()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)


class _DoubleSpin(_WheelGuard, QDoubleSpinBox):
    def __init__(self):
        super().__init__()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)


@dataclass
class _Binding:
    widget: QWidget
    load: Callable[[Any], None]


class _ListEditor(QFrame):
    """The rows of one list field, each with a remove button, and an add button below."""

    def __init__(
        self,
        form: PersonaForm,
        path: str,
        noun: str,
        make_row: Callable[[str], QWidget],
        new_item: Callable[[list], Any],
    ):
        super().__init__()
        self.form, self.path, self.noun = form, path, noun
        self.make_row, self.new_item = make_row, new_item
        self.rows: list[QWidget] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.rows_layout = QVBoxLayout()
        self.rows_layout.setSpacing(4)
        layout.addLayout(self.rows_layout)
        self.add_button = QPushButton(f"Add {noun}")
        self.add_button.setObjectName("addItemButton")
        self.add_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.add_button.clicked.connect(self._add)
        layout.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignLeft)
        if form.record is not None:
            self.sync(form.record)

    def _add(self) -> None:
        items = get_path(self.form.record, self.path, [])
        self.form.item_added.emit(self.path, self.new_item(items), self.noun)

    def sync(self, record: dict) -> None:
        """Rebuild the rows when the number of items changed; values load separately."""
        items = get_path(record, self.path, [])
        count = len(items) if isinstance(items, list) else 0
        if count == len(self.rows):
            return
        self.form.forget(self.path + "[")
        for row in self.rows:
            row.hide()
            row.setParent(None)
            row.deleteLater()
        self.rows = [self._row(i) for i in range(count)]

    def _row(self, index: int) -> QWidget:
        item_path = f"{self.path}[{index}]"
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.make_row(item_path), 1)
        remove = QToolButton()
        remove.setText("✕")
        remove.setAutoRaise(True)
        remove.setObjectName("removeItemButton")
        remove.setToolTip(f"Remove this {self.noun}")
        remove.clicked.connect(lambda: self.form.item_removed.emit(item_path, self.noun))
        layout.addWidget(remove, 0, Qt.AlignmentFlag.AlignTop)
        self.rows_layout.addWidget(row)
        row.show()  # now, not when the layout's queued show arrives
        return row


def _section(title: str) -> tuple[QGroupBox, QFormLayout]:
    box = QGroupBox(title)
    box.setObjectName("formSection")
    form = QFormLayout(box)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    form.setHorizontalSpacing(12)
    form.setVerticalSpacing(8)
    form.setContentsMargins(12, 12, 12, 12)
    return box, form


def _hbox(*widgets: QWidget | str, stretch_last: bool = False) -> QWidget:
    holder = QWidget()
    layout = QHBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(6)
    for w in widgets:
        layout.addWidget(QLabel(w) if isinstance(w, str) else w)
    if not stretch_last:
        layout.addStretch(1)
    return holder


def _align_labels(forms: list[QFormLayout]) -> None:
    """One label column width for every section, so the fields line up down the page."""
    labels = []
    for form in forms:
        for row in range(form.rowCount()):
            item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            if item is not None and isinstance(item.widget(), QLabel):
                labels.append(item.widget())
    width = max((label.sizeHint().width() for label in labels), default=0)
    for label in labels:
        label.setMinimumWidth(width)


def _unique_name(base: str, taken: list[str]) -> str:
    names = {t.casefold() for t in taken}
    n = len(taken) + 1
    while f"{base} {n}".casefold() in names:
        n += 1
    return f"{base} {n}"


class PersonaForm(QWidget):
    """Every field of a persona record, grouped in sections. Emits edits; never writes."""

    edited = Signal(str, object, str, bool)  # path, value (DELETE removes), noun, mergeable
    item_added = Signal(str, object, str)  # list path, new item, noun
    item_removed = Signal(str, str)  # item path, noun
    editing_finished = Signal()  # a text or number field lost focus: keystrokes stop merging

    SECTIONS = (
        "Identity", "Face", "Hair", "Distinguishing marks", "Wardrobe", "Lighting", "Posture",
        "Style", "Never show", "Prompt template",
    )  # fmt: skip

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.record: dict | None = None
        self._fields: dict[str, _Binding] = {}
        self._lists: dict[str, _ListEditor] = {}
        self._tips: dict[QWidget, str] = {}
        self._invalid: dict[QWidget, list[str]] = {}
        self._loading = False
        self.sections: dict[str, QGroupBox] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 8, 8)
        layout.setSpacing(10)
        builders = (
            self._identity, self._face, self._hair, self._marks, self._wardrobe, self._lighting,
            self._posture, self._style, self._never_show, self._prompt_template,
        )  # fmt: skip
        forms = []
        for title, build in zip(self.SECTIONS, builders, strict=True):
            box, form = _section(title)
            build(form)
            self.sections[title] = box
            forms.append(form)
            layout.addWidget(box)
        layout.addStretch(1)
        _align_labels(forms)

    # -- public -----------------------------------------------------------------------------

    def widget(self, path: str) -> QWidget | None:
        """The widget that edits path (a list editor for list fields), or None."""
        if path in self._fields:
            return self._fields[path].widget
        return self._lists.get(path)

    def paths(self) -> list[str]:
        return list(self._fields) + list(self._lists)

    def load(self, record: dict | None) -> None:
        """Show record: rebuild list rows whose length changed, then set every widget's value."""
        self.record = record
        if record is None:
            return
        self._loading = True
        try:
            for path, editor in sorted(self._lists.items(), key=lambda kv: len(kv[0])):
                if self._lists.get(path) is editor:  # not replaced by an outer rebuild
                    editor.sync(record)
            for path, binding in list(self._fields.items()):
                binding.load(get_path(record, path, None))
        finally:
            self._loading = False

    def mark_issues(self, issues: list[RecordIssue]) -> None:
        """Mark the widgets of the fields with problems: invalid=true and the message as tip."""
        marks: dict[QWidget, list[str]] = {}
        for issue in issues:
            widget = self._widget_for(issue.path)
            if widget is not None:
                marks.setdefault(widget, []).append(f"{field_label(issue.path)}: {issue.message}")
        for widget in list(self._invalid):
            if widget not in marks:
                self._set_invalid(widget, None)
        for widget, messages in marks.items():
            self._set_invalid(widget, messages)

    def invalid_widgets(self) -> list[QWidget]:
        return list(self._invalid)

    def forget(self, prefix: str) -> None:
        """Drop the bindings of paths under prefix (their rows are being rebuilt)."""
        for table in (self._fields, self._lists):
            for path in [p for p in table if p.startswith(prefix)]:
                widget = table.pop(path)
                widget = widget.widget if isinstance(widget, _Binding) else widget
                self._invalid.pop(widget, None)
                self._tips.pop(widget, None)

    def focus_first(self, path: str) -> QWidget | None:
        """Give focus to the first text field at or under path (a new list item)."""
        for p, binding in self._fields.items():
            if (p == path or p.startswith(path + ".")) and isinstance(
                binding.widget, (QLineEdit, QPlainTextEdit)
            ):
                binding.widget.setFocus(Qt.FocusReason.OtherFocusReason)
                return binding.widget
        return None

    # -- marking ----------------------------------------------------------------------------

    def _widget_for(self, path: str) -> QWidget | None:
        try:
            parts = parse_path(path)
        except ValueError:
            return None
        while parts:
            widget = self.widget(format_path(parts))
            if widget is not None:
                return widget
            parts.pop()
        return None

    def _set_invalid(self, widget: QWidget, messages: list[str] | None) -> None:
        base_tip = self._tips.get(widget, "")
        if messages:
            self._invalid[widget] = messages
            widget.setToolTip("\n".join(messages) + (f"\n\n{base_tip}" if base_tip else ""))
        else:
            self._invalid.pop(widget, None)
            widget.setToolTip(base_tip)
        if bool(widget.property("invalid")) != bool(messages):
            widget.setProperty("invalid", bool(messages))
            widget.style().unpolish(widget)
            widget.style().polish(widget)
            widget.update()

    # -- binding helpers --------------------------------------------------------------------

    def _bind(self, path: str, widget: QWidget, load: Callable[[Any], None]) -> None:
        tip = schema_at(path).get("description", "")
        if tip:
            widget.setToolTip(tip)
        self._tips[widget] = tip
        self._fields[path] = _Binding(widget, load)

    def _emit(self, path: str, value: Any, noun: str, mergeable: bool) -> None:
        if not self._loading and self.record is not None:
            self.edited.emit(path, value, noun, mergeable)

    def _line(self, path: str, noun: str | None = None, placeholder: str = "") -> QLineEdit:
        noun = noun or _noun(field_title(path))
        w = QLineEdit()
        w.setPlaceholderText(placeholder)
        w.setMinimumWidth(120)
        deletes = _deletes_when_empty(path)

        def edited(text: str) -> None:
            self._emit(path, DELETE if deletes and not text else text, noun, True)

        def load(value: Any) -> None:
            text = "" if value is None else str(value)
            if w.text() != text:
                w.setText(text)
                w.setCursorPosition(0)

        w.textEdited.connect(edited)
        w.editingFinished.connect(self.editing_finished)
        self._bind(path, w, load)
        return w

    def _text(self, path: str, lines: int = 3, placeholder: str = "") -> _TextBox:
        noun = _noun(field_title(path))
        w = _TextBox(lines)
        w.setPlaceholderText(placeholder)

        def load(value: Any) -> None:
            text = "" if value is None else str(value)
            if w.toPlainText() != text:
                w.setPlainText(text)

        w.textChanged.connect(lambda: self._emit(path, w.toPlainText(), noun, True))
        w.editingFinished.connect(self.editing_finished)
        self._bind(path, w, load)
        return w

    def _combo(self, path: str, noun: str | None = None) -> QComboBox:
        noun = noun or _noun(field_title(path))
        w = _Combo()
        for choice in schema_at(path).get("enum", []):
            w.addItem(choice, choice)
        w.setMinimumWidth(150)
        w.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)

        def load(value: Any) -> None:
            w.setCurrentIndex(w.findData(value))

        w.currentIndexChanged.connect(
            lambda i: i >= 0 and self._emit(path, w.itemData(i), noun, False)
        )
        self._bind(path, w, load)
        return w

    def _spin(
        self, path: str, suffix: str = "", step: int = 1, noun: str | None = None
    ) -> QSpinBox:
        sub = schema_at(path)
        w = _Spin()
        w.setRange(int(sub.get("minimum", 0)), int(sub.get("maximum", 2**31 - 1)))
        w.setSingleStep(step)
        w.setSuffix(suffix)
        w.setKeyboardTracking(False)
        w.setMinimumWidth(100)
        noun = noun or _noun(field_title(path))

        def load(value: Any) -> None:
            if isinstance(value, (int, float)) and w.value() != value:
                w.setValue(int(value))

        w.valueChanged.connect(lambda v: self._emit(path, int(v), noun, True))
        w.editingFinished.connect(self.editing_finished)
        self._bind(path, w, load)
        return w

    def _double(
        self,
        path: str,
        decimals: int,
        step: float = 1.0,
        suffix: str = "",
    ) -> QDoubleSpinBox:
        sub = schema_at(path)
        integer = sub.get("type") == "integer"
        w = _DoubleSpin()
        w.setDecimals(decimals)
        w.setRange(float(sub.get("minimum", 0)), float(sub.get("maximum", 1e12)))
        w.setSingleStep(step)
        w.setSuffix(suffix)
        w.setKeyboardTracking(False)
        w.setMinimumWidth(110)
        noun = _noun(field_title(path))

        def value_of(v: float) -> int | float:
            v = round(v, decimals)
            return int(v) if integer or float(v).is_integer() else v

        def load(value: Any) -> None:
            if isinstance(value, (int, float)) and w.value() != value:
                w.setValue(float(value))

        w.valueChanged.connect(lambda v: self._emit(path, value_of(v), noun, True))
        w.editingFinished.connect(self.editing_finished)
        self._bind(path, w, load)
        return w

    def _colour(self, path: str, noun: str | None = None) -> ColourSwatch:
        noun = noun or _noun(field_title(path))
        w = ColourSwatch()
        w.clicked.connect(lambda: self._pick_colour(path, noun, w))
        self._bind(path, w, lambda value: w.set_colour(value if isinstance(value, str) else ""))
        return w

    def _pick_colour(self, path: str, noun: str, swatch: ColourSwatch) -> None:
        start = QColor(swatch.hex) if _is_hex(swatch.hex) else QColor(NEW_COLOUR)
        chosen = QColorDialog.getColor(start, self, f"Choose the {noun}")
        if chosen.isValid():
            self._emit(path, chosen.name().lower(), noun, False)

    def _checks(self, path: str, columns: int = 3) -> QFrame:
        noun = _noun(field_title(path))
        frame = QFrame()
        grid = QGridLayout(frame)
        grid.setContentsMargins(4, 2, 4, 2)
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(2)
        boxes: dict[str, QCheckBox] = {}
        for i, choice in enumerate(schema_at(path).get("items", {}).get("enum", [])):
            box = QCheckBox(choice)
            box.toggled.connect(lambda on, c=choice: self._toggle(path, c, on, noun))
            grid.addWidget(box, i // columns, i % columns)
            boxes[choice] = box

        def load(value: Any) -> None:
            chosen = value if isinstance(value, list) else []
            for choice, box in boxes.items():
                box.setChecked(choice in chosen)

        self._bind(path, frame, load)
        return frame

    def _toggle(self, path: str, choice: str, on: bool, noun: str) -> None:
        if self._loading or self.record is None:
            return
        current = list(get_path(self.record, path, []))
        if on and choice not in current:
            current.append(choice)
        elif not on:
            current = [c for c in current if c != choice]
        self._emit(path, current, noun, False)

    def _list(
        self,
        path: str,
        noun: str,
        make_row: Callable[[str], QWidget],
        new_item: Callable[[list], Any],
    ) -> _ListEditor:
        editor = _ListEditor(self, path, noun, make_row, new_item)
        self._lists[path] = editor
        tip = schema_at(path).get("description", "")
        editor.setToolTip(tip)
        self._tips[editor] = tip
        return editor

    def _strings(self, path: str, noun: str, placeholder: str) -> _ListEditor:
        def row(item_path: str) -> QWidget:
            return self._line(item_path, noun, placeholder)

        return self._list(path, noun, row, lambda items: "")

    # -- sections ---------------------------------------------------------------------------

    def _identity(self, form: QFormLayout) -> None:
        form.addRow("Name", self._line("identity.name"))
        token = self._line("identity.trigger_token", placeholder="e.g. ohwx_nova")
        token.setFont(QFont("monospace"))
        form.addRow("Trigger token", token)
        seed = self._double("identity.seed_base", decimals=0)
        seed.setGroupSeparatorShown(False)
        seed.setMinimumWidth(140)
        form.addRow("Seed base", _hbox(seed))
        form.addRow("Description", self._text("identity.description", 3, "Who they are"))

    def _face(self, form: QFormLayout) -> None:
        for key in ("eye_colour", "face_shape", "jaw"):
            path = f"face.{key}"
            form.addRow(field_title(path), _hbox(self._combo(path)))
        form.addRow("Nose", self._line("face.nose", placeholder="e.g. straight, narrow bridge"))
        form.addRow("Brows", self._line("face.brows", placeholder="e.g. softly arched"))
        form.addRow("Lips", self._line("face.lips", placeholder="e.g. full"))
        form.addRow(
            "Skin tone",
            _hbox(
                self._line("face.skin_tone.label", "skin tone", "e.g. fair, warm undertone"),
                self._colour("face.skin_tone.hex", "skin tone colour"),
                stretch_last=True,
            ),
        )
        age_from = self._spin("face.apparent_age.min", noun="lowest apparent age")
        age_to = self._spin("face.apparent_age.max", noun="highest apparent age")
        form.addRow("Apparent age", _hbox(age_from, "to", age_to, "years"))

    def _hair(self, form: QFormLayout) -> None:
        form.addRow(
            "Colour",
            _hbox(
                self._line("face.hair.colour_name", placeholder="e.g. honey brown"),
                self._colour("face.hair.colour", "hair colour"),
                stretch_last=True,
            ),
        )
        form.addRow("Length", _hbox(self._combo("face.hair.length")))
        form.addRow("Style", self._line("face.hair.style", placeholder="e.g. layered bob"))

    def _marks(self, form: QFormLayout) -> None:
        def row(item: str) -> QWidget:
            kind = self._combo(f"{item}.kind", "mark kind")
            kind.setMinimumWidth(120)
            placement = self._line(f"{item}.placement", "mark placement", "Where, e.g. left cheek")
            description = self._line(f"{item}.description", "mark description", "Description")
            return _hbox(kind, placement, description, stretch_last=True)

        form.addRow(
            self._list(
                "face.distinguishing_marks",
                "mark",
                row,
                lambda items: {"kind": "mole", "placement": "", "description": ""},
            )
        )

    def _wardrobe(self, form: QFormLayout) -> None:
        form.addRow("Default outfit", _hbox(self._default_outfit()))
        outfits = self._list("wardrobe.outfits", "outfit", self._outfit_card, self._new_outfit)
        form.addRow(_caption("Outfits"))
        form.addRow(outfits)
        form.addRow(_caption("Rules"))
        form.addRow(
            self._list(
                "wardrobe.rules",
                "rule",
                self._rule_row,
                lambda items: {"kind": "always", "subject": ""},
            )
        )

    def _default_outfit(self) -> QComboBox:
        path = "wardrobe.default_outfit"
        w = _Combo()
        w.setMinimumWidth(180)
        w.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)

        def load(value: Any) -> None:
            names = [o.get("name", "") for o in get_path(self.record, "wardrobe.outfits", [])]
            if value and value not in names:
                names.append(value)  # shown (and marked invalid) until the user picks another
            if [w.itemText(i) for i in range(w.count())] != names:
                w.clear()
                for name in names:
                    w.addItem(name, name)
            w.setCurrentIndex(w.findData(value))

        w.currentIndexChanged.connect(
            lambda i: i >= 0 and self._emit(path, w.itemData(i), "default outfit", False)
        )
        self._bind(path, w, load)
        return w

    @staticmethod
    def _new_outfit(items: list) -> dict:
        name = _unique_name("outfit", [o.get("name", "") for o in items])
        garment = {"item": "", "colour": NEW_COLOUR, "material": ""}
        return {"name": name, "garments": [garment], "accessories": [], "notes": ""}

    def _outfit_card(self, item: str) -> QWidget:
        card = QFrame()
        card.setObjectName("outfitCard")
        card.setFrameShape(QFrame.Shape.StyledPanel)
        form = QFormLayout(card)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setContentsMargins(10, 8, 10, 8)
        form.addRow("Name", self._line(f"{item}.name", "outfit name", "e.g. flight suit"))
        form.addRow(
            "Garments",
            self._list(
                f"{item}.garments",
                "garment",
                self._garment_row,
                lambda items: {"item": "", "colour": NEW_COLOUR, "material": ""},
            ),
        )
        form.addRow(
            "Accessories", self._strings(f"{item}.accessories", "accessory", "e.g. name tag")
        )
        form.addRow("Notes", self._line(f"{item}.notes", "outfit notes", "For the artist"))
        return card

    def _garment_row(self, item: str) -> QWidget:
        name = self._line(f"{item}.item", "garment", "Garment, e.g. jacket")
        material = self._line(f"{item}.material", "garment material", "Material")
        colour = self._colour(f"{item}.colour", "garment colour")
        return _hbox(name, colour, material, stretch_last=True)

    def _rule_row(self, item: str) -> QWidget:
        kind = _Combo()
        for choice in schema_at(f"{item}.kind").get("enum", []):
            kind.addItem(choice, choice)
        kind.setMinimumWidth(110)
        subject = self._line(f"{item}.subject", "rule item", "Item, e.g. sunglasses")
        with_label = QLabel("with")
        obj = self._line(f"{item}.object", "rule condition", "Worn with, e.g. off-duty jacket")

        def load(value: Any) -> None:
            kind.setCurrentIndex(kind.findData(value))
            only_with = value == "only-with"
            with_label.setVisible(only_with)
            obj.setVisible(only_with)

        def changed(index: int) -> None:
            if index < 0 or self._loading or self.record is None:
                return
            rule = dict(get_path(self.record, item, {}))
            rule["kind"] = kind.itemData(index)
            if rule["kind"] != "only-with":
                rule.pop("object", None)  # a hidden condition would only confuse a diff
            self._emit(item, rule, "rule", False)

        kind.currentIndexChanged.connect(changed)
        self._bind(f"{item}.kind", kind, load)
        return _hbox(kind, subject, with_label, obj, stretch_last=True)

    def _lighting(self, form: QFormLayout) -> None:
        form.addRow("Key light", _hbox(self._combo("lighting.key_direction")))
        form.addRow(
            "Colour temperature",
            _hbox(self._spin("lighting.colour_temperature_k", " K", step=100)),
        )
        ratio = self._double("lighting.contrast_ratio", decimals=1, step=0.5, suffix=" : 1")
        form.addRow("Contrast (key:fill)", _hbox(ratio))
        form.addRow("Mood", self._line("lighting.mood", placeholder="e.g. soft natural"))
        form.addRow("Allowed setups", self._checks("lighting.allowed_setups"))

    def _posture(self, form: QFormLayout) -> None:
        form.addRow("Default stance", _hbox(self._combo("posture.default_stance")))
        tilt = self._double("posture.head_tilt_deg", decimals=1, suffix="°")
        form.addRow("Head tilt", _hbox(tilt, _hint("positive tilts to the right", wrap=False)))
        form.addRow(
            "Expressions",
            self._strings("posture.expression_range", "expression", "e.g. soft smile"),
        )

    def _style(self, form: QFormLayout) -> None:
        form.addRow("Medium", _hbox(self._combo("style.medium")))
        form.addRow("Lens", _hbox(self._spin("style.lens_mm", " mm")))
        aperture = self._line("style.aperture", placeholder="e.g. f/2.8")
        aperture.setMaximumWidth(140)
        form.addRow("Aperture", _hbox(aperture))
        form.addRow("Camera / film", self._line("style.camera", placeholder="e.g. medium format"))

    def _never_show(self, form: QFormLayout) -> None:
        form.addRow(_hint("Traits that must never appear; they go into the negative prompt."))
        form.addRow(self._strings("negative_traits", "trait", "e.g. blue eyes"))

    def _prompt_template(self, form: QFormLayout) -> None:
        form.addRow("Positive", self._text("prompt_template.positive", 4))
        form.addRow("", _placeholder_hint(POSITIVE_PLACEHOLDERS))
        form.addRow("Negative", self._text("prompt_template.negative", 2))
        form.addRow("", _placeholder_hint(NEGATIVE_PLACEHOLDERS))


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("formCaption")
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


def _placeholder_hint(names: tuple[str, ...]) -> QLabel:
    return _hint("Placeholders: " + " ".join(f"{{{name}}}" for name in names))


def _hint(text: str, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setObjectName("sectionHint")
    label.setWordWrap(wrap)
    return label


# --------------------------------------------------------------------------- the workspace


def _date(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except (TypeError, ValueError):
        return iso or ""


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class PersonaEditor(QWidget):
    """The Persona workspace: cast on the left, the record's form, preview and history."""

    name = "persona"
    title = "Persona"
    status_message = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = PersonaDocument(self)
        self._undo_stack = QUndoStack(self)
        self._session = 0  # bumped when a field loses focus, so later typing is a new command
        self._build()
        self._connect()
        self._show_state()

    @property
    def undo_stack(self) -> QUndoStack:
        return self._undo_stack

    def set_project(self, project: Any) -> None:
        """Show a project's cast (its first persona opens), or nothing for None."""
        self._undo_stack.clear()
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

        self.save_action = QAction("Save Version…", self)
        self.save_action.setShortcut(QKeySequence.StandardKey.Save)
        self.save_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.save_action.setStatusTip("Save the working record as a new version of the persona")
        self.save_action.triggered.connect(self.ask_save_version)
        self.addAction(self.save_action)

    def _build_cast(self) -> QWidget:
        panel = QWidget()
        panel.setMinimumWidth(150)
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(_caption("Cast"))
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
        row = QHBoxLayout()
        row.addWidget(self.action_edit, 1)
        row.addWidget(self.outfit_combo)
        layout.addLayout(row)
        self.positive_view = self._prompt_view(8, 3)
        self.negative_view = self._prompt_view(3, 2)
        layout.addWidget(_caption("Positive"))
        layout.addWidget(self.positive_view)
        layout.addWidget(_caption("Negative"))
        layout.addWidget(self.negative_view)
        return box

    @staticmethod
    def _prompt_view(lines: int, min_lines: int) -> QPlainTextEdit:
        view = _TextBox(lines, min_lines)
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
        doc.draft_restored.connect(self._on_draft_restored)
        doc.edit_failed.connect(self._on_edit_failed)
        self.form.edited.connect(self._on_edited)
        self.form.item_added.connect(self._on_item_added)
        self.form.item_removed.connect(self._on_item_removed)
        self.form.editing_finished.connect(self._end_session)
        self.cast_list.currentItemChanged.connect(self._on_cast_selected)
        self._undo_stack.cleanChanged.connect(lambda _clean: self._show_state())
        self.action_edit.textChanged.connect(lambda _text: self._update_preview())
        self.outfit_combo.currentIndexChanged.connect(lambda _i: self._update_preview())
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
        self._undo_stack.setClean()
        self.status_message.emit(f"Saved version {version.number} of {self.document.persona.name}")
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
        start = max(self._undo_stack.cleanIndex(), 0)
        texts: list[str] = []
        for i in range(start, self._undo_stack.index()):
            text = self._undo_stack.text(i)
            if text not in texts:
                texts.append(text)
        return "; ".join(texts)

    def add_persona(self, name: str) -> str | None:
        """Add a persona with a default record and open it; its id, or None."""
        self._undo_stack.clear()
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
        self._undo_stack.push(RevertCommand(self.document, number, record))
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
        text = f"Change {noun}"
        m = re.fullmatch(r"wardrobe\.outfits\[\d+\]\.name", path)
        if m and doc.value("wardrobe.default_outfit") == old:
            # Renaming the default outfit keeps it the default.
            wardrobe = record_rules.set_path(doc.record, path, value)["wardrobe"]
            wardrobe["default_outfit"] = value
            path, old, value = "wardrobe", doc.value("wardrobe"), wardrobe
        self._undo_stack.push(SetFieldCommand(doc, path, old, value, text, merge_key=key))

    def _on_item_added(self, list_path: str, item: Any, noun: str) -> None:
        command = AddItemCommand(self.document, list_path, item, noun)
        item_path = command.item_path
        self._undo_stack.push(command)
        widget = self.form.focus_first(item_path)
        if widget is not None:
            self.scroll.ensureWidgetVisible(widget, 40, 80)

    def _on_item_removed(self, item_path: str, noun: str) -> None:
        self._undo_stack.push(RemoveItemCommand(self.document, item_path, noun))

    def _on_edit_failed(self, exc: StudioError) -> None:
        dialogs.show_error(self, exc)
        self.form.load(self.document.record)  # put the widget back to the record's value

    # -- document → view --------------------------------------------------------------------

    def _on_persona_changed(self) -> None:
        self._undo_stack.clear()
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
        self.problem_label.setText(_plural(len(issues), "problem") if issues else "")
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
        self.outfit_combo.addItem(f"Default ({default})" if default else "Default outfit", None)
        for name in names:
            self.outfit_combo.addItem(name, name)
        index = self.outfit_combo.findData(current) if current else 0
        self.outfit_combo.setCurrentIndex(max(index, 0))
        self.outfit_combo.blockSignals(False)

    def _update_preview(self) -> None:
        record = self.document.record
        if record is None:
            self.positive_view.setPlainText("")
            self.negative_view.setPlainText("")
            return
        try:
            prompt = record_rules.compose_prompt(
                record, action=self.action_edit.text(), outfit=self.outfit_combo.currentData()
            )
        except StudioError as exc:
            count = len(getattr(exc, "issues", [])) or 1
            self.positive_view.setPlainText(
                f"Fix the {_plural(count, 'problem')} in the form to see the prompt."
            )
            self.negative_view.setPlainText("")
            return
        self.positive_view.setPlainText(prompt.positive)
        self.negative_view.setPlainText(prompt.negative)

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
                f"{_plural(len(changes), 'field')} differ from v{a} to v{b}."
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
            if _is_hex(value):
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
