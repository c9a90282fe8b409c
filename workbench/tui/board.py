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

from workbench.board_view import COLUMNS as VIEW
from workbench.board_view import cell, eval_text, ran, ran_differs, recipe, speed_machines
from workbench.store import FRACTION_METRICS, LOWER_IS_BETTER
from workbench.tables import format_figure as fmt
from workbench.tables import percent

#: (key, header, format, width); width None: as wide as the widest cell (never cut).
ColumnSpec = tuple[str, str, str, int | None]
WIDTHS: tuple[tuple[str, int | None], ...] = (
    ("run_id", 4), ("recipe", None), ("top1", 6), ("images", 5), ("p50_ms", 6),
    ("throughput", 7), ("ran", 4), ("status", 9), ("variant", 18), ("calibration", 10),
    ("top5", 6), ("p99_ms", 6), ("vs_torch", 6), ("weights", 16), ("build", None))
COLUMNS: tuple[ColumnSpec, ...] = (("mark", "", "{}", 1), *(
    (k, VIEW[k].narrow, VIEW[k].spec, w) for k, w in WIDTHS))
SORT_KEYS = ("top1", "throughput", "p50_ms", "run_id")
PLOTS = ("accuracy-vs-throughput", "latency")
# Rows of runs that did not finish are hidden unless asked for ('a').
HIDDEN_STATUSES = ("cancelled", "failed", "interrupted")


def visible_columns(rows: Sequence[dict[str, Any]]) -> tuple[ColumnSpec, ...]:
    """The table's columns: ``ran`` only when some row ran another precision than it was
    built in (otherwise it repeats the recipe and costs 80 columns their width), ``n`` only
    when some row has an image count."""
    drop = set()
    if not any(ran_differs(r) for r in rows):
        drop.add("ran")
    if not any(r.get("images") is not None for r in rows):
        drop.add("images")
    return tuple(c for c in COLUMNS if c[0] not in drop)


def speed_caption(rows: Sequence[dict[str, Any]]) -> str:
    """The line under the table that explains the ``!`` after img/s ('' when none)."""
    fps = speed_machines(rows)
    if not fps:
        return ""
    return f"! img/s from {len(fps)} CPUs: compare speed only within one (i: the row's CPU)"


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


def eval_data(row: dict[str, Any]) -> str:
    """The data an accuracy was measured on, short: ``imagenet-val 1a2b3c4d`` (+ limit)."""
    if not row.get("data_hash") and not row.get("data_layout"):
        return "–"
    text = f"{row.get('data_layout') or '?'} {str(row.get('data_hash') or '')[:8]}".strip()
    if row.get("eval_limit"):
        text += f" --limit {row['eval_limit']}"
    return text


def runtime_text(row: dict[str, Any]) -> str:
    """``openvino 2026.4`` (the runtime behind the speed figures, else the accuracy's)."""
    return str(row.get("runtime") or "–")


def settings_text(row: dict[str, Any]) -> str:
    """``LATENCY · 1 stream, 2 threads``: what the runtime reported it used ('–' if nothing)."""
    parts = [str(row["hint"])] if row.get("hint") else []
    s, t = row.get("streams_eff"), row.get("threads_eff")
    if s is not None or t is not None:
        parts.append(f"{s if s is not None else '?'} stream{'' if s == 1 else 's'}, "
                     f"{t if t is not None else '?'} thread{'' if t == 1 else 's'}")
    return " · ".join(parts) or "–"


def speed_text(row: dict[str, Any]) -> str:
    """The speed figures with the batch each was measured at: latency at the smallest batch (the
    bench's headline), throughput at the batch that gave the most."""
    parts = []
    if row.get("p50_ms") is not None:
        parts.append(f"p50 {fmt(row['p50_ms'], '{:.1f}')} ms at the smallest batch")
    if row.get("throughput") is not None:
        at = f" at batch {row['best_batch']:.0f}" if row.get("best_batch") is not None else ""
        parts.append(f"{fmt(row['throughput'], '{:.1f}')} img/s{at}")
    return " · ".join(parts) or "–"


def detail(row: dict[str, Any]) -> list[tuple[str, str]]:
    """What one row's figures are and where they come from, for the detail dialog: the
    recipe, the eval behind the accuracy (:func:`workbench.store.describe_eval`), the
    precision each figure ran in, the runtime's settings and the CPU."""
    top = []
    for key, label in (("top1", "top-1 %"), ("top5", "top-5 %")):
        if row.get(key) is not None:
            top.append(f"{label} {fmt(percent(row[key]), '{:.2f}')}")
    out = [
        ("run", f"{row.get('run_id')} {row.get('run') or ''} ({row.get('status') or '?'})".strip()),
        ("build", recipe(row)),
        ("artifact", str(row.get("build") or "–")),
        ("model", f"{row.get('source') or '?'}:{row.get('variant') or '?'}"),
        ("weights", str(row.get("weights") or "–")),
        ("accuracy", "  ".join(top) or "–"),
        ("eval", eval_text(row) or "–"),
        ("ran (eval)", ran(row, "eval_precision") or "–"),
        ("speed", speed_text(row)),
        ("ran (speed)", ran(row) or "–"),
        ("runtime", runtime_text(row)),
        ("settings", settings_text(row)),
        ("CPU", " · ".join(str(x) for x in (row.get("cpu_name"), row.get("fingerprint")) if x)
         or "–"),
    ]
    if row.get("gpu_name"):  # where one ran (the leaderboard pane reads it from the store)
        out.append(("GPU", str(row["gpu_name"])))
    if row.get("speed_note"):
        out.append(("!", str(row["speed_note"])))
    return out


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(metric, A, B, B−A with the better side marked) for two leaderboard rows."""
    out = []
    for key, label in (("recipe", "build"), ("backend", "backend"), ("dtype", "dtype"),
                       ("calibration", "calib"), ("input_size", "size"), ("weights", "weights")):
        out.append((label, cell(a, key, "{}"), cell(b, key, "{}"), ""))
    for label, fn in (("ran (eval)", lambda r: ran(r, "eval_precision") or "–"),
                      ("ran (speed)", lambda r: ran(r) or "–"),
                      ("eval data", eval_data), ("runtime", runtime_text),
                      ("settings", settings_text),
                      ("CPU", lambda r: str(r.get("fingerprint") or "–"))):
        sa, sb = fn(a), fn(b)
        if (sa, sb) == ("–", "–") or (label == "CPU" and sa == sb):
            continue  # nothing recorded; one CPU (the row fits 80×24 for what differs)
        out.append((label, sa, sb, "" if sa == sb else "differs"))
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
