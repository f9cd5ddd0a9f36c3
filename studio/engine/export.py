"""Writing frames out as PNG files that carry their generation parameters.

A rendered take's PNG gets two text chunks inserted before its image data, its pixels left
byte for byte as rendered: "parameters", AUTOMATIC1111's text (what A1111, Forge, ComfyUI
readers and Civitai parse), and "persona-studio", the studio's whole record as JSON. A chunk is
tEXt when its text is Latin-1 and iTXt (UTF-8) otherwise, as Pillow and A1111 write them.
Footage frames are written as plain PNGs.

A shot or the whole timeline can also be written as one H.264 MP4 (PyAV's bundled FFmpeg),
with the shot's name and the personas and models that made it in the container's metadata.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import os
import struct
import uuid
import zlib
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from pathlib import Path

import numpy as np

from studio.core.errors import BadImageError, StudioError
from studio.core.jobs import CancelToken, Progress
from studio.core.takes import (
    PARAMETERS_KEY,
    PROVENANCE_KEY,
    ExportFrame,
    a1111_parameters,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
_CHUNK = 1 << 20
LORA_HASH_LENGTH = 12  # A1111 lists a LoRA by the first 12 hex digits of its tensor hash


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, data) of every chunk; BadImageError if the bytes are not a whole PNG."""
    if not png.startswith(PNG_SIGNATURE):
        raise BadImageError("not a PNG file")
    out, pos = [], len(PNG_SIGNATURE)
    while pos < len(png):
        if pos + 8 > len(png):
            raise BadImageError("PNG file cut short")
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        end = pos + 12 + length
        if end > len(png):
            raise BadImageError("PNG file cut short")
        out.append((kind, png[pos + 8 : pos + 8 + length]))
        pos = end
        if kind == b"IEND":
            break
    if not out or out[0][0] != b"IHDR" or out[-1][0] != b"IEND":
        raise BadImageError("PNG file without its header or end chunk")
    return out


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _keyword(kind: bytes, data: bytes) -> str:
    return data.split(b"\0", 1)[0].decode("latin-1") if kind in _TEXT_CHUNKS else ""


def text_chunk(key: str, text: str) -> bytes:
    """A tEXt chunk, or an iTXt chunk when the text is not Latin-1 (as Pillow's add_text)."""
    keyword = key.encode("latin-1")
    if not 1 <= len(keyword) <= 79:
        raise ValueError(f"a PNG keyword has 1 to 79 characters: {key!r}")
    try:
        return _chunk(b"tEXt", keyword + b"\0" + text.encode("latin-1"))
    except UnicodeEncodeError:
        return _chunk(b"iTXt", keyword + b"\0\0\0\0\0" + text.encode("utf-8"))


def with_texts(png: bytes, texts: Mapping[str, str]) -> bytes:
    """The PNG with these text chunks before its image data, replacing any of the same keys."""
    chunks = [(k, d) for k, d in _chunks(png) if _keyword(k, d) not in texts]
    out = [PNG_SIGNATURE]
    added = False
    for kind, data in chunks:
        if kind in (b"IDAT", b"IEND") and not added:
            out += [text_chunk(key, text) for key, text in texts.items()]
            added = True
        out.append(_chunk(kind, data))
    return b"".join(out)


def png_texts(png: bytes) -> dict[str, str]:
    """The text chunks of a PNG (tEXt, zTXt, iTXt) by keyword, without decoding its pixels."""
    out: dict[str, str] = {}
    for kind, data in _chunks(png):
        if kind not in _TEXT_CHUNKS:
            continue
        key, _, rest = data.partition(b"\0")
        try:
            if kind == b"tEXt":
                text = rest.decode("latin-1")
            elif kind == b"zTXt":
                text = zlib.decompress(rest[1:]).decode("latin-1")
            else:
                compressed, body = rest[0], rest[2:]
                body = body.split(b"\0", 2)[2]  # after the language tag and translated keyword
                text = (zlib.decompress(body) if compressed else body).decode("utf-8")
        except (zlib.error, UnicodeDecodeError, IndexError):
            continue  # one damaged chunk does not hide the others
        out.setdefault(key.decode("latin-1"), text)
    return out


def as_png(data: bytes) -> bytes:
    """A picture as PNG bytes: a PNG as it is, anything else decoded and encoded as PNG."""
    if data.startswith(PNG_SIGNATURE):
        return data
    from PIL import Image

    from studio.engine import images

    out = io.BytesIO()
    Image.fromarray(images.decode(data).rgb).save(out, "PNG")
    return out.getvalue()


