"""Right-click menus of the Drift workspace: the heat map's frames and the reshoot list.

They offer the workspace's own review edits (each one undo command), for the frame under the
mouse, or for the selection when that frame is in it.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QInputDialog, QMenu


def frame_menu(ws, row: int, frame: int) -> QMenu:
    """The menu for a frame of the heat map; selects it first unless it is in the selection."""
    sel = ws.heatmap.selection()
    if sel is None or sel[0] != row or not sel[1] <= frame <= sel[2]:
        ws.heatmap.select(row, frame)
        ws.inspect(row, frame)
    n = len(ws.selected_frames())
    what = "Frame" if n == 1 else f"{n} Frames"
    writable = ws.project is not None and not ws.project.read_only
    menu = QMenu(ws)
    menu.addAction("Inspect", lambda: ws.inspect(row, frame))
    menu.addSeparator()
    for text, slot in (
        (f"Flag {what} for Reshoot", lambda: ws.review_selection("reshoot")),
        (f"Approve {what}", lambda: ws.review_selection("approved")),
        (f"Clear Review of {what}", lambda: ws.review_selection(None)),
        ("Note…", lambda: ask_note(ws)),
    ):
        menu.addAction(text, slot).setEnabled(writable and n > 0)
    return menu


def ask_note(ws) -> None:
    """Ask for the selected frames' note, then save it through the workspace's note edit."""
    note, ok = QInputDialog.getText(
        ws, "Note on the selected frames", "Note", text=ws.note_edit.text()
    )
    if ok:
        ws.note_edit.setText(note)
        ws.save_note()


def reshoot_menu(ws, pos: QPoint) -> QMenu | None:
    """The menu for the reshoot list's item under a position, or None off the items."""
    item = ws.reshoot_list.itemAt(pos)
    where = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
    if not where:
        return None
    ws.reshoot_list.setCurrentItem(item)
    return frame_menu(ws, *where)


def popup(menu: QMenu, at: QPoint) -> None:
    """Show a menu where the mouse is (tests replace this: exec would wait for a choice)."""
    menu.exec(at)


def show_frame_menu(ws, row: int, frame: int, at: QPoint) -> None:
    popup(frame_menu(ws, row, frame), at)


def show_reshoot_menu(ws, pos: QPoint) -> None:
    menu = reshoot_menu(ws, pos)
    if menu is not None:
        popup(menu, ws.reshoot_list.viewport().mapToGlobal(pos))
