"""``hrnet-wb eval``: resolve the model and its preprocessing, evaluate it on one dataset,
record it as a run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.backends import backend_for_file
from workbench.errors import BadInput
from workbench.evaluate.formats import RESULTS_JSONL
from workbench.evaluate.stream import evaluate
from workbench.events import Reporter
from workbench.input_size import parse_input_size


@dataclass
class EvalTarget:
    """A model to evaluate: a stored artifact, or a bare .onnx/.xml file and a backend."""

    path: Path
    backend: str
    name: str
    key: str = ""
    source: str = ""
    variant: str = ""
    input_size: tuple[int, int] | None = None
    preprocess: dict[str, Any] | None = None  # the description the artifact was calibrated with
    fixed_batch: int | None = None  # an ONNX exported with a static batch dimension


def onnx_input_shape(path: Path) -> tuple[int | None, int | None, int | None] | None:
    """(N, H, W) of an ONNX model's first input; None where a dimension is dynamic."""
    if path.suffix.lower() != ".onnx":
        return None
    from workbench.export import read_onnx_input

    info = read_onnx_input(path)
    if info.rank != 4:
        return None
    return info.batch, info.height, info.width


def resolve_target(target: str, backend: str, home: Any) -> EvalTarget:
    """An existing file is used as is (with ``backend``); anything else is looked up in the
    store by artifact name or key."""
    p = Path(target).expanduser()
    if p.is_file():
        shape = onnx_input_shape(p)
        hw = None if shape is None or shape[1] is None or shape[2] is None else (shape[1], shape[2])
        return EvalTarget(path=p.resolve(), backend=backend or backend_for_file(p), name=p.stem, input_size=hw,
                          fixed_batch=None if shape is None else shape[0])
    if p.is_dir() and (p / "meta.json").is_file():  # an artifact folder
        meta = json.loads((p / "meta.json").read_text(encoding="utf-8"))
        return _target_from_meta(meta, p / meta["file"], backend)
    from workbench.store import Store

    row = Store(home.db).artifact(target)
    if row is None:
        raise BadInput(f"{target}: neither a model file nor an artifact name/key in {home.db} "
                       "(see `hrnet-wb leaderboard`, or pass an .onnx path with --backend)")
    meta = dict(row.get("meta") or {})
    for k in ("key", "name", "source", "variant", "backend"):
        meta[k] = meta.get(k) or row.get(k) or ""  # the store row fills what meta.json left empty
    if "input_size" not in meta and row.get("input_size"):
        meta["input_size"] = list(parse_input_size(row["input_size"]))
    return _target_from_meta(meta, Path(row["path"]), backend)


def _target_from_meta(meta: dict[str, Any], path: Path, backend: str) -> EvalTarget:
    size = meta.get("input_size")
    return EvalTarget(
        path=path, backend=backend or meta.get("backend") or backend_for_file(path), name=str(meta.get("name", path.stem)),
        key=str(meta.get("key", "")), source=str(meta.get("source", "")),
        variant=str(meta.get("variant") or meta.get("model") or ""),
        input_size=(int(size[0]), int(size[1])) if size else None,
        # int8 builds record the preprocessing their calibration used; evaluate with the same
        preprocess=meta.get("preprocess") or (meta.get("calibration") or {}).get("preprocess") or None,
    )


def choose_preprocessor(t: EvalTarget, preprocess: str = "auto", input_size: tuple[int, int] | None = None) -> Any:
    """The preprocessing for a target: an explicit preset, else the one the artifact was
    calibrated with, else the preset of its source (timm defaults for a bare file)."""
    from workbench.data.preprocess import resolve_preprocessor

    size = input_size or t.input_size or (224, 224)
    if t.input_size and input_size and tuple(input_size) != tuple(t.input_size):
        raise BadInput(f"{t.path.name}: the model takes {t.input_size[0]}x{t.input_size[1]} input, "
                       f"not {size[0]}x{size[1]}")
    # a bare file: HRNet's reference preprocessing (= timm ms_in1k), not timm's generic bicubic
    return resolve_preprocessor(source=t.source, variant=t.variant, input_size=size,
                                name=preprocess, recorded=t.preprocess, unknown_source="official")


