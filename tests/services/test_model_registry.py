"""Registering models in place: a job that detects, hashes once (a cache keyed by path, size and
mtime) and commits each model; listing with presence; removal refused while shots render with
a model, and undone; personas' LoRAs and DreamBooth models; IP-Adapters and their encoders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from studio.core import models as m
from studio.core.errors import NotFoundError, StudioError
from studio.core.model_specs import ModelRegisterSpec
from studio.core.render import RenderSettings
from studio.engine import model_files
from studio.jobs import model_kinds
from studio.jobs.runner import JobRunner
from studio.services import models
from studio.services import personas as persona_service
from tests.fixtures.model_files import (
    VIT_BIGG,
    VIT_H,
    checkpoint_shapes,
    ip_adapter_shapes,
    lora_shapes,
    write_encoder,
    write_pipeline,
    write_safetensors,
)


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """Every file the registration reads to hash, in order."""
    seen: list[str] = []
    real = model_files.hash_file
    monkeypatch.setattr(
        model_files,
        "hash_file",
        lambda path, *a, **k: seen.append(str(path)) or real(path, *a, **k),
    )
    return seen


def _register(project, paths, **kw):
    job = JobRunner(project).run(models.plan_register(project, [str(p) for p in paths], **kw))
    return job, models.registration_report(project, job.id)


def _lora(tmp_path: Path, name: str = "ada_xl", family: str = m.SDXL) -> Path:
    return write_safetensors(
        tmp_path / f"{name}.safetensors", lora_shapes(family, m.KOHYA), fill=name.encode()
    )


def test_a_lora_is_registered_in_place_hashed_and_linked_to_its_persona(project, tmp_path):
    path = _lora(tmp_path)
    job, report = _register(project, [path], persona="Ada", weight=0.8)
    assert job.state == "done"
    assert job.message == "Registered ada_xl: SDXL LoRA (kohya layout); Ada uses it at weight 0.8"
    record = models.get_model(project, "ada_xl")
    assert (record.kind, record.family, record.format) == (m.LORA, m.SDXL, m.SAFETENSORS)
    assert record.path == str(path) and record.size == path.stat().st_size
    assert record.sha256 == model_files.hash_model(path).sha256
    assert record.source == "file" and record.meta["layout"] == m.KOHYA
    ada = persona_service.get_persona(project, "Ada")
    assert [(r.name, role, w) for r, role, w in models.persona_models(project, ada.id)] == [
        ("ada_xl", m.LORA, 0.8)
    ]
    (status,) = models.list_models(project)
    assert status.present and status.users() == "Ada (LoRA 0.8)"
    assert report.hashed == 1 and report.cached == 0


def test_a_file_is_hashed_once_and_again_only_when_it_changes(project, tmp_path, reads):
    path = _lora(tmp_path)
    _register(project, [path])
    assert reads == [str(path)]
    models.remove_model(project, "ada_xl")
    _, again = _register(project, [path])
    assert reads == [str(path)] and (again.hashed, again.cached) == (0, 1)
    models.remove_model(project, "ada_xl")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
    _, touched = _register(project, [path])
    assert reads == [str(path), str(path)] and (touched.hashed, touched.cached) == (1, 0)


def test_a_folder_model_hashes_its_weights_and_lists_them(project, tmp_path, reads):
    pipe = write_pipeline(tmp_path / "sd15", m.SD15)
    job, report = _register(project, [pipe], name="Base 1.5")
    assert len(reads) == 3 == report.hashed  # unet, vae, text_encoder
    record = models.get_model(project, "base 1.5")
    assert (record.kind, record.family, record.format) == (m.BASE, m.SD15, m.DIFFUSERS)
    assert record.sha256 == model_files.hash_model(pipe).sha256
    assert [f[0] for f in record.meta["files"]] == model_files.weight_files(pipe)


def test_the_same_weights_at_another_path_are_not_registered_twice(project, tmp_path):
    path = _lora(tmp_path)
    _register(project, [path])
    copy = tmp_path / "copy" / "ada_copy.safetensors"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    job, report = _register(project, [copy])
    assert report.duplicates == ((str(copy), "ada_xl"),)
    assert [r.name for r in models.list_records(project)] == ["ada_xl"]


def test_a_refused_model_fails_its_job_with_the_reason(project, tmp_path):
    sd2 = write_safetensors(tmp_path / "v2.safetensors", checkpoint_shapes("sd2"))
    job, report = _register(project, [sd2])
    assert job.state == "failed"
    assert "v2: a Stable Diffusion 2.x model" in job.error
    assert report.refused[0][0] == str(sd2)
    assert models.list_records(project) == []


def test_what_the_user_says_is_checked_against_the_weights(project, tmp_path):
    path = _lora(tmp_path)
    job, _ = _register(project, [path], kind="base")
    assert job.state == "failed" and "is an SDXL LoRA (kohya layout)" in job.error
    with pytest.raises(StudioError, match="'sd3' is not a model family"):
        models.plan_register(project, [str(path)], family="sd3")
    with pytest.raises(StudioError, match="outside -4..4"):
        models.plan_register(project, [str(path)], persona="Ada", weight=9)
    with pytest.raises(NotFoundError, match="no persona 'Bea'"):
        models.plan_register(project, [str(path)], persona="Bea")


def test_paths_that_cannot_be_registered_are_refused_at_once(project, tmp_path):
    ckpt = tmp_path / "v1-5.ckpt"
    ckpt.write_bytes(b"\x80\x02")
    with pytest.raises(m.PickleRefusedError, match="v1-5.ckpt is a pickle file"):
        models.plan_register(project, [str(ckpt)])
    with pytest.raises(m.ModelFileError, match="does not exist"):
        models.plan_register(project, [str(tmp_path / "gone.safetensors")])
    path = _lora(tmp_path)
    _register(project, [path])
    with pytest.raises(m.ModelFileError, match="registered already, as 'ada_xl'") as again:
        models.plan_register(project, [str(path)])
    assert "models link" in again.value.hint


def test_a_base_model_given_to_a_persona_becomes_her_dreambooth_model(project, tmp_path):
    first = write_safetensors(tmp_path / "ada_db.safetensors", checkpoint_shapes(m.SD15))
    second = write_safetensors(
        tmp_path / "ada_db2.safetensors", checkpoint_shapes(m.SD15), fill=b"v2"
    )
    job, _ = _register(project, [first], persona="Ada")
    assert models.get_model(project, "ada_db").kind == m.DREAMBOOTH
    assert job.message == (
        "Registered ada_db: SD 1.5 DreamBooth model (single-file checkpoint);"
        " Ada's DreamBooth model"
    )
    job, report = _register(project, [second], kind="dreambooth", persona="Ada")
    assert job.message.endswith("; Ada's DreamBooth model instead of ada_db")
    ada = persona_service.get_persona(project, "Ada")
    own = [(r.name, role) for r, role, _ in models.persona_models(project, ada.id)]
    assert own == [("ada_db2", m.DREAMBOOTH)]


def test_link_and_unlink_a_persona_s_models(project, tmp_path):
    _register(project, [_lora(tmp_path)])
    notes = models.link_persona_model(project, "Ada", "ADA_XL", 0.6)
    assert notes == ["Ada uses it at weight 0.6"]
    assert models.model_status(project, "ada_xl").users() == "Ada (LoRA 0.6)"
    models.unlink_persona_model(project, "Ada", "ada_xl")
    assert models.model_status(project, "ada_xl").users() == ""
    with pytest.raises(StudioError, match="Ada does not use ada_xl"):
        models.unlink_persona_model(project, "Ada", "ada_xl")


def test_an_ip_adapter_meets_its_image_encoder_in_either_order(project, tmp_path):
    adapter = write_safetensors(
        tmp_path / "ip-adapter_sd15.safetensors", ip_adapter_shapes(m.PLAIN, m.SD15)
    )
    bigg = write_encoder(tmp_path / "sdxl_models" / "image_encoder", VIT_BIGG)
    job, _ = _register(project, [adapter])
    assert "no image encoder is registered for it yet" in job.message
    _register(project, [bigg], name="bigG")  # does not fit: the adapter reads ViT-H embeddings
    assert models.model_status(project, "ip-adapter_sd15").encoder == ""
    vit_h = write_encoder(tmp_path / "models" / "image_encoder", VIT_H)
    job, _ = _register(project, [vit_h], name="ViT-H")
    assert "now the image encoder of ip-adapter_sd15" in job.message
    assert models.model_status(project, "ip-adapter_sd15").encoder == "ViT-H"
    with pytest.raises(m.ModelFileError, match="trained on embeddings 1024 wide"):
        models.link_encoder(project, "ip-adapter_sd15", "bigG")
    plus = write_safetensors(
        tmp_path / "ip-adapter-plus_sdxl_vit-h.safetensors", ip_adapter_shapes(m.PLUS, m.SDXL)
    )
    job, _ = _register(project, [plus], encoder=str(vit_h))
    assert models.model_status(project, "ip-adapter-plus_sdxl_vit-h").encoder == "ViT-H"


def test_an_encoder_path_given_with_an_adapter_is_registered_first(project, tmp_path):
    adapter = write_safetensors(tmp_path / "ip.safetensors", ip_adapter_shapes(m.FULL_FACE, m.SD15))
    encoder = write_encoder(tmp_path / "clip" / "image_encoder")
    spec = models.plan_register(project, [str(adapter)], encoder=str(encoder))
    assert [i.path for i in spec.items] == [str(encoder), str(adapter)]
    job = JobRunner(project).run(spec)
    assert job.state == "done"
    assert models.model_status(project, "ip").encoder == "clip/image_encoder"


def test_presence_says_what_moved_or_changed_and_what_to_do(project, tmp_path):
    path = _lora(tmp_path)
    pipe = write_pipeline(tmp_path / "pipe", m.SD15)
    _register(project, [path, pipe])
    assert all(s.present for s in models.list_models(project))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed = models.model_status(project, "ada_xl")
    assert changed.state == models.CHANGED and "changed since it was registered" in changed.problem
    assert "register it again" in changed.hint
    path.unlink()
    missing = models.model_status(project, "ada_xl")
    assert missing.state == models.MISSING and "is not there any more" in missing.problem
    assert "models remove" in missing.hint
    (pipe / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    gone = models.model_status(project, "pipe")
    assert (
        gone.state == models.MISSING and "vae/diffusion_pytorch_model.safetensors" in gone.problem
    )


def test_a_model_a_shot_renders_with_cannot_be_removed(project, tmp_path):
    from studio.services import renders

    base = write_safetensors(tmp_path / "base15.safetensors", checkpoint_shapes(m.SD15))
    _register(project, [base, _lora(tmp_path, "ada15", m.SD15)])
    renders.add_render_shot(project, "Cafe", ["Ada"], RenderSettings(model="base15"))
    renders.add_render_shot(
        project, "Street", ["Ada"], RenderSettings(model="base15", loras=(("ada15", 0.7),))
    )
    with pytest.raises(StudioError) as used:
        models.remove_model(project, "base15")
    assert used.value.message == "base15 is used by the render settings of 2 shots: Cafe, Street."
    assert "another model for those shots" in used.value.hint
    with pytest.raises(StudioError, match="1 shot: Street"):
        models.remove_model(project, "ada15")


def test_a_removal_is_undone_with_its_links(project, tmp_path):
    adapter = write_safetensors(tmp_path / "ip.safetensors", ip_adapter_shapes(m.PLAIN, m.SD15))
    encoder = write_encoder(tmp_path / "image_encoder")
    _register(project, [encoder], name="ViT-H")
    _register(project, [adapter])
    _register(project, [_lora(tmp_path)], persona="Ada", weight=0.5)
    assert models.model_status(project, "ip").encoder == "ViT-H"
    removed = models.remove_model(project, "vit-h")
    assert removed.notes == ("ip has no image encoder now",)
    assert models.model_status(project, "ip").encoder == ""
    models.restore_model(project, removed)
    assert models.model_status(project, "ip").encoder == "ViT-H"
    lora = models.remove_model(project, "ada_xl")
    assert lora.notes == ("Ada no longer uses it",)
    restored = models.restore_model(project, lora)
    assert restored.id == lora.record.id
    assert models.model_status(project, "ada_xl").users() == "Ada (LoRA 0.5)"


def test_the_register_kind_runs_unit_by_unit(project, tmp_path):
    """The kind's units, work and commit, called as the runner calls them."""
    from studio.core.jobs import CancelToken
    from studio.jobs.base import WorkContext
    from studio.services import jobs as job_service

    paths = [_lora(tmp_path, "a"), _lora(tmp_path, "b")]
    spec = models.plan_register(project, [str(p) for p in paths])
    assert isinstance(spec, ModelRegisterSpec) and spec.title == "Register 2 models"
    kind = model_kinds.ModelRegister()
    assert kind.units(spec) == [str(p) for p in paths]
    job = job_service.enqueue(project, spec, 2)
    ctx = WorkContext(lambda s: b"", lambda s: Path(), CancelToken())
    results = list(kind.work(spec, kind.units(spec), ctx))
    assert [r["description"] for _, r in results] == ["SDXL LoRA (kohya layout)"] * 2
    for done, (unit, result) in enumerate(results, 1):
        kind.commit(project, job.id, spec, unit, result, done)
    assert (
        kind.finish(project, job.id, spec)
        == "Registered 2 models; 2 files hashed, 0 from the cache"
    )
    assert sorted(r.name for r in models.list_records(project)) == ["a", "b"]


