"""Planning renders: a shot's settings, the persona record, her models and references become a
`RenderSpec` the render job runs; each rendered frame is stored as a take with its provenance.

Everything a frame is made from is resolved here, once, into the spec (model paths and hashes,
the composed prompt, the references' blob shas, the seeds), so the job needs nothing else and a
take's provenance is enough to render it again exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from studio.core import models as m
from studio.core.errors import NotFoundError, StudioError
from studio.core.library import Pick
from studio.core.render import (
    AdapterUse,
    LoraUse,
    RenderSettings,
    RenderSpec,
    ShotRender,
    frame_seed,
    parse_frame_range,
)
from studio.core.shots import Shot
from studio.core.text import plural
from studio.project import blobs
from studio.project import faces as face_rows
from studio.project import models as model_rows
from studio.project import personas as persona_rows
from studio.project import renders as render_rows
from studio.project import shots as shot_rows
from studio.project.store import Project
from studio.services import audit, personas, renders

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class RenderPlan:
    """A render job's spec and what the artist should know before it runs."""

    spec: RenderSpec
    notes: tuple[str, ...] = ()  # reference picks that miss the pose, dropped prompt phrases...
    skipped: tuple[str, ...] = ()  # shots left out, and why
    frames: int = 0

    @property
    def empty(self) -> bool:
        return self.frames == 0


@dataclass
class _ShotPlan:
    render: ShotRender
    notes: list[str] = field(default_factory=list)


def _render_shots(project: Project, shot_keys: Sequence[str] | None) -> list[Shot]:
    if shot_keys:
        return [shot_rows.get_shot(project, key) for key in shot_keys]
    shots = [s for s in shot_rows.list_shots(project) if render_rows.has_settings(project, s.id)]
    if not shots:
        raise StudioError(
            "No shot of this project is made for rendering.",
            hint="Add one: persona-studio shots add PROJECT NAME --persona P --action TEXT",
        )
    return shots


def _base_model(project: Project, settings: RenderSettings, persona_id: str) -> m.ModelRecord:
    """The shot's model, else the persona's DreamBooth model, else the project's only base."""
    if settings.model:
        record = model_rows.get_model(project, settings.model)
        if record.kind not in (m.BASE, m.DREAMBOOTH):
            raise StudioError(
                f"{record.name} is a {record.kind} model, not a base model to render with.",
                hint="Choose a base or DreamBooth model for the shot (persona-studio models list).",
            )
        return record
    links = model_rows.persona_models(project, persona_id)
    own = [r for r, role, _ in links if role == m.DREAMBOOTH]
    if own:
        return own[0]
    bases = [r for r in model_rows.list_models(project) if r.kind in (m.BASE, m.DREAMBOOTH)]
    if len(bases) == 1:
        return bases[0]
    if not bases:
        raise StudioError(
            "No base model is registered, so nothing can be rendered yet.",
            hint=no_model_hint(),
        )
    names = ", ".join(b.name for b in bases)
    raise StudioError(
        f"Several base models are registered ({names}) and the shot names none.",
        hint="Choose one in the shot editor's Model menu (Timeline), or: persona-studio shots"
        " set PROJECT SHOT --model NAME",
    )


def no_model_hint() -> str:
    """What to get and where to put it, for a studio without weights."""
    return (
        "Get a Stable Diffusion 1.5 or SDXL checkpoint as .safetensors (for example"
        " v1-5-pruned-emaonly.safetensors or sd_xl_base_1.0.safetensors), or point the studio at"
        " the models you have: in the window, View > Models (Ctrl+Shift+M) > Add File… or Add"
        " Folder…; on the command line, persona-studio models add PROJECT FILE, or models scan"
        " PROJECT FOLDER for a ComfyUI or AUTOMATIC1111 models/ folder or the Hugging Face cache."
        " For IP-Adapter, add ip-adapter_sd15.safetensors (or the SDXL one) with its"
        " models/image_encoder folder."
    )


