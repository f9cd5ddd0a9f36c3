"""Image decoding, thumbnails and perceptual hashes with Pillow and numpy.

Every file a user brings is untrusted: `decode` turns anything it cannot use (not an image,
truncated, a decompression bomb, absurd dimensions) into a `BadImageError` whose message is a
one-line reason, and converts whatever it can use to 8-bit RGB with a note of what it changed.

Damage that Pillow lets through is checked for here: a PNG chunk whose CRC fails (Pillow never
checks the image data's CRCs while decoding), a PNG or JPEG that ends before its end marker,
and a JPEG whose picture data stops early at a marker (libjpeg only warns and fills the rest
with grey). Decoding never pads a truncated file, whatever `ImageFile.LOAD_TRUNCATED_IMAGES`
some other code has set.
"""

from __future__ import annotations

import io
import json
import re
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from studio.core.errors import BadImageError
from studio.core.imports import hamming

__all__ = [
    "BACKGROUND",
    "DecodedImage",
    "MAX_PIXELS",
    "MAX_SIDE",
    "decode",
    "hamming",
    "jpeg_bytes",
    "parse_a1111",
    "perceptual_hash",
    "thumbnail",
]

MAX_PIXELS = 80_000_000  # above this an image is refused as a decompression bomb
MAX_SIDE = 30_000  # a side longer than this is not a photograph of anyone
BACKGROUND = (40, 40, 44)  # transparent pixels are flattened onto the library's grey

# Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that; the warning is made an
# error too, and `decode` checks the size itself in case a caller's filters swallow it.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
warnings.filterwarnings("error", category=Image.DecompressionBombWarning)

