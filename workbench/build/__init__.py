"""Build: turn one exported ONNX into runnable artifacts, cached by content.

``build_artifact(onnx, recipe, ...)`` is the one entry point; the pipeline's build stage
calls it for ``run``, ``sweep``, ``bench --profile`` and ``hrnet-wb build``, with recipes from
``stages.context.make_recipe``. A recipe is (backend, dtype, calibration,
nodes kept in fp32); the result lands in ``<home>/artifacts/<name>-<key[:12]>/`` with a
``meta.json`` that carries everything the store records. Building the same recipe from the
same inputs again returns the first build (``cached=True``) without touching it.

int8 work is split so the expensive part runs once: pre-process the ONNX (cached per
file), calibrate in bounded chunks (ranges cached per file × calibration set × method),
then quantize from the cached ranges (seconds). The ORT and OpenVINO int8 builds, the
TensorRT symmetric build and every step of an accuracy-budget search share those ranges.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.backends import (
    BackendStatus,
    available_backends,
    build_backend_names,
    get_backend,
    is_baseline,
)
from workbench.build.calibration import (
    CalibrationSet,
    CalibrationSpec,
    describe_preprocessor,
    select_calibration,
)
from workbench.errors import BadInput
from workbench.events import Reporter
from workbench.home import Home, resolve_home

__all__ = [
    "Artifact",
    "BackendStatus",
    "BuildRecipe",
    "CalibrationSet",
    "CalibrationSpec",
    "available_backends",
    "build_artifact",
    "select_calibration",
]

DTYPES = ("fp32", "tf32", "fp16", "bf16", "int8")


@dataclass(frozen=True)
class BuildRecipe:
    """What to build: backend, dtype, calibration (int8 only), nodes kept in fp32, and the
    CPU it is for.

    ``exclude_nodes`` is how an accuracy-budget search expresses its result; it is part of
    the artifact key, so each mixed-precision variant is its own cached build.
    ``target`` (``auto`` = this machine, or a name from ``workbench.hardware.TARGETS``)
    decides the CPU int8 recipe — ``reduce_range`` only without VNNI — and whether bf16
    may be built; it resolves to a concrete name at construction.
    """

    backend: str
    dtype: str
    calibration: CalibrationSpec | None = None
    exclude_nodes: tuple[str, ...] = ()
    target: str = "auto"

    def __post_init__(self) -> None:
        names = build_backend_names()
        if is_baseline(self.backend):
            raise BadInput(f"backend {self.backend!r} is the eager baseline, not a build target; "
                           "set [bench].baseline = true to measure it")
        if self.backend not in names:
            raise BadInput(f"backend {self.backend!r}: expected one of {', '.join(names)}")
        if self.dtype not in DTYPES:
            raise BadInput(f"dtype {self.dtype!r}: expected one of {', '.join(DTYPES)}")
        b = get_backend(self.backend)
        if self.dtype not in b.dtypes:
            raise BadInput(f"{self.backend} does not build {self.dtype}: "
                           + b.dtype_hints.get(self.dtype, f"it builds {', '.join(b.dtypes)}"))
        if self.dtype == "int8" and self.calibration is None:
            object.__setattr__(self, "calibration", CalibrationSpec())
        if self.dtype != "int8" and self.calibration is not None:
            object.__setattr__(self, "calibration", None)
        object.__setattr__(self, "exclude_nodes", tuple(sorted(set(self.exclude_nodes))))
        if self.exclude_nodes and self.dtype != "int8":
            raise BadInput("exclude_nodes only applies to int8 builds")
        from workbench.hardware import resolve_target

        asked = self.target
        isa = resolve_target(asked)
        object.__setattr__(self, "target", isa.name)
        if self.dtype == "bf16" and b.bf16_on_cpu_isa:
            if asked in ("", "auto"):  # for this machine: the CPU and OpenVINO must agree
                from workbench.hardware import require_bf16

                require_bf16("build bf16 for this machine")
            elif not isa.bf16:
                raise BadInput(f"bf16 needs a CPU with AVX512-BF16 or AMX-BF16; target {isa.name} "
                               f"has neither ({isa.description}). Build fp32 or int8, or pass "
                               "--target bf16|amx to build for such a machine")

    @property
    def isa(self) -> Any:
        from workbench.hardware import TARGETS

        return TARGETS[self.target]

    @property
    def reduce_range(self) -> bool | None:
        """The CPU int8 recipe's reduce_range (None where the target does not decide it:
        TensorRT's symmetric int8, and every float dtype)."""
        if self.dtype != "int8" or get_backend(self.backend).int8_scheme != "u8s8":
            return None
        return bool(self.isa.reduce_range)

    @property
    def variant(self) -> str:
        """What the name says beyond dtype and backend: the int8 variant for CPU int8."""
        if self.reduce_range is None:
            return ""
        return str(self.isa.int8_variant)

    @property
    def calib_label(self) -> str:
        return self.calibration.method if self.calibration is not None else "none"

    def as_dict(self) -> dict[str, Any]:
        """The recipe as it decides the artifact's bytes (the key): the target enters only
        through the int8 variant it selects, so vnni and amx share one build."""
        d: dict[str, Any] = {
            "backend": self.backend, "dtype": self.dtype,
            "calibration": None if self.calibration is None else self.calibration.as_dict(),
            "exclude_nodes": list(self.exclude_nodes),
        }
        if self.reduce_range is not None:
            d["reduce_range"] = self.reduce_range
            d["int8_variant"] = self.variant
        return d


