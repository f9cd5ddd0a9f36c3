"""Generative models the studio renders with: their kinds, families, and how a job names one.

A model is a file or a diffusers folder the artist already has, registered in place (never
copied) with its sha256. Jobs carry a `ModelRef`: everything the engine needs to load it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from studio.core.errors import StudioError

# Kinds of model.
BASE = "base"  # a full text-to-image model (diffusers folder or single checkpoint)
DREAMBOOTH = "dreambooth"  # a base model fine-tuned on one persona; used as her base
LORA = "lora"
IP_ADAPTER = "ip-adapter"
IMAGE_ENCODER = "image-encoder"  # the CLIP vision model an IP-Adapter reads references with
VIDEO = "video"  # an image-to-video model that animates a keyframe into a clip (motion shots)
KINDS = (BASE, DREAMBOOTH, LORA, IP_ADAPTER, IMAGE_ENCODER, VIDEO)

# Families: which architecture a model belongs to (a LoRA or adapter fits one family only).
SD15 = "sd15"
SDXL = "sdxl"
FAMILIES = (SD15, SDXL)
# Video families are kept apart: a still shot's base model, LoRA or adapter is never one of them.
WAN_I2V = "wan-i2v"
VIDEO_FAMILIES = (WAN_I2V,)
FAMILY_NAMES = {
    SD15: "Stable Diffusion 1.5",
    SDXL: "Stable Diffusion XL",
    WAN_I2V: "Wan image-to-video",
}

# Formats the studio loads. Pickle-based files (.ckpt, .pt, .bin, .pth) are never loaded.
DIFFUSERS = "diffusers"  # a folder with model_index.json (or a component's config.json)
SAFETENSORS = "safetensors"
ONNX = "onnx"
FORMATS = (DIFFUSERS, SAFETENSORS, ONNX)
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl")

# IP-Adapter variants, named as their published files are.
PLAIN = "plain"  # ip-adapter_sd15 / ip-adapter_sdxl: global image embedding
PLUS = "plus"  # ip-adapter-plus(_face): patch embeddings through a resampler
FULL_FACE = "full-face"  # ip-adapter-full-face: patch embeddings through an MLP
FACEID = "faceid"  # ip-adapter-faceid: a face recognition embedding, no image encoder
FACEID_PLUS = "faceid-plus"  # faceid plus: face embedding and image encoder patches
ADAPTER_VARIANTS = (PLAIN, PLUS, FULL_FACE, FACEID, FACEID_PLUS)
NEEDS_ENCODER = {PLAIN: True, PLUS: True, FULL_FACE: True, FACEID: False, FACEID_PLUS: True}
FACE_EMBEDDING = {FACEID, FACEID_PLUS}  # variants fed a face engine's embedding


@dataclass(frozen=True)
class ModelRef:
    """A registered model as a job carries it: where it is and what it is."""

    name: str
    kind: str
    family: str
    path: str  # absolute path of the file or folder, used in place
    sha256: str
    format: str = SAFETENSORS
    variant: str = ""  # an IP-Adapter's variant
    encoder_path: str = ""  # an IP-Adapter's image encoder (a diffusers/transformers folder)
    encoder_sha256: str = ""

    @classmethod
    def from_dict(cls, data: dict) -> ModelRef:
        return cls(**data)


@dataclass(frozen=True)
class ModelRecord:
    """A model registered in a project."""

    id: str
    name: str
    kind: str
    family: str
    format: str
    path: str
    sha256: str
    size: int
    variant: str = ""
    source: str = ""  # where it was found: file, hf-cache, comfyui, a1111, hub:<repo>
    encoder_id: str | None = None  # an IP-Adapter's image encoder model
    meta: dict | None = None
    added_at: str = ""

    def ref(self, encoder: ModelRecord | None = None) -> ModelRef:
        """The model as a job carries it (an IP-Adapter with its image encoder)."""
        return ModelRef(
            name=self.name,
            kind=self.kind,
            family=self.family,
            path=self.path,
            sha256=self.sha256,
            format=self.format,
            variant=self.variant,
            encoder_path=encoder.path if encoder else "",
            encoder_sha256=encoder.sha256 if encoder else "",
        )


# -- what a file or folder is ----------------------------------------------------------------

# Layouts, as `models add` names them ("SDXL LoRA (kohya layout)").
KOHYA = "kohya"  # lora_unet_… / lora_te_… / lora_te1_… / lora_te2_… with lora_down/lora_up
DIFFUSERS_LORA = "diffusers"  # unet.… / text_encoder.… with lora.down/lora.up (older diffusers)
PEFT = "peft"  # unet.… / text_encoder.… with lora_A/lora_B (diffusers with peft)
CHECKPOINT = "single-file checkpoint"  # the original (LDM) layout, as A1111 and ComfyUI keep it
PIPELINE_FOLDER = "diffusers folder"  # model_index.json and a folder per component
TRANSFORMERS_FOLDER = "transformers folder"  # config.json and model.safetensors
IP_ADAPTER_FILE = "IP-Adapter"  # image_proj.… and ip_adapter.… keys

KIND_NAMES = {
    BASE: "base model",
    DREAMBOOTH: "DreamBooth model",
    LORA: "LoRA",
    IP_ADAPTER: "IP-Adapter",
    IMAGE_ENCODER: "image encoder",
    VIDEO: "image-to-video model",
}
FAMILY_SHORT = {SD15: "SD 1.5", SDXL: "SDXL", WAN_I2V: "Wan"}
VARIANT_NAMES = {
    PLAIN: "IP-Adapter",
    PLUS: "IP-Adapter Plus",
    FULL_FACE: "IP-Adapter Full Face",
    FACEID: "IP-Adapter FaceID",
    FACEID_PLUS: "IP-Adapter FaceID Plus",
}

# The width of the UNet's cross-attention: what the text encoder(s) feed it.
CROSS_ATTENTION_FAMILY = {768: SD15, 2048: SDXL}
UNSUPPORTED_WIDTHS = {
    1024: "Stable Diffusion 2.x",
    1280: "the Stable Diffusion XL refiner",
}
# Image encoders IP-Adapters are published with, by (hidden size, projection size).
KNOWN_ENCODERS = {(1280, 1024): "CLIP ViT-H/14", (1664, 1280): "OpenCLIP ViT-bigG/14"}
PIPELINES = {
    "StableDiffusionPipeline": SD15,
    "StableDiffusionImg2ImgPipeline": SD15,
    "StableDiffusionInpaintPipeline": SD15,
    "StableDiffusionXLPipeline": SDXL,
    "StableDiffusionXLImg2ImgPipeline": SDXL,
    "StableDiffusionXLInpaintPipeline": SDXL,
}
PIPELINE_COMPONENTS = {
    SD15: ("unet", "vae", "text_encoder", "tokenizer", "scheduler"),
    SDXL: (
        "unet",
        "vae",
        "text_encoder",
        "text_encoder_2",
        "tokenizer",
        "tokenizer_2",
        "scheduler",
    ),
}
WEIGHTED_COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2")
ENCODER_ARCHITECTURES = ("CLIPVisionModelWithProjection", "CLIPVisionModel")
WEIGHT_SUFFIXES = (".safetensors", ".onnx")  # the files a model's hash covers

# Wan 2.1 / 2.2 image-to-video folders (diffusers' WanImageToVideoPipeline).
WAN_PIPELINE = "WanImageToVideoPipeline"
WAN_REQUIRED = ("tokenizer", "text_encoder", "vae", "scheduler", "transformer")
WAN_IMAGE_COMPONENTS = ("image_encoder", "image_processor")  # where the transformer reads one
WAN_WEIGHTED = ("transformer", "transformer_2", "text_encoder", "vae", "image_encoder")

_CONVERT_HINT = (
    "Convert it to .safetensors (persona-studio models convert PROJECT FILE, or Convert… in the"
    " Models panel; the file is read in a separate process that refuses anything but tensors),"
    " or download the .safetensors version of the model."
)


class ModelFileError(StudioError):
    """A file or folder is not a model the studio can register; the message says why."""


class PickleRefusedError(ModelFileError):
    """A pickle-based weights file (.ckpt, .pt, .pth, .bin): never loaded, only converted."""


class IncompleteModelError(ModelFileError):
    """A weights file is shorter (or longer) than its own header says: a cut-off download."""


def is_pickle(path: str) -> bool:
    """Whether a file name is one of the pickle-based weights formats the studio refuses."""
    return str(path).lower().endswith(PICKLE_SUFFIXES)


def refuse_pickle(path: str) -> None:
    """Raise PickleRefusedError for a pickle-based weights file, saying what to do instead."""
    if is_pickle(path):
        name = str(path).replace("\\", "/").rsplit("/", 1)[-1]
        raise PickleRefusedError(
            f"{name} is a pickle file, which can run code when it is opened, so the studio"
            " never loads it.",
            hint=_CONVERT_HINT,
        )


@dataclass(frozen=True)
class Detection:
    """What a model file or folder was found to be, and the evidence (`why`).

    `kind` is "" when it is not a model the studio renders with; `problem` and `hint` then say
    what it is and what to do.
    """

    kind: str = ""
    family: str = ""
    format: str = SAFETENSORS
    variant: str = ""
    layout: str = ""
    why: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict, compare=False)
    problem: str = ""
    hint: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.kind) and not self.problem

    def describe(self) -> str:
        """What it is in a few words: 'SDXL LoRA (kohya layout)', 'SD 1.5 base model (...)'."""
        if not self.kind:
            return self.problem or "not a model"
        family = FAMILY_SHORT.get(self.family, "")
        if self.kind == IP_ADAPTER:
            what = VARIANT_NAMES.get(self.variant, "IP-Adapter")
            if self.variant == PLUS and self.meta.get("face"):
                what += " (face)"
        elif self.kind == IMAGE_ENCODER:
            what = self.meta.get("encoder") or "image encoder"
            if what != "image encoder":
                what = f"{what} image encoder"
        else:
            what = KIND_NAMES[self.kind]
            if self.meta.get("inpainting"):
                what = "inpainting " + what
        text = f"{family} {what}".strip()
        layout = f"{self.layout} layout" if self.kind == LORA else self.layout
        return f"{text} ({layout})" if layout else text

    def explain(self) -> str:
        """The description and the evidence, one line."""
        if not self.ok:
            return self.problem
        return f"{self.describe()}: " + "; ".join(self.why) if self.why else self.describe()

    def error(self, where: str) -> ModelFileError:
        """The refusal of this detection as an error naming the file."""
        return ModelFileError(f"{where}: {self.problem}", hint=self.hint or None)


def _not_a_model(problem: str, hint: str = "", **meta) -> Detection:
    return Detection(problem=problem, hint=hint, meta=meta)


_HINT_FAMILIES = (
    "The studio renders with Stable Diffusion 1.5 and SDXL models, their LoRAs and IP-Adapters."
)


def family_of_width(width: int, what: str) -> tuple[str, str] | Detection:
    """(family or "", evidence) from a cross-attention width, or a Detection refusing the model.

    768 is SD 1.5's and 2048 SDXL's; 1024 (SD 2.x) and 1280 (the SDXL refiner) are refused;
    any other width (a model built small for tests, say) is no evidence either way.
    """
    if width in CROSS_ATTENTION_FAMILY:
        family = CROSS_ATTENTION_FAMILY[width]
        return family, f"{what} is {width} wide ({FAMILY_SHORT[family]})"
    if width in UNSUPPORTED_WIDTHS:
        return _not_a_model(
            f"a {UNSUPPORTED_WIDTHS[width]} model ({what} is {width} wide), which the studio"
            " does not render with",
            _HINT_FAMILIES,
        )
    return "", f"{what} is {width} wide (not a published model's width)" if width else ""


def _agree(width_family: str, built_family: str, what: str) -> Detection | None:
    """A refusal when the width and the structure point to different families."""
    if width_family and built_family and width_family != built_family:
        return _not_a_model(
            f"{what} whose parts disagree ({FAMILY_SHORT[width_family]} width,"
            f" {FAMILY_SHORT[built_family]} structure): a damaged or merged file",
            "Download the model again from where it was published.",
        )
    return None


Shapes = Mapping[str, Sequence[int]]


def tensor_shapes(header: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a safetensors header (its `__metadata__` left out)."""
    return {
        name: tuple(int(d) for d in info.get("shape", ()))
        for name, info in header.items()
        if name != "__metadata__" and isinstance(info, Mapping)
    }