_EXIF_IFD, _USER_COMMENT, _ORIENTATION = 0x8769, 0x9286, 0x0112
_IMAGE_SUFFIXES = {
    ".jpg", ".jpeg", ".jpe", ".png", ".apng", ".webp", ".tif", ".tiff", ".bmp", ".gif",
    ".heic", ".heif", ".avif", ".jxl",
}  # fmt: skip
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_A1111_PARAM = re.compile(r'\s*(\w[\w \-/]*):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


@dataclass(frozen=True)
class DecodedImage:
    """An image as 8-bit RGB, with its full size, file format, what decoding changed, metadata.

    `rgb` is HxWx3 uint8 and read-only (copy it to draw on it); it is smaller than width x
    height when `decode` was given `max_side`.
    `metadata` holds generation parameters (AUTOMATIC1111/Forge, ComfyUI) when the file has them.
    """

    rgb: np.ndarray
    width: int
    height: int
    format: str
    note: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def mime(self) -> str:
        if self.format == "MPO":  # a phone's multi-picture file is a JPEG to everyone else
            return "image/jpeg"
        return Image.MIME.get(self.format, "application/octet-stream")


def decode(data: bytes, name: str = "", *, max_side: int | None = None) -> DecodedImage:
    """Decode an image file's bytes to RGB, EXIF orientation applied; BadImageError if unusable.

    name: the file's name, only to word the reason. max_side: return the image no larger than
    this on its longer side (JPEG then decodes at a reduced scale); width and height stay those
    of the full image.
    """
    if not data:
        raise BadImageError("empty file (0 bytes)")
    jpeg_end = None
    if data.startswith(_PNG_SIGNATURE):
        damage = _png_damage(data)
        if damage:
            raise BadImageError(damage)
    elif data.startswith(b"\xff\xd8\xff"):
        jpeg_end = _jpeg_end(data)
    with _strict_loading():
        try:
            im = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise BadImageError(_not_an_image(data, name)) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise BadImageError(_bomb_reason(None)) from None
        except Exception as exc:  # a damaged header trips any of Pillow's parsers
            raise BadImageError(f"damaged image file ({_why(exc)})") from None
        with im:
            return _decode_checked(im, data, max_side, jpeg_end)


def _decode_checked(
    im: Image.Image, data: bytes, max_side: int | None, jpeg_end: _JpegEnd | None
) -> DecodedImage:
    try:
        return _decode_opened(im, data, max_side, jpeg_end)
    except BadImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadImageError(_bomb_reason(None)) from None
    except MemoryError:
        raise BadImageError("too large to decode in the memory available") from None
    except Exception as exc:
        raise BadImageError(f"truncated or damaged image ({_why(exc)})") from None


def _decode_opened(
    im: Image.Image, data: bytes, max_side: int | None, jpeg_end: _JpegEnd | None = None
) -> DecodedImage:
    fmt = im.format or ""
    width, height = im.size
    if width <= 0 or height <= 0 or max(width, height) > MAX_SIDE:
        raise BadImageError(
            f"absurd dimensions: {width}x{height} px (each side must be 1 to {MAX_SIDE} px)"
        )
    if width * height > MAX_PIXELS:
        raise BadImageError(_bomb_reason((width, height)))
    notes: list[str] = []
    frames = getattr(im, "n_frames", 1) or 1
    if frames > 1:
        if fmt == "MPO":
            notes.append("multi-picture file: first picture used")
        elif fmt == "TIFF":
            notes.append(f"multi-page TIFF ({frames} pages): first page used")
        else:
            notes.append(f"animated image ({frames} frames): first frame used")
    try:
        orientation = int(im.getexif().get(_ORIENTATION, 1))
    except Exception:  # a damaged EXIF block only loses the orientation
        orientation = 1
    draft = (2 * max_side, 2 * max_side) if max_side and fmt in ("JPEG", "MPO") else None
    if draft:
        # The decoder's DCT scaling skips most of the work; 2x keeps the final resize sharp.
        im.draft(None, draft)
    im.load()
    if jpeg_end is not None and _jpeg_cut_short(im, data, jpeg_end, draft):
        raise BadImageError(
            "partly decoded JPEG: its picture data stops early and part of the picture is "
            "missing (a damaged or incompletely copied file)"
        )
    metadata = _generation_metadata(im)
    if fmt == "PNG" and len(data) > 24 and data[24] == 16 and im.mode not in _SIXTEEN_BIT:
        notes.append("16-bit PNG reduced to 8 bits")
    if 2 <= orientation <= 8:
        im = ImageOps.exif_transpose(im)
        notes.append("EXIF orientation applied")
        if orientation >= 5:
            width, height = height, width
    im, note = _to_rgb(im, fmt)
    if note:
        notes.append(note)
    if max_side and max(im.size) > max_side:
        scale = max_side / max(im.size)
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    return DecodedImage(
        rgb=np.asarray(im),
        width=width,
        height=height,
        format=fmt,
        note="; ".join(notes),
        metadata=metadata,
    )


# -- damage Pillow lets through ----------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHUNK_TYPE = re.compile(rb"[A-Za-z]{4}")
# A marker after entropy-coded data: 0xFF then a marker code, not stuffing (00), a restart
# marker (D0-D7, which sit inside the data) or fill (FF).
_JPEG_MARKER = re.compile(rb"\xff[\xc0-\xcf\xd8-\xfe]")
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Picture data that is not all-zero bits, to tell a complete scan from one cut short.
_FILLER = bytes((i * 73 + 41) % 255 for i in range(2048))  # never 0xFF: no marker in it

_strict_lock = threading.Lock()
_strict_users = 0
_saved_truncated_flag = False


@contextmanager
def _strict_loading() -> Iterator[None]:
    """Pillow refuses truncated data while inside, whatever other code set the flag to.

    `ImageFile.LOAD_TRUNCATED_IMAGES` is one global: a library that turns it on would have
    Pillow pad a cut file with grey and skip ancillary PNG CRCs. The first decoder in sets it
    off and the last one out puts back what it found.
    """
    global _strict_users, _saved_truncated_flag
    with _strict_lock:
        if _strict_users == 0:
            _saved_truncated_flag = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        _strict_users += 1
    try:
        yield
    finally:
        with _strict_lock:
            _strict_users -= 1
            if _strict_users == 0:
                ImageFile.LOAD_TRUNCATED_IMAGES = _saved_truncated_flag


def _png_damage(data: bytes) -> str:
    """Why a PNG's chunks are damaged (a failing CRC, cut short, no IEND); "" when intact."""
    view = memoryview(data)
    pos, size = len(_PNG_SIGNATURE), len(data)
    while pos + 8 <= size:
        length, kind = struct.unpack_from(">I4s", data, pos)
        if not _CHUNK_TYPE.fullmatch(kind):
            return f"damaged PNG: unreadable chunk at byte {pos}"
        name = kind.decode("ascii")
        end = pos + 12 + length
        if end > size:
            return f"truncated PNG: the file ends inside its {name} chunk at byte {pos}"
        if zlib.crc32(view[pos + 4 : end - 4]) != struct.unpack_from(">I", data, end - 4)[0]:
            return f"damaged PNG: the {name} chunk at byte {pos} fails its CRC check"
        if kind == b"IEND":
            return ""
        pos = end
    return "truncated PNG: the file ends before its IEND chunk"


@dataclass(frozen=True)
class _JpegEnd:
    """Where a JPEG's first picture ends (its EOI marker), its size, MCU size, and kind."""

    eoi: int
    width: int
    height: int
    mcu_width: int
    mcu_height: int
    progressive: bool


def _jpeg_end(data: bytes) -> _JpegEnd | None:
    """The end of a JPEG's first picture; BadImageError when the file ends before it.

    None when the structure is too odd to judge; Pillow then has its say.
    """
    pos, size = 2, len(data)
    width = height = 0
    mcu = (8, 8)
    progressive = False
    while True:
        if pos + 2 > size:
            break
        if data[pos] != 0xFF or data[pos + 1] == 0xFF:
            # Stray bytes or fill before a marker: libjpeg skips them, and so do we.
            found = _JPEG_MARKER.search(data, pos)
            if found is None:
                break
            pos = found.start()
            continue
        marker = data[pos + 1]
        if marker == 0xD9:  # EOI
            if not width or not height:
                return None
            return _JpegEnd(pos, width, height, *mcu, progressive)
        if 0xD0 <= marker <= 0xD7 or marker in (0x01, 0xD8):
            pos += 2
            continue
        if pos + 4 > size:
            break
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if end > size:
            break
        if marker in _SOF_MARKERS and end - pos >= 10:
            height, width, count = struct.unpack_from(">HHB", data, pos + 5)
            progressive = marker in (0xC2, 0xC6, 0xCA, 0xCE)
            factors = [data[pos + 11 + 3 * i] for i in range(count) if pos + 12 + 3 * i <= end]
            if count > 1 and factors:
                # Interleaved components: an MCU covers the largest sampling factors' blocks.
                mcu = (8 * max(f >> 4 for f in factors), 8 * max(f & 15 for f in factors))
        if marker == 0xDA:  # SOS: entropy-coded data runs to the next marker
            found = _JPEG_MARKER.search(data, end)
            if found is None:
                break
            pos = found.start()
            continue
        pos = end
    raise BadImageError(
        "truncated JPEG: the file ends before its end-of-image marker "
        "(an incomplete copy or download)"
    )


def _jpeg_cut_short(
    im: Image.Image, data: bytes, end: _JpegEnd, draft: tuple[int, int] | None
) -> bool:
    """True when libjpeg met the end marker before the picture data was all there.

    libjpeg then only warns and fills what is missing with zeros: mid-grey MCUs to the end
    of a sequential picture, a blur in a progressive one. A sequential picture whose last
    MCU is exactly mid-grey, and every progressive one, is decoded again with filler bytes
    before its end marker: a complete scan ignores them, a scan cut short reads them as
    picture data and comes out different. Healthy sequential JPEGs never pay for that.
    """
    if not end.progressive:
        if im.mode not in ("RGB", "L") or not im.width or not im.height:
            return False
        mcu_w = max(1, round(end.mcu_width * im.width / end.width))
        mcu_h = max(1, round(end.mcu_height * im.height / end.height))
        # The inner part of the last MCU: chroma upsampling blends its edges with neighbours.
        left = (im.width - 1) // mcu_w * mcu_w + mcu_w // 4
        top = (im.height - 1) // mcu_h * mcu_h + mcu_h // 4
        inner = np.asarray(im.crop((min(left, im.width - 1), min(top, im.height - 1)) + im.size))
        if np.abs(inner.astype(np.int16) - 128).max() > 2:
            return False
    padded = data[: end.eoi] + _FILLER + data[end.eoi :]
    try:
        with Image.open(io.BytesIO(padded)) as again:
            if draft:
                again.draft(None, draft)
            again.load()
            return again.size != im.size or not np.array_equal(np.asarray(again), np.asarray(im))
    except Exception:  # the padded copy would not even decode: the scan did not end cleanly
        return True


def _to_rgb(im: Image.Image, fmt: str) -> tuple[Image.Image, str]:
    """8-bit RGB, and a note of what was converted ('' when nothing worth saying was)."""
    mode = im.mode
    if mode == "RGB":
        return im, ""
    if mode in _SIXTEEN_BIT:
        grey = np.asarray(im).astype(np.uint32)
        grey = (np.clip(grey, 0, 65535) >> 8).astype(np.uint8)
        rgb = Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2))
        return rgb, f"16-bit {'PNG' if fmt == 'PNG' else 'image'} reduced to 8 bits"
    if mode == "F":
        values = np.asarray(im, dtype=np.float64)
        top = float(np.nanmax(values)) if values.size else 0.0
        scaled = values * 255.0 if top <= 1.0 else values
        grey = np.nan_to_num(np.clip(scaled, 0, 255)).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2)), (
            "floating-point image reduced to 8 bits"
        )
    if mode == "CMYK":
        return im.convert("RGB"), "CMYK converted to RGB"
    if mode in ("1", "L"):
        return im.convert("RGB"), "greyscale converted to RGB"
    if mode == "P" and "transparency" not in im.info:
        return im.convert("RGB"), ""
    if mode in ("P", "PA", "LA", "La", "RGBA", "RGBa"):
        rgba = im.convert("RGBA")
        alpha = rgba.getchannel("A")
        if alpha.getextrema()[0] == 255:
            return rgba.convert("RGB"), ("greyscale converted to RGB" if mode[0] == "L" else "")
        flat = Image.new("RGB", rgba.size, BACKGROUND)
        flat.paste(rgba, mask=alpha)
        what = {"P": "palette with transparency", "PA": "palette with transparency"}.get(
            mode, "greyscale with transparency" if mode[0] == "L" else "transparency"
        )
        return flat, f"{what} flattened"
    try:
        return im.convert("RGB"), f"{mode} colour converted to RGB"
    except ValueError:
        raise BadImageError(f"colour mode {mode} is not supported") from None


