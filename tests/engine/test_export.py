"""Exported PNGs: AUTOMATIC1111's parameters text, exactly; the chunks read back by Pillow and
by the importer's parser; pixels untouched; LoRA hashes as A1111 lists them."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from studio.core.errors import BadImageError
from studio.core.takes import ExportFrame, a1111_parameters, a1111_sampler
from studio.engine import export, images

SD15_SHA = "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa"
LORA_SHA = "1" * 64

KNOWN = {
    "prompt": "masterpiece, ada walking in the rain",
    "negative": "blurry, lowres",
    "steps": 25,
    "sampler": "dpmpp_2m_karras",
    "guidance": 6.0,
    "seed": 123,
    "width": 512,
    "height": 768,
    "model_sha": SD15_SHA,
    "model_name": "v1-5-pruned-emaonly",
    "mode": "txt2img",
    "loras": [{"name": "ada_v2", "sha256": LORA_SHA, "weight": 0.8}],
}


def _png(colour=(200, 30, 30), **texts) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    out = io.BytesIO()
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    pixels[0, 0] = colour
    Image.fromarray(pixels).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def test_the_a1111_text_of_a_known_example_is_exact():
    text = a1111_parameters(KNOWN, {LORA_SHA: "0123456789ab"})
    assert text == (
        "masterpiece, ada walking in the rain, <lora:ada_v2:0.8>\n"
        "Negative prompt: blurry, lowres\n"
        "Steps: 25, Sampler: DPM++ 2M Karras, CFG scale: 6, Seed: 123, Size: 512x768, "
        'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "ada_v2: 0123456789ab"'
    )


def test_what_the_a1111_text_leaves_out_and_quotes():
    img2img = dict(KNOWN, mode="img2img", strength=0.45, negative="", guidance=7.5, loras=[])
    img2img["model_name"] = "ada: dreambooth"
    img2img["sampler"] = ""
    assert a1111_parameters(img2img) == (
        "masterpiece, ada walking in the rain\n"
        "Steps: 25, CFG scale: 7.5, Seed: 123, Size: 512x768, Model hash: 6ce0161689, "
        'Model: "ada: dreambooth", Denoising strength: 0.45'
    )
    # A LoRA whose hash cannot be told is still applied in the prompt, but not listed.
    assert "Lora hashes" not in a1111_parameters(KNOWN)
    assert "<lora:ada_v2:0.8>" in a1111_parameters(KNOWN)


@pytest.mark.parametrize(
    "given, named",
    [
        ("EulerAncestralDiscreteScheduler", "Euler a"),
        ("euler_ancestral", "Euler a"),
        ("DPM++ 2M Karras", "DPM++ 2M Karras"),
        ("dpmpp_2m_sde", "DPM++ 2M SDE"),
        ("DPMSolverMultistepScheduler", "DPM++ 2M"),
        ("uni_pc", "UniPC"),
        ("PNDMScheduler", "PLMS"),
        ("my-own", "my-own"),
    ],
)
def test_samplers_are_named_as_a1111_names_them(given, named):
    assert a1111_sampler(given) == named


def test_the_chunks_round_trip_through_pillow_and_the_importer(tmp_path):
    rendered = _png()
    record = json.dumps(
        {"format": 1, "take": "t1", "shot": "Walk", "frame": 1, "provenance": KNOWN}
    )
    frame = ExportFrame(0, "sha", "Walk_0001.png", record)
    out = export.frame_png(frame, rendered, {LORA_SHA: "0123456789ab"})
    path = export.write_file(tmp_path / "seq", frame.file_name, out)

    with Image.open(path) as im:
        assert im.info["parameters"] == a1111_parameters(KNOWN, {LORA_SHA: "0123456789ab"})
        assert json.loads(im.info["persona-studio"])["provenance"] == KNOWN
        pixels = np.asarray(im.convert("RGB"))
    assert np.array_equal(pixels, np.asarray(Image.open(io.BytesIO(rendered))))
    assert export.png_texts(out) == {
        "parameters": im.info["parameters"],
        "persona-studio": record,
    }
    parsed = images.decode(out).metadata["parameters"]
    assert parsed["prompt"] == "masterpiece, ada walking in the rain, <lora:ada_v2:0.8>"
    assert parsed["negative_prompt"] == "blurry, lowres"
    assert parsed["settings"] == {
        "Steps": "25",
        "Sampler": "DPM++ 2M Karras",
        "CFG scale": "6",
        "Seed": "123",
        "Size": "512x768",
        "Model hash": "6ce0161689",
        "Model": "v1-5-pruned-emaonly",
        "Lora hashes": "ada_v2: 0123456789ab",
    }


def test_chunks_replace_old_ones_and_only_the_chunks_change():
    old = _png(parameters="an older prompt\nSteps: 5, Seed: 1, CFG scale: 3", Software="x")
    out = export.with_texts(old, {"parameters": "new\nSteps: 9, Seed: 2, CFG scale: 4"})
    assert export.png_texts(out) == {
        "parameters": "new\nSteps: 9, Seed: 2, CFG scale: 4",
        "Software": "x",
    }
    assert out.count(b"parameters") == 1
    idat = out.index(b"IDAT")
    assert out.index(b"parameters") < idat  # before the image data, where readers look first
    assert out[idat - 4 :] == old[old.index(b"IDAT") - 4 :]  # image data and end, byte for byte


def test_text_that_is_not_latin1_goes_in_an_itxt_chunk():
    out = export.with_texts(_png(), {"parameters": "艾达走在雨中\nSteps: 9, Seed: 2, CFG scale: 4"})
    assert b"iTXt" in out and b"tEXt" not in out
    with Image.open(io.BytesIO(out)) as im:
        assert im.info["parameters"].startswith("艾达走在雨中")
    assert export.png_texts(out)["parameters"].startswith("艾达走在雨中")


def test_compressed_text_chunks_are_read_too():
    info = PngImagePlugin.PngInfo()
    info.add_text("zipped", "z" * 400, zip=True)
    info.add_itxt("international", "Ελένη " * 50, zip=True)
    out = io.BytesIO()
    Image.new("RGB", (4, 4)).save(out, "PNG", pnginfo=info)
    texts = export.png_texts(out.getvalue())
    assert texts == {"zipped": "z" * 400, "international": "Ελένη " * 50}


def test_footage_is_written_as_a_plain_png():
    jpeg = io.BytesIO()
    Image.new("RGB", (30, 20), (0, 90, 200)).save(jpeg, "JPEG")
    out = export.frame_png(ExportFrame(0, "sha", "Set_0001.png"), jpeg.getvalue())
    with Image.open(io.BytesIO(out)) as im:
        assert (im.format, im.size, im.mode) == ("PNG", (30, 20), "RGB")
    assert export.png_texts(out) == {}
    plain = _png()
    assert export.frame_png(ExportFrame(0, "sha", "Set_0001.png"), plain) == plain


def test_lora_hashes_as_a1111_computes_them(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "ada.safetensors"
    save_file({"w": np.ones((8, 8), np.float32)}, str(path))
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    tensors = hashlib.sha256(data[8 + int.from_bytes(data[:8], "little") :]).hexdigest()
    assert export.lora_hash(path, sha) == tensors[:12]

    # A hash the trainer embedded is the one A1111 lists.
    tagged = tmp_path / "tagged.safetensors"
    save_file({"w": np.ones((8, 8), np.float32)}, str(tagged), {"sshs_model_hash": "ab" * 32})
    assert export.lora_hash(tagged, hashlib.sha256(tagged.read_bytes()).hexdigest()) == "ab" * 6

    assert export.lora_hash(path, "0" * 64) == ""  # the file changed since the take
    assert export.lora_hash(tmp_path / "gone.safetensors", sha) == ""
    pickle = tmp_path / "old.ckpt"
    pickle.write_bytes(data)
    assert export.lora_hash(pickle, sha) == ""
    assert export.lora_hashes([(sha, str(path)), ("0" * 64, str(path))]) == {sha: tensors[:12]}


def test_damaged_pngs_are_refused():
    good = _png()
    with pytest.raises(BadImageError, match="not a PNG"):
        export.png_texts(b"GIF89a")
    with pytest.raises(BadImageError, match="cut short"):
        export.with_texts(good[:-20], {"parameters": "x"})
