"""Loading the models artists have into diffusers pipelines: base models and LoRAs.

A base model is a diffusers folder (`model_index.json` and one subfolder per component) or a
single-file checkpoint in the original layout (A1111, ComfyUI, Civitai). A single file carries
weights only: it is read with the diffusers configuration of its family shipped in
`resources/model_configs/<family>/`, completed once per user with the CLIP tokenizer files of
`resources/clip_tokenizer/`, so nothing is fetched from the network.

Only safetensors are read. Every file is checked before diffusers sees it: a pickle is refused
unopened, a file cut short is named as such, a model of the other family is refused with both
families named. Callers keep the pipelines they load (the renderer caches them); the functions
here hold no state besides the LoRA adapters they load into a pipeline.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from studio.core.errors import ModelMissingError
from studio.core.models import (
    BASE,
    DREAMBOOTH,
    FAMILIES,
    FAMILY_NAMES,
    IMAGE_ENCODER,
    IP_ADAPTER,
    LORA,
    PICKLE_SUFFIXES,
    SAFETENSORS,
    SD15,
    SDXL,
    ModelRef,
)
from studio.core.render import IMG2IMG, INPAINT, MODES, TXT2IMG, LoraUse
from studio.core.render_errors import (
    CorruptModelError,
    ModelFileMissingError,
    ModelLoadError,
    PickleModelError,
    WrongFamilyError,
)
from studio.core.resources import resource_path

CONFIG_FOLDER = "model_configs"
TOKENIZER_FOLDER = "clip_tokenizer"
TOKENIZER_FILES = ("vocab.json", "merges.txt")
PIPELINE_CLASSES = {
    SD15: {
        TXT2IMG: "StableDiffusionPipeline",
        IMG2IMG: "StableDiffusionImg2ImgPipeline",
        INPAINT: "StableDiffusionInpaintPipeline",
    },
    SDXL: {
        TXT2IMG: "StableDiffusionXLPipeline",
        IMG2IMG: "StableDiffusionXLImg2ImgPipeline",
        INPAINT: "StableDiffusionXLInpaintPipeline",
    },
}
MODEL_COMPONENTS = ("unet", "vae", "text_encoder", "text_encoder_2")
MAX_HEADER = 100 * 1024 * 1024  # a safetensors header larger than this is not a real one
# Keys that tell which family an original-layout checkpoint belongs to.
SDXL_KEY = "conditioner.embedders.1.model.positional_embedding"
SDXL_REFINER_KEY = "conditioner.embedders.0.model.text_projection"
SD15_KEY = "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight"
SD2_KEY = "cond_stage_model.model.token_embedding.weight"
UNET_PREFIX = "model.diffusion_model."
UNET_IN_KEY = "model.diffusion_model.input_blocks.0.0.weight"
PICKLE_HINT = (
    "Pickle files (.ckpt, .pt, .bin) can run code when opened, so the studio never loads them: "
    "use the model's .safetensors version."
)
REDOWNLOAD_HINT = (
    "The download or copy was interrupted or the disk is damaged: fetch the file again."
)


# -- configuration folders ------------------------------------------------------------------------


def config_folder(family: str, config_root: str | Path | None = None) -> Path:
    """The complete diffusers config folder a single-file checkpoint of the family loads with.

    `config_root` holds one folder per family (as `resources/model_configs/` does); by default
    the shipped one. A folder whose tokenizers lack their vocabulary is completed with the
    shipped CLIP tokenizer files into a per-user cache, once per version of its files.
    """
    _check_family(family)
    if config_root is None:
        source = resource_path(f"{CONFIG_FOLDER}/{family}")
    else:
        source = Path(config_root) / family
    if not (source / "model_index.json").is_file():
        raise ModelMissingError(
            f"The {FAMILY_NAMES[family]} model configuration is missing from {source}.",
            hint="Reinstall Persona Studio: its resources folder is incomplete.",
        )
    missing = [name for name in _tokenizer_names(source) if not _has_tokenizer(source / name)]
    if not missing:
        return source
    vocab = resource_path(TOKENIZER_FOLDER)
    if not all((vocab / name).is_file() for name in TOKENIZER_FILES):
        raise ModelMissingError(
            f"The CLIP tokenizer files are missing from {vocab}.",
            hint="Reinstall Persona Studio: its resources folder is incomplete.",
        )
    digest = hashlib.sha256()
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(source)).encode() + b"\0" + file.read_bytes())
    for name in TOKENIZER_FILES:
        digest.update((vocab / name).read_bytes())
    dest = _cache_dir() / CONFIG_FOLDER / f"{family}-{digest.hexdigest()[:16]}"
    if (dest / "model_index.json").is_file():
        return dest
    building = dest.with_name(f"{dest.name}.{os.getpid()}.partial")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(building, ignore_errors=True)
        shutil.copytree(source, building)
        for name in missing:
            for file in TOKENIZER_FILES:
                shutil.copyfile(vocab / file, building / name / file)
        # Renamed into place whole, so a second process never sees a half-written folder.
        os.replace(building, dest)
    except OSError as exc:
        shutil.rmtree(building, ignore_errors=True)
        if not (dest / "model_index.json").is_file():  # else another process built it first
            raise ModelLoadError(
                f"The model configuration cannot be written to {dest.parent}: "
                f"{exc.strerror or exc}.",
                hint="Free some disk space, or make that folder writable.",
            ) from exc
    return dest


def _tokenizer_names(folder: Path) -> list[str]:
    index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    return [
        name
        for name, value in index.items()
        if isinstance(value, list) and len(value) == 2 and "Tokenizer" in str(value[1])
    ]


def _has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer.json").is_file() or all(
        (folder / name).is_file() for name in TOKENIZER_FILES
    )


def _cache_dir() -> Path:
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "persona-studio"


# -- checking files -------------------------------------------------------------------------------


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ModelLoadError(
            f"'{family}' is not a model family the studio renders with.",
            hint="Register the model as Stable Diffusion 1.5 (sd15) or Stable Diffusion XL (sdxl).",
        )


def _existing(ref: ModelRef) -> Path:
    path = Path(ref.path).expanduser()
    if not path.exists():
        raise ModelFileMissingError(
            f"The model '{ref.name}' is missing: nothing is at {path}.",
            hint="Reconnect the drive it is on, or register the model again where it is now.",
        )
    return path


def _looks_pickled(head: bytes) -> bool:
    # PyTorch's zip container, or a bare pickle stream (protocol 2-5).
    return head.startswith(b"PK\x03\x04") or (len(head) > 1 and head[0] == 0x80 and head[1] <= 5)


def safetensors_header(path: Path, name: str = "") -> dict[str, Any]:
    """The tensor table of a .safetensors file, after checking the file holds all it lists."""
    label = f"'{name}' ({path.name})" if name else path.name
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise PickleModelError(f"{label} is a pickle file.", hint=PICKLE_HINT)
    header: Any = None
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            length = int.from_bytes(head, "little") if len(head) == 8 else 0
            if 2 <= length <= min(size - 8, MAX_HEADER):
                header = json.loads(f.read(length))
    except OSError as exc:
        raise ModelLoadError(f"{label} cannot be read: {exc.strerror or exc}.") from exc
    except (UnicodeDecodeError, ValueError):
        header = None
    if not isinstance(header, dict):
        # Checked only once the file is known not to be safetensors: a safetensors header
        # length can begin with the same bytes as a pickle.
        if _looks_pickled(head):
            raise PickleModelError(
                f"{label} is a pickle file (a PyTorch .ckpt/.bin) named .safetensors.",
                hint=PICKLE_HINT,
            )
        raise CorruptModelError(
            f"{label} is not a safetensors file, or its start is damaged ({size:,} bytes).",
            hint=REDOWNLOAD_HINT,
        )
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    try:
        needed = max((int(v["data_offsets"][1]) for v in tensors.values()), default=0)
    except (TypeError, KeyError, IndexError, ValueError):
        raise CorruptModelError(
            f"{label} has a damaged table of tensors.", hint=REDOWNLOAD_HINT
        ) from None
    have = size - 8 - length
    if needed > have:
        raise CorruptModelError(
            f"{label} is cut short: it holds {have:,} of the {needed:,} bytes of weights it lists.",
            hint=REDOWNLOAD_HINT,
        )
    return tensors


def checkpoint_family(tensors: dict[str, Any]) -> str | None:
    """The family of an original-layout checkpoint from its tensor names (None: not a base)."""
    if SDXL_KEY in tensors:
        return SDXL
    if SD15_KEY in tensors:
        return SD15
    return None


def _check_checkpoint(path: Path, ref: ModelRef) -> dict[str, Any]:
    tensors = safetensors_header(path, ref.name)
    found = checkpoint_family(tensors)
    if found is None:
        if SDXL_REFINER_KEY in tensors:
            what = "an SDXL refiner, which renders only the last steps of a frame"
        elif SD2_KEY in tensors:
            what = "a Stable Diffusion 2 model"
        elif any("lora" in k for k in tensors):
            what = "a LoRA"
        elif not any(k.startswith(UNET_PREFIX) for k in tensors):
            what = "not a whole model (it has no UNet, so perhaps a VAE or a text encoder)"
        else:
            what = "a checkpoint without its text encoder"
        raise ModelLoadError(
            f"'{ref.name}' ({path.name}) is {what}, not a base model the studio renders with.",
            hint="Choose a Stable Diffusion 1.5 or SDXL checkpoint as the base model.",
        )
    if found != ref.family:
        raise WrongFamilyError(
            f"'{ref.name}' is a {FAMILY_NAMES[found]} checkpoint, but it is registered as "
            f"{FAMILY_NAMES.get(ref.family, ref.family)}.",
            hint=f"Register it again as {FAMILY_NAMES[found]}.",
        )
    shape = (tensors.get(UNET_IN_KEY) or {}).get("shape") or []
    if len(shape) > 1 and shape[1] != 4:
        raise ModelLoadError(
            f"'{ref.name}' is an inpainting model ({shape[1]} input channels); the studio renders "
            "with standard models and inpaints with them.",
            hint="Choose the standard version of this model as the base.",
        )
    return tensors


def _folder_family(folder: Path, ref: ModelRef) -> tuple[str, str | None]:
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        raise ModelLoadError(
            f"'{ref.name}' ({folder}) is not a diffusers model folder: it has no model_index.json.",
            hint="Choose the folder that holds model_index.json, or a .safetensors checkpoint.",
        )
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CorruptModelError(
            f"The model_index.json of '{ref.name}' is unreadable ({exc}).", hint=REDOWNLOAD_HINT
        ) from None
    class_name = str(index.get("_class_name", ""))
    found = SDXL if "XL" in class_name else SD15 if "StableDiffusion" in class_name else None
    if found is None:
        raise ModelLoadError(
            f"'{ref.name}' is a {class_name or 'diffusers'} model, not Stable Diffusion 1.5 or XL.",
            hint="Choose a Stable Diffusion 1.5 or SDXL model as the base.",
        )
    if found != ref.family:
        raise WrongFamilyError(
            f"'{ref.name}' is a {FAMILY_NAMES[found]} model, but it is registered as "
            f"{FAMILY_NAMES.get(ref.family, ref.family)}.",
            hint=f"Register it again as {FAMILY_NAMES[found]}.",
        )
    variants = set()
    for component in MODEL_COMPONENTS:
        entry = index.get(component)
        if not (isinstance(entry, list) and entry and entry[0]):
            continue
        weights = component_weights(folder / component, component, ref.name)
        if not any(".fp16." not in p.name for p in weights):
            variants.add("fp16")
    # Folders published with half-precision weights only name them with the fp16 variant.
    return found, ("fp16" if variants else None)


def component_weights(sub: Path, component: str, name: str) -> list[Path]:
    """A diffusers component folder's .safetensors files, each checked whole; refuses a
    component with no weights, or with pickled ones only."""
    files = [p for p in sub.iterdir() if p.is_file()] if sub.is_dir() else []
    weights = [p for p in files if p.name.endswith(".safetensors")]
    if not weights:
        pickles = [p.name for p in files if p.suffix.lower() in PICKLE_SUFFIXES]
        if pickles:
            raise PickleModelError(
                f"The {component} of '{name}' is stored as a pickle ({pickles[0]}).",
                hint=PICKLE_HINT,
            )
        raise ModelLoadError(
            f"The {component} of '{name}' has no weights in {sub}.",
            hint="The folder is incomplete: download or copy the model again.",
        )
    for file in weights:
        safetensors_header(file, f"{name} {component}")
    return weights


# -- base models ----------------------------------------------------------------------------------


def _pipeline_class(family: str, mode: str = TXT2IMG) -> Any:
    import diffusers

    if mode not in MODES:
        raise ModelLoadError(f"'{mode}' is not a render mode ({', '.join(MODES)}).")
    return getattr(diffusers, PIPELINE_CLASSES[family][mode])


def _family_extras(family: str) -> dict[str, Any]:
    # No safety checker or watermark: neither is part of the studio's pipelines. SDXL's VAE
    # overflows in float16; its config's force_upcast (true in the shipped config and in
    # SDXL's published one) makes diffusers decode in float32 and return to float16 after.
    if family == SD15:
        return {"safety_checker": None, "feature_extractor": None, "requires_safety_checker": False}
    return {"add_watermarker": False}


def load_base(ref: ModelRef, device: Any, dtype: Any, config_root: str | Path | None = None) -> Any:
    """Load a base (or DreamBooth) model as a txt2img pipeline on the device, in the dtype.

    `device` and `dtype` are torch's, as `choose_device` returns them. A diffusers folder loads
    with `from_pretrained`; a .safetensors checkpoint with `from_single_file` and the family's
    config folder (`config_root` points tests to tiny configs through this same path).
    Nothing is fetched from the network.
    """
    import torch

    if ref.kind not in (BASE, DREAMBOOTH):
        raise ModelLoadError(
            f"'{ref.name}' is {_kind_label(ref.kind)}, not a base model.",
            hint="Choose a Stable Diffusion 1.5 or SDXL checkpoint as the base model.",
        )
    _check_family(ref.family)
    path = _existing(ref)
    cls = _pipeline_class(ref.family)
    options: dict[str, Any] = {"dtype": dtype, "local_files_only": True}
    options.update(_family_extras(ref.family))
    if path.is_dir():
        variant = _folder_family(path, ref)[1]
        loader = cls.from_pretrained
        options.update(use_safetensors=True, variant=variant)
    elif path.suffix.lower() in PICKLE_SUFFIXES:
        raise PickleModelError(f"'{ref.name}' is a pickle file ({path.name}).", hint=PICKLE_HINT)
    elif path.suffix.lower() != ".safetensors" and ref.format != SAFETENSORS:
        raise ModelLoadError(
            f"'{ref.name}' ({path.name}) is not a format base models load from.",
            hint="Use a .safetensors checkpoint or a diffusers folder.",
        )
    else:
        _check_checkpoint(path, ref)
        loader = cls.from_single_file
        # A local config folder: diffusers reads every component's config from it and never
        # asks the hub (loaders/single_file.py takes the os.path.isdir branch).
        options["config"] = str(config_folder(ref.family, config_root))
    try:
        pipe = loader(str(path), **options)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise ModelLoadError(
            f"'{ref.name}' could not be loaded as a {FAMILY_NAMES[ref.family]} model: "
            f"{_first_line(exc)}",
            hint="Check that the file is a complete Stable Diffusion model of that family.",
        ) from exc
    pipe.to(torch.device(device))
    # The renderer reports progress through its own callback; diffusers' bars would only
    # clutter a worker's stderr.
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _kind_label(kind: str) -> str:
    labels = {
        BASE: "a base model",
        DREAMBOOTH: "a DreamBooth model",
        LORA: "a LoRA",
        IP_ADAPTER: "an IP-Adapter",
        IMAGE_ENCODER: "an image encoder",
    }
    return labels.get(kind, f"a {kind} model")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."


def pipeline_family(pipe: Any) -> str:
    """The family of a loaded pipeline (SDXL pipelines have a second text encoder)."""
    return SDXL if "text_encoder_2" in pipe.components else SD15


def pipeline_for(mode: str, pipe: Any) -> Any:
    """The pipeline for a render mode, sharing the loaded pipeline's components (no copies)."""
    cls = _pipeline_class(pipeline_family(pipe), mode)
    if type(pipe) is cls:
        return pipe
    # from_pipe casts the shared components to its dtype argument (float32 by default).
    derived = cls.from_pipe(pipe, dtype=pipe.dtype)
    derived.set_progress_bar_config(disable=True)
    return derived


