"""IP-Adapter: the persona's library references and face embedding as an image prompt.

`load_adapters` puts a shot's IP-Adapters (plain, plus, full-face, FaceID, FaceID Plus) into a
diffusers pipeline with their image encoders and scales, and leaves the persona's LoRAs active
with their weights; `adapter_embeds` turns the shot's 3-5 references (averaged, as several-image
IP-Adapter use does) and her face embedding into the pipeline's `ip_adapter_image_embeds`,
once per shot, for every frame and any batch size.

Adapters are read from .safetensors files in the published layouts (`image_proj.*`,
`ip_adapter.<n>.*`); image encoders from transformers folders holding model.safetensors.
"""

from __future__ import annotations

import json
import logging
import struct
import warnings
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from studio.core.adapter_errors import (
    AdapterError,
    AdapterFamilyError,
    AdapterFileError,
    EncoderMissingError,
    FaceEmbeddingMissingError,
)
from studio.core.errors import ModelMissingError
from studio.core.models import (
    CROSS_ATTENTION_FAMILY,
    FACE_EMBEDDING,
    FACEID,
    FACEID_PLUS,
    FAMILY_NAMES,
    FULL_FACE,
    IP_ADAPTER,
    NEEDS_ENCODER,
    PICKLE_SUFFIXES,
    PLAIN,
    PLUS,
    VARIANT_NAMES,
    ModelRef,
)
from studio.core.render import AdapterUse, LoraUse
from studio.engine.render.pipelines import loaded_loras, lora_adapter_name, pipeline_family

# diffusers names the LoRA a FaceID file carries "faceid_<position in the loaded list>".
FACEID_LORA_PREFIX = "faceid_"
# Which published image encoder gives features of a width: (embeddings, patch features) widths.
PUBLISHED_ENCODERS = {
    "ViT-H": (1024, 1280, "models/image_encoder of h94/IP-Adapter"),
    "ViT-bigG": (1280, 1664, "sdxl_models/image_encoder of h94/IP-Adapter"),
}
_MAX_HEADER = 100 * 2**20
# Loading through diffusers logs notes that do not apply here (no encoder folder is passed on
# purpose; the float32 note concerns checkpoints loaded in half precision).
_QUIET_LOGGERS = (
    "diffusers.loaders.ip_adapter",
    "diffusers.models.modeling_utils",
    "diffusers.loaders.lora_pipeline",
    "diffusers.loaders.lora_base",
    "diffusers.loaders.peft",
)


@dataclass(frozen=True)
class _Layout:
    """What an adapter file's tensor names and shapes say it is."""

    variant: str
    cross_dim: int  # the UNet cross-attention width it was trained for
    layers: int  # cross-attention layers it has weights for
    encoder_width: int = 0  # the image feature width it reads (0: no image encoder)
    face_dim: int = 0  # the face embedding width it reads (0: none)
    has_lora: bool = False

    @property
    def reads_patches(self) -> bool:
        # Every variant but the plain one reads the encoder's penultimate patch features.
        return self.variant in (PLUS, FULL_FACE, FACEID_PLUS)


@dataclass
class _Encoder:
    model: Any  # CLIPVisionModelWithProjection
    processor: Any  # CLIPImageProcessor


@dataclass
class _Loaded:
    use: AdapterUse
    layout: _Layout
    encoder: _Encoder | None
    lora: str = ""  # the FaceID LoRA's adapter name in the UNet


@dataclass
class _State:
    key: tuple
    adapters: list[_Loaded]
    projection: Any  # the UNet's encoder_hid_proj these adapters put there
    encoders: dict[tuple[str, str], _Encoder]
    clip_embeds: dict[int, torch.Tensor] = field(default_factory=dict)  # FaceID Plus, per shot
    hooks: list[Any] = field(default_factory=list)


# What is loaded into each UNet (the UNet is what the adapters change).
_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@contextmanager
def _quiet() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _QUIET_LOGGERS]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # peft's notes on adding a second LoRA and on the active one being deleted: both are
            # intended here, and the shot's LoRAs are set again right after.
            warnings.filterwarnings("ignore", "Already found a `peft_config`", UserWarning)
            warnings.filterwarnings("ignore", "Adapter .* was active which is now deleted")
            yield
    finally:
        for log, level in zip(loggers, levels, strict=True):
            log.setLevel(level)