def test_a_scan_plans_what_is_new_and_says_what_it_leaves(project, tmp_path):
    root = tmp_path / "ComfyUI" / "models"
    _lora(root / "loras")
    write_safetensors(root / "checkpoints" / "xl.safetensors", checkpoint_shapes(m.SDXL))
    write_safetensors(root / "checkpoints" / "v2.safetensors", checkpoint_shapes("sd2"))
    _register(project, [root / "loras" / "ada_xl.safetensors"])
    plan = model_kinds.scan_folder(project, str(tmp_path / "ComfyUI"))
    assert [i.path for i in plan.spec.items] == [str(root / "checkpoints" / "xl.safetensors")]
    assert plan.spec.items[0].source == "comfyui"
    lines = "\n".join(plan.lines())
    assert "registered already" in lines and "Stable Diffusion 2.x" in lines
    JobRunner(project).run(plan.spec)
    assert models.get_model(project, "xl").source == "comfyui"


def test_a_conversion_job_registers_the_converted_file(project, tmp_path):
    import torch

    src = tmp_path / "ada.pt"
    shapes = lora_shapes(m.SD15, m.KOHYA, rank=2)
    torch.save({k: torch.zeros(s) for k, s in shapes.items()}, src)
    spec = models.plan_convert(project, str(src), persona="Ada", weight=0.9)
    assert spec.dest == str(tmp_path / "ada.safetensors")
    job = JobRunner(project).run(spec)
    assert job.state == "done", job.error
    record = models.get_model(project, "ada")
    assert record.path == spec.dest and record.kind == m.LORA and record.family == m.SD15
    with pytest.raises(m.ModelFileError, match="already exists"):
        models.plan_convert(project, str(src))
    with pytest.raises(m.ModelFileError, match="not a pickle file"):
        models.plan_convert(project, spec.dest)


test_a_conversion_job_registers_the_converted_file = pytest.mark.slow(
    test_a_conversion_job_registers_the_converted_file
)


def test_a_hub_download_is_planned_only_for_named_safetensors(project):
    spec = models.plan_hub_download(
        project, "h94/IP-Adapter", ["models/ip-adapter_sd15.safetensors"]
    )
    assert spec.title == "Download h94/IP-Adapter models/ip-adapter_sd15.safetensors"
    with pytest.raises(m.PickleRefusedError):
        models.plan_hub_download(project, "h94/IP-Adapter", ["models/ip-adapter_sd15.bin"])
    with pytest.raises(StudioError, match="not a Hugging Face repository id"):
        models.plan_hub_download(project, "ip-adapter", ["x.safetensors"])
