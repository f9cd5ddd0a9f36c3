"""Rendering frames of a persona with diffusers: device choice and model loading."""

from studio.engine.render.device import choose_device, free_memory
from studio.engine.render.pipelines import (
    apply_loras,
    config_folder,
    load_base,
    loaded_loras,
    pipeline_family,
    pipeline_for,
)

__all__ = [
    "apply_loras",
    "choose_device",
    "config_folder",
    "free_memory",
    "load_base",
    "loaded_loras",
    "pipeline_family",
    "pipeline_for",
]
