"""Shots made for rendering: settings checked against the persona and the registered models,
seed offsets, and a shot's takes exported as PNGs that the library's importer reads back."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from studio.core.errors import StudioError
from studio.core.persona import set_path
from studio.core.render import RenderSettings
from studio.core.shots import ImportedFrame
from studio.core.takes import ExportSpec
from studio.jobs import kinds
from studio.jobs.export_kinds import Export
from studio.jobs.library import import_references
from studio.jobs.runner import JobRunner
from studio.project import models as model_rows
from studio.project import renders as render_rows
from studio.project import shots as shot_rows
from studio.services import export, library, personas, renders


@pytest.fixture(autouse=True)
def _export_kind():
    kinds.register(Export(), ExportSpec)


def _register(project, name, kind, family="sd15", path=None, sha=None):
    return model_rows.add_model(
        project,
        name=name,
        kind=kind,
        family=family,
        format="safetensors",
        path=path or f"/models/{name}.safetensors",
        sha256=sha or hashlib.sha256(name.encode()).hexdigest(),
        size=1,
    ).id


@pytest.fixture
def ada(project):
    """Ada allows two lighting setups and has a red coat in her wardrobe."""
    record = personas.get_version(project, "Ada").record
    record = set_path(record, "lighting.allowed_setups", ["rembrandt", "loop"], create=True)
    coat = {"name": "Red coat", "garments": [{"item": "coat", "colour": "#b01c1c"}]}
    record = set_path(record, "wardrobe.outfits", [coat], create=True)
    personas.save_version(project, "Ada", record, "lighting and wardrobe")
    return personas.get_persona(project, "Ada")


def test_new_shots_get_seed_offsets_a_thousand_apart(project):
    first = renders.add_render_shot(project, "One", ["Ada"], RenderSettings())
    second = renders.add_render_shot(project, "Two", ["Ada"], RenderSettings(frames=1500))
    third = renders.add_render_shot(project, "Three", ["Ada"], RenderSettings())
    chosen = renders.add_render_shot(project, "Four", ["Ada"], RenderSettings(seed_offset=77))
    offsets = [renders.render_settings(project, s.id).seed_offset for s in (first, second, third)]
    assert offsets == [0, 1000, 3000]  # the 1,500-frame shot uses seeds up to 2,499
    assert renders.render_settings(project, chosen.id).seed_offset == 77
    assert first.source_kind == "render" and first.frame_count == 0


def test_lighting_and_outfit_are_checked_against_the_persona(project, ada):
    with pytest.raises(
        StudioError, match=r"does not allow neon lighting \(allowed: rembrandt, loop"
    ):
        renders.add_render_shot(project, "Club", ["Ada"], RenderSettings(lighting_setup="neon"))
    with pytest.raises(StudioError, match="not a lighting setup"):
        renders.add_render_shot(project, "Club", ["Ada"], RenderSettings(lighting_setup="disco"))
    with pytest.raises(StudioError, match="no outfit 'Gown'|No expected persona has an outfit"):
        renders.add_render_shot(project, "Club", ["Ada"], RenderSettings(), outfit="Gown")
    assert shot_rows.list_shots(project) == []

    shot = renders.add_render_shot(
        project, "Club", ["ada"], RenderSettings(lighting_setup="Loop"), outfit="red coat"
    )
    assert renders.render_settings(project, "club").lighting_setup == "loop"
    assert shot_rows.get_shot(project, "Club").outfit_for(ada.id) == "Red coat"
    assert shot.persona_ids == (ada.id,)


def test_models_must_be_registered_of_the_right_kind_and_family(project):
    base_id = _register(project, "Base 15", "base")
    _register(project, "Base XL", "base", "sdxl")
    _register(project, "Ada LoRA", "lora")
    _register(project, "XL LoRA", "lora", "sdxl")
    _register(project, "Face plus", "ip-adapter")

    def add(**settings):
        return renders.add_render_shot(project, "Shot", ["Ada"], RenderSettings(**settings))

    with pytest.raises(StudioError) as missing:
        add(model="Dreamshaper")
    assert "no model 'Dreamshaper'" in missing.value.message
    assert "(base models: Base 15, Base XL)" in missing.value.message
    assert "persona-studio models add" in missing.value.hint
    with pytest.raises(StudioError, match="'Ada LoRA' is a LoRA, not a base model"):
        add(model="Ada LoRA")
    with pytest.raises(StudioError, match=r"no LoRA 'Nope'.*\(LoRAs: Ada LoRA, XL LoRA\)"):
        add(model="Base 15", loras=(("Nope", 1.0),))
    with pytest.raises(StudioError, match="is for Stable Diffusion XL, but the shot renders"):
        add(model="Base 15", loras=(("XL LoRA", 1.0),))
    with pytest.raises(StudioError, match="'Ada LoRA' is a LoRA, not an IP-Adapter"):
        add(model="Base 15", ip_adapters=(("Ada LoRA", 0.5),))
    with pytest.raises(StudioError, match="LoRA weight 9.0"):
        add(model="Base 15", loras=(("Ada LoRA", 9.0),))
    with pytest.raises(StudioError, match="named twice"):
        add(loras=(("Ada LoRA", 1.0), ("ada lora", 0.5)))
    # With no base named, the first LoRA sets the family the others must share.
    with pytest.raises(StudioError, match="is for Stable Diffusion XL"):
        add(loras=(("Ada LoRA", 1.0), ("XL LoRA", 1.0)))
    assert shot_rows.list_shots(project) == []

    shot = add(model="base 15", loras=(("ada lora", 0.7),), ip_adapters=(("face PLUS", 0.4),))
    settings = renders.render_settings(project, shot.id)
    assert (settings.model, settings.loras, settings.ip_adapters) == (
        "Base 15",
        (("Ada LoRA", 0.7),),
        (("Face plus", 0.4),),
    )
    row = project.query("select model_id, frames from shot_render where shot_id = ?", (shot.id,))
    assert row == [{"model_id": base_id, "frames": 8}]


def test_the_personas_dreambooth_base_sets_the_family(project, ada):
    model_id = _register(project, "Ada DreamBooth", "dreambooth", "sdxl")
    _register(project, "Ada LoRA", "lora", "sd15")
    model_rows.link_persona(project, ada.id, model_id, "dreambooth")
    with pytest.raises(StudioError, match="is for Stable Diffusion 1.5, but the shot renders"):
        renders.add_render_shot(project, "Shot", ["Ada"], RenderSettings(loras=(("Ada LoRA", 1),)))


def test_set_changes_only_what_is_given(project, ada):
    _register(project, "Ada LoRA", "lora")
    shot = renders.add_render_shot(
        project,
        "Walk",
        ["Ada"],
        RenderSettings(action="walks", steps=30, loras=(("Ada LoRA", 0.8),)),
        outfit="Red coat",
    )
    settings = renders.set_render_settings(project, "walk", camera="85mm", guidance=7.5)
    assert settings == renders.render_settings(project, shot.id)
    assert (settings.action, settings.steps, settings.camera, settings.guidance) == (
        "walks",
        30,
        "85mm",
        7.5,
    )
    assert settings.loras == (("Ada LoRA", 0.8),) and settings.seed_offset == 0
    assert shot_rows.get_shot(project, "Walk").outfit_for(ada.id) == "Red coat"

    renders.set_render_settings(project, "Walk", loras=(), outfit=None)
    assert renders.render_settings(project, "Walk").loras == ()
    assert shot_rows.get_shot(project, "Walk").outfit_for(ada.id) is None

    before = renders.render_settings(project, "Walk")
    with pytest.raises(StudioError, match="outside 1-200"):
        renders.set_render_settings(project, "Walk", steps=0)
    with pytest.raises(StudioError, match="does not allow split lighting"):
        renders.set_render_settings(project, "Walk", lighting_setup="split", steps=12)
    assert renders.render_settings(project, "Walk") == before
    with pytest.raises(TypeError, match="not a render setting: colour"):
        renders.set_render_settings(project, "Walk", colour="red")


def test_names_personas_and_footage_shots(project):
    renders.add_render_shot(project, "Walk", ["Ada"], RenderSettings())
    with pytest.raises(StudioError, match="already a shot called 'Walk'"):
        renders.add_render_shot(project, "walk", ["Ada"], RenderSettings())
    with pytest.raises(StudioError, match="needs a persona"):
        renders.add_render_shot(project, "Run", [], RenderSettings())
    with pytest.raises(StudioError, match="no persona 'Bea'"):
        renders.add_render_shot(project, "Run", ["Bea"], RenderSettings())
    shot_rows.add_shot(project, "Footage", [], [])
    with pytest.raises(StudioError, match="made from footage, so it has no render settings"):
        renders.render_settings(project, "Footage")
    with pytest.raises(StudioError, match="no shot 'Nope'"):
        renders.set_render_settings(project, "Nope", steps=3)


def _picture(colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "PNG")
    return out.getvalue()


def _lora_file(path) -> str:
    from safetensors.numpy import save_file

    save_file({"lora_up.weight": np.arange(16, dtype=np.float32).reshape(4, 4)}, str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_exported_take_is_read_back_by_the_importer(project, tmp_path):
    lora_sha = _lora_file(tmp_path / "ada.safetensors")
    _register(project, "Ada LoRA", "lora", path=str(tmp_path / "ada.safetensors"), sha=lora_sha)
    shot = renders.add_render_shot(project, "Walk", ["Ada"], RenderSettings(frames=3))
    for index in (0, 2):
        render_rows.store_take(
            project,
            shot.id,
            index,
            _picture((200, 40 * index, 30)),
            {
                "seed": 1000 + index,
                "width": 64,
                "height": 48,
                "steps": 20,
                "guidance": 6.0,
                "sampler": "EulerAncestralDiscreteScheduler",
                "prompt": "ada walking, rain",
                "negative": "blurry",
                "model_sha": "9" * 64,
                "model_name": "Base 15",
                "loras": [{"name": "Ada LoRA", "sha256": lora_sha, "weight": 0.8}],
            },
        )

    spec = export.plan_export(project, "walk", tmp_path / "out")
    assert [f.file_name for f in spec.frames] == ["Walk_0001.png", "Walk_0003.png"]
    assert spec.missing == (1,)
    job = JobRunner(project).run(spec)
    assert job.state == "done"
    assert (
        job.message == f"Wrote 2 frames of Walk to {tmp_path / 'out'}; 1 frame not rendered yet (2)"
    )

    exported = tmp_path / "out" / "Walk_0003.png"
    report = import_references(project, "Ada", [exported])
    assert report.imported
    (ref,) = library.list_references(project)
    generation = ref.meta["generation"]
    assert generation["generator"] == "Persona Studio"
    settings = generation["parameters"]["settings"]
    assert settings["Seed"] == "1002" and settings["Sampler"] == "Euler a"
    assert settings["Model hash"] == "9999999999" and settings["Size"] == "64x48"
    tensors = hashlib.sha256(_tensor_bytes(tmp_path)).hexdigest()
    assert settings["Lora hashes"] == f"Ada LoRA: {tensors[:12]}"
    assert generation["parameters"]["prompt"] == "ada walking, rain, <lora:Ada LoRA:0.8>"
    assert generation["parameters"]["negative_prompt"] == "blurry"
    record = generation["persona_studio"]
    take = render_rows.current_takes(project, shot.id)[2]
    assert (record["take"], record["shot"], record["frame"]) == (take.id, "Walk", 3)
    assert record["provenance"] == take.provenance
    # The exported file holds the rendered picture itself.
    assert library.read_blob(project, ref.blob_sha) == exported.read_bytes()
    assert np.array_equal(
        np.asarray(Image.open(exported)),
        np.asarray(Image.open(io.BytesIO(library.read_blob(project, take.blob_sha)))),
    )


def _tensor_bytes(tmp_path) -> bytes:
    data = (tmp_path / "ada.safetensors").read_bytes()
    return data[8 + int.from_bytes(data[:8], "little") :]


def test_footage_exports_as_plain_pngs_and_frames_can_be_chosen(project, tmp_path):
    jpeg = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 10)).save(jpeg, "JPEG")
    frames = [ImportedFrame(i, i, i / 24, jpeg.getvalue(), "image/jpeg", 40, 30) for i in range(5)]
    shot_rows.add_shot(project, "Set visit", [], frames, source_kind="images")
    spec = export.plan_export(project, "Set visit", tmp_path / "seq", "2-3,5")
    assert [f.file_name for f in spec.frames] == [
        "Set_visit_0002.png",
        "Set_visit_0003.png",
        "Set_visit_0005.png",
    ]
    assert JobRunner(project).run(spec).state == "done"
    written = sorted(p.name for p in (tmp_path / "seq").iterdir())
    assert written == [f.file_name for f in spec.frames]
    with Image.open(tmp_path / "seq" / "Set_visit_0002.png") as im:
        assert im.format == "PNG" and im.size == (40, 30)
        assert "parameters" not in im.info and "persona-studio" not in im.info

    with pytest.raises(StudioError, match="outside the shot's 1-5"):
        export.plan_export(project, "Set visit", tmp_path / "seq", "4-9")
    (tmp_path / "file").write_text("x")
    with pytest.raises(StudioError, match="is a file, not a folder"):
        export.plan_export(project, "Set visit", tmp_path / "file")
    renders.add_render_shot(project, "Unrendered", ["Ada"], RenderSettings())
    with pytest.raises(StudioError, match="has no frames to export yet"):
        export.plan_export(project, "Unrendered", tmp_path / "none")


def test_an_export_spec_survives_the_job_queue(project, tmp_path):
    shot = renders.add_render_shot(project, "Walk", ["Ada"], RenderSettings(frames=2))
    render_rows.store_take(project, shot.id, 0, _picture((1, 2, 3)), {"seed": 4, "prompt": "x"})
    spec = export.plan_export(project, "Walk", tmp_path)
    again = ExportSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
