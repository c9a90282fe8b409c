"""What a report shows, read from the store: one entry per artifact row with its cost, grid,
machine, runtime settings and reproduction command, and the fp32/int8 pairs of each eval run
compared image by image. Nothing here draws or writes HTML."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.backends import get_backend
from workbench.errors import BadInput
from workbench.records import ResultRow
from workbench.report.commands import profiles_behind, reproduce_command
from workbench.store import Store

THUMB_PX = 112  # the longer side of an embedded thumbnail


@dataclass
class Entry:
    """One zoo-table row: the leaderboard row plus everything the page says about it."""

    row: ResultRow
    params_m: str = ""  # in the source's convention, as the source prints it
    cost: str = ""
    cost_unit: str = ""
    grid: list[dict[str, Any]] = field(default_factory=list)  # the latest bench run's points
    bench_run: int | None = None
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage → effective settings
    agreement: float | None = None  # int8 vs fp32 top-1 agreement on its eval run
    command: str = ""
    profiles: dict[int, str] = field(default_factory=dict)  # run id → its profile as TOML
    name: str = ""  # set by gather: the recipe, with the run when two rows would read alike

    def get(self, key: str) -> Any:
        return self.row.get(key)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        aid = self.row.artifact
        return f"{self.row.variant} {aid.short}" if aid else self.row.build

    @property
    def bs1_p50(self) -> float | None:
        bs1 = [p for p in self.grid if p["batch"] == 1 and p.get("p50_ms") is not None]
        pts = [p["p50_ms"] for p in bs1 if p["streams"] == 1] or [p["p50_ms"] for p in bs1]
        return min(pts) if pts else self.row.get("p50_ms")

    @property
    def device(self) -> str:
        """The series a scatter point belongs to: GPUs apart from CPU kinds. The device a
        stage reported it ran on decides (torch-cuda runs on either); else the backend's kind."""
        ran = {str(s.get("device", "")) for s in self.settings.values() if s.get("device")}
        if ran:
            return "GPU" if any(d.startswith("cuda") for d in ran) else "CPU"
        try:
            return "CPU" if get_backend(self.row.backend).runs_on_cpu else "GPU"
        except BadInput:  # a backend this install does not know
            return "CPU"


@dataclass
class FlipImage:
    id: str
    gt: int | None
    fp32_top5: list[int]
    int8_top5: list[int]
    fp32_prob5: list[float]
    int8_prob5: list[float]
    thumbnail: str = ""  # base64 JPEG, "" when the file is gone
    missing: str = ""


@dataclass
class Pair:
    """An int8 eval and the fp32 eval of the same model and data it is compared with."""

    run_id: int
    fp32: str
    int8: str
    images: int
    agreement: float
    mcnemar_p: float | None
    table: dict[str, int] | None
    flips_total: int
    ref_run: int = 0  # the fp32 eval's run (the same run in a pipeline run)
    names: dict[int, str] = field(default_factory=dict)  # class names the evals wrote
    flips: list[FlipImage] = field(default_factory=list)


@dataclass
class Machine:
    fingerprint: str
    cpu: dict[str, Any]
    runs: list[int]


@dataclass
class ReportData:
    home: str
    entries: list[Entry]
    pairs: list[Pair]
    machines: list[Machine]
    missing: list[str]  # what the page cannot show, in words
    runs: list[int]


def select_runs(rows: list[ResultRow], runs: list[int]) -> list[ResultRow]:
    """Rows with a figure from any of ``runs`` (an artifact row may merge several runs)."""
    want = set(runs)
    return [r for r in rows if want & {int(x) for x in (r.runs or str(r.run_id)).split(",") if x}]


def _row_runs(row: ResultRow) -> list[int]:
    return [int(x) for x in (row.runs or str(row.run_id)).split(",") if x]


def _cost(entry: Entry, cache: dict[str, list[int]], cache_file: Path | None, count: bool) -> None:
    """Params and GFLOPs under the row's source convention; without ``count`` only what the
    cache already holds (counting imports torch, which a UI thread must not)."""
    from workbench.sources.cost import CONVENTIONS, cached_costs, cost_row

    row = entry.row
    conv = CONVENTIONS.get(row.source)
    aid = row.artifact
    if conv is None or aid is None:
        return
    try:
        c = (cost_row(row.source, row.variant, aid.input_size, cache) if count else
             cached_costs(row.source, cache_file, aid.input_size, (row.variant,)).get(row.variant))
    except Exception:  # noqa: BLE001 - an unknown variant leaves the cells empty
        return
    if c is None:
        return
    entry.params_m, entry.cost = c.params_m, c.cost
    entry.cost_unit = f"{conv.cost_name} ({row.source})"


