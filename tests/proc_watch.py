"""Watching the processes and servers a test starts: waits that fail only on a hang,
processes found in /proc, and a browser tab on ``hrnet-wb serve`` (textual-serve's
websocket protocol)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def wait(cond: Callable[[], Any], timeout: float, step: float = 0.05) -> Any:
    """``cond()``'s first truthy value within ``timeout`` seconds, else its last value."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        got = cond()
        if got:
            return got
        time.sleep(step)
    return cond()


def processes_naming(text: str) -> list[int]:
    """Live processes whose command line names ``text`` (a test's home folder)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            found.append(int(entry))
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def open_tab(port: int, enough: Callable[[bytes], bool], timeout: float) -> tuple[Any, Any]:
    """A browser tab at 80×24 on the server at ``port``: (aiohttp session, websocket), after
    reading the app's output until ``enough`` of it came (or ``timeout`` seconds)."""
    import aiohttp

    session = aiohttp.ClientSession()
    ws = await session.ws_connect(f"http://127.0.0.1:{port}/ws?width=80&height=24")
    await ws.send_json(["resize", {"width": 80, "height": 24}])
    seen = b""
    t0 = time.monotonic()
    while not enough(seen) and time.monotonic() - t0 < timeout:
        msg = await ws.receive(timeout=timeout)
        if msg.type == aiohttp.WSMsgType.BINARY:
            seen += msg.data
        elif msg.type == aiohttp.WSMsgType.TEXT:
            seen += msg.data.encode()
        else:
            break
    return session, ws
