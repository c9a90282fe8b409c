"""``hrnet-wb serve``'s sessions: a real server on 127.0.0.1, a websocket client speaking
textual-serve's protocol, and the app process each session starts, watched in /proc."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from proc_watch import free_port, listening, open_tab, wait

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")

#: Waits fail only on a hang: how soon a process ends is printed, never asserted.
HANG_S = 60


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = dict(os.environ, HRNET_WB_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        assert wait(lambda: listening(port), 60, 0.1), "serve did not start"
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=HANG_S)


async def _session(port: int, server_pid: int) -> int:
    """Open a session, wait for the app's first bytes, return the app's pid (still open)."""
    session, ws = await open_tab(port, lambda got: len(got) >= 200, 60)  # the app's first frame
    apps = _children(server_pid)
    assert len(apps) == 1, apps
    _session.open = (session, ws)  # type: ignore[attr-defined]
    return apps[0]


def test_closing_the_browser_session_ends_its_app_process(server):
    proc, port = server

    async def main() -> tuple[int, float]:
        app_pid = await _session(port, proc.pid)
        assert _alive(app_pid)
        session, ws = _session.open  # type: ignore[attr-defined]
        t0 = time.monotonic()
        await ws.close()
        await session.close()
        gone = await asyncio.to_thread(wait, lambda: not _alive(app_pid), HANG_S)
        assert gone, f"app process {app_pid} still running after the session closed"
        return app_pid, time.monotonic() - t0

    _pid, seconds = asyncio.run(main())
    print(f"app process gone {seconds:.2f} s after the session closed")
    assert proc.poll() is None  # the server keeps serving


def test_sigterm_to_serve_ends_every_session(server):
    proc, port = server

    async def main() -> tuple[int, bool]:
        app_pid = await _session(port, proc.pid)
        session, ws = _session.open  # type: ignore[attr-defined]
        try:
            proc.send_signal(signal.SIGTERM)
            gone = await asyncio.to_thread(wait, lambda: not _alive(app_pid), HANG_S)
        finally:
            await ws.close()
            await session.close()
        return app_pid, gone

    app_pid, gone = asyncio.run(main())
    assert gone, f"app {app_pid} outlived serve"
    assert proc.wait(timeout=HANG_S) is not None
