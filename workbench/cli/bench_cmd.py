"""``hrnet-wb bench``: latency percentiles and throughput over a grid, beside torch eager
and the machine's limit; ``--compare-backends`` for the five-way side-by-side table."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from workbench.cli.app import app
from workbench.cli.common import HomeOpt, JsonOpt, fail, failing, guarded, print_json
from workbench.tables import format_figure

if TYPE_CHECKING:  # pragma: no cover
    from rich.table import Table

    from workbench.bench import BenchResult
    from workbench.bench.bench_run import BenchRun
    from workbench.bench.compare import SideBySide

EPILOG = (
    "Examples:\n\n"
    "  hrnet-wb bench hrnet_w18-int8-percentile-3_224_224-ort-cpu\n\n"
    "  hrnet-wb bench model.onnx --variant hrnet_w18 --batch 1,8 --streams 1,2\n\n"
    "  hrnet-wb bench model.onnx --backend openvino-cpu --duration 20 --latency-budget-ms 50\n\n"
    "  hrnet-wb bench --backend torch --variant hrnet_w18_small --batch 1 --json\n\n"
    "  hrnet-wb bench model.onnx --inputs real --data /data/imagenet/val --batch 1\n\n"
    "  hrnet-wb bench --compare-backends --variant hrnet_w18"
)


def _ints(text: str, what: str, minimum: int) -> list[int]:
    from workbench.errors import BadInput

    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise BadInput(f"{what} {text!r}: expected comma-separated integers, e.g. 1,8") from None
    if not values or any(v < minimum for v in values):
        raise BadInput(f"{what} {text!r}: expected integers >= {minimum}")
    return values


@app.command("bench", epilog=EPILOG)
def bench(
    ctx: typer.Context,
    artifact: Annotated[str | None, typer.Argument(
        help="A built artifact (name or key from the store, or its folder) or an .onnx/.xml file.",
        show_default=False)] = None,
    backend: Annotated[str | None, typer.Option(
        help="ort-cpu | openvino-cpu | torch (default: the artifact's own; torch = eager "
             "model of --variant).", show_default=False)] = None,
    batch: Annotated[str, typer.Option("--batch", help="Batch sizes, comma-separated.")] = "1,8",
    streams: Annotated[str, typer.Option(
        help="Parallel requests (sessions in threads, like vamp's instances), comma-separated.")] = "1",
    threads: Annotated[str, typer.Option(
        help="Total intra-op threads, shared by the streams; 0 = physical cores.")] = "0",
    warmup: Annotated[int, typer.Option(help="Warm-up requests per stream before measuring.")] = 3,
    iterations: Annotated[int, typer.Option(
        help="Measured requests per grid point, over all rounds.")] = 20,
    duration: Annotated[float | None, typer.Option(
        help="Measure each grid point for this many seconds instead of --iterations.",
        show_default=False)] = None,
    rounds: Annotated[int, typer.Option(
        help="Interleaved rounds (A,B,C,A,B,C...); figures are medians over rounds.")] = 3,
    latency_budget_ms: Annotated[float | None, typer.Option(
        "--latency-budget-ms", help="Report the best throughput whose p99 fits; exit 1 if none.",
        show_default=False)] = None,
    baseline: Annotated[bool | None, typer.Option(
        "--baseline/--no-baseline", help="Measure torch eager fp32 in the same run "
        "(default: when the variant is known).", show_default=False)] = None,
    variant: Annotated[str | None, typer.Option(
        help="HRNet variant (for the baseline and torch backend), e.g. hrnet_w18.",
        show_default=False)] = None,
    input_size: Annotated[str | None, typer.Option(
        "--input-size", help="H or HxW when the file does not fix it (default 224).",
        show_default=False)] = None,
    compare_backends: Annotated[bool, typer.Option(
        "--compare-backends", help="Build and measure torch eager, ORT fp32/int8 and OpenVINO "
        "fp32/int8 of --variant side by side.")] = False,
    only: Annotated[str | None, typer.Option(
        help="With --compare-backends: a subset, e.g. torch-eager-fp32,ort-int8.",
        show_default=False)] = None,
    calibration: Annotated[Path | None, typer.Option(
        help="With --compare-backends: calibration images for the int8 builds "
             "(default: the bundled assets).", show_default=False)] = None,
    calib_count: Annotated[int, typer.Option(help="With --compare-backends: calibration images used.")] = 8,
    record: Annotated[bool, typer.Option(
        "--record/--no-record", help="Record the run in the store (leaderboard).")] = True,
    reprobe: Annotated[bool, typer.Option(
        "--reprobe", help="Re-measure the machine's dense-GEMM limit per precision (only a quiet probe is cached; it keeps "
        "the best rate seen).")] = False,
    profile: Annotated[Path | None, typer.Option(
        "--profile", "-p", help="Measure a profile's builds with its [bench] grid (builds are "
        "cache hits after `hrnet-wb run`; evaluation is skipped).", show_default=False)] = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="With --profile: override a key, KEY=VALUE, e.g. bench.streams=[1,2].")] = None,
    inputs: Annotated[str, typer.Option(
        "--inputs", help="random: seeded normal tensors; real: decoded, preprocessed images "
        "from --data (cycled to fill each batch).")] = "random",
    data: Annotated[str, typer.Option(
        "--data", help="Images for --inputs real (a dataset folder or file list).")] = "",
    fmt: Annotated[str, typer.Option("--format", help="table | md (for --compare-backends).")] = "table",
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Latency p50/p90/p99, throughput and spread over batch × streams × threads.

    Every figure is also a ratio to torch eager and to this machine's measured dense-GEMM limit."""
    from workbench.bench import BenchConfig
    from workbench.home import resolve_home
    from workbench.input_size import parse_input_size

    def config() -> BenchConfig:
        return BenchConfig(
            batch_sizes=_ints(batch, "--batch", 1), streams=_ints(streams, "--streams", 1),
            threads=_ints(threads, "--threads", 0), warmup=warmup, iterations=iterations,
            duration_s=duration, latency_budget_ms=latency_budget_ms, rounds=rounds,
            inputs=inputs,
        ).validate()

    cfg = guarded(config, as_json)
    size = guarded(lambda: parse_input_size(input_size), as_json) if input_size else None
    hm = guarded(lambda: resolve_home(home), as_json)
    if fmt not in ("table", "md"):
        raise fail(f"--format {fmt!r}: expected table or md", 2, as_json)
    if cfg.inputs == "real" and (profile is not None or compare_backends):
        raise fail("--inputs real measures one artifact; not with --profile or "
                   "--compare-backends", 2, as_json)
    if reprobe:
        from workbench.bench.limits import limits_for

        guarded(functools.partial(limits_for, hm.cache, list(cfg.threads), True), as_json)
    if profile is not None:
        from click.core import ParameterSource

        given = {f: getattr(cfg, f) for p, f in _PROFILE_FLAGS.items()
                 if ctx.get_parameter_source(p) == ParameterSource.COMMANDLINE}
        _profile(profile, set_ or [], given, hm, as_json)
        return
    if compare_backends:
        _compare(cfg, hm, variant, size, only, calibration, calib_count, record, fmt, as_json)
        return
    from workbench.bench.bench_run import run_bench
    from workbench.bench.target import resolve_target

    target = guarded(lambda: resolve_target(artifact, hm, backend=backend, variant=variant,
                                            input_size=size), as_json)
    run = _with_printer(lambda rep: run_bench(target, hm, cfg, baseline=baseline, record=record,
                                               reporter=rep, data=data), as_json)
    if as_json:
        print_json(run.as_dict())
    else:
        _print_run(run)
    if latency_budget_ms is not None and run.result.sweet_spot is None:
        if not as_json:
            typer.echo(f"error: no configuration keeps p99 within {latency_budget_ms:g} ms", err=True)
        raise typer.Exit(1)