@dataclass
class Artifact:
    """One built, runnable thing. ``path`` is the file to hand to ``open_predictor``."""

    key: str
    name: str
    path: Path
    dir: Path
    backend: str
    dtype: str
    calibration: CalibrationSpec | None
    meta: dict[str, Any] = field(default_factory=dict)
    cached: bool = False

    @property
    def provider_options(self) -> dict[str, Any]:
        return dict(self.meta.get("provider_options") or {})

    def record(self, store: Any, *, source: str = "", variant: str = "", weights: str = "") -> None:
        """Into the store's artifacts table, so the leaderboard joins figures with the build.

        Source, variant and weights are the ones its meta.json names (who built it): a
        cache hit from another source's identical build keeps the builder's, not the last
        caller's. The arguments fill in for an older meta.json without them."""
        m = self.meta
        h, w = m.get("input_size") or (0, 0)
        store.add_artifact(
            self.key, self.name, "artifact", str(self.path), source=str(m.get("source") or source),
            variant=str(m.get("model") or variant), weights=str(m.get("weights") or weights),
            backend=self.backend, dtype=self.dtype,
            calibration=self.calibration.method if self.calibration is not None else "",
            input_size=f"{h}x{w}", meta=m)


def default_preprocessor(input_size: tuple[int, int]) -> Any:
    """timm's default ImageNet preprocessing at ``input_size`` (workbench.data), for callers
    that pass none; calibration ranges are only as right as the preprocessing behind them."""
    from workbench.data.preprocess import resolve_preprocessor

    return resolve_preprocessor(source="timm", input_size=input_size)


def _as_home(home: Home | str | Path | None) -> Home:
    if isinstance(home, Home):
        return home.ensure()
    return resolve_home(home)


def _spec_from_meta(d: dict[str, Any] | None) -> CalibrationSpec | None:
    if not d:
        return None
    return CalibrationSpec(method=d["method"], count=int(d["count"]),
                           percentile=float(d.get("percentile", 99.999)), seed=int(d.get("seed", 0)))


def artifact_from_dir(directory: Path, meta: dict[str, Any], cached: bool = True) -> Artifact:
    """Rebuild an :class:`Artifact` from a folder's meta.json (cache hits, CLI lookups)."""
    return Artifact(
        key=meta["key"], name=meta["name"], path=directory / meta["file"], dir=directory,
        backend=meta["backend"], dtype=meta["dtype"],
        calibration=_spec_from_meta((meta.get("calibration") or {}).get("spec")),
        meta=meta, cached=cached,
    )


def build_artifact(
    onnx_path: str | Path,
    recipe: BuildRecipe,
    *,
    model_name: str,
    input_size: tuple[int, int],
    weights_id: str,
    export_settings: dict[str, Any] | None = None,
    calibration: CalibrationSet | None = None,
    calibration_samples: list[Any] | None = None,
    preprocessor: Any = None,
    home: Home | str | Path | None = None,
    reporter: Reporter | None = None,
    source: str = "",
    weights: str = "",
    model: Any = None,
) -> Artifact:
    """Build ``recipe`` from ``onnx_path`` (or return the cached build) and describe it.

    ``calibration`` is a set from :func:`select_calibration` (the pipeline chooses it, so it
    can exclude those ids from evaluation); ``calibration_samples`` is the alternative for
    callers that have not chosen yet: the recipe's count and seed pick from it.
    ``preprocessor`` must be the one evaluation uses: calibration ranges depend on it.
    ``source``/``weights`` are only recorded in ``meta``. ``model`` (the loaded torch
    model) is what a backend that builds from it (torch-cuda) needs.
    """
    from workbench.build import cache

    rep = reporter or Reporter()
    hm = _as_home(home)
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise BadInput(f"{onnx_path}: ONNX file not found")
    h, w = (int(input_size[0]), int(input_size[1]))
    if h <= 0 or w <= 0 or h % 32 or w % 32:
        raise BadInput(f"input size {h}x{w} is not a multiple of 32 (HRNet's fuse layers need it)")
    spec = recipe.calibration
    if recipe.dtype == "int8":
        assert spec is not None
        if calibration is None:
            if not calibration_samples:
                raise BadInput("int8 needs calibration images: pass a calibration set "
                               "(select_calibration) or calibration_samples")
            calibration = select_calibration(calibration_samples, spec.count, spec.seed)
    else:
        calibration = None
    loader = preprocessor if preprocessor is not None else default_preprocessor((h, w))
    onnx_sha = cache.file_sha256(onnx_path)
    name = cache.artifact_name(model_name, recipe.dtype, recipe.calib_label, (h, w), recipe.backend)
    if recipe.variant:
        name = f"{name}-{recipe.variant}"
    key_fields: dict[str, Any] = {
        "graph_sha256": cache.graph_sha256(onnx_path), "weights_id": weights_id, "model": model_name,
        "input_size": [h, w], "export": export_settings or {}, "recipe": recipe.as_dict(),
        "calibration_manifest": calibration.manifest_hash if calibration is not None else None,
        "preprocess": describe_preprocessor(loader) if calibration is not None else None,
    }
    key = cache.content_key(key_fields)
    from workbench.filelock import file_lock, sweep_stale

    for folder in (hm.artifacts, hm.cache / "quant", hm.cache / "calibration", hm.cache / "work"):
        for gone in sweep_stale(folder, any_hidden=folder == hm.artifacts):
            rep.log(f"removed a stale temp {gone.name} (its process is gone)", "debug")
    with file_lock(hm.cache / "locks" / f"{key[:32]}.lock", check=rep.check_cancelled,
                   on_wait=lambda: rep.log(f"{name}: another process is building it; waiting")):
        return _build_locked(onnx_path, recipe, name, key, onnx_sha, (h, w), model_name, weights_id,
                             export_settings, calibration, spec, loader, hm, rep, source, weights,
                             model)


