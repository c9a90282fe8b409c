"""Quitting ends the process, whatever is in flight.

A Pilot drives a real app in a child process and presses Ctrl+Q 0.2 s after start (the
hidden panes are about to mount) and 1 s after start while the Models pane is still
counting: the process must end and exit 0. In a real terminal (a pty) Ctrl+Q is taken on
the driver's input thread (workbench.tui.quick_quit), without waiting for the event loop;
that path is tested below the same way.

How fast it ends is a figure, not an assertion: a loaded machine would turn it red at
random. ``benchmarks/tui_timing.py`` measures it; these tests print it and fail only on a
hang (``HANG_S``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from proc_watch import processes_naming
from tui_data import REPO

HANG_S = 60

CHILD = r"""
import asyncio, os, sys, time
os.environ["HRNET_WB_IMAGES"] = "halfcell"
from workbench.home import resolve_home
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.models import ModelsPane

app = WorkbenchApp(home=resolve_home(sys.argv[1]), run_mode="thread")
app.exit_process_on_quit = True  # as `hrnet-wb` sets it (workbench.tui.launch)

delay, wait_for_count = float(sys.argv[2]), sys.argv[3] == "count"

async def main():
    async with app.run_test(size=(80, 24)) as pilot:
        await asyncio.sleep(delay)  # not pilot.pause: that waits for the screen to settle
        pane = app.query_one(ModelsPane)
        t0 = time.time()
        waited = 0.0
        while wait_for_count and not pane._counter.running and waited < 30:  # a loaded machine starts late
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


@pytest.mark.parametrize(("delay", "wait_for_count"), [(0.2, False), (1.0, True)])
def test_ctrl_q_soon_after_start_ends_the_process(tmp_path, delay, wait_for_count):
    env = dict(os.environ, HRNET_WB_HOME=str(tmp_path / "h"))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "h"), str(delay),
                             "count" if wait_for_count else "-"], cwd=REPO, env=env,
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
    if wait_for_count:
        assert "counting True" in "".join(lines), "the count had already finished: nothing tested"
    seconds = gone_at - quit_at
    print(f"Ctrl+Q {delay} s after start: process gone {seconds:.3f} s later")
    assert proc.returncode == 0, err
    assert seconds < HANG_S, f"exit took {seconds:.2f} s"


# -- the real terminal path: `hrnet-wb tui` in a pseudo-terminal -------------------------

def _pty_quit(home, quit_after: float) -> tuple[float, bytes, int, int]:
    """Start ``hrnet-wb tui`` in a pty at 80×24, press Ctrl+Q ``quit_after`` s after the
    first frame, and return (seconds from the key to the process's end, what it wrote
    after the key, its exit status, its pid)."""
    import fcntl
    import pty
    import select
    import struct
    import termios

    env = dict(os.environ, HRNET_WB_HOME=str(home), TERM="xterm-256color", COLUMNS="80",
               LINES="24", PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its terminal
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
            os.chdir(REPO)
            os.execve(sys.executable, [sys.executable, "-m", "workbench", "tui"], env)
        finally:
            os._exit(127)
    out = bytearray()
    first = pressed = gone = None
    after = bytearray()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.005)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the child has closed the terminal (it exited)
                    chunk = b""
                if not chunk:
                    gone = time.monotonic()
                    break
                (after if pressed is not None else out).extend(chunk)
            now = time.monotonic()
            if first is None and b"Models" in out:
                first = now
            if first is not None and pressed is None and now - first >= quit_after:
                os.write(fd, b"\x11")  # Ctrl+Q, as the terminal sends it
                pressed = time.monotonic()
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert first is not None, bytes(out[-2000:]).decode(errors="replace")
    assert pressed is not None and gone is not None, "no exit within the deadline"
    return gone - pressed, bytes(after), os.waitstatus_to_exitcode(status), pid


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux pty")
@pytest.mark.parametrize("quit_after", [0.2, 1.0])
def test_ctrl_q_in_a_terminal_exits_at_once_and_restores_it(tmp_path, quit_after):
    """Ctrl+Q 0.2 s after the first frame (the hidden panes are about to mount) and 1 s
    after (the count is running): the process ends (printed: how soon), it exits 0, and the
    last thing it wrote leaves the alternate screen with the mouse off and the cursor shown."""
    import re

    home = tmp_path / "h"
    seconds, after, code, _pid = _pty_quit(home, quit_after)
    print(f"Ctrl+Q {quit_after} s after the first frame: gone {seconds:.3f} s later")
    assert code == 0
    assert seconds < HANG_S, f"exit took {seconds:.2f} s"
    at = after.rfind(b"\x1b[?1049l")
    assert at >= 0, "the alternate screen was not left"
    assert b"\x1b[?1000l" in after and b"\x1b[?25h" in after[at:]
    # nothing drew after the restore: only escape sequences follow it
    assert re.sub(rb"\x1b\[[0-9;?<>=$]*[A-Za-z~]", b"", after[at:]).strip() == b""
    for _ in range(20):  # the counting child dies with the app (parent-death signal)
        if not processes_naming(str(home)):
            break
        time.sleep(0.1)
    assert not processes_naming(str(home)), "a child of the app outlived it"
