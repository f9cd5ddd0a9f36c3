"""The form of the Persona workspace: every field of a persona record, grouped in sections.

The form never writes the record itself: each change is emitted as an edit that the workspace
turns into an undo command, and the form shows whatever record it is loaded with.

A field the record leaves unset shows empty: a placeholder that says "not set", a colour
button that reads "not set", a "(not set)" first choice, a number box at "not set" below its
lowest value. Emptying a field (or its clear button) emits DELETE, which leaves it unset.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.persona import (
    NEGATIVE_PLACEHOLDERS,
    POSITIVE_PLACEHOLDERS,
    RecordIssue,
    format_path,
    get_path,
    parse_path,
)
from studio.ui.persona_commands import (
    DELETE,
    deletes_when_empty,
    field_label,
    field_noun,
    field_title,
    is_optional,
    schema_at,
)

NEW_COLOUR = "#808080"  # where the colour dialog starts for a colour not set yet
UNSET_TEXT = "not set"
UNSET_CHOICE = "(not set)"
UNSET_HINT = (
    "Empty fields are not set: the prompt and the drift checks leave them out. "
    "Leave a field empty if it does not matter."
)


def unset_placeholder(example: str = "") -> str:
    """The placeholder of an optional text field: says it is not set, with an example."""
    return (
        f"{UNSET_TEXT} — e.g. {example}"
        if example
        else f"{UNSET_TEXT} — leave empty if it does not matter"
    )


def is_hex(value: Any) -> bool:
    return isinstance(value, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", value) is not None


def swatch_icon(hex_colour: str, size: int = 14) -> QIcon:
    pix = QPixmap(size, size)
    pix.fill(QColor(hex_colour) if is_hex(hex_colour) else QColor(0, 0, 0, 0))
    return QIcon(pix)


# --------------------------------------------------------------------------- form widgets


class TextBox(QPlainTextEdit):
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
        self.setText(hex_colour or UNSET_TEXT)
        self.setProperty("unset", not hex_colour)


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


class _Unsettable:
    """A number box whose lowest value, one step below the field's own, reads "not set"."""

    unset_value: float | None = None
    start: float = 0

    def make_unsettable(self, lowest: float, highest: float, step: float, start: float) -> None:
        self.unset_value = lowest - step
        self.start = start
        self.setRange(self.unset_value, highest)
        self.setSpecialValueText(UNSET_TEXT)

    def is_unset(self, value: float) -> bool:
        return self.unset_value is not None and abs(value - self.unset_value) < 1e-9

    def stepBy(self, steps: int) -> None:
        if steps > 0 and self.is_unset(self.value()):
            self.setValue(self.start)  # up from "not set" lands on a usual value, not the lowest
        else:
            super().stepBy(steps)


class _Spin(_Unsettable, _WheelGuard, QSpinBox):
    def __init__(self):
        super().__init__()
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)


