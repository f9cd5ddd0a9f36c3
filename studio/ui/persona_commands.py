"""Undo commands for the Persona workspace, and the schema helpers that name the fields.

Each command applies its change once through the `PersonaDocument`; undo and redo then restore
snapshots of the record taken before and after.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from typing import Any

from PySide6.QtGui import QUndoCommand

from studio.core import persona as record_rules
from studio.core.persona import format_path, get_path, parse_path
from studio.ui.persona_document import PersonaDocument


class _Delete:
    """The value of an optional field the user cleared: the field is left unset (removed)."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE: Any = _Delete()

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


def field_noun(text: str) -> str:
    """A title as a noun for command texts: 'Eye colour' -> 'eye colour', 'Lens (mm)' -> 'lens'."""
    text = re.sub(r"\s*\([^)]*\)$", "", text)
    return text[:1].lower() + text[1:] if text[1:2].islower() or len(text) == 1 else text


def is_optional(path: str) -> bool:
    """True for a field the record may leave unset; False for required ones and list items."""
    parts = parse_path(path)
    if not parts or isinstance(parts[-1], int):
        return False
    parent = schema_at(format_path(parts[:-1])) if len(parts) > 1 else _resolve(_schema())
    return parts[-1] not in parent.get("required", [])


def deletes_when_empty(path: str) -> bool:
    """An optional text field left empty is unset (removed), not kept as empty text."""
    return is_optional(path)


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
    """Set one field (or leave it unset, with value DELETE). Keystrokes in one field merge."""

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
        super().__init__(document, path, text or f"Change {field_noun(field_title(path))}")
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