def _bomb_reason(size: tuple[int, int] | None) -> str:
    limit = f"the {MAX_PIXELS // 1_000_000} megapixel limit"
    if size is None:
        return f"refused as a decompression bomb: far more than {limit}"
    w, h = size
    return (
        f"refused as a decompression bomb: {w}x{h} px is {w * h / 1e6:.0f} megapixels, over {limit}"
    )


def _why(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return text.splitlines()[0][:160]


def _not_an_image(data: bytes, name: str) -> str:
    """Why bytes Pillow cannot identify are not an image, as precisely as their start says."""
    head = data[:2048]
    suffix = Path(name).suffix.lower()
    named = f" named {suffix}" if suffix in _IMAGE_SUFFIXES else ""
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"hevc"):
        return "a HEIC image, which this version cannot read (convert it to JPEG or PNG)"
    document = document_kind(head)
    if document:
        return f"{document}{named}, not an image"
    return f"not an image format Persona Studio can read{f' ({suffix})' if suffix else ''}"


def document_kind(head: bytes) -> str | None:
    """What a file that is not media is, from its first bytes ("a PDF document", "a text
    file"...), or None when they do not say."""
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive or office document"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "a text file"
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 4:  # a character cut at the end of the sample
                return "a text file"
    return None


# -- metadata -----------------------------------------------------------------------------------


