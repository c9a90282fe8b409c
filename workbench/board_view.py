"""The leaderboard as people read it, for the CLI's table and the TUI's pane alike.

Each column's header words and figure format, a cell's text (fractions as percent, '–' when
missing, '!' after img/s from another CPU than the other rows', '~' after a speed figure
measured beside others' load), the build and model labels, the precision a row ran in (in
the build's dtype words) and the eval its accuracy comes from. Rows are the store's
leaderboard rows (:meth:`workbench.store.Store.leaderboard`); the front ends choose the
columns, their widths and the captions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workbench.records import LOAD_METRIC
from workbench.store import FRACTION_METRICS, describe_eval
from workbench.tables import format_figure, percent

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    spec: str = "{}"
    short: str = ""  # the header where the width is fixed (the TUI); else ``header``

    @property
    def narrow(self) -> str:
        return self.short or self.header


COLUMNS: dict[str, Column] = {c.key: c for c in (
    Column("run_id", "run", "{:.0f}"),
    Column("model", "model"),  # the variant without 'hrnet_'; '*': random-init weights
    Column("build_label", "build"),  # 'int8 percentile ort-cpu'
    Column("recipe", "build"),  # 'ort int8 pct 224'
    Column("variant", "variant"),
    Column("top1", "top-1 %", "{:.2f}", "top1%"),
    Column("top5", "top-5 %", "{:.2f}", "top5%"),
    Column("delta_top1", "Δpub", "{:+.2f}"),
    Column("images", "n", "{:.0f}"),
    Column("p50_ms", "p50 ms", "{:.1f}", "p50ms"),
    Column("p99_ms", "p99 ms", "{:.1f}", "p99ms"),
    Column("throughput", "img/s", "{:.1f}"),
    Column("vs_torch", "×torch", "{:.2f}"),
    Column("ran", "ran"),
    Column("status", "status"),
    Column("calibration", "calib"),
    Column("weights", "weights"),
    Column("build", "artifact"),
)}

#: What the runtimes report (workbench.runtime_settings: f32, bf16, f16, int8) in the
#: artifacts' own dtype words, so "ran" compares with the build's dtype.
PRECISION_WORDS = {"f32": "fp32", "f16": "fp16", "bf16": "bf16", "int8": "int8", "i8": "int8",
                   "u8": "int8"}
#: The abbreviation rule of the recipe label: every part of the recipe, each shortened.
CALIB_ABBR = {"percentile": "pct", "minmax": "minmax", "entropy": "entropy",
              "distribution": "dist"}


def ran(row: Row, key: str = "precision") -> str:
    """The precision the runtime reported it ran (the speed figures', else the accuracy's;
    ``key="eval_precision"``: the accuracy's), in dtype words; '' when not recorded."""
    value = str(row.get(key) or "")
    return PRECISION_WORDS.get(value, value)


def ran_differs(row: Row) -> bool:
    """True when what ran is not the build's dtype (OpenVINO runs fp32 in bf16 on AMX)."""
    dtype = str(row.get("dtype") or "")
    return any(ran(row, k) and dtype and ran(row, k) != dtype
               for k in ("precision", "eval_precision"))


def recipe(row: Row) -> str:
    """The whole build recipe from the store's fields, abbreviated by rule:
    ``ort int8 pct 224`` (backend without a ``-cpu`` suffix, dtype, calibration, input
    size; a non-square size is ``224x192``). A row without a recorded artifact shows its build name whole."""
    backend, dtype = str(row.get("backend") or ""), str(row.get("dtype") or "")
    if not backend or not dtype:
        return str(row.get("build") or "?")
    parts = [backend.removesuffix("-cpu"), dtype]  # CPU is the default device: unsaid
    calib = str(row.get("calibration") or "")
    if calib and calib != "none":
        parts.append(CALIB_ABBR.get(calib, calib))
    size = str(row.get("input_size") or "")
    if size:
        h, _, w = size.partition("x")
        parts.append(h if h == w or not w else size)
    return " ".join(parts)


def build_label(row: Row) -> str:
    """'int8 percentile ort-cpu' from the build config, every word whole (the artifact name
    is too long for 80 columns)."""
    if not row.get("dtype"):
        return str(row.get("build") or "")
    return " ".join(str(row.get(k)) for k in ("dtype", "calibration", "backend") if row.get(k))


def model_label(row: Row) -> str:
    """The variant without 'hrnet_', with ``*`` for random-init weights."""
    variant = str(row.get("variant") or "").removeprefix("hrnet_")
    return variant + "*" if row.get("weights") == "random-init" else variant


def short_weights(row: Row) -> str:
    """The weights' file name (a URL or path's last part)."""
    return str(row.get("weights") or "").rsplit("/", 1)[-1]


LABELS: dict[str, Callable[[Row], str]] = {
    "recipe": recipe, "build_label": build_label, "model": model_label, "ran": ran,
    "weights": short_weights}


def cell(row: Row, key: str, spec: str | None = None) -> str:
    """One cell as text: a label, or a figure in its column's format (``spec`` overrides it)."""
    if key in LABELS:
        return LABELS[key](row) or "–"
    value = row.get(key)
    text = format_figure(percent(value) if key in FRACTION_METRICS else value,
                         spec or (COLUMNS[key].spec if key in COLUMNS else "{}"))
    if key == "throughput" and row.get("speed_note") and value is not None:
        text += "!"
    if key in ("p50_ms", "throughput", "vs_torch") and value is not None \
            and (row.get(LOAD_METRIC) or 0) > 1.0:  # measured beside others' load
        text += "~"
    return text


def eval_text(row: Row) -> str:
    """The eval a row's accuracy comes from, and why that one ('' without an eval)."""
    return str(row.get("eval_choice") or describe_eval(dict(row)))


def speed_machines(rows: Sequence[Row]) -> list[str]:
    """The CPU fingerprints behind the speed figures when they are more than one (the
    store marks each such row with ``speed_note``); [] when speed is comparable."""
    return sorted({str(r.get("fingerprint") or "unknown") for r in rows if r.get("speed_note")})


def busiest_load(rows: Sequence[Row]) -> float | None:
    """The highest load of others (× the cores) any row's speed was measured beside, when
    above 1 (those figures carry '~'); None otherwise."""
    busy = [float(r.get(LOAD_METRIC) or 0) for r in rows if (r.get(LOAD_METRIC) or 0) > 1.0]
    return max(busy) if busy else None
