"""Footage as frames: video files decoded with PyAV, and folders of numbered images.

Every file is untrusted. A source that cannot be used as a whole (missing, empty, not a video,
no video stream, absurd size) raises `BadFootageError` before any frame is produced, with a
one-line reason in the words the reference import uses. Inside a usable source, a bad image of
a folder or damage partway through a video becomes a `FootageSkip` and the frames read before
it are kept: one bad file never costs the rest.
"""

from __future__ import annotations

import io
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from studio.core.errors import BadImageError, StudioError
from studio.core.jobs import CancelToken
from studio.engine import images, ingest

__all__ = [
    "BadFootageError",
    "FRAME_SUFFIXES",
    "FootageFrame",
    "FootageInfo",
    "FootageSkip",
    "JPEG_QUALITY",
    "VIDEO_SUFFIXES",
    "probe",
    "read_footage",
]

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".webm", ".mkv", ".gif", ".avi", ".m4v"})
# A folder's frames: what the reference import reads, less .gif (an animated clip of its own).
FRAME_SUFFIXES = frozenset(images._IMAGE_SUFFIXES) - VIDEO_SUFFIXES
JPEG_QUALITY = 95  # video frames are stored as JPEG; 95 with full-resolution colour (4:4:4)

_HINT = "Choose a video file (MP4, MOV, WebM, MKV, GIF, AVI) or a folder of numbered images."
_AGAIN = "Render, export or download it again."
_DIGITS = re.compile(r"([0-9]+)")


class BadFootageError(StudioError):
    """A video file or image folder that cannot be used as a whole; `reason` says why."""

    def __init__(self, path: str | os.PathLike, reason: str, *, hint: str | None = None):
        self.path = os.fspath(path)
        self.name = _name(self.path)
        self.reason = reason
        super().__init__(f"{self.name}: {reason}", hint=hint)


@dataclass(frozen=True)
class FootageFrame:
    """One frame kept from a source, encoded and ready to store."""

    index: int  # 0-based position among the frames kept
    source_index: int  # frame number in the video / position in the folder's sorted images
    time_s: float | None  # presentation time in seconds; None for a folder without a frame rate
    data: bytes
    mime: str
    width: int
    height: int

    def __repr__(self) -> str:
        return (
            f"FootageFrame(index={self.index}, source_index={self.source_index}, "
            f"time_s={self.time_s}, {self.mime}, {self.width}x{self.height}, "
            f"{len(self.data)} bytes)"
        )


@dataclass(frozen=True)
class FootageSkip:
    """A frame, image or dropped path that could not be used, and the one-line reason."""

    source_index: int | None
    name: str  # the file's name, or "frame N"
    reason: str


@dataclass(frozen=True)
class FootageInfo:
    """What a source holds, read from its headers (a folder: from its first readable image)."""

    path: str
    kind: str  # "video" or "images"
    fps: float | None
    frame_count: int | None  # a video's count may be estimated from duration x fps
    duration_s: float | None
    width: int
    height: int
    codec: str  # the video codec, or an image folder's first image format ("png", "jpeg")


# -- public -------------------------------------------------------------------------------------