def _thumbnail(path: str) -> tuple[str, str]:
    from PIL import Image

    p = Path(path)
    if not path or not p.is_file():
        return "", f"image file not found: {path or '(no path recorded)'}"
    try:
        with Image.open(p) as im:
            im = im.convert("RGB")
            im.thumbnail((THUMB_PX, THUMB_PX))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=75)
    except OSError as exc:
        return "", f"cannot decode {p.name}: {exc}"
    return base64.b64encode(buf.getvalue()).decode("ascii"), ""


def _results_file(out_dir: str, build: str) -> Path | None:
    """A build's results.jsonl in its run folder (a pipeline run keeps one per build, an
    ``eval`` run one for the run)."""
    from workbench.evaluate.formats import RESULTS_JSONL

    if not out_dir:
        return None
    for f in (Path(out_dir) / build / RESULTS_JSONL, Path(out_dir) / RESULTS_JSONL):
        if f.is_file():
            return f
    return None


def _reference(q: ResultRow, fp32: list[ResultRow]) -> ResultRow | None:
    """The fp32 eval an int8 eval is compared with: the same model at the same input size on
    the same data; the same run first, then the same backend, then the latest."""
    same = [r for r in fp32 if r.variant == q.variant and r.input_size == q.input_size
            and (not (r.data_hash and q.data_hash) or r.data_hash == q.data_hash)]
    return max(same, key=lambda r: (r.run_id == q.run_id, r.backend == q.backend, r.run_id), default=None)


def _pairs(store: Store, board: list[ResultRow], runs: list[int], max_flips: int) -> list[Pair]:
    """Every int8 eval among ``runs`` beside its fp32 reference (``compare`` of the two
    results.jsonl), flips with thumbnails up to ``max_flips`` in all."""
    from workbench.evaluate.formats import RESULTS_TXT, class_names_in_txt, read_results
    from workbench.evaluate.paired import compare_results

    out_dirs = {rid: str((store.run_record(rid) or {}).get("out_dir") or "") for rid in runs}
    files = {(r.run_id, r.build): f for r in board if r.run_id in out_dirs and r.get("top1") is not None
             for f in [_results_file(out_dirs[r.run_id], r.build)] if f is not None}
    evals = [r for r in board if (r.run_id, r.build) in files]
    from workbench.backends import is_baseline

    fp32 = [r for r in evals if r.dtype == "fp32" and not is_baseline(r.backend)]
    pairs: list[Pair] = []
    budget = max_flips
    for q in (r for r in evals if r.dtype == "int8"):
        ref = _reference(q, fp32)
        if ref is None:
            continue
        fa, fb = files[(ref.run_id, ref.build)], files[(q.run_id, q.build)]
        try:
            cmp = compare_results(fa, fb)
        except Exception:  # noqa: BLE001 - a pair that cannot be compared is left out
            continue
        pair = Pair(q.run_id, ref.build, q.build, cmp["images"], cmp["agreement"],
                    cmp.get("mcnemar_p"), cmp.get("table"), len(cmp["flips"]), ref_run=ref.run_id)
        if budget > 0 and cmp["flips"]:
            pair.names = {**class_names_in_txt(fb.parent / RESULTS_TXT),
                          **class_names_in_txt(fa.parent / RESULTS_TXT)}
            ra = {str(r["id"]): r for r in read_results(fa)}
            rb = {str(r["id"]): r for r in read_results(fb)}
            for f in cmp["flips"][:budget]:
                a, b = ra.get(f["id"], {}), rb.get(f["id"], {})
                thumb, missing = _thumbnail(str(a.get("path") or b.get("path") or ""))
                pair.flips.append(FlipImage(f["id"], f["gt"], list(a.get("top5", [])),
                                            list(b.get("top5", [])), list(a.get("prob5", [])),
                                            list(b.get("prob5", [])), thumb, missing))
            budget -= len(pair.flips)
        pairs.append(pair)
    return pairs


