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

from workbench.store import LOWER_IS_BETTER
from workbench.tables import format_figure as fmt

# (key, header, format, width) — the columns that fit 80 columns.
COLUMNS: tuple[tuple[str, str, str, int], ...] = (
    ("mark", "", "{}", 1),
    ("run_id", "run", "{:.0f}", 4),
    ("build", "build", "{}", 24),
    ("top1", "top1%", "{:.2f}", 6),
    ("p50_ms", "p50ms", "{:.1f}", 6),
    ("throughput", "img/s", "{:.1f}", 6),
    ("status", "status", "{}", 9),
    ("variant", "variant", "{}", 18),
    ("backend", "backend", "{}", 12),
    ("dtype", "dtype", "{}", 5),
    ("calibration", "calib", "{}", 10),
    ("input_size", "size", "{}", 7),
    ("top5", "top5%", "{:.2f}", 6),
    ("p99_ms", "p99ms", "{:.1f}", 6),
    ("vs_torch", "×torch", "{:.2f}", 6),
    ("weights", "weights", "{}", 16),
)
SORT_KEYS = ("top1", "throughput", "p50_ms", "run_id")
PLOTS = ("accuracy-vs-throughput", "latency")


def cell(row: dict[str, Any], key: str, spec: str) -> str:
    if key == "build":
        return short_build(str(row.get("build") or ""))
    if key == "weights":
        w = str(row.get("weights") or "")
        return w.rsplit("/", 1)[-1] if w else "–"
    return fmt(row.get(key), spec)


def short_build(build: str) -> str:
    """``hrnet_w18_small-int8-percentile-3_224_224-ort-cpu`` → ``int8-percentile 224 ort-cpu``
    (the variant has its own column; torch-eager-fp32 and odd names pass through)."""
    parts = build.split("-")
    if len(parts) >= 5 and "_" in parts[3]:
        size = parts[3].split("_")[-1]
        calib = "" if parts[2] == "none" else f"-{parts[2]}"
        return f"{parts[1]}{calib} {size} {'-'.join(parts[4:])}"
    return build


def row_key(row: dict[str, Any]) -> str:
    return f"{row['run_id']}:{row['build']}"


def sort_rows(rows: Sequence[dict[str, Any]], key: str, descending: bool | None = None) -> list[dict[str, Any]]:
    """Best first by default (lower is better for latencies); rows lacking the key go last."""
    if descending is None:
        descending = key not in LOWER_IS_BETTER  # run_id: newest first
    present = [r for r in rows if r.get(key) is not None]
    missing = [r for r in rows if r.get(key) is None]
    present.sort(key=lambda r: (r[key], r["run_id"]), reverse=descending)
    return present + missing


def filter_rows(rows: Sequence[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """Keep rows where every whitespace-separated term appears in some column, or
    ``col=value`` terms match a column exactly."""
    terms = text.split()
    if not terms:
        return list(rows)
    out = []
    for r in rows:
        hay = " ".join(str(v) for v in r.values()).lower()
        ok = True
        for t in terms:
            if "=" in t:
                col, val = t.split("=", 1)
                if str(r.get(col, "")).lower() != val.lower():
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
        groups.setdefault(kind, []).append((float(r["throughput"]), float(r["top1"])))
    return [Series(k, tuple(p[0] for p in pts), tuple(p[1] for p in pts))
            for k, pts in sorted(groups.items())]


def build_kind(row: dict[str, Any]) -> str:
    if row.get("backend"):
        return f"{row['backend']}-{row.get('dtype') or '?'}"
    return str(row.get("build", "?"))


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
    for key in ("build", "backend", "dtype", "calibration", "input_size", "weights"):
        out.append((key, cell(a, key, "{}"), cell(b, key, "{}"), ""))
    for key, label, spec in COMPARE_METRICS:
        va, vb = a.get(key), b.get(key)
        delta = ""
        if va is not None and vb is not None:
            d = float(vb) - float(va)
            better = (d < 0) if key in LOWER_IS_BETTER else (d > 0)
            sign = "+" if d > 0 else ""
            delta = f"{sign}{spec.format(d)}" + (" (B better)" if better and d else
                                                 " (A better)" if d else "")
        out.append((label, fmt(va, spec), fmt(vb, spec), delta))
    return out
