"""``hrnet-wb serve``'s sessions: a real server on 127.0.0.1, a websocket client speaking
textual-serve's protocol, and the app process each session starts, watched in /proc."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")

#: Waits fail only on a hang: how soon a process ends is printed, never asserted.
HANG_S = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def _wait(cond, timeout: float, step: float = 0.05) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return True
        time.sleep(step)
    return cond()


@pytest.fixture
def server(tmp_path):
    port = _free_port()
    env = dict(os.environ, HRNET_WB_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen([sys.executable, "-m", "workbench", "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        assert _wait(lambda: _listening(port), 60, 0.1), "serve did not start"
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=HANG_S)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def _session(port: int, server_pid: int) -> int:
    """Open a session, wait for the app's first bytes, return the app's pid (still open)."""
    import aiohttp

    session = aiohttp.ClientSession()
    ws = await session.ws_connect(f"http://127.0.0.1:{port}/ws?width=80&height=24")
    await ws.send_json(["resize", {"width": 80, "height": 24}])
    got = b""
    t0 = time.monotonic()
    while len(got) < 200 and time.monotonic() - t0 < 60:  # the app's first frame
        msg = await ws.receive(timeout=60)
        if msg.type == aiohttp.WSMsgType.BINARY:
            got += msg.data
        elif msg.type == aiohttp.WSMsgType.TEXT:
            got += msg.data.encode()
        else:
            break
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
        gone = await asyncio.to_thread(_wait, lambda: not _alive(app_pid), HANG_S)
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
            gone = await asyncio.to_thread(_wait, lambda: not _alive(app_pid), HANG_S)
        finally:
            await ws.close()
            await session.close()
        return app_pid, gone

    app_pid, gone = asyncio.run(main())
    assert gone, f"app {app_pid} outlived serve"
    assert proc.wait(timeout=HANG_S) is not None
