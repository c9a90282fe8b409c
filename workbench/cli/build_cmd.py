"""``hrnet-wb build``, ``sensitivity`` and ``backends``: thin shells over ``workbench.build``."""


from typing import Annotated, Any

import typer

from workbench.backends import DEFAULT_BACKEND, build_backend_names
from workbench.cli.app import app
from workbench.cli.common import HomeOpt, JsonOpt, fail, guarded, print_json


@app.command(
    "build",
    epilog=(
        "Examples:\n\n"
        "  hrnet-wb build --variant hrnet_w18 --weights w18.pth --dtype int8 --data /data/calib\n\n"
        "  hrnet-wb build model.onnx --backend openvino-cpu --dtype int8 --method entropy --count 500 --data calib/\n\n"
        "  hrnet-wb build model.onnx --dtype int8 --data calib/ --accuracy-budget 1   # >= 99% top-1 agreement\n\n"
        "  hrnet-wb build model.onnx --dtype int8 --data calib/ --exclude-node /stage4/stage4.0/Add_9\n\n"
        "  hrnet-wb build model.onnx --backend tensorrt --dtype int8 --data calib/ --json   # built here, runs on a GPU\n\n"
        "  hrnet-wb build model.onnx --dtype int8 --data calib/ --target avx2   # for a CPU without VNNI\n\n"
        "  hrnet-wb build model.onnx --backend openvino-cpu --dtype bf16   # where AVX512-BF16/AMX is"
    ),
)
def build_cmd(
    onnx: Annotated[str, typer.Argument(help="An exported .onnx (default: load and export --variant).", show_default=False)] = "",
    source: Annotated[str, typer.Option(help="timm | official | mmcls (when no ONNX is given).")] = "timm",
    variant: Annotated[str, typer.Option(help="Model variant; also the artifact's model name.")] = "hrnet_w18",
    weights: Annotated[str, typer.Option(help="random-init | hub[:tag] | a checkpoint file.")] = "random-init",
    input_size: Annotated[str, typer.Option("--input-size", help="H or HxW, multiples of 32 (default: the ONNX's, else 224).")] = "",
    opset: Annotated[int, typer.Option(help="ONNX opset when exporting.")] = 17,
    backend: Annotated[str, typer.Option(help=" | ".join(build_backend_names()) + ".")] = DEFAULT_BACKEND,
    dtype: Annotated[str, typer.Option(help="fp32 | fp16 | bf16 (openvino-cpu, where the CPU has it) | int8.")] = "int8",
    target: Annotated[str, typer.Option(
        "--target", help="CPU the build is for: auto (this machine) | avx2 | avx512 | vnni | bf16 | "
        "amx. Decides int8's reduce_range (only without VNNI) and whether bf16 may be built.")] = "auto",
    method: Annotated[str, typer.Option(help="Calibration: minmax | entropy | percentile.")] = "percentile",
    count: Annotated[int, typer.Option(help="Calibration images (class-balanced; capped by the data).", min=1)] = 1000,
    percentile: Annotated[float, typer.Option(help="For --method percentile.")] = 99.999,
    seed: Annotated[int, typer.Option(help="Calibration sampling seed.")] = 0,
    data: Annotated[str, typer.Option("--data", help="Calibration images: a dataset folder or file list.")] = "",
    layout: Annotated[str, typer.Option(help="Dataset layout (auto | imagenet-val | imagefolder | ...).")] = "auto",
    labels: Annotated[str, typer.Option(help="Label file for the dataset.")] = "",
    preprocess: Annotated[str, typer.Option(help="Preprocessing preset (auto follows the source).")] = "auto",
    exclude_node: Annotated[list[str] | None, typer.Option("--exclude-node", help="Keep this node in fp32 (repeatable).")] = None,
    accuracy_budget: Annotated[float | None, typer.Option(
        "--accuracy-budget", help="Top-1 agreement points with fp32 that int8 may lose (1 = >= 99%); "
                                  "keeps the worst nodes in fp32, fusion Adds first, until met.")] = None,
    agreement_images: Annotated[int, typer.Option(help="Held-out images for the agreement check.", min=1)] = 200,
    sensitivity_images: Annotated[int, typer.Option(help="Calibration images for the sensitivity ranking.", min=1)] = 8,
    threads: Annotated[int, typer.Option(help="Threads for agreement/latency checks (0 = physical cores).", min=0)] = 0,
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Build one artifact (fp32, fp16 or int8) for one backend, cached by content.

    int8 is QDQ u8 activations / s8 per-channel weights (never S8S8 on x86), with
    reduce_range only for a target CPU without VNNI (the name ends -novnni; -vnni without),
    calibrated on class-balanced images from --data in bounded chunks. The same recipe
    on the same inputs is a cache hit. TensorRT and fp16 artifacts build here and run only
    where a GPU is present (see `hrnet-wb backends`).
    """
    from workbench.cli.render import EventPrinter
    from workbench.errors import BadInput, WorkbenchError
    from workbench.events import Reporter
    from workbench.home import resolve_home
    from workbench.input_size import parse_input_size
    from workbench.paths import file_or_folder, regular_file
    from workbench.pipeline import build_profile
    from workbench.profile import parse_profile

    printer = EventPrinter(quiet=as_json)
    flags: dict[str, tuple[str, Any]] = {  # profile key: (the flag, its value)
        "model.source": ("--source", source), "model.variant": ("--variant", variant),
        "model.weights": ("--weights", weights), "model.onnx": ("ONNX", onnx),
        "model.preprocess": ("--preprocess", preprocess), "export.opset": ("--opset", opset),
        "build.backend": ("--backend", backend), "build.dtype": ("--dtype", dtype),
        "build.target": ("--target", target), "build.calibration.method": ("--method", method),
        "build.calibration.count": ("--count", count), "build.calibration.percentile": ("--percentile", percentile),
        "build.calibration.seed": ("--seed", seed), "build.calibration.data": ("--data", data),
        "build.calibration.layout": ("--layout", layout), "build.calibration.labels": ("--labels", labels),
        "build.exclude_nodes": ("--exclude-node", list(exclude_node or [])),
        "build.accuracy_budget": ("--accuracy-budget", accuracy_budget),
        "build.agreement_images": ("--agreement-images", agreement_images),
        "build.sensitivity_images": ("--sensitivity-images", sensitivity_images),
        "data.threads": ("--threads", threads),
    }
    tree: dict[str, Any] = {"name": f"{onnx or variant} {backend} {dtype}", "build": {"reference": False},
                            "bench": {"enabled": False}}
    try:
        if input_size:  # else the ONNX's own size (stage_model), or 224
            flags["model.input_size"] = ("--input-size", parse_input_size(input_size))
        for key, (_flag, value) in flags.items():
            *parents, leaf = key.split(".")
            node = tree
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        profile = parse_profile(tree, "hrnet-wb build", overrides={k: f"{f} {v}" for k, (f, v) in flags.items()})
        if dtype == "int8" and not data:
            raise BadInput("int8 needs calibration images: pass --data DIR")
        if data:  # checked before any model is loaded or exported
            file_or_folder(data, "dataset folder or file list")
        if labels:
            regular_file(labels, "label file")
        hm = resolve_home(home)
        with printer:
            record = build_profile(profile, hm, Reporter(printer))
    except WorkbenchError as exc:
        raise fail(str(exc), exc.exit_code, as_json) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130, as_json) from None
    if as_json:
        print_json(record)
        return
    meta = record["meta"]
    typer.echo(f"{record['name']}  {'cache hit' if record['cached'] else 'built'}  "
               f"{meta['file_mb']:.1f} MiB  {meta['build_seconds']:.1f} s")
    typer.echo(f"  {record['path']}")
    c = meta.get("calibration")
    if c:
        pct = f" p{c['percentile']}" if c.get("percentile") else ""
        typer.echo(f"  calibration: {c['method']}{pct}, {c['images']} images "
                   f"({len(c.get('per_class', {}))} classes), manifest {c['manifest_hash'][:12]}")
    b = record.get("accuracy_budget")
    if b:
        lat = b["latency_bs1_ms"]
        typer.echo(f"  accuracy budget: agreement {100 * b['baseline_agreement']:.2f}% -> "
                   f"{100 * b['final_agreement']:.2f}% (target {100 * b['target_agreement']:.2f}%, "
                   f"{b['images']} images)")
        ex = b["excluded_nodes"]
        more = f" … and {len(ex) - 8} more (--json lists all)" if len(ex) > 8 else ""
        typer.echo(f"  kept in fp32 ({len(ex)}): " + (", ".join(ex[:8]) or "none") + more)
        typer.echo(f"  bs1 latency: fp32 {lat['fp32']:.1f} ms, int8 {lat['int8']:.1f} ms, "
                   f"chosen {lat['final']:.1f} ms ({100 * (b['speed_cost'] or 0):+.0f}% vs int8)")
    if str(meta.get("weights", "")).startswith("random-init"):
        typer.secho("weights: random-init — accuracy of this build is meaningless", fg="yellow")


@app.command(
    "sensitivity",
    epilog=(
        "Examples:\n\n"
        "  hrnet-wb sensitivity hrnet_w18-int8-percentile-3_224_224-ort-cpu\n\n"
        "  hrnet-wb sensitivity ~/.local/share/hrnet-wb/artifacts/hrnet_w18-int8-...-1a2b3c4d5e6f --top 30\n\n"
        "  hrnet-wb sensitivity 1a2b3c4d --images 16 --json"
    ),
)
def sensitivity_cmd(
    artifact: Annotated[str, typer.Argument(help="int8 artifact: name, key prefix or folder.", show_default=False)],
    images: Annotated[int, typer.Option(help="Calibration images to run.", min=1)] = 8,
    top: Annotated[int, typer.Option(help="Rows to print (0 = all).", min=0)] = 25,
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Rank an int8 artifact's nodes by quantization SQNR (dB, lower = worse) vs fp32.

    `local` is the SQNR of quantizing the node's worst input alone (what keeping the node in
    fp32 would spare); `vs fp32` is the int8 model's output at that node against the fp32
    model's (ORT qdq_loss_debug, accumulated error). Feed the top names to
    `hrnet-wb build --exclude-node`, or let `--accuracy-budget` choose.
    """
    from workbench.build.sensitivity import run_sensitivity
    from workbench.home import resolve_home

    def go() -> Any:
        return run_sensitivity(artifact, resolve_home(home), images=images)

    rep = guarded(go, as_json)
    if as_json:
        print_json({"ok": True, **rep.as_dict()})
        return
    from rich.console import Console
    from rich.table import Table

    rows = rep.ranked()
    t = Table(title=f"{rep.artifact}: {len(rows)} nodes, {rep.images} images, {rep.seconds:.1f} s")
    for col, just in (("#", "right"), ("node", "left"), ("op", "left"), ("kind", "left"),
                      ("local dB", "right"), ("vs fp32 dB", "right")):
        t.add_column(col, justify=just, overflow="fold")  # type: ignore[arg-type]
    for i, n in enumerate(rows[: top or None], 1):
        t.add_row(str(i), n.node, n.op_type, n.kind, f"{n.local_sqnr_db:.1f}",
                  "–" if n.sqnr_db is None else f"{n.sqnr_db:.1f}")
    Console().print(t)
    worst = [n for n in rows if n.kind in ("fuse", "head-fuse")][:3]
    if worst:
        typer.echo("exclude the worst fusion Adds: "
                   + " ".join(f"--exclude-node {n.node}" for n in worst))


@app.command(
    "backends",
    epilog="Examples:\n\n  hrnet-wb backends\n\n  hrnet-wb backends --json",
)
def backends_cmd(as_json: JsonOpt = False, home: HomeOpt = None) -> None:
    """List every backend, whether it can run here, why not, and the dtypes it builds.

    Every backend can be *built* on this machine; running needs its runtime and device.
    """
    from workbench.build import available_backends
    from workbench.hardware import detect_cpu, openvino_capabilities, target_for

    rows = guarded(available_backends, as_json)
    cpu = guarded(detect_cpu, as_json)
    target = target_for(cpu)
    if as_json:
        print_json({"ok": True, "backends": [b.as_dict() for b in rows],
                    "cpu": cpu.as_dict(), "fingerprint": cpu.fingerprint,
                    "target": target.as_dict(),
                    "openvino_capabilities": list(openvino_capabilities() or ())})
        return
    import shutil
    import textwrap

    width = shutil.get_terminal_size((80, 24)).columns

    def line(head: str, text: str, indent: int = 14) -> None:  # wraps at words, never in a flag
        typer.echo(textwrap.fill(f"{head:<{indent}}{text}", width=max(width, 40), subsequent_indent=" " * indent,
                                 break_long_words=False, break_on_hyphens=False))

    line("cpu", cpu.summary())
    line("fingerprint", f"{cpu.fingerprint}  (detected by {cpu.detected_by})")
    line("target", f"{target.name}: int8 {'without' if target.vnni else 'with'} "
                   f"reduce_range (-{target.int8_variant}); bf16 {'yes' if target.bf16 else 'no'}")
    for b in rows:
        mark = "yes" if b.available else "no "
        line(f"{b.name:<13} {mark}  {','.join(b.dtypes):<15} ", b.reason, 35)
