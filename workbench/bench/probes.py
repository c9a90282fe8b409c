"""Resident-set probes from ``/proc/self/status`` (current and peak RSS of this process)."""

from __future__ import annotations

import re
import resource
from pathlib import Path


def _status_kb(field_name: str) -> float | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    m = re.search(rf"^{field_name}:\s+(\d+)\s+kB", text, re.MULTILINE)
    return float(m.group(1)) if m else None


def current_rss_mb() -> float:
    kb = _status_kb("VmRSS")
    if kb is None:  # pragma: no cover - non-Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return kb / 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's per-process high-water mark (Linux ≥ 4.0: clear_refs ``5``), so
    the next :func:`peak_rss_mb` covers only what ran since. False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    kb = _status_kb("VmHWM")
    if kb is None:  # pragma: no cover - non-Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return kb / 1024