def _grid(store: Store, entry: Entry) -> None:
    from workbench.bench.record import grid_from_store

    for run_id in reversed(_row_runs(entry.row)):
        pts = grid_from_store(store, run_id, entry.row.build)
        if pts:
            entry.grid, entry.bench_run = pts, run_id
            return


def gather(store: Store, rows: list[ResultRow], *, cost_cache: Path | None = None,
           max_flips: int = 24, count_costs: bool = True) -> ReportData:
    """Everything the page shows for ``rows`` (leaderboard rows by artifact)."""
    import json

    runs = sorted({i for r in rows for i in _row_runs(r)})
    cache: dict[str, list[int]] = {}
    if cost_cache is not None and cost_cache.is_file():
        try:
            cache = json.loads(cost_cache.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            cache = {}
    before = len(cache)
    settings = {rid: _older_store_ok(store.runtime, rid, []) for rid in runs}
    records = {rid: store.run_record(rid) or {} for rid in runs}
    entries = []
    for row in rows:
        e = Entry(row)
        _cost(e, cache, cost_cache, count_costs)
        _grid(store, e)
        for rid in _row_runs(row):
            for s in settings.get(rid, []):
                if s["build"] == row.build:
                    e.settings[s["stage"]] = s["settings"]
        e.command = reproduce_command(records, row, e.bench_run)
        e.profiles = profiles_behind(records, e.command)
        entries.append(e)
    seen: dict[str, int] = {}
    for e in entries:
        seen[e.label] = seen.get(e.label, 0) + 1
    for e in entries:
        if seen[e.label] > 1:
            e.name = f"{e.label} (run {e.row.run_id})"
    if cost_cache is not None and len(cache) != before:
        from workbench.atomic import write_json

        write_json(cost_cache, cache)
    pairs = _pairs(store, store.results("run"), runs, max_flips)
    for e in entries:
        if e.row.dtype != "int8":
            continue
        agree = e.row.get("top1_agreement")
        if agree is None:
            ev = e.row.get("eval_run")
            agree = next((p.agreement for p in pairs if p.int8 == e.row.build
                          and (ev is None or p.run_id == int(ev))), None)
        e.agreement = agree
    machines: dict[str, Machine] = {}
    for rid in runs:
        m = _older_store_ok(store.machine, rid, None)
        fp = m["fingerprint"] if m else "unrecorded"
        machines.setdefault(fp, Machine(fp, (m or {}).get("cpu", {}), [])).runs.append(rid)
    return ReportData(str(store.path), entries, pairs, list(machines.values()),
                      missing(entries, pairs), runs)


def _older_store_ok(read: Any, run_id: int, default: Any) -> Any:
    """``read(run_id)``, or ``default`` on a read-only store of a schema older than the table."""
    import sqlite3

    try:
        return read(run_id)
    except sqlite3.OperationalError:
        return default


def missing(entries: list[Entry], pairs: list[Pair]) -> list[str]:
    """What the page cannot show, each as one sentence a reader can act on."""
    out = []
    if not entries:
        return ["the store holds no figures for this selection: run `hrnet-wb run --profile "
                "profiles/demo.toml` (or eval / bench a build) first"]
    no_eval = [e.label for e in entries if e.get("top1") is None]
    if no_eval:
        out.append(f"{len(no_eval)} of {len(entries)} rows have no accuracy (no eval recorded): "
                   f"{', '.join(no_eval[:6])}{' …' if len(no_eval) > 6 else ''}; they are not "
                   "on the accuracy-vs-throughput plot")
    no_speed = [e.label for e in entries if e.get("throughput") is None]
    if no_speed:
        out.append(f"{len(no_speed)} of {len(entries)} rows have no speed (no bench recorded): "
                   f"{', '.join(no_speed[:6])}{' …' if len(no_speed) > 6 else ''}")
    if not any(e.grid for e in entries):
        out.append("no latency grid (bench per batch size) is recorded for these rows")
    if not pairs:
        out.append("no int8 eval has an fp32 eval of the same model and data beside it (both "
                   "results.jsonl), so there is no int8-vs-fp32 comparison")
    return out
