"""Rendering the persona: a shot's render settings, the seed scheme and the render job's spec.

Seed scheme: frame `i` of a shot renders with seed `persona seed base + shot offset + i`
(modulo 2**32), each frame with its own generator. A frame's pixels therefore depend only on
its seed and settings, never on the batch it was rendered in: the same shot renders the same
frames again on the same hardware, and a resumed render equals an uninterrupted one. New shots
get offsets 1,000 apart, so shots of fewer than 1,000 frames never share a seed.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, ClassVar

from studio.core.errors import StudioError
from studio.core.jobs import JobSpec
from studio.core.models import SD15, SDXL, ModelRef

SEED_MODULUS = 2**32
SHOT_OFFSET_STEP = 1000

TXT2IMG = "txt2img"
IMG2IMG = "img2img"
INPAINT = "inpaint"
MODES = (TXT2IMG, IMG2IMG, INPAINT)

NATIVE_SIZE = {SD15: (512, 512), SDXL: (1024, 1024)}
MAX_FRAMES = 10_000
REFERENCE_RANGE = (3, 5)  # how many library references IP-Adapter is fed per shot
# The samplers the renderer knows ("" renders with the model's own scheduler). The engine maps
# each name to a scheduler; the window offers them without importing the engine.
SAMPLER_NAMES = ("euler", "euler-a", "dpmpp-2m", "dpmpp-2m-karras", "ddim", "unipc")


def frame_seed(seed_base: int, shot_offset: int, frame_index: int) -> int:
    """The seed of one frame: persona seed base + shot offset + frame index, modulo 2**32."""
    return (int(seed_base) + int(shot_offset) + int(frame_index)) % SEED_MODULUS


def parse_frame_range(text: str, count: int) -> tuple[int, ...]:
    """Frame numbers as the artist writes them ("3-9", "1,4,7-8"; 1-based) as 0-based indexes."""
    picked: list[int] = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        lo, dash, hi = part.partition("-")
        try:
            first = int(lo)
            last = int(hi) if dash else first
        except ValueError:
            raise StudioError(
                f"'{part}' is not a frame number or range.",
                hint="Write frames as 3-9 or 1,4,7-8 (frames are numbered from 1).",
            ) from None
        if first < 1 or last < first or last > count:
            raise StudioError(
                f"Frames {part} are outside the shot's 1-{count}.",
                hint=f"Choose frames between 1 and {count}.",
            )
        picked.extend(range(first - 1, last))
    if not picked:
        raise StudioError("No frames were given.", hint="Write frames as 3-9 or 1,4,7-8.")
    return tuple(dict.fromkeys(picked))


@dataclass(frozen=True)
class RenderSettings:
    """How a shot is rendered: what the artist sets per shot (authored data)."""

    action: str = ""
    camera: str = ""  # "85mm, eye level"
    framing: str = ""  # "close-up", "medium shot", "full body"
    lighting_setup: str = ""  # one of the persona's allowed setups ("": her first)
    frames: int = 8
    width: int = 0  # 0: the model family's native size
    height: int = 0
    steps: int = 25
    guidance: float = 6.0
    sampler: str = ""  # "": the model's own scheduler
    model: str = ""  # a registered base model's name ("": the persona's DreamBooth, or the default)
    loras: tuple[tuple[str, float], ...] = ()  # (model name, weight)
    ip_adapters: tuple[tuple[str, float], ...] = ()  # (model name, scale)
    references: int = 4  # library references fed to IP-Adapter
    yaw: float = 0.0  # the head pose the references should cover
    pitch: float = 0.0
    seed_offset: int = 0
    # Reference ids the artist chose to condition the shot, in order; () lets the library pick.
    pinned_references: tuple[str, ...] = ()
    # A motion shot: a keyframe rendered as a still, animated by this registered video model
    # into a clip of `clip_frames` frames (its `frames`). "": a still shot.
    motion: str = ""
    clip_frames: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RenderSettings:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("loras", "ip_adapters"):
            if key in values:
                values[key] = tuple((str(n), float(w)) for n, w in values[key] or ())
        if "pinned_references" in values:
            values["pinned_references"] = tuple(str(r) for r in values["pinned_references"] or ())
        return cls(**values)

    def size_for(self, family: str) -> tuple[int, int]:
        """The frame size, the family's native one where unset."""
        native = NATIVE_SIZE.get(family, (512, 512))
        return (self.width or native[0], self.height or native[1])

    def with_changes(self, **changes: Any) -> RenderSettings:
        return replace(self, **changes)