def _check_family(record: m.ModelRecord, base: m.ModelRecord, what: str) -> None:
    if record.family and base.family and record.family != base.family:
        raise StudioError(
            f"The {what} {record.name} is for {m.FAMILY_NAMES.get(record.family, record.family)}"
            f" and the base model {base.name} is {m.FAMILY_NAMES.get(base.family, base.family)}.",
            hint=f"Choose a {what} made for {base.name}'s family, or another base model.",
        )


def _loras(
    project: Project, settings: RenderSettings, persona_id: str, base: m.ModelRecord
) -> tuple[LoraUse, ...]:
    """The persona's own LoRAs with their weights, then the shot's (a shot's weight wins)."""
    chosen: dict[str, tuple[m.ModelRecord, float]] = {}
    for record, role, weight in model_rows.persona_models(project, persona_id):
        if role == m.LORA:
            chosen[record.id] = (record, weight)
    for name, weight in settings.loras:
        record = model_rows.get_model(project, name)
        if record.kind != m.LORA:
            raise StudioError(f"{record.name} is a {record.kind} model, not a LoRA.")
        chosen[record.id] = (record, weight)
    uses = []
    for record, weight in chosen.values():
        _check_family(record, base, "LoRA")
        uses.append(LoraUse(record.ref(), float(weight)))
    return tuple(uses)


def _adapters(
    project: Project, settings: RenderSettings, base: m.ModelRecord
) -> tuple[AdapterUse, ...]:
    uses = []
    for name, scale in settings.ip_adapters:
        record = model_rows.get_model(project, name)
        if record.kind != m.IP_ADAPTER:
            raise StudioError(f"{record.name} is a {record.kind} model, not an IP-Adapter.")
        _check_family(record, base, "IP-Adapter")
        encoder = None
        if record.encoder_id:
            encoder = model_rows.get_model_by_id(project, record.encoder_id)
        if m.NEEDS_ENCODER.get(record.variant, True) and encoder is None:
            raise StudioError(
                f"The IP-Adapter {record.name} has no image encoder registered with it.",
                hint="Register its image encoder folder (models/image_encoder beside the adapter"
                " in h94/IP-Adapter) and link it: persona-studio models add PROJECT FOLDER"
                f" --kind image-encoder, then models add PROJECT {record.path} --encoder NAME",
            )
        uses.append(AdapterUse(record.ref(encoder), float(scale)))
    return tuple(uses)


def _face_embedding(project: Project, persona_id: str, picks: Sequence[Pick]) -> tuple:
    """The persona's identity vector for FaceID: the mean insightface embedding of the picked
    references' faces (the face in each nearest the one the pick chose)."""
    shas = [p.reference.blob_sha for p in picks]
    engines = [e for e in face_rows.scanning_engines(project, shas) if e.startswith("insight")]
    if not engines:
        raise StudioError(
            "FaceID adapters read the persona's face with insightface, and the references picked"
            " for the shot have not been scanned with it.",
            hint="Run the reference audit with the insightface engine first"
            " (persona-studio refs audit PROJECT PERSONA --engine insightface).",
        )
    vectors = []
    for pick in picks:
        faces = face_rows.get_scan(project, pick.reference.blob_sha, engines[0]) or []
        faces = [f for f in faces if f.embedding is not None]
        if not faces:
            continue
        cx, cy = _centre(pick.face.box)
        face = min(faces, key=lambda f: math.dist(_centre(f.box), (cx, cy)))
        vectors.append(np.asarray(face.embedding, np.float64))
    if not vectors:
        raise StudioError(
            "None of the picked references has an insightface embedding for FaceID.",
            hint="Run the reference audit with the insightface engine again.",
        )
    mean = np.mean(vectors, axis=0)
    return tuple(float(x) for x in mean / (np.linalg.norm(mean) or 1.0))


def _centre(box: Sequence[float]) -> tuple[float, float]:
    return ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def prompt_action(settings: RenderSettings) -> str:
    """The action text a shot's prompt is composed with: framing, action and camera."""
    return ", ".join(p for p in (settings.framing, settings.action, settings.camera) if p.strip())


