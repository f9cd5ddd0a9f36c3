"""Pinning references to a render shot: stored in its settings, checked against the persona's
library, and fed to IP-Adapter in place of the library's picks."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from studio.core.errors import StudioError
from studio.core.faces import Face
from studio.core.render import RenderSettings
from studio.project import models as model_rows
from studio.services import audit, library, personas, rendering, renders

ENGINE = "test-engine"


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buf, "PNG")
    return buf.getvalue()


def _face(yaw: float, seed: int) -> Face:
    rng = np.random.default_rng(seed)
    base = np.ones(16, np.float32)
    vector = base + 0.05 * rng.standard_normal(16).astype(np.float32)
    return Face(
        box=(8.0, 8.0, 56.0, 56.0),
        landmarks=((20.0, 24.0), (44.0, 24.0), (32.0, 34.0), (22.0, 44.0), (42.0, 44.0)),
        score=0.99,
        size_px=48.0,
        yaw=yaw,
        sharpness=0.8,
        exposure=0.5,
        embedding=vector / np.linalg.norm(vector),
    )


def add_library(project, persona: str = "Ada") -> dict[str, str]:
    """Four approved references of the persona, scanned at yaws 0, 10, 40 and 60 degrees, and
    one quarantined: {file name: reference id}."""
    persona_id = personas.get_persona(project, persona).id
    ids = {}
    for i, yaw in enumerate((0.0, 10.0, 40.0, 60.0, 5.0)):
        name = f"{persona.lower()}-{i}.png"
        ref = library.add_reference_bytes(
            project, persona_id, _png((40 * i, 200 - 30 * i, 90)), mime="image/png",
            file_name=name, source_path=f"/photos/{name}", width=64, height=64,
        )  # fmt: skip
        audit.store_scan(project, ref.blob_sha, ENGINE, ENGINE, [_face(yaw, i)])
        ids[name] = ref.id
    audit.refresh_audit(project, persona_id, ENGINE)
    names = list(ids)
    audit.set_status(project, [ids[n] for n in names[:4]], "approved")
    audit.set_status(project, [ids[names[4]]], "quarantined")
    return ids


def add_adapter(project) -> None:
    """A base model and an IP-Adapter with its image encoder (registered, never loaded)."""

    def add(name, kind, **kw):
        return model_rows.add_model(
            project, name=name, kind=kind, family="sd15", format="safetensors",
            path=f"/models/{name}", sha256=hashlib.sha256(name.encode()).hexdigest(), size=1,
            **kw,
        )  # fmt: skip

    add("base", "base")
    encoder = add("encoder", "image-encoder")
    add("ip", "ip-adapter", variant="plain", encoder_id=encoder.id)


@pytest.fixture
def refs(project):
    return add_library(project)


def test_settings_without_pins_read_as_none_pinned():
    settings = RenderSettings.from_dict({"action": "walking", "frames": 3})
    assert settings.pinned_references == ()
    again = RenderSettings.from_dict(RenderSettings(pinned_references=("a", "b")).to_dict())
    assert again.pinned_references == ("a", "b")


def test_pins_are_stored_in_order_once_each(project, refs):
    shot = renders.add_render_shot(project, "Intro", ["Ada"], RenderSettings())
    wanted = (refs["ada-2.png"], refs["ada-0.png"], refs["ada-2.png"])
    stored = renders.set_render_settings(project, shot.id, pinned_references=wanted)
    assert stored.pinned_references == (refs["ada-2.png"], refs["ada-0.png"])
    assert renders.render_settings(project, shot.id).pinned_references == stored.pinned_references
    cleared = renders.set_render_settings(project, shot.id, pinned_references=())
    assert cleared.pinned_references == ()


def test_a_quarantined_unknown_or_other_personas_reference_is_refused(project, refs):
    personas.add_persona(project, "Bea")
    bea = add_library(project, "Bea")
    shot = renders.add_render_shot(project, "Intro", ["Ada"], RenderSettings())
    cases = {
        refs["ada-4.png"]: "quarantined",
        "no-such-id": "not one of Ada's references",
        bea["bea-0.png"]: "not one of Ada's references",
    }
    for ref_id, said in cases.items():
        with pytest.raises(StudioError, match=said) as caught:
            renders.set_render_settings(project, shot.id, pinned_references=(ref_id,))
        assert caught.value.hint
    assert renders.render_settings(project, shot.id).pinned_references == ()


def test_more_pins_than_ip_adapter_reads_are_refused(project, refs):
    shot = renders.add_render_shot(project, "Intro", ["Ada"], RenderSettings())
    six = (*tuple(refs.values())[:4], "x", "y")
    with pytest.raises(StudioError, match="at most 5"):
        renders.set_render_settings(project, shot.id, pinned_references=six)


def test_the_render_plan_feeds_the_pins_in_order_with_their_pose_gaps(project, refs):
    add_adapter(project)
    settings = RenderSettings(frames=1, ip_adapters=(("ip", 0.6),), references=3)
    shot = renders.add_render_shot(project, "Intro", ["Ada"], settings)
    picked = rendering.plan_render(project, [shot.id]).spec.shots[0]
    assert len(picked.references) == 3

    pins = (refs["ada-3.png"], refs["ada-1.png"])
    renders.set_render_settings(project, shot.id, pinned_references=pins)
    plan = rendering.plan_render(project, [shot.id])
    render = plan.spec.shots[0]
    shas = {
        r.id: r.blob_sha
        for r in library.list_references(project, personas.get_persona(project, "Ada").id)
    }
    assert render.references == tuple(shas[p] for p in pins)
    provenance = dict(render.provenance)
    assert provenance["reference_ids"] == pins
    assert provenance["reference_pose_gaps"] == (60.0, 10.0)
    # The turned pin is far from a frontal shot: the plan says so, as it does for picks.
    assert any("60°" in note for note in plan.notes)


def test_a_pin_quarantined_later_stops_the_render_with_a_hint(project, refs):
    add_adapter(project)
    settings = RenderSettings(frames=1, ip_adapters=(("ip", 0.6),))
    shot = renders.add_render_shot(project, "Intro", ["Ada"], settings)
    renders.set_render_settings(project, shot.id, pinned_references=(refs["ada-0.png"],))
    audit.set_status(project, [refs["ada-0.png"]], "quarantined")
    with pytest.raises(StudioError, match="quarantined") as caught:
        rendering.plan_render(project, [shot.id])
    assert "library's picks" in caught.value.hint


def test_a_pin_the_audit_found_no_face_in_is_refused_by_the_plan(project, refs):
    add_adapter(project)
    persona_id = personas.get_persona(project, "Ada").id
    blank = library.add_reference_bytes(
        project, persona_id, _png((1, 2, 3)), mime="image/png", file_name="blank.png",
        source_path="/photos/blank.png", width=64, height=64,
    )  # fmt: skip
    settings = RenderSettings(frames=1, ip_adapters=(("ip", 0.6),))
    shot = renders.add_render_shot(project, "Intro", ["Ada"], settings)
    renders.set_render_settings(project, shot.id, pinned_references=(blank.id,))
    with pytest.raises(StudioError, match="no face in the pinned 'blank.png'") as caught:
        rendering.plan_render(project, [shot.id])
    assert "audit" in caught.value.hint
