"""Generative models the studio renders with: their kinds, families, and how a job names one.

A model is a file or a diffusers folder the artist already has, registered in place (never
copied) with its sha256. Jobs carry a `ModelRef`: everything the engine needs to load it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Kinds of model.
BASE = "base"  # a full text-to-image model (diffusers folder or single checkpoint)
DREAMBOOTH = "dreambooth"  # a base model fine-tuned on one persona; used as her base
LORA = "lora"
IP_ADAPTER = "ip-adapter"
IMAGE_ENCODER = "image-encoder"  # the CLIP vision model an IP-Adapter reads references with
KINDS = (BASE, DREAMBOOTH, LORA, IP_ADAPTER, IMAGE_ENCODER)

# Families: which architecture a model belongs to (a LoRA or adapter fits one family only).
SD15 = "sd15"
SDXL = "sdxl"
FAMILIES = (SD15, SDXL)
FAMILY_NAMES = {SD15: "Stable Diffusion 1.5", SDXL: "Stable Diffusion XL"}

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
