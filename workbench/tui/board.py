"""What the Leaderboard pane shows: store rows sorted, filtered, and turned into plot series.

Plain Python over :meth:`workbench.store.Store.leaderboard` and
:meth:`workbench.store.Store.metrics` (no textual), so the pane's behaviour is tested as
data and the widgets only display it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workbench.store import FRACTION_METRICS, LOWER_IS_BETTER, percent
from workbench.tables import format_figure as fmt

# (key, header, format, width); width None: as wide as the widest cell (never cut).
COLUMNS: tuple[tuple[str, str, str, int | None], ...] = (
    ("mark", "", "{}", 1),
    ("run_id", "run", "{:.0f}", 4),
    ("recipe", "build", "{}", None),
    ("top1", "top1%", "{:.2f}", 6),
    ("p50_ms", "p50ms", "{:.1f}", 6),
    ("throughput", "img/s", "{:.1f}", 6),
    ("status", "status", "{}", 9),
    ("variant", "variant", "{}", 18),
    ("calibration", "calib", "{}", 10),
    ("top5", "top5%", "{:.2f}", 6),
    ("p99_ms", "p99ms", "{:.1f}", 6),
    ("vs_torch", "×torch", "{:.2f}", 6),
    ("weights", "weights", "{}", 16),
    ("build", "artifact", "{}", None),
)
SORT_KEYS = ("top1", "throughput", "p50_ms", "run_id")
PLOTS = ("accuracy-vs-throughput", "latency")
# Rows of runs that did not finish are hidden unless asked for ('a').
HIDDEN_STATUSES = ("cancelled", "failed", "interrupted")
# The abbreviation rule of the build column: every part of the recipe, each shortened.
CALIB_ABBR = {"percentile": "pct", "minmax": "minmax", "entropy": "entropy",
              "distribution": "dist"}


def cell(row: dict[str, Any], key: str, spec: str) -> str:
    if key == "recipe":
        return recipe(row)
    if key == "weights":
        w = str(row.get("weights") or "")
        return w.rsplit("/", 1)[-1] if w else "–"
    if key in FRACTION_METRICS:  # rows hold fractions; the pane shows percent
        return fmt(percent(row.get(key)), spec)
    return fmt(row.get(key), spec)


def recipe(row: dict[str, Any]) -> str:
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


def row_key(row: dict[str, Any]) -> str:
    return f"{row['run_id']}:{row['build']}"


def status_rank(row: dict[str, Any]) -> int:
    """ok first, then a run still going, then the rest."""
    return {"ok": 0, "running": 1}.get(str(row.get("status") or ""), 2)


def visible_rows(rows: Sequence[dict[str, Any]], show_all: bool) -> list[dict[str, Any]]:
    return [r for r in rows if show_all or r.get("status") not in HIDDEN_STATUSES]


def sort_rows(rows: Sequence[dict[str, Any]], key: str, descending: bool | None = None) -> list[dict[str, Any]]:
    """ok rows first; within them best first by default (lower is better for latencies);
    rows lacking the key go last."""
    if descending is None:
        descending = key not in LOWER_IS_BETTER  # run_id: newest first
    out: list[dict[str, Any]] = []
    for rank in sorted({status_rank(r) for r in rows}):
        group = [r for r in rows if status_rank(r) == rank]
        present = [r for r in group if r.get(key) is not None]
        missing = [r for r in group if r.get(key) is None]
        present.sort(key=lambda r: (r[key], r["run_id"]), reverse=descending)
        out += present + missing
    return out


def filter_columns(rows: Sequence[dict[str, Any]]) -> set[str]:
    names = {k for k, _h, _s, _w in COLUMNS if k != "mark"}
    for r in rows:
        names.update(r)
    return names


def filter_error(rows: Sequence[dict[str, Any]], text: str) -> str:
    """'' when every ``col=value`` term names a known column, else one line saying which."""
    known = filter_columns(rows)
    bad = [t.split("=", 1)[0] for t in text.split() if "=" in t and t.split("=", 1)[0] not in known]
    if not bad:
        return ""
    shown = ", ".join(sorted(k for k in known if k in {c for c, *_ in COLUMNS} | {"backend", "dtype",
                                                                                   "input_size"}))
    return f"unknown column {bad[0]!r}; try one of: {shown}"


def filter_rows(rows: Sequence[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """Keep rows where every whitespace-separated term appears in some column, or
    ``col=value`` terms match a column exactly."""
    terms = text.split()
    if not terms:
        return list(rows)
    out = []
    for r in rows:
        hay = " ".join([*(str(v) for v in r.values()), recipe(r)]).lower()
        ok = True
        for t in terms:
            if "=" in t:
                col, val = t.split("=", 1)
                have = recipe(r) if col == "recipe" else r.get(col, "")
                if str(have).lower() != val.lower() and fmt(have, "{:g}") != val:
                    ok = False
                    break
            elif t.lower() not in hay:
                ok = False
                break
        if ok:
            out.append(r)
    return out


@dataclass(frozen=True)
class Series:
    label: str
    x: tuple[float, ...]
    y: tuple[float, ...]


def accuracy_vs_throughput(rows: Sequence[dict[str, Any]]) -> list[Series]:
    """One series per build kind (backend-dtype), a point per run: (img/s, top-1 %)."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        if r.get("throughput") is None or r.get("top1") is None:
            continue
        kind = build_kind(r)
        groups.setdefault(kind, []).append((float(r["throughput"]), 100 * float(r["top1"])))
    return [Series(k, tuple(p[0] for p in pts), tuple(p[1] for p in pts))
            for k, pts in sorted(groups.items())]


