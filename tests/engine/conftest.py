"""Fixtures for the engine tests: real photos, one dlib engine per session, tiny ONNX models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.photos import (  # noqa: F401  (fixtures)
    camera_operator_rgb,
    insightface_photos,
    nova_rgb,
    sdist_photos,
)
from tests.fixtures.tiny_models import tiny_sd15, tiny_sdxl  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One torch thread for the tiny diffusion models: on a shared 2-core machine two threads
    wait on each other (a 32 px frame takes seconds instead of a fifth of one)."""
    import sys

    if "torch" not in sys.modules:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def dlib_engine():
    """The dlib engine, loaded once: its models take a moment and tests only read from it."""
    from studio.engine.faces import load_engine

    engine = load_engine("dlib")
    yield engine
    engine.close()


# -- tiny ONNX models with insightface's layouts --------------------------------------------------

SQUARE = 32  # the tiny detector "sees a face" in each bright 32x32 cell of its input
BOX_HALF = 3  # box half-size in strides: a bright cell at (x, y) gives a 192 px box around it
KPS = (-1.0, -0.5, 1.0, -0.5, 0.0, 0.3, -0.8, 1.2, 0.8, 1.2)  # landmark offsets in strides


def build_scrfd(path: Path) -> Path:
    """An SCRFD-shaped detector: 9 outputs (score, bbox, kps at strides 8, 16, 32; 2 anchors).

    Only stride 32 responds: score = sigmoid(10 * (cell brightness - 0.5)) on the normalised
    input, so a white 32x32 cell on black scores ~0.99 at the cell's top-left anchor.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, outputs = [], [], []
    for s in (8, 16, 32):
        nodes.append(
            helper.make_node(
                "AveragePool", ["input.1"], [f"pool{s}"], kernel_shape=[s, s], strides=[s, s]
            )
        )

    def head(kind: str, s: int, channels: int, weight: float, bias, width: int) -> None:
        w = numpy_helper.from_array(
            np.full((channels, 3, 1, 1), weight, np.float32), f"w_{kind}{s}"
        )
        b = numpy_helper.from_array(np.asarray(bias, np.float32).reshape(channels), f"b_{kind}{s}")
        shape = numpy_helper.from_array(np.array([-1, width], np.int64), f"shape_{kind}{s}")
        inits.extend([w, b, shape])
        src = f"conv_{kind}{s}"
        nodes.append(helper.make_node("Conv", [f"pool{s}", w.name, b.name], [src]))
        if kind == "score":
            nodes.append(helper.make_node("Sigmoid", [src], [f"sig{s}"]))
            src = f"sig{s}"
        nodes.append(helper.make_node("Transpose", [src], [f"tr_{kind}{s}"], perm=[0, 2, 3, 1]))
        nodes.append(helper.make_node("Reshape", [f"tr_{kind}{s}", shape.name], [f"{kind}_{s}"]))
        outputs.append(
            helper.make_tensor_value_info(f"{kind}_{s}", TensorProto.FLOAT, [f"n{s}", width])
        )

    for s in (8, 16, 32):
        if s == 32:
            head("score", s, 2, 10 / 3, [-5.0, -5.0], 1)
        else:
            head("score", s, 2, 0.0, [-20.0, -20.0], 1)
    for s in (8, 16, 32):
        head("bbox", s, 8, 0.0, [float(BOX_HALF)] * 8, 4)
    for s in (8, 16, 32):
        head("kps", s, 20, 0.0, list(KPS) * 2, 10)
    graph = helper.make_graph(
        nodes,
        "scrfd_tiny",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "h", "w"])],
        outputs,
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def build_arcface(path: Path, dim: int = 64, symbolic_dim: bool = False) -> Path:
    """An ArcFace-shaped recognizer: input N x 3 x 112 x 112, one output N x dim (not unit)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((3 * 14 * 14, dim)).astype(np.float32), "fc_w")
    shape = numpy_helper.from_array(np.array([0, -1], np.int64), "flat_shape")
    # Node names avoid "Sub"/"Mul" prefixes, which insightface reads as an mxnet export.
    nodes = [
        helper.make_node(
            "AveragePool", ["data"], ["pooled"], kernel_shape=[8, 8], strides=[8, 8], name="Pool_0"
        ),
        helper.make_node("Reshape", ["pooled", "flat_shape"], ["flat"], name="Reshape_1"),
        helper.make_node("MatMul", ["flat", "fc_w"], ["fc1"], name="MatMul_2"),
    ]
    graph = helper.make_graph(
        nodes,
        "arcface_tiny",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [
            helper.make_tensor_value_info(
                "fc1", TensorProto.FLOAT, ["N", "D" if symbolic_dim else dim]
            )
        ],
        [w, shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def tiny_pack(tmp_path_factory) -> Path:
    """A model-pack folder holding a tiny SCRFD detector and a tiny ArcFace recognizer."""
    pytest.importorskip("onnx", reason="onnx is installed by `make .venv/.installed`")
    pytest.importorskip("insightface", reason="insightface is installed by `make .venv/.installed`")
    folder = tmp_path_factory.mktemp("models") / "tiny_pack"
    folder.mkdir()
    build_scrfd(folder / "det_tiny.onnx")
    build_arcface(folder / "rec_tiny.onnx")
    return folder


@pytest.fixture(scope="session")
def tiny_engine(tiny_pack):
    """The insightface engine over the tiny pack, loaded once."""
    from studio.engine.faces import load_engine

    return load_engine("insightface", model_dir=tiny_pack)


def bright_square(
    side: int = 640, at: tuple[int, int] = (320, 320), size: int = SQUARE
) -> np.ndarray:
    """A black RGB image with one white square: a "face" to the tiny detector."""
    img = np.zeros((side, side, 3), np.uint8)
    x, y = at
    img[y : y + size, x : x + size] = 255
    return img
