"""The GPU check: plain PyTorch against the workbench's torch-cuda builds, in one process.

Prints, and writes to ``--out`` as JSON and Markdown: (1) plain torch as a user writes it:
eager fp32 / tf32 / fp16 / bf16 channels_last, a CUDA graph and ``torch.compile``
(reduce-overhead + inductor freezing), bs1 p50 and img/s at --big; (2) the workbench's
torch-cuda artifact through its own bench harness (CUDA events, inputs on the device), side
by side; (3) nvJPEG decode + resize/crop/normalise on the GPU + the fp16 build, and
``hrnet-wb eval``'s own ``+nvjpeg`` path, against the build's pure inference; (4) fp16 and
bf16 top-1 agreement with fp32; (5) the GPU's matmul limit per precision and copy bandwidth.
Everything but the compiles runs first; each compile (~80 s per shape on an H200) then runs
only if it fits the rest of ``--budget`` seconds, and is printed as skipped otherwise.

Without a GPU it fails with one line (exit 2). ``--device cpu --smoke`` runs every section
small on the CPU (hrnet_w18_small, 64x64, CUDA-only rows marked n/a) to prove the script.

Running it on the lent GPU machine (docs: /work/shared/GPU.md). That machine has python
3.12, torch 2.11 + CUDA, torchvision, timm, onnx, onnxruntime (CPU), numpy, pillow, typer,
rich, py-cpuinfo, safetensors, pyyaml, huggingface_hub, filelock; it cannot install from
a registry. This script needs none of the missing packages; ``python3 -m workbench`` (the
CLI: its profile schema) needs pydantic and platformdirs. Here, next to the checkout:

    pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
        pydantic pydantic-core annotated-types typing-inspection typing-extensions \
        platformdirs simplejpeg
    # pydantic-core must be the exact version pydantic pins (pip show/metadata of pydantic);
    # typing-extensions is newer than the machine's (pydantic needs it). .whl/ is in
    # .git/info/exclude, never committed.

There, in the checkout (one command, its own time limit, results written to files):

    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
      && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HRNET_WB_HOME=/tmp/wbh \
      && python3 -m workbench backends \
      && timeout 420 python3 benchmarks/gpu_check.py --out /tmp/gpu_check

Here (no GPU): ``python benchmarks/gpu_check.py --device cpu --smoke --out /tmp/gpu_smoke``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COMPILE_ESTIMATE_S = 85.0  # one torch.compile of hrnet_w18 at one shape on an H200 (~82 s)


class Budget:
    def __init__(self, seconds: float) -> None:
        self.t0, self.seconds = time.perf_counter(), seconds

    def allows(self, need: float) -> bool:
        return self.seconds - (time.perf_counter() - self.t0) >= need


def sync(device: str) -> None:
    if device.startswith("cuda"):
        __import__("torch").cuda.synchronize()


def time_plain(fn: Any, x: Any, device: str, iters: int) -> list[float]:
    """Per-call milliseconds: CUDA events around each call on a GPU, the wall clock on a CPU."""
    import torch

    for _ in range(3):
        fn(x)
    sync(device)
    out = []
    for _ in range(iters):
        if device.startswith("cuda"):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn(x)
            b.record()
            b.synchronize()
            out.append(a.elapsed_time(b))
        else:
            t0 = time.perf_counter()
            fn(x)
            out.append((time.perf_counter() - t0) * 1e3)
    return out


def plain_rows(model: Any, args: argparse.Namespace, budget: Budget,
               compiled: bool) -> list[dict[str, Any]]:
    """What a torch user gets by hand: eager, a CUDA graph, torch.compile."""
    import copy

    import torch

    dev, (h, w) = args.device, args.size
    on_gpu = dev.startswith("cuda")
    rows = []
    configs = [("eager fp32", torch.float32, False, False, "eager"),
               ("eager tf32", torch.float32, False, True, "eager"),
               ("eager fp16 NCHW", torch.float16, False, False, "eager"),
               ("eager fp16 channels_last", torch.float16, True, False, "eager"),
               ("eager bf16 channels_last", torch.bfloat16, True, False, "eager"),
               ("CUDA graph fp16 channels_last", torch.float16, True, False, "graph"),
               ("torch.compile reduce-overhead+freezing fp16 channels_last", torch.float16, True,
                False, "compile")]
    for name, dt, cl, tf32, how in configs:
        if (how == "compile") != compiled:
            continue
        row: dict[str, Any] = {"what": name}
        rows.append(row)
        if not on_gpu and (dt == torch.float16 or how == "graph" or tf32):
            row["note"] = "n/a (needs CUDA)"
        elif how == "compile" and not (args.compile and budget.allows(2 * COMPILE_ESTIMATE_S)):
            row["note"] = "skipped (" + ("--no-compile" if not args.compile else "budget") + ")"
        if "note" in row:
            print(_fmt_row(row), flush=True)
            continue
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        m = copy.deepcopy(model).to(dev, dt).eval()
        if cl:
            m = m.to(memory_format=torch.channels_last)
        fmt = torch.channels_last if cl else torch.contiguous_format
        with torch.inference_mode():
            for bs in (1, args.big):
                x = torch.randn(bs, 3, h, w, device=dev, dtype=dt).contiguous(memory_format=fmt)
                fn, t0 = m, time.perf_counter()
                if how == "graph":
                    fn = _graphed(m, x)
                elif how == "compile":
                    import torch._inductor.config as ic

                    ic.freezing = True
                    fn = torch.compile(m, mode="reduce-overhead" if on_gpu else "default",
                                       dynamic=False)  # one static shape each, as the build
                    fn(x)
                    sync(dev)
                    row[f"compile_s_bs{bs}"] = round(time.perf_counter() - t0, 1)
                ms = time_plain(fn, x, dev, args.iters_bs1 if bs == 1 else args.iters_big)
                if bs == 1:
                    row["bs1_p50_ms"] = round(statistics.median(ms), 3)
                else:
                    row["img_s"] = round(bs * 1e3 / statistics.median(ms), 1)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        del m
        if on_gpu:
            torch.cuda.empty_cache()
        print(_fmt_row(row), flush=True)
    return rows


def _graphed(m: Any, x: Any) -> Any:
    """A CUDA graph of ``m`` at ``x``'s shape, captured the way the torch docs show."""
    import torch

    static = x.clone()
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(3):
            m(static)
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        out = m(static)

    def run(inp: Any) -> Any:
        static.copy_(inp)
        g.replay()
        return out

    return run