def probe(path: str | Path) -> FootageInfo:
    """Read a video's or image folder's size, frame rate and length without decoding it all."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return _probe_folder(path)
    container, stream = _open_video(path)
    try:
        width, height = _display_size(container, stream)
        fps = _rate(stream)
        duration = _duration(container, stream)
        frames = int(stream.frames or 0) or None
        if frames is None and duration and fps:
            frames = max(1, round(duration * fps))
        return FootageInfo(
            path=path,
            kind="video",
            fps=fps,
            frame_count=frames,
            duration_s=duration,
            width=width,
            height=height,
            codec=stream.codec_context.name,
        )
    finally:
        container.close()


def read_footage(
    path: str | Path,
    every: int = 1,
    max_frames: int | None = None,
    fps: float | None = None,
    cancel: CancelToken | None = None,
) -> Iterator[FootageFrame | FootageSkip]:
    """Frames of a video file or a folder of numbered images, in order, with skips between.

    every: keep source frames whose number is a multiple of this. max_frames: stop after this
    many kept frames. fps: the frame rate of an image folder (gives its frames a time); for a
    video, used only when the file states no rate. cancel: checked before each frame.
    Raises BadFootageError at once when the source cannot be used at all.
    """
    if every < 1:
        raise ValueError("every must be 1 or more")
    if max_frames is not None and max_frames < 1:
        raise ValueError("max_frames must be 1 or more")
    path = os.fspath(path)
    if os.path.isdir(path):
        return _folder_frames(path, _frame_files(path), every, max_frames, fps, cancel)
    container, stream = _open_video(path)
    return _video_frames(path, container, stream, every, max_frames, fps, cancel)


# -- image folders ------------------------------------------------------------------------------


def _natural_key(name: str) -> tuple:
    """Sort key putting "f2.png" before "f10.png" (numbers compared as numbers)."""
    parts = _DIGITS.split(name.casefold())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name


def _frame_files(folder: str) -> tuple[list[str], list[str]]:
    """The folder's images in natural order, and its other files (not hidden, not videos)."""
    try:
        with os.scandir(folder) as entries:
            listed = [(e.name, _is_dir(e)) for e in entries if not e.name.startswith(".")]
    except PermissionError:
        raise BadFootageError(folder, "cannot read the folder: permission denied") from None
    except OSError as exc:
        raise BadFootageError(folder, f"cannot read the folder ({exc.strerror or exc})") from None
    names = sorted((n for n, is_dir in listed if not is_dir), key=_natural_key)
    frames = [n for n in names if Path(n).suffix.lower() in FRAME_SUFFIXES]
    others = [n for n in names if Path(n).suffix.lower() not in FRAME_SUFFIXES | VIDEO_SUFFIXES]
    if not frames:
        videos = any(Path(n).suffix.lower() in VIDEO_SUFFIXES for n in names)
        raise BadFootageError(
            folder,
            "a folder that holds no images"
            + (" (only videos: import them as files)" if videos else ""),
            hint=_HINT,
        )
    return frames, others


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _read_image(path: str) -> tuple[bytes, images.DecodedImage]:
    """An image file's bytes and decoding (orientation applied); BadImageError saying why not."""
    data = ingest._read(path)
    # A small decode still reads every byte of the file, so damage is found; JPEG decodes
    # at a reduced scale and costs little.
    return data, images.decode(data, os.path.basename(path), max_side=64)


def _folder_frames(
    folder: str,
    files: tuple[list[str], list[str]],
    every: int,
    max_frames: int | None,
    fps: float | None,
    cancel: CancelToken | None,
) -> Iterator[FootageFrame | FootageSkip]:
    frames, others = files
    if cancel is not None:
        cancel.raise_if_cancelled()
    for name in others:
        suffix = Path(name).suffix.lower()
        yield FootageSkip(None, name, f"not an image{f' ({suffix})' if suffix else ''}")
    kept = 0
    for source, name in enumerate(frames):
        if cancel is not None:
            cancel.raise_if_cancelled()
        if source % every:
            continue
        try:
            data, decoded = _read_image(os.path.join(folder, name))
        except BadImageError as exc:
            yield FootageSkip(source, name, exc.message)
            continue
        except Exception as exc:  # a decoder bug on one odd file must not end the shot
            yield FootageSkip(source, name, f"could not be read ({type(exc).__name__}: {exc})")
            continue
        yield FootageFrame(
            index=kept,
            source_index=source,
            time_s=source / fps if fps else None,
            data=data,
            mime=decoded.mime,
            width=decoded.width,
            height=decoded.height,
        )
        kept += 1
        if max_frames is not None and kept >= max_frames:
            return


def _probe_folder(folder: str) -> FootageInfo:
    frames, _ = _frame_files(folder)
    first_reason = ""
    for name in frames:
        try:
            _, decoded = _read_image(os.path.join(folder, name))
        except BadImageError as exc:
            first_reason = first_reason or f"{name}: {exc.message}"
            continue
        return FootageInfo(
            path=folder,
            kind="images",
            fps=None,
            frame_count=len(frames),
            duration_s=None,
            width=decoded.width,
            height=decoded.height,
            codec=decoded.format.lower(),
        )
    raise BadFootageError(folder, f"none of its {len(frames)} images can be read ({first_reason})")


# -- video files --------------------------------------------------------------------------------


def _open_video(path: str):
    """The open container and its first video stream, or BadFootageError saying why not."""
    head = _check_file(path)
    suffix = Path(path).suffix.lower()
    if suffix in FRAME_SUFFIXES and _is_image(head):
        raise BadFootageError(
            path,
            "a single image, not a video (put numbered frames in a folder to import a shot)",
        )
    try:
        container = av.open(path, metadata_errors="replace")
    except PermissionError:
        raise BadFootageError(path, "cannot read the file: permission denied") from None
    except FileNotFoundError:
        raise BadFootageError(path, "no such file (it was moved or deleted)") from None
    except Exception as exc:  # FFmpeg's errors, and anything else it trips on
        reason = _not_a_video(head, path, exc)
        hint = _AGAIN if reason.startswith(("a damaged", "a truncated")) else _HINT
        raise BadFootageError(path, reason, hint=hint) from None
    try:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams if s.type})
            only = f" (only {' and '.join(kinds)})" if kinds else ""
            raise BadFootageError(path, f"holds no video stream{only}", hint=_HINT)
        stream = container.streams.video[0]
        try:
            codec = stream.codec_context
        except Exception:
            codec = None
        if codec is None:
            raise BadFootageError(path, "its video codec is not one Persona Studio can decode")
        _check_size(path, codec.width, codec.height)
        stream.thread_type = "AUTO"
    except BaseException:
        container.close()
        raise
    return container, stream


