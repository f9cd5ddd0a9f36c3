"""`persona-studio shots add/set/show` and `export` as a script calls them."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from studio.__main__ import main
from studio.core.takes import ExportSpec
from studio.jobs import kinds
from studio.jobs.export_kinds import Export
from studio.project import models as model_rows
from studio.project import renders as render_rows
from studio.services import renders, shots
from studio.services.projects import new_project, open_project


@pytest.fixture(autouse=True)
def _export_kind():
    kinds.register(Export(), ExportSpec)


@pytest.fixture
def path(tmp_path):
    p = tmp_path / "film.pstudio"
    with new_project(p, "Ada") as project:
        for name, kind in (("Base", "base"), ("Ada LoRA", "lora"), ("Face", "ip-adapter")):
            model_rows.add_model(
                project,
                name=name,
                kind=kind,
                family="sd15",
                format="safetensors",
                path=f"/m/{name}.safetensors",
                sha256=name.ljust(64, "0"),
                size=1,
            )
    return p


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_add_set_and_show(capsys, path):
    code, out, err = run(
        capsys, "shots", "add", path, "Walk", "--persona", "Ada", "--action", "walks in rain",
        "--camera", "85mm, eye level", "--framing", "medium shot", "--frames", "12",
        "--size", "768x1024", "--steps", "30", "--guidance", "6.5", "--sampler", "Euler a",
        "--model", "base", "--lora", "Ada LoRA:0.8", "--ip-adapter", "face", "--references", "5",
        "--yaw", "-20", "--pitch", "5",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("Added the shot 'Walk' to render.\nWalk\n")
    for line in (
        "  action:      walks in rain",
        "  frames:      12 (0 rendered)",
        "  size:        768x1024",
        "  model:       Base",
        "  LoRAs:       Ada LoRA (weight 0.8)",
        "  IP-Adapters: Face (scale 0.6)",
        "  head pose:   yaw -20°, pitch 5°",
        "  seed offset: 0",
    ):
        assert line in out.splitlines()

    code, out, err = run(capsys, "shots", "set", path, "walk", "--steps", "40", "--no-lora")
    assert code == 0, err
    assert "  steps:       40" in out and "  LoRAs:       none" in out
    assert "  action:      walks in rain" in out  # what was not given stays

    assert run(capsys, "shots", "add", path, "Run", "--persona", "Ada")[0] == 0
    code, out, _ = run(capsys, "shots", "show", path, "Run", "--json")
    data = json.loads(out)
    assert data["shot"] == "Run" and data["personas"] == ["Ada"] and data["rendered"] == 0
    assert data["settings"]["seed_offset"] == 1000 and data["settings"]["frames"] == 8

    with open_project(path, read_only=True) as project:
        walk = renders.render_settings(project, "Walk")
        assert (walk.width, walk.height, walk.guidance, walk.ip_adapters) == (
            768,
            1024,
            6.5,
            (("Face", 0.6),),
        )
        assert [s.name for s in shots.list_shots(project)] == ["Walk", "Run"]


def test_errors_are_one_line_and_change_nothing(capsys, path):
    assert run(capsys, "shots", "add", path, "Walk", "--persona", "Ada")[0] == 0
    for args, words in (
        (("add", "Walk", "--persona", "Ada"), "already a shot called 'Walk'"),
        (("add", "Run", "--persona", "Bea"), "no persona 'Bea'"),
        (("add", "Run", "--persona", "Ada", "--model", "SDXL"), "(base models: Base)"),
        (("add", "Run", "--persona", "Ada", "--lora", "Face"), "'Face' is an IP-Adapter"),
        (("add", "Run", "--persona", "Ada", "--outfit", "Gown"), "outfit 'Gown'"),
        (("add", "Run", "--persona", "Ada", "--size", "500x500"), "500 px cannot be rendered"),
        (("set", "Walk", "--references", "9"), "3 to 5 references, not 9"),
        (("set", "Nope", "--steps", "3"), "no shot 'Nope'"),
        (("show", "Nope"), "no shot 'Nope'"),
    ):
        code, out, err = run(capsys, "shots", args[0], path, *args[1:])
        assert code == 1, (args, err)
        assert words in err and err.startswith("persona-studio: ") and err.count("\n") == 1
    code, out, err = run(capsys, "shots", "add", path, "Run", "--persona", "Ada", "--model", "x")
    assert "persona-studio models add" in err
    with open_project(path, read_only=True) as project:
        assert [s.name for s in shots.list_shots(project)] == ["Walk"]


def test_usage_errors_exit_2(capsys, path):
    assert run(capsys, "shots", "add", path, "Walk", "--persona", "Ada")[0] == 0
    code, _, err = run(capsys, "shots", "set", path, "Walk")
    assert code == 2 and "say what to change" in err
    code, _, err = run(capsys, "shots", "set", path, "Walk", "--lora", "Ada LoRA", "--no-lora")
    assert code == 2 and "not both" in err
    with pytest.raises(SystemExit) as bad:
        main(["shots", "add", str(path), "Run", "--persona", "Ada", "--size", "big"])
    assert bad.value.code == 2 and "'big' is not a size" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["shots", "add", str(path), "Run"])  # --persona is required
    capsys.readouterr()


def test_export_writes_numbered_pngs_with_parameters(capsys, path, tmp_path):
    assert run(capsys, "shots", "add", path, "Walk", "--persona", "Ada", "--frames", "3")[0] == 0
    with open_project(path) as project:
        shot = shots.get_shot(project, "Walk")
        for index in range(3):
            out = io.BytesIO()
            Image.new("RGB", (16, 16), (index * 60, 0, 0)).save(out, "PNG")
            render_rows.store_take(
                project,
                shot.id,
                index,
                out.getvalue(),
                {"seed": 40 + index, "steps": 20, "guidance": 6, "width": 16, "height": 16,
                 "prompt": "ada", "model_name": "Base", "model_sha": "f" * 64},
            )  # fmt: skip
    folder = tmp_path / "out"
    code, out, err = run(capsys, "export", path, "--shot", "walk", "-o", folder, "--frames", "2-3")
    assert code == 0, err
    assert out.strip() == f"Wrote 2 frames of Walk to {folder}"
    assert sorted(p.name for p in folder.iterdir()) == ["Walk_0002.png", "Walk_0003.png"]
    with Image.open(folder / "Walk_0003.png") as im:
        assert im.info["parameters"] == (
            "ada\nSteps: 20, CFG scale: 6, Seed: 42, Size: 16x16, Model hash: ffffffffff, "
            "Model: Base"
        )
        assert json.loads(im.info["persona-studio"])["frame"] == 3

    code, out, err = run(capsys, "export", path, "--shot", "Walk", "-o", folder, "--frames", "7")
    assert code == 1 and "outside the shot's 1-3" in err


def test_export_reads_a_project_the_window_holds(capsys, path, tmp_path, monkeypatch):
    from studio.core.errors import ProjectLockedError
    from studio.services import projects

    assert run(capsys, "shots", "add", path, "Walk", "--persona", "Ada", "--frames", "1")[0] == 0
    with open_project(path) as project:
        out = io.BytesIO()
        Image.new("RGB", (8, 8), (9, 9, 9)).save(out, "PNG")
        shot = shots.get_shot(project, "Walk")
        render_rows.store_take(project, shot.id, 0, out.getvalue(), {"seed": 5, "prompt": "ada"})
    real = projects.open_project

    def held(p, *, read_only=False):
        if not read_only:
            raise ProjectLockedError("film.pstudio is open in another Persona Studio.")
        return real(p, read_only=True)

    monkeypatch.setattr(projects, "open_project", held)
    code, out, err = run(capsys, "export", path, "--shot", "Walk", "-o", tmp_path / "x", "--json")
    assert code == 0, err
    assert json.loads(out)["files"] == ["Walk_0001.png"]
    with Image.open(tmp_path / "x" / "Walk_0001.png") as im:
        assert im.info["parameters"] == "ada\nSeed: 5"


def test_set_pins_references_by_id_start_or_file_name_and_no_pin_clears(capsys, path):
    from studio.services import library, personas

    with open_project(path) as project:
        persona = personas.get_persona(project, "Ada")
        refs = []
        for i, colour in enumerate(("red", "blue")):
            buf = io.BytesIO()
            Image.new("RGB", (64, 64), colour).save(buf, "PNG")
            refs.append(
                library.add_reference_bytes(
                    project, persona.id, buf.getvalue(), mime="image/png", file_name=f"r{i}.png",
                    source_path=f"/p/r{i}.png", width=64, height=64,
                )
            )  # fmt: skip
    assert run(capsys, "shots", "add", path, "Walk", "--persona", "Ada")[0] == 0
    code, out, err = run(
        capsys, "shots", "set", path, "Walk", "--pin", refs[1].id[:-1], "--pin", "r0.png"
    )
    assert code == 0, err
    with open_project(path) as project:
        pinned = renders.render_settings(project, "Walk").pinned_references
    assert pinned == (refs[1].id, refs[0].id)
    assert f"  pinned:      {refs[1].id[:10]}, {refs[0].id[:10]}" in out
    code, out, err = run(capsys, "shots", "set", path, "Walk", "--pin", "nope.png")
    assert code == 1 and "nope.png is not one of Ada's references" in err
    assert run(capsys, "shots", "set", path, "Walk", "--no-pin")[0] == 0
    with open_project(path) as project:
        assert renders.render_settings(project, "Walk").pinned_references == ()