def detect_safetensors(
    header: Mapping[str, Any], metadata: Mapping[str, str] | None = None, file_name: str = ""
) -> Detection:
    """What a .safetensors file holds, from its header alone (tensor names, shapes, metadata).

    header: the file's JSON header (tensor name -> {"dtype", "shape", ...});
    metadata: its `__metadata__` strings (kohya's ss_*, modelspec.*), if not in `header`.
    """
    shapes = tensor_shapes(header)
    if metadata is None:
        metadata = header.get("__metadata__") or {}
    dtypes = sorted({str(i.get("dtype")) for k, i in header.items() if k != "__metadata__"})
    if not shapes:
        return _not_a_model("an empty weights file (no tensors)", "Download or copy it again.")
    keys = list(shapes)
    if any(k.startswith("image_proj.") for k in keys) and any(
        k.startswith("ip_adapter.") for k in keys
    ):
        found = _detect_ip_adapter(shapes, file_name)
    elif any(k.startswith("vision_model.") for k in keys):
        found = _detect_encoder_file(shapes)
    elif _is_lora(keys):
        found = _detect_lora(shapes, metadata)
    elif any(k.startswith("model.diffusion_model.") for k in keys):
        found = _detect_checkpoint(shapes)
    else:
        found = _detect_other(shapes)
    if dtypes and found.ok:
        found = replace(found, meta={**found.meta, "dtypes": dtypes})
    return found


