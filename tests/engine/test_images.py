"""Decoding every supported format, the metadata generators embed, and refusing bad files."""

from __future__ import annotations

import io
import json
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile, PngImagePlugin

from studio.core.errors import BadImageError
from studio.core.resources import resource_path
from studio.engine import images

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _png_header(width: int, height: int) -> bytes:
    """A PNG that only claims its size: opening it must never allocate the pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _photo() -> Image.Image:
    return Image.open(resource_path("demo/nova-portrait.jpg")).convert("RGB")


def test_jpeg_decodes_to_rgb_with_its_size_and_format():
    data = _save(_photo(), "JPEG", quality=90)
    out = images.decode(data, "a.jpg")
    assert out.rgb.shape == (512, 512, 3) and out.rgb.dtype == np.uint8
    assert (out.width, out.height, out.format, out.mime) == (512, 512, "JPEG", "image/jpeg")
    assert out.note == "" and out.metadata == {}


def test_sixteen_bit_png_keeps_the_high_byte():
    values = np.full((8, 12), 0xABCD, dtype=np.uint16)
    values[0, 0] = 0x1234
    data = _save(Image.fromarray(values), "PNG")
    assert data[24] == 16  # really a 16-bit PNG
    out = images.decode(data, "deep.png")
    assert out.rgb.shape == (8, 12, 3)
    assert tuple(out.rgb[3, 3]) == (0xAB,) * 3 and tuple(out.rgb[0, 0]) == (0x12,) * 3
    assert "16-bit PNG reduced to 8 bits" in out.note


def test_palette_with_transparency_is_flattened():
    im = Image.new("P", (10, 10), 1)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.paste(0, (0, 0, 5, 10))
    data = _save(im, "PNG", transparency=0)
    out = images.decode(data, "pal.png")
    assert tuple(out.rgb[5, 1]) == images.BACKGROUND and tuple(out.rgb[5, 8]) == RED
    assert out.note == "palette with transparency flattened"


def test_alpha_is_flattened_and_opaque_alpha_is_not_mentioned():
    im = Image.new("RGBA", (10, 10), (0, 0, 255, 255))
    im.paste((0, 0, 0, 0), (0, 0, 5, 10))
    out = images.decode(_save(im, "PNG"), "alpha.png")
    assert tuple(out.rgb[5, 1]) == images.BACKGROUND and tuple(out.rgb[5, 8]) == BLUE
    assert out.note == "transparency flattened"
    opaque = images.decode(_save(Image.new("RGBA", (4, 4), (9, 9, 9, 255)), "PNG"))
    assert opaque.note == "" and tuple(opaque.rgb[0, 0]) == (9, 9, 9)


def test_cmyk_jpeg_is_converted():
    data = _save(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)
    out = images.decode(data, "print.jpg")
    r, g, b = (int(v) for v in out.rgb[8, 8])
    assert r > 220 and g < 40 and b < 40
    assert out.note == "CMYK converted to RGB"


def test_greyscale_is_converted():
    out = images.decode(_save(Image.new("L", (8, 8), 120), "JPEG"), "grey.jpg")
    assert out.rgb.shape == (8, 8, 3) and abs(int(out.rgb[4, 4, 0]) - 120) <= 2
    assert (out.rgb[..., 0] == out.rgb[..., 2]).all()
    assert out.note == "greyscale converted to RGB"


@pytest.mark.parametrize(
    "fmt, kw",
    [("GIF", {}), ("WEBP", {"lossless": True}), ("PNG", {})],
    ids=["gif", "webp", "apng"],
)
def test_animated_images_use_their_first_frame(fmt, kw):
    frames = [Image.new("RGB", (16, 16), c) for c in (RED, BLUE, (0, 255, 0))]
    data = _save(frames[0], fmt, save_all=True, append_images=frames[1:], duration=80, **kw)
    out = images.decode(data, "moving")
    assert tuple(out.rgb[8, 8]) == RED
    assert out.note.startswith("animated image (3 frames): first frame used")


@pytest.mark.parametrize("fmt", ["TIFF", "BMP", "WEBP", "PNG"])
def test_other_formats_decode(fmt):
    im = Image.new("RGB", (30, 20), (10, 200, 30))
    kw = {"lossless": True} if fmt == "WEBP" else {}
    out = images.decode(_save(im, fmt, **kw), f"x.{fmt.lower()}")
    assert out.format == fmt and out.rgb.shape == (20, 30, 3)
    assert tuple(out.rgb[10, 15]) == (10, 200, 30)


def test_exif_orientation_is_applied():
    im = Image.new("RGB", (40, 20), BLUE)
    im.paste(RED, (0, 0, 20, 20))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: the left half ends on top
    out = images.decode(_save(im, "JPEG", exif=exif, quality=95), "phone.jpg")
    assert out.rgb.shape == (40, 20, 3) and (out.width, out.height) == (20, 40)
    top, bottom = out.rgb[5, 10].astype(int), out.rgb[35, 10].astype(int)
    assert top[0] > 200 and top[2] < 50 and bottom[2] > 200 and bottom[0] < 50
    assert "EXIF orientation applied" in out.note
    small = images.decode(_save(im, "JPEG", exif=exif), max_side=10)
    assert small.rgb.shape == (10, 5, 3) and (small.width, small.height) == (20, 40)


def test_max_side_decodes_smaller_but_reports_the_full_size():
    data = _save(_photo().resize((1024, 512)), "JPEG", quality=90)
    out = images.decode(data, "wide.jpg", max_side=256)
    assert out.rgb.shape == (128, 256, 3) and (out.width, out.height) == (1024, 512)


A1111 = (
    "portrait of nova, auburn bob, (soft light:1.2)\n"
    "35mm film\n"
    "Negative prompt: blurry, extra fingers\n"
    "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234567, Size: 832x1216, "
    'Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Lora hashes: "nova: 4f1a, film: 9e2b", '
    "Version: f2.0.1"
)


def test_a1111_parameters_chunk_is_parsed():
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111)
    out = images.decode(_save(Image.new("RGB", (8, 8)), "PNG", pnginfo=info), "gen.png")
    meta = out.metadata
    assert meta["generator"] == "AUTOMATIC1111"
    params = meta["parameters"]
    assert params["prompt"] == "portrait of nova, auburn bob, (soft light:1.2)\n35mm film"
    assert params["negative_prompt"] == "blurry, extra fingers"
    settings = params["settings"]
    assert settings["Steps"] == "28" and settings["Seed"] == "1234567"
    assert settings["Sampler"] == "DPM++ 2M Karras" and settings["Size"] == "832x1216"
    assert settings["Lora hashes"] == "nova: 4f1a, film: 9e2b"
    assert settings["Version"] == "f2.0.1" and params["text"] == A1111


def test_comfyui_prompt_and_workflow_chunks_are_parsed():
    prompt = {"3": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 20}}}
    workflow = {"nodes": [{"id": 3, "type": "KSampler"}], "links": []}
    info = PngImagePlugin.PngInfo()
    info.add_text("prompt", json.dumps(prompt))
    info.add_itxt("workflow", json.dumps(workflow))
    out = images.decode(_save(Image.new("RGB", (8, 8)), "PNG", pnginfo=info), "comfy.png")
    assert out.metadata == {
        "generator": "ComfyUI",
        "comfyui": {"prompt": prompt, "workflow": workflow},
    }


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_a1111_exif_user_comment_is_parsed(fmt):
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + A1111.encode("utf-16-be")
    out = images.decode(_save(Image.new("RGB", (8, 8)), fmt, exif=exif), "gen")
    assert out.metadata["generator"] == "AUTOMATIC1111"
    assert out.metadata["parameters"]["settings"]["Seed"] == "1234567"


def test_a_camera_user_comment_is_not_taken_for_parameters():
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\x00\x00\x00holiday"
    assert images.decode(_save(Image.new("RGB", (8, 8)), "JPEG", exif=exif)).metadata == {}


def _truncated_jpeg() -> bytes:
    data = _save(_photo(), "JPEG", quality=90)
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "data, name, words",
    [
        (b"", "empty.jpg", "empty file (0 bytes)"),
        (b"just some notes\nnothing more\n", "notes.png", "a text file named .png, not an image"),
        (b"just some notes\n", "notes.txt", "a text file, not an image"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "scan.pdf", "a PDF document, not an image"),
        (b"\x00\x01\x02\x03binary", "blob.bin", "not an image format"),
        (_png_header(20000, 20000), "bomb.png", "decompression bomb"),
        (_png_header(12000, 12000), "bomb2.png", "decompression bomb"),
        (_png_header(40000, 1), "strip.png", "absurd dimensions: 40000x1 px"),
    ],
    ids=["empty", "text-as-png", "text", "pdf", "binary", "bomb", "bomb-under-2x", "absurd"],
)
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bad_files_give_a_one_line_reason(data, name, words):
    with pytest.raises(BadImageError) as caught:
        images.decode(data, name)
    assert words in caught.value.message and "\n" not in caught.value.message


@pytest.mark.parametrize("policy", ["error", "ignore"])
def test_bombs_are_refused_whatever_the_warning_filters(policy):
    # Pillow only warns between its limit and twice it; the refusal must not depend on that.
    with warnings.catch_warnings():
        warnings.simplefilter(policy, Image.DecompressionBombWarning)
        with pytest.raises(BadImageError, match="decompression bomb"):
            images.decode(_png_header(11000, 11000), "bomb.png")


def test_truncated_image_is_refused_at_full_and_reduced_size():
    for max_side in (None, 128):
        with pytest.raises(BadImageError, match="truncated JPEG: the file ends before its end-of"):
            images.decode(_truncated_jpeg(), "cut.jpg", max_side=max_side)


# -- damage Pillow lets through: made from a real photo -------------------------------------------


def _chunks(data: bytes) -> list[tuple[int, bytes, int]]:
    """(offset, type, length) of each chunk of a PNG."""
    out, pos = [], 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        out.append((pos, kind, length))
        pos += 12 + length
    return out


def _photo_png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "nova, portrait\nSteps: 20, Sampler: Euler a, Seed: 7")
    return _save(_photo(), "PNG", pnginfo=info)


def _flip(data: bytes, at: int) -> bytes:
    damaged = bytearray(data)
    damaged[at] ^= 0x10
    return bytes(damaged)


@pytest.fixture(params=[False, True], ids=["strict", "pillow-pads"])
def truncated_flag(request, monkeypatch):
    """Pillow's global LOAD_TRUNCATED_IMAGES as some other library might have left it."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", request.param)
    return request.param