#: ``bench`` flags that, given with ``--profile``, override its ``[bench]`` field.
_PROFILE_FLAGS = {"batch": "batch_sizes", "streams": "streams", "threads": "threads",
                  "warmup": "warmup", "iterations": "iterations", "duration": "duration_s",
                  "rounds": "rounds", "latency_budget_ms": "latency_budget_ms"}


def _profile(path: Path, overrides: list[str], given: dict[str, Any], hm: Any, as_json: bool) -> None:
    """The profile's ``[bench]`` (as ``hrnet-wb run`` measures it), with the flags that
    were given on the command line overriding single fields."""
    from workbench.bench import BenchConfig
    from workbench.pipeline import bench_profile
    from workbench.profile import load_profile

    prof = guarded(lambda: load_profile(path, overrides), as_json)
    cfg = guarded(lambda: BenchConfig.of(prof.bench, **given).validate(), as_json)
    assert isinstance(cfg, BenchConfig)
    run_id, results = _with_printer(
        lambda rep: bench_profile(prof, hm, cfg, profile_path=str(path), reporter=rep), as_json)
    if as_json:
        print_json({"ok": True, "run_id": run_id, "results": [r.as_dict() for r in results]})
        return
    from rich.console import Console

    out = Console()
    out.print(f"bench run {run_id} · {prof.name}", style="bold")
    for r in results:
        out.print(_results_table(r))


def _with_printer(fn: Any, as_json: bool) -> Any:
    from workbench.cli.render import EventPrinter
    from workbench.events import Reporter

    printer = EventPrinter(quiet=as_json)
    with failing(as_json), printer:
        return fn(Reporter(printer, stage="bench"))


