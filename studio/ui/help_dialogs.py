"""The Help menu's pages: every keyboard shortcut (read from the window's menus) and a short
account of how the studio works, with a link to the README."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMenu,
    QMenuBar,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

import studio
from studio.core.resources import resource_path


def _plain(text: str) -> str:
    """A menu text without its mnemonic marks and trailing ellipsis."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").strip()


def shortcut_rows(menubar: QMenuBar) -> list[tuple[str, str, str]]:
    """(shortcut, action, menu) for every action with a shortcut in the window's menus, in menu
    order: read from the actions themselves, so the page cannot disagree with the keys."""
    rows: list[tuple[str, str, str]] = []

    def walk(menu: QMenu, path: str) -> None:
        for action in menu.actions():
            if action.menu() is not None:
                walk(action.menu(), f"{path} › {_plain(action.text())}")
            elif not action.isSeparator() and action.shortcuts():
                keys = ", ".join(
                    k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()
                )
                rows.append((keys, _plain(action.text()), path))

    for top in menubar.actions():
        if top.menu() is not None:
            walk(top.menu(), _plain(top.text()))
    return rows


class KeyboardShortcutsDialog(QDialog):
    """Every keyboard shortcut of the window with the menu that lists it."""

    def __init__(self, menubar: QMenuBar, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        self.resize(520, 560)
        layout = QVBoxLayout(self)
        note = QLabel(
            "A workspace's own keys (its menu: Persona, Drift…) work wherever the focus is "
            "while that workspace is shown; typing in a text field keeps its letters."
        )
        note.setWordWrap(True)
        layout.addWidget(note)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Shortcut", "Action", "Menu"])
        self.tree.setRootIsDecorated(False)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for keys, text, menu in shortcut_rows(menubar):
            self.tree.addTopLevelItem(QTreeWidgetItem([keys, text, menu]))
        layout.addWidget(self.tree, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def shortcuts(self) -> list[str]:
        """The shortcut column, top to bottom."""
        return [self.tree.topLevelItem(i).text(0) for i in range(self.tree.topLevelItemCount())]


def readme_path() -> Path | None:
    """The README shipped with the studio, or beside the source checkout; None if neither."""
    candidates = [
        resource_path("README.md"),
        Path(studio.__file__).resolve().parents[1] / "README.md",
    ]
    return next((p for p in candidates if p.is_file()), None)


HOW_IT_WORKS = """
<h3>How the studio works</h3>
<ol>
<li><b>Persona record</b> (Persona workspace): who the character is — face, hair, wardrobe,
the look to keep. Every change is undoable; <i>Save Version</i> (Ctrl+S) keeps a numbered
version, so rendered frames can say which version made them.</li>
<li><b>References</b> (Library workspace): photos of the persona. The audit finds each face,
measures how well the references agree, and marks suspect ones; approve the good, quarantine
the bad. The best approved reference is the persona's portrait.</li>
<li><b>Models</b> (View › Models, Ctrl+Shift+M): the Stable Diffusion checkpoints, the
persona's DreamBooth model and LoRAs, IP-Adapters and image-to-video models you have, registered
where they lie. Only .safetensors files and diffusers folders are loaded.</li>
<li><b>Timeline</b> (Timeline workspace): the shots in story order, each rendered from the
persona record and her references with one seed scheme. Set a shot up beside the lanes, select
shots and Render (Ctrl+R): frames land as they finish, with a live preview of the one being
made, and are scored for drift at once. Export… (Ctrl+E) writes PNGs or an MP4.</li>
<li><b>Drift review</b> (Drift workspace): import footage, analyse it, and read the heat map:
every frame's identity, wardrobe and lighting against the references and the thresholds.
Approve what is fine (A), flag what is not (R), add notes (N).</li>
<li><b>Reshoots</b>: the reshoot list gathers flagged frames; export the drift report
(Ctrl+Shift+E) for whoever renders the next take, then import it and review again.</li>
</ol>
"""


class HowItWorksDialog(QDialog):
    """A short page: persona record → references → models → timeline → drift review →
    reshoots, and the README."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("How the Studio Works")
        self.resize(560, 480)
        layout = QVBoxLayout(self)
        self.browser = QTextBrowser()
        self.browser.setOpenLinks(False)  # local files open in the user's own viewer
        self.browser.anchorClicked.connect(self.open_link)
        self.readme = readme_path()
        html = HOW_IT_WORKS
        if self.readme is not None:
            url = QUrl.fromLocalFile(str(self.readme)).toString()
            html += f'<p>More in the <a href="{url}">README</a> ({self.readme}).</p>'
        else:
            html += "<p>More in the README that came with the studio.</p>"
        self.browser.setHtml(html)
        layout.addWidget(self.browser, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def open_link(self, url: QUrl) -> bool:
        return QDesktopServices.openUrl(url)
