"""A tiny *trained* HRNet and the images it was trained on, for tests whose accuracy
figures must mean something.

Random-init HRNets make every accuracy assertion vacuous: int8 "agrees" with fp32 on noise.
This module draws a small dataset of procedurally generated shapes and textures as real
JPEG files (ImageFolder layout: ``<root>/{train,val}/<class>/<n>.jpg``), builds timm's own
``HighResolutionNet`` with a narrow custom config (same modules: stem, Bottleneck stage 1,
BasicBlock stages 2–4 with nearest-upsample sum fusion, incre/downsamp/final head,
classifier), trains it for well under two minutes on two cores, and exports it to ONNX, so
the real export, calibration, quantization and evaluation code runs on it.

Use it from any test module::

    from tinynet import tinynet  # noqa: F401  (a session-scoped pytest fixture)

    def test_something(tinynet):
        tinynet.onnx_path, tinynet.val_samples, tinynet.preprocessor, tinynet.fp32_top1 ...

The result is memoised per process and cached on disk (``$HRNET_WB_TEST_CACHE``, else
``~/.cache/hrnet-wb-tests``), keyed by a hash of this file and the torch, timm and onnx
versions: the model is trained once per machine, not once per test session.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CLASSES = ("disc", "hstripes", "vstripes", "diagonal", "checker", "dots")
INPUT_SIZE = (64, 64)
TRAIN_PER_CLASS = 150
VAL_PER_CLASS = 60
SEED = 0

#: Narrow HRNet: the structure of hrnet_w18_small (1 module per stage, BasicBlock fusion),
#: widths (8, 16, 32, 64). timm's classification head is hard-wired to 2048 features; the
#: head is rebuilt narrow below with the same module layout.
TINY_CFG: dict[str, Any] = dict(
    stem_width=16,
    stage1=dict(num_modules=1, num_branches=1, block_type="BOTTLENECK", num_blocks=(1,),
                num_channels=(8,), fuse_method="SUM"),
    stage2=dict(num_modules=1, num_branches=2, block_type="BASIC", num_blocks=(1, 1),
                num_channels=(8, 16), fuse_method="SUM"),
    stage3=dict(num_modules=1, num_branches=3, block_type="BASIC", num_blocks=(1, 1, 1),
                num_channels=(8, 16, 32), fuse_method="SUM"),
    stage4=dict(num_modules=1, num_branches=4, block_type="BASIC", num_blocks=(1, 1, 1, 1),
                num_channels=(8, 16, 32, 64), fuse_method="SUM"),
)
HEAD_CHANNELS = (8, 16, 32, 64)  # Bottleneck planes; ×4 expansion → 32, 64, 128, 256
HEAD_FEATURES = 256

@dataclass(frozen=True)
class TinySample:
    """Shaped like ``workbench.data.Sample``: path, label, id."""

    path: Path
    label: int | None
    id: str


def tiny_preprocessor(input_size: tuple[int, int] = INPUT_SIZE) -> Any:
    """The workbench's own Preprocessor: no resize beyond the 64×64 the images already are,
    (x/255 − 0.5)/0.25 per channel. Its description goes into artifact metadata."""
    from workbench.data.preprocess import PreprocessConfig, Preprocessor

    cfg = PreprocessConfig(name="tinynet", input_size=input_size, resize_mode="square",
                           resize_size=input_size, interpolation="bilinear",
                           mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), crop_pct=1.0,
                           origin="tests/tinynet.py")
    return Preprocessor(cfg)


@dataclass
class TinyNet:
    root: Path
    model: Any  # torch.nn.Module (eval mode)
    onnx_path: Path
    checkpoint: Path
    train_samples: list[TinySample]
    val_samples: list[TinySample]
    class_names: tuple[str, ...]
    preprocessor: Any  # workbench.data.preprocess.Preprocessor
    input_size: tuple[int, int]
    fp32_top1: float  # torch, on val
    train_seconds: float
    weights_id: str
    history: list[dict[str, float]] = field(default_factory=list)


# -- data ------------------------------------------------------------------------------


def _colour(rng: random.Random, avoid: tuple[int, int, int] | None = None) -> tuple[int, int, int]:
    while True:
        c = (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))
        if avoid is None or abs(sum(c) - sum(avoid)) > 180:
            return c


def draw(label: int, rng: random.Random, size: int = INPUT_SIZE[0]) -> Any:
    """One image of class ``label``: random colours, placement, scale, rotation and noise."""
    from PIL import Image, ImageDraw, ImageFilter

    bg = _colour(rng)
    fg = _colour(rng, bg)
    im = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(im)
    name = CLASSES[label]
    r = rng.uniform(0.18, 0.34) * size
    cx, cy = rng.uniform(r, size - r), rng.uniform(r, size - r)
    if name == "disc":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
    elif name in ("hstripes", "vstripes", "diagonal"):
        period = rng.randint(max(4, size // 10), max(6, size // 5))
        width = max(2, period // 2 + rng.randint(-1, 1))
        off = rng.randint(0, period)
        for p in range(-2 * size, 2 * size, period):
            q = p + off
            if name == "hstripes":
                d.rectangle([0, q, size, q + width - 1], fill=fg)
            elif name == "vstripes":
                d.rectangle([q, 0, q + width - 1, size], fill=fg)
            else:  # 45° band: x + y in [q, q + width)
                d.polygon([(q, 0), (q + width, 0), (q + width - size, size), (q - size, size)], fill=fg)
    elif name == "checker":
        cell = rng.randint(max(3, size // 12), max(5, size // 6))
        ox, oy = rng.randint(0, cell), rng.randint(0, cell)
        for y in range(-cell, size + cell, cell):
            for x in range(-cell, size + cell, cell):
                if ((x // cell) + (y // cell)) % 2 == 0:
                    d.rectangle([x + ox, y + oy, x + ox + cell - 1, y + oy + cell - 1], fill=fg)
    elif name == "dots":
        step = rng.randint(max(5, size // 8), max(7, size // 5))
        rad = max(1.0, step * rng.uniform(0.2, 0.32))
        ox, oy = rng.uniform(0, step), rng.uniform(0, step)
        for y in np.arange(oy - step, size + step, step):
            for x in np.arange(ox - step, size + step, step):
                d.ellipse([x - rad, y - rad, x + rad, y + rad], fill=fg)
    if rng.random() < 0.3:
        im = im.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    arr = np.asarray(im, dtype=np.int16)
    noise = np.random.default_rng(rng.randint(0, 2**31)).normal(0, rng.uniform(2, 8), arr.shape)
    return Image.fromarray(np.clip(arr + noise, 0, 255).astype(np.uint8))


def write_dataset(root: Path, train_per_class: int = TRAIN_PER_CLASS,
                  val_per_class: int = VAL_PER_CLASS, seed: int = SEED
                  ) -> tuple[list[TinySample], list[TinySample]]:
    """Draw and save the JPEGs; return (train, val) samples. Ids are ``split/class/n``."""
    rng = random.Random(seed)
    out: dict[str, list[TinySample]] = {"train": [], "val": []}
    for split, n in (("train", train_per_class), ("val", val_per_class)):
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                f = folder / f"{i:04d}.jpg"
                draw(label, rng).save(f, quality=90)
                out[split].append(TinySample(f, label, f"{split}/{name}/{i:04d}"))
    return out["train"], out["val"]


# -- model -----------------------------------------------------------------------------


def build_model(num_classes: int = len(CLASSES)) -> Any:
    """timm's HighResolutionNet with TINY_CFG and a head of the same layout, narrowed."""
    import torch.nn as nn
    from timm.models.hrnet import Bottleneck, HighResolutionNet

    model = HighResolutionNet(TINY_CFG, num_classes=num_classes)
    pre = [c * 1 for c in TINY_CFG["stage4"]["num_channels"]]  # BasicBlock expansion 1
    exp = Bottleneck.expansion
    model.incre_modules = nn.ModuleList(
        model._make_layer(Bottleneck, c_in, planes, 1, stride=1)
        for c_in, planes in zip(pre, HEAD_CHANNELS, strict=True))
    model.downsamp_modules = nn.ModuleList(
        nn.Sequential(nn.Conv2d(HEAD_CHANNELS[i] * exp, HEAD_CHANNELS[i + 1] * exp, 3, 2, 1, bias=True),
                      nn.BatchNorm2d(HEAD_CHANNELS[i + 1] * exp), nn.ReLU(inplace=True))
        for i in range(len(HEAD_CHANNELS) - 1))
    model.final_layer = nn.Sequential(
        nn.Conv2d(HEAD_CHANNELS[-1] * exp, HEAD_FEATURES, 1, 1, 0, bias=True),
        nn.BatchNorm2d(HEAD_FEATURES), nn.ReLU(inplace=True))
    model.num_features = model.head_hidden_size = HEAD_FEATURES
    model.classifier = nn.Linear(HEAD_FEATURES, num_classes)
    model.init_weights()
    return model