def sampler_name(text: str) -> str:
    """The studio's name of a sampler as an artist writes it ("Euler a", "DPM++ 2M Karras",
    "dpmpp_2m"); "" stays "" (the model's own); an unknown name is returned as given."""
    key = re.sub(r"[\s_\-]+", "", text.lower()).replace("++", "pp")
    if key in ("eulerancestral", "eulera"):
        return "euler-a"
    return next((n for n in SAMPLER_NAMES if n.replace("-", "") == key), text)


def check_settings(settings: RenderSettings) -> None:
    """Refuse settings no model can render, with a message naming the setting."""
    s = settings
    if not 1 <= s.frames <= MAX_FRAMES:
        raise StudioError(f"A shot has 1 to {MAX_FRAMES:,} frames, not {s.frames}.")
    for what, value in (("width", s.width), ("height", s.height)):
        if value and (value < 32 or value > 4096 or value % 8):
            raise StudioError(
                f"A {what} of {value} px cannot be rendered.",
                hint="Use a multiple of 8 between 32 and 4096 (512 for SD 1.5, 1024 for SDXL).",
            )
    if not 1 <= s.steps <= 200:
        raise StudioError(f"{s.steps} denoising steps is outside 1-200.", hint="25 is typical.")
    if not 0.0 <= s.guidance <= 30.0:
        raise StudioError(f"A guidance of {s.guidance} is outside 0-30.", hint="5-8 is typical.")
    if s.sampler and s.sampler not in SAMPLER_NAMES:
        raise StudioError(
            f"'{s.sampler}' is not a sampler the studio knows.",
            hint=f"Use one of {', '.join(SAMPLER_NAMES)}, or leave it empty for the model's own.",
        )
    lo, hi = REFERENCE_RANGE
    if not lo <= s.references <= hi:
        raise StudioError(f"Feed IP-Adapter {lo} to {hi} references, not {s.references}.")
    for name, weight in s.loras:
        if not -4.0 <= weight <= 4.0:
            raise StudioError(f"The LoRA weight {weight} of {name} is outside -4..4.")
    for name, scale in s.ip_adapters:
        if not 0.0 <= scale <= 2.0:
            raise StudioError(f"The IP-Adapter scale {scale} of {name} is outside 0-2.")
    if s.motion and s.clip_frames != s.frames:
        raise StudioError(
            f"A motion shot's clip of {s.clip_frames} frames does not match its {s.frames} frames.",
            hint="Set the clip length with --clip-frames; it is the shot's length.",
        )
    if not s.motion and s.clip_frames:
        raise StudioError(
            "A clip length is set but no video model animates the shot.",
            hint="Name a registered video model with --motion NAME.",
        )
    for what, angle in (("yaw", s.yaw), ("pitch", s.pitch)):
        if not -90.0 <= angle <= 90.0:
            raise StudioError(f"A head {what} of {angle}° is outside -90..90°.")


@dataclass(frozen=True)
class LoraUse:
    """A LoRA and the weight it is applied with."""

    model: ModelRef
    weight: float = 1.0

    @classmethod
    def from_dict(cls, data: dict) -> LoraUse:
        return cls(ModelRef.from_dict(data["model"]), float(data["weight"]))


@dataclass(frozen=True)
class AdapterUse:
    """An IP-Adapter and the scale its image prompt is applied with."""

    model: ModelRef
    scale: float = 0.6

    @classmethod
    def from_dict(cls, data: dict) -> AdapterUse:
        return cls(ModelRef.from_dict(data["model"]), float(data["scale"]))


