"""Takes: the pictures rendered for a frame, what made each one, and how they are exported.

A take's provenance is one dict whose keys are also queryable columns of the project
(`PROVENANCE_COLUMNS`); the whole dict is kept as JSON beside them, so nothing the renderer
recorded is lost. Exported PNGs carry it twice: as AUTOMATIC1111's "parameters" text (which
A1111, Forge, ComfyUI readers and Civitai understand) and whole, as JSON, under "persona-studio".
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from studio.core.jobs import JobSpec

# Provenance keys stored as their own columns (the rest stays in the JSON only).
PROVENANCE_COLUMNS = (
    "job_id", "persona_id", "persona_version_id", "seed", "model_sha", "model_name", "family",
    "mode", "width", "height", "steps", "guidance", "sampler", "prompt", "negative", "loras",
    "adapters", "reference_shas", "device", "seconds",
)  # fmt: skip

PARAMETERS_KEY = "parameters"  # the PNG text chunk AUTOMATIC1111 writes its parameters in
PROVENANCE_KEY = "persona-studio"  # the PNG text chunk holding the studio's own JSON
PROVENANCE_FORMAT = 1


@dataclass(frozen=True)
class LoraApplied:
    """A LoRA a take was rendered with."""

    name: str
    sha256: str = ""
    weight: float = 1.0


@dataclass(frozen=True)
class AdapterApplied:
    """An IP-Adapter a take was rendered with."""

    name: str
    sha256: str = ""
    scale: float = 0.6
    variant: str = ""


@dataclass(frozen=True)
class Take:
    """One rendered picture of a frame with everything that made it."""

    id: str
    frame_id: str
    shot_id: str
    frame_index: int
    blob_sha: str
    chosen: bool = False
    created_at: str = ""
    job_id: str = ""
    persona_id: str = ""
    persona_version_id: str = ""
    seed: int | None = None
    model_sha: str = ""
    model_name: str = ""
    family: str = ""
    mode: str = ""
    width: int = 0
    height: int = 0
    steps: int = 0
    guidance: float = 0.0
    sampler: str = ""
    prompt: str = ""
    negative: str = ""
    loras: tuple[LoraApplied, ...] = ()
    adapters: tuple[AdapterApplied, ...] = ()
    reference_shas: tuple[str, ...] = ()
    device: str = ""
    seconds: float | None = None
    provenance: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def loras_of(provenance: Mapping[str, Any]) -> tuple[LoraApplied, ...]:
    """The LoRAs a provenance dict names (entries are dicts with name, sha256, weight)."""
    out = []
    for item in provenance.get("loras") or ():
        out.append(
            LoraApplied(str(item["name"]), str(item.get("sha256") or ""), _float(item, "weight"))
        )
    return tuple(out)


def adapters_of(provenance: Mapping[str, Any]) -> tuple[AdapterApplied, ...]:
    """The IP-Adapters a provenance dict names (dicts with name, sha256, scale, variant)."""
    out = []
    for item in provenance.get("adapters") or ():
        out.append(
            AdapterApplied(
                str(item["name"]),
                str(item.get("sha256") or ""),
                _float(item, "scale", 0.6),
                str(item.get("variant") or ""),
            )
        )
    return tuple(out)


def _float(item: Mapping[str, Any], key: str, default: float = 1.0) -> float:
    value = item.get(key)
    return default if value is None else float(value)


# -- AUTOMATIC1111's "parameters" text ----------------------------------------------------------

# The sampler names A1111 writes (its k-diffusion list plus DDIM, PLMS, UniPC, LCM), reached
# from the spellings other tools use: diffusers' scheduler classes, ComfyUI's sampler names.
A1111_SAMPLERS = (
    "Euler", "Euler a", "LMS", "LMS Karras", "Heun", "DPM2", "DPM2 Karras", "DPM2 a",
    "DPM2 a Karras", "DPM++ 2S a", "DPM++ 2S a Karras", "DPM++ 2M", "DPM++ 2M Karras",
    "DPM++ SDE", "DPM++ SDE Karras", "DPM++ 2M SDE", "DPM++ 2M SDE Karras", "DPM++ 3M SDE",
    "DPM++ 3M SDE Karras", "DPM fast", "DPM adaptive", "Restart", "DDIM", "PLMS", "UniPC",
    "DEIS", "LCM",
)  # fmt: skip
_SAMPLER_ALIASES = {
    "eulerdiscretescheduler": "Euler",
    "eulerancestral": "Euler a",
    "eulerancestraldiscretescheduler": "Euler a",
    "lmsdiscretescheduler": "LMS",
    "heundiscretescheduler": "Heun",
    "kdpm2discretescheduler": "DPM2",
    "dpm2ancestral": "DPM2 a",
    "kdpm2ancestraldiscretescheduler": "DPM2 a",
    "dpmsolvermultistepscheduler": "DPM++ 2M",
    "dpmsolversinglestepscheduler": "DPM++ SDE",
    "dpmsolversdescheduler": "DPM++ SDE",
    "ddimscheduler": "DDIM",
    "pndmscheduler": "PLMS",
    "pndm": "PLMS",
    "unipcmultistepscheduler": "UniPC",
    "deismultistepscheduler": "DEIS",
    "lcmscheduler": "LCM",
}


def _sampler_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.lower()).replace("dpmpp", "dpm++")


_SAMPLER_NAMES = {_sampler_key(n): n for n in A1111_SAMPLERS} | _SAMPLER_ALIASES


def a1111_sampler(name: str) -> str:
    """The sampler as A1111 names it ("dpmpp_2m_karras" -> "DPM++ 2M Karras"); unknown as given."""
    return _SAMPLER_NAMES.get(_sampler_key(name), name) if name else ""


def _quote(value: Any) -> str:
    """A1111's quoting: a value holding a comma, colon or line break is written as JSON."""
    text = str(value)
    if "," in text or ":" in text or "\n" in text:
        return json.dumps(text, ensure_ascii=False)
    return text


