"""What ``hrnet-wb bench X`` measures: a built artifact (by name, key or folder) or a bare
model file, with the facts the figures need — backend, input size, variant, GMACs.

The CLI and the TUI both resolve through :func:`resolve_target`, so ``bench`` accepts the
same names the leaderboard and ``hrnet-wb build`` print.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.backends import (
    BASELINE_BACKEND,
    DEFAULT_BACKEND,
    backend_for_file,
    backend_names,
    is_baseline,
)
from workbench.errors import BadInput
from workbench.home import Home
from workbench.input_size import parse_input_size
from workbench.records import ArtifactMeta
from workbench.store import Store


@dataclass
class ResolvedTarget:
    """A model file ready to open, and what is known about it."""

    label: str
    path: Path | None  # None for the torch backend (the model is built from the variant)
    backend: str
    input_size: tuple[int, int]
    variant: str = ""
    source: str = ""
    weights: str = ""
    dtype: str = ""
    calibration: str = ""
    artifact_key: str = ""
    in_store: bool = False  # the artifact row already exists
    static_batch: int | None = None  # the file's batch axis, when it is fixed
    meta: dict[str, Any] = field(default_factory=dict)


def _onnx_facts(path: Path) -> dict[str, Any]:
    """Input H/W (if static), dtype (QDQ → int8) and metadata props of an ONNX file."""
    from workbench.export import read_onnx_input

    info = read_onnx_input(path)
    facts: dict[str, Any] = {"props": info.props, "fp16_input": info.fp16,
                             "dtype": "int8" if info.quantized else "fp16" if info.fp16 else "fp32"}
    if info.height and info.width:
        facts["input_size"] = (info.height, info.width)
    if info.batch:
        facts["static_batch"] = info.batch
    return facts


def _file_key(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return "file-" + h.hexdigest()[:16]


def _from_meta(m: ArtifactMeta) -> dict[str, Any]:
    meta = m.raw
    return {
        "label": meta.get("name", m.directory.name), "path": m.directory / meta["file"],
        "backend": m.backend, "variant": meta.get("variant", ""),
        "source": meta.get("source", ""), "weights": meta.get("weights", ""),
        "dtype": m.dtype, "artifact_key": m.key, "calibration": m.calibration_method,
        "input_size": tuple(meta["input_size"]) if meta.get("input_size") else None,
        "meta": meta,
    }


def resolve_target(ref: str | None, home: Home, *, backend: str | None = None,
                   variant: str | None = None, input_size: tuple[int, int] | None = None,
                   ) -> ResolvedTarget:
    """Find what ``ref`` names: an artifact folder (with meta.json), a model file
    (.onnx / OpenVINO .xml), or an artifact name or key in the store. ``ref=None`` with
    ``backend='torch'`` means the torch eager model of ``variant``."""
    if backend is not None and backend not in backend_names():
        raise BadInput(f"--backend {backend!r}: expected one of {', '.join(backend_names())}")
    if ref is None:
        if backend is None or not is_baseline(backend):
            raise BadInput("bench: give an artifact (name, key, folder or .onnx/.xml file), "
                           "or --backend torch --variant NAME, or --compare-backends")
        if not variant:
            raise BadInput("--backend torch needs --variant (e.g. hrnet_w18)")
        return ResolvedTarget(f"{variant}-torch-eager-fp32", None, BASELINE_BACKEND,
                              input_size or (224, 224), variant=variant, dtype="fp32")
    if backend is not None and is_baseline(backend):
        raise BadInput("--backend torch measures the eager model of --variant; "
                       "do not also give an artifact")
    info: dict[str, Any] = {}
    p = Path(ref).expanduser()
    if p.is_dir():
        meta_file = p / "meta.json"
        if not meta_file.is_file():
            raise BadInput(f"{p}: a folder without meta.json is not an artifact")
        try:
            info = _from_meta(ArtifactMeta.read(p))
        except (ValueError, KeyError) as exc:
            raise BadInput(f"{meta_file}: not an artifact's meta.json ({exc})") from None
        info["in_store"] = Store(home.db).artifact(info["artifact_key"]) is not None
    elif p.is_file():
        suffix = p.suffix.lower()
        if suffix not in (".onnx", ".xml"):
            raise BadInput(f"{p}: expected an .onnx or OpenVINO .xml file")
        if suffix == ".onnx":
            from workbench.onnx_check import check_classifier

            check_classifier(p)
        beside = ArtifactMeta.of_file(p)
        if beside is not None:
            info = _from_meta(beside)
            info["in_store"] = Store(home.db).artifact(info["artifact_key"]) is not None
        if not info:
            info = {"label": p.stem if p.stem != "model" else p.parent.name, "path": p,
                    "backend": backend_for_file(p),
                    "artifact_key": _file_key(p)}
    else:
        row = Store(home.db).artifact(ref)
        if row is None:
            raise BadInput(f"{ref}: no such file, folder, or artifact name/key in the store "
                           f"({home.db}); see `hrnet-wb leaderboard` or `hrnet-wb build`")
        info = {"label": row["name"], "path": Path(row["path"]), "backend": row["backend"],
                "variant": row["variant"], "source": row["source"], "weights": row["weights"],
                "dtype": row["dtype"], "calibration": row["calibration"],
                "artifact_key": row["key"], "meta": row["meta"], "in_store": True}
        if row["input_size"]:
            info["input_size"] = parse_input_size(row["input_size"])
        if not info["path"].is_file():
            raise BadInput(f"{ref}: the artifact file {info['path']} is gone; rebuild it")

    path: Path = info["path"]
    meta = info.get("meta") or {}
    if meta.get("file_sha256"):  # measure only what the build made (the cache's own check)
        from workbench.build.cache import verify

        problem = verify(path.parent, meta)
        if problem:
            raise BadInput(f"{info['label']}: the artifact fails verification ({problem}); rebuild it")
    own_backend = info.get("backend") or DEFAULT_BACKEND
    chosen = backend or own_backend
    file_backend = backend_for_file(path)
    if file_backend != DEFAULT_BACKEND and chosen != file_backend:
        raise BadInput(f"{path}: a {path.suffix} file runs only on --backend {file_backend}")
    size = info.get("input_size")
    if path.suffix.lower() == ".onnx":
        facts = _onnx_facts(path)
        info.setdefault("dtype", facts["dtype"])
        info["dtype"] = info["dtype"] or facts["dtype"]
        static = facts.get("input_size")
        if static and input_size and tuple(input_size) != static:
            raise BadInput(f"{path}: the model's input is fixed at {static[0]}x{static[1]}, "
                           f"not {input_size[0]}x{input_size[1]}")
        size = static or size
        info["static_batch"] = facts.get("static_batch")
        props = facts["props"]
        info["variant"] = info.get("variant") or props.get("variant") or props.get("model", "")
    size = input_size or size or (224, 224)
    label = info["label"] if chosen == own_backend else f"{info['label']}@{chosen}"
    key = info.get("artifact_key", "")
    in_store = bool(info.get("in_store"))
    if chosen != own_backend:  # the same file on another runtime is another build
        key, in_store = f"{key}@{chosen}", False
    return ResolvedTarget(
        label=label, path=path, backend=chosen, input_size=(int(size[0]), int(size[1])),
        variant=variant or info.get("variant", ""), source=info.get("source", ""),
        weights=info.get("weights", ""), dtype=info.get("dtype", ""),
        calibration=info.get("calibration", ""), artifact_key=key, in_store=in_store,
        meta=info.get("meta", {}), static_batch=info.get("static_batch"),
    )


def register(store: Store, t: ResolvedTarget) -> None:
    """Make sure the leaderboard can join this target's metrics with its build config."""
    if t.in_store or not t.artifact_key or t.path is None:
        return
    h, w = t.input_size
    store.add_artifact(t.artifact_key, t.label, "file" if not t.meta else "artifact", str(t.path),
                       source=t.source, variant=t.variant, weights=t.weights, backend=t.backend,
                       dtype=t.dtype, calibration=t.calibration, input_size=f"{h}x{w}",
                       meta=t.meta or None)


def artifact_target(label: str, path: str | Path, backend: str, gmacs: float | None = None) -> Any:
    """A bench target for a built file: streams share one compiled model where the backend
    offers a stream group (OpenVINO's N infer requests), else N sessions."""
    from workbench.backends import get_backend, open_predictor
    from workbench.bench.grid import BenchTarget

    p = str(path)

    def factory(threads: int) -> Any:
        return open_predictor(p, backend, threads)

    return BenchTarget(label, factory, p, gmacs, get_backend(backend).stream_group(Path(p)))
