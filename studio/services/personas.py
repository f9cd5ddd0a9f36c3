"""Persona use cases: create, edit the draft, save versions, history, diff, import, export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio.core import persona as record_rules
from studio.core.errors import StudioError
from studio.core.persona import FieldChange, Prompt
from studio.core.records import Persona, PersonaVersion
from studio.project import personas as rows
from studio.project.store import Project

list_personas = rows.list_personas
get_persona = rows.get_persona
get_version = rows.get_version
history = rows.history
version_numbers = rows.version_numbers
get_draft = rows.get_draft
discard_draft = rows.discard_draft


def add_persona(project: Project, name: str) -> PersonaVersion:
    """Add a persona whose record holds only its identity; returns its first version.

    Face, wardrobe, lighting and the rest stay unset until the artist gives them.
    """
    name = name.strip()
    if not name:
        raise StudioError("A persona needs a name.", hint="Type a name and try again.")
    return rows.create_persona(project, name, record_rules.default_record(name), "Created")


def set_field(
    project: Project, persona: Persona, base: PersonaVersion, record: dict, path: str, value: Any
) -> dict:
    """Change one field of the working record and keep it as the draft; returns the new record.

    Setting a field of an unset section (the first hair colour) makes the section.
    """
    new = record_rules.set_path(record, path, value, create=True)
    rows.save_draft(project, persona.id, base.id, new)
    return new


def delete_field(
    project: Project, persona: Persona, base: PersonaVersion, record: dict, path: str
) -> dict:
    """Leave a field unset (or remove a list item) in the working record; keeps the draft.

    A section the change leaves empty goes too, so setting and clearing a field of a new
    persona gives back its record as it was.
    """
    new = record_rules.unset_path(record, path)
    rows.save_draft(project, persona.id, base.id, new)
    return new


def keep_draft(project: Project, persona: Persona, base: PersonaVersion, record: dict) -> None:
    """Store a whole working record as the draft (after undo or redo)."""
    head = rows.get_version(project, persona.id)
    if record == head.record:
        rows.discard_draft(project, persona.id)
    else:
        rows.save_draft(project, persona.id, base.id, record)


def save_version(project: Project, persona_key: str, record: dict, note: str) -> PersonaVersion:
    """Validate the record and save it as a new immutable version whose parent is the head."""
    persona = rows.get_persona(project, persona_key)
    record_rules.check_record(record, source=f"persona '{persona.name}'")
    head = rows.get_version(project, persona.id)
    if record == head.record:
        raise StudioError(
            f"Nothing changed since version {head.number} of '{persona.name}'.",
            hint="Edit a field first.",
        )
    new_name = record["identity"]["name"].strip()
    if new_name.lower() != persona.name.lower() and any(
        p.name.lower() == new_name.lower() for p in rows.list_personas(project)
    ):
        raise StudioError(
            f"Another persona is already named '{new_name}'.", hint="Choose another name."
        )
    return rows.add_version(project, persona.id, record, note.strip(), parent_id=head.id)


def diff_versions(
    project: Project, persona_key: str, a: int | None, b: int | None
) -> tuple[PersonaVersion, PersonaVersion, list[FieldChange]]:
    """Field-level changes from version a to version b (None means the head)."""
    persona = rows.get_persona(project, persona_key)
    va = rows.get_version(project, persona.id, a)
    vb = rows.get_version(project, persona.id, b)
    return va, vb, record_rules.diff_records(va.record, vb.record)


def export_persona(project: Project, persona_key: str, number: int | None = None) -> str:
    """A version's record as JSON text (the head when no number is given)."""
    persona = rows.get_persona(project, persona_key)
    return record_rules.record_to_json(rows.get_version(project, persona.id, number).record)


def import_persona(project: Project, path: str | Path) -> PersonaVersion:
    """Import a record JSON file: a new version of the persona of that name, else a new persona."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudioError(f"There is no file {p}.", hint="Check the path.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StudioError(f"{p} cannot be read: {exc}.", hint="Choose a JSON file.") from None
    record = record_rules.record_from_json(text, source=p.name)
    name = record["identity"]["name"].strip()
    existing = [x for x in rows.list_personas(project) if x.name.lower() == name.lower()]
    if not existing:
        return rows.create_persona(project, name, record, f"Imported from {p.name}")
    persona = existing[0]
    head = rows.get_version(project, persona.id)
    if head.record == record:
        raise StudioError(
            f"{p.name} is the same as version {head.number} of '{persona.name}'; nothing imported."
        )
    return rows.add_version(project, persona.id, record, f"Imported from {p.name}", head.id)


def compose(
    project: Project,
    persona_key: str,
    action: str = "",
    outfit: str | None = None,
    number: int | None = None,
    lighting_setup: str | None = None,
    token_budget: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> Prompt:
    """The positive and negative prompt of a version for a shot's action text.

    lighting_setup: one of the allowed setups (None: the first). token_budget: the most tokens
    the positive prompt may take, the lowest-priority phrases dropped to fit (None: no limit).
    count_tokens: the text encoder's token counter; None counts by estimate.
    """
    persona = rows.get_persona(project, persona_key)
    return record_rules.compose_prompt(
        rows.get_version(project, persona.id, number).record,
        action=action,
        outfit=outfit,
        lighting_setup=lighting_setup,
        token_budget=token_budget,
        count_tokens=count_tokens,
    )


def compose_for_render(
    project: Project,
    persona_key: str,
    action: str = "",
    outfit: str | None = None,
    lighting_setup: str | None = None,
    count_tokens: Callable[[str], int] | None = None,
    token_budget: int | None = record_rules.DEFAULT_TOKEN_BUDGET,
) -> Prompt:
    """The head version's prompt for a render, fitted to the render's token budget."""
    return compose(
        project,
        persona_key,
        action,
        outfit,
        lighting_setup=lighting_setup,
        token_budget=token_budget,
        count_tokens=count_tokens,
    )