def plan_shot(
    project: Project,
    shot: Shot,
    frames: Sequence[int] | None = None,
    *,
    count_tokens: TokenCounter | None = None,
) -> _ShotPlan:
    """Resolve one shot into what the engine renders (all its frames, or the given ones)."""
    settings = render_rows.get_settings(project, shot.id)
    if settings is None:
        raise StudioError(
            f"The shot '{shot.name}' was imported from footage and has no render settings.",
            hint="Add a shot made for rendering: persona-studio shots add PROJECT NAME --persona P",
        )
    if not shot.persona_ids:
        raise StudioError(
            f"The shot '{shot.name}' has no persona to render.",
            hint="Add the shot again with its persona: persona-studio shots add PROJECT NAME"
            " --persona P",
        )
    persona_id = shot.persona_ids[0]
    persona = persona_rows.get_persona(project, persona_id)
    version = persona_rows.get_version(project, persona_id)
    notes: list[str] = []
    prompt = personas.compose_for_render(
        project,
        persona_id,
        action=prompt_action(settings),
        outfit=shot.outfit_for(persona_id),
        lighting_setup=settings.lighting_setup or None,
        count_tokens=count_tokens,
    )
    if prompt.dropped:
        notes.append(
            f"{shot.name}: the prompt is over its token budget; left out: "
            + "; ".join(prompt.dropped)
        )
    base = _base_model(project, settings, persona_id)
    loras = _loras(project, settings, persona_id, base)
    adapters = _adapters(project, settings, base)
    reference_ids: list[str] = []
    reference_shas: tuple[str, ...] = ()
    pose_gaps: tuple[float, ...] = ()
    embedding: tuple = ()
    if adapters:
        if settings.pinned_references:  # the artist's own choice, in her order
            picks = renders.pinned_picks(
                project, persona_id, settings.pinned_references, settings.yaw, settings.pitch
            )
        else:
            picks = audit.pick_references(
                project, persona_id, settings.yaw, settings.pitch, settings.references
            )
        reference_ids = [p.reference.id for p in picks]
        reference_shas = tuple(p.reference.blob_sha for p in picks)
        notes.extend(f"{shot.name}: {warning}" for warning in picks.warnings)
        pose_gaps = tuple(round(p.pose_gap, 1) for p in picks)
        if any(a.model.variant in m.FACE_EMBEDDING for a in adapters):
            embedding = _face_embedding(project, persona_id, picks)
    width, height = settings.size_for(base.family)
    seed_base = int(version.record["identity"]["seed_base"])
    indexes = range(settings.frames) if frames is None else frames
    render = ShotRender(
        shot_id=shot.id,
        shot_name=shot.name,
        base=base.ref(),
        prompt=prompt.positive,
        negative=prompt.negative,
        width=width,
        height=height,
        steps=settings.steps,
        guidance=settings.guidance,
        sampler=settings.sampler,
        loras=loras,
        adapters=adapters,
        references=reference_shas,
        face_embedding=embedding,
        seeds=tuple((i, frame_seed(seed_base, settings.seed_offset, i)) for i in indexes),
        provenance=(
            ("persona_id", persona.id),
            ("persona_name", persona.name),
            ("persona_version_id", version.id),
            ("persona_version", version.number),
            ("reference_ids", tuple(reference_ids)),
            ("reference_pose_gaps", pose_gaps),
            ("lighting_setup", prompt.lighting_setup or ""),
            ("outfit", shot.outfit_for(persona_id) or ""),
            ("prompt_dropped", tuple(prompt.dropped)),
            ("settings", json.dumps(settings.to_dict(), sort_keys=True)),
        ),
    )
    if settings.motion:
        render = _with_motion(project, render, settings, seed_base)
    return _ShotPlan(render, notes)


