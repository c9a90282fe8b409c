"""``hrnet-wb export``: one model to ONNX, TorchScript or another source's checkpoint layout.

A thin shell over :func:`workbench.sources.load_model` and :mod:`workbench.export`, the
same calls the pipeline's model and export stages make.
"""


from pathlib import Path
from typing import Annotated

import typer

from workbench.cli.app import app
from workbench.cli.common import HomeOpt, JsonOpt, failing, print_json


@app.command(
    "export",
    epilog=(
        "Examples:\n\n"
        "  hrnet-wb export --variant hrnet_w18_small --input-size 64 --out small.onnx\n\n"
        "  hrnet-wb export --source official --variant w18 --weights hrnetv2_w18_imagenet_pretrained.pth "
        "--opset 11 --static-batch --out w18.onnx\n\n"
        "  hrnet-wb export --source mmcls --variant auto --weights hrnet-w18_3rdparty_8xb32_in1k.pth "
        "--to torchscript --out w18.pt\n\n"
        "  hrnet-wb export --source official --variant w30 --weights w30.pth --to mmcls --out w30_mmcls.pth\n\n"
        "  hrnet-wb export --variant w18 --weights hub:ms_in1k --json\n\n"
        "  hrnet-wb export --source mmcls --variant w18 --weights pretrained --to official --out w18.pth"
    ),
)
def export_cmd(
    source: Annotated[str, typer.Option(help="timm | official | mmcls.")] = "timm",
    variant: Annotated[str, typer.Option(help="hrnet_w18, w18, small_v1, HRNet-W18-C ... or auto (from --config / the checkpoint).")] = "hrnet_w18",
    weights: Annotated[str, typer.Option(help="random-init | pretrained | pretrained:<tag> (downloaded once, cached) | hub | hub:<tag> (local HF cache only) | a .pth/.pth.tar/.safetensors file.")] = "random-init",
    config: Annotated[str, typer.Option(help="Official experiment yaml that defines the variant.")] = "",
    to: Annotated[str, typer.Option("--to", help="onnx | torchscript | official | mmcls | safetensors.")] = "onnx",
    wrap_state_dict: Annotated[bool, typer.Option("--wrap-state-dict", help="--to official: write {'state_dict': ...} (the official checkpoint.pth.tar) instead of the plain dict tools/valid.py --testModel loads.")] = False,
    ema: Annotated[bool, typer.Option("--ema", help="Load the EMA weights a training checkpoint carries (mmcls ema_* keys, mmengine ema_state_dict).")] = False,
    offline: Annotated[bool, typer.Option("--offline", help="Never use the network: pretrained weights must already be cached.")] = False,
    torchscript: Annotated[bool, typer.Option("--torchscript", help="Same as --to torchscript.")] = False,
    opset: Annotated[int, typer.Option(help="ONNX opset, 9-20.")] = 17,
    static_batch: Annotated[bool, typer.Option("--static-batch/--dynamic-batch", help="Fix the batch axis to 1 (default: dynamic).")] = False,
    input_size: Annotated[str, typer.Option("--input-size", help="H or HxW, multiples of 32.")] = "224",
    parity_images: Annotated[int, typer.Option("--parity-images", help="Seeded random images for the parity check.", min=1)] = 4,
    tolerance: Annotated[float, typer.Option(help="Max abs logit difference allowed vs torch, as a fraction of the largest logit.")] = 1e-4,
    out: Annotated[str, typer.Option("--out", "-o", help="Output file (default: <home>/cache/exports/<variant>-<HxW>-<format>).")] = "",
    as_json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Load a model from any source, export it and check parity against torch.

    Every export reloads the written file and compares logits with torch on N images: max
    abs difference and worst cosine are printed and stored with the file; above
    --tolerance the export fails (exit 1) and no file is left behind.
    """
    from workbench.cli.render import EventPrinter
    from workbench.cli.weights_cmd import apply_offline
    from workbench.errors import BadInput
    from workbench.events import Event, Reporter, StageTimer
    from workbench.home import resolve_home
    from workbench.input_size import parse_input_size

    apply_offline(offline)
    fmt = "torchscript" if torchscript else to.strip().lower()
    printer = EventPrinter(quiet=as_json)
    rep = Reporter(printer).stage("export")
    loading: list[Event] = []  # replayed only on success, so bad input prints one line
    with failing(as_json):
        from workbench import export as ex
        from workbench.sources import ModelSpec, load_model

        if fmt not in ("onnx", "torchscript", *ex.CHECKPOINT_LAYOUTS):
            raise BadInput(f"--to {to!r}: expected onnx, torchscript, official, mmcls or safetensors")
        size = parse_input_size(input_size)
        if fmt == "onnx":
            ex.check_opset(opset)
        hm = resolve_home(home)
        if out:  # refused before minutes of loading and exporting, not after
            o = Path(out).expanduser()
            if o.exists() and not o.is_file():
                raise BadInput(f"--out {o}: is a folder or special file; give the path of the file to write")
            if o.parent.exists() and not o.parent.is_dir():
                raise BadInput(f"--out {o}: {o.parent} is not a folder")
        lm = load_model(ModelSpec(source=source, variant=variant, weights=weights, config=config, ema=ema),
                        Reporter(loading.append, stage="model"))
        assert lm.model is not None
        with printer, StageTimer(rep, f"{fmt} export"):
            for ev in loading:
                printer(ev)
            x = ex.default_parity_inputs(parity_images, size)
            suffix = {"onnx": ".onnx", "torchscript": ".pt", "official": ".pth", "mmcls": ".pth",
                      "safetensors": ".safetensors"}[fmt]
            target = Path(out).expanduser() if out else (
                hm.cache / "exports" / f"{lm.variant}-{size[0]}x{size[1]}-{fmt}"
                f"{'-op' + str(opset) if fmt == 'onnx' else ''}-{lm.weights_id.replace(':', '_')[:24]}{suffix}")
            if fmt == "onnx":
                res = ex.export_onnx(lm.model, target, size, opset=opset, dynamic_batch=not static_batch,
                                     parity_inputs=x, tolerance=tolerance, reporter=rep)
            elif fmt == "torchscript":
                res = ex.export_torchscript(lm.model, target, size, parity_inputs=x, tolerance=tolerance,
                                            reporter=rep)
            else:
                res = ex.export_checkpoint(lm.model, target, fmt, lm.variant, size, parity_inputs=x,
                                           tolerance=tolerance, reporter=rep,
                                           official_wrapper="state_dict" if wrap_state_dict else "plain")
    record = {"ok": True, **res.as_dict(), "source": lm.source, "variant": lm.variant,
              "weights": lm.weights, "weights_id": lm.weights_id}
    if as_json:
        print_json(record)
        return
    batch = "" if fmt != "onnx" else (", static batch" if static_batch else ", dynamic batch")
    opset_s = f" opset {res.opset}" if fmt == "onnx" else ""
    typer.echo(f"wrote {res.path} ({fmt}{opset_s}{batch}, {size[0]}x{size[1]}) in {res.seconds:.1f} s")
    typer.echo(f"parity vs torch on {res.parity_images} images: max abs {res.parity_max_abs:.3g}, "
               f"cosine {res.parity_cosine:.8f} (tolerance {tolerance:g})")
    if lm.is_random:
        typer.secho("weights: random-init — the exported model has no trained weights", fg="yellow")
