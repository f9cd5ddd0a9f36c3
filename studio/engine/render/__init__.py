"""Rendering frames of a persona with diffusers: device choice, model loading, IP-Adapters, the
renderer (prompt encoding, the seed scheme, batching, memory fallbacks, progress and cancel)."""

from studio.engine.render.adapters import adapter_embeds, load_adapters
from studio.engine.render.device import choose_device, free_memory
from studio.engine.render.pipelines import (
    apply_loras,
    config_folder,
    load_base,
    loaded_loras,
    pipeline_family,
    pipeline_for,
)
from studio.engine.render.renderer import Renderer, StepProgress

__all__ = [
    "Renderer",
    "StepProgress",
    "adapter_embeds",
    "apply_loras",
    "choose_device",
    "config_folder",
    "free_memory",
    "load_adapters",
    "load_base",
    "loaded_loras",
    "pipeline_family",
    "pipeline_for",
]
