"""The cast portrait: the best approved reference, never a suspect one while another is there."""

from __future__ import annotations

from studio.core import library as lib
from studio.core.library import ReferenceAudit
from studio.core.records import Reference
from studio.services import audit, library, personas
from tests.services.audit_helpers import ADA_SEED, FakeEngine, add_refs, face, identity, photo_of

ADA = identity(ADA_SEED)
BOB = identity(2)


def test_portrait_is_never_the_suspect_reference_and_prefers_an_approved_one(project, monkeypatch):
    from studio.jobs.runner import JobRunner

    ada = personas.get_persona(project, "Ada").id
    faces = {99: [face(photo_of(BOB, 99), sharpness=0.95)]}  # imported first: the old portrait
    faces.update({k: [face(photo_of(ADA, k), sharpness=0.5 + k / 10)] for k in range(4)})
    refs = add_refs(project, ada, list(faces))
    FakeEngine(faces).install(monkeypatch)
    assert JobRunner(project).run(audit.plan_audit(project, "Ada")).state == "done"
    rows = {a.id: a for a in audit.audit_rows(project, "Ada")}
    assert rows[refs[99]].status == lib.SUSPECT

    best_ok = max((rows[refs[k]] for k in range(4)), key=lambda a: a.agreement)
    assert library.portrait_reference(project, ada).id == best_ok.id

    # An approved reference wins over a better-agreeing one that is only ok.
    weakest = min((rows[refs[k]] for k in range(4)), key=lambda a: a.agreement)
    audit.set_status(project, [weakest.id], lib.APPROVED)
    assert library.portrait_reference(project, ada).id == weakest.id

    # Only when nothing else is left does a suspect reference stand for her.
    audit.set_status(project, [refs[k] for k in range(4)], lib.QUARANTINED)
    assert library.portrait_reference(project, ada).id == refs[99]


def _audit(i: int, status: str, agreement: float | None, sharpness: float) -> ReferenceAudit:
    ref = Reference(
        id=f"r{i}",
        persona_id="p",
        blob_sha=f"{i:064x}",
        file_name=f"r{i}.png",
        source_path="",
        width=8,
        height=8,
        status=status,
    )
    return ReferenceAudit(ref, status, "fake", face=face(sharpness=sharpness), agreement=agreement)


def test_best_portrait_ranks_status_then_agreement_then_sharpness():
    assert library.best_portrait([]) is None
    audits = [
        _audit(0, lib.SUSPECT, 0.99, 0.9),
        _audit(1, lib.OK, 0.80, 0.3),
        _audit(2, lib.OK, 0.80, 0.7),
        _audit(3, lib.OK, 0.70, 0.9),
        _audit(4, lib.QUARANTINED, 0.99, 0.9),
    ]
    assert library.best_portrait(audits).id == "r2"  # same agreement: the sharper one
    assert library.best_portrait(audits[:1] + audits[4:]).id == "r0"  # suspect before quarantined
    assert library.best_portrait([*audits, _audit(5, lib.APPROVED, None, 0.1)]).id == "r5"
