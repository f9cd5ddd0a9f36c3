"""Decoding footage: video containers, GIFs and folders of numbered images; refusing bad files."""

from __future__ import annotations

import io
import os
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from studio.core.errors import Cancelled
from studio.core.jobs import CancelToken
from studio.engine import footage, images
from studio.engine.footage import (
    BadFootageError,
    FootageFrame,
    FootageSkip,
    probe,
    read_footage,
)

N, FPS, WIDTH, HEIGHT = 24, 24, 64, 48


def colour(i: int) -> tuple[int, int, int]:
    """Frame i's colour: neighbours differ by far more than compression moves a flat colour."""
    return 30 + 8 * i, 220 - 7 * i, 40 + 60 * (i % 4)


def write_clip(
    path: Path,
    codec: str,
    *,
    n: int = N,
    fps: int = FPS,
    size: tuple[int, int] = (WIDTH, HEIGHT),
    texture: bool = False,
    rotation: int | None = None,
    options: dict | None = None,
) -> Path:
    """A clip of n solid-colour frames (texture: with noise, so each frame costs some bytes)."""
    if codec not in av.codecs_available:
        pytest.skip(f"this FFmpeg build has no {codec} encoder")
    w, h = size
    rng = np.random.default_rng(1)
    with av.open(str(path), "w", options=options or {}) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(n):
            img = np.empty((h, w, 3), np.int16)
            img[:] = colour(i)
            if texture:
                img[h // 2 :] += rng.integers(-40, 40, size=(h - h // 2, w, 3), dtype=np.int16)
            img[:8, :8] = 255  # a white mark in the top-left corner shows which way is up
            frame = av.VideoFrame.from_ndarray(np.clip(img, 0, 255).astype(np.uint8), "rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return path


def decoded(frame: FootageFrame) -> np.ndarray:
    with Image.open(io.BytesIO(frame.data)) as im:
        assert im.format == "JPEG" and im.size == (frame.width, frame.height)
        return np.asarray(im.convert("RGB"))


def which(frame: FootageFrame) -> int:
    """The source frame whose colour this frame shows (from its untouched bottom-right area)."""
    mean = decoded(frame)[frame.height // 4 : frame.height // 2, frame.width // 2 :].mean((0, 1))
    distances = [np.linalg.norm(mean - np.array(colour(i))) for i in range(N)]
    assert min(distances) < 12, f"frame colour {mean} is none of the clip's"
    return int(np.argmin(distances))


def split(items) -> tuple[list[FootageFrame], list[FootageSkip]]:
    items = list(items)
    frames = [x for x in items if isinstance(x, FootageFrame)]
    skips = [x for x in items if isinstance(x, FootageSkip)]
    assert len(frames) + len(skips) == len(items)
    return frames, skips


def one_line(exc: pytest.ExceptionInfo, name: str) -> str:
    text = str(exc.value)
    assert "\n" not in text and text.startswith(f"{name}: ")
    return exc.value.reason


CONTAINERS = [  # file, encoder, the codec the file then holds
    ("clip.mp4", "mpeg4", "mpeg4"),
    ("clip.mp4", "libx264", "h264"),
    ("clip.mkv", "libx264", "h264"),
    ("clip.webm", "libvpx-vp9", "vp9"),
    ("clip.webm", "libvpx", "vp8"),
    ("clip.mov", "mpeg4", "mpeg4"),
    ("clip.avi", "mpeg4", "mpeg4"),
]


@pytest.mark.parametrize(("name", "encoder", "codec"), CONTAINERS)
def test_every_frame_of_each_container_comes_back_in_order(tmp_path, name, encoder, codec):
    path = write_clip(tmp_path / name, encoder)
    info = probe(path)
    assert (info.kind, info.width, info.height) == ("video", WIDTH, HEIGHT)
    assert info.fps == pytest.approx(FPS) and info.frame_count == N
    assert info.duration_s == pytest.approx(N / FPS, abs=0.05)
    assert info.codec == codec
    frames, skips = split(read_footage(path))
    assert skips == []
    assert [f.index for f in frames] == list(range(N))
    assert [f.source_index for f in frames] == list(range(N))
    assert [f.time_s for f in frames] == pytest.approx([i / FPS for i in range(N)], abs=2e-3)
    assert all(f.mime == "image/jpeg" and (f.width, f.height) == (WIDTH, HEIGHT) for f in frames)
    assert [which(f) for f in frames] == list(range(N))


def test_every_nth_frame_and_the_frame_cap(tmp_path):
    path = write_clip(tmp_path / "clip.mp4", "mpeg4")
    frames, _ = split(read_footage(path, every=3))
    assert [f.source_index for f in frames] == [0, 3, 6, 9, 12, 15, 18, 21]
    assert [f.index for f in frames] == list(range(8))
    assert [which(f) for f in frames] == [0, 3, 6, 9, 12, 15, 18, 21]
    assert frames[2].time_s == pytest.approx(6 / FPS, abs=2e-3)
    capped, skips = split(read_footage(path, every=3, max_frames=4))
    assert [f.source_index for f in capped] == [0, 3, 6, 9] and skips == []
    with pytest.raises(ValueError):
        read_footage(path, every=0)


def test_video_frames_are_high_quality_jpeg_with_full_colour_resolution(tmp_path):
    path = write_clip(tmp_path / "clip.mkv", "libx264")
    frame = next(iter(read_footage(path)))
    with Image.open(io.BytesIO(frame.data)) as im:
        assert im.format == "JPEG"
        assert im.layer[0][1:3] == im.layer[1][1:3] == (1, 1)  # no chroma subsampling
    rgb = decoded(frame)
    assert rgb[:6, :6].min() > 230  # the white mark stays top-left
    np.testing.assert_allclose(rgb[20:40, 30:60].mean((0, 1)), colour(0), atol=8)


def test_an_animated_gif_is_a_clip(tmp_path):
    path = tmp_path / "loop.gif"
    pictures = [Image.new("RGB", (WIDTH, HEIGHT), colour(i)) for i in range(12)]
    pictures[0].save(path, save_all=True, append_images=pictures[1:], duration=100, loop=0)
    info = probe(path)
    assert info.fps == pytest.approx(10) and info.frame_count == 12 and info.codec == "gif"
    frames, skips = split(read_footage(path))
    assert skips == [] and len(frames) == 12  # one loop, not forever
    assert [f.time_s for f in frames] == pytest.approx([i / 10 for i in range(12)])
    for i, f in enumerate(frames):
        np.testing.assert_allclose(decoded(f).mean((0, 1)), colour(i), atol=6)


def test_a_rotated_phone_video_comes_back_upright(tmp_path):
    # Stored landscape with a display matrix saying: turn it a quarter counter-clockwise.
    path = write_clip(tmp_path / "phone.mp4", "libx264", n=3, rotation=90)
    assert (probe(path).width, probe(path).height) == (HEIGHT, WIDTH)
    frame = next(iter(read_footage(path)))
    assert (frame.width, frame.height) == (HEIGHT, WIDTH)
    rgb = decoded(frame)
    assert rgb[-6:, :6].min() > 230  # the top-left mark turned to the bottom-left


# -- folders of numbered images -------------------------------------------------------------------


def png(rgb: tuple[int, int, int], size=(32, 24)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, rgb).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def frame_folder(tmp_path) -> Path:
    """f1.png .. f12.png (f5 is really text), a notes file, a hidden file and a subfolder."""
    folder = tmp_path / "shot"
    folder.mkdir()
    for i in range(1, 13):
        (folder / f"f{i}.png").write_bytes(png(colour(i)))
    (folder / "f5.png").write_text("not a picture\n")
    (folder / "notes.txt").write_text("take 3")
    (folder / ".DS_Store").write_bytes(b"\x00\x01")
    (folder / "extras").mkdir()
    return folder


def test_a_folder_of_numbered_images_in_natural_order_with_a_bad_one_skipped(frame_folder):
    frames, skips = split(read_footage(frame_folder))
    assert [f.source_index for f in frames] == [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11]
    assert [f.index for f in frames] == list(range(11))
    for f in frames:  # f1 is source 0: colour(source + 1)
        with Image.open(io.BytesIO(f.data)) as im:
            assert im.getpixel((0, 0)) == colour(f.source_index + 1)
        assert f.data == (frame_folder / f"f{f.source_index + 1}.png").read_bytes()
        assert (f.mime, f.width, f.height, f.time_s) == ("image/png", 32, 24, None)
    assert FootageSkip(4, "f5.png", "a text file named .png, not an image") in skips
    assert FootageSkip(None, "notes.txt", "not an image (.txt)") in skips
    assert len(skips) == 2  # the hidden file and the subfolder are not frames


def test_a_folder_with_a_frame_rate_every_nth_and_a_cap(frame_folder):
    frames, _ = split(read_footage(frame_folder, every=3, fps=12.0, max_frames=3))
    assert [f.source_index for f in frames] == [0, 3, 6]
    assert [f.time_s for f in frames] == pytest.approx([0.0, 0.25, 0.5])


def test_folder_frames_keep_their_bytes_and_report_their_upright_size(tmp_path):
    folder = tmp_path / "phone"
    folder.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown turned a quarter clockwise
    buf = io.BytesIO()
    Image.new("RGB", (40, 20), (200, 30, 30)).save(buf, "JPEG", exif=exif)
    (folder / "frame_001.jpg").write_bytes(buf.getvalue())
    (frame,) = split(read_footage(folder))[0]
    assert frame.data == buf.getvalue() and frame.mime == "image/jpeg"
    assert (frame.width, frame.height) == (20, 40)


def test_probe_a_folder(frame_folder):
    info = probe(frame_folder)
    assert (info.kind, info.frame_count, info.width, info.height, info.codec) == (
        "images",
        12,
        32,
        24,
        "png",
    )
    assert info.fps is None and info.duration_s is None


def test_a_folder_without_images_is_refused(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / "readme.txt").write_text("nothing here")
    with pytest.raises(BadFootageError) as exc:
        read_footage(folder)
    assert "holds no images" in one_line(exc, "empty")
    with pytest.raises(BadFootageError, match="holds no images"):
        probe(folder)


def test_a_folder_whose_images_are_all_bad_reads_as_skips(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "1.png").write_bytes(b"")
    noise = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, "PNG")
    (folder / "2.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    frames, skips = split(read_footage(folder))
    assert frames == []
    assert [s.reason for s in skips][0] == "empty file (0 bytes)"
    assert skips[1].reason.startswith("truncated PNG: the file ends inside its IDAT chunk")
    with pytest.raises(BadFootageError, match="none of its 2 images can be read"):
        probe(folder)


# -- bad files ------------------------------------------------------------------------------------


def test_an_empty_file_is_refused(tmp_path):
    path = tmp_path / "render.mp4"
    path.write_bytes(b"")
    with pytest.raises(BadFootageError) as exc:
        read_footage(path)
    assert one_line(exc, "render.mp4") == "empty file (0 bytes)"


def test_text_renamed_mp4_is_refused(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("shot list:\n1. wide\n2. close-up\n" * 10)
    with pytest.raises(BadFootageError) as exc:
        read_footage(path)
    assert one_line(exc, "notes.mp4") == "a text file named .mp4, not a video"
    with pytest.raises(BadFootageError, match="not a video"):
        probe(path)


def test_random_bytes_are_not_a_video(tmp_path):
    path = tmp_path / "noise.mkv"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(BadFootageError) as exc:
        read_footage(path)
    assert "not a video format" in one_line(exc, "noise.mkv")


def test_a_single_image_is_not_a_video(tmp_path):
    path = tmp_path / "still.png"
    path.write_bytes(png((9, 9, 9)))
    with pytest.raises(BadFootageError, match="a single image, not a video"):
        read_footage(path)


def test_an_audio_file_has_no_video_stream(tmp_path):
    path = tmp_path / "voice.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        out.mux(stream.encode(frame))
        out.mux(stream.encode())
    with pytest.raises(BadFootageError) as exc:
        read_footage(path)
    assert one_line(exc, "voice.mkv") == "holds no video stream (only audio)"


def test_missing_files_and_broken_links_are_refused(tmp_path):
    with pytest.raises(BadFootageError) as exc:
        read_footage(tmp_path / "gone.mp4")
    assert one_line(exc, "gone.mp4") == "no such file (it was moved or deleted)"
    link = tmp_path / "link.mp4"
    link.symlink_to(tmp_path / "moved.mp4")
    with pytest.raises(BadFootageError) as exc:
        read_footage(link)
    assert one_line(exc, "link.mp4").startswith("broken symbolic link (it points to ")


def test_an_unreadable_file_is_refused(tmp_path):
    path = write_clip(tmp_path / "locked.mp4", "mpeg4", n=2)
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who can read anything (root)")
        with pytest.raises(BadFootageError) as exc:
            read_footage(path)
        assert one_line(exc, "locked.mp4") == "cannot read the file: permission denied"
    finally:
        path.chmod(0o644)


def test_a_file_that_cannot_be_opened_for_reading_is_refused(tmp_path, monkeypatch):
    # The same branch as above for whoever runs the tests, root included.
    path = write_clip(tmp_path / "locked.mp4", "mpeg4", n=2)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(footage, "open", denied, raising=False)
    with pytest.raises(BadFootageError) as exc:
        read_footage(path)
    assert one_line(exc, "locked.mp4") == "cannot read the file: permission denied"


def test_absurd_dimensions_are_refused(tmp_path, monkeypatch):
    path = write_clip(tmp_path / "clip.mp4", "mpeg4", n=2)
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)  # a 64x48 clip is "too large" now
    with pytest.raises(BadFootageError) as exc:
        read_footage(path)
    assert one_line(exc, "clip.mp4").startswith("absurd dimensions: 64x48 px")


def test_an_mp4_cut_in_half_has_lost_its_index(tmp_path):
    # FFmpeg writes the index (moov) after the frames: half a file has none and is unusable.
    path = write_clip(tmp_path / "clip.mp4", "libx264", texture=True)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadFootageError) as exc:
        read_footage(cut)
    assert "truncated" in one_line(exc, "cut.mp4") and "index" in exc.value.reason


@pytest.mark.parametrize(
    ("name", "codec", "options"),
    [
        ("fast.mp4", "libx264", {"movflags": "faststart"}),  # the index first, as for the web
        ("clip.webm", "libvpx", None),
        ("clip.mkv", "libx264", None),
    ],
)
def test_a_video_cut_in_half_keeps_the_frames_before_the_cut(tmp_path, name, codec, options):
    path = write_clip(tmp_path / name, codec, texture=True, options=options, size=(96, 96))
    data = path.read_bytes()
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(data[: len(data) // 2])
    items = list(read_footage(cut))
    frames, skips = split(items)
    assert 4 <= len(frames) < N
    assert [f.source_index for f in frames] == list(range(len(frames)))
    for f in frames:  # what came back is the clip's own frames, not garbage
        rgb = decoded(f)[30:48, 48:].mean((0, 1))
        assert np.linalg.norm(rgb - np.array(colour(f.source_index))) < 12
    n = len(frames)
    assert items[-1] == FootageSkip(
        n, f"frame {n}", f"stopped at frame {n}: the file is damaged or truncated"
    )
    assert len(skips) == 1


def test_cancel_stops_between_frames(tmp_path, frame_folder):
    path = write_clip(tmp_path / "clip.mp4", "mpeg4")
    token = CancelToken()
    got = []
    with pytest.raises(Cancelled):
        for item in read_footage(path, cancel=token):
            got.append(item)
            if len(got) == 3:
                token.cancel()
    assert len(got) == 3
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        next(iter(read_footage(frame_folder, cancel=token)))


# -- what the user dropped ------------------------------------------------------------------------


def test_the_module_keeps_to_its_layer():
    assert footage.VIDEO_SUFFIXES == {".mp4", ".mov", ".webm", ".mkv", ".gif", ".avi", ".m4v"}
    assert ".png" in footage.FRAME_SUFFIXES and ".gif" not in footage.FRAME_SUFFIXES
