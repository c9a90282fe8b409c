"""Every figure the README states, remade by one script, headed by the CPU kind and date.

The README's figures are only true on the machine they came from. This script makes
each of them again and prints one Markdown block that starts with the CPU (model, ISA,
fingerprint), the date, and the load average before and after, so a figure is never
quoted without where and when it was measured.

    flock /tmp/hrnet-bench.lock python benchmarks/readme_figures.py            # all of them
    python benchmarks/readme_figures.py --only demo,help                       # the quick ones

Figures (``--only`` names):

- ``demo``: ``hrnet-wb run --profile profiles/demo.toml``, wall time and peak RSS;
- ``help``: ``hrnet-wb --help`` start-up, median of ``--help-runs``;
- ``side-by-side``: the speed table (``benchmarks/side_by_side.py --variant hrnet_w18``);
- ``eval``: evaluation throughput (``benchmarks/eval_throughput.py``) and streams
  (``benchmarks/eval_streams.py``);
- ``calib-memory``: calibration peak RSS (``benchmarks/calib_memory.py``);
- ``tui``: the TUI's first frame (``benchmarks/tui_timing.py``).

Each delegated figure runs the script the README names, unchanged, and its output is
quoted. Exits 1 if a command fails.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HRNET_WB = [sys.executable, "-c", "from workbench.cli import main; main()"]
DELEGATED = {
    "side-by-side": [["benchmarks/side_by_side.py", "--variant", "hrnet_w18", "--latency-budget-ms", "100"]],
    "eval": [["benchmarks/eval_throughput.py", "--images", "200", "--batch", "8", "--rounds", "3"],
             ["benchmarks/eval_streams.py", "--backend", "ort-cpu"]],
    "calib-memory": [["benchmarks/calib_memory.py", "--images", "1000"]],
    "tui": [["benchmarks/tui_timing.py", "--runs", "10"]],
}
ALL = ["demo", "help", *DELEGATED]


def header() -> list[str]:
    from workbench.hardware import detect_cpu

    cpu = detect_cpu()
    return [f"- CPU: {cpu.summary()}; fingerprint `{cpu.fingerprint}`",
            f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            f"- load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)"]


def demo(home: Path) -> list[str]:
    """The README's first command, timed from outside: wall time and the child's peak RSS."""
    env = {**os.environ, "HRNET_WB_HOME": str(home)}
    t0 = time.perf_counter()
    p = subprocess.run([*HRNET_WB, "run", "--profile", str(ROOT / "profiles" / "demo.toml")],
                       capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"demo failed (exit {p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # KiB -> GiB
    return [f"- demo (`hrnet-wb run --profile profiles/demo.toml`, fresh home): {wall:.1f} s wall, "
            f"peak RSS {rss:.2f} GiB"]


def help_startup(runs: int) -> list[str]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([*HRNET_WB, "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return [f"- `hrnet-wb --help`: {statistics.median(times):.2f} s median of {runs} "
            f"({min(times):.2f}-{max(times):.2f} s)"]


def delegated(name: str) -> list[str]:
    out = []
    for script in DELEGATED[name]:
        p = subprocess.run([sys.executable, *script], capture_output=True, text=True, cwd=ROOT)
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(script)} failed (exit {p.returncode})")
        out += [f"- `python {' '.join(script)}`:", "", "```", p.stdout.strip(), "```", ""]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default=",".join(ALL), help=f"comma-separated, of: {', '.join(ALL)}")
    ap.add_argument("--help-runs", type=int, default=20)
    args = ap.parse_args(argv)
    chosen = [x.strip() for x in args.only.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in ALL]
    if unknown:
        ap.error(f"--only: unknown {', '.join(unknown)}; expected some of {', '.join(ALL)}")
    lines = ["### Figures", "", *header(), ""]
    with tempfile.TemporaryDirectory(prefix="readme-figures-") as tmp:
        for name in chosen:
            if name == "demo":
                lines += demo(Path(tmp) / "home")
            elif name == "help":
                lines += help_startup(args.help_runs)
            else:
                lines += delegated(name)
    lines += ["", f"- load average after: {os.getloadavg()[0]:.1f}"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
