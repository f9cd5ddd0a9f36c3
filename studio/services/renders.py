"""Shots made for rendering: create one, change its render settings, read them and its takes.

A render shot is a shot of the timeline with no footage: its frames come from the renderer,
one take at a time. Its settings are checked against the persona (her lighting setups, her
wardrobe) and the registered models (kind and family) before anything is stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from studio.core import library as lib
from studio.core import persona as record_rules
from studio.core.errors import NotFoundError, StudioError
from studio.core.models import (
    BASE,
    DREAMBOOTH,
    FAMILY_NAMES,
    IMAGE_ENCODER,
    IP_ADAPTER,
    KIND_NAMES,
    LORA,
    VIDEO,
    ModelRecord,
    article,
)
from studio.core.records import Persona
from studio.core.render import RenderSettings, check_settings, sampler_name
from studio.core.shots import Frame, Shot
from studio.core.takes import Take
from studio.project import models as model_rows
from studio.project import personas as persona_rows
from studio.project import references as reference_rows
from studio.project import renders as rows
from studio.project import shots as shot_rows
from studio.project.store import Project
from studio.services import audit
from studio.services import shots as shot_service

RENDER_KIND = "render"  # Shot.source_kind of a shot made for rendering
MIN_FPS, MAX_FPS = 1.0, 240.0
_SETTING_NAMES = frozenset(f.name for f in fields(RenderSettings))

rendered_frames = rows.rendered_frames
get_take = rows.get_take
takes_of = rows.takes_of
find_takes = rows.find_takes
choose_take = rows.choose_take


def add_render_shot(
    project: Project,
    name: str,
    persona_keys: Sequence[str],
    settings: RenderSettings,
    outfit: str | None = None,
    fps: float | None = None,
) -> Shot:
    """Add a shot to render at the end of the timeline, with its settings (one transaction).

    settings.seed_offset 0 gives the shot the next free offset: 1,000 above the highest in use.
    outfit: the outfit the personas wear, as "NAME" or "PERSONA=NAME" (None: any of theirs).
    fps: the rate its frames play at (None: the studio's default, 24).
    """
    fps = _checked_fps(fps)
    name = " ".join(name.split())
    if not name:
        raise StudioError("A shot needs a name.", hint="Give the shot a name.")
    taken = next(
        (s for s in shot_rows.list_shots(project) if s.name.casefold() == name.casefold()), None
    )
    if taken is not None:
        raise StudioError(
            f"There is already a shot called '{taken.name}'.",
            hint="Choose another name, or change that shot with `persona-studio shots set`.",
        )
    if not persona_keys:
        raise StudioError(
            "A render shot needs a persona to render.", hint="Name one with --persona NAME."
        )
    found = [persona_rows.get_persona(project, key) for key in persona_keys]
    personas = list({p.id: p for p in found}.values())
    outfits = shot_service.expected_outfits(project, personas, [outfit] if outfit else [])
    with project.atomic():
        if not settings.seed_offset:
            settings = settings.with_changes(seed_offset=rows.next_seed_offset(project))
        settings, model = _checked(project, personas, settings)
        shot = shot_rows.add_shot(
            project,
            name,
            [p.id for p in personas],
            [],
            source_kind=RENDER_KIND,
            fps=fps,
            outfits=outfits,
        )
        rows.put_render_settings(project, shot.id, settings, model.id if model else None)
    return shot


def render_settings(project: Project, shot_key: str) -> RenderSettings:
    """A render shot's settings; StudioError for a shot made from footage."""
    return render_shot(project, shot_key)[1]


def render_shot(project: Project, shot_key: str) -> tuple[Shot, RenderSettings]:
    """A render shot and its settings; StudioError for a shot made from footage."""
    shot = shot_rows.get_shot(project, shot_key)
    return shot, _settings_of(project, shot)


def set_render_settings(project: Project, shot_key: str, **changes: Any) -> RenderSettings:
    """Change some of a render shot's settings and return them all (one transaction).

    changes: RenderSettings fields, and `outfit` (a name, "PERSONA=NAME", or None for any).
    """
    unknown = set(changes) - _SETTING_NAMES - {"outfit"}
    if unknown:
        raise TypeError(f"not a render setting: {', '.join(sorted(unknown))}")
    shot = shot_rows.get_shot(project, shot_key)
    old = _settings_of(project, shot)
    personas = [persona_rows.get_persona(project, pid) for pid in shot.persona_ids]
    outfit_given = "outfit" in changes
    outfit = changes.pop("outfit", None)
    outfits = shot_service.expected_outfits(project, personas, [outfit] if outfit else [])
    for key in ("loras", "ip_adapters"):
        if key in changes:
            changes[key] = tuple((str(n), float(w)) for n, w in changes[key] or ())
    if "frames" in changes and "clip_frames" not in changes and old.motion:
        changes["clip_frames"] = changes["frames"]  # a motion shot's length is its clip's
    settings, model = _checked(project, personas, old.with_changes(**changes))
    with project.atomic():
        rows.put_render_settings(project, shot.id, settings, model.id if model else None)
        if outfit_given:
            for persona in personas:
                shot_rows.set_outfit(project, shot.id, persona.id, outfits.get(persona.id))
    return settings


def set_shot_fps(project: Project, shot_key: str, fps: float | None) -> Shot:
    """Set the frame rate a render shot plays at (None: the default, 24); the shot as it is now.

    A footage shot keeps its clip's rate: its frames were taken at it.
    """
    shot = shot_rows.get_shot(project, shot_key)
    if rows.get_settings(project, shot.id) is None:
        raise StudioError(
            f"'{shot.name}' was made from footage, so it plays at its footage's frame rate.",
            hint="Set a frame rate on a shot made to render.",
        )
    fps = _checked_fps(fps)
    shot_rows.set_fps(project, shot.id, fps)
    return shot_rows.get_shot(project, shot.id)


def _checked_fps(fps: float | None) -> float | None:
    if fps is None:
        return None
    if not MIN_FPS <= fps <= MAX_FPS:
        raise StudioError(
            f"A frame rate of {fps:g} fps is out of range.",
            hint=f"Give a rate from {MIN_FPS:g} to {MAX_FPS:g} fps, such as 24, 25 or 30.",
        )
    return float(fps)


def _settings_of(project: Project, shot: Shot) -> RenderSettings:
    settings = rows.get_settings(project, shot.id)
    if settings is None:
        raise StudioError(
            f"'{shot.name}' was made from footage, so it has no render settings.",
            hint="Make a shot to render with `persona-studio shots add`.",
        )
    return settings


# -- checks -------------------------------------------------------------------------------------


def _checked(
    project: Project, personas: Sequence[Persona], settings: RenderSettings
) -> tuple[RenderSettings, ModelRecord | None]:
    """The settings with names spelled as registered, and the base model they name; refuses
    what cannot be rendered with a message naming the setting."""
    settings = settings.with_changes(sampler=sampler_name(settings.sampler))
    settings = _motion(project, settings)
    check_settings(settings)
    if not 0 <= settings.seed_offset < 2**32:
        raise StudioError(
            f"A seed offset of {settings.seed_offset} is outside 0 to {2**32 - 1:,}.",
            hint="Leave it out to give the shot the next free offset.",
        )
    setup = _lighting_setup(project, personas, settings.lighting_setup)
    base = _base_model(project, settings.model) if settings.model else None
    family = base.family if base else _persona_family(project, personas)
    loras, family = _named(project, settings.loras, LORA, "LoRA", "--lora", family)
    adapters, family = _named(
        project, settings.ip_adapters, IP_ADAPTER, "IP-Adapter", "--ip-adapter", family
    )
    changed = settings.with_changes(
        lighting_setup=setup,
        model=base.name if base else "",
        loras=loras,
        ip_adapters=adapters,
        pinned_references=_pinned(project, personas, settings.pinned_references),
    )
    return changed, base


def _motion(project: Project, settings: RenderSettings) -> RenderSettings:
    """The settings with the video model spelled as registered and the shot as long as its clip
    (the clip length, else the frames given); a still shot keeps no clip length."""
    if not settings.motion:
        return settings.with_changes(clip_frames=0)
    record = model_rows.get_model(project, settings.motion)
    if record.kind != VIDEO:
        raise StudioError(
            f"{record.name} is {article(KIND_NAMES.get(record.kind, record.kind))}, not a video"
            " model to animate the shot with.",
            hint="Register a Wan image-to-video model folder (persona-studio models add PROJECT"
            " FOLDER) and name it with --motion.",
        )
    length = settings.clip_frames or settings.frames
    return settings.with_changes(motion=record.name, clip_frames=length, frames=length)


def _pinned(project: Project, personas: Sequence[Persona], ids: Sequence[str]) -> tuple[str, ...]:
    """The pinned reference ids, each once: references of the shot's persona, not quarantined."""
    ids = tuple(dict.fromkeys(str(i) for i in ids))
    if not ids:
        return ()
    if not personas:
        raise StudioError(
            "The shot has no persona, so no reference can be pinned to it.",
            hint="Add the shot again with its persona.",
        )
    persona = personas[0]
    most = lib.PICK_RANGE[1]
    if len(ids) > most:
        raise StudioError(
            f"IP-Adapter reads at most {most} references, not {len(ids)} pinned ones.",
            hint=f"Pin {most} references or fewer.",
        )
    refs = reference_rows.list_references(project, persona.id)
    owned = {r.id: r for r in refs}
    # The CLI names a reference by its id, the start of it (as `refs list` prints it), or its
    # file name; what is stored is always the whole id.
    ids = tuple(dict.fromkeys(_reference_id(refs, key) for key in ids))
    for ref_id in ids:
        ref = owned.get(ref_id)
        if ref is None:
            raise StudioError(
                f"The reference {ref_id} is not one of {persona.name}'s references.",
                hint=f"Pin references from {persona.name}'s library.",
            )
        if ref.status == lib.QUARANTINED:
            raise StudioError(
                f"The reference '{ref.file_name}' is quarantined, so it cannot condition a shot.",
                hint="Approve it in the Library workspace first, or pin another reference.",
            )
    return ids


def _reference_id(refs: Sequence[Any], key: str) -> str:
    if any(r.id == key for r in refs):
        return key
    found = [r.id for r in refs if r.id.startswith(key)] if len(key) >= 6 else []
    found = found or [r.id for r in refs if r.file_name == key]
    return found[0] if len(found) == 1 else key


def pinned_picks(
    project: Project, persona_key: str, reference_ids: Sequence[str], yaw: float, pitch: float
) -> lib.Picks:
    """The pinned references as picks, in their order, with their pose gaps and the pose
    warning the library's own picks would give; each needs a face found by the audit."""
    persona = persona_rows.get_persona(project, persona_key)
    rows_by_id = {a.reference.id: a for a in audit.audit_rows(project, persona.id)}
    picks = []
    for ref_id in reference_ids:
        row = rows_by_id.get(ref_id)
        if row is None:
            raise StudioError(
                f"The pinned reference {ref_id} is no longer one of {persona.name}'s references.",
                hint="Remove it from the shot's references, or use the library's picks.",
            )
        if row.reference.status == lib.QUARANTINED:
            raise StudioError(
                f"The pinned reference '{row.reference.file_name}' has been quarantined.",
                hint="Approve it again, remove it from the shot's references, or use the"
                " library's picks.",
            )
        if row.face is None:
            raise StudioError(
                f"The reference audit found no face in the pinned '{row.reference.file_name}'.",
                hint="Run the reference audit, or pin another reference.",
            )
        gap = lib.pose_gap(row.face, yaw, pitch)
        note = f"{gap:.0f}° from the shot's pose" if gap > lib.POSE_TOLERANCE_DEG else ""
        why = "pinned by the artist" + (f", {note}" if note else "")
        closeness = lib.pose_closeness(row.face, yaw, pitch)
        identity = lib.identity_score(row.agreement, None)
        quality = lib.face_quality(row.face)
        picks.append(
            lib.Pick(row.reference, row.face, closeness, identity, quality, closeness, 0.0, why,
                     gap, note)
        )  # fmt: skip
    nearest = min(picks, key=lambda p: p.pose_gap, default=None)
    pose_note = lib.pose_warning(
        [p.pose_gap for p in picks],
        nearest.face if nearest else None,
        nearest.pose_gap if nearest else 0.0,
        yaw,
        pitch,
    )
    return lib.Picks(picks, warnings=(pose_note,), pose_note=pose_note, target=(yaw, pitch))


def _lighting_setup(project: Project, personas: Sequence[Persona], setup: str) -> str:
    """The setup as the schema spells it; refused when a persona's record does not allow it."""
    if not setup:
        return ""
    known = _known_setups()
    spelled = next((s for s in known if s.casefold() == setup.strip().casefold()), None)
    if spelled is None:
        raise StudioError(
            f"'{setup}' is not a lighting setup.",
            hint=f"Choose one of: {', '.join(known)}.",
        )
    for persona in personas:
        record = persona_rows.get_version(project, persona.id).record
        allowed = (record.get("lighting") or {}).get("allowed_setups") or []
        if allowed and spelled not in allowed:
            raise StudioError(
                f"{persona.name}'s record does not allow {spelled} lighting "
                f"(allowed: {', '.join(allowed)}).",
                hint="Choose an allowed setup, or add it to her lighting in the Persona workspace.",
            )
    return spelled


def _known_setups() -> list[str]:
    lighting = record_rules.schema()["properties"]["lighting"]["properties"]
    return list(lighting["allowed_setups"]["items"]["enum"])


def _find_model(project: Project, name: str) -> ModelRecord | None:
    try:
        return model_rows.get_model(project, name)
    except NotFoundError:
        return None


def _base_model(project: Project, name: str) -> ModelRecord:
    model = _find_model(project, name)
    if model is None or model.kind not in (BASE, DREAMBOOTH):
        what = (
            f"'{model.name}' is {_a(model.kind)}, not a base model"
            if model
            else (f"There is no model '{name}' registered in this project")
        )
        raise StudioError(
            f"{what} (base models: {_names(project, (BASE, DREAMBOOTH))}).",
            hint="Register it with `persona-studio models add PROJECT PATH`, or name another.",
        )
    return model


def _persona_family(project: Project, personas: Sequence[Persona]) -> str:
    """The family of the first persona's own DreamBooth base ("" when she has none)."""
    for persona in personas:
        for model, role, _ in model_rows.persona_models(project, persona.id):
            if role == DREAMBOOTH:
                return model.family
    return ""


def _named(
    project: Project,
    uses: Sequence[tuple[str, float]],
    kind: str,
    word: str,
    option: str,
    family: str,
) -> tuple[tuple[tuple[str, float], ...], str]:
    """LoRAs or adapters with their registered names; each must be of `kind` and `family`
    (the first sets the family when the base model does not)."""
    out = []
    for name, value in uses:
        model = _find_model(project, name)
        if model is None or model.kind != kind:
            what = (
                f"'{model.name}' is {_a(model.kind)}, not {_a(kind)}"
                if model
                else (f"There is no {word} '{name}' registered in this project")
            )
            raise StudioError(
                f"{what} ({word}s: {_names(project, (kind,))}).",
                hint="Register it with `persona-studio models add PROJECT PATH`, or leave out "
                f"{option} {name}.",
            )
        if family and model.family != family:
            raise StudioError(
                f"The {word} {model.name} is for {FAMILY_NAMES.get(model.family, model.family)}, "
                f"but the shot renders with {FAMILY_NAMES.get(family, family)}.",
                hint=f"Choose a {word} made for the shot's base model, or another base model.",
            )
        family = family or model.family
        out.append((model.name, float(value)))
    if len({n.casefold() for n, _ in out}) < len(out):
        raise StudioError(f"A {word} is named twice.", hint=f"Name each {word} once.")
    return tuple(out), family


_KIND_WORDS = {
    BASE: "base model",
    DREAMBOOTH: "DreamBooth model",
    LORA: "LoRA",
    IP_ADAPTER: "IP-Adapter",
    IMAGE_ENCODER: "image encoder",
}


def _a(kind: str) -> str:
    """A kind of model in words with its article: "a LoRA", "an IP-Adapter"."""
    word = _KIND_WORDS.get(kind, kind)
    return f"{'an' if word[0] in 'AEIOUaeiou' else 'a'} {word}"


def _names(project: Project, kinds: Sequence[str]) -> str:
    names = sorted(m.name for m in model_rows.list_models(project) if m.kind in kinds)
    return ", ".join(names) or "none registered"


@dataclass(frozen=True)
class FrameTakes:
    """One frame of the timeline with every take rendered for it (footage frames have none)."""

    shot: Shot
    frame: Frame
    takes: tuple[Take, ...]  # oldest first
    current: Take | None  # the take the frame shows; None for footage
    persona_names: dict[str, str]  # persona id -> name, for the personas the takes name
    version_numbers: dict[str, int]  # persona version id -> its number


def frame_takes(project: Project, shot_id: str, frame_index: int) -> FrameTakes:
    """A frame of a shot with its takes, the one it shows, and who they were rendered of."""
    shot = shot_rows.get_shot(project, shot_id)
    frame = next((f for f in shot_rows.frames_of(project, shot.id) if f.index == frame_index), None)
    if frame is None:
        raise NotFoundError(
            f"'{shot.name}' has no frame {frame_index + 1}.",
            hint="Render the shot first, or open a frame that has a picture.",
        )
    takes = tuple(rows.takes_of(project, frame.id))
    current = next((t for t in takes if t.chosen and t.blob_sha == frame.blob_sha), None)
    names: dict[str, str] = {}
    numbers: dict[str, int] = {}
    for persona_id in {t.persona_id for t in takes if t.persona_id}:
        try:
            names[persona_id] = persona_rows.get_persona(project, persona_id).name
        except NotFoundError:
            continue  # deleted since: her takes still name her id
        numbers.update({v.id: v.number for v in persona_rows.history(project, persona_id)})
    return FrameTakes(shot, frame, takes, current, names, numbers)