def _is_lora(keys: Sequence[str]) -> bool:
    return any(
        k.startswith(("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_"))
        or ".lora_A." in k
        or ".lora_down." in k
        or ".lora.down." in k
        or "_lora.down." in k
        for k in keys
    )


def _detect_ip_adapter(shapes: Shapes, file_name: str) -> Detection:
    # The same order of tests as diffusers' _convert_ip_adapter_image_proj_to_diffusers.
    proj = {k[len("image_proj.") :]: v for k, v in shapes.items() if k.startswith("image_proj.")}
    why: list[str] = []
    meta: dict[str, Any] = {}
    out_width = 0
    if "proj.weight" in proj:
        variant = PLAIN
        meta["encoder_dim"] = proj["proj.weight"][-1]
        meta["encoder_dim_of"] = "projection_dim"
        meta["tokens"] = 4
        out_width = proj["proj.weight"][0] // 4
        why.append("image_proj.proj.weight: a linear projection of the image embedding")
    elif "proj.3.weight" in proj:
        variant = FULL_FACE
        meta["encoder_dim"] = proj["proj.0.weight"][0] if "proj.0.weight" in proj else 0
        meta["encoder_dim_of"] = "hidden_size"
        out_width = proj["proj.3.weight"][0]
        why.append("image_proj.proj.0/2/3: an MLP over the image encoder's patches (full face)")
    elif "perceiver_resampler.proj_in.weight" in proj:
        variant = FACEID_PLUS
        meta["encoder_dim"] = proj["perceiver_resampler.proj_in.weight"][1]
        meta["encoder_dim_of"] = "hidden_size"
        if "proj.0.weight" in proj:
            meta["face_dim"] = proj["proj.0.weight"][1]
        if "perceiver_resampler.proj_out.weight" in proj:
            out_width = proj["perceiver_resampler.proj_out.weight"][0]
        why.append("image_proj.perceiver_resampler: a face embedding refined by image patches")
    elif "norm.weight" in proj:
        variant = FACEID
        out_width = proj["norm.weight"][0]
        if "proj.0.weight" in proj:
            meta["face_dim"] = proj["proj.0.weight"][1]
        if "proj.2.weight" in proj and out_width:
            meta["tokens"] = proj["proj.2.weight"][0] // out_width
        why.append("image_proj.proj.0/2 and norm: a face recognition embedding (FaceID)")
    elif "latents" in proj:
        variant = PLUS
        meta["tokens"] = proj["latents"][1] if len(proj["latents"]) > 1 else 0
        if "proj_in.weight" in proj:
            meta["encoder_dim"] = proj["proj_in.weight"][1]
            meta["encoder_dim_of"] = "hidden_size"
        if "proj_out.weight" in proj:
            out_width = proj["proj_out.weight"][0]
        why.append("image_proj.latents and layers: a resampler over the image patches (Plus)")
        if "face" in file_name.lower():
            meta["face"] = True
    else:
        return _not_a_model(
            "an IP-Adapter of a kind the studio does not know (image_proj holds "
            + ", ".join(sorted(proj)[:4])
            + ")",
            "Use one of the published IP-Adapter, Plus, Full Face, FaceID or FaceID Plus files.",
        )
    if any("lora" in k for k in shapes if k.startswith("ip_adapter.")):
        meta["lora_layers"] = True
        if variant in (FACEID, FACEID_PLUS):
            why.append("ip_adapter holds the LoRA layers FaceID is trained with")
    width = next(
        (s[1] for k, s in sorted(shapes.items()) if k.endswith("to_k_ip.weight") and len(s) == 2),
        out_width,
    )
    if not width:
        return _not_a_model("an IP-Adapter whose cross-attention width cannot be read")
    found = family_of_width(width, "its cross-attention input")
    if isinstance(found, Detection):
        return replace(found, problem="an IP-Adapter for " + found.problem.removeprefix("a "))
    meta["cross_attention_dim"] = width
    return Detection(
        kind=IP_ADAPTER,
        family=found[0],
        variant=variant,
        layout="",
        why=(*why, found[1]),
        meta=meta,
    )


