"""The GPU's limit per precision: a measured dense matmul (fp32, tf32, fp16, bf16) and a
device-to-device copy bandwidth, cached per GPU fingerprint.

As on the CPU (``limits.py``), one ceiling for every build says little: an fp16 build
"beats" an fp32 ceiling by design, so ``×limit`` divides by the limit of the precision the
runtime reports it ran. The copy bandwidth is kept beside them: HRNet on a large GPU is
bound by memory traffic and kernel launches long before its tensor cores.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from workbench.atomic import write_json
from workbench.bench.limits import PrecisionLimit, apply_limits, read_limits_cache
from workbench.events import Reporter

GPU_LIMITS_VERSION = 1
GPU_LIMITS_FILE = "gpu_limits.json"
GPU_PRECISIONS = ("fp32", "tf32", "fp16", "bf16")
#: a GPU probe whose repetitions spread more than this is not cached
MAX_SPREAD = 0.15


def _time_cuda(fn: Any, reps: int, device: Any) -> list[float]:
    import torch

    for _ in range(3):
        fn()
    torch.cuda.synchronize(device)
    out = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        out.append(a.elapsed_time(b) / 1e3)
    return out


def probe_gpu(precision: str, device: str = "cuda", n: int = 8192, reps: int = 10) -> PrecisionLimit:
    """Best dense (n, n) @ (n, n) rate in ``precision`` on ``device``, in GOP/s."""
    import torch

    from workbench.backends.torch_cuda.device import gpu_info

    dt = {"fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16,
          "bf16": torch.bfloat16}[precision]
    dev = torch.device(device)
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        a = torch.randn(n, n, device=dev, dtype=dt)
        b = torch.randn(n, n, device=dev, dtype=dt)
        times = _time_cuda(lambda: a @ b, reps, dev)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before
    return _limit(precision, 2.0 * n**3, times, n, f"torch {torch.__version__} matmul",
                  gpu_info(device)["fingerprint"])


def probe_copy(device: str = "cuda", mib: int = 1024, reps: int = 10) -> PrecisionLimit:
    """Device-to-device copy bandwidth (read + write bytes), in GB/s as ``gops``."""
    import torch

    from workbench.backends.torch_cuda.device import gpu_info

    dev = torch.device(device)
    src = torch.empty(mib * 2**20, dtype=torch.uint8, device=dev)
    dst = torch.empty_like(src)
    times = _time_cuda(lambda: dst.copy_(src), reps, dev)
    return _limit("copy", 2.0 * src.numel(), times, mib, "torch copy_ (GB/s)",
                  gpu_info(device)["fingerprint"])


def _limit(precision: str, ops: float, times: list[float], n: int, runtime: str,
           fingerprint: str) -> PrecisionLimit:
    spread = (max(times) - min(times)) / min(times)
    return PrecisionLimit(
        precision=precision, gops=ops / min(times) / 1e9,
        median_gops=ops / statistics.median(times) / 1e9, threads=0, n=n, runtime=runtime,
        ran_as=precision, fingerprint=fingerprint, load_before=0.0, load_after=0.0,
        spread=spread, quiet=spread <= MAX_SPREAD, measured_at=time.time())


def gpu_limits(cache_dir: str | Path | None, device: str = "cuda", refresh: bool = False,
               reporter: Reporter | None = None) -> dict[str, PrecisionLimit]:
    """Every GPU precision's limit and the copy bandwidth (``"copy"``), cached per GPU
    fingerprint in ``<cache_dir>/gpu_limits.json``; only steady probes are cached."""
    from workbench.backends.torch_cuda.device import gpu_info

    key = f"{gpu_info(device)['fingerprint']}|v={GPU_LIMITS_VERSION}"
    path = Path(cache_dir) / GPU_LIMITS_FILE if cache_dir is not None else None
    data = read_limits_cache(path, key)
    out: dict[str, PrecisionLimit] = {}
    dirty = False
    for prec in (*GPU_PRECISIONS, "copy"):
        hit = data["limits"].get(prec)
        if hit and not refresh:
            out[prec] = replace(PrecisionLimit(**hit), cached=True)
            continue
        if reporter is not None:
            reporter.log(f"measuring the GPU's {prec} {'bandwidth' if prec == 'copy' else 'matmul'} peak")
        lim = probe_copy(device) if prec == "copy" else probe_gpu(prec, device)
        out[prec] = lim
        if lim.quiet:
            data["limits"][prec] = {k: v for k, v in asdict(lim).items() if k != "cached"}
            dirty = True
    if dirty and path is not None:
        write_json(path, data)
    return out


def apply_gpu_limits(result: Any, gmacs: float, cache_dir: str | Path | None,
                     reporter: Reporter | None = None) -> bool:
    """Put a GPU target's result on its GPU's roofline (False: it did not run on a GPU)."""
    rt = result.runtime or {}
    device = str((rt.get("details") or {}).get("device", ""))
    if not device.startswith("cuda"):
        return False
    lims = gpu_limits(cache_dir, device, reporter=reporter)
    apply_limits(result, gmacs, {row.threads: lims for row in result.rows})
    return True
