"""Typed records that cross module boundaries: an artifact's identity, its meta.json, and a
result row.

An artifact's name is written once, from its :class:`ArtifactId`; nothing parses a name back
into its parts. An artifact folder's ``meta.json`` is read in one place,
:meth:`ArtifactMeta.read`. The leaderboard's rows come out of the store as :class:`ResultRow`, so
readers use attributes, not dict keys.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: the file in every artifact folder that says what the build is
META_FILE = "meta.json"
#: Others' load average per core while a build was measured (above 1.0: its speed reads low).
LOAD_METRIC = "load_per_cpu"


@dataclass(frozen=True)
class ArtifactId:
    """What an artifact is: model, dtype, calibration, input shape and backend."""

    model: str
    dtype: str
    calibration: str  # "" (or "none") when not calibrated
    input_size: tuple[int, int]
    backend: str
    channels: int = 3

    @property
    def name(self) -> str:
        """``{model}-{dtype}-{calib}-{C}_{H}_{W}-{backend}``, as the VastAI flow names builds."""
        h, w = self.input_size
        return (f"{self.model}-{self.dtype}-{self.calibration or 'none'}-{self.channels}_{h}_{w}"
                f"-{self.backend}")

    @property
    def short(self) -> str:
        """``int8-percentile 224 ort-cpu``: the name without the model (it has its own column)."""
        calib = "" if self.calibration in ("", "none") else f"-{self.calibration}"
        return f"{self.dtype}{calib} {self.input_size[1]} {self.backend}"

    @classmethod
    def from_columns(cls, row: Mapping[str, Any]) -> ArtifactId | None:
        """From the store's artifact columns (variant, dtype, calibration, input_size
        ``HxW``, backend); None when the row has no build config (the torch baseline)."""
        size = str(row.get("input_size") or "")
        if not (row.get("dtype") and row.get("backend") and "x" in size):
            return None
        h, _, w = size.partition("x")
        return cls(str(row.get("variant") or ""), str(row["dtype"]),
                   str(row.get("calibration") or ""), (int(h), int(w)), str(row["backend"]))


@dataclass(frozen=True)
class ArtifactMeta:
    """An artifact folder's ``meta.json``, as the build wrote it. ``raw`` keeps every field
    (the store and the cache's verification use them); the attributes are the ones callers
    read, '' where the file lacks them."""

    directory: Path
    raw: dict[str, Any]
    file: str = ""
    key: str = ""
    name: str = ""
    backend: str = ""
    dtype: str = ""

    @classmethod
    def read(cls, directory: str | Path) -> ArtifactMeta:
        """The meta.json in ``directory``; ValueError (with the reason) when it is missing,
        unreadable or not a JSON object."""
        d = Path(directory)
        try:
            raw = json.loads((d / META_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ValueError(str(exc)) from None
        if not isinstance(raw, dict):
            raise ValueError(f"a JSON {type(raw).__name__}, not an object")
        strings = {k: raw[k] for k in ("file", "key", "name", "backend", "dtype")
                   if isinstance(raw.get(k), str)}
        return cls(d, raw, **strings)

    @classmethod
    def of_file(cls, path: str | Path) -> ArtifactMeta | None:
        """The meta.json beside a built file when it describes that very file, else None."""
        p = Path(path)
        try:
            meta = cls.read(p.parent)
        except ValueError:
            return None
        return meta if meta.file == p.name else None

    @property
    def calibration_method(self) -> str:
        calib = self.raw.get("calibration")
        spec = calib.get("spec") if isinstance(calib, dict) else None
        return str(spec.get("method", "")) if isinstance(spec, dict) else ""

    @property
    def provider_options(self) -> dict[str, Any]:
        return dict(self.raw.get("provider_options") or {})


#: a result row's own columns; every other key of a store row is a metric
ROW_COLUMNS = ("run_id", "run", "status", "build", "artifact_key", "source", "variant", "weights",
               "backend", "dtype", "calibration", "input_size", "started_at", "runs",
               "data_root", "data_layout", "data_hash", "eval_choice", "includes_calibration",
               "fingerprint", "precision", "eval_precision", "runtime", "hint", "speed_note")
#: metrics that are counts: ints in every row (the unit rule)
COUNT_METRICS = frozenset({"images", "skipped", "eval_limit", "calibration_excluded", "eval_run",
                           "best_batch", "best_streams", "streams_eff", "threads_eff"})


@dataclass(frozen=True)
class ResultRow:
    """One leaderboard row: a build in a run (or across runs), its config and its figures."""

    run_id: int
    run: str
    status: str
    build: str
    artifact_key: str = ""
    source: str = ""
    variant: str = ""
    weights: str = ""
    backend: str = ""
    dtype: str = ""
    calibration: str = ""
    input_size: str = ""
    started_at: float = 0.0
    runs: str = ""  # the run ids merged into this row (by artifact)
    # what the accuracy was measured on (the leaderboard names its eval)
    data_root: str = ""
    data_layout: str = ""
    data_hash: str = ""
    eval_choice: str = ""
    includes_calibration: bool = False
    fingerprint: str = ""  # the CPU the run was recorded on (workbench.hardware)
    precision: str = ""  # what the speed (else accuracy) figures ran in, read back
    eval_precision: str = ""  # what the accuracy figures ran in
    runtime: str = ""  # runtime and version of the speed figures
    hint: str = ""  # the runtime's performance hint / execution mode
    speed_note: str = ""  # set when speed rows of several CPUs are on one board
    metrics: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ResultRow:
        cols = {k: d[k] for k in ROW_COLUMNS if k in d and d[k] is not None}
        metrics = {k: (int(v) if k in COUNT_METRICS else float(v)) for k, v in d.items()
                   if k not in ROW_COLUMNS and isinstance(v, (int, float)) and not isinstance(v, bool)}
        return cls(**cols, metrics=metrics)

    @property
    def artifact(self) -> ArtifactId | None:
        return ArtifactId.from_columns(self.as_dict())

    def get(self, column: str) -> Any:
        """A column or a metric by name (None when absent), for sorting and filtering."""
        if column in ROW_COLUMNS:
            return getattr(self, column)
        return self.metrics.get(column)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {k: getattr(self, k) for k in ROW_COLUMNS}
        if not self.runs:
            d.pop("runs")
        for k in ("data_root", "data_layout", "data_hash", "eval_choice"):
            if not d[k]:
                d.pop(k)  # rows without an eval record stay the store's own row
        if not self.includes_calibration and "data_hash" not in d:
            d.pop("includes_calibration")
        d.update(self.metrics)
        return d