def _compare(cfg: Any, hm: Any, variant: str | None, size: tuple[int, int] | None,
             only: str | None, calibration: Path | None, calib_count: int, record: bool,
             fmt: str, as_json: bool) -> None:
    from workbench.bench.compare import TARGETS
    from workbench.side_by_side import compare_backends

    if not variant:
        raise fail("--compare-backends needs --variant (e.g. hrnet_w18)", 2, as_json)
    include = tuple(TARGETS) if not only else tuple(s.strip() for s in only.split(",") if s.strip())
    compared: tuple[int | None, SideBySide] = _with_printer(
        lambda rep: compare_backends(variant, size or (224, 224), hm, cfg, record=record,
                                     reporter=rep, include=include, calibration=calibration,
                                     calib_count=calib_count),
        as_json)
    run_id, sbs = compared
    if as_json:
        print_json({"ok": True, "run_id": run_id, **sbs.as_dict()})
        return
    if fmt == "md":
        typer.echo(sbs.markdown(), nl=False)
        return
    from rich.console import Console

    out = Console()
    out.print(f"{sbs.variant} side by side" + (f" · run {run_id}" if run_id else ""), style="bold")
    for res in sbs.results:
        out.print(_results_table(res))
    for line in sbs.markdown().splitlines():
        if line.startswith(("Machine limit", "Measured", "Note")):
            out.print(line, highlight=False)


def _results_table(res: BenchResult) -> Table:
    """One table per target, narrow enough for 80 columns; the JSON has every field."""
    from rich import box
    from rich.table import Table

    rss = max((r.peak_rss_mb for r in res.rows), default=0.0)
    t = Table(title=f"{res.label}  [dim](peak RSS {rss:.0f} MiB)[/]", header_style="bold",
              title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for h in ("bs", "str", "thr", "p50 ms", "p90 ms", "p99 ms", "img/s", "min–max",
              "×torch", "×lim"):
        t.add_column(h, justify="right", no_wrap=True)
    sweet = res.sweet_spot
    flags: list[str] = []
    for r in res.rows:
        mark = "★" if sweet is not None and r.key == sweet.key else ""
        lim = format_figure(r.vs_roofline, "{:.2f}")
        if r.limit_flag:
            if r.limit_flag not in flags:
                flags.append(r.limit_flag)
            lim += "!" * (flags.index(r.limit_flag) + 1)
        t.add_row(f"{mark}{r.batch}", str(r.streams), str(r.threads),
                  *(format_figure(v, "{:.1f}") for v in (r.p50_ms, r.p90_ms, r.p99_ms, r.throughput)),
                  f"{r.throughput_min:.1f}–{r.throughput_max:.1f}", format_figure(r.vs_torch, "{:.2f}"), lim)
    rt = res.runtime
    caption = []
    if rt:
        caption.append(f"ran: {rt['runtime']} {rt['version']}, {rt['compute_precision']} "
                       f"(precision hint {rt['inference_precision']}), {rt['hint']}, "
                       f"{rt['streams']} stream(s), {rt['threads']} thread(s); "
                       f"×lim vs the {res.rows[0].limit_precision or 'fp32'} limit")
    caption += [f"{'!' * (i + 1)} {f}" for i, f in enumerate(flags)]
    if caption:
        t.caption = "\n".join(caption)
        t.caption_justify = "left"
    return t


def _print_run(run: BenchRun) -> None:
    from rich.console import Console

    from workbench.bench.model import limit_img_s

    out = Console()
    if run.run_id:
        out.print(f"bench run {run.run_id}", style="bold")
    for r in run.results:
        out.print(_results_table(r))
    h = run.result.headline()
    res = run.result
    for t, by in sorted(run.limits.items()):
        for prec, m in by.items():
            lim = limit_img_s(m.gops, res.gmacs)
            state = "cached" if m.cached else "quiet probe" if m.quiet else "NOISY probe, not cached"
            out.print(f"machine limit {prec} ({t} threads): {m.gops:.1f} GOP/s dense GEMM "
                      f"({m.runtime}; {state}) → {format_figure(lim, '{:.1f}')} img/s at "
                      f"{format_figure(res.gmacs, '{:.3f}')} GMACs/image", highlight=False)
    out.print(f"CPU: {res.fingerprint}; inputs: {res.config.inputs}", highlight=False)
    if "vs_torch" in h:
        out.print(f"vs torch eager: ×{h['vs_torch'][0]:.2f} throughput (best vs best), "
                  f"×{h['vs_torch_latency'][0]:.2f} bs1 latency", highlight=False)
    if res.artifact_mb is not None:
        out.print(f"artifact: {res.artifact_path} ({res.artifact_mb:.1f} MiB)", highlight=False)
    budget = res.config.latency_budget_ms
    if budget is not None:
        s = res.sweet_spot
        if s is None:
            out.print(f"[yellow]sweet spot: none — no configuration keeps p99 ≤ {budget:g} ms[/]")
        else:
            out.print(f"sweet spot (p99 ≤ {budget:g} ms): bs{s.batch} × {s.streams} stream(s), "
                      f"{s.threads} threads → {s.throughput:.1f} img/s, p99 {s.p99_ms:.1f} ms",
                      highlight=False)
    for n in run.notes:
        out.print(f"[yellow]note: {n}[/]")
