"""Render settings as the window offers them: the sampler names are the renderer's."""

from __future__ import annotations

from studio.core.render import SAMPLER_NAMES


def test_sampler_names_are_the_renderers_in_its_order():
    from studio.engine.render import renderer

    assert SAMPLER_NAMES == tuple(renderer.SAMPLERS)


def test_an_unknown_sampler_is_refused_naming_the_known_ones():
    import pytest

    from studio.core.errors import StudioError
    from studio.core.render import RenderSettings, check_settings

    check_settings(RenderSettings(sampler="euler-a"))
    with pytest.raises(StudioError, match="dpmpp-2m-karras"):
        check_settings(RenderSettings(sampler="k_lms"))


def test_samplers_as_artists_write_them_are_the_studios_names():
    from studio.core.render import sampler_name

    assert sampler_name("Euler a") == "euler-a"
    assert sampler_name("DPM++ 2M Karras") == "dpmpp-2m-karras"
    assert sampler_name("dpmpp_2m") == "dpmpp-2m"
    assert sampler_name("UniPC") == "unipc" and sampler_name("") == ""
    assert sampler_name("k_lms") == "k_lms"
