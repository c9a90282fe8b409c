"""One standalone build, as ``hrnet-wb build`` (and the TUI's build action) asks for it.

The pipeline builds from a profile; this is the same work for one recipe from the command
line: resolve the ONNX (a given file, or load + export the model, cached like the
pipeline's exports), pick the calibration set from a dataset, build (optionally with an
accuracy-budget search), record the artifact in the store.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.backends import DEFAULT_BACKEND
from workbench.errors import BadInput
from workbench.events import Reporter
from workbench.home import Home


@dataclass
class BuildRequest:
    onnx: str = ""  # an exported file; else the model below is loaded and exported
    source: str = "timm"
    variant: str = "hrnet_w18"
    weights: str = "random-init"
    input_size: tuple[int, int] | None = None
    opset: int = 17
    backend: str = DEFAULT_BACKEND
    dtype: str = "int8"
    method: str = "percentile"
    count: int = 1000
    percentile: float = 99.999
    seed: int = 0
    data: str = ""
    layout: str = "auto"
    labels: str = ""
    preprocess: str = "auto"
    exclude_nodes: list[str] = field(default_factory=list)
    accuracy_budget: float | None = None  # top-1 agreement points allowed to be lost
    agreement_images: int = 200
    sensitivity_images: int = 8
    threads: int = 0
    target: str = "auto"  # the CPU to build for (workbench.hardware.TARGETS)


def _onnx_input_size(path: Path) -> tuple[int, int] | None:
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    if len(dims) == 4 and dims[2].dim_value > 0 and dims[3].dim_value > 0:
        return int(dims[2].dim_value), int(dims[3].dim_value)
    return None


def _resolve_model(req: BuildRequest, home: Home, rep: Reporter) -> dict[str, Any]:
    """Return onnx path, model name, input size, weights id, export settings, source info."""
    if req.onnx:
        from workbench.onnx_check import check_classifier

        p = Path(req.onnx).expanduser().resolve()
        if p.suffix.lower() != ".onnx":
            raise BadInput(f"{req.onnx}: expected an .onnx file (hrnet-wb export writes one)")
        check_classifier(p)  # one float NCHW input, one (N, classes) output, checker-clean
        size = req.input_size or _onnx_input_size(p) or (224, 224)
        from workbench.build.cache import file_sha256

        name = req.variant if req.variant else p.stem
        return {"onnx": p, "model_name": name, "input_size": size,
                "weights_id": f"onnx:{file_sha256(p)}", "export": {"file": p.name},
                "source": req.source, "weights": str(p), "pretrained_tag": "", "variant": name}
    from workbench.export import export_cache_path, export_onnx
    from workbench.sources import ModelSpec, load_model

    size = req.input_size or (224, 224)
    lm = load_model(ModelSpec(source=req.source, variant=req.variant, weights=req.weights), rep)
    out = export_cache_path(home.cache, lm.variant, lm.weights_id, req.opset, True, size)
    if not out.is_file():
        export_onnx(lm.model, out, size, opset=req.opset, dynamic_batch=True, reporter=rep)
    else:
        rep.log(f"export: cache hit ({out.name})")
    return {"onnx": out, "model_name": lm.variant, "input_size": size, "weights_id": lm.weights_id,
            "export": {"opset": req.opset, "dynamic_batch": True}, "source": lm.source,
            "weights": lm.weights, "pretrained_tag": lm.pretrained_tag, "variant": lm.variant,
            "preprocess": lm.preprocess, "model": lm.model}


def run_build_request(req: BuildRequest, home: Home, reporter: Reporter | None = None) -> dict[str, Any]:
    """Do one build, recorded as a run; return a JSON-able record (artifact meta, budget
    search, store key)."""
    from workbench.build import BuildRecipe, CalibrationSpec
    from workbench.store import Store

    rep = reporter or Reporter()
    spec = CalibrationSpec(req.method, req.count, req.percentile, req.seed) if req.dtype == "int8" else None
    recipe = BuildRecipe(req.backend, req.dtype, spec, tuple(req.exclude_nodes), req.target)
    if req.accuracy_budget is not None and not 0 <= req.accuracy_budget < 100:
        raise BadInput(f"--accuracy-budget {req.accuracy_budget}: points of top-1 agreement "
                       "that may be lost, 0 <= X < 100 (e.g. 1 for >= 99% agreement)")
    if req.dtype == "int8" and not req.data:
        raise BadInput("int8 needs calibration images: pass --data DIR")
    from workbench.paths import file_or_folder, regular_file

    if req.data:  # checked before any model is loaded or exported
        file_or_folder(req.data, "dataset folder or file list")
    if req.labels:
        regular_file(req.labels, "label file")
    store = Store(home.db)
    with store.run(f"build {req.onnx or req.variant} {req.backend} {req.dtype}",
                   profile_json=json.dumps({"build": asdict(req)}, default=str),
                   cancelled=lambda: rep.cancelled) as run:
        record = _build(req, recipe, home, store, rep)
        run.summary = {k: record[k] for k in ("name", "key", "path", "backend", "dtype", "cached")}
    return record


def _build(req: BuildRequest, recipe: Any, home: Home, store: Any, rep: Reporter) -> dict[str, Any]:
    from workbench.build import build_artifact, select_calibration
    from workbench.build.budget import build_with_accuracy_budget
    from workbench.data.preprocess import resolve_preprocessor

    m = _resolve_model(req, home, rep)
    pre = resolve_preprocessor(source=m["source"], variant=m["variant"],
                               pretrained_tag=m.get("pretrained_tag", ""), input_size=m["input_size"],
                               name=req.preprocess, model_default=m.get("preprocess") or "")
    calib = None
    holdout: list[Any] = []
    if req.dtype == "int8":
        if not req.data:
            raise BadInput("int8 needs calibration images: pass --data DIR")
        from workbench.data import open_dataset

        ds = open_dataset(req.data, layout=req.layout, labels=req.labels)
        calib = select_calibration(ds.samples, count=req.count, seed=req.seed)
        holdout = calib.rest(ds.samples)[: req.agreement_images]
        rep.log(f"calibration: {len(calib.samples)} of {len(ds.samples)} images, "
                f"manifest {calib.manifest_hash[:12]}")
    kwargs: dict[str, Any] = dict(
        model_name=m["model_name"], input_size=tuple(m["input_size"]), weights_id=m["weights_id"],
        export_settings=m["export"], calibration=calib, preprocessor=pre, home=home,
        source=m["source"], weights=m["weights"], model=m.get("model"),
    )
    budget: dict[str, Any] | None = None
    if req.accuracy_budget is not None:
        agree_set = holdout
        note = f"agreement measured on {len(holdout)} images held out from calibration"
        if not holdout:
            assert calib is not None
            agree_set = calib.samples
            note = "no images left outside the calibration set: agreement measured on calibration images"
        rep.log(f"accuracy budget: {note}")
        res = build_with_accuracy_budget(
            m["onnx"], recipe, agreement_samples=agree_set,
            min_agreement=1 - req.accuracy_budget / 100, sensitivity_images=req.sensitivity_images,
            threads=req.threads, reporter=rep, **kwargs)
        art = res.artifact
        budget = {**res.as_dict(), "note": note}
        if res.sensitivity is not None:
            budget["worst_nodes"] = [n.as_dict() for n in res.sensitivity.ranked()[:10]]
    else:
        art = build_artifact(m["onnx"], recipe, reporter=rep, **kwargs)
    h, w = art.meta["input_size"]
    store.add_artifact(
        art.key, art.name, "artifact", str(art.path), source=m["source"], variant=m["variant"],
        weights=m["weights"], backend=art.backend, dtype=art.dtype,
        calibration=art.calibration.method if art.calibration else "", input_size=f"{h}x{w}",
        meta=art.meta)
    rep.artifact("artifact", str(art.path), art.name, cached=art.cached)
    return {"ok": True, "name": art.name, "key": art.key, "path": str(art.path),
            "dir": str(art.dir), "backend": art.backend, "dtype": art.dtype, "cached": art.cached,
            "meta": art.meta, "accuracy_budget": budget}