def lora_hash(path: str | os.PathLike, sha256: str) -> str:
    """The short hash A1111 lists a LoRA by (Civitai's AutoV3), or "" when it cannot be told.

    That is the file's embedded `sshs_model_hash`, else the sha256 of its tensor data (the
    file after the safetensors header). "" when the file is gone, is not a .safetensors file,
    or no longer hashes to `sha256` (it changed since the take was rendered).
    """
    path = Path(path)
    if path.suffix.lower() != ".safetensors" or not path.is_file():
        return ""
    try:
        with open(path, "rb") as f:
            size_bytes = f.read(8)
            if len(size_bytes) < 8:
                return ""
            header = f.read(int.from_bytes(size_bytes, "little"))
            whole, tensors = hashlib.sha256(size_bytes + header), hashlib.sha256()
            while chunk := f.read(_CHUNK):
                whole.update(chunk)
                tensors.update(chunk)
    except OSError:
        return ""
    if whole.hexdigest() != sha256:
        return ""
    try:
        embedded = json.loads(header).get("__metadata__", {}).get("sshs_model_hash", "")
    except (ValueError, AttributeError):
        embedded = ""
    return (embedded or tensors.hexdigest())[:LORA_HASH_LENGTH]


def lora_hashes(files: Iterable[tuple[str, str]]) -> dict[str, str]:
    """LoRA sha256 -> the short hash A1111 lists it by, for the (sha256, path) that have one."""
    out = {}
    for sha, path in files:
        short = lora_hash(path, sha)
        if short:
            out[sha] = short
    return out


def frame_png(frame: ExportFrame, data: bytes, hashes: Mapping[str, str] | None = None) -> bytes:
    """The PNG to write for a frame: a take's with its parameters, footage's as a plain PNG."""
    if not frame.record:
        return as_png(data)
    record = json.loads(frame.record)
    parameters = a1111_parameters(record.get("provenance") or {}, hashes)
    return with_texts(as_png(data), {PARAMETERS_KEY: parameters, PROVENANCE_KEY: frame.record})


def _discard(tmp: Path) -> None:
    # The folder may be a file or gone: the error being raised already says so.
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)


def write_file(folder: str | os.PathLike, name: str, data: bytes) -> Path:
    """Write a file whole under its name (a temporary file renamed), making the folder."""
    folder = Path(folder)
    target = folder / name
    tmp = folder / f".{uuid.uuid4().hex}.part"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except OSError as exc:
        raise StudioError(
            f"Cannot write {target} ({exc.strerror or exc}).",
            hint="Check the free disk space and that the folder is writable.",
        ) from None
    finally:
        _discard(tmp)
    return target


# -- video --------------------------------------------------------------------------------------

VIDEO_CODEC = "libx264"
VIDEO_CRF = 18  # visually lossless for most footage, at a fraction of a PNG sequence's size
VIDEO_PIXELS = "yuv420p"  # what every player decodes; it needs even width and height


def fit_frame(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """The picture scaled to fit width x height, aspect kept, centred on black (letterboxed)."""
    h, w = rgb.shape[:2]
    if (w, h) == (width, height):
        return np.ascontiguousarray(rgb)
    from PIL import Image

    scale = min(width / w, height / h)
    fit_w, fit_h = max(1, round(w * scale)), max(1, round(h * scale))
    scaled = np.asarray(Image.fromarray(rgb).resize((fit_w, fit_h), Image.Resampling.LANCZOS))
    out = np.zeros((height, width, 3), np.uint8)
    top, left = (height - fit_h) // 2, (width - fit_w) // 2
    out[top : top + fit_h, left : left + fit_w] = scaled
    return out


def write_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    *,
    width: int,
    height: int,
    fps: float,
    title: str = "",
    comment: str = "",
    total: int = 0,
    progress: Callable[[Progress], None] | None = None,
    cancel: CancelToken | None = None,
) -> Path:
    """Encode RGB frames as an H.264 MP4 at `path`, written whole (a temporary file renamed).

    Frames of another size are letterboxed into width x height (made even). title and comment
    go into the container's metadata. Cancelled (and no file left) when `cancel` is set.
    """
    import av

    target = Path(path)
    if fps <= 0:
        raise ValueError(f"a video needs a frame rate above 0, not {fps}")
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise StudioError(
            "There are no frames to write to the video.",
            hint="Render or import the shot's frames first.",
        )
    if not (width and height):  # size unknown: the first frame's
        height, width = first.shape[:2]
    width, height = max(2, width - width % 2), max(2, height - height % 2)
    tmp = target.parent / f".{target.stem}.{uuid.uuid4().hex}.part"
    written = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with av.open(str(tmp), "w", format="mp4") as container:
            if title:
                container.metadata["title"] = title
            if comment:
                container.metadata["comment"] = comment
            stream = container.add_stream(VIDEO_CODEC, rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height, stream.pix_fmt = width, height, VIDEO_PIXELS
            stream.options = {"crf": str(VIDEO_CRF)}
            for rgb in itertools.chain([first], frames):
                if cancel is not None:
                    cancel.raise_if_cancelled()
                picture = av.VideoFrame.from_ndarray(fit_frame(rgb, width, height), "rgb24")
                container.mux(stream.encode(picture))
                written += 1
                if progress:
                    progress(Progress(written, total or written, f"frame {written} of {total}"))
            container.mux(stream.encode(None))
        os.replace(tmp, target)
    except (OSError, av.error.FFmpegError) as exc:
        raise StudioError(
            f"Cannot write {target} ({getattr(exc, 'strerror', None) or exc}).",
            hint="Check the free disk space and that the folder is writable.",
        ) from None
    finally:
        _discard(tmp)
    return target
