"""The CPU a figure was measured on, and the CPU a build is meant for.

Machines of one kind differ: some are AVX2-only, others have AVX-512 with VNNI and BF16,
or AMX. What a runtime does depends on it (OpenVINO's CPU plugin runs "fp32" in bf16 on a
bf16-capable CPU unless told otherwise; u8×s8 int8 saturates without VNNI), so every run
records this CPU's fingerprint and every recipe names the target it was built for.

Detection goes through py-cpuinfo (CPUID, then /proc/cpuinfo) and, for OpenVINO's own
view, ``OPTIMIZATION_CAPABILITIES``. Both are behind two small functions
(:func:`_raw_cpu_info`, :func:`_openvino_capabilities`) that tests replace to fake a CPU, so
both sides of every capability branch run on any machine.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench.errors import BadInput

#: The ISA flags that change what our runtimes run (Linux /proc/cpuinfo spelling).
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
             "amx_tile", "amx_bf16", "amx_int8")

FINGERPRINT_VERSION = 1


@dataclass(frozen=True)
class CpuInfo:
    """What this process can run on. ``flags`` holds only :data:`ISA_FLAGS` that are present."""

    vendor: str
    model: str
    family: int | None
    model_id: int | None
    stepping: int | None
    arch: str
    logical_cpus: int  # usable by this process (affinity)
    physical_cores: int  # usable, SMT siblings not counted
    flags: tuple[str, ...]
    detected_by: str

    def has(self, flag: str) -> bool:
        return flag in self.flags

    @property
    def vnni(self) -> bool:
        """u8×s8 dot products without the 16-bit saturation of VPMADDUBSW."""
        return self.has("avx512_vnni") or self.has("avx_vnni") or self.has("amx_int8")

    @property
    def bf16(self) -> bool:
        return self.has("avx512_bf16") or self.has("amx_bf16")

    @property
    def amx(self) -> bool:
        return self.has("amx_tile") and (self.has("amx_int8") or self.has("amx_bf16"))

    @property
    def kind(self) -> str:
        """The ISA class, which is also the name of the build target for this CPU."""
        return target_for(self).name

    @property
    def fingerprint(self) -> str:
        """Stable id of the CPU as the runtimes see it: vendor, model, cores, ISA flags.

        Clock speed and load are left out on purpose: they change, the hardware does not.
        """
        ident = {"v": FINGERPRINT_VERSION, "vendor": self.vendor, "model": self.model,
                 "family": self.family, "model_id": self.model_id, "stepping": self.stepping,
                 "arch": self.arch, "logical": self.logical_cpus, "physical": self.physical_cores,
                 "flags": sorted(self.flags)}
        digest = hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()
        return f"{self.kind}-{digest[:10]}"

    def summary(self) -> str:
        isa = ", ".join(_pretty(f) for f in ISA_FLAGS if f in self.flags and f != "fma") or "no AVX2"
        return (f"{self.model or self.vendor} ({self.vendor}), {self.physical_cores} physical "
                f"core(s) / {self.logical_cpus} logical; {isa}")

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["flags"] = list(self.flags)
        d.update(fingerprint=self.fingerprint, kind=self.kind, vnni=self.vnni, bf16=self.bf16,
                 amx=self.amx, summary=self.summary())
        return d


def _pretty(flag: str) -> str:
    return {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "AVX512-VNNI",
            "avx_vnni": "AVX-VNNI", "avx512_bf16": "AVX512-BF16", "amx_tile": "AMX",
            "amx_bf16": "AMX-BF16", "amx_int8": "AMX-INT8"}.get(flag, flag)


# -- detection (the two seams tests replace) ---------------------------------------------------


def _raw_cpu_info() -> dict[str, Any]:
    """py-cpuinfo's record: ``vendor_id_raw``, ``brand_raw``, ``family``, ``model``,
    ``stepping``, ``arch``, ``flags``. Falls back to /proc/cpuinfo if py-cpuinfo fails."""
    try:
        import cpuinfo

        info = dict(cpuinfo.get_cpu_info())
        info["detected_by"] = f"py-cpuinfo {_cpuinfo_version()}"
        return info
    except Exception:  # pragma: no cover - py-cpuinfo is a declared dependency
        return _proc_cpuinfo()


def _cpuinfo_version() -> str:
    try:
        from importlib.metadata import version

        return version("py-cpuinfo")
    except Exception:  # pragma: no cover
        return "?"


def _proc_cpuinfo() -> dict[str, Any]:  # pragma: no cover - fallback only
    out: dict[str, Any] = {"arch": platform.machine(), "flags": [], "detected_by": "/proc/cpuinfo"}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (s.strip() for s in line.partition(":"))
            if key == "vendor_id":
                out.setdefault("vendor_id_raw", value)
            elif key == "model name":
                out.setdefault("brand_raw", value)
            elif key == "flags":
                out.setdefault("flags", value.split())
            elif key in ("cpu family", "model", "stepping") and value.isdigit():
                out.setdefault({"cpu family": "family"}.get(key, key), int(value))
    except OSError:
        pass
    return out


def _openvino_capabilities() -> tuple[str, ...] | None:
    """OpenVINO's CPU plugin's own ``OPTIMIZATION_CAPABILITIES`` (None: no OpenVINO)."""
    try:
        import openvino as ov

        return tuple(str(c) for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))
    except Exception:
        return None


# -- the public view ---------------------------------------------------------------------------


def usable_cpus() -> int:
    """Logical CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def physical_cores() -> int:
    """Physical cores available to this process (affinity-aware; SMT siblings not counted)."""
    return max(1, usable_cpus() // _smt_per_core())


def _smt_per_core() -> int:
    try:
        text = Path("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list").read_text().strip()
    except OSError:
        return 1
    count = 0
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            count += int(b) - int(a) + 1
        elif part:
            count += 1
    return max(1, count)


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


@functools.lru_cache(maxsize=1)
def detect_cpu() -> CpuInfo:
    """This machine's CPU (cached per process: py-cpuinfo's CPUID probe takes about a second)."""
    raw = _raw_cpu_info()
    present = {str(f).lower() for f in raw.get("flags", [])}
    squashed = {f.replace("_", "") for f in present}
    flags = tuple(f for f in ISA_FLAGS if f in present or f.replace("_", "") in squashed)
    return CpuInfo(
        vendor=str(raw.get("vendor_id_raw") or raw.get("vendor_id") or "unknown"),
        model=str(raw.get("brand_raw") or raw.get("brand") or platform.processor() or "unknown"),
        family=_int(raw.get("family")), model_id=_int(raw.get("model")),
        stepping=_int(raw.get("stepping")), arch=str(raw.get("arch") or platform.machine()),
        logical_cpus=usable_cpus(), physical_cores=physical_cores(), flags=flags,
        detected_by=str(raw.get("detected_by", "py-cpuinfo")),
    )


@functools.lru_cache(maxsize=1)
def openvino_capabilities() -> tuple[str, ...] | None:
    return _openvino_capabilities()


def fingerprint() -> str:
    return detect_cpu().fingerprint


def reset_detection() -> None:
    """Forget the cached detection (tests that fake a CPU call this)."""
    detect_cpu.cache_clear()
    openvino_capabilities.cache_clear()


# -- build targets -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IsaTarget:
    """A class of CPU a build is meant for. ``vnni`` decides the int8 recipe (reduce_range
    only without it); ``bf16`` whether a bf16 build may be offered."""

    name: str
    vnni: bool
    bf16: bool
    description: str

    @property
    def int8_variant(self) -> str:
        """How the recipe name says which int8 was built: full 8-bit weights need VNNI."""
        return "vnni" if self.vnni else "novnni"

    @property
    def reduce_range(self) -> bool:
        return not self.vnni

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reduce_range": self.reduce_range,
                "int8_variant": self.int8_variant}


