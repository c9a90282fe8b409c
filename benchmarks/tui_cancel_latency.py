"""Cancel latency of a TUI run: press cancel N seconds into a stage, time until it stops.

Runs the demo profile (or --profile) through :class:`workbench.tui.runner.PipelineJob`
exactly as the TUI's Run action does, in a fresh home per trial (so nothing is a cache
hit), cancels ``--after`` seconds after the ``--stage`` stage starts, and prints the time
from cancel to the run having stopped, how it stopped (flag / signal / terminate), the
status the store recorded, and any temp files left behind.

    flock /tmp/hrnet-bench.lock python benchmarks/tui_cancel_latency.py --mode both
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from workbench.errors import Cancelled
from workbench.events import Event, StageStarted
from workbench.home import resolve_home
from workbench.profile import load_profile
from workbench.store import Store
from workbench.tui.runner import PipelineJob

REPO = Path(__file__).resolve().parents[1]


def trial(profile_path: Path, overrides: list[str], mode: str, stage: str, after: float) -> dict:
    prof = load_profile(profile_path, overrides)
    with tempfile.TemporaryDirectory(prefix="hrnet-wb-cancel-") as tmp:
        home = resolve_home(tmp)
        started = threading.Event()

        def sink(ev: Event) -> None:
            if isinstance(ev, StageStarted) and ev.stage == stage:
                started.set()

        job = PipelineJob(prof, home, sink, str(profile_path), mode=mode)
        t_run = time.perf_counter()
        box: dict = {}

        def run() -> None:
            try:
                box["record"] = job.run()
            except Cancelled:
                box["cancelled"] = True
            except Exception as exc:  # noqa: BLE001 - printed
                box["error"] = repr(exc)
            box["t_end"] = time.perf_counter()

        th = threading.Thread(target=run)
        th.start()
        if not started.wait(timeout=600):
            raise SystemExit(f"stage {stage} never started")
        t_stage = time.perf_counter()
        time.sleep(after)
        t_cancel = time.perf_counter()
        job.cancel()
        th.join()
        latency = box["t_end"] - t_cancel
        status = Store(home.db).run(job.outcome.run_id)["status"] if job.outcome.run_id else "?"
        leftovers = [str(p.relative_to(tmp)) for p in Path(tmp).rglob(".*")
                     if p.name != ".hrnet-wb-cancel-"]
        return {"mode": mode, "stage": stage, "cancel_after_s": round(t_cancel - t_stage, 2),
                "latency_s": round(latency, 2), "stopped_by": job.outcome.stopped_by,
                "store_status": status, "temp_files_left": leftovers,
                "run_started_to_stage_s": round(t_stage - t_run, 1),
                "outcome": "cancelled" if box.get("cancelled") else box.get("error", "finished")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default=str(REPO / "profiles" / "demo.toml"))
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--mode", choices=("thread", "process", "both"), default="both")
    ap.add_argument("--stage", default="build")
    ap.add_argument("--after", type=float, default=3.0, help="seconds into the stage")
    ap.add_argument("--trials", type=int, default=1)
    a = ap.parse_args()
    modes = ("thread", "process") if a.mode == "both" else (a.mode,)
    for mode in modes:
        for _ in range(a.trials):
            print(trial(Path(a.profile), a.overrides, mode, a.stage, a.after), flush=True)


if __name__ == "__main__":
    main()