def _check_file(path: str) -> bytes:
    """The file's first bytes, or BadFootageError saying why it cannot be read."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise BadFootageError(path, _broken_link(path)) from None
        raise BadFootageError(path, "no such file (it was moved or deleted)") from None
    except PermissionError:
        raise BadFootageError(path, "cannot read the file: permission denied") from None
    except OSError as exc:
        raise BadFootageError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise BadFootageError(path, "a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise BadFootageError(path, "not a regular file (a device, pipe or socket)")
    if info.st_size == 0:
        raise BadFootageError(path, "empty file (0 bytes)")
    try:
        with open(path, "rb") as f:
            return f.read(4096)
    except PermissionError:
        raise BadFootageError(path, "cannot read the file: permission denied") from None
    except OSError as exc:
        raise BadFootageError(path, f"cannot read the file ({exc.strerror or exc})") from None


def _broken_link(path: str) -> str:
    try:
        target = os.readlink(path)
    except OSError:
        return "broken symbolic link"
    return f"broken symbolic link (it points to {target}, which does not exist)"


def _is_image(head: bytes) -> bool:
    return head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*")) or (
        head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    )


def _looks_like_video(head: bytes) -> bool:
    return (
        head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
        or head.startswith(b"\x1a\x45\xdf\xa3")  # Matroska / WebM
        or (head[:4] == b"RIFF" and head[8:12] == b"AVI ")
        or head.startswith((b"GIF87a", b"GIF89a"))
    )


def _not_a_video(head: bytes, path: str, exc: BaseException) -> str:
    """Why FFmpeg cannot open a file, as precisely as its first bytes say."""
    suffix = Path(path).suffix.lower()
    named = f" named {suffix}" if suffix else ""
    if head[4:8] == b"ftyp" and not _has_top_box(path, b"moov"):
        return (
            "a truncated video: its index (moov) is missing, as when a render or download "
            "stops early"
        )
    if _looks_like_video(head):
        why = getattr(exc, "strerror", None) or images._why(exc)
        return f"a damaged or truncated video: it cannot be opened ({why})"
    if _is_image(head):
        return f"an image{named}, not a video"
    document = images.document_kind(head)
    if document:
        return f"{document}{named}, not a video"
    return f"not a video format Persona Studio can read{f' ({suffix})' if suffix else ''}"


def _has_top_box(path: str, kind: bytes) -> bool:
    """Whether an MP4/MOV file has a top-level box of this kind (walks the box headers only)."""
    try:
        with open(path, "rb") as f:
            end = os.fstat(f.fileno()).st_size
            at = 0
            for _ in range(100_000):
                f.seek(at)
                header = f.read(16)
                if len(header) < 8:
                    return False
                size, box = int.from_bytes(header[:4], "big"), header[4:8]
                if box == kind:
                    return True
                if size == 1 and len(header) == 16:
                    size = int.from_bytes(header[8:16], "big")
                elif size == 0:  # the last box runs to the end of the file
                    return False
                if size < 8 or at + size > end:
                    return False
                at += size
    except OSError:
        return True  # cannot tell; say nothing more precise
    return False


def _check_size(path: str, width: int, height: int) -> None:
    """BadFootageError for frames larger than the image import accepts (0 x 0 is not known yet)."""
    if not width and not height:
        return
    if width < 0 or height < 0 or max(width, height) > images.MAX_SIDE:
        raise BadFootageError(
            path,
            f"absurd dimensions: {width}x{height} px (each side must be 1 to {images.MAX_SIDE} px)",
        )
    if width * height > images.MAX_PIXELS:
        raise BadFootageError(
            path,
            f"absurd dimensions: {width}x{height} px is {width * height / 1e6:.0f} megapixels, "
            f"over the {images.MAX_PIXELS // 1_000_000} megapixel limit",
        )


def _rate(stream) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and rate > 0:
            value = float(rate)
            if 0.1 <= value <= 1000:  # containers write 90000 or 1/0 when they do not know
                return value
    return None


def _duration(container, stream) -> float | None:
    """The video stream's length in seconds, from the stream, its tags or the container."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = (stream.metadata or {}).get("DURATION") or (stream.metadata or {}).get("duration")
    if tag:  # Matroska writes each stream's length as a tag, "00:00:01.000000000"
        try:
            h, m, s = tag.split(":")
            return int(h) * 3600 + int(m) * 60 + float(s)
        except ValueError:
            pass
    if container.duration and len(container.streams) == 1:
        return container.duration / 1_000_000
    return None