# -- LoRAs ----------------------------------------------------------------------------------------


def lora_adapter_name(ref: ModelRef) -> str:
    """The adapter name a LoRA is loaded under: from its sha256, so one file loads once."""
    key = ref.sha256 or hashlib.sha256(str(Path(ref.path).expanduser()).encode()).hexdigest()
    return f"lora_{key[:16]}"


def loaded_loras(pipe: Any) -> set[str]:
    """Adapter names of the LoRAs loaded into the pipeline (active or not)."""
    return {name for names in pipe.get_list_adapters().values() for name in names}


def apply_loras(pipe: Any, loras: Sequence[LoraUse]) -> list[str]:
    """Make exactly these LoRAs active with their weights; load those not loaded yet.

    LoRAs loaded earlier and not asked for stay loaded but inactive, so switching between
    shots that use different LoRAs reads no file twice. Returns the active adapter names.
    """
    family = pipeline_family(pipe)
    loaded = loaded_loras(pipe)
    weights: dict[str, float] = {}
    for use in loras:
        name = lora_adapter_name(use.model)
        if name not in loaded:
            _load_lora(pipe, use.model, name, family)
            loaded.add(name)
        # The same LoRA listed twice acts once, with the weights added.
        weights[name] = weights.get(name, 0.0) + float(use.weight)
    if weights:
        pipe.enable_lora()
        pipe.set_adapters(list(weights), adapter_weights=list(weights.values()))
    elif loaded:
        pipe.disable_lora()
    return list(weights)


