"""The footage import dialog: the clips, who is expected in them, every Nth frame, the frame cap."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
)

from studio.core.text import plural


class FootageImportDialog(QDialog):
    """What to import: the clips, the cast members expected in them, every Nth frame, the cap.

    cast: (persona id, name) in the cast's order; current: the persona checked at first (the
    one the workspace shows), else the first of the cast. At least one must stay checked.
    outfits: persona id -> the names of her outfits; the one chosen is expected of every
    checked persona who has it ("Any" leaves each free to wear any of hers).
    """

    def __init__(
        self,
        sources: list[str],
        cast: list[tuple[str, str]],
        parent=None,
        current: str | None = None,
        outfits: dict[str, list[str]] | None = None,
    ):
        super().__init__(parent)
        self.setWindowTitle("Import footage")
        self.setObjectName("footageImportDialog")
        self.sources = sources
        form = QFormLayout(self)
        names = [Path(s).name for s in sources]
        listed = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        what = QLabel(f"{plural(len(sources), 'clip')} as new shots: {listed}")
        what.setWordWrap(True)
        form.addRow(what)

        self.cast = QListWidget()
        self.cast.setObjectName("castList")
        self.cast.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.cast.setToolTip("Every persona who appears in these clips: each is scored")
        ids = [pid for pid, _ in cast]
        wanted = current if current in ids else (ids[0] if ids else None)
        for pid, name in cast:
            item = QListWidgetItem(name)
            item.setData(Qt.ItemDataRole.UserRole, pid)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if pid == wanted else Qt.CheckState.Unchecked)
            self.cast.addItem(item)
        rows = min(max(len(cast), 1), 6)
        self.cast.setMaximumHeight(self.cast.sizeHintForRow(0) * rows + 2 * self.cast.frameWidth())
        self.cast.itemChanged.connect(lambda _item: self._update())
        form.addRow("Expected in the shots:", self.cast)
        self.cast_hint = QLabel(
            "Check at least one persona." if cast else "Add a persona to the cast first."
        )
        self.cast_hint.setObjectName("castHint")
        form.addRow(self.cast_hint)

        self._outfits = outfits or {}
        self.outfit = QComboBox()
        self.outfit.setObjectName("outfitChoice")
        self.outfit.setToolTip(
            "The outfit the shots expect: the clothes are compared with the references tagged "
            "with it and its colours. Any: with all of the persona's outfits."
        )
        form.addRow("Outfit:", self.outfit)

        self.every = QSpinBox()
        self.every.setRange(1, 1000)
        self.every.setToolTip("Keep every Nth frame: 1 keeps them all")
        form.addRow("Keep every Nth frame:", self.every)
        self.cap = QSpinBox()
        self.cap.setRange(1, 100_000)
        self.cap.setValue(1000)
        self.cap.setSuffix(" frames")
        self.cap.setToolTip("Stop reading a clip after this many frames")
        form.addRow("At most, per clip:", self.cap)
        self.analyse = QCheckBox("Analyse the new shots for drift when they are in")
        self.analyse.setChecked(True)
        form.addRow(self.analyse)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.import_button = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.import_button.setText("Import")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._update()

    def _items(self) -> list[QListWidgetItem]:
        return [self.cast.item(i) for i in range(self.cast.count())]

    def set_checked(self, names: list[str]) -> None:
        """Check exactly these personas (by name)."""
        for item in self._items():
            on = item.text() in names
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)

    def persona_names(self) -> list[str]:
        return [it.text() for it in self._items() if it.checkState() == Qt.CheckState.Checked]

    def persona_ids(self) -> list[str]:
        """The checked personas' ids, in the cast's order."""
        return [
            it.data(Qt.ItemDataRole.UserRole)
            for it in self._items()
            if it.checkState() == Qt.CheckState.Checked
        ]

    def outfit_name(self) -> str | None:
        """The outfit chosen (None: any of theirs)."""
        return self.outfit.currentData()

    def _update(self) -> None:
        ok = bool(self.persona_ids())
        self.import_button.setEnabled(ok)
        self.cast_hint.setVisible(not ok)
        chosen = self.outfit.currentData()
        names = list(
            dict.fromkeys(n for pid in self.persona_ids() for n in self._outfits.get(pid, []))
        )
        self.outfit.blockSignals(True)
        self.outfit.clear()
        self.outfit.addItem("Any of theirs", None)
        for name in names:
            self.outfit.addItem(name, name)
        self.outfit.setCurrentIndex(max(0, self.outfit.findData(chosen)) if chosen else 0)
        self.outfit.blockSignals(False)
        self.outfit.setEnabled(bool(names))

    def accept(self) -> None:
        if self.persona_ids():  # Enter with nobody checked does nothing
            super().accept()