def _rotation(frame) -> int:
    """Quarter turns counter-clockwise that show the frame upright (phones store a matrix)."""
    try:
        angle = float(frame.rotation or 0)
    except Exception:
        return 0
    return round(angle / 90) % 4


def _display_size(container, stream) -> tuple[int, int]:
    """Width and height as shown: the first frame's, turned by its display matrix."""
    width, height = stream.codec_context.width, stream.codec_context.height
    try:
        frame = next(container.decode(stream))
    except Exception:  # damage shows when the frames are read; the header's size stands
        return width, height
    if _rotation(frame) % 2:
        return frame.height, frame.width
    return frame.width, frame.height


def _frame_rgb(frame) -> np.ndarray:
    """The frame as upright HxWx3 RGB, transparency flattened onto the library's grey."""
    if any(c.is_alpha for c in frame.format.components):  # rgba, bgra, yuva420p...
        rgba = frame.to_ndarray(format="rgba")
        alpha = rgba[:, :, 3:4]
        if alpha.min() < 255:
            a = alpha.astype(np.float32) / 255.0
            flat = rgba[:, :, :3] * a + np.asarray(images.BACKGROUND, np.float32) * (1.0 - a)
            rgb = np.clip(flat + 0.5, 0, 255).astype(np.uint8)
        else:
            rgb = rgba[:, :, :3]
    else:
        rgb = frame.to_ndarray(format="rgb24")
    turns = _rotation(frame)
    return np.rot90(rgb, turns) if turns else rgb


def _jpeg(rgb: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(
        out, "JPEG", quality=JPEG_QUALITY, subsampling=0
    )
    return out.getvalue()


def _video_frames(
    path: str,
    container,
    stream,
    every: int,
    max_frames: int | None,
    fps: float | None,
    cancel: CancelToken | None,
) -> Iterator[FootageFrame | FootageSkip]:
    try:
        rate = _rate(stream) or (fps if fps and fps > 0 else None)
        start = stream.start_time if stream.start_time is not None else None
        base = stream.time_base or Fraction(0)
        decoded = kept = 0
        last_time: float | None = None
        damaged = False
        frames = container.decode(stream)
        while True:
            if cancel is not None:
                cancel.raise_if_cancelled()
            try:
                frame = next(frames)
            except StopIteration:
                break
            except (av.error.FFmpegError, OSError, ValueError, MemoryError):
                damaged = True
                break
            source = decoded
            decoded += 1
            if frame.pts is not None and base:
                first = start if start is not None else 0
                time_s: float | None = max(0.0, float((frame.pts - first) * base))
            else:
                time_s = source / rate if rate else None
            last_time = time_s
            if source % every:
                continue
            if kept == 0:
                _check_size(path, frame.width, frame.height)
            try:
                rgb = _frame_rgb(frame)
            except (av.error.FFmpegError, ValueError, MemoryError):
                damaged = True
                break
            yield FootageFrame(
                index=kept,
                source_index=source,
                time_s=None if time_s is None else round(time_s, 6),
                data=_jpeg(rgb),
                mime="image/jpeg",
                width=int(rgb.shape[1]),
                height=int(rgb.shape[0]),
            )
            kept += 1
            if max_frames is not None and kept >= max_frames:
                return
        if not damaged:
            damaged = _ended_early(container, stream, decoded, last_time, rate)
        if decoded == 0:
            if damaged or _duration(container, stream) or stream.frames:
                raise BadFootageError(
                    path, "a damaged or truncated video: no frame could be decoded", hint=_AGAIN
                )
            raise BadFootageError(path, "a video with no frames in it")
        if damaged:
            yield FootageSkip(
                decoded,
                f"frame {decoded}",
                f"stopped at frame {decoded}: the file is damaged or truncated",
            )
    finally:
        container.close()


def _ended_early(container, stream, decoded: int, last_time: float | None, rate) -> bool:
    """Whether decoding stopped well short of the length the file's headers state."""
    expected = int(stream.frames or 0)
    if expected and decoded < expected - max(1, expected // 50):
        return True
    duration = _duration(container, stream)
    if duration and rate and last_time is not None:
        reached = last_time + 1.0 / rate
        return reached < duration - max(2.0 / rate, 0.1, 0.02 * duration)
    return False


def _name(path: str) -> str:
    return os.path.basename(os.path.normpath(path)) or path