def _lora_file(ref: ModelRef) -> Path:
    path = _existing(ref)
    if path.is_file():
        return path
    files = sorted(path.glob("*.safetensors"))
    preferred = [p for p in files if p.name == "pytorch_lora_weights.safetensors"]
    if preferred or len(files) == 1:
        return (preferred or files)[0]
    if not files and any(p.suffix.lower() in PICKLE_SUFFIXES for p in path.iterdir()):
        raise PickleModelError(f"The LoRA '{ref.name}' is stored as a pickle.", hint=PICKLE_HINT)
    raise ModelLoadError(
        f"The LoRA folder of '{ref.name}' holds {len(files)} .safetensors files, not one.",
        hint="Register the LoRA's .safetensors file itself.",
    )


def _load_lora(pipe: Any, ref: ModelRef, name: str, family: str) -> None:
    from safetensors.torch import load_file

    if ref.kind != LORA:
        raise ModelLoadError(
            f"'{ref.name}' is {_kind_label(ref.kind)}, not a LoRA.",
            hint="Choose a LoRA file in the shot's LoRA list.",
        )
    if ref.family in FAMILIES and ref.family != family:
        raise WrongFamilyError(
            f"The LoRA '{ref.name}' is for {FAMILY_NAMES[ref.family]}; the base model is "
            f"{FAMILY_NAMES[family]}.",
            hint=f"Use a {FAMILY_NAMES[family]} LoRA, or a {FAMILY_NAMES[ref.family]} base model.",
        )
    path = _lora_file(ref)
    tensors = safetensors_header(path, ref.name)
    if not any("lora" in k or k.endswith(".alpha") for k in tensors):
        raise ModelLoadError(
            f"'{ref.name}' ({path.name}) holds no LoRA weights.",
            hint="Register it with the kind of model it is (a checkpoint is a base model).",
        )
    state = load_file(str(path))
    _check_lora_fits(pipe, state, ref, family)
    try:
        with warnings.catch_warnings():
            # peft warns on every adapter after the first; several LoRAs are the point here.
            warnings.filterwarnings("ignore", "Already found a `peft_config`", UserWarning)
            pipe.load_lora_weights(state, adapter_name=name)
    except (ValueError, RuntimeError, KeyError, TypeError) as exc:
        if name in loaded_loras(pipe):
            pipe.delete_adapters(name)
        raise ModelLoadError(
            f"The LoRA '{ref.name}' could not be loaded: {_first_line(exc)}",
            hint=f"Check that it is a complete {FAMILY_NAMES[family]} LoRA.",
        ) from exc


