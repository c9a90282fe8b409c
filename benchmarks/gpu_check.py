"""The GPU check: plain PyTorch against the workbench's torch-cuda builds, in one process.

Prints, and writes to ``--out`` as JSON and Markdown: plain torch as a user writes it (eager
fp32 / tf32 / fp16 / bf16, a CUDA graph, ``torch.compile`` reduce-overhead + freezing; bs1
p50, img/s at --big); the workbench's torch-cuda artifact through its bench harness; nvJPEG
decode + the fp16 build and ``hrnet-wb eval``'s device-decode loop against pure inference;
fp16/bf16 top-1 agreement with fp32; the GPU's limits; issue 22's four goals as ratios.

**The plan fits 6 minutes on an H200** (GPU.md: ~80 s per compile of hrnet_w18 at one
shape, the rest seconds): three compiles, each one a goal needs (plain at bs256 and bs1,
the workbench's compile mode at bs256; the workbench's bs1 is its GPU default, CUDA
graphs). The goal rows run first, then the rest of the table while ``--budget`` allows
(a step whose estimate, ``EST``, does not fit what is left says so). Each step's seconds
are in the JSON, to re-plan from. Without a GPU: one line, exit 2; ``--device cpu
--smoke`` runs every step small on the CPU (CUDA-only rows n/a) to prove the script.

On the lent GPU machine (/work/shared/GPU.md: nothing installable) the script needs no
extra package; ``python3 -m workbench`` needs the small wheels of pydantic, pydantic-core
(its exact pin), annotated-types, typing-inspection, typing-extensions and platformdirs,
fetched with ``pip download --no-deps --only-binary=:all: --python-version 3.12
--implementation cp --platform manylinux2014_x86_64 -d .whl NAME...`` (never committed):

    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
      && export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HRNET_WB_HOME=/tmp/wbh \
      && timeout 420 python3 benchmarks/gpu_check.py --out $OUT/gpu_check
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COMPILE = "torch.compile reduce-overhead+freezing fp16 channels_last"
#: plain torch rows: what -> (dtype, channels_last, tf32, how)
PLAIN = {"eager fp32": ("float32", False, False, "eager"),
         "eager tf32": ("float32", False, True, "eager"),
         "eager fp16 channels_last": ("float16", True, False, "eager"),
         "eager bf16 channels_last": ("bfloat16", True, False, "eager"),
         "CUDA graph fp16 channels_last": ("float16", True, False, "graph"),
         COMPILE: ("float16", True, False, "compile")}
#: seconds per step on an H200 (GPU.md: compile ~80 s per shape; the rest measured small)
EST = {"eager": 5.0, "wb": 8.0, "compile": 85.0, "e2e": 25.0, "agree": 8.0, "limits": 10.0}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        __import__("torch").cuda.synchronize()


def time_plain(fn: Any, x: Any, device: str, iters: int) -> list[float]:
    """Per-call milliseconds: CUDA events around each call on a GPU, the wall clock on a CPU."""
    import torch

    for _ in range(3):
        fn(x)
    sync(device)
    out: list[float] = []
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


def plain_row(model: Any, args: argparse.Namespace, what: str, batches: list[int],
              row: dict[str, Any]) -> str:
    """What a torch user gets by hand at ``batches``, into ``row``; '' or why not run."""
    import copy

    import torch

    dt_name, cl, tf32, how = PLAIN[what]
    dt, dev, (h, w) = getattr(torch, dt_name), args.device, args.size
    if not dev.startswith("cuda") and (dt == torch.float16 or how == "graph" or tf32):
        return "n/a (needs CUDA)"
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    m = copy.deepcopy(model).to(dev, dt).eval()
    fmt = torch.channels_last if cl else torch.contiguous_format
    m = m.to(memory_format=fmt)
    with torch.inference_mode():
        for bs in batches:
            x = torch.randn(bs, 3, h, w, device=dev, dtype=dt).contiguous(memory_format=fmt)
            fn, t0 = m, time.perf_counter()
            if how == "graph":
                fn = _graphed(m, x)
            elif how == "compile":  # one static shape each, as the workbench's compile mode
                import torch._inductor.config as ic

                ic.freezing = True
                fn = torch.compile(m, mode="reduce-overhead", dynamic=False)
                fn(x)
                sync(dev)
                row[f"compile_s_bs{bs}"] = round(time.perf_counter() - t0, 1)
            ms = statistics.median(time_plain(fn, x, dev, args.iters_bs1 if bs == 1 else args.iters_big))
            row.update({"bs1_p50_ms": round(ms, 3)} if bs == 1 else {"img_s": round(bs * 1e3 / ms, 1)})
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    del m
    torch.cuda.empty_cache() if dev.startswith("cuda") else None
    return ""


def workbench_row(args: argparse.Namespace, work: Path, dtype: str, mode: str, batches: list[int],
                  row: dict[str, Any]) -> str:
    """The torch-cuda artifact, opened by the backend, measured by the bench harness."""
    from workbench.backends.torch_cuda import open_torch_cuda
    from workbench.bench.grid import BenchConfig, benchmark

    cfg = BenchConfig(batch_sizes=batches, threads=[0], warmup=3, iterations=args.iters_big, rounds=2)
    res = benchmark(lambda t: open_torch_cuda(work / "model.safetensors", t, device=args.device,
                                              mode=mode, dtype=dtype), tuple(args.size), cfg,
                    label=row["what"])
    for r in filter(None, map(res.row, batches)):
        det = (rt := r.runtime or {}).get("details", {})
        row.update({"bs1_p50_ms": round(r.p50_ms, 3)} if r.batch == 1 else
                   {"img_s": round(r.throughput, 1), "device_peak_mb": r.device_peak_mb})
        row.update(ran=f"{det.get('mode')} ({det.get('mode_note') or 'as asked'})",
                   precision=rt.get("compute_precision"), folded_bn=det.get("folded_bn"),
                   compile_s=det.get("compile_s"), fingerprint=res.fingerprint)
    row["skipped"] = res.skipped
    return ""


def images_for_check(args: argparse.Namespace, work: Path) -> tuple[list[Path], int]:
    """The bundled JPEGs (how many: the second value) and --gen-images generated ones."""
    from _common import make_images

    paths = sorted((ROOT / "assets" / "val").glob("*.JPEG"))
    bundled = len(paths)
    if args.gen_images:
        make_images(work / "gen", args.gen_images, seed0=0)
        paths += sorted((work / "gen" / "val").glob("*.JPEG"))
    return paths, bundled


def end_to_end(model: Any, args: argparse.Namespace, paths: list[Path], work: Path) -> dict[str, Any]:
    """Pure inference against decode-then-infer on one stream and ``hrnet-wb eval``'s own
    loop (next batch decoded on a side stream; images passed ``e2e_passes`` times to spread
    its once-per-eval costs); ``run_eval`` itself on the bundled images."""
    from workbench.backends.torch_cuda import open_model
    from workbench.backends.torch_cuda.model import save_artifact
    from workbench.data.device_decode import DeviceDecoder
    from workbench.data.layouts import Sample
    from workbench.data.preprocess import Preprocessor, preset_for
    from workbench.evaluate import evaluate, run_eval
    from workbench.home import resolve_home

    gpu = args.device.startswith("cuda")
    dtype = "fp16" if gpu else "fp32"
    pre = Preprocessor(preset_for("official", args.variant, "", tuple(args.size)))
    pred = open_model(model, dtype, device=args.device, mode="graphs", mean=pre.cfg.mean, std=pre.cfg.std)
    dec = DeviceDecoder(pre, device=args.device)
    bs = min(args.eval_batch, len(paths))
    batches = [paths[i:i + bs] for i in range(0, len(paths) - bs + 1, bs)]
    x0, _ = dec.load_batch(batches[0])
    pred.predict_topk(x0, 5)  # warm: capture, kernels
    sync(args.device)
    t0, n = time.perf_counter(), 0
    for _ in range(args.e2e_passes):
        for b in batches:
            pred.predict_topk(dec.load_batch(b)[0], 5)
            n += len(b)
    sync(args.device)
    loop = n / (time.perf_counter() - t0)
    pure = bs * 1e3 / statistics.median(time_plain(pred.run, x0, args.device, args.iters_big))
    kept = [p for b in batches for p in b]
    samples = [Sample(path=p, label=None, id=f"{k}/{p.name}") for k in range(args.e2e_passes) for p in kept]
    ev = evaluate(pred, samples, dec, [str(i) for i in range(1000)], work / "e2e_eval", batch_size=bs,
                  vastai_txt=False)
    art = work / f"e2e-{dtype}.safetensors"
    save_artifact(model, dtype, art)
    cli = run_eval(str(art), str(ROOT / "assets"), home=resolve_home(work / "home"),
                   backend="torch-cuda", preprocess="official+nvjpeg", batch_size=bs,
                   input_size=tuple(args.size))
    return {"images": n, "batch": bs, "dtype": dtype, "preset": dec.name,
            "pure_inference_img_s": round(pure, 1), "decode_then_infer_img_s": round(loop, 1),
            "loop_ratio": round(loop / pure, 3), "eval_img_s": ev.images_per_s,
            "eval_images": ev.n, "eval_ratio": round(ev.images_per_s / pure, 3),
            "fallbacks": len(dec.fallbacks), "decoded_on_device": dec.decoded_on_device,
            "eval_vs_exact_cpu_path": ev.decode.get("vs_exact_cpu_path"),
            "hrnet_wb_eval_bundled": {k: cli.get(k) for k in ("n", "images_per_s", "decode")}}


def agreement(model: Any, args: argparse.Namespace, paths: list[Path], bundled: int) -> dict[str, Any]:
    """fp16 and bf16 top-1 against fp32 (eager, the build's fold), on the bundled images and on all."""
    from workbench.backends.torch_cuda import open_model
    from workbench.data.preprocess import Preprocessor, preset_for

    pre = Preprocessor(preset_for("official", args.variant, "", tuple(args.size)))
    x = np.stack([pre.load(p) for p in paths]).astype(np.float32)
    ref = open_model(model, "fp32", device=args.device, mode="eager").predict(x).argmax(1)
    out: dict[str, Any] = {"images": len(paths), "bundled": bundled}
    for dt in ("fp16", "bf16"):
        if dt == "fp16" and not args.device.startswith("cuda"):
            out[dt] = "n/a (needs CUDA)"
            continue
        same = open_model(model, dt, device=args.device, mode="eager").predict(x).argmax(1) == ref
        out[dt] = {"bundled": round(float(same[:bundled].mean()), 4), "all": round(float(same.mean()), 4)}
    return out


def _fmt_row(r: dict[str, Any]) -> str:
    p50 = "-" if r.get("bs1_p50_ms") is None else f"{r['bs1_p50_ms']:.2f} ms"
    tput = "-" if r.get("img_s") is None else f"{r['img_s']:,.0f} img/s"
    return f"{r['what']:<58} bs1 p50 {p50:>10}   {tput:>14}   {r.get('note', '')}".rstrip()


def markdown(rep: dict[str, Any]) -> str:
    big = rep["args"]["big"]
    lines = [f"GPU check on {rep['device']} ({rep['variant']}, {rep['seconds']} s)", "",
             f"| what | bs1 p50 ms | img/s (bs{big}) | note |", "|---|---|---|---|"]
    for r in rep["rows"]:
        lines.append(f"| {r['what']} | {r.get('bs1_p50_ms', '–')} | {r.get('img_s', '–')} | "
                     f"{r.get('note') or r.get('ran', '')} |")
    lines += ["", "| goal | value | wanted | met |", "|---|---|---|---|"]
    lines += [f"| {k} | {g['value']} | {g['wanted']} | {g['met']} |" for k, g in rep["goals"].items()]
    lines += ["", *(f"{k}: {json.dumps(rep.get(k), default=str)}"
                    for k in ("end_to_end", "agreement", "gpu_limits_gops", "steps"))]
    return "\n".join(lines) + "\n"


def goals(rep: dict[str, Any]) -> dict[str, Any]:
    """Issue 22's four goals as ratios in this run (None: a row it needs was not measured)."""
    rows = {r["what"]: r for r in rep["rows"]}
    plain = rows.get(COMPILE, {})
    wb16 = [r for w, r in rows.items() if w.startswith("workbench torch-cuda fp16")]
    best = max((r["img_s"] for r in wb16 if r.get("img_s")), default=None)
    fastest = min((r["bs1_p50_ms"] for r in wb16 if r.get("bs1_p50_ms")), default=None)
    e2e, agree = rep.get("end_to_end") or {}, (rep.get("agreement") or {}).get("fp16")

    def ratio(a: Any, b: Any) -> float | None:
        return round(a / b, 3) if a and b else None

    out = {"fp16 best throughput / plain compile": (ratio(best, plain.get("img_s")), ">=", 1.1),
           "bs1 p50 / plain compile (CUDA graphs)": (ratio(fastest, plain.get("bs1_p50_ms")), "<=", 1.0),
           "eval with device decode / pure inference": (e2e.get("eval_ratio"), ">=", 0.8),
           "fp16 top-1 agreement with fp32 (bundled)": (
               agree.get("bundled") if isinstance(agree, dict) else None, ">=", 0.995)}
    return {k: {"value": v, "wanted": f"{op} {want}",
                "met": None if v is None else (v >= want if op == ">=" else v <= want)}
            for k, (v, op, want) in out.items()}


Step = tuple[str, float, str, Callable[[dict[str, Any]], str]]


def plan(model: Any, args: argparse.Namespace, rep: dict[str, Any], work: Path,
         paths: Callable[[], tuple[list[Path], int]]) -> list[Step]:
    """(label, estimate s, table row or '', step), goal rows first; a step fills its row and
    returns '' or why it did not run."""
    big, fp = args.big, "fp16" if args.device.startswith("cuda") else "fp32"  # no fp16 on a CPU

    def at(batches: list[int]) -> str:
        return f" bs{batches[0]}" if len(batches) == 1 else ""

    def plain(what: str, batches: list[int]) -> Step:
        return (f"plain {what}{at(batches)}", EST["compile" if what == COMPILE else "eager"], what,
                lambda row: plain_row(model, args, what, batches, row))

    def wb(dtype: str, mode: str, batches: list[int]) -> Step:
        return (f"workbench {dtype} {mode}{at(batches)}", EST["compile" if mode == "compile" else "wb"],
                f"workbench torch-cuda {dtype} {mode}",
                lambda row: workbench_row(args, work, dtype, mode, batches, row))

    def e2e(_: dict[str, Any]) -> str:
        rep["end_to_end"] = end_to_end(model, args, paths()[0], work)
        return ""

    def agree(_: dict[str, Any]) -> str:
        rep["agreement"] = agreement(model, args, *paths())
        return ""

    def limits(_: dict[str, Any]) -> str:
        if not args.device.startswith("cuda"):
            return "n/a (needs CUDA)"
        from workbench.bench.gpu_limits import gpu_limits

        rep["gpu_limits_gops"] = {p: round(v.gops) for p, v in gpu_limits(work, args.device).items()}
        return ""

    return [plain("eager fp16 channels_last", [1, big]), plain("CUDA graph fp16 channels_last", [1, big]),
            wb(fp, "eager", [1, big]), wb(fp, "graphs", [1, big]),
            ("end to end, device decode", EST["e2e"], "", e2e),
            ("fp16/bf16 agreement with fp32", EST["agree"], "", agree),
            plain(COMPILE, [big]), wb(fp, "compile", [big]), plain(COMPILE, [1]),
            plain("eager fp32", [1, big]), plain("eager tf32", [1, big]),
            plain("eager bf16 channels_last", [1, big]), wb("bf16", "graphs", [1, big]),
            ("GPU limits", EST["limits"], "", limits), wb(fp, "compile", [1])]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--smoke", action="store_true", help="small and quick (CPU proof)")
    ap.add_argument("--variant", default="")
    ap.add_argument("--size", type=int, default=0)
    ap.add_argument("--big", type=int, default=0, help="the throughput batch (256)")
    ap.add_argument("--budget", type=float, default=345.0, help="seconds for the whole check")
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--gen-images", type=int, default=-1)
    ap.add_argument("--out", default="gpu_check_out")
    args = ap.parse_args()
    from workbench.backends.torch_cuda.device import cuda_reason, describe

    if args.device.startswith("cuda") and cuda_reason():
        print(f"gpu_check: no CUDA GPU here ({cuda_reason()}); --device cpu --smoke checks the "
              "script itself", file=sys.stderr)
        return 2
    t_start, budget = time.perf_counter(), float("inf") if args.smoke else args.budget
    small = args.smoke
    args.variant = args.variant or ("hrnet_w18_small" if small else "hrnet_w18")
    s = args.size or (64 if small else 224)
    args.size = (s, s)
    args.big = args.big or (4 if small else 256)
    args.iters_bs1, args.iters_big, args.eval_batch, args.e2e_passes = (
        (5, 3, 4, 1) if small else (60, 20, 256, 4))
    args.gen_images = (0 if small else 512) if args.gen_images < 0 else args.gen_images
    args.compile = args.compile and not small  # inductor on a 2-core CPU takes minutes per shape
    work = Path(args.out) / "work"
    work.mkdir(parents=True, exist_ok=True)
    from workbench.backends.torch_cuda.model import save_artifact
    from workbench.sources import ModelSpec, load_model

    model = load_model(ModelSpec(source="timm", variant=args.variant)).model.eval()
    save_artifact(model, "fp16", work / "model.safetensors")
    rep: dict[str, Any] = {"device": describe(args.device), "variant": args.variant,
                           "args": dict(vars(args)), "rows": [], "steps": {}}
    print(f"gpu_check: {args.variant} {s}x{s} on {rep['device']}", flush=True)
    paths = functools.cache(lambda: images_for_check(args, work))  # made once, when first needed
    rows: dict[str, dict[str, Any]] = {}
    for label, est, what, step in plan(model, args, rep, work, paths):
        t0 = time.perf_counter()
        if what and what not in rows:
            rep["rows"].append(rows.setdefault(what, {"what": what}))
        row = rows.get(what, {})
        if "compile" in label and not args.compile:
            why = "skipped (--no-compile" + (", --smoke)" if small else ")")
        elif (left := budget - (time.perf_counter() - t_start)) < est:
            why = f"skipped (budget: {left:.0f} s left, ~{est:.0f} s needed)"
        else:
            why = step(row)
        rep["steps"][label] = why or round(time.perf_counter() - t0, 1)
        if why and what:
            row["note"] = "; ".join(filter(None, [row.get("note"), f"{label}: {why}"]))
        print(f"-- {label}: {why or str(rep['steps'][label]) + ' s'}", flush=True)
        if what:
            print(_fmt_row(row), flush=True)
    rep["goals"] = goals(rep)
    rep["seconds"] = round(time.perf_counter() - t_start, 1)
    print(f"-- goals: {json.dumps(rep['goals'])}; {rep['seconds']} s", flush=True)
    (Path(args.out) / "gpu_check.json").write_text(json.dumps(rep, indent=2, default=str))
    (Path(args.out) / "gpu_check.md").write_text(markdown(rep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