def _build_locked(onnx_path: Path, recipe: BuildRecipe, name: str, key: str, onnx_sha: str,
                  size: tuple[int, int], model_name: str, weights_id: str, export_settings: dict[str, Any] | None,
                  calibration: CalibrationSet | None, spec: CalibrationSpec | None, loader: Any,
                  hm: Home, rep: Reporter, source: str, weights: str,
                  model: Any = None) -> Artifact:
    """Under the key's lock: a verified cache hit, or a build in a private temp folder."""
    from workbench.build import cache

    h, w = size
    target = cache.artifact_dir(hm.artifacts, name, key)
    rebuilt_because = ""
    hit = cache.lookup(hm.artifacts, name, key)
    if hit is not None:
        problem = cache.verify(target, hit)
        if problem is None:
            rep.log(f"{name}: cache hit ({target.name}, size and sha256 verified)")
            return artifact_from_dir(target, hit, cached=True)
        rebuilt_because = f"cached build failed verification: {problem}"
        rep.log(f"{name}: {rebuilt_because}; rebuilding", "warning")

    from workbench.atomic import atomic_dir, write_json, write_text

    t0 = time.perf_counter()
    meta: dict[str, Any] = {
        "key": key, "name": name, "source": source, "variant": model_name, "model": model_name,
        "weights": weights or weights_id, "weights_id": weights_id, "backend": recipe.backend,
        "dtype": recipe.dtype, "input_size": [h, w], "input_shape": [3, h, w],
        "export": export_settings or {}, "onnx_source": str(onnx_path), "onnx_sha256": onnx_sha,
        "recipe": recipe.as_dict(), "build_format": cache.BUILD_FORMAT,
        "target": recipe.isa.as_dict(), "built_on": _built_on(),
        "preprocess": describe_preprocessor(loader),
    }
    rep.log(f"{name}: building")
    with atomic_dir(target) as tmp:
        if recipe.dtype == "int8":
            assert spec is not None and calibration is not None
            from workbench.build.int8 import build_int8

            file, extra = build_int8(onnx_path, onnx_sha, recipe, spec, calibration, loader, tmp,
                                     hm, rep)
            meta.update(extra)
            write_text(tmp / "calibration_manifest.tsv", calibration.manifest_text())
        else:
            file, extra = _build_float(onnx_path, recipe, tmp, model)
            meta.update(extra)
        rep.check_cancelled()
        files = [file] + ([file.with_suffix(".bin")] if file.suffix == ".xml" else [])
        meta["file"] = file.name
        meta["files"] = [f.name for f in files]
        meta["file_bytes"] = sum(f.stat().st_size for f in files)
        meta["file_mb"] = round(meta["file_bytes"] / 2**20, 3)
        meta["file_sha256"] = cache.file_sha256(file)
        meta["files_sha256"] = {f.name: (meta["file_sha256"] if f == file else cache.file_sha256(f))
                                for f in files}
        if rebuilt_because:
            meta["rebuilt_because"] = rebuilt_because
        meta["build_seconds"] = round(time.perf_counter() - t0, 3)
        meta["created_at"] = time.time()
        write_json(tmp / "meta.json", meta)
    rep.log(f"{name}: built in {meta['build_seconds']:.1f} s ({meta['file_mb']:.1f} MiB)")
    return artifact_from_dir(target, meta, cached=False)


def _built_on() -> dict[str, Any]:
    from workbench.hardware import detect_cpu

    cpu = detect_cpu()
    return {"fingerprint": cpu.fingerprint, "cpu": cpu.summary()}


def _build_float(onnx_path: Path, recipe: BuildRecipe, out_dir: Path,
                 model: Any = None) -> tuple[Path, dict[str, Any]]:
    """Float recipes: no calibration, no ranges; the backend finishes the file."""
    b = get_backend(recipe.backend)
    if b.needs_model:
        return b.build_float(onnx_path, recipe.dtype, out_dir, model=model)  # type: ignore[call-arg]
    return b.build_float(onnx_path, recipe.dtype, out_dir)
