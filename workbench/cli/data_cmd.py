"""``hrnet-wb eval``, ``eval-topk``, ``npz`` and ``compare``: data and evaluation commands.

Each command is a thin shell over the core (``workbench.evaluate``, ``workbench.data``):
the pipeline and the TUI call the same functions.
"""


from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from workbench.cli.app import app
from workbench.cli.common import HomeOpt, JsonOpt, fail, failing, guarded, print_json
from workbench.cli.engine_opts import ActorsOpt, EngineOpt, RayAddressOpt
from workbench.tables import format_percent

LayoutOpt = Annotated[str, typer.Option(
    "--layout", help="auto | imagenet-val | imagefolder | synset-prefixed | filelist | folder.")]
LabelsOpt = Annotated[str, typer.Option(
    "--labels", help="val_label.txt (NAME IDX per line) or a 1000-line label.txt of class names.")]


def _pct(x: float | None) -> str:
    return format_percent(x, "{:.2f}%")


def _ci(ci: Any) -> str:
    return "" if not ci else f" (95% CI {format_percent(ci[0])}–{format_percent(ci[1])})"


@app.command(
    "eval",
    epilog=(
        "Examples:\n\n"
        "  hrnet-wb eval hrnet_w18-int8-percentile-3_224_224-ort-cpu --data /data/imagenet/val\n\n"
        "  hrnet-wb eval model.onnx --backend openvino-cpu --data assets --limit 100\n\n"
        "  hrnet-wb eval model.onnx --data val/ --labels val_label.txt --out runs/w18 --resume\n\n"
        "  hrnet-wb eval model.onnx --data list.txt --layout filelist --preprocess mmcls --json\n\n"
        "  hrnet-wb eval ARTIFACT --data /data/imagenet/val --streams 2 --threads 2\n\n"
        "  hrnet-wb eval ARTIFACT --data /shared/imagenet/val --engine ray --ray-address auto --actors 8 --threads 2"
    ),
)
def eval_cmd(
    model: Annotated[str, typer.Argument(help="Artifact name or key from the store, an artifact folder, or an .onnx/.xml file.", show_default=False)],
    data: Annotated[str, typer.Option("--data", help="Dataset folder or file list.", show_default=False)],
    layout: LayoutOpt = "auto",
    labels: LabelsOpt = "",
    limit: Annotated[int, typer.Option(help="Evaluate at most this many images (0 = all).", min=0)] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Inference batch size.", min=1)] = 8,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out, skipping images already done (found by content, so the same images in another layout continue it).")] = False,
    out: Annotated[str, typer.Option("--out", help="Output folder (default: <home>/runs/<run id>).")] = "",
    backend: Annotated[str, typer.Option(help="ort-cpu | openvino-cpu | ort-gpu | tensorrt (default: the artifact's, or ort-cpu).")] = "",
    preprocess: Annotated[str, typer.Option(help="auto | timm | timm:<tag> | official | mmcls | vastai.")] = "auto",
    input_size: Annotated[str, typer.Option("--input-size", help="H or HxW, multiples of 32 (default: from the model).")] = "",
    threads: Annotated[int, typer.Option(help="Inference threads (0 = physical cores).", min=0)] = 0,
    workers: Annotated[int, typer.Option(help="Decode threads (0 = one per CPU, at most 4).", min=0)] = 0,
    streams: Annotated[int, typer.Option(help="Streams evaluating at once, sharing --threads; each decodes its own batches (0 = auto: 2 on a CPU backend with 2+ threads and 8+ batches of images, else 1).", min=0)] = 0,
    engine: EngineOpt = "local",
    ray_address: RayAddressOpt = "",
    actors: ActorsOpt = 0,
    include_calibration: Annotated[bool, typer.Option(
        "--include-calibration",
        help="Keep an int8 artifact's own calibration images (left out by default, matched by "
             "content); the run is marked.")] = False,
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Classify every image: top-5 per image to results.jsonl and the VastAI txt, top-1/top-5 with 95% CIs.

    Broken files are skipped and listed, never fatal; a killed run continues with --resume.
    """
    from workbench.cli.render import EventPrinter
    from workbench.engines import prepare_engine, sharded_eval
    from workbench.evaluate import run_eval
    from workbench.events import Reporter, StageTimer
    from workbench.home import resolve_home
    from workbench.input_size import parse_input_size

    guarded(lambda: prepare_engine(engine, ray_address), as_json)
    hm = guarded(lambda: resolve_home(home), as_json)
    size = guarded(lambda: parse_input_size(input_size), as_json) if input_size else None
    printer = EventPrinter(quiet=as_json)
    rep = Reporter(printer).stage("eval")
    with failing(as_json, "interrupted; continue with --resume --out <the same folder>"), \
            printer, StageTimer(rep, f"eval {Path(model).name}"):
        record = run_eval(model, data, home=hm, backend=backend, layout=layout, labels=labels,
                          limit=limit, batch_size=batch_size, resume=resume, out=out,
                          preprocess=preprocess, input_size=size, threads=threads,
                          workers=workers, include_calibration=include_calibration,
                          streams=streams, reporter=rep,
                          sharded=sharded_eval(engine, ray_address, actors))
    if as_json:
        print_json(record)
        return
    c = Console()
    if record["resumed"]:
        done = (f"{record['new_images']} images classified in this invocation "
                f"({record['n']} in total, {record['resumed']} from the resumed file)")
    else:
        done = f"{record['n']} images classified"
    rt = record.get("runtime") or {}
    ran = (f" ({rt['streams']} stream{'s' if rt['streams'] != 1 else ''}, {rt['threads']} threads, "
           f"{rt.get('compute_precision', '?')})" if rt.get("streams") and rt.get("threads") else "")
    c.print(f"run {record['run_id']}: {done}, {record['skipped']} skipped, "
            f"{record['images_per_s']:.1f} img/s{ran}", highlight=False)
    cal = record.get("calibration") or {}
    if cal.get("excluded"):
        c.print(f"left out {cal['excluded']} of the artifact's {cal['listed']} calibration images "
                "(matched by content)", highlight=False)
    elif cal.get("included"):
        c.print(f"INCLUDES {cal['matched']} of the artifact's own calibration images "
                "(--include-calibration): not a held-out figure", style="yellow", highlight=False)
    if record["top1"] is not None:
        c.print(f"top-1 {_pct(record['top1'])}{_ci(record['top1_ci95'])}   "
                f"top-5 {_pct(record['top5'])}{_ci(record['top5_ci95'])}   "
                f"on {record['labelled']} labelled images", highlight=False)
    else:
        c.print("no ground truth: top-5 per image written, no accuracy", highlight=False)
    for f in record["skipped_files"][:20]:
        c.print(f"  skipped {f['path']}: {f['reason']}", style="yellow", highlight=False, markup=False)
    if record["skipped"] > 20:
        c.print(f"  ... and {record['skipped'] - 20} more (see eval_report.json)", style="yellow")
    c.print(f"results: {record['results_jsonl']}", highlight=False)
    if record["results_txt"]:
        c.print(f"VastAI txt: {record['results_txt']}", highlight=False)


@app.command(
    "eval-topk",
    epilog=(
        "Examples:\n\n"
        "  hrnet-wb eval-topk runs/7/results.txt\n\n"
        "  hrnet-wb eval-topk vastai_result.txt --labels val_label.txt --json"
    ),
)
def eval_topk_cmd(
    file: Annotated[Path, typer.Argument(help="Result txt, 5 lines per image (`PATH: Relay top-K id: ID, prob: P, class name: NAME`).", show_default=False)],
    labels: Annotated[str, typer.Option("--labels", help="val_label.txt (NAME IDX). Default: synset folder, nXXXXXXXX_ prefix, or a val_label.txt beside/above each image.")] = "",
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Top-1/top-5 of a VastAI result txt, matching predictions to ground truth by class id (not name)."""
    from workbench.evaluate import topk_from_vastai_txt

    m = guarded(lambda: topk_from_vastai_txt(file, Path(labels).expanduser() if labels else None), as_json)
    if as_json:
        print_json({"ok": True, **m})
        return
    Console().print(
        f"{m['file']}: top-1 {_pct(m['top1'])}{_ci(m['top1_ci95'])}  top-5 {_pct(m['top5'])}{_ci(m['top5_ci95'])}"
        f"  on {m['labelled']} images" + (f" ({m['unlabelled']} without ground truth)" if m["unlabelled"] else ""),
        highlight=False)