# -- inspecting files ------------------------------------------------------------------------------


def _truncated(name: str, path: Path, size: int, expected: int) -> AdapterFileError:
    return AdapterFileError(
        f"{name}'s file {path.name} is cut short: it holds {size:,} of its {expected:,} bytes.",
        hint="Download it again; an interrupted download or a full disk leaves a truncated file.",
    )


def read_safetensors_header(path: Path, name: str) -> dict[str, dict]:
    """The tensor entries of a .safetensors file's header, after checking the file is whole."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise _truncated(name, path, size, 8)
        length = struct.unpack("<Q", head)[0]
        if length > _MAX_HEADER:
            raise AdapterFileError(
                f"{name}'s file {path.name} is not a .safetensors file.",
                hint="Choose the .safetensors file of the model.",
            )
        if 8 + length > size:
            raise _truncated(name, path, size, 8 + length)
        try:
            header = json.loads(f.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise AdapterFileError(
                f"{name}'s file {path.name} is not a .safetensors file.",
                hint="Choose the .safetensors file of the model.",
            ) from None
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    end = max((v["data_offsets"][1] for v in tensors.values()), default=0)
    if 8 + length + end > size:
        raise _truncated(name, path, size, 8 + length + end)
    return tensors


def _layout_of(shapes: dict[str, list[int]]) -> _Layout | None:
    """The variant and widths of an IP-Adapter from its tensor shapes; None if it is not one."""
    proj = {k[len("image_proj.") :]: s for k, s in shapes.items() if k.startswith("image_proj.")}
    ip_keys = [
        s for k, s in shapes.items() if k.startswith("ip_adapter.") and k.endswith("_ip.weight")
    ]
    if not proj or not ip_keys:
        return None
    cross_dim = ip_keys[0][1]
    layers = len(ip_keys) // 2
    lora = any(k.endswith(".to_k_lora.down.weight") for k in shapes)
    # The same tests, in the same order, that diffusers uses to pick a projection.
    if "proj.weight" in proj:
        return _Layout(PLAIN, cross_dim, layers, encoder_width=proj["proj.weight"][1])
    if "proj.3.weight" in proj:
        return _Layout(FULL_FACE, cross_dim, layers, encoder_width=proj["proj.0.weight"][1])
    if "perceiver_resampler.proj_in.weight" in proj:
        return _Layout(
            FACEID_PLUS,
            cross_dim,
            layers,
            encoder_width=proj["perceiver_resampler.proj_in.weight"][1],
            face_dim=proj["proj.0.weight"][1],
            has_lora=lora,
        )
    if "norm.weight" in proj and "proj.0.weight" in proj:
        return _Layout(FACEID, cross_dim, layers, face_dim=proj["proj.0.weight"][1], has_lora=lora)
    if "latents" in proj and "proj_in.weight" in proj:
        return _Layout(PLUS, cross_dim, layers, encoder_width=proj["proj_in.weight"][1])
    return None


def _cross_attention_layers(unet: Any) -> int:
    return sum(
        1
        for name in unet.attn_processors
        if not name.endswith("attn1.processor")
        and not name.startswith("encoder_hid_proj")
        and "motion_modules" not in name
    )


def _encoder_wanted(layout: _Layout) -> tuple[str, str]:
    """(what the adapter needs, where the published one is) for its image feature width."""
    for label, (embeds, patches, where) in PUBLISHED_ENCODERS.items():
        width = patches if layout.reads_patches else embeds
        if layout.encoder_width == width:
            return f"the {label} image encoder", where
    what = "patch features" if layout.reads_patches else "image embeddings"
    return (
        f"a CLIP image encoder with {layout.encoder_width}-wide {what}",
        "the image_encoder folder published with the adapter",
    )


def _family_error(model: ModelRef, adapter_family: str, pipe_family: str) -> AdapterFamilyError:
    ours = FAMILY_NAMES[pipe_family]
    if adapter_family in FAMILY_NAMES:
        theirs = FAMILY_NAMES[adapter_family]
        return AdapterFamilyError(
            f"{model.name} is an IP-Adapter for {theirs}, and this shot renders with "
            f"a {ours} model.",
            hint=f"Choose a {ours} IP-Adapter for the shot, or render it with a {theirs} model.",
        )
    return AdapterFamilyError(
        f"{model.name} does not fit the {ours} model this shot renders with ({adapter_family}).",
        hint=f"Choose a {ours} IP-Adapter for the shot.",
    )


def _inspect(pipe: Any, use: AdapterUse) -> _Layout:
    """Check an adapter against the pipeline before anything is loaded; its layout."""
    model = use.model
    if model.kind != IP_ADAPTER:
        raise AdapterError(
            f"{model.name} is a {model.kind} model, not an IP-Adapter.",
            hint="Choose an IP-Adapter for the shot's image prompt.",
        )
    pipe_family = pipeline_family(pipe)
    if model.family and model.family != pipe_family:
        raise _family_error(model, model.family, pipe_family)
    path = Path(model.path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise AdapterFileError(
            f"{model.name} is a pickled file ({path.name}); the studio loads only .safetensors.",
            hint="Convert it to .safetensors and use that file: pickled weights can run code.",
        )
    if path.is_dir():
        raise AdapterFileError(
            f"{model.name} is registered as the folder {path}; an IP-Adapter is one file.",
            hint="Register the adapter's .safetensors file itself.",
        )
    if not path.is_file():
        raise ModelMissingError(
            f"The IP-Adapter file of {model.name} is not at {path}.",
            hint="Put the file back there, or register the adapter again where it is now.",
        )
    header = read_safetensors_header(path, model.name)
    layout = _layout_of({k: v["shape"] for k, v in header.items()})
    if layout is None:
        raise AdapterFileError(
            f"{path.name} ({model.name}) holds no IP-Adapter weights (no image_proj and "
            "ip_adapter tensors).",
            hint="Choose an IP-Adapter file such as ip-adapter_sd15.safetensors.",
        )
    if model.variant and model.variant != layout.variant:
        raise AdapterFileError(
            f"{model.name} is registered as an {VARIANT_NAMES.get(model.variant, model.variant)}, "
            f"but its file holds an {VARIANT_NAMES[layout.variant]}.",
            hint="Register the file again so that its kind is read from it.",
        )
    unet = pipe.unet
    width, layers = unet.config.cross_attention_dim, _cross_attention_layers(unet)
    if layout.cross_dim != width or layout.layers != layers:
        family = CROSS_ATTENTION_FAMILY.get(layout.cross_dim) or (
            f"its file has {layout.layers} attention layers {layout.cross_dim} wide; "
            f"the model has {layers}, {width} wide"
        )
        raise _family_error(model, family, pipe_family)
    if NEEDS_ENCODER[layout.variant] and not model.encoder_path:
        what, where = _encoder_wanted(layout)
        raise EncoderMissingError(
            f"{model.name} needs {what} ({where}), and none is linked to it.",
            hint=f"Download that folder (config.json and model.safetensors) and register it as "
            f"{model.name}'s image encoder.",
        )
    return layout


def _processor_class() -> Any:
    # The PIL preprocessor gives the same pixels with or without torchvision installed.
    try:
        from transformers import CLIPImageProcessorPil

        return CLIPImageProcessorPil
    except ImportError:
        from transformers import CLIPImageProcessor

        return CLIPImageProcessor


def _load_encoder(pipe: Any, model: ModelRef, layout: _Layout) -> _Encoder:
    from transformers import CLIPVisionModelWithProjection

    what, where = _encoder_wanted(layout)
    folder = Path(model.encoder_path)
    weights = folder / "model.safetensors"
    sharded = folder / "model.safetensors.index.json"
    if not (folder / "config.json").is_file() or not (weights.is_file() or sharded.is_file()):
        missing = (
            "is not there" if not folder.is_dir() else "holds no config.json and model.safetensors"
        )
        raise EncoderMissingError(
            f"The image encoder of {model.name} ({folder}) {missing}.",
            hint=f"{model.name} needs {what} ({where}): put config.json and model.safetensors "
            f"in {folder}, or link the adapter to the folder where they are.",
        )
    if weights.is_file():
        read_safetensors_header(weights, f"The image encoder of {model.name}")
    try:
        encoder = CLIPVisionModelWithProjection.from_pretrained(
            str(folder), use_safetensors=True, local_files_only=True, dtype=pipe.unet.dtype
        )
    except (OSError, ValueError, KeyError) as exc:
        raise EncoderMissingError(
            f"The image encoder of {model.name} ({folder}) cannot be read as a CLIP vision "
            f"model: {exc}",
            hint=f"{model.name} needs {what} ({where}).",
        ) from None
    config = encoder.config
    width = config.hidden_size if layout.reads_patches else config.projection_dim
    if width != layout.encoder_width:
        raise EncoderMissingError(
            f"{model.name} reads {layout.encoder_width}-wide image features, and its image "
            f"encoder ({folder.name}) gives {width}-wide ones.",
            hint=f"Link {model.name} to {what} ({where}).",
        )
    processor_class = _processor_class()
    if (folder / "preprocessor_config.json").is_file():
        processor = processor_class.from_pretrained(str(folder), local_files_only=True)
    else:
        # The published encoder folders ship no preprocessor: CLIP's own at the model's size.
        processor = processor_class(size=config.image_size, crop_size=config.image_size)
    encoder.to(pipe._execution_device).eval()
    return _Encoder(encoder, processor)


def _state_dict(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    from safetensors import safe_open

    parts: dict[str, dict[str, torch.Tensor]] = {"image_proj": {}, "ip_adapter": {}}
    with safe_open(str(path), framework="pt", device="cpu") as f:
        for key in f.keys():
            group, _, rest = key.partition(".")
            if group in parts:
                parts[group][rest] = f.get_tensor(key)
    return parts


# -- loading -------------------------------------------------------------------------------------


def _faceid_loras(unet: Any) -> list[str]:
    return [n for n in getattr(unet, "peft_config", {}) if n.startswith(FACEID_LORA_PREFIX)]


def _unload(pipe: Any, state: _State | None) -> None:
    """Take the adapters (and their FaceID LoRAs) out of the pipeline."""
    if state is not None:
        for hook in state.hooks:
            hook.remove()
        if pipe.unet.encoder_hid_proj is state.projection:
            pipe.unload_ip_adapter()
    stale = _faceid_loras(pipe.unet)
    if stale:
        with _quiet():
            pipe.unet.delete_adapters(stale)


def _faceid_plus_hook(state: _State, index: int, name: str):
    """Give FaceID Plus its CLIP patch features, repeated to the batch of the call."""

    def hook(module: Any, args: tuple) -> None:
        base = state.clip_embeds.get(index)
        if base is None:
            raise RuntimeError(f"{name}: adapter_embeds was not called for this shot")
        rows = args[0].shape[0]  # (batch x images, face width) as diffusers flattens them
        # `base` is (uncond, cond) or (cond,); the call repeats each half batch times in turn.
        module.clip_embeds = base.repeat_interleave(rows // base.shape[0], dim=0)

    return hook


def _load(
    pipe: Any, plans: list[tuple[AdapterUse, _Layout, _Encoder | None]], key: tuple
) -> _State:
    state_dicts = [_state_dict(Path(use.model.path)) for use, _, _ in plans]
    count = len(plans)
    with _quiet():
        pipe.load_ip_adapter(
            state_dicts, subfolder=[""] * count, weight_name=[""] * count, image_encoder_folder=None
        )
    unet = pipe.unet
    state = _State(key=key, adapters=[], projection=unet.encoder_hid_proj, encoders={})
    for index, (use, layout, encoder) in enumerate(plans):
        lora = f"{FACEID_LORA_PREFIX}{index}" if layout.has_lora else ""
        if lora and lora not in getattr(unet, "peft_config", {}):
            raise ModelMissingError(
                f"The LoRA that {use.model.name} carries could not be loaded.",
                hint="Install the peft package (pip install peft): FaceID adapters need it.",
            )
        state.adapters.append(_Loaded(use, layout, encoder, lora))
        if layout.variant == FACEID_PLUS:
            layer = unet.encoder_hid_proj.image_projection_layers[index]
            # The v2 files differ from v1 only in adding the face tokens back (no tensor says so).
            stem = f"{use.model.name} {Path(use.model.path).stem}".lower()
            layer.shortcut = "plusv2" in stem or "plus-v2" in stem
            hook = _faceid_plus_hook(state, index, use.model.name)
            state.hooks.append(layer.register_forward_pre_hook(hook))
    return state


def _activate_loras(pipe: Any, state: _State | None, loras: Sequence[LoraUse]) -> None:
    # The shot's LoRAs as apply_loras sets them (the same LoRA twice: weights added), then
    # the FaceID LoRAs at the weight they were trained with, off with their adapter.
    weights: dict[str, float] = {}
    for lora in loras:
        name = lora_adapter_name(lora.model)
        weights[name] = weights.get(name, 0.0) + float(lora.weight)
    for loaded in state.adapters if state else ():
        if loaded.lora:
            weights[loaded.lora] = 1.0 if loaded.use.scale > 0 else 0.0
    present = loaded_loras(pipe)
    missing = [name for name in weights if name not in present]
    if missing:
        raise RuntimeError(f"LoRAs {missing} are not loaded: apply_loras comes before adapters")
    # Loading a FaceID LoRA activates it alone, and deleting one activates what is left.
    if weights:
        pipe.enable_lora()
        pipe.set_adapters(list(weights), adapter_weights=list(weights.values()))
    elif present:
        pipe.disable_lora()


def load_adapters(pipe: Any, adapters: Sequence[AdapterUse], loras: Sequence[LoraUse]) -> None:
    """Load the shot's IP-Adapters with their encoders and scales; keep its LoRAs active.

    Adapters already loaded in the same order are kept (only their scales change); a different
    set replaces them. The LoRAs must already be loaded (pipelines.apply_loras).
    """
    unet = pipe.unet
    state: _State | None = _STATES.get(unet)
    key = tuple((a.model.sha256, a.model.path, a.model.encoder_path) for a in adapters)
    current = state is not None and state.key == key and unet.encoder_hid_proj is state.projection
    if not current:
        layouts = [_inspect(pipe, use) for use in adapters]
        encoders: dict[tuple[str, str], _Encoder] = {}
        old = state.encoders if state else {}
        plans = []
        for use, layout in zip(adapters, layouts, strict=True):
            encoder = None
            if NEEDS_ENCODER[layout.variant]:
                ekey = (use.model.encoder_path, use.model.encoder_sha256)
                if ekey not in encoders:
                    encoders[ekey] = old.get(ekey) or _load_encoder(pipe, use.model, layout)
                encoder = encoders[ekey]
            plans.append((use, layout, encoder))
        _unload(pipe, state)
        _STATES.pop(unet, None)
        state = None
        if plans:
            state = _load(pipe, plans, key)
            state.encoders = encoders
            _STATES[unet] = state
    if state is not None:
        pipe.set_ip_adapter_scale([float(a.scale) for a in adapters])
        # Scales may change while the set stays: keep each use's scale for the LoRA weights.
        for loaded, use in zip(state.adapters, adapters, strict=True):
            loaded.use = use
    _activate_loras(pipe, state, loras)


# -- embeddings ----------------------------------------------------------------------------------


def _face_tensor(loaded: _Loaded, face_embedding: Sequence[float]) -> torch.Tensor:
    name = loaded.use.model.name
    if not face_embedding:
        raise FaceEmbeddingMissingError(
            f"{name} needs the persona's face embedding, and her references have not been "
            "scanned with insightface.",
            hint="Scan the persona's references with the insightface engine, or choose an "
            "IP-Adapter that is not a FaceID one.",
        )
    if len(face_embedding) != loaded.layout.face_dim:
        engine = " (dlib's descriptor)" if len(face_embedding) == 128 else ""
        raise FaceEmbeddingMissingError(
            f"{name} reads a {loaded.layout.face_dim}-value face embedding, and the persona's "
            f"has {len(face_embedding)} values{engine}.",
            hint="Scan the persona's references with the insightface engine, whose embeddings "
            "FaceID adapters were trained on.",
        )
    face = torch.tensor([float(x) for x in face_embedding], dtype=torch.float32)
    # The adapters were trained on unit vectors; an average of several faces is shorter.
    norm = face.norm()
    return face / norm if norm > 0 else face


@torch.no_grad()
def _encode(encoder: _Encoder, images: Sequence[Any], patches: bool) -> dict[str, torch.Tensor]:
    """The references' mean embedding and mean patch features, and the blank image's features."""
    model = encoder.model
    pixels = encoder.processor([im.convert("RGB") for im in images], return_tensors="pt")
    pixels = pixels.pixel_values.to(device=model.device, dtype=model.dtype)
    count = pixels.shape[0]
    if patches:
        # diffusers' unconditional patch features: those of an all-zero (normalised) picture,
        # computed in the same call as the references'.
        pixels = torch.cat([pixels, torch.zeros_like(pixels[:1])])
    out = model(pixels, output_hidden_states=patches)
    result = {"embeds": out.image_embeds[:count].mean(dim=0)}
    if patches:
        hidden = out.hidden_states[-2]
        result["patches"] = hidden[:count].mean(dim=0)
        result["blank"] = hidden[count]
    return result


def adapter_embeds(
    pipe: Any,
    adapters: Sequence[AdapterUse],
    images: Sequence[Any],
    face_embedding: Sequence[float],
    do_cfg: bool,
) -> list[torch.Tensor]:
    """The `ip_adapter_image_embeds` of a shot: computed once from its references, for every frame.

    Each tensor is (2 if do_cfg else 1, 1, width) or (.., 1, tokens, width): unconditional half
    first, as the pipelines expect; they repeat it to the batch of each call. FaceID Plus also
    gets the references' patch features (through the projection layer, as diffusers does).
    """
    state: _State | None = _STATES.get(pipe.unet)
    key = tuple((a.model.sha256, a.model.path, a.model.encoder_path) for a in adapters)
    if not adapters:
        return []
    if state is None or state.key != key:
        raise RuntimeError("adapter_embeds needs the same adapters loaded by load_adapters")
    if not images and any(loaded.encoder for loaded in state.adapters):
        raise AdapterError(
            "The IP-Adapters were given no library references to read.",
            hint="Approve 3-5 references of the persona in the Library and render again.",
        )
    features: dict[int, dict[str, torch.Tensor]] = {}
    for loaded in state.adapters:
        if loaded.encoder is not None and id(loaded.encoder) not in features:
            patches = any(
                other.encoder is loaded.encoder and other.layout.reads_patches
                for other in state.adapters
            )
            features[id(loaded.encoder)] = _encode(loaded.encoder, images, patches)
    dtype, device = pipe.unet.dtype, pipe._execution_device
    result = []
    state.clip_embeds.clear()
    for index, loaded in enumerate(state.adapters):
        variant = loaded.layout.variant
        found = features.get(id(loaded.encoder), {})
        if variant in FACE_EMBEDDING:
            cond = _face_tensor(loaded, face_embedding)[None, None]
            uncond = torch.zeros_like(cond)
        elif variant == PLAIN:
            cond = found["embeds"][None, None]
            uncond = torch.zeros_like(cond)
        else:
            cond, uncond = found["patches"][None, None], found["blank"][None, None]
        if variant == FACEID_PLUS:
            clip = found["patches"][None, None]
            if do_cfg:
                clip = torch.cat([found["blank"][None, None], clip])
            state.clip_embeds[index] = clip.to(device=device, dtype=dtype)
        embeds = torch.cat([uncond, cond]) if do_cfg else cond
        result.append(embeds.to(device=device, dtype=dtype))
    return result