def _encoder_meta(shapes: Shapes, prefix: str = "") -> dict[str, Any]:
    """Hidden size, projection size, patch and image size, layers of a CLIP vision model."""
    meta: dict[str, Any] = {}
    patch = shapes.get(prefix + "vision_model.embeddings.patch_embedding.weight")
    if patch and len(patch) == 4:
        meta["hidden_size"] = patch[0]
        meta["patch_size"] = patch[2]
        pos = shapes.get(prefix + "vision_model.embeddings.position_embedding.weight")
        if pos:
            side = round((pos[0] - 1) ** 0.5)
            meta["image_size"] = side * patch[2]
    proj = shapes.get(prefix + "visual_projection.weight")
    if proj:
        meta["projection_dim"] = proj[0]
    layers = {
        k.split(".")[3]
        for k in shapes
        if k.startswith(prefix + "vision_model.encoder.layers.") and len(k.split(".")) > 3
    }
    if layers:
        meta["num_hidden_layers"] = len(layers)
    fc1 = shapes.get(prefix + "vision_model.encoder.layers.0.mlp.fc1.weight")
    if fc1:
        meta["intermediate_size"] = fc1[0]
    known = KNOWN_ENCODERS.get((meta.get("hidden_size", 0), meta.get("projection_dim", 0)))
    if known:
        meta["encoder"] = known
    return meta


ENCODER_DOWNLOAD = {
    "CLIP ViT-H/14": "models/image_encoder",
    "OpenCLIP ViT-bigG/14": "sdxl_models/image_encoder",
}


def _detect_encoder_file(shapes: Shapes) -> Detection:
    meta = _encoder_meta(shapes)
    if "projection_dim" not in meta:
        return _not_a_model(
            "a CLIP vision model without its projection (visual_projection.weight), which"
            " IP-Adapters need",
            "Use the image encoder published with the IP-Adapter (CLIPVisionModelWithProjection).",
        )
    # The renderer reads an image encoder with its config.json, which a single file lacks.
    name = meta.get("encoder", "")
    folder = ENCODER_DOWNLOAD.get(name, "models/image_encoder")
    return Detection(
        problem=f"a {name or 'CLIP vision'} image encoder in one file (as ComfyUI keeps them);"
        " the renderer reads image encoders from a folder with config.json and"
        " model.safetensors",
        hint=f"Register the image_encoder folder published with the IP-Adapter, or download it:"
        f" persona-studio models download PROJECT h94/IP-Adapter --file {folder}/config.json"
        f" --file {folder}/model.safetensors",
        meta=meta,
    )


_LORA_DOWN = re.compile(
    r"attn2[._](?:processor[._])?to_[kv](?:[._]lora)?[._](?:lora_down|down|lora_A)\.weight$"
)


def _detect_lora(shapes: Shapes, metadata: Mapping[str, str]) -> Detection:
    keys = list(shapes)
    if any(k.startswith(("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")) for k in keys):
        layout = KOHYA
    elif any(".lora_A." in k or ".lora_B." in k for k in keys):
        layout = PEFT
    else:
        layout = DIFFUSERS_LORA
    if any(".hada_w" in k or ".lokr_w" in k for k in keys):
        return _not_a_model(
            "a LyCORIS (LoHa/LoKr) network, which the renderer cannot apply to Stable Diffusion",
            "Use a plain LoRA (lora_down/lora_up weights), or convert it to one with the"
            " LyCORIS tools.",
        )
    why: list[str] = [f"LoRA weights in the {layout} layout"]
    width_family = ""
    width_keys = sorted(k for k in keys if _LORA_DOWN.search(k) and len(shapes[k]) == 2)
    if width_keys:
        found = family_of_width(shapes[width_keys[0]][1], "the UNet's cross-attention input")
        if isinstance(found, Detection):
            return replace(found, problem="a LoRA for " + found.problem.removeprefix("a "))
        width_family = found[0]
        if found[1]:
            why.append(found[1])
    built_family, built_why = _lora_structure(keys)
    refusal = _agree(width_family, built_family, "a LoRA")
    if refusal is not None:
        return refusal
    family = width_family or built_family
    if built_why:
        why.append(built_why)
    said = _metadata_family(metadata)
    if said and family and said[0] != family:
        why.append(f"its metadata says {said[1]}, but the weights decide")
    elif said and not family:
        if said[0] in FAMILIES:
            family = said[0]
            why.append(f"its metadata says {said[1]}")
        else:
            return _not_a_model(f"a LoRA for {said[1]}, which the studio does not render with")
    meta: dict[str, Any] = {}
    ranks = sorted({s[0] for k, s in shapes.items() if _is_down(k) and len(s) >= 2})
    if ranks:
        meta["rank"] = ranks[-1]
    if metadata.get("ss_output_name"):
        meta["trained_as"] = metadata["ss_output_name"]
    return Detection(kind=LORA, family=family, layout=layout, why=tuple(why), meta=meta)


