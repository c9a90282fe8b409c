"""Calibration: which images (this module), and the activation ranges they give
(``ranges.py``).

* :func:`select_calibration` picks a class-balanced, seeded subset of a dataset and
  records it as a manifest whose hash goes into the artifact key. The pipeline removes
  these ids from evaluation, so an int8 model is never scored on the images that set
  its ranges (the VastAI flow calibrates on val itself; that inflates int8 accuracy).
* :func:`compute_ranges` runs ONNX Runtime's own calibrators (MinMax, Entropy,
  Percentile) but feeds them in bounded chunks. ORT's histogram calibrators hold every
  intermediate output of every image they were given in RAM before histogramming
  (about 65 MB per 224² image on hrnet_w18), so one ``collect_data`` call on 1000 images
  would need tens of GiB. Calling ``collect_data`` once per chunk keeps the peak at one
  chunk's activations; the histograms and min/max ranges merge across calls.
  The resulting ranges are cached on disk, so the ORT and OpenVINO int8 builds, and every
  step of an accuracy-budget search, reuse one calibration pass.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from workbench.errors import BadInput
from workbench.events import Reporter

METHODS = ("minmax", "entropy", "percentile")
ENTROPY_BINS = 512

#: Held activations per ``collect_data`` call. With hrnet_w18 at 224² (~65 MB per image)
#: this is ~12 images per chunk; ORT then makes one more transient copy per tensor.
DEFAULT_CHUNK_BYTES = 768 * 2**20


class SampleLike(Protocol):
    path: Path
    label: int | None
    id: str


class ImageLoader(Protocol):
    def load(self, path: Path) -> np.ndarray: ...


@dataclass(frozen=True)
class CalibrationSpec:
    """How to calibrate: method, image count, percentile (for ``percentile``), seed."""

    method: str = "percentile"
    count: int = 1000
    percentile: float = 99.999
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise BadInput(f"calibration method {self.method!r}: expected one of {', '.join(METHODS)}")
        if self.count < 1:
            raise BadInput(f"calibration count {self.count}: must be at least 1")
        if not 0 < self.percentile <= 100:
            raise BadInput(f"calibration percentile {self.percentile}: must be in (0, 100]")

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"method": self.method, "count": self.count, "seed": self.seed}
        if self.method == "percentile":
            d["percentile"] = self.percentile
        return d


@dataclass
class CalibrationSet:
    """The chosen images plus a manifest; ``manifest_hash`` identifies the selection."""

    samples: list[Any]
    seed: int
    requested: int
    manifest: list[dict[str, Any]] = field(default_factory=list)
    manifest_hash: str = ""

    @property
    def ids(self) -> set[str]:
        return {s.id for s in self.samples}

    def rest(self, samples: Sequence[Any]) -> list[Any]:
        """``samples`` without the calibration images, in their order: what evaluation and
        agreement checks may use, so no int8 model is scored on the images that set it."""
        ids = self.ids
        return [s for s in samples if s.id not in ids]

    def per_class(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.samples:
            k = "none" if s.label is None else str(s.label)
            counts[k] = counts.get(k, 0) + 1
        return counts

    def manifest_text(self) -> str:
        """One ``id<TAB>label<TAB>path`` line per image, in manifest order."""
        return "".join(f"{m['id']}\t{'' if m['label'] is None else m['label']}\t{m['path']}\n"
                       for m in self.manifest)


def _manifest_entry(s: Any) -> dict[str, Any]:
    p = Path(s.path)
    try:
        size = p.stat().st_size
    except OSError:
        size = -1
    return {"id": str(s.id), "label": s.label, "path": str(p), "file": p.name, "bytes": size}


def manifest_hash(manifest: Sequence[dict[str, Any]]) -> str:
    """Hash of what identifies the images: id, label, file name and size, not the absolute
    path, so the same set copied to another disk hashes the same."""
    h = hashlib.sha256()
    for m in manifest:
        h.update(f"{m['id']}\t{m['label']}\t{m['file']}\t{m['bytes']}\n".encode())
    return h.hexdigest()


def select_calibration(samples: Sequence[Any], count: int = 1000, seed: int = 0) -> CalibrationSet:
    """Pick up to ``count`` images, as evenly as possible across classes, reproducibly.

    Every class gets ``count // classes`` images (or all it has); leftover slots go round-robin
    to classes that still have images, in a seeded order. The result does not depend on the
    order of ``samples``. Unlabelled images form one group.
    """
    if count < 1:
        raise BadInput(f"calibration count {count}: must be at least 1")
    if not samples:
        raise BadInput("calibration needs images, but the dataset is empty")
    rng = random.Random(seed)
    groups: dict[Any, list[Any]] = {}
    for s in sorted(samples, key=lambda s: str(s.id)):
        groups.setdefault(s.label if s.label is not None else "__none__", []).append(s)
    keys = sorted(groups, key=str)
    for k in keys:
        rng.shuffle(groups[k])
    rng.shuffle(keys)
    chosen: list[Any] = []
    cursor = dict.fromkeys(keys, 0)
    target = min(count, len(samples))
    while len(chosen) < target:
        for k in keys:
            if len(chosen) >= target:
                break
            i = cursor[k]
            if i < len(groups[k]):
                chosen.append(groups[k][i])
                cursor[k] = i + 1
    chosen.sort(key=lambda s: str(s.id))
    manifest = [_manifest_entry(s) for s in chosen]
    return CalibrationSet(samples=chosen, seed=seed, requested=count, manifest=manifest,
                          manifest_hash=manifest_hash(manifest))


# -- images -> arrays -------------------------------------------------------------------


def describe_preprocessor(pre: Any) -> Any:
    """A JSON-able description of a preprocessor, for cache keys: ranges depend on it."""
    if pre is None:
        return None
    if hasattr(pre, "describe"):
        return pre.describe()
    cfg = getattr(pre, "cfg", None)
    if cfg is not None:
        if hasattr(cfg, "model_dump"):
            return cfg.model_dump(mode="json")
        import dataclasses

        if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
            return json.loads(json.dumps(dataclasses.asdict(cfg), default=str))
        return repr(cfg)
    return type(pre).__name__


def iter_batches(samples: Sequence[Any], loader: ImageLoader, batch_size: int,
                 reporter: Reporter | None = None) -> Iterator[tuple[list[Any], np.ndarray]]:
    """Decode ``samples`` into float32 NCHW batches, skipping (and logging) files that fail."""
    buf: list[np.ndarray] = []
    kept: list[Any] = []
    for s in samples:
        if reporter is not None:
            reporter.check_cancelled()
        try:
            arr = loader.load(Path(s.path))
        except Exception as exc:  # a DecodeError from workbench.data, or PIL's own errors
            if reporter is not None:
                reporter.log(f"skipped {s.path}: {exc}", "warning")
            continue
        buf.append(np.asarray(arr, dtype=np.float32))
        kept.append(s)
        if len(buf) == batch_size:
            yield kept, np.stack(buf)
            buf, kept = [], []
    if buf:
        yield kept, np.stack(buf)
