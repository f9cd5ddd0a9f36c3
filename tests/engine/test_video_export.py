"""The video writer: H.264 MP4 files that decode back to the frames, size, rate and metadata
they were written with; letterboxing of other sizes; a cancelled video leaves no file."""

from __future__ import annotations

import av
import numpy as np
import pytest

from studio.core.errors import Cancelled, StudioError
from studio.core.jobs import CancelToken
from studio.engine.export import fit_frame, write_video


def _gradient(width: int, height: int, shift: int = 0) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    rgb = np.stack([np.broadcast_to(x, (height, width)), np.broadcast_to(y, (height, width))])
    rgb = np.concatenate([rgb, np.full((1, height, width), 128 + shift, np.float32)])
    return np.clip(rgb.transpose(1, 2, 0), 0, 255).astype(np.uint8)


def _decode(path) -> tuple[list[np.ndarray], object, dict]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return frames, stream.average_rate, dict(container.metadata)


def test_a_video_decodes_back_to_its_frames_size_rate_and_metadata(tmp_path):
    source = [_gradient(96, 64, shift=i * 10) for i in range(7)]
    seen = []
    out = write_video(
        tmp_path / "walk.mp4",
        source,
        width=96,
        height=64,
        fps=12,
        title="Walk",
        comment="persona: Ada; model: Base",
        total=7,
        progress=seen.append,
    )
    assert out == tmp_path / "walk.mp4"
    frames, rate, metadata = _decode(out)
    assert len(frames) == 7
    assert frames[0].shape == (64, 96, 3)
    assert float(rate) == pytest.approx(12)
    assert metadata["title"] == "Walk"
    assert metadata["comment"] == "persona: Ada; model: Base"
    for got, want in ((frames[0], source[0]), (frames[6], source[6])):
        assert np.abs(got.astype(int) - want.astype(int)).mean() < 3
    assert [p.done for p in seen] == list(range(1, 8)) and seen[-1].total == 7
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.mp4"]  # no temporary file left


def test_frames_of_other_sizes_are_letterboxed_and_odd_sizes_made_even(tmp_path):
    wide = np.full((20, 80, 3), 200, np.uint8)
    fitted = fit_frame(wide, 64, 48)
    assert fitted.shape == (48, 64, 3)
    assert (fitted[:6] == 0).all() and (fitted[-6:] == 0).all()  # bars above and below
    assert (fitted[20:28] == 200).all()  # the picture itself fills the width

    path = write_video(
        tmp_path / "mixed.mp4",
        [np.full((51, 65, 3), 90, np.uint8), wide],
        width=0,  # the first frame's size, made even
        height=0,
        fps=25,
    )
    frames, rate, _ = _decode(path)
    assert [f.shape for f in frames] == [(50, 64, 3)] * 2
    assert float(rate) == pytest.approx(25)
    assert np.abs(frames[0].astype(int) - 90).mean() < 3
    assert frames[1][:5].mean() < 20 and abs(frames[1][25].mean() - 200) < 10


def test_a_cancelled_video_leaves_no_file(tmp_path):
    cancel = CancelToken()

    def progress(p):
        if p.done == 3:
            cancel.cancel()

    with pytest.raises(Cancelled):
        write_video(
            tmp_path / "cut.mp4",
            (_gradient(32, 32) for _ in range(10)),
            width=32,
            height=32,
            fps=24,
            total=10,
            progress=progress,
            cancel=cancel,
        )
    assert list(tmp_path.iterdir()) == []


def test_a_video_without_frames_or_in_a_folder_it_cannot_write_is_refused(tmp_path):
    with pytest.raises(StudioError, match="no frames"):
        write_video(tmp_path / "empty.mp4", [], width=32, height=32, fps=24)
    (tmp_path / "taken").write_text("a file where a folder should be")
    with pytest.raises(StudioError, match="Cannot write"):
        write_video(tmp_path / "taken" / "x.mp4", [_gradient(32, 32)], width=32, height=32, fps=24)
    assert not (tmp_path / "empty.mp4").exists()