def workbench_rows(model: Any, args: argparse.Namespace, budget: Budget, work: Path,
                   compiled: bool) -> list[dict[str, Any]]:
    """The torch-cuda artifact, opened by the backend, measured by the bench harness."""
    from workbench.backends.torch_cuda import open_torch_cuda
    from workbench.backends.torch_cuda.model import save_artifact
    from workbench.bench.grid import BenchConfig, benchmark

    path = work / "model.safetensors"
    if not path.is_file():
        save_artifact(model, "fp16", path)
    dtypes = ["fp32", "fp16", "bf16"] if not args.smoke else ["fp32", "bf16"]
    modes = ["compile"] if compiled else ["eager", "graphs"]
    rows = []
    for dtype in dtypes:
        for mode in modes:
            row: dict[str, Any] = {"what": f"workbench torch-cuda {dtype} {mode}"}
            rows.append(row)
            if dtype != "fp16" and mode != "eager" and args.device.startswith("cuda"):
                row["note"] = "not run (fp16 is the GPU build measured in every mode)"
            elif mode == "compile" and not (args.compile and budget.allows(2 * COMPILE_ESTIMATE_S)):
                row["note"] = "skipped (" + ("--no-compile" if not args.compile else "budget") + ")"
            if "note" in row:
                print(_fmt_row(row), flush=True)
                continue
            cfg = BenchConfig(batch_sizes=[1, args.big], threads=[0], warmup=3,
                              iterations=args.iters_big, rounds=2)
            t0 = time.perf_counter()
            res = benchmark(lambda t, d=dtype, m=mode: open_torch_cuda(path, t, device=args.device,
                                                                        mode=m, dtype=d),
                            tuple(args.size), cfg, label=row["what"])
            r1, rb = res.row(1), res.row(args.big)
            det = (rt := (getattr(rb or r1, "runtime", None) or {})).get("details", {})
            row.update(bs1_p50_ms=None if r1 is None else round(r1.p50_ms, 3),
                       img_s=None if rb is None else round(rb.throughput, 1),
                       ran=f"{det.get('mode')} ({det.get('mode_note') or 'as asked'})",
                       precision=rt.get("compute_precision"), folded_bn=det.get("folded_bn"),
                       device_peak_mb=None if rb is None else rb.device_peak_mb,
                       compile_s=det.get("compile_s"), skipped=res.skipped,
                       fingerprint=res.fingerprint, seconds=round(time.perf_counter() - t0, 1))
            print(_fmt_row(row), flush=True)
    return rows


def images_for_check(args: argparse.Namespace, work: Path) -> list[Path]:
    from _common import make_images

    paths = sorted((ROOT / "assets" / "val").glob("*.JPEG"))
    if args.gen_images:
        make_images(work / "gen", args.gen_images, seed0=0)
        paths += sorted((work / "gen" / "val").glob("*.JPEG"))
    return paths


