"""The one resolver for what a user names on the command line or in the TUI: an artifact
folder, a built file, a bare model file of any backend (.onnx, .xml, .safetensors), or an
artifact name, key or key prefix in the store. ``eval``, ``bench`` and ``sensitivity`` all resolve through :func:`resolve_artifact`;
a name several builds share is refused by the store's one rule (:func:`workbench.store.one_by_name`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.backends import backend_for_file, model_suffixes
from workbench.errors import BadInput
from workbench.home import Home
from workbench.input_size import parse_input_size
from workbench.records import META_FILE, ArtifactMeta
from workbench.store import Store


@dataclass
class ResolvedTarget:
    """A model file ready to open, and what is known about it (from its meta.json, the
    store's row, or the ONNX graph)."""

    label: str
    path: Path | None  # None for bench's torch baseline (the model is built from the variant)
    backend: str
    input_size: tuple[int, int] | None = None  # None: the caller's default
    variant: str = ""
    source: str = ""
    weights: str = ""
    dtype: str = ""
    calibration: str = ""
    artifact_key: str = ""
    in_store: bool = False  # the artifact row already exists
    static_batch: int | None = None  # the file's batch axis, when it is fixed
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """The input size to run at: the model's own, else 224x224."""
        return self.input_size or (224, 224)

    @property
    def preprocess(self) -> dict[str, Any] | None:
        """The preprocessing the build recorded (int8: the one its calibration used)."""
        calib = self.meta.get("calibration")
        return self.meta.get("preprocess") or (calib.get("preprocess") if isinstance(calib, dict) else None)


def _of_meta(m: ArtifactMeta, path: Path, row: dict[str, Any] | None = None) -> ResolvedTarget:
    """A built artifact from its meta.json; a store ``row`` fills what the file left empty."""
    r, raw = row or {}, m.raw
    size = raw.get("input_size") or (parse_input_size(r["input_size"]) if r.get("input_size") else None)
    return ResolvedTarget(
        label=m.name or r.get("name") or m.directory.name, path=path,
        backend=m.backend or r.get("backend") or backend_for_file(path),
        input_size=(int(size[0]), int(size[1])) if size else None,
        variant=str(raw.get("variant") or raw.get("model") or r.get("variant") or ""),
        source=str(raw.get("source") or r.get("source") or ""), weights=str(raw.get("weights") or r.get("weights") or ""),
        dtype=m.dtype or r.get("dtype") or "", calibration=m.calibration_method or r.get("calibration") or "",
        artifact_key=m.key or r.get("key") or "", in_store=row is not None, meta=raw)


def resolve_artifact(ref: str, home: Home, *, input_size: tuple[int, int] | None = None) -> ResolvedTarget:
    """What ``ref`` names, checked: a folder must hold an artifact's meta.json, a bare file
    must be a model file some backend runs (an .onnx must be a classifier), ``input_size`` (when asked) must be the
    model's own, and a built file must still match its meta.json, as a cache hit is checked."""
    p = Path(ref).expanduser()
    if p.exists() and not p.is_dir():
        from workbench.paths import regular_file

        regular_file(p, "model file")  # a FIFO or device is refused, not opened
    store = Store(home.db)
    if p.is_dir() or (p.is_file() and ArtifactMeta.of_file(p) is not None):
        d = p if p.is_dir() else p.parent
        if not (d / META_FILE).is_file():
            raise BadInput(f"{p}: a folder without meta.json is not an artifact")
        try:
            m = ArtifactMeta.read(d)
            if not m.file:
                raise ValueError("it names no file")
        except ValueError as exc:
            raise BadInput(f"{d / META_FILE}: damaged or not an artifact's meta.json ({exc}); rebuild it") from None
        t = _of_meta(m, d / m.file)
        t.in_store = bool(m.key) and store.artifact(m.key) is not None
    elif p.is_file():
        if p.suffix.lower() not in model_suffixes():
            raise BadInput(f"{p}: expected a model file ({', '.join(model_suffixes())})")
        t = ResolvedTarget(p.stem if p.stem != "model" else p.parent.name, p.resolve(), backend_for_file(p))
    else:
        row = store.artifact(ref)
        if row is None:
            raise BadInput(f"{ref}: neither a model file nor an artifact: no such file or folder, and no such "
                           f"artifact name, key or key prefix in {home.db} (see `hrnet-wb leaderboard`)")
        t = _of_meta(ArtifactMeta(Path(row["path"]).parent, dict(row.get("meta") or {})), Path(row["path"]), row)
        if not Path(row["path"]).is_file():
            raise BadInput(f"{ref}: the artifact file {row['path']} is gone; rebuild it")
    assert t.path is not None
    if t.meta.get("file_sha256"):  # measure only what the build made (the cache's own check)
        from workbench.build.cache import verify

        problem = verify(t.path.parent, t.meta)
        if problem:
            raise BadInput(f"{t.label}: the artifact fails verification ({problem}); rebuild it")
    if t.path.suffix.lower() == ".onnx":
        _read_onnx(t)
    if t.input_size and input_size and tuple(input_size) != t.input_size:
        (h, w), (ah, aw) = t.input_size, input_size
        raise BadInput(f"{t.path.name}: the model takes {h}x{w} input, not {ah}x{aw} (its input is fixed at {h}x{w})")
    return t


def _read_onnx(t: ResolvedTarget) -> None:
    """What the graph says: a static input size and batch, the dtype (QDQ → int8) and the
    variant its metadata names, where the build did not say."""
    from workbench.export import read_onnx_input
    from workbench.onnx_check import check_classifier

    assert t.path is not None
    if not t.meta:
        check_classifier(t.path)
    info = read_onnx_input(t.path)
    if info.height and info.width:
        t.input_size = (info.height, info.width)
    t.static_batch = info.batch
    t.dtype = t.dtype or ("int8" if info.quantized else "fp16" if info.fp16 else "fp32")
    t.variant = t.variant or info.props.get("variant") or info.props.get("model", "")