def _lora_structure(keys: Sequence[str]) -> tuple[str, str]:
    """(family, evidence) from which layers a LoRA trains, whatever their width."""
    if any(k.startswith(("lora_te2_", "text_encoder_2.", "te2.")) for k in keys):
        return SDXL, "it trains SDXL's second text encoder"
    if any(k.startswith("lora_te1_") for k in keys):
        return SDXL, "its text encoder is named as SDXL's first (lora_te1_)"
    if any(k.startswith(("lora_unet_input_blocks_", "lora_unet_output_blocks_")) for k in keys):
        return SDXL, "its UNet layers are named as in SDXL's original code"
    if any(re.search(r"transformer_blocks[._][1-9]", k) for k in keys):
        return SDXL, "its UNet has several transformer layers per block (SDXL)"
    if any(re.search(r"down_blocks[._]0[._]attentions", k) for k in keys):
        return SD15, "its UNet attends at the first resolution (SD 1.5)"
    if any(k.startswith("lora_te_") for k in keys):
        return SD15, "it trains one text encoder (lora_te_)"
    return "", ""


def _is_down(key: str) -> bool:
    return key.endswith(
        ("lora_down.weight", ".lora_A.weight", ".lora.down.weight", "_lora.down.weight")
    )


def _metadata_family(metadata: Mapping[str, str]) -> tuple[str, str] | None:
    """What kohya's ss_base_model_version or modelspec.architecture say the model is for."""
    said = " ".join(
        str(metadata.get(k, "")) for k in ("ss_base_model_version", "modelspec.architecture")
    ).lower()
    if not said.strip():
        return None
    if "xl" in said and "refiner" not in said:
        return SDXL, "SDXL"
    if "v1" in said or "sd1" in said:
        return SD15, "SD 1.5"
    if "v2" in said or "sd2" in said:
        return "sd2", "Stable Diffusion 2.x"
    return None


_CKPT_TO_K = "model.diffusion_model.{}.1.transformer_blocks.0.attn2.to_k.weight"


def _detect_checkpoint(shapes: Shapes) -> Detection:
    keys = set(shapes)
    if "edm_mean" in keys:
        return _not_a_model("a Playground v2.5 model, which the studio does not render with")
    if any(".double_blocks." in k or ".joint_blocks." in k for k in keys):
        return _not_a_model("a Flux or SD3 model, which the studio does not render with")
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        return _not_a_model(
            "a Stable Diffusion 2.x model (OpenCLIP text encoder), which the studio does not"
            " render with",
            _HINT_FAMILIES,
        )
    if any(k.startswith("conditioner.embedders.0.model.") for k in keys) and not any(
        k.startswith("conditioner.embedders.1.") for k in keys
    ):
        return _not_a_model(
            "the Stable Diffusion XL refiner, which the studio does not render with",
            "Register the SDXL base model.",
        )
    width = 0
    for block in ("input_blocks.1", "input_blocks.4", "input_blocks.2", "middle_block"):
        shape = shapes.get(_CKPT_TO_K.format(block))
        if shape and len(shape) == 2:
            width = shape[1]
            break
    why = ["model.diffusion_model.…: a whole UNet in the original layout"]
    found = family_of_width(width, "the UNet's cross-attention input")
    if isinstance(found, Detection):
        return found
    if found[1]:
        why.append(found[1])
    built = ""
    if any(k.startswith("conditioner.embedders.1.") for k in keys):
        built = SDXL
        why.append("conditioner.embedders.1: SDXL's second text encoder")
        if any(k.startswith("model.diffusion_model.label_emb.") for k in keys):
            why.append("label_emb: SDXL's size and crop conditioning")
    elif any(k.startswith("cond_stage_model.transformer.") for k in keys):
        built = SD15
        why.append("cond_stage_model.transformer: SD 1.5's CLIP text encoder")
    refusal = _agree(found[0], built, "a checkpoint")
    if refusal is not None:
        return refusal
    family = found[0] or built
    if not family:
        return _not_a_model(
            "a UNet without a text encoder, whose family its weights do not show",
            "Use the full checkpoint (UNet, text encoder and VAE in one file) or a diffusers"
            " folder of the model.",
        )
    meta: dict[str, Any] = {}
    text = "conditioner.embedders." if family == SDXL else "cond_stage_model."
    missing = [
        what
        for what, prefix in (("text encoder", text), ("VAE", "first_stage_model."))
        if not any(k.startswith(prefix) for k in keys)
    ]
    if missing:
        return _not_a_model(
            f"a {FAMILY_SHORT[family]} UNet alone: the file lacks its {' and '.join(missing)}",
            "Use the full checkpoint (UNet, text encoder and VAE in one file) or a diffusers"
            " folder of the model.",
        )
    first = shapes.get("model.diffusion_model.input_blocks.0.0.weight")
    if first and len(first) == 4 and first[1] == 9:
        meta["inpainting"] = True
        why.append("its UNet takes 9 input channels (inpainting)")
    return Detection(kind=BASE, family=family, layout=CHECKPOINT, why=tuple(why), meta=meta)


