"""Errors an IP-Adapter can raise: a damaged file, the wrong family, no image encoder, no face."""

from __future__ import annotations

from studio.core.errors import ModelMissingError, StudioError


class AdapterError(StudioError):
    """An IP-Adapter cannot feed the persona's references to this render."""


class AdapterFileError(AdapterError):
    """An IP-Adapter's file is truncated, pickled, or holds something other than an IP-Adapter."""


class AdapterFamilyError(AdapterError):
    """An IP-Adapter made for another model family (SD 1.5 vs SDXL) than the shot's base model."""


class EncoderMissingError(AdapterError, ModelMissingError):
    """An IP-Adapter's CLIP image encoder is not linked, not on disk, or not the one it reads."""


class FaceEmbeddingMissingError(AdapterError):
    """A FaceID adapter has no face embedding it can read (the references were not scanned)."""
