"""Fixed data for the TUI tests: a home with a store holding two runs of two builds each,
their results.jsonl (in evaluate's format) over real images copied from assets/, and
per-grid-point bench metrics. Everything is written through the real Store API, so the
panes read it exactly as they read what a pipeline run records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from workbench.home import Home, resolve_home
from workbench.store import Store

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "assets" / "val"

# (image file, ground truth) — the labels of assets/val_label.txt
IMAGES = [
    ("ILSVRC2012_val_00000001.JPEG", None),
    ("ILSVRC2012_val_00000009.JPEG", None),
    ("ILSVRC2012_val_00000010.JPEG", None),
    ("ILSVRC2012_val_00000012.JPEG", None),
]
FP32 = "hrnet_w18_small-fp32-none-3_64_64-ort-cpu"
INT8 = "hrnet_w18_small-int8-percentile-3_64_64-ort-cpu"


def labels() -> dict[str, int]:
    out = {}
    for line in (REPO / "assets" / "val_label.txt").read_text().splitlines():
        name, idx = line.split()
        out[name] = int(idx)
    return out


def _records(images: list[Path], gts: list[int], variant: str) -> list[dict]:
    """Per-image records: fp32 right on images 0 and 1; int8 flips image 1 to wrong and
    image 2 to right; image 3 is a file that could not be decoded (skipped) in both."""
    recs = []
    for i, (path, gt) in enumerate(zip(images, gts, strict=True)):
        if i == 3:
            recs.append({"id": path.name, "path": str(path), "gt": gt,
                         "skipped": "cannot identify image file"})
            continue
        right = {"fp32": i in (0, 1), "int8": i in (0, 2)}[variant]
        top = [gt, (gt + 1) % 1000, (gt + 2) % 1000, (gt + 3) % 1000, (gt + 4) % 1000]
        if not right:
            top = [(gt + 7) % 1000, gt, (gt + 8) % 1000, (gt + 9) % 1000, (gt + 10) % 1000]
        probs = [0.61, 0.2, 0.1, 0.05, 0.04] if variant == "fp32" else [0.55, 0.25, 0.1, 0.06, 0.04]
        recs.append({"id": path.name, "path": str(path), "gt": gt, "top5": top, "prob5": probs})
    return recs


def make_home(root: Path) -> Home:
    """A home with two finished runs (ids 1 and 2) and a cancelled one (id 3) that recorded
    a partial, too-good top-1 before it stopped (the leaderboard must not rank it first)."""
    home = resolve_home(root / "home")
    data = root / "images"
    data.mkdir(parents=True, exist_ok=True)
    table = labels()
    images, gts = [], []
    for name, _ in IMAGES:
        dst = data / name
        shutil.copyfile(ASSETS / name, dst)
        images.append(dst)
        gts.append(table[name])
    store = Store(home.db)
    figures = {  # run -> build -> (top1, throughput, p50)
        1: {FP32: (50.0, 59.1, 34.6), INT8: (50.0, 64.1, 17.7)},
        2: {FP32: (50.0, 24.2, 45.9), INT8: (25.0, 30.0, 40.1)},
    }
    for run_id in (1, 2):
        rid = store.start_run(f"demo{run_id}", "profiles/demo.toml", "{}", "hash")
        assert rid == run_id
        out_dir = home.runs / str(rid)
        builds = []
        for build, (top1, thr, p50) in figures[run_id].items():
            dtype = "int8" if "int8" in build else "fp32"
            key = f"key{run_id}{dtype}"
            store.add_artifact(key, build, "artifact", str(home.artifacts / build), source="timm",
                               variant="hrnet_w18_small", weights="random-init", backend="ort-cpu",
                               dtype=dtype, calibration="percentile" if dtype == "int8" else "",
                               input_size="64x64")
            for name, value, unit in (("top1", top1, "%"), ("top5", top1 + 25, "%"),
                                      ("throughput", thr, "img/s"), ("p50_ms", p50, "ms"),
                                      ("p99_ms", p50 * 1.3, "ms"), ("images", 3, ""),
                                      ("skipped", 1, "")):
                store.add_metric(rid, build, name, value, unit, key)
            for batch, scale in ((1, 1.0), (2, 1.8), (4, 3.4)):
                params = {"batch": batch, "streams": 1, "threads": 2}
                for q, f in (("p50_ms", 1.0), ("p90_ms", 1.15), ("p99_ms", 1.3)):
                    store.add_metric(rid, build, q, p50 * scale * f, "ms", key, params)
                store.add_metric(rid, build, "throughput", batch * 1000 / (p50 * scale), "img/s",
                                 key, params)
            d = out_dir / build
            d.mkdir(parents=True, exist_ok=True)
            recs = _records(images, gts, "int8" if run_id == 2 and dtype == "int8" else "fp32")
            if run_id == 1 and dtype == "int8":
                recs = _records(images, gts, "int8")
            (d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
            builds.append({"name": build, "key": key, "backend": "ort-cpu", "dtype": dtype})
        store.set_out_dir(rid, str(out_dir))
        store.finish_run(rid, "ok", "", {"run_id": rid, "status": "ok", "builds": builds})
    rid = store.start_run("cancelled-one", "profiles/demo.toml", "{}", "hash")
    store.add_metric(rid, FP32, "top1", 99.0, "%", "key1fp32")
    store.finish_run(rid, "cancelled", "cancelled by the user", {"run_id": rid})
    return home


def tiny_profile(tmp: Path, **extra: str) -> Path:
    """The demo profile at 64×64 with a two-iteration bench: the whole flow in seconds."""
    text = (REPO / "profiles" / "demo.toml").read_text()
    text = (text.replace("input_size = [224, 224]", "input_size = [64, 64]")
                .replace("iterations = 10", "iterations = 2")
                .replace("warmup = 2", "warmup = 1")
                .replace("batch_sizes = [1, 4]", "batch_sizes = [1]")
                .replace('path = "../assets"', f'path = "{REPO / "assets"}"'))
    for key, value in extra.items():
        text = text.replace(f"{key} = ", f"{key} = {value}  # was: ", 1)
    p = tmp / "tiny.toml"
    p.write_text(text)
    return p


_SHARED: dict[str, Home] = {}


def shared_home(tmp_path_factory) -> Home:  # type: ignore[no-untyped-def]
    """One fixed home for every test that only reads it (writing the store is ~2 s)."""
    if "home" not in _SHARED:
        _SHARED["home"] = make_home(tmp_path_factory.mktemp("tui-board"))
    return _SHARED["home"]


def shared_app(tmp_path_factory, tmp_path: Path, cost_json: Path):  # type: ignore[no-untyped-def]
    """A WorkbenchApp (thread mode) on the shared home, with every variant's count in its
    cost.json (no counting child starts) and the demo profile in a profiles folder."""
    from workbench.tui.app import WorkbenchApp

    home = shared_home(tmp_path_factory)
    home.cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cost_json, home.cache / "cost.json")
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    shutil.copyfile(REPO / "profiles" / "demo.toml", profiles / "demo.toml")
    return WorkbenchApp(home=home, profiles_dir=profiles, run_mode="thread")


class _TestCPU:
    """A CPU as the store records it (fixed, so the tests read the same on any machine)."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint

    def as_dict(self) -> dict:
        return {"model": f"test CPU {self.fingerprint}"}