def _refused(data: bytes, name: str, max_side: int | None = None) -> str:
    with pytest.raises(BadImageError) as caught:
        images.decode(data, name, max_side=max_side)
    assert "\n" not in caught.value.message
    return caught.value.message


@pytest.mark.parametrize("where", ["first IDAT", "last IDAT", "IDAT checksum", "tEXt", "IHDR"])
@pytest.mark.parametrize("max_side", [None, 64])
def test_a_png_whose_chunk_fails_its_crc_is_refused(where, max_side, truncated_flag):
    data = _photo_png()
    chunks = _chunks(data)
    idats = [c for c in chunks if c[1] == b"IDAT"]
    assert len(idats) > 1  # the photo's data spans several chunks
    pos, kind, length = {
        "first IDAT": idats[0],
        "last IDAT": idats[-1],
        "IDAT checksum": idats[1],
        "tEXt": next(c for c in chunks if c[1] == b"tEXt"),
        "IHDR": chunks[0],
    }[where]
    at = pos + 8 + length if where == "IDAT checksum" else pos + 8 + length // 2
    name = kind.decode()
    assert _refused(_flip(data, at), "photo.png", max_side) == (
        f"damaged PNG: the {name} chunk at byte {pos} fails its CRC check"
    )
    assert images.decode(data, "photo.png", max_side=max_side).rgb.size  # the intact file reads
    assert ImageFile.LOAD_TRUNCATED_IMAGES is truncated_flag  # put back as it was found