def _generation_metadata(im: Image.Image) -> dict[str, Any]:
    """Generation parameters written by AUTOMATIC1111/Forge or ComfyUI, when present."""
    info = im.info
    out: dict[str, Any] = {}
    text = _text(info.get("parameters"))
    if not text:
        comment = _text(info.get("comment")) or _user_comment(im)
        if comment and "Steps: " in comment:
            text = comment
    if text:
        out["generator"] = "AUTOMATIC1111"
        out["parameters"] = parse_a1111(text)
    comfy = {}
    for key in ("prompt", "workflow"):
        raw = _text(info.get(key))
        if raw:
            try:
                comfy[key] = json.loads(raw)
            except ValueError:
                comfy[key] = raw
    if comfy:
        out.setdefault("generator", "ComfyUI")
        out["comfyui"] = comfy
    return out


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value.strip() if isinstance(value, str) else ""


def _user_comment(im: Image.Image) -> str:
    """EXIF UserComment (where A1111 writes its parameters in JPEG and WebP files)."""
    try:
        raw = im.getexif().get_ifd(_EXIF_IFD).get(_USER_COMMENT)
    except Exception:
        return ""
    if isinstance(raw, str) or raw is None:
        return (raw or "").strip("\x00 ")
    prefix, body = bytes(raw[:8]), bytes(raw[8:])
    if prefix.startswith(b"UNICODE"):
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            text = body.decode("utf-16", "replace")
        else:  # A1111 (piexif) writes big-endian; some tools write little-endian
            big = body[:1] == b"\x00" or (len(body) > 1 and body[1:2] != b"\x00")
            text = body.decode("utf-16-be" if big else "utf-16-le", "replace")
    else:
        text = body.decode("utf-8" if not prefix.startswith(b"ASCII") else "ascii", "replace")
    return text.strip("\x00 ")


