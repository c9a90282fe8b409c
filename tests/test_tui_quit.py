"""Quitting is instant: a Pilot drives a real app in a child process, presses Ctrl+Q one
second after start while the Models pane is still counting (torch and timm importing on
its thread), and the process must be gone within half a second."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tui_data import REPO

CHILD = r"""
import asyncio, os, sys, time
os.environ["HRNET_WB_IMAGES"] = "halfcell"
from workbench.home import resolve_home
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.models import ModelsPane

app = WorkbenchApp(home=resolve_home(sys.argv[1]), run_mode="thread")
app.exit_process_on_quit = True  # as `hrnet-wb` sets it (workbench.tui.launch)

async def main():
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(1.0)
        pane = app.query_one(ModelsPane)
        t0 = time.time()
        waited = 0.0
        while not pane._counter.running and waited < 30:  # a loaded machine starts late
            await pilot.pause(0.05)
            waited = time.time() - t0
        print("counting", pane._counter.running, flush=True)
        print("quit_at", time.time(), flush=True)
        # The key goes in as a user's would; pilot.press would also wait for every widget
        # to go idle, which measures the Pilot rather than the app.
        app.simulate_key("ctrl+q")
        while app.is_running:
            await asyncio.sleep(0.005)

asyncio.run(main())
from workbench.tui import end_process  # what `hrnet-wb` does once the app has closed

end_process(app.return_code or 0)
"""


def test_ctrl_q_while_counting_exits_within_half_a_second(tmp_path):
    env = dict(os.environ, HRNET_WB_HOME=str(tmp_path / "h"))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "h")], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    quit_at = None
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("quit_at"):
            quit_at = float(line.split()[1])
            break
    proc.wait(timeout=60)
    gone_at = time.time()
    err = proc.stderr.read() if proc.stderr else ""
    assert quit_at is not None, "".join(lines) + err
    assert "counting True" in "".join(lines), "the count had already finished: nothing tested"
    seconds = gone_at - quit_at
    print(f"process gone {seconds:.3f} s after Ctrl+Q")
    assert proc.returncode == 0, err
    assert seconds < 0.5, f"exit took {seconds:.2f} s"
