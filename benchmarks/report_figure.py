"""The README's accuracy-vs-throughput figure, from a real run of a model whose accuracy means
something: the tiny trained HRNet of tests/tinynet.py (timm's HighResolutionNet, narrow,
trained for about a minute on generated shapes; 6 classes, 360 val images, 64×64).

    python benchmarks/report_figure.py --home /tmp/fig-home --png docs/

It trains the net (or reuses --work), builds ORT and OpenVINO fp32/int8 artifacts through
workbench.build (int8 calibrated on train images, never the val ones), then runs the real
commands: `hrnet-wb eval` and `hrnet-wb bench` on each build, and `hrnet-wb report --png`.
The demo profile cannot make this figure: its weights are random, so its accuracy is ~0.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def build(work: Path, home: Path) -> list[Path]:
    """The four artifacts, registered in the store as `hrnet-wb build` registers its own."""
    from tinynet import INPUT_SIZE, make_tinynet, tiny_preprocessor

    from workbench.build import BuildRecipe, CalibrationSpec, build_artifact
    from workbench.data import open_dataset
    from workbench.home import resolve_home
    from workbench.store import Store

    if not (work / "tinynet.onnx").is_file():
        make_tinynet(work)
    train = open_dataset(work / "data" / "train", layout="imagefolder").samples
    h = resolve_home(home)
    store = Store(h.db)
    wid = hashlib.sha256((work / "tinynet.pth").read_bytes()).hexdigest()
    dirs = []
    for backend in ("ort-cpu", "openvino-cpu"):
        for dtype in ("fp32", "int8"):
            cal = CalibrationSpec(method="percentile", count=60) if dtype == "int8" else None
            art = build_artifact(work / "tinynet.onnx", BuildRecipe(backend, dtype, cal), model_name="tinynet",
                                 input_size=INPUT_SIZE, weights_id=wid,
                                 export_settings={"opset": 17, "dynamic_batch": True},
                                 calibration_samples=train if cal else None,
                                 preprocessor=tiny_preprocessor(), home=h, source="tests/tinynet.py",
                                 weights=str(work / "tinynet.pth"))
            hh, ww = art.meta["input_size"]
            store.add_artifact(art.key, art.name, "artifact", str(art.path), source="tinynet",
                               variant="tinynet", weights="tests/tinynet.py (trained)",
                               backend=art.backend, dtype=art.dtype,
                               calibration=cal.method if cal else "", input_size=f"{hh}x{ww}",
                               meta=art.meta)
            dirs.append(art.dir)
    return dirs


def val_folder(work: Path) -> Path:
    """The val images with folders named so that imagefolder's sorted order is the class
    order the net was trained with (0_disc, 1_hstripes, …)."""
    from tinynet import CLASSES

    out = work / "val-ordered"
    out.mkdir(exist_ok=True)
    for i, name in enumerate(CLASSES):
        link = out / f"{i}_{name}"
        if not link.exists():
            link.symlink_to((work / "data" / "val" / name).resolve(), target_is_directory=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, required=True, help="a fresh workbench home")
    ap.add_argument("--work", type=Path, default=Path("/tmp/tinynet-figure"), help="tiny net and data")
    ap.add_argument("--png", type=Path, default=ROOT / "docs", help="where report --png writes")
    ap.add_argument("--iterations", type=int, default=40)
    a = ap.parse_args(argv)
    wb = [sys.executable, "-m", "workbench"]
    home = ["--home", str(a.home)]
    arts = build(a.work, a.home)
    val = val_folder(a.work)
    for art in arts:
        subprocess.run([*wb, "eval", str(art), "--data", str(val), "--layout", "imagefolder", *home], check=True)
    for art in arts:
        subprocess.run([*wb, "bench", str(art), "--batch", "1,8", "--iterations", str(a.iterations),
                        "--no-baseline", *home], check=True)
    subprocess.run([*wb, "report", "--out", str(a.home / "report.html"), "--png", str(a.png), *home], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
