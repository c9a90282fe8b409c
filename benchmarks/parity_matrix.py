"""ONNX parity for every variant × opset × static/dynamic batch, as a printed table.

Each variant gets random weights *and* BN statistics (``randomized_model``: γ, β, head
biases random; running statistics estimated at 224x224 as random-init does, so
activations stay bounded), is exported with ``workbench.export.export_onnx`` and checked
against torch eager on N seeded images. The "fp32 floor" column is torch fp32 vs torch fp64 on the same
images: the rounding noise the network itself has, which parity cannot beat.

    flock /tmp/hrnet-bench.lock python benchmarks/parity_matrix.py --input-size 224
    python benchmarks/parity_matrix.py --variants hrnet_w18_small hrnet_w18 --opsets 11 17 --json

Exits 1 if any cell is above --tolerance.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from workbench.errors import CheckFailed
    from workbench.export import default_parity_inputs, export_onnx, parse_input_size, torch_logits
    from workbench.sources import VARIANTS, resolve_variant
    from workbench.sources.timm_source import randomized_model

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), help="default: all 11 timm names")
    ap.add_argument("--opsets", nargs="*", type=int, default=[11, 17])
    ap.add_argument("--input-size", default="224")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON record instead of the table")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    size = parse_input_size(args.input_size)
    x = default_parity_inputs(args.images, size, seed=args.seed)
    rows = []
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hrnet-wb-parity-") as tmp:
        for name in args.variants:
            variant = resolve_variant(name)
            t0 = time.perf_counter()
            model = randomized_model(variant, seed=args.seed)  # BN stats at 224, as random-init
            ref = torch_logits(model, x)
            with torch.no_grad():
                ref64 = copy.deepcopy(model).double()(torch.from_numpy(x).double()).numpy()
            floor = float(np.max(np.abs(ref.astype(np.float64) - ref64)))
            build_s = time.perf_counter() - t0
            for opset in args.opsets:
                for dynamic in (False, True):
                    out = Path(tmp) / f"{variant}-op{opset}-{'dyn' if dynamic else 'static'}.onnx"
                    row = {"variant": variant, "opset": opset, "batch": "dynamic" if dynamic else "static",
                           "logit_max": float(np.max(np.abs(ref))), "fp32_floor": floor}
                    try:
                        res = export_onnx(model, out, size, opset=opset, dynamic_batch=dynamic,
                                          parity_inputs=x, tolerance=args.tolerance)
                        row.update(max_abs=res.parity_max_abs, cosine=res.parity_cosine,
                                   seconds=res.seconds, ok=True)
                        out.unlink()
                    except CheckFailed as exc:
                        row.update(max_abs=float("nan"), cosine=float("nan"), seconds=0.0, ok=False,
                                   error=str(exc))
                    rows.append(row)
                    if not args.json:
                        _print_row(row, first=len(rows) == 1)
            del model
            if not args.json:
                print(f"  ({variant}: random weights + BN stats in {build_s:.1f} s)", file=sys.stderr)
    worst = max((r["max_abs"] for r in rows if r["ok"]), default=float("nan"))
    failed = [r for r in rows if not r["ok"]]
    summary = {"input_size": list(size), "images": args.images, "tolerance": args.tolerance,
               "cells": len(rows), "failed": len(failed), "worst_max_abs": worst,
               "seconds": round(time.perf_counter() - t_all, 1), "torch": torch.__version__}
    if args.json:
        print(json.dumps({"summary": summary, "rows": rows}, indent=2))
    else:
        print(f"\n{len(rows)} cells at {size[0]}x{size[1]}, {args.images} images: worst max abs {worst:.3g}, "
              f"{len(failed)} above {args.tolerance:g}; {summary['seconds']} s")
    return 1 if failed else 0


def _print_row(r: dict, first: bool) -> None:
    if first:
        print("| variant | opset | batch | max abs | cosine | fp32 floor | logit max | export s | ok |")
        print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {r['variant']} | {r['opset']} | {r['batch']} | {r['max_abs']:.2e} | {r['cosine']:.9f} | "
          f"{r['fp32_floor']:.2e} | {r['logit_max']:.2f} | {r['seconds']:.1f} | {'yes' if r['ok'] else 'NO'} |",
          flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
