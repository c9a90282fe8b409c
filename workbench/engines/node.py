"""The identity of the machine a figure was measured on: CPU model and ISA flags.

Bench figures from two different kinds of CPU must never be ranked as if they came from
one machine (FACTS §5b: the same machine type can be AVX2-only or AVX-512 + VNNI + BF16),
so every sweep row records the fingerprint of the node that benchmarked it. ``kind`` is a
short, stable key over what decides speed: CPU model, the ISA flags that matter, and the
CPUs available to the process.
"""

from __future__ import annotations

import hashlib
import platform
import socket
from pathlib import Path
from typing import Any

from workbench.hardware import usable_cpus

#: The ISA flags that change which kernels ORT and OpenVINO pick.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8",
             "avx_vnni", "neon", "asimddp", "sve")


def _cpuinfo() -> tuple[str, set[str]]:
    model, flags = "", set[str]()
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine(), flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return model or platform.processor() or platform.machine(), flags


def node_fingerprint() -> dict[str, Any]:
    """CPU model, ISA flags present, CPUs usable by this process, host and platform."""
    model, flags = _cpuinfo()
    cpus = usable_cpus()
    isa = [f for f in ISA_FLAGS if f in flags]
    kind_src = f"{model}|{','.join(isa)}|{cpus}|{platform.machine()}"
    return {
        "host": socket.gethostname(),
        "cpu_model": model,
        "isa": isa,
        "cpus": cpus,
        "machine": platform.machine(),
        "platform": platform.platform(terse=True),
        "kind": hashlib.sha256(kind_src.encode()).hexdigest()[:10],
    }
