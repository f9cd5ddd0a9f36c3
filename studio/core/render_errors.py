"""Errors of loading models and choosing where to render: each says what happened and what to do."""

from __future__ import annotations

from studio.core.errors import ModelMissingError, StudioError


class ModelLoadError(StudioError):
    """A model file or folder could not be loaded."""


class ModelFileMissingError(ModelLoadError, ModelMissingError):
    """A registered model's file or folder is not where it was registered."""


class CorruptModelError(ModelLoadError):
    """A model file is cut short or damaged (an interrupted download or copy)."""


class PickleModelError(ModelLoadError):
    """A model is stored as a pickle (.ckpt, .pt, .bin), which can run code when opened."""


class WrongFamilyError(ModelLoadError):
    """A model belongs to another family than the one it is used with (an SDXL LoRA on SD 1.5)."""


class DeviceError(StudioError):
    """The device or number format asked for is unknown or not available on this computer."""