def run_eval(target: str, data: str, *, home: Any, backend: str = "", layout: str = "auto",
             labels: str = "", limit: int = 0, batch_size: int = 8, resume: bool = False,
             out: str = "", preprocess: str = "auto", input_size: tuple[int, int] | None = None,
             threads: int = 0, workers: int = 0, reporter: Reporter | None = None) -> dict[str, Any]:
    """``hrnet-wb eval``: evaluate one model on one dataset and record it as a run."""
    from workbench.backends import open_predictor
    from workbench.data import open_dataset
    from workbench.store import Store

    rep = reporter or Reporter()
    if resume and not out:
        raise BadInput("--resume needs --out DIR: the folder of the run to continue")
    if out and not resume:
        existing = Path(out).expanduser() / RESULTS_JSONL
        if existing.is_file() and existing.stat().st_size > 0:
            raise BadInput(f"{existing}: already holds results; resume it (--resume) or choose another --out")
    t = resolve_target(target, backend, home)
    pre = choose_preprocessor(t, preprocess, input_size)
    if t.fixed_batch and t.fixed_batch != batch_size:
        rep.log(f"{t.path.name} has a fixed batch of {t.fixed_batch}: using --batch-size {t.fixed_batch}",
                "warning")
        batch_size = t.fixed_batch
    ds = open_dataset(data, layout=layout, labels=labels)
    for note in ds.notes:
        rep.log(note, "warning")
    samples = ds.samples[:limit] if limit else ds.samples
    rep.log(f"{ds.describe()}; preprocess {pre.cfg.name} at {pre.cfg.input_size[0]}x{pre.cfg.input_size[1]}")
    predictor = open_predictor(t.path, t.backend, threads)
    store = Store(home.db)
    spec = {"eval": {"target": str(target), "data": str(data), "layout": ds.layout, "limit": limit,
                     "batch_size": batch_size, "preprocess": pre.describe()}}
    given_out = Path(out).expanduser().resolve() if out else None
    with store.run(f"eval {t.name}", profile_json=json.dumps(spec),
                   out_dir=lambda rid: given_out or home.runs / str(rid),
                   cancelled=lambda: rep.cancelled) as run:
        assert run.out_dir is not None
        res = evaluate(predictor, samples, pre, ds.class_names, run.out_dir, batch_size=batch_size,
                       resume=resume, reporter=rep, workers=workers,
                       meta={"model": str(t.path), "backend": t.backend, "artifact": t.name,
                             "artifact_key": t.key, "data": str(ds.root), "layout": ds.layout})
        build = t.name
        for name, value, unit in (("top1", res.top1, "%"), ("top5", res.top5, "%"),
                                  ("images", res.n, ""), ("skipped", res.skipped, ""),
                                  ("eval_img_s", res.images_per_s, "img/s")):
            if value is None:
                continue
            run.metric(build, name, float(100 * value if unit == "%" else value), unit, t.key)
        from workbench.runtime_settings import effective_settings

        settings = effective_settings(predictor)  # what ran, read back from the runtime
        store.add_runtime(run.id, build, settings, t.key, "eval")
        record = {"ok": True, "run_id": run.id, "out_dir": str(run.out_dir), "model": str(t.path),
                  "backend": t.backend, "build": build,
                  "dataset": {"root": str(ds.root), "layout": ds.layout, "images": len(samples)},
                  "runtime": settings, "precision": (settings or {}).get("compute_precision"),
                  "fingerprint": (store.machine(run.id) or {}).get("fingerprint", ""),
                  **res.as_dict()}
        run.summary = {k: record[k] for k in ("top1", "top5", "n", "skipped")}
    return record