def _number(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(round(value, 4))


def _alias(name: str) -> str:
    # A1111 strips these from a LoRA's name before listing its hash.
    return name.replace(":", "").replace(",", "")


def a1111_parameters(
    provenance: Mapping[str, Any], lora_hashes: Mapping[str, str] | None = None
) -> str:
    """A take's parameters as AUTOMATIC1111 writes them in a PNG's "parameters" text.

    The prompt (with the LoRAs as `<lora:name:weight>`, as A1111 applies them), then
    "Negative prompt: ..." when there is one, then "Steps: 25, Sampler: ..., CFG scale: 6,
    Seed: 123, Size: 512x512, Model hash: <sha256[:10]>, Model: name", then "Denoising
    strength" for img2img and inpainting and "Lora hashes" for the LoRAs in `lora_hashes`
    (LoRA sha256 -> its short tensor hash, as A1111 and Civitai compute it).
    """
    p = provenance
    loras = loras_of(p)
    prompt = str(p.get("prompt") or "")
    tags = "".join(f"<lora:{_alias(lo.name)}:{_number(lo.weight)}>" for lo in loras)
    if tags:
        prompt = f"{prompt}, {tags}" if prompt else tags
    params: list[tuple[str, Any]] = [("Steps", p.get("steps"))]
    params.append(("Sampler", a1111_sampler(str(p.get("sampler") or "")) or None))
    if p.get("guidance") is not None:
        params.append(("CFG scale", _number(p["guidance"])))
    params.append(("Seed", p.get("seed")))
    if p.get("width") and p.get("height"):
        params.append(("Size", f"{int(p['width'])}x{int(p['height'])}"))
    model_sha = str(p.get("model_sha") or "")
    params.append(("Model hash", model_sha[:10] or None))
    params.append(("Model", p.get("model_name") or None))
    if p.get("mode") in ("img2img", "inpaint") and p.get("strength") is not None:
        params.append(("Denoising strength", _number(p["strength"])))
    hashes = lora_hashes or {}
    listed = [f"{_alias(lo.name)}: {hashes[lo.sha256]}" for lo in loras if hashes.get(lo.sha256)]
    if listed:
        params.append(("Lora hashes", ", ".join(listed)))
    settings = ", ".join(f"{k}: {_quote(v)}" for k, v in params if v is not None and v != "")
    negative = str(p.get("negative") or "")
    negative_line = f"\nNegative prompt: {negative}" if negative else ""
    return f"{prompt}{negative_line}\n{settings}".strip()


def provenance_json(take: Take, shot_name: str) -> str:
    """The studio's own record of a take, as the "persona-studio" chunk of an export holds it."""
    data = {
        "format": PROVENANCE_FORMAT,
        "take": take.id,
        "shot": shot_name,
        "frame": take.frame_index + 1,
        "provenance": take.provenance,
    }
    return json.dumps(data, sort_keys=True, ensure_ascii=True, separators=(",", ":"))


def export_file_name(shot_name: str, frame_index: int) -> str:
    """`<shot>_0001.png` for a shot's first frame (frames are numbered from 1)."""
    stem = re.sub(r"[^\w.\-]+", "_", shot_name.strip(), flags=re.UNICODE).strip("._") or "shot"
    return f"{stem}_{frame_index + 1:04d}.png"


# -- the export job -----------------------------------------------------------------------------

EXPORT_PNG = "png"  # a numbered PNG sequence in a folder
EXPORT_VIDEO = "mp4"  # one H.264 MP4 file


@dataclass(frozen=True)
class ExportFrame:
    """One frame to write: its picture and, when it was rendered, its take's record."""

    index: int
    blob_sha: str
    file_name: str
    record: str = ""  # the "persona-studio" JSON (`provenance_json`); "" for footage
    folder: str = ""  # the shot's folder inside the export's, for a whole timeline as PNGs
    repeat: int = 1  # how many video frames show it (a shot's rate converted to the video's)
    width: int = 0
    height: int = 0

    @property
    def unit(self) -> str:
        """The file this frame is written to, relative to the export's folder."""
        return f"{self.folder}/{self.file_name}" if self.folder else self.file_name

    @classmethod
    def from_dict(cls, data: dict) -> ExportFrame:
        return cls(**data)


@dataclass(frozen=True)
class ExportSpec(JobSpec):
    """Write a shot's (or the timeline's) current frames as numbered PNGs or as one video.

    A PNG sequence is written a file at a time, so a resumed export writes only the files it
    had not finished. A video is one unit: a partial MP4 is useless, so an interrupted video
    export starts over, and the file appears only when it is whole.
    """

    kind: ClassVar[str] = "export"
    shot_id: str = ""  # "" for the whole timeline
    shot_name: str = ""  # the shot's, or the project's name for the whole timeline
    folder: str = ""  # absolute; made when missing
    frames: tuple[ExportFrame, ...] = ()
    # LoRA sha256 -> its file, to compute the short hash A1111 lists (files gone are left out).
    lora_files: tuple[tuple[str, str], ...] = ()
    missing: tuple[int, ...] = ()  # frame indexes asked for that have no picture yet
    output: str = EXPORT_PNG  # EXPORT_PNG or EXPORT_VIDEO
    path: str = ""  # the video file (absolute) when output is EXPORT_VIDEO
    fps: float = 0.0  # the video's frame rate
    width: int = 0  # the video's size: even, every frame letterboxed into it
    height: int = 0
    comment: str = ""  # the video's provenance summary (its container's "comment")
    shots: tuple[str, ...] = ()  # the shots exported, in story order
    notes: tuple[str, ...] = ()  # what the export changed (rates converted, frames scaled)

    @property
    def video_frames(self) -> int:
        """How many frames the video has (each picture repeated or dropped to the rate)."""
        return sum(f.repeat for f in self.frames)

    @classmethod
    def from_dict(cls, data: dict) -> ExportSpec:
        values = dict(data)
        values["frames"] = tuple(ExportFrame.from_dict(f) for f in data.get("frames") or ())
        values["lora_files"] = tuple(tuple(x) for x in data.get("lora_files") or ())
        for key in ("missing", "shots", "notes"):
            values[key] = tuple(data.get(key) or ())
        return cls(**values)


def retime(count: int, rate: float, to_rate: float) -> tuple[int, ...]:
    """How many frames at `to_rate` show each of `count` frames shown at `rate` (0: dropped).

    Frame j of the output shows the source frame on screen at its time, j / to_rate; the
    counts add up to the source's duration at the new rate, rounded.
    """
    if count <= 0:
        return ()
    if rate <= 0 or to_rate <= 0 or abs(rate - to_rate) < 1e-9:
        return (1,) * count
    total = max(1, round(count * to_rate / rate))
    counts = [0] * count
    for j in range(total):
        counts[min(count - 1, int(j * rate / to_rate + 1e-9))] += 1
    return tuple(counts)