@dataclass(frozen=True)
class ShotRender:
    """Everything the engine needs to render frames of one shot (no project, no names to look up).

    `references` are blob shas of library images (read through the job's context);
    `face_embedding` is the persona's identity vector for FaceID adapters.
    """

    shot_id: str
    shot_name: str
    base: ModelRef
    prompt: str
    negative: str = ""
    width: int = 512
    height: int = 512
    steps: int = 25
    guidance: float = 6.0
    sampler: str = ""
    loras: tuple[LoraUse, ...] = ()
    adapters: tuple[AdapterUse, ...] = ()
    references: tuple[str, ...] = ()
    face_embedding: tuple[float, ...] = ()
    face_engine_id: str = ""
    seeds: tuple[tuple[int, int], ...] = ()  # (frame index, seed) of every frame to render
    mode: str = TXT2IMG
    init_images: tuple[tuple[int, str], ...] = ()  # (frame index, blob sha) for img2img/inpaint
    masks: tuple[tuple[int, str], ...] = ()  # (frame index, blob sha of a mask) for inpaint
    strength: float = 0.6
    # What the frames are recorded with besides the settings above (persona and version ids,
    # the prompt's dropped phrases...): stored with each take, never read by the engine.
    provenance: tuple[tuple[str, Any], ...] = ()
    # A motion shot: the video model animating its keyframe (rendered from the settings above
    # with `clip_seed`, or the kept picture `keyframe`) into `clip_frames` frames with that seed.
    motion: ModelRef | None = None
    clip_frames: int = 0
    clip_seed: int = 0
    keyframe: str = ""  # blob sha of a kept keyframe ("": render it, unit `<shot>/key`)

    def seed_of(self, frame_index: int) -> int:
        return dict(self.seeds)[frame_index]

    def still(self) -> ShotRender:
        """A motion shot's keyframe as a one-frame still render (frame 0, the clip's seed)."""
        return replace(
            self, seeds=((0, self.clip_seed),), motion=None, clip_frames=0, clip_seed=0, keyframe=""
        )

    @classmethod
    def from_dict(cls, data: dict) -> ShotRender:
        values = dict(data)
        values["base"] = ModelRef.from_dict(data["base"])
        values["loras"] = tuple(LoraUse.from_dict(x) for x in data.get("loras") or ())
        values["adapters"] = tuple(AdapterUse.from_dict(x) for x in data.get("adapters") or ())
        for key in ("references", "face_embedding"):
            values[key] = tuple(data.get(key) or ())
        for key in ("seeds", "init_images", "masks", "provenance"):
            values[key] = tuple(tuple(pair) for pair in data.get(key) or ())
        if data.get("motion"):
            values["motion"] = ModelRef.from_dict(data["motion"])
        return cls(**values)


def frame_unit(shot_id: str, frame_index: int) -> str:
    """A render job's unit: one frame of one shot."""
    return f"{shot_id}/{frame_index}"


def parse_frame_unit(unit: str) -> tuple[str, int]:
    shot_id, _, index = unit.rpartition("/")
    return shot_id, int(index)


KEYFRAME = "key"


def keyframe_unit(shot_id: str) -> str:
    """A render job's unit: the keyframe a motion shot's clip is animated from."""
    return f"{shot_id}/{KEYFRAME}"


def is_keyframe_unit(unit: str) -> bool:
    """Whether a render job's unit is a motion shot's keyframe."""
    return unit.rpartition("/")[2] == KEYFRAME


@dataclass(frozen=True)
class RenderSpec(JobSpec):
    """Render frames of one or more shots in one batch job; each frame is committed as a take."""

    kind: ClassVar[str] = "render"
    shots: tuple[ShotRender, ...] = ()
    device: str = ""  # "": chosen automatically (cuda, mps, cpu)
    dtype: str = ""  # "": float16/bfloat16 on a GPU, float32 on the CPU
    batch_size: int = 0  # 0: sized to free GPU memory
    analyse: bool = True  # score the new frames for drift when the render ends
    engine: str = "dlib"  # the face engine that scores them
    again_of: str = ""  # the take this job re-renders, if any

    @classmethod
    def from_dict(cls, data: dict) -> RenderSpec:
        values = {k: v for k, v in data.items() if k != "shots"}
        return cls(shots=tuple(ShotRender.from_dict(s) for s in data.get("shots") or ()), **values)

    def units(self) -> list[str]:
        units = []
        for s in self.shots:
            if s.motion is not None and not s.keyframe:
                units.append(keyframe_unit(s.shot_id))
            units.extend(frame_unit(s.shot_id, i) for i, _ in s.seeds)
        return units


@dataclass(frozen=True)
class RenderedFrame:
    """One decoded frame as the engine hands it back."""

    shot_id: str
    index: int
    seed: int
    png: bytes
    width: int
    height: int
    seconds: float = 0.0
    device: str = ""
    dtype: str = ""
    notes: tuple[str, ...] = field(default=())  # fallbacks taken (smaller batch, tiling, offload)