def parse_a1111(text: str) -> dict[str, Any]:
    """Split an AUTOMATIC1111/Forge `parameters` text into prompt, negative prompt, settings."""
    lines = text.strip().split("\n")
    settings: dict[str, str] = {}
    if lines and len(_A1111_PARAM.findall(lines[-1])) >= 3:
        for key, value in _A1111_PARAM.findall(lines.pop()):
            value = value.strip()
            if len(value) > 1 and value[0] == value[-1] == '"':
                try:
                    value = json.loads(value)
                except ValueError:
                    pass
            settings[key.strip()] = value
    prompt: list[str] = []
    negative: list[str] = []
    target = prompt
    for line in lines:
        if line.startswith("Negative prompt:"):
            target = negative
            line = line[len("Negative prompt:") :].strip()
        target.append(line)
    return {
        "text": text,
        "prompt": "\n".join(prompt).strip(),
        "negative_prompt": "\n".join(negative).strip(),
        "settings": settings,
    }


# -- thumbnails and hashes ----------------------------------------------------------------------


def jpeg_bytes(rgb: np.ndarray, quality: int = 88) -> bytes:
    """Encode an RGB array as JPEG."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(out, "JPEG", quality=quality)
    return out.getvalue()


def thumbnail(data: bytes, size: int) -> bytes:
    """A JPEG thumbnail whose longer edge is at most `size`, EXIF orientation applied, sRGB."""
    return jpeg_bytes(decode(data, max_side=size).rgb)


def _dct_rows(n: int = 32) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    m = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m[1:9]  # the eight lowest frequencies after the DC term


_DCT = _dct_rows()


def perceptual_hash(rgb: np.ndarray) -> str:
    """64-bit DCT perceptual hash as 16 hex digits (greyscale 32x32, low 8x8 without DC)."""
    array = np.asarray(rgb, dtype=np.uint8)
    im = Image.fromarray(array)
    if im.mode != "L":
        im = im.convert("L")
    grey = np.asarray(
        im.resize((32, 32), Image.Resampling.LANCZOS, reducing_gap=3.0), dtype=np.float64
    )
    coefficients = (_DCT @ grey @ _DCT.T).ravel()
    bits = coefficients > np.median(coefficients)
    return f"{int.from_bytes(np.packbits(bits).tobytes(), 'big'):016x}"