class _DoubleSpin(_Unsettable, _WheelGuard, QDoubleSpinBox):
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
        self._clear_buttons: dict[str, QToolButton] = {}
        self._tips: dict[QWidget, str] = {}
        self._invalid: dict[QWidget, list[str]] = {}
        self._loading = False
        self.sections: dict[str, QGroupBox] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 8, 8)
        layout.setSpacing(10)
        self.unset_hint = _hint(UNSET_HINT)
        layout.addWidget(self.unset_hint)
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

    def clear_button(self, path: str) -> QToolButton | None:
        """The button beside an optional colour or number that leaves it unset, or None."""
        return self._clear_buttons.get(path)

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
                value = get_path(record, path, None)
                binding.load(value)
                if path in self._clear_buttons:
                    self._clear_buttons[path].setVisible(value is not None)
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
        for path in [p for p in self._clear_buttons if p.startswith(prefix)]:
            del self._clear_buttons[path]
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
        noun = noun or field_noun(field_title(path))
        w = QLineEdit()
        w.setPlaceholderText(placeholder)
        w.setMinimumWidth(120)
        deletes = deletes_when_empty(path)
        w.setClearButtonEnabled(deletes)  # its ✕ leaves the field unset

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

    def _text(self, path: str, lines: int = 3, placeholder: str = "") -> TextBox:
        noun = field_noun(field_title(path))
        w = TextBox(lines)
        w.setPlaceholderText(placeholder)
        deletes = deletes_when_empty(path)

        def load(value: Any) -> None:
            text = "" if value is None else str(value)
            if w.toPlainText() != text:
                w.setPlainText(text)

        w.textChanged.connect(
            lambda: self._emit(
                path, DELETE if deletes and not w.toPlainText() else w.toPlainText(), noun, True
            )
        )
        w.editingFinished.connect(self.editing_finished)
        self._bind(path, w, load)
        return w

    def _combo(self, path: str, noun: str | None = None) -> QComboBox:
        noun = noun or field_noun(field_title(path))
        w = _Combo()
        optional = is_optional(path)
        if optional:
            w.addItem(UNSET_CHOICE, None)
        for choice in schema_at(path).get("enum", []):
            w.addItem(choice, choice)
        w.setMinimumWidth(150)
        w.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)

        def load(value: Any) -> None:
            w.setCurrentIndex(0 if optional and value is None else w.findData(value))

        def changed(i: int) -> None:
            if i >= 0:
                self._emit(path, DELETE if optional and i == 0 else w.itemData(i), noun, False)

        w.currentIndexChanged.connect(changed)
        self._bind(path, w, load)
        return w

    def _spin(
        self,
        path: str,
        suffix: str = "",
        step: int = 1,
        noun: str | None = None,
        start: int | None = None,
    ) -> QSpinBox:
        """A whole-number box; start: where stepping up from "not set" lands."""
        sub = schema_at(path)
        w = _Spin()
        lowest, highest = int(sub.get("minimum", 0)), int(sub.get("maximum", 2**31 - 1))
        if is_optional(path):
            w.make_unsettable(lowest, highest, step, lowest if start is None else start)
        else:
            w.setRange(lowest, highest)
        w.setSingleStep(step)
        w.setSuffix(suffix)
        w.setKeyboardTracking(False)
        w.setMinimumWidth(100)
        noun = noun or field_noun(field_title(path))

        def load(value: Any) -> None:
            if isinstance(value, (int, float)) and w.value() != value:
                w.setValue(int(value))
            elif value is None and w.unset_value is not None:
                w.setValue(int(w.unset_value))

        w.valueChanged.connect(
            lambda v: self._emit(path, DELETE if w.is_unset(v) else int(v), noun, True)
        )
        w.editingFinished.connect(self.editing_finished)
        self._bind(path, w, load)
        return w

    def _double(
        self,
        path: str,
        decimals: int,
        step: float = 1.0,
        suffix: str = "",
        start: float | None = None,
    ) -> QDoubleSpinBox:
        """A number box; start: where stepping up from "not set" lands."""
        sub = schema_at(path)
        integer = sub.get("type") == "integer"
        w = _DoubleSpin()
        w.setDecimals(decimals)
        lowest, highest = float(sub.get("minimum", 0)), float(sub.get("maximum", 1e12))
        if is_optional(path):
            w.make_unsettable(lowest, highest, step, lowest if start is None else start)
        else:
            w.setRange(lowest, highest)
        w.setSingleStep(step)
        w.setSuffix(suffix)
        w.setKeyboardTracking(False)
        w.setMinimumWidth(110)
        noun = field_noun(field_title(path))

        def value_of(v: float) -> int | float:
            v = round(v, decimals)
            return int(v) if integer or float(v).is_integer() else v

        def load(value: Any) -> None:
            if isinstance(value, (int, float)) and w.value() != value:
                w.setValue(float(value))
            elif value is None and w.unset_value is not None:
                w.setValue(w.unset_value)

        w.valueChanged.connect(
            lambda v: self._emit(path, DELETE if w.is_unset(v) else value_of(v), noun, True)
        )
        w.editingFinished.connect(self.editing_finished)
        self._bind(path, w, load)
        return w

    def _colour(self, path: str, noun: str | None = None) -> ColourSwatch:
        noun = noun or field_noun(field_title(path))
        w = ColourSwatch()
        w.clicked.connect(lambda: self._pick_colour(path, noun, w))
        self._bind(path, w, lambda value: w.set_colour(value if isinstance(value, str) else ""))
        return w

    def _clearable(self, path: str, widget: QWidget, noun: str) -> QWidget:
        """widget with a ✕ beside it that leaves the field unset; shown while it is set."""
        clear = QToolButton()
        # The line edits' own clear icon: a ✕ here would read as "remove this row".
        clear.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_LineEditClearButton))
        clear.setAutoRaise(True)
        clear.setObjectName("clearFieldButton")
        clear.setToolTip(f"Clear the {noun}: leave it not set")
        policy = clear.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # the row does not jump when it shows
        clear.setSizePolicy(policy)
        clear.clicked.connect(lambda: self._emit(path, DELETE, noun, False))
        clear.setVisible(get_path(self.record, path, None) is not None if self.record else False)
        self._clear_buttons[path] = clear
        holder = QWidget()
        layout = QHBoxLayout(holder)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(widget)
        layout.addWidget(clear)
        holder.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        return holder

    def _optional_colour(self, path: str, noun: str) -> QWidget:
        return self._clearable(path, self._colour(path, noun), noun)

    def _optional_number(self, path: str, widget: QWidget) -> QWidget:
        noun = field_noun(field_title(path))
        return self._clearable(path, widget, noun) if is_optional(path) else widget

    def _pick_colour(self, path: str, noun: str, swatch: ColourSwatch) -> None:
        start = QColor(swatch.hex) if is_hex(swatch.hex) else QColor(NEW_COLOUR)
        chosen = QColorDialog.getColor(start, self, f"Choose the {noun}")
        if chosen.isValid():
            self._emit(path, chosen.name().lower(), noun, False)

    def _checks(self, path: str, columns: int = 3) -> QFrame:
        noun = field_noun(field_title(path))
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
        self._emit(path, current or DELETE, noun, False)  # none ticked: not set

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
        form.addRow(
            "Description", self._text("identity.description", 3, unset_placeholder("who they are"))
        )

    def _face(self, form: QFormLayout) -> None:
        for key in ("eye_colour", "face_shape", "jaw"):
            path = f"face.{key}"
            form.addRow(field_title(path), _hbox(self._combo(path)))
        nose = unset_placeholder("straight, narrow bridge")
        form.addRow("Nose", self._line("face.nose", placeholder=nose))
        form.addRow("Brows", self._line("face.brows", placeholder=unset_placeholder("arched")))
        form.addRow("Lips", self._line("face.lips", placeholder=unset_placeholder("full")))
        skin = unset_placeholder("fair, warm undertone")
        form.addRow(
            "Skin tone",
            _hbox(
                self._line("face.skin_tone.label", "skin tone", skin),
                self._optional_colour("face.skin_tone.hex", "skin tone colour"),
                stretch_last=True,
            ),
        )
        age_from = self._spin("face.apparent_age.min", noun="lowest apparent age", start=30)
        age_to = self._spin("face.apparent_age.max", noun="highest apparent age", start=30)
        form.addRow(
            "Apparent age",
            _hbox(
                self._optional_number("face.apparent_age.min", age_from),
                "to",
                self._optional_number("face.apparent_age.max", age_to),
                "years",
            ),
        )

    def _hair(self, form: QFormLayout) -> None:
        form.addRow(
            "Colour",
            _hbox(
                self._line("face.hair.colour_name", placeholder=unset_placeholder("honey brown")),
                self._optional_colour("face.hair.colour", "hair colour"),
                stretch_last=True,
            ),
        )
        form.addRow("Length", _hbox(self._combo("face.hair.length")))
        style = unset_placeholder("layered bob")
        form.addRow("Style", self._line("face.hair.style", placeholder=style))

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
                lambda items: {"kind": "mole", "placement": ""},
            )
        )

    def _wardrobe(self, form: QFormLayout) -> None:
        form.addRow("Default outfit", _hbox(self._default_outfit()))
        outfits = self._list("wardrobe.outfits", "outfit", self._outfit_card, self._new_outfit)
        form.addRow(caption("Outfits"))
        form.addRow(outfits)
        form.addRow(caption("Rules"))
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
            if [w.itemText(i) for i in range(1, w.count())] != names or w.count() == 0:
                w.clear()
                w.addItem(UNSET_CHOICE, None)
                for name in names:
                    w.addItem(name, name)
            w.setCurrentIndex(0 if value is None else w.findData(value))

        def changed(i: int) -> None:
            if i >= 0:
                self._emit(path, DELETE if i == 0 else w.itemData(i), "default outfit", False)

        w.currentIndexChanged.connect(changed)
        self._bind(path, w, load)
        return w

    @staticmethod
    def _new_outfit(items: list) -> dict:
        # Only what an outfit needs: a name and one garment to name; no colour nobody chose.
        name = _unique_name("outfit", [o.get("name", "") for o in items])
        return {"name": name, "garments": [{"item": ""}]}

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
                lambda items: {"item": ""},
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
        colour = self._optional_colour(f"{item}.colour", "garment colour")
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
        kelvin = "lighting.colour_temperature_k"
        form.addRow(
            "Colour temperature",
            _hbox(self._optional_number(kelvin, self._spin(kelvin, " K", step=100, start=5600))),
        )
        ratio_path = "lighting.contrast_ratio"
        ratio = self._double(ratio_path, decimals=1, step=0.5, suffix=" : 1", start=2)
        form.addRow("Contrast (key:fill)", _hbox(self._optional_number(ratio_path, ratio)))
        mood = unset_placeholder("soft natural")
        form.addRow("Mood", self._line("lighting.mood", placeholder=mood))
        form.addRow("Allowed setups", self._checks("lighting.allowed_setups"))

    def _posture(self, form: QFormLayout) -> None:
        form.addRow("Default stance", _hbox(self._combo("posture.default_stance")))
        tilt = self._double("posture.head_tilt_deg", decimals=1, suffix="°", start=0)
        form.addRow(
            "Head tilt",
            _hbox(
                self._optional_number("posture.head_tilt_deg", tilt),
                _hint("positive tilts to the right", wrap=False),
            ),
        )
        form.addRow(
            "Expressions",
            self._strings("posture.expression_range", "expression", "e.g. soft smile"),
        )

    def _style(self, form: QFormLayout) -> None:
        form.addRow("Medium", _hbox(self._combo("style.medium")))
        lens = self._spin("style.lens_mm", " mm", start=50)
        form.addRow("Lens", _hbox(self._optional_number("style.lens_mm", lens)))
        aperture = self._line("style.aperture", placeholder=unset_placeholder("f/2.8"))
        aperture.setMaximumWidth(200)
        form.addRow("Aperture", _hbox(aperture))
        camera = unset_placeholder("medium format")
        form.addRow("Camera / film", self._line("style.camera", placeholder=camera))

    def _never_show(self, form: QFormLayout) -> None:
        form.addRow(_hint("Traits that must never appear; they go into the negative prompt."))
        form.addRow(self._strings("negative_traits", "trait", "e.g. blue eyes"))

    def _prompt_template(self, form: QFormLayout) -> None:
        form.addRow("Positive", self._text("prompt_template.positive", 4))
        form.addRow("", _placeholder_hint(POSITIVE_PLACEHOLDERS))
        form.addRow("Negative", self._text("prompt_template.negative", 2))
        form.addRow("", _placeholder_hint(NEGATIVE_PLACEHOLDERS))


def caption(text: str) -> QLabel:
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
