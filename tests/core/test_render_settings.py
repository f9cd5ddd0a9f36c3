"""Render settings as the window offers them: the sampler names are the renderer's."""

from __future__ import annotations

from studio.core.render import SAMPLER_NAMES


def test_sampler_names_are_the_renderers_in_its_order():
    from studio.engine.render import renderer

    assert SAMPLER_NAMES == tuple(renderer.SAMPLERS)