def _detect_other(shapes: Shapes) -> Detection:
    keys = set(shapes)
    if any(k.startswith(("control_model.", "controlnet_cond_embedding.")) for k in keys):
        return _not_a_model("a ControlNet, which the studio does not use yet")
    if any(k.startswith(("encoder.down.", "decoder.up.", "encoder.down_blocks.")) for k in keys):
        return _not_a_model("a VAE on its own", "Register the base model the VAE belongs to.")
    if "conv_in.weight" in keys and any(k.startswith("down_blocks.") for k in keys):
        return _not_a_model(
            "one component of a diffusers model (a UNet)",
            "Register the folder that holds model_index.json instead.",
        )
    if any(k.startswith("text_model.") for k in keys):
        return _not_a_model(
            "a text encoder on its own",
            "Register the base model (its folder with model_index.json, or the full checkpoint).",
        )
    if any(
        ".double_blocks." in k or k.startswith(("double_blocks.", "joint_blocks.")) for k in keys
    ):
        return _not_a_model("a Flux or SD3 model, which the studio does not render with")
    if any(k.startswith(("emb_params", "string_to_param", "clip_l", "clip_g")) for k in keys):
        return _not_a_model(
            "a textual inversion embedding, which the studio does not use",
            _HINT_FAMILIES,
        )
    sample = ", ".join(sorted(keys)[:3])
    return _not_a_model(f"not a model the studio knows (tensors such as {sample})", _HINT_FAMILIES)


def detect_folder(files: Sequence[str], configs: Mapping[str, Any]) -> Detection:
    """What a folder holds, from its file list and the JSON configs read from it.

    files: paths relative to the folder, with '/' ("unet/diffusion_pytorch_model.safetensors");
    configs: relative path -> parsed JSON of model_index.json, config.json, <component>/config.json.
    """
    names = set(files)
    index = configs.get("model_index.json")
    if isinstance(index, Mapping):
        return _detect_pipeline(names, index, configs)
    config = configs.get("config.json")
    if isinstance(config, Mapping):
        return _detect_component(names, config)
    return _not_a_model(
        "a folder that is not a model (no model_index.json or config.json)",
        "Choose the model's own folder, or scan the folder to find the models inside it.",
    )


def _weights_in(names: set[str], folder: str) -> tuple[list[str], list[str]]:
    """(safetensors files, pickle files) directly inside a component folder."""
    prefix = f"{folder}/" if folder else ""
    inside = [n for n in names if n.startswith(prefix) and "/" not in n[len(prefix) :]]
    safe = sorted(n for n in inside if n.endswith(".safetensors"))
    pickled = sorted(n for n in inside if is_pickle(n))
    return safe, pickled


def wan_named_components(index: Mapping[str, Any]) -> set[str]:
    """The components a Wan model_index.json names with a library and class (not nulls)."""
    return {
        c
        for c, v in index.items()
        if not c.startswith("_")
        and isinstance(v, list)
        and len(v) == 2
        and bool(v[0])
        and bool(v[1])
    }


def wan_needed_components(index: Mapping[str, Any], transformer: Mapping[str, Any]) -> list[str]:
    """The components a Wan image-to-video folder must have, from its index and transformer config.

    Wan 2.2 (a `boundary_ratio`) switches to a second transformer for the low-noise steps; a
    transformer with an `image_dim` (Wan 2.1) reads the keyframe through a CLIP image encoder.
    """
    needed = list(WAN_REQUIRED)
    if index.get("boundary_ratio") is not None:
        needed.append("transformer_2")
    if transformer.get("image_dim") is not None:
        needed.extend(WAN_IMAGE_COMPONENTS)
    return needed


def _detect_wan(names: set[str], index: Mapping, configs: Mapping[str, Any]) -> Detection:
    transformer = configs.get("transformer/config.json")
    transformer = transformer if isinstance(transformer, Mapping) else {}
    present = wan_named_components(index)
    needed = wan_needed_components(index, transformer)
    missing = [
        c for c in needed if c not in present or not any(n.startswith(f"{c}/") for n in names)
    ]
    if missing:
        return _not_a_model(
            f"an incomplete Wan image-to-video folder: it lacks its {', '.join(missing)}",
            "Download the model again, or copy its whole folder.",
        )
    for component in WAN_WEIGHTED:
        if component not in present:
            continue
        safe, pickled = _weights_in(names, component)
        if not safe:
            if pickled:
                return Detection(
                    problem=f"its {component} weights are a pickle file ({pickled[0]}), which the"
                    " studio never loads",
                    hint=f"Download the .safetensors weights of {component}.",
                )
            return _not_a_model(
                f"an incomplete diffusers folder: {component}/ holds no weights",
                "Download the model again, or copy its whole folder.",
            )
    why = [f"model_index.json names {WAN_PIPELINE}"]
    why.append(
        "two transformers (Wan 2.2)"
        if "transformer_2" in needed
        else "one transformer reading the keyframe through an image encoder (Wan 2.1)"
        if "image_encoder" in needed
        else "one transformer"
    )
    return Detection(
        kind=VIDEO,
        family=WAN_I2V,
        format=DIFFUSERS,
        layout=PIPELINE_FOLDER,
        why=tuple(why),
        meta={"pipeline": WAN_PIPELINE},
    )