def _with_motion(
    project: Project, render: ShotRender, settings: RenderSettings, seed_base: int
) -> ShotRender:
    """A motion shot's render: its video model and clip, animated with frame 0's seed (the
    keyframe's), so every frame of the clip records that one seed."""
    record = model_rows.get_model(project, settings.motion)
    if record.kind != m.VIDEO:
        raise StudioError(
            f"{record.name} is a {record.kind} model, not a video model to animate"
            f" '{render.shot_name}' with.",
            hint="Choose a registered Wan image-to-video model: persona-studio shots set"
            " PROJECT SHOT --motion NAME",
        )
    seed = frame_seed(seed_base, settings.seed_offset, 0)
    return replace(
        render,
        motion=record.ref(),
        clip_frames=settings.clip_frames,
        clip_seed=seed,
        seeds=tuple((i, seed) for i, _ in render.seeds),
    )


def keyframe_recipe(render: ShotRender) -> str:
    """A digest of everything a motion shot's keyframe depends on (its still settings)."""
    return recipe(render.still(), 0)


def _keep_keyframe(project: Project, render: ShotRender, force: bool) -> ShotRender:
    """The motion shot's render reusing its stored keyframe while that is rendered from
    exactly what it would be rendered from now."""
    kept = None if force else render_rows.get_keyframe(project, render.shot_id)
    if kept is not None and kept.recipe == keyframe_recipe(render):
        return replace(render, keyframe=kept.blob_sha)
    return render


def clip_provenance(spec: RenderSpec, render: ShotRender, frame_index: int, result: dict) -> dict:
    """What a clip frame's take records: a still take's, and the video model, its keyframe and
    the clip's seed and length."""
    provenance = take_provenance(spec, render, frame_index, result)
    motion = render.motion
    provenance["motion"] = {
        "model_name": motion.name if motion else "",
        "model_sha": motion.sha256 if motion else "",
        "keyframe_sha": result.get("keyframe_sha", ""),
        "clip_seed": render.clip_seed,
        "clip_frames": render.clip_frames,
    }
    return provenance


def recipe(render: ShotRender, frame_index: int) -> str:
    """A digest of everything one frame's pixels depend on (not the provenance notes)."""
    data = asdict(replace(render, seeds=((frame_index, render.seed_of(frame_index)),)))
    # A kept keyframe or a fresh one of the same recipe give the same clip.
    for key in ("provenance", "shot_name", "keyframe"):
        data.pop(key)
    if data["motion"] is None:  # a still frame's digest is as it was before motion shots
        for key in ("motion", "clip_frames", "clip_seed"):
            data.pop(key)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def plan_render(
    project: Project,
    shot_keys: Sequence[str] | None = None,
    frames: str | None = None,
    *,
    force: bool = False,
    device: str = "",
    dtype: str = "",
    batch_size: int = 0,
    analyse: bool = True,
    count_tokens: TokenCounter | None = None,
) -> RenderPlan:
    """One batch job rendering the selected shots' frames that have no current take.

    A frame whose take was rendered from exactly what it would be rendered from now is left
    out (`force` renders it again); frames: "3-9" or "1,4" (from 1), applied to every shot.
    """
    shots = _render_shots(project, shot_keys)
    renders, notes, skipped = [], [], []
    total = 0
    for shot in shots:
        if not render_rows.has_settings(project, shot.id):
            skipped.append(f"{shot.name}: imported footage, nothing to render")
            continue
        settings = render_rows.get_settings(project, shot.id)
        wanted = parse_frame_range(frames, settings.frames) if frames else None
        plan = plan_shot(project, shot, wanted, count_tokens=count_tokens)
        if plan.render.motion is not None:
            plan.render = _keep_keyframe(project, plan.render, force)
        current = {} if force else render_rows.current_recipes(project, shot.id)
        todo = tuple(
            (i, seed) for i, seed in plan.render.seeds if current.get(i) != recipe(plan.render, i)
        )
        notes.extend(plan.notes)
        if not todo:
            skipped.append(f"{shot.name}: every frame is rendered and current")
            continue
        renders.append(replace(plan.render, seeds=todo))
        total += len(todo)
    names = ", ".join(r.shot_name for r in renders)
    title = f"Render {plural(total, 'frame')} of {names}" if renders else "Render"
    spec = RenderSpec(
        title=title,
        shots=tuple(renders),
        device=device,
        dtype=dtype,
        batch_size=batch_size,
        analyse=analyse,
        engine=audit.default_engine(project),
    )
    return RenderPlan(spec, tuple(notes), tuple(skipped), total)


