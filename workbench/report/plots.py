"""The report's figures, drawn by matplotlib without a display (no pyplot, no global state):
accuracy against throughput with the Pareto front, one plot per machine, and latency by batch.
Each figure comes back as inline SVG text, and as a PNG file when a folder is given."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import BadInput
from workbench.tables import percent

INSTALL_HINT = "the report draws with matplotlib, which is not installed: pip install 'hrnet-wb[report]'"
MARKERS = {"int8": "s", "fp32": "o", "f32": "o", "bf16": "D", "fp16": "^", "f16": "^"}


@dataclass(frozen=True)
class Plot:
    name: str  # file stem of the PNG
    title: str
    svg: str  # an <svg> element, ready to inline
    png: str = ""  # the PNG written, when asked


def require_matplotlib() -> None:
    """BadInput (exit 2, one line) when the optional extra is not installed."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise BadInput(INSTALL_HINT)


def pareto(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (higher is better on both),
    ordered by the first axis."""
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], -points[i][1]))
    front, best = [], float("-inf")
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return sorted(front, key=lambda i: points[i][0])


def _figure(width: float, height: float) -> Any:
    require_matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig


def _finish(fig: Any, name: str, title: str, png_dir: Path | None) -> Plot:
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": name}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"',
                 r'<svg \1role="img" aria-label="' + title.replace('"', "'") + '" class="plot"', svg, count=1)
    png = ""
    if png_dir is not None:
        from workbench.atomic import atomic_path

        png_path = png_dir / f"{name}.png"
        with atomic_path(png_path, ".png") as tmp:
            fig.savefig(tmp, format="png", dpi=150, metadata={"Software": None})
        png = str(png_path)
    return Plot(name, title, svg, png)


def accuracy_vs_throughput(entries: Sequence[Any], fingerprint: str, subtitle: str,
                           png_dir: Path | None, name: str) -> Plot | None:
    """Top-1 (%) against best img/s for the rows measured on one machine; a series per
    device and backend, a marker per precision, each point labelled, the Pareto front drawn."""
    pts = [e for e in entries if e.get("top1") is not None and e.get("throughput") is not None]
    if not pts:
        return None
    fig = _figure(7.5, 4.6)
    ax = fig.add_subplot()
    xy = [(float(e.get("throughput")), percent(e.get("top1"))) for e in pts]
    series: dict[str, list[int]] = {}
    for i, e in enumerate(pts):
        series.setdefault(f"{e.device} {e.row.backend or e.row.build}", []).append(i)
    for label, idx in sorted(series.items()):
        color = None
        for i in idx:
            prec = str(pts[i].row.precision or pts[i].row.dtype)
            h = ax.scatter([xy[i][0]], [xy[i][1]], marker=MARKERS.get(prec, "o"), s=46, color=color,
                           label=label if color is None else None, zorder=3)
            color = h.get_facecolor()[0]
    for prec in sorted({str(e.row.precision or e.row.dtype) for e in pts}):
        ax.scatter([], [], marker=MARKERS.get(prec, "o"), s=46, color="0.55", label=f"ran in {prec}")
    front = pareto(xy)
    ax.plot([xy[i][0] for i in front], [xy[i][1] for i in front], "--", color="0.4", lw=1,
            zorder=2, label="Pareto front")
    ax.set_xlabel("best throughput (img/s)")
    ax.set_ylabel("top-1 (%)")
    ax.set_title(f"{fingerprint}\n{subtitle}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    xs, ys = [p[0] for p in xy], [p[1] for p in xy]
    ax.set_xlim(0, max(xs) * 1.25)
    span = max(max(ys) - min(ys), 1.0)
    ax.set_ylim(max(0.0, min(ys) - 0.3 * span), min(100.0, max(ys) + 0.3 * span))
    _label(ax, xy, [e.label for e in pts])
    return _finish(fig, name, f"accuracy vs throughput on {fingerprint}", png_dir)


# Label positions tried in turn (offset in points from the marker, horizontal alignment).
_SPOTS = ((5, 4, "left"), (5, -10, "left"), (-5, 4, "right"), (-5, -10, "right"),
          (5, 14, "left"), (5, -20, "left"), (-5, 14, "right"), (-5, -20, "right"))


def _label(ax: Any, xy: Sequence[tuple[float, float]], labels: Sequence[str], size: float = 7) -> None:
    """Each point's label at the first spot whose (estimated) box overlaps no label placed
    before it, so points close together stay readable."""
    dpi = ax.figure.dpi / 72
    placed: list[tuple[float, float, float, float]] = []
    for (x, y), text in zip(xy, labels, strict=True):
        px, py = ax.transData.transform((x, y))
        w, h = 0.55 * size * len(text) * dpi, 1.2 * size * dpi
        for dx, dy, ha in _SPOTS:
            x0 = px + dx * dpi - (w if ha == "right" else 0)
            box = (x0, py + dy * dpi, x0 + w, py + dy * dpi + h)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
                break
        placed.append(box)
        ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=size, ha=ha)


def latency_by_batch(entries: Sequence[Any], fingerprint: str, png_dir: Path | None,
                     name: str) -> Plot | None:
    """p50 per batch size for each build (line), p90 (dots) and p99 (the band's top)."""
    rows = [e for e in entries if any(p.get("p50_ms") is not None for p in e.grid)]
    if not rows:
        return None
    fig = _figure(7.5, 4.2)
    ax = fig.add_subplot()
    for e in rows:
        pts: dict[int, dict[str, Any]] = {}
        for p in e.grid:  # the fastest point of each batch size (streams / threads vary)
            if p.get("p50_ms") is not None and (p["batch"] not in pts or p["p50_ms"] < pts[p["batch"]]["p50_ms"]):
                pts[p["batch"]] = p
        bs = sorted(pts)
        p50 = [pts[b]["p50_ms"] for b in bs]
        (line,) = ax.plot(bs, p50, "o-", lw=1.4, ms=4, label=e.label)
        p99 = [pts[b].get("p99_ms") or pts[b]["p50_ms"] for b in bs]
        ax.fill_between(bs, p50, p99, color=line.get_color(), alpha=0.15, lw=0)
        p90 = [pts[b].get("p90_ms") for b in bs]
        ax.plot([b for b, v in zip(bs, p90, strict=True) if v is not None],
                [v for v in p90 if v is not None], ".", color=line.get_color(), ms=5)
    ax.set_xscale("log", base=2)
    batches = sorted({int(p["batch"]) for e in rows for p in e.grid})
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.minorticks_off()
    lo, hi = ax.dataLim.ymin, ax.dataLim.ymax
    if lo > 0 and hi / lo > 20:  # torch eager beside int8: a linear axis flattens the fast builds
        ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("latency per request (ms)")
    ax.set_title(f"{fingerprint}: p50 (line), p90 (dot), p50–p99 (band)", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper left")
    return _finish(fig, name, f"latency by batch on {fingerprint}", png_dir)