def _detect_pipeline(names: set[str], index: Mapping, configs: Mapping[str, Any]) -> Detection:
    cls = str(index.get("_class_name", ""))
    if cls == WAN_PIPELINE:
        return _detect_wan(names, index, configs)
    if cls.startswith("Wan"):
        return _not_a_model(
            f"a Wan text-to-video model ({cls}); motion shots animate a keyframe with a Wan"
            " image-to-video model",
            "Register the diffusers folder of a Wan 2.1 or 2.2 image-to-video model.",
        )
    family = PIPELINES.get(cls)
    if family is None:
        return _not_a_model(
            f"a {cls or 'diffusers'} pipeline, which the studio does not render with",
            _HINT_FAMILIES,
        )
    why = [f"model_index.json names {cls}"]
    unet = configs.get("unet/config.json")
    if isinstance(unet, Mapping):
        width = unet.get("cross_attention_dim")
        if isinstance(width, list):
            width = width[0] if width else 0
        found = family_of_width(int(width or 0), "the UNet's cross-attention input")
        if isinstance(found, Detection):
            return found
        refusal = _agree(found[0], family, f"a {cls} folder")
        if refusal is not None:
            return refusal
        if found[1]:
            why.append(found[1])
        if unet.get("in_channels") == 9:
            why.append("its UNet takes 9 input channels (inpainting)")
    missing = [
        c for c in PIPELINE_COMPONENTS[family] if not index.get(c) or index.get(c) == [None, None]
    ]
    if family == SDXL and ("text_encoder" in missing or "tokenizer" in missing):
        return _not_a_model(
            "the Stable Diffusion XL refiner (no first text encoder), which the studio does not"
            " render with",
            "Register the SDXL base model.",
        )
    if missing:
        return _not_a_model(f"a {cls} folder whose model_index.json lacks {', '.join(missing)}")
    meta: dict[str, Any] = {"pipeline": cls}
    if isinstance(unet, Mapping) and unet.get("in_channels") == 9:
        meta["inpainting"] = True
    variants: set[str] = set()
    for component in WEIGHTED_COMPONENTS:
        if component not in PIPELINE_COMPONENTS[family]:
            continue
        if f"{component}/config.json" not in names:
            return _not_a_model(
                f"an incomplete diffusers folder: {component}/config.json is missing",
                "Download the model again, or copy its whole folder.",
            )
        safe, pickled = _weights_in(names, component)
        if not safe:
            if pickled:
                hint = (
                    f"Download the .safetensors weights of {component} (for Hugging Face models,"
                    " the same repository usually has them), or convert "
                    f"{pickled[0]} with persona-studio models convert PROJECT FILE."
                )
                return Detection(
                    problem=f"its {component} weights are a pickle file ({pickled[0]}), which the"
                    " studio never loads",
                    hint=hint,
                )
            return _not_a_model(
                f"an incomplete diffusers folder: {component}/ holds no weights",
                "Download the model again, or copy its whole folder.",
            )
        for name in safe:
            stem = name.rsplit("/", 1)[-1].removesuffix(".safetensors")
            variants.add(stem.split(".", 1)[1] if "." in stem else "")
    if "" not in variants and variants:
        meta["weights_variant"] = sorted(variants)[0]  # e.g. fp16: load with variant="fp16"
        why.append(f"its weights are the {meta['weights_variant']} variant")
    return Detection(
        kind=BASE,
        family=family,
        format=DIFFUSERS,
        layout=PIPELINE_FOLDER,
        why=tuple(why),
        meta=meta,
    )


def _detect_component(names: set[str], config: Mapping) -> Detection:
    architectures = [str(a) for a in config.get("architectures") or ()]
    cls = str(config.get("_class_name", ""))
    if (
        any(a in ENCODER_ARCHITECTURES for a in architectures)
        or config.get("model_type") == "clip_vision_model"
    ):
        safe, pickled = _weights_in(names, "")
        if not safe:
            if pickled:
                return Detection(
                    problem=f"its weights are a pickle file ({pickled[0]}), which the studio"
                    " never loads",
                    hint=_CONVERT_HINT,
                )
            return _not_a_model("an image encoder folder without its weights (model.safetensors)")
        meta = {
            k: config[k]
            for k in (
                "hidden_size",
                "projection_dim",
                "image_size",
                "patch_size",
                "num_hidden_layers",
            )
            if isinstance(config.get(k), int)
        }
        meta["architecture"] = architectures[0] if architectures else "CLIPVisionModel"
        if "CLIPVisionModelWithProjection" not in architectures and "projection_dim" not in meta:
            return _not_a_model("a CLIP vision model without the projection IP-Adapters need")
        known = KNOWN_ENCODERS.get((meta.get("hidden_size", 0), meta.get("projection_dim", 0)))
        if known:
            meta["encoder"] = known
        return Detection(
            kind=IMAGE_ENCODER,
            format=DIFFUSERS,
            layout=TRANSFORMERS_FOLDER,
            why=(f"config.json names {meta['architecture']}",),
            meta=meta,
        )
    what = cls or (architectures[0] if architectures else "")
    if what:
        return _not_a_model(
            f"one component of a model ({what})",
            "Register the folder that holds model_index.json (the whole pipeline) instead.",
        )
    return _not_a_model("a folder whose config.json names no model class")


