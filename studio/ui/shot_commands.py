"""The shot settings document and its undo command.

Each edit of a render shot's settings is one `SetShotSettingsCommand`: its first redo applies
the change through `ShotSettingsDocument` (which calls the renders service), undo applies the
values from before, redo the values after. A change the service refuses is dropped from the
undo stack and nothing is stored.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand

from studio.core.errors import StudioError
from studio.core.render import RenderSettings
from studio.services import renders

OUTFIT = "outfit"  # the change key of a shot's outfit (not a RenderSettings field)

FIELD_NOUNS = {
    "action": "action",
    "camera": "camera",
    "framing": "framing",
    OUTFIT: "outfit",
    "lighting_setup": "lighting setup",
    "frames": "frame count",
    "width": "width",
    "height": "height",
    "steps": "steps",
    "guidance": "guidance",
    "sampler": "sampler",
    "model": "model",
    "loras": "LoRA weights",
    "ip_adapters": "IP-Adapter scales",
    "references": "reference count",
    "yaw": "head yaw",
    "pitch": "head pitch",
    "seed_offset": "seed offset",
    "pinned_references": "pinned references",
}


class ShotSettingsDocument(QObject):
    """Reads and writes render shots' settings through the renders service."""

    changed = Signal(str)  # the shot id whose settings (or outfit) were stored
    edit_failed = Signal(object)  # a StudioError from the service; nothing was stored

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.project: Any = None

    def values(self, shot_id: str, keys: list[str]) -> dict[str, Any]:
        """The shot's current values of some settings (and `outfit`, its first persona's)."""
        shot, settings = renders.render_shot(self.project, shot_id)
        out: dict[str, Any] = {}
        for key in keys:
            if key == OUTFIT:
                out[key] = shot.outfit_for(shot.persona_ids[0]) if shot.persona_ids else None
            else:
                out[key] = getattr(settings, key)
        return out

    def apply(self, shot_id: str, changes: dict[str, Any]) -> RenderSettings | None:
        """Store changes to a shot's settings; None (and `edit_failed`) when refused."""
        try:
            settings = renders.set_render_settings(self.project, shot_id, **dict(changes))
        except StudioError as exc:
            self.edit_failed.emit(exc)
            return None
        self.changed.emit(shot_id)
        return settings


class SetShotSettingsCommand(QUndoCommand):
    """Change some settings of one render shot; undo restores the values they had."""

    def __init__(
        self,
        document: ShotSettingsDocument,
        shot_id: str,
        changes: dict[str, Any],
        text: str | None = None,
    ):
        nouns = [FIELD_NOUNS.get(k, k.replace("_", " ")) for k in changes]
        super().__init__(text or f"Change {' and '.join(nouns)}")
        self.document = document
        self.shot_id = shot_id
        self.changes = dict(changes)
        self.before = document.values(shot_id, list(changes))
        self.after: dict[str, Any] | None = None

    def redo(self) -> None:
        if self.after is None:
            stored = self.document.apply(self.shot_id, self.changes)
            if stored is None:
                self.setObsolete(True)  # refused: the stack drops the command
                return
            # As stored: the service spells names as registered ("rembrandt", not "Rembrandt").
            self.after = self.document.values(self.shot_id, list(self.changes))
        else:
            self.document.apply(self.shot_id, self.after)

    def undo(self) -> None:
        self.document.apply(self.shot_id, self.before)