TARGETS: dict[str, IsaTarget] = {
    "avx2": IsaTarget("avx2", False, False,
                      "AVX2 without VNNI (Zen 2/3, Haswell-Skylake): u8×s8 via VPMADDUBSW saturates "
                      "at 16 bits, so int8 weights use 7 bits (reduce_range)"),
    "avx512": IsaTarget("avx512", False, False,
                        "AVX-512 without VNNI (Skylake-SP): the same saturation, reduce_range"),
    "vnni": IsaTarget("vnni", True, False,
                      "AVX512-VNNI or AVX-VNNI (Cascade Lake, Ice Lake, Alder Lake): full 8-bit weights"),
    "bf16": IsaTarget("bf16", True, True,
                      "AVX-512 with VNNI and BF16 (Cooper Lake, Zen 4/5): full 8-bit weights, bf16"),
    "amx": IsaTarget("amx", True, True,
                     "AMX-INT8 / AMX-BF16 (Sapphire Rapids and later): full 8-bit weights, bf16"),
}


def target_for(cpu: CpuInfo) -> IsaTarget:
    if cpu.amx:
        return TARGETS["amx"]
    if cpu.vnni and cpu.bf16:
        return TARGETS["bf16"]
    if cpu.vnni:
        return TARGETS["vnni"]
    if cpu.has("avx512f"):
        return TARGETS["avx512"]
    return TARGETS["avx2"]


def resolve_target(name: str | None) -> IsaTarget:
    """``auto`` (or empty) is this machine; otherwise one of :data:`TARGETS`."""
    if not name or name == "auto":
        return target_for(detect_cpu())
    t = TARGETS.get(name)
    if t is None:
        raise BadInput(f"--target {name!r}: expected auto or one of {', '.join(TARGETS)}")
    return t


def bf16_support() -> tuple[bool, str]:
    """Whether OpenVINO can run bf16 here, and why (or why not).

    The CPU flags say what the silicon has; OpenVINO's ``OPTIMIZATION_CAPABILITIES`` says
    what its plugin will use. Both must agree that bf16 is there.
    """
    cpu = detect_cpu()
    caps = openvino_capabilities()
    if not cpu.bf16:
        return False, (f"this CPU ({cpu.model}) has neither AVX512-BF16 nor AMX-BF16 "
                       f"(it is an {cpu.kind} machine)")
    if caps is None:
        return False, "openvino is not installed"
    if "BF16" not in caps:
        return False, (f"OpenVINO's CPU plugin does not offer BF16 here "
                       f"(OPTIMIZATION_CAPABILITIES: {', '.join(caps)})")
    return True, f"{'AMX-BF16' if cpu.has('amx_bf16') else 'AVX512-BF16'}; OpenVINO offers BF16"


def require_bf16(action: str = "run bf16") -> None:
    ok, why = bf16_support()
    if not ok:
        raise BadInput(f"cannot {action} on this machine: {why}; use fp32 or int8"
                       " (or build with --target bf16|amx for another machine)")