def end_to_end(model: Any, args: argparse.Namespace, paths: list[Path], work: Path) -> dict[str, Any]:
    """Device decode + the build (decode/infer loop, and ``hrnet-wb eval``'s own path) vs the
    same build's pure inference, one stream."""
    from workbench.backends.torch_cuda import open_model
    from workbench.data.device_decode import DeviceDecoder, compare_with_cpu
    from workbench.data.preprocess import Preprocessor, preset_for

    dtype = "fp16" if args.device.startswith("cuda") else "fp32"
    pred = open_model(model, dtype, device=args.device, mode="graphs")
    pre = Preprocessor(preset_for("timm", args.variant, "", tuple(args.size)))
    dec = DeviceDecoder(pre, device=args.device)
    bs = min(args.eval_batch, len(paths))
    batches = [paths[i:i + bs] for i in range(0, len(paths) - bs + 1, bs)] or [paths]
    x0, _ = dec.load_batch(batches[0])
    pred.predict_topk(x0, 5)  # warm: capture, kernels
    sync(args.device)
    t0 = time.perf_counter()
    n = 0
    for _ in range(args.e2e_passes):
        for b in batches:
            x, _h = dec.load_batch(b)
            pred.predict_topk(x, 5)
            n += len(b)
    sync(args.device)
    e2e = n / (time.perf_counter() - t0)
    ms = time_plain(pred.run, x0, args.device, args.iters_big)
    pure = len(batches[0]) * 1e3 / statistics.median(ms)
    cmp = compare_with_cpu(DeviceDecoder(pre, device=args.device), paths[:min(64, len(paths))],
                           predict=lambda t: pred.predict(t))
    from workbench.backends.torch_cuda.model import save_artifact
    from workbench.evaluate import run_eval
    from workbench.home import resolve_home

    art = work / f"e2e-{dtype}.safetensors"
    save_artifact(model, dtype, art)
    data = work / "gen" if args.gen_images else ROOT / "assets"  # `hrnet-wb eval` as a user runs it
    ev = run_eval(str(art), str(data), home=resolve_home(work / "home"), backend="torch-cuda",
                  preprocess="official+nvjpeg", batch_size=bs, input_size=tuple(args.size))
    return {"images": n, "batch": bs, "end_to_end_img_s": round(e2e, 1),
            "pure_inference_img_s": round(pure, 1), "ratio": round(e2e / pure, 3),
            "hrnet_wb_eval_img_s": ev["images_per_s"], "eval_ratio": round(ev["images_per_s"] / pure, 3),
            "fallbacks": len(dec.fallbacks), "decoded_on_device": dec.decoded_on_device,
            "preset": dec.name, "vs_exact_cpu_path": cmp, "dtype": dtype,
            "note": "loop: decode then infer on one stream; eval: next batch decodes on a side stream"}


def agreement(model: Any, args: argparse.Namespace, paths: list[Path]) -> dict[str, Any]:
    from workbench.backends.torch_cuda import open_model
    from workbench.data.preprocess import Preprocessor, preset_for

    pre = Preprocessor(preset_for("timm", args.variant, "", tuple(args.size)))
    x = np.stack([pre.load(p) for p in paths]).astype(np.float32)
    ref = open_model(model, "fp32", device=args.device, mode="eager").predict(x).argmax(1)
    out: dict[str, Any] = {"images": len(paths)}
    for dt in ("fp16", "bf16"):
        if dt == "fp16" and not args.device.startswith("cuda"):
            out[dt] = "n/a (needs CUDA)"
            continue
        got = open_model(model, dt, device=args.device, mode="eager").predict(x).argmax(1)
        out[dt] = round(float((got == ref).mean()), 4)
    return out


def _fmt_row(r: dict[str, Any]) -> str:
    if "note" in r:
        return f"{r['what']:<58} {r['note']}"
    p50 = "-" if r.get("bs1_p50_ms") is None else f"{r['bs1_p50_ms']:.2f} ms"
    tput = "-" if r.get("img_s") is None else f"{r['img_s']:,.0f} img/s"
    return f"{r['what']:<58} bs1 p50 {p50:>10}   {tput:>14}"


def markdown(rep: dict[str, Any]) -> str:
    big = rep["args"]["big"]
    lines = [f"GPU check on {rep['device']}", "", f"| what | bs1 p50 ms | img/s (bs{big}) | note |",
             "|---|---|---|---|"]
    for r in rep["plain"] + rep["workbench"]:
        lines.append(f"| {r['what']} | {r.get('bs1_p50_ms', '–')} | {r.get('img_s', '–')} | "
                     f"{r.get('note', r.get('ran', ''))} |")
    lines += ["", *(f"{k}: {json.dumps(rep.get(k))}" for k in ("end_to_end", "agreement", "gpu_limits_gops", "ratios"))]
    return "\n".join(lines) + "\n"


