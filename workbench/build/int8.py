"""The int8 recipe, shared by every backend: prepare → calibrate (cached) → quantize.

Only quantization itself differs per backend: ``ort-cpu`` and ``openvino-cpu`` use the
u8s8 QDQ model (reduce_range only for a target CPU without VNNI) (OpenVINO then gets it as IR), ``tensorrt`` the symmetric
s8s8 one. The prepared model and its calibration ranges live in ``<home>/cache/`` so a
second backend, or an accuracy-budget step, costs one quantize call (seconds) instead of a
calibration pass (minutes on hrnet_w18).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.build.calibration import (
    CalibrationSet,
    CalibrationSpec,
    ImageLoader,
    describe_preprocessor,
)
from workbench.build.ranges import compute_ranges
from workbench.events import Reporter
from workbench.home import Home

if TYPE_CHECKING:  # pragma: no cover
    from workbench.build import BuildRecipe

#: Bump when prepare/calibrate change what they write.
PREPARE_FORMAT = 1


def prepared_path(home: Home, onnx_sha: str) -> Path:
    return home.cache / "quant" / f"{onnx_sha[:20]}-v{PREPARE_FORMAT}-prepared.onnx"


def ranges_path(home: Home, onnx_sha: str, spec: CalibrationSpec, calib: CalibrationSet,
                loader: ImageLoader) -> Path:
    """The range cache's name encodes everything its contents depend on."""
    ident = json.dumps({"onnx": onnx_sha, "v": PREPARE_FORMAT, "method": spec.method,
                        "percentile": spec.percentile if spec.method == "percentile" else None,
                        "manifest": calib.manifest_hash,
                        "preprocess": describe_preprocessor(loader)},
                       sort_keys=True, default=str)
    digest = hashlib.sha256(ident.encode()).hexdigest()[:20]
    return home.cache / "calibration" / f"{spec.method}-{digest}.json"


def scheme_for(backend: str) -> str:
    from workbench.backends import get_backend

    return get_backend(backend).int8_scheme


@contextlib.contextmanager
def private_workdir(home: Home) -> Iterator[Path]:
    """A folder only this process writes (``<home>/cache/work/.build.<pid>.<random>``).

    ORT's quantization tools write ``<model>-inferred.onnx`` beside the model they load;
    run on a shared cache file, two concurrent builds overwrite and delete each other's
    (FileNotFoundError, protobuf DecodeError). Each build works on its own copy here.
    A killed build's folder is swept by :func:`workbench.filelock.sweep_stale`.
    """
    root = home.cache / "work"
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".build.{os.getpid()}.", dir=root))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def prepare_and_calibrate(onnx_path: Path, onnx_sha: str, spec: CalibrationSpec,
                          calib: CalibrationSet, loader: ImageLoader, home: Home,
                          reporter: Reporter, work: Path) -> tuple[Path, Any]:
    """Return (private copy of the prepared model, RangeResult), computing each only if not
    cached. ``work`` is this build's private folder (see :func:`private_workdir`)."""
    from workbench.backends.base import copy_onnx
    from workbench.backends.ort_cpu.build import prepare_model
    from workbench.filelock import file_lock

    shared = prepare_model(onnx_path, prepared_path(home, onnx_sha), reporter)
    prepared = work / "prepared.onnx"
    copy_onnx(shared, prepared)
    rng_path = ranges_path(home, onnx_sha, spec, calib, loader)
    rng_path.parent.mkdir(parents=True, exist_ok=True)
    # one calibration per range file: a concurrent build of another backend waits, then reuses it
    with file_lock(rng_path.with_name(rng_path.name + ".lock"), check=reporter.check_cancelled,
                   on_wait=lambda: reporter.log("calibration: another build is computing these "
                                                "ranges; waiting")):
        ranges = compute_ranges(prepared, spec, calib, loader, rng_path, reporter=reporter)
    if ranges.cached:
        reporter.log(f"calibration ranges: cache hit ({rng_path.name})")
    return prepared, ranges


def build_int8(onnx_path: Path, onnx_sha: str, recipe: BuildRecipe, spec: CalibrationSpec,
               calib: CalibrationSet, loader: ImageLoader, out_dir: Path, home: Home,
               reporter: Reporter) -> tuple[Path, dict[str, Any]]:
    """Write the int8 artifact for ``recipe`` into ``out_dir``; return (file, meta fields)."""
    from workbench.backends.ort_cpu.build import quantize_qdq

    with private_workdir(home) as work:
        prepared, ranges = prepare_and_calibrate(onnx_path, onnx_sha, spec, calib, loader, home,
                                                 reporter, work)
        reporter.check_cancelled()
        scheme = scheme_for(recipe.backend)
        qdq = out_dir / "model.onnx"
        rr = recipe.reduce_range
        settings = quantize_qdq(prepared, qdq, ranges.path, spec.method, scheme=scheme,
                                nodes_to_exclude=recipe.exclude_nodes, reporter=reporter,
                                reduce_range=True if rr is None else rr)
        if rr is not None:
            settings["variant"] = recipe.variant
            settings["target"] = recipe.target
    shutil.copyfile(ranges.path, out_dir / "calibration_ranges.json")
    extra: dict[str, Any] = {
        "quantization": {**settings, "scheme": scheme},
        "calibration": {
            "spec": spec.as_dict(), "method": spec.method, "count": spec.count,
            "percentile": spec.percentile if spec.method == "percentile" else None,
            "seed": spec.seed, "images": ranges.images, "skipped": ranges.skipped,
            "selected": len(calib.samples), "per_class": calib.per_class(),
            "manifest_hash": calib.manifest_hash, "manifest_file": "calibration_manifest.tsv",
            "ranges_file": "calibration_ranges.json", "ranges_cached": ranges.cached,
            "seconds": ranges.seconds, "chunk_images": ranges.chunk_images,
            "preprocess": describe_preprocessor(loader),
        },
        "nodes_excluded": list(recipe.exclude_nodes),
    }
    from workbench.backends import get_backend

    file, finish = get_backend(recipe.backend).finish_int8(qdq, out_dir)
    extra.update(finish)
    return file, extra
