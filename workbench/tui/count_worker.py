"""The Models pane's counting, in a process of its own: ``python -m workbench.tui.count_worker``.

Counting params and compute imports torch and timm. In a thread of the UI process that
import holds the GIL for seconds at a time (loading torch's shared libraries), which
froze the screen and held Ctrl+Q for 4-9 s. A child process costs the UI nothing, and
quitting ends it with a signal. It prints one JSON line per variant as it is counted:
``{"variant", "cost": [params M, compute, compute name], "preprocess"}``. The counts go
to the sources' own cost cache; the preprocessing lines (they need timm) to
``preprocess.json`` beside it, so a later start with both cached starts no child at all.

The app starts it with :func:`run_child`. No textual here: this module is also the child's
entry point.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def variant_cost(source: str, variant: str, input_size: tuple[int, int],
                 cache_file: Path | None) -> tuple[str, str, str]:
    """(params in M, compute, the compute's name) as ``source`` itself counts and prints
    them (NOTES §3: official GFLOPs = MACs/2^30, mmcls mmcv "Flops (G)", timm fvcore
    GMACs). The sources package counts on the meta device and caches per torch/timm."""
    from workbench.sources.cost import CONVENTIONS, cost_table

    row = cost_table(source, cache_file, input_size, (variant,))[0]
    return row.params_m, row.cost, CONVENTIONS[source].cost_name


def default_preprocess(source: str, variant: str, input_size: tuple[int, int]) -> str:
    """One line describing the preprocessing a run of this model would use by default."""
    from workbench.data.preprocess import preset_for

    tag = ""
    if source == "timm":
        from workbench.sources.timm_source import default_tag

        tag = default_tag(variant)
    cfg = preset_for(source=source, variant=variant, pretrained_tag=tag, input_size=input_size)
    rh, rw = cfg.resize_size
    h, w = cfg.input_size
    resize = f"short side {rh}" if cfg.resize_mode == "short" else f"{rh}×{rw} {cfg.resize_mode}"
    mean = ",".join(f"{m:.3f}" for m in cfg.mean)
    std = ",".join(f"{s:.3f}" for s in cfg.std)
    return (f"{cfg.name}: resize {resize} {cfg.interpolation} → crop {h}×{w} "
            f"(crop_pct {cfg.crop_pct:.3f}); mean {mean} std {std}")


PREPROCESS_FILE = "preprocess.json"


def _pre_key(source: str, variant: str, size: tuple[int, int]) -> str:
    return f"{source}|{variant}|{size[0]}x{size[1]}"


def cached_preprocess(cache_file: Path, size: tuple[int, int],
                      names: list[str], sources: tuple[str, ...]) -> dict[tuple[str, str], str]:
    """{(source, variant): line} for what an earlier count resolved (no torch, no timm)."""
    try:
        known = json.loads((cache_file.parent / PREPROCESS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {(s, n): known[k] for s in sources for n in names
            if isinstance(known.get(k := _pre_key(s, n, size)), str)}


def _save_preprocess(cache_file: Path, size: tuple[int, int], variant: str,
                     lines: dict[str, str]) -> None:
    from workbench.atomic import write_text

    path = cache_file.parent / PREPROCESS_FILE
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    known.update({_pre_key(s, variant, size): line for s, line in lines.items()})
    try:
        write_text(path, json.dumps(known, indent=0, sort_keys=True))
    except OSError:
        pass  # a cache: the next start resolves it again


def lowest_priority_and_die_with_parent() -> None:
    """In the counting child, before exec: the lowest nice level (19), so the count yields
    to the UI and a build, and SIGKILL when the UI process goes (Linux). Not SCHED_IDLE: on
    a machine others keep busy it never ran at all, and the counts never came."""
    import ctypes
    import os
    import signal

    try:
        os.nice(19)
    except OSError:
        pass
    try:
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_child(cache_file: Path, size: tuple[int, int], names: list[str],
              cancelled: Callable[[], bool], started: Callable[[Any], None]) -> Iterator[dict[str, Any]]:
    """In the app, on a daemon thread: run this module as a child for ``names`` (lowest
    priority, ended with the app) and yield its records as they arrive; ``started`` gets
    the child, so that quitting can end it. OSError when it cannot start."""
    import subprocess

    cmd = [sys.executable, "-m", "workbench.tui.count_worker", str(size[0]), str(size[1]),
           str(cache_file), *names]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True,
                            preexec_fn=lowest_priority_and_die_with_parent
                            if sys.platform.startswith("linux") else None)
    started(proc)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if cancelled():
                break
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            yield rec
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def main(argv: list[str]) -> int:
    """``count_worker H W CACHE_FILE VARIANT...``: for each variant, one line with every
    source's count and default preprocessing (one meta-device pass counts all three
    conventions, so switching the source in the UI needs no new count)."""
    from workbench.sources.cost import CONVENTIONS

    size, cache = (int(argv[0]), int(argv[1])), Path(argv[2])
    for name in argv[3:]:
        out: dict[str, object] = {"variant": name}
        costs: dict[str, list[str]] = {}
        pre: dict[str, str] = {}
        errors: dict[str, str] = {}
        for source in CONVENTIONS:
            try:
                costs[source] = list(variant_cost(source, name, size, cache))
                pre[source] = default_preprocess(source, name, size)
            except Exception as exc:  # noqa: BLE001 - reported on the line, the pane shows it
                errors[source] = f"{type(exc).__name__}: {exc}"
        out.update(costs=costs, preprocess=pre, errors=errors)
        _save_preprocess(cache, size, name, pre)
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a child process
    raise SystemExit(main(sys.argv[1:]))