def ratios(rep: dict[str, Any]) -> dict[str, Any]:
    def best(rows: list[dict[str, Any]], key: str, want: str, low: bool) -> float | None:
        vals = [r[key] for r in rows if want in r["what"] and r.get(key)]
        return (min(vals) if low else max(vals)) if vals else None

    out: dict[str, Any] = {}
    pc = best(rep["plain"], "img_s", "compile", False)
    wb = best(rep["workbench"], "img_s", "fp16", False)
    if pc and wb:
        out["wb_fp16_best_vs_plain_compile_throughput"] = round(wb / pc, 3)
    pl = best(rep["plain"], "bs1_p50_ms", "compile", True)
    wl = best(rep["workbench"], "bs1_p50_ms", "", True)
    if pl and wl:
        out["wb_bs1_p50_vs_plain_compile"] = round(wl / pl, 3)
    if rep.get("end_to_end"):
        out["end_to_end_vs_pure"] = rep["end_to_end"]["ratio"]
        out["hrnet_wb_eval_vs_pure"] = rep["end_to_end"]["eval_ratio"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--smoke", action="store_true", help="small and quick (CPU proof)")
    ap.add_argument("--variant", default="")
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--big", type=int, default=0, help="the throughput batch (256)")
    ap.add_argument("--budget", type=float, default=330.0, help="seconds for all sections")
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--gen-images", type=int, default=-1)
    ap.add_argument("--out", default="gpu_check_out")
    args = ap.parse_args()
    from workbench.backends.torch_cuda.device import cuda_reason, describe

    if args.device.startswith("cuda") and cuda_reason():
        print(f"gpu_check: no CUDA GPU here ({cuda_reason()}); --device cpu --smoke checks the "
              "script itself", file=sys.stderr)
        return 2
    small = args.smoke
    args.variant = args.variant or ("hrnet_w18_small" if small else "hrnet_w18")
    s = args.size or (64 if small else 224)
    args.size = (s, s)
    args.big = args.big or (4 if small else 256)
    args.iters_bs1, args.iters_big, args.eval_batch, args.e2e_passes = (
        (5, 3, 4, 1) if small else (100, 30, 256, 2))
    args.gen_images = (0 if small else 1200) if args.gen_images < 0 else args.gen_images
    if small:
        args.compile = False  # inductor on a 2-core CPU takes minutes per shape
    budget = Budget(args.budget)
    out = Path(args.out)
    (out / "work").mkdir(parents=True, exist_ok=True)
    from workbench.sources import ModelSpec, load_model

    model = load_model(ModelSpec(source="timm", variant=args.variant)).model.eval()
    rep: dict[str, Any] = {"device": describe(args.device), "variant": args.variant,
                           "args": dict(vars(args))}
    print(f"gpu_check: {args.variant} {s}x{s} on {rep['device']}", flush=True)
    # the cheap sections first, so a compile never starves them of the budget
    print("-- plain torch", flush=True)
    rep["plain"] = plain_rows(model, args, budget, compiled=False)
    print("-- workbench torch-cuda through the bench harness", flush=True)
    rep["workbench"] = workbench_rows(model, args, budget, out / "work", compiled=False)
    paths = images_for_check(args, out / "work")
    print(f"-- end to end, device decode ({len(paths)} images)", flush=True)
    rep["end_to_end"] = end_to_end(model, args, paths, out / "work")
    print(json.dumps(rep["end_to_end"]), flush=True)
    rep["agreement"] = agreement(model, args, paths[:512])
    print(f"-- agreement with fp32: {json.dumps(rep['agreement'])}", flush=True)
    print("-- torch.compile: plain, then the workbench's compile mode", flush=True)
    rep["plain"] += plain_rows(model, args, budget, compiled=True)
    rep["workbench"] += workbench_rows(model, args, budget, out / "work", compiled=True)
    if args.device.startswith("cuda"):
        from workbench.bench.gpu_limits import gpu_limits
        rep["gpu_limits_gops"] = {p: round(v.gops) for p, v in gpu_limits(out, args.device).items()}
    rep["ratios"] = ratios(rep)
    rep["seconds"] = round(time.perf_counter() - budget.t0, 1)
    print(f"-- ratios: {json.dumps(rep['ratios'])}; {rep['seconds']} s", flush=True)
    (out / "gpu_check.json").write_text(json.dumps(rep, indent=2, default=str))
    (out / "gpu_check.md").write_text(markdown(rep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
