"""`persona-studio models ...`: register, list, scan, link, remove, convert and download models
from a shell, as a pipeline script would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.__main__ import main
from studio.core import models as m
from tests.fixtures.model_files import (
    VIT_H,
    checkpoint_shapes,
    ip_adapter_shapes,
    lora_shapes,
    write_encoder,
    write_safetensors,
)


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def project_file(tmp_path, capsys) -> Path:
    path = tmp_path / "cast.pstudio"
    assert run(capsys, "new", path, "--persona", "Ada")[0] == 0
    return path


def _lora(folder: Path, name: str = "ada_xl") -> Path:
    return write_safetensors(
        folder / f"{name}.safetensors", lora_shapes(m.SDXL, m.KOHYA), fill=name.encode()
    )


def test_add_registers_says_what_it_is_and_links_the_persona(capsys, project_file, tmp_path):
    lora = _lora(tmp_path)
    code, out, err = run(
        capsys, "models", "add", project_file, lora, "--persona", "Ada", "--weight", "0.7"
    )
    assert code == 0
    assert out.splitlines() == [
        "Registered ada_xl: SDXL LoRA (kohya layout); Ada uses it at weight 0.7",
        "Registered 1 model; 1 file hashed, 0 from the cache",
    ]
    assert "Registering: Hashing ada_xl:" in err
    code, out, _ = run(capsys, "models", "add", project_file, lora)
    assert code == 0 and out.strip() == f"{lora} is registered already, as 'ada_xl'."


def test_list_shows_each_model_and_json_has_everything(capsys, project_file, tmp_path):
    run(capsys, "models", "add", project_file, _lora(tmp_path), "--persona", "Ada")
    code, out, _ = run(capsys, "models", "list", project_file)
    assert code == 0
    (line,) = out.splitlines()
    assert line.startswith("ada_xl  SDXL LoRA (kohya layout)") and line.endswith("Ada (LoRA 1)")
    code, out, _ = run(capsys, "models", "list", project_file, "--json")
    (model,) = json.loads(out)["models"]
    assert model["name"] == "ada_xl" and model["kind"] == "lora" and model["family"] == "sdxl"
    assert model["state"] == "present" and len(model["sha256"]) == 64
    assert model["personas"] == [{"name": "Ada", "role": "lora", "weight": 1.0}]


def test_list_says_plainly_when_a_model_s_files_are_gone(capsys, project_file, tmp_path):
    lora = _lora(tmp_path)
    run(capsys, "models", "add", project_file, lora)
    lora.unlink()
    code, out, _ = run(capsys, "models", "list", project_file)
    assert code == 1
    assert f"MISSING: {lora} is not there any more." in out and "models remove" in out


def test_a_refused_file_is_one_line_on_stderr_and_exit_1(capsys, project_file, tmp_path):
    sd2 = write_safetensors(tmp_path / "v2.safetensors", checkpoint_shapes("sd2"))
    code, out, err = run(capsys, "models", "add", project_file, sd2)
    assert code == 1
    assert "persona-studio: v2: a Stable Diffusion 2.x model" in err
    ckpt = tmp_path / "model.ckpt"
    ckpt.write_bytes(b"\x80\x02")
    code, _, err = run(capsys, "models", "add", project_file, ckpt)
    assert code == 1 and "model.ckpt is a pickle file" in err and "models convert" in err
    lora = _lora(tmp_path)
    code, _, err = run(capsys, "models", "add", project_file, lora, "--kind", "base")
    assert code == 1 and "is an SDXL LoRA (kohya layout)" in err and "Leave out --kind" in err


def test_scan_registers_a_folder_reporting_each_model(capsys, project_file, tmp_path):
    root = tmp_path / "ComfyUI" / "models"
    _lora(root / "loras")
    write_safetensors(root / "checkpoints" / "xl.safetensors", checkpoint_shapes(m.SDXL))
    write_safetensors(
        root / "ipadapter" / "ip-adapter_sd15.safetensors", ip_adapter_shapes(m.PLAIN, m.SD15)
    )
    write_encoder(root / "clip_vision" / "vit-h" / "image_encoder", VIT_H)
    (root / "loras" / "old.pt").write_bytes(b"\x80\x02")
    code, out, err = run(capsys, "models", "scan", project_file, tmp_path / "ComfyUI")
    assert code == 0
    assert "found    SDXL LoRA (kohya layout)" in out
    assert f"skipped  {root / 'loras' / 'old.pt'}: old.pt is a pickle file" in out
    assert "Registered 4 models; 4 files hashed, 0 from the cache" in out
    assert "Scanning:" in err and "Registering:" in err
    code, out, _ = run(capsys, "models", "list", project_file, "--json")
    by_name = {x["name"]: x for x in json.loads(out)["models"]}
    assert by_name["ip-adapter_sd15"]["encoder"] == "vit-h/image_encoder"
    assert {x["source"] for x in by_name.values()} == {"comfyui"}
    code, out, _ = run(capsys, "models", "scan", project_file, tmp_path / "ComfyUI")
    assert code == 0 and out.splitlines()[-1] == "Nothing new to register."


def test_link_unlink_and_remove(capsys, project_file, tmp_path):
    run(capsys, "models", "add", project_file, _lora(tmp_path))
    code, out, _ = run(
        capsys, "models", "link", project_file, "ada_xl", "--persona", "Ada", "--weight", "0.4"
    )
    assert code == 0 and out.strip() == "Ada uses it at weight 0.4"
    code, out, _ = run(capsys, "models", "unlink", project_file, "ada_xl", "--persona", "Ada")
    assert code == 0
    code, out, _ = run(capsys, "models", "remove", project_file, "ada_xl")
    assert code == 0 and out.startswith("Removed ada_xl (its files stay in")
    code, _, err = run(capsys, "models", "remove", project_file, "ada_xl")
    assert code == 1 and "There is no model 'ada_xl'" in err


def test_download_offline_says_what_to_put_where(capsys, project_file, tmp_path):
    code, out, err = run(
        capsys, "models", "download", project_file, "h94/IP-Adapter",
        "--file", "models/ip-adapter_sd15.safetensors", "--dest", tmp_path / "hub",
        "--endpoint", "http://127.0.0.1:9",
    )  # fmt: skip
    assert code == 1
    assert "cannot be reached" in err
    assert f"{tmp_path / 'hub'}/models/ip-adapter_sd15.safetensors" in err


@pytest.mark.slow  # the conversion's child process imports torch
def test_convert_turns_a_pickle_into_safetensors_and_registers_it(capsys, project_file, tmp_path):
    import torch

    src = tmp_path / "ada.ckpt"
    torch.save(
        {"state_dict": {k: torch.zeros(s) for k, s in lora_shapes(m.SD15, m.KOHYA).items()}}, src
    )
    code, out, err = run(capsys, "models", "convert", project_file, src, "--persona", "Ada")
    assert code == 0, err
    assert out.splitlines()[0] == f"Converted {src} to {tmp_path / 'ada.safetensors'}"
    assert "Registered ada: SD 1.5 LoRA (kohya layout)" in out
    assert (tmp_path / "ada.safetensors").exists() and src.exists()