def _peft_keys(component: str, part: dict[str, Any], model: Any) -> dict[str, Any]:
    """A component's LoRA tensors under the names peft gives them (module.lora_A.weight)."""
    from diffusers.utils import (
        convert_state_dict_to_diffusers,
        convert_state_dict_to_peft,
        convert_unet_state_dict_to_peft,
    )

    if component == "unet":
        return part if any("lora_A" in k for k in part) else convert_unet_state_dict_to_peft(part)
    part = convert_state_dict_to_peft(convert_state_dict_to_diffusers(part))
    if not hasattr(model, "text_model"):  # transformers' flattened CLIPTextModel
        part = {k.removeprefix("text_model."): v for k, v in part.items()}
    return part


def _check_lora_fits(pipe: Any, state: dict[str, Any], ref: ModelRef, family: str) -> None:
    """Refuse a LoRA whose layers are not the pipeline's (another family, another model)."""
    try:
        converted, _alphas = type(pipe).lora_state_dict(dict(state), unet_config=pipe.unet.config)
    except (ValueError, KeyError, IndexError) as exc:
        raise ModelLoadError(
            f"'{ref.name}' is not a LoRA layout the studio reads: {_first_line(exc)}",
            hint="Use a LoRA saved by diffusers, kohya's trainer or A1111-compatible tools.",
        ) from exc
    layers: dict[str, str] = {}  # "component module": what is wrong with it ("" if it fits)
    for component in ("unet", "text_encoder", "text_encoder_2"):
        part = {
            k.removeprefix(component + "."): v
            for k, v in converted.items()
            if k.startswith(component + ".")
        }
        if not part:
            continue
        model = getattr(pipe, component, None)
        if model is None:
            layers[component] = "the base model has none"
            continue
        modules = dict(model.named_modules())
        for key, tensor in _peft_keys(component, part, model).items():
            for marker, axis, attrs in (
                (".lora_A.", 1, ("in_features", "in_channels")),
                (".lora_B.", 0, ("out_features", "out_channels")),
            ):
                if marker not in key or tensor.ndim < 2:
                    continue
                name = key.split(marker)[0]
                module = modules.get(name)
                size = next((getattr(module, a) for a in attrs if hasattr(module, a)), None)
                if module is None:
                    problem = "no such layer"
                elif size != tensor.shape[axis]:
                    problem = f"{tensor.shape[axis]} wide, the model's is {size}"
                else:
                    problem = ""
                layers[f"{component} {name}"] = layers.get(f"{component} {name}") or problem
    if not layers:
        raise ModelLoadError(
            f"'{ref.name}' holds no LoRA layers the studio can apply.",
            hint="Use a LoRA saved by diffusers, kohya's trainer or A1111-compatible tools.",
        )
    bad = {name: problem for name, problem in layers.items() if problem}
    if not bad:
        return
    # A layer of another width tells the families apart better than a missing one.
    first = next((n for n, p in bad.items() if "wide" in p), next(iter(bad)))
    other = SDXL if family == SD15 else SD15
    likely = any(k.startswith(("text_encoder_2.", "lora_te2_")) for k in state) == (other == SDXL)
    what = f"looks like a {FAMILY_NAMES[other]} LoRA" if likely else "does not fit the base model"
    raise WrongFamilyError(
        f"The LoRA '{ref.name}' {what}: {len(bad)} of its {len(layers)} layers do not match "
        f"{FAMILY_NAMES[family]} (first: {first}, {bad[first]}).",
        hint=f"Use a LoRA trained for {FAMILY_NAMES[family]} with this base model.",
    )
