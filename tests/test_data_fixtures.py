"""Helpers shared by the data / evaluate / compare tests (no tests here).

Every file is made here, for real: JPEG/PNG images in ImageNet layouts, broken files, and
a tiny ONNX classifier (conv → ReLU → global pool → 1000-way Gemm) built with
``onnx.helper`` so the eval plumbing is tested on a real ONNX Runtime session without
paying for a torch export.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

IMAGENET_SYNSETS = ("n01440764", "n01443537", "n01484850", "n02123045", "n04592741")


def make_photo(seed: int, size: tuple[int, int] = (500, 375)) -> np.ndarray:
    """A smooth, photo-like RGB uint8 array (gradients + blobs) of ``size`` = (W, H)."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        a, b, ph = rng.uniform(0.005, 0.03, 2).tolist() + [rng.uniform(0, 6.28)]
        img[..., c] = 127 + 90 * np.sin(a * xx + b * yy + ph)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(20, 120)
        mask = ((xx - cx) ** 2 + (yy - cy) ** 2) < r * r
        img[mask] = rng.uniform(0, 255, 3)
    return np.clip(img, 0, 255).astype(np.uint8)


def save_jpeg(path: Path, seed: int, size: tuple[int, int] = (500, 375), quality: int = 90) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(make_photo(seed, size)).save(path, "JPEG", quality=quality)
    return path


def make_val_folder(root: Path, n: int, size: tuple[int, int] = (160, 120), labels: list[int] | None = None,
                    start: int = 1) -> Path:
    """``root/val/ILSVRC2012_val_XXXXXXXX.JPEG`` + ``root/val_label.txt``."""
    lines = []
    for i in range(n):
        name = f"ILSVRC2012_val_{start + i:08d}.JPEG"
        save_jpeg(root / "val" / name, seed=start + i, size=size)
        lines.append(f"{name} {labels[i] if labels else (start + i) * 37 % 1000}\n")
    (root / "val_label.txt").write_text("".join(lines))
    return root


def make_odd_and_bad(folder: Path) -> dict[str, str]:
    """The seven files of the issue's bad-files check; returns {file name: kind}."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    kinds: dict[str, str] = {}

    def name(i: int) -> str:
        return f"ILSVRC2012_val_{i:08d}"

    # truncated JPEG: a real JPEG cut to 40% of its bytes
    buf = io.BytesIO()
    Image.fromarray(make_photo(101)).save(buf, "JPEG", quality=90)
    (folder / f"{name(1)}.JPEG").write_bytes(buf.getvalue()[: len(buf.getvalue()) * 2 // 5])
    kinds[f"{name(1)}.JPEG"] = "truncated"
    (folder / f"{name(2)}.JPEG").write_bytes(b"")
    kinds[f"{name(2)}.JPEG"] = "zero-byte"
    (folder / f"{name(3)}.JPEG").write_text("this is not a JPEG, just text\n" * 20)
    kinds[f"{name(3)}.JPEG"] = "text"
    rgb = Image.fromarray(make_photo(104, (300, 200)))
    rgb.convert("CMYK").save(folder / f"{name(4)}.JPEG", "JPEG", quality=95)
    kinds[f"{name(4)}.JPEG"] = "cmyk"
    grad = (np.linspace(0, 65535, 256 * 192, dtype=np.float64).reshape(192, 256)).astype(np.uint16)
    Image.fromarray(grad).save(folder / f"{name(5)}.png")
    kinds[f"{name(5)}.png"] = "png16"
    Image.fromarray(make_photo(106, (320, 240))).convert("L").save(folder / f"{name(6)}.JPEG", "JPEG")
    kinds[f"{name(6)}.JPEG"] = "gray"
    rgba = Image.fromarray(make_photo(107, (240, 320))).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(folder / f"{name(7)}.png")
    kinds[f"{name(7)}.png"] = "rgba"
    (folder.parent / "val_label.txt").write_text("".join(f"{n} {i * 101 % 1000}\n" for i, n in enumerate(sorted(kinds))))
    return kinds


def make_tiny_onnx(path: Path, classes: int = 1000, seed: int = 0, channels: int = 8) -> Path:
    """conv3x3 s2 (3→C) → ReLU → GlobalAveragePool → Flatten → Gemm(C→classes), dynamic N/H/W."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((channels, 3, 3, 3)).astype(np.float32) * 0.5
    b1 = rng.standard_normal(channels).astype(np.float32) * 0.1
    w2 = rng.standard_normal((classes, channels)).astype(np.float32)
    b2 = rng.standard_normal(classes).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("Conv", ["input", "w1", "b1"], ["c1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("GlobalAveragePool", ["r1"], ["p1"]),
        helper.make_node("Flatten", ["p1"], ["f1"], axis=1),
        helper.make_node("Gemm", ["f1", "w2", "b2"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", classes])],
        [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