def build_kind(row: dict[str, Any]) -> str:
    if row.get("backend"):
        return f"{row['backend']}-{row.get('dtype') or '?'}"
    return str(row.get("build", "?"))


def axis_range(values: Sequence[float], lo: float | None = None, hi: float | None = None,
               min_span: float = 1.0) -> tuple[float, float]:
    """Limits that show every value off the frame: the data's range padded by 10 %
    (at least ``min_span`` wide), clamped to [lo, hi] when given (top-1: 0-100)."""
    if not values:
        a, b = (lo if lo is not None else 0.0), (hi if hi is not None else 1.0)
        return a, b
    vmin, vmax = min(values), max(values)
    span = max(vmax - vmin, min_span)
    mid = (vmin + vmax) / 2
    a, b = mid - span * 0.6, mid + span * 0.6
    if lo is not None and a < lo:
        a, b = lo, max(b, lo + span * 1.2)
    if hi is not None and b > hi:
        a, b = min(a, hi - span * 1.2), hi
        if lo is not None:
            a = max(a, lo)
    return a, b


def latency_distribution(metrics: Sequence[dict[str, Any]], builds: Sequence[str] = ()) -> list[Series]:
    """Per-grid-point bench metrics → one series per build: x = grid point index,
    y = p50/p90/p99 in ms, labels naming batch×streams×threads.

    Returns for each build three series (p50, p90, p99) over its grid points, ordered by
    (batch, streams, threads), so the spread between percentiles reads as the distribution.
    """
    points: dict[str, dict[tuple[int, int, int], dict[str, float]]] = {}
    for m in metrics:
        if not m.get("params_json") or m["name"] not in ("p50_ms", "p90_ms", "p99_ms"):
            continue
        if builds and m["build"] not in builds:
            continue
        p = json.loads(m["params_json"])
        gp = (int(p.get("batch", 1)), int(p.get("streams", 1)), int(p.get("threads", 0)))
        points.setdefault(m["build"], {}).setdefault(gp, {})[m["name"]] = float(m["value"])
    out: list[Series] = []
    for build in sorted(points):
        grid = sorted(points[build])
        for q in ("p50_ms", "p90_ms", "p99_ms"):
            ys = [points[build][g].get(q) for g in grid]
            if any(y is None for y in ys):
                continue
            out.append(Series(f"{build} {q[:3]}", tuple(float(i + 1) for i in range(len(grid))),
                              tuple(float(y) for y in ys if y is not None)))
    return out


def grid_labels(metrics: Sequence[dict[str, Any]], build: str) -> list[str]:
    """Tick labels for the latency plot: 'b1' or 'b4×s2×t2' per grid point of a build."""
    grid = set()
    for m in metrics:
        if m.get("params_json") and m["build"] == build and m["name"] == "p50_ms":
            p = json.loads(m["params_json"])
            grid.add((int(p.get("batch", 1)), int(p.get("streams", 1)), int(p.get("threads", 0))))
    labels = []
    for b, s, t in sorted(grid):
        lab = f"b{b}"
        if s != 1:
            lab += f"×s{s}"
        if t:
            lab += f"×t{t}"
        labels.append(lab)
    return labels


COMPARE_METRICS: tuple[tuple[str, str, str], ...] = (
    ("top1", "top-1 %", "{:.2f}"), ("top5", "top-5 %", "{:.2f}"),
    ("p50_ms", "p50 ms", "{:.2f}"), ("p90_ms", "p90 ms", "{:.2f}"), ("p99_ms", "p99 ms", "{:.2f}"),
    ("throughput", "img/s", "{:.2f}"), ("vs_torch", "× torch", "{:.2f}"),
    ("size_mb", "size MiB", "{:.2f}"), ("images", "images", "{:.0f}"), ("skipped", "skipped", "{:.0f}"),
)


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, A, B, B−A with the better side marked) for two leaderboard rows."""
    out = []
    for key, label in (("recipe", "build"), ("backend", "backend"), ("dtype", "dtype"),
                       ("calibration", "calib"), ("input_size", "size"), ("weights", "weights")):
        out.append((label, cell(a, key, "{}"), cell(b, key, "{}"), ""))
    for key, label, spec in COMPARE_METRICS:
        va, vb = a.get(key), b.get(key)
        if key in FRACTION_METRICS:
            va, vb = percent(va), percent(vb)
        delta = ""
        if va is not None and vb is not None:
            d = float(vb) - float(va)
            better = (d < 0) if key in LOWER_IS_BETTER else (d > 0)
            sign = "+" if d > 0 else ""
            delta = f"{sign}{spec.format(d)}" + (" (B better)" if better and d else
                                                 " (A better)" if d else "")
        out.append((label, fmt(va, spec), fmt(vb, spec), delta))
    return out
