"""Deleting references: undoable, with everything undo needs kept, and the blob left stored."""

from __future__ import annotations

import pytest

from studio.core.errors import NotFoundError
from studio.services import audit, library, personas
from tests.services.audit_helpers import ADA_SEED, FakeEngine, add_refs, face, identity, photo_of

ADA = identity(ADA_SEED)
BOB = identity(2)


def _rows(project):
    return {a.reference.file_name: a for a in audit.audit_rows(project, "Ada")}


def test_delete_and_restore_keep_tags_status_rating_and_agreement(project, monkeypatch):
    from studio.jobs.runner import JobRunner

    ada = personas.get_persona(project, "Ada").id
    faces = {k: [face(photo_of(ADA, k))] for k in range(4)}
    faces[99] = [face(photo_of(BOB, 99))]
    refs = add_refs(project, ada, list(faces))
    FakeEngine(faces).install(monkeypatch)
    assert JobRunner(project).run(audit.plan_audit(project, "Ada")).state == "done"
    audit.set_tags(project, [refs[99]], add=("hat",))
    audit.set_status(project, [refs[99]], "approved")
    audit.set_rating(project, [refs[99]], 4)
    before = _rows(project)
    sha = before["ref-99.png"].reference.blob_sha

    deleted = library.delete_references(project, [refs[99]])

    assert [r.id for r in deleted.references] == [refs[99]]
    after = _rows(project)
    assert "ref-99.png" not in after and len(after) == 4
    # Bob no longer drags Ada's agreement down.
    assert after["ref-0.png"].agreement > before["ref-0.png"].agreement
    assert library.read_blob(project, sha)  # the image stays until garbage collection

    library.restore_references(project, deleted)
    back = _rows(project)["ref-99.png"]
    assert back.reference == before["ref-99.png"].reference
    assert back.reference.tags == ("hat",) and back.reference.rating == 4
    assert back.status == "approved"
    assert back.agreement == pytest.approx(before["ref-99.png"].agreement)
    assert _rows(project)["ref-0.png"].agreement == pytest.approx(before["ref-0.png"].agreement)


def test_delete_of_an_unknown_reference_names_it_and_deletes_nothing(project):
    ada = personas.get_persona(project, "Ada").id
    refs = add_refs(project, ada, [1, 2])
    with pytest.raises(NotFoundError, match="nope"):
        library.delete_references(project, [refs[1], "nope"])
    assert len(library.list_references(project, ada)) == 2