@app.command(
    "npz",
    epilog=(
        "Examples:\n\n"
        "  hrnet-wb npz /data/imagenet/val --out npz/\n\n"
        "  hrnet-wb npz assets --out npz/ --preprocess timm:ms_in1k --input-size 224\n\n"
        "  hrnet-wb npz images/ --out npz/ --datalist npz/list.txt --json"
    ),
)
def npz_cmd(
    data: Annotated[str, typer.Argument(help="Dataset folder or file list.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Target folder.", show_default=False)],
    layout: LayoutOpt = "auto",
    labels: LabelsOpt = "",
    limit: Annotated[int, typer.Option(help="At most this many images (0 = all).", min=0)] = 0,
    preprocess: Annotated[str, typer.Option(help="none (decoded image as is, like image2npz) or a preset: timm | timm:<tag> | official | mmcls | vastai.")] = "none",
    input_size: Annotated[str, typer.Option("--input-size", help="H or HxW for a preset (default 224).")] = "224",
    datalist: Annotated[str, typer.Option(help="Datalist path (default: OUT/npz_datalist.txt).")] = "",
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Write an image2npz-compatible tree (input_0 = uint8 RGB CHW) and its datalist."""
    from workbench.cli.render import EventPrinter
    from workbench.data import open_dataset
    from workbench.data.npz import write_npz_tree
    from workbench.data.preprocess import Preprocessor, preset_for
    from workbench.errors import WorkbenchError
    from workbench.events import Reporter, StageTimer
    from workbench.input_size import parse_input_size

    def prepare() -> tuple[Any, Any]:
        ds = open_dataset(data, layout=layout, labels=labels)
        pre = None
        if preprocess != "none":
            pre = Preprocessor(preset_for(source="timm", input_size=parse_input_size(input_size), name=preprocess))
        return ds, pre

    ds, pre = guarded(prepare, as_json)
    samples = ds.samples[:limit] if limit else ds.samples
    printer = EventPrinter(quiet=as_json)
    rep = Reporter(printer).stage("npz")
    try:
        with printer, StageTimer(rep, f"{len(samples)} images → npz", total=len(samples)):
            res = write_npz_tree(samples, ds.root, out, preprocessor=pre, datalist=datalist or None,
                                 reporter=rep)
    except WorkbenchError as exc:
        raise fail(str(exc), exc.exit_code, as_json) from None
    if as_json:
        print_json({"ok": True, **res.as_dict()})
        return
    c = Console()
    c.print(f"{res.written} npz files in {res.out}; datalist {res.datalist}", highlight=False)
    for f in res.skipped_files:
        c.print(f"  skipped {f['path']}: {f['reason']}", style="yellow", highlight=False, markup=False)


@app.command(
    "compare",
    epilog=(
        "Examples:\n\n"
        "  hrnet-wb compare 3 4\n\n"
        "  hrnet-wb compare 5:hrnet_w18-fp32-none-3_224_224-ort-cpu 5:hrnet_w18-int8-percentile-3_224_224-ort-cpu\n\n"
        "  hrnet-wb compare runs/a/results.jsonl runs/b/results.jsonl --flips 50 --json"
    ),
)
def compare_cmd(
    run_a: Annotated[str, typer.Argument(help="Run id (7 or 7:BUILD), run folder or results.jsonl.", show_default=False)],
    run_b: Annotated[str, typer.Argument(help="The same for the other run.", show_default=False)],
    flips: Annotated[int, typer.Option(help="Show at most this many flipped images (the JSON has all).", min=0)] = 20,
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Pair two runs image by image: top-1 agreement, flipped images with the ground truth's rank, McNemar p."""
    from workbench.evaluate import compare_results, find_results
    from workbench.home import resolve_home

    def go() -> dict[str, Any]:
        hm = resolve_home(home)
        return compare_results(find_results(run_a, hm), find_results(run_b, hm))

    r = guarded(go, as_json)
    if as_json:
        print_json({"ok": True, **r})
        return
    c = Console()
    c.print(f"A: {r['a']}\nB: {r['b']}", highlight=False)
    c.print(f"{r['images']} paired images; top-1 agreement {_pct(r['agreement'])} "
            f"({r['agree']}/{r['images']}); {len(r['flips'])} flips", highlight=False)
    if r["only_in_a"] or r["only_in_b"]:
        c.print(f"unpaired: {r['only_in_a']} only in A, {r['only_in_b']} only in B", style="yellow")
    if r["mcnemar_p"] is not None:
        t = r["table"]
        c.print(f"top-1 A {_pct(r['top1_a'])}  B {_pct(r['top1_b'])} on {r['labelled']} labelled; "
                f"A right/B wrong {t['a_right_b_wrong']}, A wrong/B right {t['a_wrong_b_right']}; "
                f"McNemar p = {r['mcnemar_p']:.4g} ({r['mcnemar_method']})", highlight=False)
    else:
        c.print("no ground truth: McNemar needs labels", style="yellow")
    if r["flips"] and flips:
        tab = Table(header_style="bold", title=f"top-1 flips (first {min(flips, len(r['flips']))})")
        tab.add_column("image", overflow="fold")
        for h in ("gt", "A top-1", "B top-1", "gt rank A", "gt rank B"):
            tab.add_column(h, justify="right")
        for f in r["flips"][:flips]:
            tab.add_row(f["id"], "–" if f["gt"] is None else str(f["gt"]), str(f["a_top1"]), str(f["b_top1"]),
                        str(f["a_gt_rank"] or ">5"), str(f["b_gt_rank"] or ">5"))
        c.print(tab)
