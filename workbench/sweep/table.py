"""The model-zoo table: one row per source × variant, as Markdown, CSV and JSON.

Params and GFLOPs are each source's own convention (computed by
:mod:`workbench.sources.cost`, as ``models --table`` prints them). Accuracy is a fraction
(0..1) in JSON and CSV and a percentage only in the Markdown a person reads. Speed figures
come from the node that benchmarked the row; when rows come from different kinds of node
the table says so and adds a ``node`` column, and no figure is ranked across kinds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.atomic import write_json
from workbench.sweep.row import RowOutcome
from workbench.tables import csv_table, format_figure, format_percent, markdown_table

CSV_COLUMNS = ("id", "source", "model", "variant", "status", "params_m", "cost", "cost_unit",
               "fp32_top1", "fp32_top5", "int8_top1", "int8_top5", "delta_top1", "top1_agreement",
               "fp32_bs1_p50_ms", "int8_bs1_p50_ms", "best_throughput", "best_build", "eval_images",
               "calibration_images", "weights", "node_kind", "run_id", "error")
COST_UNITS = {"official": "GFLOPs (MACs/2^30)", "mmcls": "Flops (G, mmcv)", "timm": "GMACs"}


def _bs1_p50(b: Any) -> float | None:
    pts = [r for r in b.bench_rows if r["batch"] == 1 and r["streams"] == 1]
    return min((r["p50_ms"] for r in pts), default=None)


def zoo_row(outcome: RowOutcome, cost: Any, run_id: int) -> dict[str, Any]:
    """One table row from a finished row's outcome and its cost under its source's convention."""
    r = outcome.row
    fp32 = next((b for b in outcome.builds if b.dtype == "fp32"), None)
    int8 = next((b for b in outcome.builds if b.dtype == "int8"), None)

    def acc(b: Any, k: str) -> float | None:
        return None if b is None or not b.eval else b.eval.get(k)

    f1, i1 = acc(fp32, "top1"), acc(int8, "top1")
    speed = [(b.bench["throughput"], b.name) for b in outcome.builds if b.bench and b.bench.get("throughput")]
    best = max(speed, default=(None, ""))
    node = outcome.bench_node or outcome.node
    return {
        "id": r["id"], "source": r["source"], "model": r["name"], "variant": r["variant"], "status": "ok",
        "params_m": _float(cost.params_m), "params": cost.params, "cost": _float(cost.cost), "cost_count": cost.count,
        "cost_unit": COST_UNITS.get(r["source"], ""),
        "fp32_top1": f1, "fp32_top5": acc(fp32, "top5"), "int8_top1": i1, "int8_top5": acc(int8, "top5"),
        "delta_top1": None if f1 is None or i1 is None else i1 - f1,
        "top1_agreement": outcome.agreement,
        "fp32_bs1_p50_ms": None if fp32 is None else _bs1_p50(fp32),
        "int8_bs1_p50_ms": None if int8 is None else _bs1_p50(int8),
        "best_throughput": best[0], "best_build": best[1],
        "eval_images": outcome.eval_images, "calibration_images": outcome.calibration_images,
        "weights": outcome.weights, "random_init": outcome.random_init,
        "node_kind": node.get("kind", ""), "node": node, "run_id": run_id, "error": "",
        "notes": list(outcome.notes), "seconds": outcome.seconds,
        "builds": [{"label": b.label, "name": b.name, "key": b.key, "backend": b.backend, "dtype": b.dtype,
                    "calibration": b.calibration, "eval": b.eval, "bench": b.bench, "cached": b.cached}
                   for b in outcome.builds],
    }


def placeholder_row(row: dict[str, Any], status: str, error: str = "", run_id: int | None = None) -> dict[str, Any]:
    """A row that is not (yet) measured: failed, or left for a later run by --max-minutes."""
    out: dict[str, Any] = dict.fromkeys(CSV_COLUMNS)
    out.update({"id": row["id"], "source": row["source"], "model": row["name"], "variant": row["variant"],
                "status": status, "weights": row["weights"], "error": error, "run_id": run_id,
                "random_init": row["weights"] == "random-init", "notes": [], "builds": []})
    return out


def node_kinds(rows: list[dict[str, Any]]) -> list[str]:
    return sorted({r["node_kind"] for r in rows if r.get("status") == "ok" and r.get("node_kind")})


def table_notes(rows: list[dict[str, Any]]) -> list[str]:
    notes = []
    kinds = node_kinds(rows)
    if len(kinds) > 1:
        notes.append(f"speed figures come from {len(kinds)} kinds of node ({', '.join(kinds)}; see the "
                     "node column): compare bs1 p50 and img/s only between rows of the same kind")
    if any(r.get("random_init") for r in rows):
        notes.append("rows marked random-init have no checkpoint: their accuracy is meaningless")
    return notes


def _float(value: Any) -> float | None:
    """A figure the source prints as text ("13.2"): a number in every row, None if absent."""
    try:
        return float(value) if value not in ("", None) else None
    except (TypeError, ValueError):
        return None


def markdown(rows: list[dict[str, Any]], title: str = "", meta: dict[str, Any] | None = None) -> str:
    """The table a person reads: percent, ms, img/s; each row says the images it was
    evaluated on, the calibration images set aside and its run (the builds are in its store
    run); ``meta`` names the data, the limit and the builds under the table."""
    multi = len(node_kinds(rows)) > 1
    head = ["model", "source", "params (M)", "GFLOPs*", "fp32 top-1", "fp32 top-5", "int8 top-1",
            "int8 top-5", "Δ top-1", "top-1 agree", "int8 bs1 p50 (ms)", "best img/s", "weights",
            "eval images", "calib images", "run"]
    if multi:
        head.append("node")
    lines = [f"## {title}", ""] if title else []
    cells_of: list[list[str]] = []
    for r in rows:
        if r["status"] != "ok":
            cells = [r["model"], r["source"]] + ["–"] * 10 + [f"{r['status']}: {r.get('error') or ''}".strip(": "),
                                                             "–", "–", r.get("run_id") or "–"]
        else:
            cells = [r["model"], r["source"], format_figure(_float(r["params_m"]), "{:.2f}"),
                     format_figure(_float(r["cost"]), "{:.2f}"), format_percent(r["fp32_top1"]),
                     format_percent(r["fp32_top5"]), format_percent(r["int8_top1"]), format_percent(r["int8_top5"]),
                     format_percent(r["delta_top1"], "{:+.2f}"), format_percent(r["top1_agreement"]),
                     format_figure(r["int8_bs1_p50_ms"], "{:.1f}"), format_figure(r["best_throughput"], "{:.1f}"),
                     "random-init" if r["random_init"] else Path(str(r["weights"])).name,
                     format_figure(r.get("eval_images"), "{}"), format_figure(r.get("calibration_images"), "{}"),
                     r.get("run_id") or "–"]
        if multi:
            cells.append(r.get("node_kind") or "–")
        cells_of.append([str(c).replace("|", "/") for c in cells])
    lines += markdown_table(head, cells_of)
    lines.append("")
    lines.append("\\* each source's convention: official = MACs/2^30, mmcls = mmcv count/1e9, "
                 "timm = GMACs/1e9 (as `hrnet-wb models --table`). Accuracy in percent.")
    if meta:
        limit = f", at most {meta['limit']} images" if meta.get("limit") else ""
        lines.append(f"Data: {meta.get('data') or '(none)'}{limit}; builds: "
                     f"{', '.join(meta.get('builds') or [])}; input {'x'.join(map(str, meta.get('input_size') or []))}.")
    for n in table_notes(rows):
        lines.append(f"Note: {n}.")
    return "\n".join(lines) + "\n"


def csv_text(rows: list[dict[str, Any]]) -> str:
    return csv_table(rows, CSV_COLUMNS)


def write_table(folder: Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, str]:
    """zoo.md, zoo.csv and zoo.json in ``folder``, each written atomically."""
    from workbench.atomic import write_text

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": folder / "zoo.md", "csv": folder / "zoo.csv", "json": folder / "zoo.json"}
    write_text(paths["markdown"], markdown(rows, meta.get("name", ""), meta))
    write_text(paths["csv"], csv_text(rows))
    write_json(paths["json"], {**meta, "notes": table_notes(rows), "rows": rows})
    return {k: str(v) for k, v in paths.items()}