def plan_again(project: Project, take_id: str, *, device: str = "", dtype: str = "") -> RenderSpec:
    """Render a take again exactly from its provenance (same models, prompt, references, seed)."""
    take = render_rows.get_take(project, take_id)
    stored = take.provenance.get("render")
    if not stored:
        raise StudioError(
            f"Take {take_id[:10]} has no render recipe to repeat (it was not rendered here).",
        )
    render = ShotRender.from_dict(stored)
    motion = [render.motion] if render.motion is not None else []
    for ref in [render.base, *motion] + [u.model for u in render.loras + render.adapters]:
        try:
            current = model_rows.get_model_by_sha(project, ref.sha256)
        except NotFoundError:
            raise StudioError(
                f"The model {ref.name} (sha256 {ref.sha256[:12]}) this take was rendered with"
                " is no longer registered.",
                hint=f"Register the same file again: persona-studio models add PROJECT {ref.path}",
            ) from None
        if current.path != ref.path:
            render = _moved(render, ref, current.path)
    used = (take.provenance.get("motion") or {}).get("keyframe_sha", "")
    if render.motion is not None and used and blobs.has_blob(project, used):
        # A clip frame is animated again from the very keyframe it was animated from.
        render = replace(render, keyframe=used)
    return RenderSpec(
        title=f"Render take {take_id[:10]} again",
        shots=(render,),
        device=device,
        dtype=dtype,
        analyse=False,
        again_of=take_id,
    )


def _moved(render: ShotRender, ref: m.ModelRef, path: str) -> ShotRender:
    """The recipe with a model found at its new path (same hash)."""

    def fix(r: m.ModelRef) -> m.ModelRef:
        return replace(r, path=path) if r.sha256 == ref.sha256 else r

    return replace(
        render,
        base=fix(render.base),
        motion=fix(render.motion) if render.motion is not None else None,
        loras=tuple(replace(u, model=fix(u.model)) for u in render.loras),
        adapters=tuple(replace(u, model=fix(u.model)) for u in render.adapters),
    )


def take_provenance(spec: RenderSpec, render: ShotRender, frame_index: int, result: dict) -> dict:
    """What a take records: queryable columns, the notes, and the recipe to render it again."""
    notes = dict(render.provenance)
    one = replace(render, seeds=((frame_index, render.seed_of(frame_index)),))
    return {
        "persona_id": notes.get("persona_id"),
        "persona_version_id": notes.get("persona_version_id"),
        "seed": render.seed_of(frame_index),
        "model_sha": render.base.sha256,
        "model_name": render.base.name,
        "family": render.base.family,
        "mode": render.mode,
        "width": result.get("width", render.width),
        "height": result.get("height", render.height),
        "steps": render.steps,
        "guidance": render.guidance,
        "sampler": render.sampler,
        "prompt": render.prompt,
        "negative": render.negative,
        "loras": [
            {"name": u.model.name, "sha256": u.model.sha256, "weight": u.weight}
            for u in render.loras
        ],
        "adapters": [
            {
                "name": u.model.name,
                "sha256": u.model.sha256,
                "variant": u.model.variant,
                "encoder_sha256": u.model.encoder_sha256,
                "scale": u.scale,
            }
            for u in render.adapters
        ],
        "reference_shas": list(render.references),
        "device": result.get("device", ""),
        "seconds": result.get("seconds"),
        "notes": {k: v for k, v in notes.items() if k not in ("persona_id", "persona_version_id")},
        "fallbacks": list(result.get("notes") or ()),
        "recipe": recipe(render, frame_index),
        "again_of": spec.again_of,
        "render": json.loads(json.dumps(asdict(one), default=list)),
    }
