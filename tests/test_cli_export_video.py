"""`persona-studio export` to an MP4 (a shot, or the whole timeline at the shots' rates), the
whole timeline as PNG folders, render shots' frame rates, a cancelled video and bad outputs."""

from __future__ import annotations

import io
import json

import av
import numpy as np
import pytest
from PIL import Image

from studio.__main__ import main
from studio.core.jobs import CancelToken
from studio.core.shots import ImportedFrame
from studio.core.takes import ExportSpec, retime
from studio.jobs import kinds
from studio.jobs.export_kinds import Export
from studio.jobs.runner import JobRunner
from studio.project import renders as render_rows
from studio.project import shots as shot_rows
from studio.services import export
from studio.services.projects import new_project, open_project

WALK = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]  # three rendered frames, 64x48
GREEN = (20, 180, 60)  # the footage's four frames, 40x30 at 24 fps


@pytest.fixture(autouse=True)
def _export_kind():
    kinds.register(Export(), ExportSpec)


def _png(colour, size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def path(tmp_path, capsys):
    """A render shot 'Walk' at 12 fps with three takes, then footage 'Set visit' at 24 fps."""
    p = tmp_path / "film.pstudio"
    new_project(p, "Ada").close()
    code, _, err = run(capsys, "shots", "add", p, "Walk", "--persona", "Ada", "--frames", "3")
    assert code == 0, err
    code, out, err = run(capsys, "shots", "set", p, "Walk", "--fps", "12")
    assert code == 0, err
    assert "frame rate:  12 fps" in out
    with open_project(p) as project:
        shot = shot_rows.get_shot(project, "Walk")
        for i, colour in enumerate(WALK):
            provenance = {"seed": i, "prompt": "walks", "model_name": "Base SD", "width": 64}
            provenance["height"] = 48  # as the renderer records it
            render_rows.store_take(project, shot.id, i, _png(colour), provenance)
        jpeg = io.BytesIO()
        Image.new("RGB", (40, 30), GREEN).save(jpeg, "JPEG", quality=95)
        frames = [
            ImportedFrame(i, i, i / 24, jpeg.getvalue(), "image/jpeg", 40, 30) for i in range(4)
        ]
        shot_rows.add_shot(project, "Set visit", [], frames, source_kind="images", fps=24.0)
    return p


def _decode(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return frames, float(stream.average_rate), dict(container.metadata)


def _close(frame, colour) -> bool:
    return np.abs(frame.astype(int) - np.array(colour)).mean() < 6


def test_a_shot_exports_as_an_mp4_at_its_rate(capsys, path, tmp_path):
    code, out, err = run(capsys, "export", path, "--shot", "walk", "-o", tmp_path / "walk.mp4")
    assert code == 0, err
    assert out.startswith(f"Wrote {tmp_path / 'walk.mp4'}: Walk, 3 frames at 12 fps (0.2 s)")
    frames, rate, metadata = _decode(tmp_path / "walk.mp4")
    assert len(frames) == 3 and frames[0].shape == (48, 64, 3) and rate == pytest.approx(12)
    assert all(_close(f, c) for f, c in zip(frames, WALK, strict=True))
    assert metadata["title"] == "Walk"
    assert "persona: Ada" in metadata["comment"] and "model: Base SD" in metadata["comment"]


def test_the_whole_timeline_plays_its_shots_in_order_at_the_first_shots_rate(
    capsys, path, tmp_path
):
    code, out, err = run(capsys, "export", path, "-o", tmp_path / "film.mp4", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["shots"] == ["Walk", "Set visit"] and data["fps"] == 12
    assert "different rates (12, 24 fps)" in data["message"]
    assert "scaled to 64x48, letterboxed" in data["message"]
    frames, rate, metadata = _decode(tmp_path / "film.mp4")
    # Walk's 3 frames at 12 fps, then the footage's 4 frames at 24 fps as 2 frames at 12 fps.
    assert len(frames) == 5 and rate == pytest.approx(12) and metadata["title"] == "film"
    assert all(_close(f, c) for f, c in zip(frames[:3], WALK, strict=True))
    for frame in frames[3:]:
        assert frame.shape == (48, 64, 3)
        assert _close(frame[6:42, 4:60], GREEN)  # 40x30 scaled to 64x48 fills it
    assert data["frames"] == 5


def test_the_whole_timeline_as_pngs_gets_a_folder_a_shot(capsys, path, tmp_path):
    code, out, err = run(capsys, "export", path, "-o", tmp_path / "seq")
    assert code == 0, err
    assert "Wrote 7 frames of 2 shots" in out
    assert sorted(p.name for p in (tmp_path / "seq" / "Walk").iterdir()) == [
        "Walk_0001.png",
        "Walk_0002.png",
        "Walk_0003.png",
    ]
    assert len(list((tmp_path / "seq" / "Set_visit").iterdir())) == 4
    with Image.open(tmp_path / "seq" / "Walk" / "Walk_0002.png") as im:
        assert "persona-studio" in im.info and im.getpixel((5, 5)) == WALK[1]


def test_a_cancelled_video_export_leaves_no_file(path, tmp_path):
    target = tmp_path / "cut.mp4"
    cancel = CancelToken()
    seen = []

    def progress(p):
        seen.append(p.message)
        if p.message.startswith("frame 2 "):
            cancel.cancel()

    with open_project(path) as project:
        spec = export.plan_export(project, None, target)
        job = JobRunner(project).run(spec, progress=progress, cancel=cancel)
    assert job.state == "cancelled"
    assert "frame 2 of 5" in seen
    assert list(tmp_path.glob("*.mp4")) == [] and list(tmp_path.glob(".cut*")) == []


def test_bad_outputs_and_rates_get_a_clear_message(capsys, path, tmp_path):
    (tmp_path / "clip.mp4").mkdir()
    code, _, err = run(capsys, "export", path, "--shot", "Walk", "-o", tmp_path / "clip.mp4")
    assert code == 1 and "is a folder, not a video file" in err and "Traceback" not in err
    code, _, err = run(capsys, "export", path, "--shot", "Walk", "-o", tmp_path / "clip.avi")
    assert code == 1 and "Cannot export to '.avi' files" in err and ".mp4" in err
    code, _, err = run(capsys, "export", path, "-o", tmp_path / "a.mp4", "--frames", "1-2")
    assert code == 1 and "only in one shot" in err
    code, _, err = run(capsys, "shots", "set", path, "Walk", "--fps", "0")
    assert code == 1 and "out of range" in err
    code, _, err = run(capsys, "shots", "set", path, "Set visit", "--fps", "30")
    assert code == 1 and "plays at its footage's frame rate" in err
    assert not (tmp_path / "clip.avi").exists() and not (tmp_path / "a.mp4").exists()


def test_a_render_shot_plays_at_24_fps_until_given_a_rate(capsys, path):
    code, out, err = run(capsys, "shots", "add", path, "Run", "--persona", "Ada", "--fps", "30")
    assert code == 0, err
    assert "frame rate:  30 fps" in out
    code, out, _ = run(capsys, "shots", "add", path, "Jump", "--persona", "Ada")
    assert "frame rate:  24 fps (the default)" in out
    with open_project(path, read_only=True) as project:
        rates = {s.name: export.shot_rate(s) for s in shot_rows.list_shots(project)}
    assert rates == {"Walk": 12, "Set visit": 24, "Run": 30, "Jump": 24}


def test_retime_repeats_or_drops_frames_by_time():
    assert retime(4, 24, 12) == (1, 0, 1, 0)
    assert retime(2, 12, 24) == (2, 2)
    assert retime(3, 24, 24) == (1, 1, 1)
    assert sum(retime(25, 25, 24)) == 24