def _load_arrays(samples: list[TinySample], pre: Any) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([pre.load(s.path) for s in samples])
    y = np.array([s.label for s in samples], dtype=np.int64)
    return x, y


def train(model: Any, x: np.ndarray, y: np.ndarray, epochs: int = 8, batch: int = 48,
          lr: float = 3e-3, seed: int = SEED) -> list[dict[str, float]]:
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(xt) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    history = []
    # channels_last: oneDNN's small-channel convs run ~2x faster in NHWC on this CPU
    model.to(memory_format=torch.channels_last)
    xt = xt.contiguous(memory_format=torch.channels_last)
    model.train()
    for ep in range(epochs):
        perm = torch.randperm(len(xt), generator=g)
        total = correct = 0
        loss_sum = 0.0
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            xb, yb = xt[idx], yt[idx]
            flip = torch.rand(len(xb), generator=g) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            out = model(xb)
            loss = F.cross_entropy(out, yb, label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(xb)
            correct += int((out.argmax(1) == yb).sum())
            total += len(xb)
        history.append({"epoch": ep + 1, "loss": loss_sum / total, "train_acc": correct / total})
    model.to(memory_format=torch.contiguous_format)
    model.eval()
    return history


def predict(model: Any, x: np.ndarray, batch: int = 128) -> np.ndarray:
    import torch

    outs = []
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            outs.append(model(torch.from_numpy(x[i:i + batch])).numpy())
    return np.concatenate(outs)


def export(model: Any, path: Path, input_size: tuple[int, int] = INPUT_SIZE) -> Path:
    """Through the workbench's own exporter when it exists (parity-checked), else torch's."""
    import torch

    try:
        from workbench.export import export_onnx
    except ImportError:
        export_onnx = None
    if export_onnx is not None:
        res = export_onnx(model, path, input_size, opset=17, dynamic_batch=True)
        return Path(res.path)
    dummy = torch.zeros(1, 3, *input_size)
    torch.onnx.export(model, (dummy,), str(path), opset_version=17, dynamo=False,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return path


def make_tinynet(root: Path) -> TinyNet:
    """Draw the data, train, export. About a minute on two cores."""
    import torch

    torch.manual_seed(SEED)
    # One thread: on a shared 2-core box a second OpenMP thread that loses its core stalls
    # every op (a 2-thread run measured 7x slower than 1 thread under load); on a quiet
    # box 1 thread costs ~40 s of training, inside the budget either way.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    root.mkdir(parents=True, exist_ok=True)
    train_s, val_s = write_dataset(root / "data")
    pre = tiny_preprocessor()
    xtr, ytr = _load_arrays(train_s, pre)
    xva, yva = _load_arrays(val_s, pre)
    model = build_model()
    t0 = time.perf_counter()
    try:
        history = train(model, xtr, ytr)
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - t0
    top1 = float((predict(model, xva).argmax(1) == yva).mean())
    ckpt = root / "tinynet.pth"
    torch.save(model.state_dict(), ckpt)
    onnx_path = export(model, root / "tinynet.onnx")
    wid = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    return TinyNet(root, model, onnx_path, ckpt, train_s, val_s, CLASSES, pre, INPUT_SIZE, top1,
                   seconds, wid, history)


def cache_root() -> Path:
    """Where trained test models live between runs (shared by every worktree and run)."""
    env = os.environ.get("HRNET_WB_TEST_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "hrnet-wb-tests"


def cache_key() -> str:
    """This file and the libraries that shape the trained model and its ONNX export."""
    from importlib.metadata import version

    h = hashlib.sha256(Path(__file__).read_bytes())
    for lib in ("torch", "timm", "onnx"):
        h.update(f"|{lib} {version(lib)}".encode())
    return h.hexdigest()[:16]


def _samples(root: Path, split: str, per_class: int) -> list[TinySample]:
    """The samples ``write_dataset`` wrote, in its order."""
    return [TinySample(root / split / name / f"{i:04d}.jpg", label, f"{split}/{name}/{i:04d}")
            for label, name in enumerate(CLASSES) for i in range(per_class)]


def _save_meta(net: TinyNet) -> None:
    meta = {"fp32_top1": net.fp32_top1, "train_seconds": net.train_seconds,
            "weights_id": net.weights_id, "history": net.history}
    (net.root / "meta.json").write_text(json.dumps(meta))


def load_cached(root: Path) -> TinyNet:
    """A TinyNet from a folder ``make_tinynet`` filled (and ``_save_meta`` completed)."""
    import torch

    meta = json.loads((root / "meta.json").read_text())
    model = build_model()
    model.load_state_dict(torch.load(root / "tinynet.pth", weights_only=True))
    model.eval()
    return TinyNet(root, model, root / "tinynet.onnx", root / "tinynet.pth",
                   _samples(root / "data", "train", TRAIN_PER_CLASS),
                   _samples(root / "data", "val", VAL_PER_CLASS), CLASSES, tiny_preprocessor(),
                   INPUT_SIZE, meta["fp32_top1"], meta["train_seconds"], meta["weights_id"],
                   meta["history"])


def cached_tinynet(cache: Path | None = None) -> TinyNet:
    """Train into a temporary folder beside the cache entry and rename it into place, so a
    reader never sees half a model and two processes racing both end with one entry."""
    cache = cache or cache_root()
    final = cache / f"tinynet-{cache_key()}"
    if not (final / "meta.json").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".tinynet-", dir=cache))
        try:
            net = make_tinynet(work / "net")
            _save_meta(net)
            try:
                os.rename(work / "net", final)
            except OSError:  # another process got there first: use its entry
                if not (final / "meta.json").is_file():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return load_cached(final)


_MEMO: dict[str, TinyNet] = {}


def get_tinynet(cache: Path | None = None) -> TinyNet:
    """Load (or train once and cache) once per process."""
    if "net" not in _MEMO:
        _MEMO["net"] = cached_tinynet(cache)
    return _MEMO["net"]


@pytest.fixture(scope="session")
def tinynet() -> TinyNet:
    return get_tinynet()


if __name__ == "__main__":  # python tests/tinynet.py [dir]: train once and print figures
    import sys
    import tempfile

    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="tinynet-"))
    t = time.perf_counter()
    net = make_tinynet(out)
    for h in net.history:
        print(h)
    print(f"val top1 {net.fp32_top1:.4f}; training {net.train_seconds:.1f} s; "
          f"total {time.perf_counter() - t:.1f} s; onnx {net.onnx_path}")