def settle(found: Detection, kind: str = "", family: str = "", where: str = "") -> Detection:
    """The detection with what the user said (--kind, --family) applied, or ModelFileError.

    A DreamBooth model is a base the user says is a persona's; a family the weights cannot show
    (some LoRAs) comes from the user; anything the weights contradict is refused.
    """
    where = where or "The model"
    if not found.ok:
        raise found.error(where)
    if kind and kind not in KINDS:
        raise ModelFileError(
            f"'{kind}' is not a kind of model.", hint=f"Use one of {', '.join(KINDS)}."
        )
    if family and family not in FAMILIES + VIDEO_FAMILIES:
        raise ModelFileError(
            f"'{family}' is not a model family.",
            hint=f"Use one of {', '.join(FAMILIES + VIDEO_FAMILIES)}.",
        )
    out = found
    if kind and kind != found.kind:
        if kind == DREAMBOOTH and found.kind == BASE:
            out = replace(out, kind=DREAMBOOTH)
        else:
            raise ModelFileError(
                f"{where} is {article(found.describe())} ({'; '.join(found.why)}), not"
                f" {article(KIND_NAMES[kind])}.",
                hint="Leave out --kind to register it as what it is, or choose another file.",
            )
    if family and found.family and family != found.family:
        raise ModelFileError(
            f"{where} is for {FAMILY_NAMES[found.family]} ({'; '.join(found.why)}), not"
            f" {FAMILY_NAMES[family]}.",
            hint="Leave out --family: the weights show which family the model is for.",
        )
    if family and not found.family and out.kind != IMAGE_ENCODER:
        out = replace(
            out, family=family, why=(*out.why, f"you said it is for {FAMILY_SHORT[family]}")
        )
    if not out.family and out.kind != IMAGE_ENCODER:
        raise ModelFileError(
            f"{where} is {article(KIND_NAMES[out.kind])}, but its weights do not show whether"
            " it is for SD 1.5 or SDXL.",
            hint="Say which with --family sd15 or --family sdxl.",
        )
    return out


def article(text: str) -> str:
    """The text with 'a' or 'an' before it, as it is said ('an SDXL LoRA', 'a base model')."""
    return (
        "an " if text[:1].lower() in "aeiou" or text.startswith(("SD ", "SDXL")) else "a "
    ) + text


def encoder_fits(adapter: Detection | ModelRecord, encoder: Detection | ModelRecord) -> bool:
    """Whether an image encoder gives the embedding width an IP-Adapter was trained on.

    The plain adapter reads the projected embedding, the others the encoder's hidden states;
    an adapter or encoder whose widths are unknown fits any.
    """
    a_meta = adapter.meta or {}
    e_meta = encoder.meta or {}
    want = a_meta.get("encoder_dim")
    have = e_meta.get(a_meta.get("encoder_dim_of", ""))
    return not want or not have or int(want) == int(have)


# -- names, places and folder hashes ----------------------------------------------------------

_GENERIC_NAMES = {"image_encoder", "model", "pytorch_model", "diffusion_pytorch_model", "unet"}
SOURCES = ("file", "hf-cache", "comfyui", "a1111")


def hf_cache_repo(path: str) -> tuple[str, str] | None:
    """(repo id, path inside the snapshot) for a path in the Hugging Face cache, else None."""
    parts = str(path).replace("\\", "/").split("/")
    for i, part in enumerate(parts[:-2]):
        if part.startswith("models--") and parts[i + 1] == "snapshots":
            repo = part[len("models--") :].replace("--", "/")
            return repo, "/".join(parts[i + 3 :])
    return None


def default_name(path: str) -> str:
    """A model's name from where it is: the file's stem, a cached repo's id, a generic folder
    name with its parent's ('IP-Adapter/models/image_encoder')."""
    clean = str(path).replace("\\", "/").rstrip("/")
    cached = hf_cache_repo(clean)
    if cached is not None:
        repo, inner = cached
        if not inner:
            return repo
        stem = inner.removesuffix(".safetensors")
        return f"{repo.rsplit('/', 1)[-1]}/{stem}"
    parts = clean.split("/")
    stem = parts[-1]
    for suffix in (".safetensors", ".onnx") + PICKLE_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    if stem in _GENERIC_NAMES and len(parts) > 1:
        return f"{parts[-2]}/{stem}"
    return stem


def unique_name(wanted: str, taken: Iterable[str]) -> str:
    """`wanted`, or `wanted 2`, `wanted 3`… when a model already has that name (any case)."""
    used = {t.lower() for t in taken}
    name, n = wanted, 1
    while name.lower() in used:
        n += 1
        name = f"{wanted} {n}"
    return name


def is_weight_file(name: str) -> bool:
    """Whether a file is part of what a model's hash covers (its weights, not its configs)."""
    return str(name).lower().endswith(WEIGHT_SUFFIXES)


def folder_sha256(files: Iterable[tuple[str, str]]) -> str:
    """A folder model's hash: sha256 of 'relative/path<TAB>file sha256<LF>' lines sorted by path."""
    h = hashlib.sha256()
    for rel, sha in sorted(files):
        h.update(f"{rel}\t{sha}\n".encode())
    return h.hexdigest()


def size_text(size: int) -> str:
    """A file size as people read it: '812 KiB', '1.9 GiB'."""
    if size >= 2**30:
        return f"{size / 2**30:.1f} GiB"
    if size >= 2**20:
        return f"{size / 2**20:.0f} MiB"
    if size >= 2**10:
        return f"{size / 2**10:.0f} KiB"
    return f"{size} B"


PERSONA_ROLES = (DREAMBOOTH, LORA)  # how a persona uses her own models


def persona_role(kind: str, name: str = "The model") -> str:
    """The role a model of this kind plays for a persona, or ModelFileError if it has none."""
    if kind in PERSONA_ROLES:
        return kind
    if kind == BASE:
        return DREAMBOOTH  # linking a base model to a persona says it is her DreamBooth model
    raise ModelFileError(
        f"{name} is {article(KIND_NAMES.get(kind, kind))}; a persona's own models are her"
        " DreamBooth model and her LoRAs.",
        hint="IP-Adapters and image encoders are chosen per shot, in its render settings.",
    )