def test_a_cut_png_is_refused(truncated_flag):
    data = _photo_png()
    pos, _, length = [c for c in _chunks(data) if c[1] == b"IDAT"][-1]
    assert _refused(data[: pos + 8 + length // 2], "cut.png") == (
        f"truncated PNG: the file ends inside its IDAT chunk at byte {pos}"
    )
    assert _refused(data[:-12], "no-end.png") == (
        "truncated PNG: the file ends before its IEND chunk"
    )
    zeroed = data[: len(data) // 2] + bytes(len(data) - len(data) // 2)  # a preallocated copy
    assert _refused(zeroed, "zeroed.png").startswith("damaged PNG: the IDAT chunk at byte")


@pytest.mark.parametrize("keep", [0.5, 0.99])
@pytest.mark.parametrize("max_side", [None, 128])
def test_a_cut_jpeg_is_refused_even_where_pillow_would_pad_it(keep, max_side, truncated_flag):
    for progressive in (False, True):
        data = _save(_photo(), "JPEG", quality=90, progressive=progressive)
        cut = data[: int(len(data) * keep)]
        assert _refused(cut, "cut.jpg", max_side) == (
            "truncated JPEG: the file ends before its end-of-image marker "
            "(an incomplete copy or download)"
        )
    assert ImageFile.LOAD_TRUNCATED_IMAGES is truncated_flag


@pytest.mark.parametrize("keep", [0.3, 0.8, 0.97])
@pytest.mark.parametrize("max_side", [None, 128])
@pytest.mark.parametrize("progressive", [False, True], ids=["sequential", "progressive"])
def test_a_jpeg_whose_picture_data_stops_early_is_refused(keep, max_side, progressive):
    # The end marker right after the cut: libjpeg meets it mid-picture, warns "premature end
    # of data segment" and fills the rest with zeros, and Pillow says nothing.
    data = _save(_photo(), "JPEG", quality=90, progressive=progressive)
    cut = data[: int(len(data) * keep)] + b"\xff\xd9"
    plain = Image.open(io.BytesIO(cut))
    plain.load()  # Pillow alone decodes it without a word
    assert _refused(cut, "cut.jpg", max_side) == (
        "partly decoded JPEG: its picture data stops early and part of the picture is missing "
        "(a damaged or incompletely copied file)"
    )


def test_healthy_files_that_look_suspect_still_decode(truncated_flag):
    photo = _photo()
    grey = Image.new("RGB", (64, 48), (128, 128, 128))  # every MCU is exactly mid-grey
    half = photo.copy()
    half.paste((128, 128, 128), (0, 256, 512, 512))  # a photo on a flat mid-grey ground
    trailer = _save(photo, "JPEG", quality=90) + b"camera maker's trailer"
    progressive = _save(photo, "JPEG", quality=90, progressive=True)
    for data in (
        _save(grey, "JPEG"),
        _save(grey.convert("L"), "JPEG"),
        _save(half, "JPEG", quality=95),
        trailer,
        progressive,
        _photo_png() + b"after IEND",
    ):
        for max_side in (None, 64):
            out = images.decode(data, "fine", max_side=max_side)
            assert out.rgb.size
    expected = np.asarray(Image.open(io.BytesIO(progressive)).convert("RGB"))
    assert np.array_equal(images.decode(progressive, "p.jpg").rgb, expected)


@pytest.mark.parametrize("fmt", ["BMP", "TIFF"])
def test_other_formats_are_not_padded_either(fmt, truncated_flag):
    data = _save(_photo(), fmt)
    assert _refused(data[: len(data) * 2 // 3], f"cut.{fmt.lower()}").startswith(
        "truncated or damaged image"
    )


def test_thumbnail_keeps_its_signature():
    thumb = Image.open(io.BytesIO(images.thumbnail(_save(_photo(), "PNG"), 128)))
    assert thumb.format == "JPEG" and thumb.size == (128, 128)


def test_perceptual_hash_matches_resized_copies_and_tells_photos_apart():
    photo = _photo()
    h = images.perceptual_hash(np.asarray(photo))
    assert len(h) == 16 and int(h, 16) >= 0
    small = _save(photo.resize((300, 300), Image.Resampling.BICUBIC), "JPEG", quality=60)
    copy = images.perceptual_hash(images.decode(small).rgb)
    assert images.hamming(h, copy) <= 6
    other = Image.open(resource_path("demo/camera-operator.jpg")).convert("RGB")
    assert images.hamming(h, images.perceptual_hash(np.asarray(other))) > 16
    assert images.perceptual_hash(np.asarray(photo.convert("L"))) == images.perceptual_hash(
        np.asarray(photo.convert("L").convert("RGB"))
    )


def test_hamming_counts_differing_bits():
    assert images.hamming("0000000000000000", "000000000000000f") == 4
    assert images.hamming("ffffffffffffffff", "0000000000000000") == 64