OV_FP32 = "hrnet_w18_small-fp32-none-3_64_64-openvino-cpu"
OV_INT8 = "hrnet_w18_small-int8-minmax-3_64_64-openvino-cpu"


def make_precision_home(root: Path) -> Home:
    """Figures that need their provenance shown: run 1 on one CPU (an OpenVINO fp32 and
    int8 build, a full eval of 50 images), run 2 on another CPU (the fp32 build ran in bf16,
    as OpenVINO does on AMX, with a ``--limit 8`` smoke eval). Written through the real
    Store API; only the CPU detection is fixed."""
    from unittest import mock

    home = resolve_home(root / "home")
    store = Store(home.db)
    runs = (  # fingerprint, eval images, --limit, {build: (dtype, ran, top1, img/s, p50)}
        ("avx512-1111111111", 50, 0, {OV_FP32: ("fp32", "f32", 0.70, 40.0, 25.0),
                                       OV_INT8: ("int8", "int8", 0.68, 90.0, 11.0)}),
        ("amx-2222222222", 8, 8, {OV_FP32: ("fp32", "bf16", 0.75, 120.0, 8.3)}),
    )
    for fp, images, limit, builds in runs:
        with mock.patch("workbench.hardware.detect_cpu", return_value=_TestCPU(fp)):
            rid = store.start_run(f"ov {fp.split('-')[0]}", "profiles/demo.toml", "{}", "hash")
        for build, (dtype, ran, top1, thr, p50) in builds.items():
            key = f"key-{dtype}"
            store.add_artifact(key, build, "artifact", str(home.artifacts / build), source="timm",
                               variant="hrnet_w18_small", weights="w18_small.pth",
                               backend="openvino-cpu", dtype=dtype,
                               calibration="minmax" if dtype == "int8" else "", input_size="64x64")
            for name, value, unit in (("top1", top1, "fraction"), ("top5", top1 + 0.2, "fraction"),
                                      ("images", images, ""), ("throughput", thr, "img/s"),
                                      ("p50_ms", p50, "ms")):
                store.add_metric(rid, build, name, value, unit, key)
            store.add_eval(rid, build, artifact_key=key, images=images, data_root="/data/val",
                           data_layout="imagenet-val", data_hash="1a2b3c4d5e6f7a8b", eval_limit=limit)
            for stage in ("eval", "bench"):
                store.add_runtime(rid, build, {"runtime": "openvino", "version": "2026.4",
                                               "compute_precision": ran,
                                               "inference_precision": ran if ran != "int8" else "f32",
                                               "streams": 1, "threads": 2, "hint": "LATENCY"},
                                  key, stage)
        store.finish_run(rid, "ok", "", {"run_id": rid, "status": "ok"})
    return home
