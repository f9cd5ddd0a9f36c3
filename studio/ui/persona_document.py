"""The open persona as a QtCore-only document: the working record, its base version, history.

Views subscribe to its signals; undo commands call `apply_field`, `delete_field` and
`restore_record`, each of which goes through one service that also keeps the draft, so an
edit is never lost to a crash.
"""

from __future__ import annotations

import copy
from typing import Any

from PySide6.QtCore import QObject, Signal

from studio.core.errors import StudioError
from studio.core.persona import RecordIssue, get_path, validate_record
from studio.core.records import Persona, PersonaVersion
from studio.services import library, personas

DRAFT_RESTORED_MESSAGE = "Unsaved changes from your last session were restored"


class PersonaDocument(QObject):
    """The project, the current persona, its base (head) version and the working record."""

    record_changed = Signal(str)  # the field path that changed; "" for the whole record
    persona_changed = Signal()  # another persona (or none) is open
    version_saved = Signal(int)  # the number of the new version
    history_changed = Signal()
    cast_changed = Signal()  # personas were added or renamed
    draft_restored = Signal(str)  # a message for the user
    edit_failed = Signal(object)  # a StudioError from a service; the record is unchanged

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.project: Any = None
        self.persona: Persona | None = None
        self.base: PersonaVersion | None = None
        self.record: dict | None = None
        self.draft_was_restored = False

    # -- opening ----------------------------------------------------------------------------

    @property
    def read_only(self) -> bool:
        return bool(getattr(self.project, "read_only", False))

    def set_project(self, project: Any) -> None:
        """Show a project (its first persona) or nothing when project is None."""
        self.project = project
        self.cast_changed.emit()
        cast = self.personas()
        self.open_persona(cast[0].id if cast else None)

    def personas(self) -> list[Persona]:
        """The cast of the open project, by name."""
        return personas.list_personas(self.project) if self.project is not None else []

    def portrait(self, persona_id: str) -> bytes | None:
        """Encoded thumbnail of the persona's first reference, if made yet."""
        return library.portrait(self.project, persona_id) if self.project is not None else None

    def has_draft(self, persona_id: str) -> bool:
        return self.project is not None and personas.get_draft(self.project, persona_id) is not None

    def open_persona(self, key: str | None) -> None:
        """Load a persona by id or name: its head version, and its draft when there is one."""
        self.draft_was_restored = False
        if key is None or self.project is None:
            self.persona = self.base = self.record = None
        else:
            # Read everything first, so a damaged version leaves the open persona as it was.
            persona = personas.get_persona(self.project, key)
            base = personas.get_version(self.project, persona.id)
            draft = personas.get_draft(self.project, persona.id)
            self.persona, self.base = persona, base
            if draft is not None and draft[1] != base.record:
                self.record = draft[1]
                self.draft_was_restored = True
            else:
                self.record = copy.deepcopy(base.record)
        self.persona_changed.emit()
        self.history_changed.emit()
        self.record_changed.emit("")
        if self.draft_was_restored:
            self.draft_restored.emit(DRAFT_RESTORED_MESSAGE)

    # -- edits (called by undo commands) ----------------------------------------------------

    def apply_field(self, path: str, value: Any) -> bool:
        """Set one field of the working record (and the draft); False if the service refused."""
        return self._change(
            path,
            lambda: personas.set_field(
                self.project, self.persona, self.base, self.record, path, value
            ),
        )

    def delete_field(self, path: str) -> bool:
        """Leave a field unset or remove a list item; False if the service refused."""
        return self._change(
            path,
            lambda: personas.delete_field(self.project, self.persona, self.base, self.record, path),
        )

    def restore_record(self, record: dict, path: str = "") -> bool:
        """Make record the working record and keep the draft in step (undo, redo, revert)."""

        def keep() -> dict:
            personas.keep_draft(self.project, self.persona, self.base, record)
            return copy.deepcopy(record)

        return self._change(path, keep)

    def _change(self, path: str, do) -> bool:
        if self.record is None:
            return False
        try:
            self.record = do()
            if self.record == self.base.record:
                # Edited back to the saved version: there is nothing unsaved to keep.
                personas.discard_draft(self.project, self.persona.id)
        except (StudioError, KeyError, IndexError, ValueError) as exc:
            self.edit_failed.emit(exc if isinstance(exc, StudioError) else StudioError(str(exc)))
            return False
        self.record_changed.emit(path)
        return True

    # -- state ------------------------------------------------------------------------------

    def value(self, path: str, default: Any = None) -> Any:
        return get_path(self.record, path, default) if self.record is not None else default

    def is_modified(self) -> bool:
        """True when the working record differs from the base version."""
        return self.record is not None and self.base is not None and self.record != self.base.record

    def issues(self) -> list[RecordIssue]:
        """Every problem with the working record, in field order."""
        return validate_record(self.record) if self.record is not None else []

    # -- versions ---------------------------------------------------------------------------

    def versions(self) -> list[dict]:
        """Number, note, date and parent of every version of the persona, newest first."""
        if self.persona is None:
            return []
        return personas.version_numbers(self.project, self.persona.id)

    def version_record(self, number: int) -> dict:
        return personas.get_version(self.project, self.persona.id, number).record

    def diff(self, a: int | None, b: int | None):
        """(version a, version b, [FieldChange]) between two versions (None: the head)."""
        return personas.diff_versions(self.project, self.persona.id, a, b)

    def save_version(self, note: str) -> PersonaVersion:
        """Save the working record as a new version on top of the head; raises StudioError."""
        if self.persona is None or self.record is None:
            raise StudioError("No persona is open.", hint="Choose one from the cast.")
        old_name = self.persona.name
        version = personas.save_version(self.project, self.persona.id, self.record, note)
        self.persona = personas.get_persona(self.project, self.persona.id)
        self.base = version
        self.record = copy.deepcopy(version.record)
        self.draft_was_restored = False
        self.version_saved.emit(version.number)
        self.history_changed.emit()
        if self.persona.name != old_name:
            self.cast_changed.emit()
        self.record_changed.emit("")
        return version

    def add_persona(self, name: str) -> Persona:
        """Add a persona (its record holds only who it is) and open it; raises StudioError."""
        if self.project is None:
            raise StudioError("No project is open.", hint="Open or create a project first.")
        version = personas.add_persona(self.project, name)
        self.cast_changed.emit()
        self.open_persona(version.persona_id)
        return self.persona
